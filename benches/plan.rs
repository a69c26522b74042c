//! How long the pure core takes to plan a service, and what a node-heavy cluster costs it.
//! `cargo bench --bench plan` prints one line per case; figures are quoted in the README.

use std::{hint::black_box, time::Instant};

use continuo::{
    api::{ContinuityClass, ResilientService},
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

fn main() {
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
