//! Sites: where a class's services run when a whole site (a cluster, a region) can be lost, on Karmada. The class
//! names the sites in order (the primary first), how the recovery site stands by, and who decides a failover; a
//! `SiteFailover` is that decision, made by a person, as one object.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// One site: Karmada member clusters, by name or by label.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("size(self.clusterNames) > 0 || size(self.clusterLabels) > 0").message("a site names its clusters: clusterNames or clusterLabels"))]
pub struct Site {
    /// The site's name (`milan`, `turin`): what a `SiteFailover` names, and Karmada's affinity group name.
    #[schemars(length(min = 1, max = 32), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub name: String,
    /// Karmada `Cluster` objects of the site, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(min = 1, max = 253)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub cluster_names: Vec<String>,
    /// Karmada `Cluster` objects of the site, by label (all must match).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 8, "additionalProperties" = {"type": "string", "maxLength": 63}))]
    pub cluster_labels: BTreeMap<String, String>,
}

/// How a recovery site stands by.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
pub enum Standby {
    /// Nothing runs there: the manifests are in Karmada and the data in copies it can read. Cheapest; the RTO
    /// includes the whole start (and, for data on volumes, the restore).
    #[default]
    Cold,
    /// The service runs there scaled down (`standbyReplicas`), ready to take the load: the RTO is the scale-up.
    Warm,
}

/// Who decides that the service moves to a recovery site.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
pub enum SiteFailoverMode {
    /// A person declares the disaster with a `SiteFailover`; the RTO clock runs from the declaration. What most
    /// disaster-recovery contracts state. Karmada is told never to move the service on its own.
    #[default]
    Declared,
    /// Karmada moves the service when the primary site's clusters fail its health checks (taint-based eviction
    /// after a toleration continuo derives from the Region RTO).
    Automatic,
}

/// The sites a class's services run at, across clusters, through Karmada.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sites {
    /// The sites in order: the primary first, then the recovery sites in the order they are used. Each name once.
    #[schemars(length(min = 2, max = 4))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub sites: Vec<Site>,
    /// How the recovery sites stand by. Default `Cold`.
    #[serde(default)]
    pub standby: Standby,
    /// Warm only: replicas kept running at each recovery site. Default 1.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 1000))]
    pub standby_replicas: i32,
    /// Who decides a failover. Default `Declared`.
    #[serde(default)]
    pub failover: SiteFailoverMode,
}

fn one() -> i32 {
    1
}

impl Sites {
    pub fn primary(&self) -> &Site {
        &self.sites[0]
    }

    pub fn site(&self, name: &str) -> Option<&Site> {
        self.sites.iter().find(|s| s.name == name)
    }
}

/// A declared site failover (or failback): the service serves from `to` from now on. Created by a person, once;
/// never edited (create another to move again). continuo moves the service through Karmada, brings its data there
/// from the newest copy the site can read, and records when each step happened against the Region RTO.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "continuo.dev",
    version = "v1alpha1",
    kind = "SiteFailover",
    namespaced,
    shortname = "sfo",
    category = "continuo",
    status = "SiteFailoverStatus",
    cel,
    annotation("helm.sh/resource-policy", "keep"),
    label("app.kubernetes.io/name", "continuo"),
    label("app.kubernetes.io/part-of", "continuo"),
    label("app.kubernetes.io/component", "crd"),
    printcolumn(name = "Service", type_ = "string", json_path = ".spec.service"),
    printcolumn(name = "To", type_ = "string", json_path = ".spec.to"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "RTO", type_ = "integer", json_path = ".status.rtoSeconds"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[x_kube(validation = Rule::new("self == oldSelf").message("a declared failover does not change once created: create another"))]
#[serde(rename_all = "camelCase")]
pub struct SiteFailoverSpec {
    /// The ResilientService moved, in this namespace.
    #[schemars(length(min = 1, max = 253))]
    pub service: String,
    /// The site it serves from once this is done: a recovery site of its class (a failover), or the primary (a
    /// failback).
    #[schemars(length(min = 1, max = 32))]
    pub to: String,
    /// Why, in words, for the record (who declared the disaster, the ticket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub reason: Option<String>,
}

/// Where a declared failover stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
pub enum SiteFailoverPhase {
    /// Accepted; the service is being moved.
    #[default]
    Moving,
    /// The service is Ready at the new site.
    Completed,
    /// Not carried out: the message says why (an unknown site, the service already there, a newer declaration).
    Refused,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SiteFailoverStatus {
    #[serde(default)]
    pub phase: SiteFailoverPhase,
    /// The site the service served from when this was declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// When Karmada was told (the placement changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_at: Option<Time>,
    /// When the service was first Ready at the new site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_at: Option<Time>,
    /// From the declaration to Ready at the new site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_seconds: Option<i64>,
    /// Whether that kept the class's Region RTO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_rto: Option<bool>,
    /// A failback from a healthy site: the last copy that site made once its writes had stopped, restored at the
    /// new site (no write lost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub copy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
