//! `continuo plan`: what a drill of each service would do, and the figures it is expected to show.

use std::fmt::Write as _;

use crate::{
    api::{ContinuityClass, ResilientService, Scope},
    drill::Service,
    plan::Desired,
};

/// A ZoneLoss drill takes out the zone whose loss costs the service most, and the plan re-places capacity at once
/// (no detection wait): the RTO it should show is 0 when the other zones already hold the declared replicas, else
/// the pods' start-up. A Restore drill's figure is the agent's restore time, which only the drill measures.
pub(super) fn describe(
    out: &mut String,
    svc: &ResilientService,
    class: Option<&ContinuityClass>,
    d: &Desired,
    startup: u64,
) {
    let declared = svc.spec.replicas;
    let service = Service {
        name: "",
        declared,
        zones: &d.zones,
        primary: d.placement.primary.as_deref(),
        incident_open: false,
        zone_rto: None,
        stateful: false,
    };
    let objective = |scope| class.and_then(|c| c.spec.objective(scope));
    let rto = objective(Scope::Zone).map_or("no Zone RTO".into(), |o| format!("Zone RTO {}", o.rto));
    if let Some(zone) = service.costliest_zone() {
        let left: i32 = d.zones.iter().filter(|z| z.eligible && z.name != zone).map(|z| z.desired_replicas).sum();
        let why = if d.placement.primary.as_deref() == Some(zone) { "the primary's" } else { "the busiest" };
        let expected = if left >= declared {
            format!("0s: the other zones already run {left} ≥ {declared}")
        } else {
            format!("~{startup}s: the pods' start-up in the other zones ({left} of {declared} Ready meanwhile)")
        };
        let data = if svc.spec.volume_claim_templates.is_empty() {
            ""
        } else {
            " (stateful: only with acceptDataLoss, restoring the newest off-zone copy first)"
        };
        let _ = writeln!(out, "  drill ZoneLoss: takes out {zone} ({why} zone){data}; expected RTO {expected}; {rto}");
    }
    if svc.spec.backup.is_some() {
        let rpo = objective(Scope::Zone).and_then(|o| o.rpo).map_or("no Zone RPO".into(), |r| format!("Zone RPO {r}"));
        let _ = writeln!(
            out,
            "  drill Restore: restores the newest good copy into a scratch target; scored on the agent's restore \
             time against the {rto} and the copy's age against the {rpo}"
        );
    }
    if let Some(p) = class.and_then(|c| c.spec.drills.as_ref()) {
        let scenarios: Vec<&str> = p.scenarios.iter().map(|s| s.as_str()).collect();
        let _ = writeln!(out, "  the class requires a passed drill every {}: {}", p.every, scenarios.join(", "));
    }
}
