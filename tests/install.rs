//! The install paths: the chart's files, the plain manifests rendered from it, RBAC, security and alerts.

mod support;

use std::{collections::BTreeSet, sync::Arc};

use continuo::{
    api::ResilientService,
    controller::{Context, install_builtin_classes, reconcile},
    metrics::SERVICE_GAUGES,
    plan::Config,
};
use kube::runtime::events::Reporter;
use serde_json::{Value, json};
use support::{FakeApi, nodes};

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn docs(path: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(&read(path)).unwrap().into_iter().filter(|d| !d.is_null()).collect()
}

fn manifests() -> Vec<Value> {
    docs("deploy/continuo.yaml")
}

fn find<'a>(objs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objs.iter().filter(|o| o["kind"] == kind).collect()
}

#[test]
fn the_chart_ships_the_crds_and_classes_byte_for_byte() {
    assert!(
        read("charts/continuo/files/crds.yaml") == read("crds/continuo.yaml"),
        "cp crds/continuo.yaml charts/continuo/files/crds.yaml"
    );
    let rendered = read("deploy/continuo.yaml");
    for crd in read("crds/continuo.yaml").split("---\n").filter(|d| !d.trim().is_empty()) {
        assert!(rendered.contains(crd), "deploy/continuo.yaml must carry each CRD of crds/ verbatim");
    }
}

#[test]
fn every_object_carries_the_recommended_labels() {
    for obj in manifests() {
        let labels = &obj["metadata"]["labels"];
        for key in ["app.kubernetes.io/name", "app.kubernetes.io/part-of", "app.kubernetes.io/component"] {
            assert!(labels[key].is_string(), "{} {} lacks {key}", obj["kind"], obj["metadata"]["name"]);
        }
    }
}

#[test]
fn plain_manifests_create_a_restricted_namespace() {
    let objs = manifests();
    let ns = find(&objs, "Namespace");
    assert_eq!(ns.len(), 1);
    assert_eq!(ns[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "restricted");
}

#[test]
fn the_cluster_role_is_least_privilege() {
    let objs = manifests();
    let role = find(&objs, "ClusterRole")[0];
    for rule in role["rules"].as_array().unwrap() {
        let all: Vec<&str> = ["apiGroups", "resources", "verbs"]
            .iter()
            .flat_map(|k| rule[k].as_array().unwrap().iter().map(|v| v.as_str().unwrap()))
            .collect();
        assert!(!all.contains(&"*"), "no wildcard: {rule}");
        assert!(!all.contains(&"secrets"), "no secrets: {rule}");
        assert!(!all.contains(&"customresourcedefinitions"), "no CRD access: {rule}");
        assert!(!all.contains(&"update") && !all.contains(&"deletecollection"), "{rule}");
    }
}

#[test]
fn the_operator_pod_is_restricted_and_highly_available() {
    let objs = manifests();
    let d = find(&objs, "Deployment")[0];
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
    let zone_spread = &pod["topologySpreadConstraints"][0];
    assert_eq!(
        (zone_spread["topologyKey"].as_str(), zone_spread["whenUnsatisfiable"].as_str()),
        (Some("topology.kubernetes.io/zone"), Some("DoNotSchedule"))
    );
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    assert!(c["resources"]["requests"]["memory"].is_string() && c["resources"]["limits"]["memory"].is_string());
    let args: Vec<&str> = c["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert!(args.contains(&"--leader-election") && args.contains(&"--builtin-classes"), "{args:?}");
    let token = &pod["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"];
    assert_eq!(token["expirationSeconds"], 3600, "a short-lived token, not the automounted one");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/livez");
    assert_eq!(find(&objs, "PodDisruptionBudget")[0]["spec"]["minAvailable"], 1);
}

/// Every metric name continuo exports, as a query names it: a counter with `_total`, a histogram's series.
fn exported_metrics() -> BTreeSet<String> {
    let mut exported: BTreeSet<String> = SERVICE_GAUGES.iter().map(|(n, _)| n.to_string()).collect();
    exported.extend(continuo::metrics::SERVICE_COUNTERS.iter().map(|(n, _)| format!("{n}_total")));
    exported.extend(continuo::metrics::BLAST_RADIUS.iter().map(|(n, _)| n.to_string()));
    // Every metric the operator registers, as the exposition names it (a counter gains `_total`).
    let text = continuo::metrics::every_family().unwrap();
    for line in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let mut parts = line.split(' ');
        let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
        match kind {
            "counter" => exported.extend([format!("{name}_total")]),
            "histogram" => exported.extend(["_bucket", "_sum", "_count"].map(|s| format!("{name}{s}"))),
            _ => exported.extend([name.to_string()]),
        }
    }
    assert!(
        exported.contains("controller_runtime_reconcile_total") && exported.contains("continuo_backup_failures_total"),
        "{text}"
    );
    exported
}

/// The metrics a PromQL expression reads, once Prometheus's parser accepts it.
fn metrics_used(expr: &str) -> Result<Vec<&str>, String> {
    promql_parser::parser::parse(expr).map_err(|e| format!("Prometheus would refuse it: {e}\n{expr}"))?;
    Ok(expr
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("continuo_") || w.starts_with("controller_runtime_"))
        .collect())
}

