//! The operator's process, as its pipeline: connect → detector → leader → caches (every watch) → context → admin
//! port → orphan sweep → controller → graceful stop. Each step is a function of its own file.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use futures::{StreamExt, stream};
use kube::{
    Api, Client, ResourceExt,
    api::ListParams,
    runtime::{
        Controller,
        events::Reporter,
        reflector::{ObjectRef, Store},
    },
};
use tokio::{sync::watch, task::JoinHandle};
use tracing::{error, info};

use super::{
    Caches, Context, Detector,
    admin::{self, Readiness},
    api_health::ApiHealth,
    error_policy,
    leader::{self, Election},
    reconcile,
    watches::{self, Triggers},
    zone_watch,
};
use crate::{
    api::ResilientService,
    metrics::Metrics,
    plan::Config,
    workload::{FIELD_MANAGER, SERVICE_LABEL},
};

/// How the operator runs.
pub struct Settings {
    /// Watch one namespace only; `None`: all namespaces.
    pub namespace: Option<String>,
    pub config: Config,
    /// Reconciles running at once.
    pub concurrency: u16,
    /// Quiet time after the last trigger of a service before it is reconciled (coalesces bursts).
    pub debounce: Duration,
    /// The pod name: identity in Events and in the lease.
    pub instance: Option<String>,
    /// `None`: this replica always writes.
    pub election: Option<Election>,
    /// Where `/livez`, `/readyz` and `/metrics` are served.
    pub admin: SocketAddr,
    /// Create the built-in ContinuityClasses that do not exist yet, whenever this replica becomes the leader.
    pub builtin_classes: bool,
    /// Zone loss from node leases: the timeout and the hold-down.
    pub detection: crate::failover::Settings,
}

/// Runs the operator until SIGTERM or Ctrl-C, then lets in-flight reconciles finish and releases the lease.
pub async fn run(client: Client, settings: Settings) -> Result<(), String> {
    connect(&client, &settings.namespace).await?;
    let admin_listener = admin::bind(settings.admin).await?;
    let (metrics, readiness) = (Arc::new(Metrics::default()), Readiness::default());
    let detector = detector(&client, &settings).await;
    let leadership = leader::elect(&client, settings.election.as_ref(), settings.instance.as_ref()).await?;
    let mut tasks = vec![leader::announce(leadership.rx.clone(), &metrics, client.clone(), settings.builtin_classes)];
    let health = Arc::new(ApiHealth::new(metrics.api_reachable.clone()));
    let watched = watches::start(&client, &settings.namespace, &settings.config.keys, detector.clone(), &health);
    let keys = settings.config.keys.clone();
    let nodes = watched.caches.nodes.clone();
    let fencing = settings.config.timing.fence_after.map(|f| {
        let after = jiff::SignedDuration::from_secs(f.as_secs() as i64);
        (after, client.clone(), leadership.rx.clone())
    });
    tasks.extend(zone_watch::start(
        client.clone(),
        detector.clone(),
        nodes,
        keys,
        metrics.clone(),
        watched.zones_changed,
        fencing,
    ));
    tasks.extend(watched.tasks);
    let reporter = Reporter { controller: FIELD_MANAGER.into(), instance: settings.instance.clone() };
    let ctx = Arc::new(
        Context::new(client.clone(), watched.caches.clone(), settings.config.clone(), reporter)
            .with_leadership(leadership.rx.clone(), metrics.clone())
            .with_detector(detector)
            .with_api_health(health),
    );
    tasks.push(serve_admin(admin_listener, &metrics, &watched.services, &watched.caches, readiness.clone()));
    let synced = ready_when_synced(watched.caches, watched.services.clone(), readiness.clone());
    let (triggers, services) = (watched.triggers, watched.services);
    let (running, deleted) = controller(triggers, services.clone(), ctx.clone(), &settings, leadership.rx.clone());
    tasks.push(sweep_orphans(ctx, services, deleted, synced));
    let (lease, _always) = leadership.into_lease();
    let outcome = until_stopped(running, lease, tasks).await;
    readiness.set(false);
    info!("stopped");
    outcome
}

/// Fails fast, with the fix, when the API cannot be reached or the CRDs are missing.
async fn connect(client: &Client, namespace: &Option<String>) -> Result<(), String> {
    let services: Api<ResilientService> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    match services.list(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Err(
            "the continuo CRDs are not installed in this cluster; install them with `continuo crds | kubectl apply \
             --server-side -f -` (or `kubectl apply --server-side -f crds/`) and start again"
                .into(),
        ),
        Err(e) => Err(format!("cannot reach the Kubernetes API: {e}")),
    }
}

