//! A class's drill policy (`drills: {every, scenarios}`): whether a service passed a drill of each required
//! scenario within the period, as the `DrillsCurrent` condition says it, and when that turns.

use jiff::Timestamp;

use crate::api::{DrillPolicy, LastDrill};

/// The verdict on a service's drills.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// `True` or `False`.
    pub status: &'static str,
    /// `DrillsCurrent` or `DrillOverdue`.
    pub reason: &'static str,
    pub message: String,
    /// When a drill passed now falls due: look again then.
    pub review: Option<Timestamp>,
}

/// The part of a policy a member cluster judges: every scenario but `SiteRestore`, whose drills run on Karmada's
/// control plane and are judged there (`status.site.drills`); `None` when nothing is left.
pub fn in_cluster(policy: &DrillPolicy) -> Option<DrillPolicy> {
    let scenarios: Vec<_> =
        policy.scenarios.iter().copied().filter(|s| *s != crate::api::DrillScenario::SiteRestore).collect();
    (!scenarios.is_empty()).then(|| DrillPolicy { scenarios, ..policy.clone() })
}

/// Judges `last` (the service's last drills, with when each scenario last passed) against `policy` at `now`.
pub fn judge(policy: &DrillPolicy, last: &[LastDrill], now: Timestamp) -> Verdict {
    let every = policy.every.as_secs() as i64;
    let mut overdue = Vec::new();
    let mut current = Vec::new();
    let mut review: Option<Timestamp> = None;
    for scenario in &policy.scenarios {
        let passed = last.iter().find(|l| l.scenario == scenario.as_str()).and_then(|l| l.passed_at.as_ref());
        match passed.map(|p| (p.0, Timestamp::from_second(p.0.as_second() + every).unwrap_or(p.0))) {
            Some((at, due)) if due >= now => {
                current.push(format!("{} passed at {at}, due again by {due}", scenario.as_str()));
                review = Some(review.map_or(due, |r| r.min(due)));
            }
            Some((at, due)) => overdue.push(format!("{}: last passed at {at}, overdue since {due}", scenario.as_str())),
            None => overdue.push(format!("{}: never passed", scenario.as_str())),
        }
    }
    if overdue.is_empty() {
        return Verdict { status: "True", reason: "DrillsCurrent", message: current.join("; "), review };
    }
    let message = format!("the class requires a passed drill every {}: {}", policy.every, overdue.join("; "));
    Verdict { status: "False", reason: "DrillOverdue", message, review: None }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;
    use crate::api::{DrillScenario, Span};

    fn at(days: i64) -> Timestamp {
        Timestamp::from_second(1_796_000_000 + days * 86_400).unwrap()
    }

    fn last(scenario: &str, passed: Option<i64>) -> LastDrill {
        LastDrill {
            scenario: scenario.into(),
            name: "d".into(),
            phase: "Failed".into(),
            ended_at: Time(at(80)),
            rto_seconds: None,
            message: None,
            passed_at: passed.map(|d| Time(at(d))),
        }
    }

    #[test]
    fn each_required_scenario_must_have_passed_within_the_period() {
        let policy = DrillPolicy { every: Span::from_secs(90 * 86_400), scenarios: vec![DrillScenario::ZoneLoss] };
        // The last drill failed, but one passed 10 days in: current until day 100.
        let v = judge(&policy, &[last("ZoneLoss", Some(10))], at(80));
        assert_eq!((v.status, v.reason, v.review), ("True", "DrillsCurrent", Some(at(100))));
        let v = judge(&policy, &[last("ZoneLoss", Some(10))], at(101));
        assert_eq!((v.status, v.reason), ("False", "DrillOverdue"));
        assert!(v.message.contains("every 2160h: ZoneLoss: last passed at"), "{}", v.message);
        let v = judge(&policy, &[], at(0));
        assert!(v.message.ends_with("ZoneLoss: never passed"), "{}", v.message);
    }

    #[test]
    fn a_member_judges_every_scenario_but_the_site_drills_run_on_karmada() {
        let every = Span::from_secs(86_400);
        let both = DrillPolicy { every, scenarios: vec![DrillScenario::ZoneLoss, DrillScenario::SiteRestore] };
        assert_eq!(in_cluster(&both).map(|p| p.scenarios), Some(vec![DrillScenario::ZoneLoss]));
        let sites_only = DrillPolicy { every, scenarios: vec![DrillScenario::SiteRestore] };
        assert_eq!(in_cluster(&sites_only), None, "no DrillsCurrent in a member that never sees them");
    }
}
