//! Backups: when copies run (cron schedules in a time zone, their worst gaps), which recovery points each tier
//! keeps, where copies may be stored, and whether the copies keep each RPO — feasible by the schedule, met by the
//! age of the newest good copy, measured now.

pub mod catalog;
pub mod jobs;
pub mod restore;
pub mod retention;
pub mod schedule;

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};

use crate::{
    api::{
        BackupLocation, BackupPolicy, Keep as KeepSpec, Objective, RecoveryPoint, Residency, Scope, ServiceBackup, Span,
    },
    objectives::Verdict,
    plan::Problem,
};
pub use schedule::Gap;

/// The tier a class without tiers gets: its schedule derived from the tightest RPO.
pub const DERIVED_TIER: &str = "rpo";
/// How long a copy is taken to last until continuo has measured some.
pub const DEFAULT_COPY_DURATION: Span = Span::from_secs(30 * 60);
/// How many recent copies the measured duration is taken from.
const MEASURED_COPIES: usize = 10;

/// A tier as planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tier {
    pub name: String,
    pub schedule: String,
    pub keep: retention::Keep,
    /// Derived from the RPO rather than declared.
    pub derived: bool,
}

/// One CronJob: a schedule, and the tiers every copy it makes belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub schedule: String,
    pub tiers: Vec<String>,
}

/// What the backup stage observes.
pub struct Observed<'a> {
    /// The BackupLocation the service names, if it exists.
    pub location: Option<&'a BackupLocation>,
    /// This service's recovery points.
    pub points: &'a [RecoveryPoint],
    pub now: Timestamp,
}

/// What the backup stage decided.
#[derive(Clone, Debug)]
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

