//! The catalog: which finished backup runs become recovery points, and what each point records. Pure; the shell
//! observes the agent's Jobs and pods and creates what this returns.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::Deserialize;

use super::tiers::{Tier, expiry};
use crate::{
    api::{BackupLocation, RecoveryPoint, RecoveryPointSpec, RecoveryPointStatus},
    workload::{FIELD_MANAGER, SERVICE_LABEL},
};

/// `status.retention` of a point whose service exists.
pub const RETENTION_ACTIVE: &str = "Active";
/// `status.retention` of a point whose service was deleted: kept until a person deletes it.
pub const RETENTION_STOPPED: &str = "Stopped";

/// The points whose service no longer exists and that do not say so yet.
pub fn orphans(points: &[RecoveryPoint], exists: impl Fn(&str, &str) -> bool) -> Vec<&RecoveryPoint> {
    points
        .iter()
        .filter(|p| {
            let ns = p.metadata.namespace.as_deref().unwrap_or_default();
            let stopped = p.status.as_ref().and_then(|s| s.retention.as_deref()) == Some(RETENTION_STOPPED);
            !stopped && !exists(ns, &p.spec.service)
        })
        .collect()
}

/// When retention will delete `p` under the class's `tiers`, while its service exists: `None` for a copy on
/// request or one that counts keep (see [`super::expiry`]).
pub fn expires_at(p: &RecoveryPoint, tiers: &[Tier]) -> Option<Timestamp> {
    let captured = p.status.as_ref()?.captured_at.as_ref()?.0;
    if p.spec.on_demand {
        return None;
    }
    expiry(tiers, &p.spec.tiers, captured)
}

/// The available copies of a service that exists whose `expiresAt` is not what the class's `tiers` now say (a
/// class whose `keep` changed moves them), with the date they should show. Copies whose retention stopped are
/// left to the service's return.
pub fn stale_expiry<'p>(points: &'p [RecoveryPoint], tiers: &[Tier]) -> Vec<(&'p RecoveryPoint, Option<Timestamp>)> {
    points
        .iter()
        .filter_map(|p| {
            let s = p.status.as_ref()?;
            if s.phase.as_deref() != Some("Available") || s.retention.as_deref() == Some(RETENTION_STOPPED) {
                return None;
            }
            let due = expires_at(p, tiers);
            let shown = s.expires_at.as_ref().map(|t| t.0.as_second());
            (shown != due.map(|t| t.as_second())).then_some((p, due))
        })
        .collect()
}

/// What the agent wrote to its termination message.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentReport {
    pub id: String,
    #[serde(default)]
    pub size_bytes: Option<i64>,
    #[serde(default)]
    pub captured_at: Option<Timestamp>,
}

/// The agent's report in its termination message: the last line that is a JSON object.
pub fn report_line(message: &str) -> Option<&str> {
    message.lines().rev().map(str::trim).find(|l| l.starts_with('{'))
}

/// Reads the agent's report: the last line of the termination message that is a JSON object with an `id`.
pub fn parse_report(message: &str) -> Result<AgentReport, String> {
    let line = report_line(message).ok_or_else(|| {
        "the agent's termination message holds no JSON report ({\"id\": …}); see the agent contract".to_string()
    })?;
    let report: AgentReport =
        serde_json::from_str(line).map_err(|e| format!("the agent's report {line:?} is not valid: {e}"))?;
    if report.id.trim().is_empty() {
        return Err("the agent's report has an empty id".into());
    }
    Ok(report)
}

/// A backup run that has finished, as observed from its Job (and its pod's termination message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinishedRun {
    /// The Job's name; the recovery point takes it, so a run is catalogued once.
    pub job: String,
    pub tiers: Vec<String>,
    pub started: Option<Timestamp>,
    pub completed: Option<Timestamp>,
    pub succeeded: bool,
    /// The termination message of the agent's container, when the pod is still there.
    pub message: Option<String>,
}

/// What to do with one finished run.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Catalogue it.
    Point(Box<RecoveryPoint>),
    /// A failed run: counted and reported, never catalogued.
    Failed { job: String, tiers: Vec<String> },
    /// A run that succeeded without a usable report: not catalogued (continuo cannot restore what it cannot name).
    Unreported { job: String, why: String },
}

/// The outcomes of the runs not catalogued yet (a point of the Job's name exists once it is).
pub fn outcomes(
    runs: &[FinishedRun],
    catalogued: &[RecoveryPoint],
    service: &str,
    namespace: &str,
    location: &BackupLocation,
    tiers: &[Tier],
) -> Vec<Outcome> {
    let known = |job: &str| catalogued.iter().any(|p| p.metadata.name.as_deref() == Some(job));
    runs.iter()
        .filter(|r| !known(&r.job))
        .map(|r| {
            if !r.succeeded {
                return Outcome::Failed { job: r.job.clone(), tiers: r.tiers.clone() };
            }
            let report = match r.message.as_deref().map(parse_report) {
                Some(Ok(report)) => report,
                Some(Err(why)) => return Outcome::Unreported { job: r.job.clone(), why },
                None => {
                    return Outcome::Unreported {
                        job: r.job.clone(),
                        why: "the agent's pod is gone, and its report with it".into(),
                    };
                }
            };
            let captured = report.captured_at.or(r.started);
            let mut p = point(r, &report, captured, service, namespace, location);
            let expires = expires_at(&p, tiers);
            if let Some(s) = p.status.as_mut() {
                s.expires_at = expires.map(Time);
            }
            Outcome::Point(Box::new(p))
        })
        .collect()
}

