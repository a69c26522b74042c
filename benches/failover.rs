//! Detection-to-capacity, measured on the in-memory API with a fake clock: zone a's kubelets (the WarmStandby
//! primary's) stop renewing their
//! leases (their Node objects still say Ready), and the figures are when continuo found the zone lost, when the
//! service was back to its declared Ready capacity, and the RTO its incident recorded. A simulated Deployment
//! controller makes a new replica Ready `STARTUP` seconds after it is asked for. Also: what one evaluation of
//! the detector costs on a large cluster (wall time).
//!
//! `cargo bench --bench failover` (`FAILOVER_STARTUP=10` sets the simulated start-up seconds).

#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    collections::HashMap,
    hint::black_box,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Instant,
};

use continuo::{
    api::ResilientService,
    availability::Observer,
    controller::{Context, Detector, reconcile},
    failover::{Leases, Memory, Settings, detection},
    plan::Config,
    topology::{self, Keys, NodeFacts, synthetic_node},
};
use jiff::Timestamp;
use kube::runtime::events::Reporter;
use serde_json::json;
use support::{FakeApi, nodes};

const SERVICES: &str = "/apis/continuo.dev/v1alpha1/namespaces/b/resilientservices";
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/b/deployments";
const T0: i64 = 1_794_268_800;

struct Outcome {
    detected: Option<i64>,
    /// When every service was back to its declared Ready capacity.
    back: Option<i64>,
    rto: Option<i64>,
    /// Services whose incident recorded a drop below their declared capacity.
    dropped: usize,
    /// Wall time spent in reconciles.
    busy: std::time::Duration,
}

/// The services of a scenario: one, `s`, whose primary zone (WarmStandby) is zone a by preference; or many,
/// spread by continuo, of which zone a holds a share.
fn names(services: usize) -> Vec<String> {
    if services == 1 { vec!["s".into()] } else { (0..services).map(|i| format!("s-{i:03}")).collect() }
}

