//! The Region objective's verdicts: whether a site's loss can be recovered from inside the RTO, and with no more
//! data lost than the RPO, on these sites — in numbers.
//!
//! The timeline of a site loss: Karmada marks the site's clusters not Ready after its cluster-monitor grace
//! period; with `Automatic` failover continuo waits its hold, then moves the placement (a `Declared` failover
//! starts the clock at the declaration instead: the time to declare a disaster is the contract's, not the
//! software's); Karmada propagates the service to the recovery site, whose continuo starts it (Cold: from nothing,
//! and a stateful service restores its newest copy first; Warm: scales up the standby).

use jiff::Timestamp;

use super::{Cluster, members};
use crate::{
    api::{Scope, SiteFailoverMode, Sites, Span, Standby},
    backup::{self, BackupPlan},
    verdict::Verdict,
};

/// How fast Karmada and the member clusters act. Configurable on the operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Karmada's `--cluster-monitor-grace-period`: a silent member turns not Ready after it.
    pub cluster_grace: Span,
    /// Automatic failover: how long continuo waits after a site turned not Ready before moving the service.
    pub hold: Span,
    /// From a placement change to the member's continuo applying the service: Karmada's scheduling and
    /// propagation, and one reconcile.
    pub propagation: Span,
}

impl Default for Timing {
    fn default() -> Self {
        Timing { cluster_grace: Span::from_secs(40), hold: Span::from_secs(120), propagation: Span::from_secs(15) }
    }
}

/// What the Region verdicts are judged from.
pub struct Situation<'a> {
    pub sites: &'a Sites,
    pub clusters: &'a [Cluster],
    /// Seconds a new pod of the service needs to become Ready.
    pub startup: u64,
    /// Whether the service keeps data on volumes of its own (a Cold site restores it before starting).
    pub stateful: bool,
    /// The restore's own time, when a Restore drill measured it.
    pub restore: Option<u64>,
    /// The service's backup plan, where it has one.
    pub backup: Option<&'a BackupPlan>,
    pub timing: &'a Timing,
    pub now: Timestamp,
}

/// The seconds from a site's loss (Automatic) or its declaration (Declared) to the service Ready at a recovery
/// site, and how they add up, in words; `None` for the restore when it is needed and not measured.
pub fn recovery_secs(s: &Situation<'_>) -> (Option<u64>, String) {
    let t = s.timing;
    let mut parts = Vec::new();
    let mut secs = 0;
    if s.sites.failover == SiteFailoverMode::Automatic {
        secs += t.cluster_grace.as_secs() + t.hold.as_secs();
        parts.push(format!("Karmada's grace {} + continuo's hold {}", t.cluster_grace, t.hold));
    }
    secs += t.propagation.as_secs() + s.startup;
    parts.push(format!("propagation {} + start-up {}s", t.propagation, s.startup));
    let needs_restore = s.stateful && s.sites.standby == Standby::Cold;
    match (needs_restore, s.restore) {
        (true, Some(r)) => {
            secs += r;
            parts.push(format!("restore {r}s (measured)"));
        }
        (true, None) => return (None, parts.join(" + ")),
        _ => {}
    }
    let from = if s.sites.failover == SiteFailoverMode::Automatic { "the loss" } else { "the declaration" };
    (Some(secs), format!("{secs}s from {from}: {}", parts.join(" + ")))
}

/// The Region RTO verdict.
pub fn rto(s: &Situation<'_>, rto: Span) -> (Verdict, &'static str, String) {
    if let Some(site) = s.sites.sites.iter().skip(1).find(|site| members(site, s.clusters).is_empty()) {
        return (
            Verdict::NotFeasible,
            "NoRecoverySite",
            format!("Region: RTO {rto} not feasible — no Karmada cluster of recovery site {} is registered", site.name),
        );
    }
    match recovery_secs(s) {
        (None, how) => (
            Verdict::Unknown,
            "RestoreNotMeasured",
            format!(
                "Region: RTO {rto} not verified — a Cold site restores the service's volumes before it starts, and \
                 the restore's time is not measured yet (a Restore drill measures it); the rest: {how}"
            ),
        ),
        (Some(secs), how) if secs <= rto.as_secs() => {
            (Verdict::Feasible, "SiteFailoverInTime", format!("Region: RTO {rto} feasible — {how} ≤ {rto}"))
        }
        (Some(_), how) => {
            (Verdict::NotFeasible, "SiteFailoverTooSlow", format!("Region: RTO {rto} not feasible — {how} > {rto}"))
        }
    }
}

/// The service's copies as seen from Karmada's control plane: the class's tiers and the location's checks as the
/// members plan them, and the newest good copy any member reports (the catalog lives in the members).
pub fn copies(
    svc: &crate::api::ResilientService,
    class: &crate::api::ContinuityClass,
    location: Option<&crate::api::BackupLocation>,
    newest: Option<Timestamp>,
    now: Timestamp,
) -> Option<BackupPlan> {
    let backup = svc.spec.backup.as_ref()?;
    let inputs = backup::Inputs {
        policy: class.spec.backup.as_ref(),
        backup,
        objectives: &class.spec.objectives,
        residency: class.spec.residency.as_ref(),
        zones: &[],
        observed: backup::Observed { location, points: &[], now },
    };
    let mut plan = backup::plan(&inputs);
    plan.newest = newest;
    Some(plan)
}

/// The regions of the primary site's clusters, as Karmada records them.
fn primary_regions(s: &Situation<'_>) -> Vec<String> {
    members(s.sites.primary(), s.clusters).iter().filter_map(|c| c.region.clone()).collect()
}

/// The Region RPO verdict: as for a zone, from the copies' cadence and age, but a copy counts only when it is
/// stored outside the primary site's regions (the site a copy protects must not hold it), and RPO 0 would need
/// synchronous replication between sites, which continuo does not judge.
pub fn rpo(s: &Situation<'_>, rpo: Span) -> (Verdict, &'static str, String) {
    if rpo.as_secs() == 0 {
        return (
            Verdict::NotFeasible,
            "NeedsCrossSiteReplication",
            "Region: RPO 0s not feasible — losing no data when a site is lost needs synchronous replication between \
             sites; copies cannot give it"
                .to_string(),
        );
    }
    let regions = primary_regions(s);
    if let Some((region, _)) = s.backup.and_then(|b| b.stored_in.as_ref())
        && regions.contains(region)
    {
        return (
            Verdict::NotFeasible,
            "CopiesInProtectedSite",
            format!(
                "Region: RPO {rpo} not feasible — the copies are stored in region {region}, where the primary site \
                 runs: its loss takes them too"
            ),
        );
    }
    backup::rpo_verdict(Scope::Region, rpo, s.backup, s.now)
}
