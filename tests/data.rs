//! The data layer behind a service, against the in-memory API: CloudNativePG Clusters, their instance pods and
//! VolSync ReplicationSources written as their operators and the kubelet write them. A standby lost while
//! running turns the verdict (with an Event and the metric); a data layer whose CRD is not installed is `Unknown`
//! and the operator keeps working; the running operator sees a change through its watch, within seconds.

mod support;

use std::{sync::Arc, time::Duration};

use continuo::{
    api::ResilientService,
    controller::{Context, reconcile, run},
    metrics,
    plan::Config,
};
use k8s_openapi::api::core::v1::Node;
use kube::runtime::events::Reporter;
use serde_json::{Value, json};
use support::{FakeApi, Feed, nodes};

const NS: &str = "invoicing";
const SERVICES: &str = "/apis/continuo.dev/v1alpha1/namespaces/invoicing/resilientservices";
const CLASSES: &str = "/apis/continuo.dev/v1alpha1/continuityclasses";
const CLUSTERS: &str = "/apis/postgresql.cnpg.io/v1/namespaces/invoicing/clusters";
const SOURCES: &str = "/apis/volsync.backube/v1alpha1/namespaces/invoicing/replicationsources";
const PODS: &str = "/api/v1/namespaces/invoicing/pods";
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/invoicing/deployments";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/invoicing/events";

fn class() -> Value {
    json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ContinuityClass", "metadata": {"name": "ha-db"},
        "spec": {"mode": "ActiveActive", "minZones": 3, "objectives": [
            {"scope": "Node", "rto": "1m", "rpo": "0s"}, {"scope": "Zone", "rto": "1m", "rpo": "0s"}]}})
}

fn service() -> Value {
    json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService",
        "metadata": {"name": "passhub", "namespace": NS},
        "spec": {"className": "ha-db", "replicas": 6,
                 "template": {"spec": {"containers": [{"name": "app", "image": "passhub:1"}]}},
                 "data": [{"name": "invoices", "cloudNativePG": {"cluster": "passhub-db"}}]}})
}

/// A Cluster as CloudNativePG writes it: three instances, synchronous with required durability, the standby
/// elected outside the primary's zone.
fn cluster() -> Value {
    json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
        "metadata": {"name": "passhub-db", "namespace": NS, "generation": 1},
        "spec": {"instances": 3, "imageName": "ghcr.io/cloudnative-pg/postgresql:17.2",
            "postgresql": {"synchronous": {"method": "any", "number": 1, "dataDurability": "required"},
                "syncReplicaElectionConstraint": {"enabled": true, "nodeLabelsAntiAffinity": ["topology.kubernetes.io/zone"]},
                "parameters": {"max_connections": "200"}},
            "storage": {"size": "50Gi"}},
        "status": {"phase": "Cluster in healthy state", "instances": 3, "readyInstances": 3,
            "currentPrimary": "passhub-db-1", "targetPrimary": "passhub-db-1",
            "currentPrimaryTimestamp": "2026-11-30T08:00:00.000000Z",
            "instanceNames": ["passhub-db-1", "passhub-db-2", "passhub-db-3"],
            "instancesStatus": {"healthy": ["passhub-db-1", "passhub-db-2", "passhub-db-3"]},
            "topology": {"instances": {"passhub-db-1": {}, "passhub-db-2": {}, "passhub-db-3": {}},
                         "nodesUsed": 3, "successfullyExtracted": true},
            "conditions": [{"type": "Ready", "status": "True", "reason": "ClusterIsReady",
                            "message": "Cluster is Ready", "lastTransitionTime": "2026-11-30T08:00:00Z"}]}})
}

