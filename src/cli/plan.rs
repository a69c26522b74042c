//! `continuo plan`: what the operator would apply for some ResilientServices, computed offline through the
//! same [`crate::plan::plan`] the operator runs.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
};

use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::sites::Offline;

use crate::{
    api::{BackupLocation, ContinuityClass, RecoveryPoint, ResilientService, RestoreRequest},
    backup,
    data::{Layer, Observed, cnpg::PgCluster, volsync::ReplicationSource},
    plan::{self, Backups, Config, Inputs},
    status,
    topology::{self, NodeFacts},
    workload,
};

/// Where the cluster's topology comes from.
pub enum Topology {
    /// These zone names, each with three Ready nodes, in `region` (or in the class's first residency region).
    Zones { zones: Vec<String>, region: Option<String> },
    /// Node objects, as `kubectl get nodes -o yaml` prints them.
    Nodes(PathBuf),
    /// The zones the service pins, or `zone-a`, `zone-b`, `zone-c`.
    Default,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Yaml,
    Json,
}

/// What `plan` prints: the objects (stdout) and the report (stderr).
pub struct Rendered {
    pub objects: String,
    pub report: String,
    /// Some service could not be planned (its reason is in the report).
    pub stalled: bool,
}

/// Reads a YAML stream of documents, keeping each document's index for messages.
fn documents(path: &Path) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&text).map_err(|e| format!("{}: not valid YAML: {e}", path.display()))?;
    let mut out = Vec::new();
    for doc in docs {
        // `kind: List` (as kubectl prints) is flattened.
        match doc.get("items").and_then(Value::as_array) {
            Some(items) if doc.get("kind").and_then(Value::as_str).is_some_and(|k| k.ends_with("List")) => {
                out.extend(items.iter().cloned())
            }
            _ if doc.is_null() => {}
            _ => out.push(doc),
        }
    }
    Ok(out)
}

