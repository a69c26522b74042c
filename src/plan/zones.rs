//! The zones stage: which zones a service may use now — known from nodes, judged against residency, narrowed by
//! the pin, and withheld while failure detection finds them lost or recovering, or a drill takes one out.

use std::collections::BTreeMap;

use kube::ResourceExt;

use super::inputs::Inputs;
use crate::{
    api::ContinuityClass,
    topology,
    verdict::{Problem, problem},
};

/// The zones of one service: known from nodes, judged against residency, narrowed by the pin, and withheld while
/// failure detection finds them lost or recovering.
pub(super) struct Zones<'a> {
    pub known: BTreeMap<String, topology::Zone>,
    /// Zone names in scope (resident, and pinned if the spec pins).
    pub in_scope: Vec<String>,
    /// In scope, with a usable node, and not held by failure detection.
    pub eligible: Vec<String>,
    pub regions: Option<&'a [String]>,
}

impl Zones<'_> {
    pub fn nodes_per_zone(&self) -> BTreeMap<String, i32> {
        self.known.values().map(|z| (z.name.clone(), z.eligible_nodes)).collect()
    }

    pub fn eligible(&self, zone: &str) -> bool {
        self.eligible.iter().any(|e| e == zone)
    }
}

/// Zones: which ones the service may use now.
pub(super) fn zones<'a>(i: &Inputs<'a>, class: &'a ContinuityClass) -> Result<Zones<'a>, Problem> {
    let spec = &i.service.spec;
    let regions = class.spec.residency.as_ref().map(|r| r.regions.as_slice());
    let known = topology::zones(i.nodes, regions);
    // A zone the spec names must be the zone of a node, inside the residency: a pin, and a preference.
    let named = |field: &str, name: &String| -> Result<&topology::Zone, Problem> {
        let zone = known.get(name).ok_or_else(|| {
            let names: Vec<&str> = known.keys().map(String::as_str).collect();
            problem(
                "ZoneNotFound",
                format!("{field}: zone {name:?} is not the zone of any node (known zones: {})", names.join(", ")),
            )
        })?;
        if !zone.resident {
            return Err(problem(
                "ZoneOutsideResidency",
                format!(
                    "{field}: zone {name:?} is in region {} outside the residency of class {:?} ({})",
                    zone.region.as_deref().unwrap_or("(unlabelled)"),
                    class.name_any(),
                    regions.unwrap_or_default().join(", ")
                ),
            ));
        }
        Ok(zone)
    };
    let in_scope: Vec<&topology::Zone> = if spec.zones.is_empty() {
        known.values().filter(|z| z.resident).collect()
    } else {
        spec.zones.iter().map(|name| named("spec.zones", name)).collect::<Result<_, _>>()?
    };
    for name in &spec.preferred_zones {
        named("spec.preferredZones", name)?;
    }
    // A zone a drill takes out is withheld for this service exactly as a lost one.
    let held = |z: &topology::Zone| i.failover.detection.held(&z.name) || i.drill == Some(z.name.as_str());
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
