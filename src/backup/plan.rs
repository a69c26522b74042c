//! The backup stage's plan for one service: its tiers and the CronJobs they become, the copies' measured
//! duration and worst gap, where copies are stored (refused inside a zone the service runs in, or outside its
//! residency), what retention keeps, and the `status.backup` block.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

use super::{
    retention,
    schedule::{self, Gap},
    tiers::{Run, Tier, runs, tiers},
};
use crate::{
    api::{BackupLocation, BackupPolicy, Objective, RecoveryPoint, Residency, ServiceBackup, Span},
    verdict::{Problem, problem},
};

/// How long a copy is taken to last until continuo has measured some.
pub const DEFAULT_COPY_DURATION: Span = Span::from_secs(30 * 60);
/// How many recent copies the measured duration is taken from.
const MEASURED_COPIES: usize = 10;

/// What the backup stage observes.
pub struct Observed<'a> {
    /// The BackupLocation the service names, if it exists.
    pub location: Option<&'a BackupLocation>,
    /// This service's recovery points.
    pub points: &'a [RecoveryPoint],
    pub now: Timestamp,
}

/// What the backup stage decided.
#[derive(Clone, Debug, Default)]
pub struct BackupPlan {
    pub time_zone: String,
    pub tiers: Vec<Tier>,
    /// One CronJob each; tiers that run at the same time share one, so a time is copied once.
    pub runs: Vec<Run>,
    /// The worst time between two copies over the coming year, in the time zone.
    pub worst_gap: Option<Gap>,
    /// How long a copy takes: measured over recent copies, else the declared expectation.
    pub copy_duration: Span,
    /// Whether that duration was measured.
    pub measured: bool,
    /// The location's region and zone, once it passed the off-zone and residency checks.
    pub stored_in: Option<(String, Option<String>)>,
    /// The newest good copy: when its data was captured.
    pub newest: Option<Timestamp>,
    pub retention: retention::Retention,
    /// Why copies cannot run (schedule, time zone, location); existing CronJobs are then left as they are.
    pub problem: Option<Problem>,
    /// Per tier, its next run after now.
    pub next_runs: BTreeMap<String, Timestamp>,
    /// Where the agent may run (eligible zones), and under residency in which regions.
    pub agent_zones: Vec<String>,
    pub agent_regions: Option<Vec<String>>,
}

/// The inputs of the backup stage.
pub struct Inputs<'a> {
    pub policy: Option<&'a BackupPolicy>,
    pub backup: &'a ServiceBackup,
    pub objectives: &'a [Objective],
    pub residency: Option<&'a Residency>,
    /// The zones the service runs in (or is pinned to): a copy stored in one of them does not survive its loss.
    pub zones: &'a [String],
    pub observed: Observed<'a>,
}

/// Plans the service's backups. Never fails the service's plan: a problem is reported in the RPO verdicts and a
/// condition, and leaves existing CronJobs and every copy as they are.
pub fn plan(i: &Inputs<'_>) -> BackupPlan {
    let time_zone = i.policy.map_or_else(|| "UTC".to_string(), |p| p.time_zone.clone());
    let (copy_duration, measured) = copy_duration(i.observed.points, i.backup.expected_duration);
    let available = available(i.observed.points);
    let newest = available.iter().map(|(at, _)| *at).max();
    let mut out = BackupPlan {
        time_zone: time_zone.clone(),
        tiers: Vec::new(),
        runs: Vec::new(),
        worst_gap: None,
        copy_duration,
        measured,
        stored_in: None,
        newest,
        retention: retention::Retention::default(),
        problem: None,
        next_runs: BTreeMap::new(),
        agent_zones: Vec::new(),
        agent_regions: None,
    };
    let tz = match schedule::time_zone(&time_zone) {
        Ok(tz) => tz,
        Err(e) => {
            out.problem = Some(problem("UnknownTimeZone", format!("backup.timeZone: {e}")));
            return out;
        }
    };
    match tiers(i.policy, i.objectives, copy_duration, &time_zone, i.observed.now) {
        Ok(t) => out.tiers = t,
        Err(p) => {
            out.problem = Some(p);
            return out;
        }
    }
    match runs(&out.tiers) {
        Ok(r) => out.runs = r,
        Err(p) => {
            out.problem = Some(p);
            return out;
        }
    }
    for t in &out.tiers {
        if let Some(next) = schedule::Schedule::parse(&t.schedule).ok().and_then(|s| s.next_after(i.observed.now, &tz))
        {
            out.next_runs.insert(t.name.clone(), next);
        }
    }
    let exprs: Vec<&str> = out.runs.iter().map(|r| r.schedule.as_str()).collect();
    out.worst_gap = schedule::worst_gap(&exprs, &time_zone, i.observed.now).ok().flatten();
    let points: Vec<retention::Point> = available
        .iter()
        .map(|(at, p)| retention::Point {
            id: kube::ResourceExt::name_any(*p),
            captured: *at,
            tiers: p.spec.tiers.clone(),
            on_demand: p.spec.on_demand,
        })
        .collect();
    let keep: Vec<(String, retention::Keep)> = out.tiers.iter().map(|t| (t.name.clone(), t.keep.clone())).collect();
    out.retention = retention::retain(&points, &keep, &tz, i.observed.now);
    match location(i) {
        Ok(stored) => out.stored_in = Some(stored),
        Err(p) => out.problem = Some(p),
    }
    out
}

