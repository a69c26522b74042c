//! CloudNativePG (`postgresql.cnpg.io/v1` `Cluster`): where a Cluster's instances are, and how it is judged.
//!
//! RPO 0 holds only when a commit waits for a standby's acknowledgement whatever happens: synchronous replication
//! with `dataDurability: required` (or the older `minSyncReplicas` ≥ 1). `preferred` drops the standbys from the
//! commit when they are gone, so the primary then acknowledges writes nothing else holds. Across a zone, the
//! synchronous standby must also be in another zone: elected there (`syncReplicaElectionConstraint` on the zone
//! label) or unable to be anywhere else (required pod anti-affinity on the zone label).

pub use super::cluster::*;
use super::evidence::{Judged, minutes, zones_line};
use crate::{
    api::{Scope, Span},
    topology::NodeFacts,
    verdict::Verdict,
};

/// Seconds from the decision to fail over until the new primary accepts writes (pg_promote and the instance
/// manager's update): an estimate, documented in docs/src/data/data-layers.md.
pub const PROMOTION_SECS: u64 = 5;

/// One instance of a Cluster and where it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub pod: String,
    pub node: Option<String>,
    pub zone: Option<String>,
    pub ready: bool,
    pub primary: bool,
    /// On a node continuo's own detection holds unreachable: counted not Ready, whatever the pod says.
    pub unreachable: bool,
}

/// The instances of a Cluster: observed (the operator) or, offline, where its spec would put them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Members {
    pub list: Vec<Member>,
    pub observed: bool,
}

impl Members {
    /// The observed instance pods of `cluster`, their zones from their nodes; an instance on an `unreachable` node
    /// is not Ready.
    pub fn observed(
        cluster: &PgCluster,
        pods: &[&InstancePod],
        nodes: &[NodeFacts],
        unreachable: &[String],
    ) -> Members {
        let primary = cluster.primary();
        let mut list: Vec<Member> = pods
            .iter()
            .map(|p| {
                let pod = p.metadata.name.clone().unwrap_or_default();
                let node = p.spec.as_ref().and_then(|s| s.node_name.clone());
                let zone = node.as_ref().and_then(|n| nodes.iter().find(|f| &f.name == n)).and_then(|f| f.zone.clone());
                let cut = node.as_ref().is_some_and(|n| unreachable.contains(n));
                Member {
                    primary: primary == Some(pod.as_str()),
                    pod,
                    node,
                    zone,
                    ready: p.ready && !cut,
                    unreachable: cut,
                }
            })
            .collect();
        list.sort_by(|a, b| a.pod.cmp(&b.pod));
        Members { list, observed: true }
    }

    /// Where the spec would put the instances on `zones` (offline: nothing is observed). One per zone under a
    /// zone anti-affinity; otherwise the zones are the scheduler's choice and are not claimed.
    pub fn planned(cluster: &PgCluster, zones: &[String], zone_key: &str) -> Members {
        let name = cluster.metadata.name.clone().unwrap_or_default();
        let n = cluster.spec.instances.max(0) as usize;
        let per_zone = cluster.one_per_zone(zone_key);
        let count = if per_zone { n.min(zones.len()) } else { n };
        let list = (0..count)
            .map(|i| Member {
                pod: format!("{name}-{}", i + 1),
                node: Some(format!("node-{}", i + 1)),
                zone: per_zone.then(|| zones[i].clone()),
                ready: true,
                primary: i == 0,
                unreachable: false,
            })
            .collect();
        Members { list, observed: false }
    }

    fn primary(&self) -> Option<&Member> {
        self.list.iter().find(|m| m.primary)
    }

    fn ready_standbys(&self) -> impl Iterator<Item = &Member> {
        self.list.iter().filter(|m| m.ready && !m.primary)
    }
}

/// The RPO verdict of `scope` on a Cluster. RPO 0 needs required synchronous replication (to another node; for a
/// zone, to another zone); a larger RPO is met by that too, or else by working continuous WAL archiving whose
/// archive timeout fits it.
pub fn rpo(scope: Scope, rpo: Span, c: &PgCluster, m: &Members, zone_key: &str, now: jiff::Timestamp) -> Judged {
    let synchronous = synchronous(scope, rpo, c, m, zone_key);
    if synchronous.0 == Verdict::Feasible || rpo.as_secs() == 0 {
        return synchronous;
    }
    archiving(scope, rpo, c, now).unwrap_or(synchronous)
}

/// What one verdict is about: the scope and RPO judged, the Cluster and its instances.
struct Case<'a> {
    scope: Scope,
    rpo: Span,
    c: &'a PgCluster,
    m: &'a Members,
    name: &'a str,
    /// `now` for observed instances, `as planned` offline.
    planned: &'static str,
}