fn problem(reason: &'static str, message: impl Into<String>) -> Problem {
    Problem { reason, message: message.into() }
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
    points
        .iter()
        .filter_map(|p| {
            let s = p.status.as_ref()?;
            (s.phase.as_deref() == Some("Available")).then_some(())?;
            Some((s.captured_at.as_ref()?.0, p))
        })
        .collect()
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

fn keep_of(k: &KeepSpec) -> retention::Keep {
    retention::Keep {
        within: k.within.map(|w| SignedDuration::from_secs(w.as_secs() as i64)),
        last: k.last,
        daily: k.daily,
        weekly: k.weekly,
        monthly: k.monthly,
    }
}

/// The declared tiers, or one derived from the tightest RPO.
pub fn tiers(
    policy: Option<&BackupPolicy>,
    objectives: &[Objective],
    copy: Span,
    time_zone: &str,
    now: Timestamp,
) -> Result<Vec<Tier>, Problem> {
    if let Some(declared) = policy.filter(|p| !p.tiers.is_empty()) {
        let mut out = Vec::new();
        for t in &declared.tiers {
            schedule::Schedule::parse(&t.schedule)
                .map_err(|e| problem("InvalidSchedule", format!("backup tier {:?}: schedule {e}", t.name)))?;
            out.push(Tier {
                name: t.name.clone(),
                schedule: t.schedule.clone(),
                keep: keep_of(&t.keep),
                derived: false,
            });
        }
        return Ok(out);
    }
    let Some(rpo) = objectives.iter().filter_map(|o| o.rpo).filter(|r| r.as_secs() > 0).min() else {
        return Err(problem(
            "NoBackupSchedule",
            "the class declares no backup tiers and no RPO above 0 to derive a schedule from",
        ));
    };
    let schedule = derive_schedule(rpo, copy, time_zone, now).ok_or_else(|| {
        problem(
            "RPOTooTightForBackups",
            format!(
                "no copy schedule keeps RPO {rpo}: a copy takes {copy}, so even a copy every 5 minutes leaves more than \
                 {rpo} of data at risk — this RPO needs replication"
            ),
        )
    })?;
    let keep = policy
        .and_then(|p| p.keep.as_ref())
        .map_or(retention::Keep { daily: Some(7), ..retention::Keep::default() }, keep_of);
    Ok(vec![Tier { name: DERIVED_TIER.into(), schedule, keep, derived: true }])
}

/// The sparsest regular schedule whose worst gap (in `time_zone`, offset changes included) plus one copy's
/// duration fits `rpo`: once a day if that fits, else every 12, 8, 6, 4, 3, 2 or 1 hours, else every 30 down to
/// 5 minutes. Of the hours a cadence could start at, the one with the smallest worst gap is taken (in Europe the
/// spring-forward hour is avoided).
pub fn derive_schedule(rpo: Span, copy: Span, time_zone: &str, now: Timestamp) -> Option<String> {
    let budget = rpo.as_secs().checked_sub(copy.as_secs())?;
    let fits = |expr: &str| -> Option<u64> {
        let gap = schedule::worst_gap(&[expr], time_zone, now).ok()??;
        let secs = gap.length.as_secs().max(0) as u64;
        (secs <= budget).then_some(secs)
    };
    for every in [24u32, 12, 8, 6, 4, 3, 2, 1] {
        let best = (0..every.min(24))
            .map(|start| {
                let hours: Vec<String> = (start..24).step_by(every as usize).map(|h| h.to_string()).collect();
                format!("0 {} * * *", hours.join(","))
            })
            .filter_map(|expr| fits(&expr).map(|gap| (gap, expr)))
            .min_by_key(|(gap, _)| *gap);
        if let Some((_, expr)) = best {
            return Some(expr);
        }
    }
    [30u32, 20, 15, 10, 5].into_iter().map(|m| format!("*/{m} * * * *")).find(|e| fits(e).is_some())
}

/// Groups the tiers' runs into CronJobs so that a time two tiers share is copied once: tiers whose schedules
/// differ only in their hours are split by hour into one CronJob per set of tiers; other schedules get one each.
/// A run that is all of its tiers' times, written alike, keeps the schedule as the user wrote it.
pub fn runs(tiers: &[Tier]) -> Result<Vec<Run>, Problem> {
    let mut out = split_by_hour(tiers);
    for run in &mut out {
        let written: BTreeSet<&str> =
            tiers.iter().filter(|t| run.tiers.contains(&t.name)).map(|t| t.schedule.as_str()).collect();
        if let [only] = written.into_iter().collect::<Vec<_>>()[..]
            && same_times(only, &run.schedule)
        {
            run.schedule = only.to_string();
        }
    }
    Ok(out)
}

/// Whether two schedules name the same times field by field (descriptors expanded, hours compared as sets).
fn same_times(a: &str, b: &str) -> bool {
    let fields = |e: &str| schedule::expand_descriptor(e).split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let (fa, fb) = (fields(a), fields(b));
    fa.len() == 5
        && fb.len() == 5
        && (0..5).all(|i| if i == 1 { schedule::hours(&fa[1]) == schedule::hours(&fb[1]) } else { fa[i] == fb[i] })
}

fn split_by_hour(tiers: &[Tier]) -> Vec<Run> {
    // (minute, day of month, month, day of week) → hour → tiers.
    let mut groups: BTreeMap<[String; 4], BTreeMap<u32, BTreeSet<String>>> = BTreeMap::new();
    let mut whole: Vec<Run> = Vec::new();
    for t in tiers {
        let expanded = schedule::expand_descriptor(&t.schedule);
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let hours = fields.get(1).and_then(|h| schedule::hours(h));
        match (fields.as_slice(), hours) {
            ([minute, _, dom, month, dow], Some(hours)) => {
                let key = [minute.to_string(), dom.to_string(), month.to_string(), dow.to_string()];
                let by_hour = groups.entry(key).or_default();
                for h in hours {
                    by_hour.entry(h).or_default().insert(t.name.clone());
                }
            }
            _ => whole.push(Run { schedule: t.schedule.clone(), tiers: vec![t.name.clone()] }),
        }
    }
    let mut out = whole;
    for ([minute, dom, month, dow], by_hour) in groups {
        let mut by_tiers: BTreeMap<BTreeSet<String>, Vec<u32>> = BTreeMap::new();
        for (h, tiers) in by_hour {
            by_tiers.entry(tiers).or_default().push(h);
        }
        for (tiers, hours) in by_tiers {
            let hours: Vec<String> = hours.iter().map(u32::to_string).collect();
            out.push(Run {
                schedule: format!("{minute} {} {dom} {month} {dow}", hours.join(",")),
                tiers: tiers.into_iter().collect(),
            });
        }
    }
    out.sort_by(|a, b| a.tiers.cmp(&b.tiers).then_with(|| a.schedule.cmp(&b.schedule)));
    out
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

/// The RPO verdict of one scope: feasible by the schedule, met by the newest copy's age.
pub fn rpo_verdict(
    scope: Scope,
    rpo: Span,
    plan: Option<&BackupPlan>,
    now: Timestamp,
) -> (Verdict, &'static str, String) {
    if rpo.as_secs() == 0 {
        return (
            Verdict::Unknown,
            "NeedsReplication",
            format!(
                "{scope}: RPO 0s not verified — losing no data needs synchronous replication in the data layer, which \
                 backups cannot give; it is never claimed met"
            ),
        );
    }
    let Some(plan) = plan else {
        return (
            Verdict::Unknown,
            "BackupNotConfigured",
            format!(
                "{scope}: RPO {rpo} not verified — the service declares no spec.backup, so nothing copies its data"
            ),
        );
    };
    if let Some(p) = &plan.problem {
        return (Verdict::NotFeasible, p.reason, format!("{scope}: RPO {rpo} not met — {}", p.message));
    }
    let Some(gap) = &plan.worst_gap else {
        return (
            Verdict::NotFeasible,
            "ScheduleTooSparse",
            format!("{scope}: RPO {rpo} not feasible — the schedules run fewer than twice a year"),
        );
    };
    let gap_s = Span::from_secs(gap.length.as_secs().max(0) as u64);
    let exposure = Span::from_secs(gap_s.as_secs() + plan.copy_duration.as_secs());
    let duration = format!("{} copy {}", if plan.measured { "measured" } else { "expected" }, plan.copy_duration);
    if exposure > rpo {
        let when = gap.after.to_zoned(schedule::time_zone(&plan.time_zone).unwrap_or(jiff::tz::TimeZone::UTC));
        return (
            Verdict::NotFeasible,
            "ScheduleExceedsRPO",
            format!(
                "{scope}: RPO {rpo} not feasible — the worst gap between copies is {gap_s} (after the copy of {}) plus \
                 a {duration} = {exposure} > {rpo}",
                when.strftime("%Y-%m-%d %H:%M %Z")
            ),
        );
    }
    let stored = match &plan.stored_in {
        Some((region, Some(zone))) => format!("stored in {zone} (region {region})"),
        Some((region, None)) => format!("stored in region {region}"),
        None => "stored nowhere yet".into(),
    };
    let Some(newest) = plan.newest else {
        return (
            Verdict::Unknown,
            "AwaitingFirstCopy",
            format!(
                "{scope}: RPO {rpo} feasible (worst gap {gap_s} + {duration} = {exposure} ≤ {rpo}), awaiting the first \
                 copy"
            ),
        );
    };
    let age = Span::from_secs(now.duration_since(newest).as_secs().max(0) as u64);
    if age <= rpo {
        (Verdict::Feasible, "RPOMet", format!("{scope}: RPO {rpo} met — newest copy {} old, {stored}", rounded(age)))
    } else {
        (
            Verdict::NotFeasible,
            "NewestCopyTooOld",
            format!("{scope}: RPO {rpo} not met — newest copy {} old, {stored}", rounded(age)),
        )
    }
}

/// An age to the minute (to the second below a minute).
fn rounded(age: Span) -> Span {
    let s = age.as_secs();
    Span::from_secs(if s >= 60 { s - s % 60 } else { s })
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

/// When a copy of `point_tiers` captured at `captured` will expire, if only age rules keep it: the latest end of
/// its tiers' `within`; `None` when a tier keeps it by count (that depends on the copies still to come).
pub fn expiry(tiers: &[Tier], point_tiers: &[String], captured: Timestamp) -> Option<Timestamp> {
    let mine: Vec<&Tier> = tiers.iter().filter(|t| point_tiers.contains(&t.name)).collect();
    if mine.is_empty() || mine.iter().any(|t| t.keep.counted() > 0) {
        return None;
    }
    let longest = mine.iter().map(|t| t.keep.within).collect::<Option<Vec<_>>>()?.into_iter().max()?;
    captured.checked_add(longest).ok()
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn tier(name: &str, schedule: &str) -> Tier {
        Tier { name: name.into(), schedule: schedule.into(), keep: retention::Keep::default(), derived: false }
    }

    fn objectives(rpo: &str) -> Vec<Objective> {
        serde_json::from_value(json!([{"scope": "Zone", "rto": "1h", "rpo": rpo}])).unwrap()
    }

    fn policy(v: serde_json::Value) -> BackupPolicy {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn tiers_firing_together_share_one_cron_job() {
        let r = runs(&[tier("intraday", "0 2,7,16 * * *"), tier("archive", "0 2 * * *")]).unwrap();
        assert_eq!(
            r,
            [
                Run { schedule: "0 2 * * *".into(), tiers: vec!["archive".into(), "intraday".into()] },
                Run { schedule: "0 7,16 * * *".into(), tiers: vec!["intraday".into()] },
            ]
        );
        // Different minutes: nothing shared, one CronJob each.
        let r = runs(&[tier("a", "0 2 * * *"), tier("b", "30 2 * * *")]).unwrap();
        assert_eq!(r.len(), 2);
        // Descriptors are expanded first.
        let r = runs(&[tier("a", "@daily"), tier("b", "0 0,12 * * *")]).unwrap();
        assert_eq!(r[0], Run { schedule: "0 0 * * *".into(), tiers: vec!["a".into(), "b".into()] });
    }

    #[test]
    fn a_schedule_that_shares_no_run_stays_as_written() {
        for written in ["* * * * *", "*/5 * * * *", "0 */6 * * 1-5", "@daily", "30 2 * * *"] {
            let r = runs(&[tier("only", written)]).unwrap();
            assert_eq!(r, [Run { schedule: written.into(), tiers: vec!["only".into()] }]);
        }
        // Two tiers written alike share every run, and keep the writing.
        let r = runs(&[tier("a", "* * * * *"), tier("b", "* * * * *")]).unwrap();
        assert_eq!(r, [Run { schedule: "* * * * *".into(), tiers: vec!["a".into(), "b".into()] }]);
        // A tier split by another keeps only its own hours, which no longer read as written.
        let r = runs(&[tier("intraday", "0 2,7,16 * * *"), tier("archive", "0 2 * * *")]).unwrap();
        assert_eq!(r[1], Run { schedule: "0 7,16 * * *".into(), tiers: vec!["intraday".into()] });
    }

    #[test]
    fn a_24h_rpo_gets_two_copies_a_day_because_one_cannot_keep_it() {
        let now = ts("2026-11-25T10:00:00Z");
        // A daily copy leaves 25 h once a year in Rome (and 24 h plus the copy's 30 min in UTC).
        let s = derive_schedule(Span::from_secs(86_400), Span::from_secs(1800), "Europe/Rome", now).unwrap();
        let hours = schedule::hours(s.split_whitespace().nth(1).unwrap()).unwrap();
        assert_eq!(hours.len(), 2, "{s}");
        assert!(!hours.contains(&2), "the spring-forward hour is avoided: {s}");
        let gap = schedule::worst_gap(&[&s], "Europe/Rome", now).unwrap().unwrap();
        assert!(gap.length.as_secs() + 1800 <= 86_400);
        // A 48 h RPO is kept by one copy a day.
        let s = derive_schedule(Span::from_secs(2 * 86_400), Span::from_secs(1800), "Europe/Rome", now).unwrap();
        assert_eq!(schedule::hours(s.split_whitespace().nth(1).unwrap()).unwrap().len(), 1, "{s}");
        // An hour: every 30 minutes fits (30 min + a 20 min copy).
        assert_eq!(
            derive_schedule(Span::from_secs(3600), Span::from_secs(1200), "UTC", now).as_deref(),
            Some("*/30 * * * *")
        );
        // Five minutes with a 30-minute copy: no schedule can.
        assert_eq!(derive_schedule(Span::from_secs(300), Span::from_secs(1800), "UTC", now), None);
    }

    #[test]
    fn without_tiers_the_derived_tier_keeps_seven_days_by_default() {
        let t = tiers(None, &objectives("24h"), DEFAULT_COPY_DURATION, "UTC", ts("2026-11-25T10:00:00Z")).unwrap();
        assert_eq!(t.len(), 1);
        assert!(t[0].derived && t[0].name == DERIVED_TIER);
        assert_eq!(t[0].keep, retention::Keep { daily: Some(7), ..retention::Keep::default() });
        let gfs = policy(json!({"keep": {"daily": 7, "weekly": 4, "monthly": 6}}));
        let t =
            tiers(Some(&gfs), &objectives("24h"), DEFAULT_COPY_DURATION, "UTC", ts("2026-11-25T10:00:00Z")).unwrap();
        assert_eq!(t[0].keep.counted(), 17);
        let err = tiers(None, &objectives("0s"), DEFAULT_COPY_DURATION, "UTC", ts("2026-11-25T10:00:00Z")).unwrap_err();
        assert_eq!(err.reason, "NoBackupSchedule");
        let bad = policy(json!({"tiers": [{"name": "x", "schedule": "0 25 * * *", "keep": {"last": 3}}]}));
        let err = tiers(Some(&bad), &objectives("24h"), DEFAULT_COPY_DURATION, "UTC", ts("2026-11-25T10:00:00Z"))
            .unwrap_err();
        assert_eq!(err.reason, "InvalidSchedule");
        assert!(err.message.contains("hour: 25 is outside 0-23"), "{}", err.message);
    }

    fn location(region: &str, zone: Option<&str>) -> BackupLocation {
        serde_json::from_value(json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "BackupLocation",
            "metadata": {"name": "offsite"}, "spec": {"region": region, "zone": zone}}))
        .unwrap()
    }

    fn point(name: &str, captured: &str, completed: &str) -> RecoveryPoint {
        serde_json::from_value(json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "RecoveryPoint",
            "metadata": {"name": name, "namespace": "hub"},
            "spec": {"service": "einvoicing", "location": "offsite", "tiers": ["rpo"]},
            "status": {"phase": "Available", "capturedAt": captured, "completedAt": completed}}))
        .unwrap()
    }

    fn backup() -> ServiceBackup {
        serde_json::from_value(json!({"location": "offsite", "agent": {"spec": {"containers": [{"name": "a"}]}}}))
            .unwrap()
    }

    fn planned(
        loc: Option<&BackupLocation>,
        points: &[RecoveryPoint],
        residency: Option<&Residency>,
        now: &str,
    ) -> BackupPlan {
        let objectives = objectives("24h");
        let zones = ["eu-south-1a".to_string(), "eu-south-1b".to_string()];
        plan(&Inputs {
            policy: Some(&policy(json!({"timeZone": "Europe/Rome"}))),
            backup: &backup(),
            objectives: &objectives,
            residency,
            zones: &zones,
            observed: Observed { location: loc, points, now: ts(now) },
        })
    }

    fn verdict(p: &BackupPlan, now: &str) -> (Verdict, &'static str, String) {
        rpo_verdict(Scope::Zone, Span::from_secs(86_400), Some(p), ts(now))
    }

    #[test]
    fn copies_in_a_protected_zone_or_outside_residency_are_refused_with_numbers() {
        let now = "2026-11-25T10:00:00Z";
        let p = planned(Some(&location("eu-south-1", Some("eu-south-1a"))), &[], None, now);
        let (v, reason, message) = verdict(&p, now);
        assert_eq!((v, reason), (Verdict::NotFeasible, "LocationInProtectedZone"));
        assert_eq!(
            message,
            "Zone: RPO 24h not met — copies are stored in eu-south-1a (BackupLocation offsite), which this service runs in"
        );
        let residency: Residency = serde_json::from_value(json!({"regions": ["eu-south-1"]})).unwrap();
        let p = planned(Some(&location("us-east-1", None)), &[], Some(&residency), now);
        assert_eq!(verdict(&p, now).1, "LocationOutsideResidency");
        assert!(verdict(&p, now).2.contains("region us-east-1"));
        let p = planned(None, &[], None, now);
        assert_eq!(verdict(&p, now).1, "BackupLocationNotFound");
    }

    #[test]
    fn the_rpo_is_awaited_then_met_then_missed_measured_by_the_newest_copy() {
        let loc = location("eu-south-2", None);
        let p = planned(Some(&loc), &[], None, "2026-11-25T10:00:00Z");
        let (v, reason, message) = verdict(&p, "2026-11-25T10:00:00Z");
        assert_eq!((v, reason), (Verdict::Unknown, "AwaitingFirstCopy"));
        assert!(message.starts_with("Zone: RPO 24h feasible (worst gap 13h + expected copy 30m"), "{message}");

        let points = [point("p1", "2026-11-25T06:48:00Z", "2026-11-25T07:03:00Z")];
        let p = planned(Some(&loc), &points, None, "2026-11-25T10:00:00Z");
        assert_eq!(p.copy_duration, Span::from_secs(900), "measured, not assumed");
        let (v, reason, message) = verdict(&p, "2026-11-25T10:00:30Z");
        assert_eq!((v, reason), (Verdict::Feasible, "RPOMet"));
        assert_eq!(message, "Zone: RPO 24h met — newest copy 3h12m old, stored in region eu-south-2");

        let (v, reason, message) = verdict(&p, "2026-11-26T08:00:00Z");
        assert_eq!((v, reason), (Verdict::NotFeasible, "NewestCopyTooOld"));
        assert!(message.contains("newest copy 25h12m old"), "{message}");
    }

    #[test]
    fn a_schedule_whose_worst_gap_exceeds_the_rpo_is_not_feasible() {
        let objectives = objectives("24h");
        let zones = ["eu-south-1a".to_string()];
        let daily = policy(
            json!({"timeZone": "Europe/Rome", "tiers": [{"name": "daily", "schedule": "0 2 * * *", "keep": {"daily": 7}}]}),
        );
        let loc = location("eu-south-2", None);
        let p = plan(&Inputs {
            policy: Some(&daily),
            backup: &backup(),
            objectives: &objectives,
            residency: None,
            zones: &zones,
            observed: Observed { location: Some(&loc), points: &[], now: ts("2026-01-10T00:00:00Z") },
        });
        let (v, reason, message) =
            rpo_verdict(Scope::Zone, Span::from_secs(86_400), Some(&p), ts("2026-01-10T00:00:00Z"));
        assert_eq!((v, reason), (Verdict::NotFeasible, "ScheduleExceedsRPO"));
        assert!(
            message.contains("worst gap between copies is 47h (after the copy of 2026-03-28 02:00 CET)"),
            "{message}"
        );
    }

    #[test]
    fn the_steady_catalog_of_the_contract_tiers() {
        let now = ts("2026-11-25T10:00:00Z");
        let mut p = planned(Some(&location("eu-south-2", None)), &[], None, "2026-11-25T10:00:00Z");
        p.tiers = vec![Tier {
            name: "daily".into(),
            schedule: "0 1 * * *".into(),
            keep: retention::Keep { daily: Some(7), weekly: Some(4), monthly: Some(6), ..retention::Keep::default() },
            derived: false,
        }];
        p.runs = runs(&p.tiers).unwrap();
        let (n, oldest) = steady_catalog(&p, now).unwrap();
        assert_eq!(n, 17);
        assert!(oldest.as_hours() / 24 > 150 && oldest.as_hours() / 24 < 215, "{oldest:?}");
        p.tiers = vec![
            Tier {
                name: "intraday".into(),
                schedule: "0 2,7,16 * * *".into(),
                keep: retention::Keep { within: Some(SignedDuration::from_hours(48)), ..retention::Keep::default() },
                derived: false,
            },
            Tier {
                name: "archive".into(),
                schedule: "0 2 * * *".into(),
                keep: retention::Keep { within: Some(SignedDuration::from_hours(4320)), ..retention::Keep::default() },
                derived: false,
            },
        ];
        p.runs = runs(&p.tiers).unwrap();
        let (n, oldest) = steady_catalog(&p, now).unwrap();
        // 180 days of 02:00 copies plus the 07:00 and 16:00 copies of the last two days.
        assert!((183..=185).contains(&n), "{n}");
        assert!(oldest.as_hours() < 4320 && oldest.as_hours() > 4320 - 48, "{oldest:?}");
    }

    #[test]
    fn a_copy_kept_by_age_alone_knows_when_it_expires() {
        let within = |h| retention::Keep { within: Some(SignedDuration::from_hours(h)), ..retention::Keep::default() };
        let tiers = [
            Tier { name: "intraday".into(), schedule: "0 2,7,16 * * *".into(), keep: within(48), derived: false },
            Tier { name: "archive".into(), schedule: "0 2 * * *".into(), keep: within(4320), derived: false },
            Tier {
                name: "gfs".into(),
                schedule: "0 3 * * *".into(),
                keep: retention::Keep { daily: Some(7), ..retention::Keep::default() },
                derived: false,
            },
        ];
        let at = ts("2026-11-25T01:00:00Z");
        assert_eq!(expiry(&tiers, &["intraday".into()], at), Some(ts("2026-11-27T01:00:00Z")));
        assert_eq!(expiry(&tiers, &["archive".into(), "intraday".into()], at), Some(ts("2027-05-24T01:00:00Z")));
        assert_eq!(expiry(&tiers, &["gfs".into()], at), None, "kept by count: depends on copies to come");
        assert_eq!(expiry(&tiers, &[], at), None, "on request: never");
    }

    #[test]
    fn the_verdict_is_looked_at_again_when_the_newest_copy_ages_past_the_rpo_or_a_run_is_due() {
        let loc = location("eu-south-2", None);
        let points = [point("p1", "2026-11-25T00:00:00Z", "2026-11-25T00:15:00Z")];
        let p = planned(Some(&loc), &points, None, "2026-11-25T10:00:00Z");
        // Derived twice a day in Rome: the next run (12:00 CET = 11:00 UTC) comes before the copy turns 24h old.
        assert_eq!(p.next_review(&objectives("24h")), Some(ts("2026-11-25T11:00:00Z")));
        let mut no_runs = p.clone();
        no_runs.next_runs.clear();
        assert_eq!(no_runs.next_review(&objectives("24h")), Some(ts("2026-11-26T00:00:01Z")));
    }

    #[test]
    fn an_unknown_time_zone_is_a_verdict_not_a_crash() {
        let objectives = objectives("24h");
        let zones = ["eu-south-1a".to_string()];
        let mars = policy(json!({"timeZone": "Mars/Olympus_Mons"}));
        let loc = location("eu-south-2", None);
        let p = plan(&Inputs {
            policy: Some(&mars),
            backup: &backup(),
            objectives: &objectives,
            residency: None,
            zones: &zones,
            observed: Observed { location: Some(&loc), points: &[], now: ts("2026-11-25T10:00:00Z") },
        });
        assert!(p.runs.is_empty(), "no CronJob for a schedule that cannot be placed in time");
        let (v, reason, message) =
            rpo_verdict(Scope::Zone, Span::from_secs(86_400), Some(&p), ts("2026-11-25T10:00:00Z"));
        assert_eq!((v, reason), (Verdict::NotFeasible, "UnknownTimeZone"));
        assert!(message.contains("\"Mars/Olympus_Mons\" is not a time zone of the IANA database"), "{message}");
    }

    #[test]
    fn rpo_zero_and_no_backup_stay_unknown() {
        let now = ts("2026-11-25T10:00:00Z");
        assert_eq!(rpo_verdict(Scope::Node, Span::ZERO, None, now).1, "NeedsReplication");
        assert_eq!(rpo_verdict(Scope::Zone, Span::from_secs(86_400), None, now).1, "BackupNotConfigured");
    }
}
