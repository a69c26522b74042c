//! The operator at scale: the real `continuo run` binary, as its own process, against the in-memory API served
//! over loopback HTTP with a fixed latency per request, and a simulated Deployment controller that brings pods
//! up one at a time (so each Deployment's status changes several times, as in a real rollout).
//!
//! Each service names its data layer (half a CloudNativePG Cluster with three instance pods, half a VolSync
//! ReplicationSource), so the data layers' watches and verdicts are measured too.
//!
//! For each size it reports, while N services created at once converge: API requests by verb, reconciles per
//! service, the time until every status is Ready, how long a status lags behind its last child becoming
//! available, and the operator's RSS; then the requests of 10 s of steady state, and the writes and reconcile
//! errors while every namespace holding the services is deleted.
//!
//! `cargo bench --bench scale` (sizes: `SCALE_SIZES=100,1000`; latency: `SCALE_LATENCY_MS=5`; no data layer:
//! `SCALE_DATA=0`;
//! operator settings: `CONTINUO_CONCURRENCY`, `CONTINUO_DEBOUNCE`, passed through).

#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    collections::{BTreeMap, HashMap},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::{Body, Bytes},
    http::{Method, Uri},
    response::Response,
};
use futures::StreamExt;
use serde_json::{Value, json};
use support::{FakeApi, Reply, nodes};

const NAMESPACES: usize = 10;

fn namespace(i: usize) -> String {
    format!("tenant-{i}")
}

fn services_path(ns: &str) -> String {
    format!("/apis/continuo.dev/v1alpha1/namespaces/{ns}/resilientservices")
}

async fn serve(api: FakeApi) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let router = Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
        let api = api.clone();
        async move {
            match api.reply(&method, uri.path(), uri.query(), &body).await {
                Reply::Json(code, value) => Response::builder()
                    .status(code)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&value).unwrap()))
                    .unwrap(),
                Reply::Watch(events) => Response::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(Body::from_stream(events.map(Ok::<_, std::convert::Infallible>)))
                    .unwrap(),
            }
        }
    });
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    port
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A plain HTTP GET on the operator's admin port (local and quick: a blocking call is fine here).
async fn admin_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes()).ok()?;
    let mut out = String::new();
    stream.read_to_string(&mut out).ok()?;
    Some(out)
}

/// Sum of a metric family's samples whose labels contain `filter`.
fn metric(text: &str, name: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(filter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, |a, b| a + b)
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0)
}

/// CPU seconds (user + system) the process has used, from `/proc/<pid>/stat` (clock ticks of 1/100 s on Linux).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces): utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Whether services name a data layer (`SCALE_DATA=0`: none, to compare).
fn with_data() -> bool {
    std::env::var("SCALE_DATA").map_or(true, |v| v != "0")
}

/// Service `i`: its data in a CloudNativePG Cluster (even `i`) or a VolSync ReplicationSource (odd `i`).
fn service(i: usize, name: &str, ns: &str) -> Value {
    if !with_data() {
        return json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"className": "active-active", "replicas": 4,
                     "service": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
                     "template": {"spec": {"containers": [{"name": "app", "image": "registry.example/app:1.0"}]}}}});
    }
    let data = if i.is_multiple_of(2) {
        json!([{"name": "db", "cloudNativePG": {"cluster": format!("{name}-db")}}])
    } else {
        json!([{"name": "files", "volSync": {"replicationSource": format!("{name}-files"), "destinationZone": "eu-south-2a"}}])
    };
    let class = if i.is_multiple_of(2) { "bench-database" } else { "bench-files" };
    json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"className": class, "replicas": 4,
                 "service": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
                 "template": {"spec": {"containers": [{"name": "app", "image": "registry.example/app:1.0"}]}},
                 "data": data}})
}

