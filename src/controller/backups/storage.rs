//! A recovery site's catalog rebuilt from the storage: a stateful service that arrived after a site loss (see
//! `sites::arrival`) has its copies listed by the agent's `list` run, once per arrival, and the copies it names
//! that the catalog lacks are catalogued here, labelled as found in the storage. And a site handing over to
//! another (see `sites::handover`) makes its last copy here, of its stopped volumes.

use kube::ResourceExt;

use super::{
    catalogue,
    runs::{Mount, Run, Started, start_once},
    step::{First, Step},
};
use crate::{
    backup::catalog::Outcome,
    controller::{Context, Error},
    sites::{
        arrival::{Arrival, LIST_ACTION, Listing, parse_listing},
        handover::{Handover, RunState},
    },
    status::Transition,
};

/// What the backup stage of the plan observes of one service, read from the caches.
pub(in crate::controller) struct Observed {
    pub location: Option<crate::api::BackupLocation>,
    pub points: Vec<crate::api::RecoveryPoint>,
    pub listing: Option<Listing>,
    pub handover: Option<RunState>,
}

impl Observed {
    pub fn inputs(&self) -> crate::plan::Backups<'_> {
        crate::plan::Backups {
            location: self.location.as_ref(),
            points: &self.points,
            listing: self.listing.as_ref(),
            handover: self.handover.as_ref(),
        }
    }
}

/// Observes the service's location, copies and agent runs for the plan.
pub(in crate::controller) fn observe(ctx: &Context, svc: &crate::api::ResilientService) -> Observed {
    let (ns, name) = (svc.namespace().unwrap_or_default(), svc.name_any());
    Observed {
        location: svc.spec.backup.as_ref().and_then(|b| ctx.caches.location(&b.location)),
        points: ctx.caches.recovery_points_of(&ns, &name),
        listing: listing(ctx, svc),
        handover: handover_run(ctx, svc),
    }
}

/// Where the listing for the service's arrival stands, from the cache: `None` when the service did not arrive
/// after a site loss.
fn listing(ctx: &Context, svc: &crate::api::ResilientService) -> Option<Listing> {
    let arrival = Arrival::of(svc).ok().flatten()?;
    let (ns, name) = (svc.namespace().unwrap_or_default(), svc.name_any());
    let run = arrival.list_job(&name);
    Some(match run_state(ctx, &ns, &name, LIST_ACTION, &run) {
        RunState::NotStarted => Listing::NotStarted,
        RunState::Running => Listing::Running,
        RunState::Failed(why) => Listing::Failed(why),
        RunState::Succeeded => match ctx.caches.agent_report(&ns, &run).as_deref().map(parse_listing) {
            Some(Ok(copies)) => Listing::Listed(copies),
            Some(Err(why)) => Listing::Failed(why),
            None => Listing::Failed(format!("run {run} succeeded, but its pod and report are gone")),
        },
    })
}

/// Where the run making the last copy before a handover stands, from the cache: `None` when no handover is asked.
fn handover_run(ctx: &Context, svc: &crate::api::ResilientService) -> Option<RunState> {
    let handover = Handover::of(svc).ok().flatten()?;
    let (ns, name) = (svc.namespace().unwrap_or_default(), svc.name_any());
    Some(run_state(ctx, &ns, &name, "backup", &handover.run(&name)))
}

/// Where the one-off agent run `run` (an `action` Job of service `name`) stands, from the cache.
fn run_state(ctx: &Context, ns: &str, name: &str, action: &str, run: &str) -> RunState {
    let jobs = ctx.caches.agent_jobs_of(ns, name, action);
    match jobs.iter().find(|j| j.name_any() == run).map(|j| j.finished()) {
        None => RunState::NotStarted,
        Some(None) => RunState::Running,
        Some(Some(false)) => RunState::Failed(format!("run {run} failed")),
        Some(Some(true)) => RunState::Succeeded,
    }
}

/// Starts the last copy's run the plan asks for, once; when it has finished, catalogues its copy (the point named
/// after the run), which the plan then reports for the next site.
pub(super) async fn hand_over(
    step: &Step<'_>,
    v: &crate::stateful::Volumes,
    notes: &mut Vec<Transition>,
) -> Result<(), Error> {
    let Some((name, set)) = v.handover_run.as_ref() else { return Ok(()) };
    let Some(location) = step.svc.spec.backup.as_ref().and_then(|b| step.ctx.caches.location(&b.location)) else {
        return Ok(());
    };
    let finished = step
        .jobs("backup")
        .iter()
        .find(|j| &j.name_any() == name)
        .and_then(|j| catalogue::run_of(step.ctx, &step.ns, j));
    if let Some(run) = finished {
        let outcome = crate::backup::catalog::outcomes(&[run], step.points, &step.name, &step.ns, &location, &[]).pop();
        return match outcome {
            Some(o) => catalogue::record(step, o, notes).await,
            None => Ok(()),
        };
    }
    let uid = step.svc.uid().unwrap_or_default();
    let vars = [("CONTINUO_TIERS", String::new())];
    let into = Some(Mount::Stopped { set });
    let run = Run { name, action: "backup", point: name, subject: &uid, vars: &vars, into, location: &location };
    start_once(step, &run).await.map(|_: Started| ())
}

/// Starts the list run the plan asks for, and catalogues the copies it listed that the catalog lacks.
pub(super) async fn rebuild(
    step: &Step<'_>,
    v: &crate::stateful::Volumes,
    notes: &mut Vec<Transition>,
) -> Result<(), Error> {
    let mut first = First::default();
    let location = step.svc.spec.backup.as_ref().and_then(|b| step.ctx.caches.location(&b.location));
    if let (Some(name), Some(location)) = (v.list_run.as_deref(), location.as_ref()) {
        let uid = step.svc.uid().unwrap_or_default();
        let run = Run { name, action: LIST_ACTION, point: "", subject: &uid, vars: &[], into: None, location };
        first.keep(start_once(step, &run).await.map(|_: Started| ()));
    }
    if !v.imports.is_empty() {
        notes.push(Transition {
            warning: false,
            reason: "CatalogRebuilt".into(),
            message: format!(
                "{} copies found in the storage catalogued (the catalog that named them was lost with the site)",
                v.imports.len()
            ),
        });
    }
    for p in &v.imports {
        first.keep(catalogue::record(step, Outcome::Point(Box::new(p.clone())), notes).await);
    }
    first.result()
}
