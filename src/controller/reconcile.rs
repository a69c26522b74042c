//! One reconcile, as a pipeline: observe (the caches) → plan (pure) → apply → prune → status → events.
//!
//! Observing reads only the caches the controller's watches keep, so a reconcile that finds nothing to do makes
//! no API request. What it writes is remembered for a few seconds ([`RecentWrites`]): until the cache shows a
//! write, the same write is not repeated and a child's readiness is not trusted. A service being deleted, or in
//! a namespace being deleted, is left alone: continuo never fights a deletion.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::{apps::v1::Deployment, batch::v1::CronJob, core::v1::Service, policy::v1::PodDisruptionBudget},
    apimachinery::pkg::apis::meta::v1::Time,
    jiff::Timestamp,
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, Preconditions},
    runtime::{
        controller::Action,
        events::{Event, EventType, Reporter},
    },
};
use serde::{Serialize, de::DeserializeOwned};
use tokio::sync::watch;
use tracing::{info, warn};

use super::{
    cache::{AppliedGenerations, Caches, RecentWrites, TEMPLATE_DIGEST, controlled_by, template_digest},
    drift,
    events::Recorder,
};
use crate::{
    api::ResilientService,
    metrics::Metrics,
    plan::{self, Backups, Config, Failover, Inputs, Problem},
    status, topology,
    workload::{self, FIELD_MANAGER},
};

/// When a backup side step that failed is tried again: soon, and without the growing backoff of a failed
/// reconcile, since the status was written.
const SIDE_STEP_RETRY: Duration = Duration::from_secs(30);

/// Why a reconcile failed. Every kind is transient: a user's mistake is a status condition, not an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("the caches did not sync in time")]
    CachesNotSynced,
    #[error("object has no namespace")]
    NoNamespace,
    /// The API rejected a child as invalid: the user's to fix, reported in status, never retried blindly.
    #[error("{}", .0.message)]
    Rejected(Problem),
}

impl Error {
    /// A bounded label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(_)) => "api",
            Error::Kube(_) => "client",
            Error::CachesNotSynced => "cache",
            Error::NoNamespace | Error::Rejected(_) => "spec",
        }
    }
}

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    /// Nodes, classes and children, kept by the controller's watches.
    pub caches: Caches,
    /// What this replica wrote in the last seconds, until the caches show it.
    pub(super) writes: RecentWrites,
    /// The Deployment generations continuo produced: the template check of the template-free cache.
    applied: AppliedGenerations,
    pub config: Config,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// Whether this replica may write: it holds the lease, or leader election is off.
    leader: watch::Receiver<bool>,
    /// Backup runs already reported, so each failure is an Event once.
    pub(super) reported: super::backups::Reported,
    /// Consecutive failures per object, for backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// Zone loss from node leases: what every reconcile withholds.
    pub detector: Arc<super::Detector>,
    /// The wall clock incidents and availability are timed with (a fake one in tests).
    clock: Arc<dyn Fn() -> Timestamp + Send + Sync>,
}

impl Context {
    /// A context that always writes (leader election off).
    pub fn new(client: Client, caches: Caches, config: Config, reporter: Reporter) -> Self {
        let recorder = Recorder::new(client.clone(), reporter);
        let (_, leader) = watch::channel(true);
        Context {
            client,
            caches,
            writes: RecentWrites::default(),
            applied: AppliedGenerations::default(),
            config,
            recorder,
            metrics: Arc::default(),
            leader,
            reported: Default::default(),
            failures: Mutex::default(),
            detector: Arc::default(),
            clock: Arc::new(Timestamp::now),
        }
    }

    /// Times incidents and availability with `clock` instead of the system clock.
    pub fn with_clock(self, clock: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        Context { clock: Arc::new(clock), ..self }
    }

    /// Withholds the zones `detector` finds lost or recovering.
    pub fn with_detector(self, detector: Arc<super::Detector>) -> Self {
        Context { detector, ..self }
    }

