//! The slim types the caches keep: of each watched kind only the fields continuo reads, decoded from the watch
//! and nothing more, so that memory stays flat as a cluster grows.

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentSpec, DeploymentStatus, DeploymentStrategy},
        batch::v1::{CronJob, CronJobSpec, Job},
        core::v1::Pod,
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::{Deserialize, Serialize};

use crate::workload::{REVISION, TEMPLATE_DIGEST};

/// What the Deployment cache keeps of a Deployment: its metadata, the spec fields continuo applies besides the pod
/// template, and the rollout counts of its status. The pod template and the status conditions are never even
/// decoded: they are most of a Deployment, and at a thousand services most of the operator's memory.
///
/// It is serialized only to be packed in the cache ([`super::packed::Packed`]), and reads back from that form.
#[derive(kube::Resource, Clone, Debug, Default, Deserialize, Serialize)]
#[resource(inherit = "Deployment")]
pub struct CachedDeployment {
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spec: Option<CachedSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<Rollout>,
}

/// The spec fields continuo applies and may need to put back: not the selector, which apps/v1 makes immutable.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct CachedSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    replicas: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strategy: Option<DeploymentStrategy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    paused: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    progress_deadline_seconds: Option<i32>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Rollout {
    #[serde(skip_serializing_if = "Option::is_none")]
    observed_generation: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replicas: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ready_replicas: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_replicas: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    available_replicas: Option<i32>,
    /// Of the conditions, only whether the rollout exceeded its progress deadline (written back as that one
    /// condition).
    #[serde(
        default,
        rename = "conditions",
        deserialize_with = "deadline_exceeded",
        serialize_with = "deadline_condition",
        skip_serializing_if = "std::ops::Not::not"
    )]
    deadline_exceeded: bool,
}

/// `Progressing=False` with reason `ProgressDeadlineExceeded`, without keeping the conditions.
fn deadline_exceeded<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    struct Condition {
        #[serde(rename = "type")]
        type_: String,
        status: String,
        #[serde(default)]
        reason: Option<String>,
    }
    let conditions: Option<Vec<Condition>> = Option::deserialize(d)?;
    Ok(conditions
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Progressing" && c.status == "False" && c.reason.as_deref() == Some(crate::plan::DEADLINE)))
}

/// The one condition a `deadline_exceeded` flag stands for.
fn deadline_condition<S: serde::Serializer>(_: &bool, s: S) -> Result<S::Ok, S::Error> {
    let condition = serde_json::json!({"type": "Progressing", "status": "False", "reason": crate::plan::DEADLINE});
    [condition].serialize(s)
}

impl CachedDeployment {
    /// Drops, besides what every cache drops, the annotations continuo does not read (the Deployment controller's
    /// revision, say): only the template digest and the revision continuo records stay.
    pub fn keep_read_annotations(&mut self) {
        if let Some(a) = self.metadata.annotations.as_mut() {
            a.retain(|k, _| k == TEMPLATE_DIGEST || k == REVISION);
        }
    }

    /// The Deployment as the planning core reads it: with an empty selector and pod template, and of the status
    /// conditions only a `ProgressDeadlineExceeded`.
    pub fn into_deployment(self) -> Deployment {
        Deployment {
            metadata: self.metadata,
            spec: self.spec.map(|s| DeploymentSpec {
                replicas: s.replicas,
                strategy: s.strategy,
                paused: s.paused,
                progress_deadline_seconds: s.progress_deadline_seconds,
                ..DeploymentSpec::default()
            }),
            status: self.status.map(|s| DeploymentStatus {
                observed_generation: s.observed_generation,
                replicas: s.replicas,
                ready_replicas: s.ready_replicas,
                updated_replicas: s.updated_replicas,
                available_replicas: s.available_replicas,
                conditions: s.deadline_exceeded.then(|| {
                    vec![k8s_openapi::api::apps::v1::DeploymentCondition {
                        type_: "Progressing".into(),
                        status: "False".into(),
                        reason: Some(crate::plan::DEADLINE.into()),
                        ..Default::default()
                    }]
                }),
                ..DeploymentStatus::default()
            }),
        }
    }
}