/// A copy found in the storage itself (the agent's `list`), not made by a run this cluster saw: the catalog of a
/// recovery site rebuilt after a site loss took the one that made it. Named `<service>-<id>`, so listing twice
/// catalogues it once; labelled [`FROM_STORAGE_LABEL`].
pub fn from_storage(
    id: &str,
    captured: Timestamp,
    point_tiers: &[String],
    service: &str,
    namespace: &str,
    location: &BackupLocation,
    tiers: &[Tier],
) -> RecoveryPoint {
    let name = super::jobs::bounded_name(service, &format!("-{}", id.to_ascii_lowercase()), 253);
    let run = FinishedRun {
        job: name,
        tiers: point_tiers.to_vec(),
        started: None,
        completed: None,
        succeeded: true,
        message: None,
    };
    let report = AgentReport { id: id.to_string(), size_bytes: None, captured_at: Some(captured) };
    let mut p = point(&run, &report, Some(captured), service, namespace, location);
    p.metadata.labels.get_or_insert_with(Default::default).insert(FROM_STORAGE_LABEL.into(), "true".into());
    let expires = expires_at(&p, tiers);
    if let Some(s) = p.status.as_mut() {
        s.expires_at = expires.map(Time);
    }
    p
}

/// Label of a recovery point catalogued from the storage (see [`from_storage`]).
pub const FROM_STORAGE_LABEL: &str = "continuo.dev/from-storage";

