//! The drills of a service, stepped at each of its reconciles: the pure state machine ([`crate::drill`]) decides
//! from the plan (the zones' Ready replicas, the open incident) and the clock; this writes the drill's status when
//! it changed and notes an Event at its start and its end. A drill's whole state is its status, so an operator
//! restarting mid-drill carries it on.

use std::time::Duration;

use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
};
use serde_json::json;
use tracing::warn;

use super::Context;
use crate::{
    api::{ContinuityClass, ContinuityDrill, DrillScenario, LastDrill, ResilientService, Scope},
    drill::{self, Cluster, Phase, Record, Service},
    plan::Desired,
    status::Transition,
};

/// How often a running drill is measured again, besides the changes of its service.
pub(super) const DRILL_TICK: Duration = Duration::from_secs(5);

/// The zone a running drill among a service's `drills` takes out.
pub(super) fn drilled_zone(drills: &[ContinuityDrill]) -> Option<String> {
    drills.iter().find_map(|d| Record::from_status(d.status.as_ref()).drilled_zone().map(String::from))
}

/// The last drill of each scenario among a service's `drills` that ended.
pub(super) fn last_drills(drills: &[ContinuityDrill], previous: &[LastDrill]) -> Vec<LastDrill> {
    let ended = drills.iter().filter_map(|d| {
        let s = d.status.as_ref()?;
        let ended_at = s.ended_at.clone().filter(|_| Record::from_status(Some(s)).phase.ended())?;
        let passed = s.phase.as_deref() == Some(Phase::Passed.as_str());
        Some(LastDrill {
            scenario: d.spec.scenario.as_str().into(),
            name: d.name_any(),
            phase: s.phase.clone().unwrap_or_default(),
            passed_at: passed.then(|| ended_at.clone()),
            ended_at,
            rto_seconds: s.rto_seconds,
            message: s.message.clone(),
        })
    });
    // What the status recorded stays (a drill object deleted since does not erase its pass), unless newer.
    let mut last: Vec<LastDrill> = previous.to_vec();
    for d in ended {
        match last.iter_mut().find(|l| l.scenario == d.scenario) {
            Some(l) => {
                let passed_at = [l.passed_at.clone(), d.passed_at.clone()].into_iter().flatten().max_by_key(|t| t.0);
                if (l.ended_at.0, &l.name) <= (d.ended_at.0, &d.name) {
                    *l = d;
                }
                l.passed_at = passed_at;
            }
            None => last.push(d),
        }
    }
    last.sort_by(|a, b| a.scenario.cmp(&b.scenario));
    last
}

