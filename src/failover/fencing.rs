//! Fencing lost servers (`--fence-lost-nodes`, off by default): which nodes to taint
//! `node.kubernetes.io/out-of-service` (Kubernetes' non-graceful node shutdown), and which taints continuo put
//! there to take back off.
//!
//! A StatefulSet pod on a server that stops answering stays Terminating: its kubelet never confirms, so the
//! StatefulSet makes no replacement, and its ReadWriteOnce volume stays attached. The taint makes Kubernetes delete
//! those pods and detach their volumes at once, so they start on another server of the zone.
//!
//! The risk: a server that is only cut off (a network partition, not a power loss) keeps running its pods and
//! writing to a volume now attached elsewhere. So a node is fenced only on two signs: its lease silent for the
//! configured time *and* the node controller marking it NotReady; never while the detector's guard holds (the
//! silence may be the lease watch's own, or every kubelet's at once).
//!
//! Pure: the shell gives the nodes, the last renewals seen and the clock.

use jiff::{SignedDuration, Timestamp};

/// The taint of Kubernetes' non-graceful node shutdown.
pub const OUT_OF_SERVICE: &str = "node.kubernetes.io/out-of-service";
/// The value and effect continuo sets it with.
pub const OUT_OF_SERVICE_VALUE: &str = "nodeshutdown";
/// Annotation continuo puts on a node it fenced: when. Only a taint continuo put there is taken back off.
pub const FENCED_ANNOTATION: &str = "continuo.dev/fenced-at";

/// One node, as fencing sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node<'a> {
    pub name: &'a str,
    /// The node controller's Ready condition.
    pub ready: bool,
    /// The last renewal of its lease continuo saw; `None` when it has no lease continuo knows.
    pub last_renewal: Option<Timestamp>,
    /// It carries the out-of-service taint.
    pub tainted: bool,
    /// continuo put it there.
    pub fenced_by_continuo: bool,
}

/// What to do to one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fence {
    /// Taint it out-of-service: its lease has been silent `silent_for` and it is NotReady.
    Taint { node: String, silent_for: SignedDuration },
    /// Take continuo's taint off: it is Ready and renewing again.
    Untaint { node: String },
}

/// The fencing actions at `now`, for nodes silent at least `after`. `guarded`: the detector sets suspicions aside
/// (the lease watch is stale, or every zone is silent): nothing is fenced.
pub fn decide(nodes: &[Node<'_>], guarded: bool, after: SignedDuration, now: Timestamp) -> Vec<Fence> {
    let mut out = Vec::new();
    for n in nodes {
        let silent_for = n.last_renewal.map(|t| now.duration_since(t));
        let silent = silent_for.is_some_and(|s| s >= after);
        if !n.tainted && !n.ready && silent && !guarded {
            out.push(Fence::Taint { node: n.name.to_string(), silent_for: silent_for.unwrap_or_default() });
        }
        let renewing = silent_for.is_some_and(|s| s < after);
        if n.tainted && n.fenced_by_continuo && n.ready && renewing {
            out.push(Fence::Untaint { node: n.name.to_string() });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_796_000_000 + s).unwrap()
    }

    fn node(name: &str, ready: bool, renewed: Option<i64>, tainted: bool, ours: bool) -> Node<'_> {
        Node { name, ready, last_renewal: renewed.map(at), tainted, fenced_by_continuo: ours }
    }

    const AFTER: SignedDuration = SignedDuration::from_secs(60);

    #[test]
    fn a_node_silent_long_enough_and_not_ready_is_fenced_and_nothing_else_is() {
        let nodes = [
            node("dead", false, Some(0), false, false),
            node("silent-but-ready", true, Some(0), false, false),
            node("not-ready-but-renewing", false, Some(50), false, false),
            node("no-lease", false, None, false, false),
            node("fenced-already", false, Some(0), true, true),
        ];
        assert_eq!(
            decide(&nodes, false, AFTER, at(90)),
            [Fence::Taint { node: "dead".into(), silent_for: SignedDuration::from_secs(90) }]
        );
        assert_eq!(decide(&nodes, false, AFTER, at(59)), [], "not silent long enough");
        assert_eq!(decide(&nodes, true, AFTER, at(90)), [], "never while the guard holds");
    }

    #[test]
    fn only_continuo_s_own_taint_is_taken_off_once_the_node_is_back() {
        let nodes = [node("back", true, Some(100), true, true), node("a-person-s", true, Some(100), true, false)];
        assert_eq!(decide(&nodes, false, AFTER, at(110)), [Fence::Untaint { node: "back".into() }]);
        let still_down = [node("back", false, Some(0), true, true)];
        assert_eq!(decide(&still_down, false, AFTER, at(110)), []);
    }
}
