//! Backups against the in-memory Kubernetes API: the CronJobs a service's tiers become, where they may run, the
//! RPO verdicts they lead to, and what a refused location leaves alone.

mod support;

use std::sync::Arc;

use continuo::{
    api::ResilientService,
    controller::{Context, reconcile},
    plan::Config,
};
use k8s_openapi::api::core::v1::Node;
use kube::runtime::events::Reporter;
use serde_json::{Value, json};
use support::{FakeApi, Feed, node, nodes};

const NS: &str = "invoicing";
const SERVICES: &str = "/apis/continuo.dev/v1alpha1/namespaces/invoicing/resilientservices";
const CLASSES: &str = "/apis/continuo.dev/v1alpha1/continuityclasses";
const LOCATIONS: &str = "/apis/continuo.dev/v1alpha1/backuplocations";
const POINTS: &str = "/apis/continuo.dev/v1alpha1/namespaces/invoicing/recoverypoints";
const CRONJOBS: &str = "/apis/batch/v1/namespaces/invoicing/cronjobs";
const ZONES: [&str; 3] = ["eu-south-1a", "eu-south-1b", "eu-south-1c"];

fn class() -> Value {
    json!({
        "apiVersion": "continuo.dev/v1alpha1", "kind": "ContinuityClass", "metadata": {"name": "standard-eu"},
        "spec": {"mode": "Restart", "minZones": 2, "residency": {"regions": ["eu-south-1", "eu-south-2"]},
            "objectives": [{"scope": "Node", "rto": "15m"}, {"scope": "Zone", "rto": "60m", "rpo": "24h"}],
            "backup": {"timeZone": "Europe/Rome", "tiers": [
                {"name": "intraday", "schedule": "0 2,7,16 * * *", "keep": {"within": "48h"}},
                {"name": "archive", "schedule": "0 2 * * *", "keep": {"within": "4320h"}}]}}
    })
}

fn location(region: &str, zone: Option<&str>) -> Value {
    json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "BackupLocation", "metadata": {"name": "offsite-eu"},
        "spec": {"region": region, "zone": zone, "config": {"bucket": "invoicing-backups"}, "secretName": "restic"}})
}

fn service() -> Value {
    json!({
        "apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService",
        "metadata": {"name": "hub", "namespace": NS},
        "spec": {"className": "standard-eu", "replicas": 3,
            "template": {"spec": {"containers": [{"name": "app", "image": "hub:1"}]}},
            "backup": {"location": "offsite-eu", "expectedDuration": "20m",
                "agent": {"spec": {"containers": [{"name": "restic", "image": "restic/restic:0.17"}]}}}}
    })
}

struct World {
    api: FakeApi,
    nodes: std::sync::Mutex<Vec<Node>>,
    ctx: Arc<Context>,
    feed: std::sync::Mutex<Feed>,
}

impl World {
    fn new() -> World {
        let api = FakeApi::default();
        api.put(CLASSES, class());
        api.put(LOCATIONS, location("eu-south-2", None));
        api.put(SERVICES, service());
        let nodes = nodes(&ZONES, 2);
        let (caches, feed) = api.watched(&nodes);
        let reporter = Reporter { controller: "continuo".into(), instance: None };
        let ctx = Arc::new(Context::new(api.client(), caches, Config::default(), reporter));
        World { api, nodes: nodes.into(), ctx, feed: feed.into() }
    }

    async fn reconcile(&self) {
        let nodes = self.nodes.lock().unwrap().clone();
        self.feed.lock().unwrap().sync(&self.api, &nodes);
        let svc: ResilientService = serde_json::from_value(self.api.get(SERVICES, "hub").unwrap()).unwrap();
        reconcile(Arc::new(svc), self.ctx.clone()).await.expect("reconcile succeeds");
    }

    fn rpo(&self) -> Value {
        let svc = self.api.get(SERVICES, "hub").unwrap();
        svc["status"]["objectives"].as_array().unwrap().iter().find(|o| o["objective"] == "RPO").unwrap().clone()
    }

    fn cron_jobs(&self) -> Vec<Value> {
        self.api.list(CRONJOBS)
    }
}

fn zones_of(cj: &Value) -> Value {
    cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
        ["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"]
        .clone()
}

