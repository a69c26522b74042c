//! Scenario 5: drills on request. A ZoneLoss drill of a WarmStandby service takes its primary's zone out for
//! that service only, measures the RTO and the lowest Ready capacity, scores them against the Zone RTO and gives
//! the zone back; a Restore drill runs the agent's restore of the newest copy into a scratch target (the kit's
//! kubelet plays the agent and reports it verified) and scores it against the Zone RTO and RPO.

use std::time::Duration;

use serde_json::Value;

use super::harness::{Operator, Scenario, eventually};

fn drill(name: &str, service: &str, scenario: &str) -> String {
    format!(
        "apiVersion: continuo.dev/v1alpha1
kind: ContinuityDrill
metadata: {{name: {name}, namespace: NAMESPACE}}
spec: {{service: {service}, scenario: {scenario}, timeout: 5m}}
"
    )
}

fn ended(s: &Scenario, name: &str) -> Value {
    eventually(Duration::from_secs(180), &format!("drill {name} to end"), || {
        let d = s.get("continuitydrill", name).ok_or("no drill")?;
        let phase = d["status"]["phase"].as_str().unwrap_or_default();
        matches!(phase, "Passed" | "Failed" | "Aborted").then(|| d["status"].clone()).ok_or(format!("{}", d["status"]))
    })
}

pub fn run() {
    let s = Scenario::new("drills");
    let ns = s.ns.clone();
    let _op = Operator::start(&s, "drills", &[]);
    s.apply(
        "apiVersion: continuo.dev/v1alpha1
kind: ResilientService
metadata: {name: shop, namespace: NAMESPACE}
spec:
  className: warm-standby
  replicas: 3
  template: {spec: {containers: [{name: app, image: registry.example/shop:1}]}}
",
    );
    s.offsite();
    s.cp.apply(&format!(
        "apiVersion: continuo.dev/v1alpha1
kind: ResilientService
metadata: {{name: desk, namespace: {ns}}}
spec:
  className: standard
  replicas: 2
  template: {{spec: {{containers: [{{name: app, image: registry.example/desk:1}}]}}}}
  backup:
    location: {ns}-offsite
    expectedDuration: 1m
    agent:
      metadata:
        annotations:
          fake-kubelet.harness/run-seconds: '4'
          fake-kubelet.harness/termination-message: '{{\"verified\":true,\"detail\":\"3 files\"}}'
      spec: {{containers: [{{name: agent, image: registry.example/agent:1}}]}}
---
apiVersion: continuo.dev/v1alpha1
kind: RecoveryPoint
metadata: {{name: desk-copy, namespace: {ns}}}
spec: {{service: desk, location: {ns}-offsite}}
"
    ));
    let at = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(2)).to_string();
    let status = serde_json::json!({"status": {"phase": "Available", "id": "snap-1", "capturedAt": at,
        "completedAt": at, "region": "region-2"}});
    s.cp.kubectl(&[
        "patch",
        "-n",
        &ns,
        "recoverypoint",
        "desk-copy",
        "--subresource=status",
        "--type=merge",
        "-p",
        &status.to_string(),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    eventually(Duration::from_secs(60), "shop Ready", || {
        let ready: usize = s.ready_by_zone("shop").values().sum();
        (ready >= 3).then_some(()).ok_or(format!("{ready}"))
    });

    s.apply(&drill("zone-out", "shop", "ZoneLoss"));
    let d = ended(&s, "zone-out");
    assert_eq!(d["phase"], "Passed", "{d}");
    assert!(d["rtoSeconds"].as_i64().is_some_and(|r| r < 900), "an RTO within the Zone RTO: {d}");
    assert!(d["zone"].is_string(), "{d}");
    eventually(Duration::from_secs(60), "the zone given back", || {
        let zones = s.status("shop")?["zones"].as_array().cloned().unwrap_or_default();
        let drilled = zones.iter().any(|z| z["role"] == "Drilled");
        (!drilled).then_some(()).ok_or(format!("{zones:?}"))
    });

    s.apply(&drill("restore", "desk", "Restore"));
    let d = ended(&s, "restore");
    assert_eq!((d["phase"].as_str(), d["reason"].as_str()), (Some("Passed"), Some("Verified")), "{d}");
    assert_eq!(d["point"], "desk-copy", "{d}");
    let jobs = s.list("jobs", "continuo.dev/action=drill");
    assert_eq!(jobs.len(), 1, "the agent's run, labelled as a drill");
}
