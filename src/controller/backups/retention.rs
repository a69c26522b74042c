//! Retention, carried out: an expired copy is deleted by the agent's `delete` run, then its point leaves the
//! catalog — only once the scheduled Job it came from is marked catalogued or gone, so that the Job the CronJob
//! still keeps in its history can never bring the point back.

use kube::{Api, ResourceExt};
use tracing::info;

use super::{
    catalogue::{catalogued, mark},
    runs::{Run, Started, delete_run_name, set_phase, start_once},
    step::{First, Step},
};
use crate::{
    api::RecoveryPoint,
    controller::{Error, cache::CachedJob, delete_exactly},
    status::Transition,
};

/// Starts the delete runs of expired copies and removes the points whose copy the agent deleted. Only when the
/// backup stage found nothing wrong, and never for a point another tier keeps.
pub(super) async fn expire(step: &Step<'_>, notes: &mut Vec<Transition>) -> Result<(), Error> {
    if step.plan.problem.is_some() {
        return Ok(());
    }
    let mut first = First::default();
    for p in step.points {
        let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
        let outcome = match phase {
            Some("Available") if step.plan.retention.expired.contains(&p.name_any()) => start(step, p, notes).await,
            Some("Deleting") => finish(step, p, notes).await,
            _ => Ok(()),
        };
        first.keep(outcome);
    }
    first.result()
}

/// Starts the delete run of the expired copy `p` and marks it `Deleting`.
async fn start(step: &Step<'_>, p: &RecoveryPoint, notes: &mut Vec<Transition>) -> Result<(), Error> {
    let Some(location) = step.ctx.caches.location(&p.spec.location) else { return Ok(()) };
    let point = p.name_any();
    let run_name = delete_run_name(&point);
    let id = p.status.as_ref().and_then(|s| s.id.clone()).unwrap_or_default();
    let uid = p.uid().unwrap_or_default();
    let vars = [("CONTINUO_POINT_ID", id)];
    let run = Run {
        name: &run_name,
        action: "delete",
        point: &point,
        subject: &uid,
        location: &location,
        vars: &vars,
        into: None,
    };
    match start_once(step, &run).await? {
        Started::Yes => {
            set_phase(&step.points_api(), p, "Deleting", "expired by retention; the agent is deleting the copy")
                .await?;
            info!(service = %step.name, %point, "expired; delete run started");
        }
        Started::NameTaken => {
            if step.ctx.reported.first(&step.key, &run_name) {
                notes.push(Transition {
                    warning: true,
                    reason: "CopyDeleteFailed".into(),
                    message: format!(
                        "expired copy {point} is kept: a Job {run_name} made for another object of that name exists; \
                         delete it and the copy is deleted"
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Removes `p` from the catalog once the agent deleted its copy; a failed delete run keeps it, reported once.
async fn finish(step: &Step<'_>, p: &RecoveryPoint, notes: &mut Vec<Transition>) -> Result<(), Error> {
    let point = p.name_any();
    let run_name = delete_run_name(&point);
    let api: Api<RecoveryPoint> = step.points_api();
    match step.jobs("delete").iter().find(|j| j.name_any() == run_name).and_then(CachedJob::finished) {
        Some(true) => {
            // The scheduled Job this copy came from must say it was catalogued before the point goes; until the
            // cache shows the mark, the point waits (the Job's change brings the next reconcile).
            if let Some(source) = step.jobs("backup").iter().find(|j| j.name_any() == point && !catalogued(j)) {
                return mark(step.ctx, &step.ns, &source.name_any()).await;
            }
            // Already gone (a second look from a cache behind the first delete) is what was wanted.
            if let Err(e) = api.delete(&point, &delete_exactly(p)).await
                && !matches!(&e, kube::Error::Api(s) if s.code == 404)
            {
                return Err(e.into());
            }
            info!(service = %step.name, %point, "copy deleted and removed from the catalog");
        }
        Some(false) if step.ctx.reported.first(&step.key, &run_name) => {
            set_phase(&api, p, "Deleting", "the agent's delete run failed; the point is kept").await?;
            notes.push(Transition {
                warning: true,
                reason: "CopyDeleteFailed".into(),
                message: format!("deleting expired copy {point} failed (run {run_name}); it is kept"),
            });
        }
        _ => {}
    }
    Ok(())
}
