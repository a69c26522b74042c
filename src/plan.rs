//! The pure heart of a reconcile, shared by the operator and `continuo plan`, as named stages:
//! validate → zones (residency, pins, failure detection) → place → backups → objectives → build (no dip while
//! spreading back) → roll out (zone by zone) → drain → record (incidents, availability).
//!
//! Nothing here does I/O or reads the clock; the caller observes, this decides.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use k8s_openapi::api::{apps::v1::Deployment, batch::v1::CronJob, core::v1::Service, policy::v1::PodDisruptionBudget};
use kube::ResourceExt;

use crate::{
    api::{
        AvailabilityStatus, BackupLocation, ContinuityClass, ContinuityClassSpec, Incident, ObjectiveStatus,
        RecoveryPoint, ResilientService, Scope, ZoneStatus,
    },
    availability::Observer,
    backup::{self, BackupPlan},
    failover::{Detection, ZoneState, incidents},
    objectives::{self, Situation, Timing},
    placement::{self, Placement, Role},
    rollout::{self, Progress},
    topology::{self, Keys, NodeFacts},
    workload::{self, Shape},
};

mod record;

use record::{record_availability, record_incidents, summarize};

/// The operator's settings that shape plans.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    pub keys: Keys,
    pub timing: Timing,
}

/// Everything a plan is computed from.
pub struct Inputs<'a> {
    pub service: &'a ResilientService,
    /// The class the service names, if it exists.
    pub class: Option<&'a ContinuityClass>,
    pub nodes: &'a [NodeFacts],
    /// The Deployments that carry this service's label.
    pub children: &'a [Deployment],
    pub config: &'a Config,
    /// What backups observe: the service's location and recovery points.
    pub backups: Backups<'a>,
    /// What failure detection concluded, and when observation last stopped and resumed.
    pub failover: Failover<'a>,
    pub now: Timestamp,
}

impl<'a> Inputs<'a> {
    /// A plan's inputs with nothing observed but the nodes: no children, copies or failures (`continuo plan`,
    /// benchmarks, tests).
    pub fn offline(
        service: &'a ResilientService,
        class: Option<&'a ContinuityClass>,
        nodes: &'a [NodeFacts],
        config: &'a Config,
        now: Timestamp,
    ) -> Inputs<'a> {
        Inputs {
            service,
            class,
            nodes,
            children: &[],
            config,
            backups: Backups::none(),
            failover: Failover::none(),
            now,
        }
    }
}

/// What the backup stage observes.
#[derive(Clone, Copy)]
pub struct Backups<'a> {
    /// The BackupLocation the service names, if it exists.
    pub location: Option<&'a BackupLocation>,
    /// The service's recovery points.
    pub points: &'a [RecoveryPoint],
}

impl Backups<'_> {
    /// No location and no copies observed (offline: `continuo plan` without a cluster).
    pub fn none() -> Backups<'static> {
        Backups { location: None, points: &[] }
    }
}

/// What failure detection observes.
#[derive(Clone, Copy)]
pub struct Failover<'a> {
    /// Lost and recovering zones, and whether suspicions are set aside.
    pub detection: &'a Detection,
    pub observer: Observer,
}

static NO_DETECTION: std::sync::LazyLock<Detection> = std::sync::LazyLock::new(Detection::default);

impl Failover<'_> {
    /// Nothing detected, always observed (offline planning).
    pub fn none() -> Failover<'static> {
        Failover { detection: &NO_DETECTION, observer: Observer::always() }
    }
}

/// Input continuo cannot act on. Children are left exactly as they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub reason: &'static str,
    pub message: String,
}

