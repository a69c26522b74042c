use jiff::Timestamp;
use proptest::prelude::*;

use super::*;

fn t(s: i64) -> Timestamp {
    Timestamp::from_second(1_796_000_000 + s).unwrap()
}

fn zone(name: &str, desired: i32, ready: i32) -> ZoneStatus {
    ZoneStatus {
        name: name.into(),
        eligible: true,
        nodes: 2,
        role: "Active".into(),
        desired_replicas: desired,
        ready_replicas: ready,
        revision: None,
    }
}

fn service<'a>(zones: &'a [ZoneStatus], primary: Option<&'a str>) -> Service<'a> {
    Service { name: "passhub", declared: 4, zones, primary, incident_open: false, zone_rto: Some(900), stateful: false }
}

const QUIET: Cluster<'static> = Cluster { withheld: &[], other_drill_running: false };

#[test]
fn a_warm_standby_drill_takes_out_the_primary_and_passes_when_a_standby_is_promoted_in_time() {
    let before = [zone("a", 4, 4), zone("b", 1, 1), zone("c", 1, 1)];
    let r = zone_loss(&Record::default(), None, 1800, Some(&service(&before, Some("a"))), &QUIET, t(0));
    assert_eq!((r.phase, r.drilled_zone()), (Phase::Running, Some("a")), "the costliest zone by default");
    // The plan promotes b: 1 Ready, then 4.
    let promoting = [zone("a", 4, 0), zone("b", 4, 1), zone("c", 1, 1)];
    let r = zone_loss(&r, None, 1800, Some(&service(&promoting, Some("b"))), &QUIET, t(10));
    assert_eq!((r.phase, r.lowest_ready, r.below_since), (Phase::Running, Some(2), Some(t(10))));
    let back = [zone("a", 4, 0), zone("b", 4, 4), zone("c", 1, 1)];
    let r = zone_loss(&r, None, 1800, Some(&service(&back, Some("b"))), &QUIET, t(34));
    assert_eq!((r.phase, r.rto_seconds, r.reason.as_str()), (Phase::Passed, Some(34), "WithinRTO"));
    assert_eq!(r.drilled_zone(), None, "the zone is given back once the drill ends");
    assert!(
        r.message.starts_with("back to 5 Ready outside a 34s after a was taken out, RTO 15m; lowest Ready 2"),
        "{}",
        r.message
    );
    assert_eq!(r.timeline.len(), 2, "taken out, then the verdict: {:?}", r.timeline);
}

#[test]
fn active_active_never_drops_and_passes_at_once() {
    let zones = [zone("a", 2, 2), zone("b", 2, 2), zone("c", 2, 2)];
    let started = zone_loss(&Record::default(), Some("b"), 1800, Some(&service(&zones, None)), &QUIET, t(0));
    let r = zone_loss(&started, Some("b"), 1800, Some(&service(&zones, None)), &QUIET, t(1));
    assert_eq!((r.phase, r.rto_seconds, r.lowest_ready), (Phase::Passed, Some(1), Some(4)));
}

#[test]
fn a_drill_never_starts_during_a_real_incident_a_withheld_zone_or_another_drill() {
    let zones = [zone("a", 4, 4), zone("b", 1, 1)];
    let mut s = service(&zones, Some("a"));
    s.incident_open = true;
    let r = zone_loss(&Record::default(), None, 1800, Some(&s), &QUIET, t(0));
    assert_eq!((r.phase, r.reason.as_str(), r.drilled_zone()), (Phase::Failed, "IncidentOpen", None));
    assert!(r.message.contains("nothing was touched"));
    let lost = ["c".to_string()];
    let busy = Cluster { withheld: &lost, other_drill_running: false };
    let r = zone_loss(&Record::default(), None, 1800, Some(&service(&zones, Some("a"))), &busy, t(0));
    assert_eq!(r.reason, "ZoneWithheld");
    let second = Cluster { withheld: &[], other_drill_running: true };
    assert_eq!(
        zone_loss(&Record::default(), None, 1800, Some(&service(&zones, None)), &second, t(0)).reason,
        "DrillRunning"
    );
    assert_eq!(
        zone_loss(&Record::default(), Some("x"), 1800, Some(&service(&zones, None)), &QUIET, t(0)).reason,
        "ZoneNotUsed"
    );
    assert_eq!(zone_loss(&Record::default(), None, 1800, None, &QUIET, t(0)).reason, "ServiceNotFound");
    let one = [zone("a", 4, 4)];
    assert_eq!(
        zone_loss(&Record::default(), None, 1800, Some(&service(&one, None)), &QUIET, t(0)).reason,
        "NoOtherZone"
    );
    let stateful = Service { stateful: true, ..service(&zones, Some("a")) };
    let r = zone_loss(&Record::default(), None, 1800, Some(&stateful), &QUIET, t(0));
    assert_eq!((r.phase, r.reason.as_str(), r.drilled_zone()), (Phase::Failed, "StatefulNotDrilled", None));
}

