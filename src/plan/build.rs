//! The build, roll-out and drain stages: one Deployment per placed zone, a template change rolled out zone by
//! zone, and zones no longer used drained only once the others are Ready.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;

use super::{
    desired::{deadline_exceeded, ready_replicas, rolled_out, zone_of},
    inputs::Inputs,
    zones::Zones,
};
use crate::{
    api::ZoneStatus,
    failover::ZoneState,
    placement::{Placement, Role},
    rollout::{self, Progress},
    workload::{self, Shape},
};

/// What the build, rollout and drain stages produce.
pub(super) struct Built {
    pub deployments: Vec<Deployment>,
    pub zones: Vec<ZoneStatus>,
    pub delete: Vec<String>,
}

/// Build: one Deployment per placed zone. While a zone is spread back to (or capacity otherwise moves between
/// zones), a zone that shrinks keeps its current replicas until every other zone is rolled out and Ready:
/// capacity never dips. Zones withheld (lost, recovering, NotReady) keep their Deployment exactly as it is.
pub(super) fn build(i: &Inputs<'_>, shape: &Shape<'_>, zones: &Zones<'_>, placement: &Placement) -> Built {
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
    // A zone in scope that is withheld keeps its Deployment as it is, until it returns; one a drill takes out is
    // scaled to 0 by the drain stage, the effect a real loss has on the service.
    for name in zones.in_scope.iter().filter(|z| !zones.eligible(z)) {
        let existing = child(name);
        let role = match i.failover.detection.zones.get(name).map(|l| l.state) {
            Some(ZoneState::Lost) => "Lost",
            Some(ZoneState::Recovering { .. }) => "Recovering",
            None if i.drill == Some(name.as_str()) => "Drilled",
            None => "Unavailable",
        };
        built.zones.push(ZoneStatus {
            name: name.clone(),
            eligible: false,
            nodes: 0,
            role: role.into(),
            desired_replicas: if i.drill == Some(name.as_str()) {
                0
            } else {
                existing.and_then(|d| d.spec.as_ref()?.replicas).unwrap_or(0)
            },
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
pub(super) fn roll_out(i: &Inputs<'_>, placement: &Placement, built: &mut Built) -> Progress {
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

/// Drain: a zone no longer used is scaled to 0 only once the zones that replace it are Ready, then deleted. A zone
/// a drill takes out is scaled to 0 at once, as its loss would leave it, and kept.
pub(super) fn drain(i: &Inputs<'_>, shape: &Shape<'_>, zones: &Zones<'_>, placement: &Placement, built: &mut Built) {
    let child = |zone: &str| i.children.iter().find(|d| zone_of(d) == Some(zone));
    if let Some(zone) = i.drill.filter(|z| child(z).is_some() && zones.in_scope.iter().any(|s| s == z)) {
        built.deployments.push(shape.deployment(zone, 0, "Drilled"));
    }
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
