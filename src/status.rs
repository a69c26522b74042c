//! The status continuo writes: kstatus-compliant conditions (Ready, Reconciling, Stalled) plus its own
//! (ZoneRedundant, ObjectivesMet), computed from the plan and what is observed. Pure; the clock is passed in.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;

use crate::{
    api::{ResilientService, ResilientServiceStatus, ZoneStatus},
    plan::{Availability, Desired, Plan},
    rollout::Progress,
};

pub use crate::api::conditions::*;

struct Builder<'a> {
    generation: Option<i64>,
    previous: &'a [Condition],
    now: &'a Time,
    out: Vec<Condition>,
}

impl Builder<'_> {
    fn set(&mut self, type_: &str, status: &str, reason: &str, message: impl Into<String>) {
        // lastTransitionTime moves only when the status flips.
        let since = self
            .previous
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .map_or_else(|| self.now.clone(), |c| c.last_transition_time.clone());
        self.out.push(Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            observed_generation: self.generation,
            last_transition_time: since,
        });
    }
}

/// The status for `service` after acting on `plan`.
pub fn compute(service: &ResilientService, plan: &Plan, now: &Time) -> ResilientServiceStatus {
    let previous = service.status.clone().unwrap_or_default();
    let mut b = Builder { generation: service.metadata.generation, previous: &previous.conditions, now, out: vec![] };
    let mut status = match plan {
        Err(p) => {
            b.set(READY, "False", p.reason, p.message.clone());
            b.set(RECONCILING, "False", p.reason, "waiting for the spec, its class or the cluster to change");
            b.set(STALLED, "True", p.reason, p.message.clone());
            b.set(ZONE_REDUNDANT, "Unknown", p.reason, "not evaluated while the service is stalled");
            b.set(OBJECTIVES_MET, "Unknown", p.reason, "not evaluated while the service is stalled");
            // Children are left as they were, so what was last observed of them stays.
            ResilientServiceStatus { objectives: vec![], ..previous.clone() }
        }
        Ok(d) => {
            match d.volumes.as_ref().and_then(|v| v.handover.as_ref()) {
                Some(h) => handing_over(&mut b, h),
                None => ready(&mut b, d),
            }
            redundancy(&mut b, service.spec.replicas, &d.zones);
            objectives_met(&mut b, d);
            b.set(FAILURE_DETECTION, d.detection.status, d.detection.reason, d.detection.message.clone());
            availability_met(&mut b, d);
            for (type_, status, reason, message) in d.volumes.as_ref().map(|v| v.conditions()).unwrap_or_default() {
                b.set(type_, status, reason, message);
            }
            if let Some(v) = &d.drill_policy {
                b.set(DRILLS_CURRENT, v.status, v.reason, v.message.clone());
            }
            ResilientServiceStatus {
                observed_generation: None,
                replicas: d.zones.iter().map(|z| z.desired_replicas).sum(),
                ready_replicas: d.zones.iter().map(|z| z.ready_replicas).sum(),
                primary_zone: d.placement.primary.clone(),
                zone_summary: Some(summary(&d.zones)),
                zones: d.zones.clone(),
                objectives: d.objectives.clone(),
                backup: d.backup.as_ref().map(crate::backup::status),
                data: d.data.statuses(),
                recoveries: d.recoveries.clone(),
                incidents: d.incidents.clone(),
                // The shell records the drills that ended (they are objects of their own, not part of the plan).
                drills: previous.drills.clone(),
                availability: match &d.availability {
                    Some(Availability::Counted(a)) => Some((**a).clone()),
                    // An unusable target keeps what was counted, untouched, until it is fixed.
                    Some(Availability::UnknownTimeZone(_)) => previous.availability.clone(),
                    Some(Availability::NotYetUp) | None => None,
                },
                // Written on Karmada's control plane only, where no zone is planned.
                site: None,
                handover: d.volumes.as_ref().and_then(|v| v.handover.clone()),
                conditions: vec![],
            }
        }
    };
    status.observed_generation = service.metadata.generation;
    status.conditions = b.out;
    status
}

