//! One reconcile, as a pipeline: observe (I/O) → plan (pure) → apply → prune → status → events.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::{
        apps::v1::Deployment,
        core::v1::{Node, Service},
        policy::v1::PodDisruptionBudget,
    },
    apimachinery::pkg::apis::meta::v1::Time,
    jiff::Timestamp,
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, Preconditions},
    runtime::{
        controller::Action,
        events::{Event, EventType, Recorder, Reporter},
        reflector::Store,
    },
};
use serde::{Serialize, de::DeserializeOwned};
use tokio::sync::watch;
use tracing::{info, warn};

use super::drift;
use crate::{
    api::{ContinuityClass, ResilientService},
    metrics::Metrics,
    plan::{self, Config, Inputs, Problem},
    status, topology,
    workload::{self, FIELD_MANAGER, SERVICE_LABEL},
};

/// Why a reconcile failed. Every kind is transient: a user's mistake is a status condition, not an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("the node cache did not sync in time")]
    NodesNotSynced,
    #[error("object has no namespace")]
    NoNamespace,
    /// The API rejected a child as invalid: the user's to fix, reported in status, never retried blindly.
    #[error("{}", .0.message)]
    Rejected(Problem),
}

impl Error {
    /// A bounded label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(_)) => "api",
            Error::Kube(_) => "client",
            Error::NodesNotSynced => "cache",
            Error::NoNamespace | Error::Rejected(_) => "spec",
        }
    }
}

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    /// All Nodes, kept by a reflector.
    pub nodes: Store<Node>,
    pub config: Config,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// Whether this replica may write: it holds the lease, or leader election is off.
    leader: watch::Receiver<bool>,
    /// Consecutive failures per object, for backoff.
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    /// A context that always writes (leader election off).
    pub fn new(client: Client, nodes: Store<Node>, config: Config, reporter: Reporter) -> Self {
        let recorder = Recorder::new(client.clone(), reporter);
        let (_, leader) = watch::channel(true);
        Context { client, nodes, config, recorder, metrics: Arc::default(), leader, failures: Mutex::default() }
    }

    /// Writes only while `leader` says this replica holds the lease.
    pub fn with_leadership(self, leader: watch::Receiver<bool>, metrics: Arc<Metrics>) -> Self {
        Context { leader, metrics, ..self }
    }

    pub fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }
}

/// How often a settled service is looked at again even when nothing changed.
const RESYNC: Duration = Duration::from_secs(300);

/// Reconciles one service, if this replica is the leader; followers keep their caches warm and write nothing
/// (every service is reconciled again when a follower becomes the leader).
pub async fn reconcile(svc: Arc<ResilientService>, ctx: Arc<Context>) -> Result<Action, Error> {
    let start = Instant::now();
    if !ctx.is_leader() {
        ctx.metrics.observe("skipped", None, start.elapsed());
        return Ok(Action::await_change());
    }
    let result = reconcile_service(&svc, &ctx).await;
    match &result {
        Ok(_) => ctx.metrics.observe("success", None, start.elapsed()),
        Err(e) => ctx.metrics.observe("error", Some(e.kind()), start.elapsed()),
    }
    result
}

async fn reconcile_service(svc: &Arc<ResilientService>, ctx: &Context) -> Result<Action, Error> {
    let ns = svc.namespace().ok_or(Error::NoNamespace)?;
    let name = svc.name_any();
    tokio::time::timeout(Duration::from_secs(30), ctx.nodes.wait_until_ready())
        .await
        .map_err(|_| Error::NodesNotSynced)?
        .map_err(|_| Error::NodesNotSynced)?;

    // Observe.
    let class = Api::<ContinuityClass>::all(ctx.client.clone()).get_opt(&svc.spec.class_name).await?;
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    let children: Vec<Deployment> = deployments
        .list(&ListParams::default().labels(&format!("{SERVICE_LABEL}={name}")))
        .await?
        .items
        .into_iter()
        .filter(|d| {
            d.owner_references().iter().any(|o| o.controller == Some(true) && svc.uid().as_ref() == Some(&o.uid))
        })
        .collect();
    let nodes = topology::observe(&ctx.nodes.state(), &ctx.config.keys);

    // Plan.
    let mut plan = plan::plan(&Inputs {
        service: svc,
        class: class.as_ref(),
        nodes: &nodes,
        children: &children,
        config: &ctx.config,
    });

    // Apply, prune.
    let mut notes = Vec::new();
    if let Ok(desired) = &plan {
        match apply_children(ctx, &ns, &children, desired, &mut notes).await {
            Ok(()) => {}
            Err(Error::Rejected(problem)) => plan = Err(problem),
            Err(e) => return Err(e),
        }
    }

    // Status, only when it changed; Events on transitions.
    // metav1.Time has second precision; a finer timestamp would not survive the round trip.
    let now = Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::UNIX_EPOCH);
    let next = status::compute(svc, &plan, &Time(now));
    let transitions = status::transitions(svc, &next);
    if status::changed(svc, &next) {
        let body = serde_json::json!({
            "apiVersion": ResilientService::api_version(&()),
            "kind": ResilientService::kind(&()),
            "status": next,
        });
        Api::<ResilientService>::namespaced(ctx.client.clone(), &ns)
            .patch_status(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&body))
            .await?;
    }
    let reference = svc.object_ref(&());
    for t in transitions.into_iter().chain(notes) {
        let event = Event {
            type_: if t.warning { EventType::Warning } else { EventType::Normal },
            reason: t.reason,
            note: Some(t.message.chars().take(1000).collect()),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&event, &reference).await {
            warn!(service = %name, error = %e, "could not record event");
        }
    }
    ctx.failures.lock().map(|mut f| f.remove(&format!("{ns}/{name}"))).ok();
    Ok(Action::requeue(RESYNC))
}

