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
