//! What the site controller records of where a service serves (`status.site`), and what the serving site's copy
//! carries, from the move's stage (see [`super::handover`]): pure, from the previous record, the decision and the
//! clock.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{
    Cluster, Serving,
    arrival::Arrival,
    handover::{self, Handover, Stage},
};
use crate::api::{SiteStatus, Sites};

/// What `status.site` says of where the service serves: since when, and why, in a reason and words.
pub fn recorded_words(
    previous: Option<&SiteStatus>,
    (serving, why): (&str, &Serving),
    stage: &Stage,
    adjusted: Option<String>,
    now: Timestamp,
) -> (Time, String, String) {
    let since = match (previous, why) {
        (Some(p), _) if p.serving == serving => p.since.clone(),
        (_, Serving::Declared { at, .. }) => Time(*at),
        _ => Time(now),
    };
    let (reason, message) = match (previous, why, stage) {
        (_, _, Stage::Hold { message, .. }) => ("HandingOver".to_string(), message.clone()),
        // Kept where continuo moved it: the move's own words stay.
        (Some(p), Serving::Kept { .. }, _) if p.serving == serving => (p.reason.clone(), p.message.clone()),
        _ => {
            let (reason, message) = words(why, serving);
            let message = adjusted.map_or(message.clone(), |a| format!("{message}; {a}"));
            (reason.to_string(), message)
        }
    };
    (since, reason, message)
}

/// Where the service serves, the arrival its copy there carries, and the handover asked of a site, at `stage`: held
/// at the site handing over until its last copy is made; moved with that copy named; or moved at once.
pub fn staged(
    sites: &Sites,
    clusters: &[Cluster],
    previous: Option<&SiteStatus>,
    (serving, why): (String, &Serving),
    stage: &Stage,
    now: Timestamp,
) -> (String, Option<Arrival>, Option<(String, Handover)>) {
    match stage {
        Stage::Hold { at, handover, .. } => {
            let kept = arrival(sites, clusters, previous, at, why, now);
            (at.clone(), kept, Some((at.clone(), handover.clone())))
        }
        Stage::Move(a) => {
            let kept = handover::kept_for(a, &serving);
            (serving, Some(a.clone()), kept)
        }
        Stage::Direct => {
            let a = arrival(sites, clusters, previous, &serving, why, now);
            let kept = a.as_ref().and_then(|a| handover::kept_for(a, &serving));
            (serving, a, kept)
        }
    }
}

/// The arrival the serving site's copy carries: after a move off the site it served from (recorded), or kept from
/// the last move while it stays; a service first seen away from the primary came from the primary.
pub fn arrival(
    sites: &Sites,
    clusters: &[Cluster],
    previous: Option<&SiteStatus>,
    serving: &str,
    why: &Serving,
    now: Timestamp,
) -> Option<Arrival> {
    let kept = previous.and_then(|p| p.arrival.as_ref()).map(Arrival::from);
    let from = match previous {
        Some(p) if p.serving != serving => Some(p.serving.clone()),
        Some(_) => kept.as_ref().map(|k| k.from.clone()),
        None => Some(sites.primary().name.clone()),
    };
    let otherwise = match why {
        Serving::Declared { at, .. } => *at,
        Serving::Automatic { since, .. } => *since,
        _ => now,
    };
    Arrival::after_move(sites, clusters, from.as_deref(), serving, kept, otherwise)
}

fn words(why: &Serving, serving: &str) -> (&'static str, String) {
    match why {
        Serving::Primary => ("Primary", format!("serving from the primary site {serving}")),
        Serving::Declared { by, at } => {
            ("Declared", format!("serving from {serving}, declared by SiteFailover {by} at {at}"))
        }
        Serving::Automatic { lost, since } => {
            ("Automatic", format!("moved to {serving}: site {lost} not Ready since {since}, past the hold"))
        }
        Serving::Kept { since } => {
            ("Automatic", format!("serving from {serving} since {since}, where continuo moved it"))
        }
    }
}
