//! The backup API: what a class promises about copies (its tiers and their retention, in a time zone), how a
//! service's data is copied (its agent and location), where copies are stored (`BackupLocation`), and the
//! catalog of copies (`RecoveryPoint`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::{Span, formats::TIME_ZONE_PATTERN};

/// The schedule pattern the CRD enforces: five cron fields or a descriptor. The fields themselves are checked by
/// continuo (a condition and an Event), as the CronJob API would check them.
pub const SCHEDULE_PATTERN: &str =
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|[0-9A-Za-z*?/,-]+( +[0-9A-Za-z*?/,-]+){4})$";

/// What a class promises about backups.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupPolicy {
    /// The time zone schedules run in, and in which days, weeks and months are counted. Default `UTC`.
    #[serde(default = "utc")]
    #[schemars(length(min = 1, max = 64), regex(pattern = TIME_ZONE_PATTERN))]
    pub time_zone: String,
    /// Copy tiers: each a schedule and what it keeps. Empty: one tier, `rpo`, whose schedule is derived from the
    /// tightest RPO of the class and which keeps what `keep` says. Tier names are unique (a map keyed by name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub tiers: Vec<BackupTier>,
    /// What the derived tier keeps, when `tiers` is empty. Default: `{daily: 7}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<Keep>,
}

fn utc() -> String {
    "UTC".into()
}

/// One tier of copies.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct BackupTier {
    /// A DNS label: it names the tier's CronJob.
    #[schemars(length(min = 1, max = 20), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub name: String,
    /// When copies are made, as in a CronJob (`0 2,7,16 * * *`), in the policy's time zone.
    #[schemars(length(min = 1, max = 128), regex(pattern = SCHEDULE_PATTERN))]
    pub schedule: String,
    /// Which of this tier's copies are kept.
    pub keep: Keep,
}

/// Which copies are kept: any combination; at least one rule.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[x_kube(
    validation = Rule::new("has(self.within) || has(self.last) || has(self.daily) || has(self.weekly) || has(self.monthly)")
        .message("keep must set within, last, daily, weekly or monthly: this tier would keep no copy")
)]
pub struct Keep {
    /// Every copy younger than this (`48h`, `4320h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<Span>,
    /// The newest N copies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub last: Option<u32>,
    /// The newest copy of each of the N newest days that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub daily: Option<u32>,
    /// Then, among older copies, the newest of each of N ISO weeks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 520))]
    pub weekly: Option<u32>,
    /// Then, among older copies, the newest of each of N months.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 240))]
    pub monthly: Option<u32>,
}

/// How a service's data is copied.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceBackup {
    /// The BackupLocation copies go to.
    #[schemars(length(min = 1, max = 253))]
    pub location: String,
    /// How long one copy is expected to take, until continuo has measured some. Default `30m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_duration: Option<Span>,
    /// The agent: a pod template whose first container copies, restores and deletes the service's data.
    /// continuo runs it with `CONTINUO_ACTION` (`backup`, `restore`, `delete`) and the other variables of the
    /// agent contract (docs/src/data/agent-contract.md); the agent writes the copy's id and size to its
    /// termination message.
    /// Left out: continuo's reference agent (restic), from the image the operator is given (`--agent-image`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::formats::pod_template_schema")]
    #[x_kube(
        validation = Rule::new("has(self.spec) && self.spec.containers.size() > 0").message("agent.spec.containers must list at least one container")
    )]
    pub agent: Option<PodTemplateSpec>,
}

