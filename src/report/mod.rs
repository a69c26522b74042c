//! The monthly continuity report: per service, the promise, the verdicts now, the month's availability against its
//! target, every incident against its RTO, the copies held and their age against the RPO, and the restores — built
//! from what continuo records (status, recovery points, restore requests) and nothing else, so that it never claims
//! more than its evidence. Pure: the caller reads the cluster (or files) and the clock; [`markdown`], [`html`] and
//! JSON (the model itself, serialized) render it; [`document`] picks one.

pub mod charts;
pub mod document;
pub mod html;
pub mod markdown;
mod model;
pub mod sites;
pub mod words;

use std::collections::BTreeMap;

use jiff::{Timestamp, tz::TimeZone};
use kube::ResourceExt;

use crate::api::{ContinuityClass, RecoveryPoint, ResilientService, RestoreRequest};
pub use model::*;

/// What a report is made of.
pub struct Inputs<'a> {
    /// `YYYY-MM`.
    pub month: &'a str,
    pub now: Timestamp,
    pub services: &'a [ResilientService],
    pub classes: &'a [ContinuityClass],
    pub points: &'a [RecoveryPoint],
    pub restores: &'a [RestoreRequest],
    pub drills: &'a [crate::api::ContinuityDrill],
    /// Declared site failovers (read on Karmada's control plane; none elsewhere).
    pub site_failovers: &'a [crate::api::SiteFailover],
}

/// The month `YYYY-MM` in `tz`: its first instant and the first instant of the next month.
pub fn month_window(month: &str, tz: &TimeZone) -> Result<(Timestamp, Timestamp), String> {
    let bad = || format!("--month {month:?}: expected YYYY-MM, such as 2026-11");
    let (y, m) = month.split_once('-').ok_or_else(bad)?;
    let (y, m): (i16, i8) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if !(1970..=9999).contains(&y) {
        return Err(bad());
    }
    let first = jiff::civil::Date::new(y, m, 1).map_err(|_| bad())?;
    let next = first.checked_add(jiff::Span::new().months(1)).map_err(|_| bad())?;
    let at = |d: jiff::civil::Date| d.to_zoned(tz.clone()).map(|z| z.timestamp()).map_err(|e| e.to_string());
    Ok((at(first)?, at(next)?))
}

/// The report of `inputs.month`, services in namespace/name order.
pub fn build(inputs: &Inputs<'_>) -> Result<Report, String> {
    month_window(inputs.month, &TimeZone::UTC)?;
    let classes: BTreeMap<String, &ContinuityClass> = inputs.classes.iter().map(|c| (c.name_any(), c)).collect();
    // Each service's points and restores, found once (a month of daily copies of 1,000 services is 30,000 points).
    let mut points: BTreeMap<(String, &str), Vec<&RecoveryPoint>> = BTreeMap::new();
    for p in inputs.points {
        points.entry((p.namespace().unwrap_or_default(), p.spec.service.as_str())).or_default().push(p);
    }
    let mut restores: BTreeMap<(String, &str), Vec<&RestoreRequest>> = BTreeMap::new();
    for r in inputs.restores {
        restores.entry((r.namespace().unwrap_or_default(), r.spec.service.as_str())).or_default().push(r);
    }
    let mut services: Vec<ServiceReport> = Vec::new();
    for svc in inputs.services {
        let class = classes.get(&svc.spec.class_name).copied();
        let tz = class
            .and_then(|c| c.spec.availability.as_ref())
            .and_then(|a| TimeZone::get(&a.time_zone).ok())
            .unwrap_or(TimeZone::UTC);
        let (start, end) = month_window(inputs.month, &tz)?;
        let window = Window { start, end: end.min(inputs.now).max(start), month: inputs.month };
        let key = (svc.namespace().unwrap_or_default(), svc.metadata.name.as_deref().unwrap_or_default());
        let (mine, asked) =
            (points.get(&key).map_or(&[][..], Vec::as_slice), restores.get(&key).map_or(&[][..], Vec::as_slice));
        let mut report = model::service(svc, class, mine, asked, &window);
        report.drills = inputs
            .drills
            .iter()
            .filter(|d| d.namespace() == svc.namespace() && d.spec.service == key.1)
            .filter_map(|d| model::drill(d, &window))
            .collect();
        report.site_failovers = inputs
            .site_failovers
            .iter()
            .filter(|f| f.namespace() == svc.namespace() && f.spec.service == key.1)
            .filter_map(|f| sites::failover(f, svc, (window.start, window.end)))
            .collect();
        services.push(report);
    }
    services.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Ok(Report { month: inputs.month.to_string(), generated_at: inputs.now.to_string(), services })
}

/// Seconds as a person reads them: `45s`, `12m 5s`, `3h 20m`, `2d 4h`.
pub fn human(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests;
