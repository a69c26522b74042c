//! What a plan concludes: the children to apply and delete, the verdicts, the incidents and availability; and
//! how a child's rollout is read.

use jiff::Timestamp;
use k8s_openapi::api::{apps::v1::Deployment, batch::v1::CronJob, core::v1::Service, policy::v1::PodDisruptionBudget};
use kube::ResourceExt;

use crate::{
    api::{AvailabilityStatus, Incident, ObjectiveStatus, ZoneStatus},
    backup::BackupPlan,
    failover::incidents,
    placement::Placement,
    rollout::Progress,
    verdict::Problem,
    workload,
};

/// What to apply, what to delete, and what was concluded.
#[derive(Clone, Debug)]
pub struct Desired {
    /// Deployments to apply: one per eligible zone, plus drained zones scaled to 0.
    pub deployments: Vec<Deployment>,
    /// A stateful service's StatefulSets, one per zone, instead of Deployments.
    pub stateful_sets: Vec<k8s_openapi::api::apps::v1::StatefulSet>,
    pub disruption_budget: PodDisruptionBudget,
    /// `None`: the spec asks for no Service, so one continuo made is deleted.
    pub service: Option<Service>,
    /// Zone workloads (Deployments, or StatefulSets) no longer used, scaled to 0 and ready to delete.
    pub delete: Vec<String>,
    pub placement: Placement,
    pub zones: Vec<ZoneStatus>,
    pub objectives: Vec<ObjectiveStatus>,
    /// Why the class's `minZones` is not met, if it is not.
    pub zone_shortfall: Option<String>,
    /// The backup CronJobs; `None` while a backup problem leaves the existing ones as they are.
    pub cron_jobs: Option<Vec<CronJob>>,
    /// The backup stage's decisions, when the service declares `spec.backup`.
    pub backup: Option<BackupPlan>,
    /// The data stage's resolution of `spec.data`: what the RPO verdicts are judged on.
    pub data: crate::data::DataPlan,
    /// A stateful service's gravity stage: recoveries from copies, moves refused, diverged claims.
    pub volumes: Option<crate::stateful::Volumes>,
    /// The class's drill policy, judged: `DrillsCurrent`.
    pub drill_policy: Option<crate::drill::policy::Verdict>,
    /// The recoveries for status.
    pub recoveries: Vec<crate::api::Recovery>,
    /// Where a template change stands, zone by zone.
    pub rollout: Progress,
    /// Failure detection as it applies to this service.
    pub detection: DetectionSummary,
    /// The incident history after this reconcile, newest first, and what changed in it.
    pub incidents: Vec<Incident>,
    pub incident_changes: Vec<incidents::Change>,
    /// Availability this month, when the class declares a target.
    pub availability: Option<Availability>,
    /// When the availability must be looked at again even if nothing changes (the month ends).
    pub availability_review: Option<Timestamp>,
}

/// Where the month's availability stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Availability {
    /// Counted since the service was first at its declared capacity.
    Counted(Box<AvailabilityStatus>),
    /// A new service is counted from the first time it is Up: rolling out for the first time is not an outage.
    NotYetUp,
    /// The target's time zone does not exist: nothing is counted until it is fixed (what was counted is kept).
    UnknownTimeZone(String),
}

/// How zone loss is detected for this service, for its `FailureDetection` condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetectionSummary {
    pub status: &'static str,
    pub reason: &'static str,
    pub message: String,
}

pub type Plan = Result<Desired, Problem>;

/// Replicas Ready in a child, counting only pods of its current spec.
pub fn ready_replicas(d: &Deployment) -> i32 {
    d.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0)
}

/// A child has rolled out `want` Ready replicas of its current spec.
pub fn rolled_out(d: &Deployment, want: i32) -> bool {
    let Some(s) = &d.status else { return want == 0 };
    let current = s.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0);
    current && s.updated_replicas.unwrap_or(0) >= want && s.ready_replicas.unwrap_or(0) >= want
}

/// Whether the Deployment controller gave up on a child's rollout (`ProgressDeadlineExceeded`).
pub fn deadline_exceeded(d: &Deployment) -> bool {
    d.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|cs| {
        cs.iter().any(|c| c.type_ == "Progressing" && c.status == "False" && c.reason.as_deref() == Some(DEADLINE))
    })
}

/// The reason the Deployment controller gives when a rollout exceeds `progressDeadlineSeconds`.
pub const DEADLINE: &str = "ProgressDeadlineExceeded";

pub(super) fn zone_of(d: &Deployment) -> Option<&str> {
    d.labels().get(workload::ZONE_LABEL).map(String::as_str)
}
