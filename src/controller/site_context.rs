//! What the site controller's reconciles share (`continuo sites`): its caches of Karmada's API server, its field
//! manager, and Karmada's kinds it reads and writes.

use std::sync::Arc;

use kube::{
    Client,
    api::{ApiResource, DynamicObject, GroupVersionKind},
    runtime::reflector::{ObjectRef, Store},
};
use serde_json::Value;

use super::events::Recorder;
use crate::{
    api::{BackupLocation, ContinuityClass, ContinuityDrill, ResilientService, SiteFailover},
    sites::verdict,
};

/// The field manager of everything the site controller writes.
pub const MANAGER: &str = "continuo-sites";

fn resource(group: &str, kind: &str, plural: &str, version: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// Karmada's kinds continuo reads or writes.
pub fn karmada_resources() -> [ApiResource; 4] {
    [
        resource("cluster.karmada.io", "Cluster", "clusters", "v1alpha1"),
        resource("policy.karmada.io", "PropagationPolicy", "propagationpolicies", "v1alpha1"),
        resource("policy.karmada.io", "OverridePolicy", "overridepolicies", "v1alpha1"),
        resource("work.karmada.io", "ResourceBinding", "resourcebindings", "v1alpha2"),
    ]
}

/// What every reconcile of the site controller shares.
pub struct SiteContext {
    pub client: Client,
    pub classes: Store<ContinuityClass>,
    pub locations: Store<BackupLocation>,
    pub failovers: Store<SiteFailover>,
    /// The services, drills' copies included, and the drills.
    pub services: Store<ResilientService>,
    pub drills: Store<ContinuityDrill>,
    pub clusters: Store<DynamicObject>,
    pub policies: Store<DynamicObject>,
    pub overrides: Store<DynamicObject>,
    pub bindings: Store<DynamicObject>,
    pub timing: verdict::Timing,
    pub recorder: Recorder,
    pub metrics: Arc<crate::metrics::sites::SiteMetrics>,
    /// Services to reconcile now: a drill's copy changing is news for the drill, stepped with its service.
    pub wake: tokio::sync::mpsc::UnboundedSender<ObjectRef<ResilientService>>,
}

/// The Karmada binding of service `name` in namespace `ns`, as JSON.
pub fn binding_in(ctx: &SiteContext, ns: &str, name: &str) -> Option<Value> {
    let key = format!("{name}-resilientservice");
    let b = ctx.bindings.get(&ObjectRef::new_with(&key, karmada_resources()[3].clone()).within(ns))?;
    serde_json::to_value(&*b).ok()
}

/// The member clusters where a binding's aggregated status reports the service Ready (Karmada reflects a custom
/// resource's whole status), each with when its Ready condition last changed, if it says.
pub fn ready_members(binding: &Value) -> Vec<(String, Option<jiff::Timestamp>)> {
    let items = binding["status"]["aggregatedStatus"].as_array().map(Vec::as_slice).unwrap_or_default();
    items
        .iter()
        .filter_map(|i| {
            let conditions = i["status"]["conditions"].as_array()?;
            let ready = conditions.iter().find(|c| c["type"] == "Ready" && c["status"] == "True")?;
            let since = ready["lastTransitionTime"].as_str().and_then(|t| t.parse().ok());
            Some((i["clusterName"].as_str()?.to_string(), since))
        })
        .collect()
}
