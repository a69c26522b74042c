//! Where a service's data lives: the data layers continuo reads and judges against the class's RPOs (and, where
//! the data layer must fail over, its RTOs). continuo never creates or changes these objects: their own operators
//! own them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// One place the service's data lives. Names exactly one data layer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.cloudNativePG) != has(self.volSync)").message("a data entry names exactly one of cloudNativePG or volSync")
)]
pub struct DataSource {
    /// What this data is to the service (`invoices`, `attachments`); unique within the service.
    #[schemars(length(min = 1, max = 63))]
    pub name: String,
    /// A CloudNativePG `Cluster` (postgresql.cnpg.io/v1) in the service's namespace.
    #[serde(default, rename = "cloudNativePG", skip_serializing_if = "Option::is_none")]
    pub cloud_native_pg: Option<CloudNativePgSource>,
    /// A VolSync `ReplicationSource` (volsync.backube/v1alpha1) in the service's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vol_sync: Option<VolSyncSource>,
}

/// A PostgreSQL cluster run by CloudNativePG.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub struct CloudNativePgSource {
    /// The `Cluster`'s name.
    #[schemars(length(min = 1, max = 253))]
    pub cluster: String,
}

/// A volume replicated by VolSync.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolSyncSource {
    /// The `ReplicationSource`'s name.
    #[schemars(length(min = 1, max = 253))]
    pub replication_source: String,
    /// The zone the replicas are written to (VolSync does not say where its destination lives). A zone the
    /// service runs in does not survive that zone's loss; without it, zone-scope RPOs are not verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub destination_zone: Option<String>,
}

/// What continuo knows of one data source now: where its data is safe as of when. The exposure now (the
/// `continuo_data_rpo_seconds` gauge) is `now − syncedAt` (when set) `+ boundSeconds`; the status keeps the
/// instant, not the age, so that it does not change while nothing happens.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataSourceStatus {
    pub name: String,
    /// `CloudNativePG` or `VolSync`.
    pub kind: String,
    /// The object judged.
    pub object: String,
    /// Data written before this instant is held outside the source (absent: held continuously, or unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_at: Option<Time>,
    /// Seconds of data that may be missing beyond `syncedAt`: 0 with required synchronous replication, the
    /// archive timeout with WAL archiving. Absent when continuo cannot tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_seconds: Option<i64>,
    /// CloudNativePG: the zone of the current primary, as observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_zone: Option<String>,
}