/// A service whose ObjectivesMet is Unknown (a verdict nothing proves) is counted "not verified", never met: the
/// per-service panel reads `continuo_service_objectives_met` (1 only for True), and the stat counts False and
/// Unknown apart.
#[test]
fn the_dashboard_never_counts_an_unverified_objective_as_met() {
    let dashboard: Value = serde_json::from_str(&read("charts/continuo/files/dashboard.json")).unwrap();
    let targets: Vec<(String, String)> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .map(|t| (t["legendFormat"].as_str().unwrap_or_default().into(), t["expr"].as_str().unwrap().into()))
        .collect();
    let find = |legend: &str| targets.iter().find(|(l, _)| l == legend).map(|(_, e)| e.clone());
    let unverified = find("not verified").expect("a count of services not verified");
    assert!(unverified.contains(r#"type="ObjectivesMet",status="Unknown""#), "{unverified}");
    let not_met = find("not met").expect("a count of services not met");
    assert!(not_met.contains(r#"type="ObjectivesMet",status="False""#), "{not_met}");
    for (legend, expr) in &targets {
        assert!(
            !expr.contains("continuo_service_objectives_met") || !expr.contains("== 0"),
            "{legend}: {expr} counts Unknown as not met only by accident"
        );
    }
}

#[test]
fn every_dashboard_query_uses_metrics_continuo_exports() {
    let dashboard: Value = serde_json::from_str(&read("charts/continuo/files/dashboard.json")).unwrap();
    let exported = exported_metrics();
    let mut queries = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let used = metrics_used(expr).unwrap_or_else(|e| panic!("{}: {e}", panel["title"]));
            assert!(!used.is_empty(), "{}: {expr}", panel["title"]);
            for metric in used {
                assert!(exported.contains(metric), "{} uses {metric}, which continuo does not export", panel["title"]);
            }
            queries += 1;
        }
    }
    assert!(queries >= 10, "objectives, zones, blast radius, incidents and RTO, copies and RPO, error budget");
    let template = read("charts/continuo/templates/dashboard.yaml");
    assert!(template.contains("files/dashboard.json") && template.contains(".Values.dashboards.enabled"));
    let values = read("charts/continuo/values.yaml");
    assert!(values.contains("grafana_dashboard: \"1\""), "the label Grafana's sidecar looks for");
}

#[test]
fn every_alert_has_a_runbook_and_uses_metrics_continuo_exports() {
    let groups: Vec<Value> = serde_saphyr::from_str(&read("charts/continuo/files/alerts.yaml")).unwrap();
    let exported = exported_metrics();
    let names: Vec<&str> =
        groups[0]["rules"].as_array().unwrap().iter().map(|r| r["alert"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "ContinuoObjectivesNotMet",
            "ContinuoZoneRedundancyLost",
            "ContinuoNotReconciling",
            "ContinuoAPIUnreachable",
            "ContinuoNoLeader",
            "ContinuoRPOAtRisk",
            "ContinuoDataRPOAtRisk",
            "ContinuoBackupFailing",
            "ContinuoIncidentExceedsRTO",
            "ContinuoRecoveryExceededRTO",
            "ContinuoErrorBudgetFastBurn",
            "ContinuoErrorBudgetSlowBurn",
            "ContinuoFailureDetectionSuspended",
            "ContinuoDataNotRestored",
            "ContinuoDataDiverged",
            "ContinuoDrillOverdue",
            "ContinuoDrillFailed"
        ]
    );
    for rule in groups[0]["rules"].as_array().unwrap() {
        for key in ["summary", "description", "runbook"] {
            assert!(rule["annotations"][key].is_string(), "{} lacks {key}", rule["alert"]);
        }
        let expr = rule["expr"].as_str().unwrap();
        let used = metrics_used(expr).unwrap_or_else(|e| panic!("{}: {e}", rule["alert"]));
        assert!(!used.is_empty(), "{expr}");
        for metric in used {
            assert!(exported.contains(metric), "{} uses {metric}, which continuo does not export", rule["alert"]);
        }
    }
}

/// The verb RBAC checks for a request, and the resource it is on.
fn verb_and_resource(method: &str, path: &str, query: &str) -> (String, String, String) {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = if segs[0] == "api" { ("", &segs[2..]) } else { (segs[1], &segs[3..]) };
    let rest: &[&str] = if rest.first() == Some(&"namespaces") && rest.len() >= 3 { &rest[2..] } else { rest };
    let resource = if rest.len() >= 3 { format!("{}/{}", rest[0], rest[2]) } else { rest[0].to_string() };
    let verb = match (method, rest.len()) {
        ("GET", 1) if query.contains("watch=true") => "watch",
        ("WATCH", _) => "watch",
        ("GET", 1) => "list",
        ("GET", _) => "get",
        ("PATCH", _) => "patch",
        ("POST", _) => "create",
        ("DELETE", _) => "delete",
        (m, _) => panic!("unexpected {m}"),
    };
    (group.to_string(), resource, verb.to_string())
}

fn granted(role: &Value, group: &str, resource: &str, verb: &str) -> bool {
    role["rules"].as_array().unwrap().iter().any(|r| {
        let has = |k: &str, v: &str| r[k].as_array().unwrap().iter().any(|x| x == v);
        has("apiGroups", group) && has("resources", resource) && has("verbs", verb)
    })
}

#[tokio::test]
async fn the_cluster_role_grants_every_request_the_operator_makes_and_no_more() {
    let api = FakeApi::default();
    api.put(
        "/apis/continuo.dev/v1alpha1/continuityclasses",
        json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ContinuityClass",
        "metadata": {"name": "c"}, "spec": {"mode": "ActiveActive", "objectives": [{"scope": "Zone", "rto": "0s", "rpo": "24h"}],
            "backup": {"tiers": [{"name": "daily", "schedule": "0 1,13 * * *", "keep": {"daily": 7}},
                                 {"name": "monthly", "schedule": "0 3 1 * *", "keep": {"monthly": 6}}]}}}),
    );
    api.put(
        "/apis/continuo.dev/v1alpha1/backuplocations",
        json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "BackupLocation", "metadata": {"name": "offsite"},
            "spec": {"region": "eu-south-2"}}),
    );
    const SVCS: &str = "/apis/continuo.dev/v1alpha1/namespaces/n/resilientservices";
    api.put(SVCS, json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService", "metadata": {"name": "s", "namespace": "n"},
        "spec": {"className": "c", "replicas": 2, "service": {"ports": [{"port": 80}]},
                 "template": {"spec": {"containers": [{"name": "a", "image": "a"}]}},
                 "backup": {"location": "offsite", "agent": {"spec": {"containers": [{"name": "agent", "image": "agent"}]}}}}}));
    // A stateful service in zone c: its zone lost (recreated elsewhere from an off-zone copy), back (its claim
    // labelled diverged), then no longer used (its StatefulSet deleted, its claims kept).
    api.put(SVCS, json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService", "metadata": {"name": "st", "namespace": "n"},
        "spec": {"className": "r", "replicas": 1, "preferredZones": ["c"],
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}],
                 "template": {"spec": {"containers": [{"name": "a", "image": "a", "volumeMounts": [{"name": "data", "mountPath": "/d"}]}]}},
                 "backup": {"location": "offsite", "agent": {"spec": {"containers": [{"name": "agent", "image": "agent"}]}}}}}));
    api.put("/apis/continuo.dev/v1alpha1/continuityclasses", json!({"apiVersion": "continuo.dev/v1alpha1",
        "kind": "ContinuityClass", "metadata": {"name": "r"}, "spec": {"mode": "Restart", "objectives": [{"scope": "Zone", "rto": "1h"}]}}));
    api.put("/apis/continuo.dev/v1alpha1/namespaces/n/recoverypoints", json!({"apiVersion": "continuo.dev/v1alpha1",
        "kind": "RecoveryPoint", "metadata": {"name": "st-p1", "namespace": "n"}, "spec": {"service": "st", "location": "offsite"},
        "status": {"phase": "Available", "capturedAt": "2020-01-01T00:00:00Z", "completedAt": "2020-01-01T00:00:00Z", "region": "eu-south-2"}}));
    api.put(
        "/apis/storage.k8s.io/v1/storageclasses",
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "ebs.csi.aws.com"}),
    );
    let reporter = Reporter { controller: "continuo".into(), instance: None };
    let mut zones = vec!["a", "b", "c"];
    // Create, roll out, lose a zone (drain, then delete), drop the Service: every kind of write.
    for step in 0..8 {
        if step == 2 {
            zones.pop();
            // The stateful service is moved off c by a person: restored elsewhere from its off-zone copy.
            api.edit(SVCS, "st", |s| {
                s["spec"]["zones"] = json!(["a", "b"]);
                s["spec"].as_object_mut().unwrap().remove("preferredZones");
            });
        }
        if step == 6 {
            zones.push("c");
            api.edit(SVCS, "st", |s| s["spec"]["zones"] = json!(["a", "b", "c"]));
        }
        if step == 7 {
            api.edit(SVCS, "st", |s| s["spec"]["zones"] = json!(["a", "b"]));
        }
        if step == 1 {
            // A finished backup run to catalogue, and an old copy retention expires.
            api.put("/apis/batch/v1/namespaces/n/jobs", json!({"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": "s-backup-daily-1", "namespace": "n", "labels": {"continuo.dev/service": "s",
                    "continuo.dev/action": "backup"}, "annotations": {"continuo.dev/tiers": "daily"}},
                "status": {"startTime": "2026-11-25T01:00:00Z", "conditions": [{"type": "Complete", "status": "True"}]}}));
            api.put("/api/v1/namespaces/n/pods", json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "s-backup-daily-1-abcde", "namespace": "n", "labels": {"job-name": "s-backup-daily-1",
                    "continuo.dev/action": "backup"}},
                "status": {"containerStatuses": [{"name": "agent", "state": {"terminated": {"exitCode": 0, "message": "{\"id\": \"x\"}"}}}]}}));
            // Nine days of copies: a daily tier keeping 7 expires the two oldest.
            for day in 1..=9 {
                let (name, at) = (format!("s-p{day}"), format!("2020-01-0{day}T00:00:00Z"));
                api.put(
                    "/apis/continuo.dev/v1alpha1/namespaces/n/recoverypoints",
                    json!({"apiVersion": "continuo.dev/v1alpha1",
                    "kind": "RecoveryPoint", "metadata": {"name": name, "namespace": "n"},
                    "spec": {"service": "s", "location": "offsite", "tiers": ["daily"]},
                    "status": {"phase": "Available", "capturedAt": at, "completedAt": at}}),
                );
            }
        }
        if step == 2 {
            api.put(
                "/apis/continuo.dev/v1alpha1/namespaces/n/restorerequests",
                json!({"apiVersion": "continuo.dev/v1alpha1",
                "kind": "RestoreRequest", "metadata": {"name": "r", "namespace": "n"}, "spec": {"service": "s"}}),
            );
            api.edit("/apis/batch/v1/namespaces/n/jobs", "s-p1-delete", |j| {
                j["status"] = json!({"conditions": [{"type": "Complete", "status": "True"}]})
            });
        }
        if step == 3 {
            // A tier dropped: its CronJob is deleted.
            api.edit("/apis/continuo.dev/v1alpha1/continuityclasses", "c", |c| {
                c["spec"]["backup"]["tiers"].as_array_mut().unwrap().pop();
            });
        }
        if step == 4 {
            api.edit(SVCS, "s", |s| {
                s["spec"].as_object_mut().unwrap().remove("service");
            });
        }
        if step == 5 {
            api.put(
                "/apis/continuo.dev/v1alpha1/namespaces/n/restorerequests",
                json!({"apiVersion": "continuo.dev/v1alpha1",
                "kind": "RestoreRequest", "metadata": {"name": "r2", "namespace": "n"}, "spec": {"service": "s"}}),
            );
            // A drill, which the service's reconcile steps and records in the drill's status.
            api.put(
                "/apis/continuo.dev/v1alpha1/namespaces/n/continuitydrills",
                json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ContinuityDrill",
                "metadata": {"name": "d", "namespace": "n"}, "spec": {"service": "s", "scenario": "ZoneLoss"}}),
            );
        }
        let svc: ResilientService = serde_json::from_value(api.get(SVCS, "s").unwrap()).unwrap();
        let ctx =
            Arc::new(Context::new(api.client(), api.caches(&nodes(&zones, 1)), Config::default(), reporter.clone()));
        if step == 5 {
            // Its run exists already, and the cache is behind: continuo reads it back instead of applying it.
            api.put(
                "/apis/batch/v1/namespaces/n/jobs",
                json!({"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": "r2-restore", "namespace": "n", "annotations": {"continuo.dev/for-uid": "uid-r2"},
                    "labels": {"continuo.dev/service": "s", "continuo.dev/action": "restore"}}}),
            );
        }
        reconcile(Arc::new(svc), ctx.clone()).await.unwrap();
        let stateful: ResilientService = serde_json::from_value(api.get(SVCS, "st").unwrap()).unwrap();
        reconcile(Arc::new(stateful), ctx).await.unwrap();
        api.roll_out("/apis/apps/v1/namespaces/n/deployments");
        api.run_stateful_sets("n", |_| true);
    }
    install_builtin_classes(&api.client()).await.unwrap();
    assert!(
        api.writes().iter().any(|(m, p)| m == "DELETE" && p.contains("/deployments/")),
        "the scenario deletes a drained zone"
    );
    assert!(api.writes().iter().any(|(m, p)| m == "DELETE" && p.contains("/services/")), "and the Service");
    assert!(api.writes().iter().any(|(m, p)| m == "DELETE" && p.contains("/statefulsets/")), "and a StatefulSet");
    assert!(
        api.writes().iter().any(|(m, p)| m == "PATCH" && p.contains("/persistentvolumeclaims/")),
        "and labels a diverged claim"
    );
    assert!(api.writes().iter().any(|(m, p)| m == "DELETE" && p.contains("/cronjobs/")), "and a CronJob");
    assert!(api.writes().iter().any(|(m, p)| m == "DELETE" && p.contains("/recoverypoints/")), "and an expired point");
    assert_eq!(
        api.get("/apis/continuo.dev/v1alpha1/namespaces/n/restorerequests", "r2").unwrap()["status"]["phase"],
        "Running",
        "a run found already created is taken as the run"
    );

    let objs = manifests();
    let role = find(&objs, "ClusterRole")[0];
    let mut used = BTreeSet::new();
    for (method, path, query) in api.requests() {
        let (group, resource, verb) = verb_and_resource(&method, &path, &query);
        assert!(granted(role, &group, &resource, &verb), "{verb} {group}/{resource} ({method} {path}) is not granted");
        used.insert((group, resource, verb));
    }
    // Watches (from the runtime, not the reconcile), create-through-apply and the Recorder's patch of a recurring
    // Event (kube-runtime counts a series that way) are granted on purpose.
    for rule in role["rules"].as_array().unwrap() {
        for g in rule["apiGroups"].as_array().unwrap() {
            for r in rule["resources"].as_array().unwrap() {
                for v in rule["verbs"].as_array().unwrap() {
                    let key = (
                        g.as_str().unwrap().to_string(),
                        r.as_str().unwrap().to_string(),
                        v.as_str().unwrap().to_string(),
                    );
                    let why = used.contains(&key)
                        || matches!(key.2.as_str(), "watch" | "list" | "create")
                        || key == ("events.k8s.io".into(), "events".into(), "patch".into());
                    assert!(why, "granted but never used: {key:?}");
                }
            }
        }
    }
}

