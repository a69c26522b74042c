//! A fleet of three API servers, in memory: Karmada's (where `continuo sites` runs) and two member clusters', with
//! Karmada's own part played by the test as Karmada documents it — the service propagated whole to the cluster
//! the PropagationPolicy names, with the OverridePolicy's rules for that cluster applied, and each member's status
//! reflected back into the ResourceBinding. The primary site, Milan, is lost; a person declares the disaster; the
//! service arrives at Paris, where continuo lists the copies the vault in Frankfurt holds, restores the newest one
//! taken before the loss, and starts; Karmada's side records the declared failover Completed within the Region RTO,
//! and Paris records the data lost against the Region RPO. Milan returns: nothing moves back on its own. The
//! declared failback brings the data back first: Paris stops every replica and makes a last copy of the stopped
//! volumes, and only once Karmada reflects that copy does the service move; Milan starts nothing on the volumes it
//! kept from before until a person sets them aside, then restores exactly that last copy: no write lost.

mod support;

use std::{sync::Arc, time::Duration};

use continuo::{
    api::ResilientService,
    controller::{Context, reconcile, sites},
    plan::Config,
    sites::verdict::Timing,
};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Node;
use kube::runtime::events::Reporter;
use serde_json::{Value, json};
use support::{FakeApi, Feed, eventually, node, scrape};

const NS: &str = "ict";
const CLUSTERS: &str = "/apis/cluster.karmada.io/v1alpha1/clusters";
const SERVICES: &str = "/apis/continuo.dev/v1alpha1/namespaces/ict/resilientservices";
const FAILOVERS: &str = "/apis/continuo.dev/v1alpha1/namespaces/ict/sitefailovers";
const POLICIES: &str = "/apis/policy.karmada.io/v1alpha1/namespaces/ict/propagationpolicies";
const OVERRIDES: &str = "/apis/policy.karmada.io/v1alpha1/namespaces/ict/overridepolicies";
const BINDINGS: &str = "/apis/work.karmada.io/v1alpha2/namespaces/ict/resourcebindings";
const JOBS: &str = "/apis/batch/v1/namespaces/ict/jobs";
const SETS: &str = "/apis/apps/v1/namespaces/ict/statefulsets";
const CLAIMS: &str = "/api/v1/namespaces/ict/persistentvolumeclaims";

fn class() -> Value {
    json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ContinuityClass", "metadata": {"name": "dr-site"},
        "spec": {"mode": "Restart", "minZones": 1,
            "objectives": [{"scope": "Zone", "rto": "60m", "rpo": "24h"}, {"scope": "Region", "rto": "4h", "rpo": "24h"}],
            "backup": {"timeZone": "Europe/Rome", "keep": {"daily": 7}},
            "drills": {"every": "8784h", "scenarios": ["SiteRestore"]},
            "sites": {"sites": [{"name": "milan", "clusterNames": ["milan-1"]}, {"name": "paris", "clusterNames": ["paris-1"]}],
                      "standby": "Cold", "failover": "Declared"}}})
}

fn location() -> Value {
    json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "BackupLocation", "metadata": {"name": "frankfurt-vault"},
           "spec": {"region": "eu-central-1"}})
}

fn service() -> Value {
    json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService",
        "metadata": {"name": "erp", "namespace": NS, "uid": "erp-uid"},
        "spec": {"className": "dr-site", "replicas": 1, "startupSeconds": 30,
            "volumeClaimTemplates": [{"metadata": {"name": "archives"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "50Gi"}}}}],
            "template": {"spec": {"containers": [{"name": "erp", "image": "erp:7",
                "volumeMounts": [{"name": "archives", "mountPath": "/var/lib/erp"}]}]}},
            "backup": {"location": "frankfurt-vault"}}})
}

fn cluster(name: &str, region: &str, ready: bool, since: Timestamp) -> Value {
    json!({"apiVersion": "cluster.karmada.io/v1alpha1", "kind": "Cluster", "metadata": {"name": name},
        "spec": {"region": region, "syncMode": "Push"},
        "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "Unknown" },
            "reason": "ClusterReady", "message": "", "lastTransitionTime": since.to_string()}]}})
}