    /// Writes only while `leader` says this replica holds the lease.
    pub fn with_leadership(self, leader: watch::Receiver<bool>, metrics: Arc<Metrics>) -> Self {
        Context { leader, metrics, ..self }
    }

    /// The wall clock of this operator (a fake one in tests).
    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }

    pub fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }

    /// A receiver of this replica's leadership.
    pub fn leadership(&self) -> watch::Receiver<bool> {
        self.leader.clone()
    }
}

/// Reconciles one service, if this replica is the leader; followers keep their caches warm and write nothing
/// (every service is reconciled again when a follower becomes the leader). A service being deleted, or in a
/// namespace being deleted, is skipped: re-creating what the garbage collector removes would fight the deletion.
///
/// There is no periodic resync: every input (the service, its class, its children, the zones) is watched, so a
/// settled service costs nothing until one of them changes.
pub async fn reconcile(svc: Arc<ResilientService>, ctx: Arc<Context>) -> Result<Action, Error> {
    let start = Instant::now();
    let terminating = svc.namespace().is_some_and(|ns| ctx.caches.terminating(&ns));
    if !ctx.is_leader() || svc.metadata.deletion_timestamp.is_some() || terminating {
        ctx.metrics.observe("skipped", None, start.elapsed());
        return Ok(Action::await_change());
    }
    let result = match reconcile_service(&svc, &ctx).await {
        // The service, or its namespace, went away while it was being reconciled: an ordinary deletion.
        Err(Error::Kube(kube::Error::Api(s))) if is_deletion(&s) => {
            info!(service = %svc.name_any(), reason = %s.message, "service or namespace is being deleted; stopping");
            ctx.metrics.observe("skipped", None, start.elapsed());
            return Ok(Action::await_change());
        }
        other => other,
    };
    match &result {
        Ok(_) => ctx.metrics.observe("success", None, start.elapsed()),
        Err(e) => ctx.metrics.observe("error", Some(e.kind()), start.elapsed()),
    }
    result
}

/// An API answer that means the object or its namespace is being deleted: 404 for the service's status (it was
/// deleted) or for a child's namespace, 403 "is being terminated" for a new object in a terminating namespace.
fn is_deletion(s: &kube::core::Status) -> bool {
    s.code == 404 || (s.code == 403 && s.message.contains("is being terminated"))
}