/// A planned move off this site: nothing runs here on purpose, until the next site has the last copy.
fn handing_over(b: &mut Builder<'_>, h: &crate::api::SiteHandover) {
    let (reconciling, stalled) = match h.phase == crate::sites::handover::FAILED {
        true => ("False", "True"),
        false => ("True", "False"),
    };
    b.set(READY, "False", "HandingOver", h.message.clone());
    b.set(RECONCILING, reconciling, "HandingOver", h.message.clone());
    b.set(STALLED, stalled, "HandingOver", h.message.clone());
}

fn ready(b: &mut Builder<'_>, d: &Desired) {
    let lagging: Vec<String> = d
        .zones
        .iter()
        .filter(|z| z.eligible && z.role != "Draining" && z.ready_replicas < z.desired_replicas)
        .map(|z| format!("{} {}/{}", z.name, z.ready_replicas, z.desired_replicas))
        .collect();
    let draining: Vec<&str> = d.zones.iter().filter(|z| z.role == "Draining").map(|z| z.name.as_str()).collect();
    if let Progress::Stalled { zone, done, waiting } = &d.rollout {
        let message = format!(
            "zone {zone} did not finish rolling out its new template within its progress deadline; the rollout stops \
             there: {} on the new template, {} kept on the previous one",
            list(done),
            list(waiting)
        );
        b.set(READY, "False", "RolloutStalled", message.clone());
        b.set(RECONCILING, "False", "RolloutStalled", "waiting for the template or the zone to change");
        b.set(STALLED, "True", "RolloutStalled", message);
        return;
    }
    if lagging.is_empty() && draining.is_empty() {
        let ready: i32 = d.zones.iter().filter(|z| z.eligible).map(|z| z.ready_replicas).sum();
        b.set(READY, "True", "AllZonesReady", format!("{ready} replicas Ready in {}", names(&d.zones, |z| z.eligible)));
        // Ready throughout a zone-by-zone rollout (each zone surges before it drops an old pod), but not done.
        match &d.rollout {
            Progress::Rolling { rolling, done, waiting } => b.set(
                RECONCILING,
                "True",
                "RollingOutZoneByZone",
                format!(
                    "rolling out zone by zone: {} rolling, {} done, {} waiting on the previous template",
                    list(rolling),
                    list(done),
                    list(waiting)
                ),
            ),
            _ => b.set(RECONCILING, "False", "AllZonesReady", "placement is rolled out"),
        }
    } else {
        // A service that has never been Ready is being created: its first rollout is progress as planned.
        let creating = b.previous.iter().find(|c| c.type_ == READY).is_none_or(|c| c.reason == CREATING);
        let (reason, message) = if lagging.is_empty() {
            ("Draining", format!("draining zones no longer used: {}", draining.join(", ")))
        } else if creating {
            (CREATING, format!("creating: waiting for Ready replicas: {}", lagging.join(", ")))
        } else {
            ("RollingOut", format!("waiting for Ready replicas: {}", lagging.join(", ")))
        };
        b.set(READY, "False", reason, message.clone());
        b.set(RECONCILING, "True", reason, message);
    }
    b.set(STALLED, "False", "Reconciled", "spec, class and cluster are usable");
}

/// Measured, not assumed: the Ready replicas that would be left after losing the zone that holds the most.
fn redundancy(b: &mut Builder<'_>, replicas: i32, zones: &[ZoneStatus]) {
    let ready: Vec<&ZoneStatus> = zones.iter().filter(|z| z.eligible && z.ready_replicas > 0).collect();
    let total: i32 = ready.iter().map(|z| z.ready_replicas).sum();
    let worst = ready.iter().max_by_key(|z| z.ready_replicas);
    match worst {
        Some(w) if ready.len() >= 2 && total - w.ready_replicas >= replicas => b.set(
            ZONE_REDUNDANT,
            "True",
            "SurvivesZoneLoss",
            format!(
                "{total} Ready in {} zones; losing {} ({} Ready) leaves {} ≥ {replicas}",
                ready.len(),
                w.name,
                w.ready_replicas,
                total - w.ready_replicas
            ),
        ),
        Some(w) if ready.len() >= 2 => b.set(
            ZONE_REDUNDANT,
            "False",
            "InsufficientSpare",
            format!(
                "{total} Ready in {} zones; losing {} ({} Ready) would leave {} < {replicas}",
                ready.len(),
                w.name,
                w.ready_replicas,
                total - w.ready_replicas
            ),
        ),
        _ => b.set(
            ZONE_REDUNDANT,
            "False",
            "SingleZone",
            format!("Ready replicas run in {} zone(s); losing one leaves nothing in another zone", ready.len()),
        ),
    }
}