/// An instance pod as the kubelet reports it, on node `node`.
fn pod(i: usize, node: &str, ready: bool) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("passhub-db-{i}"), "namespace": NS, "labels": {
            "cnpg.io/cluster": "passhub-db", "cnpg.io/podRole": "instance", "cnpg.io/instanceName": format!("passhub-db-{i}"),
            "cnpg.io/instanceRole": if i == 1 { "primary" } else { "replica" }, "role": if i == 1 { "primary" } else { "replica" }}},
        "spec": {"nodeName": node, "containers": [{"name": "postgres", "image": "ghcr.io/cloudnative-pg/postgresql:17.2"}]},
        "status": {"phase": "Running", "conditions": [
            {"type": "Initialized", "status": "True"}, {"type": "PodScheduled", "status": "True"},
            {"type": "ContainersReady", "status": if ready { "True" } else { "False" }},
            {"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
}

fn set_ready(api: &FakeApi, i: usize, ready: bool) {
    api.edit(PODS, &format!("passhub-db-{i}"), |p| {
        for c in p["status"]["conditions"].as_array_mut().unwrap() {
            if c["type"] == "Ready" || c["type"] == "ContainersReady" {
                c["status"] = json!(if ready { "True" } else { "False" });
            }
        }
    });
}

fn world_api() -> FakeApi {
    let api = FakeApi::default();
    api.put("/api/v1/namespaces", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}));
    api.put(CLASSES, class());
    api.put(SERVICES, service());
    api.put(CLUSTERS, cluster());
    for (i, node) in [(1, "a-w1"), (2, "b-w1"), (3, "c-w1")] {
        api.put(PODS, pod(i, node, true));
    }
    api
}

struct World {
    api: FakeApi,
    nodes: Vec<Node>,
    ctx: Arc<Context>,
    feed: std::sync::Mutex<Feed>,
}

impl World {
    fn new(api: FakeApi) -> World {
        let nodes = nodes(&["a", "b", "c"], 2);
        let (caches, feed) = api.watched(&nodes);
        let reporter = Reporter { controller: "continuo".into(), instance: None };
        let ctx = Arc::new(Context::new(api.client(), caches, Config::default(), reporter));
        World { api, nodes, ctx, feed: std::sync::Mutex::new(feed) }
    }

    async fn reconcile(&self) -> ResilientService {
        self.feed.lock().unwrap().sync(&self.api, &self.nodes);
        let svc: ResilientService = serde_json::from_value(self.api.get(SERVICES, "passhub").unwrap()).unwrap();
        reconcile(Arc::new(svc), self.ctx.clone()).await.expect("reconcile succeeds");
        serde_json::from_value(self.api.get(SERVICES, "passhub").unwrap()).unwrap()
    }
}

fn objective<'a>(svc: &'a ResilientService, scope: &str, objective: &str) -> &'a continuo::api::ObjectiveStatus {
    let status = svc.status.as_ref().unwrap();
    status.objectives.iter().find(|o| o.scope.as_str() == scope && o.objective == objective).unwrap()
}

fn feasible(svc: &ResilientService, scope: &str, what: &str) -> Option<i64> {
    let samples = metrics::samples(svc);
    samples
        .iter()
        .find(|s| {
            s.metric == "continuo_objective_feasible"
                && s.labels().contains(&("scope", scope))
                && s.labels().contains(&("objective", what))
        })
        .map(|s| s.value as i64)
}

#[tokio::test]
async fn a_standby_lost_while_running_turns_the_rpo_verdict_with_an_event_and_the_metric() {
    let w = World::new(world_api());
    let svc = w.reconcile().await;
    let zone = objective(&svc, "Zone", "RPO");
    assert_eq!((zone.status.as_str(), zone.reason.as_str()), ("True", "SynchronousReplication"), "{}", zone.message);
    assert!(zone.message.contains("3 instances in a, b, c"), "{}", zone.message);
    assert!(zone.message.contains("primary in a, standbys Ready in b, c now"), "{}", zone.message);
    assert_eq!(feasible(&svc, "Zone", "RPO"), Some(1));
    let data = &svc.status.as_ref().unwrap().data[0];
    assert_eq!((data.primary_zone.as_deref(), data.bound_seconds), (Some("a"), Some(0)));
    assert_eq!(svc.condition("ObjectivesMet").unwrap().status, "True");

    // Steady state: nothing written.
    w.api.clear_log();
    w.reconcile().await;
    assert!(w.api.writes().is_empty(), "a settled service writes nothing: {:?}", w.api.writes());

    // Both standbys go down (their zones' nodes fail): no synchronous standby outside the primary's zone.
    set_ready(&w.api, 2, false);
    set_ready(&w.api, 3, false);
    let svc = w.reconcile().await;
    let zone = objective(&svc, "Zone", "RPO");
    assert_eq!((zone.status.as_str(), zone.reason.as_str()), ("False", "NoStandbyInAnotherZone"));
    assert!(zone.message.contains("has 0 of 1 required synchronous standby(s) Ready outside the primary's zone (a)"));
    assert_eq!(feasible(&svc, "Zone", "RPO"), Some(0));
    assert_eq!(svc.condition("ObjectivesMet").unwrap().status, "False");
    let events = w.api.list(EVENTS);
    let warned = events.iter().find(|e| e["reason"] == "NoStandbyInAnotherZone").expect("a Warning on the flip");
    assert_eq!(warned["type"], "Warning");
    assert!(warned["note"].as_str().unwrap().starts_with("Zone: RPO 0s not met — passhub-db has 0 of 1"));
    assert!(w.api.get(CLUSTERS, "passhub-db").unwrap()["metadata"].get("managedFields").is_none(), "never written");
    assert!(
        !w.api.writes().iter().any(|(_, p)| p.contains("cnpg.io") || p.starts_with(PODS)),
        "the Cluster is read only"
    );

    // One comes back: met again.
    set_ready(&w.api, 3, true);
    let svc = w.reconcile().await;
    assert_eq!(objective(&svc, "Zone", "RPO").status, "True");
}

