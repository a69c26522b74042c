//! The RPO verdict of one scope, judged on the backup plan: feasible by the schedule (worst gap plus a copy's
//! duration), met by the newest good copy's age, refused where copies would be stored.

use jiff::Timestamp;

use super::{plan::BackupPlan, schedule};
use crate::{
    api::{Scope, Span},
    verdict::Verdict,
};

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
