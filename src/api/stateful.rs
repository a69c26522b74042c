//! Stateful services: the volumes a ResilientService's replicas keep (one claim per replica, as in a StatefulSet),
//! what a class says about starting without a copy, and what continuo records of a replica it recovered in another
//! zone from an off-zone copy.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// A volume each replica gets, as a StatefulSet's `volumeClaimTemplates` entry, in the few fields a zonal volume
/// needs. Immutable once the service exists (a StatefulSet's are): the API server refuses a change.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimTemplate {
    pub metadata: ClaimMeta,
    pub spec: ClaimSpec,
}

/// The claim's name: the volume name the pod template mounts. continuo labels each claim with the service and its
/// zone.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
pub struct ClaimMeta {
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub name: String,
}

/// How a volume is accessed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum AccessMode {
    ReadWriteOnce,
    ReadWriteOncePod,
    ReadWriteMany,
    ReadOnlyMany,
}

/// The claim's spec.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimSpec {
    #[schemars(length(min = 1, max = 4))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub access_modes: Vec<AccessMode>,
    /// The StorageClass; the cluster's default one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub storage_class_name: Option<String>,
    pub resources: ClaimResources,
}

/// The size asked for.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
pub struct ClaimResources {
    pub requests: StorageRequest,
}

/// `requests.storage`, a quantity such as `50Gi`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
pub struct StorageRequest {
    #[schemars(length(min = 1, max = 32), regex(pattern = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"))]
    pub storage: String,
}

impl AccessMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessMode::ReadWriteOnce => "ReadWriteOnce",
            AccessMode::ReadWriteOncePod => "ReadWriteOncePod",
            AccessMode::ReadWriteMany => "ReadWriteMany",
            AccessMode::ReadOnlyMany => "ReadOnlyMany",
        }
    }
}

/// What a replica moved out of a lost zone starts from when no copy stored outside that zone exists.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
pub enum WithoutCopy {
    /// Do not start it, and say why (`NoCopyToRestore`): an empty installation that looks healthy is worse than
    /// one that is down. The default.
    #[default]
    Wait,
    /// Start it on an empty volume.
    StartEmpty,
}

/// How a class's stateful services are recovered in another zone.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryPolicy {
    #[serde(default)]
    pub without_copy: WithoutCopy,
}

/// A stateful replica continuo recreated in another zone after the zone holding its volume was lost.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recovery {
    /// Where the replicas run now.
    #[schemars(length(max = 63))]
    pub zone: String,
    /// The lost zone; its volumes are kept, never written or deleted by continuo. For a service that arrived at
    /// this site after its site was lost, the lost site's name (as `fromSite`).
    #[schemars(length(max = 63))]
    pub from_zone: String,
    /// The site lost, when the replicas arrived here from another site (restored from a copy stored outside it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub from_site: Option<String>,
    /// The first ordinal of `zone`'s StatefulSet that was restored, and how many.
    pub first_ordinal: i32,
    pub replicas: i32,
    /// When the zone was lost (the best evidence: its last lease renewal).
    pub lost_at: Time,
    /// The recovery point restored; absent when the class let it start empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub point: Option<String>,
    /// When the restored copy's data was captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_at: Option<Time>,
    /// `lostAt − capturedAt`: the data lost, the RPO achieved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_loss_seconds: Option<i64>,
    /// Whether that is within the class's Zone RPO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_rpo: Option<bool>,
    /// When the restored replicas were first all Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_at: Option<Time>,
}