/// Zone a's kubelets renew last at 10 s and die at 12 s; returns the fake seconds of detection and recovery.
async fn scenario(mode: &str, replicas: i32, startup: i64, leases: bool, services: usize) -> Outcome {
    let api = FakeApi::default();
    api.put(
        "/apis/continuo.dev/v1alpha1/continuityclasses",
        json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ContinuityClass", "metadata": {"name": "c"},
            "spec": {"mode": mode, "objectives": [{"scope": "Zone", "rto": "60s"}]}}),
    );
    let names = names(services);
    for name in &names {
        let preferred = if services == 1 { json!(["a"]) } else { json!([]) };
        api.put(
            SERVICES,
            json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService",
            "metadata": {"name": name, "namespace": "b"},
            "spec": {"className": "c", "replicas": replicas, "preferredZones": preferred,
                     "template": {"spec": {"containers": [{"name": "a", "image": "a"}]}}}}),
        );
    }
    let mut cluster = nodes(&["a", "b", "c"], 2);
    let (caches, mut feed) = api.watched(&cluster);
    let clock = Arc::new(AtomicI64::new(T0));
    let now = clock.clone();
    let detector = Arc::new(Detector::new(Settings::default(), Observer::always()));
    let ctx = Arc::new(
        Context::new(
            api.client(),
            caches,
            Config::default(),
            Reporter { controller: "continuo".into(), instance: None },
        )
        .with_detector(detector.clone())
        .with_clock(move || Timestamp::from_second(now.load(Ordering::SeqCst)).unwrap()),
    );
    // Settled before the failure.
    feed.sync(&api, &cluster);
    let svc = |name: &str| -> Arc<ResilientService> {
        Arc::new(serde_json::from_value(api.get(SERVICES, name).unwrap()).unwrap())
    };
    for name in &names {
        reconcile(svc(name), ctx.clone()).await.unwrap();
    }
    api.roll_out(DEPLOYMENTS);
    feed.sync(&api, &cluster);
    for name in &names {
        reconcile(svc(name), ctx.clone()).await.unwrap();
    }

    let mut asked: HashMap<String, i64> = HashMap::new();
    let mut out = Outcome { detected: None, back: None, rto: None, dropped: 0, busy: Default::default() };
    for t in 1..=180 {
        clock.store(T0 + t, Ordering::SeqCst);
        let at = Timestamp::from_second(T0 + t).unwrap();
        let mut trigger = false;
        if leases && t % 10 == 0 {
            for n in &cluster {
                let name = n.metadata.name.clone().unwrap();
                if !(name.starts_with('a') && t > 11) {
                    detector.observe(&name, Some(at.to_string()), at);
                }
            }
        }
        // Without leases, the node controller marks zone a's nodes NotReady after its 50 s grace period.
        if !leases && t == 12 + 50 {
            cluster = cluster
                .into_iter()
                .map(|n| {
                    let zone = n.metadata.labels.as_ref().unwrap()["topology.kubernetes.io/zone"].clone();
                    let name = n.metadata.name.clone().unwrap();
                    if zone == "a" { support::node(&name, &zone, false) } else { n }
                })
                .collect();
            trigger = true;
        }
        let facts: Vec<NodeFacts> =
            topology::observe(&cluster.iter().cloned().map(Arc::new).collect::<Vec<_>>(), &Keys::default());
        if detector.evaluate(&facts, at) {
            trigger = true;
        }
        let lost = !detector.current().zones.is_empty() || (!leases && t >= 12 + 50);
        if lost && out.detected.is_none() {
            out.detected = Some(t);
        }
        // The simulated Deployment controller: a replica asked for becomes Ready `startup` seconds later.
        for d in api.list(DEPLOYMENTS) {
            let name = d["metadata"]["name"].as_str().unwrap().to_string();
            let want = d["spec"]["replicas"].as_i64().unwrap();
            let ready = d["status"]["readyReplicas"].as_i64().unwrap_or(0);
            if name.ends_with("-a") || want <= ready {
                asked.remove(&name);
                continue;
            }
            let since = *asked.entry(name.clone()).or_insert(t);
            if t - since >= startup {
                api.roll_out_where(DEPLOYMENTS, |n| n == name);
                trigger = true;
            }
        }
        if trigger {
            feed.sync(&api, &cluster);
            let start = Instant::now();
            for name in &names {
                reconcile(svc(name), ctx.clone()).await.unwrap();
            }
            out.busy += start.elapsed();
            let statuses: Vec<serde_json::Value> =
                names.iter().map(|n| api.get(SERVICES, n).unwrap()["status"].clone()).collect();
            let healthy = |status: &serde_json::Value| -> i64 {
                status["zones"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|z| z["eligible"] == json!(true))
                    .map(|z| z["readyReplicas"].as_i64().unwrap())
                    .sum()
            };
            if out.detected.is_some()
                && out.back.is_none()
                && statuses.iter().all(|s| healthy(s) >= i64::from(replicas))
            {
                out.back = Some(t);
            }
            if let Some(rto) = statuses.iter().filter_map(|s| s["incidents"][0]["rtoSeconds"].as_i64()).max() {
                out.rto = Some(rto);
            }
            out.dropped = statuses
                .iter()
                .filter(|s| s["incidents"][0]["lowestReady"].as_i64().is_some_and(|l| l < i64::from(replicas)))
                .count();
        }
    }
    out
}

