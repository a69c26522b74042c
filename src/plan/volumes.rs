//! The stateful stages, for a service with `volumeClaimTemplates`: gravity (a replica stays with its volume; one
//! whose zone is no longer usable is recreated elsewhere, its data restored from the newest off-zone copy or, with
//! none, not started) before the build; and after it, each zone's workload as a StatefulSet with its claims and,
//! where replicas were recreated, the agent's restore as an init container.

use jiff::Timestamp;
use k8s_openapi::{api::apps::v1::StatefulSet, apimachinery::pkg::apis::meta::v1::Time};

use super::{build::Built, desired::zone_of, inputs::Inputs, zones::Zones};
use crate::{
    api::{ContinuityClassSpec, Incident, Recovery, RecoveryPoint, Scope, WithoutCopy},
    backup::jobs::Agent,
    failover::incidents,
    placement::Placement,
    stateful::{self, Copy, Diverged, Held, Loss, Move, Start, Volumes, set},
};

fn time(t: Timestamp) -> Time {
    Time(Timestamp::from_second(t.as_second()).unwrap_or(t))
}

/// Gravity: the placement adjusted so that replicas stay with their volumes, and the moves carried out.
pub(super) fn gravity(i: &Inputs<'_>, class: &ContinuityClassSpec, zones: &Zones<'_>, p: &mut Placement) -> Volumes {
    let status = i.service.status.as_ref();
    let previous = status.map(|s| s.recoveries.as_slice()).unwrap_or_default();
    let claims = i.volumes.claims;
    let claims_in = |zone: &str| claims.iter().filter(|c| c.zone.as_deref() == Some(zone)).collect::<Vec<_>>();
    // A recovery stays in effect while its replicas exist, or while the zone it left still holds their volumes.
    let kept: Vec<Recovery> = previous
        .iter()
        .filter(|r| {
            let exists = i.children.iter().any(|d| {
                zone_of(d) == Some(r.zone.as_str())
                    && d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0) > r.first_ordinal
            });
            exists || !claims_in(&r.from_zone).is_empty()
        })
        .cloned()
        .collect();
    let held = held(i, zones, &kept);
    let arriving = super::arrival::arriving(i, &held, &kept);
    let moves = match &arriving {
        Some(a) => super::arrival::moves(p, a),
        None => stateful::hold(p, i.service.spec.replicas, &held),
    };
    let mut out = Volumes { recoveries: kept, ..Volumes::default() };
    if let Some(a) = &arriving {
        super::arrival::catalog(i, a, &mut out);
    }
    for m in moves {
        // While an arrival waits (its copies being listed), no move is tried: nothing starts, and nothing is refused.
        match out.waiting.is_none().then(|| recover(i, class, zones, &m, arriving.as_ref(), &out)) {
            Some(Ok(r)) => out.recoveries.push(r),
            not_started => {
                if let Some(t) = p.targets.iter_mut().find(|t| t.zone == m.zone) {
                    t.replicas -= m.replicas;
                }
                if let Some(Err(why)) = not_started {
                    out.refused.push(why);
                }
            }
        }
    }
    for r in &mut out.recoveries {
        let ready = i.children.iter().find(|d| zone_of(d) == Some(r.zone.as_str())).map_or(0, super::ready_replicas);
        if r.ready_at.is_none() && ready >= r.first_ordinal + r.replicas {
            r.ready_at = Some(time(i.now));
        }
    }
    out.recoveries.truncate(16);
    let returned: std::collections::BTreeSet<&str> =
        out.recoveries.iter().map(|r| r.from_zone.as_str()).filter(|z| zones.eligible(z)).collect();
    let diverged: Vec<Diverged> = returned
        .into_iter()
        .flat_map(|zone| claims_in(zone).into_iter().filter_map(|c| diverged(i, &out.recoveries, zone, &c.name)))
        .collect();
    out.diverged = diverged;
    super::handover::stage(i, &mut out);
    out
}

