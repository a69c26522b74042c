//! A restore into the claims mounted under the restore path, as a recovered stateful replica's init container (or
//! a restore request's run) does it: only in the ordinals named, once per volume (a marker file says it was), each
//! claim from the copy's directory of the same name, restored beside the data and then moved into place.

use std::{
    fs,
    path::{Path, PathBuf},
};

use serde_json::{Value, json};

use super::{
    restic::Restic,
    settings::{Settings, Target},
};

pub fn restore(s: &Settings, r: &Restic<'_>) -> Result<Value, String> {
    let Some(Target::Volume { path, ordinals, pod_index, marker }) = (match &s.action {
        super::settings::Action::Restore(t) => Some(t),
        _ => None,
    }) else {
        return Err("not a restore into volumes".into());
    };
    if let Some(i) = pod_index.filter(|i| !ordinals.contains(i)) {
        return Ok(json!({"restored": [], "detail": format!("pod {i} keeps its volumes: not one of {ordinals:?}")}));
    }
    let id = s.point_id.as_deref().unwrap_or_default();
    let claims = claims(path)?;
    let mut restored = Vec::new();
    let mut skipped = Vec::new();
    let mut listed = None;
    for claim in claims {
        let name = claim.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if claim.join(marker).exists() {
            skipped.push(name);
            continue;
        }
        let staging = claim.join(".continuo-staging");
        let _ = fs::remove_dir_all(&staging);
        // continuo's own backup runs mount each claim at the path its restore does: restored by that path at once,
        // with one restic call. A copy made elsewhere (another agent's paths) is looked up by the directory's name.
        let mut source = claim.to_string_lossy().into_owned();
        r.restore(id, Some(&source), &staging)?;
        if !staging.join(source.trim_start_matches('/')).exists() {
            let snap = match &listed {
                Some(s) => s,
                None => listed.insert(r.snapshot(id)?),
            };
            source =
                snap.paths.iter().find(|p| p.rsplit('/').next() == Some(name.as_str())).cloned().ok_or_else(|| {
                    format!("copy {} holds no directory {name:?} (it holds {})", snap.short_id, snap.paths.join(", "))
                })?;
            let _ = fs::remove_dir_all(&staging);
            r.restore(&snap.id, Some(&source), &staging)?;
        }
        move_into(&staging.join(source.trim_start_matches('/')), &claim).map_err(|e| format!("{name}: {e}"))?;
        fs::remove_dir_all(&staging).map_err(|e| format!("{name}: {e}"))?;
        fs::write(claim.join(marker), format!("{id}\n")).map_err(|e| format!("{name}: {e}"))?;
        restored.push(name);
    }
    let id = (!restored.is_empty()).then(|| listed.map_or_else(|| id.to_string(), |s| s.short_id));
    Ok(json!({"restored": restored, "alreadyRestored": skipped, "id": id}))
}

/// The volumes mounted for the restore: one directory per claim.
fn claims(root: &Path) -> Result<Vec<PathBuf>, String> {
    let dirs = super::settings::subdirectories(root);
    if dirs.is_empty() {
        return Err(format!("no volume mounted under {}", root.display()));
    }
    Ok(dirs)
}

/// Moves everything under `from` into `to` (same file system: renames), replacing what is there by the copy's.
fn move_into(from: &Path, to: &Path) -> std::io::Result<()> {
    if !from.exists() {
        return Ok(());
    }
    for e in fs::read_dir(from)? {
        let src = e?.path();
        let dst = to.join(src.file_name().unwrap_or_default());
        let src_dir = fs::symlink_metadata(&src)?.is_dir();
        match fs::symlink_metadata(&dst) {
            Ok(m) if m.is_dir() && src_dir => {
                move_into(&src, &dst)?;
                continue;
            }
            Ok(m) if m.is_dir() => fs::remove_dir_all(&dst)?,
            Ok(_) => fs::remove_file(&dst)?,
            Err(_) => {}
        }
        fs::rename(&src, &dst)?;
    }
    // The directory's own mode and times, as backed up.
    let meta = fs::metadata(from)?;
    fs::set_permissions(to, meta.permissions())?;
    Ok(())
}