/// A stateful installation (Restart, 1 replica, a volume, daily copies in another region) whose zone a dies at
/// 12 s: when continuo detects it, when the replacement in another zone is applied with its restore init container
/// (the same second: no reconcile round trip between), when it is Ready (after the restore and the start-up, as a
/// simulated StatefulSet controller plays them), and the incident's RTO and data lost.
async fn stateful(startup: i64, restore: i64) -> (Outcome, Option<i64>, Option<i64>) {
    const SETS: &str = "/apis/apps/v1/namespaces/b/statefulsets";
    let api = FakeApi::default();
    api.put(
        "/apis/continuo.dev/v1alpha1/continuityclasses",
        json!({"apiVersion": "continuo.dev/v1alpha1",
        "kind": "ContinuityClass", "metadata": {"name": "installation"}, "spec": {"mode": "Restart",
        "objectives": [{"scope": "Zone", "rto": "60m", "rpo": "24h"}], "backup": {"keep": {"daily": 7}}}}),
    );
    api.put(
        "/apis/continuo.dev/v1alpha1/backuplocations",
        json!({"apiVersion": "continuo.dev/v1alpha1",
        "kind": "BackupLocation", "metadata": {"name": "offsite"}, "spec": {"region": "eu-south-2"}}),
    );
    api.put(
        "/apis/storage.k8s.io/v1/storageclasses",
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "zonal", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "pd.csi.storage.gke.io"}),
    );
    let captured = Timestamp::from_second(T0 - 3600).unwrap().to_string();
    api.put("/apis/continuo.dev/v1alpha1/namespaces/b/recoverypoints", json!({"apiVersion": "continuo.dev/v1alpha1",
        "kind": "RecoveryPoint", "metadata": {"name": "s-daily", "namespace": "b"}, "spec": {"service": "s", "location": "offsite"},
        "status": {"phase": "Available", "id": "snap", "capturedAt": captured, "completedAt": captured, "region": "eu-south-2"}}));
    api.put(SERVICES, json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService",
        "metadata": {"name": "s", "namespace": "b"},
        "spec": {"className": "installation", "replicas": 1, "preferredZones": ["a"],
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "50Gi"}}}}],
            "template": {"spec": {"containers": [{"name": "a", "image": "a", "volumeMounts": [{"name": "data", "mountPath": "/d"}]}]}},
            "backup": {"location": "offsite", "agent": {"spec": {"containers": [{"name": "agent", "image": "agent"}]}}}}}));
    let cluster = nodes(&["a", "b", "c"], 2);
    let (caches, mut feed) = api.watched(&cluster);
    let clock = Arc::new(AtomicI64::new(T0));
    let now = clock.clone();
    let detector = Arc::new(Detector::new(Settings::default(), Observer::always()));
    let reporter = Reporter { controller: "continuo".into(), instance: None };
    let ctx = Arc::new(
        Context::new(api.client(), caches, Config::default(), reporter)
            .with_detector(detector.clone())
            .with_clock(move || Timestamp::from_second(now.load(Ordering::SeqCst)).unwrap()),
    );
    let svc =
        || -> Arc<ResilientService> { Arc::new(serde_json::from_value(api.get(SERVICES, "s").unwrap()).unwrap()) };
    for _ in 0..2 {
        feed.sync(&api, &cluster);
        reconcile(svc(), ctx.clone()).await.unwrap();
        api.run_stateful_sets("b", |_| true);
    }
    let mut out = Outcome { detected: None, back: None, rto: None, dropped: 0, busy: Default::default() };
    let (mut applied, mut lost) = (None, None);
    let mut asked: HashMap<String, i64> = HashMap::new();
    for t in 1..=300 {
        clock.store(T0 + t, Ordering::SeqCst);
        let at = Timestamp::from_second(T0 + t).unwrap();
        if t % 10 == 0 {
            for n in cluster.iter().filter_map(|n| n.metadata.name.clone()).filter(|n| !(n.starts_with('a') && t > 11))
            {
                detector.observe(&n, Some(at.to_string()), at);
            }
        }
        let facts = topology::observe(&cluster.iter().cloned().map(Arc::new).collect::<Vec<_>>(), &Keys::default());
        let mut trigger = detector.evaluate(&facts, at);
        if !detector.current().zones.is_empty() && out.detected.is_none() {
            out.detected = Some(t);
        }
        // The StatefulSet controller: a pod asked for is Ready after its restore (when its template restores) and
        // its start-up.
        for set in api.list(SETS) {
            let name = set["metadata"]["name"].as_str().unwrap().to_string();
            let want = set["spec"]["replicas"].as_i64().unwrap();
            if name.ends_with("-a") || want <= set["status"]["readyReplicas"].as_i64().unwrap_or(0) {
                continue;
            }
            let restores = set["spec"]["template"]["spec"]["initContainers"].as_array().is_some_and(|c| !c.is_empty());
            let since = *asked.entry(name.clone()).or_insert(t);
            if t - since >= startup + if restores { restore } else { 0 } {
                api.run_stateful_sets("b", |n| n == name);
                trigger = true;
            }
        }
        if trigger {
            feed.sync(&api, &cluster);
            let start = Instant::now();
            reconcile(svc(), ctx.clone()).await.unwrap();
            out.busy += start.elapsed();
            let restoring = api.list(SETS).iter().any(|s| {
                s["spec"]["replicas"] == json!(1) && s["spec"]["template"]["spec"]["initContainers"].is_array()
            });
            if restoring && applied.is_none() {
                applied = Some(t);
            }
            let status = api.get(SERVICES, "s").unwrap()["status"].clone();
            let incident = &status["incidents"][0];
            if out.back.is_none() && incident["recovered"].is_string() && out.detected.is_some() {
                out.back = Some(t);
                out.rto = incident["rtoSeconds"].as_i64();
                lost = incident["dataLossSeconds"].as_i64();
            }
        }
    }
    (out, applied, lost)
}