/// Where copies are stored: cluster-scoped, named by services.
// Several `printcolumn`s share a `type_`, which clippy takes for repeated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "continuo.dev",
    version = "v1alpha1",
    kind = "BackupLocation",
    shortname = "bkloc",
    category = "continuo",
    annotation("helm.sh/resource-policy", "keep"),
    label("app.kubernetes.io/name", "continuo"),
    label("app.kubernetes.io/part-of", "continuo"),
    label("app.kubernetes.io/component", "crd"),
    printcolumn(name = "Region", type_ = "string", json_path = ".spec.region"),
    printcolumn(name = "Zone", type_ = "string", json_path = ".spec.zone"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct BackupLocationSpec {
    /// The region the copies are stored in (as `topology.kubernetes.io/region` names regions): checked against
    /// the class's residency.
    #[schemars(length(min = 1, max = 63))]
    pub region: String,
    /// The zone the copies are stored in, when the storage lives in one: it must not be a zone the service
    /// runs in. Omit for storage spread over a region's zones, or outside the cluster's zones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub zone: Option<String>,
    /// What the agent needs to reach the storage (bucket, endpoint, path), passed to it as
    /// `CONTINUO_LOCATION_<KEY>` variables (keys upper-cased, `-` and `.` as `_`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 32))]
    pub config: BTreeMap<String, String>,
    /// A Secret, in each service's namespace, whose keys the agent receives as environment variables. continuo
    /// only names it in the agent's pod; it never reads Secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: Option<String>,
}

/// One copy of a service's data: a record in the catalog. Created by continuo when a copy completes (or by a
/// person, to ask for a copy now); not owned by the service, so deleting the service keeps its copies.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "continuo.dev",
    version = "v1alpha1",
    kind = "RecoveryPoint",
    namespaced,
    shortname = "rpt",
    category = "continuo",
    status = "RecoveryPointStatus",
    annotation("helm.sh/resource-policy", "keep"),
    label("app.kubernetes.io/name", "continuo"),
    label("app.kubernetes.io/part-of", "continuo"),
    label("app.kubernetes.io/component", "crd"),
    printcolumn(name = "Service", type_ = "string", json_path = ".spec.service"),
    printcolumn(name = "Captured", type_ = "date", json_path = ".status.capturedAt"),
    printcolumn(name = "Tiers", type_ = "string", json_path = ".status.tierSummary"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Retention", type_ = "string", json_path = ".status.retention"),
    printcolumn(name = "Expires", type_ = "date", json_path = ".status.expiresAt")
)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryPointSpec {
    /// The ResilientService whose data this is.
    #[schemars(length(min = 1, max = 253))]
    pub service: String,
    /// The BackupLocation it is (or is to be) stored in.
    #[schemars(length(min = 1, max = 253))]
    pub location: String,
    /// The tiers whose schedule made it; empty for a copy made on request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8), inner(length(max = 20)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub tiers: Vec<String>,
    /// Made on request: kept until a person deletes it.
    #[serde(default)]
    pub on_demand: bool,
}

/// What continuo knows of a copy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryPointStatus {
    /// `Pending` (asked for, not run yet), `Running`, `Available`, `Failed`, `Deleting`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub phase: Option<String>,
    /// The agent's id for the copy (a snapshot id, an object key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub id: Option<String>,
    /// When the data was captured (the copy's start, unless the agent says otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_at: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// When the copy completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
    /// Where it is stored, as the location said when it was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub zone: Option<String>,
    /// When retention will delete it, if only age rules keep it; absent when counts keep it or it never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// `Active` while its service exists and retention applies; `Stopped` once the service is deleted: the copy is
    /// then kept until a person deletes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub retention: Option<String>,
    /// One line for `kubectl get`: the tiers it belongs to, or `on-demand`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    pub tier_summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub message: Option<String>,
}

impl RecoveryPoint {
    /// When the data of this copy was captured, if it is a good copy (`Available`): what every restore, verdict and
    /// report weighs.
    pub fn available_since(&self) -> Option<k8s_openapi::jiff::Timestamp> {
        let s = self.status.as_ref().filter(|s| s.phase.as_deref() == Some("Available"))?;
        Some(s.captured_at.as_ref()?.0)
    }
}

/// A request to restore a service's data from a recovery point. The agent's `restore` action runs with the
/// point's id and the scope. For a stateless service the running workload is never touched; for a stateful one the
/// agent runs with the volumes of one replica mounted (beside its running pod, or — with `quiesce` — while the
/// zone's StatefulSet is scaled to 0, and scaled back after).
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "continuo.dev",
    version = "v1alpha1",
    kind = "RestoreRequest",
    namespaced,
    shortname = "rreq",
    category = "continuo",
    status = "RestoreRequestStatus",
    cel,
    annotation("helm.sh/resource-policy", "keep"),
    label("app.kubernetes.io/name", "continuo"),
    label("app.kubernetes.io/part-of", "continuo"),
    label("app.kubernetes.io/component", "crd"),
    printcolumn(name = "Service", type_ = "string", json_path = ".spec.service"),
    printcolumn(name = "Point", type_ = "string", json_path = ".status.point"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[x_kube(validation = Rule::new("!(has(self.point) && has(self.before))").message("name a recovery point or a point in time, not both"))]
#[serde(rename_all = "camelCase")]
pub struct RestoreRequestSpec {
    /// The ResilientService whose data is restored.
    #[schemars(length(min = 1, max = 253))]
    pub service: String,
    /// The recovery point to restore. Omit it (and `before`) for the newest good copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub point: Option<String>,
    /// Restore the newest good copy captured at or before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// What to restore, as the agent understands it: `all` (default), `tenant=<id>`, `archive=<name>`.
    #[serde(default = "all")]
    #[schemars(length(min = 1, max = 253))]
    pub scope: String,
    /// Stateful services: the zone whose replica's volumes are restored into (its ordinal 0); by default the first
    /// zone that runs the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub zone: Option<String>,
    /// Stateful services: scale the zone's StatefulSet to 0 for the restore and back after it, so that the
    /// application does not write meanwhile (the service is down for that time, and availability counts it).
    /// Default false: the agent restores beside the running application, which must tolerate it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub quiesce: bool,
}

fn all() -> String {
    "all".into()
}

/// How a restore went.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreRequestStatus {
    /// `Quiescing` (a stateful zone being scaled to 0 first), `Running`, `Succeeded`, `Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub phase: Option<String>,
    /// The recovery point restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub point: Option<String>,
    /// When the restored data was captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_at: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// Stateful services: the zone whose replica's volumes are restored into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub message: Option<String>,
}
