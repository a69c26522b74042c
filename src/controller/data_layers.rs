//! The data layers' watches: CloudNativePG Clusters, their instance pods, and VolSync ReplicationSources, each a
//! cache the reconcile reads like every other. A layer whose CRD is not installed is not an error: its watch
//! finds 404, the layer is `NotInstalled` (services naming it get `Unknown` with that reason), and the watch asks
//! again once a minute, so that installing the operator later is picked up without a restart.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    time::Duration,
};

use futures::{Stream, StreamExt, future::ready};
use kube::{
    Api, Client, Resource,
    runtime::{
        WatchStreamExt,
        reflector::{self, Store},
        watcher,
    },
};
use serde::de::DeserializeOwned;

use super::{
    api_health::ApiHealth,
    reflect::{Changes, WatchBackoff, only_changes, scoped},
};
use crate::{
    api::DataSource,
    data::{
        Layer, Observed,
        cnpg::{InstancePod, POD_ROLE_LABEL, PgCluster},
        volsync::ReplicationSource,
    },
};

/// How often a layer whose CRD is not installed is looked for again.
const ABSENT_RETRY: Duration = Duration::from_secs(60);

const NOT_OBSERVED: u8 = 0;
const NOT_INSTALLED: u8 = 1;
const SYNCED: u8 = 2;

/// One data layer's cache and whether its kind is served.
#[derive(Clone)]
pub struct LayerCache<K: Resource<DynamicType = ()> + 'static> {
    pub store: Store<K>,
    state: Arc<AtomicU8>,
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> LayerCache<K> {
    /// A cache over `store`, synced (tests and benchmarks that fill the store themselves).
    pub fn synced(store: Store<K>) -> Self {
        LayerCache { store, state: Arc::new(AtomicU8::new(SYNCED)) }
    }

    /// Marks the kind served (its full list is in the store) or not installed, as the watch finds it.
    pub fn mark(&self, installed: bool) {
        self.state.store(if installed { SYNCED } else { NOT_INSTALLED }, Ordering::Relaxed);
    }

    fn state(&self) -> u8 {
        self.state.load(Ordering::Relaxed)
    }

    /// The objects of this kind in `ns` that `wanted` picks, cloned (a handful per service).
    fn in_namespace(&self, ns: &str, wanted: impl Fn(&K) -> bool) -> Vec<K> {
        let state = self.store.state();
        state.iter().filter(|o| o.meta().namespace.as_deref() == Some(ns) && wanted(o)).map(|o| (**o).clone()).collect()
    }
}

/// The data layers' caches.
#[derive(Clone)]
pub struct DataCaches {
    pub clusters: LayerCache<PgCluster>,
    pub instance_pods: LayerCache<InstancePod>,
    pub replication_sources: LayerCache<ReplicationSource>,
}

/// What a reconcile read of the data layers a service names, owned so that the plan can borrow it.
#[derive(Default)]
pub struct DataSnapshot {
    clusters: Vec<PgCluster>,
    pods: Vec<InstancePod>,
    sources: Vec<ReplicationSource>,
    cluster_state: u8,
    source_state: u8,
}

impl DataCaches {
    /// The Clusters, their instance pods and the ReplicationSources that `declared` names in `ns`.
    pub fn snapshot(&self, ns: &str, declared: &[DataSource]) -> DataSnapshot {
        if declared.is_empty() {
            return DataSnapshot::default();
        }
        let cluster_names: Vec<&str> =
            declared.iter().filter_map(|d| d.cloud_native_pg.as_ref()).map(|c| c.cluster.as_str()).collect();
        let source_names: Vec<&str> =
            declared.iter().filter_map(|d| d.vol_sync.as_ref()).map(|v| v.replication_source.as_str()).collect();
        let named = |names: &[&str], meta: &kube::core::ObjectMeta| names.contains(&meta.name.as_deref().unwrap_or(""));
        DataSnapshot {
            clusters: self.clusters.in_namespace(ns, |c| named(&cluster_names, &c.metadata)),
            pods: self.instance_pods.in_namespace(ns, |p| p.cluster().is_some_and(|c| cluster_names.contains(&c))),
            sources: self.replication_sources.in_namespace(ns, |r| named(&source_names, &r.metadata)),
            cluster_state: self.clusters.state().min(self.instance_pods.state()),
            source_state: self.replication_sources.state(),
        }
    }
}

