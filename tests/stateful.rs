//! A stateful service against the in-memory API (which plays the StatefulSet controller: claims per ordinal, kept
//! forever), on a fake clock: one StatefulSet per zone; its zone lost → the replica recreated in another zone with
//! the agent's restore of the newest off-zone copy as an init container, the incident measuring the data lost
//! against the 24 h RPO; the zone back → its volume kept untouched, labelled, and `DataDiverged`; no copy →
//! nothing started and `NoCopyToRestore`.

mod support;

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicI64, Ordering},
};

use continuo::{
    api::ResilientService,
    availability::Observer,
    controller::{Context, Detector, reconcile},
    failover::Settings,
    plan::Config,
    topology::{self, Keys},
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
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/erp/deployments";
const CLAIMS: &str = "/api/v1/namespaces/erp/persistentvolumeclaims";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/erp/events";
const ZONES: [&str; 3] = ["eu-south-1a", "eu-south-1b", "eu-south-1c"];
/// 2026-11-10T00:00:00Z.
const T0: i64 = 1_794_268_800;

fn class() -> Value {
    json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ContinuityClass", "metadata": {"name": "standard"},
        "spec": {"mode": "Restart", "objectives": [{"scope": "Node", "rto": "15m"}, {"scope": "Zone", "rto": "60m", "rpo": "24h"}],
                 "backup": {"timeZone": "Europe/Rome", "keep": {"daily": 7}}}})
}

fn service(mount: &str) -> Value {
    json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService",
        "metadata": {"name": "acme", "namespace": NS},
        "spec": {"className": "standard", "replicas": 1, "preferredZones": ["eu-south-1a"],
            "volumeClaimTemplates": [{"metadata": {"name": "archives"},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "zonal-ssd", "resources": {"requests": {"storage": "50Gi"}}}}],
            "template": {"spec": {"containers": [{"name": "erp", "image": "erp:7",
                "volumeMounts": [{"name": mount, "mountPath": "/var/lib/erp"}]}]}},
            "backup": {"location": "offsite-eu", "agent": {"spec": {
                "containers": [{"name": "agent", "image": "agent:1", "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}],
                "volumes": [{"name": "tmp", "emptyDir": {}}]}}}}})
}

/// A copy of `acme`'s data, `hours` before T0, stored in `region`.
fn copy(name: &str, hours: i64, region: &str) -> Value {
    let at = Timestamp::from_second(T0 - hours * 3600).unwrap().to_string();
    json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "RecoveryPoint", "metadata": {"name": name, "namespace": NS},
        "spec": {"service": "acme", "location": "offsite-eu"},
        "status": {"phase": "Available", "id": format!("snap-{name}"), "capturedAt": at, "completedAt": at, "region": region}})
}

struct World {
    api: FakeApi,
    nodes: Mutex<Vec<Node>>,
    ctx: Arc<Context>,
    feed: Mutex<Feed>,
    clock: Arc<AtomicI64>,
}

