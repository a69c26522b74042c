//! The end of a reconcile: the status, written only when it changed (and not twice while the cache catches up),
//! and the Events — condition flips, incidents, and what the steps noted.

use std::time::Instant;

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::events::{Event, EventType},
};
use tracing::warn;

use super::{Context, Error, cache::RecentWrites};
use crate::{
    api::ResilientService,
    failover::incidents,
    plan::Plan,
    status::{self, Transition},
    workload::FIELD_MANAGER,
};

/// Writes the status `plan` leads to if it changed, then publishes the Events: the transitions of that status,
/// the incidents it opens and closes, and `notes`. A new service's progress may wait (see
/// [`status::progress_can_wait`]): then it returns until when, to be looked at again by then.
pub(super) async fn publish(
    ctx: &Context,
    svc: &ResilientService,
    plan: &Plan,
    clock: Timestamp,
    notes: Vec<Transition>,
    drills: Vec<crate::api::LastDrill>,
) -> Result<Option<Timestamp>, Error> {
    let (ns, name) = (svc.namespace().unwrap_or_default(), svc.name_any());
    // metav1.Time has second precision; a finer timestamp would not survive the round trip.
    let stamp = Timestamp::from_second(clock.as_second()).unwrap_or(Timestamp::UNIX_EPOCH);
    let mut next = status::compute(svc, plan, &Time(stamp));
    next.drills = drills;
    let status_key = RecentWrites::key("ResilientService/status", &ns, &name);
    let body = serde_json::json!({
        "apiVersion": ResilientService::api_version(&()),
        "kind": ResilientService::kind(&()),
        "status": next,
    });
    // Unchanged, or written a moment ago and not yet seen by the cache: no write, and no Event twice. A new
    // service's progress alone waits to be written with what comes next (Ready, most often).
    let waits = status::progress_can_wait(svc, &next).filter(|until| clock < *until);
    let differs = status::changed(svc, &next) && waits.is_none();
    let changed = differs && !ctx.writes.just_wrote(&status_key, &body["status"], Instant::now());
    let mut transitions = if changed { status::transitions(svc, &next) } else { Vec::new() };
    // Incidents: announced and measured once, when the status that records them is written.
    if changed && let Ok(d) = plan {
        for change in &d.incident_changes {
            let (warning, reason, message) = incidents::describe(change);
            transitions.push(Transition { warning, reason: reason.into(), message });
            if let incidents::Change::Ended(i) = change {
                ctx.metrics.incident_ended(i);
            }
        }
    }
    if changed {
        Api::<ResilientService>::namespaced(ctx.client.clone(), &ns)
            .patch_status(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&body))
            .await?;
        ctx.writes.record(status_key.clone(), &body["status"], 0, Instant::now());
    } else if !differs {
        // Only continuo writes this status: unlike a child, it needs no second look once the cache has it.
        ctx.writes.forget(&status_key);
    }
    events(ctx, svc, transitions.into_iter().chain(notes)).await;
    Ok(waits)
}

/// Publishes each transition as an Event about `svc`; one that cannot be recorded is logged, not retried.
async fn events(ctx: &Context, svc: &ResilientService, transitions: impl Iterator<Item = Transition>) {
    let reference = svc.object_ref(&());
    for t in transitions {
        let event = Event {
            type_: if t.warning { EventType::Warning } else { EventType::Normal },
            reason: t.reason,
            note: Some(t.message.chars().take(1000).collect()),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&event, &reference).await {
            warn!(service = %svc.name_any(), error = %e, "could not record event");
        }
    }
}
