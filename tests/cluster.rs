//! End-to-end on a real Kubernetes control plane (API server, controller manager, scheduler, etcd of 1.36, with
//! the kit's fake kubelets in three zones): the real `continuo run`, installed as a user installs it and running
//! under the chart's ServiceAccount, judged from outside through the API.
//!
//! Ignored in a plain `cargo nextest run` (they need the control plane): CI runs them with
//! `cargo nextest run --run-ignored only --test cluster` (docs/src/development/testing.md). They share one control plane and run
//! one at a time (`.config/nextest.toml`, test group `control-plane`); each scenario has its own namespace, and
//! every zone it cuts is brought back even when it fails.

#[path = "cluster/backups.rs"]
mod backups;
#[path = "cluster/drills.rs"]
mod drills;
#[path = "cluster/harness.rs"]
mod harness;
#[path = "cluster/restart.rs"]
mod restart;
#[path = "cluster/sites.rs"]
mod sites;
#[path = "cluster/stateful.rs"]
mod stateful;

use std::time::{Duration, Instant};

use harness::{Operator, Scenario, eventually};
use serde_json::Value;

const WHY: &str = "end-to-end: needs a real control plane (../shared/control-plane, or CONTINUO_E2E_KUBECONFIG)";

fn stateless(name: &str, class: &str, replicas: i32) -> String {
    format!(
        "apiVersion: continuo.dev/v1alpha1
kind: ResilientService
metadata: {{name: {name}, namespace: NAMESPACE}}
spec:
  className: {class}
  replicas: {replicas}
  template: {{spec: {{containers: [{{name: app, image: registry.example/{name}:1}}]}}}}
"
    )
}

/// Ready pods of `service` over all zones but `except`.
fn ready_outside(s: &Scenario, service: &str, except: &str) -> usize {
    s.ready_by_zone(service).iter().filter(|(z, _)| z.as_str() != except).map(|(_, n)| n).sum()
}

fn wait_ready(s: &Scenario, service: &str, replicas: usize, limit: Duration) {
    eventually(limit, &format!("{service} Ready"), || {
        let (status, reason, message) = s.condition(service, "Ready")?;
        let ready: usize = s.ready_by_zone(service).values().sum();
        (status == "True" && ready >= replicas).then_some(()).ok_or(format!("{reason}: {message}; {ready} Ready pods"))
    });
}

#[test]
#[ignore = "end-to-end: needs a real control plane (../shared/control-plane, or CONTINUO_E2E_KUBECONFIG)"]
fn e2e_1_install_is_accepted_and_the_operator_needs_no_more_than_the_charts_rbac() {
    let s = Scenario::new("install");
    // The CRDs (with their CEL rules) were accepted by the API server and the built-in classes created.
    let classes = s.cp.kubectl(&["get", "continuityclass", "active-active", "warm-standby", "standard", "-o", "name"]);
    assert_eq!(classes.unwrap().lines().count(), 3, "{WHY}");
    // A spec the CEL rules refuse is refused at apply, with the rule's message.
    let bad = stateless("bad", "standard", 2).replace("replicas: 2", "replicas: 2\n  zones: [zone-a, zone-a]");
    let refused = s.cp.kubectl_in(&["apply", "--server-side", "-f", "-"], Some(&bad.replace("NAMESPACE", &s.ns)));
    assert!(refused.is_err(), "a duplicated zone is refused at apply");

    let before = s.cp.kit.as_ref().map(|_| s.cp.forbidden_requests().len());
    let op = Operator::start(&s, "install", &[]);
    op.wait_leading(s.cp, Duration::from_secs(30));
    s.apply(&stateless("shop", "warm-standby", 2));
    s.apply(&stateless("api", "active-active", 3));
    wait_ready(&s, "shop", 2, Duration::from_secs(60));
    wait_ready(&s, "api", 3, Duration::from_secs(60));
    let (status, _) = op.http_get("/readyz").unwrap();
    assert!(status.contains("200"), "{status}");
    // Settled: the operator is idle (no write loop) and was never refused.
    let settled = s.cp.kit.as_ref().map(|_| s.cp.operator_requests());
    std::thread::sleep(Duration::from_secs(5));
    if let (Some(before), Some(settled)) = (before, settled) {
        let forbidden = s.cp.forbidden_requests();
        assert_eq!(forbidden.len(), before, "requests the chart's RBAC refused: {:?}", &forbidden[before..]);
        let idle = s.cp.operator_requests() - settled;
        assert!(idle <= 2, "{idle} requests in 5 s of a steady state");
    } else {
        println!("audit checks NOT RUN: the cluster is not the kit's, which keeps the audit log");
    }
}

