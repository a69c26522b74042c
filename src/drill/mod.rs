//! Continuity drills, scored against the promise: the pure state machine of a ZoneLoss drill (start guards, the
//! measurement, abort rules, the verdict with its numbers) and the score of a Restore drill. Everything a drill
//! knows is in its [`Record`] (the drill's status), so an operator restarting mid-drill resumes it where it was:
//! nothing lives only in memory.
//!
//! A ZoneLoss drill treats one zone as lost for one service: the plan withholds it exactly as failure detection
//! would ([`Record::drilled_zone`]) and scales its workload to 0, so the same path as a real loss runs. The drill
//! then measures the time until the declared capacity is Ready outside the zone, and the lowest Ready capacity on
//! the way. It never starts during a real incident or while a zone is withheld, and it aborts (giving the zone
//! back) when capacity stays below the declared replicas for longer than the RTO, or at its timeout.

use jiff::Timestamp;

use crate::api::{ContinuityDrillStatus, DrillEvent, Span, ZoneStatus};

/// Seconds as the verdicts write durations (`41s`, `2m30s`, `15m`).
fn span(seconds: i64) -> String {
    Span::from_secs(seconds.max(0) as u64).to_string()
}

pub mod policy;
pub mod restore;
pub mod schedule;
#[cfg(test)]
mod tests;

/// What a drill exercises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    ZoneLoss,
    Restore,
}

/// Where a drill is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Phase {
    #[default]
    Pending,
    Running,
    Passed,
    Failed,
    Aborted,
}

impl Phase {
    /// Its name as a drill's status spells it (also a metric label value).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Passed => "Passed",
            Phase::Failed => "Failed",
            Phase::Aborted => "Aborted",
        }
    }

    pub fn ended(self) -> bool {
        matches!(self, Phase::Passed | Phase::Failed | Phase::Aborted)
    }
}

/// A drill's state and figures: what its status holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    pub phase: Phase,
    /// The zone taken out (ZoneLoss).
    pub zone: Option<String>,
    /// The site brought up at (SiteRestore).
    pub site: Option<String>,
    pub started: Option<Timestamp>,
    pub ended: Option<Timestamp>,
    /// The lowest Ready capacity outside the zone seen while running.
    pub lowest_ready: Option<i32>,
    /// Since when capacity outside the zone has been below the declared replicas (cleared once back).
    pub below_since: Option<Timestamp>,
    /// Seconds from the start until the declared capacity was Ready outside the zone: the RTO achieved.
    pub rto_seconds: Option<i64>,
    /// A scheduled drill: when it runs next.
    pub next_run: Option<Timestamp>,
    /// Restore: the copy restored, and when its data was captured.
    pub point: Option<String>,
    pub captured: Option<Timestamp>,
    /// What happened when, in order.
    pub timeline: Vec<(Timestamp, String)>,
    /// CamelCase, and a sentence with the numbers.
    pub reason: String,
    pub message: String,
}

impl Record {
    /// The zone a running ZoneLoss drill withholds from its service's plan.
    pub fn drilled_zone(&self) -> Option<&str> {
        (self.phase == Phase::Running).then_some(self.zone.as_deref()).flatten()
    }

    pub(crate) fn note(&mut self, at: Timestamp, what: String) {
        self.timeline.push((at, what));
    }

    /// Fails a drill that cannot run, with the reason.
    pub fn fail(&mut self, at: Timestamp, reason: &str, message: String) {
        self.end(Phase::Failed, at, reason, message);
    }

    pub(crate) fn end(&mut self, phase: Phase, at: Timestamp, reason: &str, message: String) {
        self.phase = phase;
        self.ended = Some(at);
        self.reason = reason.into();
        self.note(at, format!("{}: {message}", phase.as_str()));
        self.message = message;
    }
}

impl Record {
    /// A drill's record from its status (nothing yet: pending).
    pub fn from_status(s: Option<&ContinuityDrillStatus>) -> Record {
        let Some(s) = s else { return Record::default() };
        let phase = match s.phase.as_deref() {
            Some("Running") => Phase::Running,
            Some("Passed") => Phase::Passed,
            Some("Failed") => Phase::Failed,
            Some("Aborted") => Phase::Aborted,
            _ => Phase::Pending,
        };
        Record {
            phase,
            zone: s.zone.clone(),
            site: s.site.clone(),
            started: s.started_at.as_ref().map(|t| t.0),
            ended: s.ended_at.as_ref().map(|t| t.0),
            lowest_ready: s.lowest_ready,
            below_since: s.below_since.as_ref().map(|t| t.0),
            rto_seconds: s.rto_seconds,
            next_run: s.next_run.as_ref().map(|t| t.0),
            point: s.point.clone(),
            captured: s.captured_at.as_ref().map(|t| t.0),
            timeline: s.timeline.iter().map(|e| (e.at.0, e.event.clone())).collect(),
            reason: s.reason.clone().unwrap_or_default(),
            message: s.message.clone().unwrap_or_default(),
        }
    }