fn objectives_met(b: &mut Builder<'_>, d: &Desired) {
    let failed: Vec<&str> = d.objectives.iter().filter(|o| o.status == "False").map(|o| o.message.as_str()).collect();
    let unknown: Vec<&str> =
        d.objectives.iter().filter(|o| o.status == "Unknown").map(|o| o.message.as_str()).collect();
    if let Some(shortfall) = &d.zone_shortfall {
        let mut all = vec![shortfall.as_str()];
        all.extend(failed);
        b.set(OBJECTIVES_MET, "False", "TooFewZones", all.join("; "));
    } else if !failed.is_empty() {
        b.set(OBJECTIVES_MET, "False", "ObjectivesNotFeasible", failed.join("; "));
    } else if !unknown.is_empty() {
        b.set(OBJECTIVES_MET, "Unknown", "ObjectivesNotVerified", unknown.join("; "));
    } else if d.objectives.is_empty() {
        b.set(OBJECTIVES_MET, "True", "NoObjectives", "the class declares no objectives");
    } else {
        b.set(
            OBJECTIVES_MET,
            "True",
            "ObjectivesFeasible",
            format!("all {} objectives are feasible", d.objectives.len()),
        );
    }
}

fn list(zones: &[String]) -> String {
    if zones.is_empty() { "none".into() } else { zones.join(", ") }
}

/// Whether the month's availability keeps the class's target, as of the last transition.
fn availability_met(b: &mut Builder<'_>, d: &Desired) {
    let Some(a) = &d.availability else { return };
    let a = match a {
        Availability::UnknownTimeZone(message) => {
            return b.set(AVAILABILITY_MET, "Unknown", "UnknownTimeZone", message.clone());
        }
        Availability::NotYetUp => {
            return b.set(
                AVAILABILITY_MET,
                "Unknown",
                "NotYetUp",
                "availability is counted from the first time the service runs its declared replicas Ready",
            );
        }
        Availability::Counted(a) => a,
    };
    let target = a.target.clone().unwrap_or_default();
    let so_far = a.current.availability.clone().unwrap_or_else(|| "100.000".into());
    let budget = a.current.error_budget_remaining_seconds.unwrap_or(0);
    if !a.claimable {
        return b.set(
            AVAILABILITY_MET,
            "Unknown",
            "NotClaimable",
            format!(
                "the {target}% target is claimable only while Ready in enough zones; {so_far}% so far in {}",
                a.current.month
            ),
        );
    }
    let met = budget >= 0 && so_far.parse::<f64>().unwrap_or(0.0) >= target.parse::<f64>().unwrap_or(100.0);
    let message = format!(
        "{so_far}% in {} as of {} (target {target}%), {}s down, {}s degraded, {}s not observed; error budget left {budget}s",
        a.current.month, a.since.0, a.current.down_seconds, a.current.degraded_seconds, a.current.unobserved_seconds
    );
    if met {
        b.set(AVAILABILITY_MET, "True", "WithinTarget", message);
    } else if budget < 0 {
        b.set(AVAILABILITY_MET, "False", "ErrorBudgetExhausted", message);
    } else {
        b.set(AVAILABILITY_MET, "False", "BelowTarget", message);
    }
}

fn names(zones: &[ZoneStatus], keep: impl Fn(&ZoneStatus) -> bool) -> String {
    let n: Vec<&str> = zones.iter().filter(|z| keep(z)).map(|z| z.name.as_str()).collect();
    format!("{} zone(s) ({})", n.len(), n.join(", "))
}

/// `a=3/3 b=3/3 c=0/3!`: Ready/desired per zone, `!` where the zone is not eligible.
pub fn summary(zones: &[ZoneStatus]) -> String {
    let parts: Vec<String> = zones
        .iter()
        .map(|z| format!("{}={}/{}{}", z.name, z.ready_replicas, z.desired_replicas, if z.eligible { "" } else { "!" }))
        .collect();
    parts.join(" ")
}

