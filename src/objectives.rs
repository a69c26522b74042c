//! Whether each objective of a class is feasible on this cluster with this placement — and why, in numbers.
//!
//! The timing model (documented in docs/src/failover/timing.md):
//! - a lost node is noticed after the node-monitor grace period (kube-controller-manager default 50 s);
//! - its pods are evicted after their `tolerationSeconds` for `not-ready`/`unreachable`, which continuo
//!   derives from the Node-scope RTO: `RTO − detection − pod start-up`, clamped to 0..=300 s;
//! - a replacement pod becomes Ready after the pod start-up time: the spec's `startupSeconds` hint, or the
//!   start-up overhead plus what the template's startup and readiness probes imply;
//! - a lost zone is noticed when its node leases have been silent for continuo's lease timeout (default 20 s, plus
//!   a second for the evaluation tick and the debounce), or when its last node turns NotReady (the grace period)
//!   if that is sooner or leases are not watched; continuo then moves the zone's replicas to the surviving zones,
//!   which become Ready after the pod start-up time.
//!
//! An RPO is judged by the backup stage ([`crate::backup::rpo_verdict`]): feasible when the copies' worst gap
//! plus a copy's duration fits it, met when the newest good copy is younger than it; RPO 0 needs replication.

use std::{collections::BTreeMap, fmt::Write as _};

use k8s_openapi::api::core::v1::{PodTemplateSpec, Probe};

use crate::{
    api::{ContinuityClassSpec, Objective, ObjectiveStatus, Scope, Span},
    backup::{self, BackupPlan},
    data::{self, DataPlan},
    placement::Placement,
};

/// The kube-scheduler's default eviction delay for pods on an unreachable or not-ready node.
pub const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// How fast the cluster notices failures and starts pods. Configurable on the operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timing {
    /// kube-controller-manager's `--node-monitor-grace-period`.
    pub node_monitor_grace: Span,
    /// Scheduling, image pull and container start before probes begin.
    pub startup_overhead: Span,
    /// continuo's `--node-lease-timeout`: a zone whose node leases are silent this long is lost. `None`: zone loss
    /// is seen only when the node controller marks nodes NotReady.
    pub lease_timeout: Option<Span>,
    /// `--fence-lost-nodes`: a node whose lease has been silent this long, in a zone judged lost, is tainted
    /// out-of-service so that its stateful pods are replaced and their volumes detached. `None`: off.
    pub fence_after: Option<Span>,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            node_monitor_grace: Span::from_secs(50),
            startup_overhead: Span::from_secs(10),
            lease_timeout: Some(Span::from_secs(20)),
            fence_after: None,
        }
    }
}

impl Timing {
    /// Seconds from a zone's last sign of life until continuo acts, at worst: the lease timeout, or, when later,
    /// the first renewal from another zone past the evidence window after it (the evidence that the silence is
    /// not everyone's; see [`crate::failover::detection::evidence_window`]), plus a second for the half-second evaluation tick and
    /// the reconcile's debounce; or the node controller's grace period if that is sooner (or leases are not
    /// watched).
    pub fn zone_detection_secs(&self) -> u64 {
        let grace = self.node_monitor_grace.as_secs();
        // The evidence window (0.6 × the timeout) plus a renewal period (0.5 × the timeout), rounded up.
        self.lease_timeout.map_or(grace, |t| ((t.as_secs() * 11).div_ceil(10) + 1).min(grace))
    }

    /// Seconds a new pod of this template needs to become Ready.
    pub fn pod_startup(&self, template: &PodTemplateSpec, hint: Option<i32>) -> u64 {
        if let Some(secs) = hint {
            return secs.max(0) as u64;
        }
        let containers = template.spec.as_ref().map(|s| s.containers.as_slice()).unwrap_or_default();
        let probes = containers
            .iter()
            .map(|c| probe_secs(c.startup_probe.as_ref()) + probe_secs(c.readiness_probe.as_ref()))
            .max()
            .unwrap_or(0);
        self.startup_overhead.as_secs() + probes
    }

