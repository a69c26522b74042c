//! Scenario 4: a stateful installation (one replica, the Restart mode) on claims bound to zonal PersistentVolumes
//! the test creates; its zone is cut; the replica is recreated in another zone with the agent's restore of the
//! newest off-zone copy as its init container, the lost zone's StatefulSet written at 0 while the zone is still
//! down; the zone returns and runs nothing on its old volume, not for a second; no claim is deleted. Then the site is
//! asked to hand over (a declared failback): it stops every replica and makes one last copy of the stopped volume.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::harness::{Operator, Scenario, eventually};

const ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];

fn cluster_objects(ns: &str) -> String {
    let mut out = format!(
        "apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {{name: {ns}-zonal}}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: continuo.dev/v1alpha1
kind: ContinuityClass
metadata: {{name: {ns}-installation}}
spec:
  mode: Restart
  minZones: 1
  objectives: [{{scope: Node, rto: 15m}}, {{scope: Zone, rto: 60m, rpo: 24h}}]
"
    );
    for zone in ZONES {
        for i in 0..2 {
            out.push_str(&format!(
                "---
apiVersion: v1
kind: PersistentVolume
metadata: {{name: {ns}-{zone}-{i}, labels: {{e2e: {ns}}}}}
spec:
  capacity: {{storage: 10Gi}}
  accessModes: [ReadWriteOnce]
  storageClassName: {ns}-zonal
  persistentVolumeReclaimPolicy: Retain
  local: {{path: /fake/{ns}-{zone}-{i}}}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions:
        - {{key: topology.kubernetes.io/zone, operator: In, values: [{zone}]}}
"
            ));
        }
    }
    out
}

fn service(ns: &str) -> String {
    format!(
        "apiVersion: continuo.dev/v1alpha1
kind: ResilientService
metadata: {{name: archive, namespace: {ns}}}
spec:
  className: {ns}-installation
  replicas: 1
  preferredZones: [zone-a]
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec: {{accessModes: [ReadWriteOnce], storageClassName: {ns}-zonal, resources: {{requests: {{storage: 1Gi}}}}}}
  template:
    spec:
      containers:
      - {{name: app, image: registry.example/archive:1, volumeMounts: [{{name: data, mountPath: /var/lib/archive}}]}}
  backup:
    location: {ns}-offsite
    agent: {{spec: {{containers: [{{name: agent, image: registry.example/agent:1}}]}}}}
"
    )
}

fn replicas(s: &Scenario, zone: &str) -> Option<i64> {
    s.get("statefulset", &format!("archive-{zone}"))?["spec"]["replicas"].as_i64()
}

fn restore_point(set: &Value) -> Option<String> {
    let init = set["spec"]["template"]["spec"]["initContainers"].as_array()?;
    let restore = init.iter().find(|c| c["name"] == "continuo-restore")?;
    let env = restore["env"].as_array()?;
    env.iter().find(|e| e["name"] == "CONTINUO_POINT")?["value"].as_str().map(str::to_string)
}

pub fn run() {
    let s = Scenario::new("stateful");
    let ns = s.ns.clone();
    s.cp.apply(&cluster_objects(&ns));
    let _cleanup = ClusterScoped(&s);
    let _op = Operator::start(&s, "stateful", &["--zone-hold-down", "30s"]);
    s.offsite();
    s.catalogued_copy("archive", "archive-old", 30);
    s.catalogued_copy("archive", "archive-new", 2);
    s.apply(&service(&ns));

    // One StatefulSet per zone; the replica in zone-a, on a claim the PV binder bound to a zone-a volume.
    eventually(Duration::from_secs(90), "the replica Ready in zone-a", || {
        let ready = s.ready_by_zone("archive");
        (ready.get("zone-a") == Some(&1)).then_some(()).ok_or(format!("{ready:?}"))
    });
    for zone in ZONES {
        assert!(replicas(&s, zone).is_some(), "a StatefulSet in {zone}");
    }
    let claim = s.get("pvc", "data-archive-zone-a-0").expect("the replica's claim");
    assert_eq!(claim["status"]["phase"], "Bound", "{claim}");

    // Zone a is cut: the replica is recreated elsewhere from the newest copy; zone a's set is at 0 at once.
    s.cp.zone("down", "zone-a");
    let cut = Instant::now();
    let (zone, point) = eventually(Duration::from_secs(90), "the replica recreated in another zone", || {
        for zone in ["zone-b", "zone-c"] {
            let set = s.get("statefulset", &format!("archive-{zone}")).ok_or("no set")?;
            if set["spec"]["replicas"] == 1 {
                return Ok((zone, restore_point(&set)));
            }
        }
        Err(format!("zone-a at {:?}", replicas(&s, "zone-a")))
    });
    println!("recreated in {zone} {}s after the cut", cut.elapsed().as_secs());
    assert_eq!(point.as_deref(), Some("archive-new"), "restored from the newest good off-zone copy");
    assert_eq!(replicas(&s, "zone-a"), Some(0), "the lost zone's set at 0 while the zone is still down");
    eventually(Duration::from_secs(90), "the restored replica Ready", || {
        let ready = s.ready_by_zone("archive");
        (ready.get(zone) == Some(&1)).then_some(()).ok_or(format!("{ready:?}"))
    });

    // The zone returns: through the hold-down and after, nothing of the old replica is Ready.
    s.cp.zone("up", "zone-a");
    let back = Instant::now();
    while back.elapsed() < Duration::from_secs(45) {
        let ready = s.ready_by_zone("archive");
        assert_eq!(ready.get("zone-a"), None, "{}s after the return: {ready:?}", back.elapsed().as_secs());
        assert_eq!(replicas(&s, "zone-a"), Some(0));
        std::thread::sleep(Duration::from_millis(500));
    }
    let (status, _, message) = eventually(Duration::from_secs(30), "DataDiverged", || {
        let c = s.condition("archive", "DataDiverged")?;
        (c.0 == "True").then_some(c.clone()).ok_or(format!("{c:?}"))
    });
    assert_eq!(status, "True");
    assert!(
        message.contains("data-archive-zone-a-0 in zone-a")
            && message.contains(&format!("data-archive-{zone}-0 in {zone}")),
        "both volumes named: {message}"
    );
    assert!(s.get("pvc", "data-archive-zone-a-0").is_some(), "the old claim is never deleted");
    assert!(s.get("pvc", &format!("data-archive-{zone}-0")).is_some());
    hand_over(&s, zone);
}

