//! What a reconcile reads, from the caches the controller's watches keep (so an unchanged service costs no API
//! request), and what it just wrote (so a cache that has not caught up yet never causes a second write or a
//! decision on stale readiness).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentSpec, DeploymentStatus, DeploymentStrategy},
        batch::v1::{CronJob, CronJobSpec, Job},
        core::v1::{Namespace, Node, Pod, Service},
        policy::v1::PodDisruptionBudget,
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    Resource, ResourceExt,
    runtime::reflector::{ObjectRef, Store},
};
use serde::Deserialize;
use serde_json::Value;

use crate::api::{BackupLocation, ContinuityClass, RecoveryPoint, ResilientService, RestoreRequest};

/// Reflector stores fed by the controller's watches.
#[derive(Clone)]
pub struct Caches {
    pub nodes: Store<Node>,
    pub classes: Store<ContinuityClass>,
    /// Deployments, PDBs and Services carrying continuo's service label.
    pub deployments: Store<CachedDeployment>,
    pub disruption_budgets: Store<PodDisruptionBudget>,
    pub services: Store<Service>,
    /// Namespaces, to leave alone the services of one being deleted.
    pub namespaces: Store<Namespace>,
    /// Backup CronJobs carrying continuo's service label.
    pub cron_jobs: Store<CachedCronJob>,
    pub locations: Store<BackupLocation>,
    pub recovery_points: Store<RecoveryPoint>,
    /// The agent's Jobs and pods (labelled with an action).
    pub agent_jobs: Store<CachedJob>,
    pub agent_pods: Store<CachedPod>,
    pub restores: Store<RestoreRequest>,
    /// Set once every store has synced. kube's `Store::wait_until_ready` wakes only the last of several tasks
    /// waiting at once (a oneshot channel underneath), so the stores are awaited by one task at a time, here.
    pub synced: std::sync::Arc<tokio::sync::OnceCell<()>>,
}

/// A store's writer went away before it synced: its watch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreClosed;

impl Caches {
    /// Resolves once every store has its first full list.
    pub async fn wait_until_ready(&self) -> Result<(), StoreClosed> {
        self.synced.get_or_try_init(|| self.wait_for_each_store()).await.map(|_| ())
    }

    async fn wait_for_each_store(&self) -> Result<(), StoreClosed> {
        let closed = |_| StoreClosed;
        self.nodes.wait_until_ready().await.map_err(closed)?;
        self.classes.wait_until_ready().await.map_err(closed)?;
        self.deployments.wait_until_ready().await.map_err(closed)?;
        self.disruption_budgets.wait_until_ready().await.map_err(closed)?;
        self.services.wait_until_ready().await.map_err(closed)?;
        self.cron_jobs.wait_until_ready().await.map_err(closed)?;
        self.locations.wait_until_ready().await.map_err(closed)?;
        self.recovery_points.wait_until_ready().await.map_err(closed)?;
        self.agent_jobs.wait_until_ready().await.map_err(closed)?;
        self.agent_pods.wait_until_ready().await.map_err(closed)?;
        self.restores.wait_until_ready().await.map_err(closed)?;
        self.namespaces.wait_until_ready().await.map_err(closed)
    }

    pub fn location(&self, name: &str) -> Option<BackupLocation> {
        self.locations.get(&ObjectRef::new(name)).map(|l| (*l).clone())
    }

    /// The recovery points of the service `name` in `ns`, whoever made them (they are not owned by the service).
    pub fn recovery_points_of(&self, ns: &str, name: &str) -> Vec<RecoveryPoint> {
        let mut points = self.recovery_points_in(ns);
        points.retain(|p| p.spec.service == name);
        points
    }

    /// Every recovery point in `ns`.
    pub fn recovery_points_in(&self, ns: &str) -> Vec<RecoveryPoint> {
        let mut points: Vec<RecoveryPoint> = self
            .recovery_points
            .state()
            .iter()
            .filter(|p| p.namespace().as_deref() == Some(ns))
            .map(|p| (**p).clone())
            .collect();
        points.sort_by_key(ResourceExt::name_any);
        points
    }

    /// The restore requests for the service `name` in `ns`.
    pub fn restores_of(&self, ns: &str, name: &str) -> Vec<RestoreRequest> {
        let mut out: Vec<RestoreRequest> = self
            .restores
            .state()
            .iter()
            .filter(|r| r.namespace().as_deref() == Some(ns) && r.spec.service == name)
            .map(|r| (**r).clone())
            .collect();
        out.sort_by_key(ResourceExt::name_any);
        out
    }

