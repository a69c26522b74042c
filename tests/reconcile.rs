//! Reconcile against an in-memory Kubernetes API: the behaviour a user sees in the cluster.

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
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/invoicing/deployments";
const PDBS: &str = "/apis/policy/v1/namespaces/invoicing/poddisruptionbudgets";
const SVCS: &str = "/api/v1/namespaces/invoicing/services";
const ZONES: [&str; 3] = ["eu-south-1a", "eu-south-1b", "eu-south-1c"];

fn class(name: &str, mode: &str) -> Value {
    json!({
        "apiVersion": "continuo.dev/v1alpha1", "kind": "ContinuityClass",
        "metadata": {"name": name},
        "spec": {"mode": mode, "minZones": 3, "objectives": [
            {"scope": "Node", "rto": "0s"}, {"scope": "Zone", "rto": "0s"}]}
    })
}

fn service(replicas: i32) -> Value {
    json!({
        "apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService",
        "metadata": {"name": "passhub", "namespace": NS},
        "spec": {
            "className": "active-active",
            "replicas": replicas,
            "service": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
            "template": {"spec": {"containers": [{"name": "app", "image": "passhub:1"}]}}
        }
    })
}

/// One operator (its context, caches and memory of recent writes kept across reconciles) against the in-memory
/// API; before each reconcile its caches receive what changed, as its watches would.
struct World {
    api: FakeApi,
    nodes: Vec<Node>,
    ctx: Arc<Context>,
    feed: std::sync::Mutex<Feed>,
}

impl World {
    fn new() -> World {
        let api = FakeApi::default();
        api.put(CLASSES, class("active-active", "ActiveActive"));
        api.put(SERVICES, service(6));
        let nodes = nodes(&ZONES, 2);
        let (caches, feed) = api.watched(&nodes);
        let reporter = Reporter { controller: "continuo".into(), instance: None };
        let ctx = Arc::new(Context::new(api.client(), caches, Config::default(), reporter));
        World { api, nodes, ctx, feed: std::sync::Mutex::new(feed) }
    }

    async fn reconcile(&self) {
        self.feed.lock().unwrap().sync(&self.api, &self.nodes);
        self.reconcile_on_stale_caches().await;
    }

    /// Reconciles before the caches have received the latest changes (a watch event still in flight).
    async fn reconcile_on_stale_caches(&self) {
        let svc: ResilientService = serde_json::from_value(self.api.get(SERVICES, "passhub").unwrap()).unwrap();
        reconcile(Arc::new(svc), self.ctx.clone()).await.expect("reconcile succeeds");
    }

    fn replicas(&self) -> Vec<(String, i64)> {
        self.api
            .list(DEPLOYMENTS)
            .iter()
            .map(|d| {
                (
                    d["metadata"]["labels"]["continuo.dev/zone"].as_str().unwrap().to_string(),
                    d["spec"]["replicas"].as_i64().unwrap(),
                )
            })
            .collect()
    }