/// The site is asked to hand over to another (a declared failback, as Karmada's OverridePolicy annotates it): every
/// replica stops, then one last copy of the stopped volumes is made by a Job the real API server, scheduler and Job
/// controller run (mounting the claim with no pod beside it), catalogued and reported in `status.handover`.
fn hand_over(s: &Scenario, zone: &str) {
    let handover = serde_json::json!({"to": "turin", "declaredAt": jiff::Timestamp::now().to_string()}).to_string();
    let patch = serde_json::json!({"metadata": {"annotations": {"continuo.dev/site-handover": handover}},
        "spec": {"backup": {"agent": {"metadata": {"annotations":
            {"fake-kubelet.harness/termination-message": "{\"id\": \"archive-last\", \"sizeBytes\": 10}"}},
            "spec": {"containers": [{"name": "agent", "image": "registry.example/agent:1"}]}}}}});
    s.cp.kubectl(&["patch", "-n", &s.ns, "resilientservice", "archive", "--type=merge", "-p", &patch.to_string()])
        .unwrap_or_else(|e| panic!("{e}"));
    let stopped = Instant::now();
    let made = eventually(Duration::from_secs(120), "the last copy made", || {
        let h = s.status("archive")?["handover"].clone();
        (h["phase"] == "CopyMade").then_some(h.clone()).ok_or(h.to_string())
    });
    println!("stopped and copied {}s after the handover was asked", stopped.elapsed().as_secs());
    assert_eq!(made["copyId"], "archive-last", "{made}");
    for z in ZONES {
        assert_eq!(replicas(s, z), Some(0), "{z} runs nothing while handing over");
    }
    assert!(s.ready_by_zone("archive").is_empty(), "no pod writes while the copy is made");
    let run = s.get("job", made["point"].as_str().unwrap()).expect("the last copy's run");
    let pod = &run["spec"]["template"]["spec"];
    assert!(pod["affinity"]["podAffinity"].is_null(), "no pod to run beside: {pod}");
    let claim =
        pod["volumes"].as_array().unwrap().iter().find_map(|v| v["persistentVolumeClaim"]["claimName"].as_str());
    assert_eq!(claim, Some(format!("data-archive-{zone}-0").as_str()), "the serving replica's volume: {pod}");
    let (status, reason, _) = s.condition("archive", "Ready").unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("False", "HandingOver"));
}

/// Deletes the scenario's cluster-wide objects (volumes, class, location, StorageClass) when it ends.
struct ClusterScoped<'a>(&'a Scenario);

impl Drop for ClusterScoped<'_> {
    fn drop(&mut self) {
        let (cp, ns) = (self.0.cp, &self.0.ns);
        let _ = cp.kubectl(&["delete", "pv", "-l", &format!("e2e={ns}"), "--wait=false"]);
        let _ = cp.kubectl(&["delete", "continuityclass", &format!("{ns}-installation"), "--wait=false"]);
        let _ = cp.kubectl(&["delete", "storageclass", &format!("{ns}-zonal"), "--wait=false"]);
    }
}
