//! A Restore drill in the shell: the newest good copy from the cache, the agent's run (a Job labelled
//! `continuo.dev/action=drill`, running the agent's `restore` with `CONTINUO_RESTORE_TARGET=scratch`) created once,
//! and what it reported read back from its pod's termination message.

use k8s_openapi::api::batch::v1::Job;
use kube::{Api, ResourceExt, api::PostParams};
use tracing::warn;

use super::Context;
use crate::{
    api::{ContinuityClass, ContinuityDrill, ResilientService, Scope},
    backup::jobs::{self, ACTION_LABEL, Agent},
    drill::{
        Record,
        restore::{self, Copy, Promise, Run},
    },
    plan::Desired,
    workload::FIELD_MANAGER,
};

/// The action label of a Restore drill's run: not a restore request's, whose runs are looked up as `restore`.
const DRILL_ACTION: &str = "drill";

/// The drilled service: its spec, its class, and this reconcile's plan.
#[derive(Clone, Copy)]
pub(super) struct Subject<'a> {
    pub svc: &'a ResilientService,
    pub class: Option<&'a ContinuityClass>,
    pub desired: &'a Desired,
}

/// One step of the Restore drill `d` of `s`, from `before`.
pub(super) async fn step(
    ctx: &Context,
    s: Subject<'_>,
    d: &ContinuityDrill,
    before: &Record,
    other_running: bool,
    now: jiff::Timestamp,
) -> Record {
    let (svc, class) = (s.svc, s.class);
    let (ns, name) = (svc.namespace().unwrap_or_default(), svc.name_any());
    let refused = match (other_running, svc.spec.backup.as_ref()) {
        (true, _) => Some(("DrillRunning", format!("another drill of {name} is running"))),
        (_, None) => Some(("NoBackups", format!("{name} declares no backup: there is no copy to restore"))),
        _ => None,
    };
    let points = ctx.caches.recovery_points_of(&ns, &name);
    let newest = points
        .iter()
        .filter_map(|p| Some(Copy { name: p.metadata.name.as_deref()?, captured: p.available_since()? }))
        .max_by_key(|c| c.captured);
    let run_name = jobs::bounded_name(&d.name_any(), "-drill", 63);
    let run = observed_run(ctx, &ns, &name, &run_name);
    let objective = |scope| class.and_then(|c| c.spec.objective(scope));
    let promise = Promise {
        zone_rto: objective(Scope::Zone).map(|o| o.rto.as_secs() as i64),
        zone_rpo: objective(Scope::Zone).and_then(|o| o.rpo).map(|r| r.as_secs() as i64),
        timeout_seconds: d.spec.timeout.as_secs() as i64,
    };
    let (after, start) = restore::step(before, refused, newest, &run, &promise, now);
    if start && let Some(point) = after.point.as_deref() {
        let point = points.iter().find(|p| p.name_any() == point);
        if let Err(e) = start_run(ctx, s, d, point, &run_name).await {
            warn!(drill = %d.name_any(), error = %e, "starting the drill's restore failed; tried again shortly");
        }
    }
    after
}

/// The drill's run, as the caches hold it.
fn observed_run(ctx: &Context, ns: &str, service: &str, run_name: &str) -> Run {
    let runs = ctx.caches.agent_jobs_of(ns, service, DRILL_ACTION);
    let Some(job) = runs.iter().find(|j| j.name_any() == run_name) else { return Run::Absent };
    let Some(completed) = job.finished() else { return Run::Running };
    let status = job.status.as_ref();
    let started = status.and_then(|s| s.start_time.as_ref()).map(|t| t.0);
    let ended = status.and_then(|s| s.completion_time.as_ref()).map(|t| t.0);
    let now = ctx.now();
    Run::Finished {
        completed,
        report: ctx.caches.agent_report(ns, run_name),
        started: started.unwrap_or(now),
        ended: ended.unwrap_or(now),
    }
}

/// Creates the drill's run once (a run already there, from a step whose status write failed, is the run).
async fn start_run(
    ctx: &Context,
    s: Subject<'_>,
    d: &ContinuityDrill,
    point: Option<&crate::api::RecoveryPoint>,
    run_name: &str,
) -> Result<(), kube::Error> {
    let (svc, class, desired) = (s.svc, s.class, s.desired);
    let Some(point) = point else { return Ok(()) };
    let Some(location) = ctx.caches.location(&point.spec.location) else { return Ok(()) };
    let zones: Vec<String> = desired.zones.iter().filter(|z| z.eligible).map(|z| z.name.clone()).collect();
    let regions = class.and_then(|c| c.spec.residency.as_ref()).map(|r| r.regions.as_slice());
    let image = ctx.config.agent_image.as_deref();
    let agent = Agent { service: svc, location: &location, keys: &ctx.config.keys, zones: &zones, regions, image };
    let id = point.status.as_ref().and_then(|s| s.id.clone()).unwrap_or_default();
    let vars = [
        ("CONTINUO_POINT_ID", id),
        ("CONTINUO_RESTORE_SCOPE", "all".to_string()),
        ("CONTINUO_RESTORE_TARGET", "scratch".to_string()),
    ];
    let mut job = agent.job(run_name.to_string(), "restore", &point.name_any(), &d.uid().unwrap_or_default(), &vars);
    relabel(&mut job);
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), &svc.namespace().unwrap_or_default());
    let params = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() };
    match api.create(&params, &job).await {
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        other => other.map(|_| ()),
    }
}

/// The run is the agent's `restore`, labelled as a drill's (Job and pod).
fn relabel(job: &mut Job) {
    let mark = |labels: &mut Option<std::collections::BTreeMap<String, String>>| {
        labels.get_or_insert_with(Default::default).insert(ACTION_LABEL.into(), DRILL_ACTION.into());
    };
    mark(&mut job.metadata.labels);
    if let Some(spec) = job.spec.as_mut() {
        mark(&mut spec.template.metadata.get_or_insert_with(Default::default).labels);
    }
}