/// The data layer of service `i`, as its operators write it: a three-instance Cluster with its instance pods (one
/// per zone), or a ReplicationSource synced a minute ago.
fn data_layer(api: &FakeApi, i: usize, name: &str, ns: &str) {
    if i.is_multiple_of(2) {
        let cluster = format!("{name}-db");
        api.put(&format!("/apis/postgresql.cnpg.io/v1/namespaces/{ns}/clusters"), json!({
            "apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": {"name": cluster, "namespace": ns},
            "spec": {"instances": 3, "postgresql": {"synchronous": {"method": "any", "number": 1, "dataDurability": "required"},
                "syncReplicaElectionConstraint": {"enabled": true, "nodeLabelsAntiAffinity": ["topology.kubernetes.io/zone"]}},
                "storage": {"size": "10Gi"}},
            "status": {"currentPrimary": format!("{cluster}-1"), "readyInstances": 3, "instances": 3,
                "currentPrimaryTimestamp": "2026-11-30T00:00:00.000000Z",
                "conditions": [{"type": "Ready", "status": "True", "reason": "ClusterIsReady", "message": "Cluster is Ready",
                                "lastTransitionTime": "2026-11-30T00:00:00Z"}]}}));
        for (k, zone) in ["eu-south-1a", "eu-south-1b", "eu-south-1c"].iter().enumerate() {
            api.put(&format!("/api/v1/namespaces/{ns}/pods"), json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("{cluster}-{}", k + 1), "namespace": ns,
                    "labels": {"cnpg.io/cluster": cluster, "cnpg.io/podRole": "instance",
                               "cnpg.io/instanceRole": if k == 0 { "primary" } else { "replica" }}},
                "spec": {"nodeName": format!("{zone}-w1"), "containers": [{"name": "postgres", "image": "postgres:17"}]},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}));
        }
    } else {
        let synced = (jiff::Timestamp::now() - jiff::SignedDuration::from_mins(1)).to_string();
        api.put(
            &format!("/apis/volsync.backube/v1alpha1/namespaces/{ns}/replicationsources"),
            json!({
            "apiVersion": "volsync.backube/v1alpha1", "kind": "ReplicationSource",
            "metadata": {"name": format!("{name}-files"), "namespace": ns},
            "spec": {"sourcePVC": "files", "trigger": {"schedule": "*/15 * * * *"}, "restic": {"repository": "r"}},
            "status": {"lastSyncTime": synced, "lastSyncDuration": "40s"}}),
        );
    }
}

fn is_ready(svc: &Value) -> bool {
    svc["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// Plays the Deployment controller: every 100 ms, one more pod of each Deployment becomes Ready. Records when
/// each service's last Deployment became fully available.
fn deployment_controller(api: FakeApi, available: Arc<Mutex<HashMap<String, Instant>>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut per_service: BTreeMap<String, bool> = BTreeMap::new();
            for (collection, d) in api.list_all("/apis/apps/v1/deployments") {
                let name = d["metadata"]["name"].as_str().unwrap_or_default().to_string();
                let owner = format!(
                    "{}/{}",
                    d["metadata"]["namespace"].as_str().unwrap_or_default(),
                    d["metadata"]["labels"]["continuo.dev/service"].as_str().unwrap_or_default()
                );
                let want = d["spec"]["replicas"].as_i64().unwrap_or(0);
                let ready = d["status"]["readyReplicas"].as_i64().unwrap_or(0);
                let current = d["status"]["observedGeneration"] == d["metadata"]["generation"];
                let done = current && ready == want;
                if !done {
                    let next = if ready < want { ready + 1 } else { want };
                    api.edit(&collection, &name, |d| {
                        d["status"] = json!({"observedGeneration": d["metadata"]["generation"], "replicas": want,
                            "readyReplicas": next, "updatedReplicas": next, "availableReplicas": next});
                    });
                }
                let entry = per_service.entry(owner).or_insert(true);
                *entry &= done;
            }
            let now = Instant::now();
            let mut available = available.lock().unwrap();
            for (owner, done) in per_service {
                if done {
                    available.entry(owner).or_insert(now);
                }
            }
        }
    })
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn by_verb(requests: &[(String, String, String)]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (method, path, _) in requests {
        let verb = match method.as_str() {
            "GET" => "LIST/GET",
            "PATCH" if path.ends_with("/status") => "PATCH status",
            "PATCH" | "POST" if path.contains("/events") => "Event",
            other => other,
        };
        *out.entry(verb.to_string()).or_insert(0) += 1;
    }
    out
}

struct Operator {
    child: Child,
    admin: u16,
}

