//! The running controller (`controller::run`: watches, caches, triggers, debounce, the reconcile) against the
//! in-memory API, which serves watches: a service converges from watch events alone, stays quiet once settled,
//! and a namespace deletion gets no write.

mod support;

use std::time::Duration;

use continuo::controller::{Settings, run};
use serde_json::{Value, json};
use support::FakeApi;

const NS: &str = "shop";
const SERVICES: &str = "/apis/continuo.dev/v1alpha1/namespaces/shop/resilientservices";
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/shop/deployments";

fn world() -> FakeApi {
    support::cluster(NS)
}

fn service(name: &str) -> Value {
    json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService", "metadata": {"name": name, "namespace": NS},
        "spec": {"className": "active-active", "replicas": 4,
                 "template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}}})
}

fn settings() -> Settings {
    support::operator_settings("127.0.0.1:0".parse().unwrap())
}

fn ready(api: &FakeApi, name: &str) -> bool {
    api.get(SERVICES, name).is_some_and(|s| {
        s["status"]["conditions"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
    })
}

/// Plays the Deployment controller until `done` holds or the time is up.
async fn until(api: &FakeApi, done: impl Fn() -> bool) -> bool {
    for _ in 0..200 {
        if done() {
            return true;
        }
        api.roll_out(DEPLOYMENTS);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_converges_from_watch_events_and_then_stays_quiet() {
    let api = world();
    let operator = tokio::spawn(run(api.client(), settings()));
    api.put(SERVICES, service("passhub"));
    assert!(
        until(&api, || ready(&api, "passhub")).await,
        "the service never became Ready: {:#?}",
        api.requests().iter().filter(|r| r.1.contains("resilient") || r.0 != "GET").take(40).collect::<Vec<_>>()
    );
    assert_eq!(api.list(DEPLOYMENTS).len(), 3, "one Deployment per zone");
    let reads: Vec<_> = api.requests().into_iter().filter(|(m, _, q)| m == "GET" && !q.contains("watch")).collect();
    // The only GETs are the start-up check for the CRDs and each watch's initial list.
    assert!(reads.iter().all(|(_, p, q)| q.contains("limit=") || p.ends_with("resilientservices")), "{reads:#?}");

    tokio::time::sleep(Duration::from_millis(500)).await;
    api.clear_log();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let requests: Vec<_> = api.requests().into_iter().filter(|(m, _, _)| m != "WATCH").collect();
    assert_eq!(requests, vec![], "a settled service costs no request");
    operator.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_namespace_full_of_services_makes_no_write() {
    let api = world();
    let operator = tokio::spawn(run(api.client(), settings()));
    for i in 0..5 {
        api.put(SERVICES, service(&format!("s{i}")));
    }
    assert!(until(&api, || (0..5).all(|i| ready(&api, &format!("s{i}")))).await, "services never became Ready");
    tokio::time::sleep(Duration::from_millis(500)).await;

    // What `kubectl delete namespace` does: the namespace is marked, then its content is deleted, children first.
    api.edit("/api/v1/namespaces", NS, |n| n["metadata"]["deletionTimestamp"] = json!("2026-11-25T10:00:00Z"));
    api.refuse("/apis/apps/v1/namespaces/shop", 403, "Forbidden", "namespace shop is being terminated");
    api.clear_log();
    // The namespace controller starts deleting content after the namespace is marked; give the watch time to tell.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for d in api.list(DEPLOYMENTS) {
        api.remove(DEPLOYMENTS, d["metadata"]["name"].as_str().unwrap());
    }
    for i in 0..5 {
        api.remove(SERVICES, &format!("s{i}"));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(api.writes(), vec![], "no write, not even a refused one, while the namespace goes away");
    operator.abort();
}

const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";

fn renew(api: &FakeApi, node: &str) {
    let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": node, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": now}});
    api.put(LEASES, lease);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_operator_fails_a_zone_over_when_its_leases_go_silent_before_its_nodes_turn_notready() {
    let api = world();
    let all: Vec<String> = ["a", "b", "c"].iter().flat_map(|z| (1..=2).map(move |i| format!("{z}-w{i}"))).collect();
    for n in &all {
        renew(&api, n);
    }
    // A lease elsewhere is not a kubelet's: it is never watched.
    api.put(
        "/apis/coordination.k8s.io/v1/namespaces/default/leases",
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "c-w1", "namespace": "default"}}),
    );
    let detection = continuo::failover::Settings {
        lease_timeout: continuo::api::Span::from_secs(2),
        hold_down: continuo::api::Span::from_secs(60),
    };
    let operator = tokio::spawn(run(api.client(), Settings { detection, ..settings() }));
    api.put(SERVICES, service("passhub"));
    // Kubelets renew every 300 ms; zone c's stop once the service is Ready.
    let stop_c = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (renewer_api, stop) = (api.clone(), stop_c.clone());
    let renewer = tokio::spawn(async move {
        loop {
            for n in &all {
                if !(n.starts_with('c') && stop.load(std::sync::atomic::Ordering::SeqCst)) {
                    renew(&renewer_api, n);
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    assert!(until(&api, || ready(&api, "passhub")).await, "the service never became Ready");
    let replicas = |zone: &str| api.get(DEPLOYMENTS, &format!("passhub-{zone}")).unwrap()["spec"]["replicas"].clone();
    assert_eq!((replicas("a"), replicas("b"), replicas("c")), (json!(2), json!(2), json!(2)));
    stop_c.store(true, std::sync::atomic::Ordering::SeqCst);
    // The Node objects of zone c still say Ready throughout: only the silent leases tell.
    assert!(
        until(&api, || replicas("a") == json!(4) && replicas("b") == json!(4)).await,
        "zone c's share was never re-placed: {:?}",
        (replicas("a"), replicas("b"), replicas("c"))
    );
    assert_eq!(replicas("c"), json!(2), "the silent zone's Deployment is left as it was");
    let svc = api.get(SERVICES, "passhub").unwrap();
    let incident = &svc["status"]["incidents"][0];
    assert_eq!((incident["scope"].as_str(), incident["subject"].as_str()), (Some("Zone"), Some("c")));
    let lease_requests: Vec<_> = api.requests().into_iter().filter(|(_, p, _)| p.contains("/leases")).collect();
    assert!(!lease_requests.is_empty());
    assert!(lease_requests.iter().all(|(m, p, _)| (m == "GET" || m == "WATCH") && p == LEASES), "{lease_requests:?}");
    renewer.abort();
    operator.abort();
}
