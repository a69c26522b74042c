//! Prometheus metrics (OpenMetrics, via prometheus-client).
//!
//! - Reconcile metrics named like controller-runtime's, so existing dashboards work:
//!   `controller_runtime_reconcile_total{controller,result}`, `controller_runtime_reconcile_errors_total{controller,kind}`,
//!   `controller_runtime_reconcile_time_seconds{controller}`; and `continuo_leader` (1 on the replica that writes).
//! - Per service, read from the cache at scrape time (so a deleted service leaves no stale series): replicas per
//!   zone, zone eligibility and health, conditions, objectives and their declared targets. Labels are the
//!   service's namespace and name, zone, scope and condition type — bounded by the number of services and
//!   zones, never by anything a user types freely.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use kube::runtime::reflector::Store;
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric},
    metrics::{
        MetricType,
        counter::{ConstCounter, Counter},
        family::Family,
        gauge::{ConstGauge, Gauge},
        histogram::Histogram,
    },
    registry::Registry,
};

use crate::api::ResilientService;

mod blast;
mod service;
pub mod sites;
pub use blast::BLAST_RADIUS;
use service::samples_into;
pub use service::{SERVICE_COUNTERS, SERVICE_GAUGES, Sample, samples};

const CONTROLLER: &str = "resilientservice";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    controller: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    controller: &'static str,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TierLabels {
    tier: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ControllerLabels {
    controller: &'static str,
}