fn label(doc: &Value) -> String {
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("object");
    let meta = doc.get("metadata");
    let name = meta.and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or("(unnamed)");
    match meta.and_then(|m| m.get("namespace")).and_then(Value::as_str) {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// Deserializes a document into a typed resource, naming the file, the object and the field on error, and
/// checks it against the same CEL rules and native list checks (no duplicates in sets) the API server enforces.
fn typed<K: DeserializeOwned>(file: &Path, doc: &Value, cel: impl Fn(&K) -> Result<(), String>) -> Result<K, String> {
    let obj: K = serde_path_to_error::deserialize(doc)
        .map_err(|e| format!("{}: {}: {}: {}", file.display(), label(doc), e.path(), e.inner()))?;
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
    let duplicates = crate::api::admission::schema_of(kind)
        .map(|schema| crate::api::admission::duplicate_items(schema, doc))
        .unwrap_or_default();
    if !duplicates.is_empty() {
        return Err(format!("{}: {}: {}", file.display(), label(doc), duplicates.join("; ")));
    }
    cel(&obj).map_err(|e| format!("{}: {}: {e}", file.display(), label(doc)))?;
    Ok(obj)
}

/// Checks `obj` against the CEL rules of its kind's CRD, as the API server does at admission. The schema is the
/// one built once for all documents ([`crate::api::admission::schema_of`]): kube's generated `validate_cel` builds
/// the whole CRD again for every object, which was 80 % of planning a file of 1,000 services.
fn cel<K: kube::Resource<DynamicType = ()> + serde::Serialize>(obj: &K) -> Result<(), String> {
    let Some(schema) = crate::api::admission::schema_of(&K::kind(&())) else { return Ok(()) };
    let object = serde_json::to_value(obj).map_err(|e| e.to_string())?;
    kube::core::cel::Validator::new()
        .validate(schema, &object, None)
        .map_err(|errs| errs.as_slice().iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
}

/// What `continuo plan` reads from its files.
pub struct Loaded {
    pub services: Vec<ResilientService>,
    pub classes: BTreeMap<String, ContinuityClass>,
    pub locations: BTreeMap<String, BackupLocation>,
    /// CloudNativePG Clusters and VolSync ReplicationSources, judged as the operator judges them.
    pub clusters: Vec<PgCluster>,
    pub replication_sources: Vec<ReplicationSource>,
    /// Recovery points and restore requests (read by `report`, not by `plan`).
    pub points: Vec<RecoveryPoint>,
    pub restores: Vec<RestoreRequest>,
    pub drills: Vec<crate::api::ContinuityDrill>,
    /// StorageClasses, when the files hold any: what a stateful service's Node objectives are judged on.
    pub storage_classes: Option<Vec<crate::stateful::StorageClass>>,
    /// Karmada member clusters and declared site failovers: what a class's sites are judged on.
    pub karmada_clusters: Vec<crate::sites::Cluster>,
    pub site_failovers: Vec<crate::api::SiteFailover>,
}

/// Loads services, classes and backup locations from `files` (built-in classes first, so a file's class of the
/// same name wins).
pub fn load(files: &[PathBuf]) -> Result<Loaded, String> {
    let mut classes = BTreeMap::new();
    let mut locations = BTreeMap::new();
    for c in crate::api::builtin_classes()? {
        classes.insert(c.name_any(), c);
    }
    let mut services = Vec::new();
    let (mut clusters, mut replication_sources) = (Vec::new(), Vec::new());
    let (mut points, mut restores, mut drills) = (Vec::new(), Vec::new(), Vec::new());
    let mut storage_classes: Option<Vec<crate::stateful::StorageClass>> = None;
    let (mut karmada_clusters, mut site_failovers) = (Vec::new(), Vec::new());
    for file in files {
        for doc in documents(file)? {
            match doc.get("kind").and_then(Value::as_str) {
                Some("ContinuityClass") => {
                    let c: ContinuityClass = typed(file, &doc, cel::<ContinuityClass>)?;
                    classes.insert(c.name_any(), c);
                }
                Some("BackupLocation") => {
                    let l: BackupLocation = typed(file, &doc, |_: &BackupLocation| Ok(()))?;
                    locations.insert(l.name_any(), l);
                }
                Some("ResilientService") => {
                    let mut s: ResilientService = typed(file, &doc, cel::<ResilientService>)?;
                    if s.metadata.namespace.is_none() {
                        s.metadata.namespace = Some("default".into());
                    }
                    services.push(s);
                }
                Some("RecoveryPoint") => points.push(typed(file, &doc, |_: &RecoveryPoint| Ok(()))?),
                Some("RestoreRequest") => restores.push(typed(file, &doc, |_: &RestoreRequest| Ok(()))?),
                Some("ContinuityDrill") => drills.push(typed(file, &doc, cel::<crate::api::ContinuityDrill>)?),
                Some("Cluster") if api_group(&doc) == "cluster.karmada.io" => {
                    karmada_clusters.push(crate::sites::Cluster::from_document(&doc))
                }
                Some("SiteFailover") => site_failovers.push(typed(file, &doc, cel::<crate::api::SiteFailover>)?),
                Some("Cluster") if api_group(&doc) == "postgresql.cnpg.io" => {
                    clusters.push(typed(file, &doc, |_: &PgCluster| Ok(()))?);
                }
                Some("StorageClass") if api_group(&doc) == "storage.k8s.io" => {
                    let c: k8s_openapi::api::storage::v1::StorageClass = typed(file, &doc, |_| Ok(()))?;
                    storage_classes.get_or_insert_with(Vec::new).push(crate::stateful::StorageClass::observe(&c));
                }
                Some("ReplicationSource") if api_group(&doc) == "volsync.backube" => {
                    replication_sources.push(typed(file, &doc, |_: &ReplicationSource| Ok(()))?);
                }
                _ => {}
            }
        }
    }
    if services.is_empty() {
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        return Err(format!("{}: no ResilientService found", names.join(", ")));
    }
    Ok(Loaded {
        services,
        classes,
        locations,
        clusters,
        replication_sources,
        points,
        restores,
        drills,
        storage_classes,
        karmada_clusters,
        site_failovers,
    })
}

fn api_group(doc: &Value) -> &str {
    doc.get("apiVersion").and_then(Value::as_str).and_then(|v| v.split_once('/')).map_or("", |(g, _)| g)
}

fn nodes_for(
    topology: &Topology,
    service: &ResilientService,
    class: Option<&ContinuityClass>,
    config: &Config,
) -> Result<Vec<NodeFacts>, String> {
    let synthetic = |zones: &[String], region: Option<&str>| -> Vec<NodeFacts> {
        let region = region
            .map(str::to_string)
            .or_else(|| class.and_then(|c| c.spec.residency.as_ref()).and_then(|r| r.regions.first().cloned()));
        zones
            .iter()
            .flat_map(|z| (1..=3).map(move |i| (z, i)))
            .map(|(z, i)| topology::synthetic_node(&format!("{z}-node-{i}"), z, region.as_deref(), true))
            .collect()
    };
    match topology {
        Topology::Zones { zones, region } => Ok(synthetic(zones, region.as_deref())),
        Topology::Default if !service.spec.zones.is_empty() => Ok(synthetic(&service.spec.zones, None)),
        Topology::Default => Ok(synthetic(&["zone-a".into(), "zone-b".into(), "zone-c".into()], None)),
        Topology::Nodes(path) => {
            let mut out = Vec::new();
            for doc in documents(path)? {
                let node: Node = typed(path, &doc, |_: &Node| Ok(()))?;
                out.push(NodeFacts::from_node(&node, &config.keys));
            }
            Ok(out)
        }
    }
}

/// Plans every service in `files` against `topology`.
pub fn run(files: &[PathBuf], topology: &Topology, output: Output, config: &Config) -> Result<Rendered, String> {
    let loaded = load(files)?;
    let Loaded { services, classes, locations, clusters, replication_sources, storage_classes, .. } = &loaded;
    let volumes = crate::stateful::Observed { claims: &[], storage_classes: storage_classes.as_deref() };
    // Offline, a data layer's objects are those in the files, and their instances are placed as their spec says.
    let data = Observed {
        clusters: Layer::Seen(clusters),
        sources: Layer::Seen(replication_sources),
        pods: None,
        unreachable: &[],
    };
    let clock = jiff::Timestamp::now();
    let mut objects: Vec<Value> = Vec::new();
    let mut report = String::new();
    let mut stalled = false;
    let mut placed: Vec<(i32, Option<String>, Vec<crate::api::ZoneStatus>)> = Vec::new();
    for svc in services {
        let class = classes.get(&svc.spec.class_name);
        let nodes = nodes_for(topology, svc, class, config)?;
        let location = svc.spec.backup.as_ref().and_then(|b| locations.get(&b.location));
        let backups = Backups { location, ..Backups::none() };
        let plan = plan::plan(&Inputs { backups, data, volumes, ..Inputs::offline(svc, class, &nodes, config, clock) });
        let id = format!("{}/{}", svc.namespace().unwrap_or_default(), svc.name_any());
        match &plan {
            Err(p) => {
                stalled = true;
                let known: Vec<&str> = classes.keys().map(String::as_str).collect();
                let hint = if p.reason == "ClassNotFound" {
                    format!(" (known classes: {})", known.join(", "))
                } else {
                    String::new()
                };
                let _ = writeln!(report, "{id}: cannot plan: {}: {}{hint}", p.reason, p.message);
            }
            Ok(d) => {
                objects.extend(d.deployments.iter().map(workload::manifest));
                objects.extend(d.stateful_sets.iter().map(workload::manifest));
                objects.push(workload::manifest(&d.disruption_budget));
                objects.extend(d.service.iter().map(workload::manifest));
                objects.extend(d.cron_jobs.iter().flatten().map(workload::manifest));
                describe(&mut report, &id, svc, class, d, &status::compute(svc, &plan, &now()));
                describe_volumes(&mut report, svc, d, config, storage_classes.as_deref());
                let startup = config.timing.pod_startup(&svc.spec.template, svc.spec.startup_seconds);
                super::drills::describe(&mut report, svc, class, d, startup);
                placed.push((svc.spec.replicas, d.placement.primary.clone(), d.zones.clone()));
                if let Some(b) = &d.backup {
                    describe_backups(&mut report, svc, b, location.is_some(), clock);
                }
                let (clusters, declarations) = (&loaded.karmada_clusters, &loaded.site_failovers);
                let (backup, stateful) = (d.backup.as_ref(), !d.stateful_sets.is_empty());
                let sites = class.map(|class| Offline {
                    svc,
                    class,
                    clusters,
                    declarations,
                    backup,
                    startup,
                    stateful,
                    timing: &config.sites,
                });
                sites.inspect(|o| super::sites::describe(o, &mut objects, &mut report));
            }
        }
    }
    describe_spread(&mut report, &placed);
    let objects = match output {
        Output::Json => {
            serde_json::to_string_pretty(&serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects}))
                .map_err(|e| e.to_string())?
                + "\n"
        }
        Output::Yaml => objects
            .iter()
            .map(|o| serde_saphyr::to_string(o).map(|y| format!("---\n{y}")).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?
            .concat(),
    };
    Ok(Rendered { objects, report, stalled })
}

fn now() -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)
}

