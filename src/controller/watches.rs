//! Every kind continuo watches, in one place: each is a reflector whose cache the reconcile reads (so a reconcile
//! makes no read request) and whose changes trigger the services they concern. Adding a watched kind is one
//! field of [`Caches`] and [`Triggers`] and one line here.

use std::sync::Arc;

use futures::{StreamExt, channel::mpsc, future::ready, stream::BoxStream};
use k8s_openapi::api::{
    apps::v1::StatefulSet,
    core::v1::{Namespace, Node, PersistentVolumeClaim, Service},
    policy::v1::PodDisruptionBudget,
    storage::v1::StorageClass,
};
use kube::{
    Api, Client,
    runtime::{
        WatchStreamExt, predicates,
        reflector::{self, Store},
        watcher,
    },
};
use tokio::task::JoinHandle;
use tracing::error;

use super::{
    CachedCronJob, CachedDeployment, CachedJob, CachedPod, Caches, Detector,
    api_health::ApiHealth,
    packed::Packed,
    reflect::{Changes, WatchBackoff, cached, only_changes, packed, scoped, slim},
};
use crate::{
    api::{BackupLocation, ContinuityClass, ContinuityDrill, RecoveryPoint, ResilientService, RestoreRequest},
    topology,
    workload::SERVICE_LABEL,
};

/// What the watches keep and what they trigger.
pub(super) struct Watches {
    pub caches: Caches,
    pub services: Store<ResilientService>,
    pub triggers: Triggers,
    /// Sends a re-reconcile of every service (the zones changed); see [`Triggers::zones`].
    pub zones_changed: mpsc::Sender<()>,
    /// Watches that only feed a cache, and the node watch.
    pub tasks: Vec<JoinHandle<()>>,
}

/// The changes that reconcile services, by kind.
pub(super) struct Triggers {
    /// New services and spec changes (never continuo's own status writes).
    pub services: Changes<ResilientService>,
    /// Fires when a service is deleted (its recovery points are then marked).
    pub deleted: BoxStream<'static, ()>,
    /// Fires when the zone shape changes (nodes) or failure detection re-judges the zones.
    pub zones: BoxStream<'static, ()>,
    pub deployments: Changes<Packed<CachedDeployment>>,
    pub disruption_budgets: Changes<Packed<PodDisruptionBudget>>,
    pub kube_services: Changes<Packed<Service>>,
    pub classes: Changes<ContinuityClass>,
    pub cron_jobs: Changes<CachedCronJob>,
    pub locations: Changes<BackupLocation>,
    pub agent_jobs: Changes<CachedJob>,
    pub restores: Changes<RestoreRequest>,
    pub drills: Changes<ContinuityDrill>,
    pub stateful_sets: Changes<Packed<StatefulSet>>,
    /// Claims: one created, labelled or deleted (a person resolving a divergence) re-judges its service.
    pub claims: Changes<PersistentVolumeClaim>,
    /// A StorageClass created or changed re-judges the stateful services whose claims name it.
    pub storage_classes: Changes<StorageClass>,
    pub points: Changes<RecoveryPoint>,
    /// The data layers services name in `spec.data`.
    pub data: super::data_layers::DataWatches,
}

/// Starts every watch of the operator over `namespace` (or all), feeding `detector` with the nodes' shape.
pub(super) fn start(
    client: &Client,
    namespace: &Option<String>,
    keys: &topology::Keys,
    detector: Arc<Detector>,
    health: &Arc<ApiHealth>,
) -> Watches {
    let (zones_changed, zones) = mpsc::channel::<()>(1);
    let (nodes, node_task) = nodes(client, keys, detector, zones_changed.clone());
    let children = watcher::Config::default().labels(SERVICE_LABEL);
    let agents = watcher::Config::default().labels(crate::backup::jobs::ACTION_LABEL);
    let all = watcher::Config::default;
    let (deployments, deployment_events) =
        packed(scoped(client, namespace), children.clone(), CachedDeployment::keep_read_annotations, health);
    let (cron_jobs, cron_job_events) =
        cached(scoped(client, namespace), children.clone(), CachedCronJob::keep_read_annotations, health);
    let (pdbs, pdb_events) =
        packed(scoped(client, namespace), children.clone(), |p: &mut PodDisruptionBudget| p.status = None, health);
    let (volumes, set_events, claim_events, storage_class_events) = volumes(client, namespace, &children, health);
    let (svcs, svc_events) =
        packed(scoped(client, namespace), children, super::cache::keep_applied_service_fields, health);
    let (locations, location_events) = cached(Api::all(client.clone()), all(), |_: &mut BackupLocation| {}, health);
    let (classes, class_events) = cached(Api::all(client.clone()), all(), |_: &mut ContinuityClass| {}, health);
    let (restores, restore_events) = cached(scoped(client, namespace), all(), |_: &mut RestoreRequest| {}, health);
    // Drills are watched as the data layers are: a kind whose CRD is not installed yet (the operator upgraded
    // before its CRDs) is looked for again once a minute, and never holds the operator back.
    let (drills, drill_events) =
        super::data_layers::layer(scoped::<ContinuityDrill>(client, namespace), all(), |_| {}, health);
    let (recovery_points, point_events) = cached(scoped(client, namespace), all(), |_: &mut RecoveryPoint| {}, health);
    // The agent's Jobs and pods: a finished Job is catalogued from its pod's termination message.
    let (agent_jobs, agent_job_events) =
        cached(scoped(client, namespace), agents.clone(), |_: &mut CachedJob| {}, health);
    let (agent_pods, agent_pod_events) = cached(scoped(client, namespace), agents, |_: &mut CachedPod| {}, health);
    let (namespaces, namespace_events) = namespaces(client, namespace, health);
    let (services, service_events, deleted) = services(client, namespace, health);
    let data = super::data_layers::start(client, namespace, health);
    let tasks = vec![node_task, feed_only(namespace_events), feed_only(agent_pod_events)];
    let caches = Caches {
        nodes,
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
        drills,
        data: data.caches.clone(),
        volumes,
        synced: Default::default(),
    };
    let triggers = Triggers {
        services: service_events,
        deleted,
        zones: zones.boxed(),
        deployments: deployment_events.boxed(),
        disruption_budgets: pdb_events.boxed(),
        kube_services: svc_events.boxed(),
        classes: class_events.boxed(),
        cron_jobs: cron_job_events.boxed(),
        locations: location_events.boxed(),
        agent_jobs: agent_job_events.boxed(),
        restores: restore_events.boxed(),
        drills: drill_events.boxed(),
        stateful_sets: set_events.boxed(),
        claims: claim_events.boxed(),
        storage_classes: storage_class_events.boxed(),
        points: point_events.boxed(),
        data,
    };
    Watches { caches, services, triggers, zones_changed, tasks }
}

