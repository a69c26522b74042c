//! The report as Markdown, for a wiki: the same sections and figures as the HTML page, in tables.

use std::fmt::Write;

use super::{Report, ServiceReport, words};

/// The whole document.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Continuity report — {}\n", r.month);
    let _ = writeln!(
        out,
        "Generated {} by continuo from what it recorded: services' status, recovery points and restore requests.\n",
        r.generated_at
    );
    if !r.services.is_empty() {
        out.push_str("| Service | Class | Objectives now | Availability | Incidents |\n|---|---|---|---|---|\n");
        for s in &r.services {
            let [name, class, now, avail, incidents] = words::summary_cells(s).map(|c| cell(&c));
            let _ = writeln!(out, "| {name} | {class} | {now} | {avail} | {incidents} |");
        }
        out.push('\n');
    }
    for s in &r.services {
        service(&mut out, s);
    }
    out
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn service(out: &mut String, s: &ServiceReport) {
    let p = &s.promise;
    let _ = writeln!(out, "## {}/{}\n", s.namespace, s.name);
    let _ = writeln!(out, "Class **{}** {}.\n", s.class, words::promise_terms(s));
    if !p.objectives.is_empty() {
        out.push_str("| Failure | RTO | RPO |\n|---|---|---|\n");
        for o in &p.objectives {
            let [failure, rto, rpo] = words::objective_cells(o);
            let _ = writeln!(out, "| {failure} | {rto} | {rpo} |");
        }
        out.push('\n');
    }
    if !s.verdicts.is_empty() {
        out.push_str("### Verdicts now\n\n| Scope | Objective | Status | Evidence |\n|---|---|---|---|\n");
        for v in &s.verdicts {
            let _ =
                writeln!(out, "| {} | {} {} | {} | {} |", v.scope, v.objective, v.target, v.status, cell(&v.message));
        }
        out.push('\n');
    }
    availability(out, s);
    incidents(out, s);
    copies_and_restores(out, s);
    if !s.drills.is_empty() {
        out.push_str("### Drills\n\n| Drill | Exercised | Result | RTO achieved | Lowest Ready | Verdict |\n|---|---|---|---|---|---|\n");
        for d in &s.drills {
            let [name, what, phase, rto, lowest, verdict] = words::drill_cells(d).map(|c| cell(&c));
            let _ = writeln!(out, "| {name} | {what} | {phase} | {rto} | {lowest} | {verdict} |");
        }
        out.push('\n');
    }
    if !s.site_failovers.is_empty() {
        out.push_str("### Site failovers\n\n| Declaration | Move | Result | RTO achieved | Data lost | Detail |\n|---|---|---|---|---|---|\n");
        for f in &s.site_failovers {
            let [name, moved, phase, rto, data, detail] = words::site_failover_cells(f).map(|c| cell(&c));
            let _ = writeln!(out, "| {name} | {moved} | {phase} | {rto} | {data} | {detail} |");
        }
        out.push('\n');
    }
}

fn availability(out: &mut String, s: &ServiceReport) {
    out.push_str("### Availability this month\n\n");
    match &s.availability {
        None => out.push_str("No availability was recorded for this month.\n\n"),
        Some(a) => {
            let verdict = match a.met {
                Some(true) => "target met",
                Some(false) => "**target missed**",
                None => "no target to judge",
            };
            let _ = writeln!(out, "{} — {verdict}. {}\n", words::availability_lead(a), words::availability_figures(a));
        }
    }
}

fn incidents(out: &mut String, s: &ServiceReport) {
    out.push_str("### Incidents\n\n");
    if s.incidents.is_empty() {
        out.push_str("No incident this month.\n\n");
        return;
    }
    out.push_str("| Lost | Began | Recovered in | RTO | Lowest Ready | Data lost |\n|---|---|---|---|---|---|\n");
    for i in &s.incidents {
        let kept = match i.within_rto {
            Some(true) => "kept",
            Some(false) => "**missed**",
            None => "open",
        };
        let [lost, began, took, rto, lowest, data] = words::incident_cells(i).map(|c| cell(&c));
        let _ = writeln!(out, "| {lost} | {began} | {took} | {rto} ({kept}) | {lowest} | {data} |");
    }
    out.push('\n');
}

fn copies_and_restores(out: &mut String, s: &ServiceReport) {
    if let Some(b) = &s.backups {
        out.push_str("### Copies\n\n");
        out.push_str(&words::copies_held(b));
        match words::worst_copy(b) {
            Some(words::WorstCopy { age: worst, from, rpo }) => {
                let against = rpo.map_or(String::new(), |(r, kept)| {
                    format!(" against an RPO of {r} ({})", if kept { "kept" } else { "**exceeded**" })
                });
                let _ = writeln!(out, " The newest copy was at most {worst} old from {from}{against}.\n");
            }
            None => out.push_str(" No good copy on record for this month.\n\n"),
        }
    }
    if !s.restores.is_empty() {
        out.push_str("### Restores\n\n| Request | Result | Copy of | Took | Detail |\n|---|---|---|---|---|\n");
        for r in &s.restores {
            let [name, phase, copy, took, detail] = words::restore_cells(r).map(|c| cell(&c));
            let _ = writeln!(out, "| {name} | {phase} | {copy} | {took} | {detail} |");
        }
        out.push('\n');
    }
}