/// Applies each desired child that drifted, deletes drained zones. A child the API rejects as invalid
/// (say, a bad pod template) turns into a `Problem` for the status instead of an endless retry.
async fn apply_children(
    ctx: &Context,
    ns: &str,
    children: &[Deployment],
    desired: &plan::Desired,
    notes: &mut Vec<status::Transition>,
) -> Result<(), Error> {
    let client = &ctx.client;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    for d in &desired.deployments {
        let live = children.iter().find(|c| c.name_any() == d.name_any());
        apply_if_drifted(&deployments, d, live).await?;
    }
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), ns);
    let live = pdbs.get_opt(&desired.disruption_budget.name_any()).await?;
    apply_if_drifted(&pdbs, &desired.disruption_budget, live.as_ref()).await?;
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let service_name = desired.disruption_budget.name_any();
    let live = services.get_opt(&service_name).await?;
    match &desired.service {
        Some(s) => apply_if_drifted(&services, s, live.as_ref()).await?,
        None => {
            // Only a Service continuo made (controlled by this service) is removed.
            if let Some(live) = live.filter(|l| controlled_by(l, desired.disruption_budget.owner_references())) {
                services.delete(&service_name, &delete_exactly(&live)).await?;
            }
        }
    }
    for name in &desired.delete {
        if let Some(live) = children.iter().find(|c| &c.name_any() == name) {
            deployments.delete(name, &delete_exactly(live)).await?;
            info!(deployment = %name, "deleted drained zone");
            notes.push(status::Transition {
                warning: false,
                reason: "ZoneDrained".into(),
                message: format!("deleted {name}: its zone is no longer used and the others are Ready"),
            });
        }
    }
    Ok(())
}

fn controlled_by<K: Resource>(
    obj: &K,
    owners: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference],
) -> bool {
    obj.owner_references().iter().any(|o| o.controller == Some(true) && owners.iter().any(|w| w.uid == o.uid))
}

/// Deletes only the object that was observed, never a newer one of the same name.
fn delete_exactly<K: Resource>(live: &K) -> DeleteParams {
    DeleteParams {
        preconditions: Some(Preconditions { uid: live.meta().uid.clone(), resource_version: None }),
        ..DeleteParams::background()
    }
}

async fn apply_if_drifted<K>(api: &Api<K>, desired: &K, live: Option<&K>) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    let body = workload::manifest(desired);
    if let Some(live) = live {
        let live = serde_json::to_value(live).unwrap_or_default();
        if drift::holds(&live, &body) {
            return Ok(());
        }
    }
    let name = desired.name_any();
    match api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&body)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 422 => Err(Error::Rejected(Problem {
            reason: "InvalidTemplate",
            message: format!("{} {name} was rejected: {}", K::kind(&()), s.message),
        })),
        Err(e) => Err(e.into()),
    }
}

/// Backs off per object, exponentially from 5 s to 5 min, with jitter so that failing objects spread out.
pub fn error_policy(svc: Arc<ResilientService>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = format!("{}/{}", svc.namespace().unwrap_or_default(), svc.name_any());
    let failures = ctx
        .failures
        .lock()
        .map(|mut f| {
            let n = f.entry(key.clone()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        })
        .unwrap_or(1);
    let base = 5u64.saturating_mul(1 << failures.min(6).saturating_sub(1)).min(300);
    let jitter = u64::from(Timestamp::now().subsec_nanosecond().unsigned_abs()) % (base / 5 + 1);
    warn!(service = %key, kind = error.kind(), error = %error, failures, "reconcile failed");
    Action::requeue(Duration::from_secs(base + jitter))
}
