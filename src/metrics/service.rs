//! The per-service samples, computed from each cached service's status at scrape time: their labels borrow from
//! the service, so a scrape of a thousand services allocates no label.

use crate::api::ResilientService;

/// One sample of a per-service gauge or counter. Its labels borrow from the service: a scrape of a thousand
/// services makes tens of thousands of samples, and copying their label strings was most of a scrape's memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample<'a> {
    pub metric: &'static str,
    labels: [(&'static str, &'a str); 5],
    len: usize,
    pub value: f64,
}

impl<'a> Sample<'a> {
    /// `namespace` and `service`, then what the metric adds (zone, scope, type…).
    pub fn labels(&self) -> &[(&'static str, &'a str)] {
        &self.labels[..self.len]
    }
}

/// The per-service counters (exposed with `_total`): this month's seconds, from the availability status plus the
/// time since its checkpoint. They restart at each month, as a counter may.
pub const SERVICE_COUNTERS: [(&str, &str); 2] = [
    ("continuo_service_observed_seconds", "Seconds continuo observed the service this month"),
    ("continuo_service_down_seconds", "Seconds with no replica Ready this month"),
];

/// The help text of each per-service gauge, in the order they are exposed.
pub const SERVICE_GAUGES: [(&str, &str); 19] = [
    ("continuo_service_replicas_desired", "Replicas continuo runs in the zone"),
    ("continuo_service_replicas_ready", "Replicas Ready in the zone"),
    ("continuo_service_zone_eligible", "1 when the zone has a Ready, schedulable node inside the residency"),
    ("continuo_service_zone_healthy", "1 when the zone is eligible and runs all its desired replicas Ready"),
    ("continuo_service_condition", "1 for the current status of each condition (Ready, ZoneRedundant, ...)"),
    ("continuo_service_objectives_met", "1 when ObjectivesMet is True"),
    ("continuo_objective_rto_seconds", "Declared recovery time objective"),
    ("continuo_objective_rpo_seconds", "Declared recovery point objective"),
    ("continuo_objective_feasible", "1 feasible, 0 not feasible; absent while unknown"),
    ("continuo_backup_newest_copy_timestamp_seconds", "When the data of the newest good copy was captured"),
    ("continuo_backup_points", "Recovery points retention holds"),
    ("continuo_backup_achieved_rpo_seconds", "Age of the newest good copy now: the data a loss would cost"),
    (
        "continuo_data_rpo_seconds",
        "Per data source: the data its loss would cost now (0 with required synchronous replication)",
    ),
    ("continuo_service_availability_target_ratio", "The class's monthly availability target (0.999)"),
    ("continuo_service_availability_claimable", "1 while Ready in enough zones for the target to be claimable"),
    ("continuo_service_error_budget_remaining_seconds", "This month's error budget left: (1 − target) × month − down"),
    ("continuo_service_incident_open_seconds", "Seconds since the open incident began, by scope"),
    ("continuo_service_incident_rto_target_seconds", "The declared RTO of the open incident's scope"),
    (
        "continuo_service_last_drill_timestamp_seconds",
        "When the last drill of each scenario ended (its verdict is in the service's status)",
    ),
];

/// The per-service samples for one service, from its status, now.
pub fn samples(svc: &ResilientService) -> Vec<Sample<'_>> {
    let mut out = Vec::new();
    samples_into(svc, k8s_openapi::jiff::Timestamp::now(), &mut out);
    out
}

/// Appends the per-service samples of `svc` at `now` to `out`. Pure.
pub(super) fn samples_into<'a>(
    svc: &'a ResilientService,
    now: k8s_openapi::jiff::Timestamp,
    out: &mut Vec<Sample<'a>>,
) {
    let Some(status) = &svc.status else { return };
    let (namespace, service) =
        (svc.metadata.namespace.as_deref().unwrap_or_default(), svc.metadata.name.as_deref().unwrap_or_default());
    let mut p = Push { namespace, service, out };
    verdict_samples(&mut p, status, now);
    history_samples(&mut p, status, now);
}

/// Appends samples to a service's, labelled with its namespace and name.
struct Push<'a, 'o> {
    namespace: &'a str,
    service: &'a str,
    out: &'o mut Vec<Sample<'a>>,
}

impl<'a> Push<'a, '_> {
    fn sample(&mut self, metric: &'static str, extra: &[(&'static str, &'a str)], value: f64) {
        let mut labels = [("namespace", self.namespace), ("service", self.service), ("", ""), ("", ""), ("", "")];
        labels[2..2 + extra.len()].copy_from_slice(extra);
        self.out.push(Sample { metric, labels, len: 2 + extra.len(), value });
    }
}