/// The running operator's every request, its watches included, with CloudNativePG and VolSync objects to read:
/// each is granted, and the data layers are only read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_role_grants_every_watch_of_the_running_operator_and_only_reads_the_data_layers() {
    let api = support::cluster("invoicing");
    api.put("/apis/continuo.dev/v1alpha1/namespaces/invoicing/resilientservices", json!({
        "apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService", "metadata": {"name": "s", "namespace": "invoicing"},
        "spec": {"className": "active-active", "replicas": 3, "template": {"spec": {"containers": [{"name": "a", "image": "a"}]}},
                 "data": [{"name": "db", "cloudNativePG": {"cluster": "db"}},
                          {"name": "files", "volSync": {"replicationSource": "files", "destinationZone": "x"}}]}}));
    api.put(
        "/apis/postgresql.cnpg.io/v1/namespaces/invoicing/clusters",
        json!({"apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster", "metadata": {"name": "db", "namespace": "invoicing"}, "spec": {"instances": 1}}),
    );
    api.put(
        "/apis/volsync.backube/v1alpha1/namespaces/invoicing/replicationsources",
        json!({
        "apiVersion": "volsync.backube/v1alpha1", "kind": "ReplicationSource",
        "metadata": {"name": "files", "namespace": "invoicing"}, "spec": {"trigger": {"schedule": "0 * * * *"}}}),
    );
    let admin = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let operator = tokio::spawn(continuo::controller::run(api.client(), support::operator_settings(admin)));
    let judged = || {
        api.get("/apis/continuo.dev/v1alpha1/namespaces/invoicing/resilientservices", "s").is_some_and(|s| {
            s["status"]["data"].as_array().is_some_and(|d| d.len() == 2 && d[0]["kind"] == "CloudNativePG")
        })
    };
    let start = std::time::Instant::now();
    while !judged() && start.elapsed() < std::time::Duration::from_secs(20) {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(judged(), "the service was never judged on its data layers");
    operator.abort();
    let objs = manifests();
    let role = find(&objs, "ClusterRole")[0];
    let roles = find(&objs, "Role");
    let mut data_layer_verbs = BTreeSet::new();
    for (method, path, query) in api.requests() {
        let (group, resource, verb) = verb_and_resource(&method, &path, &query);
        // The namespaced Roles (node leases in kube-node-lease) grant in their namespace only.
        let by_role = roles.iter().any(|r| {
            let ns = r["metadata"]["namespace"].as_str().unwrap();
            path.contains(&format!("/namespaces/{ns}/")) && granted(r, &group, &resource, &verb)
        });
        assert!(
            by_role || granted(role, &group, &resource, &verb),
            "{verb} {group}/{resource} ({method} {path}) is not granted"
        );
        if group == "postgresql.cnpg.io" || group == "volsync.backube" {
            data_layer_verbs.insert(verb);
        }
    }
    assert_eq!(data_layer_verbs, BTreeSet::from(["list".to_string(), "watch".to_string()]), "read, never written");
    for (group, resource) in [("postgresql.cnpg.io", "clusters"), ("volsync.backube", "replicationsources")] {
        for verb in ["get", "create", "patch", "update", "delete"] {
            assert!(!granted(role, group, resource, verb), "{verb} {group}/{resource} is granted");
        }
    }
}