fn describe(
    out: &mut String,
    id: &str,
    svc: &ResilientService,
    class: Option<&ContinuityClass>,
    d: &plan::Desired,
    status: &crate::api::ResilientServiceStatus,
) {
    let class_name = class.map(|c| c.name_any()).unwrap_or_default();
    let mode = class.map(|c| format!("{:?}", c.spec.mode)).unwrap_or_default();
    let _ = writeln!(
        out,
        "{id}: class {class_name} ({mode}), {} replicas declared, {} placed",
        svc.spec.replicas,
        d.placement.total()
    );
    let _ = writeln!(out, "  {:<24} {:<9} {:>5}  {:<11} {:>8}", "ZONE", "ELIGIBLE", "NODES", "ROLE", "REPLICAS");
    for z in &d.zones {
        let _ = writeln!(
            out,
            "  {:<24} {:<9} {:>5}  {:<11} {:>8}",
            z.name,
            if z.eligible { "yes" } else { "no" },
            z.nodes,
            z.role,
            z.desired_replicas
        );
    }
    for o in &d.objectives {
        let _ = writeln!(out, "  {:<7} {}: {}", o.status, o.reason, o.message);
    }
    for c in status.conditions.iter().filter(|c| c.type_ == status::OBJECTIVES_MET) {
        let _ = writeln!(out, "  ObjectivesMet={} ({})", c.status, c.reason);
    }
}

