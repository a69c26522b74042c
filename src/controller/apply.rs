//! Applying a service's children: each desired child that drifted from its cached copy is applied with
//! server-side apply (one field manager, forced), drained zones and children no longer wanted are deleted — only
//! the very object that was observed.

use std::time::Instant;

use k8s_openapi::api::{
    apps::v1::{Deployment, StatefulSet},
    batch::v1::CronJob,
    core::v1::Service,
    policy::v1::PodDisruptionBudget,
};
use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, Preconditions},
};
use serde::{Serialize, de::DeserializeOwned};
use tracing::info;

use super::{
    Context, Error,
    cache::{RecentWrites, TEMPLATE_DIGEST, controlled_by, template_digest},
    drift,
};
use crate::{
    plan::{self, Problem},
    status,
    workload::{self, FIELD_MANAGER},
};

/// A child whose cached generation is older than the one continuo's last write produced is a stale copy: its
/// status describes the previous spec, so it must not count as rolled out (say, before draining another zone).
pub(super) fn unconfirmed_readiness_hidden(
    mut children: Vec<Deployment>,
    kind: &str,
    writes: &RecentWrites,
    ns: &str,
    now: Instant,
) -> Vec<Deployment> {
    for d in &mut children {
        let key = RecentWrites::key(kind, ns, &d.name_any());
        if writes.generation(&key, now).is_some_and(|g| d.metadata.generation.unwrap_or(0) < g) {
            d.status = None;
        }
    }
    children
}

