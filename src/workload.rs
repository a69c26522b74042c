//! The Kubernetes objects continuo keeps for a service: one Deployment per zone, a PodDisruptionBudget over
//! all zones and an optional Service. Pure builders: same inputs, same objects, byte for byte.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment},
        core::v1::{
            Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Service, ServiceSpec,
            Toleration, TopologySpreadConstraint,
        },
        policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec},
    },
    apimachinery::pkg::{
        apis::meta::v1::{LabelSelector, ObjectMeta},
        util::intstr::IntOrString,
    },
};
use kube::{Resource, ResourceExt};

use crate::{api::ResilientService, topology::Keys};

/// The one field manager continuo applies with.
pub const FIELD_MANAGER: &str = "continuo";
/// Label on every child: the ResilientService it belongs to.
pub const SERVICE_LABEL: &str = "continuo.dev/service";
/// Label on each Deployment and its pods: the zone it runs in.
pub const ZONE_LABEL: &str = "continuo.dev/zone";
/// Label on each Deployment: its role (Active, Primary, Standby, Draining).
pub const ROLE_LABEL: &str = "continuo.dev/role";
/// Annotation on each Deployment: a digest of the pod template continuo applied. The Deployment cache keeps no
/// pod template (it is most of the object, and most of the operator's memory at scale): a template continuo no
/// longer wants shows as a different digest.
pub const TEMPLATE_DIGEST: &str = "continuo.dev/template-digest";
/// Annotation on each Deployment: the template digest its pods run, as continuo last knew it (during a zone-by-zone
/// rollout, the previous one until the zone's turn comes).
pub const REVISION: &str = "continuo.dev/revision";
const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// What shapes every child of one service.
pub struct Shape<'a> {
    pub service: &'a ResilientService,
    pub keys: &'a Keys,
    /// Under residency: the regions nodes must be in.
    pub regions: Option<&'a [String]>,
    /// `tolerationSeconds` for not-ready/unreachable, derived from the Node-scope RTO.
    pub toleration_seconds: Option<i64>,
}

/// The object as it is sent to and printed for the API: with `apiVersion` and `kind`.
pub fn manifest<K: Resource<DynamicType = ()> + serde::Serialize>(obj: &K) -> serde_json::Value {
    let mut value = serde_json::to_value(obj).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("apiVersion".into(), K::api_version(&()).into());
        map.insert("kind".into(), K::kind(&()).into());
    }
    value
}

/// The digest stamped in [`TEMPLATE_DIGEST`] and [`REVISION`]: FNV-1a (64 bits) of the template's JSON as it is
/// sent to the API. It is stored in the cluster, so the algorithm is a specified one: std's `DefaultHasher` may
/// change with the toolchain, and a new digest for every template would re-apply every Deployment and start a
/// zone-by-zone rollout of every service at once.
pub fn template_digest(template: &serde_json::Value) -> String {
    use std::hash::Hasher;
    let mut h = fnv::FnvHasher::default();
    h.write(template.to_string().as_bytes());
    format!("{:016x}", h.finish())
}

/// The [`template_digest`] of a Deployment's pod template.
pub fn deployment_digest(d: &Deployment) -> String {
    let template = d.spec.as_ref().map(|s| serde_json::to_value(&s.template).unwrap_or_default());
    template_digest(&template.unwrap_or_default())
}

/// Records the revision a zone runs and, while its turn in a rollout has not come, pauses it (the Deployment
/// controller still scales a paused Deployment, but does not roll its new template out).
pub fn stamp_revision(d: &mut Deployment, revision: &str, paused: bool) {
    let digest = deployment_digest(d);
    let annotations = d.metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert(TEMPLATE_DIGEST.into(), digest);
    annotations.insert(REVISION.into(), revision.into());
    if let Some(spec) = d.spec.as_mut() {
        // Applied either way, so that unpausing is an owned change, not a field dropped from the apply.
        spec.paused = Some(paused);
    }
}

