//! Failover against the in-memory API, with a fake clock: zone loss seen from node leases before the node
//! controller, capacity spread back only after the hold-down and never below the declared replicas, every
//! incident timed, availability counted on transitions only, and template changes rolled out zone by zone.

mod support;

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicI64, Ordering},
};

use continuo::{
    api::ResilientService,
    availability::Observer,
    controller::{Context, Detector, reconcile},
    failover::Settings,
    plan::Config,
    topology::{self, Keys},
};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node;
use kube::runtime::events::Reporter;
use serde_json::{Value, json};
use support::{FakeApi, Feed, nodes};

const NS: &str = "booking";
const SERVICES: &str = "/apis/continuo.dev/v1alpha1/namespaces/booking/resilientservices";
const CLASSES: &str = "/apis/continuo.dev/v1alpha1/continuityclasses";
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/booking/deployments";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/booking/events";
const ZONES: [&str; 3] = ["eu-south-1a", "eu-south-1b", "eu-south-1c"];
/// The fake clock starts here (2026-11-10T00:00:00Z).
const T0: i64 = 1_794_268_800;

fn class(mode: &str, zone_rto: &str) -> Value {
    json!({
        "apiVersion": "continuo.dev/v1alpha1", "kind": "ContinuityClass", "metadata": {"name": "c"},
        "spec": {"mode": mode, "standbyReplicas": 1, "objectives": [{"scope": "Zone", "rto": zone_rto}],
                 "availability": {"target": "99.9", "timeZone": "Europe/Rome"}}
    })
}

fn service(replicas: i32) -> Value {
    json!({
        "apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService",
        "metadata": {"name": "engine", "namespace": NS},
        "spec": {"className": "c", "replicas": replicas,
                 "template": {"spec": {"containers": [{"name": "app", "image": "engine:1"}]}}}
    })
}

/// One operator with a detector fed by a fake clock and fake kubelets.
/// A kubelet's renewal phase (seconds into the 10 s period) and when it stops renewing (from, until).
type Kubelet = (i64, Option<(i64, i64)>);

struct World {
    api: FakeApi,
    nodes: Vec<Node>,
    ctx: Arc<Context>,
    feed: Mutex<Feed>,
    clock: Arc<AtomicI64>,
    /// Zones (or single nodes) whose kubelets stopped renewing.
    silent: Mutex<Vec<&'static str>>,
    /// Per node, the second within the 10 s period at which its kubelet renews (0 unless set), and the seconds
    /// (from, until) during which it does not.
    phases: Mutex<std::collections::HashMap<String, Kubelet>>,
}

impl World {
    fn new(mode: &str, zone_rto: &str, replicas: i32) -> World {
        World::with_observer(mode, zone_rto, replicas, Observer::always(), FakeApi::default())
    }

    fn with_observer(mode: &str, zone_rto: &str, replicas: i32, observer: Observer, api: FakeApi) -> World {
        if api.get(CLASSES, "c").is_none() {
            api.put(CLASSES, class(mode, zone_rto));
            api.put(SERVICES, service(replicas));
        }
        let nodes = nodes(&ZONES, 2);
        let (caches, feed) = api.watched(&nodes);
        let reporter = Reporter { controller: "continuo".into(), instance: None };
        let clock = Arc::new(AtomicI64::new(T0));
        let now = clock.clone();
        let detector = Arc::new(Detector::new(Settings::default(), observer));
        let ctx = Context::new(api.client(), caches, Config::default(), reporter)
            .with_detector(detector)
            .with_clock(move || Timestamp::from_second(now.load(Ordering::SeqCst)).unwrap());
        World {
            api,
            nodes,
            ctx: Arc::new(ctx),
            feed: Mutex::new(feed),
            clock,
            silent: Mutex::default(),
            phases: Mutex::default(),
        }
    }

    fn now(&self) -> i64 {
        self.clock.load(Ordering::SeqCst) - T0
    }

