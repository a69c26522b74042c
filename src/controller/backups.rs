//! The reconcile's backup step: catalogue finished backup runs as recovery points, and carry out retention —
//! an expired point is deleted through the agent's `delete` action, then removed from the catalog.
//!
//! Nothing here deletes a copy unless retention expired it and the backup stage found no problem; a failed
//! delete run keeps the point (marked) for a person to look at.

use std::collections::HashSet;

use k8s_openapi::{api::batch::v1::Job, apimachinery::pkg::apis::meta::v1::Time};
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
    runtime::reflector::{ObjectRef, Store},
};
use serde_json::json;
use tracing::info;

use super::{
    Context, Error,
    cache::{CachedJob, RecentWrites},
    reconcile::delete_exactly,
};
use crate::{
    api::{RecoveryPoint, ResilientService, RestoreRequest},
    backup::{
        BackupPlan,
        catalog::{self, FinishedRun, Outcome},
        jobs::{self, Agent, POINT_ANNOTATION, TIERS_ANNOTATION},
        restore,
    },
    status::Transition,
    workload::FIELD_MANAGER,
};

/// Runs already reported (failed, or without a usable report), per service, so each is reported once per process.
/// Pruned to the Jobs that still exist at each pass, so it stays as small as the Jobs' history.
#[derive(Default)]
pub struct Reported(std::sync::Mutex<std::collections::HashMap<String, HashSet<String>>>);

impl Reported {
    /// True the first time `job` of `service` is seen.
    fn first(&self, service: &str, job: &str) -> bool {
        self.0.lock().map(|mut m| m.entry(service.to_string()).or_default().insert(job.to_string())).unwrap_or(false)
    }

    /// Forgets the runs of `service` whose Job is gone.
    fn keep_only(&self, service: &str, live: &HashSet<String>) {
        if let Ok(mut m) = self.0.lock()
            && let Some(seen) = m.get_mut(service)
        {
            seen.retain(|j| live.contains(j));
            if seen.is_empty() {
                m.remove(service);
            }
        }
    }
}

/// A scheduled backup run that finished; a copy on request fills in the point that asked for it instead.
fn finished_run(ctx: &Context, ns: &str, job: &CachedJob) -> Option<FinishedRun> {
    if job.annotations().contains_key(POINT_ANNOTATION) {
        return None;
    }
    run_of(ctx, ns, job)
}