/// Stateful services' StatefulSets and claims (by continuo's service label), and the StorageClasses.
#[allow(clippy::type_complexity)]
fn volumes(
    client: &Client,
    namespace: &Option<String>,
    children: &watcher::Config,
    health: &Arc<ApiHealth>,
) -> (
    super::cache::VolumeCaches,
    impl futures::Stream<Item = Result<Packed<StatefulSet>, watcher::Error>> + Send + 'static,
    impl futures::Stream<Item = Result<PersistentVolumeClaim, watcher::Error>> + Send + 'static,
    impl futures::Stream<Item = Result<StorageClass, watcher::Error>> + Send + 'static,
) {
    let (sets, set_events) =
        packed(scoped(client, namespace), children.clone(), super::volumes::keep_read_fields, health);
    let (claims, claim_events) = cached(
        scoped::<PersistentVolumeClaim>(client, namespace),
        children.clone(),
        super::volumes::keep_claim_metadata,
        health,
    );
    let (storage_classes, storage_class_events) =
        cached(Api::<StorageClass>::all(client.clone()), watcher::Config::default(), |_: &mut StorageClass| {}, health);
    (super::cache::VolumeCaches { sets, claims, storage_classes }, set_events, claim_events, storage_class_events)
}

/// Runs a watch that only feeds its cache.
fn feed_only<T>(events: impl futures::Stream<Item = T> + Send + 'static) -> JoinHandle<()> {
    tokio::spawn(events.for_each(|_| ready(())))
}

/// Namespaces only feed a cache (is it being deleted?); one watched namespace is watched by name.
fn namespaces(
    client: &Client,
    namespace: &Option<String>,
    health: &Arc<ApiHealth>,
) -> (Store<Namespace>, impl futures::Stream<Item = Result<Namespace, watcher::Error>> + Send + 'static) {
    let config = match namespace {
        Some(ns) => watcher::Config::default().fields(&format!("metadata.name={ns}")),
        None => watcher::Config::default(),
    };
    let drop_unread = |n: &mut Namespace| {
        n.spec = None;
        n.status = None;
    };
    cached(Api::all(client.clone()), config, drop_unread, health)
}

/// Nodes feed a cache and a trigger that fires only when the zone shape changes, not on heartbeats; withholding
/// follows at once (a zone whose nodes all turned NotReady is lost, or starts recovering).
fn nodes(
    client: &Client,
    keys: &topology::Keys,
    detector: Arc<Detector>,
    mut zones_changed: mpsc::Sender<()>,
) -> (Store<Node>, JoinHandle<()>) {
    let (nodes, writer) = reflector::store::<Node>();
    let (reader, keys) = (nodes.clone(), keys.clone());
    let node_watch = watcher(Api::<Node>::all(client.clone()), watcher::Config::default())
        .backoff(WatchBackoff::new())
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
                detector.evaluate(&facts, jiff::Timestamp::now());
            }
            ready(Some(changed))
        })
        .filter_map(|changed| ready(changed.then_some(())));
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(node_watch);
        while stream.next().await.is_some() {
            // A full channel already holds a pending re-reconcile of everything.
            let _ = zones_changed.try_send(());
        }
    });
    (nodes, task)
}

/// The services: their store, their spec changes, and a signal when one is deleted. Only spec changes (and new
/// services) trigger: continuo's own status writes do not reconcile again.
fn services(
    client: &Client,
    namespace: &Option<String>,
    health: &Arc<ApiHealth>,
) -> (Store<ResilientService>, Changes<ResilientService>, BoxStream<'static, ()>) {
    let (store, writer) = reflector::store::<ResilientService>();
    let (mut deleted_tx, deleted) = mpsc::channel::<()>(1);
    let events = watcher(scoped::<ResilientService>(client, namespace), watcher::Config::default().any_semantic())
        .backoff(WatchBackoff::new())
        .modify(slim)
        .reflect(writer)
        .inspect(move |event| {
            if let Ok(watcher::Event::Delete(_)) = event {
                let _ = deleted_tx.try_send(());
            }
        })
        .applied_objects()
        .predicate_filter(predicates::generation, Default::default());
    (store, only_changes(events, health.clone()).boxed(), deleted.boxed())
}
