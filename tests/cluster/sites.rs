//! e2e_9: the site controller (`continuo sites`) on a real API server with Karmada's own CRDs installed (from
//! `../shared/karmada/crds`): every policy continuo writes for Karmada is accepted by their schemas and rules, a
//! Warm standby's OverridePolicy too (server-side dry run of what `continuo plan` prints), and a declared failover
//! moves the placement and is recorded Completed with its RTO once the service reports Ready at the new site.
//! Karmada's own controllers do not run here: the test plays the scheduler's binding, as Karmada documents it,
//! and a stand-in CRD holds the `Cluster` objects Karmada's aggregated API server would serve.

use std::{process::Command, time::Duration};

use serde_json::Value;

use super::harness::{Scenario, eventually, root};

/// Karmada's CRDs, applied as they ship, and a stand-in for the `Cluster` kind.
fn install_karmada(s: &Scenario) {
    let dir = root().join("../shared/karmada/crds");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (Karmada's CRDs come with the kit)", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    for f in files {
        s.cp.apply(&std::fs::read_to_string(&f).unwrap());
    }
    s.cp.apply(CLUSTER_STAND_IN);
    s.cp.kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd",
        "propagationpolicies.policy.karmada.io",
        "overridepolicies.policy.karmada.io",
        "resourcebindings.work.karmada.io",
        "clusters.cluster.karmada.io",
        "resourceinterpretercustomizations.config.karmada.io",
    ])
    .expect("Karmada's CRDs are established");
    // continuo's resource interpreter, accepted by Karmada's own CRD for it.
    s.cp.apply(&std::fs::read_to_string(root().join("charts/continuo/files/karmada-interpreter.yaml")).unwrap());
}

/// Karmada serves `Cluster` from its aggregated API server; here a CRD of the same group, version and kind holds
/// the objects (status stored as written).
const CLUSTER_STAND_IN: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: clusters.cluster.karmada.io}
spec:
  group: cluster.karmada.io
  scope: Cluster
  names: {kind: Cluster, plural: clusters, singular: cluster, listKind: ClusterList}
  versions:
    - name: v1alpha1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
";

