//! Zone loss from node Leases, measured with continuo's own clock.
//!
//! Every kubelet renews its Lease in `kube-node-lease` (every 10 s by default). continuo remembers, per node,
//! *when it saw* the renewal change — never the `renewTime` itself, so clock skew between a node and the operator
//! cannot fake an outage or hide one. A node is *suspect* once no renewal was seen for the lease timeout. A zone
//! is *lost* when every node in it that is not cordoned is suspect or NotReady.
//!
//! A silence is evidence only against the background of others that are alive: a node is suspect only when
//! renewals from elsewhere were seen at least a renewal period (plus slack) after its own last one. Kubelets renew
//! each on its own phase, so when every kubelet stops at once (a control-plane or network fault, an API server
//! restart), the first zones pass the timeout a few seconds before the others — but no renewal from anywhere came
//! after their last one, so they are not lost one by one before the guard below engages. A real loss is seen at
//! most [`evidence_window`] plus a renewal period after its last renewal: 1.1 × the timeout, 22 s by default,
//! 2 s later than the timeout alone at worst.
//!
//! False alarms are guarded the way the node controller guards them: when no renewal at all was seen for the
//! timeout (continuo's own watch is stale, or every kubelet stopped at once), or when every zone looks lost at
//! once, suspicions are set aside and only NotReady nodes count. When the guard lifts, suspicion starts fresh:
//! every node's silence is counted from that moment (or from its first renewal seen since), never from before the
//! guard, so the zones whose kubelets have not renewed yet when the first one does are not lost on an old silence.
//!
//! A lost zone that returns is *recovering* until it has been healthy for the hold-down period; only then is
//! it used again. A zone that fails again while recovering is lost again, as the same loss.

use std::collections::{BTreeMap, HashMap};

use jiff::{SignedDuration, Timestamp};

use crate::{api::Span, topology::NodeFacts};

/// How long after a node's last renewal one from elsewhere must be seen for its silence to count: a renewal
/// period plus a fifth of one for the kubelet's jitter and the watch's delivery. The lease timeout is two
/// renewal periods (20 s for kubelets renewing every 10 s, a quarter of `nodeLeaseDurationSeconds`), so this is
/// 0.6 × the timeout (12 s by default).
pub fn evidence_window(s: &Settings) -> SignedDuration {
    SignedDuration::from_millis(s.lease_timeout.as_secs() as i64 * 600)
}

/// How suspicion and hold-down are timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// A node is suspect after this long without a renewal seen (`--node-lease-timeout`).
    pub lease_timeout: Span,
    /// A returned zone is used again after this long healthy (`--zone-hold-down`).
    pub hold_down: Span,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { lease_timeout: Span::from_secs(20), hold_down: Span::from_secs(120) }
    }
}

/// One node's lease as continuo last saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    /// The lease's `renewTime`, compared only for change.
    renew: Option<String>,
    /// continuo's clock when the renewal last changed (or when the lease was first seen).
    at: Timestamp,
}

/// What continuo has seen of node Leases.
#[derive(Clone, Debug, Default)]
pub struct Leases {
    seen: HashMap<String, Seen>,
    /// continuo's clock at the last renewal seen from any node: how fresh its own watch is.
    last_change: Option<Timestamp>,
}

impl Leases {
    /// A lease of `node` was seen (listed, added or modified) at `now`, with this `renewTime`.
    pub fn observe(&mut self, node: &str, renew: Option<String>, now: Timestamp) {
        match self.seen.get_mut(node) {
            Some(s) if s.renew == renew => {}
            Some(s) => {
                *s = Seen { renew, at: now };
                self.last_change = Some(now);
            }
            None => {
                self.seen.insert(node.to_string(), Seen { renew, at: now });
                self.last_change = Some(now);
            }
        }
    }

    /// The lease of `node` was deleted (the node left): it is no evidence of anything any more.
    pub fn forget(&mut self, node: &str) {
        self.seen.remove(node);
    }

