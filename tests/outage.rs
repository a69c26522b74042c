//! The API server goes away and comes back, with the running operator (`controller::run`) against the in-memory
//! API: connections refused for a while, then `410 Gone` to every watch that resumes from before. A change made
//! when it answers again is acted on within 10 s; nothing is touched meanwhile; the outage is one condition of
//! the operator's, not an error per service; and with two replicas only one writes.

mod support;

use std::time::{Duration, Instant};

use continuo::{
    controller::{Election, Settings, run},
    plan::Config,
};
use serde_json::{Value, json};
use support::{FakeApi, nodes};

const NS: &str = "shop";
const SERVICES: &str = "/apis/continuo.dev/v1alpha1/namespaces/shop/resilientservices";
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/shop/deployments";
/// How long the API server is away: a control-plane upgrade's restart, as measured on a real cluster.
const OUTAGE: Duration = Duration::from_secs(60);

fn world(services: usize) -> FakeApi {
    let api = support::cluster(NS);
    for i in 0..services {
        api.put(
            SERVICES,
            json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService",
            "metadata": {"name": format!("s{i}"), "namespace": NS},
            "spec": {"className": "active-active", "replicas": 3,
                     "template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}}}),
        );
    }
    api
}

fn settings(admin: std::net::SocketAddr) -> Settings {
    support::operator_settings(admin)
}

fn free_port() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

fn ready(api: &FakeApi, name: &str) -> bool {
    api.get(SERVICES, name).is_some_and(|s| {
        s["status"]["conditions"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
    })
}

/// Plays the Deployment controller until `done` holds or `limit` passes; returns how long it took.
async fn within(api: &FakeApi, limit: Duration, done: impl Fn() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return Some(start.elapsed());
        }
        api.roll_out(DEPLOYMENTS);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

fn replicas(api: &FakeApi, service: &str) -> Vec<i64> {
    ["a", "b", "c"]
        .iter()
        .map(|z| {
            api.get(DEPLOYMENTS, &format!("{service}-{z}")).map_or(-1, |d| d["spec"]["replicas"].as_i64().unwrap())
        })
        .collect()
}

fn uids(api: &FakeApi) -> Vec<Value> {
    api.list(DEPLOYMENTS).iter().map(|d| d["metadata"]["uid"].clone()).collect()
}

/// The operator's `/metrics`, read over HTTP.
async fn metrics(admin: std::net::SocketAddr) -> String {
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(admin).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
        let mut out = String::new();
        let _ = stream.read_to_string(&mut out);
        out
    })
    .await
    .unwrap()
}