/// What to apply, what to delete, and what was concluded.
#[derive(Clone, Debug)]
pub struct Desired {
    /// Deployments to apply: one per eligible zone, plus drained zones scaled to 0.
    pub deployments: Vec<Deployment>,
    pub disruption_budget: PodDisruptionBudget,
    /// `None`: the spec asks for no Service, so one continuo made is deleted.
    pub service: Option<Service>,
    /// Deployments of zones no longer used, scaled to 0 and ready to delete.
    pub delete: Vec<String>,
    pub placement: Placement,
    pub zones: Vec<ZoneStatus>,
    pub objectives: Vec<ObjectiveStatus>,
    /// Why the class's `minZones` is not met, if it is not.
    pub zone_shortfall: Option<String>,
    /// The backup CronJobs; `None` while a backup problem leaves the existing ones as they are.
    pub cron_jobs: Option<Vec<CronJob>>,
    /// The backup stage's decisions, when the service declares `spec.backup`.
    pub backup: Option<BackupPlan>,
    /// Where a template change stands, zone by zone.
    pub rollout: Progress,
    /// Failure detection as it applies to this service.
    pub detection: DetectionSummary,
    /// The incident history after this reconcile, newest first, and what changed in it.
    pub incidents: Vec<Incident>,
    pub incident_changes: Vec<incidents::Change>,
    /// Availability this month, when the class declares a target.
    pub availability: Option<Availability>,
    /// When the availability must be looked at again even if nothing changes (the month ends).
    pub availability_review: Option<Timestamp>,
}

/// Where the month's availability stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Availability {
    /// Counted since the service was first at its declared capacity.
    Counted(Box<AvailabilityStatus>),
    /// A new service is counted from the first time it is Up: rolling out for the first time is not an outage.
    NotYetUp,
    /// The target's time zone does not exist: nothing is counted until it is fixed (what was counted is kept).
    UnknownTimeZone(String),
}

/// How zone loss is detected for this service, for its `FailureDetection` condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetectionSummary {
    pub status: &'static str,
    pub reason: &'static str,
    pub message: String,
}

pub type Plan = Result<Desired, Problem>;

fn problem(reason: &'static str, message: impl Into<String>) -> Problem {
    Problem { reason, message: message.into() }
}

/// Replicas Ready in a child, counting only pods of its current spec.
pub fn ready_replicas(d: &Deployment) -> i32 {
    d.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0)
}

/// A child has rolled out `want` Ready replicas of its current spec.
pub fn rolled_out(d: &Deployment, want: i32) -> bool {
    let Some(s) = &d.status else { return want == 0 };
    let current = s.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0);
    current && s.updated_replicas.unwrap_or(0) >= want && s.ready_replicas.unwrap_or(0) >= want
}

/// Whether the Deployment controller gave up on a child's rollout (`ProgressDeadlineExceeded`).
pub fn deadline_exceeded(d: &Deployment) -> bool {
    d.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|cs| {
        cs.iter().any(|c| c.type_ == "Progressing" && c.status == "False" && c.reason.as_deref() == Some(DEADLINE))
    })
}

/// The reason the Deployment controller gives when a rollout exceeds `progressDeadlineSeconds`.
pub const DEADLINE: &str = "ProgressDeadlineExceeded";

fn zone_of(d: &Deployment) -> Option<&str> {
    d.labels().get(workload::ZONE_LABEL).map(String::as_str)
}

/// Computes the plan for one service.
pub fn plan(i: &Inputs<'_>) -> Plan {
    let class = validate(i)?;
    let zones = zones(i, class)?;
    let placement = place(i, &class.spec, &zones);
    let (backup, cron_jobs) = backups(i, class, &zones.in_scope, &zones.eligible, zones.regions);
    let startup = i.config.timing.pod_startup(&i.service.spec.template, i.service.spec.startup_seconds);
    let objectives = objectives::assess(&Situation {
        class: &class.spec,
        replicas: i.service.spec.replicas,
        placement: &placement,
        nodes_per_zone: &zones.nodes_per_zone(),
        startup,
        timing: &i.config.timing,
        backup: backup.as_ref(),
        now: i.now,
    });
    let shape = Shape {
        service: i.service,
        keys: &i.config.keys,
        regions: zones.regions,
        toleration_seconds: class.spec.objective(Scope::Node).map(|o| i.config.timing.toleration_for(o.rto, startup)),
    };
    let mut built = build(i, &shape, &zones, &placement);
    let rollout = roll_out(i, &placement, &mut built);
    drain(i, &shape, &zones, &placement, &mut built);
    built.zones.sort_by(|a, b| a.name.cmp(&b.name));
    let (incidents, incident_changes) = record_incidents(i, &class.spec, &zones, &built.zones);
    let (availability, availability_review) = record_availability(i, &class.spec, &zones, &built.zones);
    let zone_shortfall = (zones.eligible.len() < class.spec.min_zones as usize).then(|| {
        format!(
            "class {:?} needs {} eligible zones; {} available",
            class.name_any(),
            class.spec.min_zones,
            zones.eligible.len()
        )
    });
    Ok(Desired {
        deployments: built.deployments,
        disruption_budget: shape.disruption_budget(),
        service: shape.service(),
        delete: built.delete,
        placement,
        zones: built.zones,
        objectives,
        zone_shortfall,
        cron_jobs,
        backup,
        rollout,
        detection: summarize(i),
        incidents,
        incident_changes,
        availability,
        availability_review,
    })
}

