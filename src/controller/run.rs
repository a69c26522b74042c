//! Wires the reconcile into kube-runtime: watches, triggers, graceful shutdown.

use std::sync::Arc;

use futures::{StreamExt, channel::mpsc};
use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{Node, Service},
    policy::v1::PodDisruptionBudget,
};
use kube::{
    Api, Client, ResourceExt,
    api::ListParams,
    runtime::{
        Controller, WatchStreamExt,
        events::Reporter,
        reflector::{self, ObjectRef},
        watcher,
    },
};
use tracing::{error, info};

use super::{Context, error_policy, reconcile};
use crate::{
    api::{ContinuityClass, ResilientService},
    plan::Config,
    topology::{self, NodeFacts},
    workload::{FIELD_MANAGER, SERVICE_LABEL},
};

/// How the operator runs.
pub struct Settings {
    /// Watch one namespace only; `None`: all namespaces.
    pub namespace: Option<String>,
    pub config: Config,
    /// Reconciles running at once.
    pub concurrency: u16,
    /// The pod name, for Events.
    pub instance: Option<String>,
}

/// Runs the operator until SIGTERM or Ctrl-C, then lets in-flight reconciles finish.
pub async fn run(client: Client, settings: Settings) -> Result<(), String> {
    let services: Api<ResilientService> = match &settings.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    ensure_crds(&client, &services).await?;

    // Nodes feed a cache and a trigger that fires only when the zone shape changes, not on heartbeats.
    let (nodes, writer) = reflector::store::<Node>();
    let (trigger, zone_changes) = mpsc::channel::<()>(1);
    let keys = settings.config.keys.clone();
    let reader = nodes.clone();
    let node_watch = watcher(Api::<Node>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .modify(|n| n.managed_fields_mut().clear())
        .reflect(writer)
        .scan(None, move |last, event| {
            if let Err(e) = &event {
                error!(error = %e, "node watch failed; retrying");
            }
            let facts: Vec<NodeFacts> = reader.state().iter().map(|n| NodeFacts::from_node(n, &keys)).collect();
            let now = Some(topology::fingerprint(&facts));
            let changed = *last != now;
            *last = now;
            futures::future::ready(Some(changed))
        })
        .filter_map(|changed| futures::future::ready(changed.then_some(())));
    let mut trigger_tx = trigger;
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(node_watch);
        while stream.next().await.is_some() {
            // A full channel already holds a pending re-reconcile of everything.
            let _ = trigger_tx.try_send(());
        }
    });

    let reporter = Reporter { controller: FIELD_MANAGER.into(), instance: settings.instance.clone() };
    let ctx = Arc::new(Context::new(client.clone(), nodes, settings.config, reporter));
    let children = watcher::Config::default().labels(SERVICE_LABEL);
    let (deployments, pdbs, svcs) = match &settings.namespace {
        Some(ns) => (
            Api::<Deployment>::namespaced(client.clone(), ns),
            Api::<PodDisruptionBudget>::namespaced(client.clone(), ns),
            Api::<Service>::namespaced(client.clone(), ns),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone()), Api::all(client.clone())),
    };
    let controller = Controller::new(services, watcher::Config::default().any_semantic());
    let store = controller.store();
    controller
        .owns(deployments, children.clone())
        .owns(pdbs, children.clone())
        .owns(svcs, children)
        .watches(Api::<ContinuityClass>::all(client.clone()), watcher::Config::default(), move |class| {
            // A class change re-reconciles the services that name it.
            let name = class.name_any();
            store
                .state()
                .into_iter()
                .filter(|s| s.spec.class_name == name)
                .map(|s| ObjectRef::from_obj(&*s))
                .collect::<Vec<_>>()
        })
        .reconcile_all_on(zone_changes)
        .with_config(kube::runtime::controller::Config::default().concurrency(settings.concurrency))
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((obj, _)) => tracing::debug!(service = %obj, "reconciled"),
                Err(e) => tracing::debug!(error = %e, "reconcile did not complete"),
            }
        })
        .await;
    info!("stopped");
    Ok(())
}

/// Fails fast, with the fix, when the CRDs are missing.
async fn ensure_crds(_client: &Client, services: &Api<ResilientService>) -> Result<(), String> {
    match services.list(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Err(
            "the continuo CRDs are not installed in this cluster; install them with `continuo crds | kubectl apply -f -` \
             (or `kubectl apply -f crds/`) and start again"
                .into(),
        ),
        Err(e) => Err(format!("cannot reach the Kubernetes API: {e}")),
    }
}
