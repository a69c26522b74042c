//! `--fence-lost-nodes`, the shell: on the leader, each tick of the zone watch taints the nodes
//! [`crate::failover::fencing`] says are lost, and takes continuo's taint off those back. A taint is added or
//! removed with a JSON patch that tests what it changes, so a taint list another writer changed meanwhile is
//! never overwritten.

use k8s_openapi::api::core::v1::Node;
use kube::{
    Api, Client, ResourceExt,
    api::{Patch, PatchParams},
    runtime::reflector::Store,
};
use serde_json::json;
use tracing::{info, warn};

use super::Detector;
use crate::failover::fencing::{self, FENCED_ANNOTATION, Fence, OUT_OF_SERVICE, OUT_OF_SERVICE_VALUE};

/// One fencing pass over the cached nodes at `now`.
pub async fn step(
    client: &Client,
    nodes: &Store<Node>,
    detector: &Detector,
    after: jiff::SignedDuration,
    now: jiff::Timestamp,
) {
    let state = nodes.state();
    let facts: Vec<fencing::Node<'_>> = state
        .iter()
        .map(|n| {
            let ready = n
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            let tainted = taint_index(n).is_some();
            fencing::Node {
                name: n.metadata.name.as_deref().unwrap_or_default(),
                ready,
                last_renewal: detector.last_seen(&n.name_any()),
                tainted,
                fenced_by_continuo: n.annotations().contains_key(FENCED_ANNOTATION),
            }
        })
        .collect();
    let guarded = detector.current().guard.is_some();
    let api: Api<Node> = Api::all(client.clone());
    for action in fencing::decide(&facts, guarded, after, now) {
        let result = match &action {
            Fence::Taint { node, silent_for } => {
                warn!(node = %node, silent_seconds = silent_for.as_secs(), "fencing a lost node: tainting it out-of-service");
                taint(&api, state.iter().find(|n| n.name_any() == *node), now).await
            }
            Fence::Untaint { node } => {
                info!(node = %node, "the fenced node is back: taking continuo's out-of-service taint off");
                untaint(&api, state.iter().find(|n| n.name_any() == *node)).await
            }
        };
        if let Err(e) = result {
            warn!(action = ?action, error = %e, "fencing failed; tried again on the next tick");
        }
    }
}

fn taint_index(n: &Node) -> Option<usize> {
    n.spec.as_ref()?.taints.as_ref()?.iter().position(|t| t.key == OUT_OF_SERVICE)
}

async fn taint(api: &Api<Node>, node: Option<&std::sync::Arc<Node>>, now: jiff::Timestamp) -> Result<(), kube::Error> {
    let Some(node) = node else { return Ok(()) };
    let taint = json!({"key": OUT_OF_SERVICE, "value": OUT_OF_SERVICE_VALUE, "effect": "NoExecute"});
    let ops = match node.spec.as_ref().and_then(|s| s.taints.as_ref()) {
        Some(taints) => json!([
            {"op": "test", "path": "/spec/taints", "value": taints},
            {"op": "add", "path": "/spec/taints/-", "value": taint}
        ]),
        None => json!([{"op": "add", "path": "/spec/taints", "value": [taint]}]),
    };
    let name = node.name_any();
    let mark = json!({"metadata": {"annotations": {FENCED_ANNOTATION: now.to_string()}}});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&mark)).await?;
    api.patch(&name, &PatchParams::default(), &Patch::<()>::Json(serde_json::from_value(ops).unwrap_or_default()))
        .await?;
    Ok(())
}

async fn untaint(api: &Api<Node>, node: Option<&std::sync::Arc<Node>>) -> Result<(), kube::Error> {
    let Some((node, i)) = node.and_then(|n| Some((n, taint_index(n)?))) else { return Ok(()) };
    let taint = &node.spec.as_ref().and_then(|s| s.taints.as_ref()).map(|t| t[i].clone());
    let ops = json!([
        {"op": "test", "path": format!("/spec/taints/{i}"), "value": taint},
        {"op": "remove", "path": format!("/spec/taints/{i}")}
    ]);
    let name = node.name_any();
    api.patch(&name, &PatchParams::default(), &Patch::<()>::Json(serde_json::from_value(ops).unwrap_or_default()))
        .await?;
    let unmark = json!({"metadata": {"annotations": {FENCED_ANNOTATION: null}}});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&unmark)).await?;
    Ok(())
}
