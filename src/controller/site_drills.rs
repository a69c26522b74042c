//! SiteRestore drills, carried out by the site controller on Karmada's control plane (see `sites::drill`): each
//! step's record written to the drill's status when it changes, with an Event on a phase change; the service's copy
//! created in the drill's scratch namespace (its placement then written by the site controller like any service's,
//! at the drill's site) and, once the drill has ended, its namespace deleted (the copy, its policies and, through
//! Karmada, what the member ran with it go along).

use std::sync::Arc;

use jiff::Timestamp;
use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams},
    runtime::reflector::ObjectRef,
};
use serde_json::{Value, json};

use super::{
    Error,
    site_context::{MANAGER, SiteContext, binding_in, ready_members},
};
use crate::{
    api::{ContinuityDrill, DrillScenario, ResilientService, Scope, Sites},
    drill::{Phase, Record},
    sites::{
        Cluster,
        arrival::Arrival,
        drill::{self, Facts, Next},
        members,
    },
};

/// What the drills of one service are stepped against.
pub(super) struct Situation<'a> {
    pub svc: &'a ResilientService,
    pub class: &'a crate::api::ContinuityClass,
    pub sites: &'a Sites,
    pub clusters: &'a [Cluster],
    pub serving: &'a str,
    /// A declared failover of the service has not completed.
    pub moving: bool,
    pub now: Timestamp,
}

/// Steps every SiteRestore drill of the service.
pub(super) async fn step_all(ctx: &SiteContext, s: &Situation<'_>) -> Result<(), Error> {
    let (ns, name) = (s.svc.namespace().unwrap_or_default(), s.svc.name_any());
    let drills: Vec<Arc<ContinuityDrill>> = ctx
        .drills
        .state()
        .into_iter()
        .filter(|d| d.namespace().as_deref() == Some(ns.as_str()) && d.spec.service == name)
        .filter(|d| d.spec.scenario == DrillScenario::SiteRestore)
        .collect();
    for d in drills {
        step_one(ctx, s, &d).await?;
    }
    Ok(())
}

async fn step_one(ctx: &SiteContext, s: &Situation<'_>, d: &ContinuityDrill) -> Result<(), Error> {
    let record = Record::from_status(d.status.as_ref());
    // A scheduled drill starts afresh when its time comes (the site controller looks again every few seconds); an
    // ended one is still stepped, so that its scratch namespace is cleaned up whatever the schedule says.
    let tz = crate::drill::schedule::time_zone(Some(&s.class.spec));
    let scratch = drill::scratch_namespace(&s.svc.namespace().unwrap_or_default(), &d.name_any());
    let copy = ctx.services.get(&ObjectRef::new(&s.svc.name_any()).within(&scratch));
    let base = match crate::drill::schedule::start(d, &tz, &record, s.now, &mut None) {
        // The last run's copy is still being removed: the next run waits for it to be gone.
        Some((base, _)) if base.phase == Phase::Pending && record.phase.ended() && copy.is_some() => record.clone(),
        Some((base, _)) => base,
        None => record.clone(),
    };
    let objective = s.class.spec.objective(Scope::Region);
    let facts = Facts {
        sites: s.sites,
        clusters: s.clusters,
        serving: s.serving,
        moving: s.moving,
        ready: record.site.as_deref().and_then(|site| ready_at(ctx, s, &scratch, site)),
        restored: copy.as_deref().and_then(restored),
        stateful: !s.svc.spec.volume_claim_templates.is_empty(),
        rto: objective.map(|o| o.rto.as_secs()),
        rpo: objective.and_then(|o| o.rpo).map(|r| r.as_secs()),
        timeout: d.spec.timeout.as_secs(),
        now: s.now,
    };
    let (after, next) = match base.reason.as_str() {
        "InvalidSchedule" => (base.clone(), Next::Nothing),
        _ => drill::step(&base, d.spec.site.as_deref(), &facts),
    };
    match next {
        Next::BringUp(site) if copy.is_none() => {
            let started = after.started.unwrap_or(s.now);
            let arrival = Arrival::after_move(s.sites, s.clusters, Some(s.serving), &site, None, started);
            let arrival = arrival.unwrap_or(Arrival {
                from: s.serving.into(),
                lost_at: started,
                regions: Vec::new(),
                copy: None,
                declared_at: None,
            });
            bring_up(ctx, &scratch, drill::copy_of(s.svc, &d.name_any(), &site, &arrival)).await?;
        }
        Next::CleanUp if copy.is_some() => {
            let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(ctx.client.clone());
            match api.delete(&scratch, &DeleteParams::default()).await {
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                other => {
                    other?;
                }
            }
        }
        _ => {}
    }
    if after != record {
        let api: Api<ContinuityDrill> = Api::namespaced(ctx.client.clone(), &d.namespace().unwrap_or_default());
        let patch =
            json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ContinuityDrill", "status": after.to_status()});
        api.patch_status(&d.name_any(), &PatchParams::apply(MANAGER).force(), &Patch::Apply(&patch)).await?;
        if after.phase != record.phase {
            announce(ctx, d, &after).await;
        }
    }
    Ok(())
}

