//! Wires the reconcile into kube-runtime: watches, triggers, leader election, admin port, graceful shutdown.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use futures::{Stream, StreamExt, channel::mpsc, future::ready, stream};
use k8s_openapi::api::{
    coordination::v1::Lease,
    core::v1::{Namespace, Node, Service},
    policy::v1::PodDisruptionBudget,
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{ListParams, PostParams},
    runtime::{
        Controller, WatchStreamExt,
        events::Reporter,
        predicates,
        reflector::{self, ObjectRef, Store},
        watcher,
    },
};
use kube_lease_manager::LeaseManagerBuilder;
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tracing::{error, info};

use super::{
    CachedCronJob, CachedDeployment, CachedJob, CachedPod, Caches, Context,
    admin::{self, Readiness},
    error_policy, reconcile,
};
use crate::{
    api::{BackupLocation, ContinuityClass, RecoveryPoint, ResilientService, RestoreRequest},
    metrics::Metrics,
    plan::Config,
    topology,
    workload::{FIELD_MANAGER, SERVICE_LABEL},
};

/// Leader election on a `coordination.k8s.io` Lease.
pub struct Election {
    pub lease: String,
    pub namespace: String,
    /// A follower takes over at most this long after the leader dies (at once when it stops gracefully).
    pub duration: Duration,
}

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
    let services: Api<ResilientService> = match &settings.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    ensure_crds(&services).await?;
    let admin_listener = admin::bind(settings.admin).await?;
    let metrics = Arc::new(Metrics::default());
    let readiness = Readiness::default();

    // Observation: this process observes from now on. The previous leader's last renewal of the lease, read before
    // this replica may take it, is when the previous observer was last known to be watching; the time between is
    // counted as not observed (availability), never as up.
    let observing_since = jiff::Timestamp::now();
    let previous_until = match &settings.election {
        Some(e) => previous_renewal(&client, e).await,
        None => None,
    };
    let detector = Arc::new(
        super::Detector::new(
            settings.detection,
            crate::availability::Observer { since: observing_since, previous_until },
        )
        .expecting_list(),
    );

    // Leadership: a watch channel that is true while this replica may write.
    let (leader, lease_task, _always) = match &settings.election {
        Some(e) => {
            let mut builder = LeaseManagerBuilder::new(client.clone(), &e.lease)
                .with_namespace(&e.namespace)
                .with_duration(e.duration.as_secs().max(2))
                .with_grace((e.duration.as_secs() / 3).max(1))
                .with_field_manager(FIELD_MANAGER);
            if let Some(id) = &settings.instance {
                builder = builder.with_identity(id);
            }
            let manager = builder.build().await.map_err(|e| format!("cannot set up leader election: {e}"))?;
            let (rx, task) = manager.watch().await;
            (rx, Some(task), None)
        }
        None => {
            let (tx, rx) = watch::channel(true);
            (rx, None, Some(tx))
        }
    };
    let gauge = metrics.leader.clone();
    let mut leader_gauge = leader.clone();
    let (classes_client, builtin) = (client.clone(), settings.builtin_classes);
    let gauge_task = tokio::spawn(async move {
        loop {
            let is_leader = *leader_gauge.borrow_and_update();
            gauge.set(i64::from(is_leader));
            info!(leader = is_leader, "leadership");
            if is_leader && builtin {
                match install_builtin_classes(&classes_client).await {
                    Ok(n) => info!(created = n, "built-in ContinuityClasses in place"),
                    Err(e) => error!(error = %e, "could not create the built-in ContinuityClasses"),
                }
            }
            if leader_gauge.changed().await.is_err() {
                break;
            }
        }
    });
    // Becoming the leader re-reconciles everything the follower skipped.
    let became_leader = stream::unfold(leader.clone(), |mut rx| async move {
        rx.changed().await.ok()?;
        let now = *rx.borrow_and_update();
        Some((now, rx))
    })
    .filter_map(|is_leader| ready(is_leader.then_some(())));

    // Nodes feed a cache and a trigger that fires only when the zone shape changes, not on heartbeats.
    let (nodes, writer) = reflector::store::<Node>();
    let (mut zone_tx, zone_changes) = mpsc::channel::<()>(1);
    let keys = settings.config.keys.clone();
    let reader = nodes.clone();
    let node_detector = detector.clone();
    let node_watch = watcher(Api::<Node>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .modify(slim)
        .reflect(writer)
        .scan(None, move |last, event| {
            if let Err(e) = &event {
                error!(error = %e, "node watch failed; retrying");
            }
            let facts = topology::observe(&reader.state(), &keys);
            let now = Some(topology::fingerprint(&facts));
            let changed = *last != now;
            *last = now;
            if changed {
                // Withholding follows at once (a zone whose nodes all turned NotReady is lost, or starts recovering).
                node_detector.evaluate(&facts, jiff::Timestamp::now());
            }
            ready(Some(changed))
        })
        .filter_map(|changed| ready(changed.then_some(())));
    let mut node_zone_tx = zone_tx.clone();
    let node_task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(node_watch);
        while stream.next().await.is_some() {
            // A full channel already holds a pending re-reconcile of everything.
            let _ = node_zone_tx.try_send(());
        }
    });
    // Node leases: every renewal is noted on continuo's clock; twice a second the zones are judged, and every
    // service is reconciled again when a zone is lost, starts recovering, or is used again.
    let node_lease_task = tokio::spawn(watch_node_leases(client.clone(), detector.clone()));
    let (tick_detector, tick_nodes, tick_keys, tick_metrics) =
        (detector.clone(), nodes.clone(), settings.config.keys.clone(), metrics.clone());
    let tick_task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let facts = topology::observe(&tick_nodes.state(), &tick_keys);
            if tick_detector.evaluate(&facts, jiff::Timestamp::now()) {
                let d = tick_detector.current();
                info!(withheld = ?d.zones.keys().collect::<Vec<_>>(), guard = ?d.guard.as_ref().map(|g| g.reason()), "zones re-judged from node leases");
                let _ = zone_tx.try_send(());
            }
            tick_metrics.detected(&tick_detector.current());
        }
    });

    // Every other input is a reflector too: the reconcile reads these caches and makes no read request.
    let children = watcher::Config::default().labels(SERVICE_LABEL);
    let (deployments, deployment_events) = cached(
        scoped::<CachedDeployment>(&client, &settings.namespace),
        children.clone(),
        CachedDeployment::keep_read_annotations,
    );
    let (cron_jobs, cron_job_events) = cached(
        scoped::<CachedCronJob>(&client, &settings.namespace),
        children.clone(),
        CachedCronJob::keep_read_annotations,
    );
    let (locations, location_events) =
        cached(Api::<BackupLocation>::all(client.clone()), watcher::Config::default(), |_| {});
    let (restores, restore_events) =
        cached(scoped::<RestoreRequest>(&client, &settings.namespace), watcher::Config::default(), |_| {});
    let (recovery_points, point_events) =
        cached(scoped::<RecoveryPoint>(&client, &settings.namespace), watcher::Config::default(), |_| {});
    // The agent's Jobs and pods: a finished Job is catalogued from its pod's termination message.
    let agents = watcher::Config::default().labels(crate::backup::jobs::ACTION_LABEL);
    let (agent_jobs, agent_job_events) =
        cached(scoped::<CachedJob>(&client, &settings.namespace), agents.clone(), |_| {});
    let (agent_pods, agent_pod_events) = cached(scoped::<CachedPod>(&client, &settings.namespace), agents, |_| {});
    let agent_pod_task = tokio::spawn(agent_pod_events.for_each(|_| ready(())));
    let (pdbs, pdb_events) =
        cached(scoped::<PodDisruptionBudget>(&client, &settings.namespace), children.clone(), |p| p.status = None);
    let (svcs, svc_events) =
        cached(scoped::<Service>(&client, &settings.namespace), children, super::cache::keep_applied_service_fields);
    let (classes, class_events) =
        cached(Api::<ContinuityClass>::all(client.clone()), watcher::Config::default(), |_| {});
    // Namespaces only feed a cache (is it being deleted?); one watched namespace is watched by name.
    let namespace_config = match &settings.namespace {
        Some(ns) => watcher::Config::default().fields(&format!("metadata.name={ns}")),
        None => watcher::Config::default(),
    };
    let (namespaces, namespace_events) = cached(Api::<Namespace>::all(client.clone()), namespace_config, |n| {
        n.spec = None;
        n.status = None;
    });
    let namespace_task = tokio::spawn(namespace_events.for_each(|_| ready(())));
    let (store, service_writer) = reflector::store::<ResilientService>();
    // Only spec changes (and new services) trigger: continuo's own status writes do not reconcile again. A deleted
    // service's recovery points are marked (retention stopped) by a task of their own.
    let (mut deleted_tx, deleted) = mpsc::channel::<()>(1);
    let service_events = watcher(services, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(slim)
        .reflect(service_writer)
        .inspect(move |event| {
            if let Ok(watcher::Event::Delete(_)) = event {
                let _ = deleted_tx.try_send(());
            }
        })
        .applied_objects()
        .predicate_filter(predicates::generation, Default::default());
    let caches = Caches {
        nodes: nodes.clone(),
        classes,
        deployments,
        disruption_budgets: pdbs,
        services: svcs,
        namespaces,
        cron_jobs,
        locations,
        recovery_points,
        agent_jobs,
        agent_pods,
        restores,
        synced: Default::default(),
    };

    let reporter = Reporter { controller: FIELD_MANAGER.into(), instance: settings.instance.clone() };
    let ctx = Arc::new(
        Context::new(client.clone(), caches.clone(), settings.config, reporter)
            .with_leadership(leader, metrics.clone())
            .with_detector(detector),
    );

    // Admin port; ready once every cache has synced (leadership is known once the lease manager is built).
    let registry = Arc::new(metrics.registry(Some(store.clone())));
    let readiness_for_admin = readiness.clone();
    let admin_task = tokio::spawn(async move {
        if let Err(e) = admin::serve(admin_listener, admin::router(registry, readiness_for_admin)).await {
            error!(error = %e, "admin port stopped");
        }
    });
    // The one task that waits for the service store (see `Caches::synced` for why only one); others watch `synced`.
    let (ready_services, ready_flag) = (store.clone(), readiness.clone());
    let (synced_tx, synced) = watch::channel(false);
    tokio::spawn(async move {
        if caches.wait_until_ready().await.is_ok() && ready_services.wait_until_ready().await.is_ok() {
            ready_flag.set(true);
            let _ = synced_tx.send(true);
            info!("caches synced; ready");
        }
    });

    let (class_index, location_index) = (store.clone(), store.clone());
    // Orphaned recovery points: looked for when a service is deleted and when this replica becomes the leader.
    let (orphan_ctx, orphan_services, orphan_leader) = (ctx.clone(), store.clone(), leader_changes(&ctx));
    let mut orphan_synced = synced.clone();
    let orphan_task = tokio::spawn(async move {
        if orphan_synced.wait_for(|s| *s).await.is_err() {
            return;
        }
        let mut triggers = std::pin::pin!(stream::select(deleted, orphan_leader));
        while triggers.next().await.is_some() {
            match super::mark_orphans(&orphan_ctx, &orphan_services).await {
                Ok(0) => {}
                Ok(n) => info!(points = n, "recovery points of deleted services marked: retention stopped"),
                Err(e) => error!(error = %e, "could not mark the recovery points of deleted services"),
            }
        }
    });
    let running = Controller::for_stream(service_events, store)
        .owns_stream(deployment_events)
        .owns_stream(pdb_events)
        .owns_stream(svc_events)
        .watches_stream(class_events, move |class| {
            // A class change re-reconciles the services that name it.
            let name = class.name_any();
            class_index
                .state()
                .into_iter()
                .filter(|s| s.spec.class_name == name)
                .map(|s| ObjectRef::from_obj(&*s))
                .collect::<Vec<_>>()
        })
        .owns_stream(cron_job_events)
        .watches_stream(location_events, move |location| {
            // A location change re-reconciles the services that store copies there.
            let name = location.name_any();
            location_index
                .state()
                .into_iter()
                .filter(|s| s.spec.backup.as_ref().is_some_and(|b| b.location == name))
                .map(|s| ObjectRef::from_obj(&*s))
                .collect::<Vec<_>>()
        })
        .watches_stream(agent_job_events, |job| {
            // A finished backup run is catalogued; a finished delete run removes its point.
            let service = job.labels().get(SERVICE_LABEL).cloned();
            service.zip(job.namespace()).map(|(s, ns)| ObjectRef::new(&s).within(&ns))
        })
        .watches_stream(restore_events, |req| {
            // A restore request is carried out by its service's reconcile.
            req.namespace().map(|ns| ObjectRef::new(&req.spec.service).within(&ns))
        })
        .watches_stream(point_events, |point| {
            // A new, finished or deleted copy changes its service's RPO verdict and retention.
            point.namespace().map(|ns| ObjectRef::new(&point.spec.service).within(&ns))
        })
        .reconcile_all_on(stream::select(zone_changes, became_leader))
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

    let outcome = match lease_task {
        Some(mut lease) => {
            tokio::select! {
                () = running => {
                    // All receivers are gone with the controller; the lease manager releases the lease and ends.
                    gauge_task.abort();
                    match tokio::time::timeout(Duration::from_secs(5), &mut lease).await {
                        Ok(_) => info!("lease released"),
                        Err(_) => error!("lease not released in time; a follower takes over when it expires"),
                    }
                    Ok(())
                }
                ended = &mut lease => Err(match ended {
                    Ok(Ok(_)) => "leader election stopped".to_string(),
                    Ok(Err(e)) => format!("leader election failed: {e}"),
                    Err(e) => format!("leader election task died: {e}"),
                }),
            }
        }
        None => {
            running.await;
            Ok(())
        }
    };
    readiness.set(false);
    node_task.abort();
    node_lease_task.abort();
    tick_task.abort();
    namespace_task.abort();
    agent_pod_task.abort();
    orphan_task.abort();
    admin_task.abort();
    info!("stopped");
    outcome
}

