//! Scenario 6: the API server restarted (killed, then started again by the kit) under 20 services: the operator's
//! watches come back by themselves, and a change made after the restart is applied within 10 s.

use std::time::{Duration, Instant};

use super::harness::{Operator, Scenario, eventually};

fn replicas(s: &Scenario, service: &str) -> i64 {
    let sets = s.list("deployments", &format!("continuo.dev/service={service}"));
    sets.iter().map(|d| d["spec"]["replicas"].as_i64().unwrap_or(0)).sum()
}

pub fn run() {
    let s = Scenario::new("restart");
    let _op = Operator::start(&s, "restart", &[]);
    let services: String = (0..20)
        .map(|i| {
            format!(
                "apiVersion: continuo.dev/v1alpha1
kind: ResilientService
metadata: {{name: svc-{i}, namespace: NAMESPACE}}
spec:
  className: standard
  replicas: 2
  template: {{spec: {{containers: [{{name: app, image: registry.example/svc:1}}]}}}}
"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n");
    s.apply(&services);
    eventually(Duration::from_secs(120), "20 services Ready", || {
        let ready = (0..20).filter(|i| s.condition(&format!("svc-{i}"), "Ready").is_ok_and(|c| c.0 == "True")).count();
        (ready == 20).then_some(()).ok_or(format!("{ready} Ready"))
    });

    s.cp.restart_api_server();
    eventually(Duration::from_secs(60), "the API server back", || s.cp.kubectl(&["get", "--raw", "/readyz"]));
    let changed = Instant::now();
    s.apply(&services.replace(
        "name: svc-7, namespace: NAMESPACE}\nspec:\n  className: standard\n  replicas: 2",
        "name: svc-7, namespace: NAMESPACE}\nspec:\n  className: standard\n  replicas: 5",
    ));
    eventually(Duration::from_secs(10), "the change applied within 10 s", || {
        let n = replicas(&s, "svc-7");
        (n >= 5).then_some(()).ok_or(format!("{n} replicas"))
    });
    println!("applied {} ms after the change", changed.elapsed().as_millis());
}