impl World {
    fn new(mount: &str, copies: &[Value]) -> World {
        let api = FakeApi::default();
        api.put("/api/v1/namespaces", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}));
        api.put("/apis/continuo.dev/v1alpha1/continuityclasses", class());
        api.put(
            "/apis/continuo.dev/v1alpha1/backuplocations",
            json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "BackupLocation", "metadata": {"name": "offsite-eu"},
                   "spec": {"region": "eu-south-2"}}),
        );
        api.put(
            "/apis/storage.k8s.io/v1/storageclasses",
            json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "zonal-ssd"},
                   "provisioner": "pd.csi.storage.gke.io", "volumeBindingMode": "WaitForFirstConsumer"}),
        );
        api.put(SERVICES, service(mount));
        for c in copies {
            api.put(POINTS, c.clone());
        }
        let nodes: Vec<Node> =
            ZONES.iter().flat_map(|z| (1..=2).map(move |i| node(&format!("{z}-w{i}"), z, true))).collect();
        let (caches, feed) = api.watched(&nodes);
        let clock = Arc::new(AtomicI64::new(T0));
        let now = clock.clone();
        let detector = Arc::new(Detector::new(Settings::default(), Observer::always()));
        let ctx = Context::new(
            api.client(),
            caches,
            Config::default(),
            Reporter { controller: "continuo".into(), instance: None },
        )
        .with_detector(detector)
        .with_clock(move || Timestamp::from_second(now.load(Ordering::SeqCst)).unwrap());
        World { api, nodes: Mutex::new(nodes), ctx: Arc::new(ctx), feed: Mutex::new(feed), clock }
    }

    /// Moves the clock to T0 + `secs` and lets failure detection judge the nodes as they are.
    fn at(&self, secs: i64) {
        self.clock.store(T0 + secs, Ordering::SeqCst);
        let nodes: Vec<Arc<Node>> = self.nodes.lock().unwrap().iter().cloned().map(Arc::new).collect();
        let now = Timestamp::from_second(T0 + secs).unwrap();
        self.ctx.detector.evaluate(&topology::observe(&nodes, &Keys::default()), now);
    }

    fn zone_ready(&self, zone: &str, ready: bool) {
        let mut nodes = self.nodes.lock().unwrap();
        for n in nodes.iter_mut().filter(|n| n.metadata.name.as_deref().unwrap().starts_with(zone)) {
            *n = node(n.metadata.name.as_deref().unwrap(), zone, ready);
        }
    }

    async fn reconcile(&self) {
        let nodes = self.nodes.lock().unwrap().clone();
        self.feed.lock().unwrap().sync(&self.api, &nodes);
        let svc: ResilientService = serde_json::from_value(self.api.get(SERVICES, "acme").unwrap()).unwrap();
        reconcile(Arc::new(svc), self.ctx.clone()).await.expect("reconcile succeeds");
    }

    /// Reconciles, lets the StatefulSet controller run the sets `pick` chooses, reconciles again.
    async fn settle(&self, pick: impl Fn(&str) -> bool) {
        self.reconcile().await;
        self.api.run_stateful_sets(NS, pick);
        self.reconcile().await;
    }

    fn set(&self, zone: &str) -> Value {
        self.api.get(SETS, &format!("acme-{zone}")).unwrap_or_else(|| panic!("no StatefulSet in {zone}"))
    }

    fn replicas(&self, zone: &str) -> i64 {
        self.set(zone)["spec"]["replicas"].as_i64().unwrap()
    }

    fn status(&self) -> Value {
        self.api.get(SERVICES, "acme").unwrap()["status"].clone()
    }

    fn condition(&self, type_: &str) -> (String, String, String) {
        let status = self.status();
        let c = status["conditions"].as_array().unwrap().iter().find(|c| c["type"] == type_).cloned();
        let c = c.unwrap_or_else(|| panic!("no {type_} in {status}"));
        let s = |k: &str| c[k].as_str().unwrap().to_string();
        (s("status"), s("reason"), s("message"))
    }

    fn reasons(&self) -> Vec<String> {
        self.api.list(EVENTS).iter().map(|e| e["reason"].as_str().unwrap().to_string()).collect()
    }
}

