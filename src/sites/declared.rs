//! A declared failover's record (`SiteFailover` status): accepted and moving, completed with its RTO, or refused
//! with the reason. Final once completed or refused: a record does not change afterwards.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::{SiteFailover, SiteFailoverPhase, SiteFailoverStatus, Sites};

/// What a declaration is judged against, now.
pub struct Moment<'a> {
    pub sites: &'a Sites,
    /// The newest declaration naming a site of the class: the one in force.
    pub newest: Option<&'a str>,
    /// Where the service serves now, and where it served before this reconcile.
    pub serving: &'a str,
    pub before: Option<&'a str>,
    /// Whether the service is Ready at a cluster of the serving site.
    pub ready_here: bool,
    /// The class's Region RTO, in seconds.
    pub rto: Option<u64>,
    /// A planned move held at the site handing over (see [`super::handover`]): where that stands, in words.
    pub handing_over: Option<&'a str>,
    /// A planned move carried out: the last copy the site left made, restored at the new site.
    pub copy: Option<&'a str>,
    pub now: Timestamp,
}

/// The status of declaration `f` at `m`.
pub fn status(f: &SiteFailover, previous: Option<&SiteFailoverStatus>, m: &Moment<'_>) -> SiteFailoverStatus {
    let name = f.metadata.name.as_deref().unwrap_or_default();
    let generation = f.metadata.generation;
    if let Some(p) = previous.filter(|p| matches!(p.phase, SiteFailoverPhase::Completed | SiteFailoverPhase::Refused)) {
        return p.clone();
    }
    let refused = |message: String| SiteFailoverStatus {
        phase: SiteFailoverPhase::Refused,
        message: Some(message),
        observed_generation: generation,
        ..SiteFailoverStatus::default()
    };
    if m.sites.site(&f.spec.to).is_none() {
        let names: Vec<&str> = m.sites.sites.iter().map(|s| s.name.as_str()).collect();
        return refused(format!(
            "{:?} is not a site of the service's class ({}): nothing was moved",
            f.spec.to,
            names.join(", ")
        ));
    }
    if m.newest != Some(name) {
        return refused(format!(
            "superseded by SiteFailover {} before the service was Ready at {}",
            m.newest.unwrap_or_default(),
            f.spec.to
        ));
    }
    let declared = f.metadata.creation_timestamp.as_ref().map_or(m.now, |t| t.0);
    let mut s = previous.cloned().unwrap_or_default();
    s.observed_generation = generation;
    s.from = s.from.or_else(|| m.before.filter(|b| *b != f.spec.to).map(str::to_string));
    if let Some(words) = m.handing_over.filter(|_| m.serving != f.spec.to) {
        s.phase = SiteFailoverPhase::Moving;
        s.message = Some(words.to_string());
        return s;
    }
    s.moved_at = s.moved_at.or(Some(Time(m.now)));
    s.copy = s.copy.or_else(|| m.copy.map(str::to_string));
    if m.serving == f.spec.to && m.ready_here {
        let secs = m.now.duration_since(declared).as_secs().max(0);
        s.phase = SiteFailoverPhase::Completed;
        s.ready_at = Some(Time(m.now));
        s.rto_seconds = Some(secs);
        s.within_rto = m.rto.map(|r| secs as u64 <= r);
        let verdict = match s.within_rto {
            Some(true) => " within the Region RTO",
            Some(false) => ", past the Region RTO",
            None => "",
        };
        let copy = s.copy.as_ref().map_or(String::new(), |c| {
            format!(", from the last copy {c} its previous site made once its writes had stopped (no write lost)")
        });
        s.message = Some(format!("Ready at {} {secs}s after the declaration{verdict}{copy}", f.spec.to));
    } else {
        s.phase = SiteFailoverPhase::Moving;
        s.message = Some(format!("moving to {}: waiting for the service to be Ready there", f.spec.to));
    }
    s
}
