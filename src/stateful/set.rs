//! A stateful service's zone as a StatefulSet: built from the zone's workload as the plan shapes it (pinned to the
//! zone, labelled, stamped with its revision), with the service's claims, and — for replicas recreated from a copy
//! — the agent's restore as an init container that fills their new volumes before the application starts. And the
//! other way: a live StatefulSet as the zone workload the plan reads (replicas, rollout, readiness).

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::{
            Deployment, DeploymentSpec, DeploymentStatus, RollingUpdateStatefulSetStrategy, StatefulSet,
            StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec, StatefulSetStatus,
            StatefulSetUpdateStrategy,
        },
        core::v1::{
            EnvVar, EnvVarSource, ObjectFieldSelector, PersistentVolumeClaim, PersistentVolumeClaimSpec,
            PodTemplateSpec, VolumeMount, VolumeResourceRequirements,
        },
    },
    apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::ObjectMeta},
};

use crate::{
    api::ClaimTemplate,
    workload::{SERVICE_LABEL, ZONE_LABEL},
};

/// The init container that restores a recreated replica's volumes.
pub const RESTORE_CONTAINER: &str = "continuo-restore";
/// Where the restore init container mounts the claims: one directory per claim, named after it.
pub const RESTORE_PATH: &str = "/continuo/restore";
/// The file the agent writes in each restored volume once done; a restart finding it restores nothing.
pub const RESTORE_MARKER: &str = ".continuo-restored";
/// The label the StatefulSet controller puts on each pod: its ordinal.
const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// What the restore init container restores, and into which of the zone's ordinals.
pub struct Restore<'a> {
    pub point: &'a str,
    /// The agent's own id for the copy (`CONTINUO_POINT_ID`).
    pub point_id: &'a str,
    pub first_ordinal: i32,
    pub replicas: i32,
}

fn var(name: &str, value: String) -> EnvVar {
    EnvVar { name: name.into(), value: Some(value), ..EnvVar::default() }
}

/// Adds the restore init container to `template`, first: the agent pod's first container (as the agent contract
/// runs it, with `CONTINUO_ACTION=restore` and the location's variables) with every claim mounted, and the variables
/// that say where and for which pods. It restores only in the ordinals named, and only once (the marker). The agent
/// pod's own volumes come along, renamed so that they cannot clash with the application's.
pub fn add_restore(template: &mut PodTemplateSpec, agent: &PodTemplateSpec, claims: &[ClaimTemplate], r: &Restore<'_>) {
    let agent_spec = agent.spec.clone().unwrap_or_default();
    let Some(mut init) = agent_spec.containers.into_iter().next() else { return };
    let renamed = |name: &str| format!("{RESTORE_CONTAINER}-{name}");
    init.name = RESTORE_CONTAINER.into();
    let ordinals: Vec<String> = (r.first_ordinal..r.first_ordinal + r.replicas).map(|o| o.to_string()).collect();
    let env = init.env.get_or_insert_with(Vec::new);
    let mine = [
        var("CONTINUO_POINT", r.point.into()),
        var("CONTINUO_POINT_ID", r.point_id.into()),
        var("CONTINUO_RESTORE_SCOPE", "all".into()),
        var("CONTINUO_RESTORE_TARGET", "volume".into()),
        var("CONTINUO_RESTORE_PATH", RESTORE_PATH.into()),
        var("CONTINUO_RESTORE_MARKER", RESTORE_MARKER.into()),
        var("CONTINUO_RESTORE_ORDINALS", ordinals.join(",")),
        EnvVar {
            name: "CONTINUO_POD_INDEX".into(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: format!("metadata.labels['{POD_INDEX_LABEL}']"),
                    ..ObjectFieldSelector::default()
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        },
    ];
    env.retain(|e| !mine.iter().any(|m| m.name == e.name));
    env.extend(mine);
    let mut mounts: Vec<VolumeMount> = init.volume_mounts.take().unwrap_or_default();
    mounts.iter_mut().for_each(|m| m.name = renamed(&m.name));
    mounts.extend(claims.iter().map(|c| VolumeMount {
        name: c.metadata.name.clone(),
        mount_path: format!("{RESTORE_PATH}/{}", c.metadata.name),
        ..VolumeMount::default()
    }));
    init.volume_mounts = Some(mounts);
    init.ports = None;
    init.liveness_probe = None;
    init.readiness_probe = None;
    init.startup_probe = None;
    let spec = template.spec.get_or_insert_with(Default::default);
    spec.init_containers.get_or_insert_with(Vec::new).insert(0, init);
    let volumes = agent_spec.volumes.unwrap_or_default().into_iter().map(|mut v| {
        v.name = renamed(&v.name);
        v
    });
    spec.volumes.get_or_insert_with(Vec::new).extend(volumes);
}

/// The claim a StatefulSet makes for each replica from `c`, labelled with the service and zone.
fn claim(c: &ClaimTemplate, service: &str, zone: &str) -> PersistentVolumeClaim {
    let labels = BTreeMap::from([(SERVICE_LABEL.to_string(), service.to_string()), (ZONE_LABEL.into(), zone.into())]);
    PersistentVolumeClaim {
        metadata: ObjectMeta { name: Some(c.metadata.name.clone()), labels: Some(labels), ..ObjectMeta::default() },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(c.spec.access_modes.iter().map(|m| m.as_str().to_string()).collect()),
            storage_class_name: c.spec.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".into(),
                    Quantity(c.spec.resources.requests.storage.clone()),
                )])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        status: None,
    }
}