/// `<service>-<zone>`, with the zone made a valid DNS label.
pub fn deployment_name(service: &str, zone: &str) -> String {
    let zone: String = zone
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' })
        .collect();
    format!("{service}-{}", zone.trim_matches('-'))
}

impl Shape<'_> {
    fn name(&self) -> String {
        self.service.name_any()
    }

    fn selector_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(SERVICE_LABEL.to_string(), self.name())])
    }

    fn meta(&self, name: String, extra: &[(&str, &str)]) -> ObjectMeta {
        let mut labels = BTreeMap::from([
            ("app.kubernetes.io/name".to_string(), self.name()),
            (MANAGED_BY.to_string(), FIELD_MANAGER.to_string()),
            (SERVICE_LABEL.to_string(), self.name()),
        ]);
        labels.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        ObjectMeta {
            name: Some(name),
            namespace: self.service.namespace(),
            labels: Some(labels),
            // Without a uid (offline `plan`) there is nothing to own; the operator always has one.
            owner_references: self.service.controller_owner_ref(&()).map(|o| vec![o]),
            ..ObjectMeta::default()
        }
    }

    /// The Deployment for one zone, pinned there by a required node affinity and spread over its hosts.
    pub fn deployment(&self, zone: &str, replicas: i32, role: &str) -> Deployment {
        let mut pod_labels = self.selector_labels();
        pod_labels.insert(ZONE_LABEL.into(), zone.into());

        let mut template = self.service.spec.template.clone();
        let meta = template.metadata.get_or_insert_with(ObjectMeta::default);
        meta.labels.get_or_insert_with(BTreeMap::new).extend(pod_labels.clone());
        let pod = template.spec.get_or_insert_with(Default::default);
        pin_to_zones(pod.affinity.get_or_insert_with(Affinity::default), self.keys, &[zone.to_string()], self.regions);
        pod.topology_spread_constraints.get_or_insert_with(Vec::new).push(TopologySpreadConstraint {
            max_skew: 1,
            topology_key: HOSTNAME_LABEL.into(),
            when_unsatisfiable: "ScheduleAnyway".into(),
            label_selector: Some(LabelSelector { match_labels: Some(pod_labels.clone()), ..Default::default() }),
            ..Default::default()
        });
        if let Some(secs) = self.toleration_seconds {
            let tolerations = pod.tolerations.get_or_insert_with(Vec::new);
            tolerations.retain(|t| !is_node_failure_taint(t));
            for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
                tolerations.push(Toleration {
                    key: Some(key.into()),
                    operator: Some("Exists".into()),
                    effect: Some("NoExecute".into()),
                    toleration_seconds: Some(secs),
                    ..Default::default()
                });
            }
        }

        Deployment {
            metadata: self.meta(deployment_name(&self.name(), zone), &[(ZONE_LABEL, zone), (ROLE_LABEL, role)]),
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                selector: LabelSelector { match_labels: Some(pod_labels), ..Default::default() },
                strategy: Some(DeploymentStrategy {
                    type_: Some("RollingUpdate".into()),
                    rolling_update: Some(RollingUpdateDeployment {
                        max_surge: Some(IntOrString::Int(1)),
                        max_unavailable: Some(IntOrString::Int(0)),
                    }),
                }),
                template,
                progress_deadline_seconds: self.service.spec.progress_deadline_seconds,
                ..Default::default()
            }),
            status: None,
        }
    }

    /// Keeps the declared capacity through voluntary disruptions (drains, upgrades) across all zones.
    pub fn disruption_budget(&self) -> PodDisruptionBudget {
        PodDisruptionBudget {
            metadata: self.meta(self.name(), &[]),
            spec: Some(PodDisruptionBudgetSpec {
                min_available: Some(IntOrString::Int(self.service.spec.replicas)),
                selector: Some(LabelSelector { match_labels: Some(self.selector_labels()), ..Default::default() }),
                // A pod that is not Ready adds no capacity; it must not block a node drain.
                unhealthy_pod_eviction_policy: Some("AlwaysAllow".into()),
                ..Default::default()
            }),
            status: None,
        }
    }

    /// The Service over every zone, when the spec asks for one.
    pub fn service(&self) -> Option<Service> {
        let exposure = self.service.spec.service.as_ref()?;
        Some(Service {
            metadata: self.meta(self.name(), &[]),
            spec: Some(ServiceSpec {
                selector: Some(self.selector_labels()),
                ports: Some(exposure.ports.clone()),
                ..Default::default()
            }),
            status: None,
        })
    }
}

