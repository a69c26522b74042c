//! The detector's inputs, as tasks: the node Lease watch (every renewal noted on continuo's clock) and a tick that
//! judges the zones twice a second, asking for every service to be reconciled again when a zone is lost, starts
//! recovering, or is used again.

use std::{sync::Arc, time::Duration};

use futures::{StreamExt, channel::mpsc};
use k8s_openapi::api::{coordination::v1::Lease, core::v1::Node};
use kube::{
    Api, Client, ResourceExt,
    runtime::{WatchStreamExt, reflector::Store, watcher},
};
use tokio::task::JoinHandle;
use tracing::{error, info};

use super::{Detector, NODE_LEASE_NAMESPACE};
use crate::{metrics::Metrics, topology};

/// Starts the node Lease watch and the judging tick; `zones_changed` is sent to when the zones withheld change.
pub(super) fn start(
    client: Client,
    detector: Arc<Detector>,
    nodes: Store<Node>,
    keys: topology::Keys,
    metrics: Arc<Metrics>,
    mut zones_changed: mpsc::Sender<()>,
    fencing: Option<(jiff::SignedDuration, Client, tokio::sync::watch::Receiver<bool>)>,
) -> Vec<JoinHandle<()>> {
    let leases = tokio::spawn(watch_node_leases(client, detector.clone()));
    let tick = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let facts = topology::observe(&nodes.state(), &keys);
            if detector.evaluate(&facts, jiff::Timestamp::now()) {
                let d = detector.current();
                info!(withheld = ?d.zones.keys().collect::<Vec<_>>(), guard = ?d.guard.as_ref().map(|g| g.reason()), "zones re-judged from node leases");
                // A full channel already holds a pending re-reconcile of everything.
                let _ = zones_changed.try_send(());
            }
            metrics.detected(&detector.current());
            // Only the leader fences, after judging the zones with the same observations.
            if let Some((after, client, leader)) = &fencing
                && *leader.borrow()
            {
                super::fence::step(client, &nodes, &detector, *after, jiff::Timestamp::now()).await;
            }
        }
    });
    vec![leases, tick]
}

/// Feeds `detector` from the node Leases in `kube-node-lease` (and nowhere else: a lease elsewhere is not a
/// kubelet's). Runs until aborted; a failed watch is retried with backoff, and while it fails no renewal is seen,
/// which the detector's stale-watch guard turns into acting on nothing.
async fn watch_node_leases(client: Client, detector: Arc<Detector>) {
    let api: Api<Lease> = Api::namespaced(client, NODE_LEASE_NAMESPACE);
    let mut listed: Vec<String> = Vec::new();
    let mut events =
        std::pin::pin!(watcher(api, watcher::Config::default()).backoff(super::reflect::WatchBackoff::new()));
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
