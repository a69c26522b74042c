//! ZoneLoss drills against the in-memory API, on a fake clock: the zone is taken out for the drilled service only
//! (its Deployment scaled to 0, the plan re-placing capacity as for a real loss), the recovery is measured and
//! scored against the class's Zone RTO, the zone is given back, and a drill aborts when capacity stays short.

mod support;

use std::sync::{
    Arc,
    atomic::{AtomicI64, Ordering},
};

use continuo::{
    api::ResilientService,
    controller::{Context, reconcile},
    plan::Config,
};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node;
use kube::runtime::events::Reporter;
use serde_json::{Value, json};
use support::{FakeApi, Feed, nodes};

const NS: &str = "hotels";
const SERVICES: &str = "/apis/continuo.dev/v1alpha1/namespaces/hotels/resilientservices";
const DRILLS: &str = "/apis/continuo.dev/v1alpha1/namespaces/hotels/continuitydrills";
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/hotels/deployments";
const T0: i64 = 1_796_000_000;

struct World {
    api: FakeApi,
    nodes: Vec<Node>,
    ctx: Arc<Context>,
    feed: Feed,
    clock: Arc<AtomicI64>,
}

impl World {
    fn new(mode: &str, rto: &str, replicas: i32) -> World {
        let api = FakeApi::default();
        api.put("/api/v1/namespaces", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}));
        api.put(
            "/apis/continuo.dev/v1alpha1/continuityclasses",
            json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ContinuityClass", "metadata": {"name": "c"},
                "spec": {"mode": mode, "objectives": [{"scope": "Zone", "rto": rto}]}}),
        );
        api.put(
            SERVICES,
            json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService",
            "metadata": {"name": "booking", "namespace": NS},
            "spec": {"className": "c", "replicas": replicas, "preferredZones": ["a", "b"],
                     "template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}}}),
        );
        let nodes = nodes(&["a", "b", "c"], 2);
        let (caches, feed) = api.watched(&nodes);
        let clock = Arc::new(AtomicI64::new(T0));
        let now = clock.clone();
        let reporter = Reporter { controller: "continuo".into(), instance: None };
        let ctx = Arc::new(
            Context::new(api.client(), caches, Config::default(), reporter)
                .with_clock(move || Timestamp::from_second(now.load(Ordering::SeqCst)).unwrap()),
        );
        World { api, nodes, ctx, feed, clock }
    }

    async fn reconcile(&mut self) {
        self.feed.sync(&self.api, &self.nodes);
        let svc: ResilientService = serde_json::from_value(self.api.get(SERVICES, "booking").unwrap()).unwrap();
        reconcile(Arc::new(svc), self.ctx.clone()).await.expect("reconcile succeeds");
    }

    async fn settle(&mut self) {
        self.reconcile().await;
        self.api.roll_out(DEPLOYMENTS);
        self.reconcile().await;
    }

    fn at(&self, seconds: i64) {
        self.clock.store(T0 + seconds, Ordering::SeqCst);
    }

    fn drill(&self, name: &str) -> Value {
        self.api.get(DRILLS, name).unwrap()["status"].clone()
    }

    fn replicas(&self, zone: &str) -> i64 {
        self.api.get(DEPLOYMENTS, &format!("booking-{zone}")).unwrap()["spec"]["replicas"].as_i64().unwrap()
    }

    fn events(&self) -> Vec<String> {
        let events = self.api.list(&format!("/apis/events.k8s.io/v1/namespaces/{NS}/events"));
        events.iter().map(|e| e["reason"].as_str().unwrap_or_default().to_string()).collect()
    }
}

fn drill(name: &str, zone: Option<&str>) -> Value {
    let mut d = json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ContinuityDrill",
        "metadata": {"name": name, "namespace": NS}, "spec": {"service": "booking", "scenario": "ZoneLoss"}});
    if let Some(z) = zone {
        d["spec"]["zone"] = json!(z);
    }
    d
}

