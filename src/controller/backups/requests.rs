//! What people ask for: a copy now (a `RecoveryPoint` with `onDemand: true` and no status, to its location — an
//! export, when that is another location than the service's), and restores (`RestoreRequest`). Each is acted on
//! once, through a one-off run of the agent; nothing of the running workload is touched.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
};
use serde_json::{Value, json};

use super::{
    catalogue::run_of,
    runs::{Mount, RestoreInto, Run, Started, set_phase, start_once, update_status},
    step::{First, Step},
};
use crate::{
    api::{RecoveryPoint, RestoreRequest},
    backup::{
        catalog::{self, Outcome},
        jobs, restore,
    },
    controller::Error,
    status::Transition,
    workload::FIELD_MANAGER,
};

/// What a run whose name an earlier object's Job still holds is told.
fn name_taken(run: &str) -> String {
    format!(
        "a Job {run} left by an earlier object of the same name still exists (it is removed 7 days after it \
         finished); delete it, or use another name"
    )
}

/// Carries out the copies on request of the service: starts the agent's backup for a new one, and fills the
/// point in from the agent's report when it finished. Such a point is kept until a person deletes it.
pub(super) async fn copies(step: &Step<'_>, notes: &mut Vec<Transition>) -> Result<(), Error> {
    let mut first = First::default();
    for p in step.points.iter().filter(|p| p.spec.on_demand) {
        first.keep(copy(step, p, notes).await);
    }
    first.result()
}