#[tokio::test]
async fn tiers_become_cron_jobs_in_the_class_time_zone_sharing_the_two_oclock_copy() {
    let w = World::new();
    w.reconcile().await;
    let cjs = w.cron_jobs();
    let shown: Vec<(String, String)> = cjs
        .iter()
        .map(|c| (c["metadata"]["name"].as_str().unwrap().into(), c["spec"]["schedule"].as_str().unwrap().into()))
        .collect();
    assert_eq!(
        shown,
        [
            ("hub-backup-archive-intraday".into(), "0 2 * * *".into()),
            ("hub-backup-intraday".into(), "0 7,16 * * *".into())
        ]
    );
    for c in &cjs {
        assert_eq!(c["spec"]["timeZone"], "Europe/Rome");
        assert_eq!(c["spec"]["concurrencyPolicy"], "Forbid");
        assert!(c["spec"]["startingDeadlineSeconds"].is_i64());
        assert_eq!(c["metadata"]["ownerReferences"][0]["kind"], "ResilientService");
        assert_eq!(zones_of(c), json!(ZONES));
    }
    let rpo = w.rpo();
    assert_eq!((rpo["status"].as_str(), rpo["reason"].as_str()), (Some("Unknown"), Some("AwaitingFirstCopy")));
    assert!(rpo["message"].as_str().unwrap().contains("expected copy 20m"), "{rpo}");

    // Nothing changed: nothing is written.
    w.api.clear_log();
    w.reconcile().await;
    assert_eq!(w.api.writes(), vec![], "a second reconcile writes nothing");
}

#[tokio::test]
async fn a_zone_that_goes_down_gets_no_backup_run() {
    let w = World::new();
    w.reconcile().await;
    *w.nodes.lock().unwrap() = vec![
        node("eu-south-1a-w1", "eu-south-1a", false),
        node("eu-south-1a-w2", "eu-south-1a", false),
        node("eu-south-1b-w1", "eu-south-1b", true),
        node("eu-south-1c-w1", "eu-south-1c", true),
    ];
    w.reconcile().await;
    for c in w.cron_jobs() {
        assert_eq!(zones_of(&c), json!(["eu-south-1b", "eu-south-1c"]), "{}", c["metadata"]["name"]);
    }
}

#[tokio::test]
async fn a_newer_copy_makes_the_rpo_met_and_an_old_one_does_not() {
    let w = World::new();
    let now = k8s_openapi::jiff::Timestamp::now();
    let at = |h: i64| (now - k8s_openapi::jiff::SignedDuration::from_hours(h)).to_string();
    w.api.put(
        POINTS,
        json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "RecoveryPoint",
        "metadata": {"name": "hub-20261124-0200", "namespace": NS},
        "spec": {"service": "hub", "location": "offsite-eu", "tiers": ["archive", "intraday"]},
        "status": {"phase": "Available", "capturedAt": at(30), "completedAt": at(29)}}),
    );
    w.reconcile().await;
    let rpo = w.rpo();
    assert_eq!((rpo["status"].as_str(), rpo["reason"].as_str()), (Some("False"), Some("NewestCopyTooOld")), "{rpo}");
    w.api.put(
        POINTS,
        json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "RecoveryPoint",
        "metadata": {"name": "hub-20261125-0700", "namespace": NS},
        "spec": {"service": "hub", "location": "offsite-eu", "tiers": ["intraday"]},
        "status": {"phase": "Available", "capturedAt": at(3), "completedAt": at(2)}}),
    );
    w.reconcile().await;
    let rpo = w.rpo();
    assert_eq!((rpo["status"].as_str(), rpo["reason"].as_str()), (Some("True"), Some("RPOMet")), "{rpo}");
    assert!(rpo["message"].as_str().unwrap().contains("newest copy 3h old, stored in region eu-south-2"), "{rpo}");
    let backup = w.api.get(SERVICES, "hub").unwrap()["status"]["backup"].clone();
    assert_eq!(
        backup["newestCopy"].as_str().map(|t| t.parse::<k8s_openapi::jiff::Timestamp>().unwrap().as_second()),
        Some(at(3).parse::<k8s_openapi::jiff::Timestamp>().unwrap().as_second())
    );
    assert_eq!(backup["points"], 2);
    let tiers: Vec<(&str, i64, bool)> = backup["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["points"].as_i64().unwrap(), t["nextRun"].is_string()))
        .collect();
    // Intraday keeps both (48h); only the 30-hour-old copy belongs to the archive tier.
    assert_eq!(tiers, [("intraday", 2, true), ("archive", 1, true)]);
    let svc = serde_json::from_value(w.api.get(SERVICES, "hub").unwrap()).unwrap();
    let samples = continuo::metrics::samples(&svc);
    assert!(samples.iter().any(|s| s.metric == "continuo_backup_newest_copy_timestamp_seconds"));
    let achieved = samples.iter().find(|s| s.metric == "continuo_backup_achieved_rpo_seconds").unwrap().value as i64;
    assert!((3 * 3600..3 * 3600 + 60).contains(&achieved), "{achieved}");
    // A failed run is never a recovery point: it does not count.
    w.api.put(
        POINTS,
        json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "RecoveryPoint",
        "metadata": {"name": "hub-20261125-1600", "namespace": NS},
        "spec": {"service": "hub", "location": "offsite-eu", "tiers": ["intraday"]},
        "status": {"phase": "Failed", "capturedAt": at(0)}}),
    );
    w.reconcile().await;
    assert!(w.rpo()["message"].as_str().unwrap().contains("newest copy 3h old"));
}

