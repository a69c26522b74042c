//! Backups: when copies run (cron schedules in a time zone, their worst gaps), which recovery points each tier
//! keeps, where copies may be stored, and whether the copies keep each RPO — feasible by the schedule, met by the
//! age of the newest good copy, measured now.

pub mod catalog;
pub mod jobs;
mod plan;
pub mod restore;
pub mod retention;
pub mod schedule;
mod tiers;
mod verdict;

pub use plan::*;
pub use schedule::Gap;
pub use tiers::{DERIVED_TIER, Run, Tier, derive_schedule, expiry, runs, tiers};
pub use verdict::rpo_verdict;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use jiff::{SignedDuration, Timestamp};

    use crate::{
        api::{BackupLocation, BackupPolicy, Objective, RecoveryPoint, Residency, Scope, ServiceBackup, Span},
        verdict::Verdict,
    };

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