impl DataSnapshot {
    /// What the plan's data stage observes.
    pub fn observed(&self) -> Observed<'_> {
        fn layer<K>(state: u8, objects: &[K]) -> Layer<'_, K> {
            match state {
                SYNCED => Layer::Seen(objects),
                NOT_INSTALLED => Layer::NotInstalled,
                _ => Layer::NotObserved,
            }
        }
        Observed {
            clusters: layer(self.cluster_state, &self.clusters),
            sources: layer(self.source_state, &self.sources),
            pods: Some(&self.pods),
            unreachable: &[],
        }
    }
}

/// The data layers' watches: their caches and their changes.
pub(super) struct DataWatches {
    pub caches: DataCaches,
    pub clusters: Changes<PgCluster>,
    pub instance_pods: Changes<InstancePod>,
    pub replication_sources: Changes<ReplicationSource>,
}

/// Starts the data layers' watches over `namespace` (or all).
pub(super) fn start(client: &Client, namespace: &Option<String>, health: &Arc<ApiHealth>) -> DataWatches {
    let all = watcher::Config::default;
    let (clusters, cluster_events) = layer(scoped::<PgCluster>(client, namespace), all(), |_| {}, health);
    // Only instance pods (not CloudNativePG's job pods): their node and readiness are what is judged.
    let instances = watcher::Config::default().labels(&format!("{POD_ROLE_LABEL}=instance"));
    let (instance_pods, pod_events) =
        layer(scoped::<InstancePod>(client, namespace), instances, InstancePod::compact, health);
    let (replication_sources, source_events) =
        layer(scoped::<ReplicationSource>(client, namespace), all(), |_| {}, health);
    DataWatches {
        caches: DataCaches { clusters, instance_pods, replication_sources },
        clusters: cluster_events.boxed(),
        instance_pods: pod_events.boxed(),
        replication_sources: source_events.boxed(),
    }
}

/// One layer's reflector, its state kept from what its watch meets: a full list (synced) or a 404 (not installed).
/// Of each object's metadata only its name and namespace are kept (`compact` may keep a little more, elsewhere):
/// these are other operators' objects (an instance pod carries a dozen labels and annotations), and nothing else
/// is read.
pub(super) fn layer<K>(
    api: Api<K>,
    config: watcher::Config,
    compact: impl Fn(&mut K) + Send + 'static,
    health: &Arc<ApiHealth>,
) -> (LayerCache<K>, impl Stream<Item = Result<K, watcher::Error>> + Send + 'static)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let (store, writer) = reflector::store::<K>();
    let state = Arc::new(AtomicU8::new(NOT_OBSERVED));
    let seen = state.clone();
    let events = watcher(api, config)
        // Before the backoff, which reads the state to wait a minute while the kind is not installed.
        .inspect(move |event| match event {
            Ok(watcher::Event::InitDone) => seen.store(SYNCED, Ordering::Relaxed),
            Err(e) if not_installed(e) => seen.store(NOT_INSTALLED, Ordering::Relaxed),
            _ => {}
        })
        .backoff(LayerBackoff { inner: WatchBackoff::new(), state: state.clone() })
        .modify(move |obj| {
            compact(obj);
            let meta = obj.meta_mut();
            *meta = kube::core::ObjectMeta {
                name: meta.name.take(),
                namespace: meta.namespace.take(),
                ..Default::default()
            };
        })
        .reflect(writer)
        .touched_objects()
        // A 404 here is the kind not being installed, which the state says: not a watch failure to report.
        .filter(|event| ready(!matches!(event, Err(e) if not_installed(e))));
    (LayerCache { store, state }, only_changes(events, health.clone()))
}

fn not_installed(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s)) => s.code == 404,
        _ => false,
    }
}

/// The watch backoff, but a minute while the kind is not installed.
struct LayerBackoff {
    inner: WatchBackoff,
    state: Arc<AtomicU8>,
}

impl Iterator for LayerBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.state.load(Ordering::Relaxed) == NOT_INSTALLED {
            return Some(ABSENT_RETRY);
        }
        self.inner.next()
    }
}

impl kube::runtime::utils::Backoff for LayerBackoff {
    fn reset(&mut self) {
        self.inner.reset();
    }
}