async fn reconcile_service(svc: &Arc<ResilientService>, ctx: &Context) -> Result<Action, Error> {
    let ns = svc.namespace().ok_or(Error::NoNamespace)?;
    let name = svc.name_any();
    tokio::time::timeout(Duration::from_secs(30), ctx.caches.wait_until_ready())
        .await
        .map_err(|_| Error::CachesNotSynced)?
        .map_err(|_| Error::CachesNotSynced)?;
    ctx.detector.wait_listed(Duration::from_secs(10)).await;

    // Observe, from the caches only.
    let now = Instant::now();
    let class = ctx.caches.class(&svc.spec.class_name);
    let children = unconfirmed_readiness_hidden(ctx.caches.deployments_of(svc), &ctx.writes, &ns, now);
    let nodes = topology::observe(&ctx.caches.nodes.state(), &ctx.config.keys);
    let location = svc.spec.backup.as_ref().and_then(|b| ctx.caches.location(&b.location));
    let points = ctx.caches.recovery_points_of(&ns, &name);
    let cron_jobs = ctx.caches.cron_jobs_of(svc);
    let detection = ctx.detector.current();

    // Plan.
    let clock = (ctx.clock)();
    let mut plan = plan::plan(&Inputs {
        service: svc,
        class: class.as_ref(),
        nodes: &nodes,
        children: &children,
        config: &ctx.config,
        backups: Backups { location: location.as_ref(), points: &points },
        failover: Failover { detection: &detection, observer: ctx.detector.observer() },
        now: clock,
    });

    // Apply, prune.
    let mut notes = Vec::new();
    let mut written = Vec::new();
    if let Ok(desired) = &plan {
        match apply_children(ctx, &ns, &children, &cron_jobs, desired, &mut notes, &mut written).await {
            Ok(()) => {}
            Err(Error::Rejected(problem)) => plan = Err(problem),
            Err(e) => return Err(e),
        }
    }

    // Backups: catalogue finished runs, carry out requests and retention. A step that fails is a Warning, and
    // the status below is written all the same: a verdict is never held back by a side step.
    let mut side_step_failed = false;
    if let Ok(Some(b)) = plan.as_ref().map(|d| d.backup.as_ref()) {
        side_step_failed = super::backups::keep_catalog(ctx, svc, b, &points, &mut notes).await;
    }

    // Status, only when it changed; Events on transitions.
    // metav1.Time has second precision; a finer timestamp would not survive the round trip.
    let stamp = Timestamp::from_second(clock.as_second()).unwrap_or(Timestamp::UNIX_EPOCH);
    let next = status::compute(svc, &plan, &Time(stamp));
    let status_key = RecentWrites::key("ResilientService/status", &ns, &name);
    let body = serde_json::json!({
        "apiVersion": ResilientService::api_version(&()),
        "kind": ResilientService::kind(&()),
        "status": next,
    });
    // Unchanged, or written a moment ago and not yet seen by the cache: no write, and no Event twice.
    let differs = status::changed(svc, &next);
    let changed = differs && !ctx.writes.just_wrote(&status_key, &body["status"], now);
    let mut transitions = if changed { status::transitions(svc, &next) } else { Vec::new() };
    // Incidents: announced and measured once, when the status that records them is written.
    if changed && let Ok(d) = &plan {
        for change in &d.incident_changes {
            let (warning, reason, message) = crate::failover::incidents::describe(change);
            transitions.push(status::Transition { warning, reason: reason.into(), message });
            if let crate::failover::incidents::Change::Ended(i) = change {
                ctx.metrics.incident_ended(i);
            }
        }
    }
    if changed {
        Api::<ResilientService>::namespaced(ctx.client.clone(), &ns)
            .patch_status(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&body))
            .await?;
        ctx.writes.record(status_key.clone(), &body["status"], 0, Instant::now());
    } else if !differs {
        ctx.writes.forget(&status_key);
    }
    // Only continuo writes this status: unlike a child, it needs no second look once the cache has it.
    let reference = svc.object_ref(&());
    for t in transitions.into_iter().chain(notes) {
        let event = Event {
            type_: if t.warning { EventType::Warning } else { EventType::Normal },
            reason: t.reason,
            note: Some(t.message.chars().take(1000).collect()),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&event, &reference).await {
            warn!(service = %name, error = %e, "could not record event");
        }
    }
    ctx.failures.lock().map(|mut f| f.remove(&format!("{ns}/{name}"))).ok();
    // While a write is not yet in the cache, look again when it stops being trusted; otherwise wait for a change.
    // Backups: their verdicts change with the clock (a copy ages past the RPO, a run falls due), so look again then.
    // Availability: the month's end is a checkpoint of its own.
    let backup_review = plan
        .as_ref()
        .ok()
        .and_then(|d| d.backup.as_ref())
        .and_then(|b| b.next_review(&class.as_ref()?.spec.objectives));
    let availability_review = plan.as_ref().ok().and_then(|d| d.availability_review);
    let review = backup_review
        .into_iter()
        .chain(availability_review)
        .min()
        .map(|at| Duration::from_secs(at.as_second().saturating_sub(clock.as_second()).max(1) as u64));
    let pending = ctx.writes.pending(&written, Instant::now()).map(|left| left + Duration::from_millis(100));
    let retry = side_step_failed.then_some(SIDE_STEP_RETRY);
    Ok(match pending.into_iter().chain(review).chain(retry).min() {
        Some(after) => Action::requeue(after),
        None => Action::await_change(),
    })
}

