//! The backup stage of a plan.

use k8s_openapi::api::batch::v1::CronJob;

use super::inputs::Inputs;
use crate::{
    api::ContinuityClass,
    backup::{self, BackupPlan},
};

/// The backup stage: what the service's copies need (tiers, runs, location checks, retention) and the CronJobs
/// that make them, running the agent only in eligible zones. A problem leaves existing CronJobs as they are.
pub(super) fn backups(
    i: &Inputs<'_>,
    class: &ContinuityClass,
    protected: &[String],
    eligible: &[String],
    regions: Option<&[String]>,
) -> (Option<BackupPlan>, Option<Vec<CronJob>>) {
    let Some(spec) = i.service.spec.backup.as_ref() else { return (None, Some(Vec::new())) };
    let class_spec = &class.spec;
    let mut planned = backup::plan(&backup::Inputs {
        policy: class_spec.backup.as_ref(),
        backup: spec,
        objectives: &class_spec.objectives,
        residency: class_spec.residency.as_ref(),
        zones: protected,
        observed: backup::Observed { location: i.backups.location, points: i.backups.points, now: i.now },
    });
    planned.agent_zones = eligible.to_vec();
    planned.agent_regions = regions.map(<[String]>::to_vec);
    let image = i.config.agent_image.as_deref();
    if spec.agent.is_none() && image.is_none() && planned.problem.is_none() {
        planned.problem = Some(crate::verdict::problem(
            "AgentNotSet",
            "spec.backup names no agent and the operator has no reference agent image (--agent-image, the chart's \
             agent.image): no copy can be made",
        ));
    }
    let cron_jobs = match (&planned.problem, i.backups.location) {
        // A drill's copy of a service makes no copy of its own: it only reads the service's.
        _ if crate::backup::jobs::copies_of(i.service).is_some() => Some(Vec::new()),
        (None, Some(location)) => {
            let agent = backup::jobs::Agent {
                service: i.service,
                location,
                keys: &i.config.keys,
                zones: eligible,
                regions,
                image,
            };
            Some(planned.runs.iter().map(|r| agent.cron_job(r, &planned.time_zone)).collect())
        }
        _ => None,
    };
    (Some(planned), cron_jobs)
}
