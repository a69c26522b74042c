//! The record stages of a plan: incidents opened and closed, availability moved on transitions, and how zone
//! loss is detected, for the status. Pure, like the rest of the plan.

use jiff::Timestamp;

use super::{
    desired::{Availability, DetectionSummary, zone_of},
    inputs::Inputs,
    zones::Zones,
};
use crate::{
    api::{ContinuityClassSpec, Incident, Scope, ZoneStatus},
    availability,
    failover::{
        ZoneState,
        incidents::{self, LostZone},
    },
};

/// Replicas Ready in healthy zones: what serves.
fn healthy_ready(zones: &[ZoneStatus]) -> i32 {
    zones.iter().filter(|z| z.eligible).map(|z| z.ready_replicas).sum()
}

/// Record: an incident opens when a zone the service uses is lost or Ready capacity drops below the declared
/// replicas, and closes, timed, when capacity is back.
pub(super) fn record_incidents(
    i: &Inputs<'_>,
    class: &ContinuityClassSpec,
    zones: &Zones<'_>,
    statuses: &[ZoneStatus],
    data: &crate::data::DataPlan,
) -> (Vec<Incident>, Vec<incidents::Change>) {
    let svc = i.service;
    let previous = svc.status.as_ref();
    // A zone the service runs replicas in (its pods' readiness may already have been withdrawn by then).
    let used = |zone: &str| {
        i.children.iter().any(|d| zone_of(d) == Some(zone) && d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0) > 0)
    };
    let lost: Vec<LostZone> = i
        .failover
        .detection
        .zones
        .iter()
        .filter(|(z, l)| l.state == ZoneState::Lost && zones.in_scope.contains(z) && used(z))
        .map(|(z, l)| LostZone { zone: z.clone(), began: l.began, detected: l.detected })
        .collect();
    let lagging = lagging(statuses);
    // A drop while a drill runs is the drill's, measured and scored by the drill: not a failure of a server. A zone
    // really lost meanwhile is still an incident (it comes from detection).
    let was_whole = i.drill.is_none()
        && previous.is_some_and(|p| {
            p.observed_generation == svc.metadata.generation && healthy_ready(&p.zones) >= svc.spec.replicas
        });
    let node_began = silent_node_evidence(i, &lagging);
    let rto: Vec<(Scope, crate::api::Span)> = class.objectives.iter().map(|o| (o.scope, o.rto)).collect();
    let (mut history, changes) = incidents::step(
        previous.map(|p| p.incidents.as_slice()).unwrap_or_default(),
        &incidents::Observation {
            replicas: svc.spec.replicas,
            ready: healthy_ready(statuses),
            lost: &lost,
            lagging: &lagging,
            node_began,
            was_whole,
            rto: &rto,
            now: i.now,
        },
    );
    // The newest zone incident follows its data sources while it is open or its zone is still lost: a database
    // may promote after the service's capacity is back.
    if let Some(newest) = history.first_mut().filter(|n| n.scope == Scope::Zone && !data.is_empty())
        && (newest.recovered.is_none() || lost.iter().any(|l| l.zone == newest.subject))
    {
        let began = newest.began.0;
        crate::data::record(newest, data.through_loss(began));
    }
    (history, changes)
}

/// When a drop in the `lagging` zones began, by a node there whose lease went silent while the service was Ready
/// (its pods look Ready until the node controller notices); a node silent since before then did not cause it.
fn silent_node_evidence(i: &Inputs<'_>, lagging: &[String]) -> Option<Timestamp> {
    let ready_since = i
        .service
        .status
        .as_ref()
        .and_then(|p| p.conditions.iter().find(|c| c.type_ == crate::api::conditions::READY && c.status == "True"))
        .map(|c| c.last_transition_time.0)?;
    lagging
        .iter()
        .filter_map(|z| i.failover.detection.silent_since.get(z).copied())
        .filter(|at| *at >= ready_since)
        .min()
}

/// Zones below their desired Ready replicas.
fn lagging(statuses: &[ZoneStatus]) -> Vec<String> {
    statuses.iter().filter(|z| z.eligible && z.ready_replicas < z.desired_replicas).map(|z| z.name.clone()).collect()
}

/// Record: availability this month, moved on transitions only.
pub(super) fn record_availability(
    i: &Inputs<'_>,
    class: &ContinuityClassSpec,
    zones: &Zones<'_>,
    statuses: &[ZoneStatus],
) -> (Option<Availability>, Option<Timestamp>) {
    let Some(target) = class.availability.as_ref() else { return (None, None) };
    let tz = match jiff::tz::TimeZone::get(&target.time_zone) {
        Ok(tz) => tz,
        Err(_) => {
            let message = format!("availability.timeZone: {:?} is not a known IANA time zone", target.time_zone);
            return (Some(Availability::UnknownTimeZone(message)), None);
        }
    };
    let ready = healthy_ready(statuses);
    let health = availability::health(ready, i.service.spec.replicas);
    let previous = i.service.status.as_ref().and_then(|s| s.availability.as_ref());
    if previous.is_none() && health != crate::api::Health::Up {
        return (Some(Availability::NotYetUp), None);
    }
    // A change caused by a zone or node loss is dated by the loss's evidence, not by when it was detected.
    let evidence = i
        .failover
        .detection
        .zones
        .iter()
        .filter(|(z, l)| l.state == ZoneState::Lost && zones.in_scope.contains(z))
        .map(|(_, l)| l.began)
        .chain(silent_node_evidence(i, &lagging(statuses)))
        .min();
    let next = availability::advance(&availability::Inputs {
        target,
        tz: &tz,
        health,
        zones_ready: statuses.iter().filter(|z| z.eligible && z.ready_replicas > 0).count() as i32,
        previous,
        observer: i.failover.observer,
        evidence,
        now: i.now,
    });
    let review = availability::next_month(next.since.0, &tz);
    (Some(Availability::Counted(Box::new(next))), Some(review))
}

/// How zone loss is detected, for this service's `FailureDetection` condition.
pub(super) fn summarize(i: &Inputs<'_>) -> DetectionSummary {
    let d = i.failover.detection;
    let t = &i.config.timing;
    match (&d.guard, d.leases_watched) {
        (Some(g), _) => DetectionSummary { status: "False", reason: g.reason(), message: g.message() },
        (None, true) => DetectionSummary {
            status: "True",
            reason: "NodeLeases",
            message: format!("a zone is found lost {}s after its node leases go silent", t.zone_detection_secs()),
        },
        (None, false) => DetectionSummary {
            status: "True",
            reason: "NodeConditions",
            message: format!(
                "no node lease is watched: a zone is found lost when its nodes turn NotReady ({}s)",
                t.node_monitor_grace.as_secs()
            ),
        },
    }
}