    /// After a relist: keeps only the leases that still exist.
    pub fn retain(&mut self, exists: impl Fn(&str) -> bool) {
        self.seen.retain(|name, _| exists(name));
    }

    /// When continuo last saw `node`'s lease renewed, if it has one.
    pub fn last_seen(&self, node: &str) -> Option<Timestamp> {
        self.seen.get(node).map(|s| s.at)
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// Why suspicions are set aside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Guard {
    /// No renewal was seen from any node for the timeout (in seconds; not the growing silence, so that the
    /// condition it becomes is written once).
    WatchStale { timeout: u64 },
    /// Every zone would be lost at once.
    AllZonesSilent { zones: usize },
}

impl Guard {
    pub fn reason(&self) -> &'static str {
        match self {
            Guard::WatchStale { .. } => "LeaseWatchStale",
            Guard::AllZonesSilent { .. } => "AllZonesSilent",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Guard::WatchStale { timeout } => format!(
                "no node lease renewal seen for {timeout}s or more: continuo's lease watch may be stale, or every \
                 kubelet stopped at once; acting only on NotReady nodes"
            ),
            Guard::AllZonesSilent { zones } => format!(
                "the leases of all {zones} zones went silent at once, which is more likely a control-plane or network \
                 problem than {zones} zone failures; acting only on NotReady nodes"
            ),
        }
    }
}

/// A lost or recovering zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneLoss {
    pub state: ZoneState,
    /// Best evidence of when the zone failed: the last lease renewal continuo saw from any of its nodes (when it
    /// saw none, when it detected the loss).
    pub began: Timestamp,
    /// When continuo concluded the zone was lost.
    pub detected: Timestamp,
    /// Nodes found suspect (silent leases) when the loss was detected.
    pub silent_nodes: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneState {
    /// Every node that is not cordoned is suspect or NotReady: the zone is not used.
    Lost,
    /// Healthy again since `healthy_since`; used again once the hold-down has passed.
    Recovering { healthy_since: Timestamp },
}

/// The zones continuo has seen fail, remembered across evaluations (in memory: after a restart, a zone that is
/// still silent is detected again after the timeout, and a healthy one is used at once).
#[derive(Clone, Debug, Default)]
pub struct Memory {
    zones: BTreeMap<String, ZoneLoss>,
    /// Whether the last evaluation set suspicions aside.
    guarded: bool,
    /// When suspicions were last taken up again: no silence counts from before it.
    fresh_since: Option<Timestamp>,
}

/// The outcome of one evaluation: the zones not to use, and whether suspicions were set aside.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Detection {
    /// Lost and recovering zones, by name.
    pub zones: BTreeMap<String, ZoneLoss>,
    pub guard: Option<Guard>,
    /// Whether any node lease is watched (without leases only NotReady counts).
    pub leases_watched: bool,
    /// Nodes whose leases are silent now (guarded or not).
    pub suspect_nodes: usize,
    /// Per zone, the last renewal seen from the node that went silent first, among the suspect nodes there that
    /// are not cordoned: the evidence of when a node-scope failure began. Empty while the guard holds.
    pub silent_since: BTreeMap<String, Timestamp>,
    /// The nodes whose leases are suspect now (silent, others alive), not cordoned. Empty while the guard holds.
    pub suspects: Vec<String>,
}

impl Detection {
    /// Whether `zone` must not take capacity: lost, or recovering within its hold-down.
    pub fn held(&self, zone: &str) -> bool {
        self.zones.contains_key(zone)
    }

    /// The nodes not to count on now: every node of a lost zone, and every suspect node.
    pub fn unreachable(&self, nodes: &[NodeFacts]) -> Vec<String> {
        let lost = |z: &Option<String>| {
            z.as_ref().and_then(|z| self.zones.get(z)).is_some_and(|l| matches!(l.state, ZoneState::Lost))
        };
        nodes.iter().filter(|n| lost(&n.zone) || self.suspects.contains(&n.name)).map(|n| n.name.clone()).collect()
    }

