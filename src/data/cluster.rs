//! What continuo decodes of CloudNativePG's objects: a `Cluster` (only the fields it judges) and its instance pods
//! (labels, node, readiness); and how the Cluster's settings read.

use std::collections::BTreeMap;

use k8s_openapi::{api::core::v1::Pod, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use serde::Deserialize;

use super::evidence::custom_resource;
use crate::api::Span;

/// The label CloudNativePG puts on every pod of a Cluster.
pub const CLUSTER_LABEL: &str = "cnpg.io/cluster";
/// The label that tells instance pods (`instance`) from job pods.
pub const POD_ROLE_LABEL: &str = "cnpg.io/podRole";
/// The condition CloudNativePG sets on a Cluster with failure-domain keys: whether its synchronous standbys are
/// in another failure domain than the primary's now.
pub const TOPOLOGY_SATISFIED: &str = "SyncReplicationTopologySatisfied";
/// PostgreSQL's `archive_timeout` as CloudNativePG sets it unless the Cluster overrides it.
pub const DEFAULT_ARCHIVE_TIMEOUT: Span = Span::from_secs(300);
/// What continuo decodes of a Cluster: only the fields it judges.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PgCluster {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PgSpec,
    #[serde(default)]
    pub status: Option<PgStatus>,
}

custom_resource!(PgCluster, "postgresql.cnpg.io", "v1", "Cluster", "clusters");

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PgSpec {
    #[serde(default)]
    pub instances: i64,
    pub min_sync_replicas: Option<i64>,
    pub max_sync_replicas: Option<i64>,
    pub postgresql: Option<PgConfig>,
    pub failover_delay: Option<i64>,
    pub affinity: Option<PgAffinity>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PgConfig {
    pub synchronous: Option<Synchronous>,
    pub sync_replica_election_constraint: Option<ElectionConstraint>,
    /// Of the PostgreSQL parameters, only `archive_timeout` is kept.
    #[serde(default, deserialize_with = "archive_timeout")]
    pub parameters: Option<String>,
}

fn archive_timeout<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let params: Option<BTreeMap<String, String>> = Option::deserialize(d)?;
    Ok(params.and_then(|mut p| p.remove("archive_timeout")))
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Synchronous {
    pub number: Option<i64>,
    pub data_durability: Option<String>,
    /// Node labels whose values are failure domains: synchronous standbys are elected in another domain than the
    /// primary's while enough of them can be (CloudNativePG 1.28 and later); otherwise anywhere.
    #[serde(default)]
    pub node_failure_domain_keys: Vec<String>,
    /// The same, read from the pods' own topology labels.
    #[serde(default)]
    pub pod_failure_domain_keys: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ElectionConstraint {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub node_labels_anti_affinity: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PgAffinity {
    pub enable_pod_anti_affinity: Option<bool>,
    pub topology_key: Option<String>,
    pub pod_anti_affinity_type: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PgStatus {
    pub current_primary: Option<String>,
    pub current_primary_timestamp: Option<String>,
    /// Of the conditions, only `ContinuousArchiving` and `SyncReplicationTopologySatisfied` are kept.
    #[serde(default, deserialize_with = "archiving_only")]
    pub conditions: Vec<PgCondition>,
}

fn archiving_only<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<PgCondition>, D::Error> {
    let mut all: Vec<PgCondition> = Option::deserialize(d)?.unwrap_or_default();
    all.retain(|c| c.type_ == "ContinuousArchiving" || c.type_ == TOPOLOGY_SATISFIED);
    Ok(all)
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PgCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    pub last_transition_time: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
}

/// How a Cluster acknowledges a commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// A commit waits for this many synchronous standbys, whatever happens.
    Required(i64),
    /// Synchronous while standbys are there, asynchronous when they are gone: `dataDurability: preferred`.
    Preferred,
    /// The older `maxSyncReplicas` without `minSyncReplicas`: the same as preferred.
    LegacyPreferred,
    Asynchronous,
}

impl PgCluster {
    pub fn durability(&self) -> Durability {
        let sync = self.spec.postgresql.as_ref().and_then(|p| p.synchronous.as_ref());
        if let Some(s) = sync {
            let number = s.number.unwrap_or(1).max(0);
            return match s.data_durability.as_deref() {
                Some("preferred") => Durability::Preferred,
                _ if number == 0 => Durability::Asynchronous,
                _ => Durability::Required(number),
            };
        }
        match (self.spec.min_sync_replicas.unwrap_or(0), self.spec.max_sync_replicas.unwrap_or(0)) {
            (min, _) if min >= 1 => Durability::Required(min),
            (_, max) if max >= 1 => Durability::LegacyPreferred,
            _ => Durability::Asynchronous,
        }
    }

    /// How the synchronous standby is kept out of the primary's zone, if it is.
    pub fn zone_bound(&self, zone_key: &str) -> Option<&'static str> {
        if let Some(keys) = self.failure_domain_keys(zone_key) {
            return Some(keys);
        }
        let constraint = self.spec.postgresql.as_ref().and_then(|p| p.sync_replica_election_constraint.as_ref());
        if constraint.is_some_and(|c| c.enabled && c.node_labels_anti_affinity.iter().any(|l| l == zone_key)) {
            return Some("syncReplicaElectionConstraint on the zone label");
        }
        self.one_per_zone(zone_key).then_some("one instance per zone")
    }

    /// Which of `synchronous.nodeFailureDomainKeys` and `podFailureDomainKeys` names the zone label, if one does.
    /// CloudNativePG honours it only while enough standbys are outside the primary's domain, and says whether it
    /// does in the `SyncReplicationTopologySatisfied` condition.
    pub fn failure_domain_keys(&self, zone_key: &str) -> Option<&'static str> {
        let sync = self.spec.postgresql.as_ref()?.synchronous.as_ref()?;
        if sync.node_failure_domain_keys.iter().any(|k| k == zone_key) {
            Some("synchronous.nodeFailureDomainKeys on the zone label")
        } else if sync.pod_failure_domain_keys.iter().any(|k| k == zone_key) {
            Some("synchronous.podFailureDomainKeys on the zone label")
        } else {
            None
        }
    }

    /// Required pod anti-affinity on the zone label: no two instances can share a zone.
    pub fn one_per_zone(&self, zone_key: &str) -> bool {
        self.spec.affinity.as_ref().is_some_and(|a| {
            a.enable_pod_anti_affinity != Some(false)
                && a.topology_key.as_deref() == Some(zone_key)
                && a.pod_anti_affinity_type.as_deref() == Some("required")
        })
    }

    pub fn failover_delay(&self) -> u64 {
        self.spec.failover_delay.unwrap_or(0).max(0) as u64
    }

    pub fn condition(&self, type_: &str) -> Option<&PgCondition> {
        self.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)
    }

    /// `archive_timeout`, in PostgreSQL's units (`5min`, `300`, `30s`); CloudNativePG's 5 minutes by default.
    pub fn archive_timeout(&self) -> Span {
        let value = self.spec.postgresql.as_ref().and_then(|p| p.parameters.as_deref());
        value.and_then(postgres_seconds).map_or(DEFAULT_ARCHIVE_TIMEOUT, Span::from_secs)
    }

    pub fn primary(&self) -> Option<&str> {
        self.status.as_ref()?.current_primary.as_deref()
    }
}