    /// The agent Jobs of the service `name` in `ns` that ran `action`.
    pub fn agent_jobs_of(&self, ns: &str, name: &str, action: &str) -> Vec<CachedJob> {
        let mut jobs: Vec<CachedJob> = self
            .agent_jobs
            .state()
            .iter()
            .filter(|j| {
                let labels = j.labels();
                j.namespace().as_deref() == Some(ns)
                    && labels.get(crate::workload::SERVICE_LABEL).map(String::as_str) == Some(name)
                    && labels.get(crate::backup::jobs::ACTION_LABEL).map(String::as_str) == Some(action)
            })
            .map(|j| (**j).clone())
            .collect();
        jobs.sort_by_key(ResourceExt::name_any);
        jobs
    }

    /// The termination message of the agent's container in a pod of Job `job`, if one finished.
    pub fn agent_report(&self, ns: &str, job: &str) -> Option<String> {
        self.agent_pods
            .state()
            .iter()
            .filter(|p| {
                p.namespace().as_deref() == Some(ns) && p.labels().get("job-name").map(String::as_str) == Some(job)
            })
            .filter_map(|p| p.termination_message())
            .next_back()
    }

    /// The CronJobs `svc` controls.
    pub fn cron_jobs_of(&self, svc: &ResilientService) -> Vec<CronJob> {
        let (ns, uid) = (svc.namespace(), svc.uid());
        let mut jobs: Vec<CronJob> = self
            .cron_jobs
            .state()
            .iter()
            .filter(|c| c.namespace() == ns && controlled_by(&***c, uid.as_deref()))
            .map(|c| c.to_cron_job())
            .collect();
        jobs.sort_by_key(ResourceExt::name_any);
        jobs
    }

    /// Whether `ns` is being deleted: nothing new may be created in it, and nothing in it needs continuo.
    pub fn terminating(&self, ns: &str) -> bool {
        self.namespaces.get(&ObjectRef::new(ns)).is_some_and(|n| n.metadata.deletion_timestamp.is_some())
    }

    pub fn class(&self, name: &str) -> Option<ContinuityClass> {
        self.classes.get(&ObjectRef::new(name)).map(|c| (*c).clone())
    }

    /// The Deployments `svc` controls (by owner uid, so a namesake from a deleted service is not one).
    pub fn deployments_of(&self, svc: &ResilientService) -> Vec<Deployment> {
        let (ns, uid) = (svc.namespace(), svc.uid());
        let mut children: Vec<Deployment> = self
            .deployments
            .state()
            .iter()
            .filter(|d| d.namespace() == ns && controlled_by(&***d, uid.as_deref()))
            .map(|d| d.to_deployment())
            .collect();
        children.sort_by_key(ResourceExt::name_any);
        children
    }

    pub fn disruption_budget(&self, ns: &str, name: &str) -> Option<PodDisruptionBudget> {
        self.disruption_budgets.get(&ObjectRef::new(name).within(ns)).map(|p| (*p).clone())
    }

    pub fn service(&self, ns: &str, name: &str) -> Option<Service> {
        self.services.get(&ObjectRef::new(name).within(ns)).map(|s| (*s).clone())
    }
}

/// Whether `obj`'s controller is the object with this uid.
pub(super) fn controlled_by<K: Resource>(obj: &K, uid: Option<&str>) -> bool {
    obj.owner_references().iter().any(|o| o.controller == Some(true) && Some(o.uid.as_str()) == uid)
}

pub use crate::workload::{REVISION, TEMPLATE_DIGEST, template_digest};

/// What the Deployment cache keeps of a Deployment: its metadata, the spec fields continuo applies besides the pod
/// template, and the rollout counts of its status. The pod template and the status conditions are never even
/// decoded: they are most of a Deployment, and at a thousand services most of the operator's memory.
#[derive(kube::Resource, Clone, Debug, Default, Deserialize)]
#[resource(inherit = "Deployment")]
pub struct CachedDeployment {
    pub metadata: ObjectMeta,
    #[serde(default)]
    spec: Option<CachedSpec>,
    #[serde(default)]
    status: Option<Rollout>,
}

