//! One reconcile, as a pipeline: observe (the caches) → plan (pure) → apply → prune → status → events.
//!
//! Observing reads only the caches the controller's watches keep, so a reconcile that finds nothing to do makes
//! no API request. What it writes is remembered for a few seconds ([`RecentWrites`]): until the cache shows a
//! write, the same write is not repeated and a child's readiness is not trusted. A service being deleted, or in
//! a namespace being deleted, is left alone: continuo never fights a deletion.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use k8s_openapi::jiff::Timestamp;
use kube::{ResourceExt, runtime::controller::Action};
use tracing::{info, warn};

use super::{
    Context, Error,
    apply::{apply_children, unconfirmed_readiness_hidden},
    publish::publish,
};
use crate::{
    api::ResilientService,
    plan::{self, Failover, Inputs},
    topology,
};

/// When a backup side step that failed is tried again: soon, and without the growing backoff of a failed
/// reconcile, since the status was written.
const SIDE_STEP_RETRY: Duration = Duration::from_secs(30);

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
        Ok(_) => {
            ctx.api.answered();
            ctx.metrics.observe("success", None, start.elapsed());
        }
        // One condition of the operator's, not a failure of this service.
        Err(e) if e.unreachable() => {
            ctx.api.failed(e);
            ctx.metrics.observe("unreachable", None, start.elapsed());
        }
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
    let children = children(ctx, svc, &ns, now);
    let volumes = ctx.caches.volumes.snapshot(svc);
    let quiesced = super::volumes::quiesced_zone(&ctx.caches, svc);
    let nodes = topology::observe(&ctx.caches.nodes.state(), &ctx.config.keys);
    let backups = super::backups::observe(ctx, svc);
    let cron_jobs = ctx.caches.cron_jobs_of(svc);
    let detection = ctx.detector.current();
    let data = ctx.caches.data.snapshot(&ns, &svc.spec.data);
    let drills = ctx.caches.drills_of(&ns, &name);
    let drilled = super::drills::drilled_zone(&drills);
    let previous = svc.status.as_ref().map(|s| s.drills.as_slice()).unwrap_or_default();
    let last_drills = super::drills::last_drills(&drills, previous);

    // Plan.
    let clock = ctx.now();
    let mut plan = plan::plan(&Inputs {
        service: svc,
        class: class.as_ref(),
        nodes: &nodes,
        children: &children,
        config: &ctx.config,
        backups: backups.inputs(),
        failover: Failover { detection: &detection, observer: ctx.detector.observer() },
        data: data.observed(),
        drill: drilled.as_deref(),
        quiesced: quiesced.as_deref(),
        last_drills: &last_drills,
        volumes: volumes.observed(),
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

    // Backups: catalogue finished runs (and, at a recovery site, the copies the storage holds), carry out requests
    // and retention. A step that fails is a Warning, and the status below is written all the same: a verdict is
    // never held back by a side step.
    let mut side_step_failed = keep_catalog(ctx, svc, plan.as_ref().ok(), &backups.points, &mut notes).await;

    // Stateful services: a claim whose data diverged is labelled so (its only write), and a Warning says so.
    if let Ok(desired) = &plan {
        side_step_failed |= super::volumes::mark_diverged(ctx, &ns, desired, &volumes, &mut notes).await;
    }

    // Drills: each one's next step, from this plan; a drill running is measured again soon.
    let mut drill_tick = None;
    if let Ok(desired) = &plan {
        drill_tick = super::drills::step(ctx, svc, class.as_ref(), desired, &drills, clock, &mut notes).await;
    }

    // Status, only when it changed; Events on transitions.
    let progress_waits = publish(ctx, svc, &plan, clock, notes, last_drills).await?;
    ctx.failures.lock().map(|mut f| f.remove(&format!("{ns}/{name}"))).ok();
    let retry = side_step_failed.then_some(SIDE_STEP_RETRY).into_iter().chain(drill_tick).min();
    Ok(next_look(ctx, &plan, class.as_ref(), clock, &written, retry, progress_waits))
}

/// The backup side steps, for a service that declares backups; whether one failed.
async fn keep_catalog(
    ctx: &Context,
    svc: &ResilientService,
    desired: Option<&plan::Desired>,
    points: &[crate::api::RecoveryPoint],
    notes: &mut Vec<crate::status::Transition>,
) -> bool {
    let Some((desired, backup)) = desired.and_then(|d| Some((d, d.backup.as_ref()?))) else { return false };
    super::backups::keep_catalog(ctx, svc, backup, points, desired.volumes.as_ref(), notes).await
}

/// The service's zone workloads: its Deployments, or a stateful service's StatefulSets read as such; those whose
/// readiness the cache cannot confirm yet hidden.
fn children(
    ctx: &Context,
    svc: &ResilientService,
    ns: &str,
    now: Instant,
) -> Vec<k8s_openapi::api::apps::v1::Deployment> {
    let (kind, live) = match svc.spec.volume_claim_templates.is_empty() {
        true => ("Deployment", ctx.caches.deployments_of(svc)),
        false => ("StatefulSet", ctx.caches.volumes.zone_workloads_of(svc)),
    };
    unconfirmed_readiness_hidden(live, kind, &ctx.writes, ns, now)
}

/// When to look at the service again. While a write is not yet in the cache, when it stops being trusted;
/// backups and data layers, when their verdicts change with the clock (a copy or a sync ages past the RPO, a run
/// falls due); availability, at the month's end; a new service's progress held back, when it may wait no longer;
/// a side step that failed, or a data layer not listed yet, soon. Otherwise only when something watched changes.
fn next_look(
    ctx: &Context,
    plan: &plan::Plan,
    class: Option<&crate::api::ContinuityClass>,
    clock: Timestamp,
    written: &[String],
    retry: Option<Duration>,
    progress_waits: Option<Timestamp>,
) -> Action {
    let desired = plan.as_ref().ok();
    let backup_review = desired.and_then(|d| d.backup.as_ref()).and_then(|b| b.next_review(&class?.spec.objectives));
    let availability_review = desired.and_then(|d| d.availability_review);
    let data_review = desired.and_then(|d| d.data.next_review(&class?.spec.objectives, clock));
    let drill_review = desired.and_then(|d| d.drill_policy.as_ref()?.review);
    let review = backup_review
        .into_iter()
        .chain(availability_review)
        .chain(data_review)
        .chain(drill_review)
        .chain(progress_waits)
        .min()
        .map(|at| Duration::from_secs(at.as_second().saturating_sub(clock.as_second()).max(1) as u64));
    let pending = ctx.writes.pending(written, Instant::now()).map(|left| left + Duration::from_millis(100));
    // A data layer's first list is not a change of any object when it finds none (or finds its CRD absent).
    let unobserved = desired.is_some_and(|d| d.data.awaiting_observation()).then_some(DATA_LAYER_WAIT);
    match pending.into_iter().chain(review).chain(retry).chain(unobserved).min() {
        Some(after) => Action::requeue(after),
        None => Action::await_change(),
    }
}

/// How soon a service is looked at again while a data layer it names has not been listed yet.
const DATA_LAYER_WAIT: Duration = Duration::from_secs(2);

/// When the API server does not answer, a service is tried again this soon (plus up to a second at random): its
/// own backoff does not grow, so it is acted on within seconds of the API's return.
pub const UNREACHABLE_RETRY: Duration = Duration::from_secs(5);

/// Backs off per object, exponentially from 5 s to 5 min, with jitter so that failing objects spread out; an API
/// server that does not answer is retried every few seconds instead, without growing the backoff.
pub fn error_policy(svc: Arc<ResilientService>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = format!("{}/{}", svc.namespace().unwrap_or_default(), svc.name_any());
    if error.unreachable() {
        tracing::debug!(service = %key, error = %error, "the API does not answer; retried shortly");
        let jitter = u64::from(Timestamp::now().subsec_nanosecond().unsigned_abs()) % 1_000_000_000;
        return Action::requeue(UNREACHABLE_RETRY + Duration::from_nanos(jitter));
    }
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