#[tokio::test]
async fn preferred_durability_is_refused_with_what_to_change_and_the_workload_is_untouched() {
    let api = world_api();
    api.edit(CLUSTERS, "passhub-db", |c| c["spec"]["postgresql"]["synchronous"]["dataDurability"] = json!("preferred"));
    let w = World::new(api);
    let svc = w.reconcile().await;
    let zone = objective(&svc, "Zone", "RPO");
    assert_eq!((zone.status.as_str(), zone.reason.as_str()), ("False", "PreferredDurability"));
    assert!(zone.message.ends_with("set spec.postgresql.synchronous.dataDurability: required"));
    assert_eq!(w.api.list(DEPLOYMENTS).len(), 3, "the service still runs in every zone");
}

#[tokio::test]
async fn without_the_data_layers_crds_the_verdict_is_unknown_and_the_operator_keeps_working() {
    let api = world_api();
    api.uninstall("/apis/postgresql.cnpg.io/");
    let w = World::new(api);
    let svc = w.reconcile().await;
    let zone = objective(&svc, "Zone", "RPO");
    assert_eq!((zone.status.as_str(), zone.reason.as_str()), ("Unknown", "DataLayerNotInstalled"));
    assert!(zone.message.contains("the clusters.postgresql.cnpg.io CRD is not installed"), "{}", zone.message);
    assert_eq!(feasible(&svc, "Zone", "RPO"), None, "unknown is not 0");
    assert_eq!(w.api.list(DEPLOYMENTS).len(), 3, "the workload is applied all the same");
    assert_eq!(svc.condition("ObjectivesMet").unwrap().status, "Unknown");
}

#[tokio::test]
async fn a_cluster_that_does_not_exist_is_unknown_with_its_name() {
    let api = world_api();
    api.remove(CLUSTERS, "passhub-db");
    let w = World::new(api);
    let svc = w.reconcile().await;
    let zone = objective(&svc, "Zone", "RPO");
    assert_eq!((zone.status.as_str(), zone.reason.as_str()), ("Unknown", "DataSourceNotFound"));
    assert!(zone.message.contains("CloudNativePG invoicing/passhub-db does not exist"), "{}", zone.message);
    let events = w.api.list(EVENTS);
    let warned = events.iter().filter(|e| e["reason"] == "DataSourceNotFound").count();
    assert_eq!(warned, 2, "a Warning per scope it leaves unjudged: {events:?}");
    // Once, not at every reconcile.
    w.reconcile().await;
    assert_eq!(w.api.list(EVENTS).iter().filter(|e| e["reason"] == "DataSourceNotFound").count(), 2);
    assert_eq!(w.api.list(DEPLOYMENTS).len(), 3, "the workload is applied all the same");
}

