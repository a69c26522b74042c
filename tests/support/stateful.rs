//! The StatefulSet controller, as the in-memory API plays it: each StatefulSet gets a claim per ordinal, named
//! `<template>-<set>-<ordinal>` and labelled from its claim template; claims are never deleted (the retention
//! policy continuo sets is Retain); pods below the rolling update's partition keep their revision.

use serde_json::{Value, json};

use super::FakeApi;

/// The fields of a StatefulSet's spec the API server lets an update change; any other change is refused (422).
const MUTABLE: [&str; 6] =
    ["replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy", "minReadySeconds"];

/// The API server's refusal of a StatefulSet update that changes a forbidden field, if `before` → `after` does.
pub(super) fn forbidden_update(name: &str, before: &Value, after: &Value) -> Option<String> {
    let strip = |v: &Value| {
        let mut spec = v["spec"].clone();
        if let Some(m) = spec.as_object_mut() {
            m.retain(|k, _| !MUTABLE.contains(&k.as_str()));
        }
        spec
    };
    (strip(before) != strip(after)).then(|| {
        format!(
            "StatefulSet.apps {name:?} is invalid: spec: Forbidden: updates to statefulset spec for fields other than \
             'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and \
             'minReadySeconds' are forbidden"
        )
    })
}

impl FakeApi {
    /// Plays the StatefulSet controller in namespace `ns` for the sets `pick` chooses: claims for every ordinal,
    /// and the status of a rolled-out set with every pod Ready.
    pub fn run_stateful_sets(&self, ns: &str, pick: impl Fn(&str) -> bool) {
        let sets = format!("/apis/apps/v1/namespaces/{ns}/statefulsets");
        let claims = format!("/api/v1/namespaces/{ns}/persistentvolumeclaims");
        for s in self.list(&sets) {
            let name = s["metadata"]["name"].as_str().unwrap().to_string();
            if !pick(&name) {
                continue;
            }
            let n = s["spec"]["replicas"].as_i64().unwrap_or(1);
            for ordinal in 0..n {
                for t in s["spec"]["volumeClaimTemplates"].as_array().into_iter().flatten() {
                    let claim = format!("{}-{name}-{ordinal}", t["metadata"]["name"].as_str().unwrap());
                    if self.get(&claims, &claim).is_none() {
                        self.put(
                            &claims,
                            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                   "metadata": {"name": claim, "namespace": ns, "labels": t["metadata"]["labels"]},
                                   "spec": t["spec"], "status": {"phase": "Bound"}}),
                        );
                    }
                }
            }
            let partition = s["spec"]["updateStrategy"]["rollingUpdate"]["partition"].as_i64().unwrap_or(0);
            let status = json!({"observedGeneration": s["metadata"]["generation"], "replicas": n, "readyReplicas": n,
                                "availableReplicas": n, "currentReplicas": n, "updatedReplicas": (n - partition).max(0)});
            if s["status"] != status {
                self.edit(&sets, &name, |s| s["status"] = status);
            }
        }
    }
}