    /// The status that records this drill.
    pub fn to_status(&self) -> ContinuityDrillStatus {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
        let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
        ContinuityDrillStatus {
            phase: (self.phase != Phase::Pending).then(|| self.phase.as_str().to_string()),
            zone: self.zone.clone(),
            site: self.site.clone(),
            started_at: self.started.map(Time),
            ended_at: self.ended.map(Time),
            rto_seconds: self.rto_seconds,
            lowest_ready: self.lowest_ready,
            below_since: self.below_since.map(Time),
            next_run: self.next_run.map(Time),
            point: self.point.clone(),
            captured_at: self.captured.map(Time),
            reason: text(&self.reason),
            message: text(&self.message),
            timeline: self
                .timeline
                .iter()
                .map(|(at, event)| DrillEvent { at: Time(*at), event: event.clone() })
                .collect(),
        }
    }
}

/// The drilled service as observed: its declared capacity, its zones as its status records them, and its promise.
#[derive(Clone)]
pub struct Service<'a> {
    pub name: &'a str,
    pub declared: i32,
    pub zones: &'a [ZoneStatus],
    /// WarmStandby: the zone that serves.
    pub primary: Option<&'a str>,
    /// A real incident is open.
    pub incident_open: bool,
    /// The class's Zone RTO, in seconds.
    pub zone_rto: Option<i64>,
    /// It keeps data on volumes of its own (`volumeClaimTemplates`).
    pub stateful: bool,
}

impl Service<'_> {
    /// Ready replicas outside `zone`, in zones that are eligible.
    fn ready_outside(&self, zone: &str) -> i32 {
        self.zones.iter().filter(|z| z.eligible && z.name != zone).map(|z| z.ready_replicas).sum()
    }

    /// The zone whose loss costs the service most: the WarmStandby primary, else the zone running the most.
    pub fn costliest_zone(&self) -> Option<&str> {
        self.primary.or_else(|| {
            self.zones
                .iter()
                .filter(|z| z.eligible)
                .max_by_key(|z| (z.desired_replicas, std::cmp::Reverse(z.name.as_str())))
                .map(|z| z.name.as_str())
        })
    }
}

/// What else is happening in the cluster that a drill must not overlap.
pub struct Cluster<'a> {
    /// Zones failure detection finds lost or recovering, and zones drained.
    pub withheld: &'a [String],
    /// Another drill of the same service is running.
    pub other_drill_running: bool,
}

/// Why a drill cannot start now, if it cannot: the reason and the sentence.
fn refusal(zone: Option<&str>, service: Option<&Service<'_>>, cluster: &Cluster<'_>) -> Option<(&'static str, String)> {
    let Some(s) = service else { return Some(("ServiceNotFound", "the service does not exist".into())) };
    if cluster.other_drill_running {
        return Some(("DrillRunning", format!("another drill of {} is running", s.name)));
    }
    if s.stateful {
        return Some((
            "StatefulNotDrilled",
            format!(
                "{} keeps data on volumes of its own: taking a zone out would recover it from its copy and lose the \
                 writes since, so continuo does not drill it (yet)",
                s.name
            ),
        ));
    }
    if s.incident_open {
        return Some((
            "IncidentOpen",
            format!("{} has an open incident: a drill waits for real failures to end", s.name),
        ));
    }
    if let Some(w) = cluster.withheld.first() {
        return Some((
            "ZoneWithheld",
            format!("zone {w} is lost, recovering or drained: a drill would take out a second"),
        ));
    }
    match zone {
        None => Some(("NoZone", format!("{} runs in no eligible zone", s.name))),
        Some(z) if !s.zones.iter().any(|x| x.name == z && x.eligible) => {
            Some(("ZoneNotUsed", format!("{} does not run in an eligible zone {z}", s.name)))
        }
        Some(z) if s.zones.iter().filter(|x| x.eligible && x.name != z).count() == 0 => {
            Some(("NoOtherZone", format!("{} has no other eligible zone to recover in", s.name)))
        }
        _ => None,
    }
}

/// One step of a ZoneLoss drill at `now`: start it when it may, measure it while it runs, end it with a verdict.
/// `wanted` is the zone the drill names; by default the zone whose loss costs the service most.
pub fn zone_loss(
    record: &Record,
    wanted: Option<&str>,
    timeout_seconds: i64,
    service: Option<&Service<'_>>,
    cluster: &Cluster<'_>,
    now: Timestamp,
) -> Record {
    let mut r = record.clone();
    match r.phase {
        Phase::Pending => {
            let zone = wanted.or_else(|| service.and_then(Service::costliest_zone));
            if let Some((reason, message)) = refusal(zone, service, cluster) {
                r.end(Phase::Failed, now, reason, format!("not started: {message}; nothing was touched"));
                return r;
            }
            let zone = zone.unwrap_or_default().to_string();
            r.phase = Phase::Running;
            r.started = Some(now);
            r.note(now, format!("zone {zone} taken out for this service (treated as lost, scaled to 0)"));
            r.zone = Some(zone);
            r
        }
        Phase::Running => measure(r, timeout_seconds, service, now),
        _ => r,
    }
}