#[tokio::test]
async fn a_warm_standby_drill_takes_out_the_primary_times_the_promotion_and_gives_the_zone_back() {
    let mut w = World::new("WarmStandby", "15m", 4);
    w.settle().await;
    assert_eq!((w.replicas("a"), w.replicas("b")), (4, 1));
    w.api.put(DRILLS, drill("quarterly", None));
    w.at(10);
    w.reconcile().await;
    assert_eq!(
        (w.drill("quarterly")["phase"].as_str(), w.drill("quarterly")["zone"].as_str()),
        (Some("Running"), Some("a"))
    );
    assert!(w.events().contains(&"DrillStarted".to_string()));

    // The plan takes a out for this service: scaled to 0, b promoted.
    w.at(12);
    w.reconcile().await;
    assert_eq!((w.replicas("a"), w.replicas("b")), (0, 4), "the primary's zone taken out, a standby promoted");
    let svc = w.api.get(SERVICES, "booking").unwrap();
    let a = svc["status"]["zones"].as_array().unwrap().iter().find(|z| z["name"] == "a").unwrap().clone();
    assert_eq!(a["role"], "Drilled");
    assert_eq!(w.drill("quarterly")["phase"], "Running", "b is not Ready yet");

    // b's new replicas become Ready 34 s after the start.
    w.api.roll_out(DEPLOYMENTS);
    w.at(44);
    w.reconcile().await;
    let d = w.drill("quarterly");
    assert_eq!(
        (d["phase"].as_str(), d["rtoSeconds"].as_i64(), d["reason"].as_str()),
        (Some("Passed"), Some(34), Some("WithinRTO"))
    );
    assert!(
        d["message"].as_str().unwrap().starts_with("back to 5 Ready outside a 34s after a was taken out, RTO 15m"),
        "{d}"
    );
    assert!(w.events().contains(&"DrillPassed".to_string()));
    let svc = w.api.get(SERVICES, "booking").unwrap();
    assert!(svc["status"]["incidents"].as_array().is_none_or(|i| i.is_empty()), "a drill is not an incident: {svc}");
    let metrics = continuo::metrics::render(&w.ctx.metrics.registry(None)).unwrap();
    assert!(metrics.contains("continuo_drills_total{scenario=\"ZoneLoss\",result=\"Passed\"} 1"), "{metrics}");
    assert!(metrics.contains("continuo_drill_duration_seconds_sum{scenario=\"ZoneLoss\"} 34.0"), "{metrics}");

    // The service's status keeps the last drill of the scenario, and the metrics its time.
    w.reconcile().await;
    let svc = w.api.get(SERVICES, "booking").unwrap();
    let last = &svc["status"]["drills"][0];
    assert_eq!(
        (last["scenario"].as_str(), last["name"].as_str(), last["phase"].as_str()),
        (Some("ZoneLoss"), Some("quarterly"), Some("Passed"))
    );
    assert_eq!(last["rtoSeconds"], 34);
    let svc: ResilientService = serde_json::from_value(svc).unwrap();
    let samples = continuo::metrics::samples(&svc);
    let at = samples.iter().find(|s| s.metric == "continuo_service_last_drill_timestamp_seconds").unwrap();
    assert_eq!((at.labels()[2], at.value as i64), (("scenario", "ZoneLoss"), T0 + 44));

    // Given back: a is used again, and being the preferred zone it is the primary again, with no dip on the way:
    // b keeps its 4 until a's are Ready.
    w.at(50);
    w.reconcile().await;
    assert_eq!((w.replicas("a"), w.replicas("b")), (4, 4));
    w.api.roll_out(DEPLOYMENTS);
    w.reconcile().await;
    w.reconcile().await;
    assert_eq!((w.replicas("a"), w.replicas("b")), (4, 1));
    assert_eq!(w.api.get(SERVICES, "booking").unwrap()["status"]["primaryZone"], "a");
}

#[tokio::test]
async fn an_active_active_drill_never_drops_below_the_declared_capacity() {
    let mut w = World::new("ActiveActive", "0s", 4);
    w.settle().await;
    w.api.put(DRILLS, drill("now", Some("c")));
    w.reconcile().await;
    w.reconcile().await;
    let d = w.drill("now");
    assert_eq!((d["phase"].as_str(), d["lowestReady"].as_i64()), (Some("Passed"), Some(4)), "{d}");
    assert_eq!(d["rtoSeconds"], 0);
}