impl Case<'_> {
    fn not_met(&self, reason: &'static str, why: String) -> Judged {
        let (scope, rpo, name) = (self.scope, self.rpo, self.name);
        (Verdict::NotFeasible, reason, format!("{scope}: RPO {rpo} not met — {name} {why}"))
    }

    /// The instances counted not Ready because continuo's own detection holds their nodes unreachable, in words.
    fn unreachable(&self) -> String {
        let cut: Vec<&str> = self.m.list.iter().filter(|s| s.unreachable).map(|s| s.pod.as_str()).collect();
        if cut.is_empty() {
            return String::new();
        }
        format!(
            " ({} counted not Ready: {} on nodes continuo's lease detection holds lost or silent, whatever the pods \
             still report)",
            cut.len(),
            cut.join(", ")
        )
    }

    fn met(&self, reason: &'static str, evidence: String) -> Judged {
        let (scope, rpo, name) = (self.scope, self.rpo, self.name);
        (Verdict::Feasible, reason, format!("{scope}: RPO {rpo} met — {name}: {evidence}"))
    }
}

fn synchronous(scope: Scope, rpo: Span, c: &PgCluster, m: &Members, zone_key: &str) -> Judged {
    let name = c.metadata.name.as_deref().unwrap_or_default();
    let case = Case { scope, rpo, c, m, name, planned: if m.observed { "now" } else { "as planned" } };
    let number = match required_standbys(&case) {
        Ok(n) => n,
        Err(verdict) => return verdict,
    };
    let Some(primary) = m.primary() else {
        return (
            Verdict::Unknown,
            "PrimaryNotObserved",
            format!("{scope}: RPO {rpo} not verified — {name} reports no current primary among its instance pods"),
        );
    };
    match scope {
        Scope::Node => on_another_node(&case, number, primary),
        Scope::Zone => in_another_zone(&case, number, primary, zone_key),
        Scope::Region => across_sites(scope, rpo),
    }
}

/// A database's standbys live in the one cluster its Cluster describes: a site's loss takes them all.
fn across_sites(scope: Scope, rpo: crate::api::Span) -> Judged {
    (
        Verdict::NotFeasible,
        "NeedsCrossSiteReplication",
        format!(
            "{scope}: RPO {rpo} not feasible from the database — its standbys run in this cluster, which a site's loss takes"
        ),
    )
}

/// How many standbys must acknowledge every commit, or why none must.
fn required_standbys(case: &Case<'_>) -> Result<i64, Judged> {
    let (reason, why) = match case.c.durability() {
        Durability::Required(_) if case.c.spec.instances < 2 => {
            ("NoStandby", format!("runs {} instance: there is no standby to hold a copy", case.c.spec.instances))
        }
        Durability::Required(n) => return Ok(n),
        Durability::Preferred => (
            "PreferredDurability",
            "replicates with dataDurability preferred: with its standbys gone it acknowledges writes no other node \
             holds; set spec.postgresql.synchronous.dataDurability: required"
                .into(),
        ),
        Durability::LegacyPreferred => (
            "SynchronousNotRequired",
            "sets maxSyncReplicas without minSyncReplicas: with its standbys gone it acknowledges writes no other \
             node holds; set minSyncReplicas ≥ 1 (or spec.postgresql.synchronous with dataDurability: required)"
                .into(),
        ),
        Durability::Asynchronous => (
            "AsynchronousReplication",
            "replicates asynchronously: the primary acknowledges writes no standby holds yet; set \
             spec.postgresql.synchronous (method any, number 1, dataDurability: required)"
                .into(),
        ),
    };
    Err(case.not_met(reason, why))
}

/// Node scope: enough Ready standbys on other nodes than the primary's.
fn on_another_node(case: &Case<'_>, number: i64, primary: &Member) -> Judged {
    let m = case.m;
    let elsewhere = m.ready_standbys().filter(|s| s.node.is_some() && s.node != primary.node).count();
    if (elsewhere as i64) < number {
        return case.not_met(
            "SynchronousStandbyNotReady",
            format!(
                "has {elsewhere} of {number} required synchronous standby(s) Ready on another node than the primary's \
                 {}{}: commits wait until one is",
                case.planned,
                case.unreachable()
            ),
        );
    }
    let nodes: std::collections::BTreeSet<_> = m.list.iter().filter_map(|s| s.node.as_ref()).collect();
    case.met(
        "SynchronousReplication",
        format!(
            "{} instances on {} nodes, {number} synchronous standby(s) required on another node ({elsewhere} Ready {})",
            m.list.len(),
            nodes.len(),
            case.planned
        ),
    )
}