    /// `tolerationSeconds` for not-ready/unreachable that lets a replacement be Ready inside `rto`.
    pub fn toleration_for(&self, rto: Span, startup: u64) -> i64 {
        let budget = rto.as_secs() as i64 - self.node_monitor_grace.as_secs() as i64 - startup as i64;
        budget.clamp(0, DEFAULT_TOLERATION_SECONDS)
    }
}

/// The earliest a probe can pass: its initial delay plus `successThreshold` periods (Kubernetes defaults).
fn probe_secs(probe: Option<&Probe>) -> u64 {
    probe.map_or(0, |p| {
        let delay = p.initial_delay_seconds.unwrap_or(0).max(0) as u64;
        let period = p.period_seconds.unwrap_or(10).max(1) as u64;
        let successes = p.success_threshold.unwrap_or(1).max(1) as u64;
        delay + period * successes
    })
}

pub use crate::verdict::Verdict;

/// What the objectives are judged against.
pub struct Situation<'a> {
    pub class: &'a ContinuityClassSpec,
    pub replicas: i32,
    pub placement: &'a Placement,
    /// Eligible nodes per zone of the placement.
    pub nodes_per_zone: &'a BTreeMap<String, i32>,
    pub startup: u64,
    pub timing: &'a Timing,
    /// The backup stage's plan, when the service declares backups: what the RPO verdicts are judged on.
    pub backup: Option<&'a BackupPlan>,
    /// The data layers `spec.data` names: what the RPO verdicts are judged on, with the backups.
    pub data: &'a DataPlan,
    /// A stateful service's volumes: what its Node objectives are judged on.
    pub storage: Option<&'a crate::stateful::Storage>,
    pub now: jiff::Timestamp,
}

/// The verdict on each objective of the class, in the class's order, RTO before RPO.
pub fn assess(s: &Situation<'_>) -> Vec<ObjectiveStatus> {
    let mut out = Vec::new();
    for o in &s.class.objectives {
        let capacity = match o.scope {
            Scope::Node => node_rto(s, o),
            Scope::Zone => zone_rto(s, o),
            Scope::Region => {
                out.extend(across_sites(o));
                continue;
            }
        };
        let (verdict, reason, mut message) = with_data_failover(s, o, capacity);
        if s.storage.is_some() && o.scope == Scope::Zone && reason != "SpareCapacity" {
            message.push_str(
                "; a replica recreated elsewhere first restores the newest off-zone copy into its new volume: add \
                 the restore's own time (a Restore drill measures it)",
            );
        }
        out.push(status(o.scope, "RTO", o.rto, verdict, reason, message));
        if let Some(rpo) = o.rpo {
            let (verdict, reason, mut message) = rpo_verdict(s, o.scope, rpo);
            if s.storage.is_some() && o.scope == Scope::Zone && s.class.mode != crate::api::Mode::Restart {
                message.push_str(
                    "; each zone's replicas write volumes of their own (ReadWriteOnce claims are not shared): what a \
                     lost zone's replicas wrote survives only as far as the application replicates it, which \
                     continuo judges only from spec.data",
                );
            }
            out.push(status(o.scope, "RPO", rpo, verdict, reason, message));
        }
    }
    out
}

/// A Region objective, in a cluster: not judged here. A site's loss takes this cluster; continuo on the Karmada
/// control plane that places the service across sites judges it (`continuo plan` does too, offline, given the
/// Karmada `Cluster`s).
fn across_sites(o: &Objective) -> Vec<ObjectiveStatus> {
    let why = "not verified in this cluster — a site's loss takes it: continuo judges the Region scope on the Karmada \
               control plane that moves the service between sites";
    let mut out = vec![status(
        o.scope,
        "RTO",
        o.rto,
        Verdict::Unknown,
        "JudgedAcrossSites",
        format!("Region: RTO {} {why}", o.rto),
    )];
    if let Some(rpo) = o.rpo {
        out.push(status(
            o.scope,
            "RPO",
            rpo,
            Verdict::Unknown,
            "JudgedAcrossSites",
            format!("Region: RPO {rpo} {why}"),
        ));
    }
    out
}

