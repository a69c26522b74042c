//! The shell around [`crate::failover::detection`]: node Lease events and the clock go in; the zones to
//! withhold come out, and every service is reconciled again when they change.

use std::{sync::Mutex, time::Duration};

use jiff::Timestamp;
use tracing::warn;

use crate::{
    availability::Observer,
    failover::{Detection, Leases, Memory, Settings, detection},
    topology::NodeFacts,
};

/// The namespace kubelets renew their Leases in.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

#[derive(Default)]
struct State {
    leases: Leases,
    memory: Memory,
    last: Detection,
}

/// What this replica has seen of node leases, and what it concluded.
pub struct Detector {
    settings: Settings,
    observer: Observer,
    state: Mutex<State>,
    /// True once the lease watch's first list is in (or none is expected): until then a reconcile would take a
    /// cluster with leases for one without, and rewrite every service's `FailureDetection` twice per start.
    listed: tokio::sync::watch::Sender<bool>,
}

impl Detector {
    pub fn new(settings: Settings, observer: Observer) -> Detector {
        Detector { settings, observer, state: Mutex::default(), listed: tokio::sync::watch::Sender::new(true) }
    }

    /// Reconciles wait (a bounded time) for the first list of a lease watch.
    pub fn expecting_list(self) -> Self {
        self.listed.send_replace(false);
        self
    }

    /// The lease watch's first list is in.
    pub fn listed(&self) {
        self.listed.send_replace(true);
    }

    /// Waits for the first list, at most `limit` (once: a watch that cannot list, say for lack of RBAC, is
    /// reported and then not waited for again).
    pub async fn wait_listed(&self, limit: Duration) {
        let mut rx = self.listed.subscribe();
        if tokio::time::timeout(limit, rx.wait_for(|l| *l)).await.is_err() {
            warn!("no node lease list after {limit:?}: zone loss is seen from NotReady nodes only until it arrives");
            self.listed.send_replace(true);
        }
    }

    /// A node lease was listed, added or modified: `renew` is its `renewTime`, `now` continuo's clock.
    pub fn observe(&self, node: &str, renew: Option<String>, now: Timestamp) {
        if let Ok(mut s) = self.state.lock() {
            s.leases.observe(node, renew, now);
        }
    }

    /// A node lease was deleted.
    pub fn forget(&self, node: &str) {
        if let Ok(mut s) = self.state.lock() {
            s.leases.forget(node);
        }
    }

    /// After a relist: only these leases exist.
    pub fn retain(&self, exists: impl Fn(&str) -> bool) {
        if let Ok(mut s) = self.state.lock() {
            s.leases.retain(exists);
        }
    }

    /// Evaluates the nodes and leases at `now`. Returns whether what placement acts on changed (a zone lost,
    /// recovering or back, or the guard), so that every service is reconciled again.
    pub fn evaluate(&self, nodes: &[NodeFacts], now: Timestamp) -> bool {
        let Ok(mut s) = self.state.lock() else { return false };
        let State { leases, memory, last } = &mut *s;
        let next = detection::evaluate(nodes, leases, memory, now, &self.settings);
        let changed = next.shape() != last.shape() || next.leases_watched != last.leases_watched;
        *last = next;
        changed
    }

    /// The last evaluation (whether leases are watched: as of now).
    pub fn current(&self) -> Detection {
        self.state
            .lock()
            .map(|s| Detection { leases_watched: !s.leases.is_empty(), ..s.last.clone() })
            .unwrap_or_default()
    }

    /// When continuo last saw `node`'s lease renewed.
    pub fn last_seen(&self, node: &str) -> Option<Timestamp> {
        self.state.lock().ok()?.leases.last_seen(node)
    }

    pub fn observer(&self) -> Observer {
        self.observer
    }
}

impl Default for Detector {
    fn default() -> Self {
        Detector::new(Settings::default(), Observer::always())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn reconciles_wait_for_the_first_lease_list_and_only_once_for_one_that_never_comes() {
        let d = Arc::new(Detector::default().expecting_list());
        let waiting = d.clone();
        let waiter = tokio::spawn(async move { waiting.wait_listed(Duration::from_secs(30)).await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "waits while the list is not in");
        d.observe("n1", Some("r1".into()), Timestamp::UNIX_EPOCH);
        assert!(d.current().leases_watched, "known at once, before the next evaluation");
        d.listed();
        tokio::time::timeout(Duration::from_secs(5), waiter).await.expect("released by the list").unwrap();

        let never = Detector::default().expecting_list();
        never.wait_listed(Duration::from_millis(10)).await;
        tokio::time::timeout(Duration::from_millis(500), never.wait_listed(Duration::from_secs(30)))
            .await
            .expect("a list that never came is not waited for again");
    }
}