fn show(v: Option<i64>) -> String {
    v.map_or_else(|| "never".into(), |s| format!("{s} s"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let startup: i64 = std::env::var("FAILOVER_STARTUP").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    println!("zone a's kubelets renew last at 10 s and die at 12 s; pods start in {startup} s (fake clock)");
    println!("{:<34} {:>10} {:>16} {:>14}", "mode, detection", "detected", "capacity back", "incident RTO");
    for (mode, replicas) in [("WarmStandby", 4), ("ActiveActive", 6), ("Restart", 6)] {
        for leases in [true, false] {
            let o = scenario(mode, replicas, startup, leases, 1).await;
            let how = if leases { "node leases (20 s)" } else { "NotReady only (50 s)" };
            let label = format!("{mode}, {how}");
            println!("{label:<34} {:>10} {:>16} {:>14}", show(o.detected), show(o.back), show(o.rto));
        }
    }

    // A stateful installation: its zone's loss restores the newest off-zone copy elsewhere before it starts.
    let restore: i64 = std::env::var("FAILOVER_RESTORE").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let (o, applied, lost) = stateful(startup, restore).await;
    println!(
        "stateful Restart (1 replica, restore {restore} s): detected {}, replacement with its restore applied {}, \
         Ready {}, incident RTO {}, data lost {} (RPO 24h); {:?} of reconciles",
        show(o.detected),
        show(applied),
        show(o.back),
        show(o.rto),
        show(lost),
        o.busy
    );

    // Many WarmStandby services, their primaries spread by continuo: zone a's loss fails over its share only.
    let many: usize = std::env::var("FAILOVER_SERVICES").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
    let o = scenario("WarmStandby", 4, startup, true, many).await;
    println!(
        "{many} WarmStandby services, node leases: detected {}, all {many} back to 4 Ready {}, slowest incident RTO {}; \
         {} services dropped below 4 (zone a's share), {:?} of reconciles in all",
        show(o.detected),
        show(o.back),
        show(o.rto),
        o.dropped,
        o.busy
    );

    // The detector's cost: one evaluation over 3 zones of many nodes, every lease renewing.
    for per_zone in [100, 1000] {
        let facts: Vec<NodeFacts> = (0..3)
            .flat_map(|z| {
                (0..per_zone).map(move |i| synthetic_node(&format!("n{z}-{i}"), &format!("z{z}"), Some("eu"), true))
            })
            .collect();
        let mut leases = Leases::default();
        let at = Timestamp::from_second(T0).unwrap();
        for n in &facts {
            leases.observe(&n.name, Some("r".into()), at);
        }
        let mut memory = Memory::default();
        let iterations = 200;
        let start = Instant::now();
        for _ in 0..iterations {
            black_box(detection::evaluate(&facts, &leases, &mut memory, at, &Settings::default()));
        }
        let each = start.elapsed() / iterations;
        println!("detector evaluation, 3 zones x {per_zone} nodes: {each:?} (twice a second)");
    }
}