/// The copies that completed, with when their data was captured.
fn available(points: &[RecoveryPoint]) -> Vec<(Timestamp, &RecoveryPoint)> {
    points.iter().filter_map(|p| Some((p.available_since()?, p))).collect()
}

/// The longest of the last copies' durations, or the declared expectation when none was measured.
fn copy_duration(points: &[RecoveryPoint], expected: Option<Span>) -> (Span, bool) {
    let mut done: Vec<(Timestamp, SignedDuration)> = points
        .iter()
        .filter_map(|p| {
            let s = p.status.as_ref()?;
            let (from, to) = (s.captured_at.as_ref()?.0, s.completed_at.as_ref()?.0);
            Some((to, to.duration_since(from)))
        })
        .collect();
    done.sort_by_key(|(to, _)| std::cmp::Reverse(*to));
    let longest = done.iter().take(MEASURED_COPIES).map(|(_, d)| *d).max();
    match longest {
        Some(d) => (Span::from_secs(d.as_secs().max(0) as u64), true),
        None => (expected.unwrap_or(DEFAULT_COPY_DURATION), false),
    }
}

/// Where copies go: the location must exist, lie inside the class's residency, and not in a zone the service
/// runs in (a copy there is lost with the zone it protects).
fn location(i: &Inputs<'_>) -> Result<(String, Option<String>), Problem> {
    let name = &i.backup.location;
    let Some(loc) = i.observed.location else {
        return Err(problem("BackupLocationNotFound", format!("BackupLocation {name:?} does not exist")));
    };
    let (region, zone) = (&loc.spec.region, &loc.spec.zone);
    if let Some(r) = i.residency.filter(|r| !r.regions.contains(region)) {
        return Err(problem(
            "LocationOutsideResidency",
            format!(
                "copies would be stored in region {region} (BackupLocation {name}), outside the class's residency ({})",
                r.regions.join(", ")
            ),
        ));
    }
    if let Some(z) = zone.as_ref().filter(|z| i.zones.contains(z)) {
        return Err(problem(
            "LocationInProtectedZone",
            format!("copies are stored in {z} (BackupLocation {name}), which this service runs in"),
        ));
    }
    Ok((region.clone(), zone.clone()))
}

impl BackupPlan {
    /// When the verdicts change by the clock alone, even if nothing is watched changing: the newest copy ages past
    /// the tightest RPO, or a run is due (after which a copy should land, or the RPO clock keeps running).
    pub fn next_review(&self, objectives: &[Objective]) -> Option<Timestamp> {
        let rpo = objectives.iter().filter_map(|o| o.rpo).filter(|r| r.as_secs() > 0).min();
        let stale = self
            .newest
            .zip(rpo)
            .and_then(|(n, r)| n.checked_add(SignedDuration::from_secs(r.as_secs() as i64 + 1)).ok());
        stale.into_iter().chain(self.next_runs.values().copied()).min()
    }
}

/// The `status.backup` block: the newest copy, the points held, and per tier its next run and points kept.
pub fn status(plan: &BackupPlan) -> crate::api::BackupStatus {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    let tiers = plan
        .tiers
        .iter()
        .map(|t| crate::api::TierStatus {
            name: t.name.clone(),
            schedule: t.schedule.clone(),
            next_run: plan.next_runs.get(&t.name).copied().map(Time),
            points: plan
                .retention
                .kept
                .values()
                .filter(|r| r.contains(&retention::Reason::Tier(t.name.clone())))
                .count() as i32,
        })
        .collect();
    crate::api::BackupStatus { newest_copy: plan.newest.map(Time), points: plan.retention.kept.len() as i32, tiers }
}

/// What retention will hold once copies have run for long enough: the number of restore points and the age of
/// the oldest, found by running the schedules over the past two years (40 days for sub-hourly ones) and
/// applying the tiers' rules to the copies that would have made.
pub fn steady_catalog(plan: &BackupPlan, now: Timestamp) -> Option<(usize, SignedDuration)> {
    let tz = schedule::time_zone(&plan.time_zone).ok()?;
    let parsed: Vec<(schedule::Schedule, &Run)> =
        plan.runs.iter().filter_map(|r| Some((schedule::Schedule::parse(&r.schedule).ok()?, r))).collect();
    let frequent = parsed.iter().any(|(s, _)| s.runs_per_day() > 48);
    let span = SignedDuration::from_hours(24 * if frequent { 40 } else { 800 });
    let from = now.checked_sub(span).ok()?;
    let mut points = Vec::new();
    for (s, run) in &parsed {
        for at in schedule::runs(std::slice::from_ref(s), &tz, from, span) {
            points.push(retention::Point {
                id: format!("{}-{}", points.len(), at.as_second()),
                captured: at,
                tiers: run.tiers.clone(),
                on_demand: false,
            });
        }
    }
    let keep: Vec<(String, retention::Keep)> = plan.tiers.iter().map(|t| (t.name.clone(), t.keep.clone())).collect();
    let r = retention::retain(&points, &keep, &tz, now);
    let oldest = points.iter().filter(|p| r.kept.contains_key(&p.id)).map(|p| p.captured).min()?;
    Some((r.kept.len(), now.duration_since(oldest)))
}