    /// What placement acts on, for telling when it changed: the held zones and whether each is lost, and the guard.
    pub fn shape(&self) -> (Vec<(&str, bool)>, Option<&'static str>) {
        let zones = self.zones.iter().map(|(z, l)| (z.as_str(), matches!(l.state, ZoneState::Lost))).collect();
        (zones, self.guard.as_ref().map(Guard::reason))
    }
}

fn elapsed(from: Timestamp, to: Timestamp) -> SignedDuration {
    to.duration_since(from)
}

fn shorter_than(d: SignedDuration, span: Span) -> bool {
    d < SignedDuration::try_from(span.as_duration()).unwrap_or(SignedDuration::MAX)
}

fn longer_than(d: SignedDuration, span: Span) -> bool {
    d > SignedDuration::try_from(span.as_duration()).unwrap_or(SignedDuration::MAX)
}

/// Whether no renewal of `node` was seen for the timeout, counted from its last renewal or, when later, from
/// `fresh` (suspicions taken up again).
fn silent(leases: &Leases, node: &str, fresh: Option<Timestamp>, now: Timestamp, s: &Settings) -> bool {
    let Some(last) = leases.last_seen(node) else { return false };
    let from = fresh.map_or(last, |f| f.max(last));
    !shorter_than(elapsed(from, now), s.lease_timeout)
}

/// Whether `node` is suspect: silent for the timeout, and others alive after it — a renewal seen from anywhere at
/// least a renewal period (plus slack) after its own last one.
fn suspect(leases: &Leases, node: &str, fresh: Option<Timestamp>, now: Timestamp, s: &Settings) -> bool {
    let others_alive = leases
        .last_seen(node)
        .zip(leases.last_change)
        .is_some_and(|(last, change)| elapsed(last, change) >= evidence_window(s));
    others_alive && silent(leases, node, fresh, now, s)
}

/// Evaluates the nodes and their leases at `now`, updating `memory` (hold-down) and returning what to act on.
pub fn evaluate(nodes: &[NodeFacts], leases: &Leases, memory: &mut Memory, now: Timestamp, s: &Settings) -> Detection {
    let suspect_nodes = nodes.iter().filter(|n| silent(leases, &n.name, None, now, s)).count();

    // Which zones fail, with and without suspicions.
    let mut by_zone: BTreeMap<&str, Vec<&NodeFacts>> = BTreeMap::new();
    for n in nodes {
        if let Some(z) = &n.zone {
            by_zone.entry(z.as_str()).or_default().push(n);
        }
    }
    // `fresh`: `None` sets suspicions aside; otherwise when they were last taken up again.
    let failed_zones = |fresh: Option<Option<Timestamp>>| -> BTreeMap<&str, usize> {
        let suspect = |n: &NodeFacts| fresh.is_some_and(|f| suspect(leases, &n.name, f, now, s));
        by_zone
            .iter()
            .filter_map(|(zone, ns)| {
                let serving: Vec<&&NodeFacts> = ns.iter().filter(|n| !n.cordoned).collect();
                let silent = serving.iter().filter(|n| suspect(n)).count();
                let failed = !serving.is_empty() && serving.iter().all(|n| !n.ready || suspect(n));
                failed.then_some((*zone, silent))
            })
            .collect()
    };
    let stale = (!leases.is_empty())
        .then_some(leases.last_change)
        .flatten()
        .map(|at| elapsed(at, now))
        .filter(|d| !shorter_than(*d, s.lease_timeout));
    let mut guard = stale.map(|_| Guard::WatchStale { timeout: s.lease_timeout.as_secs() });
    let mut failed = failed_zones(guard.is_none().then_some(memory.fresh_since));
    let candidates = by_zone.values().filter(|ns| ns.iter().any(|n| !n.cordoned)).count();
    if guard.is_none() && candidates > 0 && failed.len() == candidates && failed.values().any(|silent| *silent > 0) {
        guard = Some(Guard::AllZonesSilent { zones: candidates });
        failed = failed_zones(None);
    } else if guard.is_none() && memory.guarded {
        // Leaving the guard starts fresh: no silence counts from before this moment.
        memory.fresh_since = Some(now);
        failed = failed_zones(Some(memory.fresh_since));
    }
    memory.guarded = guard.is_some();

    // Hold-down: lost → recovering → healthy after `hold_down` without failing again.
    memory.zones.retain(|z, _| by_zone.contains_key(z.as_str()));
    for (zone, silent) in &failed {
        let began = by_zone[zone].iter().filter_map(|n| leases.last_seen(&n.name)).max().unwrap_or(now);
        memory.zones.entry((*zone).to_string()).and_modify(|l| l.state = ZoneState::Lost).or_insert(ZoneLoss {
            state: ZoneState::Lost,
            began: began.min(now),
            detected: now,
            silent_nodes: *silent,
        });
    }
    memory.zones.retain(|zone, loss| {
        if failed.contains_key(zone.as_str()) {
            return true;
        }
        match loss.state {
            ZoneState::Lost => {
                loss.state = ZoneState::Recovering { healthy_since: now };
                true
            }
            ZoneState::Recovering { healthy_since } => {
                !longer_than(elapsed(healthy_since, now) + SignedDuration::from_nanos(1), s.hold_down)
            }
        }
    });
    let (silent_since, suspects) =
        if guard.is_none() { suspicions(nodes, leases, memory.fresh_since, now, s) } else { Default::default() };
    Detection {
        zones: memory.zones.clone(),
        guard,
        leases_watched: !leases.is_empty(),
        suspect_nodes,
        silent_since,
        suspects,
    }
}