#[tokio::test]
async fn a_location_in_a_protected_zone_is_refused_and_leaves_the_cron_jobs_alone() {
    let w = World::new();
    w.reconcile().await;
    let before = w.cron_jobs();
    w.api.put(LOCATIONS, location("eu-south-1", Some("eu-south-1b")));
    w.api.clear_log();
    w.reconcile().await;
    let writes: Vec<(String, String)> = w.api.writes().into_iter().filter(|(_, p)| p.contains("cronjobs")).collect();
    assert_eq!(writes, vec![], "nothing is deleted or changed");
    assert_eq!(w.cron_jobs(), before);
    let rpo = w.rpo();
    assert_eq!((rpo["status"].as_str(), rpo["reason"].as_str()), (Some("False"), Some("LocationInProtectedZone")));
    assert_eq!(
        rpo["message"],
        "Zone: RPO 24h not met — copies are stored in eu-south-1b (BackupLocation offsite-eu), which this service runs in"
    );
    let events = w.api.list("/apis/events.k8s.io/v1/namespaces/invoicing/events");
    assert!(
        events.iter().any(|e| e["type"] == "Warning" && e["reason"] == "LocationInProtectedZone"),
        "an Event in the verdict's own words: {events:?}"
    );
}

#[tokio::test]
async fn a_location_outside_residency_runs_no_copy() {
    let w = World::new();
    w.api.put(LOCATIONS, location("us-east-1", None));
    w.reconcile().await;
    assert_eq!(w.cron_jobs(), Vec::<Value>::new(), "no copy may leave the residency");
    assert_eq!(w.rpo()["reason"], "LocationOutsideResidency");
}

