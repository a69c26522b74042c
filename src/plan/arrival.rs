//! The arrival stage, for a stateful service that arrives at this site after its own site was lost (the
//! `continuo.dev/site-arrival` annotation Karmada carries): nothing of it is held here yet, so every replica the
//! placement wants is recreated from a copy — the newest good one stored outside the lost site — and never started
//! empty while such a copy exists. The catalog that named the copies was lost with the site: first the agent lists
//! what the storage holds (`list`), and the copies it names are catalogued here.

use super::inputs::Inputs;
use crate::{
    api::{Recovery, RecoveryPoint},
    placement::Placement,
    sites::arrival::{Arrival, Listing, imports},
    stateful::{Held, Move, Start, Volumes},
};

/// The arrival in effect: annotated, and nothing of the service held in this cluster yet (no zone running or meant
/// to run a replica, no recovery recorded from that site).
pub(super) fn arriving(i: &Inputs<'_>, held: &[Held], kept: &[Recovery]) -> Option<Arrival> {
    let arrival = Arrival::of(i.service).ok().flatten()?;
    let here = held.iter().any(|h| h.replicas > 0) || kept.iter().any(|r| r.from_site.is_some());
    (!here).then_some(arrival)
}

/// Every replica the placement wants moves from the lost site.
pub(super) fn moves(p: &Placement, a: &Arrival) -> Vec<Move> {
    p.targets
        .iter()
        .filter(|t| t.replicas > 0)
        .map(|t| Move { zone: t.zone.clone(), from_zone: a.from.clone(), first_ordinal: 0, replicas: t.replicas })
        .collect()
}

/// The catalog rebuilt from the storage: until the agent has listed the copies, the service waits (the list run
/// is asked for); once it has, the copies the catalog lacks are to be catalogued, and weighed now.
pub(super) fn catalog(i: &Inputs<'_>, a: &Arrival, out: &mut Volumes) {
    let lost = format!("arrived from site {} (lost at {})", a.from, a.lost_at);
    if let Some(stale) = stale(i, &lost) {
        out.waiting = Some(("StaleVolumesPresent", stale));
        return;
    }
    let Some(location) = i.backups.location else { return };
    let svc = i.service;
    let run = a.list_job(svc.metadata.name.as_deref().unwrap_or_default());
    match i.backups.listing {
        None | Some(Listing::NotStarted) | Some(Listing::Running) => {
            out.waiting = Some((
                "ListingCopies",
                format!(
                    "{lost}: the copies BackupLocation {} holds are being listed (run {run}) before any replica \
                     starts: the catalog that named them was lost with the site",
                    location.metadata.name.as_deref().unwrap_or_default()
                ),
            ));
            out.list_run = Some(run);
        }
        Some(Listing::Failed(why)) => {
            let message = format!(
                "{lost}: listing the copies failed ({why}); nothing is started: delete Job {run} to list again"
            );
            out.waiting = Some(("ListingCopies", message));
        }
        Some(Listing::Listed(listed)) => out.imports = imports(listed, i.backups.points, svc, location, &[]),
    }
}

/// Claims of the service this cluster still holds from an earlier stint here (a failback to a site that ran it
/// before): a new StatefulSet of the same name would bind them, and the replica would serve their old data. Nothing
/// starts while they exist; a person deletes them, or keeps them under another name.
fn stale(i: &Inputs<'_>, lost: &str) -> Option<String> {
    let claims: Vec<&str> = i.volumes.claims.iter().map(|c| c.name.as_str()).collect();
    if claims.is_empty() {
        return None;
    }
    Some(format!(
        "{lost}: claims {} remain from an earlier stint at this site and hold data older than any copy made since; \
         a replica started here would bind them and serve that data: nothing starts until they are deleted (or \
         copied aside under other names)",
        claims.join(", ")
    ))
}

/// The copies the restore decision weighs: the catalog's and those just listed.
pub(super) fn points<'a>(i: &'a Inputs<'_>, out: &'a Volumes) -> impl Iterator<Item = &'a RecoveryPoint> {
    i.backups.points.iter().chain(&out.imports)
}

/// A planned arrival (the site left handed over): the last copy it made once its writes had stopped, named by the
/// agent's id, is restored, and no other: an older one would lose the writes since. Not started until the storage's
/// listing has it.
pub(super) fn handed_over(i: &Inputs<'_>, out: &Volumes, id: &str) -> Start {
    let same = |p: &&RecoveryPoint| {
        p.status.as_ref().and_then(|s| s.id.as_deref()).is_some_and(|k| k.starts_with(id) || id.starts_with(k))
    };
    let point = points(i, out).filter(same).find(|p| p.available_since().is_some());
    match point.and_then(|p| Some((p.metadata.name.clone()?, p.status.as_ref()?.captured_at.as_ref()?.0))) {
        Some((point, captured)) => Start::Restore { point, captured },
        None => Start::Refuse {
            reason: "NoCopyToRestore",
            message: format!(
                "not started: the last copy {id} the site left made after stopping its writes is not among the copies \
                 the storage holds; an older copy would lose the writes made since"
            ),
        },
    }
}
