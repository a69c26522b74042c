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
mod step;
mod storage;

use std::collections::HashSet;

use kube::ResourceExt;
pub use orphans::mark_orphans;
pub(super) use storage::observe;
use tracing::warn;

use step::Step;

use super::Context;
use crate::{
    api::{RecoveryPoint, ResilientService},
    backup::BackupPlan,
    status::Transition,
};

/// Carries out every backup side step for `svc`. A step that fails is a Warning Event (its reason in the step's
/// own words, such as `CopyDeleteFailed`) and does not stop the others; returns whether any failed, so that the
/// reconcile writes the status anyway and looks again soon instead of backing off.
pub(super) async fn keep_catalog(
    ctx: &Context,
    svc: &ResilientService,
    plan: &BackupPlan,
    points: &[RecoveryPoint],
    volumes: Option<&crate::stateful::Volumes>,
    notes: &mut Vec<Transition>,
) -> bool {
    let step = Step::new(ctx, svc, plan, points);
    let live: HashSet<String> =
        ["backup", "delete"].iter().flat_map(|a| step.jobs(a)).map(ResourceExt::name_any).collect();
    ctx.reported.keep_only(&step.key, &live);

    let rebuilt = match volumes {
        Some(v) => storage::rebuild(&step, v, notes).await,
        None => Ok(()),
    };
    let handed = match volumes {
        Some(v) => storage::hand_over(&step, v, notes).await,
        None => Ok(()),
    };
    let mut outcomes = vec![
        ("CatalogUpdateFailed", "rebuilding the catalog from the storage", rebuilt),
        ("CopyRequestFailed", "the last copy before a site handover", handed),
    ];
    // A drill's copy of a service reads the service's copies: it never copies into them, restores on request, nor
    // deletes from them.
    if crate::backup::jobs::copies_of(svc).is_none() {
        outcomes.extend([
            ("CatalogUpdateFailed", "cataloguing finished backup runs", catalogue::catalogue(&step, notes).await),
            ("CatalogUpdateFailed", "updating the points' retention", catalogue::follow_class(&step).await),
            ("CopyRequestFailed", "a copy on request", requests::copies(&step, notes).await),
            ("RestoreStartFailed", "a restore request", requests::restores(&step, notes).await),
            ("CopyDeleteFailed", "retention", retention::expire(&step, notes).await),
        ]);
    }
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
