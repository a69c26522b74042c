//! The pure heart of a reconcile, shared by the operator and `continuo plan`:
//! validate → choose zones → place → judge objectives → build objects → decide what to drain.
//!
//! Nothing here does I/O or reads the clock; the caller observes, this decides.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use k8s_openapi::api::{apps::v1::Deployment, batch::v1::CronJob, core::v1::Service, policy::v1::PodDisruptionBudget};
use kube::ResourceExt;

use crate::{
    api::{BackupLocation, ContinuityClass, ObjectiveStatus, RecoveryPoint, ResilientService, Scope, ZoneStatus},
    backup::{self, BackupPlan},
    objectives::{self, Situation, Timing},
    placement::{self, Placement},
    topology::{self, Keys, NodeFacts},
    workload::{self, Shape},
};

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
    /// What backups observe: the service's location and recovery points, and the clock.
    pub backups: Backups<'a>,
}

/// What the backup stage observes.
#[derive(Clone, Copy)]
pub struct Backups<'a> {
    /// The BackupLocation the service names, if it exists.
    pub location: Option<&'a BackupLocation>,
    /// The service's recovery points.
    pub points: &'a [RecoveryPoint],
    pub now: Timestamp,
}

impl Backups<'_> {
    /// No location and no copies observed, at `now` (offline: `continuo plan` without a cluster).
    pub fn none(now: Timestamp) -> Backups<'static> {
        Backups { location: None, points: &[], now }
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

fn zone_of(d: &Deployment) -> Option<&str> {
    d.labels().get(workload::ZONE_LABEL).map(String::as_str)
}

