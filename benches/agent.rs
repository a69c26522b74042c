//! The reference agent's throughput against restic run by hand on the same data: a backup of `AGENT_BENCH_MIB`
//! (default 1,024) MiB of incompressible files into a local repository that exists, and its restore into an
//! empty volume, five times each, alternating with restic's, best of five; the agent's overhead (its checksum
//! manifest, the report, the restore's move into place) is the difference.
//!
//! `cargo bench --bench agent` (needs restic on the PATH; the data goes under `$TMPDIR`).

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

const RUNS: usize = 5;

fn restic(repo: &Path, args: &[&str], cwd: &Path) {
    let ok = Command::new("restic")
        .args(args)
        .env("RESTIC_REPOSITORY", repo)
        .env("RESTIC_PASSWORD", "bench")
        .current_dir(cwd)
        .stdout(Stdio::null())
        .status()
        .expect("restic on the PATH");
    assert!(ok.success(), "restic {args:?}");
}

fn agent(root: &Path, action: &str, extra: &[(&str, &str)]) {
    let ok = Command::new(env!("CARGO_BIN_EXE_continuo"))
        .arg("agent")
        .envs([
            ("CONTINUO_ACTION", action),
            ("CONTINUO_SERVICE", "bench"),
            ("CONTINUO_NAMESPACE", "bench"),
            ("RESTIC_PASSWORD", "bench"),
        ])
        .env("CONTINUO_LOCATION_PATH", root.join("agent-repo"))
        .env("CONTINUO_RESTORE_PATH", root.join("volumes"))
        .env("CONTINUO_TERMINATION_LOG", root.join("report"))
        .env("CONTINUO_WORK_DIR", root.join("work"))
        .envs(extra.iter().copied())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success(), "continuo agent {action}");
}

/// `mib` MiB of incompressible data in 64 MiB files.
fn data(dir: &Path, mib: usize) {
    fs::create_dir_all(dir).unwrap();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut block = vec![0u8; 1 << 20];
    for f in 0..mib.div_ceil(64) {
        let mut file = fs::File::create(dir.join(format!("part-{f:03}.bin"))).unwrap();
        for _ in 0..64.min(mib - f * 64) {
            for b in block.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b.copy_from_slice(&x.to_le_bytes());
            }
            file.write_all(&block).unwrap();
        }
    }
}

fn timed(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

fn main() {
    let mib: usize = std::env::var("AGENT_BENCH_MIB").ok().and_then(|m| m.parse().ok()).unwrap_or(1024);
    let root: PathBuf = std::env::temp_dir().join(format!("continuo-agent-bench-{}", std::process::id()));
    let volume = root.join("volumes/data");
    data(&volume, mib);
    // The agent's repository is the location's path with `<namespace>/<service>` appended.
    let (by_hand, agent_repo) = (root.join("hand-repo"), root.join("agent-repo/bench/bench"));
    let fresh = |repo: &Path| {
        let _ = fs::remove_dir_all(repo);
        restic(repo, &["init"], &root);
    };

    // Runs alternate, the agent's and restic's, each after `sync`: neither pays for the other's writeback, and a
    // slower minute of the machine falls on both.
    let settle = || {
        let _ = Command::new("sync").status();
    };
    let target = root.join("restored");
    let (mut hand_backup, mut agent_backup, mut hand_restore, mut agent_restore) =
        (f64::MAX, f64::MAX, f64::MAX, f64::MAX);
    for _ in 0..RUNS {
        // Both into a repository that exists: a service's first copy also creates it, once.
        fresh(&by_hand);
        settle();
        hand_backup = hand_backup.min(timed(|| restic(&by_hand, &["backup", volume.to_str().unwrap()], &root)));
        fresh(&agent_repo);
        settle();
        agent_backup = agent_backup.min(timed(|| agent(&root, "backup", &[])));
        let report = fs::read_to_string(root.join("report")).unwrap();
        let id = report.split("\"id\":\"").nth(1).unwrap().split('"').next().unwrap().to_string();
        let _ = fs::remove_dir_all(&target);
        settle();
        hand_restore = hand_restore
            .min(timed(|| restic(&by_hand, &["restore", "latest", "--target", target.to_str().unwrap()], &root)));
        // The volume is lost; an empty one is mounted in its place, and the agent restores into it.
        let _ = fs::remove_dir_all(&volume);
        fs::create_dir_all(&volume).unwrap();
        settle();
        agent_restore = agent_restore.min(timed(|| {
            agent(
                &root,
                "restore",
                &[("CONTINUO_POINT_ID", &id), ("CONTINUO_RESTORE_ORDINALS", "0"), ("CONTINUO_POD_INDEX", "0")],
            )
        }));
        // What was restored is the next round's data: the same bytes.
        let _ = fs::remove_file(volume.join(".continuo-restored"));
    }
    let rate = |secs: f64| mib as f64 / secs;
    println!("{mib} MiB, best of {RUNS}:");
    println!(
        "  backup   restic by hand {hand_backup:6.2} s ({:6.1} MiB/s)   agent {agent_backup:6.2} s ({:6.1} MiB/s)   overhead {:+.1} %",
        rate(hand_backup),
        rate(agent_backup),
        100.0 * (agent_backup / hand_backup - 1.0)
    );
    println!(
        "  restore  restic by hand {hand_restore:6.2} s ({:6.1} MiB/s)   agent {agent_restore:6.2} s ({:6.1} MiB/s)   overhead {:+.1} %",
        rate(hand_restore),
        rate(agent_restore),
        100.0 * (agent_restore / hand_restore - 1.0)
    );
    let _ = fs::remove_dir_all(&root);
}