/// Validate: the class exists and the spec is usable.
fn validate<'a>(i: &Inputs<'a>) -> Result<&'a ContinuityClass, Problem> {
    let spec = &i.service.spec;
    let class = i
        .class
        .ok_or_else(|| problem("ClassNotFound", format!("ContinuityClass {:?} does not exist", spec.class_name)))?;
    if spec.replicas < 1 {
        return Err(problem("InvalidSpec", "spec.replicas must be at least 1"));
    }
    if spec.template.spec.as_ref().is_none_or(|p| p.containers.is_empty()) {
        return Err(problem("InvalidSpec", "spec.template.spec.containers must list at least one container"));
    }
    Ok(class)
}

/// The zones of one service: known from nodes, judged against residency, narrowed by the pin, and withheld while
/// failure detection finds them lost or recovering.
struct Zones<'a> {
    known: BTreeMap<String, topology::Zone>,
    /// Zone names in scope (resident, and pinned if the spec pins).
    in_scope: Vec<String>,
    /// In scope, with a usable node, and not held by failure detection.
    eligible: Vec<String>,
    regions: Option<&'a [String]>,
}

impl Zones<'_> {
    fn nodes_per_zone(&self) -> BTreeMap<String, i32> {
        self.known.values().map(|z| (z.name.clone(), z.eligible_nodes)).collect()
    }

    fn eligible(&self, zone: &str) -> bool {
        self.eligible.iter().any(|e| e == zone)
    }
}

/// Zones: which ones the service may use now.
fn zones<'a>(i: &Inputs<'a>, class: &'a ContinuityClass) -> Result<Zones<'a>, Problem> {
    let spec = &i.service.spec;
    let regions = class.spec.residency.as_ref().map(|r| r.regions.as_slice());
    let known = topology::zones(i.nodes, regions);
    let in_scope: Vec<&topology::Zone> = if spec.zones.is_empty() {
        known.values().filter(|z| z.resident).collect()
    } else {
        let mut out = Vec::new();
        for name in &spec.zones {
            let zone = known.get(name).ok_or_else(|| {
                let names: Vec<&str> = known.keys().map(String::as_str).collect();
                problem(
                    "ZoneNotFound",
                    format!(
                        "spec.zones: zone {name:?} is not the zone of any node (known zones: {})",
                        names.join(", ")
                    ),
                )
            })?;
            if !zone.resident {
                return Err(problem(
                    "ZoneOutsideResidency",
                    format!(
                        "spec.zones: zone {name:?} is in region {} outside the residency of class {:?} ({})",
                        zone.region.as_deref().unwrap_or("(unlabelled)"),
                        class.name_any(),
                        regions.unwrap_or_default().join(", ")
                    ),
                ));
            }
            out.push(zone);
        }
        out
    };
    let held = |z: &topology::Zone| i.failover.detection.held(&z.name);
    let eligible: Vec<String> = in_scope.iter().filter(|z| z.eligible() && !held(z)).map(|z| z.name.clone()).collect();
    if eligible.is_empty() {
        let why = if in_scope.is_empty() {
            "no node carries a zone label inside the residency".to_string()
        } else {
            let names: Vec<&str> = in_scope.iter().map(|z| z.name.as_str()).collect();
            format!("no Ready, schedulable node in zones {} that is not lost or recovering", names.join(", "))
        };
        return Err(problem("NoEligibleZone", format!("no eligible zone: {why}")));
    }
    let in_scope = in_scope.iter().map(|z| z.name.clone()).collect();
    Ok(Zones { known, in_scope, eligible, regions })
}

/// Place: the replicas of each eligible zone, for the class's mode.
fn place(i: &Inputs<'_>, class: &ContinuityClassSpec, zones: &Zones<'_>) -> Placement {
    let primary = i.service.status.as_ref().and_then(|s| s.primary_zone.as_deref());
    placement::place(class.mode, i.service.spec.replicas, class.standby_replicas, &zones.eligible, primary)
}

