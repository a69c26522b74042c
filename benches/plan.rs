//! How long the pure core takes to plan a service, what a node-heavy cluster costs it, and what a `/metrics`
//! scrape of 1,000 services costs. `cargo bench --bench plan` prints one line per case; figures are quoted in
//! the README.

use std::{hint::black_box, sync::Arc, time::Instant};

use continuo::{
    api::{ContinuityClass, RecoveryPoint, ResilientService, RestoreRequest},
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

/// `running(i)` with two incidents this month, a month of daily copies and a restore: what a report of 1,000
/// services reads.
fn month_of(i: usize) -> (ResilientService, Vec<RecoveryPoint>, RestoreRequest) {
    let mut svc = running(i);
    let (name, ns) = (svc.metadata.name.clone().unwrap(), svc.metadata.namespace.clone().unwrap());
    svc.spec.backup = serde_json::from_value(json!({"location": "offsite",
        "agent": {"spec": {"containers": [{"name": "agent", "image": "agent:1"}]}}}))
    .unwrap();
    svc.status.as_mut().unwrap().incidents = serde_json::from_value(json!([
        {"scope": "Node", "subject": "n1", "began": "2026-11-20T14:02:10Z", "detected": "2026-11-20T14:03:00Z",
         "recovered": "2026-11-20T14:04:40Z", "rtoSeconds": 150, "lowestReady": 2, "replicas": 4, "targetRto": "2m", "withinRto": false},
        {"scope": "Zone", "subject": "eu-south-1a", "began": "2026-11-12T03:10:00Z", "detected": "2026-11-12T03:10:21Z",
         "recovered": "2026-11-12T03:10:41Z", "rtoSeconds": 41, "lowestReady": 2, "replicas": 4, "targetRto": "15m", "withinRto": true}]))
    .unwrap();
    let points = (1..=29)
        .map(|d| {
            serde_json::from_value(json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "RecoveryPoint",
                "metadata": {"name": format!("{name}-{d}"), "namespace": ns},
                "spec": {"service": name, "location": "offsite", "tiers": ["daily"]},
                "status": {"phase": "Completed", "capturedAt": format!("2026-11-{d:02}T01:00:00Z")}}))
            .unwrap()
        })
        .collect();
    let restore = serde_json::from_value(json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "RestoreRequest",
        "metadata": {"name": format!("{name}-restore"), "namespace": ns}, "spec": {"service": name},
        "status": {"phase": "Succeeded", "startTime": "2026-11-26T10:00:00Z", "completionTime": "2026-11-26T10:04:30Z"}}))
    .unwrap();
    (svc, points, restore)
}

/// The monthly report of 1,000 services (two incidents each, 29 daily copies, a restore): built and rendered.
fn report_of_a_thousand() {
    let mut objects = continuo::report::document::Objects { classes: vec![class("WarmStandby")], ..Default::default() };
    for i in 0..1000 {
        let (svc, points, restore) = month_of(i);
        objects.services.push(svc);
        objects.points.extend(points);
        objects.restores.push(restore);
    }
    for format in [
        continuo::report::document::Format::Html,
        continuo::report::document::Format::Markdown,
        continuo::report::document::Format::Json,
    ] {
        let request = continuo::report::document::Request {
            month: "2026-11".into(),
            namespace: None,
            format,
            now: "2026-11-29T12:00:00Z".parse().unwrap(),
        };
        let start = Instant::now();
        let text = continuo::report::document::render(&objects, &request).unwrap();
        println!(
            "report of 1,000 services, {format:?}: {:>8.1} ms, {:.2} MB",
            start.elapsed().as_secs_f64() * 1e3,
            text.len() as f64 / 1e6
        );
    }
}

fn main() {
    report_of_a_thousand();
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