/// A child whose cached generation is older than the one continuo's last write produced is a stale copy: its
/// status describes the previous spec, so it must not count as rolled out (say, before draining another zone).
fn unconfirmed_readiness_hidden(
    mut children: Vec<Deployment>,
    writes: &RecentWrites,
    ns: &str,
    now: Instant,
) -> Vec<Deployment> {
    for d in &mut children {
        let key = RecentWrites::key("Deployment", ns, &d.name_any());
        if writes.generation(&key, now).is_some_and(|g| d.metadata.generation.unwrap_or(0) < g) {
            d.status = None;
        }
    }
    children
}

/// Applies each desired child that drifted, deletes drained zones. A child the API rejects as invalid
/// (say, a bad pod template) turns into a `Problem` for the status instead of an endless retry.
async fn apply_children(
    ctx: &Context,
    ns: &str,
    children: &[Deployment],
    cron_jobs: &[CronJob],
    desired: &plan::Desired,
    notes: &mut Vec<status::Transition>,
    written: &mut Vec<String>,
) -> Result<(), Error> {
    let client = &ctx.client;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    for d in &desired.deployments {
        let live = children.iter().find(|c| c.name_any() == d.name_any());
        apply_if_drifted(ctx, &deployments, d, live, Compare::TemplateByDigest, written).await?;
    }
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), ns);
    let live = ctx.caches.disruption_budget(ns, &desired.disruption_budget.name_any());
    apply_if_drifted(ctx, &pdbs, &desired.disruption_budget, live.as_ref(), Compare::Content, written).await?;
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let service_name = desired.disruption_budget.name_any();
    let live = ctx.caches.service(ns, &service_name);
    match &desired.service {
        Some(s) => apply_if_drifted(ctx, &services, s, live.as_ref(), Compare::Content, written).await?,
        None => {
            // Only a Service continuo made (controlled by this service) is removed.
            let owner = desired.disruption_budget.owner_references().first().map(|o| o.uid.as_str());
            if let Some(live) = live.filter(|l| controlled_by(l, owner)) {
                services.delete(&service_name, &delete_exactly(&live)).await?;
            }
        }
    }
    // Backup CronJobs: applied when the backup stage found no problem; then those no run needs are removed
    // (their copies stay in the catalog). A problem leaves them as they are.
    if let Some(wanted) = &desired.cron_jobs {
        let api: Api<CronJob> = Api::namespaced(client.clone(), ns);
        for c in wanted {
            let live = cron_jobs.iter().find(|l| l.name_any() == c.name_any());
            apply_if_drifted(ctx, &api, c, live, Compare::TemplateByDigest, written).await?;
        }
        for live in cron_jobs.iter().filter(|l| !wanted.iter().any(|c| c.name_any() == l.name_any())) {
            api.delete(&live.name_any(), &delete_exactly(live)).await?;
            ctx.applied.forget(&RecentWrites::key("CronJob", ns, &live.name_any()));
        }
    }
    for name in &desired.delete {
        if let Some(live) = children.iter().find(|c| &c.name_any() == name) {
            deployments.delete(name, &delete_exactly(live)).await?;
            ctx.applied.forget(&RecentWrites::key("Deployment", ns, name));
            info!(deployment = %name, "deleted drained zone");
            notes.push(status::Transition {
                warning: false,
                reason: "ZoneDrained".into(),
                message: format!("deleted {name}: its zone is no longer used and the others are Ready"),
            });
        }
    }
    Ok(())
}

/// Deletes only the object that was observed, never a newer one of the same name.
pub(crate) fn delete_exactly<K: Resource>(live: &K) -> DeleteParams {
    DeleteParams {
        preconditions: Some(Preconditions { uid: live.meta().uid.clone(), resource_version: None }),
        ..DeleteParams::background()
    }
}

/// How a cached child is compared with what continuo wants.
#[derive(Clone, Copy, PartialEq)]
enum Compare {
    /// Every field continuo applies is compared with the cached object.
    Content,
    /// As `Content`, but the pod template, which the Deployment cache does not keep, by the digest continuo stamps
    /// on it and by the generation its own apply produced; and the selector, immutable once created, not at all.
    TemplateByDigest,
}