    /// Lets fake time pass second by second: kubelets outside silent zones renew every 10 s and the detector
    /// evaluates every second, as the operator's tick does. Returns whether the zones to withhold changed.
    fn advance_to(&self, secs: i64) -> bool {
        let mut changed = false;
        while self.now() < secs {
            self.clock.fetch_add(1, Ordering::SeqCst);
            let now = Timestamp::from_second(self.clock.load(Ordering::SeqCst)).unwrap();
            let silent = self.silent.lock().unwrap().clone();
            let phases = self.phases.lock().unwrap().clone();
            for n in &self.nodes {
                let name = n.metadata.name.as_deref().unwrap();
                let (phase, stopped) = phases.get(name).copied().unwrap_or((0, None));
                let zone = n.metadata.labels.as_ref().unwrap()["topology.kubernetes.io/zone"].as_str();
                let stopped = stopped.is_some_and(|(from, until)| (from..until).contains(&self.now()));
                if (self.now() - phase) % 10 == 0 && !stopped && !silent.contains(&zone) && !silent.contains(&name) {
                    self.ctx.detector.observe(name, Some(now.to_string()), now);
                }
            }
            let facts =
                topology::observe(&self.nodes.iter().cloned().map(Arc::new).collect::<Vec<_>>(), &Keys::default());
            changed |= self.ctx.detector.evaluate(&facts, now);
        }
        changed
    }

    async fn reconcile(&self) {
        self.feed.lock().unwrap().sync(&self.api, &self.nodes);
        let svc: ResilientService = serde_json::from_value(self.api.get(SERVICES, "engine").unwrap()).unwrap();
        reconcile(Arc::new(svc), self.ctx.clone()).await.expect("reconcile succeeds");
    }

    fn replicas(&self) -> Vec<(String, i64)> {
        let mut out: Vec<(String, i64)> = self
            .api
            .list(DEPLOYMENTS)
            .iter()
            .map(|d| {
                (
                    d["metadata"]["labels"]["continuo.dev/zone"].as_str().unwrap().to_string(),
                    d["spec"]["replicas"].as_i64().unwrap(),
                )
            })
            .collect();
        out.sort();
        out
    }

    fn status(&self) -> Value {
        self.api.get(SERVICES, "engine").unwrap()["status"].clone()
    }

    fn incidents(&self) -> Vec<Value> {
        self.status()["incidents"].as_array().cloned().unwrap_or_default()
    }

    fn zone_role(&self, zone: &str) -> String {
        let status = self.status();
        let z = status["zones"].as_array().unwrap().iter().find(|z| z["name"] == zone).unwrap().clone();
        z["role"].as_str().unwrap().to_string()
    }

    /// Renews leases for 10 s, creates the children, lets them roll out.
    async fn settled(mode: &str, zone_rto: &str, replicas: i32) -> World {
        let w = World::new(mode, zone_rto, replicas);
        w.advance_to(10);
        w.reconcile().await;
        w.api.roll_out(DEPLOYMENTS);
        w.reconcile().await;
        w
    }
}

fn owned(zone_replicas: &[(&str, i64)]) -> Vec<(String, i64)> {
    zone_replicas.iter().map(|(z, n)| (z.to_string(), *n)).collect()
}