/// Zone loss from node leases. This process observes from now on: the previous leader's last renewal of the
/// lease, read before this replica may take it, is when the previous observer was last known to be watching; the
/// time between is counted as not observed (availability), never as up.
async fn detector(client: &Client, settings: &Settings) -> Arc<Detector> {
    let since = jiff::Timestamp::now();
    let previous_until = match &settings.election {
        Some(e) => leader::previous_renewal(client, e).await,
        None => None,
    };
    let observer = crate::availability::Observer { since, previous_until };
    Arc::new(Detector::new(settings.detection, observer).expecting_list())
}

/// Serves `/livez`, `/readyz` and `/metrics`.
fn serve_admin(
    listener: tokio::net::TcpListener,
    metrics: &Arc<Metrics>,
    services: &Store<ResilientService>,
    caches: &Caches,
    readiness: Readiness,
) -> JoinHandle<()> {
    let registry = Arc::new(metrics.registry(Some(services.clone())));
    let report = report_page(services.clone(), caches.clone());
    tokio::spawn(async move {
        if let Err(e) = admin::serve(listener, admin::router(registry, readiness, Some(report))).await {
            error!(error = %e, "admin port stopped");
        }
    })
}

/// `/report`: this month's continuity report, from what the caches hold (what the operator's RBAC already reads).
fn report_page(services: Store<ResilientService>, caches: Caches) -> admin::ReportPage {
    Arc::new(move || {
        let objects = crate::report::document::Objects {
            services: services.state().iter().map(|s| (**s).clone()).collect(),
            classes: caches.classes.state().iter().map(|c| (**c).clone()).collect(),
            points: caches.recovery_points.state().iter().map(|p| (**p).clone()).collect(),
            restores: caches.restores.state().iter().map(|r| (**r).clone()).collect(),
            drills: caches.drills.store.state().iter().map(|d| (**d).clone()).collect(),
            // Declared site failovers live on Karmada's control plane, not in a member cluster.
            site_failovers: Vec::new(),
        };
        let now = jiff::Timestamp::now();
        let month = crate::report::document::this_month(now);
        let request = crate::report::document::Request {
            month,
            namespace: None,
            format: crate::report::document::Format::Html,
            now,
        };
        crate::report::document::render(&objects, &request)
    })
}

/// Ready once every cache has synced. The one task that waits for the service store (see `Caches::synced` for
/// why only one); others watch the returned flag.
fn ready_when_synced(caches: Caches, services: Store<ResilientService>, readiness: Readiness) -> watch::Receiver<bool> {
    let (synced_tx, synced) = watch::channel(false);
    tokio::spawn(async move {
        if caches.wait_until_ready().await.is_ok() && services.wait_until_ready().await.is_ok() {
            readiness.set(true);
            let _ = synced_tx.send(true);
            info!("caches synced; ready");
        }
    });
    synced
}

/// Marks the recovery points of deleted services (retention stopped): when a service is deleted and when this
/// replica becomes the leader, once the caches are synced.
fn sweep_orphans(
    ctx: Arc<Context>,
    services: Store<ResilientService>,
    deleted: futures::stream::BoxStream<'static, ()>,
    mut synced: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let when_leader = leader::now_and_when_leader(ctx.leadership());
    tokio::spawn(async move {
        if synced.wait_for(|s| *s).await.is_err() {
            return;
        }
        let mut triggers = std::pin::pin!(stream::select(deleted, when_leader));
        while triggers.next().await.is_some() {
            match super::mark_orphans(&ctx, &services).await {
                Ok(0) => {}
                Ok(n) => info!(points = n, "recovery points of deleted services marked: retention stopped"),
                Err(e) => error!(error = %e, "could not mark the recovery points of deleted services"),
            }
        }
    })
}