/// What the build, rollout and drain stages produce.
struct Built {
    deployments: Vec<Deployment>,
    zones: Vec<ZoneStatus>,
    delete: Vec<String>,
}

/// Build: one Deployment per placed zone. While a zone is spread back to (or capacity otherwise moves between
/// zones), a zone that shrinks keeps its current replicas until every other zone is rolled out and Ready:
/// capacity never dips. Zones withheld (lost, recovering, NotReady) keep their Deployment exactly as it is.
fn build(i: &Inputs<'_>, shape: &Shape<'_>, zones: &Zones<'_>, placement: &Placement) -> Built {
    let child = |zone: &str| i.children.iter().find(|d| zone_of(d) == Some(zone));
    let live_replicas = |zone: &str| child(zone).and_then(|d| d.spec.as_ref()?.replicas);
    // Every zone that does not shrink is rolled out and Ready: only then may the others shrink.
    let others_ready = placement
        .targets
        .iter()
        .filter(|t| live_replicas(&t.zone).is_none_or(|r| r <= t.replicas))
        .all(|t| child(&t.zone).is_some_and(|d| rolled_out(d, t.replicas)));
    let nodes = zones.nodes_per_zone();
    let mut built = Built { deployments: Vec::new(), zones: Vec::new(), delete: Vec::new() };
    for t in &placement.targets {
        let replicas = match live_replicas(&t.zone) {
            Some(live) if live > t.replicas && !others_ready => live,
            _ => t.replicas,
        };
        built.deployments.push(shape.deployment(&t.zone, replicas, t.role.as_str()));
        built.zones.push(ZoneStatus {
            name: t.zone.clone(),
            eligible: true,
            nodes: nodes[&t.zone],
            role: t.role.as_str().into(),
            desired_replicas: replicas,
            ready_replicas: child(&t.zone).map_or(0, ready_replicas),
            revision: None,
        });
    }
    // A zone in scope that is withheld keeps its Deployment as it is, until it returns.
    for name in zones.in_scope.iter().filter(|z| !zones.eligible(z)) {
        let existing = child(name);
        let role = match i.failover.detection.zones.get(name).map(|l| l.state) {
            Some(ZoneState::Lost) => "Lost",
            Some(ZoneState::Recovering { .. }) => "Recovering",
            None => "Unavailable",
        };
        built.zones.push(ZoneStatus {
            name: name.clone(),
            eligible: false,
            nodes: 0,
            role: role.into(),
            desired_replicas: existing.and_then(|d| d.spec.as_ref()?.replicas).unwrap_or(0),
            ready_replicas: existing.map_or(0, ready_replicas),
            revision: existing.and_then(revision_of).map(|r| rollout::short(&r)),
        });
    }
    built
}

/// The rollout view of a live child.
fn live_of(d: &Deployment, want: i32) -> rollout::Live {
    let annotations = d.annotations();
    rollout::Live {
        digest: annotations.get(workload::TEMPLATE_DIGEST).cloned(),
        revision: annotations.get(workload::REVISION).cloned(),
        paused: d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false),
        rolled_out: rolled_out(d, want),
        deadline_exceeded: deadline_exceeded(d),
    }
}

/// The service revision a Deployment continuo is not rolling (withheld or draining) runs, as last recorded.
fn revision_of(d: &Deployment) -> Option<String> {
    d.annotations().get(workload::REVISION).cloned()
}

/// Roll out: a template change goes zone by zone (standbys first, the primary last); zones not yet due get the
/// new template paused and keep running their previous revision.
fn roll_out(i: &Inputs<'_>, placement: &Placement, built: &mut Built) -> Progress {
    let digests: Vec<String> = built.deployments.iter().map(workload::deployment_digest).collect();
    let mut order: Vec<usize> = (0..placement.targets.len()).collect();
    order.sort_by_key(|k| (placement.targets[*k].role == Role::Primary, placement.targets[*k].zone.clone()));
    let zones: Vec<rollout::Zone<'_>> = order
        .iter()
        .map(|k| {
            let t = &placement.targets[*k];
            let live = i.children.iter().find(|d| zone_of(d) == Some(t.zone.as_str()));
            // A Deployment without a digest predates digests: it is taken as current, not rolled zone by zone.
            let live = live.map(|d| {
                let mut l = live_of(d, built.zones[*k].desired_replicas);
                l.digest.get_or_insert_with(|| digests[*k].clone());
                l
            });
            rollout::Zone { name: &t.zone, digest: &digests[*k], live }
        })
        .collect();
    let revision = workload::template_digest(&serde_json::to_value(&i.service.spec.template).unwrap_or_default());
    let planned = rollout::plan(&zones, &revision);
    for (k, d) in built.deployments.iter_mut().enumerate() {
        let step = &planned.steps[&placement.targets[k].zone];
        workload::stamp_revision(d, &step.revision, step.paused);
        built.zones[k].revision = Some(rollout::short(&step.revision));
    }
    planned.progress
}

