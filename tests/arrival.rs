//! A stateful service arriving at a recovery site after its site was lost, against the in-memory API on a fake
//! clock: the member cluster has none of the service's history (the catalog of copies was lost with the site), so
//! it first has the agent list what the storage holds, catalogues those copies, and only then starts each replica
//! from the newest good copy stored outside the lost site, counting the data lost against the Region RPO. With
//! copies only in the lost site's region, nothing starts.

mod support;

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicI64, Ordering},
};

use continuo::{
    api::ResilientService,
    controller::{Context, reconcile},
    plan::Config,
};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node;
use kube::runtime::events::Reporter;
use serde_json::{Value, json};
use support::{FakeApi, Feed, node};

const NS: &str = "erp";
const SERVICES: &str = "/apis/continuo.dev/v1alpha1/namespaces/erp/resilientservices";
const POINTS: &str = "/apis/continuo.dev/v1alpha1/namespaces/erp/recoverypoints";
const SETS: &str = "/apis/apps/v1/namespaces/erp/statefulsets";
const JOBS: &str = "/apis/batch/v1/namespaces/erp/jobs";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/erp/events";
/// The recovery site's zones (Paris).
const ZONES: [&str; 3] = ["eu-west-3a", "eu-west-3b", "eu-west-3c"];
/// 2026-11-10T00:00:00Z.
const T0: i64 = 1_794_268_800;
/// The primary site (Milan) was lost ten minutes before T0.
const LOST: i64 = T0 - 600;

fn at(secs: i64) -> String {
    Timestamp::from_second(secs).unwrap().to_string()
}

fn class() -> Value {
    json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ContinuityClass", "metadata": {"name": "dr-site"},
        "spec": {"mode": "Restart",
            "objectives": [{"scope": "Zone", "rto": "60m", "rpo": "24h"}, {"scope": "Region", "rto": "4h", "rpo": "24h"}],
            "backup": {"timeZone": "Europe/Rome", "keep": {"daily": 7}},
            "sites": {"sites": [{"name": "milan", "clusterNames": ["milan-1"]}, {"name": "paris", "clusterNames": ["paris-1"]}]}}})
}

fn service() -> Value {
    let arrival = json!({"from": "milan", "lostAt": at(LOST), "regions": ["eu-south-1"]}).to_string();
    json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService",
        "metadata": {"name": "acme", "namespace": NS, "annotations": {"continuo.dev/site-arrival": arrival}},
        "spec": {"className": "dr-site", "replicas": 1,
            "volumeClaimTemplates": [{"metadata": {"name": "archives"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "50Gi"}}}}],
            "template": {"spec": {"containers": [{"name": "erp", "image": "erp:7",
                "volumeMounts": [{"name": "archives", "mountPath": "/var/lib/erp"}]}]}},
            "backup": {"location": "offsite"}}})
}

struct World {
    api: FakeApi,
    nodes: Vec<Node>,
    ctx: Arc<Context>,
    feed: Mutex<Feed>,
    clock: Arc<AtomicI64>,
}

