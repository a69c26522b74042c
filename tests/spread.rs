//! Many services over three zones, against the in-memory API: WarmStandby primaries spread over the zones, a
//! zone's loss fails over only its share, a preferred zone wins, and an upgrade from a build that put every
//! primary (and every Restart remainder) in the first zone moves none.

mod support;

use std::{collections::BTreeMap, sync::Arc};

use continuo::{
    api::ResilientService,
    controller::{Context, reconcile},
    plan::Config,
};
use k8s_openapi::api::core::v1::Node;
use kube::runtime::events::Reporter;
use serde_json::{Value, json};
use support::{FakeApi, Feed, node, nodes};

const NS: &str = "hotels";
const SERVICES: &str = "/apis/continuo.dev/v1alpha1/namespaces/hotels/resilientservices";
const CLASSES: &str = "/apis/continuo.dev/v1alpha1/continuityclasses";
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/hotels/deployments";
const ZONES: [&str; 3] = ["a", "b", "c"];

fn class(name: &str, mode: &str) -> Value {
    json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ContinuityClass", "metadata": {"name": name},
        "spec": {"mode": mode, "objectives": [{"scope": "Zone", "rto": "15m"}]}})
}

fn service(name: &str, class: &str, replicas: i32) -> Value {
    json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"className": class, "replicas": replicas,
                 "template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}}})
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("hotel-{i:03}")).collect()
}

struct World {
    api: FakeApi,
    nodes: Vec<Node>,
    ctx: Arc<Context>,
    feed: Feed,
}

impl World {
    fn new(api: FakeApi) -> World {
        api.put("/api/v1/namespaces", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}));
        let nodes = nodes(&ZONES, 2);
        let (caches, feed) = api.watched(&nodes);
        let reporter = Reporter { controller: "continuo".into(), instance: None };
        let ctx = Arc::new(Context::new(api.client(), caches, Config::default(), reporter));
        World { api, nodes, ctx, feed }
    }

    /// Every service reconciled once, on caches brought up to date first.
    async fn reconcile_all(&mut self) {
        self.feed.sync(&self.api, &self.nodes);
        for s in self.api.list(SERVICES) {
            let svc: ResilientService = serde_json::from_value(s).unwrap();
            reconcile(Arc::new(svc), self.ctx.clone()).await.expect("reconcile succeeds");
        }
    }

    /// Created, rolled out, and settled.
    async fn settle(&mut self) {
        self.reconcile_all().await;
        self.api.roll_out(DEPLOYMENTS);
        self.reconcile_all().await;
    }

    /// The primary zone of each WarmStandby service.
    fn primaries(&self) -> BTreeMap<String, String> {
        self.api
            .list(SERVICES)
            .iter()
            .filter_map(|s| Some((s["metadata"]["name"].as_str()?.into(), s["status"]["primaryZone"].as_str()?.into())))
            .collect()
    }

    /// Each Deployment's replicas, by name.
    fn replicas(&self) -> BTreeMap<String, i64> {
        self.api
            .list(DEPLOYMENTS)
            .iter()
            .map(|d| (d["metadata"]["name"].as_str().unwrap().into(), d["spec"]["replicas"].as_i64().unwrap()))
            .collect()
    }

    fn lose(&mut self, zone: &str) {
        self.nodes =
            ZONES.iter().flat_map(|z| (1..=2).map(move |i| node(&format!("{z}-w{i}"), z, *z != zone))).collect();
    }
}

fn per_zone(primaries: &BTreeMap<String, String>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for z in primaries.values() {
        *out.entry(z.clone()).or_insert(0) += 1;
    }
    out
}

#[tokio::test]
async fn thirty_warm_standby_services_spread_their_primaries_and_a_zone_loss_fails_over_only_its_share() {
    let api = FakeApi::default();
    api.put(CLASSES, class("warm", "WarmStandby"));
    for n in names(30) {
        api.put(SERVICES, service(&n, "warm", 4));
    }
    let mut w = World::new(api);
    w.settle().await;
    let before = w.primaries();
    let counts = per_zone(&before);
    assert_eq!(counts.len(), 3, "every zone holds primaries: {counts:?}");
    assert!(counts.values().all(|c| (5..=15).contains(c)), "about a third each: {counts:?}");

    // Zone a is lost: only the services whose primary was there fail over.
    w.lose("a");
    w.reconcile_all().await;
    let after = w.primaries();
    let moved: Vec<&String> = before.keys().filter(|n| before[*n] != after[*n]).collect();
    assert_eq!(moved.len(), counts["a"], "only zone a's share moved: {moved:?}");
    assert!(moved.iter().all(|n| before[*n] == "a" && after[*n] != "a"));
    assert!(!per_zone(&after).contains_key("a"));
    let events = w.api.list(&format!("/apis/events.k8s.io/v1/namespaces/{NS}/events"));
    let failovers = events.iter().filter(|e| e["reason"] == "PrimaryZoneChanged").count();
    assert_eq!(failovers, counts["a"], "one failover per service of zone a's share, none for the others");
}

