//! continuo's reference agent against real restic and real files, through the entry point continuo runs (`continuo
//! agent` with the contract's variables): a tree of odd files backed up, deleted, restored into a volume as a
//! recovered replica's init container restores it, and compared byte for byte; a Restore drill's scratch restore
//! verified; a corrupted repository refused with a clear message; one copy deleted and only it; two backups at
//! once and an interrupted one leaving the repository sound.
//!
//! Needs restic (Debian's package). Where it is missing each test says `SKIPPED (not passed)` and passes; CI
//! installs it and sets `CONTINUO_REQUIRE_RESTIC=1`, which turns a skip into a failure.

use std::{
    collections::BTreeMap,
    fs,
    io::Write,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use serde_json::Value;

fn restic_here(test: &str) -> bool {
    let found = Command::new("restic").arg("version").stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    if !found {
        assert!(std::env::var_os("CONTINUO_REQUIRE_RESTIC").is_none(), "{test}: restic is required here and missing");
        println!("{test}: SKIPPED (not passed): restic is not installed (apt-get install restic)");
    }
    found
}

/// A scratch world: a repository, the volumes, and the agent's environment.
struct World {
    root: PathBuf,
}

impl World {
    fn new(name: &str) -> World {
        let root = std::env::temp_dir().join(format!("continuo-agent-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("volumes")).unwrap();
        World { root }
    }

    fn env(&self, action: &str) -> BTreeMap<String, String> {
        let r = self.root.display();
        [
            ("CONTINUO_ACTION", action.to_string()),
            ("CONTINUO_SERVICE", "archive".into()),
            ("CONTINUO_NAMESPACE", "erp".into()),
            ("CONTINUO_TIERS", "daily".into()),
            ("CONTINUO_LOCATION_PATH", format!("{r}/repository")),
            ("RESTIC_PASSWORD", "not-a-real-secret".into()),
            ("CONTINUO_RESTORE_PATH", format!("{r}/volumes")),
            ("CONTINUO_TERMINATION_LOG", format!("{r}/termination-log")),
            ("CONTINUO_WORK_DIR", format!("{r}/work")),
            ("CONTINUO_SCRATCH_PATH", format!("{r}/scratch")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn command(&self, action: &str, extra: &[(&str, &str)]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_continuo"));
        c.arg("agent").env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
        c.envs(self.env(action)).envs(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        c
    }

    /// Runs the agent; its report (the termination message) and whether it succeeded.
    fn agent(&self, action: &str, extra: &[(&str, &str)]) -> (bool, Value, Output) {
        let _ = fs::remove_file(self.root.join("termination-log"));
        let out = self.command(action, extra).output().unwrap();
        let log = fs::read_to_string(self.root.join("termination-log")).unwrap_or_default();
        let report = serde_json::from_str(log.trim()).unwrap_or(Value::Null);
        (out.status.success(), report, out)
    }

    fn backup(&self) -> String {
        let (ok, report, out) = self.agent("backup", &[]);
        assert!(ok, "{report} {}", String::from_utf8_lossy(&out.stderr));
        report["id"].as_str().unwrap().to_string()
    }

    /// A repository holding one copy of an empty volume.
    fn backup_of_nothing(&self) {
        let empty = self.root.join("nothing");
        fs::create_dir_all(&empty).unwrap();
        let (ok, report, _) = self.agent("backup", &[("CONTINUO_BACKUP_PATHS", empty.to_str().unwrap())]);
        assert!(ok, "{report}");
    }

    fn volume(&self) -> PathBuf {
        self.root.join("volumes/archives")
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// Empty, large and sparse files, unicode names, a symlink, a nested directory, unusual permissions.
fn odd_tree(dir: &Path) {
    fs::create_dir_all(dir.join("nested/deeper")).unwrap();
    fs::write(dir.join("empty"), b"").unwrap();
    let mut large = fs::File::create(dir.join("large.bin")).unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let block: Vec<u8> = (0..(8 << 20))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    large.write_all(&block).unwrap();
    let sparse = fs::File::create(dir.join("sparse.img")).unwrap();
    sparse.set_len(64 << 20).unwrap();
    fs::write(dir.join("fatture-2026-€-ñ-日本.txt"), "tenant=acme\n".repeat(100)).unwrap();
    fs::write(dir.join("nested/deeper/private.key"), b"0123456789").unwrap();
    fs::set_permissions(dir.join("nested/deeper/private.key"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(dir.join("run.sh"), b"#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(dir.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(dir.join("nested/deeper"), fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink("fatture-2026-€-ñ-日本.txt", dir.join("latest")).unwrap();
}

/// Every entry of a tree: kind, mode, content or link target.
fn snapshot_of(dir: &Path) -> BTreeMap<String, (String, u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (String, u32, Vec<u8>)>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if rel.starts_with(".continuo") {
                continue;
            }
            let m = fs::symlink_metadata(&p).unwrap();
            let mode = m.permissions().mode() & 0o7777;
            if m.file_type().is_symlink() {
                out.insert(rel, ("link".into(), 0, fs::read_link(&p).unwrap().to_string_lossy().as_bytes().to_vec()));
            } else if m.is_dir() {
                out.insert(rel, ("dir".into(), mode, Vec::new()));
                walk(root, &p, out);
            } else {
                out.insert(rel, ("file".into(), mode, fs::read(&p).unwrap()));
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

#[test]
fn a_volume_backed_up_deleted_and_restored_as_the_init_container_does_comes_back_byte_for_byte() {
    if !restic_here("volume round trip") {
        return;
    }
    let w = World::new("roundtrip");
    odd_tree(&w.volume());
    let before = snapshot_of(&w.volume());
    let (ok, report, out) = w.agent("backup", &[]);
    assert!(ok, "{report} {}", String::from_utf8_lossy(&out.stderr));
    assert!(report["sizeBytes"].as_u64().unwrap() >= 8 << 20, "{report}");
    assert_eq!(report["files"], 6, "{report}");
    let id = report["id"].as_str().unwrap().to_string();

    // The volume is lost; a new, empty one is mounted in its place.
    fs::remove_dir_all(w.volume()).unwrap();
    fs::create_dir_all(w.volume()).unwrap();
    let restore = [
        ("CONTINUO_POINT_ID", id.as_str()),
        ("CONTINUO_RESTORE_TARGET", "volume"),
        ("CONTINUO_RESTORE_ORDINALS", "0"),
        ("CONTINUO_POD_INDEX", "0"),
        ("CONTINUO_RESTORE_MARKER", ".continuo-restored"),
    ];
    let (ok, report, out) = w.agent("restore", &restore);
    assert!(ok, "{report} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(report["restored"], serde_json::json!(["archives"]), "{report}");
    let after = snapshot_of(&w.volume());
    assert_eq!(before.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>());
    for (path, want) in &before {
        assert_eq!(&after[path], want, "{path} differs after the restore");
    }
    // Restarted, the init container restores nothing again; a pod not named keeps its volume.
    fs::write(w.volume().join("written-since"), b"new").unwrap();
    let (ok, report, _) = w.agent("restore", &restore);
    assert!(ok && report["alreadyRestored"] == serde_json::json!(["archives"]), "{report}");
    assert!(w.volume().join("written-since").exists());
    let mut other = restore;
    other[3] = ("CONTINUO_POD_INDEX", "1");
    let (ok, report, _) = w.agent("restore", &other);
    assert!(ok && report["restored"] == serde_json::json!([]), "{report}");
}

#[test]
fn a_copy_made_at_another_path_is_restored_by_its_directorys_name_and_an_unknown_copy_is_refused() {
    if !restic_here("restore from another path") {
        return;
    }
    let w = World::new("elsewhere");
    // Another agent (or a hand-made copy) backed the volume up where it was mounted then, not where it is now.
    let elsewhere = w.root.join("old-node/mnt/archives");
    odd_tree(&elsewhere);
    let before = snapshot_of(&elsewhere);
    let paths = elsewhere.to_string_lossy().into_owned();
    let (ok, report, out) = w.agent("backup", &[("CONTINUO_BACKUP_PATHS", paths.as_str())]);
    assert!(ok, "{report} {}", String::from_utf8_lossy(&out.stderr));
    let id = report["id"].as_str().unwrap().to_string();
    fs::create_dir_all(w.volume()).unwrap();
    let restore = |id: &str| {
        w.agent(
            "restore",
            &[("CONTINUO_POINT_ID", id), ("CONTINUO_RESTORE_ORDINALS", "0"), ("CONTINUO_POD_INDEX", "0")],
        )
    };
    let (ok, report, out) = restore(&id);
    assert!(ok, "{report} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(report["restored"], serde_json::json!(["archives"]), "{report}");
    assert_eq!(snapshot_of(&w.volume()), before, "the copy came back whole into the new volume");
    assert!(!w.volume().join(".continuo-staging").exists(), "nothing of the staging is left behind");

    let other = World::new("elsewhere-unknown");
    fs::create_dir_all(other.volume()).unwrap();
    other.backup_of_nothing();
    let (ok, report, _) = other.agent(
        "restore",
        &[("CONTINUO_POINT_ID", "deadbeef"), ("CONTINUO_RESTORE_ORDINALS", "0"), ("CONTINUO_POD_INDEX", "0")],
    );
    let why = report["error"].as_str().unwrap_or_default();
    assert!(!ok && why.contains("deadbeef"), "an unknown copy is refused, naming it: {report}");
}

#[test]
fn a_restore_drill_into_scratch_verifies_and_a_corrupted_repository_fails_it_with_a_clear_message() {
    if !restic_here("scratch restore") {
        return;
    }
    let w = World::new("scratch");
    odd_tree(&w.volume());
    let id = w.backup();
    let scratch = [("CONTINUO_POINT_ID", id.as_str()), ("CONTINUO_RESTORE_TARGET", "scratch")];
    let (ok, report, out) = w.agent("restore", &scratch);
    assert!(ok, "{report} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(report["verified"], true, "{report}");
    assert!(report["detail"].as_str().unwrap().contains("6 files"), "{report}");
    let (ok, report, _) = w.agent("verify", &[]);
    assert!(ok && report["verified"] == true, "{report}");

    // A pack file of the repository is damaged on the storage.
    let data = w.root.join("repository/erp/archive/data");
    let mut packs: Vec<PathBuf> = walk_files(&data);
    packs.sort_by_key(|p| std::cmp::Reverse(fs::metadata(p).unwrap().len()));
    let pack = &packs[0];
    let mut bytes = fs::read(pack).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle..middle + 64].iter_mut().for_each(|b| *b ^= 0xFF);
    fs::write(pack, bytes).unwrap();
    let (ok, report, _) = w.agent("verify", &[]);
    assert!(!ok, "a corrupted repository is not verified: {report}");
    assert_eq!(report["verified"], false);
    let detail = report["detail"].as_str().unwrap();
    assert!(detail.contains("the repository is damaged") && detail.contains("repository contains errors"), "{detail}");
    let (ok, report, _) = w.agent("restore", &scratch);
    assert!(!ok && report["verified"] == false, "the drill fails: {report}");
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk_files(&p)) } else { out.push(p) }
    }
    out
}

#[test]
fn delete_removes_exactly_one_copy_and_list_shows_the_others() {
    if !restic_here("delete") {
        return;
    }
    let w = World::new("delete");
    fs::create_dir_all(w.volume()).unwrap();
    let ids: Vec<String> = (0..3)
        .map(|n| {
            fs::write(w.volume().join(format!("day-{n}")), format!("{n}")).unwrap();
            w.backup()
        })
        .collect();
    let (ok, report, _) = w.agent("delete", &[("CONTINUO_POINT_ID", &ids[1])]);
    assert!(ok, "{report}");
    assert_eq!((report["deleted"].as_str(), report["remaining"].as_u64()), (Some(ids[1].as_str()), Some(2)));
    let (ok, report, out) = w.agent("list", &[]);
    assert!(ok && report["snapshots"] == 2, "{report}");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains(&ids[0]) && listed.contains(&ids[2]) && !listed.contains(&ids[1]), "{listed}");
    // The report names them too, newest first, as a recovery site rebuilds its catalog from it.
    let copies = continuo::sites::arrival::parse_listing(&report.to_string()).unwrap();
    let same = |listed: &str, made: &str| made.starts_with(listed) || listed.starts_with(made);
    assert!(copies.len() == 2 && same(&copies[0].id, &ids[2]) && same(&copies[1].id, &ids[0]), "{report}");
    // The others still restore.
    let scratch = [("CONTINUO_POINT_ID", ids[0].as_str()), ("CONTINUO_RESTORE_TARGET", "scratch")];
    assert!(w.agent("restore", &scratch).0);
}

#[test]
fn two_backups_at_once_and_an_interrupted_one_leave_every_copy_sound() {
    if !restic_here("concurrency") {
        return;
    }
    let w = World::new("concurrent");
    odd_tree(&w.volume());
    let first = w.backup();
    // Two runs at once (a copy on request beside a scheduled one): restic's locks keep them apart.
    let mut a = w
        .command("backup", &[("CONTINUO_TERMINATION_LOG", "/dev/null")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut b = w
        .command("backup", &[("CONTINUO_TERMINATION_LOG", "/dev/null")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    // A run killed half way (its node lost): a dump that never ends, so that the kill always lands mid-copy.
    use std::os::unix::process::CommandExt;
    let mut run = w.command("backup", &[("CONTINUO_TERMINATION_LOG", "/dev/null"), ("CONTINUO_DUMP_COMMAND", "yes")]);
    let mut c = run.process_group(0).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // The whole container goes at once: the agent and restic with it.
    Command::new("kill").args(["-KILL", "--", &format!("-{}", c.id())]).status().unwrap();
    let _ = c.wait();
    let (ok, report, _) = w.agent("verify", &[]);
    assert!(ok, "{report}");
    let scratch = [("CONTINUO_POINT_ID", first.as_str()), ("CONTINUO_RESTORE_TARGET", "scratch")];
    let (ok, report, _) = w.agent("restore", &scratch);
    assert!(ok && report["verified"] == true, "{report}");
    let (_, report, _) = w.agent("list", &[]);
    assert_eq!(report["snapshots"], 3, "three copies, and nothing of the interrupted one: {report}");
}

#[test]
fn a_database_dump_is_copied_as_one_file_whole_and_a_failing_dump_makes_no_copy() {
    if !restic_here("dump") {
        return;
    }
    let w = World::new("dump");
    // A "database" whose consistent dump is what a command writes to its standard output (pg_dump, in a real one).
    let dump = w.root.join("orders.sql");
    let text: String = (0..20_000).map(|i| format!("INSERT INTO orders VALUES ({i}, 'fattura-{i}-€');\n")).collect();
    fs::write(&dump, &text).unwrap();
    let command = format!("cat {}", dump.display());
    let (ok, report, out) = w.agent("backup", &[("CONTINUO_DUMP_COMMAND", command.as_str())]);
    assert!(ok, "{report} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(report["files"], 1, "{report}");
    assert_eq!(report["sizeBytes"].as_u64(), Some(text.len() as u64), "{report}");
    let id = report["id"].as_str().unwrap().to_string();
    // What restic holds is the dump, byte for byte.
    let repo = w.root.join("repository/erp/archive");
    let back = Command::new("restic")
        .args(["dump", &id, "/archive.dump"])
        .env("RESTIC_REPOSITORY", &repo)
        .env("RESTIC_PASSWORD", "not-a-real-secret")
        .output()
        .unwrap();
    assert!(back.status.success(), "{}", String::from_utf8_lossy(&back.stderr));
    assert!(back.stdout == text.as_bytes(), "the restored dump differs from the database's");
    // A drill restores it into scratch and verifies.
    let (ok, report, _) =
        w.agent("restore", &[("CONTINUO_POINT_ID", id.as_str()), ("CONTINUO_RESTORE_TARGET", "scratch")]);
    assert!(ok && report["verified"] == true, "{report}");
    // A dump that fails half way is no copy: none is kept, and the report says so.
    let (ok, report, _) = w.agent("backup", &[("CONTINUO_DUMP_COMMAND", "false")]);
    assert!(!ok && report["error"].as_str().unwrap_or_default().contains("no copy was made"), "{report}");
    let (_, report, _) = w.agent("list", &[]);
    assert_eq!(report["snapshots"], 1, "only the good dump: {report}");
}
