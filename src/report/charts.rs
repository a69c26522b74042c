//! The report's charts as inline SVG: no script, no external asset, and a size of their own, so that the page
//! prints to PDF as it shows.

use std::fmt::Write;

use super::{IncidentReport, ServiceReport, human};

const W: i64 = 640;
const PAD: i64 = 8;
/// Where the incident bars start, right of their labels.
const BAR: i64 = 260;

fn x(offset: i64, span: i64) -> i64 {
    PAD + offset.clamp(0, span) * (W - 2 * PAD) / span.max(1)
}

fn open(out: &mut String, height: i64, label: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart" role="img" aria-label="{label}" width="{W}" height="{height}" viewBox="0 0 {W} {height}" xmlns="http://www.w3.org/2000/svg">"#
    );
}

/// The month as a bar, green where capacity held, red where an incident had it below the declared replicas.
pub fn availability_timeline(out: &mut String, s: &ServiceReport, span: i64) {
    open(out, 44, "availability timeline");
    let _ = write!(out, r##"<rect x="{PAD}" y="8" width="{}" height="18" fill="#2e7d32"/>"##, W - 2 * PAD);
    for i in &s.incidents {
        let (a, b) = i.span;
        let width = (x(b, span) - x(a, span)).max(2);
        let _ = write!(
            out,
            r##"<rect x="{}" y="8" width="{width}" height="18" fill="#c62828"><title>{} {}: {}</title></rect>"##,
            x(a, span),
            i.scope,
            esc(&i.subject),
            i.rto_seconds.map_or("open".into(), human)
        );
    }
    let _ = write!(
        out,
        r##"<text x="{PAD}" y="40" font-size="10" fill="#555">{}</text><text x="{}" y="40" font-size="10" fill="#555" text-anchor="end">{}</text></svg>"##,
        &s.from[..10],
        W - PAD,
        &s.to[..10]
    );
}

/// Each incident's measured recovery time as a bar, its scope's RTO as a tick.
pub fn incidents_against_rto(out: &mut String, incidents: &[IncidentReport]) {
    let scale = incidents
        .iter()
        .flat_map(|i| [i.rto_seconds.unwrap_or(0), i.target_rto_seconds.unwrap_or(0)])
        .max()
        .unwrap_or(1)
        .max(1);
    let row = 22;
    open(out, row * incidents.len() as i64 + 12, "incidents against their RTO");
    for (n, i) in incidents.iter().enumerate() {
        let y = 6 + row * n as i64;
        let got = i.rto_seconds.unwrap_or(0);
        let colour = if i.within_rto == Some(false) { "#c62828" } else { "#2e7d32" };
        let _ = write!(
            out,
            r##"<rect x="{BAR}" y="{y}" width="{}" height="14" fill="{colour}"/>"##,
            (got * (W - BAR - PAD) / scale).max(1)
        );
        if let Some(t) = i.target_rto_seconds {
            let tx = BAR + t * (W - BAR - PAD) / scale;
            let _ = write!(
                out,
                r##"<line x1="{tx}" y1="{}" x2="{tx}" y2="{}" stroke="#000" stroke-width="2"/>"##,
                y - 2,
                y + 16
            );
        }
        let label = format!("{} {} {}", i.scope, esc(&i.subject), i.rto_seconds.map_or("open".into(), human));
        let _ = write!(out, r##"<text x="{PAD}" y="{}" font-size="11">{label}</text>"##, y + 11);
    }
    out.push_str("</svg>");
}

/// The newest copy's age over the month (a saw: it grows until the next copy), against the RPO as a line. When the
/// copies cover less than half the month (a service that started copying lately), the chart zooms to where they
/// are; when they are too close together to draw one by one at that scale, it says so in words.
pub fn copy_age_against_rpo(out: &mut String, captures: &[i64], rpo: Option<i64>, span: i64) {
    let h = 120;
    let origin = captures.first().copied().unwrap_or(0).clamp(0, span);
    let origin = if origin > span / 2 { origin } else { 0 };
    let width = (span - origin).max(1);
    let mut points: Vec<(i64, i64)> = Vec::new();
    for (n, c) in captures.iter().enumerate() {
        let next = captures.get(n + 1).copied().unwrap_or(span);
        let from = (*c).max(0);
        points.push((from, from - c));
        points.push((next, next - c));
    }
    let top = points.iter().map(|p| p.1).chain(rpo).max().unwrap_or(1).max(1) * 11 / 10;
    let y = |age: i64| h - 26 - age * (h - 36) / top;
    open(out, h, "newest copy's age against the RPO");
    let line: Vec<String> = points.iter().map(|(t, a)| format!("{},{}", x(t - origin, width), y(*a))).collect();
    let _ = write!(out, r##"<polyline fill="none" stroke="#1565c0" stroke-width="1.5" points="{}"/>"##, line.join(" "));
    if let Some(r) = rpo {
        let _ = write!(
            out,
            r##"<line x1="{PAD}" y1="{0}" x2="{1}" y2="{0}" stroke="#c62828" stroke-dasharray="4 3"/><text x="{1}" y="{2}" font-size="10" fill="#c62828" text-anchor="end">RPO {3}</text>"##,
            y(r),
            W - PAD,
            y(r) - 3,
            human(r)
        );
    }
    let mut said = Vec::new();
    if origin > 0 {
        said.push(format!("the last {} of the month, from the first copy", human(width)));
    }
    if let Some(gap) = typical_gap(captures) {
        // A tooth narrower than 3 pixels is not seen as one.
        if gap * (W - 2 * PAD) < 3 * width {
            said.push(format!(
                "{} copies about every {}: too close to draw one by one here",
                captures.len(),
                human(gap)
            ));
        }
    }
    if !said.is_empty() {
        let _ = write!(
            out,
            r##"<text x="{PAD}" y="{}" font-size="10" fill="#555">{}</text>"##,
            h - 6,
            esc(&said.join("; "))
        );
    }
    out.push_str("</svg>");
}

/// The median gap between consecutive copies, when there are two or more.
fn typical_gap(captures: &[i64]) -> Option<i64> {
    let mut gaps: Vec<i64> = captures.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_unstable();
    gaps.get(gaps.len() / 2).copied()
}

/// Text safe in HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
