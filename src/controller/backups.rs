//! The reconcile's backup step: catalogue finished backup runs as recovery points, and carry out retention —
//! an expired point is deleted through the agent's `delete` action, then removed from the catalog.
//!
//! Nothing here deletes a copy unless retention expired it and the backup stage found no problem; a failed
//! delete run keeps the point (marked) for a person to look at.

use std::collections::HashSet;

use k8s_openapi::api::batch::v1::Job;
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
};
use serde_json::json;
use tracing::info;

use super::{
    Context, Error,
    cache::{CachedJob, RecentWrites},
    reconcile::delete_exactly,
};
use crate::{
    api::{RecoveryPoint, ResilientService},
    backup::{
        BackupPlan,
        catalog::{self, FinishedRun, Outcome},
        jobs::{self, Agent, TIERS_ANNOTATION},
    },
    status::Transition,
    workload::FIELD_MANAGER,
};

/// Runs already reported (failed, or without a usable report), so each is reported once per process.
#[derive(Default)]
pub struct Reported(std::sync::Mutex<HashSet<String>>);

impl Reported {
    /// True the first time `key` is seen.
    fn first(&self, key: &str) -> bool {
        self.0.lock().map(|mut s| s.insert(key.to_string())).unwrap_or(false)
    }
}

fn finished_run(ctx: &Context, ns: &str, job: &CachedJob) -> Option<FinishedRun> {
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

/// Catalogues finished runs and applies retention for `svc`.
pub(super) async fn keep_catalog(
    ctx: &Context,
    svc: &ResilientService,
    plan: &BackupPlan,
    points: &[RecoveryPoint],
    notes: &mut Vec<Transition>,
) -> Result<(), Error> {
    let (ns, name) = (svc.namespace().unwrap_or_default(), svc.name_any());
    let api: Api<RecoveryPoint> = Api::namespaced(ctx.client.clone(), &ns);
    let location = svc.spec.backup.as_ref().and_then(|b| ctx.caches.location(&b.location));
    let now = std::time::Instant::now();

    // Catalogue.
    if let Some(location) = &location {
        let runs: Vec<FinishedRun> =
            ctx.caches.agent_jobs_of(&ns, &name, "backup").iter().filter_map(|j| finished_run(ctx, &ns, j)).collect();
        for outcome in catalog::outcomes(&runs, points, &name, &ns, location) {
            match outcome {
                Outcome::Point(p) => {
                    let key = RecentWrites::key("RecoveryPoint", &ns, &p.name_any());
                    let mut body = crate::workload::manifest(&*p);
                    let status = body.as_object_mut().and_then(|m| m.remove("status")).unwrap_or_default();
                    if ctx.writes.just_wrote(&key, &body, now) {
                        continue;
                    }
                    let params = PatchParams::apply(FIELD_MANAGER).force();
                    api.patch(&p.name_any(), &params, &Patch::Apply(&body)).await?;
                    let status_body = json!({"apiVersion": body["apiVersion"], "kind": body["kind"], "status": status});
                    api.patch_status(&p.name_any(), &params, &Patch::Apply(&status_body)).await?;
                    ctx.writes.record(key, &body, 0, std::time::Instant::now());
                    ctx.metrics.copy_catalogued(&p.spec.tiers);
                    info!(service = %name, point = %p.name_any(), "copy catalogued");
                }
                Outcome::Failed { job, tiers } => {
                    if ctx.reported.first(&format!("{ns}/{job}")) {
                        ctx.metrics.copy_failed(&tiers);
                        notes.push(Transition {
                            warning: true,
                            reason: "BackupFailed".into(),
                            message: format!(
                                "backup run {job} (tiers {}) failed; it is not catalogued",
                                tiers.join(", ")
                            ),
                        });
                    }
                }
                Outcome::Unreported { job, why } => {
                    if ctx.reported.first(&format!("{ns}/{job}")) {
                        notes.push(Transition {
                            warning: true,
                            reason: "BackupUnreported".into(),
                            message: format!("backup run {job} succeeded but is not catalogued: {why}"),
                        });
                    }
                }
            }
        }
    }

    // Retention: only when the backup stage found nothing wrong, never for a point another tier keeps.
    if plan.problem.is_some() {
        return Ok(());
    }
    let delete_runs = ctx.caches.agent_jobs_of(&ns, &name, "delete");
    let jobs_api: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    for p in points {
        let point = p.name_any();
        let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
        let run_name = delete_run_name(&point);
        match phase {
            Some("Available") if plan.retention.expired.contains(&point) => {
                let Some(loc) = ctx.caches.location(&p.spec.location) else { continue };
                let agent = Agent {
                    service: svc,
                    location: &loc,
                    keys: &ctx.config.keys,
                    zones: &plan.agent_zones,
                    regions: plan.agent_regions.as_deref(),
                };
                let id = p.status.as_ref().and_then(|s| s.id.clone()).unwrap_or_default();
                let job = agent.job(run_name.clone(), "delete", &point, &[("CONTINUO_POINT_ID", id)]);
                let params = PatchParams::apply(FIELD_MANAGER).force();
                jobs_api.patch(&run_name, &params, &Patch::Apply(crate::workload::manifest(&job))).await?;
                set_phase(&api, &point, "Deleting", "expired by retention; the agent is deleting the copy").await?;
                info!(service = %name, %point, "expired; delete run started");
            }
            Some("Deleting") => {
                match delete_runs.iter().find(|j| j.name_any() == run_name).and_then(CachedJob::finished) {
                    Some(true) => {
                        api.delete(&point, &delete_exactly(p)).await?;
                        info!(service = %name, %point, "copy deleted and removed from the catalog");
                    }
                    Some(false) if ctx.reported.first(&format!("{ns}/{run_name}")) => {
                        set_phase(&api, &point, "Deleting", "the agent's delete run failed; the point is kept").await?;
                        notes.push(Transition {
                            warning: true,
                            reason: "CopyDeleteFailed".into(),
                            message: format!("deleting expired copy {point} failed (run {run_name}); it is kept"),
                        });
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The delete run's Job name for `point`, within the 63 characters a Job name may have.
fn delete_run_name(point: &str) -> String {
    jobs::bounded_name(point, "-delete", 63)
}

async fn set_phase(api: &Api<RecoveryPoint>, point: &str, phase: &str, message: &str) -> Result<(), Error> {
    let body = json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "RecoveryPoint",
        "status": {"phase": phase, "message": message}});
    api.patch_status(point, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&body)).await?;
    Ok(())
}