/// The controller: which changes reconcile which services. Returns it, to be run, and the deleted-service signal
/// for the orphan sweep.
fn controller(
    t: Triggers,
    services: Store<ResilientService>,
    ctx: Arc<Context>,
    settings: &Settings,
    leader: watch::Receiver<bool>,
) -> (impl std::future::Future<Output = ()>, futures::stream::BoxStream<'static, ()>) {
    let (by_class, by_location, by_storage) = (services.clone(), services.clone(), services.clone());
    let (by_cluster, by_pod, by_source) = (services.clone(), services.clone(), services.clone());
    let data = t.data;
    let running = Controller::for_stream(t.services, services)
        .owns_stream(t.deployments)
        .owns_stream(t.disruption_budgets)
        .owns_stream(t.kube_services)
        .owns_stream(t.cron_jobs)
        .owns_stream(t.stateful_sets)
        .watches_stream(t.storage_classes, move |class| {
            let name = class.name_any();
            let names = |c: &crate::api::ClaimTemplate| c.spec.storage_class_name.as_ref().is_none_or(|n| *n == name);
            services_where(&by_storage, |s| s.spec.volume_claim_templates.iter().any(names))
        })
        // A claim's service is named by its label (the StatefulSet made it, not continuo).
        .watches_stream(t.claims, |claim| labelled_service(&claim))
        // A class change re-reconciles the services that name it.
        .watches_stream(t.classes, move |class| services_where(&by_class, |s| s.spec.class_name == class.name_any()))
        // A location change re-reconciles the services that store copies there.
        .watches_stream(t.locations, move |location| {
            let name = location.name_any();
            let storing =
                by_location.state().into_iter().filter(|s| s.spec.backup.as_ref().is_some_and(|b| b.location == name));
            storing.map(|s| ObjectRef::from_obj(&*s)).collect::<Vec<_>>()
        })
        // A finished backup run is catalogued; a finished delete run removes its point.
        .watches_stream(t.agent_jobs, |job| labelled_service(&job))
        // A restore request is carried out by its service's reconcile.
        .watches_stream(t.restores, |req| req.namespace().map(|ns| ObjectRef::new(&req.spec.service).within(&ns)))
        // A drill is run, step by step, by its service's reconcile.
        .watches_stream(t.drills, |d| d.namespace().map(|ns| ObjectRef::new(&d.spec.service).within(&ns)))
        // A new, finished or deleted copy changes its service's RPO verdict and retention.
        .watches_stream(t.points, |point| point.namespace().map(|ns| ObjectRef::new(&point.spec.service).within(&ns)))
        // A data layer's change (a standby lost, durability changed, a sync done) turns its services' verdicts.
        .watches_stream(data.clusters, move |cluster| {
            naming(&by_cluster, cluster.namespace(), |d| {
                d.cloud_native_pg.as_ref().is_some_and(|c| c.cluster == cluster.name_any())
            })
        })
        .watches_stream(data.instance_pods, move |pod| {
            let cluster = pod.cluster().unwrap_or_default().to_string();
            naming(&by_pod, pod.namespace(), |d| d.cloud_native_pg.as_ref().is_some_and(|c| c.cluster == cluster))
        })
        .watches_stream(data.replication_sources, move |source| {
            naming(&by_source, source.namespace(), |d| {
                d.vol_sync.as_ref().is_some_and(|v| v.replication_source == source.name_any())
            })
        })
        .reconcile_all_on(stream::select(t.zones, leader::became_leader(leader)))
        .with_config(
            kube::runtime::controller::Config::default().concurrency(settings.concurrency).debounce(settings.debounce),
        )
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile did not complete");
            }
        });
    (running, t.deleted)
}

/// The services in `ns` with a data entry that `names` picks.
/// The services `pick` chooses.
fn services_where(
    services: &Store<ResilientService>,
    pick: impl Fn(&ResilientService) -> bool,
) -> Vec<ObjectRef<ResilientService>> {
    services.state().iter().filter(|s| pick(s)).map(|s| ObjectRef::from_obj(&**s)).collect()
}

/// The service an object names by continuo's service label, in its namespace.
fn labelled_service<K: kube::Resource>(object: &K) -> Option<ObjectRef<ResilientService>> {
    let service = object.meta().labels.as_ref()?.get(SERVICE_LABEL)?;
    Some(ObjectRef::new(service).within(object.meta().namespace.as_deref()?))
}

fn naming(
    services: &Store<ResilientService>,
    ns: Option<String>,
    names: impl Fn(&crate::api::DataSource) -> bool,
) -> Vec<ObjectRef<ResilientService>> {
    let in_ns = |s: &ResilientService| s.namespace() == ns;
    let state = services.state();
    state.iter().filter(|s| in_ns(s) && s.spec.data.iter().any(&names)).map(|s| ObjectRef::from_obj(&**s)).collect()
}

/// Runs the controller until a signal stops it; then stops every task and releases the lease (a follower takes
/// over at once).
async fn until_stopped(
    running: impl std::future::Future<Output = ()>,
    lease: Option<JoinHandle<()>>,
    tasks: Vec<JoinHandle<()>>,
) -> Result<(), String> {
    running.await;
    // Every receiver of leadership goes with its task; the election then releases the lease and ends.
    tasks.iter().for_each(JoinHandle::abort);
    if let Some(lease) = lease {
        match tokio::time::timeout(Duration::from_secs(5), lease).await {
            Ok(_) => info!("lease released"),
            Err(_) => error!("lease not released in time; a follower takes over when it expires"),
        }
    }
    Ok(())
}