fn is_node_failure_taint(t: &Toleration) -> bool {
    matches!(t.key.as_deref(), Some("node.kubernetes.io/not-ready" | "node.kubernetes.io/unreachable"))
}

/// Adds the zone (and residency) requirement to every required node-selector term, so the user's own
/// terms still apply and none of them can escape the zone.
/// Requires nodes in one of `zones` (and, under residency, in one of `regions`), in every term the user wrote.
pub(crate) fn pin_to_zones(affinity: &mut Affinity, keys: &Keys, zones: &[String], regions: Option<&[String]>) {
    let mut ours =
        vec![NodeSelectorRequirement { key: keys.zone.clone(), operator: "In".into(), values: Some(zones.to_vec()) }];
    if let Some(regions) = regions {
        ours.push(NodeSelectorRequirement {
            key: keys.region.clone(),
            operator: "In".into(),
            values: Some(regions.to_vec()),
        });
    }
    let node = affinity.node_affinity.get_or_insert_with(NodeAffinity::default);
    let required = node
        .required_during_scheduling_ignored_during_execution
        .get_or_insert_with(|| NodeSelector { node_selector_terms: vec![] });
    if required.node_selector_terms.is_empty() {
        required.node_selector_terms.push(NodeSelectorTerm::default());
    }
    for term in &mut required.node_selector_terms {
        let exprs = term.match_expressions.get_or_insert_with(Vec::new);
        exprs.retain(|e| e.key != keys.zone && !(regions.is_some() && e.key == keys.region));
        exprs.extend(ours.iter().cloned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_digest_is_fnv1a_of_the_json_so_it_never_changes_with_the_toolchain() {
        let template = serde_json::json!({"spec": {"containers": [{"name": "app", "image": "passhub:1"}]}});
        // FNV-1a, 64 bits, by its definition: offset basis, then xor and multiply by the prime for each byte.
        let text = r#"{"spec":{"containers":[{"image":"passhub:1","name":"app"}]}}"#;
        let reference =
            text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        assert_eq!(template_digest(&template), format!("{reference:016x}"));
        assert_ne!(template_digest(&serde_json::json!({"spec": {}})), template_digest(&template));
    }

    #[test]
    fn zone_names_become_valid_object_names() {
        assert_eq!(deployment_name("passhub", "eu-south-1a"), "passhub-eu-south-1a");
        assert_eq!(deployment_name("passhub", "Zone_A.1"), "passhub-zone-a-1");
    }

    #[test]
    fn user_affinity_terms_keep_their_own_requirements_and_gain_the_zone() {
        let mut affinity: Affinity = serde_json::from_value(serde_json::json!({
            "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]},
                {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["elsewhere"]}]}
            ]}}
        }))
        .unwrap();
        pin_to_zones(&mut affinity, &Keys::default(), &["a".to_string()], None);
        let terms = affinity
            .node_affinity
            .unwrap()
            .required_during_scheduling_ignored_during_execution
            .unwrap()
            .node_selector_terms;
        for term in &terms {
            let zone: Vec<_> = term
                .match_expressions
                .as_ref()
                .unwrap()
                .iter()
                .filter(|e| e.key == "topology.kubernetes.io/zone")
                .collect();
            assert_eq!(zone.len(), 1);
            assert_eq!(zone[0].values.as_deref(), Some(&["a".to_string()][..]));
        }
        assert!(terms[0].match_expressions.as_ref().unwrap().iter().any(|e| e.key == "disk"));
    }
}