/// The zone's last lease renewal, as the API server recorded it: when its loss began.
fn last_renewal(s: &Scenario, zone: &str) -> jiff::Timestamp {
    let nodes = s.cp.list("", "nodes", &format!("topology.kubernetes.io/zone={zone}"));
    nodes
        .iter()
        .filter_map(|n| s.cp.get("kube-node-lease", "lease", n["metadata"]["name"].as_str()?))
        .filter_map(|l| l["spec"]["renewTime"].as_str()?.parse::<jiff::Timestamp>().ok())
        .max()
        .expect("the zone's leases")
}

#[test]
#[ignore = "end-to-end: needs a real control plane (../shared/control-plane, or CONTINUO_E2E_KUBECONFIG)"]
fn e2e_2_a_zone_loss_is_failed_over_within_the_rto_it_records_and_active_active_never_drops() {
    let s = Scenario::new("zoneloss");
    let _op = Operator::start(&s, "zoneloss", &["--zone-hold-down", "30s"]);
    s.apply(&stateless("shop", "warm-standby", 3));
    s.apply(&stateless("api", "active-active", 3));
    wait_ready(&s, "shop", 3, Duration::from_secs(60));
    wait_ready(&s, "api", 3, Duration::from_secs(60));
    let primary = s.status("shop").unwrap()["primaryZone"].as_str().expect("a primary zone").to_string();

    s.cp.zone("down", &primary);
    let cut = Instant::now();
    let mut lowest_active = usize::MAX;
    let seen = eventually(Duration::from_secs(120), "3 Ready outside the lost zone", || {
        lowest_active = lowest_active.min(ready_outside(&s, "api", &primary));
        // When the third pod outside the lost zone turned Ready, by its own Ready condition.
        let mut since: Vec<jiff::Timestamp> =
            s.ready_pods("shop").into_iter().filter(|(z, _)| *z != primary).filter_map(|(_, t)| t).collect();
        since.sort();
        since.get(2).copied().ok_or(format!("{} Ready outside {primary}", since.len()))
    });
    let began = last_renewal(&s, &primary);
    let seen_rto = seen.duration_since(began).as_secs();
    println!(
        "zone {primary} cut; {}s after the cut, {seen_rto}s after its last renewal, 3 Ready elsewhere",
        cut.elapsed().as_secs()
    );
    let incident = eventually(Duration::from_secs(30), "the incident recorded", || {
        let incidents = s.status("shop")?["incidents"].as_array().cloned().unwrap_or_default();
        let i = incidents.into_iter().find(|i| i["scope"] == "Zone" && i["subject"] == primary.as_str());
        i.filter(|i| i["rtoSeconds"].is_i64()).ok_or("no closed zone incident yet".to_string())
    });
    let recorded = incident["rtoSeconds"].as_i64().unwrap();
    assert!((recorded - seen_rto).abs() <= 3, "recorded RTO {recorded}s, seen {seen_rto}s: {incident}");
    assert_eq!(incident["withinRto"], true, "{incident}");
    // ActiveActive: the zones left always held N Ready between them.
    assert!(lowest_active >= 3, "ActiveActive fell to {lowest_active} Ready outside the lost zone");
    s.cp.zone("up", &primary);
}

#[test]
#[ignore = "end-to-end: needs a real control plane (../shared/control-plane, or CONTINUO_E2E_KUBECONFIG)"]
fn e2e_3_backups_run_by_the_real_cronjob_controller_are_kept_restored_and_judged() {
    backups::run();
}

