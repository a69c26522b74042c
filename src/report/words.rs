//! The report's sentences and table cells as plain text, shared by the HTML and Markdown renderings (which add
//! their own markup around them).

use super::{
    BackupReport, DrillReport, IncidentReport, MonthAvailability, ObjectivesNow, PromisedObjective, RestoreReport,
    ServiceReport, human,
};

/// The summary's cells of a service: name, class, objectives now, the month's availability so far, incidents.
pub fn summary_cells(s: &ServiceReport) -> [String; 5] {
    let avail = s.availability.as_ref().and_then(|a| a.availability.clone()).map_or("—".into(), |a| format!("{a} %"));
    [
        format!("{}/{}", s.namespace, s.name),
        s.class.clone(),
        objectives_now(&s.objectives_now),
        avail,
        s.incidents.len().to_string(),
    ]
}

/// `all met` only when every verdict is `True`; otherwise what is not met and what is not verified, and why.
pub fn objectives_now(o: &ObjectivesNow) -> String {
    if o.all_met {
        return "all met".into();
    }
    let mut parts = Vec::new();
    if o.not_met > 0 {
        parts.push(format!("{} not met", o.not_met));
    }
    if o.not_verified > 0 {
        parts.push(format!("{} not verified ({})", o.not_verified, o.not_verified_reasons.join(", ")));
    }
    if o.met > 0 {
        parts.push(format!("{} met", o.met));
    }
    if parts.is_empty() { "—".into() } else { parts.join(", ") }
}

/// What follows the class's name in the promise: `(WarmStandby), 4 replicas declared; availability 99.9 %; data
/// stays in eu-south-1`.
pub fn promise_terms(s: &ServiceReport) -> String {
    let p = &s.promise;
    let mut out = format!("({}), {} replicas declared", s.mode.as_deref().unwrap_or("class not found"), p.replicas);
    if let Some(t) = &p.availability_target {
        out += &format!("; availability {t}");
    }
    if !p.residency.is_empty() {
        out += &format!("; data stays in {}", p.residency.join(", "));
    }
    out
}

/// An objective's cells: the failure, its RTO, its RPO.
pub fn objective_cells(o: &PromisedObjective) -> [String; 3] {
    [format!("{} lost", o.scope), human(o.rto_seconds), o.rpo_seconds.map_or("—".into(), human)]
}

/// A restore's cells: the request, its result, the copy's capture time, how long it took, what the agent said.
pub fn restore_cells(r: &RestoreReport) -> [String; 5] {
    [
        r.name.clone(),
        r.phase.clone().unwrap_or_else(|| "Pending".into()),
        r.captured_at.clone().unwrap_or_else(|| "—".into()),
        r.duration_seconds.map_or("—".into(), human),
        r.message.clone().unwrap_or_default(),
    ]
}

/// `99.950 % against 99.9 %`.
pub fn availability_lead(a: &MonthAvailability) -> String {
    format!(
        "{} % against {}",
        a.availability.as_deref().unwrap_or("—"),
        a.target.as_deref().map_or("no target".into(), |t| format!("{t} %"))
    )
}

/// `Observed …, degraded …, down …, not observed …; error budget left ….`
pub fn availability_figures(a: &MonthAvailability) -> String {
    format!(
        "Observed {}, degraded {}, down {}, not observed {}; error budget left {}.",
        human(a.observed_seconds),
        human(a.degraded_seconds),
        human(a.down_seconds),
        human(a.unobserved_seconds),
        a.error_budget_remaining_seconds.map_or("—".into(), human)
    )
}

/// An incident's cells: what was lost, when, recovered in, the RTO, the lowest Ready, the data lost. Whether the
/// RTO was kept is the caller's to mark.
pub fn incident_cells(i: &IncidentReport) -> [String; 6] {
    let data: Vec<String> = i
        .data_lost
        .iter()
        .map(|d| format!("{}: {}", d.source, d.rpo_seconds.map_or("unknown".into(), human)))
        .collect();
    [
        format!("{} {}", i.scope, i.subject),
        i.began.clone(),
        i.rto_seconds.map_or("not yet".into(), human),
        i.target_rto_seconds.map_or("—".into(), human),
        format!("{} of {}", i.lowest_ready, i.replicas),
        if data.is_empty() { "—".into() } else { data.join("; ") },
    ]
}

/// `Held now: 7 daily.`
pub fn copies_held(b: &BackupReport) -> String {
    let tiers: Vec<String> = b.points_by_tier.iter().map(|(t, n)| format!("{n} {t}")).collect();
    format!("Held now: {}.", if tiers.is_empty() { "none".into() } else { tiers.join(", ") })
}

/// The newest copy's worst age over the month, as the report words it.
pub struct WorstCopy {
    pub age: String,
    /// From when the copies held cover the month.
    pub from: String,
    /// The RPO, and whether the worst age kept it.
    pub rpo: Option<(String, bool)>,
}

/// Nothing when no good copy bears on the month.
pub fn worst_copy(b: &BackupReport) -> Option<WorstCopy> {
    let (worst, from) = (b.worst_age_seconds?, b.covered_from.clone()?);
    Some(WorstCopy { age: human(worst), from, rpo: b.rpo_seconds.map(|r| (human(r), worst <= r)) })
}

/// A drill's cells: the drill, what it exercised, its result, the RTO it achieved, the lowest Ready, its verdict.
pub fn drill_cells(d: &DrillReport) -> [String; 6] {
    [
        d.name.clone(),
        match (&d.zone, &d.site) {
            (Some(z), _) => format!("{} of {z}", d.scenario),
            (None, Some(site)) => format!("{} at {site}", d.scenario),
            (None, None) => d.scenario.clone(),
        },
        d.phase.clone(),
        d.rto_seconds.map_or("—".into(), human),
        d.lowest_ready.map_or("—".into(), |l| l.to_string()),
        d.message.clone().unwrap_or_default(),
    ]
}

/// The row of a site failover: declaration, move, result, RTO, data lost, detail.
pub fn site_failover_cells(f: &super::sites::SiteFailoverReport) -> [String; 6] {
    let judged = |within: Option<bool>| match within {
        Some(true) => " (within)",
        Some(false) => " (beyond)",
        None => "",
    };
    let data = match (&f.point, f.data_loss_seconds) {
        (Some(p), Some(loss)) => format!("{} from copy {p}{}", human(loss), judged(f.within_rpo)),
        _ => "not recorded".into(),
    };
    let reason = f.reason.as_deref().map_or(String::new(), |r| format!(": {r}"));
    [
        format!("{}{reason}", f.name),
        format!("{} → {}, declared {}", f.from.as_deref().unwrap_or("?"), f.to, f.declared),
        f.phase.clone(),
        f.rto_seconds.map_or("—".into(), |s| format!("{}{}", human(s), judged(f.within_rto))),
        data,
        f.message.clone().unwrap_or_default(),
    ]
}
