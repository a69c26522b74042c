//! Every kind continuo watches, in one place: each is a reflector whose cache the reconcile reads (so a reconcile
//! makes no read request) and whose changes trigger the services they concern. Adding a watched kind is one
//! field of [`Caches`] and [`Triggers`] and one line here.

use std::sync::Arc;

use futures::{Stream, StreamExt, channel::mpsc, future::ready, stream::BoxStream};
use k8s_openapi::api::{
    core::v1::{Namespace, Node, Service},
    policy::v1::PodDisruptionBudget,
};
use kube::{
    Api, Client, Resource,
    runtime::{
        WatchStreamExt, predicates,
        reflector::{self, Store},
        watcher,
    },
};
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;
use tracing::error;

use super::{
    CachedCronJob, CachedDeployment, CachedJob, CachedPod, Caches, Detector,
    api_health::{ApiHealth, api_away},
};
use crate::{
    api::{BackupLocation, ContinuityClass, RecoveryPoint, ResilientService, RestoreRequest},
    topology,
    workload::SERVICE_LABEL,
};

/// The changes of one watched kind.
pub(super) type Changes<K> = BoxStream<'static, Result<K, watcher::Error>>;

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
    pub deployments: Changes<CachedDeployment>,
    pub disruption_budgets: Changes<PodDisruptionBudget>,
    pub kube_services: Changes<Service>,
    pub classes: Changes<ContinuityClass>,
    pub cron_jobs: Changes<CachedCronJob>,
    pub locations: Changes<BackupLocation>,
    pub agent_jobs: Changes<CachedJob>,
    pub restores: Changes<RestoreRequest>,
    pub points: Changes<RecoveryPoint>,
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
        cached(scoped(client, namespace), children.clone(), CachedDeployment::keep_read_annotations, health);
    let (cron_jobs, cron_job_events) =
        cached(scoped(client, namespace), children.clone(), CachedCronJob::keep_read_annotations, health);
    let (pdbs, pdb_events) =
        cached(scoped(client, namespace), children.clone(), |p: &mut PodDisruptionBudget| p.status = None, health);
    let (svcs, svc_events) =
        cached(scoped(client, namespace), children, super::cache::keep_applied_service_fields, health);
    let (locations, location_events) = cached(Api::all(client.clone()), all(), |_: &mut BackupLocation| {}, health);
    let (classes, class_events) = cached(Api::all(client.clone()), all(), |_: &mut ContinuityClass| {}, health);
    let (restores, restore_events) = cached(scoped(client, namespace), all(), |_: &mut RestoreRequest| {}, health);
    let (recovery_points, point_events) = cached(scoped(client, namespace), all(), |_: &mut RecoveryPoint| {}, health);
    // The agent's Jobs and pods: a finished Job is catalogued from its pod's termination message.
    let (agent_jobs, agent_job_events) =
        cached(scoped(client, namespace), agents.clone(), |_: &mut CachedJob| {}, health);
    let (agent_pods, agent_pod_events) = cached(scoped(client, namespace), agents, |_: &mut CachedPod| {}, health);
    // Namespaces only feed a cache (is it being deleted?); one watched namespace is watched by name.
    let namespace_config = match namespace {
        Some(ns) => watcher::Config::default().fields(&format!("metadata.name={ns}")),
        None => all(),
    };
    let (namespaces, namespace_events) = cached(
        Api::all(client.clone()),
        namespace_config,
        |n: &mut Namespace| {
            n.spec = None;
            n.status = None;
        },
        health,
    );
    let (services, service_events, deleted) = services(client, namespace, health);
    let tasks = vec![
        node_task,
        tokio::spawn(namespace_events.for_each(|_| ready(()))),
        tokio::spawn(agent_pod_events.for_each(|_| ready(()))),
    ];
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
        points: point_events.boxed(),
    };
    Watches { caches, services, triggers, zones_changed, tasks }
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