/// The claim the service's backup runs copy, and the pod they run beside (a ReadWriteOnce volume is on its server).
fn backed_up_from(w: &World) -> (String, String) {
    let jobs = w.api.list("/apis/batch/v1/namespaces/erp/cronjobs");
    let pod = &jobs[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    let claim =
        pod["volumes"].as_array().unwrap().iter().find_map(|v| v["persistentVolumeClaim"]["claimName"].as_str());
    let mount = pod["containers"][0]["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "continuo-restore-archives");
    assert_eq!(mount.unwrap()["readOnly"], true, "copied read-only");
    let env = pod["containers"][0]["env"].as_array().unwrap();
    assert!(env.iter().any(|e| e["name"] == "CONTINUO_BACKUP_PATHS" && e["value"] == "/continuo/restore/archives"));
    let beside = &pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0];
    let at = beside["labelSelector"]["matchLabels"]["statefulset.kubernetes.io/pod-name"].as_str();
    (claim.unwrap().to_string(), at.unwrap().to_string())
}

/// The restore init container's variables, if the set has one.
fn restore_env(set: &Value) -> Option<std::collections::BTreeMap<String, Value>> {
    let init = set["spec"]["template"]["spec"]["initContainers"].as_array()?;
    let restore = init.iter().find(|c| c["name"] == "continuo-restore")?;
    let env = restore["env"].as_array()?;
    Some(env.iter().map(|e| (e["name"].as_str().unwrap().to_string(), e["value"].clone())).collect())
}

#[tokio::test]
async fn a_lost_zone_s_installation_is_restored_elsewhere_from_the_newest_off_zone_copy_and_its_old_volume_survives() {
    // Daily copies in eu-south-2; the newest, captured 2 h before T0, is the one to restore.
    let copies = [copy("acme-d1", 26, "eu-south-2"), copy("acme-d2", 2, "eu-south-2")];
    let w = World::new("archives", &copies);
    w.at(0);
    w.settle(|_| true).await;

    // One StatefulSet per zone, none a Deployment; the replica in the preferred zone, on its own claim.
    assert!(w.api.list(DEPLOYMENTS).is_empty());
    assert_eq!((w.replicas("eu-south-1a"), w.replicas("eu-south-1b"), w.replicas("eu-south-1c")), (1, 0, 0));
    let a = w.set("eu-south-1a");
    assert_eq!(a["spec"]["volumeClaimTemplates"][0]["metadata"]["labels"]["continuo.dev/zone"], "eu-south-1a");
    assert_eq!(
        a["spec"]["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
    );
    assert!(restore_env(&a).is_none(), "a first placement never restores");
    assert!(w.api.get(CLAIMS, "archives-acme-eu-south-1a-0").is_some());
    assert_eq!(w.status()["readyReplicas"], 1);
    assert_eq!(w.condition("DataRestored").1, "OnTheirVolumes");
    assert_eq!(backed_up_from(&w), ("archives-acme-eu-south-1a-0".into(), "acme-eu-south-1a-0".into()));
    // Node RPO and RTO judged on the volume's storage.
    let objectives = w.status()["objectives"].clone();
    let node_rto =
        objectives.as_array().unwrap().iter().find(|o| o["scope"] == "Node" && o["objective"] == "RTO").unwrap();
    assert_eq!(node_rto["reason"], "NeedsAPerson", "{node_rto}");

    // Zone a is lost at 100 s.
    w.zone_ready("eu-south-1a", false);
    w.at(100);
    w.reconcile().await;
    let b = w.set("eu-south-1b");
    assert_eq!(w.replicas("eu-south-1b"), 1, "the replica is recreated in a surviving zone");
    assert_eq!(w.replicas("eu-south-1a"), 0, "the lost zone's StatefulSet is at 0 while the zone is still down");
    let env = restore_env(&b).expect("the new volume is restored before the application starts");
    assert_eq!(env["CONTINUO_ACTION"], "restore");
    assert_eq!(env["CONTINUO_POINT"], "acme-d2", "the newest good copy outside the lost zone");
    assert_eq!(env["CONTINUO_POINT_ID"], "snap-acme-d2");
    assert_eq!(env["CONTINUO_RESTORE_PATH"], "/continuo/restore");
    assert_eq!(env["CONTINUO_RESTORE_ORDINALS"], "0");
    assert_eq!(b["spec"]["template"]["spec"]["initContainers"][0]["name"], "continuo-restore", "before anything else");
    let mounts = &b["spec"]["template"]["spec"]["initContainers"][0]["volumeMounts"];
    assert!(
        mounts
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "archives" && m["mountPath"] == "/continuo/restore/archives")
    );
    assert!(
        mounts.as_array().unwrap().iter().any(|m| m["name"] == "continuo-restore-tmp"),
        "the agent's own volume comes along"
    );
    let recovery = w.status()["recoveries"][0].clone();
    let lost_at = Timestamp::from_second(T0 + 100).unwrap();
    assert_eq!((recovery["zone"].as_str(), recovery["fromZone"].as_str()), (Some("eu-south-1b"), Some("eu-south-1a")));
    assert_eq!(recovery["dataLossSeconds"].as_i64(), Some(2 * 3600 + 100), "{recovery}");
    assert_eq!(recovery["withinRpo"], true);
    assert_eq!(w.condition("DataRestored").1, "Restoring");
    let incident = w.status()["incidents"][0].clone();
    assert_eq!((incident["scope"].as_str(), incident["subject"].as_str()), (Some("Zone"), Some("eu-south-1a")));
    assert_eq!(incident["began"], lost_at.to_string());
    assert_eq!(incident["restoredPoint"], "acme-d2");
    assert_eq!((incident["dataLossSeconds"].as_i64(), incident["withinRpo"].as_bool()), (Some(7300), Some(true)));
    assert!(incident["recovered"].is_null(), "open until the restored replica is Ready");
    assert_eq!(
        backed_up_from(&w),
        ("archives-acme-eu-south-1b-0".into(), "acme-eu-south-1b-0".into()),
        "copies are now made from the replica that serves"
    );

    // The restore and start-up take 90 s: the incident closes with the whole time line.
    w.at(190);
    w.api.run_stateful_sets(NS, |n| n == "acme-eu-south-1b");
    w.reconcile().await;
    let incident = w.status()["incidents"][0].clone();
    assert_eq!(
        (incident["rtoSeconds"].as_i64(), incident["withinRto"].as_bool()),
        (Some(90), Some(true)),
        "{incident}"
    );
    let (status, reason, message) = w.condition("DataRestored");
    assert_eq!((status.as_str(), reason.as_str()), ("True", "Restored"));
    assert!(message.contains("7300s of data lost, within the Zone RPO"), "{message}");
    assert!(w.api.get(CLAIMS, "archives-acme-eu-south-1b-0").is_some());

    // Zone a comes back and is used again after the hold-down: its volume is newer than the copy restored in b.
    w.zone_ready("eu-south-1a", true);
    w.at(300);
    w.at(600);
    w.reconcile().await;
    assert_eq!(w.replicas("eu-south-1b"), 1, "the service keeps serving from the new zone");
    assert_eq!(w.replicas("eu-south-1a"), 0, "the old zone's replica does not start on its diverged volume");
    let a = w.status()["zones"].as_array().unwrap().iter().find(|z| z["name"] == "eu-south-1a").cloned().unwrap();
    assert_eq!((a["role"].as_str(), a["desiredReplicas"].as_i64()), (Some("Diverged"), Some(0)));
    let old = w.api.get(CLAIMS, "archives-acme-eu-south-1a-0").expect("the old claim is never deleted");
    assert_eq!(old["metadata"]["labels"]["continuo.dev/diverged-at"], (T0 + 100).to_string());
    let (status, reason, message) = w.condition("DataDiverged");
    assert_eq!((status.as_str(), reason.as_str()), ("True", "VolumesDiverged"));
    let both = "archives-acme-eu-south-1a-0 in eu-south-1a (writes until 2026-11-10T00:01:40Z) diverged from \
                archives-acme-eu-south-1b-0 in eu-south-1b (restored from copy acme-d2), which serves now";
    assert!(message.contains(both), "the condition names both volumes, their zones and the copy: {message}");
    assert!(w.reasons().contains(&"VolumesDiverged".to_string()), "{:?}", w.reasons());
    let events = w.api.list(EVENTS);
    let labelled = events.iter().find(|e| e["reason"] == "DataDiverged").expect("a Warning for the claim");
    let note = labelled["note"].as_str().unwrap();
    assert!(note.contains(both), "the Event names both volumes too: {note}");
    let deletes: Vec<_> =
        w.api.writes().into_iter().filter(|(m, p)| m == "DELETE" && p.contains("persistentvolumeclaims")).collect();
    assert!(deletes.is_empty(), "{deletes:?}");

    // Settled: another reconcile writes nothing.
    w.api.run_stateful_sets(NS, |_| true);
    w.reconcile().await;
    w.api.clear_log();
    w.reconcile().await;
    assert_eq!(w.api.writes(), vec![], "a steady state makes zero writes");

    // A person deletes the old claim: the divergence is over, and b keeps its replica.
    w.api.remove(CLAIMS, "archives-acme-eu-south-1a-0");
    w.reconcile().await;
    assert_eq!(w.condition("DataDiverged").0, "False");
    assert_eq!(w.replicas("eu-south-1b"), 1);
}

#[tokio::test]
async fn without_a_copy_outside_the_lost_zone_nothing_is_started_and_the_status_says_why() {
    // The only copy is stored in the lost zone's own region: not provably outside it.
    let w = World::new("archives", &[copy("acme-d1", 2, "eu-south-1")]);
    w.at(0);
    w.settle(|_| true).await;
    w.zone_ready("eu-south-1a", false);
    w.at(100);
    w.reconcile().await;
    assert_eq!((w.replicas("eu-south-1b"), w.replicas("eu-south-1c")), (0, 0), "an empty installation is not started");
    let (status, reason, message) = w.condition("DataRestored");
    assert_eq!((status.as_str(), reason.as_str()), ("False", "NoCopyToRestore"));
    assert!(message.contains("not started") && message.contains("eu-south-1a"), "{message}");
    assert!(w.reasons().contains(&"NoCopyToRestore".to_string()), "{:?}", w.reasons());
    assert!(w.status()["recoveries"].is_null());
}

#[tokio::test]
async fn a_claim_the_template_does_not_mount_stalls_the_service_and_creates_nothing() {
    let w = World::new("data", &[]);
    w.at(0);
    w.reconcile().await;
    let (_, reason, message) = w.condition("Stalled");
    assert_eq!(reason, "InvalidSpec");
    assert!(message.contains("\"archives\" is not mounted"), "{message}");
    assert!(w.api.list(SETS).is_empty());
}

/// The returning zone's kubelets start whatever its StatefulSet says the moment they are back: the old replica
/// must be at 0 by then, and stay there every second of the hold-down, so that two installations never serve.
#[tokio::test]
async fn a_returning_zone_runs_nothing_on_its_old_volume_not_even_for_a_second() {
    let w = World::new("archives", &[copy("acme-d2", 2, "eu-south-2")]);
    w.at(0);
    w.settle(|_| true).await;
    w.zone_ready("eu-south-1a", false);
    w.at(100);
    w.reconcile().await;
    assert_eq!(w.replicas("eu-south-1a"), 0, "written while the zone is down");
    w.api.run_stateful_sets(NS, |n| n == "acme-eu-south-1b");

    // Back at 200 s; the hold-down (120 s) passes; a reconcile every 10 s, the kubelet acting at once each time.
    w.zone_ready("eu-south-1a", true);
    for t in (200..=400).step_by(10) {
        w.api.run_stateful_sets(NS, |_| true);
        let ready = w.set("eu-south-1a")["status"]["readyReplicas"].as_i64().unwrap_or(0);
        assert_eq!(ready, 0, "{t}s: the old replica serves beside the restored one");
        w.at(t);
        w.reconcile().await;
        assert_eq!(w.replicas("eu-south-1a"), 0, "{t}s");
        assert_eq!(w.replicas("eu-south-1b"), 1, "{t}s");
    }
    let a = w.status()["zones"].as_array().unwrap().iter().find(|z| z["name"] == "eu-south-1a").cloned().unwrap();
    assert_eq!((a["role"].as_str(), a["desiredReplicas"].as_i64()), (Some("Diverged"), Some(0)));
}

/// A person drains the zone (cordons its nodes): the replica is recreated elsewhere from the copy and, from that
/// reconcile on, the drained zone runs none, without waiting for the new one to be Ready.
#[tokio::test]
async fn a_zone_drained_by_a_person_stops_its_old_replica_as_its_copy_is_restored_elsewhere() {
    let w = World::new("archives", &[copy("acme-d2", 2, "eu-south-2")]);
    w.at(0);
    w.settle(|_| true).await;
    for n in
        w.nodes.lock().unwrap().iter_mut().filter(|n| n.metadata.name.as_deref().unwrap().starts_with("eu-south-1a"))
    {
        n.spec = Some(k8s_openapi::api::core::v1::NodeSpec { unschedulable: Some(true), ..Default::default() });
    }
    w.at(10);
    w.reconcile().await;
    assert_eq!(w.replicas("eu-south-1b"), 1);
    assert!(restore_env(&w.set("eu-south-1b")).is_some(), "restored from the copy");
    assert_eq!(w.replicas("eu-south-1a"), 0, "one writer: the drained zone's replica stops at once");
}

const RESTORES: &str = "/apis/continuo.dev/v1alpha1/namespaces/erp/restorerequests";
const JOBS: &str = "/apis/batch/v1/namespaces/erp/jobs";

fn restore_request(name: &str, quiesce: bool) -> Value {
    json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "RestoreRequest", "metadata": {"name": name, "namespace": NS},
           "spec": {"service": "acme", "scope": "archive=2025", "quiesce": quiesce}})
}

