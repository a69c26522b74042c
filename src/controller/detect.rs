//! The shell around [`crate::failover::detection`]: node Lease events and the clock go in; the zones to
//! withhold come out, and every service is reconciled again when they change.

use std::sync::Mutex;

use jiff::Timestamp;

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
}

impl Detector {
    pub fn new(settings: Settings, observer: Observer) -> Detector {
        Detector { settings, observer, state: Mutex::default() }
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

    /// The last evaluation.
    pub fn current(&self) -> Detection {
        self.state.lock().map(|s| s.last.clone()).unwrap_or_default()
    }

    pub fn observer(&self) -> Observer {
        self.observer
    }

    pub fn settings(&self) -> Settings {
        self.settings
    }
}

impl Default for Detector {
    fn default() -> Self {
        Detector::new(Settings::default(), Observer::always())
    }
}