#[test]
fn capacity_below_the_declared_replicas_past_the_rto_aborts_and_gives_the_zone_back() {
    let zones = [zone("a", 4, 4), zone("b", 1, 1), zone("c", 1, 1)];
    let mut r = zone_loss(&Record::default(), None, 3600, Some(&service(&zones, Some("a"))), &QUIET, t(0));
    let stuck = [zone("a", 4, 0), zone("b", 4, 1), zone("c", 1, 1)];
    for s in [10, 500, 900] {
        r = zone_loss(&r, None, 3600, Some(&service(&stuck, Some("b"))), &QUIET, t(s));
        assert_eq!(r.phase, Phase::Running, "within the RTO at {s}");
    }
    r = zone_loss(&r, None, 3600, Some(&service(&stuck, Some("b"))), &QUIET, t(911));
    assert_eq!((r.phase, r.reason.as_str(), r.drilled_zone()), (Phase::Aborted, "BelowCapacityPastRTO", None));
    assert!(r.message.contains("2 of 4 Ready outside a for 15m1s, longer than the RTO 15m"), "{}", r.message);
}

#[test]
fn the_timeout_aborts_a_drill_that_never_recovers() {
    let zones = [zone("a", 4, 4), zone("b", 1, 1)];
    let mut s = service(&zones, Some("a"));
    s.zone_rto = None;
    let r = zone_loss(&Record::default(), None, 60, Some(&s), &QUIET, t(0));
    let stuck = [zone("a", 4, 0), zone("b", 4, 1)];
    let mut s = service(&stuck, Some("b"));
    s.zone_rto = None;
    let r = zone_loss(&r, None, 60, Some(&s), &QUIET, t(60));
    assert_eq!((r.phase, r.reason.as_str()), (Phase::Aborted, "Timeout"));
}

#[test]
fn an_ended_drill_stays_as_it_ended() {
    let zones = [zone("a", 2, 2), zone("b", 2, 2), zone("c", 2, 2)];
    let s = service(&zones, None);
    let started = zone_loss(&Record::default(), None, 1800, Some(&s), &QUIET, t(0));
    let done = zone_loss(&started, None, 1800, Some(&s), &QUIET, t(5));
    assert_eq!(zone_loss(&done, None, 1800, Some(&s), &QUIET, t(50)), done);
}

#[test]
fn a_restore_drill_passes_only_verified_within_the_rto_and_rpo() {
    let outcome = |completed, verified, restore_seconds, age| RestoreOutcome {
        completed,
        verified,
        detail: Some("1,204,332 rows".into()),
        restore_seconds,
        copy_age_seconds: Some(age),
        zone_rto: Some(3600),
        zone_rpo: Some(86_400),
    };
    let (phase, reason, message) = restore_verdict(&outcome(true, Some(true), 270, 36_000));
    assert_eq!((phase, reason), (Phase::Passed, "Verified"));
    assert_eq!(message, "restored a copy 10h old into a scratch target in 4m30s (1,204,332 rows); RTO 1h, RPO 24h");
    assert_eq!(restore_verdict(&outcome(true, Some(false), 270, 36_000)).1, "NotVerified");
    assert_eq!(restore_verdict(&outcome(true, None, 270, 36_000)).1, "NotVerified");
    assert_eq!(restore_verdict(&outcome(false, None, 30, 36_000)).1, "RestoreFailed");
    assert_eq!(restore_verdict(&outcome(true, Some(true), 4000, 36_000)).1, "RTOExceeded");
    assert_eq!(restore_verdict(&outcome(true, Some(true), 270, 90_000)).1, "RPOExceeded");
}

#[test]
fn a_required_drill_is_overdue_once_its_period_passes_without_a_pass() {
    let quarter = 2160 * 3600;
    assert!(overdue(None, quarter, t(0)), "never passed");
    assert!(!overdue(Some(t(0)), quarter, t(quarter)));
    assert!(overdue(Some(t(0)), quarter, t(quarter + 1)));
}

proptest! {
    /// Whatever the service does while a drill runs, the drill ends by its timeout, its verdict's lowest Ready is
    /// the lowest it saw, and once ended it withholds nothing.
    #[test]
    fn a_drill_always_ends_and_gives_the_zone_back(readies in prop::collection::vec(0i32..6, 1..40), step in 1i64..120) {
        let start = [zone("a", 4, 4), zone("b", 1, 1), zone("c", 1, 1)];
        let mut r = zone_loss(&Record::default(), None, 1800, Some(&service(&start, Some("a"))), &QUIET, t(0));
        let mut seen = i32::MAX;
        let mut now = 0;
        for ready in readies.iter().cycle().take(2000) {
            now += step;
            let zones = [zone("a", 4, 0), zone("b", 4, *ready), zone("c", 1, 0)];
            let before = r.phase;
            r = zone_loss(&r, None, 1800, Some(&service(&zones, Some("b"))), &QUIET, t(now));
            if before == Phase::Running {
                seen = seen.min(*ready);
            }
            if r.phase.ended() {
                break;
            }
        }
        prop_assert!(r.phase.ended(), "still {:?} after {now}s", r.phase);
        prop_assert!(r.ended.unwrap() <= t(1800 + step), "ended by its timeout");
        prop_assert_eq!(r.lowest_ready, Some(seen));
        prop_assert_eq!(r.drilled_zone(), None);
    }
}
