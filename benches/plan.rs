//! How long the pure core takes to plan a service, what a node-heavy cluster costs it, and what a `/metrics`
//! scrape of 1,000 services costs. `cargo bench --bench plan` prints one line per case; figures are quoted in
//! the README.

use std::{hint::black_box, sync::Arc, time::Instant};

use continuo::{
    api::{ContinuityClass, ResilientService},
    metrics::{Metrics, render},
    plan::{Config, Inputs, plan},
    status,
    topology::{NodeFacts, synthetic_node},
};
use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use serde_json::json;

fn service() -> ResilientService {
    serde_json::from_value(json!({
        "apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService",
        "metadata": {"name": "passhub", "namespace": "invoicing", "uid": "u1", "generation": 1},
        "spec": {"className": "c", "replicas": 6, "service": {"ports": [{"port": 80}]},
                 "template": {"spec": {"containers": [{"name": "app", "image": "app:1",
                    "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 5}}]}}}
    }))
    .unwrap()
}

fn class(mode: &str) -> ContinuityClass {
    serde_json::from_value(json!({
        "apiVersion": "continuo.dev/v1alpha1", "kind": "ContinuityClass", "metadata": {"name": "c"},
        "spec": {"mode": mode, "residency": {"regions": ["eu-south-1"]},
                 "objectives": [{"scope": "Node", "rto": "2m"}, {"scope": "Zone", "rto": "0s", "rpo": "24h"}]}
    }))
    .unwrap()
}

fn bench(name: &str, iterations: u32, mut f: impl FnMut()) {
    for _ in 0..iterations / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    let per = start.elapsed() / iterations;
    println!("{name:<48} {:>10.1} µs/iter  ({iterations} iterations)", per.as_secs_f64() * 1e6);
}

/// A service as it is cached once running: three zones, every condition, objectives and a month's availability.
fn running(i: usize) -> ResilientService {
    let conditions: Vec<serde_json::Value> = ["Ready", "Reconciling", "Stalled", "ZoneRedundant", "ObjectivesMet",
        "FailureDetection", "AvailabilityMet"]
        .iter()
        .map(|t| json!({"type": t, "status": "True", "reason": "Fine", "message": "as declared", "lastTransitionTime": "2026-11-01T00:00:00Z"}))
        .collect();
    let mut svc = service();
    svc.metadata.name = Some(format!("svc-{i}"));
    svc.metadata.namespace = Some(format!("ns-{}", i % 10));
    let zones: Vec<serde_json::Value> = ["a", "b", "c"]
        .iter()
        .map(|z| {
            json!({"name": format!("eu-south-1{z}"), "eligible": true, "nodes": 3, "role": "Active",
            "desiredReplicas": 3, "readyReplicas": 3})
        })
        .collect();
    svc.status = serde_json::from_value(json!({
        "zones": zones,
        "conditions": conditions,
        "objectives": [
            {"scope": "Node", "objective": "RTO", "target": "2m", "status": "True", "reason": "r", "message": "m"},
            {"scope": "Zone", "objective": "RTO", "target": "0s", "status": "True", "reason": "r", "message": "m"},
            {"scope": "Zone", "objective": "RPO", "target": "24h", "status": "Unknown", "reason": "r", "message": "m"}],
        "availability": {"target": "99.9", "state": "Up", "since": "2026-11-20T00:00:00Z", "claimable": true,
            "current": {"month": "2026-11", "observedSeconds": 1_000_000, "degradedSeconds": 0, "downSeconds": 0,
                        "unobservedSeconds": 0, "errorBudgetRemainingSeconds": 2592}}
    }))
    .unwrap();
    svc
}

fn main() {
    let (reader, mut writer) = kube::runtime::reflector::store();
    for i in 0..1000 {
        writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(running(i)));
    }
    let registry = Arc::new(Metrics::default()).registry(Some(reader));
    let size = render(&registry).unwrap().len();
    bench(&format!("/metrics scrape, 1,000 services ({} KB)", size / 1024), 20, || {
        black_box(render(&registry).unwrap());
    });

    let svc = service();
    let config = Config::default();
    let now = Time(Timestamp::UNIX_EPOCH);
    for (nodes_per_zone, zones) in [(3usize, 3usize), (100, 3), (1000, 5)] {
        let nodes: Vec<NodeFacts> = (0..zones)
            .flat_map(|z| (0..nodes_per_zone).map(move |i| (z, i)))
            .map(|(z, i)| {
                synthetic_node(
                    &format!("n{z}-{i}"),
                    &format!("eu-south-1{}", (b'a' + z as u8) as char),
                    Some("eu-south-1"),
                    true,
                )
            })
            .collect();
        for mode in ["ActiveActive", "WarmStandby", "Restart"] {
            let cls = class(mode);
            let label = format!("plan+status {mode}, {zones} zones × {nodes_per_zone} nodes");
            let iterations = if nodes_per_zone >= 1000 { 500 } else { 5000 };
            bench(&label, iterations, || {
                let p = plan(&Inputs::offline(&svc, Some(&cls), &nodes, &config, jiff::Timestamp::UNIX_EPOCH));
                black_box(status::compute(&svc, &p, &now));
            });
        }
    }
}