/// A PostgreSQL time setting in seconds: a number with an optional unit (ms, s, min, h, d; seconds when none).
pub fn postgres_seconds(value: &str) -> Option<u64> {
    let v = value.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (number, unit) = v.split_at(split);
    let n: u64 = number.parse().ok()?;
    let factor = match unit.trim() {
        "" | "s" => 1,
        "ms" => return Some(n.div_ceil(1000)),
        "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    Some(n * factor)
}

/// What continuo decodes of an instance pod: its labels, node and readiness.
#[derive(kube::Resource, Clone, Debug, Default, Deserialize)]
#[resource(inherit = "Pod")]
pub struct InstancePod {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: Option<InstancePodSpec>,
    #[serde(default, deserialize_with = "pod_ready", rename = "status")]
    pub ready: bool,
    /// The Cluster it belongs to, once [`InstancePod::compact`] moved it out of the labels.
    #[serde(skip)]
    pub cluster: Option<String>,
}

impl InstancePod {
    /// The Cluster this pod is an instance of.
    pub fn cluster(&self) -> Option<&str> {
        self.cluster.as_deref().or_else(|| self.metadata.labels.as_ref()?.get(CLUSTER_LABEL).map(String::as_str))
    }

    /// Keeps of the metadata only the name and namespace, with the Cluster's name in a field of its own: a label
    /// map of one entry is a tree node of eleven, and there is a pod per instance.
    pub fn compact(&mut self) {
        self.cluster = self.cluster().map(str::to_string);
        let meta = &mut self.metadata;
        *meta = ObjectMeta { name: meta.name.take(), namespace: meta.namespace.take(), ..ObjectMeta::default() };
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstancePodSpec {
    pub node_name: Option<String>,
}

/// `Ready=True` among the pod's conditions, without keeping them.
fn pod_ready<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    struct Condition {
        #[serde(rename = "type")]
        type_: String,
        status: String,
    }
    #[derive(Deserialize)]
    struct Status {
        #[serde(default)]
        conditions: Vec<Condition>,
    }
    let status: Option<Status> = Option::deserialize(d)?;
    Ok(status.is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")))
}