/// The zone's StatefulSet from its workload as the plan built it. `partition`: ordinals below it keep the pods
/// they run (a zone not yet due in a rollout holds all of them; a zone growing by restored replicas holds the ones
/// it had, so adding the restore does not restart them). Pods start in parallel, not one by one, and claims are
/// kept when the StatefulSet shrinks or is deleted: continuo never deletes a volume.
pub fn stateful_set(d: Deployment, claims: &[ClaimTemplate], partition: i32) -> StatefulSet {
    let spec = d.spec.unwrap_or_default();
    let labels = d.metadata.labels.clone().unwrap_or_default();
    let (service, zone) = (labels.get(SERVICE_LABEL).cloned(), labels.get(ZONE_LABEL).cloned());
    let claims = claims.iter().map(|c| claim(c, service.as_deref().unwrap_or(""), zone.as_deref().unwrap_or("")));
    StatefulSet {
        metadata: d.metadata,
        spec: Some(StatefulSetSpec {
            replicas: spec.replicas,
            selector: spec.selector,
            template: spec.template,
            service_name: None,
            pod_management_policy: Some("Parallel".into()),
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateStatefulSetStrategy {
                    partition: Some(partition),
                    max_unavailable: None,
                }),
            }),
            persistent_volume_claim_retention_policy: Some(StatefulSetPersistentVolumeClaimRetentionPolicy {
                when_deleted: Some("Retain".into()),
                when_scaled: Some("Retain".into()),
            }),
            volume_claim_templates: Some(claims.collect()),
            ..StatefulSetSpec::default()
        }),
        status: None,
    }
}

/// The partition that holds every pod of a zone that is not due in a rollout.
pub fn paused_partition(replicas: i32) -> i32 {
    replicas.max(1)
}

/// A live StatefulSet as the zone workload the plan reads: its replicas, whether its rollout is held, and its
/// readiness. Pods a partition holds on purpose count as current: they are not behind, they are kept.
pub fn zone_view(s: &StatefulSet) -> Deployment {
    let spec = s.spec.as_ref();
    let replicas = spec.and_then(|s| s.replicas);
    let partition = spec.and_then(|s| s.update_strategy.as_ref()?.rolling_update.as_ref()?.partition).unwrap_or(0);
    let want = replicas.unwrap_or(1);
    let paused = partition > 0 && partition >= want;
    let status = s.status.as_ref().map(|st: &StatefulSetStatus| {
        let held = partition.min(st.replicas);
        DeploymentStatus {
            observed_generation: st.observed_generation,
            replicas: Some(st.replicas),
            ready_replicas: st.ready_replicas,
            available_replicas: st.available_replicas,
            updated_replicas: Some((st.updated_replicas.unwrap_or(0) + held).min(st.replicas)),
            ..DeploymentStatus::default()
        }
    });
    Deployment {
        metadata: s.metadata.clone(),
        spec: Some(DeploymentSpec { replicas, paused: Some(paused), ..DeploymentSpec::default() }),
        status,
    }
}