/// The suspect nodes that are not cordoned, and per zone the last renewal seen from the one that went silent
/// first.
fn suspicions(
    nodes: &[NodeFacts],
    leases: &Leases,
    fresh: Option<Timestamp>,
    now: Timestamp,
    s: &Settings,
) -> (BTreeMap<String, Timestamp>, Vec<String>) {
    let mut silent_since = BTreeMap::new();
    let mut suspects = Vec::new();
    for n in nodes.iter().filter(|n| !n.cordoned && suspect(leases, &n.name, fresh, now, s)) {
        suspects.push(n.name.clone());
        if let (Some(zone), Some(at)) = (&n.zone, leases.last_seen(&n.name)) {
            silent_since.entry(zone.clone()).and_modify(|t: &mut Timestamp| *t = (*t).min(at)).or_insert(at);
        }
    }
    (silent_since, suspects)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::Strategy;

    use super::*;
    use crate::topology::synthetic_node;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_790_000_000 + secs).unwrap()
    }

    /// Two nodes in each of zones a, b, c.
    fn cluster() -> Vec<NodeFacts> {
        ["a", "b", "c"]
            .iter()
            .flat_map(|z| (1..=2).map(move |i| synthetic_node(&format!("{z}{i}"), z, Some("eu"), true)))
            .collect()
    }

    /// Renews every node's lease at `now`, except those of the silent zones.
    fn renew(leases: &mut Leases, nodes: &[NodeFacts], silent: &[&str], now: Timestamp, renew_time: &str) {
        for n in nodes.iter().filter(|n| !silent.contains(&n.zone.as_deref().unwrap())) {
            leases.observe(&n.name, Some(format!("{renew_time}-{}", now.as_second())), now);
        }
    }

    /// Runs `secs` seconds of kubelets renewing every 10 s (zones in `silent` stop at `silent_from`), evaluating
    /// every second; returns the detection at each second.
    fn simulate(secs: i64, silent: &[&str], silent_from: i64, s: &Settings) -> Vec<Detection> {
        let nodes = cluster();
        let (mut leases, mut memory) = (Leases::default(), Memory::default());
        (0..=secs)
            .map(|now| {
                if now % 10 == 0 {
                    let quiet: &[&str] = if now >= silent_from { silent } else { &[] };
                    renew(&mut leases, &nodes, quiet, t(now), "r");
                }
                evaluate(&nodes, &leases, &mut memory, t(now), s)
            })
            .collect()
    }

    #[test]
    fn a_zone_whose_leases_stop_is_lost_after_the_timeout_with_the_last_renewal_as_evidence() {
        let runs = simulate(60, &["c"], 11, &Settings::default());
        // Last renewal seen at 10 s; suspect after 20 s of silence.
        assert!(runs[29].zones.is_empty(), "{:?}", runs[29]);
        let lost = &runs[30].zones["c"];
        assert_eq!((lost.state, lost.began, lost.detected, lost.silent_nodes), (ZoneState::Lost, t(10), t(30), 2));
        assert!(runs[30].guard.is_none());
        assert_eq!(runs[60].zones.keys().collect::<Vec<_>>(), ["c"]);
    }

    #[test]
    fn renew_time_is_never_compared_with_continuos_clock() {
        // A node whose clock is an hour behind renews with old-looking timestamps: it is alive.
        let nodes = cluster();
        let (mut leases, mut memory) = (Leases::default(), Memory::default());
        for now in 0..=120 {
            if now % 10 == 0 {
                for n in &nodes {
                    let skewed = t(now - 3600).to_string();
                    leases.observe(&n.name, Some(skewed), t(now));
                }
            }
            let d = evaluate(&nodes, &leases, &mut memory, t(now), &Settings::default());
            assert!(d.zones.is_empty() && d.guard.is_none(), "at {now}s: {d:?}");
        }
        // And one whose clock runs ahead but stopped renewing is still found silent.
        let mut ahead = Leases::default();
        ahead.observe("c1", Some(t(9999).to_string()), t(0));
        assert_eq!(ahead.last_seen("c1"), Some(t(0)));
    }

    #[test]
    fn a_flapping_zone_is_used_again_only_after_a_full_hold_down() {
        let s = Settings { lease_timeout: Span::from_secs(20), hold_down: Span::from_secs(60) };
        let nodes = cluster();
        let (mut leases, mut memory) = (Leases::default(), Memory::default());
        let mut states = Vec::new();
        for now in 0..=240 {
            // Zone c silent from 11 s to 49 s, back until 79 s, silent until 119 s, then back for good.
            let silent = (11..50).contains(&now) || (80..120).contains(&now);
            if now % 10 == 0 {
                renew(&mut leases, &nodes, if silent { &["c"] } else { &[] }, t(now), "r");
            }
            states.push(evaluate(&nodes, &leases, &mut memory, t(now), &s).zones.get("c").cloned());
        }
        assert_eq!(states[30].as_ref().unwrap().state, ZoneState::Lost);
        assert_eq!(states[50].as_ref().unwrap().state, ZoneState::Recovering { healthy_since: t(50) });
        // Silent again at 80 (last renewal 70): lost again at 90, before the hold-down of the first return ended.
        assert_eq!(states[89].as_ref().unwrap().state, ZoneState::Recovering { healthy_since: t(50) });
        assert_eq!(states[90].as_ref().unwrap().state, ZoneState::Lost);
        assert_eq!(states[90].as_ref().unwrap().began, t(10), "the same loss continues");
        assert_eq!(states[120].as_ref().unwrap().state, ZoneState::Recovering { healthy_since: t(120) });
        assert!(states[179].is_some(), "held until 60 s of health have passed");
        assert!(states[180].is_none(), "used again after the hold-down");
    }

    #[test]
    fn every_zone_silent_at_once_acts_on_nothing() {
        let runs = simulate(60, &["a", "b", "c"], 11, &Settings::default());
        let d = &runs[40];
        assert!(d.zones.is_empty(), "{d:?}");
        assert_eq!(d.guard.as_ref().map(Guard::reason), Some("LeaseWatchStale"));
        assert_eq!(d.suspect_nodes, 6);
    }

    #[test]
    fn every_zone_lost_with_some_renewals_still_seen_is_guarded_too() {
        // Zones a and b are silent; c's nodes renew but are NotReady (the node controller says so).
        let mut nodes = cluster();
        nodes.iter_mut().filter(|n| n.zone.as_deref() == Some("c")).for_each(|n| n.ready = false);
        let (mut leases, mut memory) = (Leases::default(), Memory::default());
        let mut last = Detection::default();
        for now in 0..=40 {
            if now % 10 == 0 {
                renew(&mut leases, &nodes, if now > 10 { &["a", "b"] } else { &[] }, t(now), "r");
            }
            last = evaluate(&nodes, &leases, &mut memory, t(now), &Settings::default());
        }
        assert_eq!(last.guard, Some(Guard::AllZonesSilent { zones: 3 }));
        assert_eq!(last.zones.keys().collect::<Vec<_>>(), ["c"], "NotReady still counts");
    }

    #[test]
    fn nodes_without_leases_and_leases_without_nodes_are_no_evidence() {
        let nodes = cluster();
        let (mut leases, mut memory) = (Leases::default(), Memory::default());
        // Only a foreign lease and one of a's nodes report; the rest of the cluster has no leases at all.
        for now in 0..=100 {
            if now % 10 == 0 {
                leases.observe("not-a-node", Some(format!("{now}")), t(now));
                leases.observe("a1", Some(format!("{now}")), t(now));
            }
            let d = evaluate(&nodes, &leases, &mut memory, t(now), &Settings::default());
            assert!(d.zones.is_empty() && d.guard.is_none(), "at {now}s: {d:?}");
        }
        // The lease of a node that left stops mattering.
        leases.forget("a1");
        assert_eq!(leases.last_seen("a1"), None);
    }

    #[test]
    fn a_zone_of_notready_nodes_is_lost_and_a_cordoned_one_is_not() {
        let mut nodes = cluster();
        for n in nodes.iter_mut() {
            match n.zone.as_deref() {
                Some("b") => n.ready = false,
                Some("c") => n.cordoned = true,
                _ => {}
            }
        }
        let d = evaluate(&nodes, &Leases::default(), &mut Memory::default(), t(0), &Settings::default());
        assert_eq!(d.zones.keys().collect::<Vec<_>>(), ["b"], "a cordoned zone is maintenance, not a failure");
        assert_eq!(d.zones["b"].began, t(0), "without leases the detection time is the best evidence");
        assert!(!d.leases_watched);
    }

    #[test]
    fn one_silent_node_does_not_lose_its_zone() {
        let nodes = cluster();
        let (mut leases, mut memory) = (Leases::default(), Memory::default());
        let mut last = Detection::default();
        for now in 0..=60 {
            if now % 10 == 0 {
                for n in nodes.iter().filter(|n| n.name != "c1" || now < 10) {
                    leases.observe(&n.name, Some(format!("{now}")), t(now));
                }
            }
            last = evaluate(&nodes, &leases, &mut memory, t(now), &Settings::default());
        }
        assert!(last.zones.is_empty());
        assert_eq!(last.suspect_nodes, 1);
        assert_eq!(
            last.silent_since.into_iter().collect::<Vec<_>>(),
            [("c".to_string(), t(0))],
            "c1's last renewal seen is the evidence of when it failed"
        );
    }

    #[test]
    fn silence_is_no_evidence_while_the_guard_holds() {
        let nodes = cluster();
        let mut leases = Leases::default();
        renew(&mut leases, &nodes, &[], t(0), "r");
        let d = evaluate(&nodes, &leases, &mut Memory::default(), t(60), &Settings::default());
        assert!(matches!(d.guard, Some(Guard::WatchStale { .. })), "{d:?}");
        assert!(d.silent_since.is_empty(), "{:?}", d.silent_since);
    }

    /// One kubelet: renews every 10 s from `phase` (ms), except while stopped (`stopped` ms, from..until).
    #[derive(Clone, Debug)]
    struct Kubelet {
        name: String,
        phase: i64,
        stopped: Option<(i64, i64)>,
    }

    /// Runs kubelets renewing each on its own phase, evaluated every 500 ms as the operator's tick does, for
    /// `until` ms; returns (ms, detection) at each tick.
    fn staggered(kubelets: &[Kubelet], until: i64) -> Vec<(i64, Detection)> {
        let nodes = cluster();
        let (mut leases, mut memory) = (Leases::default(), Memory::default());
        let at = |ms: i64| Timestamp::from_millisecond(1_790_000_000_000 + ms).unwrap();
        let mut out = Vec::new();
        let mut ms = 0;
        while ms <= until {
            for k in kubelets {
                let renews = (ms - k.phase) >= 0 && (ms - k.phase) % 10_000 < 500;
                let stopped = k.stopped.is_some_and(|(from, to)| (from..to).contains(&ms));
                if renews && !stopped {
                    leases.observe(&k.name, Some(format!("{ms}")), at(ms));
                }
            }
            out.push((ms, evaluate(&nodes, &leases, &mut memory, at(ms), &Settings::default())));
            ms += 500;
        }
        out
    }

    fn kubelets(phases: &[i64; 6], stops: Option<([i64; 6], [i64; 6])>) -> Vec<Kubelet> {
        ["a1", "a2", "b1", "b2", "c1", "c2"]
            .iter()
            .enumerate()
            .map(|(i, name)| Kubelet {
                name: name.to_string(),
                phase: phases[i],
                stopped: stops.map(|(from, to)| (from[i], to[i])),
            })
            .collect()
    }

    #[test]
    fn every_kubelet_stopping_over_ten_seconds_and_returning_over_ten_seconds_loses_no_zone() {
        // As on a real control plane: zone a renews late in the period, b and c early, so b and c pass the
        // timeout about a second before a; they come back in the other order 36 s later.
        let phases = [9_000, 9_500, 500, 1_000, 1_500, 2_000];
        let stop = [60_000, 60_000, 60_000, 60_000, 60_000, 60_000];
        let back = [96_000, 104_000, 105_000, 105_500, 97_000, 106_000];
        let runs = staggered(&kubelets(&phases, Some((stop, back))), 240_000);
        for (ms, d) in &runs {
            assert!(d.zones.is_empty(), "at {ms} ms a zone was held: {d:?}");
            assert!(d.silent_since.is_empty(), "at {ms} ms a silence was taken for a node failure: {d:?}");
        }
        let guarded: Vec<i64> = runs.iter().filter(|(_, d)| d.guard.is_some()).map(|(ms, _)| *ms).collect();
        assert!(!guarded.is_empty(), "the guard engaged");
    }

    #[test]
    fn a_zone_lost_with_staggered_kubelets_is_found_at_most_two_seconds_after_the_timeout() {
        let phases = [9_000, 9_500, 500, 1_000, 1_500, 2_000];
        // Zone a's kubelets stop for good at 60 s; their last renewals were at 59 s and 59.5 s.
        let stop = [60_000, 60_000, i64::MAX, i64::MAX, i64::MAX, i64::MAX];
        let back = [i64::MAX; 6];
        let runs = staggered(&kubelets(&phases, Some((stop, back))), 120_000);
        let first = runs.iter().find(|(_, d)| d.zones.contains_key("a")).map(|(ms, _)| *ms).expect("lost");
        // Silent for the timeout at 79.5 s; the others renewed after 71.5 s, so it is lost at once.
        assert_eq!(first, 79_500);
        assert!(runs.iter().all(|(_, d)| d.zones.keys().all(|z| z == "a")), "only zone a");
    }

    #[test]
    fn leaving_the_guard_counts_every_silence_afresh() {
        // Every kubelet on the same phase stops at once: the guard engages with no zone lost. They come back
        // 8 s apart: zone a first, then b and c.
        let phases = [0; 6];
        let stop = [60_000; 6];
        let back = [100_000, 100_000, 108_000, 108_000, 108_000, 108_000];
        let runs = staggered(&kubelets(&phases, Some((stop, back))), 200_000);
        for (ms, d) in &runs {
            assert!(d.zones.is_empty(), "at {ms} ms a zone was held on a silence from before the guard: {d:?}");
        }
        assert!(runs.iter().any(|(ms, d)| *ms < 100_000 && d.guard.is_some()));
        assert!(runs.last().unwrap().1.guard.is_none());
    }

    #[test]
    fn a_zone_that_died_during_an_api_outage_is_found_on_the_normal_timeline_after_it() {
        // No renewal at all is seen from 60 s to 120 s (continuo's watches are down with the API server); zones
        // a and b renew again from 120 s (on their phases), zone c died meanwhile.
        let phases = [9_000, 9_500, 500, 1_000, 1_500, 2_000];
        let stop = [60_000, 60_000, 60_000, 60_000, 60_000, 60_000];
        let back = [120_000, 120_000, 120_000, 120_000, i64::MAX, i64::MAX];
        let runs = staggered(&kubelets(&phases, Some((stop, back))), 200_000);
        assert!(runs.iter().filter(|(ms, _)| *ms < 120_000).all(|(_, d)| d.zones.is_empty()), "nothing during");
        let lifted = runs.iter().find(|(ms, d)| *ms >= 120_000 && d.guard.is_none()).map(|(ms, _)| *ms).unwrap();
        let found = runs.iter().find(|(_, d)| d.zones.contains_key("c")).map(|(ms, _)| *ms).expect("c is found");
        assert!(found >= lifted + 20_000 && found <= lifted + 22_500, "lifted at {lifted}, c found at {found}");
        assert!(runs.iter().all(|(_, d)| d.zones.keys().all(|z| z == "c")));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

        /// Whatever the kubelets' phases, every kubelet stopping at once (their last renewals spread over the
        /// 10 s period, their stops over a second) and returning within 10 s after an outage of 25 s to 2 min is
        /// recognised as one event: no zone lost, no node failure, at either edge.
        #[test]
        fn a_simultaneous_silence_with_random_phases_loses_nothing(
            phases in proptest::array::uniform6(0i64..20).prop_map(|p| p.map(|x| x * 500)),
            stop_at in proptest::array::uniform6(0i64..3).prop_map(|p| p.map(|x| 60_000 + x * 500)),
            outage in 25_000i64..120_000,
            back_at in proptest::array::uniform6(0i64..20).prop_map(|p| p.map(|x| x * 500)),
        ) {
            let back: [i64; 6] = std::array::from_fn(|i| 70_000 + outage + back_at[i]);
            let runs = staggered(&kubelets(&phases, Some((stop_at, back))), 70_000 + outage + 60_000);
            for (ms, d) in &runs {
                proptest::prop_assert!(d.zones.is_empty(), "at {} ms: {:?}", ms, d);
                proptest::prop_assert!(d.silent_since.is_empty(), "at {} ms: {:?}", ms, d);
            }
        }

        /// And a real loss of one zone is still found, at most 2 s after its last renewal plus the timeout.
        #[test]
        fn a_single_zone_loss_with_random_phases_is_found_in_time(
            phases in proptest::array::uniform6(0i64..20).prop_map(|p| p.map(|x| x * 500)),
            zone in 0usize..3,
        ) {
            let stop: [i64; 6] = std::array::from_fn(|i| if i / 2 == zone { 60_000 } else { i64::MAX });
            let runs = staggered(&kubelets(&phases, Some((stop, [i64::MAX; 6]))), 120_000);
            let name = ["a", "b", "c"][zone];
            let last = (0..2).map(|j| phases[zone * 2 + j]).map(|p| 50_000 + p).max().unwrap();
            let found = runs.iter().find(|(_, d)| d.zones.contains_key(name)).map(|(ms, _)| *ms);
            proptest::prop_assert!(found.is_some_and(|f| f >= last + 20_000 && f <= last + 22_500), "{:?} after {}", found, last);
            proptest::prop_assert!(runs.iter().all(|(_, d)| d.zones.keys().all(|z| z == name)));
        }
    }
}