/// Karmada's API server: the class, the vault, the service, and both sites' clusters Ready for a day.
fn karmada() -> FakeApi {
    let karmada = FakeApi::default();
    karmada.put("/apis/continuo.dev/v1alpha1/continuityclasses", class());
    karmada.put("/apis/continuo.dev/v1alpha1/backuplocations", location());
    karmada.put(SERVICES, service());
    let long_ago = Timestamp::now() - SignedDuration::from_hours(24);
    karmada.put(CLUSTERS, cluster("milan-1", "eu-south-1", true, long_ago));
    karmada.put(CLUSTERS, cluster("paris-1", "eu-west-3", true, long_ago));
    karmada
}

/// A member cluster, with continuo's reconcile run by the test.
struct Member {
    name: &'static str,
    api: FakeApi,
    nodes: Vec<Node>,
    ctx: Arc<Context>,
    feed: std::sync::Mutex<Feed>,
}

impl Member {
    fn new(name: &'static str, zones: [&str; 3]) -> Member {
        let api = FakeApi::default();
        api.put("/api/v1/namespaces", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}));
        api.put("/apis/continuo.dev/v1alpha1/continuityclasses", class());
        api.put("/apis/continuo.dev/v1alpha1/backuplocations", location());
        api.put(
            "/apis/storage.k8s.io/v1/storageclasses",
            json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "ssd",
                   "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                   "provisioner": "pd.csi.storage.gke.io", "volumeBindingMode": "WaitForFirstConsumer"}),
        );
        let nodes: Vec<Node> =
            zones.iter().flat_map(|z| (1..=2).map(move |i| node(&format!("{z}-w{i}"), z, true))).collect();
        let (caches, feed) = api.watched(&nodes);
        let config = Config { agent_image: Some("continuo-agent:1".into()), ..Config::default() };
        let ctx =
            Context::new(api.client(), caches, config, Reporter { controller: "continuo".into(), instance: None });
        Member { name, api, nodes, ctx: Arc::new(ctx), feed: std::sync::Mutex::new(feed) }
    }

    async fn reconcile(&self) {
        self.reconcile_in(NS).await;
    }

    async fn reconcile_in(&self, ns: &str) {
        self.feed.lock().unwrap().sync(&self.api, &self.nodes);
        let svc = self.api.get(&services(ns), "erp").expect("the service, propagated");
        let svc: ResilientService = serde_json::from_value(svc).unwrap();
        reconcile(Arc::new(svc), self.ctx.clone()).await.expect("the member's reconcile succeeds");
    }

    /// The name of the run making the last copy before a handover, once there is one.
    fn last_copy_run(&self) -> Option<String> {
        let jobs = self.api.list(JOBS);
        let run =
            jobs.iter().find(|j| j["metadata"]["name"].as_str().is_some_and(|n| n.starts_with("erp-handover-")))?;
        run["metadata"]["name"].as_str().map(str::to_string)
    }

    /// The name of the agent's list run, once there is one.
    fn list_run(&self) -> Option<String> {
        let jobs = self.api.list(JOBS);
        let run = jobs.iter().find(|j| j["metadata"]["labels"]["continuo.dev/action"] == "list")?;
        run["metadata"]["name"].as_str().map(str::to_string)
    }

    fn status(&self) -> Value {
        self.api.get(SERVICES, "erp").map(|s| s["status"].clone()).unwrap_or_default()
    }
}

/// Karmada's part: the ResilientService, as Karmada's API server holds it, propagated to `member` (the cluster the
/// PropagationPolicy names) with the OverridePolicy's rules for that cluster applied: its spec, labels and
/// annotations, never its status.
fn karmada_propagates(karmada: &FakeApi, member: &Member) {
    karmada_propagates_in(karmada, member, NS);
}

fn services(ns: &str) -> String {
    format!("/apis/continuo.dev/v1alpha1/namespaces/{ns}/resilientservices")
}

