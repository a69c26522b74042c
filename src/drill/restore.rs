//! A Restore drill, step by step: the agent restores the newest good copy into a scratch target (never the live
//! data), checks it and reports; the drill scores the restore's time against the Zone RTO and the copy's age
//! against the Zone RPO. Pure: the shell says whether the agent's run exists and how it ended.

use jiff::Timestamp;

use super::{Phase, Record, RestoreOutcome, restore_verdict, span};

/// A copy the drill may restore.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Copy<'a> {
    pub name: &'a str,
    pub captured: Timestamp,
}

/// The agent's run, as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Run {
    /// No Job of the drill's run exists (not created yet, or not in the cache yet).
    Absent,
    Running,
    /// Finished: whether it completed, its report (one line of JSON), and when it ran.
    Finished {
        completed: bool,
        report: Option<String>,
        started: Timestamp,
        ended: Timestamp,
    },
}

/// What the drill is scored against.
#[derive(Clone, Copy, Debug)]
pub struct Promise {
    pub zone_rto: Option<i64>,
    pub zone_rpo: Option<i64>,
    pub timeout_seconds: i64,
}

/// What the verified report says: `{"verified": true, "detail": "1,204,332 rows"}`.
#[derive(serde::Deserialize)]
struct Report {
    verified: Option<bool>,
    detail: Option<String>,
}

/// One step of a Restore drill at `now`. `refused`: why it may not start (another drill running, no backups),
/// checked only before it starts. Returns the next record, and whether the agent's run must be started (again:
/// starting is idempotent) for the copy the record names.
pub fn step(
    record: &Record,
    refused: Option<(&'static str, String)>,
    newest: Option<Copy<'_>>,
    run: &Run,
    p: &Promise,
    now: Timestamp,
) -> (Record, bool) {
    let mut r = record.clone();
    match r.phase {
        Phase::Pending => {
            if let Some((reason, why)) = refused {
                r.end(Phase::Failed, now, reason, format!("{why}; nothing was touched"));
                return (r, false);
            }
            let Some(copy) = newest else {
                r.end(Phase::Failed, now, "NoCopy", "no good copy to restore; nothing was touched".into());
                return (r, false);
            };
            r.phase = Phase::Running;
            r.started = Some(now);
            r.point = Some(copy.name.to_string());
            r.captured = Some(copy.captured);
            let age = span(now.as_second() - copy.captured.as_second());
            r.note(
                now,
                format!("restoring {} (captured {}, {age} old) into a scratch target", copy.name, copy.captured),
            );
            (r, true)
        }
        Phase::Running => {
            let started = r.started.unwrap_or(now);
            match run {
                Run::Finished { completed, report, started: ran, ended } => {
                    let report: Option<Report> = report.as_deref().and_then(|l| serde_json::from_str(l).ok());
                    let outcome = RestoreOutcome {
                        completed: *completed,
                        verified: report.as_ref().and_then(|r| r.verified),
                        detail: report.and_then(|r| r.detail),
                        restore_seconds: (ended.as_second() - ran.as_second()).max(0),
                        copy_age_seconds: r.captured.map(|c| (started.as_second() - c.as_second()).max(0)),
                        zone_rto: p.zone_rto,
                        zone_rpo: p.zone_rpo,
                    };
                    let (phase, reason, message) = restore_verdict(&outcome);
                    r.rto_seconds = Some(outcome.restore_seconds);
                    r.end(phase, now, reason, message);
                    (r, false)
                }
                _ if now.as_second() - started.as_second() >= p.timeout_seconds => {
                    let message = format!("timeout {} reached before the restore ended", span(p.timeout_seconds));
                    r.end(Phase::Aborted, now, "Timeout", message);
                    (r, false)
                }
                Run::Absent => (r, true),
                Run::Running => (r, false),
            }
        }
        _ => (r, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_796_000_000 + s).unwrap()
    }

    const PROMISE: Promise = Promise { zone_rto: Some(3600), zone_rpo: Some(86_400), timeout_seconds: 7200 };

    fn started() -> Record {
        let copy = Copy { name: "daily-1", captured: t(-7200) };
        let (r, start) = step(&Record::default(), None, Some(copy), &Run::Absent, &PROMISE, t(0));
        assert!(start && r.phase == Phase::Running);
        assert_eq!(r.point.as_deref(), Some("daily-1"));
        r
    }

    fn finished(completed: bool, report: &str, seconds: i64) -> Run {
        Run::Finished { completed, report: Some(report.into()), started: t(5), ended: t(5 + seconds) }
    }

    #[test]
    fn a_verified_restore_within_the_rto_of_a_copy_within_the_rpo_passes_with_its_numbers() {
        let r = started();
        let (r, _) = step(&r, None, None, &Run::Running, &PROMISE, t(100));
        assert_eq!(r.phase, Phase::Running);
        let run = finished(true, r#"{"verified": true, "detail": "1,204,332 rows"}"#, 840);
        let (r, start) = step(&r, None, None, &run, &PROMISE, t(850));
        assert!(!start);
        assert_eq!((r.phase, r.reason.as_str(), r.rto_seconds), (Phase::Passed, "Verified", Some(840)));
        assert_eq!(r.message, "restored a copy 2h old into a scratch target in 14m (1,204,332 rows); RTO 1h, RPO 24h",);
    }

    #[test]
    fn an_unverified_or_failed_restore_fails_the_drill() {
        let (r, _) = step(&started(), None, None, &finished(true, r#"{"verified": false}"#, 60), &PROMISE, t(70));
        assert_eq!((r.phase, r.reason.as_str()), (Phase::Failed, "NotVerified"));
        let (r, _) = step(&started(), None, None, &finished(true, "not json", 60), &PROMISE, t(70));
        assert_eq!(r.reason, "NotVerified", "no report is no verification");
        let (r, _) = step(&started(), None, None, &finished(false, "", 60), &PROMISE, t(70));
        assert_eq!(r.reason, "RestoreFailed");
        let slow = finished(true, r#"{"verified": true}"#, 4000);
        assert_eq!(step(&started(), None, None, &slow, &PROMISE, t(4010)).0.reason, "RTOExceeded");
    }

    #[test]
    fn refused_without_a_copy_or_when_told_why_and_aborted_at_the_timeout() {
        let (r, start) = step(&Record::default(), None, None, &Run::Absent, &PROMISE, t(0));
        assert_eq!((r.phase, r.reason.as_str(), start), (Phase::Failed, "NoCopy", false));
        let why = Some(("NoBackups", "the service declares no backup".to_string()));
        let copy = Some(Copy { name: "d", captured: t(0) });
        let (r, start) = step(&Record::default(), why, copy, &Run::Absent, &PROMISE, t(0));
        assert_eq!((r.reason.as_str(), start), ("NoBackups", false));
        // The run vanished from the cache: asked for again (idempotent), until the timeout.
        assert!(step(&started(), None, None, &Run::Absent, &PROMISE, t(60)).1);
        let (r, _) = step(&started(), None, None, &Run::Running, &PROMISE, t(7200));
        assert_eq!((r.phase, r.reason.as_str()), (Phase::Aborted, "Timeout"));
    }
}