/// How a failed watch is retried: after 0.5 s, doubling to 4 s at most, each with up to a quarter more at random
/// (so that a dozen watches do not retry in step), and from 0.5 s again once a watch delivers. kube's default
/// (0.8 s doubling to 30 s, plus as much again at random) left a watch down for up to a minute after an API
/// server came back; this one is back within about 5 s of it, at about three requests a second for a dozen
/// watches while the API server is down.
pub(super) struct WatchBackoff {
    next: std::time::Duration,
}

impl WatchBackoff {
    const FIRST: std::time::Duration = std::time::Duration::from_millis(500);
    const MOST: std::time::Duration = std::time::Duration::from_secs(4);

    pub fn new() -> Self {
        WatchBackoff { next: Self::FIRST }
    }
}

impl Iterator for WatchBackoff {
    type Item = std::time::Duration;

    fn next(&mut self) -> Option<std::time::Duration> {
        let delay = self.next;
        self.next = (delay * 2).min(Self::MOST);
        let nanos = u64::from(jiff::Timestamp::now().subsec_nanosecond().unsigned_abs());
        let jitter = std::time::Duration::from_nanos(nanos % (delay.as_nanos() as u64 / 4 + 1));
        Some(delay + jitter)
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

/// An `Api` over the watched namespace, or all of them.
pub(super) fn scoped<K>(client: &Client, namespace: &Option<String>) -> Api<K>
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
    health: &Arc<ApiHealth>,
) -> (Store<K>, impl Stream<Item = Result<K, watcher::Error>> + Send + 'static)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store::<K>();
    let events = watcher(api, config)
        .backoff(WatchBackoff::new())
        .modify(move |obj| {
            slim(obj);
            drop_unread(obj);
        })
        .reflect(writer)
        .touched_objects();
    (reader, only_changes(events, health.clone()))
}

/// The changes of a watch, without its errors: they are logged here and retried by the watch's own backoff. An
/// error must not reach the controller's queue: kube-runtime's applier then waits until something else wakes it,
/// which after an API server outage left the trigger watches unpolled for tens of seconds.
fn only_changes<K: Send + 'static>(
    events: impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
    health: Arc<ApiHealth>,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static {
    events.filter_map(move |event| {
        ready(match event {
            Ok(object) => {
                health.answered();
                Some(Ok(object))
            }
            Err(e) => {
                // An API server away or restarting, or a watch to resume by listing again, is expected; anything
                // else (a 403, a body that does not decode) is for a person to look at.
                let expected = match &e {
                    watcher::Error::WatchError(s) => s.code == 410 || s.code >= 500,
                    watcher::Error::InitialListFailed(k)
                    | watcher::Error::WatchStartFailed(k)
                    | watcher::Error::WatchFailed(k) => api_away(k),
                    watcher::Error::NoResourceVersion => false,
                };
                let gone = matches!(&e, watcher::Error::WatchError(s) if s.code == 410);
                if expected && !gone {
                    health.failed(&e);
                }
                if expected {
                    tracing::debug!(error = %e, "watch interrupted; retrying");
                } else {
                    tracing::warn!(error = %e, "watch failed; retrying");
                }
                None
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use kube::runtime::utils::Backoff;

    use super::*;

    #[test]
    fn a_failed_watch_is_retried_within_five_seconds_at_most_and_from_half_a_second_after_it_delivered() {
        let mut b = WatchBackoff::new();
        let delays: Vec<std::time::Duration> = (0..10).map(|_| b.next().unwrap()).collect();
        assert!(
            delays[0] >= std::time::Duration::from_millis(500) && delays[0] <= std::time::Duration::from_millis(625)
        );
        assert!(delays.iter().all(|d| *d <= std::time::Duration::from_secs(5)), "{delays:?}");
        assert!(delays[9] >= std::time::Duration::from_secs(4), "{delays:?}");
        b.reset();
        assert!(b.next().unwrap() <= std::time::Duration::from_millis(625));
    }
}