/// As [`karmada_propagates`], for the service in namespace `ns` (Karmada propagates the namespace too).
fn karmada_propagates_in(karmada: &FakeApi, member: &Member, ns: &str) {
    let policies = format!("/apis/policy.karmada.io/v1alpha1/namespaces/{ns}/propagationpolicies");
    let overrides = format!("/apis/policy.karmada.io/v1alpha1/namespaces/{ns}/overridepolicies");
    let policy = karmada.get(&policies, "continuo-erp").expect("a PropagationPolicy");
    let names = &policy["spec"]["placement"]["clusterAffinity"]["clusterNames"];
    assert_eq!(names, &json!([member.name]), "propagated where the policy says");
    let source = karmada.get(&services(ns), "erp").unwrap();
    let mut annotations = source["metadata"]["annotations"].clone();
    if !annotations.is_object() {
        annotations = json!({});
    }
    let rules = karmada.get(&overrides, "continuo-erp").map(|o| o["spec"]["overrideRules"].clone());
    for rule in rules.as_ref().and_then(Value::as_array).into_iter().flatten() {
        if rule["targetCluster"]["clusterNames"].as_array().is_some_and(|n| n.contains(&json!(member.name))) {
            for o in rule["overriders"]["annotationsOverrider"].as_array().into_iter().flatten() {
                for (k, v) in o["value"].as_object().into_iter().flatten() {
                    annotations[k] = v.clone();
                }
            }
        }
    }
    let work = json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService",
        "metadata": {"name": "erp", "namespace": ns, "uid": format!("{}-{ns}-erp", member.name), "annotations": annotations,
                     "labels": source["metadata"]["labels"]},
        "spec": source["spec"]});
    member.api.put("/api/v1/namespaces", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
    member.api.put(&services(ns), work);
}

/// A person's declaration: service `erp` moves to site `to`.
fn declare(karmada: &FakeApi, name: &str, to: &str) {
    karmada.put(
        FAILOVERS,
        json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "SiteFailover",
            "metadata": {"name": name, "namespace": NS, "creationTimestamp": Timestamp::now().to_string()},
            "spec": {"service": "erp", "to": to}}),
    );
}

/// Karmada's part: the binding on `member`, its status reflected from the member's (the interpreter reflects it
/// whole).
fn karmada_reflects(karmada: &FakeApi, member: &Member) {
    karmada.put(
        BINDINGS,
        json!({"apiVersion": "work.karmada.io/v1alpha2", "kind": "ResourceBinding",
            "metadata": {"name": "erp-resilientservice", "namespace": NS},
            "spec": {"resource": {"apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService", "name": "erp"},
                     "clusters": [{"name": member.name}]},
            "status": {"aggregatedStatus": [{"clusterName": member.name, "applied": true, "status": member.status()}]}}),
    );
}

