//! `ContinuityDrill`: a continuity test on request, run by continuo and scored against the service's promise.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::Span;

/// A drill of one service, scored against its class's promise. ZoneLoss: continuo takes a zone out for it (treated
/// as lost, its workload scaled to 0), measures the recovery against the Zone RTO, and gives the zone back.
/// Restore: the agent restores the newest good copy into a scratch target (`CONTINUO_RESTORE_TARGET=scratch`),
/// verifies it and reports; the restore's time is scored against the Zone RTO, the copy's age against the Zone
/// RPO. A drill starts once created and never again.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "continuo.dev",
    version = "v1alpha1",
    kind = "ContinuityDrill",
    namespaced,
    shortname = "cdrill",
    category = "continuo",
    status = "ContinuityDrillStatus",
    cel,
    annotation("helm.sh/resource-policy", "keep"),
    label("app.kubernetes.io/name", "continuo"),
    label("app.kubernetes.io/part-of", "continuo"),
    label("app.kubernetes.io/component", "crd"),
    printcolumn(name = "Service", type_ = "string", json_path = ".spec.service"),
    printcolumn(name = "Scenario", type_ = "string", json_path = ".spec.scenario"),
    printcolumn(name = "Zone", type_ = "string", json_path = ".status.zone"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "RTO", type_ = "integer", json_path = ".status.rtoSeconds"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[x_kube(validation = Rule::new("self == oldSelf").message("a drill does not change once created: create another"))]
#[serde(rename_all = "camelCase")]
pub struct ContinuityDrillSpec {
    /// The ResilientService drilled, in the drill's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub service: String,
    /// What is exercised.
    pub scenario: DrillScenario,
    /// ZoneLoss: the zone taken out. Default: the zone whose loss costs the service most (the WarmStandby primary,
    /// else the zone running the most replicas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub zone: Option<String>,
    /// SiteRestore: the site the service is brought up at. Default: the first healthy site of the class other than
    /// the one it serves from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32))]
    pub site: Option<String>,
    /// The drill is aborted, and the zone given back, if it has not ended by then. Default 30m.
    #[serde(default = "thirty_minutes")]
    pub timeout: Span,
    /// Run on this schedule (five cron fields, in the class's time zone: its `backup.timeZone`, else its
    /// `availability.timeZone`, else UTC) instead of once, now: `0 3 1 */3 *` is a drill every quarter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub schedule: Option<String>,
    /// ZoneLoss of a stateful service: taking the zone out recovers its replicas elsewhere from their newest
    /// off-zone copy, as a real loss would, and the writes since that copy stay behind on the drilled zone's
    /// volumes (kept, `DataDiverged`). Refused unless this says the loss is accepted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub accept_data_loss: bool,
}

fn thirty_minutes() -> Span {
    Span::from_secs(1800)
}

/// What a drill exercises.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum DrillScenario {
    /// One zone lost, for this service only.
    ZoneLoss,
    /// The newest good copy restored into a scratch target by the agent, verified, and timed.
    Restore,
    /// On Karmada's control plane (`continuo sites`): the service brought up at a recovery site, in a scratch
    /// namespace, from the newest copy stored outside its serving site, as a site failover would; the time to Ready
    /// scored against the Region RTO, the copy's age against the Region RPO; the production site untouched.
    SiteRestore,
}

impl DrillScenario {
    /// Its name as the API spells it (also a metric label value).
    pub fn as_str(self) -> &'static str {
        match self {
            DrillScenario::ZoneLoss => "ZoneLoss",
            DrillScenario::Restore => "Restore",
            DrillScenario::SiteRestore => "SiteRestore",
        }
    }
}

/// Where a drill is, what happened when, and its measured figures.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContinuityDrillStatus {
    /// `Running`, `Passed`, `Failed` or `Aborted`; absent while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub phase: Option<String>,
    /// The zone taken out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub zone: Option<String>,
    /// SiteRestore: the site the service was brought up at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub site: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Time>,
    /// Seconds from the start until the declared capacity was Ready outside the zone: the RTO the drill achieved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_seconds: Option<i64>,
    /// The lowest Ready capacity outside the zone while the drill ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lowest_ready: Option<i32>,
    /// Since when capacity outside the zone has been below the declared replicas (for the abort rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below_since: Option<Time>,
    /// A scheduled drill: when it runs next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run: Option<Time>,
    /// Restore: the recovery point restored into a scratch target, and when its data was captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub point: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_at: Option<Time>,
    /// CamelCase: why it ended as it did (`WithinRTO`, `RTOExceeded`, `BelowCapacityPastRTO`, `Timeout`,
    /// `IncidentOpen`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub reason: Option<String>,
    /// The verdict, with its numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub message: Option<String>,
    /// What happened when, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub timeline: Vec<DrillEvent>,
}

/// One moment of a drill.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
pub struct DrillEvent {
    pub at: Time,
    #[schemars(length(max = 1024))]
    pub event: String,
}

/// The last drill of one scenario that ended, as the service's status records it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastDrill {
    /// `ZoneLoss`.
    #[schemars(length(max = 32))]
    pub scenario: String,
    /// The ContinuityDrill.
    #[schemars(length(max = 253))]
    pub name: String,
    /// `Passed`, `Failed` or `Aborted`.
    #[schemars(length(max = 16))]
    pub phase: String,
    pub ended_at: Time,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub message: Option<String>,
    /// When a drill of this scenario last passed (this one or an earlier one): what a class's drill policy is
    /// judged on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed_at: Option<Time>,
}

/// A class's drill policy: each service must pass a drill of each scenario at least this often.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DrillPolicy {
    /// The longest time since a passed drill of each scenario (`2160h`: a quarter).
    pub every: Span,
    /// The scenarios required. Default: `ZoneLoss`.
    #[serde(default = "zone_loss")]
    #[schemars(length(min = 1, max = 4))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub scenarios: Vec<DrillScenario>,
}

fn zone_loss() -> Vec<DrillScenario> {
    vec![DrillScenario::ZoneLoss]
}