/// A claim of a zone whose replicas were recreated elsewhere, paired with the claim now serving in its place: the
/// claim `<template>-<service>-<zone>-<ordinal>` of the `ordinal`-th replica that moved out of `zone`.
fn diverged(i: &Inputs<'_>, recoveries: &[Recovery], zone: &str, claim: &str) -> Option<Diverged> {
    let service = kube::ResourceExt::name_any(i.service);
    let from = recoveries.iter().filter(|r| r.from_zone == zone);
    let first = from.clone().next()?;
    let old_set = crate::workload::deployment_name(&service, zone);
    let parsed = i.service.spec.volume_claim_templates.iter().find_map(|t| {
        let ordinal = claim.strip_prefix(&format!("{}-{old_set}-", t.metadata.name))?.parse::<i32>().ok()?;
        Some((t.metadata.name.as_str(), ordinal))
    });
    let mut into = (first, None);
    if let Some((template, ordinal)) = parsed {
        let mut offset = 0;
        for r in from {
            if ordinal < offset + r.replicas {
                let set = crate::workload::deployment_name(&service, &r.zone);
                into = (r, Some(format!("{template}-{set}-{}", r.first_ordinal + ordinal - offset)));
                break;
            }
            offset += r.replicas;
        }
    }
    let (r, serving) = into;
    Some(Diverged {
        claim: claim.to_string(),
        zone: zone.to_string(),
        at: r.lost_at.0,
        serving,
        serving_zone: r.zone.clone(),
        point: r.point.clone(),
    })
}

/// What each zone held, as status records it (or, without status, as the live StatefulSets run).
fn held(i: &Inputs<'_>, zones: &Zones<'_>, kept: &[Recovery]) -> Vec<Held> {
    let forfeited = |z: &str| kept.iter().any(|r| r.from_zone == z);
    let status = i.service.status.as_ref().filter(|s| !s.zones.is_empty());
    let recorded: Vec<(String, i32)> = match status {
        Some(s) => s.zones.iter().map(|z| (z.name.clone(), z.desired_replicas)).collect(),
        None => i.children.iter().filter_map(|d| Some((zone_of(d)?.to_string(), d.spec.as_ref()?.replicas?))).collect(),
    };
    recorded
        .into_iter()
        .map(|(zone, replicas)| Held { eligible: zones.eligible(&zone), forfeited: forfeited(&zone), zone, replicas })
        .collect()
}