/// Zone scope: the synchronous standby kept out of the primary's zone, and enough Ready there.
fn in_another_zone(case: &Case<'_>, number: i64, primary: &Member, zone_key: &str) -> Judged {
    let Some(bound) = case.c.zone_bound(zone_key) else {
        return case.not_met(
            "StandbyMayShareZone",
            format!(
                "may elect its synchronous standby in the primary's zone, which the zone's loss takes with it; set \
                 spec.postgresql.synchronous.nodeFailureDomainKeys: [{zone_key}] (CloudNativePG 1.28+), \
                 spec.postgresql.syncReplicaElectionConstraint (enabled, nodeLabelsAntiAffinity: [{zone_key}]) or \
                 spec.affinity (topologyKey {zone_key}, podAntiAffinityType required)"
            ),
        );
    };
    // Failure-domain keys are a preference CloudNativePG drops when it cannot honour it: its own word counts.
    let honoured = case.c.failure_domain_keys(zone_key).and(case.c.condition(TOPOLOGY_SATISFIED));
    if let Some(c) = honoured.filter(|c| c.status == "False") {
        let why = c.message.as_deref().or(c.reason.as_deref()).unwrap_or("no reason given");
        return case.not_met(
            "SyncTopologyNotSatisfied",
            format!(
                "elects its synchronous standbys outside the primary's zone only while it can ({bound}), and reports \
                 it cannot now ({TOPOLOGY_SATISFIED} False: {why}): a commit may be acknowledged in the primary's zone \
                 alone"
            ),
        );
    }
    let m = case.m;
    let other_zones: Vec<&str> = m
        .ready_standbys()
        .filter(|s| s.zone.is_some() && s.zone != primary.zone)
        .filter_map(|s| s.zone.as_deref())
        .collect();
    let ready_zones: std::collections::BTreeSet<&str> =
        m.list.iter().filter(|s| s.ready).filter_map(|s| s.zone.as_deref()).collect();
    let primary_zone = primary.zone.as_deref().unwrap_or("an unknown zone");
    if (other_zones.len() as i64) < number || ready_zones.len() < 2 {
        return case.not_met(
            "NoStandbyInAnotherZone",
            format!(
                "has {} of {number} required synchronous standby(s) Ready outside the primary's zone ({primary_zone}) \
                 {}{}: commits wait until one is, and losing {primary_zone} loses the only Ready copy",
                other_zones.len(),
                case.planned,
                case.unreachable()
            ),
        );
    }
    let all: Vec<&str> = m.list.iter().filter_map(|s| s.zone.as_deref()).collect();
    case.met(
        "SynchronousReplication",
        format!(
            "{} instances in {}, {number} synchronous standby(s) required outside the primary's zone ({bound}); \
             primary in {primary_zone}, standbys Ready in {} {}",
            m.list.len(),
            zones_line(&all),
            zones_line(&other_zones),
            case.planned
        ),
    )
}

/// The verdict from continuous WAL archiving, when the Cluster reports it (its `ContinuousArchiving` condition).
/// The archive's object store is taken to be outside the zone (as an object store is).
fn archiving(scope: Scope, rpo: Span, c: &PgCluster, now: jiff::Timestamp) -> Option<Judged> {
    let name = c.metadata.name.as_deref().unwrap_or_default();
    let condition = c.condition("ContinuousArchiving")?;
    let timeout = c.archive_timeout();
    if condition.status != "True" {
        let since = condition.last_transition_time.as_ref().map(|t| t.0).unwrap_or(now);
        let exposure = Span::from_secs(now.duration_since(since).as_secs().max(0) as u64 + timeout.as_secs());
        let why = condition.message.as_deref().or(condition.reason.as_deref()).unwrap_or("no reason given");
        return Some((
            Verdict::NotFeasible,
            "ArchivingFailing",
            format!(
                "{scope}: RPO {rpo} not met — {name}'s WAL archiving fails since {} ({why}): up to {} of writes are \
                 in no archive",
                since.strftime("%Y-%m-%d %H:%M UTC"),
                minutes(exposure)
            ),
        ));
    }
    if timeout > rpo {
        return Some((
            Verdict::NotFeasible,
            "ArchiveTimeoutExceedsRPO",
            format!(
                "{scope}: RPO {rpo} not feasible — {name} archives a WAL segment at least every {timeout} \
                 (archive_timeout) > {rpo}; lower spec.postgresql.parameters.archive_timeout"
            ),
        ));
    }
    Some((
        Verdict::Feasible,
        "WALArchiving",
        format!(
            "{scope}: RPO {rpo} met — {name} archives WAL continuously (ContinuousArchiving True), a segment at \
             least every {timeout} (archive_timeout) ≤ {rpo}"
        ),
    ))
}

/// Seconds until a Cluster's new primary accepts writes when its primary's zone or node is lost: the node
/// controller's grace period (the lost primary's pod turns NotReady), `failoverDelay`, and the promotion.
pub fn failover_secs(c: &PgCluster, node_monitor_grace: u64) -> (u64, String) {
    let delay = c.failover_delay();
    let total = node_monitor_grace + delay + PROMOTION_SECS;
    let name = c.metadata.name.as_deref().unwrap_or_default();
    (
        total,
        format!(
            "{name}'s primary fails over in {node_monitor_grace}s (its pod turns NotReady) + {delay}s failoverDelay \
             + {PROMOTION_SECS}s promotion = {total}s"
        ),
    )
}