#[tokio::test]
async fn a_drill_whose_capacity_stays_short_past_the_rto_aborts_and_gives_the_zone_back() {
    let mut w = World::new("WarmStandby", "1m", 4);
    w.settle().await;
    w.api.put(DRILLS, drill("stuck", None));
    w.reconcile().await;
    w.at(5);
    w.reconcile().await;
    assert_eq!(w.replicas("a"), 0);
    // b's new replicas never become Ready.
    for s in [30, 60, 66] {
        w.at(s);
        w.reconcile().await;
    }
    let d = w.drill("stuck");
    assert_eq!((d["phase"].as_str(), d["reason"].as_str()), (Some("Aborted"), Some("BelowCapacityPastRTO")), "{d}");
    assert!(w.events().contains(&"DrillAborted".to_string()));
    w.reconcile().await;
    assert!(w.replicas("a") > 0, "the zone is used again once the drill is aborted");
}

#[tokio::test]
async fn a_second_drill_and_a_drill_of_a_zone_the_service_does_not_use_are_refused_before_anything_is_touched() {
    let mut w = World::new("WarmStandby", "15m", 4);
    w.settle().await;
    w.api.put(DRILLS, drill("elsewhere", Some("z")));
    w.reconcile().await;
    let d = w.drill("elsewhere");
    assert_eq!((d["phase"].as_str(), d["reason"].as_str()), (Some("Failed"), Some("ZoneNotUsed")), "{d}");
    assert_eq!((w.replicas("a"), w.replicas("b")), (4, 1), "nothing touched");

    w.api.put(DRILLS, drill("first", None));
    w.reconcile().await;
    w.api.put(DRILLS, drill("second", None));
    w.reconcile().await;
    assert_eq!(w.drill("first")["phase"], "Running");
    assert_eq!(w.drill("second")["reason"], "DrillRunning");
}

fn drills_current(w: &World) -> (String, String, String) {
    let svc = w.api.get(SERVICES, "booking").unwrap();
    let c = svc["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "DrillsCurrent").cloned();
    let c = c.unwrap_or_else(|| panic!("no DrillsCurrent in {svc}"));
    (c["status"].as_str().unwrap().into(), c["reason"].as_str().unwrap().into(), c["message"].as_str().unwrap().into())
}

#[tokio::test]
async fn a_class_that_requires_a_quarterly_drill_flags_a_service_until_one_passes_and_again_when_it_ages() {
    let mut w = World::new("ActiveActive", "0s", 4);
    w.api.edit("/apis/continuo.dev/v1alpha1/continuityclasses", "c", |c| {
        c["spec"]["drills"] = json!({"every": "2160h"});
    });
    w.settle().await;
    let (status, reason, message) = drills_current(&w);
    assert_eq!((status.as_str(), reason.as_str()), ("False", "DrillOverdue"));
    assert!(message.contains("every 2160h: ZoneLoss: never passed"), "{message}");

    w.api.put(DRILLS, drill("q1", Some("c")));
    w.reconcile().await;
    w.reconcile().await;
    assert_eq!(w.drill("q1")["phase"], "Passed");
    w.reconcile().await;
    let (status, reason, message) = drills_current(&w);
    assert_eq!((status.as_str(), reason.as_str()), ("True", "DrillsCurrent"), "{message}");

    // The drill object is deleted: its pass is kept in the service's status.
    w.api.remove(DRILLS, "q1");
    w.reconcile().await;
    assert_eq!(drills_current(&w).0, "True");
    assert!(w.api.get(SERVICES, "booking").unwrap()["status"]["drills"][0]["passedAt"].is_string());

    // 90 days later it is due again.
    w.at(91 * 86_400);
    w.reconcile().await;
    let (status, _, message) = drills_current(&w);
    assert_eq!(status, "False");
    assert!(message.contains("ZoneLoss: last passed at"), "{message}");
}

const JOBS: &str = "/apis/batch/v1/namespaces/hotels/jobs";

/// The world with backups: a location in another region, and one good copy captured two hours before T0.
fn with_backups(w: &World) {
    w.api.put(
        "/apis/continuo.dev/v1alpha1/backuplocations",
        json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "BackupLocation", "metadata": {"name": "offsite"},
               "spec": {"region": "eu-south-2"}}),
    );
    w.api.edit(SERVICES, "booking", |s| {
        s["spec"]["backup"] = json!({"location": "offsite", "agent": {"spec": {"containers": [{"name": "agent", "image": "agent:1"}]}}});
    });
    w.api.edit("/apis/continuo.dev/v1alpha1/continuityclasses", "c", |c| {
        c["spec"]["objectives"] = json!([{"scope": "Zone", "rto": "1h", "rpo": "24h"}]);
    });
    let at = jiff::Timestamp::from_second(T0 - 7200).unwrap().to_string();
    w.api.put(
        "/apis/continuo.dev/v1alpha1/namespaces/hotels/recoverypoints",
        json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "RecoveryPoint", "metadata": {"name": "booking-d1", "namespace": NS},
               "spec": {"service": "booking", "location": "offsite"},
               "status": {"phase": "Available", "id": "snap-1", "capturedAt": at, "completedAt": at, "region": "eu-south-2"}}),
    );
}

