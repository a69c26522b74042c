//! The pure heart of a reconcile, shared by the operator and `continuo plan`, as named stages:
//! validate → zones (residency, pins, failure detection) → place → backups → data → objectives → build (no dip while
//! spreading back) → roll out (zone by zone) → drain → record (incidents, availability).
//!
//! Nothing here does I/O or reads the clock; the caller observes, this decides.

mod arrival;
mod backups;
mod build;
mod desired;
mod handover;
mod inputs;
mod record;
mod volumes;
mod zones;

pub use crate::verdict::Problem;
use crate::{
    api::{ContinuityClass, ContinuityClassSpec, Scope},
    objectives::{self, Situation},
    placement::{self, Placement},
    spread::Spread,
    verdict::problem,
    workload::Shape,
};
use backups::backups;
use build::{build, drain, roll_out};
pub use desired::{
    Availability, DEADLINE, Desired, DetectionSummary, Plan, deadline_exceeded, ready_replicas, rolled_out,
};
pub use inputs::{Backups, Config, Failover, Inputs};
use kube::ResourceExt;
use record::{record_availability, record_incidents, summarize};
use zones::{Zones, zones};

/// Computes the plan for one service.
pub fn plan(i: &Inputs<'_>) -> Plan {
    let class = validate(i)?;
    let zones = zones(i, class)?;
    let mut placement = place(i, &class.spec, &zones);
    let stateful = !i.service.spec.volume_claim_templates.is_empty();
    let volumes = stateful.then(|| volumes::gravity(i, &class.spec, &zones, &mut placement));
    let (backup, mut cron_jobs) = backups(i, class, &zones.in_scope, &zones.eligible, zones.regions);
    let data = data(i, &zones);
    let startup = i.config.timing.pod_startup(&i.service.spec.template, i.service.spec.startup_seconds);
    let storage = stateful.then(|| volumes::storage(i, startup));
    let objectives = objectives::assess(&Situation {
        class: &class.spec,
        replicas: i.service.spec.replicas,
        placement: &placement,
        nodes_per_zone: &zones.nodes_per_zone(),
        startup,
        timing: &i.config.timing,
        backup: backup.as_ref(),
        data: &data,
        storage: storage.as_ref(),
        now: i.now,
    });
    let shape = Shape {
        service: i.service,
        keys: &i.config.keys,
        regions: zones.regions,
        toleration_seconds: class.spec.objective(Scope::Node).map(|o| i.config.timing.toleration_for(o.rto, startup)),
    };
    let mut built = build(i, &shape, &zones, &placement);
    if let Some(v) = &volumes {
        volumes::restore_into(i, &zones, v, &mut built);
    }
    let rollout = roll_out(i, &placement, &mut built);
    drain(i, &shape, &zones, &placement, &mut built);
    let stateful_sets =
        volumes.as_ref().map(|v| volumes::stateful(i, &shape, v, &mut built, cron_jobs.as_mut())).unwrap_or_default();
    built.zones.sort_by(|a, b| a.name.cmp(&b.name));
    let (mut incidents, mut incident_changes) = record_incidents(i, &class.spec, &zones, &built.zones, &data);
    if let Some(v) = &volumes {
        volumes::annotate(&mut incidents, &mut incident_changes, v);
    }
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
        stateful_sets,
        disruption_budget: shape.disruption_budget(),
        service: shape.service(),
        delete: built.delete,
        placement,
        zones: built.zones,
        objectives,
        zone_shortfall,
        cron_jobs,
        backup,
        data,
        recoveries: volumes.as_ref().map(|v| v.recoveries.clone()).unwrap_or_default(),
        drill_policy: class
            .spec
            .drills
            .as_ref()
            .and_then(crate::drill::policy::in_cluster)
            .map(|p| crate::drill::policy::judge(&p, i.last_drills, i.now)),
        volumes,
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
    volumes::validate(i)?;
    Ok(class)
}

/// Data: the data layers `spec.data` names, resolved against what is observed (offline, their instances placed on
/// the service's zones as their spec says).
fn data(i: &Inputs<'_>, zones: &Zones<'_>) -> crate::data::DataPlan {
    let ns = i.service.metadata.namespace.as_deref().unwrap_or_default();
    let keys = &i.config.keys;
    // What continuo's own detection holds unreachable is not Ready, before the node controller says so.
    let unreachable = i.failover.detection.unreachable(i.nodes);
    let observed = crate::data::Observed { unreachable: &unreachable, ..i.data };
    crate::data::resolve(&i.service.spec.data, ns, &observed, i.nodes, &zones.in_scope, &zones.eligible, &keys.zone)
}

/// A live Deployment's zone and replicas, when it runs any.
fn running(d: &k8s_openapi::api::apps::v1::Deployment) -> Option<(&str, i32)> {
    Some((desired::zone_of(d)?, d.spec.as_ref()?.replicas.filter(|r| *r > 0)?))
}

/// Place: the replicas of each eligible zone, for the class's mode; the uneven share (a primary, a remainder) in
/// the zone the user prefers, else where it is now, else where the service's hash puts it. Where it is now is what
/// status records or, when status is gone (an object restored from a backup without its status), what the live
/// Deployments run: either way a running primary is not moved.
fn place(i: &Inputs<'_>, class: &ContinuityClassSpec, zones: &Zones<'_>) -> Placement {
    let svc = i.service;
    let status = svc.status.as_ref();
    let is_primary = |d: &&k8s_openapi::api::apps::v1::Deployment| {
        d.labels().get(crate::workload::ROLE_LABEL).is_some_and(|r| r == "Primary")
    };
    let primary = status
        .and_then(|s| s.primary_zone.as_deref())
        .or_else(|| i.children.iter().find(is_primary).and_then(running).map(|(z, _)| z));
    let recorded = match status.filter(|s| !s.zones.is_empty()) {
        Some(s) => s.zones.iter().map(|z| (z.name.as_str(), z.desired_replicas)).collect(),
        None => i.children.iter().filter_map(running).collect(),
    };
    let spread = Spread {
        key: format!("{}/{}", svc.namespace().unwrap_or_default(), svc.name_any()),
        preferred: &svc.spec.preferred_zones,
        primary,
        recorded,
    };
    placement::place(class.mode, svc.spec.replicas, class.standby_replicas, &zones.eligible, &spread)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::{
        api::ResilientService,
        topology::{self, NodeFacts, synthetic_node},
        workload,
    };
    use jiff::Timestamp;

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