/// Carries out one move: the copy its new volumes are restored from, and what that cost in data. `Err`: why it
/// cannot start. A move from a lost site (`site`) restores a copy stored outside that site, and its data lost is
/// judged against the Region RPO.
fn recover(
    i: &Inputs<'_>,
    class: &ContinuityClassSpec,
    zones: &Zones<'_>,
    m: &Move,
    site: Option<&crate::sites::arrival::Arrival>,
    v: &Volumes,
) -> Result<Recovery, String> {
    let detected = i.failover.detection.zones.get(&m.from_zone).map_or(i.now, |l| l.began.min(i.now));
    let lost = site.map_or(detected, |a| a.lost_at.min(i.now));
    // A zone whose nodes are all gone is known no more: its region is then the one every known zone is in, if one.
    let region = zones.known.get(&m.from_zone).and_then(|z| z.region.as_deref()).or_else(|| {
        let mut regions = zones.known.values().map(|z| z.region.as_deref());
        let first = regions.next().flatten();
        regions.all(|r| r == first).then_some(first).flatten()
    });
    let site_name = site.map(|a| format!("site {}", a.from));
    let loss = match (site, &site_name) {
        (Some(a), Some(name)) => Loss { zone: name, region: None, at: lost, site_regions: Some(&a.regions) },
        _ => Loss { zone: &m.from_zone, region, at: lost, site_regions: None },
    };
    let copies: Vec<Copy<'_>> = super::arrival::points(i, v).filter_map(copy).collect();
    let empty = class.recovery.as_ref().is_some_and(|r| r.without_copy == WithoutCopy::StartEmpty);
    let mut record = Recovery {
        zone: m.zone.clone(),
        from_zone: m.from_zone.clone(),
        from_site: site.map(|a| a.from.clone()),
        first_ordinal: m.first_ordinal,
        replicas: m.replicas,
        lost_at: time(lost),
        point: None,
        captured_at: None,
        data_loss_seconds: None,
        within_rpo: None,
        ready_at: None,
    };
    let who = format!("{} replica(s) from {} in {}", m.replicas, site_name.as_deref().unwrap_or(&m.from_zone), m.zone);
    let start = match site.and_then(|a| a.copy.as_deref()) {
        Some(id) => super::arrival::handed_over(i, v, id),
        None => stateful::start_from(&copies, &loss, empty),
    };
    match start {
        Start::Restore { point, captured } => {
            if i.backups.location.is_none() {
                return Err(format!("{who} not started: the service's BackupLocation does not exist"));
            }
            let scope = if site.is_some() { Scope::Region } else { Scope::Zone };
            let rpo = class.objective(scope).and_then(|o| o.rpo).map(|r| r.as_secs() as i64);
            let loss = stateful::data_loss(lost, captured, rpo);
            record.point = Some(point);
            record.captured_at = Some(time(captured));
            record.data_loss_seconds = Some(loss.seconds);
            record.within_rpo = loss.within_rpo;
            Ok(record)
        }
        Start::Empty => Ok(record),
        Start::Refuse { message, .. } => Err(format!("{who} {message}")),
    }
}

/// A recovery point as a copy the restore decision weighs.
fn copy(p: &RecoveryPoint) -> Option<Copy<'_>> {
    let s = p.status.as_ref()?;
    Some(Copy {
        name: p.metadata.name.as_deref()?,
        captured: s.captured_at.as_ref()?.0,
        zone: s.zone.as_deref(),
        region: s.region.as_deref(),
        good: p.available_since().is_some(),
    })
}

/// A zone back from a loss whose replicas were recreated elsewhere runs nothing on its diverged volumes: its role
/// says so (`Diverged`) in status and in `continuo plan`.
fn mark_diverged(zones: &mut [crate::api::ZoneStatus], v: &Volumes) {
    for z in zones.iter_mut().filter(|z| z.eligible && z.desired_replicas == 0) {
        if v.diverged.iter().any(|d| d.zone == z.name) {
            z.role = "Diverged".into();
        }
    }
}

/// The stateful stage after the drain: one writer (a zone whose replicas moved runs none), each zone's workload as
/// a StatefulSet, the zones back from a loss marked `Diverged`, and the backup runs copying the serving replica.
pub(super) fn stateful(
    i: &Inputs<'_>,
    shape: &crate::workload::Shape<'_>,
    v: &Volumes,
    built: &mut Built,
    cron_jobs: Option<&mut Vec<k8s_openapi::api::batch::v1::CronJob>>,
) -> Vec<StatefulSet> {
    stand_down(i, shape, v, built);
    let sets = into_stateful_sets(i, v, built);
    mark_diverged(&mut built.zones, v);
    if let Some(jobs) = cron_jobs {
        back_up_from(i, &sets, jobs);
        // Handing over to another site: the last copy is the handover's; no scheduled run meanwhile (it would find no
        // running replica to copy).
        if v.handover.is_some() {
            jobs.iter_mut().filter_map(|j| j.spec.as_mut()).for_each(|s| s.suspend = Some(true));
        }
    }
    sets
}