/// The operator's own metrics.
#[derive(Debug)]
pub struct Metrics {
    reconciles: Family<ResultLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    duration: Family<ControllerLabels, Histogram>,
    /// 1 while this replica holds the lease (or when leader election is off).
    pub leader: Gauge,
    /// 0 while reconciles find the Kubernetes API unreachable.
    pub api_reachable: Gauge,
    /// Copies catalogued, and backup runs that failed, by tier (a copy shared by two tiers counts in both).
    copies: Family<TierLabels, Counter>,
    failures: Family<TierLabels, Counter>,
    /// Restore durations, by outcome.
    restores: Family<OutcomeLabels, Histogram>,
    /// Measured recovery times of incidents, by scope; and incidents by scope and whether they kept their RTO.
    recoveries: Family<ScopeLabels, Histogram>,
    incidents: Family<IncidentLabels, Counter>,
    /// Data lost by incidents that restored a copy (stateful services), by scope.
    data_loss: Family<ScopeLabels, Histogram>,
    /// Failure detection: nodes whose leases are silent, zones withheld, and 1 while suspicions are set aside.
    pub suspect_nodes: Gauge,
    pub zones_withheld: Gauge,
    detection_guard: Family<GuardLabels, Gauge>,
    /// Drills ended, by scenario and result; and how long they ran.
    drills: Family<DrillLabels, Counter>,
    drill_durations: Family<ScenarioLabels, Histogram>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DrillLabels {
    scenario: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScenarioLabels {
    scenario: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScopeLabels {
    scope: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IncidentLabels {
    scope: &'static str,
    within_rto: &'static str,
    /// `unknown` when the incident lost no data continuo measured (nothing was restored).
    within_rpo: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GuardLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            reconciles: Family::default(),
            errors: Family::default(),
            duration: Family::new_with_constructor(|| {
                Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
            }),
            leader: Gauge::default(),
            api_reachable: Gauge::default(),
            copies: Family::default(),
            failures: Family::default(),
            restores: Family::new_with_constructor(|| {
                Histogram::new([60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0])
            }),
            recoveries: Family::new_with_constructor(|| {
                Histogram::new([0.0, 5.0, 15.0, 25.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0])
            }),
            incidents: Family::default(),
            data_loss: Family::new_with_constructor(|| {
                Histogram::new([0.0, 60.0, 900.0, 3600.0, 14400.0, 43200.0, 86400.0, 172800.0, 604800.0])
            }),
            suspect_nodes: Gauge::default(),
            zones_withheld: Gauge::default(),
            detection_guard: Family::default(),
            drills: Family::default(),
            drill_durations: Family::new_with_constructor(|| {
                Histogram::new([0.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0])
            }),
        }
    }
}

impl Metrics {
    /// Registers these metrics, and the per-service collector reading `services`, in a new registry.
    pub fn registry(self: &Arc<Self>, services: Option<Store<ResilientService>>) -> Registry {
        let mut r = Registry::default();
        r.register("controller_runtime_reconcile", "Reconciliations, by result", self.reconciles.clone());
        r.register("controller_runtime_reconcile_errors", "Failed reconciliations, by error kind", self.errors.clone());
        r.register(
            "controller_runtime_reconcile_time_seconds",
            "Time spent in one reconciliation",
            self.duration.clone(),
        );
        r.register("continuo_leader", "1 while this replica holds the leader lease", self.leader.clone());
        r.register(
            "continuo_api_reachable",
            "0 while reconciles find the Kubernetes API unreachable (they are retried every few seconds)",
            self.api_reachable.clone(),
        );
        r.register("continuo_backup_copies", "Copies catalogued as recovery points, by tier", self.copies.clone());
        r.register("continuo_backup_failures", "Backup runs that failed, by tier", self.failures.clone());
        r.register(
            "continuo_restore_duration_seconds",
            "Time from a restore's start to its end",
            self.restores.clone(),
        );
        r.register(
            "continuo_recovery_seconds",
            "Measured recovery time of each incident (0 when capacity never dropped), by scope",
            self.recoveries.clone(),
        );
        r.register(
            "continuo_incidents",
            "Incidents ended, by scope and whether they kept their RTO and RPO",
            self.incidents.clone(),
        );
        r.register(
            "continuo_data_loss_seconds",
            "Data lost by each incident that restored a copy: the loss's beginning − the copy's capture time",
            self.data_loss.clone(),
        );
        r.register(
            "continuo_node_leases_suspect",
            "Nodes whose leases continuo has not seen renewed within the timeout",
            self.suspect_nodes.clone(),
        );
        r.register(
            "continuo_zones_withheld",
            "Zones lost or recovering (within their hold-down)",
            self.zones_withheld.clone(),
        );
        r.register("continuo_drills", "Drills ended, by scenario and result", self.drills.clone());
        r.register(
            "continuo_drill_duration_seconds",
            "How long each drill ran, from its start to its verdict",
            self.drill_durations.clone(),
        );
        r.register(
            "continuo_failure_detection_guard",
            "1 while lease suspicions are set aside (LeaseWatchStale, AllZonesSilent)",
            self.detection_guard.clone(),
        );
        if let Some(store) = services {
            r.register_collector(Box::new(ServiceCollector { store }));
        }
        r
    }

    pub fn copy_catalogued(&self, tiers: &[String]) {
        for t in tiers_or_on_demand(tiers) {
            self.copies.get_or_create(&TierLabels { tier: t }).inc();
        }
    }

    /// An incident ended: its measured recovery time, and whether it kept its RTO.
    pub fn incident_ended(&self, i: &crate::api::Incident) {
        let scope = i.scope.as_str();
        self.recoveries.get_or_create(&ScopeLabels { scope }).observe(i.rto_seconds.unwrap_or(0) as f64);
        let word = |b: Option<bool>| match b {
            Some(true) => "true",
            Some(false) => "false",
            None => "unknown",
        };
        let (within_rto, within_rpo) = (word(i.within_rto), word(i.within_rpo));
        self.incidents.get_or_create(&IncidentLabels { scope, within_rto, within_rpo }).inc();
        if let Some(lost) = i.data_loss_seconds {
            self.data_loss.get_or_create(&ScopeLabels { scope }).observe(lost as f64);
        }
    }

    /// What failure detection concluded.
    pub fn detected(&self, d: &crate::failover::Detection) {
        self.suspect_nodes.set(d.suspect_nodes as i64);
        self.zones_withheld.set(d.zones.len() as i64);
        for reason in ["LeaseWatchStale", "AllZonesSilent"] {
            let on = d.guard.as_ref().is_some_and(|g| g.reason() == reason);
            self.detection_guard.get_or_create(&GuardLabels { reason }).set(i64::from(on));
        }
    }

    /// A drill ended: `result` is its phase (`Passed`, `Failed`, `Aborted`), `seconds` how long it ran.
    pub fn drill_ended(&self, scenario: &'static str, result: &'static str, seconds: f64) {
        self.drills.get_or_create(&DrillLabels { scenario, result }).inc();
        self.drill_durations.get_or_create(&ScenarioLabels { scenario }).observe(seconds);
    }

    pub fn restore_took(&self, seconds: f64, succeeded: bool) {
        let outcome = if succeeded { "succeeded" } else { "failed" };
        self.restores.get_or_create(&OutcomeLabels { outcome }).observe(seconds);
    }

    pub fn copy_failed(&self, tiers: &[String]) {
        for t in tiers_or_on_demand(tiers) {
            self.failures.get_or_create(&TierLabels { tier: t }).inc();
        }
    }

    /// Records one reconcile: its outcome (`success`, `error`, or `skipped` on a follower) and duration.
    pub fn observe(&self, result: &'static str, error_kind: Option<&'static str>, took: Duration) {
        self.reconciles.get_or_create(&ResultLabels { controller: CONTROLLER, result }).inc();
        if let Some(kind) = error_kind {
            self.errors.get_or_create(&ErrorLabels { controller: CONTROLLER, kind }).inc();
        }
        self.duration.get_or_create(&ControllerLabels { controller: CONTROLLER }).observe(took.as_secs_f64());
    }
}

fn tiers_or_on_demand(tiers: &[String]) -> Vec<String> {
    if tiers.is_empty() { vec!["on-demand".into()] } else { tiers.to_vec() }
}

/// Reads the services from the controller's cache on each scrape.
struct ServiceCollector {
    store: Store<ResilientService>,
}

impl fmt::Debug for ServiceCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServiceCollector")
    }
}