/// Applies `desired` unless the cached `live` object already holds it, or this very body was applied a moment
/// ago and the cache has not delivered it yet.
async fn apply_if_drifted<K>(
    ctx: &Context,
    api: &Api<K>,
    desired: &K,
    live: Option<&K>,
    compare: Compare,
    written: &mut Vec<String>,
) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    let mut body = workload::manifest(desired);
    let name = desired.name_any();
    let key = RecentWrites::key(&K::kind(&()), desired.namespace().as_deref().unwrap_or_default(), &name);
    let compared = match compare {
        Compare::Content => body.clone(),
        Compare::TemplateByDigest => {
            // A Deployment's pod template, a CronJob's Job template: what the caches do not keep.
            let field = if body["spec"].get("jobTemplate").is_some() { "jobTemplate" } else { "template" };
            let digest = template_digest(&body["spec"][field]);
            body["metadata"]["annotations"][TEMPLATE_DIGEST] = digest.into();
            let mut without = body.clone();
            if let Some(spec) = without["spec"].as_object_mut() {
                spec.remove(field);
                // Immutable once created (apps/v1), so the cache does not keep it either.
                spec.remove("selector");
            }
            without
        }
    };
    if let Some(live) = live {
        let generation = live.meta().generation.unwrap_or(0);
        let holds = drift::holds(&serde_json::to_value(live).unwrap_or_default(), &compared)
            && (compare == Compare::Content || ctx.applied.accepts(&key, generation));
        if holds {
            ctx.writes.forget(&key);
            return Ok(());
        }
    }
    written.push(key.clone());
    if ctx.writes.just_wrote(&key, &body, Instant::now()) {
        return Ok(());
    }
    match api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&body)).await {
        Ok(applied) => {
            let generation = applied.meta().generation.unwrap_or(0);
            ctx.writes.record(key.clone(), &body, generation, Instant::now());
            if compare == Compare::TemplateByDigest {
                ctx.applied.record(&key, generation);
            }
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 422 => Err(Error::Rejected(Problem {
            reason: "InvalidTemplate",
            message: format!("{} {name} was rejected: {}", K::kind(&()), s.message),
        })),
        Err(e) => Err(e.into()),
    }
}

/// Backs off per object, exponentially from 5 s to 5 min, with jitter so that failing objects spread out.
pub fn error_policy(svc: Arc<ResilientService>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = format!("{}/{}", svc.namespace().unwrap_or_default(), svc.name_any());
    let failures = ctx
        .failures
        .lock()
        .map(|mut f| {
            let n = f.entry(key.clone()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        })
        .unwrap_or(1);
    let base = 5u64.saturating_mul(1 << failures.min(6).saturating_sub(1)).min(300);
    let jitter = u64::from(Timestamp::now().subsec_nanosecond().unsigned_abs()) % (base / 5 + 1);
    warn!(service = %key, kind = error.kind(), error = %error, failures, "reconcile failed");
    Action::requeue(Duration::from_secs(base + jitter))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment(generation: i64) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "s-a", "namespace": "n", "generation": generation},
            "status": {"observedGeneration": generation, "replicas": 3, "readyReplicas": 3, "updatedReplicas": 3}
        }))
        .unwrap()
    }

    #[test]
    fn a_cached_child_older_than_the_last_write_does_not_count_as_rolled_out() {
        let writes = RecentWrites::default();
        let now = Instant::now();
        writes.record(RecentWrites::key("Deployment", "n", "s-a"), &json!({}), 5, now);
        let stale = unconfirmed_readiness_hidden(vec![deployment(4)], &writes, "n", now);
        assert!(!plan::rolled_out(&stale[0], 1), "the cache's copy describes the previous spec");
        let fresh = unconfirmed_readiness_hidden(vec![deployment(5)], &writes, "n", now);
        assert!(plan::rolled_out(&fresh[0], 3));
        let later = unconfirmed_readiness_hidden(vec![deployment(4)], &writes, "n", now + super::super::WRITE_GRACE);
        assert!(plan::rolled_out(&later[0], 3), "after the grace period the cache is believed again");
    }
}