impl Drop for Operator {
    /// Stops the operator as Kubernetes does, with SIGTERM (it drains and exits); kills it if it does not.
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        for _ in 0..600 {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_operator(api_port: u16, dir: &std::path::Path) -> Operator {
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: fake, cluster: {{server: 'http://127.0.0.1:{api_port}'}}}}]\n\
             users: [{{name: fake, user: {{token: bench}}}}]\ncontexts: [{{name: fake, context: {{cluster: fake, user: fake}}}}]\n\
             current-context: fake\n"
        ),
    )
    .unwrap();
    let admin = free_port();
    // SCALE_OPERATOR_WRAPPER runs the operator under a profiler, e.g. "valgrind --tool=massif".
    let wrapper: Vec<String> =
        std::env::var("SCALE_OPERATOR_WRAPPER").unwrap_or_default().split_whitespace().map(String::from).collect();
    let (program, prefix) = match wrapper.split_first() {
        Some((program, rest)) => (program.clone(), [rest, &[env!("CARGO_BIN_EXE_continuo").to_string()]].concat()),
        None => (env!("CARGO_BIN_EXE_continuo").to_string(), Vec::new()),
    };
    let child = Command::new(program)
        .args(prefix)
        .args(["run", "--admin-address", &format!("127.0.0.1:{admin}")])
        .env("KUBECONFIG", &kubeconfig)
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(if std::env::var_os("SCALE_OPERATOR_LOG").is_some() { Stdio::inherit() } else { Stdio::null() })
        .stderr(if std::env::var_os("SCALE_OPERATOR_LOG").is_some() { Stdio::inherit() } else { Stdio::null() })
        .spawn()
        .expect("the continuo binary runs");
    Operator { child, admin }
}

