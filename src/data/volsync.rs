//! VolSync (`volsync.backube/v1alpha1` `ReplicationSource`): asynchronous replication of a volume on a schedule.
//! `status.lastSyncTime` is a measured RPO; the schedule's worst gap and `lastSyncDuration` give the feasibility;
//! the destination's zone (declared on the service: VolSync does not know it) decides whether it survives a zone.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::Deserialize;

use super::evidence::{Judged, custom_resource, minutes};
use crate::{
    api::{Scope, Span},
    backup::schedule,
    verdict::Verdict,
};

/// What continuo decodes of a ReplicationSource: only the fields it judges.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ReplicationSource {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: SourceSpec,
    #[serde(default)]
    pub status: Option<SourceStatus>,
}

custom_resource!(ReplicationSource, "volsync.backube", "v1alpha1", "ReplicationSource", "replicationsources");

#[derive(Clone, Debug, Default, Deserialize)]
pub struct SourceSpec {
    pub trigger: Option<Trigger>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Trigger {
    pub schedule: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    pub last_sync_time: Option<Time>,
    /// A Go duration (`1m30.5s`).
    pub last_sync_duration: Option<String>,
}

impl ReplicationSource {
    pub fn last_sync(&self) -> Option<Timestamp> {
        self.status.as_ref()?.last_sync_time.as_ref().map(|t| t.0)
    }

    fn last_duration(&self) -> Option<u64> {
        go_duration_secs(self.status.as_ref()?.last_sync_duration.as_deref()?)
    }
}

/// A Go duration string (`1h2m3.5s`, `250ms`) in whole seconds, rounded up.
pub fn go_duration_secs(s: &str) -> Option<u64> {
    let mut rest = s.trim();
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let factor = match &rest[..u] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += value * factor;
        rest = &rest[u..];
    }
    Some(total.ceil() as u64)
}

/// What the verdict needs besides the object: the declared destination zone and the zones the service runs in.
pub struct Where<'a> {
    pub destination_zone: Option<&'a str>,
    pub protected: &'a [String],
}

/// The RPO verdict of `scope` on a ReplicationSource: never RPO 0 (asynchronous); feasible when the schedule's
/// worst gap plus the last sync's duration fits; for a zone, written outside the service's zones; met while the
/// last sync is younger than the RPO.
pub fn rpo(scope: Scope, rpo: Span, r: &ReplicationSource, at: &Where<'_>, now: Timestamp) -> Judged {
    let name = r.metadata.name.as_deref().unwrap_or_default();
    if let Some(refused) = placement(scope, rpo, name, at) {
        return refused;
    }
    let budget = match budget(scope, rpo, r, name, now) {
        Ok(budget) => budget,
        Err(verdict) => return verdict,
    };
    let destination = at.destination_zone.map(|z| format!(" to {z}")).unwrap_or_default();
    let Some(last) = r.last_sync() else {
        return (
            Verdict::Unknown,
            "AwaitingFirstSync",
            format!("{scope}: RPO {rpo} feasible ({budget} ≤ {rpo}), awaiting {name}'s first sync"),
        );
    };
    let exact_age = Span::from_secs(now.duration_since(last).as_secs().max(0) as u64);
    let age = minutes(exact_age);
    if exact_age <= rpo {
        (
            Verdict::Feasible,
            "SyncedWithinRPO",
            format!("{scope}: RPO {rpo} met — {name} last synced{destination} {age} ago ({budget})"),
        )
    } else {
        (
            Verdict::NotFeasible,
            "SyncOverdue",
            format!("{scope}: RPO {rpo} not met — {name} last synced{destination} {age} ago, past the RPO"),
        )
    }
}

/// What no schedule can fix: RPO 0 (VolSync is asynchronous), and for a zone a destination that is not declared or
/// is in a zone the service runs in.
fn placement(scope: Scope, rpo: Span, name: &str, at: &Where<'_>) -> Option<Judged> {
    if rpo.as_secs() == 0 {
        return Some((
            Verdict::NotFeasible,
            "AsynchronousReplication",
            format!(
                "{scope}: RPO 0s not met — {name} is VolSync's asynchronous replication: what was written since its \
                 last sync is lost with the volume; RPO 0 needs synchronous replication in the data layer"
            ),
        ));
    }
    if scope != Scope::Zone {
        return None;
    }
    match at.destination_zone {
        None => Some((
            Verdict::Unknown,
            "DestinationZoneUnknown",
            format!(
                "{scope}: RPO {rpo} not verified — the zone {name} writes to is not declared (spec.data[].volSync.\
                 destinationZone): a copy in a zone the service runs in does not survive that zone"
            ),
        )),
        Some(zone) if at.protected.iter().any(|z| z == zone) => Some((
            Verdict::NotFeasible,
            "DestinationInProtectedZone",
            format!(
                "{scope}: RPO {rpo} not met — {name} writes to {zone}, a zone the service runs in: its loss takes the \
                 copy with it"
            ),
        )),
        Some(_) => None,
    }
}

/// The schedule's worst gap plus the last sync's duration, as a line of evidence when it fits the RPO.
fn budget(scope: Scope, rpo: Span, r: &ReplicationSource, name: &str, now: Timestamp) -> Result<String, Judged> {
    let Some(expr) = r.spec.trigger.as_ref().and_then(|t| t.schedule.as_deref()) else {
        return Err((
            Verdict::NotFeasible,
            "NoSyncSchedule",
            format!("{scope}: RPO {rpo} not feasible — {name} has no spec.trigger.schedule: it syncs only on request"),
        ));
    };
    let gap = match schedule::worst_gap(&[expr], "UTC", now) {
        Ok(Some(gap)) => Span::from_secs(gap.length.as_secs().max(0) as u64),
        Ok(None) => return Err(sparse(scope, rpo, name)),
        Err(e) => {
            return Err((
                Verdict::NotFeasible,
                "InvalidSyncSchedule",
                format!("{scope}: RPO {rpo} not feasible — {name}'s schedule {expr:?}: {e}"),
            ));
        }
    };
    let duration = Span::from_secs(r.last_duration().unwrap_or(0));
    let exposure = Span::from_secs(gap.as_secs() + duration.as_secs());
    let budget = format!("worst gap {gap} + last sync {duration} = {exposure}");
    if exposure > rpo {
        return Err((
            Verdict::NotFeasible,
            "SyncScheduleExceedsRPO",
            format!("{scope}: RPO {rpo} not feasible — {name}: {budget} > {rpo}"),
        ));
    }
    Ok(budget)
}

fn sparse(scope: Scope, rpo: Span, name: &str) -> Judged {
    (
        Verdict::NotFeasible,
        "SyncScheduleTooSparse",
        format!("{scope}: RPO {rpo} not feasible — {name}'s schedule runs fewer than twice a year"),
    )
}