/// When the copy was reported Ready at `site`: the Ready transition its member reported, through Karmada's binding.
fn ready_at(ctx: &SiteContext, s: &Situation<'_>, scratch: &str, site: &str) -> Option<Timestamp> {
    let clusters: Vec<String> =
        s.sites.site(site).map(|x| members(x, s.clusters)).unwrap_or_default().iter().map(|c| c.name.clone()).collect();
    let binding = binding_in(ctx, scratch, &s.svc.name_any())?;
    let ready = ready_members(&binding).into_iter().find(|(cluster, _)| clusters.contains(cluster))?;
    Some(ready.1.unwrap_or(s.now))
}

/// The copy of the data the drill's copy restored, as Karmada aggregates its member's recoveries.
fn restored(copy: &ResilientService) -> Option<(String, Timestamp)> {
    let r = copy.status.as_ref()?.recoveries.iter().filter(|r| r.from_site.is_some()).max_by_key(|r| r.lost_at.0)?;
    Some((r.point.clone()?, r.captured_at.as_ref()?.0))
}

/// Creates the scratch namespace and the copy in it; either one there already is fine.
async fn bring_up(ctx: &SiteContext, scratch: &str, copy: Value) -> Result<(), Error> {
    let params = PostParams { field_manager: Some(MANAGER.into()), ..PostParams::default() };
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(ctx.client.clone());
    let namespace: k8s_openapi::api::core::v1::Namespace = serde_json::from_value(json!({
        "metadata": {"name": scratch, "labels": {drill::DRILL_LABEL: copy["metadata"]["labels"][drill::DRILL_LABEL]}}
    }))
    .map_err(kube::Error::SerdeError)?;
    match namespaces.create(&params, &namespace).await {
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        other => {
            other?;
        }
    }
    let services: Api<ResilientService> = Api::namespaced(ctx.client.clone(), scratch);
    let copy: ResilientService = serde_json::from_value(copy).map_err(kube::Error::SerdeError)?;
    match services.create(&params, &copy).await {
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        other => other.map(|_| ()).map_err(Error::from),
    }
}

/// An Event on the drill when its phase changes. A failed publish is logged, never stops the reconcile.
async fn announce(ctx: &SiteContext, d: &ContinuityDrill, r: &Record) {
    use kube::runtime::events::{Event, EventType};
    let (type_, reason, ended) = match r.phase {
        Phase::Running => (EventType::Normal, "DrillStarted", None),
        Phase::Passed => (EventType::Normal, "DrillPassed", Some("passed")),
        Phase::Failed => (EventType::Warning, "DrillFailed", Some("failed")),
        Phase::Aborted => (EventType::Warning, "DrillAborted", Some("aborted")),
        Phase::Pending => return,
    };
    if let Some(result) = ended {
        ctx.metrics.drill_ended(result);
    }
    let note = if r.message.is_empty() { r.timeline.last().map(|(_, e)| e.clone()) } else { Some(r.message.clone()) };
    let event = Event { type_, reason: reason.into(), note, action: "Drill".into(), secondary: None };
    if let Err(e) = ctx.recorder.publish(&event, &d.object_ref(&())).await {
        tracing::warn!(error = %e, drill = %d.name_any(), "could not publish the Event");
    }
}
