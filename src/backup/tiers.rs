//! Tiers and runs: the tiers a class declares (or the one derived from its tightest RPO), the CronJobs their
//! schedules become (a time two tiers share is copied once), and when a copy expires by age.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};

use super::{retention, schedule};
use crate::{
    api::{BackupPolicy, Keep as KeepSpec, Objective, Span},
    verdict::{Problem, problem},
};

/// The tier a class without tiers gets: its schedule derived from the tightest RPO.
pub const DERIVED_TIER: &str = "rpo";
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

pub(super) fn keep_of(k: &KeepSpec) -> retention::Keep {
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
