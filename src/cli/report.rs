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
        site_failovers: loaded.site_failovers,
    })
}

/// The objects in the cluster of the current kubeconfig (in `namespace`, or all).
pub async fn from_cluster(namespace: Option<&str>) -> Result<Objects, String> {
    let client = Client::try_default().await.map_err(|e| format!("cannot reach the cluster: {e}"))?;
    read(&client, namespace).await.map_err(|e| e.to_string())
}

async fn read(client: &Client, namespace: Option<&str>) -> Result<Objects, kube::Error> {
    Ok(Objects {
        services: list(scoped_api(client, namespace)).await?,
        classes: list(Api::all(client.clone())).await?,
        points: list(scoped_api(client, namespace)).await?,
        restores: list(scoped_api(client, namespace)).await?,
        // A cluster whose CRDs predate drills has none to report.
        drills: match list(scoped_api(client, namespace)).await {
            Err(kube::Error::Api(s)) if s.code == 404 => Vec::new(),
            other => other?,
        },
        // Declared site failovers live on Karmada's control plane; a member cluster has none.
        site_failovers: match list(scoped_api(client, namespace)).await {
            Err(kube::Error::Api(s)) if s.code == 404 => Vec::new(),
            other => other?,
        },
    })
}

/// An `Api` over `namespace`, or all of them.
fn scoped_api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

async fn list<K>(api: Api<K>) -> Result<Vec<K>, kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.list(&ListParams::default()).await.map(|l| l.items)
}
