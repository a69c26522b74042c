//! `--fence-lost-nodes` against the in-memory API: a node whose lease has been silent past the setting and that
//! the node controller marks NotReady is tainted out-of-service (its StatefulSet pods are then replaced and their
//! volumes detached); nothing else is; the taint is taken off once the node is back, and only continuo's own.

mod support;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Node;
use serde_json::{Value, json};
use support::{FakeApi, node};

use continuo::{
    controller::{Detector, fence_lost_nodes},
    topology::{self, Keys},
};

const NODES: &str = "/api/v1/nodes";
const T0: i64 = 1_796_000_000;

fn at(s: i64) -> Timestamp {
    Timestamp::from_second(T0 + s).unwrap()
}

fn put(api: &FakeApi, nodes: &[Node]) {
    for n in nodes {
        // As the API server serves a Node: with its (possibly empty) spec.
        let mut n = serde_json::to_value(n).unwrap();
        n["spec"] = json!({});
        api.put(NODES, n);
    }
}

fn taints(api: &FakeApi, name: &str) -> Value {
    api.get(NODES, name).unwrap()["spec"]["taints"].clone()
}

#[tokio::test]
async fn a_silent_not_ready_node_is_fenced_and_given_back_once_it_returns() {
    let api = FakeApi::default();
    let mut nodes = vec![node("a-w1", "a", false), node("b-w1", "b", true), node("c-w1", "c", true)];
    put(&api, &nodes);
    // b already carries a person's taint: continuo adds to it, never replaces it.
    api.edit(NODES, "b-w1", |n| {
        n["spec"]["taints"] = json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}])
    });
    let detector = Detector::default();
    for n in ["a-w1", "b-w1", "c-w1"] {
        detector.observe(n, Some(at(0).to_string()), at(0));
    }
    for n in ["b-w1", "c-w1"] {
        detector.observe(n, Some(at(80).to_string()), at(80));
    }
    let facts = |nodes: &[Node]| {
        topology::observe(&nodes.iter().cloned().map(std::sync::Arc::new).collect::<Vec<_>>(), &Keys::default())
    };
    detector.evaluate(&facts(&nodes), at(90));
    let after = SignedDuration::from_secs(60);

    // 59 s of silence: nothing yet.
    fence_lost_nodes(&api.client(), &api.caches(&nodes).nodes, &detector, after, at(59)).await;
    assert!(api.writes().is_empty(), "{:?}", api.writes());

    fence_lost_nodes(&api.client(), &api.caches(&nodes).nodes, &detector, after, at(90)).await;
    assert_eq!(
        taints(&api, "a-w1"),
        json!([{"key": "node.kubernetes.io/out-of-service", "value": "nodeshutdown", "effect": "NoExecute"}])
    );
    assert!(api.get(NODES, "a-w1").unwrap()["metadata"]["annotations"]["continuo.dev/fenced-at"].is_string());
    assert!(taints(&api, "c-w1").is_null(), "a renewing node is never fenced");
    let fenced = api.writes().iter().filter(|(_, p)| p.ends_with("/a-w1")).count();
    assert_eq!(fenced, api.writes().len(), "only a-w1 is written");

    // The next tick finds it fenced already: no write.
    api.clear_log();
    let now_nodes: Vec<Node> = api.list(NODES).into_iter().map(|n| serde_json::from_value(n).unwrap()).collect();
    fence_lost_nodes(&api.client(), &api.caches(&now_nodes).nodes, &detector, after, at(91)).await;
    assert!(api.writes().is_empty(), "{:?}", api.writes());

    // a-w1 is repaired: Ready and renewing again. continuo's taint goes, b's person's taint stays.
    api.edit(NODES, "a-w1", |n| n["status"]["conditions"][0]["status"] = json!("True"));
    detector.observe("a-w1", Some(at(300).to_string()), at(300));
    nodes = api.list(NODES).into_iter().map(|n| serde_json::from_value(n).unwrap()).collect();
    fence_lost_nodes(&api.client(), &api.caches(&nodes).nodes, &detector, after, at(305)).await;
    assert_eq!(taints(&api, "a-w1"), json!([]));
    assert!(api.get(NODES, "a-w1").unwrap()["metadata"]["annotations"].get("continuo.dev/fenced-at").is_none());
    assert_eq!(taints(&api, "b-w1")[0]["key"], "dedicated");
}
