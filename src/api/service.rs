//! `ResilientService`: a workload (stateless, or stateful with `volumeClaimTemplates`) that continuo keeps within its
//! class's objectives.

use k8s_openapi::{
    api::core::v1::{PodTemplateSpec, ServicePort},
    apimachinery::pkg::apis::meta::v1::Condition,
};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::{Scope, Span};

/// A service continuo spreads over zones and keeps within the objectives of its ContinuityClass.
// Several `printcolumn`s share a `type_`, which clippy takes for repeated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "continuo.dev",
    version = "v1alpha1",
    kind = "ResilientService",
    namespaced,
    shortname = "rsvc",
    category = "continuo",
    // Helm keeps the CRDs on uninstall: deleting them would delete every service and, through owner
    // references, its workloads.
    annotation("helm.sh/resource-policy", "keep"),
    label("app.kubernetes.io/name", "continuo"),
    label("app.kubernetes.io/part-of", "continuo"),
    label("app.kubernetes.io/component", "crd"),
    status = "ResilientServiceStatus",
    cel,
    printcolumn(name = "Class", type_ = "string", json_path = ".spec.className"),
    printcolumn(name = "Replicas", type_ = "integer", json_path = ".spec.replicas"),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyReplicas"),
    printcolumn(name = "Zones", type_ = "string", json_path = ".status.zoneSummary"),
    printcolumn(
        name = "Objectives",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"ObjectivesMet\")].status"
    ),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.preferredZones) || !has(self.zones) || self.preferredZones.all(z, z in self.zones)").message("spec.preferredZones must be among spec.zones"),
    validation = Rule::new("has(self.volumeClaimTemplates) == has(oldSelf.volumeClaimTemplates) && (!has(self.volumeClaimTemplates) || self.volumeClaimTemplates == oldSelf.volumeClaimTemplates)").message("spec.volumeClaimTemplates cannot change once the service exists (a StatefulSet's cannot): create a new service to change its volumes"),
)]
pub struct ResilientServiceSpec {
    /// The ContinuityClass whose objectives this service must meet.
    #[x_kube(validation = Rule::new("self != ''").message("className must name a ContinuityClass"))]
    #[schemars(length(max = 253))]
    pub class_name: String,
    /// Serving capacity that must stay Ready through the failures the class names.
    #[x_kube(validation = Rule::new("self >= 1").message("replicas must be at least 1"))]
    #[schemars(range(max = 10000))]
    pub replicas: i32,
    /// Pin the service to these zones (values of `topology.kubernetes.io/zone`); by default every eligible zone
    /// is used. Each zone appears once: the API server refuses duplicates (the list is a set).
    // Uniqueness is the API server's own `x-kubernetes-list-type: set` check, not a (quadratic) CEL rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(min = 1, max = 63)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub zones: Vec<String>,
    /// Zones to prefer, first first, for the share that does not divide evenly: the WarmStandby primary, the
    /// Restart remainder (for example the zone of the service's database primary). A preferred zone is used while
    /// it is eligible; otherwise the share stays where it is, or goes where the service's hash puts it. Each must
    /// be one of `zones` when those are set, and inside the class's residency.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(min = 1, max = 63)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub preferred_zones: Vec<String>,
    /// The pods to run, as in a Deployment.
    #[schemars(schema_with = "super::formats::pod_template_schema")]
    #[x_kube(
        validation = Rule::new("has(self.spec) && self.spec.containers.size() > 0").message("template.spec.containers must list at least one container")
    )]
    pub template: PodTemplateSpec,
    /// An optional Service over the pods of every zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceExposure>,
    /// Seconds a new pod needs to become Ready, when the template's probes do not tell it well.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 86400))]
    pub startup_seconds: Option<i32>,
    /// Seconds a zone's rollout may take before it counts as failed and the zone-by-zone rollout stops there
    /// (the Deployment's `progressDeadlineSeconds`; default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 86400))]
    pub progress_deadline_seconds: Option<i32>,
    /// How this service's data is copied, when its class promises an RPO that backups keep.
    // Boxed: it holds a whole pod template (1.8 KB inline), which a service without backups would otherwise carry
    // empty in every cached copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<Box<super::ServiceBackup>>,
    /// Where the service's data lives (CloudNativePG clusters, VolSync replications): continuo reads them and
    /// judges the class's RPOs on them; it never creates or changes them. Names are unique (a map list).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub data: Vec<super::DataSource>,
    /// Volumes, as in a StatefulSet: each replica gets its own claim of each, in its own zone, and continuo runs
    /// one StatefulSet per zone instead of a Deployment. A replica stays with its volume; when its zone is lost it
    /// is recreated elsewhere and its volume restored from the newest off-zone copy before the application starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    #[x_kube(
        validation = Rule::new("self.all(c, self.exists_one(d, d.metadata.name == c.metadata.name))").message("volumeClaimTemplates names must be unique")
    )]
    pub volume_claim_templates: Vec<super::ClaimTemplate>,
}

/// The Service continuo keeps in front of all zones.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
pub struct ServiceExposure {
    /// Ports as in a Service.
    #[schemars(schema_with = "super::formats::service_ports_schema")]
    pub ports: Vec<ServicePort>,
}

