//! continuo's reference backup agent (`continuo agent`): the agent contract carried out with restic, so that a
//! service has working copies and restores with no agent of its own. It copies the volumes mounted for it (or a
//! database's consistent dump), restores a copy into a recovered replica's volumes or into a scratch target that
//! it then checks byte for byte, deletes one copy, verifies the repository, and lists the copies a location holds.
//! Each run ends with one line of JSON in the termination message, in numbers; a failure says why there too.
//! No credential is ever written: restic reads them from the location's Secret in its own variables.

mod manifest;
mod restic;
pub mod settings;
mod volumes;

use std::{path::PathBuf, time::Instant};

use serde_json::{Value, json};

use restic::Restic;
use settings::{Action, Settings, Target};

/// The directory, beside the data in every copy, that holds its checksum manifest.
const MANIFEST_DIR: &str = "continuo-manifest";

/// Runs the action `env` asks for; the report (success or failure) is written to the termination log and
/// returned with whether the run succeeded.
pub fn run(env: &settings::Env) -> (bool, Value) {
    let started = Instant::now();
    let outcome = settings::read(env).map_err(|why| (why, Value::Null)).and_then(|s| {
        let result = act(&s);
        let report = match &result {
            Ok(v) => v.clone(),
            Err(why) => failure(&s, why),
        };
        let _ = std::fs::write(&s.termination_log, format!("{report}\n"));
        result.map_err(|why| (why, report))
    });
    match outcome {
        Ok(mut report) => {
            report["durationSeconds"] = json!((started.elapsed().as_secs_f64() * 10.0).round() / 10.0);
            (true, report)
        }
        Err((why, Value::Null)) => (false, json!({"error": why})),
        Err((_, report)) => (false, report),
    }
}

fn failure(s: &Settings, why: &str) -> Value {
    // A termination message holds 4 KiB.
    let why: String = why.chars().take(2000).collect();
    let why = why.as_str();
    match s.action {
        Action::Verify | Action::Restore(Target::Scratch { .. }) => json!({"verified": false, "detail": why}),
        _ => json!({"error": why}),
    }
}

fn act(s: &Settings) -> Result<Value, String> {
    let r = Restic { bin: &s.restic, repository: &s.repository };
    eprintln!("continuo agent: {:?} on {}", s.action, settings::redacted(&s.repository));
    match &s.action {
        Action::Backup => backup(s, &r),
        Action::Restore(Target::Volume { .. }) => volumes::restore(s, &r),
        Action::Restore(Target::Scratch { path }) => scratch(s, &r, path),
        Action::Delete => delete(s, &r),
        Action::Verify => {
            r.check(true).map(|()| json!({"verified": true, "detail": "restic check --read-data passed"}))
        }
        Action::List => list(&r),
    }
}

/// A copy of the volumes (with their checksum manifest), or of the dump command's output.
fn backup(s: &Settings, r: &Restic<'_>) -> Result<Value, String> {
    let captured = jiff::Timestamp::now();
    let host = format!("{}/{}", s.namespace, s.service);
    let mut tags = vec!["continuo".to_string(), format!("service={}", s.service)];
    tags.extend(s.tiers.iter().map(|t| format!("tier={t}")));
    let (summary, files) = match &s.dump {
        Some(command) => {
            // A stream cannot be read twice: the repository is made sure of before the dump starts.
            r.ensure()?;
            (r.backup_stream(command, &format!("{}.dump", s.service), &host, &tags)?, 1)
        }
        None => {
            let m = manifest::build(&s.paths).map_err(|e| format!("reading what to copy: {e}"))?;
            let dir = s.work_dir.join(MANIFEST_DIR);
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let text = serde_json::to_string(&m).map_err(|e| e.to_string())?;
            std::fs::write(dir.join(manifest::FILE), text).map_err(|e| format!("{}: {e}", dir.display()))?;
            let mut paths = s.paths.clone();
            paths.push(dir);
            (r.backup(&paths, &host, &tags)?, m.files())
        }
    };
    Ok(
        json!({"id": summary.snapshot_id, "sizeBytes": summary.total_bytes_processed, "capturedAt": captured.to_string(),
              "files": files, "addedBytes": summary.data_added, "resticSeconds": summary.total_duration}),
    )
}