/// A stateful service: its volumes, and the time line of a server's and a zone's loss as continuo models it.
fn describe_volumes(
    out: &mut String,
    svc: &ResilientService,
    d: &plan::Desired,
    config: &Config,
    classes: Option<&[crate::stateful::StorageClass]>,
) {
    if d.stateful_sets.is_empty() {
        return;
    }
    let claims: Vec<String> = svc
        .spec
        .volume_claim_templates
        .iter()
        .map(|c| {
            let class = c.spec.storage_class_name.as_deref().unwrap_or("the default class");
            format!("{} ({}, {class})", c.metadata.name, c.spec.resources.requests.storage)
        })
        .collect();
    let _ =
        writeln!(out, "  volumes per replica: {}; one StatefulSet per zone, claims never deleted", claims.join(", "));
    let t = &config.timing;
    let startup = t.pod_startup(&svc.spec.template, svc.spec.startup_seconds);
    let fencing = match t.fence_after {
        Some(f) => format!("fenced (out-of-service taint) {}s after its lease went silent", f.as_secs()),
        None => "not fenced (--fence-lost-nodes is off): its pod stays Terminating until a person acts".into(),
    };
    let loss = crate::stateful::NodeLoss {
        fence_after_seconds: t.fence_after.map(|f| f.as_secs() as i64),
        attach_seconds: crate::stateful::nodes::ATTACH_SECONDS,
        startup_seconds: startup as i64,
    };
    let storage = crate::stateful::storage(&svc.spec.volume_claim_templates, classes, loss);
    let _ = writeln!(
        out,
        "  server lost: {}; the pod is {fencing}; + {}s to attach the volume elsewhere in the zone + {startup}s \
         start-up",
        storage.server_loss(),
        crate::stateful::nodes::ATTACH_SECONDS
    );
    let _ = writeln!(
        out,
        "  zone lost: detected in ≤ {}s; the replica is recreated in another zone, its volume restored from the \
         newest copy stored outside the lost zone before it starts (the restore's own time: measure it with a \
         Restore drill), then {startup}s start-up; no such copy: not started (NoCopyToRestore)",
        t.zone_detection_secs()
    );
}