/// What a finished agent Job says: how it ended, when, its tiers and the agent's report.
fn run_of(ctx: &Context, ns: &str, job: &CachedJob) -> Option<FinishedRun> {
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
    let service_key = format!("{ns}/{name}");
    let live: HashSet<String> = ["backup", "delete"]
        .iter()
        .flat_map(|a| ctx.caches.agent_jobs_of(&ns, &name, a))
        .map(|j| j.name_any())
        .collect();
    ctx.reported.keep_only(&service_key, &live);

    // Catalogue.
    if let Some(location) = &location {
        let runs: Vec<FinishedRun> =
            ctx.caches.agent_jobs_of(&ns, &name, "backup").iter().filter_map(|j| finished_run(ctx, &ns, j)).collect();
        for outcome in catalog::outcomes(&runs, points, &name, &ns, location, &plan.tiers) {
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
                    if ctx.reported.first(&service_key, &job) {
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
                    if ctx.reported.first(&service_key, &job) {
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

    // A service created again under the name of a deleted one takes its copies back under retention.
    for p in points
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.retention.as_deref()) == Some(catalog::RETENTION_STOPPED))
    {
        let expires = catalog::expires_at(p, &plan.tiers);
        update_status(&api, p, |s| {
            s.retention = Some(catalog::RETENTION_ACTIVE.into());
            s.message = None;
            s.expires_at = expires.map(Time);
        })
        .await?;
    }
    for (p, expires) in catalog::stale_expiry(points, &plan.tiers) {
        update_status(&api, p, |s| s.expires_at = expires.map(Time)).await?;
    }
    copies_on_request(ctx, svc, plan, points, notes).await?;
    restores(ctx, svc, plan, &ctx.caches.recovery_points_in(&ns), notes).await?;

    // Retention: only when the backup stage found nothing wrong, never for a point another tier keeps.
    if plan.problem.is_some() {
        return Ok(());
    }
    let delete_runs = ctx.caches.agent_jobs_of(&ns, &name, "delete");
    for p in points {
        let point = p.name_any();
        let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
        let run_name = delete_run_name(&point);
        match phase {
            Some("Available") if plan.retention.expired.contains(&point) => {
                let Some(loc) = ctx.caches.location(&p.spec.location) else { continue };
                let id = p.status.as_ref().and_then(|s| s.id.clone()).unwrap_or_default();
                start_run(ctx, svc, plan, &loc, &run_name, "delete", &point, &[("CONTINUO_POINT_ID", id)]).await?;
                set_phase(&api, p, "Deleting", "expired by retention; the agent is deleting the copy").await?;
                info!(service = %name, %point, "expired; delete run started");
            }
            Some("Deleting") => {
                match delete_runs.iter().find(|j| j.name_any() == run_name).and_then(CachedJob::finished) {
                    Some(true) => {
                        api.delete(&point, &delete_exactly(p)).await?;
                        info!(service = %name, %point, "copy deleted and removed from the catalog");
                    }
                    Some(false) if ctx.reported.first(&service_key, &run_name) => {
                        set_phase(&api, p, "Deleting", "the agent's delete run failed; the point is kept").await?;
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

/// Marks the points whose service no longer exists: retention has stopped for them, and they are kept until a
/// person deletes them. Reads the caches only; run when a service is deleted and when this replica becomes the
/// leader. Returns how many points were marked.
pub async fn mark_orphans(ctx: &Context, services: &Store<ResilientService>) -> Result<usize, Error> {
    if !ctx.is_leader() {
        return Ok(0);
    }
    let points: Vec<RecoveryPoint> = ctx.caches.recovery_points.state().iter().map(|p| (**p).clone()).collect();
    let exists = |ns: &str, name: &str| services.get(&ObjectRef::new(name).within(ns)).is_some();
    let mut marked = 0;
    for p in catalog::orphans(&points, exists) {
        let api: Api<RecoveryPoint> =
            Api::namespaced(ctx.client.clone(), p.metadata.namespace.as_deref().unwrap_or_default());
        let message = format!(
            "service {:?} was deleted: retention stopped; the copy is kept until a person deletes it",
            p.spec.service
        );
        // Nothing will expire it any more: it shows no expiry date.
        update_status(&api, p, |s| {
            s.retention = Some(catalog::RETENTION_STOPPED.into());
            s.message = Some(message);
            s.expires_at = None;
        })
        .await?;
        marked += 1;
    }
    Ok(marked)
}

/// A RecoveryPoint a person created with `onDemand: true` and no status asks for a copy now, to its location (an
/// export, when that is another location than the service's): the agent's backup runs for it, and the point is
/// filled in from its report. Such a point is kept until a person deletes it.
async fn copies_on_request(
    ctx: &Context,
    svc: &ResilientService,
    plan: &BackupPlan,
    points: &[RecoveryPoint],
    notes: &mut Vec<Transition>,
) -> Result<(), Error> {
    let (ns, name) = (svc.namespace().unwrap_or_default(), svc.name_any());
    let api: Api<RecoveryPoint> = Api::namespaced(ctx.client.clone(), &ns);
    let runs = ctx.caches.agent_jobs_of(&ns, &name, "backup");
    for p in points.iter().filter(|p| p.spec.on_demand) {
        let point = p.name_any();
        let run_name = jobs::bounded_name(&point, "-copy", 63);
        let phase = p.status.as_ref().and_then(|s| s.phase.clone());
        let Some(loc) = ctx.caches.location(&p.spec.location) else {
            if phase.is_none() {
                set_phase(&api, p, "Failed", &format!("BackupLocation {:?} does not exist", p.spec.location)).await?;
            }
            continue;
        };
        match phase.as_deref() {
            None => {
                start_run(ctx, svc, plan, &loc, &run_name, "backup", &point, &[("CONTINUO_TIERS", String::new())])
                    .await?;
                set_phase(&api, p, "Running", "copy on request running").await?;
            }
            Some("Running") => {
                let Some(run) = runs.iter().find(|j| j.name_any() == run_name).and_then(|j| run_of(ctx, &ns, j)) else {
                    continue;
                };
                match catalog::outcomes(&[run], &[], &name, &ns, &loc, &[]).pop() {
                    Some(Outcome::Point(done)) => {
                        ctx.metrics.copy_catalogued(&[]);
                        let filled = done.status.clone().unwrap_or_default();
                        update_status(&api, p, |s| *s = filled).await?;
                    }
                    Some(Outcome::Failed { .. }) => {
                        ctx.metrics.copy_failed(&[]);
                        notes.push(Transition {
                            warning: true,
                            reason: "BackupFailed".into(),
                            message: format!("copy on request {point} failed (run {run_name})"),
                        });
                        set_phase(&api, p, "Failed", &format!("the agent's run {run_name} failed")).await?;
                    }
                    Some(Outcome::Unreported { why, .. }) => set_phase(&api, p, "Failed", &why).await?,
                    None => {}
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Carries out restore requests: resolves the point (among every point of the namespace, so that one of another
/// service is refused by name), runs the agent's `restore`, and records start, end, the
/// age of the data and the outcome. A request is acted on once; nothing of the running workload is touched.
async fn restores(
    ctx: &Context,
    svc: &ResilientService,
    plan: &BackupPlan,
    points: &[RecoveryPoint],
    notes: &mut Vec<Transition>,
) -> Result<(), Error> {
    let (ns, name) = (svc.namespace().unwrap_or_default(), svc.name_any());
    let api: Api<RestoreRequest> = Api::namespaced(ctx.client.clone(), &ns);
    let runs = ctx.caches.agent_jobs_of(&ns, &name, "restore");
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for req in ctx.caches.restores_of(&ns, &name) {
        let req_name = req.name_any();
        let run_name = jobs::bounded_name(&req_name, "-restore", 63);
        let phase = req.status.as_ref().and_then(|s| s.phase.clone());
        let status = match phase.as_deref() {
            None => match restore::resolve(&req, points) {
                Err(why) => {
                    notes.push(Transition {
                        warning: true,
                        reason: "RestoreRefused".into(),
                        message: format!("restore {req_name}: {why}"),
                    });
                    json!({"phase": "Failed", "message": why})
                }
                Ok(point) => {
                    let Some(loc) = ctx.caches.location(&point.spec.location) else { continue };
                    let id = point.status.as_ref().and_then(|s| s.id.clone()).unwrap_or_default();
                    let vars = [("CONTINUO_POINT_ID", id), ("CONTINUO_RESTORE_SCOPE", req.spec.scope.clone())];
                    start_run(ctx, svc, plan, &loc, &run_name, "restore", &point.name_any(), &vars).await?;
                    let captured = point.status.as_ref().and_then(|s| s.captured_at.clone());
                    notes.push(Transition {
                        warning: false,
                        reason: "RestoreStarted".into(),
                        message: format!(
                            "restore {req_name}: {} (scope {}) from {}",
                            point.name_any(),
                            req.spec.scope,
                            captured.as_ref().map(|t| t.0.to_string()).unwrap_or_default()
                        ),
                    });
                    json!({"phase": "Running", "point": point.name_any(), "capturedAt": captured,
                        "startTime": k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now())})
                }
            },
            Some("Running") => {
                let Some(job) = runs.iter().find(|j| j.name_any() == run_name) else { continue };
                let Some(succeeded) = job.finished() else { continue };
                let done = job.status.as_ref().and_then(|s| s.completion_time.clone()).unwrap_or(
                    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now()),
                );
                let age = req
                    .status
                    .as_ref()
                    .and_then(|s| s.captured_at.as_ref())
                    .map(|c| crate::api::Span::from_secs(done.0.duration_since(c.0).as_secs().max(0) as u64));
                let started = req.status.as_ref().and_then(|s| s.start_time.as_ref()).map(|t| t.0);
                if let Some(s) = started {
                    ctx.metrics.restore_took(done.0.duration_since(s).as_secs_f64().max(0.0), succeeded);
                }
                let (phase, reason, message) = if succeeded {
                    (
                        "Succeeded",
                        "RestoreSucceeded",
                        format!("restored data {} old at completion", age.map(|a| a.to_string()).unwrap_or_default()),
                    )
                } else {
                    ("Failed", "RestoreFailed", format!("the agent's run {run_name} failed"))
                };
                notes.push(Transition {
                    warning: !succeeded,
                    reason: reason.into(),
                    message: format!("restore {req_name}: {message}"),
                });
                // The whole status: server-side apply drops the fields a manager stops applying.
                let mut whole = json!(req.status.clone().unwrap_or_default());
                whole["phase"] = phase.into();
                whole["completionTime"] = json!(done);
                whole["message"] = message.into();
                whole
            }
            _ => continue,
        };
        let body = json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "RestoreRequest", "status": status});
        api.patch_status(&req_name, &params, &Patch::Apply(&body)).await?;
    }
    Ok(())
}

/// Applies the one-off Job that runs the agent's `action` for `point`, in the service's eligible zones.
#[allow(clippy::too_many_arguments)]
async fn start_run(
    ctx: &Context,
    svc: &ResilientService,
    plan: &BackupPlan,
    location: &crate::api::BackupLocation,
    run_name: &str,
    action: &str,
    point: &str,
    vars: &[(&str, String)],
) -> Result<(), Error> {
    let agent = Agent {
        service: svc,
        location,
        keys: &ctx.config.keys,
        zones: &plan.agent_zones,
        regions: plan.agent_regions.as_deref(),
    };
    let job = agent.job(run_name.to_string(), action, point, vars);
    Api::<Job>::namespaced(ctx.client.clone(), &svc.namespace().unwrap_or_default())
        .patch(run_name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(crate::workload::manifest(&job)))
        .await?;
    Ok(())
}

/// The delete run's Job name for `point`, within the 63 characters a Job name may have.
fn delete_run_name(point: &str) -> String {
    jobs::bounded_name(point, "-delete", 63)
}

async fn set_phase(api: &Api<RecoveryPoint>, p: &RecoveryPoint, phase: &str, message: &str) -> Result<(), Error> {
    update_status(api, p, |s| {
        s.phase = Some(phase.into());
        s.message = Some(message.into());
    })
    .await
}

/// Applies `p`'s whole status with `change` made to it. Server-side apply removes the fields a manager stops
/// applying, so a status is always applied whole, never a part of it.
async fn update_status(
    api: &Api<RecoveryPoint>,
    p: &RecoveryPoint,
    change: impl FnOnce(&mut crate::api::RecoveryPointStatus),
) -> Result<(), Error> {
    let mut status = p.status.clone().unwrap_or_default();
    change(&mut status);
    let body = json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "RecoveryPoint", "status": status});
    match api.patch_status(&p.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&body)).await {
        // Deleted meanwhile: nothing to record.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        other => other.map(|_| ()).map_err(Error::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_reported_once_and_forgotten_with_its_job() {
        let r = Reported::default();
        assert!(r.first("ns/hub", "hub-backup-1"));
        assert!(!r.first("ns/hub", "hub-backup-1"), "reported once");
        assert!(r.first("ns/other", "hub-backup-1"), "per service");
        r.keep_only("ns/hub", &HashSet::new());
        assert!(r.first("ns/hub", "hub-backup-1"), "forgotten once the Job is gone, so memory stays bounded");
        assert_eq!(r.0.lock().unwrap().len(), 2);
    }
}
