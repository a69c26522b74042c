//! A SiteRestore drill, on Karmada's control plane: the service brought up at a recovery site in a scratch
//! namespace, exactly as a site failover would bring it up there (the arrival annotation: a stateful service lists
//! the storage and restores the newest copy stored outside the site it serves from), while production stays where
//! it is. The time from the drill's start to the copy Ready at that site is scored against the Region RTO, the age
//! of the copy it restored against the Region RPO; then the copy and its namespace are deleted. Pure: the shell
//! says when the copy was Ready and what it restored.
//!
//! The copy reads the service's copies (`continuo.dev/copies-of`) and makes none: the member runs no backup of
//! it and never deletes a copy for it.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{Cluster, Health, arrival::Arrival, health};
use crate::{
    api::{ResilientService, Sites},
    drill::{Phase, Record},
};

/// On a drill's copy of a service: the drill's name.
pub const DRILL_LABEL: &str = "continuo.dev/drill";
/// On a drill's copy of a service: the site it is brought up at (its placement, whatever the class's order).
pub const DRILL_SITE_LABEL: &str = "continuo.dev/drill-site";
pub use crate::backup::jobs::{COPIES_OF_ANNOTATION, copies_of};

/// What a step of the drill sees.
pub struct Facts<'a> {
    pub sites: &'a Sites,
    pub clusters: &'a [Cluster],
    /// The site the service serves from now.
    pub serving: &'a str,
    /// A declared site failover has not completed: no drill then.
    pub moving: bool,
    /// When the copy was reported Ready at the drill's site.
    pub ready: Option<Timestamp>,
    /// The copy of the data it restored, and when that copy was captured.
    pub restored: Option<(String, Timestamp)>,
    pub stateful: bool,
    /// The Region objective, in seconds.
    pub rto: Option<u64>,
    pub rpo: Option<u64>,
    pub timeout: u64,
    pub now: Timestamp,
}

/// What the shell does after a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Make sure the copy exists, at this site (idempotent).
    BringUp(String),
    /// Make sure the copy and its namespace are gone (idempotent).
    CleanUp,
    Nothing,
}

/// The scratch namespace of drill `drill` of a service in `namespace`.
pub fn scratch_namespace(namespace: &str, drill: &str) -> String {
    crate::backup::jobs::bounded_name(namespace, &format!("-{drill}"), 63)
}

/// The copy of `svc` that drill `drill` brings up at `site`, arriving as after a loss of the site it serves from.
pub fn copy_of(svc: &ResilientService, drill: &str, site: &str, arrival: &Arrival) -> Value {
    let (ns, name) = (svc.metadata.namespace.as_deref().unwrap_or_default(), svc.metadata.name.as_deref());
    json!({
        "apiVersion": "continuo.dev/v1alpha1",
        "kind": "ResilientService",
        "metadata": {
            "name": name,
            "namespace": scratch_namespace(ns, drill),
            "labels": {DRILL_LABEL: drill, DRILL_SITE_LABEL: site, "app.kubernetes.io/managed-by": "continuo"},
            "annotations": {
                super::arrival::ARRIVAL_ANNOTATION: arrival.annotation(),
                COPIES_OF_ANNOTATION: format!("{ns}/{}", name.unwrap_or_default()),
            },
        },
        "spec": svc.spec,
    })
}

/// The site a drill brings the service up at: the one it names, else the first healthy site other than the serving
/// one; `Err` with the reason and why not.
fn site_of(wanted: Option<&str>, f: &Facts<'_>) -> Result<String, (&'static str, String)> {
    if let Some(w) = wanted {
        if f.sites.site(w).is_none() {
            return Err(("NotASite", format!("{w} is not a site of the service's class")));
        }
        if w == f.serving {
            return Err(("ServingSite", format!("{w} is the site the service serves from: drill another")));
        }
    }
    let healthy = |name: &str| f.sites.site(name).is_some_and(|s| health(s, f.clusters) == Health::Healthy);
    let pick = match wanted {
        Some(w) => Some(w.to_string()),
        None => f.sites.sites.iter().map(|s| s.name.clone()).find(|s| s != f.serving && healthy(s)),
    };
    match pick {
        Some(s) if healthy(&s) => Ok(s),
        Some(s) => Err(("SiteNotHealthy", format!("none of site {s}'s clusters is Ready"))),
        None => Err(("NoOtherSite", "no other site of the class is healthy".into())),
    }
}