/// A running drill observed: back to capacity (Passed, or Failed past the RTO), or aborted.
fn measure(mut r: Record, timeout_seconds: i64, service: Option<&Service<'_>>, now: Timestamp) -> Record {
    let zone = r.zone.clone().unwrap_or_default();
    let started = r.started.unwrap_or(now);
    let elapsed = now.as_second() - started.as_second();
    let Some(s) = service else {
        r.end(Phase::Aborted, now, "ServiceNotFound", format!("the service went away; zone {zone} given back"));
        return r;
    };
    let ready = s.ready_outside(&zone);
    r.lowest_ready = Some(r.lowest_ready.map_or(ready, |l| l.min(ready)));
    let lowest = r.lowest_ready.unwrap_or(ready);
    let rto = s.zone_rto;
    let rto_text = rto.map_or("no Zone RTO declared".into(), |t| format!("RTO {}", span(t)));
    if ready >= s.declared {
        r.below_since = None;
        r.rto_seconds = Some(elapsed);
        let back = format!(
            "back to {ready} Ready outside {zone} {} after {zone} was taken out, {rto_text}; lowest Ready {lowest}",
            span(elapsed)
        );
        let within = rto.is_none_or(|t| elapsed <= t);
        let (phase, reason) = if within { (Phase::Passed, "WithinRTO") } else { (Phase::Failed, "RTOExceeded") };
        r.end(phase, now, reason, format!("{back}; zone {zone} given back"));
        return r;
    }
    let below_since = *r.below_since.get_or_insert(now);
    let below = now.as_second() - below_since.as_second();
    if let Some(t) = rto.filter(|t| below > *t) {
        let message = format!(
            "{ready} of {} Ready outside {zone} for {}, longer than the RTO {}; lowest Ready {lowest}; zone {zone} given back",
            s.declared,
            span(below),
            span(t)
        );
        r.end(Phase::Aborted, now, "BelowCapacityPastRTO", message);
    } else if elapsed >= timeout_seconds {
        let message = format!(
            "timeout {} reached with {ready} of {} Ready outside {zone}; lowest Ready {lowest}; zone {zone} given back",
            span(timeout_seconds),
            s.declared
        );
        r.end(Phase::Aborted, now, "Timeout", message);
    }
    r
}

/// What a Restore drill's agent reported, and the promise it is scored against.
pub struct RestoreOutcome {
    /// The restore ran to its end (the Job completed).
    pub completed: bool,
    /// The agent checked what it restored into the scratch target.
    pub verified: Option<bool>,
    pub detail: Option<String>,
    pub restore_seconds: i64,
    /// The restored copy's age when the drill started.
    pub copy_age_seconds: Option<i64>,
    pub zone_rto: Option<i64>,
    pub zone_rpo: Option<i64>,
}

/// The verdict of a Restore drill: passed only when the restore completed, was verified, fitted the RTO and the
/// copy was young enough for the RPO.
pub fn restore_verdict(o: &RestoreOutcome) -> (Phase, &'static str, String) {
    let h = span;
    let age = o.copy_age_seconds.map_or("of unknown age".into(), |a| format!("{} old", h(a)));
    let detail = o.detail.as_deref().map_or(String::new(), |d| format!(" ({d})"));
    let figures = format!(
        "restored a copy {age} into a scratch target in {}{detail}; RTO {}, RPO {}",
        h(o.restore_seconds),
        o.zone_rto.map_or("—".into(), h),
        o.zone_rpo.map_or("—".into(), h)
    );
    if !o.completed {
        return (Phase::Failed, "RestoreFailed", format!("the restore failed after {}", h(o.restore_seconds)));
    }
    if o.verified != Some(true) {
        return (Phase::Failed, "NotVerified", format!("{figures}; the agent did not verify it"));
    }
    if o.zone_rto.is_some_and(|t| o.restore_seconds > t) {
        return (Phase::Failed, "RTOExceeded", format!("{figures}: the restore alone takes longer than the RTO"));
    }
    if o.zone_rpo.zip(o.copy_age_seconds).is_some_and(|(rpo, age)| age > rpo) {
        return (Phase::Failed, "RPOExceeded", format!("{figures}: the newest good copy is older than the RPO"));
    }
    (Phase::Passed, "Verified", figures)
}

/// Whether a service that must pass a drill every `every_seconds` is overdue, given its last passed drill.
pub fn overdue(last_passed: Option<Timestamp>, every_seconds: i64, now: Timestamp) -> bool {
    last_passed.is_none_or(|t| now.as_second() - t.as_second() > every_seconds)
}
