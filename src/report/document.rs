//! A report as a document: what to report on (a month, a namespace, a format), the objects it reads, and the
//! rendered text.

use jiff::Timestamp;

use super::{Inputs, Report, build, html, markdown};
use crate::api::{ContinuityClass, RecoveryPoint, ResilientService, RestoreRequest};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Html,
    Markdown,
    Json,
}

/// What to report on.
pub struct Request {
    /// `YYYY-MM`.
    pub month: String,
    pub namespace: Option<String>,
    pub format: Format,
    /// The instant the report is made as of (a past month is whole; the current one ends here).
    pub now: Timestamp,
}

/// The objects a report reads.
#[derive(Default)]
pub struct Objects {
    pub services: Vec<ResilientService>,
    pub classes: Vec<ContinuityClass>,
    pub points: Vec<RecoveryPoint>,
    pub restores: Vec<RestoreRequest>,
    pub drills: Vec<crate::api::ContinuityDrill>,
    pub site_failovers: Vec<crate::api::SiteFailover>,
}

/// The current month, `YYYY-MM`, in UTC.
pub fn this_month(now: Timestamp) -> String {
    now.strftime("%Y-%m").to_string()
}

/// The report of `objects`, rendered.
pub fn render(objects: &Objects, req: &Request) -> Result<String, String> {
    let services: Vec<ResilientService> = objects
        .services
        .iter()
        .filter(|s| req.namespace.as_deref().is_none_or(|ns| s.metadata.namespace.as_deref() == Some(ns)))
        .cloned()
        .collect();
    let report = build(&Inputs {
        month: &req.month,
        now: req.now,
        services: &services,
        classes: &objects.classes,
        points: &objects.points,
        restores: &objects.restores,
        drills: &objects.drills,
        site_failovers: &objects.site_failovers,
    })?;
    format(&report, req.format)
}

/// `report` in `format`.
pub fn format(report: &Report, format: Format) -> Result<String, String> {
    Ok(match format {
        Format::Html => html::render(report),
        Format::Markdown => markdown::render(report),
        Format::Json => serde_json::to_string_pretty(report).map_err(|e| e.to_string())? + "\n",
    })
}