/// Mounts ordinal `ordinal`'s claims of StatefulSet `set` into a Job's agent (a restore request's run) at
/// [`RESTORE_PATH`], with the variables of a restore into volumes; `beside`: on the server of that ordinal's running
/// pod (a ReadWriteOnce volume is attached to one server).
pub fn mount_into_job(
    pod: &mut PodTemplateSpec,
    claims: &[ClaimTemplate],
    set: &str,
    ordinal: i32,
    marker: &str,
    beside: bool,
) {
    mount_claims(
        pod,
        claims,
        set,
        ordinal,
        &[
            var("CONTINUO_RESTORE_TARGET", "volume".into()),
            var("CONTINUO_RESTORE_PATH", RESTORE_PATH.into()),
            var("CONTINUO_RESTORE_MARKER", marker.into()),
            var("CONTINUO_RESTORE_ORDINALS", ordinal.to_string()),
            var("CONTINUO_POD_INDEX", ordinal.to_string()),
        ],
    );
    if beside {
        beside_pod(pod, set, ordinal);
    }
}

/// Mounts the claims of the replica a copy is made from (ordinal `ordinal` of StatefulSet `set`) into a backup
/// run's agent, read-only, and names them in `CONTINUO_BACKUP_PATHS`; `beside`: on the server of that replica's
/// running pod (a ReadWriteOnce volume is attached to one server), else wherever it can be attached (no pod runs).
pub fn mount_for_backup(pod: &mut PodTemplateSpec, claims: &[ClaimTemplate], set: &str, ordinal: i32, beside: bool) {
    let paths: Vec<String> = claims.iter().map(|c| format!("{RESTORE_PATH}/{}", c.metadata.name)).collect();
    mount_claims(pod, claims, set, ordinal, &[var("CONTINUO_BACKUP_PATHS", paths.join(","))]);
    if let Some(mounts) = pod.spec.as_mut().and_then(|s| s.containers.first_mut()?.volume_mounts.as_mut()) {
        mounts.iter_mut().filter(|m| m.mount_path.starts_with(RESTORE_PATH)).for_each(|m| m.read_only = Some(true));
    }
    if beside {
        beside_pod(pod, set, ordinal);
    }
}

fn mount_claims(pod: &mut PodTemplateSpec, claims: &[ClaimTemplate], set: &str, ordinal: i32, env: &[EnvVar]) {
    use k8s_openapi::api::core::v1::{PersistentVolumeClaimVolumeSource, Volume};
    let spec = pod.spec.get_or_insert_with(Default::default);
    let volumes = spec.volumes.get_or_insert_with(Vec::new);
    for c in claims {
        volumes.push(Volume {
            name: format!("{RESTORE_CONTAINER}-{}", c.metadata.name),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: format!("{}-{set}-{ordinal}", c.metadata.name),
                read_only: None,
            }),
            ..Volume::default()
        });
    }
    if let Some(agent) = spec.containers.first_mut() {
        agent.volume_mounts.get_or_insert_with(Vec::new).extend(claims.iter().map(|c| VolumeMount {
            name: format!("{RESTORE_CONTAINER}-{}", c.metadata.name),
            mount_path: format!("{RESTORE_PATH}/{}", c.metadata.name),
            ..VolumeMount::default()
        }));
        agent.env.get_or_insert_with(Vec::new).extend(env.iter().cloned());
    }
}

/// Requires the pod on the server of the StatefulSet pod `<set>-<ordinal>`.
fn beside_pod(pod: &mut PodTemplateSpec, set: &str, ordinal: i32) {
    use k8s_openapi::api::core::v1::{Affinity, PodAffinity, PodAffinityTerm};
    let term = PodAffinityTerm {
        label_selector: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
            match_labels: Some(BTreeMap::from([(
                "statefulset.kubernetes.io/pod-name".to_string(),
                format!("{set}-{ordinal}"),
            )])),
            ..Default::default()
        }),
        topology_key: "kubernetes.io/hostname".into(),
        ..PodAffinityTerm::default()
    };
    let spec = pod.spec.get_or_insert_with(Default::default);
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    let pod_affinity = affinity.pod_affinity.get_or_insert_with(PodAffinity::default);
    pod_affinity.required_during_scheduling_ignored_during_execution.get_or_insert_with(Vec::new).push(term);
}