impl Collector for ServiceCollector {
    /// One family at a time, each service's samples computed again for each family: a scrape holds one
    /// service's samples at a time, not every service's (about 46 per service: 9 MB at 1,000 services).
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let services = self.store.state();
        let now = k8s_openapi::jiff::Timestamp::now();
        let mut one = Vec::new();
        let kinds = SERVICE_GAUGES.iter().map(|g| (g, MetricType::Gauge));
        for ((name, help), kind) in kinds.chain(SERVICE_COUNTERS.iter().map(|c| (c, MetricType::Counter))) {
            // A family no service has is left out (usually the first service answers).
            let present = services.iter().any(|svc| {
                one.clear();
                samples_into(svc, now, &mut one);
                one.iter().any(|s| s.metric == *name)
            });
            if !present {
                continue;
            }
            let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
            for svc in &services {
                one.clear();
                samples_into(svc, now, &mut one);
                for s in one.iter().filter(|s| s.metric == *name) {
                    let labels = s.labels();
                    let family = metric.encode_family(&labels)?;
                    match kind {
                        MetricType::Counter => ConstCounter::new(s.value).encode(family)?,
                        _ => ConstGauge::new(s.value).encode(family)?,
                    }
                }
            }
        }
        blast::encode_blast_radius(&mut encoder, &services)
    }
}

/// The exposition of a registry in which every family of the operator's has one sample (a family is exposed once
/// it has one): what the metrics reference lists and what the alerts' expressions are checked against.
pub fn every_family() -> Result<String, fmt::Error> {
    let metrics = Arc::new(Metrics::default());
    metrics.observe("success", Some("api"), Duration::from_millis(1));
    metrics.copy_catalogued(&["daily".into()]);
    metrics.copy_failed(&["daily".into()]);
    metrics.detected(&crate::failover::Detection::default());
    metrics.drill_ended("ZoneLoss", "Passed", 34.0);
    metrics.restore_took(12.0, true);
    let incident = serde_json::json!({"scope": "Zone", "subject": "a", "began": "2026-11-25T00:00:00Z",
        "detected": "2026-11-25T00:00:21Z", "lowestReady": 2, "replicas": 4, "rtoSeconds": 35, "withinRto": false,
        "dataLossSeconds": 3});
    if let Ok(i) = serde_json::from_value(incident) {
        metrics.incident_ended(&i);
    }
    render(&metrics.registry(None))
}