/// What continuo observed and concluded, by the Kubernetes API conventions (kstatus-compliant).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResilientServiceStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Replicas continuo runs in all zones (the declared capacity plus the spare for failures).
    #[serde(default)]
    pub replicas: i32,
    /// Replicas Ready in all zones.
    #[serde(default)]
    pub ready_replicas: i32,
    /// WarmStandby: the zone that serves. Kept stable until that zone fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_zone: Option<String>,
    /// One line for `kubectl get`, such as `a=3/3 b=3/3 c=0/3!`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_summary: Option<String>,
    /// Per zone: eligibility, desired and Ready replicas.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub zones: Vec<ZoneStatus>,
    /// Per objective: whether it is feasible on this cluster, and why, in numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub objectives: Vec<ObjectiveStatus>,
    /// Backups: the newest good copy, the points held, and per tier the next run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupStatus>,
    /// Per data source: where its data is safe as of when.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub data: Vec<super::DataSourceStatus>,
    /// Stateful replicas continuo recreated in another zone from an off-zone copy, and what that cost in data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub recoveries: Vec<super::Recovery>,
    /// The last incidents, newest first: each failure timed against its RTO.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub incidents: Vec<super::Incident>,
    /// The last drill of each scenario that ended, with its verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 4))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["scenario".into()]))]
    pub drills: Vec<super::LastDrill>,
    /// Availability this month and last, when the class declares a target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<super::AvailabilityStatus>,
    /// On Karmada's control plane, for a class with sites: the site the service serves from, and the Region
    /// verdicts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<SiteStatus>,
    /// A planned move off this site under way (a declared failback): writes stopped and the last copy made here,
    /// for the next site to restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handover: Option<SiteHandover>,
    /// Ready, Reconciling, Stalled, ZoneRedundant, ObjectivesMet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
}

/// What continuo knows of a service's copies.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupStatus {
    /// When the data of the newest good copy was captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_copy: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// Recovery points retention holds.
    #[serde(default)]
    pub points: i32,
    /// Per tier: its schedule, its next run and the points it keeps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub tiers: Vec<TierStatus>,
}

/// One tier's state.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TierStatus {
    pub name: String,
    pub schedule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// Points this tier keeps.
    #[serde(default)]
    pub points: i32,
}

/// What one zone holds of the service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ZoneStatus {
    pub name: String,
    /// Whether the zone has at least one Ready, schedulable node inside the residency.
    pub eligible: bool,
    /// Eligible nodes in the zone.
    pub nodes: i32,
    /// Active, Primary, Standby, Draining, Unavailable (kept as it was until the zone returns), Lost, Recovering,
    /// Drilled, or Diverged (a stateful service's zone back from a loss, running nothing on its diverged volumes).
    pub role: String,
    pub desired_replicas: i32,
    pub ready_replicas: i32,
    /// The template revision (digest) the zone's pods run; during a zone-by-zone rollout, zones differ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

/// The verdict on one objective.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectiveStatus {
    pub scope: Scope,
    /// `RTO` or `RPO`.
    pub objective: String,
    pub target: Span,
    /// `True` when feasible on this cluster, `False` when not, `Unknown` when continuo cannot tell.
    pub status: String,
    pub reason: String,
    pub message: String,
}

impl ResilientService {
    /// The condition of the given type, if the status has it.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)
    }
}

/// Where a service with sites serves, as continuo on Karmada's control plane records it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SiteStatus {
    /// The site it serves from.
    #[schemars(length(max = 32))]
    pub serving: String,
    /// Since when.
    pub since: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
    /// Why: `Primary`, `Declared` (a SiteFailover), `Automatic` (its site lost past the hold).
    #[schemars(length(max = 32))]
    pub reason: String,
    #[schemars(length(max = 1024))]
    pub message: String,
    /// The Region objective's verdicts, judged here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 2))]
    pub objectives: Vec<ObjectiveStatus>,
    /// After a move: the site it left, when that site was lost, and its regions, as the serving site's copy of the
    /// service is annotated (`continuo.dev/site-arrival`) so that it starts from a copy stored outside that site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrival: Option<SiteArrival>,
    /// When the class's drill policy requires `SiteRestore` drills (run on Karmada's control plane, so judged
    /// here, not in the members): whether one passed within the period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drills: Option<SiteDrills>,
}

/// The `SiteRestore` part of a class's drill policy, judged on Karmada's control plane.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SiteDrills {
    /// `True` or `False`, as the `DrillsCurrent` condition.
    #[schemars(length(max = 8))]
    pub status: String,
    /// `DrillsCurrent` or `DrillOverdue`.
    #[schemars(length(max = 32))]
    pub reason: String,
    #[schemars(length(max = 1024))]
    pub message: String,
    /// When a SiteRestore drill of the service last passed (kept when the drill object is deleted or runs again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed_at: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
}

/// Where a service that moved came from (see [`SiteStatus::arrival`]).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SiteArrival {
    #[schemars(length(max = 32))]
    pub from: String,
    pub lost_at: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(max = 63)))]
    pub regions: Vec<String>,
    /// A planned move (a declared failback from a healthy site): the last copy the site it left made once its
    /// writes had stopped, which the new site restores exactly: no write is lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub copy: Option<String>,
    /// A planned move: the declaration it carried out (the handover the site it left was asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_at: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
}

/// A member's part in a planned move off its site (the `continuo.dev/site-handover` annotation Karmada carries):
/// its writes stopped, then its last copy made, which the next site restores.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SiteHandover {
    /// The site the service moves to.
    #[schemars(length(max = 32))]
    pub to: String,
    /// The declaration this hands over for.
    pub declared_at: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
    /// `Stopping` (replicas going down to 0), `Copying` (the last copy running), `CopyMade`, `Failed`.
    #[schemars(length(max = 16))]
    pub phase: String,
    /// The last copy: its recovery point, the agent's id for it, and when it was captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub point: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub copy_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_at: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    #[schemars(length(max = 1024))]
    pub message: String,
}
