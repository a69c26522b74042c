//! Scheduled drills (`schedule: "0 3 1 */3 *"`, in the class's time zone): when the next run of a drill comes,
//! from its last run's start (or, never run, its creation). Pure.

use jiff::{Timestamp, tz::TimeZone};

use super::{Phase, Record};
use crate::{api::ContinuityClassSpec, backup::schedule::Schedule};

/// What a drill's schedule says now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Due {
    /// No schedule, or a run in progress: step it as it is.
    AsItIs,
    /// A new run starts now, from a fresh record.
    Now,
    /// The next run is then; nothing to do before.
    At(Timestamp),
    /// The schedule or the class's time zone cannot be used: why.
    Invalid(String),
}

/// The time zone a class's drills are scheduled in: its backups', else its availability target's, else UTC.
pub fn time_zone(class: Option<&ContinuityClassSpec>) -> String {
    let backup = class.and_then(|c| c.backup.as_ref()).map(|b| b.time_zone.clone());
    let availability = class.and_then(|c| c.availability.as_ref()).map(|a| a.time_zone.clone());
    backup.or(availability).unwrap_or_else(|| "UTC".into())
}

/// Whether the drill whose record is `r`, created at `created`, runs now under `schedule` in `tz`.
pub fn due(schedule: Option<&str>, tz: &str, r: &Record, created: Timestamp, now: Timestamp) -> Due {
    let Some(expr) = schedule else { return Due::AsItIs };
    if r.phase == Phase::Running {
        return Due::AsItIs;
    }
    let parsed = Schedule::parse(expr).map_err(|e| format!("schedule {e}"));
    let zone = TimeZone::get(tz).map_err(|_| format!("the class's time zone {tz:?} does not exist"));
    let (schedule, zone) = match (parsed, zone) {
        (Ok(s), Ok(z)) => (s, z),
        (Err(why), _) | (_, Err(why)) => return Due::Invalid(why),
    };
    // The time recorded earlier has come (whatever the base below would say now).
    if r.next_run.is_some_and(|t| t <= now) {
        return Due::Now;
    }
    match schedule.next_after(r.started.unwrap_or(created), &zone) {
        Some(t) if t <= now => Due::Now,
        Some(t) => Due::At(t),
        None => Due::Invalid(format!("schedule {expr:?} never comes within five years")),
    }
}

/// Where drill `d` starts from at `now`: as recorded, afresh (a scheduled drill's time came), or waiting for its
/// next time (`false`: not stepped; `next_run` keeps the soonest); `None`: nothing to do (it ended, or its invalid
/// schedule was recorded).
pub fn start(
    d: &crate::api::ContinuityDrill,
    tz: &str,
    recorded: &Record,
    now: Timestamp,
    next_run: &mut Option<Timestamp>,
) -> Option<(Record, bool)> {
    let created = d.metadata.creation_timestamp.as_ref().map_or(now, |t| t.0);
    match due(d.spec.schedule.as_deref(), tz, recorded, created, now) {
        Due::AsItIs if recorded.phase.ended() => None,
        Due::AsItIs => Some((recorded.clone(), true)),
        Due::Now => Some((Record::default(), true)),
        Due::At(t) => {
            *next_run = Some(next_run.map_or(t, |n| n.min(t)));
            Some((Record { next_run: Some(t), ..recorded.clone() }, false))
        }
        Due::Invalid(_) if recorded.reason == "InvalidSchedule" => None,
        Due::Invalid(why) => {
            let mut r = Record::default();
            r.fail(now, "InvalidSchedule", format!("{why}; nothing was touched"));
            Some((r, false))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_quarterly_drill_runs_at_its_times_in_the_class_time_zone_and_waits_in_between() {
        let q = Some("0 3 1 */3 *");
        let created = at("2026-11-20T10:00:00Z");
        let fresh = Record::default();
        // Rome is UTC+1 in January: 03:00 there is 02:00 UTC.
        assert_eq!(due(q, "Europe/Rome", &fresh, created, created), Due::At(at("2027-01-01T02:00:00Z")));
        assert_eq!(due(q, "Europe/Rome", &fresh, created, at("2027-01-01T02:00:00Z")), Due::Now);
        let ran = Record {
            phase: Phase::Passed,
            started: Some(at("2027-01-01T02:00:00Z")),
            ended: Some(at("2027-01-01T02:01:00Z")),
            ..Record::default()
        };
        assert_eq!(
            due(q, "Europe/Rome", &ran, created, at("2027-02-01T00:00:00Z")),
            Due::At(at("2027-04-01T01:00:00Z"))
        );
        let running = Record { phase: Phase::Running, ..ran.clone() };
        assert_eq!(due(q, "Europe/Rome", &running, created, at("2027-05-01T00:00:00Z")), Due::AsItIs);
        assert_eq!(due(None, "UTC", &ran, created, created), Due::AsItIs);
        assert!(matches!(due(Some("61 * * * *"), "UTC", &fresh, created, created), Due::Invalid(_)));
        assert!(matches!(due(q, "Mars/Olympus", &fresh, created, created), Due::Invalid(_)));
    }
}