#[tokio::test]
async fn removing_a_tier_removes_its_cron_job() {
    let w = World::new();
    w.reconcile().await;
    w.api.edit(CLASSES, "standard-eu", |c| {
        c["spec"]["backup"]["tiers"].as_array_mut().unwrap().remove(0);
    });
    w.reconcile().await;
    let names: Vec<String> =
        w.cron_jobs().iter().map(|c| c["metadata"]["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["hub-backup-archive"]);
}

#[tokio::test]
async fn the_standard_class_is_met_once_a_fresh_copy_is_in_the_catalog() {
    let w = World::new();
    let standard = continuo::api::builtin_classes()
        .unwrap()
        .into_iter()
        .find(|c| c.metadata.name.as_deref() == Some("standard"))
        .unwrap();
    w.api.put(CLASSES, serde_json::to_value(&standard).unwrap());
    w.api.edit(SERVICES, "hub", |s| s["spec"]["className"] = json!("standard"));
    let condition = |w: &World| {
        let svc = w.api.get(SERVICES, "hub").unwrap();
        let c = svc["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "ObjectivesMet")
            .unwrap()
            .clone();
        (c["status"].as_str().unwrap().to_string(), c["reason"].as_str().unwrap().to_string())
    };
    w.reconcile().await;
    assert_eq!(condition(&w), ("Unknown".into(), "ObjectivesNotVerified".into()), "awaiting the first copy");
    let captured = (k8s_openapi::jiff::Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_hours(2)).to_string();
    w.api.put(POINTS, json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "RecoveryPoint",
        "metadata": {"name": "hub-1", "namespace": NS}, "spec": {"service": "hub", "location": "offsite-eu", "tiers": ["rpo"]},
        "status": {"phase": "Available", "capturedAt": captured, "completedAt": captured}}));
    w.reconcile().await;
    assert_eq!(condition(&w), ("True".into(), "ObjectivesFeasible".into()));
}

const JOBS: &str = "/apis/batch/v1/namespaces/invoicing/jobs";
const PODS: &str = "/api/v1/namespaces/invoicing/pods";

/// A backup run the CronJob controller started, finished as the agent left it.
fn finished_run(api: &FakeApi, job: &str, tiers: &str, ok: bool, report: Option<&str>) {
    let condition = if ok { "Complete" } else { "Failed" };
    api.put(
        JOBS,
        json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": job, "namespace": NS,
            "labels": {"continuo.dev/service": "hub", "continuo.dev/action": "backup"},
            "annotations": {"continuo.dev/tiers": tiers}},
        "status": {"startTime": "2026-11-25T01:00:02Z", "completionTime": "2026-11-25T01:14:40Z",
            "conditions": [{"type": condition, "status": "True"}]}}),
    );
    let terminated = match report {
        Some(m) => json!({"exitCode": if ok { 0 } else { 1 }, "message": m}),
        None => json!({"exitCode": if ok { 0 } else { 1 }}),
    };
    api.put(
        PODS,
        json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{job}-x7k2p"), "namespace": NS,
            "labels": {"job-name": job, "continuo.dev/action": "backup", "continuo.dev/service": "hub"}},
        "status": {"containerStatuses": [{"name": "agent", "state": {"terminated": terminated}}]}}),
    );
}