fn restore_drill(name: &str) -> Value {
    json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ContinuityDrill", "metadata": {"name": name, "namespace": NS},
           "spec": {"service": "booking", "scenario": "Restore"}})
}

#[tokio::test]
async fn a_restore_drill_restores_the_newest_copy_into_a_scratch_target_and_scores_it() {
    let mut w = World::new("ActiveActive", "0s", 4);
    with_backups(&w);
    w.settle().await;
    w.api.put(DRILLS, restore_drill("restore-q4"));
    w.reconcile().await;
    let d = w.drill("restore-q4");
    assert_eq!((d["phase"].as_str(), d["point"].as_str()), (Some("Running"), Some("booking-d1")), "{d}");
    let job = w.api.get(JOBS, "restore-q4-drill").expect("the agent's restore run");
    assert_eq!(job["metadata"]["labels"]["continuo.dev/action"], "drill");
    let env: Vec<(String, String)> = job["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().into(), e["value"].as_str().unwrap_or_default().into()))
        .collect();
    for (k, v) in
        [("CONTINUO_ACTION", "restore"), ("CONTINUO_RESTORE_TARGET", "scratch"), ("CONTINUO_POINT_ID", "snap-1")]
    {
        assert!(env.contains(&(k.to_string(), v.to_string())), "{k}={v} in {env:?}");
    }
    assert!(
        w.api.list(DEPLOYMENTS).iter().all(|d| d["spec"]["replicas"].as_i64() > Some(0)),
        "nothing live is touched"
    );

    // The agent restores in 14 minutes and verifies what it restored.
    w.api.edit(JOBS, "restore-q4-drill", |j| {
        j["status"] = json!({"startTime": jiff::Timestamp::from_second(T0 + 5).unwrap().to_string()})
    });
    let done = jiff::Timestamp::from_second(T0 + 845).unwrap();
    w.api.finish_job(NS, "restore-q4-drill", true, done, Some(r#"{"verified": true, "detail": "1,204,332 rows"}"#));
    w.at(850);
    w.reconcile().await;
    let d = w.drill("restore-q4");
    assert_eq!(
        (d["phase"].as_str(), d["reason"].as_str(), d["rtoSeconds"].as_i64()),
        (Some("Passed"), Some("Verified"), Some(840))
    );
    assert!(
        d["message"].as_str().unwrap().contains("into a scratch target in 14m (1,204,332 rows); RTO 1h, RPO 24h"),
        "{d}"
    );
    assert!(w.events().contains(&"DrillPassed".to_string()));

    // A second drill whose agent cannot verify fails.
    w.api.put(DRILLS, restore_drill("restore-again"));
    w.reconcile().await;
    w.api.finish_job(
        NS,
        "restore-again-drill",
        true,
        done,
        Some(r#"{"verified": false, "detail": "checksum mismatch"}"#),
    );
    w.reconcile().await;
    let d = w.drill("restore-again");
    assert_eq!((d["phase"].as_str(), d["reason"].as_str()), (Some("Failed"), Some("NotVerified")), "{d}");
}

#[tokio::test]
async fn a_restore_drill_of_a_service_without_backups_fails_before_anything_runs() {
    let mut w = World::new("ActiveActive", "0s", 4);
    w.settle().await;
    w.api.put(DRILLS, restore_drill("restore"));
    w.reconcile().await;
    let d = w.drill("restore");
    assert_eq!((d["phase"].as_str(), d["reason"].as_str()), (Some("Failed"), Some("NoBackups")), "{d}");
    assert!(w.api.list(JOBS).is_empty());
}

#[tokio::test]
async fn a_scheduled_drill_waits_for_its_time_runs_then_waits_for_the_next() {
    let mut w = World::new("ActiveActive", "0s", 4);
    w.settle().await;
    let mut d = drill("quarterly", Some("c"));
    d["spec"]["schedule"] = json!("0 3 1 */3 *");
    w.api.put(DRILLS, d);
    w.reconcile().await;
    let s = w.drill("quarterly");
    assert!(s["phase"].is_null(), "not before its time: {s}");
    assert_eq!(s["nextRun"], "2027-01-01T03:00:00Z", "the class has no time zone: UTC");
    assert_eq!(w.replicas("c"), 2, "nothing is touched meanwhile");

    let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_second() - T0;
    w.at(at("2027-01-01T03:00:00Z"));
    w.reconcile().await;
    w.reconcile().await;
    let s = w.drill("quarterly");
    assert_eq!((s["phase"].as_str(), s["startedAt"].as_str()), (Some("Passed"), Some("2027-01-01T03:00:00Z")), "{s}");
    w.reconcile().await;
    assert_eq!(w.drill("quarterly")["nextRun"], "2027-04-01T03:00:00Z");

    // The next quarter: a fresh run, the previous one's figures cleared from the drill (the service keeps them).
    w.at(at("2027-04-01T03:00:30Z"));
    w.reconcile().await;
    let s = w.drill("quarterly");
    assert_eq!((s["phase"].as_str(), s["startedAt"].as_str()), (Some("Running"), Some("2027-04-01T03:00:30Z")), "{s}");
    assert!(s["endedAt"].is_null() && s["nextRun"].is_null() && s["rtoSeconds"].is_null(), "{s}");
    let svc = w.api.get(SERVICES, "booking").unwrap();
    assert_eq!(svc["status"]["drills"][0]["passedAt"], "2027-01-01T03:00:00Z");
}

#[tokio::test]
async fn an_invalid_schedule_fails_the_drill_before_anything_is_touched() {
    let mut w = World::new("ActiveActive", "0s", 4);
    w.settle().await;
    let mut d = drill("bad", Some("c"));
    d["spec"]["schedule"] = json!("0 25 * * *");
    w.api.put(DRILLS, d);
    w.reconcile().await;
    let s = w.drill("bad");
    assert_eq!((s["phase"].as_str(), s["reason"].as_str()), (Some("Failed"), Some("InvalidSchedule")), "{s}");
    assert_eq!(w.replicas("c"), 2);
}

#[tokio::test]
async fn a_drill_created_during_a_real_incident_is_refused_and_touches_nothing() {
    let mut w = World::new("WarmStandby", "15m", 4);
    w.settle().await;
    // Servers of the primary's zone are lost: three of its four pods are not Ready (3 of 4 Ready with the
    // standbys), an incident opens.
    w.api.edit(DEPLOYMENTS, "booking-a", |d| d["status"]["readyReplicas"] = json!(1));
    w.at(5);
    w.reconcile().await;
    let svc = w.api.get(SERVICES, "booking").unwrap();
    let incident = &svc["status"]["incidents"][0];
    assert!(incident["began"].is_string() && incident["recovered"].is_null(), "an open incident: {incident}");
    w.api.put(DRILLS, drill("now", None));
    w.at(6);
    w.reconcile().await;
    let d = w.drill("now");
    assert_eq!((d["phase"].as_str(), d["reason"].as_str()), (Some("Failed"), Some("IncidentOpen")), "{d}");
    assert_eq!((w.replicas("a"), w.replicas("b")), (4, 1), "nothing touched");
}