/// Zones, conditions, copies, data sources and objectives: where the service stands now.
fn verdict_samples<'a>(
    p: &mut Push<'a, '_>,
    status: &'a crate::api::ResilientServiceStatus,
    now: k8s_openapi::jiff::Timestamp,
) {
    let mut push = |metric: &'static str, extra: &[(&'static str, &'a str)], value: f64| p.sample(metric, extra, value);
    for z in &status.zones {
        let zone = [("zone", z.name.as_str())];
        push("continuo_service_replicas_desired", &zone, z.desired_replicas.into());
        push("continuo_service_replicas_ready", &zone, z.ready_replicas.into());
        push("continuo_service_zone_eligible", &zone, flag(z.eligible));
        push("continuo_service_zone_healthy", &zone, flag(z.eligible && z.ready_replicas >= z.desired_replicas));
    }
    for c in &status.conditions {
        for s in ["True", "False", "Unknown"] {
            push("continuo_service_condition", &[("type", &c.type_), ("status", s)], flag(c.status == s));
        }
        if c.type_ == crate::status::OBJECTIVES_MET {
            push("continuo_service_objectives_met", &[], flag(c.status == "True"));
        }
    }
    if let Some(b) = &status.backup {
        if let Some(t) = &b.newest_copy {
            push("continuo_backup_newest_copy_timestamp_seconds", &[], t.0.as_second() as f64);
            let age = now.as_second() - t.0.as_second();
            push("continuo_backup_achieved_rpo_seconds", &[], age.max(0) as f64);
        }
        push("continuo_backup_points", &[], b.points.into());
    }
    for d in &status.data {
        // Known only when the source says how much can be missing: since its last sync, plus its bound.
        if let Some(bound) = d.bound_seconds {
            let since = d.synced_at.as_ref().map_or(0, |t| (now.as_second() - t.0.as_second()).max(0));
            push("continuo_data_rpo_seconds", &[("source", d.name.as_str())], (since + bound) as f64);
        }
    }
    for o in &status.objectives {
        let scope = o.scope.as_str();
        let metric =
            if o.objective == "RTO" { "continuo_objective_rto_seconds" } else { "continuo_objective_rpo_seconds" };
        push(metric, &[("scope", scope)], o.target.as_secs() as f64);
        if o.status != "Unknown" {
            push(
                "continuo_objective_feasible",
                &[("scope", scope), ("objective", &o.objective)],
                flag(o.status == "True"),
            );
        }
    }
}

/// The open incident, this month's availability and the last drills: what happened.
fn history_samples<'a>(
    p: &mut Push<'a, '_>,
    status: &'a crate::api::ResilientServiceStatus,
    now: k8s_openapi::jiff::Timestamp,
) {
    let mut push = |metric: &'static str, extra: &[(&'static str, &'a str)], value: f64| p.sample(metric, extra, value);
    if let Some(open) = status.incidents.first().filter(|i| i.recovered.is_none()) {
        let scope = [("scope", open.scope.as_str())];
        push(
            "continuo_service_incident_open_seconds",
            &scope,
            (now.as_second() - open.began.0.as_second()).max(0) as f64,
        );
        if let Some(t) = open.target_rto {
            push("continuo_service_incident_rto_target_seconds", &scope, t.as_secs() as f64);
        }
    }
    for d in &status.drills {
        push(
            "continuo_service_last_drill_timestamp_seconds",
            &[("scenario", d.scenario.as_str())],
            d.ended_at.0.as_second() as f64,
        );
    }
    if let Some(a) = &status.availability {
        // The time since the checkpoint, in the state the status records (the month's end is its own checkpoint).
        let since = (now.as_second() - a.since.0.as_second()).max(0);
        let down = a.current.down_seconds + if a.state == crate::api::Health::Down { since } else { 0 };
        push("continuo_service_observed_seconds", &[], (a.current.observed_seconds + since) as f64);
        push("continuo_service_down_seconds", &[], down as f64);
        push("continuo_service_availability_claimable", &[], flag(a.claimable));
        if let Some(budget) = a.current.error_budget_remaining_seconds {
            let left = budget - (down - a.current.down_seconds);
            push("continuo_service_error_budget_remaining_seconds", &[], left as f64);
        }
        if let Some(t) = a.target.as_deref().and_then(|t| t.parse::<f64>().ok()) {
            push("continuo_service_availability_target_ratio", &[], t / 100.0);
        }
    }
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}
