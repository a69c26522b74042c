//! Stateful services in the shell: the StatefulSets, claims and StorageClasses the caches keep, the zone
//! workloads a reconcile reads from them, and the one write to a claim continuo ever makes: the label saying when
//! its data diverged (a claim is never deleted or changed otherwise).

use std::collections::BTreeMap;

use k8s_openapi::api::{apps::v1::StatefulSet, core::v1::PersistentVolumeClaim};
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
};
use tracing::warn;

use super::{
    Context,
    cache::{VolumeCaches, owned_by},
};
use crate::{
    api::ResilientService,
    plan::Desired,
    stateful::{self, DIVERGED_LABEL},
    status::Transition,
    workload::{FIELD_MANAGER, SERVICE_LABEL, ZONE_LABEL},
};

/// What the caches keep of a StatefulSet: not the pod template (its digest is an annotation) nor the claim
/// templates (immutable once created).
pub fn keep_read_fields(s: &mut StatefulSet) {
    if let Some(a) = s.metadata.annotations.as_mut() {
        a.retain(|k, _| k == crate::workload::TEMPLATE_DIGEST || k == crate::workload::REVISION);
    }
    if let Some(spec) = s.spec.as_mut() {
        spec.template = Default::default();
        spec.volume_claim_templates = None;
    }
}

/// What the caches keep of a claim: who it belongs to, nothing else.
pub fn keep_claim_metadata(c: &mut PersistentVolumeClaim) {
    c.spec = None;
    c.status = None;
}

/// The claims and StorageClasses one reconcile reads.
pub struct Snapshot {
    claims: Vec<stateful::Claim>,
    classes: Vec<stateful::StorageClass>,
}

impl Snapshot {
    pub fn observed(&self) -> stateful::Observed<'_> {
        stateful::Observed { claims: &self.claims, storage_classes: Some(&self.classes) }
    }
}

impl VolumeCaches {
    /// The StatefulSets `svc` controls, as the zone workloads the plan reads.
    pub fn zone_workloads_of(&self, svc: &ResilientService) -> Vec<k8s_openapi::api::apps::v1::Deployment> {
        owned_by(&self.sets, svc, |s| stateful::set::zone_view(&s))
    }

    /// A cached StatefulSet, for comparing with what continuo wants.
    pub fn stateful_set(&self, ns: &str, name: &str) -> Option<StatefulSet> {
        use kube::runtime::reflector::ObjectRef;
        self.sets.get(&ObjectRef::new(name).within(ns)).and_then(|s| s.unpack().ok())
    }

    /// The claims of the service `name` in `ns`, and every StorageClass (empty for a stateless service).
    pub fn snapshot(&self, svc: &ResilientService) -> Snapshot {
        if svc.spec.volume_claim_templates.is_empty() {
            return Snapshot { claims: vec![], classes: vec![] };
        }
        let (ns, name) = (svc.namespace(), svc.name_any());
        let mut claims: Vec<stateful::Claim> = self
            .claims
            .state()
            .iter()
            .filter(|c| c.namespace() == ns && c.labels().get(SERVICE_LABEL) == Some(&name))
            .map(|c| stateful::Claim {
                name: c.name_any(),
                zone: c.labels().get(ZONE_LABEL).cloned(),
                marked: c.labels().contains_key(DIVERGED_LABEL),
            })
            .collect();
        claims.sort_by(|a, b| a.name.cmp(&b.name));
        let classes = self.storage_classes.state().iter().map(|s| stateful::StorageClass::observe(s)).collect();
        Snapshot { claims, classes }
    }
}

/// The zone a restore request of a stateful service holds at 0 replicas: quiescing, or running with `quiesce`.
pub fn quiesced_zone(caches: &super::Caches, svc: &ResilientService) -> Option<String> {
    if svc.spec.volume_claim_templates.is_empty() {
        return None;
    }
    let restores = caches.restores_of(&svc.namespace().unwrap_or_default(), &svc.name_any());
    restores.iter().find_map(|r| {
        let s = r.status.as_ref()?;
        let holding =
            s.phase.as_deref() == Some("Quiescing") || (s.phase.as_deref() == Some("Running") && r.spec.quiesce);
        holding.then(|| s.zone.clone()).flatten()
    })
}

/// Labels each diverged claim not labelled yet with when it diverged, and says so. A failure is a Warning: the
/// status is written all the same. Returns whether a write failed.
pub async fn mark_diverged(
    ctx: &Context,
    ns: &str,
    desired: &Desired,
    snapshot: &Snapshot,
    notes: &mut Vec<Transition>,
) -> bool {
    let Some(v) = &desired.volumes else { return false };
    let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), ns);
    let mut failed = false;
    for d in &v.diverged {
        let (claim, at) = (&d.claim, d.at);
        if snapshot.claims.iter().any(|c| &c.name == claim && c.marked) {
            continue;
        }
        let patch = serde_json::json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim, "labels": BTreeMap::from([(DIVERGED_LABEL, at.as_second().to_string())])}
        });
        match api.patch(claim, &PatchParams::apply(FIELD_MANAGER), &Patch::Apply(&patch)).await {
            Ok(_) => notes.push(Transition {
                warning: true,
                reason: "DataDiverged".into(),
                message: format!(
                    "{}; the old claim is kept, never overwritten or deleted: restore from it with a RestoreRequest, \
                     or delete it",
                    d.describe()
                ),
            }),
            Err(e) => {
                warn!(claim = %claim, error = %e, "could not label the diverged claim");
                failed = true;
            }
        }
    }
    failed
}