impl World {
    /// The recovery site, its copies stored in `region`.
    fn new(region: &str) -> World {
        let api = FakeApi::default();
        api.put("/api/v1/namespaces", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}));
        api.put("/apis/continuo.dev/v1alpha1/continuityclasses", class());
        api.put(
            "/apis/continuo.dev/v1alpha1/backuplocations",
            json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "BackupLocation", "metadata": {"name": "offsite"},
                   "spec": {"region": region}}),
        );
        api.put(
            "/apis/storage.k8s.io/v1/storageclasses",
            json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "zonal-ssd",
                   "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                   "provisioner": "pd.csi.storage.gke.io", "volumeBindingMode": "WaitForFirstConsumer"}),
        );
        api.put(SERVICES, service());
        let nodes: Vec<Node> =
            ZONES.iter().flat_map(|z| (1..=2).map(move |i| node(&format!("{z}-w{i}"), z, true))).collect();
        let (caches, feed) = api.watched(&nodes);
        let clock = Arc::new(AtomicI64::new(T0));
        let now = clock.clone();
        let config = Config { agent_image: Some("continuo-agent:1".into()), ..Config::default() };
        let ctx =
            Context::new(api.client(), caches, config, Reporter { controller: "continuo".into(), instance: None })
                .with_clock(move || Timestamp::from_second(now.load(Ordering::SeqCst)).unwrap());
        World { api, nodes, ctx: Arc::new(ctx), feed: Mutex::new(feed), clock }
    }

    async fn reconcile(&self) {
        self.feed.lock().unwrap().sync(&self.api, &self.nodes);
        let svc: ResilientService = serde_json::from_value(self.api.get(SERVICES, "acme").unwrap()).unwrap();
        reconcile(Arc::new(svc), self.ctx.clone()).await.expect("reconcile succeeds");
    }

    fn status(&self) -> Value {
        self.api.get(SERVICES, "acme").unwrap()["status"].clone()
    }

    fn condition(&self, type_: &str) -> (String, String) {
        let status = self.status();
        let c = status["conditions"].as_array().unwrap().iter().find(|c| c["type"] == type_).cloned();
        let c = c.unwrap_or_else(|| panic!("no {type_} in {status}"));
        (c["reason"].as_str().unwrap().to_string(), c["message"].as_str().unwrap().to_string())
    }

    /// The replicas every StatefulSet of the service is set to, and the restore init container's variables where one
    /// has it.
    fn sets(&self) -> (i64, Option<std::collections::BTreeMap<String, Value>>) {
        let sets = self.api.list(SETS);
        let replicas = sets.iter().map(|s| s["spec"]["replicas"].as_i64().unwrap_or(0)).sum();
        let restore = sets.iter().find_map(|s| {
            let init = s["spec"]["template"]["spec"]["initContainers"].as_array()?;
            let c = init.iter().find(|c| c["name"] == "continuo-restore")?;
            Some(
                c["env"]
                    .as_array()?
                    .iter()
                    .map(|e| (e["name"].as_str().unwrap().to_string(), e["value"].clone()))
                    .collect(),
            )
        });
        (replicas, restore)
    }

    /// The agent's list run, finished with the copies the storage holds in its report.
    fn list_run_finds(&self, copies: &[(&str, i64)]) -> String {
        let jobs = self.api.list(JOBS);
        let job = jobs.iter().find(|j| j["metadata"]["labels"]["continuo.dev/action"] == "list").expect("a list run");
        let name = job["metadata"]["name"].as_str().unwrap().to_string();
        let env = job["spec"]["template"]["spec"]["containers"][0]["env"].as_array().unwrap();
        assert!(env.iter().any(|e| e["name"] == "CONTINUO_ACTION" && e["value"] == "list"), "{job}");
        let listed: Vec<Value> =
            copies.iter().map(|(id, secs)| json!({"id": id, "capturedAt": at(*secs), "tiers": ["daily"]})).collect();
        let report = json!({"snapshots": copies.len(), "copies": listed}).to_string();
        self.api.finish_job(NS, &name, true, Timestamp::from_second(T0 + 30).unwrap(), Some(&report));
        name
    }
}

