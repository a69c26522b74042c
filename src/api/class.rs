//! `ContinuityClass`: a cluster-scoped promise — how a service is laid out and what it must survive.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::{Span, formats::TIME_ZONE_PATTERN};

/// How a service is kept running across zones.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
pub enum Mode {
    /// Serve from every zone at once, with enough spare to lose any one zone.
    ActiveActive,
    /// Serve from one primary zone; keep warm standbys in the others and promote one on failure.
    WarmStandby,
    /// Spread evenly over zones; after a failure, replace what was lost inside the RTO.
    Restart,
}

/// The failure a objective is about.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, schemars::JsonSchema)]
pub enum Scope {
    /// One server (a Kubernetes Node) is lost.
    Node,
    /// A whole availability zone (a data center) is lost.
    Zone,
    /// A whole site is lost: every zone of a cluster or region. Needs `sites` (Karmada member clusters) in the
    /// class; judged by continuo on the Karmada control plane.
    Region,
}

impl Scope {
    /// Its name as the API spells it (also a metric label value).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Node => "Node",
            Scope::Zone => "Zone",
            Scope::Region => "Region",
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A recovery objective for one failure scope.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct Objective {
    /// The failure this objective is about.
    pub scope: Scope,
    /// Recovery time objective: how long the service may serve below its declared capacity.
    pub rto: Span,
    /// Recovery point objective: how much recent data may be lost. Omit for stateless services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo: Option<Span>,
}

/// Where the service may run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct Residency {
    /// Only nodes whose region label (`topology.kubernetes.io/region`) is one of these are used. Each region
    /// appears once: the API server refuses duplicates (the list is a set).
    // Uniqueness is the API server's own `x-kubernetes-list-type: set` check; a CEL rule on top would only add
    // cost. Label values are at most 63 characters, which also bounds what any future rule here could cost.
    #[schemars(length(min = 1, max = 16), inner(length(min = 1, max = 63)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub regions: Vec<String>,
}

/// A continuity promise that ResilientServices name, like a StorageClass for availability.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "continuo.dev",
    version = "v1alpha1",
    kind = "ContinuityClass",
    shortname = "ccls",
    category = "continuo",
    // Helm keeps the CRDs on uninstall: deleting them would delete every service and, through owner
    // references, its workloads.
    annotation("helm.sh/resource-policy", "keep"),
    label("app.kubernetes.io/name", "continuo"),
    label("app.kubernetes.io/part-of", "continuo"),
    label("app.kubernetes.io/component", "crd"),
    cel,
    printcolumn(name = "Mode", type_ = "string", json_path = ".spec.mode"),
    printcolumn(name = "MinZones", type_ = "integer", json_path = ".spec.minZones"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[x_kube(validation = Rule::new("!self.objectives.exists(o, o.scope == 'Region') || has(self.sites)").message("a Region objective needs sites: the Karmada member clusters the service can be moved between"))]
#[serde(rename_all = "camelCase")]
pub struct ContinuityClassSpec {
    /// What this class promises, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub description: Option<String>,
    /// How replicas are laid out across zones.
    pub mode: Mode,
    /// The fewest eligible zones on which the objectives hold. Fewer zones make `ObjectivesMet` false.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 16))]
    pub min_zones: i32,
    /// WarmStandby only: replicas kept warm in each non-primary zone.
    #[serde(default = "one")]
    #[schemars(range(min = 0, max = 1000))]
    pub standby_replicas: i32,
    /// One objective per failure scope the service must survive; each scope appears once (the API server
    /// refuses a duplicate `scope`: the list is a map keyed by it).
    #[serde(default)]
    #[schemars(length(max = 8))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["scope".into()]))]
    pub objectives: Vec<Objective>,
    /// Data residency: restrict placement to nodes in these regions, and copies to locations in them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residency: Option<Residency>,
    /// Backups: the schedules that keep the RPOs and what they retain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<super::BackupPolicy>,
    /// An availability target per calendar month, as the contract states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<AvailabilityTarget>,
    /// Drills each service must pass, and how often: a service without a passed drill of each scenario within the
    /// period is flagged (`DrillsCurrent=False`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drills: Option<super::DrillPolicy>,
    /// Stateful services: what a replica moved out of a lost zone starts from when no off-zone copy exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<super::RecoveryPolicy>,
    /// The sites (Karmada member clusters) a service of this class runs at, the primary first, for the Region
    /// scope: how the recovery sites stand by and who decides a failover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sites: Option<super::Sites>,
}

fn one() -> i32 {
    1
}

impl ContinuityClassSpec {
    pub fn objective(&self, scope: Scope) -> Option<&Objective> {
        self.objectives.iter().find(|o| o.scope == scope)
    }
}

/// An availability target per calendar month, as a contract states it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvailabilityTarget {
    /// The percentage of the month the service must be up, strictly between 0 and 100 (`"99.9"`).
    #[schemars(
        length(min = 1, max = 8),
        regex(pattern = r"^(0\.[0-9]{0,4}[1-9][0-9]{0,3}|[1-9][0-9]?(\.[0-9]{1,5})?)$")
    )]
    pub target: String,
    /// The fewest zones the service must be Ready in for the target to be claimable at all (contracts count
    /// their SLA only when the service spans at least two zones). Default 2.
    #[serde(default = "two")]
    #[schemars(range(min = 1, max = 16))]
    pub min_zones: i32,
    /// The time zone calendar months are counted in. Default `UTC`.
    #[serde(default = "utc")]
    #[schemars(length(min = 1, max = 64), regex(pattern = TIME_ZONE_PATTERN))]
    pub time_zone: String,
}

fn two() -> i32 {
    2
}

fn utc() -> String {
    "UTC".into()
}

impl AvailabilityTarget {
    /// The target as a fraction (0.999), when it parses (the schema pattern guarantees it does).
    pub fn fraction(&self) -> Option<f64> {
        self.target.parse::<f64>().ok().filter(|t| *t > 0.0 && *t < 100.0).map(|t| t / 100.0)
    }
}