/// The spec fields continuo applies and may need to put back: not the selector, which apps/v1 makes immutable.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CachedSpec {
    replicas: Option<i32>,
    strategy: Option<DeploymentStrategy>,
    paused: Option<bool>,
    progress_deadline_seconds: Option<i32>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rollout {
    observed_generation: Option<i64>,
    replicas: Option<i32>,
    ready_replicas: Option<i32>,
    updated_replicas: Option<i32>,
    available_replicas: Option<i32>,
    /// Of the conditions, only whether the rollout exceeded its progress deadline.
    #[serde(default, rename = "conditions", deserialize_with = "deadline_exceeded")]
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
    pub fn to_deployment(&self) -> Deployment {
        Deployment {
            metadata: self.metadata.clone(),
            spec: self.spec.as_ref().map(|s| DeploymentSpec {
                replicas: s.replicas,
                strategy: s.strategy.clone(),
                paused: s.paused,
                progress_deadline_seconds: s.progress_deadline_seconds,
                ..DeploymentSpec::default()
            }),
            status: self.status.as_ref().map(|s| DeploymentStatus {
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

/// Per Deployment, the `metadata.generation` continuo's last apply produced (or, for a Deployment found already as
/// continuo wants it, the one it was found at). A later generation means someone else changed the spec.
#[derive(Default)]
pub struct AppliedGenerations {
    generations: Mutex<HashMap<String, i64>>,
}

impl AppliedGenerations {
    pub fn record(&self, key: &str, generation: i64) {
        if let Ok(mut g) = self.generations.lock() {
            g.insert(key.to_string(), generation);
        }
    }

    /// Whether `generation` is one continuo produced or accepted; the first one seen is accepted.
    pub fn accepts(&self, key: &str, generation: i64) -> bool {
        let Ok(mut g) = self.generations.lock() else { return true };
        generation <= *g.entry(key.to_string()).or_insert(generation)
    }

    pub fn forget(&self, key: &str) {
        if let Ok(mut g) = self.generations.lock() {
            g.remove(key);
        }
    }
}

/// How long a write is trusted over a cache that does not show it yet. A watch delivers in well under a
/// second; past this, the cache is believed again (say, the object was deleted by someone in between).
pub const WRITE_GRACE: Duration = Duration::from_secs(10);

struct Write {
    /// A hash of what was written: enough to tell the same write again, without keeping the body.
    body: u64,
    /// `metadata.generation` the API server answered with (0 when the kind has none).
    generation: i64,
    at: Instant,
}

/// What continuo wrote in the last [`WRITE_GRACE`], per object.
#[derive(Default)]
pub struct RecentWrites {
    writes: Mutex<HashMap<String, Write>>,
}

impl RecentWrites {
    pub fn key(kind: &str, ns: &str, name: &str) -> String {
        format!("{kind}/{ns}/{name}")
    }

    pub fn record(&self, key: String, body: &Value, generation: i64, now: Instant) {
        if let Ok(mut w) = self.writes.lock() {
            w.retain(|_, v| now.duration_since(v.at) < WRITE_GRACE);
            w.insert(key, Write { body: digest(body), generation, at: now });
        }
    }

    /// True when exactly `body` was written to `key` within the grace period: writing it again would only repeat
    /// a write the cache has not delivered yet.
    pub fn just_wrote(&self, key: &str, body: &Value, now: Instant) -> bool {
        self.writes
            .lock()
            .map(|w| w.get(key).is_some_and(|v| v.body == digest(body) && now.duration_since(v.at) < WRITE_GRACE))
            .unwrap_or(false)
    }

    /// The generation continuo's last write produced, while within the grace period: a cached object older than
    /// that is stale, and its status says nothing about the spec continuo applied.
    pub fn generation(&self, key: &str, now: Instant) -> Option<i64> {
        self.writes.lock().ok()?.get(key).filter(|v| now.duration_since(v.at) < WRITE_GRACE).map(|v| v.generation)
    }

    /// The time left until the oldest pending write stops being trusted: when to look again.
    pub fn pending(&self, keys: &[String], now: Instant) -> Option<Duration> {
        let w = self.writes.lock().ok()?;
        keys.iter().filter_map(|k| w.get(k)).map(|v| WRITE_GRACE.saturating_sub(now.duration_since(v.at))).min()
    }

    pub fn forget(&self, key: &str) {
        if let Ok(mut w) = self.writes.lock() {
            w.remove(key);
        }
    }
}

/// A hash of a JSON value (serde_json's maps are ordered, so equal values hash equally).
fn digest(v: &Value) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.to_string().hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Marks a store synced, as its watch's first list does.
    fn sync<K>(mut w: kube::runtime::reflector::store::Writer<K>)
    where
        K: kube::Resource + Clone + 'static,
        K::DynamicType: Eq + std::hash::Hash + Clone + Default,
    {
        use kube::runtime::watcher::Event;
        w.apply_watcher_event(&Event::Init);
        w.apply_watcher_event(&Event::InitDone);
        std::mem::forget(w);
    }

    #[tokio::test]
    async fn every_task_waiting_for_the_caches_wakes_when_they_sync() {
        use kube::runtime::reflector::store;
        let (nodes, w1) = store();
        let (classes, w2) = store();
        let (deployments, w3) = store();
        let (disruption_budgets, w4) = store();
        let (services, w5) = store();
        let (cron_jobs, w6) = store();
        let (locations, w7) = store();
        let (recovery_points, w8) = store();
        let (agent_jobs, w9) = store();
        let (agent_pods, w10) = store();
        let (restores, w11) = store();
        let (namespaces, w12) = store();
        let caches = Caches {
            nodes,
            classes,
            deployments,
            disruption_budgets,
            services,
            cron_jobs,
            locations,
            recovery_points,
            agent_jobs,
            agent_pods,
            restores,
            namespaces,
            synced: Default::default(),
        };
        // Several tasks wait before anything synced: the readiness probe, reconciles, the orphan sweep.
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let c = caches.clone();
                tokio::spawn(async move { c.wait_until_ready().await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        sync(w1);
        sync(w2);
        sync(w3);
        sync(w4);
        sync(w5);
        sync(w6);
        sync(w7);
        sync(w8);
        sync(w9);
        sync(w10);
        sync(w11);
        sync(w12);
        for w in waiters {
            let woke = tokio::time::timeout(Duration::from_secs(2), w).await;
            assert!(matches!(woke, Ok(Ok(Ok(())))), "a waiter never woke: {woke:?}");
        }
    }

    #[test]
    fn a_generation_past_the_applied_one_is_someone_elses_edit() {
        let applied = AppliedGenerations::default();
        assert!(applied.accepts("Deployment/ns/a", 4), "first sight: accepted as found");
        assert!(applied.accepts("Deployment/ns/a", 4));
        assert!(!applied.accepts("Deployment/ns/a", 5), "someone changed the spec");
        applied.record("Deployment/ns/a", 6);
        assert!(applied.accepts("Deployment/ns/a", 6) && applied.accepts("Deployment/ns/a", 5));
    }

    #[test]
    fn a_cached_service_keeps_what_continuo_applies_and_still_holds_it() {
        let desired = json!({"metadata": {"name": "hub", "labels": {"continuo.dev/service": "hub"}},
            "spec": {"selector": {"continuo.dev/service": "hub"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}});
        // As the API server returns it: defaults filled in.
        let mut live: k8s_openapi::api::core::v1::Service = serde_json::from_value(json!({
            "metadata": {"name": "hub", "labels": {"continuo.dev/service": "hub"}},
            "spec": {"selector": {"continuo.dev/service": "hub"},
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
                     "type": "ClusterIP", "clusterIP": "10.96.4.2", "clusterIPs": ["10.96.4.2"], "ipFamilies": ["IPv4"],
                     "ipFamilyPolicy": "SingleStack", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster"},
            "status": {"loadBalancer": {}}}))
        .unwrap();
        keep_applied_service_fields(&mut live);
        let kept = serde_json::to_value(&live).unwrap();
        assert_eq!(kept["spec"].as_object().unwrap().keys().collect::<Vec<_>>(), ["ports", "selector"]);
        assert!(kept["status"].is_null());
        assert!(super::super::drift::holds(&kept, &desired), "no drift, so no write: {kept}");
    }

    #[test]
    fn the_cached_deployment_holds_no_pod_template() {
        let mut d: CachedDeployment = serde_json::from_value(json!({"metadata": {"name": "a", "annotations": {
                TEMPLATE_DIGEST: "0123", "deployment.kubernetes.io/revision": "4"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "a"}},
                "template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}},
            "status": {"readyReplicas": 3, "observedGeneration": 2,
                "conditions": [{"type": "Available", "status": "True"}]}}))
        .unwrap();
        d.keep_read_annotations();
        let v = serde_json::to_value(d.to_deployment()).unwrap();
        assert_eq!(v["metadata"]["annotations"], json!({TEMPLATE_DIGEST: "0123"}));
        assert!(v["spec"]["template"].as_object().is_none_or(|t| t.is_empty()), "{v}");
        assert_eq!((v["spec"]["replicas"].clone(), v["status"]["readyReplicas"].clone()), (json!(3), json!(3)));
        assert_eq!(v["status"]["observedGeneration"], json!(2));
        assert!(v["status"]["conditions"].is_null());
    }

    #[test]
    fn a_write_is_trusted_only_for_its_grace_period_and_only_for_the_same_body() {
        let writes = RecentWrites::default();
        let t0 = Instant::now();
        writes.record("Deployment/ns/a".into(), &json!({"spec": {"replicas": 3}}), 2, t0);
        assert!(writes.just_wrote("Deployment/ns/a", &json!({"spec": {"replicas": 3}}), t0 + Duration::from_secs(1)));
        assert!(!writes.just_wrote("Deployment/ns/a", &json!({"spec": {"replicas": 4}}), t0));
        assert!(!writes.just_wrote("Deployment/ns/a", &json!({"spec": {"replicas": 3}}), t0 + WRITE_GRACE));
        assert_eq!(writes.generation("Deployment/ns/a", t0), Some(2));
        assert_eq!(writes.generation("Deployment/ns/a", t0 + WRITE_GRACE), None);
        assert_eq!(
            writes.pending(&["Deployment/ns/a".into()], t0 + Duration::from_secs(4)),
            Some(Duration::from_secs(6))
        );
    }
}