/// Drain: a zone no longer used is scaled to 0 only once the zones that replace it are Ready, then deleted.
fn drain(i: &Inputs<'_>, shape: &Shape<'_>, zones: &Zones<'_>, placement: &Placement, built: &mut Built) {
    let child = |zone: &str| i.children.iter().find(|d| zone_of(d) == Some(zone));
    let placed_ready = placement.targets.iter().all(|t| child(&t.zone).is_some_and(|d| rolled_out(d, t.replicas)));
    let withheld: BTreeSet<&str> = zones.in_scope.iter().filter(|z| !zones.eligible(z)).map(String::as_str).collect();
    let mut drained: Vec<&Deployment> = i
        .children
        .iter()
        // A child whose zone label was removed by hand names no zone to drain: it is left alone.
        .filter(|d| zone_of(d).is_some_and(|z| !zones.eligible(z) && !withheld.contains(z)))
        .collect();
    drained.sort_by_key(|d| d.name_any());
    for d in drained {
        let zone = zone_of(d).unwrap_or_default().to_string();
        let scaled_to_zero = d.spec.as_ref().and_then(|s| s.replicas) == Some(0);
        let empty = d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0) == 0;
        if placed_ready && scaled_to_zero && empty {
            // Deleted by this reconcile: the status describes the state after it.
            built.delete.push(d.name_any());
            continue;
        }
        if placed_ready {
            built.deployments.push(shape.deployment(&zone, 0, "Draining"));
        }
        let known = zones.known.get(&zone);
        built.zones.push(ZoneStatus {
            name: zone.clone(),
            eligible: known.is_some_and(|z| z.eligible()) && !i.failover.detection.held(&zone),
            nodes: known.map_or(0, |z| z.eligible_nodes),
            role: "Draining".into(),
            desired_replicas: 0,
            ready_replicas: ready_replicas(d),
            revision: revision_of(d).map(|r| rollout::short(&r)),
        });
    }
}