/// Drops what continuo never reads of a cached Service: its status, and of its spec all but the selector and
/// ports that continuo applies (the API server's defaults — cluster IPs, IP families, traffic policies — are
/// most of a live Service's spec).
pub fn keep_applied_service_fields(s: &mut k8s_openapi::api::core::v1::Service) {
    s.status = None;
    s.spec = s.spec.take().map(|spec| k8s_openapi::api::core::v1::ServiceSpec {
        selector: spec.selector,
        ports: spec.ports,
        ..Default::default()
    });
}

/// What the CronJob cache keeps of a CronJob: its metadata and the spec fields continuo applies besides the Job
/// template, which (like a Deployment's pod template) is compared by the digest continuo stamps.
#[derive(kube::Resource, Clone, Debug, Default, Deserialize)]
#[resource(inherit = "CronJob")]
pub struct CachedCronJob {
    pub metadata: ObjectMeta,
    #[serde(default)]
    spec: Option<CachedCronJobSpec>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CachedCronJobSpec {
    #[serde(default)]
    schedule: String,
    time_zone: Option<String>,
    concurrency_policy: Option<String>,
    starting_deadline_seconds: Option<i64>,
    successful_jobs_history_limit: Option<i32>,
    failed_jobs_history_limit: Option<i32>,
    suspend: Option<bool>,
}

impl CachedCronJob {
    pub fn keep_read_annotations(&mut self) {
        if let Some(a) = self.metadata.annotations.as_mut() {
            a.retain(|k, _| k == TEMPLATE_DIGEST);
        }
    }

    /// The CronJob as continuo compares it: without its Job template.
    pub fn to_cron_job(&self) -> CronJob {
        CronJob {
            metadata: self.metadata.clone(),
            spec: self.spec.as_ref().map(|s| CronJobSpec {
                schedule: s.schedule.clone(),
                time_zone: s.time_zone.clone(),
                concurrency_policy: s.concurrency_policy.clone(),
                starting_deadline_seconds: s.starting_deadline_seconds,
                successful_jobs_history_limit: s.successful_jobs_history_limit,
                failed_jobs_history_limit: s.failed_jobs_history_limit,
                suspend: s.suspend,
                ..CronJobSpec::default()
            }),
            status: None,
        }
    }
}

/// What the cache keeps of an agent Job: its metadata and how it ended.
#[derive(kube::Resource, Clone, Debug, Default, Deserialize)]
#[resource(inherit = "Job")]
pub struct CachedJob {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub status: Option<JobOutcome>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobOutcome {
    pub start_time: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    pub completion_time: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    #[serde(default)]
    pub conditions: Vec<JobCondition>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct JobCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
}

impl CachedJob {
    fn condition(&self, type_: &str) -> bool {
        self.status.as_ref().is_some_and(|s| s.conditions.iter().any(|c| c.type_ == type_ && c.status == "True"))
    }

    /// `Some(true)` once complete, `Some(false)` once failed, `None` while running.
    pub fn finished(&self) -> Option<bool> {
        if self.condition("Complete") {
            Some(true)
        } else if self.condition("Failed") {
            Some(false)
        } else {
            None
        }
    }
}

/// What the cache keeps of an agent pod: its labels and its containers' termination messages.
#[derive(kube::Resource, Clone, Debug, Default, Deserialize)]
#[resource(inherit = "Pod")]
pub struct CachedPod {
    pub metadata: ObjectMeta,
    #[serde(default)]
    status: Option<PodOutcome>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodOutcome {
    #[serde(default)]
    container_statuses: Vec<ContainerOutcome>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct ContainerOutcome {
    #[serde(default)]
    state: Option<ContainerState>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct ContainerState {
    terminated: Option<Terminated>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct Terminated {
    #[serde(rename = "exitCode", default)]
    exit_code: i32,
    message: Option<String>,
}

impl CachedPod {
    /// The message of the first container that terminated successfully.
    pub fn termination_message(&self) -> Option<String> {
        self.status
            .as_ref()?
            .container_statuses
            .iter()
            .filter_map(|c| c.state.as_ref()?.terminated.as_ref())
            .find(|t| t.exit_code == 0)
            .and_then(|t| t.message.clone())
    }
}