async fn copy(step: &Step<'_>, p: &RecoveryPoint, notes: &mut Vec<Transition>) -> Result<(), Error> {
    let (ctx, api) = (step.ctx, step.points_api());
    let point = p.name_any();
    let run_name = jobs::bounded_name(&point, "-copy", 63);
    let phase = p.status.as_ref().and_then(|s| s.phase.clone());
    let Some(location) = ctx.caches.location(&p.spec.location) else {
        if phase.is_none() {
            set_phase(&api, p, "Failed", &format!("BackupLocation {:?} does not exist", p.spec.location)).await?;
        }
        return Ok(());
    };
    match phase.as_deref() {
        None => {
            let (uid, vars) = (p.uid().unwrap_or_default(), [("CONTINUO_TIERS", String::new())]);
            let run = Run {
                name: &run_name,
                action: "backup",
                point: &point,
                subject: &uid,
                location: &location,
                vars: &vars,
                into: None,
            };
            match start_once(step, &run).await? {
                Started::Yes => set_phase(&api, p, "Running", "copy on request running").await,
                Started::NameTaken => set_phase(&api, p, "Failed", &name_taken(&run_name)).await,
            }
        }
        Some("Running") => {
            let runs = step.jobs("backup");
            let Some(run) = runs.iter().find(|j| j.name_any() == run_name).and_then(|j| run_of(ctx, &step.ns, j))
            else {
                return Ok(());
            };
            match catalog::outcomes(&[run], &[], &step.name, &step.ns, &location, &[]).pop() {
                Some(Outcome::Point(done)) => {
                    ctx.metrics.copy_catalogued(&[]);
                    let filled = done.status.clone().unwrap_or_default();
                    update_status(&api, p, |s| *s = filled).await
                }
                Some(Outcome::Failed { .. }) => {
                    ctx.metrics.copy_failed(&[]);
                    notes.push(Transition {
                        warning: true,
                        reason: "BackupFailed".into(),
                        message: format!("copy on request {point} failed (run {run_name})"),
                    });
                    set_phase(&api, p, "Failed", &format!("the agent's run {run_name} failed")).await
                }
                Some(Outcome::Unreported { why, .. }) => set_phase(&api, p, "Failed", &why).await,
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// Carries out restore requests: resolves the point (among every point of the namespace, so that one of another
/// service is refused by name), runs the agent's `restore`, and records start, end, the age of the data and the
/// outcome.
pub(super) async fn restores(step: &Step<'_>, notes: &mut Vec<Transition>) -> Result<(), Error> {
    let api: Api<RestoreRequest> = Api::namespaced(step.ctx.client.clone(), &step.ns);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut first = First::default();
    for req in step.ctx.caches.restores_of(&step.ns, &step.name) {
        let phase = req.status.as_ref().and_then(|s| s.phase.clone());
        let status = match phase.as_deref() {
            None => begin_restore(step, &req, notes).await,
            Some("Quiescing") => resume_restore(step, &req, notes).await,
            Some("Running") => Ok(end_restore(step, &req, notes)),
            _ => Ok(None),
        };
        let written = match status {
            Ok(Some(status)) => {
                let body = json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "RestoreRequest", "status": status});
                api.patch_status(&req.name_any(), &params, &Patch::Apply(&body)).await.map(|_| ()).map_err(Error::from)
            }
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        first.keep(written);
    }
    first.result()
}

/// A new request: refused with the reason, or its run started (for a stateful service that quiesces, its zone
/// scaled to 0 first). The status to write, if any.
async fn begin_restore(
    step: &Step<'_>,
    req: &RestoreRequest,
    notes: &mut Vec<Transition>,
) -> Result<Option<Value>, Error> {
    let req_name = req.name_any();
    let namespace_points = step.ctx.caches.recovery_points_in(&step.ns);
    let point = match restore::resolve(req, &namespace_points) {
        Err(why) => return Ok(Some(refused(&req_name, why, notes))),
        Ok(point) => point,
    };
    let stateful = !step.svc.spec.volume_claim_templates.is_empty();
    let zone = match (stateful, target_zone(step, req)) {
        (false, _) => None,
        (true, Some(zone)) => Some(zone),
        (true, None) => {
            let why = "no zone runs the service's replicas: there is no volume to restore into".to_string();
            return Ok(Some(refused(&req_name, why, notes)));
        }
    };
    let captured = point.status.as_ref().and_then(|s| s.captured_at.clone());
    let mut status = json!({"phase": "Running", "point": point.name_any(), "capturedAt": captured, "zone": zone,
        "startTime": Time(step.ctx.now())});
    if let (Some(zone), true) = (&zone, req.spec.quiesce) {
        notes.push(Transition {
            warning: false,
            reason: "RestoreQuiescing".into(),
            message: format!("restore {req_name}: scaling zone {zone} to 0 before restoring {}", point.name_any()),
        });
        status["phase"] = "Quiescing".into();
        return Ok(Some(status));
    }
    match start_restore(step, req, point, zone.as_deref(), true).await? {
        Err(why) => Ok(Some(refused(&req_name, why, notes))),
        Ok(false) => Ok(None),
        Ok(true) => {
            notes.push(started(&req_name, point, req));
            Ok(Some(status))
        }
    }
}

/// A quiescing request: its run starts once the zone's StatefulSet runs no pod.
async fn resume_restore(
    step: &Step<'_>,
    req: &RestoreRequest,
    notes: &mut Vec<Transition>,
) -> Result<Option<Value>, Error> {
    let status = req.status.clone().unwrap_or_default();
    let (Some(zone), Some(point)) = (status.zone.as_deref(), status.point.as_deref()) else { return Ok(None) };
    let set = crate::workload::deployment_name(&step.name, zone);
    let live = step.ctx.caches.volumes.stateful_set(&step.ns, &set);
    let stopped = live.as_ref().is_some_and(|s| {
        let want = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
        want == 0 && s.status.as_ref().is_none_or(|st| st.replicas == 0)
    });
    if !stopped {
        return Ok(None);
    }
    let points = step.ctx.caches.recovery_points_in(&step.ns);
    let Some(point) = points.iter().find(|p| p.name_any() == point) else {
        return Ok(Some(refused(&req.name_any(), format!("recovery point {point} no longer exists"), notes)));
    };
    match start_restore(step, req, point, Some(zone), false).await? {
        Err(why) => Ok(Some(refused(&req.name_any(), why, notes))),
        Ok(false) => Ok(None),
        Ok(true) => {
            notes.push(started(&req.name_any(), point, req));
            let mut whole = json!(status);
            whole["phase"] = "Running".into();
            Ok(Some(whole))
        }
    }
}

/// The zone a stateful restore writes into: the one the request names, else the first that runs the service.
fn target_zone(step: &Step<'_>, req: &RestoreRequest) -> Option<String> {
    let zones = step.svc.status.as_ref().map(|s| s.zones.as_slice()).unwrap_or_default();
    match &req.spec.zone {
        Some(z) => zones.iter().any(|s| &s.name == z && s.desired_replicas > 0).then(|| z.clone()),
        None => zones.iter().find(|z| z.eligible && z.desired_replicas > 0).map(|z| z.name.clone()),
    }
}

/// Starts the agent's restore run of `point`: `Ok(Ok(true))` started (or found started), `Ok(Ok(false))` the
/// point's location is not cached yet, `Ok(Err(why))` refused.
async fn start_restore(
    step: &Step<'_>,
    req: &RestoreRequest,
    point: &RecoveryPoint,
    zone: Option<&str>,
    beside: bool,
) -> Result<Result<bool, String>, Error> {
    let run_name = jobs::bounded_name(&req.name_any(), "-restore", 63);
    let Some(location) = step.ctx.caches.location(&point.spec.location) else { return Ok(Ok(false)) };
    let id = point.status.as_ref().and_then(|s| s.id.clone()).unwrap_or_default();
    let vars = [("CONTINUO_POINT_ID", id), ("CONTINUO_RESTORE_SCOPE", req.spec.scope.clone())];
    let (uid, point_name) = (req.uid().unwrap_or_default(), point.name_any());
    let set = zone.map(|z| crate::workload::deployment_name(&step.name, z));
    let marker = format!("{}-{}", crate::stateful::set::RESTORE_MARKER, req.name_any());
    let into = set.as_deref().map(|set| Mount::Restore(RestoreInto { set, marker: &marker, beside }));
    let run = Run {
        name: &run_name,
        action: "restore",
        point: &point_name,
        subject: &uid,
        location: &location,
        vars: &vars,
        into,
    };
    Ok(match start_once(step, &run).await? {
        Started::Yes => Ok(true),
        Started::NameTaken => Err(name_taken(&run_name)),
    })
}

fn refused(req: &str, why: String, notes: &mut Vec<Transition>) -> Value {
    notes.push(Transition { warning: true, reason: "RestoreRefused".into(), message: format!("restore {req}: {why}") });
    json!({"phase": "Failed", "message": why})
}

fn started(req: &str, point: &RecoveryPoint, r: &RestoreRequest) -> Transition {
    let captured = point.status.as_ref().and_then(|s| s.captured_at.as_ref()).map(|t| t.0.to_string());
    Transition {
        warning: false,
        reason: "RestoreStarted".into(),
        message: format!(
            "restore {req}: {} (scope {}) from {}",
            point.name_any(),
            r.spec.scope,
            captured.unwrap_or_default()
        ),
    }
}

/// A running request whose run finished: its outcome and the age of the data restored. The status to write, if
/// the run finished.
fn end_restore(step: &Step<'_>, req: &RestoreRequest, notes: &mut Vec<Transition>) -> Option<Value> {
    let req_name = req.name_any();
    let run_name = jobs::bounded_name(&req_name, "-restore", 63);
    let job = step.jobs("restore").iter().find(|j| j.name_any() == run_name)?;
    let succeeded = job.finished()?;
    let done = job.status.as_ref().and_then(|s| s.completion_time.clone()).unwrap_or(Time(step.ctx.now()));
    let status = req.status.clone().unwrap_or_default();
    let age = status
        .captured_at
        .as_ref()
        .map(|c| crate::api::Span::from_secs(done.0.duration_since(c.0).as_secs().max(0) as u64));
    if let Some(s) = status.start_time.as_ref() {
        step.ctx.metrics.restore_took(done.0.duration_since(s.0).as_secs_f64().max(0.0), succeeded);
    }
    let (phase, reason, message) = if succeeded {
        let age = age.map(|a| a.to_string()).unwrap_or_default();
        ("Succeeded", "RestoreSucceeded", format!("restored data {age} old at completion"))
    } else {
        ("Failed", "RestoreFailed", format!("the agent's run {run_name} failed"))
    };
    notes.push(Transition {
        warning: !succeeded,
        reason: reason.into(),
        message: format!("restore {req_name}: {message}"),
    });
    // The whole status: server-side apply drops the fields a manager stops applying.
    let mut whole = json!(status);
    whole["phase"] = phase.into();
    whole["completionTime"] = json!(done);
    whole["message"] = message.into();
    Some(whole)
}
