//! Which zones exist and which are eligible, read from Nodes.
//!
//! A zone is *known* when any node carries its label, and *eligible* when at least one of its nodes is
//! Ready, schedulable and inside the class's residency.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;

/// The well-known zone and region label keys.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
pub const REGION_LABEL: &str = "topology.kubernetes.io/region";

/// Which node labels carry the zone and region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    pub zone: String,
    pub region: String,
}

impl Default for Keys {
    fn default() -> Self {
        Keys { zone: ZONE_LABEL.into(), region: REGION_LABEL.into() }
    }
}

/// What placement needs to know of a Node.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeFacts {
    pub name: String,
    pub zone: Option<String>,
    pub region: Option<String>,
    /// The node's Ready condition is True.
    pub ready: bool,
    /// `spec.unschedulable`: cordoned for maintenance.
    pub cordoned: bool,
}

impl NodeFacts {
    pub fn from_node(node: &Node, keys: &Keys) -> NodeFacts {
        let labels = node.metadata.labels.as_ref();
        let label = |k: &str| labels.and_then(|l| l.get(k)).filter(|v| !v.is_empty()).cloned();
        let ready = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
            .is_some_and(|c| c.status == "True");
        let cordoned = node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false);
        NodeFacts {
            name: node.metadata.name.clone().unwrap_or_default(),
            zone: label(&keys.zone),
            region: label(&keys.region),
            ready,
            cordoned,
        }
    }

    /// Ready and not cordoned: new pods can run here.
    pub fn usable(&self) -> bool {
        self.ready && !self.cordoned
    }
}

/// The facts of every cached Node.
pub fn observe(nodes: &[std::sync::Arc<Node>], keys: &Keys) -> Vec<NodeFacts> {
    nodes.iter().map(|n| NodeFacts::from_node(n, keys)).collect()
}

/// One zone as seen through a class's residency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zone {
    pub name: String,
    pub region: Option<String>,
    /// Inside the residency (always true without one).
    pub resident: bool,
    /// Usable nodes, counted only when resident.
    pub eligible_nodes: i32,
}

impl Zone {
    pub fn eligible(&self) -> bool {
        self.resident && self.eligible_nodes > 0
    }
}

/// Every known zone, by name, judged against `regions` (None: no residency).
pub fn zones(nodes: &[NodeFacts], regions: Option<&[String]>) -> BTreeMap<String, Zone> {
    let mut out: BTreeMap<String, Zone> = BTreeMap::new();
    for node in nodes {
        let Some(zone) = &node.zone else { continue };
        let node_resident = regions.is_none_or(|rs| node.region.as_ref().is_some_and(|r| rs.iter().any(|x| x == r)));
        let entry = out.entry(zone.clone()).or_insert_with(|| Zone {
            name: zone.clone(),
            region: node.region.clone(),
            resident: false,
            eligible_nodes: 0,
        });
        if node_resident {
            entry.resident = true;
            entry.region = node.region.clone();
            if node.usable() {
                entry.eligible_nodes += 1;
            }
        }
    }
    out
}

/// A summary of the node set that changes only when placement could change: which zones exist, in which
/// region, and how many usable nodes each has. Node heartbeats leave it unchanged.
pub fn fingerprint(nodes: &[NodeFacts]) -> BTreeMap<(String, Option<String>), (usize, usize)> {
    let mut out = BTreeMap::new();
    for n in nodes {
        let Some(zone) = &n.zone else { continue };
        let e: &mut (usize, usize) = out.entry((zone.clone(), n.region.clone())).or_default();
        e.0 += 1;
        if n.usable() {
            e.1 += 1;
        }
    }
    out
}

/// Builds a node for tests and for `continuo plan --zones`.
pub fn synthetic_node(name: &str, zone: &str, region: Option<&str>, usable: bool) -> NodeFacts {
    NodeFacts {
        name: name.into(),
        zone: Some(zone.into()),
        region: region.map(Into::into),
        ready: usable,
        cordoned: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(name: &str, zone: &str, region: &str, usable: bool) -> NodeFacts {
        synthetic_node(name, zone, Some(region), usable)
    }

    #[test]
    fn counts_only_usable_nodes() {
        let nodes = [n("a1", "a", "eu", true), n("a2", "a", "eu", false), n("b1", "b", "eu", false)];
        let z = zones(&nodes, None);
        assert_eq!(z["a"].eligible_nodes, 1);
        assert!(z["a"].eligible());
        assert!(!z["b"].eligible(), "a zone whose nodes are all NotReady is known but not eligible");
    }

    #[test]
    fn residency_excludes_other_regions() {
        let nodes = [n("a1", "a", "eu-south-1", true), n("x1", "x", "us-east-1", true)];
        let regions = vec!["eu-south-1".to_string()];
        let z = zones(&nodes, Some(&regions));
        assert!(z["a"].eligible());
        assert!(!z["x"].resident && !z["x"].eligible());
    }

    #[test]
    fn reads_labels_readiness_and_cordon_from_nodes() {
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "w1", "labels": {ZONE_LABEL: "a", REGION_LABEL: "eu"}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap();
        let f = NodeFacts::from_node(&node, &Keys::default());
        assert_eq!((f.zone.as_deref(), f.region.as_deref(), f.usable()), (Some("a"), Some("eu"), false));
    }

    #[test]
    fn fingerprint_ignores_everything_but_zone_shape() {
        let a = [n("a1", "a", "eu", true), n("b1", "b", "eu", true)];
        let mut b = a.clone();
        b.reverse();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        b[0].ready = false;
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }
}