#[tokio::test]
async fn a_volsync_replication_is_judged_by_its_last_sync_and_where_it_writes() {
    let api = world_api();
    api.edit(SERVICES, "passhub", |s| {
        s["spec"]["data"] = json!([{"name": "attachments",
            "volSync": {"replicationSource": "attachments-offsite", "destinationZone": "eu-south-2a"}}]);
    });
    api.edit(CLASSES, "ha-db", |c| {
        c["spec"]["objectives"] = json!([{"scope": "Zone", "rto": "1h", "rpo": "1h"}]);
    });
    let last = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(12);
    api.put(SOURCES, json!({"apiVersion": "volsync.backube/v1alpha1", "kind": "ReplicationSource",
        "metadata": {"name": "attachments-offsite", "namespace": NS},
        "spec": {"sourcePVC": "attachments", "trigger": {"schedule": "*/15 * * * *"},
                 "restic": {"repository": "restic-config", "copyMethod": "Snapshot"}},
        "status": {"lastSyncTime": last.to_string(), "lastSyncDuration": "2m3.5s",
                   "conditions": [{"type": "Synchronizing", "status": "False", "reason": "WaitingForSchedule",
                                   "message": "Waiting for next scheduled synchronization", "lastTransitionTime": last.to_string()}]}}));
    let w = World::new(api);
    let svc = w.reconcile().await;
    let zone = objective(&svc, "Zone", "RPO");
    assert_eq!((zone.status.as_str(), zone.reason.as_str()), ("True", "SyncedWithinRPO"), "{}", zone.message);
    assert!(zone.message.contains("last synced to eu-south-2a 12m ago (worst gap 15m + last sync 2m4s"));
    let data = &svc.status.as_ref().unwrap().data[0];
    assert_eq!(data.synced_at.as_ref().map(|t| t.0.as_second()), Some(last.as_second()));

    // The destination moves into a zone the service runs in.
    w.api.edit(SERVICES, "passhub", |s| s["spec"]["data"][0]["volSync"]["destinationZone"] = json!("b"));
    let svc = w.reconcile().await;
    assert_eq!(objective(&svc, "Zone", "RPO").reason, "DestinationInProtectedZone");
}

fn free_port() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

fn zone_rpo(api: &FakeApi) -> Option<String> {
    let svc = api.get(SERVICES, "passhub")?;
    let objectives = svc["status"]["objectives"].as_array()?.clone();
    let o = objectives.iter().find(|o| o["scope"] == "Zone" && o["objective"] == "RPO")?;
    Some(o["reason"].as_str()?.to_string())
}

