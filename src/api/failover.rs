//! What continuo records of failures: the incidents it timed against their RTO, and the availability it
//! measured per calendar month against the class's target.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Scope, Span};

/// One failure, timed: from when it began (best evidence) to when the service was back to its capacity.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Incident {
    /// `Zone` when a zone the service used was lost; `Node` when capacity dropped without a zone loss.
    pub scope: Scope,
    /// The zone lost, or the zones that lost Ready replicas.
    pub subject: String,
    /// When the failure began, by the best evidence: the last lease renewal seen from the zone.
    pub began: Time,
    /// When continuo detected it.
    pub detected: Time,
    /// When Ready capacity (in healthy zones) was back to the declared replicas; absent while open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<Time>,
    /// The measured recovery time in seconds: `recovered − began`, or 0 when capacity never dropped below the
    /// declared replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_seconds: Option<i64>,
    /// The fewest replicas Ready in healthy zones during the incident.
    pub lowest_ready: i32,
    /// The declared replicas.
    pub replicas: i32,
    /// The class's RTO for this scope, if it declares one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_rto: Option<Span>,
    /// Whether the measured RTO was within the target; absent while open or without a target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_rto: Option<bool>,
    /// Zone losses: what the service's data sources did (failed over, when) and the data lost, where known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub data: Vec<DataIncident>,
    /// A stateful service recovered from a copy: the point restored and when its data was captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub restored_point: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_captured_at: Option<Time>,
    /// The data lost: the loss's beginning − the restored copy's capture time (the RPO achieved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_loss_seconds: Option<i64>,
    /// Whether that was within the class's RPO for this scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_rpo: Option<bool>,
}

/// What one data source did through a zone loss.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataIncident {
    /// The data entry's name.
    pub name: String,
    /// CloudNativePG: the instance promoted after the loss began, and when (`currentPrimaryTimestamp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_over: Option<Time>,
    /// Seconds from the loss's beginning to the promotion: the database's measured share of the RTO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_seconds: Option<i64>,
    /// Data lost, in seconds of writes: 0 with required synchronous replication kept outside the lost zone; for
    /// VolSync, the time since its last sync when the loss began. Absent when it cannot be known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo_seconds: Option<i64>,
}

/// Up: Ready capacity (in healthy zones) at the declared replicas; Degraded: below them; Down: none Ready.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
pub enum Health {
    Up,
    Degraded,
    Down,
}

/// Seconds of one calendar month, by what continuo observed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonthFigures {
    /// `YYYY-MM`, in the target's time zone.
    #[schemars(length(max = 7))]
    pub month: String,
    /// Seconds continuo observed the service (up, degraded or down).
    pub observed_seconds: i64,
    /// Seconds with Ready capacity below the declared replicas, but not zero.
    pub degraded_seconds: i64,
    /// Seconds with no replica Ready.
    pub down_seconds: i64,
    /// Seconds no continuo was running: counted apart, never as up.
    pub unobserved_seconds: i64,
    /// `(observed − down) / observed`, as a percentage with three decimals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<String>,
    /// The error budget of the whole month (`(1 − target) × month`) minus the seconds down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_budget_remaining_seconds: Option<i64>,
}

/// Availability so far this month, counted up to `since`, and last month's figure.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvailabilityStatus {
    /// The service's health since `since`.
    pub state: Health,
    /// The figures are counted up to this instant; since then the service has been in `state`. Written on
    /// transitions only, so the passing of time rewrites nothing.
    pub since: Time,
    /// The target, copied from the class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 8))]
    pub target: Option<String>,
    /// Whether the service is Ready in enough zones for the target to be claimable.
    pub claimable: bool,
    pub current: MonthFigures,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<MonthFigures>,
}
