//! Copies whose service is gone: retention stops for them, and they are kept until a person deletes them.

use kube::{
    Api,
    runtime::reflector::{ObjectRef, Store},
};

use super::runs::update_status;
use crate::{
    api::{RecoveryPoint, ResilientService},
    backup::catalog,
    controller::{Context, Error},
};

/// Marks the points whose service no longer exists: retention has stopped for them, and they are kept until a
/// person deletes them. Reads the caches only; run when a service is deleted and when this replica becomes the
/// leader. Returns how many points were marked.
pub async fn mark_orphans(ctx: &Context, services: &Store<ResilientService>) -> Result<usize, Error> {
    if !ctx.is_leader() {
        return Ok(0);
    }
    let points: Vec<RecoveryPoint> = ctx.caches.recovery_points.state().iter().map(|p| (**p).clone()).collect();
    let exists = |ns: &str, name: &str| services.get(&ObjectRef::new(name).within(ns)).is_some();
    let mut marked = 0;
    for p in catalog::orphans(&points, exists) {
        let api: Api<RecoveryPoint> =
            Api::namespaced(ctx.client.clone(), p.metadata.namespace.as_deref().unwrap_or_default());
        let message = format!(
            "service {:?} was deleted: retention stopped; the copy is kept until a person deletes it",
            p.spec.service
        );
        // Nothing will expire it any more: it shows no expiry date.
        update_status(&api, p, |s| {
            s.retention = Some(catalog::RETENTION_STOPPED.into());
            s.message = Some(message);
            s.expires_at = None;
        })
        .await?;
        marked += 1;
    }
    Ok(marked)
}
