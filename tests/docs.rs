//! The documentation book (`docs/`, built by mdBook): its reference pages are current, every page is in the
//! summary, no internal link is broken (the README's links into the book included), and every alert's
//! `runbook_url` reaches its section of the alerts page.

#[path = "docs/links.rs"]
mod links;
#[path = "docs/reference.rs"]
mod reference;

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The committed `path` equals `text`, or (with `CONTINUO_BLESS=1`) is rewritten to it.
fn current(path: &str, text: &str) {
    let file = root().join(path);
    if std::env::var_os("CONTINUO_BLESS").is_some() {
        fs::write(&file, text).unwrap();
        return;
    }
    let committed = fs::read_to_string(&file).unwrap_or_default();
    assert!(committed == text, "{path} is stale: regenerate it with CONTINUO_BLESS=1 cargo nextest run --test docs");
}

#[test]
fn the_crd_reference_is_generated_from_the_schemas_and_current() {
    let page = reference::crds();
    for kind in
        ["ContinuityClass", "ResilientService", "BackupLocation", "RecoveryPoint", "RestoreRequest", "ContinuityDrill"]
    {
        assert!(page.contains(&format!("\n## {kind}\n")), "{kind} has a section");
    }
    assert!(page.contains("| `spec.className` |"), "a ResilientService's class is listed");
    assert!(page.contains("Checked at apply:"), "the CEL rules are listed");
    current("docs/src/reference/crds.md", &page);
}

#[test]
fn the_metrics_reference_lists_every_exported_metric_and_is_current() {
    let page = reference::metrics();
    for name in [
        "controller_runtime_reconcile_total",
        "continuo_leader",
        "continuo_service_down_seconds_total",
        "continuo_zone_blast_radius_services",
    ] {
        assert!(page.contains(&format!("`{name}`")), "{name} is listed");
    }
    current("docs/src/reference/metrics.md", &page);
}

