//! The agent's one-off runs (delete, restore, a copy on request): each is a Job created once, observed, and
//! never patched — a Job's pod template is immutable, and a re-applied run would either fail validation forever
//! or, worse, be taken for a new one. And the whole-status writes of recovery points.

use k8s_openapi::api::batch::v1::Job;
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams, PostParams},
};
use serde_json::json;

use super::step::Step;
use crate::{
    api::{BackupLocation, RecoveryPoint},
    backup::jobs::{self, Agent, POINT_ANNOTATION, SUBJECT_ANNOTATION},
    controller::Error,
    workload::FIELD_MANAGER,
};

/// What became of a request to start a run.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Started {
    /// Running: created now, or found already created for the same object.
    Yes,
    /// A Job of that name exists, left by an earlier object of the same name: it is not this run, and it is
    /// left alone.
    NameTaken,
}

/// One run to start: the agent's `action` for `point`, on behalf of the object whose uid is `subject`.
pub(super) struct Run<'a> {
    pub name: &'a str,
    pub action: &'a str,
    pub point: &'a str,
    pub subject: &'a str,
    pub location: &'a BackupLocation,
    pub vars: &'a [(&'a str, String)],
    /// The stateful replica's volumes the run mounts, if any.
    pub into: Option<Mount<'a>>,
}

/// The volumes of a stateful replica a run mounts.
#[derive(Clone, Copy)]
pub(super) enum Mount<'a> {
    /// A restore writes into them.
    Restore(RestoreInto<'a>),
    /// A backup copies them while no pod runs (a site's last copy before it hands over): ordinal 0 of this
    /// StatefulSet, read-only, wherever the volume can be attached.
    Stopped { set: &'a str },
}

/// The stateful replica a restore run writes into.
#[derive(Clone, Copy)]
pub(super) struct RestoreInto<'a> {
    pub set: &'a str,
    pub marker: &'a str,
    pub beside: bool,
}

/// Whether the existing Job `job` runs `run` (made for the same object; by an earlier version of continuo, which
/// did not say which object, for the same point).
fn is_run(job: &kube::core::ObjectMeta, run: &Run<'_>) -> bool {
    let annotation = |key: &str| job.annotations.as_ref().and_then(|a| a.get(key)).map(String::as_str);
    match annotation(SUBJECT_ANNOTATION) {
        Some(uid) => uid == run.subject,
        None => annotation(POINT_ANNOTATION) == Some(run.point),
    }
}

/// Starts `run` once: looked up in the cache first, created otherwise; an existing Job of the same name (the
/// cache was behind) is read and judged, never patched.
pub(super) async fn start_once(step: &Step<'_>, run: &Run<'_>) -> Result<Started, Error> {
    let ctx = step.ctx;
    let known = step.jobs(run.action).iter().find(|j| j.name_any() == run.name);
    if let Some(job) = known {
        return Ok(if is_run(&job.metadata, run) { Started::Yes } else { Started::NameTaken });
    }
    let agent = Agent {
        service: step.svc,
        location: run.location,
        keys: &ctx.config.keys,
        zones: &step.plan.agent_zones,
        regions: step.plan.agent_regions.as_deref(),
        image: ctx.config.agent_image.as_deref(),
    };
    let mut job = agent.job(run.name.to_string(), run.action, run.point, run.subject, run.vars);
    let claims = &step.svc.spec.volume_claim_templates;
    match (run.into, job.spec.as_mut()) {
        (Some(Mount::Restore(into)), Some(spec)) => {
            crate::stateful::set::mount_into_job(&mut spec.template, claims, into.set, 0, into.marker, into.beside)
        }
        (Some(Mount::Stopped { set }), Some(spec)) => {
            crate::stateful::set::mount_for_backup(&mut spec.template, claims, set, 0, false)
        }
        _ => {}
    }
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), &step.ns);
    let params = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() };
    match api.create(&params, &job).await {
        Ok(_) => Ok(Started::Yes),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let existing = api.get(run.name).await?;
            Ok(if is_run(&existing.metadata, run) { Started::Yes } else { Started::NameTaken })
        }
        Err(e) => Err(e.into()),
    }
}

/// The delete run's Job name for `point`, within the 63 characters a Job name may have.
pub(super) fn delete_run_name(point: &str) -> String {
    jobs::bounded_name(point, "-delete", 63)
}

pub(super) async fn set_phase(
    api: &Api<RecoveryPoint>,
    p: &RecoveryPoint,
    phase: &str,
    message: &str,
) -> Result<(), Error> {
    update_status(api, p, |s| {
        s.phase = Some(phase.into());
        s.message = Some(message.into());
    })
    .await
}

/// Applies `p`'s whole status with `change` made to it. Server-side apply removes the fields a manager stops
/// applying, so a status is always applied whole, never a part of it.
pub(super) async fn update_status(
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
    use std::collections::BTreeMap;

    use super::*;

    fn run<'a>(location: &'a BackupLocation) -> Run<'a> {
        Run { name: "p-delete", action: "delete", point: "p", subject: "uid-2", location, vars: &[], into: None }
    }

    fn meta(annotations: &[(&str, &str)]) -> kube::core::ObjectMeta {
        let a: BTreeMap<String, String> = annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        kube::core::ObjectMeta { annotations: Some(a), ..Default::default() }
    }

    #[test]
    fn an_existing_job_is_the_run_only_when_made_for_the_same_object() {
        let loc: BackupLocation =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "l"}, "spec": {"region": "eu-south-2"}}))
                .unwrap();
        assert!(is_run(&meta(&[(SUBJECT_ANNOTATION, "uid-2"), (POINT_ANNOTATION, "p")]), &run(&loc)));
        assert!(!is_run(&meta(&[(SUBJECT_ANNOTATION, "uid-1"), (POINT_ANNOTATION, "p")]), &run(&loc)));
        // Made by an earlier version, which named only the point.
        assert!(is_run(&meta(&[(POINT_ANNOTATION, "p")]), &run(&loc)));
        assert!(!is_run(&meta(&[(POINT_ANNOTATION, "q")]), &run(&loc)));
    }
}
