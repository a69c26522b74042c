//! How one kind is watched and cached: the reflector, the retry after a failed watch, what every cached object
//! drops, and the watch's errors kept out of the controller's queue. [`super::watches`] and
//! [`super::data_layers`] start their watches with these.

use std::sync::Arc;

use futures::{Stream, StreamExt, TryStreamExt, future::ready, stream::BoxStream};
use kube::{
    Api, Client, Resource,
    runtime::{
        WatchStreamExt,
        reflector::{self, Store},
        watcher,
    },
};
use serde::{Serialize, de::DeserializeOwned};

use super::{
    api_health::{ApiHealth, api_away},
    packed::Packed,
};

/// The changes of one watched kind.
pub(super) type Changes<K> = BoxStream<'static, Result<K, watcher::Error>>;

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

/// What continuo never reads, dropped from every cached object to keep memory flat as caches grow: the field
/// managers, kubectl's copy of the last applied object, and the resource version (the watch keeps its own, taken
/// before this; a cached object's would be held twice, in the object and in its key in the store).
pub(super) fn slim<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    meta.resource_version = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// A reflector store for `api` and the stream of its changes (applied and deleted objects), to trigger on.
/// `drop_unread` removes, besides what [`slim`] removes, the fields of this kind that continuo never reads.
pub(super) fn cached<K>(
    api: Api<K>,
    config: watcher::Config,
    drop_unread: impl Fn(&mut K) + Send + 'static,
    health: &Arc<ApiHealth>,
) -> (Store<K>, impl Stream<Item = Result<K, watcher::Error>> + Send + 'static)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store::<K>();
    let events = watch(api, config, drop_unread).reflect(writer).touched_objects();
    (reader, only_changes(events, health.clone()))
}

/// As [`cached`], with the objects kept [`Packed`]: for the kinds a cache holds one or more of per service.
pub(super) fn packed<K>(
    api: Api<K>,
    config: watcher::Config,
    drop_unread: impl Fn(&mut K) + Send + 'static,
    health: &Arc<ApiHealth>,
) -> (Store<Packed<K>>, impl Stream<Item = Result<Packed<K>, watcher::Error>> + Send + 'static)
where
    K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store::<Packed<K>>();
    let events = watch(api, config, drop_unread).map_ok(Packed::event).reflect(writer).touched_objects();
    (reader, only_changes(events, health.clone()))
}

/// The watch of `api`, retried with [`WatchBackoff`], each object slimmed as it arrives.
fn watch<K>(
    api: Api<K>,
    config: watcher::Config,
    drop_unread: impl Fn(&mut K) + Send + 'static,
) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    watcher(api, config).backoff(WatchBackoff::new()).modify(move |obj| {
        slim(obj);
        drop_unread(obj);
    })
}

/// The changes of a watch, without its errors: they are logged here and retried by the watch's own backoff. An
/// error must not reach the controller's queue: kube-runtime's applier then waits until something else wakes it,
/// which after an API server outage left the trigger watches unpolled for tens of seconds.
pub(super) fn only_changes<K: Send + 'static>(
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