/// A scope's RPO: the worst over the service's data sources and its backups. RPO 0 is the data layer's alone
/// (backups never lose nothing); a service with no `spec.data` is judged on its backups.
fn rpo_verdict(s: &Situation<'_>, scope: Scope, rpo: Span) -> (Verdict, &'static str, String) {
    if let Some((ok, reason, why)) =
        s.storage.filter(|_| scope == Scope::Node).and_then(|st| st.node_rpo(rpo.as_secs()))
    {
        let verdict = if ok { Verdict::Feasible } else { Verdict::NotFeasible };
        return (verdict, reason, format!("Node: RPO {rpo} {} — {why}", verdict.word()));
    }
    let backups = || backup::rpo_verdict(scope, rpo, s.backup, s.now);
    let mut all = s.data.rpo(scope, rpo, s.now);
    if all.is_empty() {
        return backups();
    }
    if s.backup.is_some() && rpo.as_secs() > 0 {
        all.push(backups());
    }
    data::worst(all).unwrap_or_else(backups)
}

/// Where a database must fail over when the primary's node or zone is lost, its failover joins the RTO: the
/// slower of the capacity path and the database bounds it.
fn with_data_failover(
    s: &Situation<'_>,
    o: &Objective,
    (verdict, reason, message): (Verdict, &'static str, String),
) -> (Verdict, &'static str, String) {
    let Some((secs, how)) = s.data.failover(s.timing.node_monitor_grace.as_secs()) else {
        return (verdict, reason, message);
    };
    if verdict != Verdict::Feasible {
        return (verdict, reason, message);
    }
    let rto = o.rto;
    if secs > rto.as_secs() {
        let capacity = message.split_once(" — ").map_or(message.as_str(), |(_, e)| e);
        let scope = o.scope;
        return (
            Verdict::NotFeasible,
            "DataFailoverTooSlow",
            format!(
                "{scope}: RTO {rto} not feasible — the database bounds it: {how} > {rto} (capacity alone: {capacity})"
            ),
        );
    }
    (verdict, reason, format!("{message}; {how} ≤ {rto}"))
}

fn status(scope: Scope, objective: &str, target: Span, v: Verdict, reason: &str, message: String) -> ObjectiveStatus {
    ObjectiveStatus {
        scope,
        objective: objective.into(),
        target,
        status: v.as_status().into(),
        reason: reason.into(),
        message,
    }
}

fn node_rto(s: &Situation<'_>, o: &Objective) -> (Verdict, &'static str, String) {
    let rto = o.rto;
    let n = s.replicas;
    // With pods spread evenly over a zone's nodes, the busiest node holds ceil(r / nodes) of them.
    let worst = s
        .placement
        .targets
        .iter()
        .filter(|t| t.replicas > 0)
        .map(|t| {
            let nodes = s.nodes_per_zone.get(&t.zone).copied().unwrap_or(1).max(1);
            ((t.replicas + nodes - 1) / nodes, t, nodes)
        })
        // The most replicas lost; on a tie, the zone first in order.
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.zone.cmp(&a.1.zone)));
    let Some((lost, t, nodes)) = worst else {
        return (Verdict::NotFeasible, "NoCapacity", format!("Node: RTO {rto} not feasible — no replica is placed"));
    };
    let left = s.placement.total() - lost;
    if left >= n {
        return (
            Verdict::Feasible,
            "SpareCapacity",
            format!(
                "Node: RTO {rto} feasible — the busiest node holds {lost} replica(s) ({} on {nodes} node(s) in {}); \
                 losing it leaves {left} ≥ {n}",
                t.replicas, t.zone
            ),
        );
    }
    if let Some(st) = s.storage.filter(|_| nodes >= 2) {
        let (ok, reason, how) = st.node_rto(rto.as_secs());
        let verdict = if ok { Verdict::Feasible } else { Verdict::NotFeasible };
        return (
            verdict,
            reason,
            format!(
                "Node: RTO {rto} {} — losing a node leaves {left} < {n} until its stateful replica is back: {how}",
                verdict.word()
            ),
        );
    }
    if nodes < 2 {
        return (
            Verdict::NotFeasible,
            "NoSpareNode",
            format!(
                "Node: RTO {rto} not feasible — losing the only eligible node of {} leaves {left} < {n}, and its replicas \
                 have no other node in the zone to restart on",
                t.zone
            ),
        );
    }
    let detect = s.timing.node_monitor_grace.as_secs();
    let evict = s.timing.toleration_for(rto, s.startup) as u64;
    let recovery = detect + evict + s.startup;
    if recovery <= rto.as_secs() {
        (
            Verdict::Feasible,
            "ReplacedInTime",
            format!(
                "Node: RTO {rto} feasible — losing a node leaves {left} < {n} until its replicas are replaced: detected \
                 after {detect}s, evicted after {evict}s, Ready after {}s = {recovery}s ≤ {rto}",
                s.startup
            ),
        )
    } else {
        (
            Verdict::NotFeasible,
            "ReplacementTooSlow",
            format!(
                "Node: RTO {rto} not feasible — losing a node leaves {left} < {n}; node failure is detected after \
                 {detect}s and the pod needs {}s to become Ready ({}s > {rto})",
                s.startup,
                detect + s.startup
            ),
        )
    }
}