/// Feeds `detector` from the node Leases in `kube-node-lease` (and nowhere else: a lease elsewhere is not a
/// kubelet's). Runs until aborted; a failed watch is retried with backoff, and while it fails no renewal is seen,
/// which the detector's stale-watch guard turns into acting on nothing.
async fn watch_node_leases(client: Client, detector: Arc<super::Detector>) {
    let api: Api<Lease> = Api::namespaced(client, super::NODE_LEASE_NAMESPACE);
    let mut listed: Vec<String> = Vec::new();
    let mut events = std::pin::pin!(watcher(api, watcher::Config::default()).default_backoff());
    while let Some(event) = events.next().await {
        let now = jiff::Timestamp::now();
        let renew = |l: &Lease| l.spec.as_ref().and_then(|s| s.renew_time.as_ref()).map(|t| t.0.to_string());
        match event {
            Ok(watcher::Event::Apply(l)) => detector.observe(&l.name_any(), renew(&l), now),
            Ok(watcher::Event::Delete(l)) => detector.forget(&l.name_any()),
            Ok(watcher::Event::Init) => listed.clear(),
            Ok(watcher::Event::InitApply(l)) => {
                listed.push(l.name_any());
                detector.observe(&l.name_any(), renew(&l), now);
            }
            Ok(watcher::Event::InitDone) => {
                detector.retain(|name| listed.iter().any(|n| n == name));
                detector.listed();
            }
            Err(e) => error!(error = %e, "node lease watch failed; retrying"),
        }
    }
}