#[tokio::test]
async fn a_finished_run_becomes_a_recovery_point_and_a_failed_one_a_warning() {
    let w = World::new();
    w.reconcile().await;
    let captured = (k8s_openapi::jiff::Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_hours(2)).to_string();
    let report =
        format!("restic: done\n{{\"id\": \"4f1c2a9e\", \"sizeBytes\": 734003200, \"capturedAt\": \"{captured}\"}}");
    finished_run(&w.api, "hub-backup-archive-intraday-29400060", "archive,intraday", true, Some(&report));
    finished_run(&w.api, "hub-backup-intraday-29400360", "intraday", false, None);
    w.reconcile().await;
    let points = w.api.list(POINTS);
    assert_eq!(points.len(), 1, "the failed run is not catalogued: {points:?}");
    let p = &points[0];
    assert_eq!(p["metadata"]["name"], "hub-backup-archive-intraday-29400060");
    assert!(p["metadata"]["ownerReferences"].is_null(), "not owned: deleting the service keeps its copies");
    assert_eq!(p["metadata"]["labels"]["continuo.dev/service"], "hub");
    assert_eq!(p["spec"]["tiers"], json!(["archive", "intraday"]));
    assert_eq!(p["status"]["phase"], "Available");
    assert_eq!(p["status"]["id"], "4f1c2a9e");
    assert_eq!(p["status"]["sizeBytes"], 734_003_200);
    let stored: k8s_openapi::jiff::Timestamp = p["status"]["capturedAt"].as_str().unwrap().parse().unwrap();
    let reported: k8s_openapi::jiff::Timestamp = captured.parse().unwrap();
    assert_eq!(stored.as_second(), reported.as_second(), "the agent's capture time, to the second");
    assert_eq!(p["status"]["region"], "eu-south-2");
    // Kept by age alone (48h intraday, 4320h archive): it expires 180 days after its capture.
    let expires: k8s_openapi::jiff::Timestamp = p["status"]["expiresAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires.as_second() - reported_second(&captured), 4320 * 3600);
    let events = w.api.list("/apis/events.k8s.io/v1/namespaces/invoicing/events");
    assert!(
        events.iter().any(|e| e["reason"] == "BackupFailed"
            && e["type"] == "Warning"
            && e["note"].as_str().unwrap().contains("hub-backup-intraday-29400360")),
        "{events:?}"
    );
    // The copy now in the catalog meets the RPO; after that, nothing is written again: no second point, no
    // second warning.
    w.reconcile().await;
    assert_eq!(w.rpo()["reason"], "RPOMet");
    w.api.clear_log();
    w.reconcile().await;
    assert_eq!(w.api.writes(), vec![]);
}

#[tokio::test]
async fn an_expired_copy_is_deleted_by_the_agent_then_leaves_the_catalog_and_the_newest_stays() {
    let w = World::new();
    let now = k8s_openapi::jiff::Timestamp::now();
    let at = |h: i64| (now - k8s_openapi::jiff::SignedDuration::from_hours(h)).to_string();
    // An intraday-only copy of three days ago (kept 48h: expired) and the newest copy.
    for (name, age, tiers) in [("hub-old", 72, json!(["intraday"])), ("hub-new", 5, json!(["intraday"]))] {
        w.api.put(POINTS, json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "RecoveryPoint",
            "metadata": {"name": name, "namespace": NS, "labels": {"continuo.dev/service": "hub"}},
            "spec": {"service": "hub", "location": "offsite-eu", "tiers": tiers},
            "status": {"phase": "Available", "id": format!("id-{name}"), "capturedAt": at(age), "completedAt": at(age)}}));
    }
    w.reconcile().await;
    let run = w.api.get(JOBS, "hub-old-delete").expect("a delete run for the expired copy");
    let env: Vec<(String, String)> = run["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().into(), e["value"].as_str().unwrap_or_default().into()))
        .collect();
    assert!(env.contains(&("CONTINUO_ACTION".into(), "delete".into())), "{env:?}");
    assert!(env.contains(&("CONTINUO_POINT_ID".into(), "id-hub-old".into())), "{env:?}");
    assert_eq!(w.api.get(POINTS, "hub-old").unwrap()["status"]["phase"], "Deleting");
    assert_eq!(w.api.get(POINTS, "hub-new").unwrap()["status"]["phase"], "Available", "the newest copy is kept");
    assert!(w.api.get(JOBS, "hub-new-delete").is_none());

    // The agent deleted the copy: the point leaves the catalog.
    w.api.edit(JOBS, "hub-old-delete", |j| {
        j["status"] = json!({"conditions": [{"type": "Complete", "status": "True"}]})
    });
    w.reconcile().await;
    assert!(w.api.get(POINTS, "hub-old").is_none());
    assert!(w.api.get(POINTS, "hub-new").is_some());
}

#[tokio::test]
async fn a_refused_location_expires_nothing() {
    let w = World::new();
    let old = (k8s_openapi::jiff::Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_hours(72)).to_string();
    let new = (k8s_openapi::jiff::Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_hours(1)).to_string();
    for (name, at) in [("hub-old", &old), ("hub-new", &new)] {
        w.api.put(POINTS, json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "RecoveryPoint",
            "metadata": {"name": name, "namespace": NS}, "spec": {"service": "hub", "location": "offsite-eu", "tiers": ["intraday"]},
            "status": {"phase": "Available", "capturedAt": at, "completedAt": at}}));
    }
    w.api.put(LOCATIONS, location("eu-south-1", Some("eu-south-1a")));
    w.reconcile().await;
    assert!(w.api.list(JOBS).is_empty(), "no delete run while the backup configuration is refused");
    assert_eq!(w.api.get(POINTS, "hub-old").unwrap()["status"]["phase"], "Available");
}

fn reported_second(t: &str) -> i64 {
    t.parse::<k8s_openapi::jiff::Timestamp>().unwrap().as_second()
}

const RESTORES: &str = "/apis/continuo.dev/v1alpha1/namespaces/invoicing/restorerequests";

fn available_point(api: &FakeApi, name: &str, service: &str, hours_ago: i64) {
    let at =
        (k8s_openapi::jiff::Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_hours(hours_ago)).to_string();
    api.put(POINTS, json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "RecoveryPoint",
        "metadata": {"name": name, "namespace": NS}, "spec": {"service": service, "location": "offsite-eu", "tiers": ["archive"]},
        "status": {"phase": "Available", "id": format!("snap-{name}"), "capturedAt": at, "completedAt": at}}));
}