fn zone_rto(s: &Situation<'_>, o: &Objective) -> (Verdict, &'static str, String) {
    let rto = o.rto;
    let n = s.replicas;
    let zones = s.placement.targets.len();
    let left = s.placement.after_worst_zone_loss();
    if zones < 2 {
        let names: Vec<&str> = s.placement.targets.iter().map(|t| t.zone.as_str()).collect();
        return (
            Verdict::NotFeasible,
            "SingleZone",
            format!(
                "Zone: RTO {rto} not feasible — only {zones} eligible zone ({}); losing it leaves 0 Ready and no zone \
                 to fail over to",
                names.join(", ")
            ),
        );
    }
    if left >= n {
        return (
            Verdict::Feasible,
            "SpareCapacity",
            format!("Zone: RTO {rto} feasible — {}, any zone loss leaves {left} ≥ {n}", describe(s.placement)),
        );
    }
    let detect = s.timing.zone_detection_secs();
    let recovery = detect + s.startup;
    if recovery <= rto.as_secs() {
        (
            Verdict::Feasible,
            "FailoverInTime",
            format!(
                "Zone: RTO {rto} feasible — {}; a zone loss leaves {left} < {n} until continuo moves its replicas to the \
                 surviving zones: loss detected after {detect}s, pods Ready {}s later = {recovery}s ≤ {rto}",
                describe(s.placement),
                s.startup
            ),
        )
    } else {
        (
            Verdict::NotFeasible,
            "FailoverTooSlow",
            format!(
                "Zone: RTO {rto} not feasible — {}; a zone loss leaves {left} < {n}, zone loss is detected after \
                 {detect}s and the pods need {}s more to become Ready ({recovery}s > {rto})",
                describe(s.placement),
                s.startup
            ),
        )
    }
}