fn phase(w: &World, name: &str) -> String {
    w.api.get(RESTORES, name).unwrap()["status"]["phase"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_restore_into_the_running_installation_mounts_its_volume_beside_it_or_quiesces_the_zone() {
    let w = World::new("archives", &[copy("acme-d1", 2, "eu-south-2")]);
    w.at(0);
    w.settle(|_| true).await;

    // Without quiesce: the agent runs beside the running pod, on its server, with its volume mounted.
    w.api.put(RESTORES, restore_request("one-archive", false));
    w.reconcile().await;
    assert_eq!(phase(&w, "one-archive"), "Running");
    assert_eq!(w.replicas("eu-south-1a"), 1, "the application keeps running");
    let job = w.api.get(JOBS, "one-archive-restore").expect("the agent's restore run");
    let pod = &job["spec"]["template"]["spec"];
    let claims: Vec<&Value> =
        pod["volumes"].as_array().unwrap().iter().map(|v| &v["persistentVolumeClaim"]["claimName"]).collect();
    assert!(claims.contains(&&json!("archives-acme-eu-south-1a-0")), "{claims:?}");
    let affinity = &pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(affinity["labelSelector"]["matchLabels"]["statefulset.kubernetes.io/pod-name"], "acme-eu-south-1a-0");
    let env: Vec<(String, String)> = pod["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().into(), e["value"].as_str().unwrap_or_default().into()))
        .collect();
    for (k, v) in [
        ("CONTINUO_RESTORE_TARGET", "volume"),
        ("CONTINUO_RESTORE_SCOPE", "archive=2025"),
        ("CONTINUO_RESTORE_ORDINALS", "0"),
    ] {
        assert!(env.contains(&(k.to_string(), v.to_string())), "{k}={v} in {env:?}");
    }

    // With quiesce: the zone is scaled to 0 first, the agent runs once no pod is left, then the zone comes back.
    w.api.put(RESTORES, restore_request("whole-day", true));
    w.reconcile().await;
    assert_eq!(phase(&w, "whole-day"), "Quiescing");
    w.reconcile().await;
    assert_eq!(w.replicas("eu-south-1a"), 0, "the application stops writing");
    assert!(w.api.get(JOBS, "whole-day-restore").is_none(), "not while its pod may still run");
    assert_eq!(w.status()["zones"][0]["desiredReplicas"], 1, "what the zone is meant to run does not change");
    w.api.run_stateful_sets(NS, |_| true);
    w.reconcile().await;
    assert_eq!(phase(&w, "whole-day"), "Running");
    let job = w.api.get(JOBS, "whole-day-restore").expect("the agent's restore run");
    assert!(job["spec"]["template"]["spec"]["affinity"]["podAffinity"].is_null(), "no pod to run beside");
    w.api.finish_job(NS, "whole-day-restore", true, Timestamp::from_second(T0 + 600).unwrap(), None);
    w.reconcile().await;
    assert_eq!(phase(&w, "whole-day"), "Succeeded");
    w.reconcile().await;
    assert_eq!(w.replicas("eu-south-1a"), 1, "scaled back once the restore ended");
    assert!(w.reasons().contains(&"RestoreQuiescing".to_string()));
}

#[tokio::test]
async fn a_pod_volume_named_like_a_claim_or_a_missing_storage_class_stalls_and_creates_nothing() {
    let w = World::new("archives", &[]);
    w.api.edit(SERVICES, "acme", |s| {
        s["spec"]["template"]["spec"]["volumes"] = json!([{"name": "archives", "emptyDir": {}}]);
    });
    w.at(0);
    w.reconcile().await;
    let (_, reason, message) = w.condition("Stalled");
    assert_eq!(reason, "InvalidSpec");
    assert!(message.contains("template.spec.volumes has \"archives\""), "{message}");

    w.api.edit(SERVICES, "acme", |s| {
        s["spec"]["template"]["spec"].as_object_mut().unwrap().remove("volumes");
        s["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] = json!("fast-nvme");
    });
    w.reconcile().await;
    let (_, reason, message) = w.condition("Stalled");
    assert_eq!(reason, "StorageClassNotFound");
    assert!(message.contains("fast-nvme"), "{message}");
    assert!(w.api.list(SETS).is_empty());
    assert!(w.reasons().contains(&"StorageClassNotFound".to_string()), "{:?}", w.reasons());
}

#[tokio::test]
async fn a_class_that_allows_it_starts_the_moved_replica_empty_and_says_its_data_was_not_restored() {
    let w = World::new("archives", &[]);
    w.api.edit("/apis/continuo.dev/v1alpha1/continuityclasses", "standard", |c| {
        c["spec"]["recovery"] = json!({"withoutCopy": "StartEmpty"});
    });
    w.at(0);
    w.settle(|_| true).await;
    w.zone_ready("eu-south-1a", false);
    w.at(100);
    w.reconcile().await;
    assert_eq!(w.replicas("eu-south-1b"), 1);
    assert!(restore_env(&w.set("eu-south-1b")).is_none(), "nothing to restore from");
    w.api.run_stateful_sets(NS, |n| n == "acme-eu-south-1b");
    w.reconcile().await;
    let (status, _, message) = w.condition("DataRestored");
    assert_eq!(status, "True");
    assert!(message.contains("on empty volumes, as the class allows"), "{message}");
    assert!(w.status()["recoveries"][0]["dataLossSeconds"].is_null(), "no copy: the data lost is not known");
}

#[tokio::test]
async fn a_template_change_rolls_out_zone_by_zone_through_the_statefulsets_partitions() {
    let w = World::new("archives", &[copy("acme-d1", 2, "eu-south-2")]);
    w.api.edit(SERVICES, "acme", |s| {
        s["spec"]["replicas"] = json!(3);
        s["spec"].as_object_mut().unwrap().remove("preferredZones");
    });
    w.at(0);
    w.settle(|_| true).await;
    assert_eq!((w.replicas("eu-south-1a"), w.replicas("eu-south-1b"), w.replicas("eu-south-1c")), (1, 1, 1));
    w.api.edit(SERVICES, "acme", |s| s["spec"]["template"]["spec"]["containers"][0]["image"] = json!("erp:8"));
    w.reconcile().await;
    let partition = |zone: &str| w.set(zone)["spec"]["updateStrategy"]["rollingUpdate"]["partition"].as_i64().unwrap();
    let image = |zone: &str| w.set(zone)["spec"]["template"]["spec"]["containers"][0]["image"].clone();
    assert_eq!(
        (partition("eu-south-1a"), partition("eu-south-1b"), partition("eu-south-1c")),
        (0, 1, 1),
        "one zone at a time"
    );
    assert!(
        ["eu-south-1a", "eu-south-1b", "eu-south-1c"].iter().all(|z| image(z) == "erp:8"),
        "the template is recorded everywhere"
    );
    w.api.run_stateful_sets(NS, |n| n == "acme-eu-south-1a");
    w.reconcile().await;
    assert_eq!(
        (partition("eu-south-1a"), partition("eu-south-1b"), partition("eu-south-1c")),
        (0, 0, 1),
        "the next zone once the first is Ready"
    );
}

const DRILLS: &str = "/apis/continuo.dev/v1alpha1/namespaces/erp/continuitydrills";

#[tokio::test]
async fn a_zone_loss_drill_of_a_stateful_service_runs_the_real_recovery_only_when_the_data_loss_is_accepted() {
    let w = World::new("archives", &[copy("acme-d2", 2, "eu-south-2")]);
    w.at(0);
    w.settle(|_| true).await;
    let drill = |name: &str, accept: bool| {
        json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ContinuityDrill", "metadata": {"name": name, "namespace": NS},
               "spec": {"service": "acme", "scenario": "ZoneLoss", "acceptDataLoss": accept}})
    };
    w.api.put(DRILLS, drill("careful", false));
    w.reconcile().await;
    let d = w.api.get(DRILLS, "careful").unwrap()["status"].clone();
    assert_eq!((d["phase"].as_str(), d["reason"].as_str()), (Some("Failed"), Some("StatefulNotDrilled")), "{d}");
    assert_eq!(w.replicas("eu-south-1a"), 1, "nothing touched");

    w.api.put(DRILLS, drill("accepted", true));
    w.at(10);
    w.reconcile().await;
    w.reconcile().await;
    assert_eq!(w.replicas("eu-south-1a"), 0, "the zone taken out for this service");
    let env = restore_env(&w.set("eu-south-1b")).expect("recovered elsewhere from the copy, as a real loss");
    assert_eq!(env["CONTINUO_POINT"], "acme-d2");
    w.at(100);
    w.api.run_stateful_sets(NS, |n| n == "acme-eu-south-1b");
    w.reconcile().await;
    let d = w.api.get(DRILLS, "accepted").unwrap()["status"].clone();
    assert_eq!(d["phase"], "Passed", "{d}");
    let message = d["message"].as_str().unwrap();
    assert!(message.contains("data restored from acme-d2, 7210s of writes lost"), "{message}");
}
