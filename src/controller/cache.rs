//! What a reconcile reads, from the caches the controller's watches keep (so an unchanged service costs no API
//! request), and what it just wrote (so a cache that has not caught up yet never causes a second write or a
//! decision on stale readiness).

use k8s_openapi::api::{
    apps::v1::Deployment,
    batch::v1::CronJob,
    core::v1::{Namespace, Node, Service},
    policy::v1::PodDisruptionBudget,
};
use kube::{
    Resource, ResourceExt,
    runtime::reflector::{ObjectRef, Store},
};

use crate::api::{BackupLocation, ContinuityClass, ContinuityDrill, RecoveryPoint, ResilientService, RestoreRequest};

/// Reflector stores fed by the controller's watches.
#[derive(Clone)]
pub struct Caches {
    pub nodes: Store<Node>,
    pub classes: Store<ContinuityClass>,
    /// Deployments, PDBs and Services carrying continuo's service label, packed (see [`Packed`]).
    pub deployments: Store<Packed<CachedDeployment>>,
    pub disruption_budgets: Store<Packed<PodDisruptionBudget>>,
    pub services: Store<Packed<Service>>,
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
    /// Continuity drills, of every service. Not awaited for readiness, like the data layers: an operator upgraded
    /// before its CRDs keeps working without drills.
    pub drills: super::data_layers::LayerCache<ContinuityDrill>,
    /// The data layers services name (CloudNativePG, VolSync). Not awaited for readiness: a layer whose CRD is
    /// not installed never syncs, and says so.
    pub data: super::data_layers::DataCaches,
    /// Stateful services' StatefulSets and claims, and the StorageClasses.
    pub volumes: VolumeCaches,
    /// Set once every store has synced. kube's `Store::wait_until_ready` wakes only the last of several tasks
    /// waiting at once (a oneshot channel underneath), so the stores are awaited by one task at a time, here.
    pub synced: std::sync::Arc<tokio::sync::OnceCell<()>>,
}

/// The stores of stateful services' kinds.
#[derive(Clone)]
pub struct VolumeCaches {
    /// StatefulSets carrying continuo's service label, without their pod and claim templates.
    pub sets: Store<Packed<k8s_openapi::api::apps::v1::StatefulSet>>,
    /// Claims carrying continuo's service label (made from a service's claim templates), metadata only.
    pub claims: Store<k8s_openapi::api::core::v1::PersistentVolumeClaim>,
    pub storage_classes: Store<k8s_openapi::api::storage::v1::StorageClass>,
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
        self.volumes.sets.wait_until_ready().await.map_err(closed)?;
        self.volumes.claims.wait_until_ready().await.map_err(closed)?;
        self.volumes.storage_classes.wait_until_ready().await.map_err(closed)?;
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

    /// The drills of the service `name` in `ns`, by name.
    pub fn drills_of(&self, ns: &str, name: &str) -> Vec<ContinuityDrill> {
        let mut out: Vec<ContinuityDrill> = self
            .drills
            .store
            .state()
            .iter()
            .filter(|d| d.namespace().as_deref() == Some(ns) && d.spec.service == name)
            .map(|d| (**d).clone())
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
        owned_by(&self.deployments, svc, CachedDeployment::into_deployment)
    }

    pub fn disruption_budget(&self, ns: &str, name: &str) -> Option<PodDisruptionBudget> {
        self.disruption_budgets.get(&ObjectRef::new(name).within(ns)).and_then(|p| p.unpack().ok())
    }

    pub fn service(&self, ns: &str, name: &str) -> Option<Service> {
        self.services.get(&ObjectRef::new(name).within(ns)).and_then(|s| s.unpack().ok())
    }
}

/// Whether `obj`'s controller is the object with this uid.
/// The packed objects of `store` that `svc` controls (by owner uid, so a namesake from a deleted service is not
/// one), each read with `read`, by name.
pub(super) fn owned_by<K, T>(store: &Store<Packed<K>>, svc: &ResilientService, read: impl Fn(K) -> T) -> Vec<T>
where
    K: Resource<DynamicType = ()> + serde::Serialize + serde::de::DeserializeOwned + Clone,
    T: Resource,
{
    let (ns, uid) = (svc.namespace(), svc.uid());
    let mut out: Vec<T> = store
        .state()
        .iter()
        .filter(|o| o.namespace() == ns && controlled_by(&***o, uid.as_deref()))
        .filter_map(|o| o.unpack().ok())
        .map(read)
        .collect();
    out.sort_by_key(|o| o.name_any());
    out
}

pub(super) fn controlled_by<K: Resource>(obj: &K, uid: Option<&str>) -> bool {
    obj.owner_references().iter().any(|o| o.controller == Some(true) && Some(o.uid.as_str()) == uid)
}

pub use super::{
    cached::*,
    packed::Packed,
    writes::{AppliedGenerations, RecentWrites, WRITE_GRACE},
};
pub use crate::workload::{TEMPLATE_DIGEST, template_digest};

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use std::time::{Duration, Instant};

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
        let (drills, w13) = store::<ContinuityDrill>();
        let (sets, w14) = store();
        let (claims, w15) = store();
        let (storage_classes, w16) = store();
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
            drills: super::super::LayerCache::synced(drills),
            data: super::super::data_layers::DataCaches {
                clusters: super::super::LayerCache::synced(store().0),
                instance_pods: super::super::LayerCache::synced(store().0),
                replication_sources: super::super::LayerCache::synced(store().0),
            },
            volumes: VolumeCaches { sets, claims, storage_classes },
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
        sync(w13);
        sync(w14);
        sync(w15);
        sync(w16);
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
    fn a_packed_deployment_reads_back_as_cached_with_its_deadline() {
        let d: CachedDeployment = serde_json::from_value(json!({"metadata": {"name": "a", "namespace": "n",
                "generation": 4, "labels": {"continuo.dev/zone": "a"}, "annotations": {TEMPLATE_DIGEST: "0123"},
                "ownerReferences": [{"apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService",
                    "name": "s", "uid": "u", "controller": true}]},
            "spec": {"replicas": 3, "paused": false, "progressDeadlineSeconds": 600,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}},
            "status": {"readyReplicas": 2, "observedGeneration": 4, "conditions": [
                {"type": "Progressing", "status": "False", "reason": crate::plan::DEADLINE}]}}))
        .unwrap();
        let whole = serde_json::to_value(d.clone().into_deployment()).unwrap();
        let packed = Packed::pack(d);
        let back = serde_json::to_value(packed.unpack().unwrap().into_deployment()).unwrap();
        assert_eq!(back, whole);
        assert!(crate::plan::deadline_exceeded(&packed.unpack().unwrap().into_deployment()));
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
        let v = serde_json::to_value(d.into_deployment()).unwrap();
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
