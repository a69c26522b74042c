//! The handover stage, for a stateful service whose serving site is asked to hand over to another (the
//! `continuo.dev/site-handover` annotation Karmada carries, see `sites::handover`): every replica stops here, and
//! once none runs, one last copy of the stopped volumes is made, for the next site to restore.

use kube::ResourceExt;

use super::{desired::zone_of, inputs::Inputs};
use crate::{
    sites::handover::{Handover, Member, RunState, member},
    stateful::Volumes,
};

/// Records where the handover stands and the run to start, if the service is asked for one.
pub(super) fn stage(i: &Inputs<'_>, out: &mut Volumes) {
    let Some(h) = Handover::of(i.service).ok().flatten() else { return };
    let service = i.service.name_any();
    let running: i32 = i
        .children
        .iter()
        .map(|d| {
            let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
            want.max(d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0))
        })
        .sum();
    let run = h.run(&service);
    let set = copied_set(i, &service);
    let no_location = RunState::Failed("the service's BackupLocation does not exist".into());
    let state = match i.backups.location {
        None => &no_location,
        Some(_) => i.backups.handover.unwrap_or(&RunState::NotStarted),
    };
    let (status, start) = member(&Member {
        handover: &h,
        service: &service,
        running,
        set: set.as_deref(),
        run: state,
        point: i.backups.points.iter().find(|p| p.metadata.name.as_deref() == Some(run.as_str())),
    });
    out.handover = Some(status);
    out.handover_run = start;
}

/// The StatefulSet whose first replica's volumes the last copy is made of: the first zone (by name) the service
/// was meant to run in, as its status recorded it, whose StatefulSet exists; else the first that exists.
fn copied_set(i: &Inputs<'_>, service: &str) -> Option<String> {
    let zones = i.service.status.as_ref().map(|s| s.zones.as_slice()).unwrap_or_default();
    let mut meant: Vec<&str> = zones.iter().filter(|z| z.desired_replicas > 0).map(|z| z.name.as_str()).collect();
    meant.sort();
    let exists = |zone: &str| i.children.iter().any(|d| zone_of(d) == Some(zone));
    let mut live: Vec<&str> = i.children.iter().filter_map(zone_of).collect();
    live.sort();
    let zone = meant.into_iter().find(|z| exists(z)).or(live.first().copied())?;
    Some(crate::workload::deployment_name(service, zone))
}
