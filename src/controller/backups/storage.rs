//! A recovery site's catalog rebuilt from the storage: a stateful service that arrived after a site loss (see
//! `sites::arrival`) has its copies listed by the agent's `list` run, once per arrival, and the copies it names
//! that the catalog lacks are catalogued here, labelled as found in the storage.

use kube::ResourceExt;

use super::{
    catalogue,
    runs::{Run, Started, start_once},
    step::{First, Step},
};
use crate::{
    backup::catalog::Outcome,
    controller::{Context, Error},
    sites::arrival::{Arrival, LIST_ACTION, Listing, parse_listing},
    status::Transition,
};

/// Where the listing for the service's arrival stands, from the cache: `None` when the service did not arrive
/// after a site loss.
pub(in crate::controller) fn listing(ctx: &Context, svc: &crate::api::ResilientService) -> Option<Listing> {
    let arrival = Arrival::of(svc).ok().flatten()?;
    let (ns, name) = (svc.namespace().unwrap_or_default(), svc.name_any());
    let run = arrival.list_job(&name);
    let jobs = ctx.caches.agent_jobs_of(&ns, &name, LIST_ACTION);
    let Some(job) = jobs.iter().find(|j| j.name_any() == run) else { return Some(Listing::NotStarted) };
    Some(match job.finished() {
        None => Listing::Running,
        Some(false) => Listing::Failed(format!("run {run} failed")),
        Some(true) => match ctx.caches.agent_report(&ns, &run).as_deref().map(parse_listing) {
            Some(Ok(copies)) => Listing::Listed(copies),
            Some(Err(why)) => Listing::Failed(why),
            None => Listing::Failed(format!("run {run} succeeded, but its pod and report are gone")),
        },
    })
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