async fn run_size(n: usize, latency: Duration) {
    let api = FakeApi::with_latency(latency);
    for i in 0..NAMESPACES {
        api.put(
            "/api/v1/namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace(i)}}),
        );
    }
    for node in nodes(&["eu-south-1a", "eu-south-1b", "eu-south-1c"], 2) {
        api.put("/api/v1/nodes", serde_json::to_value(node).unwrap());
    }
    for class in continuo::api::builtin_classes().unwrap() {
        api.put("/apis/continuo.dev/v1alpha1/continuityclasses", serde_json::to_value(class).unwrap());
    }
    // Classes the services' data layers can keep (so that a converging service has no unkept promise to report):
    // RPO 0 on a synchronous database, whose failover bounds the RTO; an hour's RPO on a volume replicated every
    // 15 minutes.
    for (name, objectives) in [
        (
            "bench-database",
            json!([{"scope": "Node", "rto": "1m", "rpo": "0s"}, {"scope": "Zone", "rto": "1m", "rpo": "0s"}]),
        ),
        ("bench-files", json!([{"scope": "Node", "rto": "0s"}, {"scope": "Zone", "rto": "0s", "rpo": "1h"}])),
    ] {
        api.put(
            "/apis/continuo.dev/v1alpha1/continuityclasses",
            json!({"apiVersion": "continuo.dev/v1alpha1",
            "kind": "ContinuityClass", "metadata": {"name": name},
            "spec": {"mode": "ActiveActive", "minZones": 3, "objectives": objectives,
                     "availability": {"target": "99.9", "minZones": 2}}}),
        );
    }
    let names: Vec<(String, String)> = (0..n).map(|i| (namespace(i % NAMESPACES), format!("svc-{i}"))).collect();
    for (i, (ns, name)) in names.iter().enumerate().filter(|_| with_data()) {
        data_layer(&api, i, name, ns);
    }
    let port = serve(api.clone()).await;
    let dir = std::env::temp_dir().join(format!("continuo-scale-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let operator = start_operator(port, &dir);
    let pid = operator.child.id();
    let started = Instant::now();
    while admin_get(operator.admin, "/readyz").await.is_none_or(|r| r.split(' ').nth(1) != Some("200")) {
        assert!(started.elapsed() < Duration::from_secs(120), "the operator did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let idle_rss = rss_kib(pid, "VmRSS:");

    // Converge: N services created at once.
    let available = Arc::new(Mutex::new(HashMap::new()));
    let controller = deployment_controller(api.clone(), available.clone());
    api.clear_log();
    let t0 = Instant::now();
    for (i, (ns, name)) in names.iter().enumerate() {
        api.put(&services_path(ns), service(i, name, ns));
    }
    let mut ready_at: HashMap<String, Instant> = HashMap::new();
    while ready_at.len() < n {
        assert!(t0.elapsed() < Duration::from_secs(600), "not converged after 10 minutes");
        for (ns, name) in &names {
            let key = format!("{ns}/{name}");
            if !ready_at.contains_key(&key) && api.get(&services_path(ns), name).is_some_and(|s| is_ready(&s)) {
                ready_at.insert(key, Instant::now());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let converged = t0.elapsed();
    let operator_cpu = cpu_seconds(pid);
    let bench_cpu = cpu_seconds(std::process::id());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let converge_requests = api.requests();
    // Every data-layer object is read from the watch caches: no request for one beyond the initial lists.
    let data_reads = converge_requests
        .iter()
        .filter(|(m, p, _)| m == "GET" && (p.contains("cnpg.io") || p.contains("volsync") || p.contains("/pods")))
        .count();
    let metrics = admin_get(operator.admin, "/metrics").await.unwrap_or_default();
    let reconciles = metric(&metrics, "controller_runtime_reconcile_total", "");
    let errors = metric(&metrics, "controller_runtime_reconcile_errors_total", "");
    let rss = rss_kib(pid, "VmRSS:");
    let lags: Vec<Duration> = {
        let available = available.lock().unwrap();
        ready_at.iter().filter_map(|(k, r)| available.get(k).map(|a| r.saturating_duration_since(*a))).collect()
    };
    controller.abort();

    // Steady state.
    api.clear_log();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let steady: Vec<_> = api.requests().into_iter().filter(|(m, _, _)| m != "WATCH").collect();
    let steady_rss = rss_kib(pid, "VmRSS:");

    // Every namespace is deleted: marked first, then emptied, children before services.
    api.clear_log();
    for i in 0..NAMESPACES {
        let ns = namespace(i);
        api.edit("/api/v1/namespaces", &ns, |o| o["metadata"]["deletionTimestamp"] = json!("2026-11-25T10:00:00Z"));
        for prefix in [
            format!("/apis/apps/v1/namespaces/{ns}"),
            format!("/apis/policy/v1/namespaces/{ns}"),
            format!("/api/v1/namespaces/{ns}"),
        ] {
            api.refuse(
                &prefix,
                403,
                "Forbidden",
                &format!("unable to create new content in namespace {ns} because it is being terminated"),
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for kind in [
        "/apis/apps/v1/deployments",
        "/apis/policy/v1/poddisruptionbudgets",
        "/api/v1/services",
        "/apis/continuo.dev/v1alpha1/resilientservices",
    ] {
        for (collection, o) in api.list_all(kind) {
            api.remove(&collection, o["metadata"]["name"].as_str().unwrap());
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let deletion_writes = api.writes().len();
    let metrics = admin_get(operator.admin, "/metrics").await.unwrap_or_default();
    let deletion_errors = (metric(&metrics, "controller_runtime_reconcile_errors_total", "") - errors).max(0.0);
    let peak = rss_kib(pid, "VmHWM:");
    drop(operator);
    let _ = std::fs::remove_dir_all(&dir);

    let data = if with_data() { "each with a data layer" } else { "no data layer" };
    println!("\n## {n} services ({data}; {} namespaces, 3 zones, {} ms per request)", NAMESPACES, latency.as_millis());
    println!("| converging | |\n|---|---|");
    for (verb, count) in by_verb(&converge_requests) {
        println!("| {verb} | {count} ({:.2} per service) |", count as f64 / n as f64);
    }
    println!("| reconciles | {reconciles} ({:.2} per service) |", reconciles / n as f64);
    println!("| reconcile errors | {errors} |");
    println!("| data-layer reads (Clusters, pods, ReplicationSources) | {data_reads} |");
    println!("| all Ready after | {:.1} s |", converged.as_secs_f64());
    println!(
        "| CPU until then | operator {operator_cpu:.1} s; in-memory API and simulated controller {bench_cpu:.1} s |"
    );
    println!(
        "| status lag behind last child available | p50 {} ms, p90 {} ms, max {} ms |",
        percentile(lags.clone(), 0.5).as_millis(),
        percentile(lags.clone(), 0.9).as_millis(),
        percentile(lags, 1.0).as_millis()
    );
    println!(
        "| RSS | {} MiB idle, {} MiB converged, {} MiB steady (10 s later), peak {} MiB |",
        idle_rss / 1024,
        rss / 1024,
        steady_rss / 1024,
        peak / 1024
    );
    println!("| steady state, 10 s | {} requests |", steady.len());
    println!("| namespaces deleted | {deletion_writes} writes, {deletion_errors} reconcile errors |");
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it briefly as a smoke test.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let sizes: Vec<usize> = std::env::var("SCALE_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| if smoke { vec![10] } else { vec![100, 1000] });
    let latency =
        Duration::from_millis(std::env::var("SCALE_LATENCY_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(5));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    for n in sizes {
        runtime.block_on(run_size(n, latency));
    }
}
