//! `continuo report`: the monthly continuity report, read from the cluster (as the operator's RBAC can) or from
//! files, rendered as one self-contained HTML page, Markdown, or JSON.

use std::path::PathBuf;

use kube::{Api, Client, api::ListParams};

use crate::report::document::Objects;

/// The objects in `files` (services with their status, classes, recovery points, restore requests).
pub fn from_files(files: &[PathBuf]) -> Result<Objects, String> {
    let loaded = super::plan::load(files)?;
    Ok(Objects {
        services: loaded.services,
        classes: loaded.classes.into_values().collect(),
        points: loaded.points,
        restores: loaded.restores,
        drills: loaded.drills,
    })
}

/// The objects in the cluster of the current kubeconfig (in `namespace`, or all).
pub async fn from_cluster(namespace: Option<&str>) -> Result<Objects, String> {
    let client = Client::try_default().await.map_err(|e| format!("cannot reach the cluster: {e}"))?;
    async fn list<K>(api: Api<K>) -> Result<Vec<K>, String>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        api.list(&ListParams::default()).await.map(|l| l.items).map_err(|e| e.to_string())
    }
    let scoped = |c: &Client| match namespace {
        Some(ns) => (Api::namespaced(c.clone(), ns), Api::namespaced(c.clone(), ns), Api::namespaced(c.clone(), ns)),
        None => (Api::all(c.clone()), Api::all(c.clone()), Api::all(c.clone())),
    };
    let (services, points, restores) = scoped(&client);
    let drills: Api<crate::api::ContinuityDrill> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    Ok(Objects {
        services: list(services).await?,
        classes: list(Api::all(client.clone())).await?,
        points: list(points).await?,
        restores: list(restores).await?,
        // A cluster whose CRDs predate drills has none to report.
        drills: list(drills).await.or_else(|e| if e.contains("404") { Ok(Vec::new()) } else { Err(e) })?,
    })
}
