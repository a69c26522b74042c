//! The report as one self-contained HTML page: inline style, inline SVG charts, no script and no external asset,
//! laid out to print to PDF (each service starts on a new page).

use std::fmt::Write;

use super::{Report, ServiceReport, charts, charts::esc, words};

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;color:#222;max-width:780px;margin:24px auto;padding:0 16px}\
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}\
h3{font-size:15px;margin:18px 0 6px}table{border-collapse:collapse;width:100%;margin:6px 0}\
td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top;font-size:13px}\
th{background:#f4f4f4}.True,.met{color:#2e7d32;font-weight:600}.False,.missed{color:#c62828;font-weight:600}\
.Unknown{color:#8a6d00;font-weight:600}.chart{display:block;margin:6px 0}.muted{color:#666}\
@media print{section{break-before:page}body{margin:0}}";

/// The whole page.
pub fn render(r: &Report) -> String {
    let mut out = String::with_capacity(4096 + r.services.len() * 4096);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Continuity report {0}</title>\
         <style>{STYLE}</style></head><body><h1>Continuity report — {0}</h1>\
         <p class=\"muted\">Generated {1} by continuo from what it recorded: services' status, recovery points and restore requests. \
         Figures cover the month up to the time of generation.</p>",
        esc(&r.month),
        esc(&r.generated_at)
    );
    summary(&mut out, r);
    for s in &r.services {
        service(&mut out, s);
    }
    out.push_str("</body></html>\n");
    out
}

fn summary(out: &mut String, r: &Report) {
    out.push_str(
        "<table><tr><th>Service</th><th>Class</th><th>Objectives now</th><th>Availability</th><th>Incidents</th></tr>",
    );
    for s in &r.services {
        let [name, class, now, avail, incidents] = words::summary_cells(s).map(|c| esc(&c));
        let _ =
            write!(out, "<tr><td>{name}</td><td>{class}</td><td>{now}</td><td>{avail}</td><td>{incidents}</td></tr>");
    }
    out.push_str("</table>");
}

fn service(out: &mut String, s: &ServiceReport) {
    let _ = write!(out, "<section><h2>{}/{}</h2>", esc(&s.namespace), esc(&s.name));
    promise(out, s);
    out.push_str("<h3>Verdicts now</h3>");
    if s.verdicts.is_empty() {
        out.push_str("<p class=\"muted\">None recorded yet.</p>");
    } else {
        out.push_str("<table><tr><th>Scope</th><th>Objective</th><th>Status</th><th>Evidence</th></tr>");
        for v in &s.verdicts {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{} {}</td><td class=\"{3}\">{3}</td><td>{4}</td></tr>",
                v.scope,
                v.objective,
                esc(&v.target),
                esc(&v.status),
                esc(&v.message)
            );
        }
        out.push_str("</table>");
    }
    availability(out, s);
    incidents(out, s);
    backups(out, s);
    restores(out, s);
    drills(out, s);
    site_failovers(out, s);
    out.push_str("</section>");
}

fn promise(out: &mut String, s: &ServiceReport) {
    let p = &s.promise;
    let _ = write!(out, "<h3>The promise</h3><p>Class <b>{}</b> {}.</p>", esc(&s.class), esc(&words::promise_terms(s)));
    if !p.objectives.is_empty() {
        out.push_str("<table><tr><th>Failure</th><th>RTO</th><th>RPO</th></tr>");
        for o in &p.objectives {
            let [failure, rto, rpo] = words::objective_cells(o);
            let _ = write!(out, "<tr><td>{failure}</td><td>{rto}</td><td>{rpo}</td></tr>");
        }
        out.push_str("</table>");
    }
    if !p.backup_tiers.is_empty() {
        let _ = write!(out, "<p>Backups: {}.</p>", esc(&p.backup_tiers.join("; ")));
    }
}

fn availability(out: &mut String, s: &ServiceReport) {
    out.push_str("<h3>Availability this month</h3>");
    let span = chrono_span(s);
    charts::availability_timeline(out, s, span);
    match &s.availability {
        None => out.push_str("<p class=\"muted\">No availability was recorded for this month.</p>"),
        Some(a) => {
            let verdict = match a.met {
                Some(true) => "<span class=\"met\">target met</span>",
                Some(false) => "<span class=\"missed\">target missed</span>",
                None => "<span class=\"muted\">no target to judge</span>",
            };
            let _ =
                write!(out, "<p>{} — {verdict}. {}</p>", words::availability_lead(a), words::availability_figures(a));
        }
    }
}