#[tokio::test]
async fn a_service_arriving_after_a_site_loss_lists_the_storage_then_restores_the_newest_copy_outside_the_site() {
    let w = World::new("eu-west-3");
    w.reconcile().await;
    // Nothing starts before the copies are known: the catalog was lost with Milan.
    let (replicas, restore) = w.sets();
    assert_eq!((replicas, restore.is_some()), (0, false), "nothing runs, not even empty");
    let (reason, message) = w.condition("DataRestored");
    assert_eq!(reason, "ListingCopies", "{message}");
    assert!(message.contains("arrived from site milan"), "{message}");

    // The storage holds three copies: the newest was captured after the loss (Milan's last run, not to be trusted
    // as the state at the loss), then one 2 h before it, then one a day before.
    w.clock.store(T0 + 40, Ordering::SeqCst);
    let run = w.list_run_finds(&[("cc33", LOST + 120), ("aa11", LOST - 7200), ("bb22", LOST - 86_400)]);
    w.reconcile().await;
    let points = w.api.list(POINTS);
    let mut names: Vec<&str> = points.iter().map(|p| p["metadata"]["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["acme-aa11", "acme-bb22", "acme-cc33"], "the catalog rebuilt from the storage");
    let imported = points.iter().find(|p| p["metadata"]["name"] == "acme-aa11").unwrap();
    assert_eq!(imported["metadata"]["labels"]["continuo.dev/from-storage"], "true");
    assert_eq!(
        (imported["status"]["phase"].as_str(), imported["status"]["region"].as_str()),
        (Some("Available"), Some("eu-west-3"))
    );
    let (replicas, restore) = w.sets();
    let env = restore.expect("the replica's volume is restored before it starts");
    assert_eq!(replicas, 1);
    assert_eq!((env["CONTINUO_POINT"].as_str(), env["CONTINUO_POINT_ID"].as_str()), (Some("acme-aa11"), Some("aa11")));
    let recovery = w.status()["recoveries"][0].clone();
    assert_eq!(recovery["fromSite"], "milan", "{recovery}");
    assert_eq!(recovery["dataLossSeconds"], 7200, "lost at the site's loss, not at the arrival: {recovery}");
    assert_eq!(recovery["withinRpo"], true, "within the Region RPO of 24 h");
    let (reason, message) = w.condition("DataRestored");
    assert_eq!(reason, "Restoring", "{message}");
    assert!(message.contains("site milan") && message.contains("Region RPO"), "{message}");
    let events: Vec<Value> = w.api.list(EVENTS);
    assert!(events.iter().any(|e| e["reason"] == "CatalogRebuilt"), "{events:?}");

    // Settled: no second list run, no point catalogued twice, the restore kept.
    w.reconcile().await;
    w.reconcile().await;
    let lists =
        w.api.list(JOBS).into_iter().filter(|j| j["metadata"]["labels"]["continuo.dev/action"] == "list").count();
    assert_eq!((lists, w.api.list(POINTS).len()), (1, 3));
    assert!(w.api.get(JOBS, &run).is_some());
    assert_eq!(w.sets().1.unwrap()["CONTINUO_POINT"], "acme-aa11");
}

#[tokio::test]
async fn copies_stored_only_in_the_lost_sites_region_start_nothing_and_say_why() {
    let w = World::new("eu-south-1");
    w.reconcile().await;
    w.list_run_finds(&[("aa11", LOST - 7200)]);
    w.reconcile().await;
    assert_eq!(w.api.list(POINTS).len(), 1, "catalogued all the same");
    let (replicas, restore) = w.sets();
    assert_eq!((replicas, restore.is_some()), (0, false), "never started empty");
    let (reason, message) = w.condition("DataRestored");
    assert_eq!(reason, "NoCopyToRestore");
    assert!(message.contains("all stored in site milan"), "{message}");
}

#[tokio::test]
async fn volumes_left_from_an_earlier_stint_at_the_site_start_nothing_until_a_person_clears_them() {
    let w = World::new("eu-west-3");
    // A failback: this site ran the service before, and its retained claim is still here.
    w.api.put(
        "/api/v1/namespaces/erp/persistentvolumeclaims",
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "archives-acme-eu-west-3a-0", "namespace": NS,
                "labels": {"continuo.dev/service": "acme", "continuo.dev/zone": "eu-west-3a"}},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "50Gi"}}}}),
    );
    w.reconcile().await;
    let (reason, message) = w.condition("DataRestored");
    assert_eq!(reason, "StaleVolumesPresent", "{message}");
    assert!(message.contains("archives-acme-eu-west-3a-0"), "names the claim: {message}");
    assert_eq!(w.sets(), (0, None), "no replica would bind the old volume");
    assert!(w.api.list(JOBS).is_empty(), "nothing listed before the volumes are cleared");

    // The person deletes it: the arrival goes on as usual.
    w.api.remove("/api/v1/namespaces/erp/persistentvolumeclaims", "archives-acme-eu-west-3a-0");
    w.reconcile().await;
    assert_eq!(w.condition("DataRestored").0, "ListingCopies");
}