fn point(
    r: &FinishedRun,
    report: &AgentReport,
    captured: Option<Timestamp>,
    service: &str,
    namespace: &str,
    location: &BackupLocation,
) -> RecoveryPoint {
    let name = location.metadata.name.clone().unwrap_or_default();
    let mut p = RecoveryPoint::new(
        &r.job,
        RecoveryPointSpec { service: service.into(), location: name, tiers: r.tiers.clone(), on_demand: false },
    );
    p.metadata = ObjectMeta {
        name: Some(r.job.clone()),
        namespace: Some(namespace.into()),
        // Labelled with its service to be found, but not owned by it: deleting the service keeps its copies.
        labels: Some(
            [
                (SERVICE_LABEL.to_string(), service.to_string()),
                ("app.kubernetes.io/managed-by".into(), FIELD_MANAGER.into()),
            ]
            .into(),
        ),
        ..ObjectMeta::default()
    };
    p.status = Some(RecoveryPointStatus {
        phase: Some("Available".into()),
        id: Some(report.id.clone()),
        captured_at: captured.map(Time),
        completed_at: r.completed.map(Time),
        size_bytes: report.size_bytes,
        region: Some(location.spec.region.clone()),
        zone: location.spec.zone.clone(),
        tier_summary: Some(if r.tiers.is_empty() { "on-demand".into() } else { r.tiers.join(",") }),
        retention: Some(RETENTION_ACTIVE.into()),
        ..RecoveryPointStatus::default()
    });
    p
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::backup::retention::Keep;

    fn location() -> BackupLocation {
        serde_json::from_value(json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "BackupLocation",
            "metadata": {"name": "offsite"}, "spec": {"region": "eu-south-2"}}))
        .unwrap()
    }

    fn run(job: &str, succeeded: bool, message: Option<&str>) -> FinishedRun {
        FinishedRun {
            job: job.into(),
            tiers: vec!["archive".into(), "intraday".into()],
            started: Some("2026-11-25T01:00:02Z".parse().unwrap()),
            completed: Some("2026-11-25T01:14:40Z".parse().unwrap()),
            succeeded,
            message: message.map(str::to_string),
        }
    }

    #[test]
    fn a_reported_copy_becomes_a_point_that_the_service_does_not_own() {
        let runs = [run(
            "hub-backup-archive-intraday-29400000",
            true,
            Some(
                "restic done\n{\"id\": \"4f1c2a\", \"sizeBytes\": 734003200, \"capturedAt\": \"2026-11-25T01:00:05Z\"}\n",
            ),
        )];
        let out = outcomes(&runs, &[], "hub", "invoicing", &location(), &[]);
        let Outcome::Point(p) = &out[0] else { panic!("{out:?}") };
        assert_eq!(p.metadata.name.as_deref(), Some("hub-backup-archive-intraday-29400000"));
        assert!(p.metadata.owner_references.is_none());
        assert_eq!(p.spec.tiers, ["archive", "intraday"]);
        let s = p.status.as_ref().unwrap();
        assert_eq!((s.id.as_deref(), s.size_bytes), (Some("4f1c2a"), Some(734_003_200)));
        assert_eq!(s.captured_at.as_ref().unwrap().0.to_string(), "2026-11-25T01:00:05Z");
        assert_eq!(s.region.as_deref(), Some("eu-south-2"));
        // Once catalogued, the same run is not catalogued again.
        assert!(outcomes(&runs, &[(**p).clone()], "hub", "invoicing", &location(), &[]).is_empty());
    }

    #[test]
    fn failed_and_unreported_runs_are_never_catalogued() {
        let out = outcomes(
            &[
                run("a", false, None),
                run("b", true, Some("done, no json")),
                run("c", true, None),
                run("d", true, Some("{\"id\": \"\"}")),
            ],
            &[],
            "hub",
            "invoicing",
            &location(),
            &[],
        );
        assert!(matches!(&out[0], Outcome::Failed { job, .. } if job == "a"));
        assert!(matches!(&out[1], Outcome::Unreported { why, .. } if why.contains("no JSON report")));
        assert!(matches!(&out[2], Outcome::Unreported { why, .. } if why.contains("pod is gone")));
        assert!(matches!(&out[3], Outcome::Unreported { why, .. } if why.contains("empty id")));
    }

    #[test]
    fn points_of_a_deleted_service_are_orphans_once() {
        let p = |name: &str, service: &str, retention: Option<&str>| -> RecoveryPoint {
            serde_json::from_value(json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "RecoveryPoint",
                "metadata": {"name": name, "namespace": "n"}, "spec": {"service": service, "location": "l"},
                "status": {"phase": "Available", "retention": retention}}))
            .unwrap()
        };
        let points = [p("a", "hub", Some("Active")), p("b", "gone", Some("Active")), p("c", "gone", Some("Stopped"))];
        let found: Vec<String> =
            orphans(&points, |_, s| s == "hub").iter().map(|p| p.metadata.name.clone().unwrap()).collect();
        assert_eq!(found, ["b"]);
    }

    #[test]
    fn the_capture_time_defaults_to_the_runs_start() {
        let out = outcomes(&[run("a", true, Some("{\"id\": \"x\"}"))], &[], "hub", "invoicing", &location(), &[]);
        let Outcome::Point(p) = &out[0] else { panic!() };
        assert_eq!(p.status.as_ref().unwrap().captured_at.as_ref().unwrap().0.to_string(), "2026-11-25T01:00:02Z");
    }

    fn available(name: &str, tiers: &[&str], captured: &str, expires: Option<&str>) -> RecoveryPoint {
        serde_json::from_value(json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "RecoveryPoint",
            "metadata": {"name": name, "namespace": "invoicing"},
            "spec": {"service": "hub", "location": "offsite", "tiers": tiers},
            "status": {"phase": "Available", "id": name, "capturedAt": captured, "expiresAt": expires}}))
        .unwrap()
    }

    fn tier(name: &str, keep: Keep) -> Tier {
        Tier { name: name.into(), schedule: "0 2 * * *".into(), keep, derived: false }
    }

    fn within(hours: i64) -> Keep {
        Keep { within: Some(jiff::SignedDuration::from_hours(hours)), ..Default::default() }
    }

    #[test]
    fn a_class_whose_keep_changed_moves_the_expiry_of_the_copies_and_only_theirs() {
        let points = [
            available("kept-two-days", &["intraday"], "2026-11-25T02:00:00Z", Some("2026-11-27T02:00:00Z")),
            available("already-right", &["archive"], "2026-11-25T02:00:00Z", Some("2027-05-24T02:00:00Z")),
            available("by-count", &["daily"], "2026-11-25T02:00:00Z", Some("2026-12-02T02:00:00Z")),
        ];
        let tiers = [
            tier("intraday", within(72)),
            tier("archive", within(4320)),
            tier("daily", Keep { daily: Some(7), ..Default::default() }),
        ];
        let changes: Vec<(String, Option<String>)> = stale_expiry(&points, &tiers)
            .into_iter()
            .map(|(p, t)| (p.metadata.name.clone().unwrap(), t.map(|t| t.to_string())))
            .collect();
        assert_eq!(
            changes,
            vec![
                ("kept-two-days".into(), Some("2026-11-28T02:00:00Z".into())),
                ("by-count".into(), None), // counts keep it: when it goes depends on the copies to come
            ]
        );
    }

    #[test]
    fn copies_kept_until_a_person_deletes_them_are_left_alone() {
        let mut on_request = available("export", &[], "2026-11-25T02:00:00Z", None);
        on_request.spec.on_demand = true;
        let mut stopped = available("orphan", &["intraday"], "2026-11-25T02:00:00Z", None);
        stopped.status.as_mut().unwrap().retention = Some(RETENTION_STOPPED.into());
        let tiers = [tier("intraday", within(48))];
        assert!(stale_expiry(&[on_request, stopped], &tiers).is_empty());
    }
}