#[tokio::test]
async fn a_restore_request_runs_the_agent_and_reports_without_touching_the_workload() {
    let w = World::new();
    w.reconcile().await;
    available_point(&w.api, "hub-monday", "hub", 50);
    available_point(&w.api, "hub-tuesday", "hub", 26);
    w.api.put(
        RESTORES,
        json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "RestoreRequest",
        "metadata": {"name": "acme-tuesday", "namespace": NS},
        "spec": {"service": "hub", "point": "hub-tuesday", "scope": "tenant=acme"}}),
    );
    let deployments_before = w.api.list("/apis/apps/v1/namespaces/invoicing/deployments");
    w.reconcile().await;
    let run = w.api.get(JOBS, "acme-tuesday-restore").expect("the agent's restore run");
    let env: Vec<(String, String)> = run["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().into(), e["value"].as_str().unwrap_or_default().into()))
        .collect();
    for want in [
        ("CONTINUO_ACTION", "restore"),
        ("CONTINUO_POINT_ID", "snap-hub-tuesday"),
        ("CONTINUO_RESTORE_SCOPE", "tenant=acme"),
    ] {
        assert!(env.contains(&(want.0.into(), want.1.into())), "{want:?} in {env:?}");
    }
    let req = w.api.get(RESTORES, "acme-tuesday").unwrap();
    assert_eq!(
        (req["status"]["phase"].as_str(), req["status"]["point"].as_str()),
        (Some("Running"), Some("hub-tuesday"))
    );
    assert!(req["status"]["startTime"].is_string() && req["status"]["capturedAt"].is_string());

    w.api.edit(JOBS, "acme-tuesday-restore", |j| {
        j["status"] = json!({"completionTime": k8s_openapi::jiff::Timestamp::now().to_string(),
        "conditions": [{"type": "Complete", "status": "True"}]})
    });
    w.reconcile().await;
    let req = w.api.get(RESTORES, "acme-tuesday").unwrap();
    assert_eq!(req["status"]["phase"], "Succeeded");
    assert!(req["status"]["message"].as_str().unwrap().starts_with("restored data 26h"), "{req}");
    let events = w.api.list("/apis/events.k8s.io/v1/namespaces/invoicing/events");
    assert!(
        events.iter().any(|e| e["reason"] == "RestoreStarted")
            && events.iter().any(|e| e["reason"] == "RestoreSucceeded")
    );
    assert_eq!(
        w.api.list("/apis/apps/v1/namespaces/invoicing/deployments"),
        deployments_before,
        "the workload is untouched"
    );
}

#[tokio::test]
async fn a_restore_of_another_services_or_a_missing_point_is_refused() {
    let w = World::new();
    available_point(&w.api, "billing-1", "billing", 2);
    for (name, point) in [("wrong-service", "billing-1"), ("missing", "hub-never")] {
        w.api.put(
            RESTORES,
            json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "RestoreRequest",
            "metadata": {"name": name, "namespace": NS}, "spec": {"service": "hub", "point": point}}),
        );
    }
    w.reconcile().await;
    assert!(w.api.list(JOBS).is_empty(), "nothing runs");
    let wrong = w.api.get(RESTORES, "wrong-service").unwrap();
    assert_eq!(wrong["status"]["phase"], "Failed");
    assert!(wrong["status"]["message"].as_str().unwrap().contains("belongs to service \"billing\""));
    assert!(w.api.get(RESTORES, "missing").unwrap()["status"]["message"].as_str().unwrap().contains("does not exist"));
    assert!(
        w.api
            .list("/apis/events.k8s.io/v1/namespaces/invoicing/events")
            .iter()
            .any(|e| e["reason"] == "RestoreRefused")
    );
}