/// Steps every drill of `svc` (its `drills`, as the cache holds them) that has not ended. Returns when to look again: soon while a drill runs, or when
/// writing a drill's status failed (the service's status is written all the same).
pub(super) async fn step(
    ctx: &Context,
    svc: &ResilientService,
    class: Option<&ContinuityClass>,
    desired: &Desired,
    drills: &[ContinuityDrill],
    now: jiff::Timestamp,
    notes: &mut Vec<Transition>,
) -> Option<Duration> {
    let (ns, name) = (svc.namespace().unwrap_or_default(), svc.name_any());
    let detection = ctx.detector.current();
    let withheld: Vec<String> = detection.zones.keys().cloned().collect();
    let service = Service {
        name: &name,
        declared: svc.spec.replicas,
        zones: &desired.zones,
        primary: desired.placement.primary.as_deref(),
        incident_open: desired.incidents.first().is_some_and(|i| i.recovered.is_none()),
        zone_rto: class.and_then(|c| c.spec.objective(Scope::Zone)).map(|o| o.rto.as_secs() as i64),
        stateful: !svc.spec.volume_claim_templates.is_empty(),
    };
    let (mut running, mut failed) = (false, false);
    let mut next_run: Option<jiff::Timestamp> = None;
    let stateful = service.stateful;
    let tz = drill::schedule::time_zone(class.map(|c| &c.spec));
    for d in drills {
        let recorded = Record::from_status(d.status.as_ref());
        let Some((base, step_it)) = drill::schedule::start(d, &tz, &recorded, now, &mut next_run) else { continue };
        let others = drills.iter().filter(|o| o.name_any() != d.name_any());
        let cluster = Cluster {
            withheld: &withheld,
            other_drill_running: others
                .map(|o| Record::from_status(o.status.as_ref()))
                .any(|r| r.phase == Phase::Running),
        };
        let timeout = d.spec.timeout.as_secs() as i64;
        // A stateful service is drilled only when the drill accepts losing the writes since its copy.
        let service = Service { stateful: stateful && !d.spec.accept_data_loss, ..service.clone() };
        let mut after = match (step_it, d.spec.scenario) {
            (false, _) => base.clone(),
            (true, DrillScenario::ZoneLoss) => {
                drill::zone_loss(&base, d.spec.zone.as_deref(), timeout, Some(&service), &cluster, now)
            }
            (true, DrillScenario::Restore) => {
                let other = cluster.other_drill_running;
                let subject = super::restore_drill::Subject { svc, class, desired };
                super::restore_drill::step(ctx, subject, d, &base, other, now).await
            }
            (true, DrillScenario::SiteRestore) => not_on_karmada(&base, now),
        };
        if after.phase.ended() && !base.phase.ended() && stateful {
            after.message.push_str(&data_restored(desired, after.zone.as_deref()));
        }
        running |= after.phase == Phase::Running;
        if after == recorded {
            continue;
        }
        match write_status(ctx, &ns, d, &recorded, &after).await {
            Ok(()) => {
                notes.extend(note(&d.name_any(), &base, &after));
                if after.phase.ended() && !base.phase.ended() {
                    let ran = after.started.zip(after.ended).map_or(0, |(s, e)| e.as_second() - s.as_second());
                    ctx.metrics.drill_ended(d.spec.scenario.as_str(), after.phase.as_str(), ran as f64);
                }
            }
            Err(e) => {
                warn!(drill = %d.name_any(), error = %e, "writing the drill's status failed; tried again shortly");
                failed = true;
            }
        }
    }
    // A scheduled drill is looked at again when it falls due.
    let until_next = next_run.map(|t| Duration::from_secs(t.as_second().saturating_sub(now.as_second()).max(1) as u64));
    (running || failed).then_some(DRILL_TICK).into_iter().chain(until_next).min()
}

/// A drill's status, as a merge patch from what was recorded: a field the new record clears is written as null.
async fn write_status(
    ctx: &Context,
    ns: &str,
    d: &ContinuityDrill,
    recorded: &Record,
    after: &Record,
) -> Result<(), kube::Error> {
    let mut status = serde_json::to_value(after.to_status()).unwrap_or_default();
    let old = serde_json::to_value(recorded.to_status()).unwrap_or_default();
    for key in old.as_object().into_iter().flat_map(|o| o.keys()) {
        if status.get(key).is_none() {
            status[key] = serde_json::Value::Null;
        }
    }
    let api: Api<ContinuityDrill> = Api::namespaced(ctx.client.clone(), ns);
    api.patch_status(&d.name_any(), &PatchParams::default(), &Patch::Merge(json!({"status": status}))).await.map(|_| ())
}

/// A stateful service's drill: what its data was restored from, and how old it was.
fn data_restored(desired: &Desired, zone: Option<&str>) -> String {
    let recovery = desired.recoveries.iter().rev().find(|r| Some(r.from_zone.as_str()) == zone);
    match recovery.and_then(|r| Some((r.point.as_deref()?, r.data_loss_seconds?))) {
        Some((point, loss)) => format!("; data restored from {point}, {loss}s of writes lost"),
        None => String::new(),
    }
}

/// The Event of a drill's start or end.
fn note(drill: &str, before: &Record, after: &Record) -> Option<Transition> {
    let zone = after.zone.as_deref().unwrap_or("?");
    match (before.phase, after.phase) {
        (Phase::Pending, Phase::Running) => Some(Transition {
            warning: false,
            reason: "DrillStarted".into(),
            message: format!("drill {drill}: zone {zone} taken out for this service"),
        }),
        (_, end) if end.ended() => Some(Transition {
            warning: end != Phase::Passed,
            reason: format!("Drill{}", end.as_str()),
            message: format!("drill {drill}: {}", after.message),
        }),
        _ => None,
    }
}

/// A site drill brings the service up at another site: only Karmada's control plane can, so in a member it fails.
fn not_on_karmada(base: &Record, now: jiff::Timestamp) -> Record {
    let mut r = base.clone();
    let why = "a SiteRestore drill runs on Karmada's control plane (continuo sites), where the service's sites are; \
               this cluster is one of them";
    r.fail(now, "NotOnKarmada", why.into());
    r
}
