//! Cataloguing: a finished scheduled backup run becomes a recovery point once, ever.
//!
//! The CronJob controller keeps a tier's last finished Jobs (`successfulJobsHistoryLimit`), so a run's Job
//! usually outlives its point when retention is short. What says a run was catalogued is therefore a mark on its
//! Job ([`CATALOGUED_ANNOTATION`]), written right after the point and kept by the API server with the Job, not
//! the point's existence, nor anything in memory: after the point is deleted, after a restart, whatever order the
//! watches deliver Jobs and points in, the run is not catalogued again. Retention deletes a point only once its
//! Job carries the mark or is gone (see `retention`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
};
use serde_json::json;
use tracing::info;

use super::{
    runs::update_status,
    step::{First, Step},
};
use crate::{
    api::RecoveryPoint,
    backup::{
        catalog::{self, FinishedRun, Outcome},
        jobs::{CATALOGUED_ANNOTATION, POINT_ANNOTATION, TIERS_ANNOTATION},
    },
    controller::{Context, Error, cache::CachedJob, cache::RecentWrites},
    status::Transition,
    workload::FIELD_MANAGER,
};

/// Whether `job`'s copy is in the catalog already (or was, before retention deleted it).
pub(super) fn catalogued(job: &CachedJob) -> bool {
    job.annotations().contains_key(CATALOGUED_ANNOTATION)
}

/// What a finished agent Job says: how it ended, when, its tiers and the agent's report.
pub(super) fn run_of(ctx: &Context, ns: &str, job: &CachedJob) -> Option<FinishedRun> {
    let succeeded = job.finished()?;
    let status = job.status.as_ref();
    let tiers = job
        .annotations()
        .get(TIERS_ANNOTATION)
        .map(|t| t.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect())
        .unwrap_or_default();
    Some(FinishedRun {
        job: job.name_any(),
        tiers,
        started: status.and_then(|s| s.start_time.as_ref()).map(|t| t.0),
        completed: status.and_then(|s| s.completion_time.as_ref()).map(|t| t.0),
        succeeded,
        message: ctx.caches.agent_report(ns, &job.name_any()),
    })
}

/// Catalogues the scheduled runs that finished and are not marked yet, and marks the Jobs of points already in
/// the catalog (a mark that failed to be written, or a point catalogued by an earlier version).
pub(super) async fn catalogue(step: &Step<'_>, notes: &mut Vec<Transition>) -> Result<(), Error> {
    let ctx = step.ctx;
    let Some(location) = step.svc.spec.backup.as_ref().and_then(|b| ctx.caches.location(&b.location)) else {
        return Ok(());
    };
    // A copy on request fills in the point that asked for it instead (see `requests`).
    let jobs: Vec<&CachedJob> = step
        .jobs("backup")
        .iter()
        .filter(|j| !catalogued(j) && !j.annotations().contains_key(POINT_ANNOTATION))
        .collect();
    let runs: Vec<FinishedRun> = jobs.iter().filter_map(|j| run_of(ctx, &step.ns, j)).collect();
    let outcomes = catalog::outcomes(&runs, step.points, &step.name, &step.ns, &location, &step.plan.tiers);
    let in_catalog = jobs.iter().filter(|j| step.points.iter().any(|p| p.name_any() == j.name_any()));
    let unmarked: Vec<String> = in_catalog.map(|j| j.name_any()).collect();
    let mut first = First::default();
    for outcome in outcomes {
        first.keep(record(step, outcome, notes).await);
    }
    for job in unmarked {
        first.keep(mark(ctx, &step.ns, &job).await);
    }
    first.result()
}

/// Records one run's outcome: a point (then its Job's mark), or a Warning once for a run that failed or did not
/// report.
pub(super) async fn record(step: &Step<'_>, outcome: Outcome, notes: &mut Vec<Transition>) -> Result<(), Error> {
    let ctx = step.ctx;
    match outcome {
        Outcome::Point(p) => {
            let api = step.points_api();
            let point = p.name_any();
            let key = RecentWrites::key("RecoveryPoint", &step.ns, &point);
            let mut body = crate::workload::manifest(&*p);
            let status = body.as_object_mut().and_then(|m| m.remove("status")).unwrap_or_default();
            if ctx.writes.just_wrote(&key, &body, std::time::Instant::now()) {
                return Ok(());
            }
            let params = PatchParams::apply(FIELD_MANAGER).force();
            api.patch(&point, &params, &Patch::Apply(&body)).await?;
            let status_body = json!({"apiVersion": body["apiVersion"], "kind": body["kind"], "status": status});
            api.patch_status(&point, &params, &Patch::Apply(&status_body)).await?;
            ctx.writes.record(key, &body, 0, std::time::Instant::now());
            ctx.metrics.copy_catalogued(&p.spec.tiers);
            info!(service = %step.name, %point, "copy catalogued");
            mark(ctx, &step.ns, &point).await
        }
        Outcome::Failed { job, tiers } => {
            if ctx.reported.first(&step.key, &job) {
                ctx.metrics.copy_failed(&tiers);
                notes.push(Transition {
                    warning: true,
                    reason: "BackupFailed".into(),
                    message: format!("backup run {job} (tiers {}) failed; it is not catalogued", tiers.join(", ")),
                });
            }
            Ok(())
        }
        Outcome::Unreported { job, why } => {
            if ctx.reported.first(&step.key, &job) {
                notes.push(Transition {
                    warning: true,
                    reason: "BackupUnreported".into(),
                    message: format!("backup run {job} succeeded but is not catalogued: {why}"),
                });
            }
            Ok(())
        }
    }
}

/// Marks the backup Job `job` as catalogued. A merge patch of one annotation: the Job is the CronJob
/// controller's, and an apply of a Job that is gone would try to create one. A Job already gone needs no mark.
pub(super) async fn mark(ctx: &Context, ns: &str, job: &str) -> Result<(), Error> {
    let patch = json!({"metadata": {"annotations": {CATALOGUED_ANNOTATION: job}}});
    let key = RecentWrites::key("Job", ns, job);
    if ctx.writes.just_wrote(&key, &patch, std::time::Instant::now()) {
        return Ok(());
    }
    let api: Api<k8s_openapi::api::batch::v1::Job> = Api::namespaced(ctx.client.clone(), ns);
    match api.patch(job, &PatchParams::default(), &Patch::Merge(&patch)).await {
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
        Ok(_) => {
            ctx.writes.record(key, &patch, 0, std::time::Instant::now());
            Ok(())
        }
    }
}

/// Keeps the points' retention fields in step with the class: a service created again under the name of a
/// deleted one takes its copies back under retention, and a changed `keep` moves their `expiresAt`.
pub(super) async fn follow_class(step: &Step<'_>) -> Result<(), Error> {
    let api = step.points_api();
    let tiers = &step.plan.tiers;
    let stopped =
        |p: &&RecoveryPoint| p.status.as_ref().and_then(|s| s.retention.as_deref()) == Some(catalog::RETENTION_STOPPED);
    let mut first = First::default();
    for p in step.points.iter().filter(stopped) {
        let expires = catalog::expires_at(p, tiers);
        let back = update_status(&api, p, |s| {
            s.retention = Some(catalog::RETENTION_ACTIVE.into());
            s.message = None;
            s.expires_at = expires.map(Time);
        });
        first.keep(back.await);
    }
    for (p, expires) in catalog::stale_expiry(step.points, tiers) {
        first.keep(update_status(&api, p, |s| s.expires_at = expires.map(Time)).await);
    }
    first.result()
}