/// Applies each desired child that drifted, deletes drained zones. A child the API rejects as invalid
/// (say, a bad pod template) turns into a `Problem` for the status instead of an endless retry.
pub(super) async fn apply_children(
    ctx: &Context,
    ns: &str,
    children: &[Deployment],
    cron_jobs: &[CronJob],
    desired: &plan::Desired,
    notes: &mut Vec<status::Transition>,
    written: &mut Vec<String>,
) -> Result<(), Error> {
    let client = &ctx.client;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    for d in &desired.deployments {
        let live = children.iter().find(|c| c.name_any() == d.name_any());
        apply_if_drifted(ctx, &deployments, d, live, Compare::TemplateByDigest, written).await?;
    }
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
    for s in &desired.stateful_sets {
        let live = ctx.caches.volumes.stateful_set(ns, &s.name_any());
        apply_if_drifted(ctx, &sets, s, live.as_ref(), Compare::TemplateByDigest, written).await?;
    }
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), ns);
    let live = ctx.caches.disruption_budget(ns, &desired.disruption_budget.name_any());
    apply_if_drifted(ctx, &pdbs, &desired.disruption_budget, live.as_ref(), Compare::Content, written).await?;
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let service_name = desired.disruption_budget.name_any();
    let live = ctx.caches.service(ns, &service_name);
    match &desired.service {
        Some(s) => apply_if_drifted(ctx, &services, s, live.as_ref(), Compare::Content, written).await?,
        None => {
            // Only a Service continuo made (controlled by this service) is removed.
            let owner = desired.disruption_budget.owner_references().first().map(|o| o.uid.as_str());
            if let Some(live) = live.filter(|l| controlled_by(l, owner)) {
                services.delete(&service_name, &delete_exactly(&live)).await?;
            }
        }
    }
    // Backup CronJobs: applied when the backup stage found no problem; then those no run needs are removed
    // (their copies stay in the catalog). A problem leaves them as they are.
    if let Some(wanted) = &desired.cron_jobs {
        let api: Api<CronJob> = Api::namespaced(client.clone(), ns);
        for c in wanted {
            let live = cron_jobs.iter().find(|l| l.name_any() == c.name_any());
            apply_if_drifted(ctx, &api, c, live, Compare::TemplateByDigest, written).await?;
        }
        for live in cron_jobs.iter().filter(|l| !wanted.iter().any(|c| c.name_any() == l.name_any())) {
            api.delete(&live.name_any(), &delete_exactly(live)).await?;
            ctx.applied.forget(&RecentWrites::key("CronJob", ns, &live.name_any()));
        }
    }
    let stateful = !desired.stateful_sets.is_empty();
    for name in &desired.delete {
        if let Some(live) = children.iter().find(|c| &c.name_any() == name) {
            // A StatefulSet's claims are kept when it is deleted (its retention policy): never a volume.
            let kind = if stateful { "StatefulSet" } else { "Deployment" };
            match stateful {
                true => sets.delete(name, &delete_exactly(live)).await.map(|_| ())?,
                false => deployments.delete(name, &delete_exactly(live)).await.map(|_| ())?,
            }
            ctx.applied.forget(&RecentWrites::key(kind, ns, name));
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

/// Deletes only the object that was observed, never a newer one of the same name.
pub(crate) fn delete_exactly<K: Resource>(live: &K) -> DeleteParams {
    DeleteParams {
        preconditions: Some(Preconditions { uid: live.meta().uid.clone(), resource_version: None }),
        ..DeleteParams::background()
    }
}

/// How a cached child is compared with what continuo wants.
#[derive(Clone, Copy, PartialEq)]
enum Compare {
    /// Every field continuo applies is compared with the cached object.
    Content,
    /// As `Content`, but the pod template, which the Deployment cache does not keep, by the digest continuo stamps
    /// on it and by the generation its own apply produced; and the selector, immutable once created, not at all.
    TemplateByDigest,
}

/// Applies `desired` unless the cached `live` object already holds it, or this very body was applied a moment
/// ago and the cache has not delivered it yet.
async fn apply_if_drifted<K>(
    ctx: &Context,
    api: &Api<K>,
    desired: &K,
    live: Option<&K>,
    compare: Compare,
    written: &mut Vec<String>,
) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    let mut body = workload::manifest(desired);
    let name = desired.name_any();
    let key = RecentWrites::key(&K::kind(&()), desired.namespace().as_deref().unwrap_or_default(), &name);
    let compared = match compare {
        Compare::Content => body.clone(),
        Compare::TemplateByDigest => {
            // A Deployment's pod template, a CronJob's Job template: what the caches do not keep.
            let field = if body["spec"].get("jobTemplate").is_some() { "jobTemplate" } else { "template" };
            let digest = template_digest(&body["spec"][field]);
            body["metadata"]["annotations"][TEMPLATE_DIGEST] = digest.into();
            let mut without = body.clone();
            if let Some(spec) = without["spec"].as_object_mut() {
                spec.remove(field);
                // Immutable once created (apps/v1), so the cache does not keep them either.
                spec.remove("selector");
                spec.remove("volumeClaimTemplates");
            }
            without
        }
    };
    if let Some(live) = live {
        let generation = live.meta().generation.unwrap_or(0);
        let holds = drift::holds(&serde_json::to_value(live).unwrap_or_default(), &compared)
            && (compare == Compare::Content || ctx.applied.accepts(&key, generation));
        if holds {
            ctx.writes.forget(&key);
            return Ok(());
        }
    }
    written.push(key.clone());
    if ctx.writes.just_wrote(&key, &body, Instant::now()) {
        return Ok(());
    }
    match api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&body)).await {
        Ok(applied) => {
            let generation = applied.meta().generation.unwrap_or(0);
            ctx.writes.record(key.clone(), &body, generation, Instant::now());
            if compare == Compare::TemplateByDigest {
                ctx.applied.record(&key, generation);
            }
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 422 => Err(Error::Rejected(Problem {
            reason: "InvalidTemplate",
            message: format!("{} {name} was rejected: {}", K::kind(&()), s.message),
        })),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment(generation: i64) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "s-a", "namespace": "n", "generation": generation},
            "status": {"observedGeneration": generation, "replicas": 3, "readyReplicas": 3, "updatedReplicas": 3}
        }))
        .unwrap()
    }

    #[test]
    fn a_cached_child_older_than_the_last_write_does_not_count_as_rolled_out() {
        let writes = RecentWrites::default();
        let now = Instant::now();
        writes.record(RecentWrites::key("Deployment", "n", "s-a"), &json!({}), 5, now);
        let stale = unconfirmed_readiness_hidden(vec![deployment(4)], "Deployment", &writes, "n", now);
        assert!(!plan::rolled_out(&stale[0], 1), "the cache's copy describes the previous spec");
        let fresh = unconfirmed_readiness_hidden(vec![deployment(5)], "Deployment", &writes, "n", now);
        assert!(plan::rolled_out(&fresh[0], 3));
        let later = unconfirmed_readiness_hidden(
            vec![deployment(4)],
            "Deployment",
            &writes,
            "n",
            now + super::super::WRITE_GRACE,
        );
        assert!(plan::rolled_out(&later[0], 3), "after the grace period the cache is believed again");
    }
}
