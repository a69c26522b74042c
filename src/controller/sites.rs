//! The site controller (`continuo sites`), run on Karmada's control plane: for each ResilientService whose class
//! names sites it applies the Karmada policies that keep the service at its serving site, records where it serves
//! and the Region verdicts in `status.site`, and carries out the declared failovers (`SiteFailover`), timing each
//! against the Region RTO. Reads come from watch caches; a steady state writes nothing.

use std::{sync::Arc, time::Duration};

use futures::{StreamExt, future::ready};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams},
    runtime::{
        Controller, WatchStreamExt,
        controller::Action,
        reflector::{self, ObjectRef, Store, store::Writer},
        watcher,
    },
};
use serde_json::{Value, json};

pub use super::site_context::MANAGER;
use super::{
    Error,
    admin::{self, Readiness},
    events::Recorder,
    site_context::{SiteContext, binding_in, karmada_resources, ready_members},
};
use crate::{
    api::{
        ContinuityClass, ContinuityDrill, DrillScenario, ObjectiveStatus, ResilientService, Scope, SiteFailover,
        SiteFailoverPhase, SiteStatus,
    },
    sites::{
        self, Cluster, Declaration, Recorded,
        arrival::Arrival,
        handover, karmada,
        record::{recorded_words, staged},
        verdict,
    },
};

/// Cluster health and holds are re-read this often even when nothing changes (a hold expires by the clock).
const RESYNC: Duration = Duration::from_secs(15);

fn cache<K>(api: Api<K>) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    tokio::spawn(reflector::reflector(writer, watcher(api, watcher::Config::default())).for_each(|_| ready(())));
    store
}

fn dynamic(client: &Client, ar: &ApiResource) -> Store<DynamicObject> {
    let writer = Writer::new(ar.clone());
    let store = writer.as_reader();
    let api: Api<DynamicObject> = Api::all_with(client.clone(), ar);
    tokio::spawn(reflector::reflector(writer, watcher(api, watcher::Config::default())).for_each(|_| ready(())));
    store
}

/// Runs the site controller until the process stops, serving `/livez`, `/readyz` and `/metrics` on `admin`.
pub async fn run(client: Client, timing: verdict::Timing, admin: tokio::net::TcpListener) -> Result<(), Error> {
    let [clusters, policies, overrides, bindings] = karmada_resources();
    let (wake, woken) = tokio::sync::mpsc::unbounded_channel();
    let woken = futures::stream::unfold(woken, |mut rx| async move { rx.recv().await.map(|r| (r, rx)) });
    let ctx = SiteContext {
        wake,
        classes: cache(Api::all(client.clone())),
        locations: cache(Api::all(client.clone())),
        failovers: cache(Api::all(client.clone())),
        services: cache(Api::all(client.clone())),
        drills: cache(Api::all(client.clone())),
        clusters: dynamic(&client, &clusters),
        policies: dynamic(&client, &policies),
        overrides: dynamic(&client, &overrides),
        bindings: dynamic(&client, &bindings),
        recorder: Recorder::new(
            client.clone(),
            kube::runtime::events::Reporter { controller: MANAGER.into(), instance: None },
        ),
        client: client.clone(),
        timing,
        metrics: Arc::default(),
    };
    for ready in [ctx.classes.wait_until_ready().await, ctx.locations.wait_until_ready().await] {
        ready.map_err(|_| Error::CachesNotSynced)?;
    }
    for store in [&ctx.clusters, &ctx.policies, &ctx.overrides, &ctx.bindings] {
        store.wait_until_ready().await.map_err(|_| Error::CachesNotSynced)?;
    }
    ctx.failovers.wait_until_ready().await.map_err(|_| Error::CachesNotSynced)?;
    ctx.services.wait_until_ready().await.map_err(|_| Error::CachesNotSynced)?;
    ctx.drills.wait_until_ready().await.map_err(|_| Error::CachesNotSynced)?;
    let services: Api<ResilientService> = Api::all(client.clone());
    let readiness = Readiness::default();
    // A member cluster's health changing is news for every service with sites.
    let health = watcher(Api::<DynamicObject>::all_with(client.clone(), &clusters), watcher::Config::default())
        .touched_objects()
        .filter_map(|c| ready(c.ok().map(|_| ())));
    let controller = Controller::new(services, watcher::Config::default())
        .watches(Api::<SiteFailover>::all(client.clone()), watcher::Config::default(), |f| {
            f.namespace().map(|ns| ObjectRef::new(&f.spec.service).within(&ns))
        })
        .watches(Api::<ContinuityDrill>::all(client.clone()), watcher::Config::default(), |d| {
            d.namespace().map(|ns| ObjectRef::new(&d.spec.service).within(&ns))
        })
        // Karmada's binding: where the service is scheduled and how each member reports it.
        .watches_with(
            Api::<DynamicObject>::all_with(client, &bindings),
            bindings.clone(),
            watcher::Config::default(),
            |b| {
                let name = b.data["spec"]["resource"]["name"].as_str()?.to_string();
                b.namespace().map(|ns| ObjectRef::new(&name).within(&ns))
            },
        )
        .reconcile_all_on(health)
        .reconcile_on(woken);
    let registry = Arc::new(ctx.metrics.registry(controller.store()));
    let router = admin::router(registry, readiness.clone(), None);
    tokio::spawn(async move {
        if let Err(e) = admin::serve(admin, router).await {
            tracing::error!(error = %e, "the admin server stopped");
        }
    });
    readiness.set(true);
    controller
        .run(reconcile, |_, e, _| error_action(e), Arc::new(ctx))
        .for_each(|r| {
            if let Err(e) = r {
                tracing::debug!(error = %e, "site reconcile");
            }
            ready(())
        })
        .await;
    Ok(())
}

