//! restic, run as a program: every call with `--json` where restic has it, its summary read back; a repository
//! lock held by another run waited out (restic's own locks keep concurrent runs from corrupting the repository).

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use serde::Deserialize;

/// How many times a call refused for a lock held by another run is tried again, a few seconds apart.
const LOCK_RETRIES: u32 = 30;

pub struct Restic<'a> {
    pub bin: &'a str,
    pub repository: &'a str,
}

/// What `restic backup --json` sums up at its end.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub snapshot_id: String,
    #[serde(default)]
    pub total_files_processed: u64,
    #[serde(default)]
    pub total_bytes_processed: u64,
    #[serde(default)]
    pub data_added: u64,
    #[serde(default)]
    pub total_duration: f64,
}

/// One snapshot, as `restic snapshots --json` lists it.
#[derive(Deserialize, Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub id: String,
    pub short_id: String,
    pub time: String,
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// The summary line of `restic backup --json` output.
pub fn summary(stdout: &str) -> Result<Summary, String> {
    stdout
        .lines()
        .rfind(|l| l.contains("\"message_type\":\"summary\""))
        .ok_or_else(|| "restic backup printed no summary".to_string())
        .and_then(|l| serde_json::from_str(l).map_err(|e| format!("restic's summary {l:?}: {e}")))
}

impl Restic<'_> {
    fn command(&self) -> Command {
        let mut c = Command::new(self.bin);
        c.env("RESTIC_REPOSITORY", self.repository).env("RESTIC_PROGRESS_FPS", "0.2");
        c
    }

    /// Runs `args`, waiting out a lock another run holds; the standard output, or restic's own error.
    fn run(&self, args: &[&str], stdin: Option<Stdio>) -> Result<String, String> {
        let mut stdin = stdin;
        for attempt in 0..=LOCK_RETRIES {
            let mut c = self.command();
            c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
            c.stdin(stdin.take().unwrap_or(Stdio::null()));
            let out = c.output().map_err(|e| format!("cannot run {}: {e}", self.bin))?;
            if out.status.success() {
                return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
            }
            let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
            // A piped stdin cannot be replayed: only calls without one are tried again.
            let locked = err.contains("already locked") || err.contains("unable to create lock");
            if !locked || attempt == LOCK_RETRIES || args.contains(&"--stdin") {
                let verb = args.iter().find(|a| !a.starts_with('-')).unwrap_or(&"");
                return Err(format!("restic {verb}: {}", last_lines(&err, 6)));
            }
            std::thread::sleep(Duration::from_secs(2));
        }
        unreachable!("the loop returns")
    }

    /// Creates the repository when it does not exist yet.
    pub fn ensure(&self) -> Result<(), String> {
        if self.run(&["cat", "config"], None).is_ok() {
            return Ok(());
        }
        self.run(&["init"], None).map(|_| ())
    }

    /// Backs `paths` up in one snapshot; a repository that does not exist yet is created first. Every restic call
    /// pays for opening the repository (its key derivation takes about half a second), so the repository is
    /// created when restic says it is missing, not asked about before each copy.
    pub fn backup(&self, paths: &[PathBuf], host: &str, tags: &[String]) -> Result<Summary, String> {
        let mut args: Vec<String> = ["backup", "--json", "--host", host].map(String::from).to_vec();
        args.extend(tags.iter().flat_map(|t| ["--tag".to_string(), t.clone()]));
        args.extend(paths.iter().map(|p| p.to_string_lossy().into_owned()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        match self.run(&refs, None) {
            Err(e) if missing(&e) => {
                self.run(&["init"], None)?;
                summary(&self.run(&refs, None)?)
            }
            out => summary(&out?),
        }
    }

    /// Backs up what `dump` writes to its standard output, as the file `name`.
    pub fn backup_stream(&self, dump: &[String], name: &str, host: &str, tags: &[String]) -> Result<Summary, String> {
        let (program, rest) = dump.split_first().ok_or("CONTINUO_DUMP_COMMAND is empty")?;
        let mut producer = Command::new(program)
            .args(rest)
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run the dump command {program}: {e}"))?;
        let pipe = producer.stdout.take().ok_or("the dump command has no output")?;
        let mut args: Vec<String> =
            ["backup", "--json", "--stdin", "--stdin-filename", name, "--host", host].map(String::from).to_vec();
        args.extend(tags.iter().flat_map(|t| ["--tag".to_string(), t.clone()]));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let stored = self.run(&refs, Some(Stdio::from(pipe)));
        let status = producer.wait().map_err(|e| e.to_string())?;
        if !status.success() {
            // restic kept what it read; a partial dump is no copy: it is forgotten at once.
            if let Ok(s) = stored.as_deref().map(summary) {
                let _ = s.map(|s| self.forget(&s.snapshot_id));
            }
            return Err(format!("the dump command {program} failed ({status}): no copy was made"));
        }
        summary(&stored?)
    }

    pub fn snapshots(&self) -> Result<Vec<Snapshot>, String> {
        let out = self.run(&["snapshots", "--json"], None)?;
        serde_json::from_str(&out).map_err(|e| format!("restic snapshots: {e}"))
    }

    /// The snapshot whose id starts with `id`.
    pub fn snapshot(&self, id: &str) -> Result<Snapshot, String> {
        let all = self.snapshots()?;
        all.into_iter().find(|s| s.id.starts_with(id)).ok_or_else(|| format!("no snapshot {id} in the repository"))
    }

    /// Restores `include` (a path of the snapshot; all when `None`) of snapshot `id` under `target`.
    pub fn restore(&self, id: &str, include: Option<&str>, target: &Path) -> Result<(), String> {
        let target = target.to_string_lossy();
        let mut args = vec!["restore", id, "--target", &target];
        if let Some(i) = include {
            args.extend(["--include", i]);
        }
        self.run(&args, None).map(|_| ())
    }

    /// Removes snapshot `id` and the data only it held.
    pub fn forget(&self, id: &str) -> Result<(), String> {
        self.run(&["forget", id, "--prune"], None).map(|_| ())
    }

    /// restic's own check of the repository, reading every pack when `read_data`. Without taking restic's lock:
    /// it only reads, and a lock left by a run killed mid-way (its pod gone) would otherwise block it for the 30
    /// minutes restic waits before calling such a lock stale.
    pub fn check(&self, read_data: bool) -> Result<(), String> {
        let args: &[&str] = if read_data { &["--no-lock", "check", "--read-data"] } else { &["--no-lock", "check"] };
        self.run(args, None).map(|_| ()).map_err(|e| {
            // restic's retries say nothing a person acts on: the packs that failed and its verdict do.
            let found: Vec<&str> = e.split("; ").filter(|l| !l.contains("retrying after")).collect();
            format!("the repository is damaged: {}", found.join("; ").trim_start_matches("restic check: "))
        })
    }
}

/// Whether restic's error says there is no repository at the location (yet).
fn missing(error: &str) -> bool {
    error.contains("Is there a repository at the following location")
}

fn last_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backup_summary_is_read_from_restics_json_lines() {
        let out = r#"{"message_type":"status","percent_done":0.5}
{"message_type":"summary","files_new":3,"data_added":2048,"total_files_processed":3,"total_bytes_processed":4096,"total_duration":1.5,"snapshot_id":"c6bdf3af"}"#;
        let s = summary(out).unwrap();
        assert_eq!((s.snapshot_id.as_str(), s.total_files_processed, s.total_bytes_processed), ("c6bdf3af", 3, 4096));
        assert!(summary("{\"message_type\":\"status\"}").unwrap_err().contains("no summary"));
    }
}