#[test]
fn node_leases_are_readable_only_in_kube_node_lease_and_only_to_list_and_watch() {
    let objs = manifests();
    let role =
        find(&objs, "Role").into_iter().find(|r| r["metadata"]["namespace"] == "kube-node-lease").expect("a Role");
    assert_eq!(
        role["rules"],
        json!([{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["list", "watch"]}])
    );
    let binding = find(&objs, "RoleBinding")
        .into_iter()
        .find(|b| b["metadata"]["namespace"] == "kube-node-lease")
        .expect("a RoleBinding");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    let account = find(&objs, "ServiceAccount")[0];
    assert_eq!(binding["subjects"][0]["name"], account["metadata"]["name"]);
    assert_eq!(binding["subjects"][0]["namespace"], account["metadata"]["namespace"]);
    // The ClusterRole grants no lease anywhere: the leader lease is a Role of its own, by name.
    assert!(!granted(find(&objs, "ClusterRole")[0], "coordination.k8s.io", "leases", "list"));
}

#[test]
fn everything_in_deploy_is_a_kubernetes_object_kubectl_can_apply() {
    let dir = format!("{}/deploy", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        for doc in docs(&format!("deploy/{name}")) {
            assert!(
                doc["apiVersion"].is_string() && doc["kind"].is_string(),
                "deploy/{name} holds a non-object: {doc}"
            );
        }
    }
}