fn error_action(e: &Error) -> Action {
    tracing::warn!(error = %e, "site reconcile failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

/// The member clusters as Karmada reports them.
fn clusters(ctx: &SiteContext) -> Vec<Cluster> {
    ctx.clusters
        .state()
        .iter()
        .map(|c| Cluster::from_document(&serde_json::to_value(&**c).unwrap_or_default()))
        .collect()
}

/// The Karmada binding of the service (`<name>-resilientservice`), as JSON.
fn binding(ctx: &SiteContext, svc: &ResilientService) -> Option<Value> {
    binding_in(ctx, &svc.namespace()?, &svc.name_any())
}

/// The member clusters where the service reports Ready, from the binding's aggregated status (Karmada reflects a
/// custom resource's whole status), and the newest good copy any of them reports.
fn reported(binding: Option<&Value>) -> (Vec<String>, Option<jiff::Timestamp>) {
    let ready = binding.map(ready_members).unwrap_or_default().into_iter().map(|(cluster, _)| cluster).collect();
    let items = binding.and_then(|b| b["status"]["aggregatedStatus"].as_array()).cloned().unwrap_or_default();
    let newest = items
        .iter()
        .filter_map(|i| i["status"]["backup"]["newestCopy"].as_str()?.parse::<jiff::Timestamp>().ok())
        .max();
    (ready, newest)
}

async fn reconcile(svc: Arc<ResilientService>, ctx: Arc<SiteContext>) -> Result<Action, Error> {
    let ns = svc.namespace().ok_or(Error::NoNamespace)?;
    let Some(class) = ctx.classes.get(&ObjectRef::new(&svc.spec.class_name)) else {
        return Ok(Action::requeue(RESYNC));
    };
    let Some(declared_sites) = class.spec.sites.as_ref() else { return Ok(Action::await_change()) };
    let (sites, adjusted) = sites::effective(declared_sites, !svc.spec.volume_claim_templates.is_empty());
    let now = jiff::Timestamp::now();
    let clusters = clusters(&ctx);
    if let Some(site) = svc.labels().get(sites::drill::DRILL_SITE_LABEL) {
        // A drill's copy: placed at the drill's site, arriving as its annotation says; the drill records the rest.
        let arrival = Arrival::of(&svc).ok().flatten();
        let carried = karmada::Carried { arrival: arrival.as_ref(), handover: None };
        apply_policies(&ctx, &svc, &ns, (&sites, site, carried), &clusters).await?;
        if let Some((ns, name)) = sites::drill::copies_of(&svc) {
            let _ = ctx.wake.send(ObjectRef::new(&name).within(&ns));
        }
        return Ok(Action::requeue(RESYNC));
    }
    let failovers: Vec<Arc<SiteFailover>> = ctx
        .failovers
        .state()
        .into_iter()
        .filter(|f| f.namespace().as_deref() == Some(ns.as_str()) && f.spec.service == svc.name_any())
        .collect();
    let declarations: Vec<Declaration> = failovers.iter().map(|f| Declaration::of(f, now)).collect();
    let previous = svc.status.as_ref().and_then(|s| s.site.clone());
    let recorded = previous.as_ref().map(|p| Recorded { site: p.serving.clone(), since: p.since.0 });
    let hold = ctx.timing.hold.as_secs();
    let (serving, why) = sites::serving(&sites, &clusters, &declarations, recorded.as_ref(), hold, now);
    let binding = binding(&ctx, &svc);
    let stateful = !svc.spec.volume_claim_templates.is_empty();
    let from = recorded.as_ref().map(|r| r.site.as_str());
    let stage = handover::stage(&sites, &clusters, stateful, from, (&serving, &why), binding.as_ref());
    let (serving, arrival, handing) = staged(&sites, &clusters, previous.as_ref(), (serving, &why), &stage, now);
    let carried = karmada::Carried { arrival: arrival.as_ref(), handover: handing.as_ref() };
    apply_policies(&ctx, &svc, &ns, (&sites, &serving, carried), &clusters).await?;
    let (ready_at, newest) = reported(binding.as_ref());
    let objectives = region_verdicts(&ctx, &svc, &class, &sites, &clusters, newest, now);
    let (since, reason, message) = recorded_words(previous.as_ref(), (&serving, &why), &stage, adjusted, now);
    let planned = arrival.as_ref().and_then(|a| a.copy.clone());
    let arrival = arrival.as_ref().map(crate::api::SiteArrival::from);
    let drills = site_drills(&ctx, &svc, &class, previous.as_ref(), now);
    let site = SiteStatus { serving: serving.clone(), since, reason, message, objectives, arrival, drills };
    if previous.as_ref() != Some(&site) {
        let api: Api<ResilientService> = Api::namespaced(ctx.client.clone(), &ns);
        let patch =
            json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService", "status": {"site": site}});
        api.patch_status(&svc.name_any(), &PatchParams::apply(MANAGER).force(), &Patch::Apply(&patch)).await?;
    }
    let target = sites.site(&serving).map(|s| sites::members(s, &clusters)).unwrap_or_default();
    let moment = sites::declared::Moment {
        sites: &sites,
        newest: sites::newest(&sites, &declarations).map(|d| d.name.as_str()),
        serving: &serving,
        before: recorded.as_ref().map(|r| r.site.as_str()),
        ready_here: ready_at.iter().any(|c| target.iter().any(|t| &t.name == c)),
        rto: class.spec.objective(Scope::Region).map(|o| o.rto.as_secs()),
        handing_over: stage.holding(),
        copy: planned.as_deref(),
        now,
    };
    declared(&ctx, &ns, &failovers, &moment).await?;
    let moving = failovers.iter().any(|f| f.status.as_ref().is_none_or(|s| s.phase == SiteFailoverPhase::Moving));
    let situation = super::site_drills::Situation {
        svc: &svc,
        class: &class,
        sites: &sites,
        clusters: &clusters,
        serving: &serving,
        moving,
        now,
    };
    super::site_drills::step_all(&ctx, &situation).await?;
    Ok(Action::requeue(RESYNC))
}

/// The `SiteRestore` part of the class's drill policy, from the service's drills here.
fn site_drills(
    ctx: &SiteContext,
    svc: &ResilientService,
    class: &ContinuityClass,
    previous: Option<&SiteStatus>,
    now: jiff::Timestamp,
) -> Option<crate::api::SiteDrills> {
    let (ns, name) = (svc.namespace(), svc.name_any());
    let all = ctx.drills.state();
    let mine: Vec<&ContinuityDrill> = all
        .iter()
        .filter(|d| d.namespace() == ns && d.spec.service == name && d.spec.scenario == DrillScenario::SiteRestore)
        .map(|d| &**d)
        .collect();
    let previous = previous.and_then(|p| p.drills.as_ref());
    sites::drill::current(class.spec.drills.as_ref(), &mine, previous, now)
}

fn region_verdicts(
    ctx: &SiteContext,
    svc: &ResilientService,
    class: &ContinuityClass,
    sites: &crate::api::Sites,
    clusters: &[Cluster],
    newest: Option<jiff::Timestamp>,
    now: jiff::Timestamp,
) -> Vec<ObjectiveStatus> {
    let Some(o) = class.spec.objective(Scope::Region) else { return Vec::new() };
    let location = svc.spec.backup.as_ref().and_then(|b| ctx.locations.get(&ObjectRef::new(&b.location)));
    let backup = verdict::copies(svc, class, location.as_deref(), newest, now);
    let startup = crate::objectives::Timing::default().pod_startup(&svc.spec.template, svc.spec.startup_seconds);
    let stateful = !svc.spec.volume_claim_templates.is_empty();
    let s = verdict::Situation {
        sites,
        clusters,
        startup,
        stateful,
        restore: None,
        backup: backup.as_ref(),
        timing: &ctx.timing,
        now,
    };
    let status =
        |objective: &str, target, (v, reason, message): (crate::verdict::Verdict, &str, String)| ObjectiveStatus {
            scope: Scope::Region,
            objective: objective.into(),
            target,
            status: v.as_status().into(),
            reason: reason.into(),
            message,
        };
    let mut out = vec![status("RTO", o.rto, verdict::rto(&s, o.rto))];
    out.extend(o.rpo.map(|rpo| status("RPO", rpo, verdict::rpo(&s, rpo))));
    out
}

/// Server-side applies `desired` (a Karmada policy) unless the cached one already says the same; owned by the
/// service, so deleting it deletes them.
async fn apply_policy(
    ctx: &SiteContext,
    svc: &ResilientService,
    ar: &ApiResource,
    cached: &Store<DynamicObject>,
    mut desired: Value,
) -> Result<(), Error> {
    let ns = svc.namespace().ok_or(Error::NoNamespace)?;
    let name = desired["metadata"]["name"].as_str().unwrap_or_default().to_string();
    if let Some(owner) = svc.controller_owner_ref(&()) {
        desired["metadata"]["ownerReferences"] = json!([owner]);
    }
    let current = cached.get(&ObjectRef::new_with(&name, ar.clone()).within(&ns));
    let same = current.as_ref().is_some_and(|c| {
        c.data["spec"] == desired["spec"]
            && c.metadata.owner_references.as_ref().map(|o| json!(o))
                == Some(desired["metadata"]["ownerReferences"].clone())
    });
    if same {
        return Ok(());
    }
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &ns, ar);
    api.patch(&name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&desired)).await?;
    Ok(())
}