fn chrono_span(s: &ServiceReport) -> i64 {
    let parse = |t: &str| t.parse::<jiff::Timestamp>().map(|t| t.as_second()).unwrap_or(0);
    (parse(&s.to) - parse(&s.from)).max(1)
}

fn incidents(out: &mut String, s: &ServiceReport) {
    out.push_str("<h3>Incidents</h3>");
    if s.incidents.is_empty() {
        out.push_str("<p>No incident this month.</p>");
        return;
    }
    charts::incidents_against_rto(out, &s.incidents);
    out.push_str("<table><tr><th>Lost</th><th>Began</th><th>Recovered in</th><th>RTO</th><th>Lowest Ready</th><th>Data lost</th></tr>");
    for i in &s.incidents {
        let kept = match i.within_rto {
            Some(true) => "<span class=\"met\">kept</span>",
            Some(false) => "<span class=\"missed\">missed</span>",
            None => "open",
        };
        let [lost, began, took, rto, lowest, data] = words::incident_cells(i).map(|c| esc(&c));
        let _ = write!(
            out,
            "<tr><td>{lost}</td><td>{began}</td><td>{took}</td><td>{rto} ({kept})</td><td>{lowest}</td><td>{data}</td></tr>"
        );
    }
    out.push_str("</table>");
}

fn backups(out: &mut String, s: &ServiceReport) {
    let Some(b) = &s.backups else { return };
    out.push_str("<h3>Copies</h3>");
    let _ = write!(out, "<p>{}", esc(&words::copies_held(b)));
    match words::worst_copy(b) {
        Some(words::WorstCopy { age: worst, from, rpo }) => {
            let against = rpo.map_or(String::new(), |(r, kept)| {
                let (class, word) = if kept { ("met", "kept") } else { ("missed", "exceeded") };
                format!(" against an RPO of {r} (<span class=\"{class}\">{word}</span>)")
            });
            let _ = write!(out, " The newest copy was at most {worst} old from {}{against}.</p>", esc(&from));
            charts::copy_age_against_rpo(out, &b.capture_offsets, b.rpo_seconds, chrono_span(s));
        }
        None => out.push_str(" No good copy on record for this month.</p>"),
    }
}

fn drills(out: &mut String, s: &ServiceReport) {
    if s.drills.is_empty() {
        return;
    }
    out.push_str("<h3>Drills</h3><table><tr><th>Drill</th><th>Exercised</th><th>Result</th><th>RTO achieved</th><th>Lowest Ready</th><th>Verdict</th></tr>");
    for d in &s.drills {
        let [name, what, phase, rto, lowest, verdict] = words::drill_cells(d).map(|c| esc(&c));
        let class = match d.phase.as_str() {
            "Passed" => "met",
            "Failed" | "Aborted" => "missed",
            _ => "muted",
        };
        let _ = write!(
            out,
            "<tr><td>{name}</td><td>{what}</td><td class=\"{class}\">{phase}</td><td>{rto}</td><td>{lowest}</td><td>{verdict}</td></tr>"
        );
    }
    out.push_str("</table>");
}

fn site_failovers(out: &mut String, s: &ServiceReport) {
    if s.site_failovers.is_empty() {
        return;
    }
    out.push_str("<h3>Site failovers</h3><table><tr><th>Declaration</th><th>Move</th><th>Result</th><th>RTO achieved</th><th>Data lost</th><th>Detail</th></tr>");
    for f in &s.site_failovers {
        let [name, moved, phase, rto, data, detail] = words::site_failover_cells(f).map(|c| esc(&c));
        let class = match (f.phase.as_str(), f.within_rto) {
            ("Completed", Some(true)) => "met",
            ("Completed", _) | ("Refused", _) => "missed",
            _ => "muted",
        };
        let _ = write!(
            out,
            "<tr><td>{name}</td><td>{moved}</td><td class=\"{class}\">{phase}</td><td>{rto}</td><td>{data}</td><td>{detail}</td></tr>"
        );
    }
    out.push_str("</table>");
}

fn restores(out: &mut String, s: &ServiceReport) {
    if s.restores.is_empty() {
        return;
    }
    out.push_str(
        "<h3>Restores</h3><table><tr><th>Request</th><th>Result</th><th>Copy of</th><th>Took</th><th>Detail</th></tr>",
    );
    for r in &s.restores {
        let [name, phase, copy, took, detail] = words::restore_cells(r).map(|c| esc(&c));
        let _ = write!(out, "<tr><td>{name}</td><td>{phase}</td><td>{copy}</td><td>{took}</td><td>{detail}</td></tr>");
    }
    out.push_str("</table>");
}
