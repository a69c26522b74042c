//! A service's site failovers in the month (as continuo on Karmada's control plane records them, one
//! `SiteFailover` each): declared when, moved when, Ready at the new site when, the RTO achieved against the
//! Region RTO, and — where the site the service arrived at recorded it (`status.recoveries[].fromSite`, reflected
//! by Karmada) — the copy restored and the data lost against the Region RPO. Nothing is inferred: a figure not
//! recorded is shown as not recorded.

use kube::ResourceExt;
use serde::Serialize;

use jiff::Timestamp;

use crate::api::{ResilientService, SiteFailover};

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SiteFailoverReport {
    pub name: String,
    pub from: Option<String>,
    pub to: String,
    /// The person's words, from the declaration.
    pub reason: Option<String>,
    pub declared: String,
    /// `Moving`, `Completed`, `Refused`; `Pending` before continuo took it up.
    pub phase: String,
    pub ready: Option<String>,
    /// From the declaration to Ready at the new site.
    pub rto_seconds: Option<i64>,
    pub within_rto: Option<bool>,
    /// The copy the new site restored, and the data that cost.
    pub point: Option<String>,
    pub data_loss_seconds: Option<i64>,
    pub within_rpo: Option<bool>,
    pub message: Option<String>,
}

/// `f` as the report states it, when it was declared in `[start, end)`.
pub(super) fn failover(
    f: &SiteFailover,
    svc: &ResilientService,
    (start, end): (Timestamp, Timestamp),
) -> Option<SiteFailoverReport> {
    let declared = f.metadata.creation_timestamp.as_ref()?.0;
    if declared < start || declared >= end {
        return None;
    }
    let s = f.status.as_ref();
    let from = s.and_then(|s| s.from.clone());
    let recoveries = svc.status.as_ref().map(|st| st.recoveries.as_slice()).unwrap_or_default();
    let restored =
        recoveries.iter().filter(|r| r.from_site.is_some() && r.from_site == from).max_by_key(|r| r.lost_at.0);
    Some(SiteFailoverReport {
        name: f.name_any(),
        from,
        to: f.spec.to.clone(),
        reason: f.spec.reason.clone(),
        declared: declared.to_string(),
        phase: s.map_or("Pending".into(), |s| format!("{:?}", s.phase)),
        ready: s.and_then(|s| s.ready_at.as_ref()).map(|t| t.0.to_string()),
        rto_seconds: s.and_then(|s| s.rto_seconds),
        within_rto: s.and_then(|s| s.within_rto),
        point: restored.and_then(|r| r.point.clone()),
        data_loss_seconds: restored.and_then(|r| r.data_loss_seconds),
        within_rpo: restored.and_then(|r| r.within_rpo),
        message: s.and_then(|s| s.message.clone()),
    })
}
