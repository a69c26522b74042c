//! The checksum manifest of a copy: every file, link and directory of what was backed up, with its size, mode and
//! SHA-256 (a link: its target). It travels inside the copy; a Restore drill checks what it restored against it,
//! so "verified" means the bytes came back, not only that the repository is sound.

use std::{
    collections::BTreeMap,
    fs,
    io::Read,
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

/// The manifest's file name, inside the directory the agent backs up beside the data.
pub const FILE: &str = "MANIFEST.json";

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// `file`, `dir` or `link`.
    pub kind: String,
    pub mode: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// Per backed-up root (named by its last component), each entry by its path relative to that root.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub roots: BTreeMap<String, BTreeMap<String, Entry>>,
}

impl Manifest {
    pub fn files(&self) -> usize {
        self.roots.values().flat_map(|r| r.values()).filter(|e| e.kind == "file").count()
    }

    pub fn bytes(&self) -> u64 {
        self.roots.values().flat_map(|r| r.values()).filter_map(|e| e.size).sum()
    }
}

/// The manifest of `roots`.
pub fn build(roots: &[PathBuf]) -> std::io::Result<Manifest> {
    let mut m = Manifest::default();
    for root in roots {
        let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        m.roots.insert(name, entries(root)?);
    }
    Ok(m)
}

/// Every entry under `root`, its files hashed on all cores at once.
fn entries(root: &Path) -> std::io::Result<BTreeMap<String, Entry>> {
    use rayon::prelude::*;
    let mut out = BTreeMap::new();
    walk(root, root, &mut out)?;
    let mut files: Vec<(&String, &mut Entry)> = out.iter_mut().filter(|(_, e)| e.kind == "file").collect();
    files.par_iter_mut().try_for_each(|(rel, e)| sha256(&root.join(rel)).map(|h| e.sha256 = Some(h)))?;
    Ok(out)
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Entry>) -> std::io::Result<()> {
    for e in fs::read_dir(dir)? {
        let path = e?.path();
        let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
        let meta = fs::symlink_metadata(&path)?;
        let mode = meta.permissions().mode() & 0o7777;
        let entry = if meta.file_type().is_symlink() {
            let target = fs::read_link(&path)?.to_string_lossy().into_owned();
            Entry { kind: "link".into(), mode: 0, size: None, sha256: None, target: Some(target) }
        } else if meta.is_dir() {
            walk(root, &path, out)?;
            Entry { kind: "dir".into(), mode, size: None, sha256: None, target: None }
        } else {
            // Hashed afterwards, with every other file, in parallel.
            Entry { kind: "file".into(), mode, size: Some(meta.size()), sha256: None, target: None }
        };
        out.insert(rel, entry);
    }
    Ok(())
}

fn sha256(path: &Path) -> std::io::Result<String> {
    let mut f = fs::File::open(path)?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(ctx.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect())
}

/// What differs between the manifest of root `name` and the tree restored at `restored`: each difference in
/// words, at most `limit` of them (an empty list: every byte, mode and link came back).
pub fn compare(m: &Manifest, name: &str, restored: &Path, limit: usize) -> std::io::Result<Vec<String>> {
    let Some(want) = m.roots.get(name) else { return Ok(vec![format!("{name}: not in the manifest")]) };
    let got = entries(restored)?;
    let mut diffs = Vec::new();
    for (path, w) in want {
        match got.get(path) {
            None => diffs.push(format!("{name}/{path}: missing")),
            Some(g) if g != w => diffs.push(format!("{name}/{path}: {}", differs(w, g))),
            Some(_) => {}
        }
    }
    diffs.extend(got.keys().filter(|p| !want.contains_key(*p)).map(|p| format!("{name}/{p}: not in the copy")));
    diffs.truncate(limit);
    Ok(diffs)
}

fn differs(want: &Entry, got: &Entry) -> String {
    if want.kind != got.kind {
        format!("a {} where the copy holds a {}", got.kind, want.kind)
    } else if want.sha256 != got.sha256 || want.size != got.size {
        "content differs".into()
    } else if want.target != got.target {
        "link target differs".into()
    } else {
        format!("mode {:o} where the copy holds {:o}", got.mode, want.mode)
    }
}