/// The service's policies for where it serves: the sites, the serving one, and the arrival it carries there.
async fn apply_policies(
    ctx: &SiteContext,
    svc: &ResilientService,
    ns: &str,
    (sites, serving, carried): (&crate::api::Sites, &str, karmada::Carried<'_>),
    clusters: &[Cluster],
) -> Result<(), Error> {
    let [_, policies, overrides, _] = karmada_resources();
    let name = svc.name_any();
    let policy = karmada::propagation_policy(&name, ns, sites, serving, clusters);
    apply_policy(ctx, svc, &policies, &ctx.policies, policy).await?;
    match karmada::override_policy(&name, ns, sites, serving, clusters, carried) {
        Some(o) => apply_policy(ctx, svc, &overrides, &ctx.overrides, o).await,
        None => {
            let key = karmada::policy_name(&name);
            if ctx.overrides.get(&ObjectRef::new_with(&key, overrides.clone()).within(ns)).is_some() {
                let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, &overrides);
                api.delete(&key, &DeleteParams::default()).await?;
            }
            Ok(())
        }
    }
}

/// Each declaration's record (see [`sites::declared`]), written when it changes.
async fn declared(
    ctx: &SiteContext,
    ns: &str,
    failovers: &[Arc<SiteFailover>],
    m: &sites::declared::Moment<'_>,
) -> Result<(), Error> {
    let api: Api<SiteFailover> = Api::namespaced(ctx.client.clone(), ns);
    for f in failovers {
        let next = sites::declared::status(f, f.status.as_ref(), m);
        if f.status.as_ref() != Some(&next) {
            let patch = json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "SiteFailover", "status": next});
            api.patch_status(&f.name_any(), &PatchParams::apply(MANAGER).force(), &Patch::Apply(&patch)).await?;
            if f.status.as_ref().map(|s| s.phase) != Some(next.phase) {
                announce(ctx, f, &next).await;
            }
        }
    }
    Ok(())
}

/// An Event on the declaration when its phase changes: news a person acts on. A failed publish is logged, never
/// stops the reconcile (the status is already written).
async fn announce(ctx: &SiteContext, f: &SiteFailover, s: &crate::api::SiteFailoverStatus) {
    use crate::api::SiteFailoverPhase as P;
    use kube::runtime::events::{Event, EventType};
    let (type_, reason, ended) = match (s.phase, s.within_rto) {
        (P::Moving, _) => (EventType::Normal, "SiteFailoverStarted", None),
        (P::Completed, Some(false)) => (EventType::Warning, "SiteFailoverExceededRTO", Some("past_rto")),
        (P::Completed, _) => (EventType::Normal, "SiteFailoverCompleted", Some("completed")),
        (P::Refused, _) => (EventType::Warning, "SiteFailoverRefused", Some("refused")),
    };
    if let Some(result) = ended {
        ctx.metrics.failover_ended(result);
    }
    let event = Event {
        type_,
        reason: reason.into(),
        note: s.message.as_ref().map(|m| m.chars().take(1000).collect()),
        action: "Failover".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &f.object_ref(&())).await {
        tracing::warn!(error = %e, failover = %f.name_any(), "could not publish the Event");
    }
}