/// How long, at most, a status that only moved its progress waits to be written while its service is created.
pub const CREATION_COALESCE: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);

/// Until when `next` may wait unwritten: while the service is being created (Ready `Creating` before and after),
/// a status whose conditions keep their status and reason, and that only moved its progress (Ready counts, zone
/// summary, messages, and `ZoneRedundant`, which a new service reaches zone by zone), waits — at most [`CREATION_COALESCE`] from the creation's start — so that a new service's
/// status is written when it is first observed and when it is Ready, not once per zone becoming Ready. `None`: write
/// now if it changed.
pub fn progress_can_wait(service: &ResilientService, next: &ResilientServiceStatus) -> Option<jiff::Timestamp> {
    let prev = service.status.as_ref()?;
    fn creating(s: &ResilientServiceStatus) -> Option<&Condition> {
        s.conditions.iter().find(|c| c.type_ == READY).filter(|c| c.reason == CREATING)
    }
    let (since, _) = (creating(prev)?.last_transition_time.0, creating(next)?);
    let progress_aside = |s: &ResilientServiceStatus| {
        let mut s = s.clone();
        s.ready_replicas = 0;
        s.zone_summary = None;
        s.zones.iter_mut().for_each(|z| z.ready_replicas = 0);
        s.conditions.retain(|c| c.type_ != ZONE_REDUNDANT);
        s.conditions.iter_mut().for_each(|c| c.message.clear());
        s
    };
    (progress_aside(prev) == progress_aside(next)).then(|| since + CREATION_COALESCE)
}

/// Whether writing `next` would change what is stored. Timestamps of unchanged conditions are carried over
/// by [`compute`], so equality here means a write would be a no-op.
pub fn changed(service: &ResilientService, next: &ResilientServiceStatus) -> bool {
    service.status.as_ref() != Some(next)
}

/// A condition that flipped, worth an Event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub warning: bool,
    pub reason: String,
    pub message: String,
}

/// Why an objective cannot be judged that the user must fix: a Warning when it starts.
const UNVERIFIABLE: [&str; 3] = ["DataSourceNotFound", "DataLayerNotInstalled", "DestinationZoneUnknown"];