#[tokio::test]
async fn a_site_handing_over_stops_first_stays_stopped_while_its_last_copy_fails_and_serves_again_when_withdrawn() {
    let w = World::new("eu-west-3");
    w.reconcile().await;
    w.list_run_finds(&[("aa11", LOST - 7200)]);
    w.reconcile().await;
    w.api.run_stateful_sets(NS, |_| true);
    w.reconcile().await;
    assert_eq!((w.status()["readyReplicas"].as_i64(), w.sets().0), (Some(1), 1), "serving here");

    // A handover annotation that is not one stops nothing, and says so.
    w.api.edit(SERVICES, "acme", |s| s["metadata"]["annotations"]["continuo.dev/site-handover"] = json!("milan"));
    w.reconcile().await;
    let (reason, message) = w.condition("Ready");
    assert_eq!(reason, "InvalidSiteHandover", "{message}");
    assert!(message.contains("declaredAt"), "{message}");
    assert_eq!(w.sets().0, 1, "a bad annotation never scales the service down");

    // A failback to Milan is declared: Karmada asks this site to hand over.
    let handover = json!({"to": "milan", "declaredAt": at(T0 + 3600)}).to_string();
    w.api.edit(SERVICES, "acme", |s| s["metadata"]["annotations"]["continuo.dev/site-handover"] = json!(handover));
    w.reconcile().await;
    assert_eq!(w.sets().0, 0, "every replica stops before the last copy");
    assert_eq!(w.status()["handover"]["phase"], "Stopping");
    assert_eq!(w.condition("Ready").0, "HandingOver");
    let crons = w.api.list("/apis/batch/v1/namespaces/erp/cronjobs");
    assert!(
        !crons.is_empty() && crons.iter().all(|c| c["spec"]["suspend"] == true),
        "no scheduled copy meanwhile: {crons:?}"
    );
    let copies = |w: &World| {
        w.api.list(JOBS).into_iter().filter(|j| j["metadata"]["name"].as_str().unwrap().contains("-handover-")).count()
    };
    assert_eq!(copies(&w), 0, "no copy while the pod may still write");
    w.api.run_stateful_sets(NS, |_| true);
    w.reconcile().await;
    assert_eq!(w.status()["handover"]["phase"], "Copying", "{}", w.status());
    let job = w.api.list(JOBS).into_iter().find(|j| j["metadata"]["name"].as_str().unwrap().contains("-handover-"));
    let job = job.expect("the last copy's run");
    let name = job["metadata"]["name"].as_str().unwrap().to_string();
    let env = job["spec"]["template"]["spec"]["containers"][0]["env"].as_array().unwrap().clone();
    assert!(env.iter().any(|e| e["name"] == "CONTINUO_ACTION" && e["value"] == "backup"), "{job}");
    assert!(env.iter().any(|e| e["name"] == "CONTINUO_BACKUP_PATHS"), "the stopped volumes are named: {job}");

    // The copy fails: the site stays stopped (Karmada does not move it), and says what a person can do.
    w.api.finish_job(NS, &name, false, Timestamp::from_second(T0 + 3700).unwrap(), None);
    w.reconcile().await;
    w.reconcile().await;
    assert_eq!(w.status()["handover"]["phase"], "Failed", "{}", w.status());
    let (reason, message) = w.condition("Stalled");
    assert_eq!(reason, "HandingOver");
    assert!(message.contains(&name) && message.contains("delete the SiteFailover"), "{message}");
    assert_eq!((w.sets().0, copies(&w)), (0, 1), "stopped, and no second run on its own");

    // The person withdraws the failback: Karmada drops the annotation, and the site serves again.
    w.api.edit(SERVICES, "acme", |s| {
        s["metadata"]["annotations"].as_object_mut().unwrap().remove("continuo.dev/site-handover");
    });
    w.reconcile().await;
    assert_eq!(w.sets().0, 1, "serving again on its own volume");
    let crons = w.api.list("/apis/batch/v1/namespaces/erp/cronjobs");
    assert!(crons.iter().all(|c| c["spec"]["suspend"] != true), "scheduled copies again: {crons:?}");
    assert!(w.status()["handover"].is_null(), "{}", w.status());
}