/// Computes the plan for one service.
pub fn plan(i: &Inputs<'_>) -> Plan {
    let svc = i.service;
    let spec = &svc.spec;
    let class = i
        .class
        .ok_or_else(|| problem("ClassNotFound", format!("ContinuityClass {:?} does not exist", spec.class_name)))?;
    let class_spec = &class.spec;
    if spec.replicas < 1 {
        return Err(problem("InvalidSpec", "spec.replicas must be at least 1"));
    }
    if spec.template.spec.as_ref().is_none_or(|p| p.containers.is_empty()) {
        return Err(problem("InvalidSpec", "spec.template.spec.containers must list at least one container"));
    }

    // Zones: known from nodes, judged against residency, narrowed by the pin.
    let regions = class_spec.residency.as_ref().map(|r| r.regions.as_slice());
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
    let eligible: Vec<String> = in_scope.iter().filter(|z| z.eligible()).map(|z| z.name.clone()).collect();
    if eligible.is_empty() {
        let why = if in_scope.is_empty() {
            "no node carries a zone label inside the residency".to_string()
        } else {
            let names: Vec<&str> = in_scope.iter().map(|z| z.name.as_str()).collect();
            format!("no Ready, schedulable node in zones {}", names.join(", "))
        };
        return Err(problem("NoEligibleZone", format!("no eligible zone: {why}")));
    }

    // Place, and judge the objectives against that placement.
    let primary = svc.status.as_ref().and_then(|s| s.primary_zone.as_deref());
    let placement = placement::place(class_spec.mode, spec.replicas, class_spec.standby_replicas, &eligible, primary);
    let nodes_per_zone: BTreeMap<String, i32> = known.values().map(|z| (z.name.clone(), z.eligible_nodes)).collect();
    let startup = i.config.timing.pod_startup(&spec.template, spec.startup_seconds);
    let protected: Vec<String> = in_scope.iter().map(|z| z.name.clone()).collect();
    let (backup, cron_jobs) = backups(i, class, &protected, &eligible, regions);
    let objectives = objectives::assess(&Situation {
        class: class_spec,
        replicas: spec.replicas,
        placement: &placement,
        nodes_per_zone: &nodes_per_zone,
        startup,
        timing: &i.config.timing,
        backup: backup.as_ref(),
        now: i.backups.now,
    });
    let zone_shortfall = (eligible.len() < class_spec.min_zones as usize).then(|| {
        format!(
            "class {:?} needs {} eligible zones; {} available",
            class.name_any(),
            class_spec.min_zones,
            eligible.len()
        )
    });

    let shape = Shape {
        service: svc,
        keys: &i.config.keys,
        regions,
        toleration_seconds: class_spec.objective(Scope::Node).map(|o| i.config.timing.toleration_for(o.rto, startup)),
    };
    let child = |zone: &str| i.children.iter().find(|d| zone_of(d) == Some(zone));

    let mut deployments = Vec::new();
    let mut zones = Vec::new();
    for t in &placement.targets {
        deployments.push(shape.deployment(&t.zone, t.replicas, t.role.as_str()));
        zones.push(ZoneStatus {
            name: t.zone.clone(),
            eligible: true,
            nodes: nodes_per_zone[&t.zone],
            role: t.role.as_str().into(),
            desired_replicas: t.replicas,
            ready_replicas: child(&t.zone).map_or(0, ready_replicas),
        });
    }

    // A zone in scope that lost its nodes keeps its Deployment as it is, until it returns.
    let unavailable: BTreeSet<&str> = in_scope.iter().filter(|z| !z.eligible()).map(|z| z.name.as_str()).collect();
    for name in &unavailable {
        let existing = child(name);
        zones.push(ZoneStatus {
            name: name.to_string(),
            eligible: false,
            nodes: 0,
            role: "Unavailable".into(),
            desired_replicas: existing.and_then(|d| d.spec.as_ref()?.replicas).unwrap_or(0),
            ready_replicas: existing.map_or(0, ready_replicas),
        });
    }

    // A zone no longer used is drained only once the zones that replace it are Ready, then deleted.
    let placed_ready = placement.targets.iter().all(|t| child(&t.zone).is_some_and(|d| rolled_out(d, t.replicas)));
    let mut delete = Vec::new();
    let mut drained: Vec<&Deployment> = i
        .children
        .iter()
        // A child whose zone label was removed by hand names no zone to drain: it is left alone.
        .filter(|d| zone_of(d).is_some_and(|z| !eligible.iter().any(|e| e == z) && !unavailable.contains(z)))
        .collect();
    drained.sort_by_key(|d| d.name_any());
    for d in drained {
        let zone = zone_of(d).unwrap_or_default().to_string();
        let scaled_to_zero = d.spec.as_ref().and_then(|s| s.replicas) == Some(0);
        let empty = d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0) == 0;
        if placed_ready && scaled_to_zero && empty {
            // Deleted by this reconcile: the status describes the state after it.
            delete.push(d.name_any());
            continue;
        }
        if placed_ready {
            deployments.push(shape.deployment(&zone, 0, "Draining"));
        }
        zones.push(ZoneStatus {
            name: zone.clone(),
            eligible: known.get(&zone).is_some_and(|z| z.eligible()),
            nodes: known.get(&zone).map_or(0, |z| z.eligible_nodes),
            role: "Draining".into(),
            desired_replicas: 0,
            ready_replicas: ready_replicas(d),
        });
    }
    zones.sort_by(|a, b| a.name.cmp(&b.name));

    Ok(Desired {
        deployments,
        disruption_budget: shape.disruption_budget(),
        service: shape.service(),
        delete,
        placement,
        zones,
        objectives,
        zone_shortfall,
        cron_jobs,
        backup,
    })
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
        observed: backup::Observed { location: i.backups.location, points: i.backups.points, now: i.backups.now },
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
            let plan = plan(&Inputs { service: &svc, class: Some(&cls), nodes: &facts, children: &[], config: &config, backups: Backups::none(Timestamp::UNIX_EPOCH) });
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
            let d = plan(&Inputs {
                service: &svc,
                class: Some(&cls),
                nodes: &nodes,
                children: &[],
                config: &config,
                backups: Backups::none(Timestamp::UNIX_EPOCH),
            })
            .unwrap();
            serde_json::to_string(&d.deployments).unwrap()
        };
        assert_eq!(run(), run());
    }
}
