//! The site controller (`continuo sites`) against an in-memory Karmada API server, with Karmada's part played by
//! the test as Karmada documents it: the binding follows the policy's clusters, and each member's status comes
//! back in the binding's aggregated status. A site lost, a disaster declared, the service Ready at the recovery
//! site with its RTO recorded; a returning site never takes the service back on its own; failback declared; a
//! declaration naming no site refused; automatic failover after the hold; a steady state writes nothing.

mod support;

use std::time::Duration;

use continuo::{controller::sites, sites::verdict::Timing};
use serde_json::{Value, json};
use support::{FakeApi, eventually, scrape};

const CLUSTERS: &str = "/apis/cluster.karmada.io/v1alpha1/clusters";
const CLASSES: &str = "/apis/continuo.dev/v1alpha1/continuityclasses";
const SERVICES: &str = "/apis/continuo.dev/v1alpha1/namespaces/ict/resilientservices";
const FAILOVERS: &str = "/apis/continuo.dev/v1alpha1/namespaces/ict/sitefailovers";
const POLICIES: &str = "/apis/policy.karmada.io/v1alpha1/namespaces/ict/propagationpolicies";
const OVERRIDES: &str = "/apis/policy.karmada.io/v1alpha1/namespaces/ict/overridepolicies";
const BINDINGS: &str = "/apis/work.karmada.io/v1alpha2/namespaces/ict/resourcebindings";

fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

fn cluster(name: &str, site: &str, region: &str, ready: bool, since: jiff::Timestamp) -> Value {
    json!({
        "apiVersion": "cluster.karmada.io/v1alpha1", "kind": "Cluster",
        "metadata": {"name": name, "labels": {"continuo.dev/site": site}},
        "spec": {"region": region, "syncMode": "Push"},
        "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "Unknown" },
            "reason": "ClusterReady", "message": "", "lastTransitionTime": since.to_string()}]},
    })
}

fn world(failover: &str) -> FakeApi {
    let api = FakeApi::default();
    api.put(
        CLASSES,
        json!({
            "apiVersion": "continuo.dev/v1alpha1", "kind": "ContinuityClass", "metadata": {"name": "dr-site"},
            "spec": {"mode": "Restart", "minZones": 1,
                "objectives": [{"scope": "Zone", "rto": "60m", "rpo": "24h"}, {"scope": "Region", "rto": "4h", "rpo": "24h"}],
                "sites": {"sites": [{"name": "milan", "clusterNames": ["milan-1"]},
                                    {"name": "turin", "clusterLabels": {"continuo.dev/site": "turin"}}],
                          "standby": "Cold", "failover": failover}},
        }),
    );
    api.put(
        SERVICES,
        json!({
            "apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService",
            "metadata": {"name": "ict-portal", "namespace": "ict"},
            "spec": {"className": "dr-site", "replicas": 3, "startupSeconds": 60,
                     "template": {"spec": {"containers": [{"name": "portal", "image": "portal:3"}]}}},
        }),
    );
    let long_ago = now() - jiff::SignedDuration::from_hours(24);
    api.put(CLUSTERS, cluster("milan-1", "milan", "eu-south-1", true, long_ago));
    api.put(CLUSTERS, cluster("turin-1", "turin", "eu-south-2", true, long_ago));
    api
}