/// "3 zones × 3 replicas", or "eu-a=4, eu-b=1, eu-c=1" when the zones differ.
pub fn describe(p: &Placement) -> String {
    let first = p.targets.first().map(|t| t.replicas);
    if p.targets.iter().all(|t| Some(t.replicas) == first) {
        format!("{} zones × {} replicas", p.targets.len(), first.unwrap_or(0))
    } else {
        let mut out = String::new();
        for (i, t) in p.targets.iter().enumerate() {
            let _ = write!(out, "{}{}={}", if i > 0 { ", " } else { "" }, t.zone, t.replicas);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        api::Mode,
        placement::{Placement, place},
    };

    fn class(mode: Mode, objectives: &[(Scope, u64, Option<u64>)]) -> ContinuityClassSpec {
        ContinuityClassSpec {
            description: None,
            mode,
            min_zones: 1,
            standby_replicas: 1,
            objectives: objectives
                .iter()
                .map(|(scope, rto, rpo)| Objective {
                    scope: *scope,
                    rto: Span::from_secs(*rto),
                    rpo: rpo.map(Span::from_secs),
                })
                .collect(),
            residency: None,
            backup: None,
            availability: None,
            recovery: None,
            drills: None,
            sites: None,
        }
    }

    fn run(c: &ContinuityClassSpec, n: i32, zones: usize, nodes: i32, startup: u64) -> Vec<ObjectiveStatus> {
        let names: Vec<String> = (0..zones).map(|i| format!("z{}", i + 1)).collect();
        // The uneven share (a primary, a remainder) in the first zones, so that messages read in zone order.
        let spread = crate::spread::Spread { preferred: &names, ..Default::default() };
        let placement: Placement = place(c.mode, n, c.standby_replicas, &names, &spread);
        let nodes_per_zone = names.iter().map(|z| (z.clone(), nodes)).collect();
        assess(&Situation {
            class: c,
            replicas: n,
            placement: &placement,
            nodes_per_zone: &nodes_per_zone,
            startup,
            timing: &Timing::default(),
            backup: None,
            storage: None,
            data: &DataPlan::default(),
            now: jiff::Timestamp::UNIX_EPOCH,
        })
    }

    fn one(v: &[ObjectiveStatus], scope: Scope, objective: &str) -> ObjectiveStatus {
        v.iter().find(|o| o.scope == scope && o.objective == objective).cloned().unwrap()
    }

    #[test]
    fn active_active_zone_loss_is_covered_by_spare_capacity() {
        let c = class(Mode::ActiveActive, &[(Scope::Zone, 0, Some(0)), (Scope::Node, 0, None)]);
        let v = run(&c, 6, 3, 3, 30);
        let zone = one(&v, Scope::Zone, "RTO");
        assert_eq!(zone.status, "True");
        assert_eq!(zone.message, "Zone: RTO 0s feasible — 3 zones × 3 replicas, any zone loss leaves 6 ≥ 6");
        let node = one(&v, Scope::Node, "RTO");
        assert_eq!(node.status, "True", "{}", node.message);
        assert!(node.message.contains("losing it leaves 8 ≥ 6"), "{}", node.message);
    }

    #[test]
    fn active_active_on_one_zone_cannot_survive_its_loss() {
        let c = class(Mode::ActiveActive, &[(Scope::Zone, 0, None)]);
        let zone = one(&run(&c, 6, 1, 3, 30), Scope::Zone, "RTO");
        assert_eq!((zone.status.as_str(), zone.reason.as_str()), ("False", "SingleZone"));
        assert!(zone.message.contains("only 1 eligible zone (z1)"), "{}", zone.message);
    }

    #[test]
    fn restart_node_rto_too_short_for_detection_plus_startup() {
        let c = class(Mode::Restart, &[(Scope::Node, 60, None)]);
        let node = one(&run(&c, 3, 3, 2, 30), Scope::Node, "RTO");
        assert_eq!(node.status, "False");
        assert!(
            node.message
                .contains("node failure is detected after 50s and the pod needs 30s to become Ready (80s > 1m)"),
            "{}",
            node.message
        );
    }

    #[test]
    fn restart_node_rto_met_by_replacement_with_derived_toleration() {
        let c = class(Mode::Restart, &[(Scope::Node, 900, None)]);
        let node = one(&run(&c, 3, 3, 2, 30), Scope::Node, "RTO");
        assert_eq!((node.status.as_str(), node.reason.as_str()), ("True", "ReplacedInTime"));
        // 900 - 50 - 30 = 820, clamped to the 300 s default.
        assert!(
            node.message.contains("detected after 50s, evicted after 300s, Ready after 30s = 380s ≤ 15m"),
            "{}",
            node.message
        );
    }

    #[test]
    fn restart_needs_a_second_node_in_the_zone() {
        let c = class(Mode::Restart, &[(Scope::Node, 900, None)]);
        let node = one(&run(&c, 3, 3, 1, 30), Scope::Node, "RTO");
        assert_eq!((node.status.as_str(), node.reason.as_str()), ("False", "NoSpareNode"));
    }

    #[test]
    fn restart_zone_loss_is_failed_over_by_continuo() {
        let c = class(Mode::Restart, &[(Scope::Zone, 3600, Some(86_400))]);
        let v = run(&c, 3, 3, 2, 30);
        let zone = one(&v, Scope::Zone, "RTO");
        assert_eq!((zone.status.as_str(), zone.reason.as_str()), ("True", "FailoverInTime"));
        assert!(zone.message.contains("3 zones × 1 replicas; a zone loss leaves 2 < 3"), "{}", zone.message);
        let rpo = one(&v, Scope::Zone, "RPO");
        assert_eq!((rpo.status.as_str(), rpo.reason.as_str()), ("Unknown", "BackupNotConfigured"));
        assert!(rpo.message.starts_with("Zone: RPO 24h not verified — the service declares no spec.backup"));
    }

    #[test]
    fn warm_standby_zone_rto_depends_on_promotion_time() {
        // Detected at worst 23 s after the last lease renewal (20 s timeout, or another zone's renewal 12 to 22 s
        // after it, + 1 s tick), the standby Ready 30 s later.
        let c = class(Mode::WarmStandby, &[(Scope::Zone, 45, None)]);
        let zone = one(&run(&c, 4, 3, 2, 30), Scope::Zone, "RTO");
        assert_eq!((zone.status.as_str(), zone.reason.as_str()), ("False", "FailoverTooSlow"));
        assert!(zone.message.contains("z1=4, z2=1, z3=1"), "{}", zone.message);
        assert!(
            zone.message.contains("zone loss is detected after 23s and the pods need 30s more"),
            "{}",
            zone.message
        );
        let c = class(Mode::WarmStandby, &[(Scope::Zone, 60, None)]);
        let zone = one(&run(&c, 4, 3, 2, 30), Scope::Zone, "RTO");
        assert_eq!(zone.status, "True");
        assert!(zone.message.contains("loss detected after 23s, pods Ready 30s later = 53s ≤ 1m"), "{}", zone.message);
    }

    #[test]
    fn without_leases_a_zone_loss_waits_for_the_node_controller() {
        let t = Timing { lease_timeout: None, ..Timing::default() };
        assert_eq!(t.zone_detection_secs(), 50);
        let fast = Timing { lease_timeout: Some(Span::from_secs(90)), ..Timing::default() };
        assert_eq!(fast.zone_detection_secs(), 50, "whichever notices first");
        assert_eq!(Timing::default().zone_detection_secs(), 23, "1.1 × the 20 s timeout, + 1 s tick");
    }

    #[test]
    fn startup_comes_from_hint_or_probes() {
        let t = Timing::default();
        let template: PodTemplateSpec = serde_json::from_value(serde_json::json!({
            "spec": {"containers": [{"name": "app", "readinessProbe": {"initialDelaySeconds": 5, "periodSeconds": 5, "successThreshold": 2}}]}
        }))
        .unwrap();
        assert_eq!(t.pod_startup(&template, None), 10 + 5 + 10);
        assert_eq!(t.pod_startup(&template, Some(42)), 42);
        assert_eq!(t.pod_startup(&PodTemplateSpec::default(), None), 10);
    }

    #[test]
    fn toleration_is_the_rto_budget_clamped() {
        let t = Timing::default();
        assert_eq!(t.toleration_for(Span::from_secs(0), 30), 0);
        assert_eq!(t.toleration_for(Span::from_secs(120), 30), 40);
        assert_eq!(t.toleration_for(Span::from_secs(3600), 30), 300);
    }
}