fn sample(metrics: &str, prefix: &str) -> f64 {
    metrics.lines().filter(|l| l.starts_with(prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_api_server_returns_a_change_is_applied_within_ten_seconds_with_no_error_storm() {
    let api = world(20);
    let admin = free_port();
    let operator = tokio::spawn(run(api.client(), settings(admin)));
    let all_ready = || (0..20).all(|i| ready(&api, &format!("s{i}")));
    assert!(within(&api, Duration::from_secs(20), all_ready).await.is_some(), "the services never became Ready");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = uids(&api);

    api.stop();
    tokio::time::sleep(OUTAGE).await;
    let during = metrics_or_none(admin).await;
    api.start();
    api.clear_log();
    // The user scales one service as soon as the API answers.
    api.edit(SERVICES, "s7", |s| s["spec"]["replicas"] = json!(6));
    let applied = within(&api, Duration::from_secs(10), || replicas(&api, "s7") == [3, 3, 3]).await;
    assert!(applied.is_some(), "the change was not applied within 10 s: {:?}", replicas(&api, "s7"));

    assert_eq!(uids(&api), before, "no child was deleted or recreated");
    let touched: Vec<String> = api
        .writes()
        .into_iter()
        .filter(|(_, p)| p.starts_with(DEPLOYMENTS))
        .map(|(_, p)| p.rsplit('/').next().unwrap().to_string())
        .collect();
    assert!(touched.iter().all(|d| d.starts_with("s7-")), "only the changed service's children: {touched:?}");

    let m = metrics(admin).await;
    assert_eq!(sample(&m, "controller_runtime_reconcile_errors_total"), 0.0, "no reconcile counted as an error:\n{m}");
    assert_eq!(sample(&m, "continuo_api_reachable"), 1.0, "{m}");
    let during = during.expect("/metrics is served while the API server is away");
    assert_eq!(sample(&during, "continuo_api_reachable"), 0.0, "the outage is said, once, as one gauge:\n{during}");
    // A reconcile the outage caught is retried every 5–6 s, not backed off to minutes: a bounded number (a
    // settled service is not reconciled at all while nothing changes; 20 services × 60 s / 5 s at most).
    let attempts =
        sample(&m, "controller_runtime_reconcile_total{controller=\"resilientservice\",result=\"unreachable\"}");
    assert!(attempts <= 20.0 * 12.0, "attempts while unreachable: {attempts}");
    operator.abort();
}

/// `/metrics` while the API server is down (the admin port does not need it).
async fn metrics_or_none(admin: std::net::SocketAddr) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(2), metrics(admin)).await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_replicas_only_the_lease_holder_writes_after_the_api_server_returns() {
    let api = world(5);
    api.put("/api/v1/namespaces", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "continuo"}}));
    let replica = |who: &str| {
        let election =
            Election { lease: "continuo".into(), namespace: "continuo".into(), duration: Duration::from_secs(6) };
        let s = Settings { instance: Some(who.into()), election: Some(election), ..settings(free_port()) };
        tokio::spawn(run(api.named(who).client(), s))
    };
    let a = replica("a");
    let holder = |api: &FakeApi| {
        api.get("/apis/coordination.k8s.io/v1/namespaces/continuo/leases", "continuo")
            .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_string))
    };
    assert!(within(&api, Duration::from_secs(10), || holder(&api).is_some()).await.is_some(), "no leader");
    let b = replica("b");
    let all_ready = || (0..5).all(|i| ready(&api, &format!("s{i}")));
    assert!(within(&api, Duration::from_secs(20), all_ready).await.is_some(), "the services never became Ready");

    api.stop();
    tokio::time::sleep(Duration::from_secs(12)).await;
    api.start();
    let returned = api.writers().len();
    api.edit(SERVICES, "s3", |s| s["spec"]["replicas"] = json!(6));
    let applied = within(&api, Duration::from_secs(10), || replicas(&api, "s3") == [3, 3, 3]).await;
    assert!(applied.is_some(), "the change was not applied within 10 s: {:?}", replicas(&api, "s3"));
    tokio::time::sleep(Duration::from_secs(3)).await;

    // After the return, writes to the cluster (not the lease, not Events) come from one replica only.
    let after: Vec<(String, String, String)> = api.writers().split_off(returned);
    let writing: std::collections::BTreeSet<&str> = after
        .iter()
        .filter(|(_, _, p)| !p.contains("/leases") && !p.contains("/events"))
        .map(|(who, _, _)| who.as_str())
        .collect();
    assert_eq!(writing.len(), 1, "both replicas wrote after the API returned: {after:?}");
    a.abort();
    b.abort();
}

#[tokio::test]
async fn a_reconcile_that_finds_no_api_server_is_retried_every_few_seconds_and_its_backoff_does_not_grow() {
    use std::sync::Arc;

    use continuo::{
        api::ResilientService,
        controller::{Context, Error, error_policy, reconcile},
    };
    let api = world(1);
    let caches = api.caches(&nodes(&["a", "b", "c"], 2));
    let reporter = kube::runtime::events::Reporter { controller: "continuo".into(), instance: None };
    let ctx = Arc::new(Context::new(api.client(), caches, Config::default(), reporter));
    let svc: Arc<ResilientService> = Arc::new(serde_json::from_value(api.get(SERVICES, "s0").unwrap()).unwrap());
    api.stop();
    let err = reconcile(svc.clone(), ctx.clone()).await.expect_err("nothing answers");
    assert!(err.unreachable(), "{err}");
    assert_eq!(err.kind(), "unreachable");
    let after = |e: &Error| {
        let shown = format!("{:?}", error_policy(svc.clone(), e, ctx.clone()));
        let secs = shown.split("Some(").nth(1).and_then(|r| r.split(['s', '.']).next()).unwrap().to_string();
        secs.parse::<u64>().unwrap_or_else(|_| panic!("{shown}"))
    };
    for _ in 0..10 {
        assert!((5..=6).contains(&after(&err)), "retried every 5–6 s, however long the outage");
    }
    // A failure of another kind backs off as before: 5 s, 10 s, 20 s, 40 s…
    let other = Error::CachesNotSynced;
    let grown: Vec<u64> = (0..4).map(|_| after(&other)).collect();
    assert!(grown[3] >= 40, "{grown:?}");
    api.start();
}
