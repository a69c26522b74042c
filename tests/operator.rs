//! The operator's own behaviour: leadership gates writes; the admin port answers.

mod support;

use std::sync::Arc;

use axum::body::Body;
use continuo::{
    api::ResilientService,
    controller::{Context, Settings, admin, install_builtin_classes, reconcile, run},
    metrics::Metrics,
    plan::Config,
};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use kube::runtime::events::Reporter;
use serde_json::json;
use support::{FakeApi, nodes};
use tokio::sync::watch;
use tower::ServiceExt;

fn world() -> (FakeApi, ResilientService) {
    let api = FakeApi::default();
    api.put(
        "/apis/continuo.dev/v1alpha1/continuityclasses",
        json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ContinuityClass", "metadata": {"name": "c"},
               "spec": {"mode": "Restart", "objectives": []}}),
    );
    let svc = json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService",
        "metadata": {"name": "s", "namespace": "n"},
        "spec": {"className": "c", "replicas": 2, "template": {"spec": {"containers": [{"name": "a", "image": "a"}]}}}});
    api.put("/apis/continuo.dev/v1alpha1/namespaces/n/resilientservices", svc.clone());
    let svc =
        serde_json::from_value(api.get("/apis/continuo.dev/v1alpha1/namespaces/n/resilientservices", "s").unwrap())
            .unwrap();
    (api, svc)
}

fn context(api: &FakeApi, leader: watch::Receiver<bool>, metrics: Arc<Metrics>) -> Arc<Context> {
    let reporter = Reporter { controller: "continuo".into(), instance: None };
    Arc::new(
        Context::new(api.client(), api.caches(&nodes(&["a", "b"], 1)), Config::default(), reporter)
            .with_leadership(leader, metrics),
    )
}

#[tokio::test]
async fn a_follower_writes_nothing_until_it_becomes_the_leader() {
    let (api, svc) = world();
    let metrics = Arc::new(Metrics::default());
    let (tx, rx) = watch::channel(false);
    let ctx = context(&api, rx, metrics.clone());
    reconcile(Arc::new(svc.clone()), ctx.clone()).await.unwrap();
    assert_eq!(api.writes(), vec![], "followers keep warm caches and never write");
    tx.send(true).unwrap();
    reconcile(Arc::new(svc), ctx).await.unwrap();
    assert!(api.writes().iter().any(|(m, p)| m == "PATCH" && p.ends_with("/deployments/s-a")));
    let text = continuo::metrics::render(&metrics.registry(None)).unwrap();
    assert!(
        text.contains("controller_runtime_reconcile_total{controller=\"resilientservice\",result=\"skipped\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("controller_runtime_reconcile_total{controller=\"resilientservice\",result=\"success\"} 1"),
        "{text}"
    );
}

async fn get(router: axum::Router, path: &str) -> (StatusCode, String, String) {
    let resp = router.oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let ctype = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let body = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (status, ctype, body)
}

#[tokio::test]
async fn admin_port_answers_liveness_readiness_and_metrics() {
    let metrics = Arc::new(Metrics::default());
    metrics.leader.set(1);
    let registry = Arc::new(metrics.registry(None));
    let ready = admin::Readiness::default();
    let router = admin::router(registry, ready.clone(), None);

    assert_eq!(get(router.clone(), "/livez").await.0, StatusCode::OK);
    assert_eq!(get(router.clone(), "/readyz").await.0, StatusCode::SERVICE_UNAVAILABLE, "not ready before caches sync");
    ready.set(true);
    assert_eq!(get(router.clone(), "/readyz").await.0, StatusCode::OK);
    let (status, ctype, body) = get(router, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
    assert!(body.contains("continuo_leader 1") && body.ends_with("# EOF\n"), "{body}");
}

#[tokio::test]
async fn run_fails_fast_with_an_install_hint_when_the_crds_are_missing() {
    let api = FakeApi::default();
    api.uninstall("/apis/continuo.dev/");
    let settings = Settings {
        namespace: None,
        config: Config::default(),
        concurrency: 1,
        debounce: std::time::Duration::ZERO,
        instance: None,
        election: None,
        admin: "127.0.0.1:0".parse().unwrap(),
        builtin_classes: false,
        detection: Default::default(),
    };
    let err = run(api.client(), settings).await.unwrap_err();
    assert!(err.contains("CRDs are not installed") && err.contains("continuo crds | kubectl apply"), "{err}");
}

#[tokio::test]
async fn builtin_classes_are_created_once_and_user_edits_are_kept() {
    let api = FakeApi::default();
    const CLASSES: &str = "/apis/continuo.dev/v1alpha1/continuityclasses";
    api.put(
        CLASSES,
        json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ContinuityClass", "metadata": {"name": "standard"},
        "spec": {"mode": "Restart", "minZones": 5, "objectives": []}}),
    );
    let created = install_builtin_classes(&api.client()).await.unwrap();
    assert_eq!(created, 2, "active-active and warm-standby are created; standard exists");
    assert_eq!(api.get(CLASSES, "standard").unwrap()["spec"]["minZones"], 5, "an existing class is never overwritten");
    assert_eq!(api.get(CLASSES, "active-active").unwrap()["spec"]["mode"], "ActiveActive");
    assert_eq!(install_builtin_classes(&api.client()).await.unwrap(), 0);
}