#[test]
#[ignore = "end-to-end: needs a real control plane (../shared/control-plane, or CONTINUO_E2E_KUBECONFIG)"]
fn e2e_5_a_zone_loss_drill_and_a_restore_drill_are_scored() {
    drills::run();
}

#[test]
#[ignore = "end-to-end: needs a real control plane (../shared/control-plane, or CONTINUO_E2E_KUBECONFIG)"]
fn e2e_6_an_api_server_restart_under_20_services_loses_no_change() {
    restart::run();
}

#[test]
#[ignore = "end-to-end: needs a real control plane (../shared/control-plane, or CONTINUO_E2E_KUBECONFIG)"]
fn e2e_4_a_stateful_replica_is_restored_elsewhere_and_its_zone_returns_running_nothing() {
    stateful::run();
}

#[test]
#[ignore = "end-to-end: needs a real control plane (../shared/control-plane, or CONTINUO_E2E_KUBECONFIG)"]
fn e2e_7_a_follower_takes_over_when_the_leader_dies() {
    let s = Scenario::new("leader");
    let mut first = Operator::start(&s, "leader-one", &["--lease-duration", "10s"]);
    first.wait_leading(s.cp, Duration::from_secs(30));
    let second = Operator::start(&s, "leader-two", &["--lease-duration", "10s"]);
    s.apply(&stateless("shop", "standard", 2));
    wait_ready(&s, "shop", 2, Duration::from_secs(60));
    first.kill();
    let killed = Instant::now();
    second.wait_leading(s.cp, Duration::from_secs(15));
    println!("the follower took over {}s after the leader was killed", killed.elapsed().as_secs());
    // The new leader acts: a change is applied.
    s.apply(&stateless("shop", "standard", 4));
    eventually(Duration::from_secs(20), "4 replicas", || {
        let total: i64 = s
            .list("deployments", "continuo.dev/service=shop")
            .iter()
            .map(|d| d["spec"]["replicas"].as_i64().unwrap_or(0))
            .sum();
        (total >= 4).then_some(()).ok_or(format!("{total} replicas"))
    });
}

#[test]
#[ignore = "end-to-end: needs a real control plane (../shared/control-plane, or CONTINUO_E2E_KUBECONFIG)"]
fn e2e_8_the_monthly_report_from_the_cluster_and_from_the_operator() {
    let s = Scenario::new("report");
    let op = Operator::start(&s, "report", &[]);
    s.apply(&stateless("portal", "warm-standby", 2));
    wait_ready(&s, "portal", 2, Duration::from_secs(60));
    let month = jiff::Timestamp::now().strftime("%Y-%m").to_string();
    // The month so far counts time as it passes: a service Ready for under a second has none yet.
    let mine = eventually(Duration::from_secs(20), "the service's month so far in the report", || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_continuo"))
            .args(["report", "--month", &month, "-o", "json"])
            .env("KUBECONFIG", &s.cp.kubeconfig)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let mine = report["services"].as_array().unwrap().iter().find(|r| r["namespace"] == s.ns.as_str()).cloned();
        let mine = mine.ok_or("the service is not in the report")?;
        let observed = mine["availability"]["observedSeconds"].as_i64().unwrap_or(0);
        (observed > 0).then_some(mine.clone()).ok_or(format!("{}", mine["availability"]))
    });
    assert_eq!(mine["name"], "portal");
    assert_eq!(mine["availability"]["availability"], "100.000", "{}", mine["availability"]);
    let (status, body) = eventually(Duration::from_secs(20), "/report", || op.http_get("/report"));
    assert!(status.contains("200"), "{status}");
    assert!(body.contains("portal") && body.contains("<svg"), "the page names the service and draws its charts");
}

#[test]
#[ignore = "end-to-end: needs a real control plane (../shared/control-plane, or CONTINUO_E2E_KUBECONFIG)"]
fn e2e_9_karmadas_crds_accept_the_site_policies_and_a_declared_failover_is_recorded() {
    sites::run();
}