/// Karmada's part: the binding schedules the service on `cluster`, whose member reports it Ready (or not).
fn karmada_places(api: &FakeApi, cluster: &str, ready: bool) {
    api.put(
        BINDINGS,
        json!({
            "apiVersion": "work.karmada.io/v1alpha2", "kind": "ResourceBinding",
            "metadata": {"name": "ict-portal-resilientservice", "namespace": "ict"},
            "spec": {"resource": {"apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService", "name": "ict-portal"},
                     "clusters": [{"name": cluster}]},
            "status": {"aggregatedStatus": [{"clusterName": cluster, "applied": true,
                "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}}]},
        }),
    );
}

fn declare(api: &FakeApi, name: &str, to: &str) {
    api.put(
        FAILOVERS,
        json!({
            "apiVersion": "continuo.dev/v1alpha1", "kind": "SiteFailover",
            "metadata": {"name": name, "namespace": "ict", "creationTimestamp": now().to_string()},
            "spec": {"service": "ict-portal", "to": to},
        }),
    );
}

fn affinity(api: &FakeApi) -> Option<Value> {
    api.get(POLICIES, "continuo-ict-portal").map(|p| p["spec"]["placement"]["clusterAffinity"].clone())
}

fn site(api: &FakeApi) -> Value {
    api.get(SERVICES, "ict-portal").map(|s| s["status"]["site"].clone()).unwrap_or_default()
}

fn timing(hold: u64) -> Timing {
    Timing { hold: continuo::api::Span::from_secs(hold), ..Timing::default() }
}

#[tokio::test]
async fn a_declared_disaster_moves_the_service_to_the_recovery_site_and_only_a_declared_failback_brings_it_back() {
    let api = world("Declared");
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = admin.local_addr().unwrap().port();
    let controller = tokio::spawn(sites::run(api.client(), timing(120), admin));
    let placed = eventually("the policy at milan", || affinity(&api)).await;
    assert_eq!(placed, json!({"clusterNames": ["milan-1"]}));
    let policy = api.get(POLICIES, "continuo-ict-portal").unwrap();
    assert_eq!(policy["metadata"]["ownerReferences"][0]["name"], "ict-portal", "owned by the service");
    let status = eventually("status.site", || Some(site(&api)).filter(|s| s.is_object())).await;
    assert_eq!((status["serving"].as_str(), status["reason"].as_str()), (Some("milan"), Some("Primary")));
    let rto = &status["objectives"][0];
    assert_eq!((rto["objective"].as_str(), rto["status"].as_str()), (Some("RTO"), Some("True")), "{status}");
    karmada_places(&api, "milan-1", true);

    // Milan is lost: with declared failover nothing moves until a person says so.
    let lost = jiff::Timestamp::from_second(now().as_second()).unwrap();
    api.put(CLUSTERS, cluster("milan-1", "milan", "eu-south-1", false, lost));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(affinity(&api).unwrap(), json!({"clusterNames": ["milan-1"]}));

    declare(&api, "milan-flood", "turin");
    let moved = eventually("the policy at turin", || affinity(&api).filter(|a| a["labelSelector"].is_object())).await;
    assert_eq!(moved, json!({"labelSelector": {"matchLabels": {"continuo.dev/site": "turin"}}}));
    let moving =
        eventually("Moving", || api.get(FAILOVERS, "milan-flood").filter(|f| f["status"]["phase"] == "Moving")).await;
    assert_eq!(moving["status"]["from"], "milan");
    karmada_places(&api, "turin-1", true);
    let done =
        eventually("Completed", || api.get(FAILOVERS, "milan-flood").filter(|f| f["status"]["phase"] == "Completed"))
            .await;
    assert_eq!(done["status"]["withinRto"], true, "{done}");
    assert!(done["status"]["rtoSeconds"].as_i64().unwrap() < 60, "{done}");
    let status = eventually("serving turin", || Some(site(&api)).filter(|s| s["serving"] == "turin")).await;
    assert_eq!(status["reason"], "Declared");
    // The service at turin is told where it came from: the site, when Karmada last saw it Ready, its region.
    let arrival = json!({"from": "milan", "lostAt": lost.to_string(), "regions": ["eu-south-1"]});
    assert_eq!(status["arrival"], arrival, "{status}");
    let over = api.get(OVERRIDES, "continuo-ict-portal").expect("an OverridePolicy for the arrival");
    let rule = &over["spec"]["overrideRules"][0];
    assert_eq!(rule["targetCluster"], json!({"labelSelector": {"matchLabels": {"continuo.dev/site": "turin"}}}));
    let annotation = rule["overriders"]["annotationsOverrider"][0]["value"]["continuo.dev/site-arrival"].as_str();
    let carried: continuo::sites::arrival::Arrival = serde_json::from_str(annotation.unwrap()).unwrap();
    assert_eq!(
        (carried.from.as_str(), carried.lost_at, carried.regions),
        ("milan", lost, vec!["eu-south-1".to_string()])
    );

    // A steady state writes nothing; milan's return changes nothing either.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = api.writes().len();
    api.put(CLUSTERS, cluster("milan-1", "milan", "eu-south-1", true, now()));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(api.writes().len(), before, "no write: {:?}", &api.writes()[before..]);
    assert_eq!(site(&api)["serving"], "turin", "a returning site never takes the service back on its own");

    declare(&api, "rome-typo", "rome");
    let refused =
        eventually("Refused", || api.get(FAILOVERS, "rome-typo").filter(|f| f["status"]["phase"] == "Refused")).await;
    assert!(refused["status"]["message"].as_str().unwrap().contains("not a site"), "{refused}");
    let reasons = eventually("the Events", || {
        let r: Vec<String> = api
            .list("/apis/events.k8s.io/v1/namespaces/ict/events")
            .iter()
            .filter_map(|e| e["reason"].as_str().map(str::to_string))
            .collect();
        r.contains(&"SiteFailoverRefused".to_string()).then_some(r)
    })
    .await;
    for reason in ["SiteFailoverStarted", "SiteFailoverCompleted"] {
        assert!(reasons.contains(&reason.to_string()), "{reason} in {reasons:?}");
    }

    tokio::time::sleep(Duration::from_millis(1100)).await; // a later creation time for the failback
    declare(&api, "failback", "milan");
    eventually("the policy back at milan", || affinity(&api).filter(|a| a["clusterNames"] == json!(["milan-1"]))).await;
    assert_eq!(api.get(FAILOVERS, "milan-flood").unwrap()["status"]["phase"], "Completed", "a record stays as it was");
    let want = r#"continuo_site_serving{namespace="ict",service="ict-portal",site="milan",reason="Declared"} 1"#;
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = scrape(port).await;
        if metrics.contains(want) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(metrics.contains(want), "{metrics}");
    assert!(metrics.contains(r#"continuo_site_failovers_total{result="completed"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"continuo_site_failovers_total{result="refused"} 1"#), "{metrics}");
    controller.abort();
}

#[tokio::test]
async fn automatic_failover_moves_after_the_hold_and_stays_when_the_site_returns() {
    let api = world("Automatic");
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let controller = tokio::spawn(sites::run(api.client(), timing(1), admin));
    eventually("the policy at milan", || affinity(&api).filter(|a| a["clusterNames"] == json!(["milan-1"]))).await;
    api.put(CLUSTERS, cluster("milan-1", "milan", "eu-south-1", false, now() - jiff::SignedDuration::from_secs(5)));
    // The controller re-reads cluster health on its resync; a service change wakes it sooner.
    let wake = api.get(SERVICES, "ict-portal").unwrap();
    api.put(SERVICES, wake);
    let status = eventually("moved to turin", || Some(site(&api)).filter(|s| s["serving"] == "turin")).await;
    assert_eq!(status["reason"], "Automatic");
    assert!(status["message"].as_str().unwrap().contains("milan not Ready"), "{status}");
    assert!(affinity(&api).unwrap()["labelSelector"].is_object());
    api.put(CLUSTERS, cluster("milan-1", "milan", "eu-south-1", true, now()));
    let wake = api.get(SERVICES, "ict-portal").unwrap();
    api.put(SERVICES, wake);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(site(&api)["serving"], "turin", "back only when declared");
    controller.abort();
}

#[test]
fn the_karmada_interpreter_embeds_the_tested_lua_as_it_is() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    let ric: Value = serde_saphyr::from_str(&read("charts/continuo/files/karmada-interpreter.yaml")).unwrap();
    assert_eq!(ric["spec"]["target"], json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService"}));
    for (key, file) in [
        ("healthInterpretation", "health"),
        ("statusReflection", "reflect"),
        ("statusAggregation", "aggregate"),
        ("dependencyInterpretation", "dependencies"),
    ] {
        let embedded = ric["spec"]["customizations"][key]["luaScript"].as_str().unwrap_or_default();
        assert_eq!(
            embedded,
            read(&format!("charts/continuo/files/karmada/{file}.lua")),
            "{key} differs from {file}.lua"
        );
    }
}
