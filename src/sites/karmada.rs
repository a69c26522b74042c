//! The Karmada objects that put a service at its serving site: a `PropagationPolicy` (and, for a Warm standby, an
//! `OverridePolicy`), named after the service and owned by it, applied on Karmada's API server. Shapes as Karmada
//! 1.19's CRDs define them (`policy.karmada.io/v1alpha1`); a test validates them against those CRDs' schemas.

use serde_json::{Value, json};

use super::{Cluster, members};
use crate::api::{Site, Sites, Standby};

/// The Karmada API group and version of the policies.
pub const POLICY_API: &str = "policy.karmada.io/v1alpha1";

/// Karmada's cluster taints: tolerated for ever, so that Karmada never evicts the service on its own and a move is
/// always continuo's decision (declared, or automatic after the class's hold).
const CLUSTER_TAINTS: [&str; 2] = ["cluster.karmada.io/not-ready", "cluster.karmada.io/unreachable"];

/// The name of both policies of service `service`.
pub fn policy_name(service: &str) -> String {
    format!("continuo-{service}")
}

fn metadata(service: &str, namespace: &str) -> Value {
    json!({
        "name": policy_name(service),
        "namespace": namespace,
        "labels": {
            "app.kubernetes.io/managed-by": "continuo",
            "continuo.dev/service": service,
        },
    })
}

fn selector(service: &str) -> Value {
    json!([{"apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService", "name": service}])
}

/// A site as Karmada's cluster affinity: its names and labels, ANDed as continuo reads them.
fn affinity(site: &Site) -> Value {
    let mut a = json!({});
    if !site.cluster_names.is_empty() {
        a["clusterNames"] = json!(site.cluster_names);
    }
    if !site.cluster_labels.is_empty() {
        a["labelSelector"] = json!({"matchLabels": site.cluster_labels});
    }
    a
}

/// The clusters a Warm standby runs on: the first cluster (by name) of each site, Ready ones first.
pub fn warm_clusters(sites: &Sites, clusters: &[Cluster]) -> Vec<(String, String)> {
    sites
        .sites
        .iter()
        .filter_map(|s| {
            let m = members(s, clusters);
            let pick = m.iter().find(|c| c.ready == Some(true)).or(m.first())?;
            Some((s.name.clone(), pick.name.clone()))
        })
        .collect()
}

/// The `PropagationPolicy` that places service `service` (in `namespace`) at `serving`: Cold, the serving site's
/// clusters only, one of them; Warm, one cluster of every site. The ResilientService is propagated whole (its
/// class and the Secrets and ConfigMaps it names go with it through `propagateDeps` and the resource interpreter),
/// duplicated, never divided: each member's continuo spreads it over that cluster's zones.
pub fn propagation_policy(service: &str, namespace: &str, sites: &Sites, serving: &str, clusters: &[Cluster]) -> Value {
    let tolerations: Vec<Value> =
        CLUSTER_TAINTS.iter().map(|key| json!({"key": key, "operator": "Exists", "effect": "NoExecute"})).collect();
    let placement = match sites.standby {
        Standby::Cold => {
            let site = sites.site(serving).unwrap_or_else(|| sites.primary());
            json!({
                "clusterAffinity": affinity(site),
                "spreadConstraints": [{"spreadByField": "cluster", "minGroups": 1, "maxGroups": 1}],
            })
        }
        Standby::Warm => {
            let names: Vec<String> = warm_clusters(sites, clusters).into_iter().map(|(_, c)| c).collect();
            json!({"clusterAffinity": {"clusterNames": names}})
        }
    };
    let mut placement = placement;
    placement["clusterTolerations"] = json!(tolerations);
    placement["replicaScheduling"] = json!({"replicaSchedulingType": "Duplicated"});
    json!({
        "apiVersion": POLICY_API,
        "kind": "PropagationPolicy",
        "metadata": metadata(service, namespace),
        "spec": {
            "resourceSelectors": selector(service),
            "propagateDeps": true,
            "conflictResolution": "Abort",
            "placement": placement,
        },
    })
}

/// What the service's copies carry besides its spec, as annotations: the arrival at the serving site, and a
/// handover asked of a site (its name, and the handover).
#[derive(Clone, Copy, Default)]
pub struct Carried<'a> {
    pub arrival: Option<&'a super::arrival::Arrival>,
    pub handover: Option<&'a (String, super::handover::Handover)>,
}

/// The `OverridePolicy` of the service: with a Warm standby, it scales the service down to `standbyReplicas` at
/// every site but the serving one; after a move (`arrival`), it annotates the service at the serving site with the
/// site it left, when that was lost and its regions, so that the member's continuo starts it from a copy stored
/// outside the lost site (see [`super::arrival`]); for a planned move, it asks the site handing over to stop its
/// writes and make its last copy (see [`super::handover`]). `None` when there is none of these.
pub fn override_policy(
    service: &str,
    namespace: &str,
    sites: &Sites,
    serving: &str,
    clusters: &[Cluster],
    carried: Carried<'_>,
) -> Option<Value> {
    let arrival = carried.arrival;
    let mut rules = Vec::new();
    if sites.standby == Standby::Warm {
        let standby: Vec<String> =
            warm_clusters(sites, clusters).into_iter().filter(|(site, _)| site != serving).map(|(_, c)| c).collect();
        rules.push(json!({
            "targetCluster": {"clusterNames": standby},
            "overriders": {"plaintext": [
                {"path": "/spec/replicas", "operator": "replace", "value": sites.standby_replicas}
            ]},
        }));
    }
    if let (Some(a), Some(site)) = (arrival, sites.site(serving)) {
        let value = json!({super::arrival::ARRIVAL_ANNOTATION: a.annotation()});
        rules.push(json!({
            "targetCluster": affinity(site),
            "overriders": {"annotationsOverrider": [{"operator": "add", "value": value}]},
        }));
    }
    if let Some((at, h)) = carried.handover
        && let Some(site) = sites.site(at)
    {
        let value = json!({super::handover::HANDOVER_ANNOTATION: h.annotation()});
        rules.push(json!({
            "targetCluster": affinity(site),
            "overriders": {"annotationsOverrider": [{"operator": "add", "value": value}]},
        }));
    }
    if rules.is_empty() {
        return None;
    }
    Some(json!({
        "apiVersion": POLICY_API,
        "kind": "OverridePolicy",
        "metadata": metadata(service, namespace),
        "spec": {"resourceSelectors": selector(service), "overrideRules": rules},
    }))
}