fn cluster(name: &str, site: &str, region: &str, ready: &str) -> String {
    let since = jiff::Timestamp::now();
    format!(
        "apiVersion: cluster.karmada.io/v1alpha1
kind: Cluster
metadata: {{name: {name}, labels: {{continuo.dev/site: {site}}}}}
spec: {{region: {region}, syncMode: Push}}
status: {{conditions: [{{type: Ready, status: \"{ready}\", reason: ClusterReady, message: '', lastTransitionTime: \"{since}\"}}]}}
"
    )
}

fn policy(s: &Scenario) -> Option<Value> {
    s.get("propagationpolicies.policy.karmada.io", "continuo-ict-portal")
}

/// Karmada's scheduler's part: the binding on `cluster`, whose member reports the service Ready.
fn karmada_binds(s: &Scenario, cluster: &str) {
    karmada_binds_in(s, &s.ns, cluster);
}

/// As [`karmada_binds`], for the service in namespace `ns`.
fn karmada_binds_in(s: &Scenario, ns: &str, cluster: &str) {
    let ready = serde_json::json!({"conditions": [{"type": "Ready", "status": "True"}]});
    karmada_reports(s, ns, "ict-portal", cluster, &ready);
}

/// Karmada's part for service `service` in `ns`: its binding on `cluster`, whose member's status reflects as
/// `status`.
fn karmada_reports(s: &Scenario, ns: &str, service: &str, cluster: &str, status: &Value) {
    s.cp.apply(&format!(
        "apiVersion: work.karmada.io/v1alpha2
kind: ResourceBinding
metadata: {{name: {service}-resilientservice, namespace: {ns}}}
spec:
  resource: {{apiVersion: continuo.dev/v1alpha1, kind: ResilientService, name: {service}, namespace: {ns}}}
  clusters: [{{name: {cluster}}}]
"
    ));
    let status = serde_json::json!({"status": {"aggregatedStatus": [
        {"clusterName": cluster, "applied": true, "status": status}]}});
    let binding = format!("{service}-resilientservice");
    let patch = status.to_string();
    let args = [
        "patch",
        "-n",
        ns,
        "resourcebindings.work.karmada.io",
        &binding,
        "--subresource=status",
        "--type=merge",
        "-p",
        &patch,
    ];
    s.cp.kubectl(&args).unwrap_or_else(|e| panic!("{e}"));
}

pub fn run() {
    let s = Scenario::new("sites");
    install_karmada(&s);
    let (milan, turin, class) = (format!("{}-milan", s.ns), format!("{}-turin", s.ns), format!("{}-dr", s.ns));
    s.cp.apply(&cluster(&milan, &milan, "region-1", "True"));
    s.cp.apply(&cluster(&turin, &turin, "region-2", "True"));
    s.cp.apply(&format!(
        "apiVersion: continuo.dev/v1alpha1
kind: ContinuityClass
metadata: {{name: {class}}}
spec:
  mode: Restart
  objectives: [{{scope: Zone, rto: 60m}}, {{scope: Region, rto: 4h, rpo: 24h}}]
  sites:
    sites: [{{name: milan, clusterNames: [{milan}]}}, {{name: turin, clusterLabels: {{continuo.dev/site: {turin}}}}}]
    standby: Cold
    failover: Declared
"
    ));
    s.apply(&format!(
        "apiVersion: continuo.dev/v1alpha1
kind: ResilientService
metadata: {{name: ict-portal, namespace: NAMESPACE}}
spec:
  className: {class}
  replicas: 3
  startupSeconds: 60
  template: {{spec: {{containers: [{{name: portal, image: registry.example/portal:3}}]}}}}
"
    ));
    // As a user installs it on Karmada's API server: the site controller's ServiceAccount and its least RBAC.
    s.cp.kubectl_in(
        &["apply", "--server-side", "-f", "-"],
        Some(&std::fs::read_to_string(root().join("charts/continuo/files/karmada-rbac.yaml")).unwrap()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let audited = s.cp.audit_lines();
    let log = std::fs::File::create(root().join(format!("target/e2e/{}-sites.log", s.ns))).unwrap();
    let mut controller = Command::new(env!("CARGO_BIN_EXE_continuo"))
        .args(["sites", "--site-failover-hold", "30s", "--admin-address", "127.0.0.1:0"])
        .env("KUBECONFIG", s.cp.kubeconfig_of("continuo-system", "continuo-sites"))
        .env("RUST_LOG", "info")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("continuo sites");
    let placed = eventually(Duration::from_secs(60), "the PropagationPolicy, accepted by Karmada's CRD", || {
        policy(&s).ok_or("none yet".to_string())
    });
    assert_eq!(placed["spec"]["placement"]["clusterAffinity"]["clusterNames"], serde_json::json!([milan]));
    assert_eq!(placed["metadata"]["ownerReferences"][0]["kind"], "ResilientService");
    let site = eventually(Duration::from_secs(30), "status.site", || {
        s.status("ict-portal")
            .map(|st| st["site"].clone())
            .and_then(|v| if v.is_object() { Ok(v) } else { Err(v.to_string()) })
    });
    assert_eq!(site["serving"], "milan");
    karmada_binds(&s, &milan);

    // The disaster: milan is lost and a person declares it.
    s.cp.apply(&cluster(&milan, &milan, "region-1", "Unknown"));
    s.apply("apiVersion: continuo.dev/v1alpha1\nkind: SiteFailover\nmetadata: {name: milan-flood, namespace: NAMESPACE}\nspec: {service: ict-portal, to: turin, reason: e2e}\n");
    eventually(Duration::from_secs(30), "the placement at turin", || {
        let p = policy(&s).ok_or("gone")?;
        let selector = &p["spec"]["placement"]["clusterAffinity"]["labelSelector"]["matchLabels"]["continuo.dev/site"];
        (selector == turin.as_str()).then_some(()).ok_or(p["spec"]["placement"].to_string())
    });
    // Turin's copy of the service is told where it came from, through an OverridePolicy the real API server took.
    let over = eventually(Duration::from_secs(30), "the arrival's OverridePolicy", || {
        s.get("overridepolicies.policy.karmada.io", "continuo-ict-portal").ok_or("none yet".to_string())
    });
    let value = &over["spec"]["overrideRules"][0]["overriders"]["annotationsOverrider"][0]["value"];
    let arrival: serde_json::Value =
        serde_json::from_str(value["continuo.dev/site-arrival"].as_str().unwrap()).unwrap();
    assert_eq!(
        (arrival["from"].as_str(), arrival["regions"].clone()),
        (Some("milan"), serde_json::json!(["region-1"]))
    );
    karmada_binds(&s, &turin);
    let done = eventually(Duration::from_secs(60), "the declaration Completed", || {
        let f = s.get("sitefailovers.continuo.dev", "milan-flood").ok_or("gone")?;
        (f["status"]["phase"] == "Completed").then_some(f.clone()).ok_or(f["status"].to_string())
    });
    assert_eq!(done["status"]["withinRto"], true, "{done}");
    println!("declared failover recorded Completed, RTO {}s", done["status"]["rtoSeconds"]);
    site_restore_drill(&s, &milan);
    moving_brings_the_data_first(&s, &class, (&milan, &turin));

    // A Warm standby's OverridePolicy, as `continuo plan` prints it, accepted by Karmada's schema (dry run).
    let plan = Command::new(env!("CARGO_BIN_EXE_continuo"))
        .args(["plan", "-f", "examples/sites/warm-site.yaml", "-f", "examples/sites/clusters.yaml"])
        .current_dir(root())
        .output()
        .unwrap();
    let objects = String::from_utf8_lossy(&plan.stdout);
    let karmada: Vec<&str> = objects.split("---\n").filter(|d| d.contains("policy.karmada.io")).collect();
    assert_eq!(karmada.len(), 2, "a PropagationPolicy and an OverridePolicy:\n{objects}");
    let docs = karmada.join("---\n").replace("namespace: ict", &format!("namespace: {}", s.ns));
    s.cp.kubectl_in(&["apply", "--server-side", "--dry-run=server", "-f", "-"], Some(&docs))
        .unwrap_or_else(|e| panic!("{e}"));

    let _ = controller.kill();
    let _ = controller.wait();
    // Everything it did, it did with the RBAC it ships (charts/continuo/files/karmada-rbac.yaml).
    let forbidden = s.cp.forbidden_requests_of("continuo-system", "continuo-sites", audited);
    assert!(forbidden.is_empty(), "the site controller was refused: {forbidden:?}");
    for (kind, name) in [
        ("clusters.cluster.karmada.io", &milan),
        ("clusters.cluster.karmada.io", &turin),
        ("continuityclasses.continuo.dev", &class),
    ] {
        let _ = s.cp.kubectl(&["delete", kind, name, "--ignore-not-found"]);
    }
}

/// Milan back, a SiteRestore drill brings the service up there in a scratch namespace (created, with the copy, by
/// the site controller under its shipped RBAC, and accepted by the real API server), is scored once the copy's
/// binding reports it Ready, and the scratch namespace is deleted.
fn site_restore_drill(s: &Scenario, milan: &str) {
    s.cp.apply(&cluster(milan, milan, "region-1", "True"));
    s.apply("apiVersion: continuo.dev/v1alpha1\nkind: ContinuityDrill\nmetadata: {name: yearly, namespace: NAMESPACE}\nspec: {service: ict-portal, scenario: SiteRestore}\n");
    let scratch = format!("{}-yearly", s.ns);
    let copy = eventually(Duration::from_secs(30), "the drill's copy in its scratch namespace", || {
        s.cp.get(&scratch, "resilientservices.continuo.dev", "ict-portal").ok_or("none yet".to_string())
    });
    assert_eq!(copy["metadata"]["labels"]["continuo.dev/drill-site"], "milan");
    eventually(Duration::from_secs(30), "the copy placed at milan", || {
        let p = s.cp.get(&scratch, "propagationpolicies.policy.karmada.io", "continuo-ict-portal").ok_or("none yet")?;
        let names = &p["spec"]["placement"]["clusterAffinity"]["clusterNames"];
        (names == &serde_json::json!([milan])).then_some(()).ok_or(names.to_string())
    });
    karmada_binds_in(s, &scratch, milan);
    let done = eventually(Duration::from_secs(60), "the drill scored", || {
        let d = s.get("continuitydrills.continuo.dev", "yearly").ok_or("gone")?;
        (d["status"]["phase"] == "Passed").then_some(d.clone()).ok_or(d["status"].to_string())
    });
    println!("site drill {}: {}", done["status"]["reason"], done["status"]["message"]);
    eventually(Duration::from_secs(60), "the scratch namespace deleted", || {
        match s.cp.get("", "namespace", &scratch) {
            None => Ok(()),
            Some(n) if n["status"]["phase"] == "Terminating" => Ok(()),
            Some(n) => Err(n["status"].to_string()),
        }
    });
}

/// A declared move of a stateful service off a site that is up: held there, the site asked (through the
/// OverridePolicy the real API server takes) to stop and make a last copy; once its member reports that copy in the
/// binding's status, the placement moves, the new site's copy is told to restore exactly that copy, and the site
/// left stays asked to stop.
fn moving_brings_the_data_first(s: &Scenario, class: &str, (milan, turin): (&str, &str)) {
    s.apply(&format!(
        "apiVersion: continuo.dev/v1alpha1
kind: ResilientService
metadata: {{name: ict-archive, namespace: NAMESPACE}}
spec:
  className: {class}
  replicas: 1
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 1Gi}}}}}}
  template: {{spec: {{containers: [{{name: archive, image: registry.example/archive:1, volumeMounts: [{{name: data, mountPath: /data}}]}}]}}}}
"
    ));
    eventually(Duration::from_secs(30), "ict-archive serving at milan", || {
        let site = s.status("ict-archive")?["site"].clone();
        (site["serving"] == "milan").then_some(()).ok_or(site.to_string())
    });
    let ready = serde_json::json!({"conditions": [{"type": "Ready", "status": "True"}]});
    karmada_reports(s, &s.ns, "ict-archive", milan, &ready);
    s.apply("apiVersion: continuo.dev/v1alpha1\nkind: SiteFailover\nmetadata: {name: archive-to-turin, namespace: NAMESPACE}\nspec: {service: ict-archive, to: turin}\n");
    let handover = |o: &Value| -> Option<(Value, Value)> {
        let rules = o["spec"]["overrideRules"].as_array()?;
        rules.iter().find_map(|r| {
            let v = r["overriders"]["annotationsOverrider"][0]["value"]["continuo.dev/site-handover"].as_str()?;
            Some((r["targetCluster"].clone(), serde_json::from_str(v).ok()?))
        })
    };
    let (target, asked) = eventually(Duration::from_secs(30), "milan asked to hand over", || {
        let o = s.get("overridepolicies.policy.karmada.io", "continuo-ict-archive").ok_or("none yet")?;
        handover(&o).ok_or(o["spec"].to_string())
    });
    assert_eq!((target["clusterNames"].clone(), asked["to"].as_str()), (serde_json::json!([milan]), Some("turin")));
    let placement = |s: &Scenario| {
        s.get("propagationpolicies.policy.karmada.io", "continuo-ict-archive").unwrap()["spec"]["placement"].clone()
    };
    assert_eq!(placement(s)["clusterAffinity"]["clusterNames"], serde_json::json!([milan]), "held at milan");
    let f = s.get("sitefailovers.continuo.dev", "archive-to-turin").unwrap();
    assert_eq!((f["status"]["phase"].as_str(), f["status"]["movedAt"].is_null()), (Some("Moving"), true), "{f}");
    assert_eq!(s.status("ict-archive").unwrap()["site"]["reason"], "HandingOver");

    // Milan's continuo has stopped the service and made its last copy; Karmada reflects that into the binding.
    let report = serde_json::json!({"conditions": [{"type": "Ready", "status": "False"}], "handover": {
        "to": "turin", "declaredAt": asked["declaredAt"], "phase": "CopyMade", "point": "ict-archive-handover-1",
        "copyId": "e2e-last", "capturedAt": jiff::Timestamp::now().to_string(), "message": "copy made"}});
    karmada_reports(s, &s.ns, "ict-archive", milan, &report);
    eventually(Duration::from_secs(30), "the placement at turin", || {
        let p = placement(s);
        let at = &p["clusterAffinity"]["labelSelector"]["matchLabels"]["continuo.dev/site"];
        (at == turin).then_some(()).ok_or(p.to_string())
    });
    let arrival = s.status("ict-archive").unwrap()["site"]["arrival"].clone();
    assert_eq!((arrival["from"].as_str(), arrival["copy"].as_str()), (Some("milan"), Some("e2e-last")), "{arrival}");
    let o = s.get("overridepolicies.policy.karmada.io", "continuo-ict-archive").unwrap();
    assert_eq!(
        handover(&o).map(|(t, _)| t["clusterNames"].clone()),
        Some(serde_json::json!([milan])),
        "milan stays stopped"
    );
    karmada_reports(s, &s.ns, "ict-archive", turin, &ready);
    let done = eventually(Duration::from_secs(60), "the move Completed", || {
        let f = s.get("sitefailovers.continuo.dev", "archive-to-turin").ok_or("gone")?;
        (f["status"]["phase"] == "Completed").then_some(f.clone()).ok_or(f["status"].to_string())
    });
    assert_eq!(done["status"]["copy"], "e2e-last", "{done}");
    println!("planned move Completed with the last copy: {}", done["status"]["message"]);
}