/// One writer: a zone whose replicas were recreated elsewhere from a copy (or empty) runs none of them on its old
/// volumes, from the reconcile that recreates them on. Its StatefulSet is written at 0 then, while the zone is
/// still down (the API server takes the write; the kubelets find it so when they return), and stays at 0 through
/// the hold-down and after, whether the zone was lost or drained by a person.
fn stand_down(i: &Inputs<'_>, shape: &crate::workload::Shape<'_>, v: &Volumes, built: &mut Built) {
    let zones: std::collections::BTreeSet<&str> = v.recoveries.iter().map(|r| r.from_zone.as_str()).collect();
    for zone in zones {
        let name = crate::workload::deployment_name(&kube::ResourceExt::name_any(i.service), zone);
        if !i.children.iter().any(|d| zone_of(d) == Some(zone)) || built.delete.contains(&name) {
            continue;
        }
        match built.deployments.iter_mut().find(|d| zone_of(d) == Some(zone)) {
            Some(d) => d.spec.iter_mut().for_each(|s| s.replicas = Some(0)),
            None => built.deployments.push(shape.deployment(zone, 0, "Diverged")),
        }
        built.zones.iter_mut().filter(|z| z.name == zone).for_each(|z| z.desired_replicas = 0);
    }
}

/// Adds the restore init container to each zone's workload that recovers replicas from a copy (before the rollout
/// stage, so that its digest covers it and only that zone rolls).
pub(super) fn restore_into(i: &Inputs<'_>, zones: &Zones<'_>, v: &Volumes, built: &mut Built) {
    let Some(location) = i.backups.location else { return };
    let image = i.config.agent_image.as_deref();
    let agent =
        Agent { service: i.service, location, keys: &i.config.keys, zones: &zones.eligible, regions: None, image };
    let pod = agent.pod("restore", &[]);
    for r in &v.recoveries {
        let Some(point) = r.point.as_deref() else { continue };
        let id = super::arrival::points(i, v).find(|p| p.metadata.name.as_deref() == Some(point));
        let id = id.and_then(|p| p.status.as_ref()?.id.as_deref()).unwrap_or_default();
        let Some(d) = built.deployments.iter_mut().find(|d| zone_of(d) == Some(r.zone.as_str())) else { continue };
        let Some(template) = d.spec.as_mut().map(|s| &mut s.template) else { continue };
        let restore = set::Restore { point, point_id: id, first_ordinal: r.first_ordinal, replicas: r.replicas };
        set::add_restore(template, &pod, &i.service.spec.volume_claim_templates, &restore);
    }
}

/// Each zone's workload as a StatefulSet. A zone growing by restored replicas holds the pods it had until they
/// are Ready, so adding the restore restarts none of them; a zone not due in a rollout holds all of its pods; a
/// zone a restore request quiesces runs none, nor does any zone of a site handing over to another (their status
/// still says what they are meant to run).
fn into_stateful_sets(i: &Inputs<'_>, v: &Volumes, built: &mut Built) -> Vec<StatefulSet> {
    let claims = &i.service.spec.volume_claim_templates;
    std::mem::take(&mut built.deployments)
        .into_iter()
        .map(|d| {
            let spec = d.spec.as_ref();
            let replicas = spec.and_then(|s| s.replicas).unwrap_or(0);
            let restoring = v
                .recoveries
                .iter()
                .find(|r| zone_of(&d) == Some(r.zone.as_str()) && r.ready_at.is_none() && r.first_ordinal > 0);
            let partition = match (spec.and_then(|s| s.paused).unwrap_or(false), restoring) {
                (true, _) => set::paused_partition(replicas),
                (false, Some(r)) => r.first_ordinal,
                (false, None) => 0,
            };
            let mut d = d;
            if (v.handover.is_some() || (i.quiesced.is_some() && zone_of(&d) == i.quiesced))
                && let Some(spec) = d.spec.as_mut()
            {
                spec.replicas = Some(0);
            }
            set::stateful_set(d, claims, partition)
        })
        .collect()
}