/// The previous holder's last renewal of the leader lease, when there is one.
async fn previous_renewal(client: &Client, e: &Election) -> Option<jiff::Timestamp> {
    let api: Api<Lease> = Api::namespaced(client.clone(), &e.namespace);
    match api.get_opt(&e.lease).await {
        Ok(lease) => lease?.spec?.renew_time.map(|t| t.0),
        Err(err) => {
            error!(error = %err, "could not read the leader lease; time before this start counts as not observed");
            None
        }
    }
}

/// Fires once now and whenever this replica becomes the leader.
fn leader_changes(ctx: &Arc<Context>) -> impl Stream<Item = ()> + Send + 'static {
    let rx = ctx.leadership();
    stream::once(ready(())).chain(
        stream::unfold(rx, |mut rx| async move {
            rx.changed().await.ok()?;
            let now = *rx.borrow_and_update();
            Some((now, rx))
        })
        .filter_map(|is_leader| ready(is_leader.then_some(()))),
    )
}

/// An `Api` over the watched namespace, or all of them.
fn scoped<K>(client: &Client, namespace: &Option<String>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// What continuo never reads, dropped from every cached object to keep memory flat as caches grow.
fn slim<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// A reflector store for `api` and the stream of its changes (applied and deleted objects), to trigger on.
/// `drop_unread` removes, besides what [`slim`] removes, the fields of this kind that continuo never reads.
fn cached<K>(
    api: Api<K>,
    config: watcher::Config,
    drop_unread: impl Fn(&mut K) + Send + 'static,
) -> (Store<K>, impl Stream<Item = Result<K, watcher::Error>> + Send)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store::<K>();
    let events = watcher(api, config)
        .default_backoff()
        .modify(move |obj| {
            slim(obj);
            drop_unread(obj);
        })
        .reflect(writer)
        .touched_objects();
    (reader, events)
}

/// Creates each built-in ContinuityClass that does not exist; an existing one, edited or not, is left alone.
/// Returns how many were created.
pub async fn install_builtin_classes(client: &Client) -> Result<usize, String> {
    let api = Api::<ContinuityClass>::all(client.clone());
    let params = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() };
    let mut created = 0;
    for class in crate::api::builtin_classes()? {
        match api.create(&params, &class).await {
            Ok(_) => created += 1,
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(format!("ContinuityClass {}: {e}", class.name_any())),
        }
    }
    Ok(created)
}

/// Fails fast, with the fix, when the CRDs are missing.
async fn ensure_crds(services: &Api<ResilientService>) -> Result<(), String> {
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