/// The `SiteRestore` part of the class's drill policy, judged from the service's SiteRestore drills on Karmada's
/// control plane and when one last passed as recorded (`previous`); `None` when the policy does not require them.
pub fn current(
    policy: Option<&crate::api::DrillPolicy>,
    drills: &[&crate::api::ContinuityDrill],
    previous: Option<&crate::api::SiteDrills>,
    now: Timestamp,
) -> Option<crate::api::SiteDrills> {
    let policy = policy.filter(|p| p.scenarios.contains(&crate::api::DrillScenario::SiteRestore))?;
    let site = crate::api::DrillPolicy { scenarios: vec![crate::api::DrillScenario::SiteRestore], ..policy.clone() };
    let passed = drills
        .iter()
        .map(|d| Record::from_status(d.status.as_ref()))
        .filter(|r| r.phase == Phase::Passed)
        .filter_map(|r| r.ended)
        .chain(previous.and_then(|p| p.passed_at.as_ref()).map(|t| t.0))
        .max();
    let last = crate::api::LastDrill {
        scenario: crate::api::DrillScenario::SiteRestore.as_str().into(),
        name: String::new(),
        phase: Phase::Passed.as_str().into(),
        ended_at: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(passed.unwrap_or(now)),
        rto_seconds: None,
        message: None,
        passed_at: passed.map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time),
    };
    let v = crate::drill::policy::judge(&site, &[last], now);
    Some(crate::api::SiteDrills {
        status: v.status.into(),
        reason: v.reason.into(),
        message: v.message,
        passed_at: passed.map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time),
    })
}

/// One step of a SiteRestore drill at `f.now`.
pub fn step(r: &Record, wanted: Option<&str>, f: &Facts<'_>) -> (Record, Next) {
    let mut r = r.clone();
    match r.phase {
        Phase::Pending => {
            let refusal = match (f.rto, f.moving) {
                (None, _) => Err(("NoRegionObjective", "the service's class has no Region objective to score".into())),
                (_, true) => Err(("SiteFailoverInProgress", "a declared site failover has not completed".into())),
                _ => site_of(wanted, f),
            };
            match refusal {
                Err((reason, why)) => {
                    r.fail(f.now, reason, format!("not started: {why}; nothing was touched"));
                    (r, Next::Nothing)
                }
                Ok(site) => {
                    r.phase = Phase::Running;
                    r.started = Some(f.now);
                    r.note(f.now, format!("bringing the service up at site {site}, in a scratch namespace"));
                    r.site = Some(site.clone());
                    (r, Next::BringUp(site))
                }
            }
        }
        Phase::Running => {
            let started = r.started.unwrap_or(f.now);
            match f.ready {
                Some(ready) => {
                    judge(&mut r, started, ready.max(started), f);
                    (r, Next::CleanUp)
                }
                None if f.now.as_second() - started.as_second() >= f.timeout as i64 => {
                    let message =
                        format!("not Ready at site {} within the drill's timeout", r.site.clone().unwrap_or_default());
                    r.end(Phase::Aborted, f.now, "Timeout", message);
                    (r, Next::CleanUp)
                }
                None => {
                    let site = r.site.clone().unwrap_or_default();
                    (r, Next::BringUp(site))
                }
            }
        }
        _ => (r, Next::CleanUp),
    }
}

