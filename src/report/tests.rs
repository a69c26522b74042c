use jiff::{Timestamp, tz::TimeZone};

use super::*;
use crate::{cli::report::from_files, report::document::Objects};

fn fixture() -> Objects {
    from_files(&[std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/report-month.yaml"))])
        .unwrap()
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn report(month: &str, now: &str) -> Report {
    report_of(&fixture(), month, now)
}

fn report_of(o: &Objects, month: &str, now: &str) -> Report {
    build(&Inputs {
        month,
        now: at(now),
        services: &o.services,
        classes: &o.classes,
        points: &o.points,
        restores: &o.restores,
        drills: &o.drills,
        site_failovers: &o.site_failovers,
    })
    .unwrap()
}

fn of<'a>(r: &'a Report, name: &str) -> &'a ServiceReport {
    r.services.iter().find(|s| s.name == name).unwrap()
}

#[test]
fn a_month_is_counted_in_its_time_zone() {
    let (start, end) = month_window("2026-11", &TimeZone::UTC).unwrap();
    assert_eq!((start, end), (at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z")));
    let rome = TimeZone::get("Europe/Rome").unwrap();
    assert_eq!(month_window("2026-11", &rome).unwrap().0, at("2026-10-31T23:00:00Z"));
    for bad in ["2026-13", "2026", "november", "2026-1x"] {
        assert!(month_window(bad, &TimeZone::UTC).unwrap_err().contains("YYYY-MM"), "{bad}");
    }
}

#[test]
fn incidents_are_those_of_the_month_with_their_rto_and_data_lost() {
    let r = report("2026-11", "2026-11-29T12:00:00Z");
    let passhub = of(&r, "passhub");
    assert_eq!(passhub.incidents.len(), 1, "October's incident is not November's");
    assert_eq!(passhub.incidents[0].data_lost, [DataLost { source: "invoices".into(), rpo_seconds: Some(0) }]);
    let booking = of(&r, "booking-engine");
    let missed: Vec<(&str, Option<bool>)> =
        booking.incidents.iter().map(|i| (i.scope.as_str(), i.within_rto)).collect();
    assert_eq!(missed, [("Node", Some(false)), ("Zone", Some(true))]);
    let october = report("2026-10", "2026-11-29T12:00:00Z");
    assert_eq!(of(&october, "passhub").incidents.len(), 1);
    assert!(of(&october, "booking-engine").incidents.is_empty());
}

#[test]
fn the_newest_copys_worst_age_counts_a_failed_copy_as_none() {
    let r = report("2026-11", "2026-11-29T12:00:00Z");
    let b = of(&r, "booking-engine").backups.as_ref().unwrap();
    // Daily copies at 01:00 from the 21st, the 24th's failed: 48 h without a new copy, past the 24 h RPO.
    assert_eq!((b.worst_age_seconds, b.rpo_seconds), (Some(48 * 3600), Some(24 * 3600)));
    assert_eq!(b.covered_from.as_deref(), Some("2026-11-21T01:00:00Z"), "older copies were not kept: no claim");
    assert_eq!(b.points_by_tier.get("daily"), Some(&8));
    assert!(of(&r, "passhub").backups.is_none(), "no backups declared: no section");
}

#[test]
fn the_month_s_availability_is_judged_against_its_target() {
    let november = report("2026-11", "2026-11-29T12:00:00Z");
    let a = of(&november, "booking-engine").availability.clone().unwrap();
    assert_eq!((a.availability.as_deref(), a.met), (Some("100.000"), Some(true)));
    let october = report("2026-10", "2026-11-29T12:00:00Z");
    let a = of(&october, "booking-engine").availability.clone().unwrap();
    assert_eq!((a.availability.as_deref(), a.met), (Some("99.865"), Some(false)));
    assert!(report("2026-09", "2026-11-29T12:00:00Z").services.iter().all(|s| s.availability.is_none()));
}

#[test]
fn the_html_is_one_page_with_its_charts_and_nothing_from_elsewhere() {
    let html = html::render(&report("2026-11", "2026-11-29T12:00:00Z"));
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    assert_eq!(html.matches("<svg").count(), 2 + 1 + 1 + 1, "two timelines, one incident chart each, one copy chart");
    for external in ["src=", "href=", "<script", "@import", "url("] {
        assert!(!html.contains(external), "no external asset or script: {external}");
    }
    assert!(html.contains("restored 1,204,332 rows"));
}

#[test]
fn human_durations() {
    assert_eq!([human(45), human(725), human(12_000), human(180_000)], ["45s", "12m 5s", "3h 20m", "2d 2h"]);
}

#[test]
fn the_month_s_drills_are_reported_with_their_verdict() {
    let r = report("2026-11", "2026-11-29T12:00:00Z");
    let d = &of(&r, "booking-engine").drills;
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0].phase.as_str(), d[0].rto_seconds, d[0].zone.as_deref()),
        ("Passed", Some(41), Some("eu-south-1b"))
    );
    assert!(report("2026-10", "2026-11-29T12:00:00Z").services.iter().all(|s| s.drills.is_empty()), "not October's");
    assert!(markdown::render(&r).contains("| booking-engine-q4 | ZoneLoss of eu-south-1b | Passed | 41s | 2 |"));
}

