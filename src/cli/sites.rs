//! `continuo plan` for a class with sites: the Karmada policies continuo would apply on Karmada's control plane,
//! and the Region verdicts, from Karmada `Cluster` documents (`kubectl get clusters.cluster.karmada.io -o yaml`
//! on Karmada's API server) and the `SiteFailover`s in the files.

use std::fmt::Write as _;

use kube::ResourceExt;
use serde_json::Value;

use crate::{
    api::{ContinuityClass, ResilientService, SiteFailover},
    backup::BackupPlan,
    sites::{self, Cluster, Declaration, Serving, karmada, verdict},
};

/// The declarations of `svc` among the `SiteFailover`s read.
fn declarations(svc: &ResilientService, all: &[SiteFailover]) -> Vec<Declaration> {
    all.iter()
        .filter(|d| d.spec.service == svc.name_any() && d.namespace() == svc.namespace())
        .map(|d| Declaration::of(d, jiff::Timestamp::UNIX_EPOCH))
        .collect()
}

/// What a service of a class with sites adds to the plan.
pub struct Offline<'a> {
    pub svc: &'a ResilientService,
    pub class: &'a ContinuityClass,
    pub clusters: &'a [Cluster],
    pub declarations: &'a [SiteFailover],
    pub backup: Option<&'a BackupPlan>,
    pub startup: u64,
    pub stateful: bool,
    pub timing: &'a verdict::Timing,
}

/// The Karmada objects for `o`, appended to `objects`, and the site report, appended to `report`.
pub fn describe(o: &Offline<'_>, objects: &mut Vec<Value>, report: &mut String) {
    let Some(declared) = &o.class.spec.sites else { return };
    let (sites, adjusted) = sites::effective(declared, o.stateful);
    let sites = &sites;
    let (svc, ns) = (o.svc.name_any(), o.svc.namespace().unwrap_or_default());
    let now = jiff::Timestamp::now();
    let timing = o.timing;
    let decls = declarations(o.svc, o.declarations);
    let (serving, why) = sites::serving(sites, o.clusters, &decls, None, timing.hold.as_secs(), now);
    objects.push(karmada::propagation_policy(&svc, &ns, sites, &serving, o.clusters));
    objects.extend(karmada::override_policy(&svc, &ns, sites, &serving, o.clusters, Default::default()));
    let why = match why {
        Serving::Primary => "the primary".to_string(),
        Serving::Declared { by, .. } => format!("declared by SiteFailover {by}"),
        Serving::Automatic { lost, since } => format!("automatic: {lost} not Ready since {since}"),
        Serving::Kept { since } => format!("moved there at {since}"),
    };
    let _ = writeln!(
        report,
        "  sites ({:?} standby, {:?} failover): serving from {serving} ({why})",
        sites.standby, sites.failover
    );
    if let Some(a) = adjusted {
        let _ = writeln!(report, "    note: {a}");
    }
    for site in &sites.sites {
        let names: Vec<&str> = sites::members(site, o.clusters).iter().map(|c| c.name.as_str()).collect();
        let health = match sites::health(site, o.clusters) {
            sites::Health::Healthy => "healthy".to_string(),
            sites::Health::Lost { since } => format!("lost since {since}"),
            sites::Health::Unknown => "unknown (no Cluster observed)".to_string(),
        };
        let _ = writeln!(report, "    {:<12} {:<28} {health}", site.name, names.join(","));
    }
    let situation = verdict::Situation {
        sites,
        clusters: o.clusters,
        startup: o.startup,
        stateful: o.stateful,
        restore: None,
        backup: o.backup,
        timing,
        now,
    };
    if let Some(obj) = o.class.spec.objective(crate::api::Scope::Region) {
        let (v, reason, msg) = verdict::rto(&situation, obj.rto);
        let _ = writeln!(report, "  Region RTO {}: {} ({reason}) {msg}", obj.rto, v.as_status());
        if let Some(rpo) = obj.rpo {
            let (v, reason, msg) = verdict::rpo(&situation, rpo);
            let _ = writeln!(report, "  Region RPO {rpo}: {} ({reason}) {msg}", v.as_status());
        }
    }
    if o.clusters.is_empty() {
        let _ = writeln!(
            report,
            "  no Karmada Cluster in the files: add `kubectl get clusters.cluster.karmada.io -o yaml` from Karmada's \
             API server to judge the sites"
        );
    }
}
