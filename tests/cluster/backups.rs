//! Scenario 3: backups run by the real CronJob and Job controllers. A class copies every minute and keeps the
//! last two; the agent (the kit's kubelet plays it: each run exits 0 with the report continuo reads) is catalogued
//! run after run; retention's delete runs remove the old copies and none comes back; a restore request succeeds;
//! then the agent starts failing and the RPO verdict turns False once the newest copy is older than the RPO.

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use super::harness::{Operator, Scenario, eventually};

const REPORT: &str = r#"{"id":"snap-{uid}","sizeBytes":1024}"#;

fn objects(ns: &str, exit_code: u8) -> String {
    format!(
        "apiVersion: continuo.dev/v1alpha1
kind: ContinuityClass
metadata: {{name: {ns}-minutely}}
spec:
  mode: Restart
  minZones: 2
  objectives: [{{scope: Node, rto: 15m}}, {{scope: Zone, rto: 60m, rpo: 100s}}]
  backup:
    timeZone: UTC
    tiers: [{{name: minutely, schedule: '* * * * *', keep: {{last: 2}}}}]
---
apiVersion: continuo.dev/v1alpha1
kind: ResilientService
metadata: {{name: ledger, namespace: {ns}}}
spec:
  className: {ns}-minutely
  replicas: 2
  template: {{spec: {{containers: [{{name: app, image: registry.example/ledger:1}}]}}}}
  backup:
    location: {ns}-offsite
    expectedDuration: 10s
    agent:
      metadata:
        annotations:
          fake-kubelet.harness/run-seconds: '3'
          fake-kubelet.harness/exit-code: '{exit_code}'
          fake-kubelet.harness/termination-message: '{REPORT}'
      spec: {{containers: [{{name: agent, image: registry.example/agent:1}}]}}
"
    )
}

fn points(s: &Scenario) -> BTreeSet<String> {
    let all = s.list("recoverypoints", "");
    all.iter().filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string)).collect()
}

fn zone_rpo(s: &Scenario) -> Result<(String, String, String), String> {
    let status = s.status("ledger")?;
    let o = status["objectives"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["scope"] == "Zone" && o["objective"] == "RPO").cloned());
    let o = o.ok_or("no Zone RPO verdict yet")?;
    let f = |k: &str| o[k].as_str().unwrap_or_default().to_string();
    Ok((f("status"), f("reason"), f("message")))
}

pub fn run() {
    let s = Scenario::new("backups");
    let ns = s.ns.clone();
    let _op = Operator::start(&s, "backups", &[]);
    s.offsite();
    s.cp.apply(&objects(&ns, 0));
    let _cleanup = ClusterScoped(&s);

    // Five copies catalogued, retention keeping two: every copy deleted stays deleted.
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut gone: BTreeSet<String> = BTreeSet::new();
    let start = Instant::now();
    eventually(Duration::from_secs(420), "five copies catalogued", || {
        let now = points(&s);
        let back: Vec<&String> = now.intersection(&gone).collect();
        assert!(back.is_empty(), "deleted copies came back: {back:?}");
        gone.extend(seen.difference(&now).cloned());
        seen.extend(now.iter().cloned());
        (seen.len() >= 5).then_some(()).ok_or(format!("{} copies so far ({}s)", seen.len(), start.elapsed().as_secs()))
    });
    eventually(Duration::from_secs(90), "retention down to the last two", || {
        let now = points(&s);
        assert!(now.intersection(&gone).next().is_none(), "a deleted copy came back");
        gone.extend(seen.difference(&now).cloned());
        seen.extend(now.iter().cloned());
        (now.len() <= 3 && gone.len() >= 2).then_some(()).ok_or(format!("{} kept, {} deleted", now.len(), gone.len()))
    });
    let (status, reason, message) = zone_rpo(&s).unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("True", "RPOMet"), "{message}");

    // A restore of the newest copy, by request.
    s.apply(
        "apiVersion: continuo.dev/v1alpha1
kind: RestoreRequest
metadata: {name: last-night, namespace: NAMESPACE}
spec: {service: ledger}
",
    );
    eventually(Duration::from_secs(90), "the restore to succeed", || {
        let r = s.get("restorerequest", "last-night").ok_or("gone")?;
        let phase = r["status"]["phase"].as_str().unwrap_or_default().to_string();
        (phase == "Succeeded").then_some(()).ok_or(format!("{}", r["status"]))
    });

    // The agent starts failing: once the newest copy is older than the RPO, the verdict says so.
    s.cp.apply(&objects(&ns, 1));
    eventually(Duration::from_secs(240), "the RPO verdict False", || {
        let (status, reason, message) = zone_rpo(&s)?;
        (status == "False").then_some(reason.clone()).ok_or(format!("{status} {reason}: {message}"))
    });
    let after = points(&s);
    assert!(after.intersection(&gone).next().is_none(), "no deleted copy came back");
}

/// Deletes the scenario's cluster-wide objects when it ends.
struct ClusterScoped<'a>(&'a Scenario);

impl Drop for ClusterScoped<'_> {
    fn drop(&mut self) {
        let (cp, ns) = (self.0.cp, &self.0.ns);
        let _ = cp.kubectl(&["delete", "continuityclass", &format!("{ns}-minutely"), "--wait=false"]);
    }
}