/// The condition flips (and failovers) between two statuses that deserve an Event. Reconciling is left out:
/// it flips on every rollout and Ready already tells the story.
pub fn transitions(service: &ResilientService, next: &ResilientServiceStatus) -> Vec<Transition> {
    let prev = service.status.clone().unwrap_or_default();
    let mut out = Vec::new();
    // The service has been Ready once: what turns True from False after that is a recovery.
    let created = prev.conditions.iter().find(|c| c.type_ == READY).is_some_and(|c| c.reason != CREATING);
    for c in &next.conditions {
        // A new service reaches redundancy zone by zone: measured in status, news only once it has been Ready.
        if c.type_ == RECONCILING || c.status == "Unknown" || (c.type_ == ZONE_REDUNDANT && !created) {
            continue;
        }
        let before = prev.conditions.iter().find(|p| p.type_ == c.type_);
        if before.is_some_and(|p| p.status == c.status && p.reason == c.reason) {
            continue;
        }
        let bad = match c.type_.as_str() {
            STALLED | DATA_DIVERGED => c.status == "True",
            // Rolling out or draining is progress, not a fault.
            READY => c.status == "False" && !matches!(c.reason.as_str(), "RollingOut" | "Draining"),
            _ => c.status == "False",
        };
        // On a first visit nothing can be Ready yet: only a stalled spec or an unkeepable promise is news.
        let news_on_first_visit = (c.type_ == STALLED && c.status == "True") || (c.type_ == OBJECTIVES_MET && bad);
        if before.is_none() && !news_on_first_visit {
            continue;
        }
        // Progress, and a verdict recorded for the first time, are status, not news: a Normal Event says that the
        // service is Ready (the one a new service gets), or that a condition recovered after it first was.
        let recovered = created && before.is_some_and(|p| p.status == "False");
        if !bad && (c.status != "True" || (c.type_ != READY && !recovered)) {
            continue;
        }
        out.push(Transition { warning: bad, reason: c.reason.clone(), message: format!("{}: {}", c.type_, c.message) });
    }
    // An objective that turns False is news in its own words (`LocationInProtectedZone`, `NewestCopyTooOld`…), and
    // so is one that cannot be judged because of what the spec names (a data source that does not exist).
    let news = |o: &&crate::api::ObjectiveStatus| {
        o.status == "False" || (o.status == "Unknown" && UNVERIFIABLE.contains(&o.reason.as_str()))
    };
    for o in next.objectives.iter().filter(news) {
        let same = |p: &&crate::api::ObjectiveStatus| p.scope == o.scope && p.objective == o.objective;
        if prev.objectives.iter().find(same).is_some_and(|p| p.status == o.status && p.reason == o.reason) {
            continue;
        }
        out.push(Transition { warning: true, reason: o.reason.clone(), message: o.message.clone() });
    }
    if let (Some(old), Some(new)) = (&prev.primary_zone, &next.primary_zone)
        && old != new
    {
        out.push(Transition {
            warning: true,
            reason: "PrimaryZoneChanged".into(),
            message: format!("primary zone moved from {old} to {new} for {}", service.name_any()),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A service being created since 10:00:00, with `ready` of its 6 replicas Ready.
    fn creating(ready: i32, zone_redundant: &str) -> ResilientService {
        serde_json::from_value(json!({
            "apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService",
            "metadata": {"name": "s", "namespace": "n", "generation": 1},
            "spec": {"className": "c", "replicas": 6, "template": {"spec": {"containers": [{"name": "a"}]}}},
            "status": {"replicas": 6, "readyReplicas": ready, "zoneSummary": format!("a={ready}/6"),
                "conditions": [
                    {"type": "Ready", "status": "False", "reason": "Creating", "message": format!("creating: a {ready}/6"),
                     "lastTransitionTime": "2026-11-30T10:00:00Z"},
                    {"type": "ZoneRedundant", "status": zone_redundant, "reason": "r", "message": "",
                     "lastTransitionTime": "2026-11-30T10:00:00Z"},
                    {"type": "ObjectivesMet", "status": "True", "reason": "ObjectivesFeasible", "message": "",
                     "lastTransitionTime": "2026-11-30T10:00:00Z"}]}
        }))
        .unwrap()
    }

    #[test]
    fn a_new_services_progress_waits_a_minute_at_most_and_a_verdict_never_waits() {
        let prev = creating(0, "False");
        let next = creating(4, "True").status.unwrap();
        let until = progress_can_wait(&prev, &next);
        assert_eq!(until, Some("2026-11-30T10:01:00Z".parse().unwrap()), "counts and redundancy are progress");
        let mut flipped = next.clone();
        flipped.conditions[2].status = "False".into();
        assert_eq!(progress_can_wait(&prev, &flipped), None, "a verdict that turns is written at once");
        let mut ready = next.clone();
        ready.conditions[0] =
            Condition { status: "True".into(), reason: "AllZonesReady".into(), ..ready.conditions[0].clone() };
        assert_eq!(progress_can_wait(&prev, &ready), None, "Ready is never stale");
        let mut settled = prev.clone();
        settled.status.as_mut().unwrap().conditions[0].reason = "RollingOut".into();
        assert_eq!(progress_can_wait(&settled, &next), None, "a service that was Ready writes its progress");
    }

    #[test]
    fn while_created_only_ready_is_news_and_after_that_recoveries_are() {
        let mut next = creating(6, "True").status.unwrap();
        next.conditions[0] =
            Condition { status: "True".into(), reason: "AllZonesReady".into(), ..next.conditions[0].clone() };
        let reasons: Vec<String> = transitions(&creating(3, "False"), &next).into_iter().map(|t| t.reason).collect();
        assert_eq!(reasons, ["AllZonesReady"]);
        let mut was_ready = creating(3, "False");
        was_ready.status.as_mut().unwrap().conditions[0].reason = "RollingOut".into();
        let reasons: Vec<String> = transitions(&was_ready, &next).into_iter().map(|t| t.reason).collect();
        assert_eq!(reasons, ["AllZonesReady", "r"], "redundancy back after a loss is a recovery");
    }
}