#[test]
fn a_stateful_recovery_reports_the_data_its_restored_copy_lost() {
    let i: crate::api::Incident = serde_json::from_value(serde_json::json!({
        "scope": "Zone", "subject": "eu-south-1a", "began": "2026-11-12T03:10:00Z", "detected": "2026-11-12T03:10:21Z",
        "recovered": "2026-11-12T03:12:00Z", "rtoSeconds": 120, "lowestReady": 0, "replicas": 1,
        "restoredPoint": "acme-daily-11", "dataLossSeconds": 7300, "withinRpo": true}))
    .unwrap();
    let w = model::Window { start: at("2026-11-01T00:00:00Z"), end: at("2026-12-01T00:00:00Z"), month: "2026-11" };
    let r = model::incident(&i, &w);
    assert_eq!(
        r.data_lost,
        [DataLost { source: "volumes restored from acme-daily-11".into(), rpo_seconds: Some(7300) }]
    );
    assert_eq!(words::incident_cells(&r)[5], "volumes restored from acme-daily-11: 2h 1m");
}

#[test]
fn the_month_so_far_counts_the_time_since_the_last_checkpoint_as_the_metric_does() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/report-checkpoint.yaml");
    let o = from_files(&[std::path::PathBuf::from(path)]).unwrap();
    let make = |month: &str, now: &str| {
        report_of(&o, month, now).services[0].availability.clone().expect("the month's availability")
    };
    // Up since the month began, nothing checkpointed since: ten days observed, all of them up.
    let a = make("2026-12", "2026-12-11T00:00:00Z");
    assert_eq!(a.observed_seconds, 10 * 86_400);
    assert_eq!((a.availability.as_deref(), a.met), (Some("100.000"), Some(true)));
    assert_eq!(a.error_budget_remaining_seconds, Some(2678));
    // Made in January, December counts to its end; November is as it was checkpointed.
    let december = make("2026-12", "2027-01-05T00:00:00Z");
    assert_eq!(december.observed_seconds, 31 * 86_400);
    let november = make("2026-11", "2027-01-05T00:00:00Z");
    assert_eq!((november.observed_seconds, november.down_seconds), (2_592_000, 60));
}

#[test]
fn a_service_with_one_unverified_verdict_is_not_all_met_in_any_output() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/report-checkpoint.yaml");
    let o = from_files(&[std::path::PathBuf::from(path)]).unwrap();
    let r = report_of(&o, "2026-12", "2026-12-11T00:00:00Z");
    let counted = &r.services[0].objectives_now;
    assert_eq!((counted.met, counted.not_met, counted.not_verified, counted.all_met), (1, 0, 1, false));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["services"][0]["objectivesNow"]["allMet"], false);
    assert_eq!(json["services"][0]["objectivesNow"]["notVerifiedReasons"][0], "BackupNotConfigured");
    let said = "1 not verified (BackupNotConfigured), 1 met";
    let html = html::render(&r);
    assert!(!html.contains("all met") && html.contains(said), "{html}");
    assert!(html.contains("<td>100.000 %</td>"), "the month so far in the summary: {html}");
    let md = markdown::render(&r);
    assert!(
        !md.contains("all met") && md.contains(&format!("| portal/steady-portal | steady | {said} | 100.000 % | 0 |")),
        "{md}"
    );
}

#[test]
fn copies_a_minute_apart_late_in_the_month_are_zoomed_to_and_said_in_words() {
    let month = 30 * 86_400;
    // Ten copies a minute apart, in the month's last quarter of an hour.
    let captures: Vec<i64> = (0..10).map(|k| month - 900 + 60 * k).collect();
    let mut svg = String::new();
    charts::copy_age_against_rpo(&mut svg, &captures, Some(300), month);
    let first_x: i64 = svg.split("points=\"").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    assert!(first_x < 20, "the first copy drawn at the left, not squeezed into the right edge: {svg}");
    assert!(svg.contains("the last 15m 0s of the month, from the first copy"), "{svg}");
    // A month of copies a minute apart cannot be drawn one by one: the chart says so.
    let all: Vec<i64> = (0..month / 60).map(|k| k * 60).collect();
    let mut svg = String::new();
    charts::copy_age_against_rpo(&mut svg, &all, Some(300), month);
    assert!(svg.contains("43200 copies about every 1m 0s: too close to draw one by one here"), "{svg}");
}

#[test]
fn a_declared_site_failover_of_the_month_is_reported_with_its_rto_and_the_data_it_lost() {
    let o = from_files(&[std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/report-sites.yaml"
    ))])
    .unwrap();
    let r = report_of(&o, "2026-11", "2026-11-29T12:00:00Z");
    let erp = of(&r, "erp");
    assert_eq!(erp.site_failovers.len(), 1, "October's declaration is not November's");
    let f = &erp.site_failovers[0];
    assert_eq!((f.from.as_deref(), f.to.as_str(), f.phase.as_str()), (Some("milan"), "paris", "Completed"));
    assert_eq!((f.rto_seconds, f.within_rto), (Some(4205), Some(true)));
    assert_eq!((f.point.as_deref(), f.data_loss_seconds, f.within_rpo), (Some("erp-good1"), Some(10_800), Some(true)));
    let md = markdown::render(&r);
    assert!(md.contains("### Site failovers"), "{md}");
    assert!(md.contains("| milan-flood: Milan data center flooded (ticket CM-4411) | milan → paris, declared 2026-11-14T03:10:00Z | Completed | 1h 10m (within) | 3h 0m from copy erp-good1 (within) |"), "{md}");
    assert!(
        md.contains("| site-test-2026 | SiteRestore at paris | Passed | 41m 0s |"),
        "the site drill, where it ran: {md}"
    );
    let page = html::render(&r);
    assert!(page.contains("<h3>Site failovers</h3>") && page.contains("1h 10m (within)"), "the page says it too");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["services"][0]["siteFailovers"][0]["dataLossSeconds"], 10_800);
    // A service whose site recorded no restore shows the figure as not recorded, never as nothing lost.
    let mut bare = o;
    bare.services[0].status = None;
    let r = report_of(&bare, "2026-11", "2026-11-29T12:00:00Z");
    assert_eq!(words::site_failover_cells(&of(&r, "erp").site_failovers[0])[4], "not recorded");
}