async fn eventually(limit: Duration, done: impl Fn() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_operator_sees_a_standby_lost_through_its_watch_within_seconds() {
    let api = world_api();
    for n in nodes(&["a", "b", "c"], 2) {
        api.put("/api/v1/nodes", serde_json::to_value(n).unwrap());
    }
    let operator = tokio::spawn(run(api.client(), support::operator_settings(free_port())));
    let met = || zone_rpo(&api).as_deref() == Some("SynchronousReplication");
    assert!(eventually(Duration::from_secs(20), met).await, "never judged: {:?}", zone_rpo(&api));
    set_ready(&api, 2, false);
    set_ready(&api, 3, false);
    let lost = || zone_rpo(&api).as_deref() == Some("NoStandbyInAnotherZone");
    assert!(eventually(Duration::from_secs(5), lost).await, "not seen within 5 s: {:?}", zone_rpo(&api));
    operator.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_operator_without_the_data_layers_is_ready_and_serves_its_services() {
    let api = world_api();
    api.uninstall("/apis/postgresql.cnpg.io/");
    api.uninstall("/apis/volsync.backube/");
    // Nor without the drills' CRD (an operator upgraded before its CRDs).
    api.uninstall("/apis/continuo.dev/v1alpha1/continuitydrills");
    for n in nodes(&["a", "b", "c"], 2) {
        api.put("/api/v1/nodes", serde_json::to_value(n).unwrap());
    }
    let operator = tokio::spawn(run(api.client(), support::operator_settings(free_port())));
    let unknown = || zone_rpo(&api).as_deref() == Some("DataLayerNotInstalled");
    assert!(eventually(Duration::from_secs(20), unknown).await, "never judged: {:?}", zone_rpo(&api));
    assert_eq!(api.list(DEPLOYMENTS).len(), 3);
    // The absent kinds are asked for again once a minute, not in a tight loop.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let asked = api.requests().iter().filter(|(_, p, _)| p.contains("postgresql.cnpg.io")).count();
    assert!(asked <= 2, "the absent CRD was asked for {asked} times in a few seconds");
    operator.abort();
}

/// GET `path` from the admin port at `addr`: the status line and the body.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n");
    let response = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    })
    .await
    .unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (head.lines().next().unwrap_or_default().to_string(), body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_operator_serves_this_months_report_from_its_caches() {
    let api = world_api();
    for n in nodes(&["a", "b", "c"], 2) {
        api.put("/api/v1/nodes", serde_json::to_value(n).unwrap());
    }
    let admin = free_port();
    let operator = tokio::spawn(run(api.client(), support::operator_settings(admin)));
    let met = || zone_rpo(&api).as_deref() == Some("SynchronousReplication");
    assert!(eventually(Duration::from_secs(20), met).await, "never judged: {:?}", zone_rpo(&api));
    api.clear_log();
    let (status, body) = http_get(admin, "/report").await;
    assert!(status.contains("200"), "{status}");
    assert!(body.starts_with("<!DOCTYPE html>"), "{body}");
    assert!(body.contains("invoicing/passhub") && body.contains("RPO 0s met"), "the service and its verdicts: {body}");
    let read = |p: &str| {
        ["resilientservices", "continuityclasses", "recoverypoints", "restorerequests"].iter().any(|k| p.contains(k))
    };
    let reads: Vec<_> = api.requests().into_iter().filter(|(m, p, _)| m == "GET" && read(p)).collect();
    assert!(reads.is_empty(), "rendered from the caches, not the API: {reads:?}");
    operator.abort();
}

/// The standbys' zones go silent (their kubelets stop renewing leases) while their pods still say Ready, as they do
/// on a real cluster until the node controller's grace period ends: continuo's own detection finds the zones lost
/// ~20 s after the last renewal, and from that evaluation on the RPO 0 verdict is not met, naming the instances it
/// no longer counts. It never claims more than its evidence.
#[tokio::test]
async fn standbys_in_zones_lost_by_lease_detection_count_as_not_ready_at_once() {
    use continuo::{availability::Observer, controller::Detector, failover::Settings, topology};
    use jiff::Timestamp;
    let api = world_api();
    let nodes = nodes(&["a", "b", "c"], 2);
    let (caches, feed) = api.watched(&nodes);
    let detector = Arc::new(Detector::new(Settings::default(), Observer::always()));
    let clock = Arc::new(std::sync::atomic::AtomicI64::new(1_796_000_000));
    let now = clock.clone();
    let reporter = Reporter { controller: "continuo".into(), instance: None };
    let ctx = Context::new(api.client(), caches, Config::default(), reporter)
        .with_detector(detector.clone())
        .with_clock(move || Timestamp::from_second(now.load(std::sync::atomic::Ordering::SeqCst)).unwrap());
    let w = World { api, nodes, ctx: Arc::new(ctx), feed: std::sync::Mutex::new(feed) };
    let facts = topology::observe(&w.nodes.iter().cloned().map(Arc::new).collect::<Vec<_>>(), &Default::default());
    // Every kubelet renews every 10 s; from t = 30 s those of zones b and c are silent.
    let tick = |t: i64| {
        let at = Timestamp::from_second(1_796_000_000 + t).unwrap();
        clock.store(at.as_second(), std::sync::atomic::Ordering::SeqCst);
        for n in &w.nodes {
            let name = n.metadata.name.as_deref().unwrap();
            if t < 30 || name.starts_with("a-") {
                detector.observe(name, Some(format!("renew-{}", t - t % 10)), at);
            }
        }
        detector.evaluate(&facts, at);
    };
    tick(0);
    tick(20);
    let svc = w.reconcile().await;
    assert_eq!(objective(&svc, "Zone", "RPO").status, "True");
    let mut lost_at = None;
    for t in (30..=60).step_by(2) {
        tick(t);
        let svc = w.reconcile().await;
        let zone = objective(&svc, "Zone", "RPO");
        if detector.current().zones.contains_key("b") && detector.current().zones.contains_key("c") {
            lost_at.get_or_insert(t);
            assert_eq!((zone.status.as_str(), zone.reason.as_str()), ("False", "NoStandbyInAnotherZone"), "{t}s");
            assert!(
                zone.message.contains("2 counted not Ready: passhub-db-2, passhub-db-3 on nodes continuo's lease"),
                "{}",
                zone.message
            );
        }
    }
    // The pods said Ready throughout: only continuo's own detection turned the verdict, ~20 s after the silence.
    let lost_at = lost_at.expect("zones b and c found lost by their leases");
    assert!(lost_at <= 52, "lost at {lost_at}s");
    assert!(w.api.list(PODS).iter().all(|p| p["status"]["conditions"][3]["status"] == "True"));
}