/// The verdict of a drill whose copy was Ready at `ready`.
fn judge(r: &mut Record, started: Timestamp, ready: Timestamp, f: &Facts<'_>) {
    let secs = ready.as_second() - started.as_second();
    let site = r.site.clone().unwrap_or_default();
    r.rto_seconds = Some(secs);
    let rto = f.rto.unwrap_or(0) as i64;
    let span = |s: i64| crate::api::Span::from_secs(s.max(0) as u64);
    let mut message = format!("Ready at site {site} {} after the start (Region RTO {})", span(secs), span(rto));
    let age = f.restored.as_ref().map(|(point, captured)| {
        r.point = Some(point.clone());
        r.captured = Some(*captured);
        started.as_second() - captured.as_second()
    });
    if let (Some(age), Some((point, _))) = (age, &f.restored) {
        let rpo = f.rpo.map_or("none declared".to_string(), |p| span(p as i64).to_string());
        message.push_str(&format!(", from copy {point}, {} old at the start (Region RPO {rpo})", span(age)));
    }
    let (phase, reason) = match (secs > rto, age, f.rpo) {
        (true, ..) => (Phase::Failed, "RTOExceeded"),
        (_, None, _) if f.stateful => (Phase::Failed, "NoCopyRestored"),
        (_, Some(age), Some(rpo)) if age > rpo as i64 => (Phase::Failed, "RPOExceeded"),
        _ => (Phase::Passed, "WithinObjectives"),
    };
    if reason == "NoCopyRestored" {
        message.push_str(": it started with none of its data restored");
    }
    r.end(phase, ready, reason, message);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::api::{Site, SiteFailoverMode, Standby};

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_796_000_000 + s).unwrap()
    }

    fn sites() -> Sites {
        let site =
            |n: &str| Site { name: n.into(), cluster_names: vec![format!("{n}-1")], cluster_labels: BTreeMap::new() };
        Sites {
            sites: vec![site("milan"), site("paris"), site("berlin")],
            standby: Standby::Cold,
            standby_replicas: 0,
            failover: SiteFailoverMode::Declared,
        }
    }

    fn clusters(paris_ready: bool) -> Vec<Cluster> {
        let c = |n: &str, ready: bool| Cluster {
            name: n.into(),
            labels: BTreeMap::new(),
            region: Some(format!("{n}-region")),
            ready: Some(ready),
            since: Some(t(-100)),
        };
        vec![c("milan-1", true), c("paris-1", paris_ready), c("berlin-1", true)]
    }

    fn facts<'a>(s: &'a Sites, c: &'a [Cluster], now: i64) -> Facts<'a> {
        Facts {
            sites: s,
            clusters: c,
            serving: "milan",
            moving: false,
            ready: None,
            restored: None,
            stateful: true,
            rto: Some(4 * 3600),
            rpo: Some(24 * 3600),
            timeout: 8 * 3600,
            now: t(now),
        }
    }

    #[test]
    fn a_site_restore_brings_the_service_up_elsewhere_and_scores_its_time_and_its_copys_age() {
        let (s, c) = (sites(), clusters(true));
        let (r, next) = step(&Record::default(), None, &facts(&s, &c, 0));
        assert_eq!(
            (r.phase, r.site.as_deref(), &next),
            (Phase::Running, Some("paris"), &Next::BringUp("paris".into()))
        );
        let (r, next) = step(&r, None, &facts(&s, &c, 60));
        assert_eq!(next, Next::BringUp("paris".into()), "asked for again until Ready (idempotent)");
        let done = Facts { ready: Some(t(1500)), restored: Some(("erp-d1".into(), t(-7200))), ..facts(&s, &c, 1510) };
        let (r, next) = step(&r, None, &done);
        assert_eq!(
            (r.phase, r.reason.as_str(), r.rto_seconds, &next),
            (Phase::Passed, "WithinObjectives", Some(1500), &Next::CleanUp)
        );
        assert_eq!(
            r.message,
            "Ready at site paris 25m after the start (Region RTO 4h), from copy erp-d1, 2h old at the start (Region RPO 24h)"
        );
        assert_eq!((r.point.as_deref(), r.captured), (Some("erp-d1"), Some(t(-7200))));
        assert_eq!(step(&r, None, &facts(&s, &c, 9000)).1, Next::CleanUp, "an ended drill's copy is always cleaned up");
    }

    #[test]
    fn a_slow_or_stale_site_restore_fails_with_its_numbers_and_a_silent_one_is_aborted() {
        let (s, c) = (sites(), clusters(true));
        let running = step(&Record::default(), Some("berlin"), &facts(&s, &c, 0)).0;
        assert_eq!(running.site.as_deref(), Some("berlin"));
        let slow = Facts { ready: Some(t(5 * 3600)), restored: Some(("d".into(), t(-60))), ..facts(&s, &c, 5 * 3600) };
        assert_eq!(step(&running, None, &slow).0.reason, "RTOExceeded");
        let stale = Facts { ready: Some(t(600)), restored: Some(("d".into(), t(-3 * 86_400))), ..facts(&s, &c, 600) };
        assert_eq!(step(&running, None, &stale).0.reason, "RPOExceeded");
        let empty = Facts { ready: Some(t(600)), ..facts(&s, &c, 600) };
        assert_eq!(step(&running, None, &empty).0.reason, "NoCopyRestored");
        let stateless = Facts { ready: Some(t(600)), stateful: false, ..facts(&s, &c, 600) };
        assert_eq!(step(&running, None, &stateless).0.phase, Phase::Passed, "nothing to restore: its time alone");
        let (r, next) = step(&running, None, &facts(&s, &c, 8 * 3600));
        assert_eq!((r.phase, r.reason.as_str(), next), (Phase::Aborted, "Timeout", Next::CleanUp));
    }

    #[test]
    fn a_site_restore_is_refused_with_nothing_touched_when_it_cannot_tell_anything() {
        let (s, c) = (sites(), clusters(false));
        let refused = |wanted: Option<&str>, f: &Facts<'_>| {
            let (r, next) = step(&Record::default(), wanted, f);
            assert_eq!((r.phase, &next), (Phase::Failed, &Next::Nothing));
            r.reason
        };
        assert_eq!(refused(Some("paris"), &facts(&s, &c, 0)), "SiteNotHealthy");
        assert_eq!(refused(Some("milan"), &facts(&s, &c, 0)), "ServingSite");
        assert_eq!(refused(Some("rome"), &facts(&s, &c, 0)), "NotASite");
        assert_eq!(refused(None, &Facts { moving: true, ..facts(&s, &c, 0) }), "SiteFailoverInProgress");
        assert_eq!(refused(None, &Facts { rto: None, ..facts(&s, &c, 0) }), "NoRegionObjective");
        // Paris is down: the next healthy site is drilled instead.
        assert_eq!(step(&Record::default(), None, &facts(&s, &c, 0)).0.site.as_deref(), Some("berlin"));
    }

    #[test]
    fn site_drills_are_judged_against_the_class_policy_and_a_past_pass_is_kept() {
        use crate::api::{DrillPolicy, DrillScenario, Span};
        let yearly = DrillPolicy { every: Span::from_secs(366 * 86_400), scenarios: vec![DrillScenario::SiteRestore] };
        let zones = DrillPolicy { scenarios: vec![DrillScenario::ZoneLoss], ..yearly.clone() };
        assert_eq!(current(Some(&zones), &[], None, t(0)), None, "no site drill required");
        assert_eq!(current(None, &[], None, t(0)), None);
        let never = current(Some(&yearly), &[], None, t(0)).unwrap();
        assert_eq!((never.status.as_str(), never.reason.as_str()), ("False", "DrillOverdue"));
        let drill = |phase: &str, ended: i64| -> crate::api::ContinuityDrill {
            serde_json::from_value(serde_json::json!({"metadata": {"name": "yearly", "namespace": "ict"},
                "spec": {"service": "erp", "scenario": "SiteRestore"},
                "status": {"phase": phase, "endedAt": t(ended).to_string()}}))
            .unwrap()
        };
        let passed = drill("Passed", 100);
        let v = current(Some(&yearly), &[&passed], None, t(200)).unwrap();
        assert_eq!((v.status.as_str(), v.passed_at.as_ref().map(|p| p.0)), ("True", Some(t(100))));
        // Running again (its record starts afresh): the earlier pass, as recorded, still counts.
        let running = drill("Running", 0);
        let kept = current(Some(&yearly), &[&running], Some(&v), t(300)).unwrap();
        assert_eq!((kept.status.as_str(), kept.passed_at), ("True", v.passed_at.clone()));
        let late = current(Some(&yearly), &[&drill("Failed", 400)], Some(&v), t(100 + 367 * 86_400)).unwrap();
        assert_eq!(late.reason, "DrillOverdue");
    }
}