/// A stateful service's copies are made from its first running replica (the first zone's StatefulSet that runs
/// one, ordinal 0): each backup run mounts that replica's claims, read-only, beside its pod.
fn back_up_from(i: &Inputs<'_>, sets: &[StatefulSet], jobs: &mut [k8s_openapi::api::batch::v1::CronJob]) {
    let running = sets.iter().find(|s| s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0) > 0);
    let Some(name) = running.and_then(|s| s.metadata.name.as_deref()) else { return };
    let claims = &i.service.spec.volume_claim_templates;
    for job in jobs {
        let pod = job.spec.as_mut().and_then(|s| s.job_template.spec.as_mut()).map(|s| &mut s.template);
        if let Some(pod) = pod {
            set::mount_for_backup(pod, claims, name, 0, true);
        }
    }
}

/// What a stateful service's Node objectives are judged on: its claims' StorageClasses and the operator's fencing.
pub(super) fn storage(i: &Inputs<'_>, startup: u64) -> stateful::Storage {
    let loss = stateful::NodeLoss {
        fence_after_seconds: i.config.timing.fence_after.map(|f| f.as_secs() as i64),
        attach_seconds: stateful::nodes::ATTACH_SECONDS,
        startup_seconds: startup as i64,
    };
    stateful::storage(&i.service.spec.volume_claim_templates, i.volumes.storage_classes, loss)
}

/// The zone incident a recovery belongs to (same zone, same beginning) gets the point restored and the data lost.
pub(super) fn annotate(incidents: &mut [Incident], changes: &mut [incidents::Change], v: &Volumes) {
    let fill = |i: &mut Incident| {
        let r = v.recoveries.iter().find(|r| r.from_zone == i.subject && r.lost_at == i.began && r.point.is_some());
        if let (Some(r), Scope::Zone) = (r, i.scope) {
            i.restored_point = r.point.clone();
            i.restored_captured_at = r.captured_at.clone();
            i.data_loss_seconds = r.data_loss_seconds;
            i.within_rpo = r.within_rpo;
        }
    };
    incidents.iter_mut().for_each(fill);
    for c in changes {
        match c {
            incidents::Change::Started(i) | incidents::Change::Ended(i) => fill(i),
        }
    }
}

/// A stateful spec's own mistakes: a claim no container mounts, a pod volume named like a claim.
pub(super) fn validate(i: &Inputs<'_>) -> Result<(), crate::verdict::Problem> {
    let spec = &i.service.spec;
    crate::sites::arrival::Arrival::of(i.service).map_err(|why| crate::verdict::problem("InvalidSiteArrival", why))?;
    crate::sites::handover::Handover::of(i.service)
        .map_err(|why| crate::verdict::problem("InvalidSiteHandover", why))?;
    let pod = spec.template.spec.as_ref();
    let mounted = |name: &str| {
        let containers = pod.into_iter().flat_map(|p| p.containers.iter().chain(p.init_containers.iter().flatten()));
        containers.flat_map(|c| c.volume_mounts.iter().flatten()).any(|m| m.name == name)
    };
    for c in &spec.volume_claim_templates {
        let name = c.metadata.name.as_str();
        if pod.and_then(|p| p.volumes.as_ref()).is_some_and(|v| v.iter().any(|v| v.name == name)) {
            return Err(crate::verdict::problem(
                "InvalidSpec",
                format!("template.spec.volumes has {name:?}, the name of a volume claim template: rename one of them"),
            ));
        }
        if !mounted(name) {
            return Err(crate::verdict::problem(
                "InvalidSpec",
                format!("volume claim template {name:?} is not mounted by any container of the template"),
            ));
        }
    }
    if let (Some(classes), true) = (i.volumes.storage_classes, !spec.volume_claim_templates.is_empty()) {
        let missing = stateful::nodes::missing_classes(&spec.volume_claim_templates, classes);
        if !missing.is_empty() {
            return Err(crate::verdict::problem(
                "StorageClassNotFound",
                format!("StorageClass {} does not exist: no claim could be provisioned", missing.join(", ")),
            ));
        }
    }
    Ok(())
}