fn reasons(api: &FakeApi) -> Vec<String> {
    api.list(EVENTS).iter().map(|e| e["reason"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn silent_leases_promote_a_standby_before_the_nodes_turn_notready_and_the_recovery_is_timed() {
    let w = World::settled("WarmStandby", "60s", 4).await;
    assert_eq!(w.replicas(), owned(&[("eu-south-1a", 4), ("eu-south-1b", 1), ("eu-south-1c", 1)]));
    // Zone a's kubelets stop at 11 s; its Node objects still say Ready (the node controller has not noticed).
    w.silent.lock().unwrap().push("eu-south-1a");
    assert!(!w.advance_to(29), "19 s of silence is not yet a loss");
    assert!(w.advance_to(30), "detected 20 s after the last renewal seen (10 s)");
    w.reconcile().await;
    assert_eq!(w.status()["primaryZone"], "eu-south-1b");
    // Only capacity is added: the lost zone's Deployment is left exactly as it was.
    assert_eq!(w.replicas(), owned(&[("eu-south-1a", 4), ("eu-south-1b", 4), ("eu-south-1c", 1)]));
    assert_eq!(w.zone_role("eu-south-1a"), "Lost");
    let incident = w.status()["incidents"][0].clone();
    assert_eq!(incident["scope"], "Zone");
    assert_eq!(incident["subject"], "eu-south-1a");
    assert_eq!(incident["began"], "2026-11-10T00:00:10Z", "the last renewal seen is the best evidence");
    assert_eq!(incident["detected"], "2026-11-10T00:00:30Z");
    assert_eq!(incident["lowestReady"], 2, "the two standbys");
    assert!(incident["recovered"].is_null());
    assert!(reasons(&w.api).contains(&"IncidentStarted".to_string()));
    // The promoted standby is Ready 14 s later: back to N, 35 s after the failure began.
    w.advance_to(45);
    w.api.roll_out_where(DEPLOYMENTS, |n| n != "engine-eu-south-1a");
    w.reconcile().await;
    let incident = w.status()["incidents"][0].clone();
    assert_eq!((incident["rtoSeconds"].as_i64(), incident["withinRto"].as_bool()), (Some(35), Some(true)));
    assert_eq!(incident["recovered"], "2026-11-10T00:00:45Z");
    assert!(reasons(&w.api).contains(&"IncidentResolved".to_string()));
    // The outage in availability is dated by its evidence: degraded from 10 s to 45 s.
    assert_eq!(w.status()["availability"]["current"]["degradedSeconds"], 35, "{}", w.status()["availability"]);
}

#[tokio::test]
async fn a_lost_node_is_an_incident_timed_from_its_last_renewal_not_from_when_its_pods_stopped_looking_ready() {
    let w = World::settled("WarmStandby", "60s", 4).await;
    // One of zone a's two nodes dies at 11 s; its pods look Ready until the node controller withdraws them at 55 s.
    w.silent.lock().unwrap().push("eu-south-1a-w1");
    assert!(!w.advance_to(55), "one silent node does not lose its zone");
    w.api.edit(DEPLOYMENTS, "engine-eu-south-1a", |d| d["status"]["readyReplicas"] = json!(1));
    w.reconcile().await;
    let incident = w.incidents()[0].clone();
    assert_eq!((incident["scope"].as_str(), incident["subject"].as_str()), (Some("Node"), Some("eu-south-1a")));
    assert_eq!(incident["began"], "2026-11-10T00:00:10Z", "the dead node's last renewal seen");
    assert_eq!(incident["detected"], "2026-11-10T00:00:55Z");
    w.advance_to(70);
    w.api.roll_out(DEPLOYMENTS);
    w.reconcile().await;
    assert_eq!(w.incidents()[0]["rtoSeconds"], 60, "from the failure, not from when it was seen");
    assert_eq!(w.status()["availability"]["current"]["degradedSeconds"], 60, "{}", w.status()["availability"]);
}

#[tokio::test]
async fn a_node_silent_since_before_the_service_was_ready_does_not_date_its_incident() {
    let w = World::new("WarmStandby", "60s", 4);
    w.advance_to(10);
    w.reconcile().await;
    // A node that was already dead when the service first became Ready (at 60 s) did not cause a later drop.
    w.silent.lock().unwrap().push("eu-south-1a-w1");
    w.advance_to(60);
    w.api.roll_out(DEPLOYMENTS);
    w.reconcile().await;
    w.advance_to(100);
    w.api.edit(DEPLOYMENTS, "engine-eu-south-1a", |d| d["status"]["readyReplicas"] = json!(1));
    w.reconcile().await;
    let incident = w.incidents()[0].clone();
    assert_eq!(incident["scope"], "Node");
    assert_eq!(incident["began"], "2026-11-10T00:01:40Z", "dated when seen: {incident}");
}

#[tokio::test]
async fn active_active_reprotects_at_once_and_records_rto_zero() {
    let w = World::settled("ActiveActive", "0s", 6).await;
    assert_eq!(w.replicas(), owned(&[("eu-south-1a", 3), ("eu-south-1b", 3), ("eu-south-1c", 3)]));
    w.silent.lock().unwrap().push("eu-south-1c");
    w.advance_to(31);
    w.reconcile().await;
    assert_eq!(w.replicas(), owned(&[("eu-south-1a", 6), ("eu-south-1b", 6), ("eu-south-1c", 3)]));
    let incident = w.status()["incidents"][0].clone();
    assert_eq!((incident["rtoSeconds"].as_i64(), incident["withinRto"].as_bool()), (Some(0), Some(true)));
    assert_eq!(incident["lowestReady"], 6, "the promise held: 6 Ready in the surviving zones throughout");
}

#[tokio::test]
async fn a_returning_zone_is_used_again_only_after_the_hold_down_and_capacity_never_dips() {
    let w = World::settled("ActiveActive", "0s", 6).await;
    w.silent.lock().unwrap().push("eu-south-1c");
    w.advance_to(31);
    w.reconcile().await;
    w.api.roll_out_where(DEPLOYMENTS, |n| n != "engine-eu-south-1c");
    w.reconcile().await;
    // Zone c comes back at 60 s, but its pods were evicted meanwhile.
    assert!(!w.advance_to(55));
    w.silent.lock().unwrap().clear();
    w.api.edit(DEPLOYMENTS, "engine-eu-south-1c", |d| d["status"]["readyReplicas"] = json!(0));
    assert!(w.advance_to(61), "the zone starts recovering");
    w.reconcile().await;
    assert_eq!(w.zone_role("eu-south-1c"), "Recovering");
    w.api.clear_log();
    assert!(!w.advance_to(179), "still within the 2 min hold-down: {:?}", w.ctx.detector.current());
    w.reconcile().await;
    assert_eq!(w.replicas(), owned(&[("eu-south-1a", 6), ("eu-south-1b", 6), ("eu-south-1c", 3)]));
    assert!(w.api.writes().iter().all(|(_, p)| !p.contains("deployments")), "{:?}", w.api.writes());
    // After the hold-down, c is used again; a and b keep 6 until c is Ready: never fewer than 6 Ready.
    assert!(w.advance_to(181));
    w.reconcile().await;
    assert_eq!(w.replicas(), owned(&[("eu-south-1a", 6), ("eu-south-1b", 6), ("eu-south-1c", 3)]));
    w.api.roll_out_where(DEPLOYMENTS, |n| n == "engine-eu-south-1c");
    w.reconcile().await;
    assert_eq!(w.replicas(), owned(&[("eu-south-1a", 3), ("eu-south-1b", 3), ("eu-south-1c", 3)]));
}

#[tokio::test]
async fn every_zone_silent_at_once_moves_nothing_and_says_so() {
    let w = World::settled("ActiveActive", "0s", 6).await;
    w.silent.lock().unwrap().extend(ZONES);
    assert!(w.advance_to(40));
    w.api.clear_log();
    w.reconcile().await;
    assert_eq!(w.replicas(), owned(&[("eu-south-1a", 3), ("eu-south-1b", 3), ("eu-south-1c", 3)]));
    assert!(w.api.writes().iter().all(|(_, p)| !p.contains("deployments")));
    let c =
        w.status()["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "FailureDetection").unwrap().clone();
    assert_eq!((c["status"].as_str(), c["reason"].as_str()), (Some("False"), Some("LeaseWatchStale")));
    assert!(reasons(&w.api).contains(&"LeaseWatchStale".to_string()), "a Warning Event says so");
}

#[tokio::test]
async fn steady_state_with_leases_renewing_writes_nothing_as_time_passes() {
    let w = World::settled("ActiveActive", "0s", 6).await;
    w.reconcile().await;
    w.api.clear_log();
    for minute in 1..=30 {
        assert!(!w.advance_to(minute * 60));
        w.reconcile().await;
    }
    assert_eq!(w.api.requests(), vec![], "neither the passing of time nor lease renewals rewrite anything");
}

#[tokio::test]
async fn time_nobody_observed_is_inferred_at_start_from_the_previous_leaders_last_renewal() {
    let w = World::settled("ActiveActive", "0s", 6).await;
    let before = w.status()["availability"].clone();
    assert_eq!(before["state"], "Up");
    // The operator stops; the previous leader last renewed at +1h; a new one starts observing at +2h.
    let observer = Observer {
        since: Timestamp::from_second(T0 + 7200).unwrap(),
        previous_until: Some(Timestamp::from_second(T0 + 3600).unwrap()),
    };
    let next = World::with_observer("ActiveActive", "0s", 6, observer, w.api.clone());
    next.clock.store(T0 + 7200, Ordering::SeqCst);
    next.advance_to(7210);
    next.reconcile().await;
    let current = next.status()["availability"]["current"].clone();
    assert_eq!(current["unobservedSeconds"], 3600);
    // Observed by the previous leader from the checkpoint (10 s) to its last renewal, and by this one since.
    assert_eq!(current["observedSeconds"], (3600 - 10) + 10);
    // Once inferred, it is not written again.
    next.api.clear_log();
    next.advance_to(7300);
    next.reconcile().await;
    assert_eq!(next.api.requests(), vec![]);
}

#[tokio::test]
async fn a_template_change_rolls_out_zone_by_zone_and_stops_at_a_zone_past_its_deadline() {
    let w = World::settled("ActiveActive", "0s", 6).await;
    let image = |zone: &str| {
        let d = w.api.get(DEPLOYMENTS, &format!("engine-{zone}")).unwrap();
        (
            d["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap().to_string(),
            d["spec"]["paused"] == json!(true),
        )
    };
    w.api.edit(SERVICES, "engine", |s| s["spec"]["template"]["spec"]["containers"][0]["image"] = json!("engine:2"));
    w.reconcile().await;
    // Zone a rolls; b and c get the new template paused: their pods stay on engine:1.
    assert_eq!(image("eu-south-1a"), ("engine:2".into(), false));
    assert_eq!(image("eu-south-1b"), ("engine:2".into(), true));
    assert_eq!(image("eu-south-1c"), ("engine:2".into(), true));
    let revisions = |w: &World| -> Vec<String> {
        w.status()["zones"].as_array().unwrap().iter().map(|z| z["revision"].as_str().unwrap().to_string()).collect()
    };
    let before = revisions(&w);
    assert!(before[0] == before[1] && before[1] == before[2], "nothing runs the new template yet: {before:?}");
    // Zone a done: b starts, c still waits.
    w.api.roll_out_where(DEPLOYMENTS, |n| n == "engine-eu-south-1a");
    w.reconcile().await;
    let r = revisions(&w);
    assert!(
        r[0] != before[0] && r[1] == before[1] && r[2] == before[2],
        "status shows which zones run which revision: {r:?}"
    );
    assert_eq!(image("eu-south-1b"), ("engine:2".into(), false), "{}", w.status());
    assert!(image("eu-south-1c").1, "c waits");
    // Zone b's rollout exceeds its progress deadline: the rollout stops there, c stays on the previous revision.
    w.api.edit(DEPLOYMENTS, "engine-eu-south-1b", |d| {
        d["status"] = json!({"observedGeneration": d["metadata"]["generation"], "replicas": 2, "readyReplicas": 2,
            "updatedReplicas": 1, "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]});
    });
    w.reconcile().await;
    assert!(image("eu-south-1c").1, "c waits");
    let c = w.status()["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Stalled").unwrap().clone();
    assert_eq!((c["status"].as_str(), c["reason"].as_str()), (Some("True"), Some("RolloutStalled")));
    assert!(c["message"].as_str().unwrap().contains("zone eu-south-1b"), "{c}");
    // A zone loss during the stalled rollout still re-places capacity.
    w.silent.lock().unwrap().push("eu-south-1a");
    w.advance_to(40);
    w.reconcile().await;
    let replicas = w.replicas();
    assert_eq!(replicas[2], ("eu-south-1c".to_string(), 6), "{replicas:?}");
}

#[tokio::test]
async fn a_new_service_rolling_out_for_the_first_time_is_not_an_outage() {
    let w = World::new("ActiveActive", "0s", 6);
    w.advance_to(10);
    w.reconcile().await;
    assert!(w.status()["availability"].is_null(), "nothing counted before the service is first Up");
    let c =
        w.status()["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "AvailabilityMet").unwrap().clone();
    assert_eq!((c["status"].as_str(), c["reason"].as_str()), (Some("Unknown"), Some("NotYetUp")));
    w.advance_to(40);
    w.api.roll_out(DEPLOYMENTS);
    w.reconcile().await;
    let a = w.status()["availability"].clone();
    assert_eq!((a["state"].as_str(), a["since"].as_str()), (Some("Up"), Some("2026-11-10T00:00:40Z")));
    assert_eq!(a["current"]["downSeconds"], 0);
    assert!(w.incidents().is_empty(), "nor is it an incident");
}

#[tokio::test]
async fn every_kubelet_silent_for_36_seconds_with_staggered_phases_is_no_incident_and_moves_no_primary() {
    // As on a real control plane: each kubelet renews on its own phase; zone a's late in the period, so b and c
    // pass the timeout first; all stop at 60 s and come back over 10 s, 36 s later.
    let w = World::settled("WarmStandby", "15m", 4).await;
    let starts = [("eu-south-1a", [9, 8]), ("eu-south-1b", [1, 2]), ("eu-south-1c", [3, 0])];
    let backs = [("eu-south-1a", [105, 97]), ("eu-south-1b", [96, 104]), ("eu-south-1c", [100, 106])];
    for ((zone, phases), (_, back)) in starts.iter().zip(backs) {
        for (i, phase) in phases.iter().enumerate() {
            let name = format!("{zone}-w{}", i + 1);
            w.phases.lock().unwrap().insert(name, (*phase, Some((60, back[i]))));
        }
    }
    w.advance_to(59);
    w.reconcile().await;
    let primary = w.status()["primaryZone"].clone();
    let before = w.replicas();
    assert!(primary.is_string(), "{}", w.status());
    w.api.clear_log();
    for second in 60..=260 {
        if w.advance_to(second) {
            w.reconcile().await;
        }
        for zone in ZONES {
            let role = w.zone_role(zone);
            assert!(role != "Lost" && role != "Recovering", "at {second}s zone {zone} was {role}");
        }
    }
    w.reconcile().await;
    assert_eq!(w.status()["primaryZone"], primary, "the primary did not move");
    assert_eq!(w.replicas(), before, "no Deployment changed");
    assert!(w.api.writes().iter().all(|(_, p)| !p.contains("deployments")), "{:?}", w.api.writes());
    assert_eq!(w.incidents(), Vec::<Value>::new(), "no incident");
    assert!(
        !reasons(&w.api).iter().any(|r| r.contains("Incident") || r == "PrimaryZoneChanged"),
        "{:?}",
        reasons(&w.api)
    );
}

/// A CloudNativePG Cluster in `booking`, primary `db-1` in zone a since before the test, promoted to `db-2` at
/// `promoted` (seconds after T0) when given.
fn database(api: &FakeApi, promoted: Option<i64>) {
    const CLUSTERS: &str = "/apis/postgresql.cnpg.io/v1/namespaces/booking/clusters";
    let (primary, at) = match promoted {
        Some(s) => ("db-2", Timestamp::from_second(T0 + s).unwrap().to_string()),
        None => ("db-1", "2026-11-09T00:00:00.000000Z".to_string()),
    };
    let cluster = json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
        "metadata": {"name": "db", "namespace": NS},
        "spec": {"instances": 3, "postgresql": {"synchronous": {"method": "any", "number": 1, "dataDurability": "required"},
            "syncReplicaElectionConstraint": {"enabled": true, "nodeLabelsAntiAffinity": ["topology.kubernetes.io/zone"]}}},
        "status": {"currentPrimary": primary, "targetPrimary": primary, "currentPrimaryTimestamp": at}});
    if api.get(CLUSTERS, "db").is_some() {
        api.edit(CLUSTERS, "db", |c| c["status"] = cluster["status"].clone());
    } else {
        api.put(CLUSTERS, cluster);
    }
}

#[tokio::test]
async fn a_zone_incident_records_the_database_failover_and_the_data_lost() {
    let api = FakeApi::default();
    api.put(CLASSES, class("ActiveActive", "1m"));
    let mut svc = service(6);
    svc["spec"]["data"] = json!([{"name": "bookings", "cloudNativePG": {"cluster": "db"}}]);
    api.put(SERVICES, svc);
    database(&api, None);
    for (i, zone) in ZONES.iter().enumerate() {
        api.put("/api/v1/namespaces/booking/pods", json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("db-{}", i + 1), "namespace": NS,
                         "labels": {"cnpg.io/cluster": "db", "cnpg.io/podRole": "instance"}},
            "spec": {"nodeName": format!("{zone}-w1")}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}));
    }
    let w = World::with_observer("ActiveActive", "1m", 6, Observer::always(), api);
    w.advance_to(10);
    w.reconcile().await;
    w.api.roll_out(DEPLOYMENTS);
    w.reconcile().await;
    // Zone a, the database primary's, goes silent after 10 s; lost at 30 s. Capacity never drops (RTO 0).
    w.silent.lock().unwrap().push("eu-south-1a");
    w.advance_to(31);
    w.reconcile().await;
    let incident = w.incidents()[0].clone();
    assert_eq!((incident["subject"].as_str(), incident["rtoSeconds"].as_i64()), (Some("eu-south-1a"), Some(0)));
    assert_eq!(
        incident["data"],
        json!([{"name": "bookings", "rpoSeconds": 0}]),
        "required synchronous replication outside the zone: nothing acknowledged lost; no promotion yet"
    );
    // CloudNativePG promotes db-2 at 62 s (its failover after the node controller's grace period).
    database(&w.api, Some(62));
    w.advance_to(65);
    w.reconcile().await;
    let data = w.incidents()[0]["data"][0].clone();
    assert_eq!(data["promoted"], "db-2");
    assert_eq!(data["failedOver"], "2026-11-10T00:01:02Z");
    assert_eq!(data["failoverSeconds"], 52, "from the last renewal seen from zone a (10 s) to the promotion");
    assert_eq!(data["rpoSeconds"], 0);
}