/// The backup stage: what the service's copies need (tiers, runs, location checks, retention) and the CronJobs
/// that make them, running the agent only in eligible zones. A problem leaves existing CronJobs as they are.
fn backups(
    i: &Inputs<'_>,
    class: &ContinuityClass,
    protected: &[String],
    eligible: &[String],
    regions: Option<&[String]>,
) -> (Option<BackupPlan>, Option<Vec<CronJob>>) {
    let Some(spec) = i.service.spec.backup.as_ref() else { return (None, Some(Vec::new())) };
    let class_spec = &class.spec;
    let mut planned = backup::plan(&backup::Inputs {
        policy: class_spec.backup.as_ref(),
        backup: spec,
        objectives: &class_spec.objectives,
        residency: class_spec.residency.as_ref(),
        zones: protected,
        observed: backup::Observed { location: i.backups.location, points: i.backups.points, now: i.now },
    });
    planned.agent_zones = eligible.to_vec();
    planned.agent_regions = regions.map(<[String]>::to_vec);
    let cron_jobs = match (&planned.problem, i.backups.location) {
        (None, Some(location)) => {
            let agent =
                backup::jobs::Agent { service: i.service, location, keys: &i.config.keys, zones: eligible, regions };
            Some(planned.runs.iter().map(|r| agent.cron_job(r, &planned.time_zone)).collect())
        }
        _ => None,
    };
    (Some(planned), cron_jobs)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::topology::synthetic_node;

    fn service(replicas: i32) -> ResilientService {
        serde_json::from_value(json!({
            "apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService",
            "metadata": {"name": "s", "namespace": "n"},
            "spec": {"className": "c", "replicas": replicas, "template": {"spec": {"containers": [{"name": "a"}]}}}
        }))
        .unwrap()
    }

    fn class(mode: &str, regions: &[&str]) -> ContinuityClass {
        serde_json::from_value(json!({
            "apiVersion": "continuo.dev/v1alpha1", "kind": "ContinuityClass", "metadata": {"name": "c"},
            "spec": {"mode": mode, "residency": {"regions": regions}, "objectives": [{"scope": "Zone", "rto": "1h"}]}
        }))
        .unwrap()
    }

    const REGIONS: [&str; 3] = ["eu-south-1", "eu-west-1", "us-east-1"];

    proptest! {
        #[test]
        fn residency_is_never_violated(
            nodes in prop::collection::vec((0usize..6, any::<bool>()), 1..20),
            allowed in prop::sample::subsequence(REGIONS.to_vec(), 1..3),
            mode in prop::sample::select(vec!["ActiveActive", "WarmStandby", "Restart"]),
            replicas in 1i32..20,
        ) {
            // Zone i lives in region i % 3, as in a real cloud.
            let facts: Vec<NodeFacts> = nodes
                .iter()
                .enumerate()
                .map(|(i, (z, usable))| synthetic_node(&format!("n{i}"), &format!("zone-{z}"), Some(REGIONS[z % 3]), *usable))
                .collect();
            let (svc, cls) = (service(replicas), class(mode, &allowed));
            let config = Config::default();
            let plan = plan(&Inputs::offline(&svc, Some(&cls), &facts, &config, Timestamp::UNIX_EPOCH));
            if let Ok(d) = plan {
                prop_assert!(!d.deployments.is_empty());
                for dep in &d.deployments {
                    let zone = dep.labels()[workload::ZONE_LABEL].clone();
                    let region = REGIONS[zone.trim_start_matches("zone-").parse::<usize>().unwrap() % 3];
                    prop_assert!(allowed.contains(&region), "{zone} in {region} is outside {allowed:?}");
                    let affinity = serde_json::to_value(&dep.spec.as_ref().unwrap().template.spec.as_ref().unwrap().affinity).unwrap();
                    let term = &affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0];
                    let pinned = term["matchExpressions"].as_array().unwrap().iter()
                        .any(|e| e["key"] == topology::REGION_LABEL && e["values"] == json!(allowed));
                    prop_assert!(pinned, "the scheduler is held to the residency too");
                }
            } else {
                // Stalled only when no usable node is inside the residency.
                let usable_inside = nodes.iter().any(|(z, u)| *u && allowed.contains(&REGIONS[z % 3]));
                prop_assert!(!usable_inside);
            }
        }
    }

    #[test]
    fn objects_are_identical_across_runs() {
        let nodes: Vec<NodeFacts> =
            ["a", "b", "c"].iter().map(|z| synthetic_node(z, z, Some("eu-south-1"), true)).collect();
        let (svc, cls) = (service(6), class("ActiveActive", &["eu-south-1"]));
        let config = Config::default();
        let run = || {
            let d = plan(&Inputs::offline(&svc, Some(&cls), &nodes, &config, Timestamp::UNIX_EPOCH)).unwrap();
            serde_json::to_string(&d.deployments).unwrap()
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn an_availability_time_zone_that_does_not_exist_is_a_condition_not_a_stall() {
        let nodes: Vec<NodeFacts> =
            ["a", "b", "c"].iter().map(|z| synthetic_node(z, z, Some("eu-south-1"), true)).collect();
        let svc = service(3);
        let mut cls = class("Restart", &["eu-south-1"]);
        cls.spec.availability =
            serde_json::from_value(json!({"target": "99.9", "timeZone": "Mars/Olympus_Mons"})).unwrap();
        let config = Config::default();
        let p = plan(&Inputs::offline(&svc, Some(&cls), &nodes, &config, Timestamp::UNIX_EPOCH));
        let d = p.as_ref().expect("the service is still placed");
        assert_eq!(d.deployments.len(), 3);
        let status = crate::status::compute(
            &svc,
            &p,
            &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::UNIX_EPOCH),
        );
        let c = status.conditions.iter().find(|c| c.type_ == "AvailabilityMet").unwrap();
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("Unknown", "UnknownTimeZone"));
        assert!(c.message.contains("Mars/Olympus_Mons"), "{}", c.message);
    }
}