/// A Restore drill: the whole copy restored into scratch, restic's own check, and every file compared with the
/// manifest the copy carries.
fn scratch(s: &Settings, r: &Restic<'_>, path: &std::path::Path) -> Result<Value, String> {
    let id = s.point_id.as_deref().unwrap_or_default();
    let snapshot = r.snapshot(id)?;
    let into = path.join(&snapshot.short_id);
    let _ = std::fs::remove_dir_all(&into);
    r.restore(&snapshot.id, None, &into)?;
    r.check(false)?;
    let Some(manifest_dir) = snapshot.paths.iter().find(|p| p.ends_with(MANIFEST_DIR)) else {
        // A dump has no manifest: restic restored it whole, which its check and its hashes vouch for.
        return Ok(
            json!({"verified": true, "detail": format!("restored copy {} (a stream); restic check passed", snapshot.short_id)}),
        );
    };
    let text = std::fs::read_to_string(under(&into, manifest_dir).join(manifest::FILE))
        .map_err(|e| format!("the copy's manifest: {e}"))?;
    let m: manifest::Manifest = serde_json::from_str(&text).map_err(|e| format!("the copy's manifest: {e}"))?;
    let mut diffs = Vec::new();
    for p in snapshot.paths.iter().filter(|p| !p.ends_with(MANIFEST_DIR)) {
        let name = p.rsplit('/').next().unwrap_or(p);
        diffs.extend(manifest::compare(&m, name, &under(&into, p), 10).map_err(|e| e.to_string())?);
    }
    let _ = std::fs::remove_dir_all(&into);
    if !diffs.is_empty() {
        return Err(format!(
            "restored copy {} differs from what was backed up: {}",
            snapshot.short_id,
            diffs.join("; ")
        ));
    }
    Ok(
        json!({"verified": true, "detail": format!("{} files, {} bytes restored from copy {} match its manifest; restic check passed",
        m.files(), m.bytes(), snapshot.short_id), "files": m.files(), "bytes": m.bytes()}),
    )
}

/// Where restic put the snapshot's absolute `path` when restoring under `root`.
fn under(root: &std::path::Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

fn delete(s: &Settings, r: &Restic<'_>) -> Result<Value, String> {
    let id = s.point_id.as_deref().unwrap_or_default();
    let snapshot = r.snapshot(id)?;
    r.forget(&snapshot.id)?;
    Ok(json!({"deleted": snapshot.short_id, "remaining": r.snapshots()?.len()}))
}

/// How many copies, newest first, the `list` report names: a termination message holds 4 KiB.
const LISTED_IN_REPORT: usize = 24;

/// The copies the location holds, one JSON line each on the standard output, and in the report the newest
/// [`LISTED_IN_REPORT`] of them with when each was captured and its tiers: what a recovery site rebuilds its catalog
/// from after a site loss took the one that made them.
fn list(r: &Restic<'_>) -> Result<Value, String> {
    let mut all = r.snapshots()?;
    for s in &all {
        println!("{}", json!({"id": s.short_id, "time": s.time, "paths": s.paths, "tags": s.tags}));
    }
    let when = |s: &restic::Snapshot| s.time.parse::<jiff::Timestamp>().ok();
    all.sort_by_key(|s| std::cmp::Reverse(when(s)));
    let copies: Vec<Value> = all
        .iter()
        .filter_map(|s| {
            let tiers: Vec<&str> = s.tags.iter().filter_map(|t| t.strip_prefix("tier=")).collect();
            Some(json!({"id": s.short_id, "capturedAt": when(s)?.to_string(), "tiers": tiers}))
        })
        .take(LISTED_IN_REPORT)
        .collect();
    Ok(json!({"snapshots": all.len(), "copies": copies}))
}