/// Every Markdown file under `docs/src`, by its path relative to the repository.
fn pages() -> BTreeMap<PathBuf, String> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        for e in fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "md") {
                let rel = p.strip_prefix(root()).unwrap().to_path_buf();
                out.insert(rel, fs::read_to_string(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&root().join("docs/src"), &mut out);
    out
}

#[test]
fn every_page_is_in_the_summary_and_every_link_of_the_book_and_the_readme_reaches_its_target() {
    let mut all = pages();
    let summary = links::read(&all[Path::new("docs/src/SUMMARY.md")].clone());
    let listed: Vec<PathBuf> = summary.links.iter().map(|l| Path::new("docs/src").join(l)).collect();
    for page in all.keys().filter(|p| !p.ends_with("SUMMARY.md")) {
        assert!(listed.contains(page), "{} is not in docs/src/SUMMARY.md: mdBook would not build it", page.display());
    }
    all.insert("README.md".into(), fs::read_to_string(root().join("README.md")).unwrap());
    let broken = links::broken(root(), &all);
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn a_broken_link_or_a_missing_anchor_is_found() {
    let mut pages = BTreeMap::new();
    pages.insert(
        PathBuf::from("docs/src/a.md"),
        "# A page\n\n## Its part\n\n[ok](#its-part) [ok](b.md#b) [gone](c.md) [no anchor](b.md#nowhere)\n".to_string(),
    );
    pages.insert(PathBuf::from("docs/src/b.md"), "# B\n".to_string());
    let dir = std::env::temp_dir().join(format!("continuo-docs-{}", std::process::id()));
    fs::create_dir_all(dir.join("docs/src")).unwrap();
    for (p, t) in &pages {
        fs::write(dir.join(p), t).unwrap();
    }
    let broken = links::broken(&dir, &pages);
    let _ = fs::remove_dir_all(&dir);
    assert_eq!(broken.len(), 2, "{broken:?}");
    assert!(broken[0].contains("no file docs/src/c.md") && broken[1].contains("no heading #nowhere"), "{broken:?}");
    assert_eq!(links::id("The reference agent (restic)"), "the-reference-agent-restic");
    assert_eq!(links::id("`spec.backup` and RPO 0"), "specbackup-and-rpo-0");
}

#[test]
fn every_alert_links_to_its_runbook_in_the_book() {
    let alerts: Vec<serde_json::Value> =
        serde_saphyr::from_str(&fs::read_to_string(root().join("charts/continuo/files/alerts.yaml")).unwrap()).unwrap();
    let page = links::read(&fs::read_to_string(root().join("docs/src/operating/alerts.md")).unwrap());
    for rule in alerts[0]["rules"].as_array().unwrap() {
        let name = rule["alert"].as_str().unwrap();
        let url = rule["annotations"]["runbook_url"].as_str().unwrap_or_else(|| panic!("{name} has no runbook_url"));
        let anchor =
            url.strip_prefix("RUNBOOK_BASE_URL/operating/alerts.html#").unwrap_or_else(|| panic!("{name}: {url}"));
        assert_eq!(anchor, links::id(name), "{name}'s anchor is its name");
        assert!(page.ids.contains(anchor), "{name} has no section in docs/src/operating/alerts.md");
    }
}

/// UpperCamelCase words in the operator's code that are not reasons: kinds, enum values, printer columns, the
/// condition types of the data layers continuo reads.
const NOT_REASONS: &[&str] = &[
    "ActiveActive",
    "AlwaysAllow",
    "BackupLocation",
    "CloudNativePG",
    "ClusterIP",
    "ContinuityClass",
    "ContinuityDrill",
    "ContinuityDrillStatus",
    "ContinuousArchiving",
    "CronJob",
    "MinZones",
    "NoExecute",
    "PersistentVolumeClaim",
    "PodDisruptionBudget",
    "PodScheduled",
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
    "RecoveryPoint",
    "RecoveryPointStatus",
    "ReplicationSource",
    "ResilientService",
    "ResilientServiceStatus",
    "RestoreRequest",
    "RestoreRequestStatus",
    "RollingUpdate",
    "RuntimeDefault",
    "ScheduleAnyway",
    "ServiceCollector",
    "SingleStack",
    "StatefulSet",
    "StorageClass",
    "SyncReplicationTopologySatisfied",
    "VolSync",
    "WarmStandby",
    "ZoneLoss",
    "SiteRestore",
    "WALArchiving",
    "OverridePolicy",
    "PropagationPolicy",
    "SiteFailover",
    "SiteFailoverStatus",
    "ResourceBinding",
    "SiteCollector",
    "AvailabilityMet",
    "DataRestored",
    "FailureDetection",
    "ObjectivesMet",
    "ZoneRedundant",
];

/// The CamelCase string literals of the operator's code, tests left out.
fn camel_literals() -> std::collections::BTreeSet<String> {
    fn walk(dir: &Path, out: &mut std::collections::BTreeSet<String>) {
        for e in fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("tests.rs") {
                let text = fs::read_to_string(&p).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                for piece in code.split('"').skip(1).step_by(2) {
                    let humps = piece.chars().filter(char::is_ascii_uppercase).count();
                    if humps >= 2
                        && piece.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                        && piece.chars().all(|c| c.is_ascii_alphanumeric())
                        && piece.chars().any(|c| c.is_ascii_lowercase())
                    {
                        out.insert(piece.to_string());
                    }
                }
            }
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(&root().join("src"), &mut out);
    out
}

#[test]
fn every_reason_the_operator_writes_is_on_the_conditions_page() {
    let page = fs::read_to_string(root().join("docs/src/reference/conditions.md")).unwrap();
    let literals = camel_literals();
    assert!(literals.contains("NoCopyToRestore") && literals.contains("IncidentStarted"), "the scan finds reasons");
    let missing: Vec<&String> =
        literals.iter().filter(|r| !NOT_REASONS.contains(&r.as_str()) && !page.contains(&format!("`{r}`"))).collect();
    assert!(missing.is_empty(), "reasons not documented in docs/src/reference/conditions.md: {missing:?}");
}
