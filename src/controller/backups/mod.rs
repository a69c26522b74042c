//! The reconcile's backup step: catalogue finished backup runs as recovery points, carry out copies and restores
//! on request, and retention — an expired point is deleted through the agent's `delete` action, then removed from
//! the catalog.
//!
//! Each side step stands alone: one that fails (the API refuses a Job, a status write times out) becomes a
//! Warning Event with its own reason, the other steps still run, and the service's status — every RPO verdict
//! with it — is still computed and written in the same reconcile. Nothing here deletes a copy unless retention
//! expired it and the backup stage found no problem; a failed delete run keeps the point (marked) for a person
//! to look at.

mod catalogue;
mod orphans;
mod requests;
mod retention;
mod runs;

use std::collections::HashSet;

use kube::{Api, ResourceExt};
pub use orphans::mark_orphans;
use tracing::warn;

use super::{Context, Error};
use crate::{
    api::{RecoveryPoint, ResilientService},
    backup::BackupPlan,
    status::Transition,
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

/// What every backup side step of one service works with.
struct Step<'a> {
    ctx: &'a Context,
    svc: &'a ResilientService,
    plan: &'a BackupPlan,
    points: &'a [RecoveryPoint],
    ns: String,
    name: String,
    /// `namespace/name`, the key of [`Reported`].
    key: String,
}

impl Step<'_> {
    fn points_api(&self) -> Api<RecoveryPoint> {
        Api::namespaced(self.ctx.client.clone(), &self.ns)
    }
}

/// Carries out every backup side step for `svc`. A step that fails is a Warning Event (its reason in the step's
/// own words, such as `CopyDeleteFailed`) and does not stop the others; returns whether any failed, so that the
/// reconcile writes the status anyway and looks again soon instead of backing off.
pub(super) async fn keep_catalog(
    ctx: &Context,
    svc: &ResilientService,
    plan: &BackupPlan,
    points: &[RecoveryPoint],
    notes: &mut Vec<Transition>,
) -> bool {
    let (ns, name) = (svc.namespace().unwrap_or_default(), svc.name_any());
    let step = Step { ctx, svc, plan, points, key: format!("{ns}/{name}"), ns, name };
    let live: HashSet<String> = ["backup", "delete"]
        .iter()
        .flat_map(|a| ctx.caches.agent_jobs_of(&step.ns, &step.name, a))
        .map(|j| j.name_any())
        .collect();
    ctx.reported.keep_only(&step.key, &live);

    let outcomes = [
        ("CatalogUpdateFailed", "cataloguing finished backup runs", catalogue::catalogue(&step, notes).await),
        ("CatalogUpdateFailed", "updating the points' retention", catalogue::follow_class(&step).await),
        ("CopyRequestFailed", "a copy on request", requests::copies(&step, notes).await),
        ("RestoreStartFailed", "a restore request", requests::restores(&step, notes).await),
        ("CopyDeleteFailed", "retention", retention::expire(&step, notes).await),
    ];
    let mut failed = false;
    for (reason, what, outcome) in outcomes {
        if let Err(e) = outcome {
            warn!(service = %step.key, kind = e.kind(), error = %e, "backup step failed: {what}");
            failed = true;
            notes.push(Transition {
                warning: true,
                reason: reason.into(),
                message: format!("{what} failed, retried shortly: {e}"),
            });
        }
    }
    failed
}

/// The first failure among items that are all tried: one point that cannot be written does not keep the others
/// from being handled.
#[derive(Default)]
struct First(Option<Error>);

impl First {
    fn keep(&mut self, outcome: Result<(), Error>) {
        if let Err(e) = outcome {
            self.0.get_or_insert(e);
        }
    }

    fn result(self) -> Result<(), Error> {
        self.0.map_or(Ok(()), Err)
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

    #[test]
    fn every_item_is_tried_and_the_first_failure_is_the_answer() {
        let mut first = First::default();
        for outcome in [Ok(()), Err(Error::CachesNotSynced), Err(Error::NoNamespace), Ok(())] {
            first.keep(outcome);
        }
        assert!(matches!(first.result(), Err(Error::CachesNotSynced)));
        assert!(First::default().result().is_ok());
    }
}