    fn condition(&self, type_: &str) -> (String, String) {
        let svc = self.api.get(SERVICES, "passhub").unwrap();
        let c = svc["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == type_).unwrap().clone();
        (c["status"].as_str().unwrap().into(), c["reason"].as_str().unwrap().into())
    }

    fn child_writes(&self) -> Vec<(String, String)> {
        self.api
            .writes()
            .into_iter()
            .filter(|(_, p)| !p.contains("resilientservices") && !p.contains("/events"))
            .collect()
    }

    /// Creates the children and lets them roll out.
    async fn settled() -> World {
        let w = World::new();
        w.reconcile().await;
        w.api.roll_out(DEPLOYMENTS);
        w.reconcile().await;
        w
    }
}

fn owned(zone_replicas: &[(&str, i64)]) -> Vec<(String, i64)> {
    zone_replicas.iter().map(|(z, n)| (z.to_string(), *n)).collect()
}

#[tokio::test]
async fn create_makes_a_deployment_per_zone_a_pdb_and_a_service() {
    let w = World::new();
    w.reconcile().await;
    assert_eq!(w.replicas(), owned(&[("eu-south-1a", 3), ("eu-south-1b", 3), ("eu-south-1c", 3)]));
    let d = w.api.get(DEPLOYMENTS, "passhub-eu-south-1a").unwrap();
    assert_eq!(d["metadata"]["ownerReferences"][0]["kind"], "ResilientService");
    assert_eq!(d["metadata"]["ownerReferences"][0]["controller"], true);
    let term = &d["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        ["nodeSelectorTerms"][0];
    assert_eq!(term["matchExpressions"][0]["values"], json!(["eu-south-1a"]));
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"], json!({"maxSurge": 1, "maxUnavailable": 0}));
    assert_eq!(w.api.get(PDBS, "passhub").unwrap()["spec"]["minAvailable"], 6);
    assert_eq!(w.api.get(SVCS, "passhub").unwrap()["spec"]["selector"], json!({"continuo.dev/service": "passhub"}));
    // Before the pods are Ready, status says so: measured, not assumed.
    assert_eq!(w.condition("Ready"), ("False".into(), "Creating".into()));
    assert_eq!(w.condition("Reconciling").0, "True");
    assert_eq!(w.condition("ZoneRedundant").0, "False");
    assert_eq!(w.condition("Stalled").0, "False");
    let svc = w.api.get(SERVICES, "passhub").unwrap();
    assert_eq!(svc["status"]["observedGeneration"], 1);
    assert!(svc["status"]["conditions"].as_array().unwrap().iter().all(|c| c["observedGeneration"] == 1));
}

#[tokio::test]
async fn every_write_is_a_forced_server_side_apply_with_one_field_manager() {
    let w = World::new();
    w.reconcile().await;
    let writes = w.api.writes_with_query();
    let applies: Vec<_> = writes.iter().filter(|(_, p, _)| !p.contains("/events")).collect();
    assert_eq!(applies.len(), 6, "3 Deployments, a PDB, a Service and the status: {applies:?}");
    for (method, path, query) in applies {
        assert_eq!(method, "PATCH", "{path}");
        assert!(query.contains("fieldManager=continuo") && query.contains("force=true"), "{path}?{query}");
    }
}

#[tokio::test]
async fn creating_a_service_records_no_warning_while_it_rolls_out() {
    let w = World::new();
    w.reconcile().await;
    let events = w.api.list("/apis/events.k8s.io/v1/namespaces/invoicing/events");
    assert!(events.iter().all(|e| e["type"] != "Warning"), "{events:?}");
}

/// A new service whose zones become Ready one by one, a reconcile after each (as each Deployment's status change
/// triggers one): the status is written when first observed and when Ready, and one Normal Event says it is Ready.
#[tokio::test]
async fn a_new_service_converging_as_planned_costs_two_status_writes_and_one_event() {
    let w = World::new();
    w.reconcile().await;
    for zone in ZONES {
        w.api.roll_out_where(DEPLOYMENTS, |name| name.ends_with(zone));
        w.reconcile().await;
    }
    assert_eq!(w.condition("Ready"), ("True".into(), "AllZonesReady".into()));
    assert_eq!(w.condition("ZoneRedundant").0, "True");
    let status_writes = w.api.writes().iter().filter(|(_, p)| p.ends_with("/status")).count();
    assert_eq!(status_writes, 2, "first observation, then Ready: {:?}", w.api.writes());
    let events = w.api.list("/apis/events.k8s.io/v1/namespaces/invoicing/events");
    let reasons: Vec<&str> = events.iter().map(|e| e["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["AllZonesReady"], "one Normal Event, that it is Ready: {events:?}");
    let svc = w.api.get(SERVICES, "passhub").unwrap();
    assert_eq!(
        svc["status"]["zoneSummary"], "eu-south-1a=3/3 eu-south-1b=3/3 eu-south-1c=3/3",
        "nothing stale once Ready"
    );

    // Once it has been Ready, a zone lost and back is news both ways.
    w.api.edit(DEPLOYMENTS, "passhub-eu-south-1b", |d| d["status"]["readyReplicas"] = json!(0));
    w.api.edit(DEPLOYMENTS, "passhub-eu-south-1c", |d| d["status"]["readyReplicas"] = json!(0));
    w.reconcile().await;
    assert_eq!(w.condition("Ready"), ("False".into(), "RollingOut".into()), "no longer being created");
    w.api.roll_out(DEPLOYMENTS);
    w.reconcile().await;
    let events = w.api.list("/apis/events.k8s.io/v1/namespaces/invoicing/events");
    let reasons: Vec<&str> = events.iter().map(|e| e["reason"].as_str().unwrap()).collect();
    assert!(reasons.contains(&"SingleZone") && reasons.contains(&"SurvivesZoneLoss"), "{reasons:?}");
}

#[tokio::test]
async fn losing_zone_redundancy_is_a_warning_event() {
    let w = World::settled().await;
    for zone in ["eu-south-1b", "eu-south-1c"] {
        w.api.edit(DEPLOYMENTS, &format!("passhub-{zone}"), |d| d["status"]["readyReplicas"] = json!(0));
    }
    w.reconcile().await;
    assert_eq!(w.condition("ZoneRedundant"), ("False".into(), "SingleZone".into()));
    let events = w.api.list("/apis/events.k8s.io/v1/namespaces/invoicing/events");
    assert!(events.iter().any(|e| e["type"] == "Warning" && e["reason"] == "SingleZone"), "{events:?}");
}

#[tokio::test]
async fn rolled_out_service_is_ready_and_zone_redundant() {
    let w = World::settled().await;
    assert_eq!(w.condition("Ready"), ("True".into(), "AllZonesReady".into()));
    assert_eq!(w.condition("Reconciling").0, "False");
    assert_eq!(w.condition("ZoneRedundant"), ("True".into(), "SurvivesZoneLoss".into()));
    assert_eq!(w.condition("ObjectivesMet"), ("True".into(), "ObjectivesFeasible".into()));
    let svc = w.api.get(SERVICES, "passhub").unwrap();
    assert_eq!(svc["status"]["readyReplicas"], 9);
    assert_eq!(svc["status"]["zoneSummary"], "eu-south-1a=3/3 eu-south-1b=3/3 eu-south-1c=3/3");
    let events = w.api.list("/apis/events.k8s.io/v1/namespaces/invoicing/events");
    assert!(events.iter().any(|e| e["reason"] == "AllZonesReady"), "a Ready transition is recorded as an Event");
}

#[tokio::test]
async fn a_second_reconcile_of_an_unchanged_service_makes_no_request_at_all() {
    let w = World::settled().await;
    w.api.clear_log();
    w.reconcile().await;
    assert_eq!(w.api.requests(), vec![], "steady state reads the caches and writes nothing: zero requests");
}

#[tokio::test]
async fn the_first_reconcile_reads_nothing_from_the_api() {
    let w = World::new();
    w.reconcile().await;
    let reads: Vec<_> = w.api.requests().into_iter().filter(|(m, _, _)| m == "GET").collect();
    assert_eq!(reads, vec![], "class, children and nodes all come from the watch caches");
}

#[tokio::test]
async fn a_cache_that_has_not_yet_seen_a_write_does_not_cause_it_again() {
    let w = World::new();
    w.reconcile().await;
    assert!(!w.api.writes().is_empty(), "the first reconcile creates the children and writes status");
    // Triggered again before the watch events of those writes arrive: the same writes must not be repeated.
    w.api.clear_log();
    w.reconcile_on_stale_caches().await;
    assert_eq!(w.api.requests(), vec![], "a write in flight to the cache is not repeated");
    // Once the caches catch up, still nothing to do.
    w.reconcile().await;
    assert_eq!(w.api.requests(), vec![]);
}

#[tokio::test]
async fn a_change_made_after_a_write_is_still_acted_on_from_a_stale_cache() {
    let w = World::settled().await;
    w.api.edit(SERVICES, "passhub", |s| s["spec"]["replicas"] = json!(9));
    w.api.clear_log();
    // The caches have not seen anything new, but the desired objects changed: they are applied.
    w.reconcile_on_stale_caches().await;
    let patched: Vec<String> = w.child_writes().into_iter().map(|(_, p)| p).collect();
    assert!(patched.iter().any(|p| p.ends_with("/deployments/passhub-eu-south-1a")), "{patched:?}");
}

#[tokio::test]
async fn scaling_the_service_rescales_every_zone() {
    let w = World::settled().await;
    w.api.edit(SERVICES, "passhub", |s| s["spec"]["replicas"] = json!(9));
    w.reconcile().await;
    assert_eq!(w.replicas(), owned(&[("eu-south-1a", 5), ("eu-south-1b", 5), ("eu-south-1c", 5)]));
    assert_eq!(w.api.get(PDBS, "passhub").unwrap()["spec"]["minAvailable"], 9);
    assert_eq!(w.api.get(SERVICES, "passhub").unwrap()["status"]["observedGeneration"], 2);
}

#[tokio::test]
async fn a_class_change_reshapes_the_placement() {
    let w = World::settled().await;
    w.api.edit(CLASSES, "active-active", |c| {
        c["spec"]["mode"] = json!("Restart");
        c["spec"]["objectives"] = json!([{"scope": "Node", "rto": "2m"}]);
    });
    w.reconcile().await;
    assert_eq!(w.replicas(), owned(&[("eu-south-1a", 2), ("eu-south-1b", 2), ("eu-south-1c", 2)]));
    let d = w.api.get(DEPLOYMENTS, "passhub-eu-south-1b").unwrap();
    let tolerations = d["spec"]["template"]["spec"]["tolerations"].as_array().unwrap();
    // 120 s RTO − 50 s detection − 10 s start-up = 60 s before eviction, instead of 300 s.
    assert!(tolerations.iter().all(|t| t["tolerationSeconds"] == 60), "{tolerations:?}");
    assert_eq!(tolerations.len(), 2);
}

#[tokio::test]
async fn a_zone_that_disappears_is_drained_after_the_others_are_ready_then_deleted() {
    let mut w = World::settled().await;
    w.nodes.retain(|n| n.metadata.labels.as_ref().unwrap()["topology.kubernetes.io/zone"] != "eu-south-1c");
    w.reconcile().await;
    // The survivors grow first; the lost zone's Deployment is not touched yet.
    assert_eq!(w.replicas(), owned(&[("eu-south-1a", 6), ("eu-south-1b", 6), ("eu-south-1c", 3)]));
    w.api.roll_out(DEPLOYMENTS);
    w.reconcile().await;
    assert_eq!(w.replicas(), owned(&[("eu-south-1a", 6), ("eu-south-1b", 6), ("eu-south-1c", 0)]));
    assert_eq!(w.condition("Ready").1, "Draining");
    w.api.roll_out(DEPLOYMENTS);
    w.reconcile().await;
    assert_eq!(w.replicas(), owned(&[("eu-south-1a", 6), ("eu-south-1b", 6)]));
    assert!(w.api.writes().iter().any(|(m, p)| m == "DELETE" && p.ends_with("/deployments/passhub-eu-south-1c")));
    assert_eq!(w.condition("Ready").0, "True");
}

#[tokio::test]
async fn a_zone_whose_nodes_fail_keeps_its_deployment_and_the_others_take_over() {
    let mut w = World::settled().await;
    w.nodes =
        ZONES.iter().flat_map(|z| (1..=2).map(move |i| node(&format!("{z}-w{i}"), z, *z != "eu-south-1c"))).collect();
    w.reconcile().await;
    assert_eq!(w.replicas(), owned(&[("eu-south-1a", 6), ("eu-south-1b", 6), ("eu-south-1c", 3)]));
    let svc = w.api.get(SERVICES, "passhub").unwrap();
    let c = svc["status"]["zones"].as_array().unwrap().iter().find(|z| z["name"] == "eu-south-1c").unwrap().clone();
    assert_eq!((c["eligible"].clone(), c["role"].clone()), (json!(false), json!("Unavailable")));
    assert_eq!(w.condition("ObjectivesMet").1, "TooFewZones");
}

#[tokio::test]
async fn a_child_deleted_by_hand_is_recreated() {
    let w = World::settled().await;
    w.api.remove(DEPLOYMENTS, "passhub-eu-south-1b");
    w.reconcile().await;
    assert_eq!(w.api.get(DEPLOYMENTS, "passhub-eu-south-1b").unwrap()["spec"]["replicas"], 3);
}

#[tokio::test]
async fn a_hand_edited_owned_field_is_put_back() {
    let w = World::settled().await;
    w.api.edit(DEPLOYMENTS, "passhub-eu-south-1a", |d| d["spec"]["replicas"] = json!(1));
    w.api.edit(PDBS, "passhub", |p| p["spec"]["minAvailable"] = json!(1));
    w.reconcile().await;
    assert_eq!(w.api.get(DEPLOYMENTS, "passhub-eu-south-1a").unwrap()["spec"]["replicas"], 3);
    assert_eq!(w.api.get(PDBS, "passhub").unwrap()["spec"]["minAvailable"], 6);
}

#[tokio::test]
async fn a_missing_class_stalls_and_leaves_children_exactly_as_they_are() {
    let w = World::settled().await;
    let before = w.api.list(DEPLOYMENTS);
    w.api.remove(CLASSES, "active-active");
    w.api.clear_log();
    w.reconcile().await;
    assert_eq!(w.child_writes(), vec![], "bad input never touches running children");
    assert_eq!(w.api.list(DEPLOYMENTS), before);
    assert_eq!(w.condition("Stalled"), ("True".into(), "ClassNotFound".into()));
    assert_eq!(w.condition("Ready"), ("False".into(), "ClassNotFound".into()));
    let events = w.api.list("/apis/events.k8s.io/v1/namespaces/invoicing/events");
    assert!(events.iter().any(|e| e["reason"] == "ClassNotFound" && e["type"] == "Warning"));
}

#[tokio::test]
async fn a_pinned_zone_that_does_not_exist_stalls_without_touching_children() {
    let w = World::settled().await;
    w.api.edit(SERVICES, "passhub", |s| s["spec"]["zones"] = json!(["eu-south-1a", "eu-south-1x"]));
    w.api.clear_log();
    w.reconcile().await;
    assert_eq!(w.child_writes(), vec![]);
    assert_eq!(w.condition("Stalled"), ("True".into(), "ZoneNotFound".into()));
    let svc = w.api.get(SERVICES, "passhub").unwrap();
    let stalled =
        svc["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Stalled").unwrap().clone();
    assert!(stalled["message"].as_str().unwrap().contains("\"eu-south-1x\" is not the zone of any node"));
}

#[tokio::test]
async fn no_eligible_zone_stalls() {
    let mut w = World::settled().await;
    w.nodes = ZONES.iter().map(|z| node(&format!("{z}-w1"), z, false)).collect();
    w.api.clear_log();
    w.reconcile().await;
    assert_eq!(w.child_writes(), vec![]);
    assert_eq!(w.condition("Stalled"), ("True".into(), "NoEligibleZone".into()));
}

#[tokio::test]
async fn removing_the_service_spec_port_block_removes_the_service() {
    let w = World::settled().await;
    w.api.edit(SERVICES, "passhub", |s| {
        s["spec"].as_object_mut().unwrap().remove("service");
    });
    w.reconcile().await;
    assert!(w.api.get(SVCS, "passhub").is_none());
}

#[tokio::test]
async fn warm_standby_fails_over_to_a_standby_zone_and_says_so() {
    let mut w = World::new();
    w.api.put(
        CLASSES,
        json!({
            "apiVersion": "continuo.dev/v1alpha1", "kind": "ContinuityClass", "metadata": {"name": "warm-standby"},
            "spec": {"mode": "WarmStandby", "objectives": [{"scope": "Zone", "rto": "15m"}]}
        }),
    );
    w.api.edit(SERVICES, "passhub", |s| {
        s["spec"]["className"] = json!("warm-standby");
        s["spec"]["replicas"] = json!(4);
        s["spec"]["preferredZones"] = json!(["eu-south-1a", "eu-south-1b"]);
    });
    w.reconcile().await;
    w.api.roll_out(DEPLOYMENTS);
    w.reconcile().await;
    assert_eq!(w.api.get(SERVICES, "passhub").unwrap()["status"]["primaryZone"], "eu-south-1a");
    assert_eq!(w.replicas(), owned(&[("eu-south-1a", 4), ("eu-south-1b", 1), ("eu-south-1c", 1)]));
    // The primary stays put across reconciles ...
    w.reconcile().await;
    assert_eq!(w.api.get(SERVICES, "passhub").unwrap()["status"]["primaryZone"], "eu-south-1a");
    // ... until its zone fails.
    w.nodes =
        ZONES.iter().flat_map(|z| (1..=2).map(move |i| node(&format!("{z}-w{i}"), z, *z != "eu-south-1a"))).collect();
    w.reconcile().await;
    assert_eq!(w.api.get(SERVICES, "passhub").unwrap()["status"]["primaryZone"], "eu-south-1b");
    assert_eq!(w.replicas(), owned(&[("eu-south-1a", 4), ("eu-south-1b", 4), ("eu-south-1c", 1)]));
    let events = w.api.list("/apis/events.k8s.io/v1/namespaces/invoicing/events");
    assert!(events.iter().any(|e| e["reason"] == "PrimaryZoneChanged"));
}

#[tokio::test]
async fn a_child_whose_zone_label_was_removed_is_left_alone_and_its_zone_recreated() {
    let w = World::settled().await;
    w.api.edit(DEPLOYMENTS, "passhub-eu-south-1a", |d| {
        d["metadata"]["labels"].as_object_mut().unwrap().remove("continuo.dev/zone");
    });
    w.reconcile().await;
    let names: Vec<String> =
        w.api.list(DEPLOYMENTS).iter().map(|d| d["metadata"]["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(
        names,
        ["passhub-eu-south-1a", "passhub-eu-south-1b", "passhub-eu-south-1c"],
        "no stray `passhub-` child"
    );
    // The zone's Deployment is applied again, label included.
    assert_eq!(
        w.api.get(DEPLOYMENTS, "passhub-eu-south-1a").unwrap()["metadata"]["labels"]["continuo.dev/zone"],
        "eu-south-1a"
    );
}

#[tokio::test]
async fn a_template_the_api_rejects_stalls_with_the_api_message_instead_of_retrying() {
    let w = World::new();
    w.api.refuse_writes(DEPLOYMENTS, "spec.template.spec.containers[0].image: Required value");
    w.reconcile().await;
    assert_eq!(w.condition("Stalled"), ("True".into(), "InvalidTemplate".into()));
    let svc = w.api.get(SERVICES, "passhub").unwrap();
    let stalled =
        svc["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Stalled").unwrap().clone();
    assert!(stalled["message"].as_str().unwrap().contains("containers[0].image: Required value"), "{stalled}");
}

fn errors_counted(w: &World) -> Vec<String> {
    let text = continuo::metrics::render(&w.ctx.metrics.registry(None)).unwrap();
    text.lines().filter(|l| l.starts_with("controller_runtime_reconcile_errors_total{")).map(str::to_string).collect()
}

fn warnings(w: &World) -> Vec<Value> {
    w.api
        .list("/apis/events.k8s.io/v1/namespaces/invoicing/events")
        .into_iter()
        .filter(|e| e["type"] == "Warning")
        .collect()
}

#[tokio::test]
async fn a_service_being_deleted_is_left_alone() {
    let w = World::settled().await;
    // `kubectl delete rsvc --cascade=foreground`: the service is marked, the garbage collector removes children.
    w.api.edit(SERVICES, "passhub", |s| s["metadata"]["deletionTimestamp"] = json!("2026-11-25T10:00:00Z"));
    for d in w.api.list(DEPLOYMENTS) {
        w.api.remove(DEPLOYMENTS, d["metadata"]["name"].as_str().unwrap());
    }
    w.api.remove(PDBS, "passhub");
    w.api.clear_log();
    w.reconcile().await;
    assert_eq!(w.api.requests(), vec![], "nothing is re-created, nothing is written while the service goes away");
    assert_eq!(errors_counted(&w), Vec::<String>::new());
}

#[tokio::test]
async fn a_namespace_being_terminated_gets_no_new_objects_and_no_errors_or_warnings() {
    let w = World::new();
    let refusal = "unable to create new content in namespace invoicing because it is being terminated";
    for prefix in
        ["/apis/apps/v1/namespaces/invoicing", "/apis/policy/v1/namespaces/invoicing", "/api/v1/namespaces/invoicing"]
    {
        w.api.refuse(prefix, 403, "Forbidden", refusal);
    }
    w.reconcile().await;
    assert!(w.api.list(DEPLOYMENTS).is_empty());
    assert_eq!(errors_counted(&w), Vec::<String>::new(), "an ordinary namespace deletion is not a reconcile error");
    assert_eq!(warnings(&w), Vec::<Value>::new());
    let text = continuo::metrics::render(&w.ctx.metrics.registry(None)).unwrap();
    assert!(text.contains("result=\"skipped\"} 1"), "{text}");
}

#[tokio::test]
async fn a_service_deleted_during_its_own_reconcile_ends_it_quietly() {
    let w = World::settled().await;
    w.api.edit(SERVICES, "passhub", |s| s["spec"]["replicas"] = json!(9));
    let svc: ResilientService = serde_json::from_value(w.api.get(SERVICES, "passhub").unwrap()).unwrap();
    // Deleted between the trigger and the status write: the write answers 404.
    w.api.remove(SERVICES, "passhub");
    reconcile(Arc::new(svc), w.ctx.clone()).await.expect("a deletion is not a failure");
    assert!(w.api.writes().iter().any(|(m, p)| m == "PATCH" && p.ends_with("/resilientservices/passhub/status")));
    assert_eq!(errors_counted(&w), Vec::<String>::new());
    assert_eq!(warnings(&w), Vec::<Value>::new());
}

#[tokio::test]
async fn a_real_failure_is_still_an_error() {
    let w = World::new();
    w.api.refuse(
        "/apis/apps/v1/namespaces/invoicing",
        403,
        "Forbidden",
        "deployments.apps is forbidden: User cannot patch",
    );
    let svc: ResilientService = serde_json::from_value(w.api.get(SERVICES, "passhub").unwrap()).unwrap();
    assert!(reconcile(Arc::new(svc), w.ctx.clone()).await.is_err(), "a 403 from RBAC is not a deletion");
    assert_eq!(errors_counted(&w).len(), 1);
}

#[tokio::test]
async fn a_service_in_a_namespace_being_deleted_is_not_reconciled_at_all() {
    let w = World::settled().await;
    w.api.put(
        "/api/v1/namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": NS, "deletionTimestamp": "2026-11-25T10:00:00Z"}, "status": {"phase": "Terminating"}}),
    );
    // The namespace controller deletes the children before the service: continuo must not re-create them.
    w.api.remove(DEPLOYMENTS, "passhub-eu-south-1a");
    w.api.clear_log();
    w.reconcile().await;
    assert_eq!(w.api.requests(), vec![], "no write is even attempted in a terminating namespace");
}

fn image(w: &World, deployment: &str) -> Value {
    w.api.get(DEPLOYMENTS, deployment).unwrap()["spec"]["template"]["spec"]["containers"][0]["image"].clone()
}

#[tokio::test]
async fn a_hand_edited_pod_template_is_put_back_though_the_cache_keeps_no_template() {
    let w = World::settled().await;
    w.api.edit(DEPLOYMENTS, "passhub-eu-south-1a", |d| {
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("attacker:latest");
    });
    w.reconcile().await;
    assert_eq!(image(&w, "passhub-eu-south-1a"), "passhub:1", "the edit bumped the generation past continuo's");
    w.api.clear_log();
    w.reconcile().await;
    assert_eq!(w.api.requests(), vec![], "and once put back, nothing more");
}

#[tokio::test]
async fn a_new_pod_template_reaches_every_zone_by_its_digest() {
    let w = World::settled().await;
    let digest = |w: &World| {
        w.api.get(DEPLOYMENTS, "passhub-eu-south-1b").unwrap()["metadata"]["annotations"]["continuo.dev/template-digest"].clone()
    };
    let before = digest(&w);
    assert!(before.is_string(), "every Deployment carries the digest of the template continuo applied");
    w.api.edit(SERVICES, "passhub", |s| s["spec"]["template"]["spec"]["containers"][0]["image"] = json!("passhub:2"));
    w.reconcile().await;
    for zone in ZONES {
        assert_eq!(image(&w, &format!("passhub-{zone}")), "passhub:2");
    }
    assert_ne!(digest(&w), before);
}

#[tokio::test]
async fn a_deployment_without_the_digest_is_applied_once_then_left_alone() {
    let w = World::settled().await;
    // As made by a continuo that did not stamp the digest yet.
    w.api.edit(DEPLOYMENTS, "passhub-eu-south-1c", |d| {
        d["metadata"]["annotations"].as_object_mut().unwrap().remove("continuo.dev/template-digest");
    });
    w.api.clear_log();
    w.reconcile().await;
    assert_eq!(w.child_writes().len(), 1, "{:?}", w.child_writes());
    w.api.clear_log();
    w.reconcile().await;
    assert_eq!(w.api.requests(), vec![]);
}

#[tokio::test]
async fn a_transition_repeated_within_minutes_is_one_event_with_a_series() {
    let w = World::settled().await;
    for _ in 0..2 {
        // A zone's pods stop being Ready, then come back.
        w.api.edit(DEPLOYMENTS, "passhub-eu-south-1a", |d| d["status"]["readyReplicas"] = json!(0));
        w.reconcile().await;
        assert_eq!(w.condition("Ready").0, "False");
        w.api.roll_out(DEPLOYMENTS);
        w.reconcile().await;
        assert_eq!(w.condition("Ready").0, "True");
    }
    let events = w.api.list("/apis/events.k8s.io/v1/namespaces/invoicing/events");
    let ready: Vec<&Value> = events.iter().filter(|e| e["reason"] == "AllZonesReady").collect();
    assert_eq!(ready.len(), 1, "one Event, not three: {events:?}");
    assert_eq!(ready[0]["series"]["count"], 3, "Ready three times: the first rollout and two recoveries");
    assert!(ready[0]["series"]["lastObservedTime"].is_string());
}

#[tokio::test]
async fn an_annotation_dropped_from_the_pod_template_leaves_every_zone() {
    let w = World::new();
    w.api.edit(SERVICES, "passhub", |s| s["spec"]["template"]["metadata"] = json!({"annotations": {"sidecar": "on"}}));
    w.reconcile().await;
    let annotations = |w: &World, zone: &str| {
        w.api.get(DEPLOYMENTS, &format!("passhub-{zone}")).unwrap()["spec"]["template"]["metadata"]["annotations"]
            .clone()
    };
    assert_eq!(annotations(&w, "eu-south-1a")["sidecar"], "on");
    w.api.edit(SERVICES, "passhub", |s| {
        s["spec"]["template"].as_object_mut().unwrap().remove("metadata");
    });
    w.reconcile().await;
    for zone in ZONES {
        assert!(annotations(&w, zone).get("sidecar").is_none(), "{zone}: {}", annotations(&w, zone));
    }
}

#[tokio::test]
async fn another_managers_apply_of_an_owned_field_conflicts_and_a_forced_one_is_taken_back() {
    let w = World::settled().await;
    let scale = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "passhub-eu-south-1a", "labels": {"team": "billing"}}, "spec": {"replicas": 1}});
    let (code, answer) = w.api.apply_as(DEPLOYMENTS, "passhub-eu-south-1a", "kubectl", scale.clone(), false);
    assert_eq!(code, 409, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains(r#"conflict with "continuo": .spec.replicas"#), "{answer}");

    let (code, _) = w.api.apply_as(DEPLOYMENTS, "passhub-eu-south-1a", "kubectl", scale, true);
    assert_eq!(code, 200);
    w.reconcile().await;
    let d = w.api.get(DEPLOYMENTS, "passhub-eu-south-1a").unwrap();
    assert_eq!(d["spec"]["replicas"], 3, "continuo takes its field back");
    assert_eq!(d["metadata"]["labels"]["team"], "billing", "and leaves the other manager's label alone");
}

#[tokio::test]
async fn digests_from_an_older_build_are_restamped_zone_by_zone_without_touching_a_pod_template() {
    let w = World::settled().await;
    let templates: Vec<Value> = w.api.list(DEPLOYMENTS).iter().map(|d| d["spec"]["template"].clone()).collect();
    // As stamped by a build whose digest algorithm differed.
    for zone in ZONES {
        w.api.edit(DEPLOYMENTS, &format!("passhub-{zone}"), |d| {
            d["metadata"]["annotations"]["continuo.dev/template-digest"] = json!("0123456789abcdef");
            d["metadata"]["annotations"]["continuo.dev/revision"] = json!("fedcba9876543210");
        });
    }
    w.api.clear_log();
    for _ in 0..6 {
        w.reconcile().await;
        w.api.roll_out(DEPLOYMENTS);
    }
    w.reconcile().await;
    let after: Vec<Value> = w.api.list(DEPLOYMENTS).iter().map(|d| d["spec"]["template"].clone()).collect();
    assert_eq!(after, templates, "no pod template changed: no pod restarts");
    for d in w.api.list(DEPLOYMENTS) {
        assert_ne!(d["metadata"]["annotations"]["continuo.dev/template-digest"], "0123456789abcdef");
        assert_ne!(d["spec"]["paused"], true, "every zone is rolled and unpaused: {}", d["metadata"]["name"]);
        let name = d["metadata"]["name"].as_str().unwrap().to_string();
        let writes = w.child_writes().iter().filter(|(_, p)| p.ends_with(&format!("/deployments/{name}"))).count();
        // The new digest (paused, for a zone waiting its turn), its unpause, and the revision it then runs.
        let expected = if name.ends_with("1a") { 2 } else { 3 };
        assert_eq!(writes, expected, "{name}: {:?}", w.child_writes());
    }
    w.api.clear_log();
    w.reconcile().await;
    assert_eq!(w.api.requests(), vec![], "and then nothing more");
}