#[tokio::test]
async fn a_copy_on_request_to_another_location_is_catalogued_and_never_expires() {
    let w = World::new();
    w.api.put(
        LOCATIONS,
        json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "BackupLocation",
        "metadata": {"name": "export-auditor"}, "spec": {"region": "eu-south-2", "config": {"bucket": "auditor"}}}),
    );
    w.api.put(
        POINTS,
        json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "RecoveryPoint",
        "metadata": {"name": "hub-export-2026", "namespace": NS},
        "spec": {"service": "hub", "location": "export-auditor", "onDemand": true}}),
    );
    w.reconcile().await;
    let run = w.api.get(JOBS, "hub-export-2026-copy").expect("a copy runs now");
    let env = run["spec"]["template"]["spec"]["containers"][0]["env"].to_string();
    assert!(env.contains("\"auditor\"") && env.contains("\"backup\""), "{env}");
    assert_eq!(w.api.get(POINTS, "hub-export-2026").unwrap()["status"]["phase"], "Running");

    let captured =
        (k8s_openapi::jiff::Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_hours(24 * 400)).to_string();
    w.api.edit(JOBS, "hub-export-2026-copy", |j| {
        j["status"] = json!({"startTime": captured,
        "conditions": [{"type": "Complete", "status": "True"}]})
    });
    w.api.put(PODS, json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "hub-export-2026-copy-abc", "namespace": NS,
            "labels": {"job-name": "hub-export-2026-copy", "continuo.dev/action": "backup"}},
        "status": {"containerStatuses": [{"name": "agent", "state": {"terminated": {"exitCode": 0, "message": "{\"id\": \"exp-1\", \"sizeBytes\": 42}"}}}]}}));
    w.reconcile().await;
    let p = w.api.get(POINTS, "hub-export-2026").unwrap();
    assert_eq!((p["status"]["phase"].as_str(), p["status"]["id"].as_str()), (Some("Available"), Some("exp-1")));
    assert_eq!(w.api.list(POINTS).len(), 1, "not catalogued twice");
    // 400 days old, no tier: retention keeps it until a person deletes it.
    w.reconcile().await;
    assert!(w.api.get(JOBS, "hub-export-2026-delete").is_none());
}

#[tokio::test]
async fn deleting_the_service_keeps_its_copies_and_says_retention_stopped() {
    let w = World::new();
    w.reconcile().await;
    // A copy continuo catalogued itself, so every field of its status is continuo's (server-side apply would
    // drop any it left out of a later status write).
    let captured = (k8s_openapi::jiff::Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_hours(3)).to_string();
    let report = format!("{{\"id\": \"snap-1\", \"sizeBytes\": 1024, \"capturedAt\": \"{captured}\"}}");
    finished_run(&w.api, "hub-1", "archive", true, Some(&report));
    w.reconcile().await;
    let catalogued = w.api.get(POINTS, "hub-1").expect("catalogued")["status"].clone();
    w.api.edit(POINTS, "hub-1", |p| p["status"]["retention"] = json!("Active"));
    // The service is deleted (its CronJobs go with it, by owner reference); its points are not owned.
    let svc: ResilientService = serde_json::from_value(w.api.get(SERVICES, "hub").unwrap()).unwrap();
    w.api.remove(SERVICES, "hub");
    w.feed.lock().unwrap().sync(&w.api, &w.nodes.lock().unwrap().clone());
    let marked = continuo::controller::mark_orphans(&w.ctx, &support::store::<ResilientService>(&[])).await.unwrap();
    assert_eq!(marked, 1);
    let p = w.api.get(POINTS, "hub-1").expect("the copy stays");
    assert_eq!(p["status"]["retention"], "Stopped");
    assert!(p["status"]["message"].as_str().unwrap().contains("kept until a person deletes it"));
    assert_eq!(p["status"]["phase"], "Available");
    for field in ["id", "sizeBytes", "capturedAt", "region"] {
        assert_eq!(p["status"][field], catalogued[field], "{field} is kept when retention stops");
    }
    assert!(catalogued["expiresAt"].is_string(), "the archive tier keeps it 180 days: {catalogued}");
    assert!(p["status"]["expiresAt"].is_null(), "nothing will expire it now, so it shows no date");
    // Marked once: a second sweep writes nothing.
    w.feed.lock().unwrap().sync(&w.api, &w.nodes.lock().unwrap().clone());
    assert_eq!(continuo::controller::mark_orphans(&w.ctx, &support::store::<ResilientService>(&[])).await.unwrap(), 0);

    // The service comes back under the same name: its copies are under retention again.
    w.api.put(SERVICES, serde_json::to_value(&svc).unwrap());
    w.reconcile().await;
    let p = w.api.get(POINTS, "hub-1").unwrap();
    assert_eq!(p["status"]["retention"], "Active");
    assert_eq!(p["status"]["expiresAt"], catalogued["expiresAt"], "under retention again, it expires again");
    assert!(p["status"]["message"].is_null(), "{p}");
}