#[tokio::test]
async fn milan_lost_paris_restores_from_the_vault_within_the_region_rto_and_rpo_and_the_declared_failback_starts_nothing_stale()
 {
    let karmada = karmada();
    let milan = Member::new("milan-1", ["eu-south-1a", "eu-south-1b", "eu-south-1c"]);
    let paris = Member::new("paris-1", ["eu-west-3a", "eu-west-3b", "eu-west-3c"]);
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let controller = tokio::spawn(sites::run(karmada.client(), Timing::default(), admin));
    eventually("the service placed at milan", || karmada.get(POLICIES, "continuo-erp")).await;
    // At milan it is a new service: a first placement, on empty volumes, no arrival.
    karmada_propagates(&karmada, &milan);
    milan.reconcile().await;
    milan.api.run_stateful_sets(NS, |_| true);
    milan.reconcile().await;
    assert_eq!(milan.status()["readyReplicas"], 1, "{}", milan.status());
    assert!(milan.api.list(JOBS).is_empty(), "no arrival, nothing listed");
    karmada_reflects(&karmada, &milan);

    // Milan's clusters stop reporting; Karmada marks them not Ready; the continuity manager declares the disaster.
    let lost = Timestamp::from_second(Timestamp::now().as_second() - 60).unwrap();
    karmada.put(CLUSTERS, cluster("milan-1", "eu-south-1", false, lost));
    declare(&karmada, "milan-flood", "paris");
    eventually("the placement and the arrival at paris", || {
        let at_paris = karmada.get(POLICIES, "continuo-erp")?["spec"]["placement"]["clusterAffinity"]["clusterNames"]
            == json!(["paris-1"]);
        (at_paris && karmada.get(OVERRIDES, "continuo-erp").is_some()).then_some(())
    })
    .await;
    karmada_propagates(&karmada, &paris);

    // Paris holds nothing of the service: it lists the vault before starting anything.
    paris.reconcile().await;
    let list = paris.list_run().expect("the agent lists the vault");
    assert_eq!(paris.status()["replicas"], 0, "nothing started before the copies are known");
    let before = (lost - SignedDuration::from_hours(3)).to_string();
    let after = (lost + SignedDuration::from_secs(30)).to_string();
    let report = json!({"copies": [{"id": "late9", "capturedAt": after}, {"id": "good1", "capturedAt": before}]});
    paris.api.finish_job(NS, &list, true, Timestamp::now(), Some(&report.to_string()));
    paris.reconcile().await;
    paris.api.run_stateful_sets(NS, |_| true);
    paris.reconcile().await;
    paris.reconcile().await;

    let sets = paris.api.list(SETS);
    let restored = sets.iter().find(|s| s["spec"]["replicas"] == 1).expect("one replica at paris");
    let init = &restored["spec"]["template"]["spec"]["initContainers"][0];
    let point = init["env"].as_array().unwrap().iter().find(|e| e["name"] == "CONTINUO_POINT").unwrap();
    assert_eq!(point["value"], "erp-good1", "the newest copy captured before milan was lost");
    let recovery = paris.status()["recoveries"][0].clone();
    assert_eq!((recovery["fromSite"].as_str(), recovery["dataLossSeconds"].as_i64()), (Some("milan"), Some(3 * 3600)));
    assert_eq!(recovery["withinRpo"], true, "{recovery}");
    assert_eq!(paris.status()["readyReplicas"], 1, "{}", paris.status());

    // Karmada reflects Paris's status; the declaration is recorded Completed within the Region RTO.
    karmada_reflects(&karmada, &paris);
    let done = eventually("the declaration Completed", || {
        karmada.get(FAILOVERS, "milan-flood").filter(|f| f["status"]["phase"] == "Completed")
    })
    .await;
    assert_eq!((done["status"]["from"].as_str(), done["status"]["withinRto"].as_bool()), (Some("milan"), Some(true)));

    // Milan returns. Karmada removes the service it still holds there (its binding is at Paris); the garbage
    // collector takes the StatefulSets; the claims are retained. Nothing moves back on its own.
    karmada.put(CLUSTERS, cluster("milan-1", "eu-south-1", true, Timestamp::now()));
    milan.api.remove(SERVICES, "erp");
    for set in milan.api.list(SETS) {
        milan.api.remove(SETS, set["metadata"]["name"].as_str().unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        karmada.get(POLICIES, "continuo-erp").unwrap()["spec"]["placement"]["clusterAffinity"]["clusterNames"],
        json!(["paris-1"])
    );

    // The failback is declared while Paris still serves: Paris stops its writes and makes a last copy first, and
    // the placement stays at Paris until that copy is reported.
    tokio::time::sleep(Duration::from_millis(1100)).await; // a later creation time than the failover's
    declare(&karmada, "failback", "milan");
    let asked = eventually("paris asked to hand over", || {
        let over = karmada.get(OVERRIDES, "continuo-erp")?;
        let rules = over["spec"]["overrideRules"].as_array()?.clone();
        rules
            .into_iter()
            .find(|r| r["overriders"]["annotationsOverrider"][0]["value"]["continuo.dev/site-handover"].is_string())
    })
    .await;
    assert_eq!(asked["targetCluster"]["clusterNames"], json!(["paris-1"]));
    let held = karmada.get(FAILOVERS, "failback").unwrap();
    assert_eq!(held["status"]["phase"], "Moving", "{held}");
    assert!(held["status"]["movedAt"].is_null(), "not moved before the last copy: {held}");
    assert_eq!(
        karmada.get(POLICIES, "continuo-erp").unwrap()["spec"]["placement"]["clusterAffinity"]["clusterNames"],
        json!(["paris-1"])
    );
    karmada_propagates(&karmada, &paris);
    paris.reconcile().await;
    assert!(paris.api.list(SETS).iter().all(|s| s["spec"]["replicas"] == 0), "every replica at paris stopped");
    assert_eq!(paris.status()["handover"]["phase"], "Stopping", "{}", paris.status());
    assert_eq!(condition(&paris.status(), "Ready").0, "HandingOver");
    assert!(paris.last_copy_run().is_none(), "no copy while a replica still writes");
    paris.api.run_stateful_sets(NS, |_| true);
    paris.reconcile().await;
    let run = paris.last_copy_run().expect("the last copy, once nothing runs");
    let job = paris.api.get(JOBS, &run).unwrap();
    let pod = &job["spec"]["template"]["spec"];
    assert!(pod["affinity"]["podAffinity"].is_null(), "no pod to run beside: {pod}");
    let claim =
        pod["volumes"].as_array().unwrap().iter().find_map(|v| v["persistentVolumeClaim"]["claimName"].as_str());
    assert!(claim.is_some_and(|c| c.starts_with("archives-erp-eu-west-3")), "{pod}");
    let stopped_at = Timestamp::now();
    let report = json!({"id": "last42", "sizeBytes": 1024, "capturedAt": stopped_at.to_string()});
    paris.api.finish_job(NS, &run, true, stopped_at, Some(&report.to_string()));
    paris.reconcile().await;
    paris.reconcile().await;
    assert_eq!(paris.status()["handover"]["phase"], "CopyMade", "{}", paris.status());
    assert!(paris.api.list(SETS).iter().all(|s| s["spec"]["replicas"] == 0), "paris stays stopped");

    // Karmada reflects Paris's report: the service moves to Milan, told which copy to restore.
    karmada_reflects(&karmada, &paris);
    eventually("the placement back at milan", || {
        let policy = karmada.get(POLICIES, "continuo-erp")?;
        (policy["spec"]["placement"]["clusterAffinity"]["clusterNames"] == json!(["milan-1"])).then_some(())
    })
    .await;
    let arrival = eventually("the arrival from paris", || {
        let a = karmada.get(SERVICES, "erp")?["status"]["site"]["arrival"].clone();
        (a["from"] == "paris").then_some(a)
    })
    .await;
    assert_eq!(arrival["copy"], "last42");
    let rules = karmada.get(OVERRIDES, "continuo-erp").unwrap()["spec"]["overrideRules"].clone();
    assert!(
        rules.as_array().unwrap().iter().any(|r| r["targetCluster"]["clusterNames"] == json!(["paris-1"])
            && r["overriders"]["annotationsOverrider"][0]["value"]["continuo.dev/site-handover"].is_string()),
        "paris stays asked to stop until Karmada removes the service there: {rules}"
    );
    karmada_propagates(&karmada, &milan);
    milan.reconcile().await;
    // Its old claim holds what Milan wrote before the flood: a new replica would bind it and serve that.
    let (reason, message) = condition(&milan.status(), "DataRestored");
    assert_eq!(reason, "StaleVolumesPresent", "{message}");
    assert!(message.contains("archives-erp-eu-south-1"), "{message}");
    assert!(milan.api.list(SETS).iter().all(|s| s["spec"]["replicas"] == 0), "nothing runs on the old volume");

    // A person sets the old claim aside; Milan lists the vault, and restores exactly Paris's last copy, not the
    // newer-looking scheduled one nor an older one.
    for claim in milan.api.list(CLAIMS) {
        milan.api.remove(CLAIMS, claim["metadata"]["name"].as_str().unwrap());
    }
    milan.reconcile().await;
    let list = milan.list_run().expect("milan lists the vault");
    let at_paris = (Timestamp::now() - SignedDuration::from_hours(1)).to_string();
    let report = json!({"copies": [{"id": "last42", "capturedAt": stopped_at.to_string()},
        {"id": "paris7", "capturedAt": at_paris}, {"id": "good1", "capturedAt": before}]});
    milan.api.finish_job(NS, &list, true, Timestamp::now(), Some(&report.to_string()));
    milan.reconcile().await;
    milan.api.run_stateful_sets(NS, |_| true);
    milan.reconcile().await;
    milan.reconcile().await;
    let recovery = milan.status()["recoveries"][0].clone();
    assert_eq!(
        (recovery["fromSite"].as_str(), recovery["point"].as_str(), recovery["dataLossSeconds"].as_i64()),
        (Some("paris"), Some("erp-last42"), Some(0)),
        "{recovery}"
    );
    assert_eq!(milan.status()["readyReplicas"], 1, "{}", milan.status());
    karmada_reflects(&karmada, &milan);
    let back = eventually("the failback Completed", || {
        karmada.get(FAILOVERS, "failback").filter(|f| f["status"]["phase"] == "Completed")
    })
    .await;
    assert_eq!((back["status"]["from"].as_str(), back["status"]["copy"].as_str()), (Some("paris"), Some("last42")));
    assert!(back["status"]["message"].as_str().unwrap().contains("no write lost"), "{back}");
    controller.abort();
}

fn condition(status: &Value, type_: &str) -> (String, String) {
    let c = status["conditions"].as_array().and_then(|cs| cs.iter().find(|c| c["type"] == type_).cloned());
    let c = c.unwrap_or_else(|| panic!("no {type_} in {status}"));
    (c["reason"].as_str().unwrap().to_string(), c["message"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn a_scheduled_site_restore_drill_brings_the_service_up_at_paris_from_the_vault_scores_it_leaves_milan_serving_and_runs_again()
 {
    let karmada = karmada();
    let paris = Member::new("paris-1", ["eu-west-3a", "eu-west-3b", "eu-west-3c"]);
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = admin.local_addr().unwrap().port();
    let controller = tokio::spawn(sites::run(karmada.client(), Timing::default(), admin));
    eventually("the service placed at milan", || karmada.get(POLICIES, "continuo-erp")).await;
    let overdue = eventually("the class's yearly site drill judged", || {
        karmada.get(SERVICES, "erp").map(|s| s["status"]["site"]["drills"].clone()).filter(Value::is_object)
    })
    .await;
    assert_eq!((overdue["status"].as_str(), overdue["reason"].as_str()), (Some("False"), Some("DrillOverdue")));
    assert!(overdue["message"].as_str().unwrap().contains("SiteRestore: never passed"), "{overdue}");

    // The yearly continuity test, on a schedule (January 1st, 03:00 in the class's time zone), declared two years
    // ago: its time has come. Bring the service up at the recovery site, from the vault, and score it.
    let declared = Timestamp::now() - SignedDuration::from_hours(2 * 366 * 24);
    karmada.put(
        "/apis/continuo.dev/v1alpha1/namespaces/ict/continuitydrills",
        json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ContinuityDrill",
            "metadata": {"name": "yearly", "namespace": NS, "creationTimestamp": declared.to_string()},
            "spec": {"service": "erp", "scenario": "SiteRestore", "schedule": "0 3 1 1 *"}}),
    );
    let scratch = "ict-yearly";
    let copy = eventually("the copy in the scratch namespace", || karmada.get(&services(scratch), "erp")).await;
    assert_eq!(copy["metadata"]["labels"]["continuo.dev/drill-site"], "paris");
    assert_eq!(copy["metadata"]["annotations"]["continuo.dev/copies-of"], "ict/erp");
    let arrival: Value =
        serde_json::from_str(copy["metadata"]["annotations"]["continuo.dev/site-arrival"].as_str().unwrap()).unwrap();
    assert_eq!((arrival["from"].as_str(), arrival["regions"].clone()), (Some("milan"), json!(["eu-south-1"])));
    let policies = format!("/apis/policy.karmada.io/v1alpha1/namespaces/{scratch}/propagationpolicies");
    eventually("the copy placed at paris", || {
        let p = karmada.get(&policies, "continuo-erp")?;
        (p["spec"]["placement"]["clusterAffinity"]["clusterNames"] == json!(["paris-1"])).then_some(())
    })
    .await;
    karmada_propagates_in(&karmada, &paris, scratch);

    // Paris lists the service's own repository (not the copy's), restores, and makes no copy of its own.
    paris.reconcile_in(scratch).await;
    let jobs = format!("/apis/batch/v1/namespaces/{scratch}/jobs");
    let list = paris.api.list(&jobs).into_iter().find(|j| j["metadata"]["labels"]["continuo.dev/action"] == "list");
    let list = list.expect("the vault listed");
    let env = list["spec"]["template"]["spec"]["containers"][0]["env"].as_array().unwrap().clone();
    let var = |k: &str| env.iter().find(|e| e["name"] == k).map(|e| e["value"].clone()).unwrap_or_default();
    assert_eq!((var("CONTINUO_SERVICE"), var("CONTINUO_NAMESPACE")), (json!("erp"), json!("ict")));
    let captured = (Timestamp::now() - SignedDuration::from_hours(5)).to_string();
    let report = json!({"copies": [{"id": "good1", "capturedAt": captured}]});
    let name = list["metadata"]["name"].as_str().unwrap();
    paris.api.finish_job(scratch, name, true, Timestamp::now(), Some(&report.to_string()));
    paris.reconcile_in(scratch).await;
    paris.api.run_stateful_sets(scratch, |_| true);
    paris.reconcile_in(scratch).await;
    paris.reconcile_in(scratch).await;
    let status = paris.api.get(&services(scratch), "erp").unwrap()["status"].clone();
    assert_eq!(status["readyReplicas"], 1, "{status}");
    assert!(
        status["conditions"].as_array().unwrap().iter().all(|c| c["type"] != "DrillsCurrent"),
        "a site drill is judged on Karmada's control plane, not in a member that never sees it: {status}"
    );
    let cron = format!("/apis/batch/v1/namespaces/{scratch}/cronjobs");
    assert!(paris.api.list(&cron).is_empty(), "a drill's copy makes no copy of its own");

    // Karmada reflects Paris's status into the copy's binding and status; the drill is scored and cleaned up.
    karmada.put(
        &format!("/apis/work.karmada.io/v1alpha2/namespaces/{scratch}/resourcebindings"),
        json!({"apiVersion": "work.karmada.io/v1alpha2", "kind": "ResourceBinding",
            "metadata": {"name": "erp-resilientservice", "namespace": scratch},
            "spec": {"resource": {"apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService", "name": "erp"},
                     "clusters": [{"name": "paris-1"}]},
            "status": {"aggregatedStatus": [{"clusterName": "paris-1", "applied": true, "status": status}]}}),
    );
    karmada.edit(&services(scratch), "erp", |c| c["status"] = json!({"recoveries": status["recoveries"]}));
    let drills = "/apis/continuo.dev/v1alpha1/namespaces/ict/continuitydrills";
    let done = eventually("the drill scored", || {
        karmada.get(drills, "yearly").filter(|d| d["status"]["phase"].as_str().is_some_and(|p| p != "Running"))
    })
    .await;
    assert_eq!(
        (done["status"]["phase"].as_str(), done["status"]["reason"].as_str()),
        (Some("Passed"), Some("WithinObjectives")),
        "{done}"
    );
    assert_eq!((done["status"]["site"].as_str(), done["status"]["point"].as_str()), (Some("paris"), Some("erp-good1")));
    assert!(done["status"]["rtoSeconds"].as_i64().is_some(), "{done}");
    eventually("the scratch namespace deleted", || karmada.get("/api/v1/namespaces", scratch).is_none().then_some(()))
        .await;
    let production = karmada.get(POLICIES, "continuo-erp").unwrap();
    assert_eq!(
        production["spec"]["placement"]["clusterAffinity"]["clusterNames"],
        json!(["milan-1"]),
        "Milan still serves"
    );
    assert_eq!(karmada.get(SERVICES, "erp").unwrap()["status"]["site"]["serving"], "milan");
    let metrics = scrape(port).await;
    assert!(metrics.contains(r#"continuo_site_drills_total{result="passed"} 1"#), "{metrics}");

    // Scheduled: the next run is recorded (next January 1st), and when its time comes the drill runs again.
    let waiting = eventually("the next run recorded", || {
        karmada.get(drills, "yearly").filter(|d| d["status"]["nextRun"].is_string())
    })
    .await;
    let next: Timestamp = waiting["status"]["nextRun"].as_str().unwrap().parse().unwrap();
    assert!(
        next > Timestamp::now() && next.duration_since(Timestamp::now()) < SignedDuration::from_hours(367 * 24),
        "{next}"
    );
    assert_eq!(waiting["status"]["phase"], "Passed", "kept until then");
    karmada.edit(drills, "yearly", |d| d["status"]["nextRun"] = json!(Timestamp::now().to_string()));
    let again = eventually("the drill running again", || {
        karmada.get(drills, "yearly").filter(|d| d["status"]["phase"] == "Running")
    })
    .await;
    assert!(again["status"]["point"].is_null(), "a fresh record: {again}");
    let current = karmada.get(SERVICES, "erp").unwrap()["status"]["site"]["drills"].clone();
    assert_eq!(
        (current["status"].as_str(), current["reason"].as_str()),
        (Some("True"), Some("DrillsCurrent")),
        "the pass before this run still counts: {current}"
    );
    eventually("its copy brought up again", || karmada.get(&services(scratch), "erp")).await;
    controller.abort();
}