/// Over every service planned, per zone: the primaries and replicas it runs, and what losing it now would cost —
/// the services that would drop below their declared replicas, and the replicas to start in other zones.
fn describe_spread(out: &mut String, placed: &[(i32, Option<String>, Vec<crate::api::ZoneStatus>)]) {
    if placed.is_empty() {
        return;
    }
    let blast = crate::spread::blast_radius(placed.iter().map(|(n, _, zones)| (*n, zones.as_slice())));
    let mut zones: std::collections::BTreeMap<&str, (usize, i32)> = std::collections::BTreeMap::new();
    for (_, primary, statuses) in placed {
        for z in statuses.iter().filter(|z| z.eligible) {
            let e = zones.entry(z.name.as_str()).or_default();
            e.0 += usize::from(primary.as_deref() == Some(z.name.as_str()));
            e.1 += z.desired_replicas;
        }
    }
    let _ = writeln!(out, "spread of {} service(s), and each zone's blast radius if it were lost now:", placed.len());
    let _ = writeln!(
        out,
        "  {:<24} {:>9} {:>8}  {:>14} {:>16}",
        "ZONE", "PRIMARIES", "REPLICAS", "SERVICES SHORT", "REPLICAS TO MOVE"
    );
    for (zone, (primaries, replicas)) in &zones {
        let e = blast.get(zone).copied().unwrap_or_default();
        let _ = writeln!(out, "  {zone:<24} {primaries:>9} {replicas:>8}  {:>14} {:>16}", e.services, e.replicas);
    }
}

/// Each tier's schedule and retention, the CronJobs, the worst gap, what the catalog will hold, and where the
/// copies go.
fn describe_backups(
    out: &mut String,
    svc: &ResilientService,
    b: &backup::BackupPlan,
    located: bool,
    now: jiff::Timestamp,
) {
    let _ = writeln!(out, "  backups (time zone {}):", b.time_zone);
    for t in &b.tiers {
        let origin = if t.derived { " (derived from the RPO)" } else { "" };
        let _ = writeln!(out, "    tier {:<10} {:<18} keeps {}{origin}", t.name, t.schedule, keeps(&t.keep));
    }
    for r in &b.runs {
        let name = backup::jobs::cron_job_name(&svc.name_any(), &r.tiers);
        let _ = writeln!(out, "    CronJob {name}: {} → tiers {}", r.schedule, r.tiers.join(", "));
    }
    if let Some(gap) = &b.worst_gap {
        let tz = backup::schedule::time_zone(&b.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
        let secs = gap.length.as_secs().max(0) as u64;
        let _ = writeln!(
            out,
            "    worst gap between copies: {} (after the copy of {}), plus {} copy time {}",
            crate::api::Span::from_secs(secs),
            gap.after.to_zoned(tz).strftime("%Y-%m-%d %H:%M %Z"),
            if b.measured { "measured" } else { "expected" },
            b.copy_duration
        );
    }
    if let Some((n, oldest)) = backup::steady_catalog(b, now) {
        let days = oldest.as_hours() / 24;
        let age =
            if days >= 60 { format!("~{} months", (days as f64 / 30.44).round()) } else { format!("~{days} days") };
        let _ = writeln!(out, "    retention holds {n} restore points, oldest {age}");
    }
    match (&b.problem, &b.stored_in) {
        (Some(p), _) if p.reason == "BackupLocationNotFound" && !located => {
            let name = svc.spec.backup.as_ref().map(|s| s.location.as_str()).unwrap_or_default();
            let _ = writeln!(
                out,
                "    location: BackupLocation {name:?} is not in the files given; add it to check off-zone and residency"
            );
        }
        (Some(p), _) => {
            let _ = writeln!(out, "    refused: {}: {}", p.reason, p.message);
        }
        (None, Some((region, zone))) => {
            let place = zone.as_ref().map_or(format!("region {region}"), |z| format!("{z} (region {region})"));
            let _ = writeln!(out, "    off-zone: copies stored in {place}, outside every zone this service runs in");
        }
        (None, None) => {}
    }
}

fn keeps(k: &backup::retention::Keep) -> String {
    let mut parts = Vec::new();
    if let Some(w) = k.within {
        parts.push(format!("within {}", crate::api::Span::from_secs(w.as_secs().max(0) as u64)));
    }
    for (n, what) in [(k.last, "last"), (k.daily, "daily"), (k.weekly, "weekly"), (k.monthly, "monthly")] {
        if let Some(n) = n {
            parts.push(format!("{what} {n}"));
        }
    }
    parts.join(", ")
}