/// Renders a registry in the OpenMetrics text format.
pub fn render(registry: &Registry) -> Result<String, fmt::Error> {
    // Sized from the last scrape: a text grown by doubling (4 MB at 1,000 services) holds up to twice that while
    // each copy is made.
    static LAST: AtomicUsize = AtomicUsize::new(0);
    let last = LAST.load(Ordering::Relaxed);
    let mut out = String::with_capacity(last + last / 16);
    prometheus_client::encoding::text::encode(&mut out, registry)?;
    LAST.store(out.len(), Ordering::Relaxed);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use kube::runtime::{reflector, watcher};
    use serde_json::json;

    use super::*;

    fn service() -> ResilientService {
        serde_json::from_value(json!({
            "apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService",
            "metadata": {"name": "passhub", "namespace": "invoicing"},
            "spec": {"className": "c", "replicas": 6, "template": {"spec": {"containers": [{"name": "a"}]}}},
            "status": {
                "replicas": 9, "readyReplicas": 6,
                "zones": [
                    {"name": "a", "eligible": true, "nodes": 2, "role": "Active", "desiredReplicas": 3, "readyReplicas": 3},
                    {"name": "b", "eligible": true, "nodes": 2, "role": "Active", "desiredReplicas": 3, "readyReplicas": 3},
                    {"name": "c", "eligible": false, "nodes": 0, "role": "Unavailable", "desiredReplicas": 3, "readyReplicas": 0}
                ],
                "objectives": [
                    {"scope": "Zone", "objective": "RTO", "target": "0s", "status": "True", "reason": "r", "message": "m"},
                    {"scope": "Zone", "objective": "RPO", "target": "24h", "status": "Unknown", "reason": "r", "message": "m"}
                ],
                "conditions": [
                    {"type": "ObjectivesMet", "status": "False", "reason": "TooFewZones", "message": "", "lastTransitionTime": "2026-11-24T00:00:00Z"}
                ]
            }
        }))
        .unwrap()
    }

    fn value(samples: &[Sample], metric: &str, extra: &[(&str, &str)]) -> Option<i64> {
        samples
            .iter()
            .find(|s| {
                s.metric == metric && extra.iter().all(|(k, v)| s.labels().iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|s| s.value as i64)
    }

    #[test]
    fn zone_and_objective_samples_come_from_status() {
        let svc = service();
        let s = samples(&svc);
        assert_eq!(value(&s, "continuo_service_replicas_ready", &[("zone", "c")]), Some(0));
        assert_eq!(value(&s, "continuo_service_zone_eligible", &[("zone", "c")]), Some(0));
        assert_eq!(value(&s, "continuo_service_zone_healthy", &[("zone", "a")]), Some(1));
        assert_eq!(value(&s, "continuo_service_objectives_met", &[]), Some(0));
        assert_eq!(value(&s, "continuo_service_condition", &[("type", "ObjectivesMet"), ("status", "False")]), Some(1));
        assert_eq!(value(&s, "continuo_objective_rpo_seconds", &[("scope", "Zone")]), Some(86_400));
        assert_eq!(value(&s, "continuo_objective_feasible", &[("objective", "RPO")]), None, "unknown is not 0");
        assert_eq!(value(&s, "continuo_objective_feasible", &[("objective", "RTO")]), Some(1));
    }

    #[test]
    fn each_data_source_exposes_the_data_its_loss_would_cost_now() {
        let mut svc = service();
        svc.status.as_mut().unwrap().data = serde_json::from_value(json!([
            {"name": "invoices", "kind": "CloudNativePG", "object": "passhub-db", "boundSeconds": 0},
            {"name": "attachments", "kind": "VolSync", "object": "a", "syncedAt": "2026-11-30T09:50:00Z", "boundSeconds": 0},
            {"name": "archive", "kind": "CloudNativePG", "object": "b", "syncedAt": "2026-11-30T09:00:00Z", "boundSeconds": 300},
            {"name": "unknown", "kind": "VolSync", "object": "c"}
        ]))
        .unwrap();
        let mut s = Vec::new();
        samples_into(&svc, "2026-11-30T10:00:00Z".parse().unwrap(), &mut s);
        let rpo = |source| value(&s, "continuo_data_rpo_seconds", &[("source", source)]);
        assert_eq!(rpo("invoices"), Some(0), "required synchronous replication loses nothing");
        assert_eq!(rpo("attachments"), Some(600), "ten minutes since the last sync");
        assert_eq!(rpo("archive"), Some(3900), "archiving failing for an hour, plus its timeout");
        assert_eq!(rpo("unknown"), None, "not known is not 0");
    }

    #[test]
    fn labels_are_bounded_to_namespace_service_zone_scope_and_type() {
        let allowed = ["namespace", "service", "zone", "type", "status", "scope", "objective", "source"];
        for s in samples(&service()) {
            assert!(s.labels().iter().all(|(k, _)| allowed.contains(k)), "{s:?}");
        }
    }

    #[test]
    fn exposition_is_openmetrics_with_controller_runtime_names() {
        let (reader, mut writer) = reflector::store();
        writer.apply_watcher_event(&watcher::Event::Apply(service()));
        let metrics = Arc::new(Metrics::default());
        metrics.observe("success", None, Duration::from_millis(20));
        metrics.observe("error", Some("api"), Duration::from_millis(20));
        metrics.leader.set(1);
        let text = render(&metrics.registry(Some(reader))).unwrap();
        for line in [
            "controller_runtime_reconcile_total{controller=\"resilientservice\",result=\"success\"} 1",
            "controller_runtime_reconcile_errors_total{controller=\"resilientservice\",kind=\"api\"} 1",
            "controller_runtime_reconcile_time_seconds_count{controller=\"resilientservice\"} 2",
            "continuo_leader 1",
            "continuo_service_replicas_desired{namespace=\"invoicing\",service=\"passhub\",zone=\"c\"} 3",
            "# EOF",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn an_incident_that_restored_a_copy_counts_its_data_lost_against_the_rpo() {
        let metrics = Arc::new(Metrics::default());
        let incident: crate::api::Incident = serde_json::from_value(json!({
            "scope": "Zone", "subject": "a", "began": "2026-11-10T00:01:40Z", "detected": "2026-11-10T00:01:40Z",
            "recovered": "2026-11-10T00:03:10Z", "rtoSeconds": 90, "lowestReady": 0, "replicas": 1, "withinRto": true,
            "dataLossSeconds": 7300, "withinRpo": true}))
        .unwrap();
        metrics.incident_ended(&incident);
        let text = render(&metrics.registry(None)).unwrap();
        for line in [
            "continuo_incidents_total{scope=\"Zone\",within_rto=\"true\",within_rpo=\"true\"} 1",
            "continuo_data_loss_seconds_bucket{le=\"14400.0\",scope=\"Zone\"} 1",
            "continuo_data_loss_seconds_bucket{le=\"3600.0\",scope=\"Zone\"} 0",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn each_family_is_written_once_with_every_services_samples_together() {
        let (reader, mut writer) = reflector::store();
        let mut other = service();
        other.metadata.name = Some("bookings".into());
        other.status.as_mut().unwrap().objectives.clear();
        writer.apply_watcher_event(&watcher::Event::Apply(service()));
        writer.apply_watcher_event(&watcher::Event::Apply(other));
        let text = render(&Arc::new(Metrics::default()).registry(Some(reader))).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let types = lines.iter().filter(|l| l.starts_with("# TYPE continuo_service_replicas_ready ")).count();
        assert_eq!(types, 1, "{text}");
        // The family's samples follow its descriptor, both services' together.
        let at = lines.iter().position(|l| l.starts_with("# TYPE continuo_service_replicas_ready ")).unwrap();
        let family: Vec<&str> = lines[at + 1..].iter().take_while(|l| !l.starts_with('#')).copied().collect::<Vec<_>>();
        assert_eq!(family.len(), 6, "3 zones × 2 services: {family:?}");
        assert!(
            family.iter().any(|l| l.contains("service=\"bookings\""))
                && family.iter().any(|l| l.contains("service=\"passhub\""))
        );
        // A family only one service has is written once, with its samples alone.
        assert_eq!(lines.iter().filter(|l| l.starts_with("# TYPE continuo_objective_rpo_seconds ")).count(), 1);
        assert!(!text.contains("continuo_objective_rpo_seconds{namespace=\"invoicing\",service=\"bookings\""));
        // A family no service has is left out.
        assert!(!text.contains("continuo_backup_points"), "{text}");
        // Per zone, over both services (6 declared; 3 + 3 Ready in a and b, c withheld): losing a or b leaves 3.
        assert!(text.contains("continuo_zone_blast_radius_services{zone=\"a\"} 2\n"), "{text}");
        assert!(text.contains("continuo_zone_blast_radius_replicas{zone=\"b\"} 6\n"), "{text}");
        assert!(
            !text.contains("continuo_zone_blast_radius_services{zone=\"c\"}"),
            "a withheld zone has nothing to lose"
        );
    }
}