#[tokio::test]
async fn a_preferred_zone_holds_the_primary_while_it_is_eligible() {
    let api = FakeApi::default();
    api.put(CLASSES, class("warm", "WarmStandby"));
    let mut preferring = service("near-db", "warm", 4);
    preferring["spec"]["preferredZones"] = json!(["c", "b"]);
    api.put(SERVICES, preferring);
    let mut w = World::new(api);
    w.settle().await;
    assert_eq!(w.primaries()["near-db"], "c");
    w.lose("c");
    w.reconcile_all().await;
    assert_eq!(w.primaries()["near-db"], "b", "the next preferred zone");
}

#[tokio::test]
async fn a_preferred_zone_outside_the_residency_stalls_and_leaves_the_workload_as_it_is() {
    let api = FakeApi::default();
    api.put(CLASSES, class("warm", "WarmStandby"));
    api.put(SERVICES, service("hotel", "warm", 4));
    let mut w = World::new(api);
    w.settle().await;
    let running = w.replicas();
    w.api.edit(SERVICES, "hotel", |s| s["spec"]["preferredZones"] = json!(["x"]));
    w.reconcile_all().await;
    let svc = w.api.get(SERVICES, "hotel").unwrap();
    let stalled = svc["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Stalled").unwrap();
    assert_eq!((stalled["status"].as_str(), stalled["reason"].as_str()), (Some("True"), Some("ZoneNotFound")));
    assert!(stalled["message"].as_str().unwrap().contains("spec.preferredZones: zone \"x\""), "{stalled}");
    assert_eq!(w.replicas(), running, "nothing scaled or deleted");
}

/// What a build before the spread wrote: every primary, every Restart remainder, in the first zone.
fn as_the_old_build_left_it(api: &FakeApi, name: &str, class: &str, zones: &[(&str, i64, &str)]) {
    let mut s = service(name, class, 4);
    s["metadata"]["uid"] = json!(format!("uid-{name}"));
    let total: i64 = zones.iter().map(|z| z.1).sum();
    let statuses: Vec<Value> = zones
        .iter()
        .map(|(z, r, role)| json!({"name": z, "eligible": true, "nodes": 2, "role": role, "desiredReplicas": r, "readyReplicas": r}))
        .collect();
    s["status"] = json!({"observedGeneration": 1, "replicas": total, "readyReplicas": total, "zones": statuses});
    if class == "warm" {
        s["status"]["primaryZone"] = json!("a");
    }
    api.put(SERVICES, s);
}

#[tokio::test]
async fn an_upgrade_from_a_build_that_put_everything_in_the_first_zone_moves_nothing() {
    let api = FakeApi::default();
    api.put(CLASSES, class("warm", "WarmStandby"));
    api.put(CLASSES, class("restart", "Restart"));
    for n in names(12) {
        as_the_old_build_left_it(
            &api,
            &format!("warm-{n}"),
            "warm",
            &[("a", 4, "Primary"), ("b", 1, "Standby"), ("c", 1, "Standby")],
        );
        as_the_old_build_left_it(
            &api,
            &format!("restart-{n}"),
            "restart",
            &[("a", 2, "Active"), ("b", 1, "Active"), ("c", 1, "Active")],
        );
    }
    let mut w = World::new(api);
    w.settle().await;
    let primaries = w.primaries();
    assert!(primaries.values().all(|z| z == "a"), "no running primary moves: {primaries:?}");
    let unmoved = |w: &World| {
        for (name, replicas) in w.replicas() {
            let want = if name.ends_with("-a") { if name.starts_with("warm-") { 4 } else { 2 } } else { 1 };
            assert_eq!(replicas, want, "{name}: no remainder moves either");
        }
    };
    unmoved(&w);

    // Restored from a backup without their status: what the live Deployments run decides, and nothing moves.
    for s in w.api.list(SERVICES) {
        w.api.edit(SERVICES, s["metadata"]["name"].as_str().unwrap(), |s| {
            s.as_object_mut().unwrap().remove("status");
        });
    }
    w.reconcile_all().await;
    assert!(w.primaries().values().all(|z| z == "a"), "{:?}", w.primaries());
    unmoved(&w);
}

#[tokio::test]
async fn restart_remainders_spread_over_the_zones() {
    let api = FakeApi::default();
    api.put(CLASSES, class("restart", "Restart"));
    for n in names(30) {
        api.put(SERVICES, service(&n, "restart", 4));
    }
    let mut w = World::new(api);
    w.settle().await;
    let mut doubles: BTreeMap<String, usize> = BTreeMap::new();
    for (name, replicas) in w.replicas() {
        if replicas == 2 {
            *doubles.entry(name.rsplit('-').next().unwrap().to_string()).or_insert(0) += 1;
        }
    }
    assert_eq!(doubles.values().sum::<usize>(), 30, "4 over 3 zones: one zone of each service runs 2");
    assert!(doubles.len() == 3 && doubles.values().all(|c| (5..=15).contains(c)), "{doubles:?}");
}
