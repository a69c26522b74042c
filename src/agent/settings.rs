//! What the agent is asked to do, read from the contract's environment: the action, the repository (restic's own
//! backends, from the BackupLocation's `config`), what to copy, where to restore. Pure: a map in, settings out.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

/// The environment, as a map (tests build one; the agent reads its own).
pub type Env = BTreeMap<String, String>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Backup,
    Restore(Target),
    Delete,
    Verify,
    List,
}

/// Where a restore goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Into the claims mounted under the restore path (a recovered stateful replica's init container, a restore
    /// request): only in the ordinals named, once.
    Volume { path: PathBuf, ordinals: Vec<i64>, pod_index: Option<i64>, marker: String },
    /// Somewhere that is not the live data, checked against the copy's manifest (a Restore drill).
    Scratch { path: PathBuf },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub action: Action,
    /// The restic repository: the location's, with `/<namespace>/<service>` appended.
    pub repository: String,
    pub service: String,
    pub namespace: String,
    pub tiers: Vec<String>,
    /// The snapshot to restore or delete.
    pub point_id: Option<String>,
    /// What a backup copies: directories, one per volume.
    pub paths: Vec<PathBuf>,
    /// A command whose standard output is the copy (a database's consistent dump), instead of `paths`.
    pub dump: Option<Vec<String>>,
    pub restic: String,
    pub termination_log: PathBuf,
    pub work_dir: PathBuf,
}

fn get<'a>(env: &'a Env, key: &str) -> Option<&'a str> {
    env.get(key).map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// The settings, or what is missing or wrong, in words a person acts on.
pub fn read(env: &Env) -> Result<Settings, String> {
    let service = get(env, "CONTINUO_SERVICE").ok_or("CONTINUO_SERVICE is not set (continuo sets it)")?.to_string();
    let namespace =
        get(env, "CONTINUO_NAMESPACE").ok_or("CONTINUO_NAMESPACE is not set (continuo sets it)")?.to_string();
    let action = match get(env, "CONTINUO_ACTION") {
        Some("backup") => Action::Backup,
        Some("restore") => Action::Restore(target(env)?),
        Some("delete") => Action::Delete,
        Some("verify") => Action::Verify,
        Some("list") => Action::List,
        Some(other) => {
            return Err(format!("CONTINUO_ACTION {other:?} is not one of backup, restore, delete, verify, list"));
        }
        None => return Err("CONTINUO_ACTION is not set (continuo sets it)".into()),
    };
    let point_id = get(env, "CONTINUO_POINT_ID").map(str::to_string);
    if matches!(action, Action::Delete | Action::Restore(_)) && point_id.is_none() {
        return Err("CONTINUO_POINT_ID is not set: a restore or a delete needs the copy's snapshot id".into());
    }
    let dump = get(env, "CONTINUO_DUMP_COMMAND").map(|c| c.split_whitespace().map(str::to_string).collect());
    let restore_path = get(env, "CONTINUO_RESTORE_PATH").unwrap_or("/continuo/restore");
    let paths: Vec<PathBuf> = match get(env, "CONTINUO_BACKUP_PATHS") {
        Some(list) => list.split(',').map(str::trim).filter(|p| !p.is_empty()).map(PathBuf::from).collect(),
        None => subdirectories(Path::new(restore_path)),
    };
    if action == Action::Backup && dump.is_none() && paths.is_empty() {
        return Err(format!(
            "nothing to copy: no CONTINUO_BACKUP_PATHS, no CONTINUO_DUMP_COMMAND, and no volume under {restore_path}"
        ));
    }
    Ok(Settings {
        repository: repository(env, &namespace, &service)?,
        tiers: get(env, "CONTINUO_TIERS").map(|t| t.split(',').map(str::to_string).collect()).unwrap_or_default(),
        point_id,
        paths,
        dump,
        restic: get(env, "CONTINUO_RESTIC").unwrap_or("restic").to_string(),
        termination_log: get(env, "CONTINUO_TERMINATION_LOG").unwrap_or("/dev/termination-log").into(),
        work_dir: get(env, "CONTINUO_WORK_DIR").or(get(env, "TMPDIR")).unwrap_or("/tmp").into(),
        action,
        service,
        namespace,
    })
}

/// The directories under `root` (the volumes mounted there, one per claim), in name order.
pub(super) fn subdirectories(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else { return Vec::new() };
    let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs
}

fn target(env: &Env) -> Result<Target, String> {
    match get(env, "CONTINUO_RESTORE_TARGET").unwrap_or("volume") {
        "scratch" => {
            Ok(Target::Scratch { path: get(env, "CONTINUO_SCRATCH_PATH").unwrap_or("/tmp/continuo-scratch").into() })
        }
        "volume" => {
            let ordinals = get(env, "CONTINUO_RESTORE_ORDINALS")
                .unwrap_or("")
                .split(',')
                .filter_map(|o| o.trim().parse().ok())
                .collect();
            Ok(Target::Volume {
                path: get(env, "CONTINUO_RESTORE_PATH").unwrap_or("/continuo/restore").into(),
                ordinals,
                pod_index: get(env, "CONTINUO_POD_INDEX").and_then(|i| i.parse().ok()),
                marker: get(env, "CONTINUO_RESTORE_MARKER").unwrap_or(".continuo-restored").to_string(),
            })
        }
        other => Err(format!("CONTINUO_RESTORE_TARGET {other:?} is not volume or scratch")),
    }
}

/// The restic repository of this service, from the location's `config` (as `CONTINUO_LOCATION_<KEY>`): a whole
/// restic repository string (`repository`: a path, `s3:…`, `sftp:…`, `rest:…`), or a local `path`, an S3-compatible
/// `endpoint` and `bucket`, an `sftp` target (`user@host:/path`), or a `rest` server URL; each service's copies
/// under `<namespace>/<service>` inside it. Credentials come from the location's Secret, as restic's own variables.
pub fn repository(env: &Env, namespace: &str, service: &str) -> Result<String, String> {
    let base = if let Some(r) = get(env, "CONTINUO_LOCATION_REPOSITORY") {
        r.to_string()
    } else if let Some(p) = get(env, "CONTINUO_LOCATION_PATH") {
        p.to_string()
    } else if let (Some(endpoint), Some(bucket)) =
        (get(env, "CONTINUO_LOCATION_ENDPOINT"), get(env, "CONTINUO_LOCATION_BUCKET"))
    {
        let endpoint = if endpoint.contains("://") { endpoint.to_string() } else { format!("https://{endpoint}") };
        format!("s3:{}/{bucket}", endpoint.trim_end_matches('/'))
    } else if let Some(s) = get(env, "CONTINUO_LOCATION_SFTP") {
        format!("sftp:{s}")
    } else if let Some(r) = get(env, "CONTINUO_LOCATION_REST") {
        format!("rest:{r}")
    } else {
        return Err("the BackupLocation's config names no repository: set repository, path, endpoint and bucket, \
                    sftp, or rest"
            .into());
    };
    Ok(format!("{}/{namespace}/{service}", base.trim_end_matches('/')))
}

/// A repository string fit for a log or a report: any `user:password@` in it hidden.
pub fn redacted(repository: &str) -> String {
    match (repository.find("://"), repository.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}***{}", &repository[..scheme + 3], &repository[at..]),
        _ => repository.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        let mut e: Env =
            [("CONTINUO_SERVICE", "hub"), ("CONTINUO_NAMESPACE", "invoicing"), ("CONTINUO_ACTION", "backup")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        e.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        e
    }

    #[test]
    fn the_repository_comes_from_the_locations_config_under_the_service() {
        let r = |pairs: &[(&str, &str)]| repository(&env(pairs), "invoicing", "hub");
        assert_eq!(r(&[("CONTINUO_LOCATION_PATH", "/mnt/copies/")]).unwrap(), "/mnt/copies/invoicing/hub");
        assert_eq!(
            r(&[("CONTINUO_LOCATION_ENDPOINT", "s3.eu-south-2.example.com"), ("CONTINUO_LOCATION_BUCKET", "copies")])
                .unwrap(),
            "s3:https://s3.eu-south-2.example.com/copies/invoicing/hub"
        );
        assert_eq!(
            r(&[("CONTINUO_LOCATION_SFTP", "backup@vault:/srv")]).unwrap(),
            "sftp:backup@vault:/srv/invoicing/hub"
        );
        assert_eq!(
            r(&[("CONTINUO_LOCATION_REST", "https://vault:8000/")]).unwrap(),
            "rest:https://vault:8000/invoicing/hub"
        );
        assert_eq!(
            r(&[("CONTINUO_LOCATION_REPOSITORY", "s3:http://minio:9000/b")]).unwrap(),
            "s3:http://minio:9000/b/invoicing/hub"
        );
        assert!(r(&[]).unwrap_err().contains("names no repository"));
    }

    #[test]
    fn credentials_in_a_repository_url_are_never_shown() {
        assert_eq!(redacted("rest:https://agent:s3cret@vault:8000/x"), "rest:https://***@vault:8000/x");
        assert_eq!(redacted("/mnt/copies/x"), "/mnt/copies/x");
    }

    #[test]
    fn a_restore_or_delete_without_its_snapshot_and_an_unknown_action_are_refused_with_the_reason() {
        let loc = ("CONTINUO_LOCATION_PATH", "/r");
        assert!(read(&env(&[loc, ("CONTINUO_ACTION", "delete")])).unwrap_err().contains("CONTINUO_POINT_ID"));
        assert!(read(&env(&[loc, ("CONTINUO_ACTION", "copy")])).unwrap_err().contains("not one of"));
        let s = read(&env(&[
            loc,
            ("CONTINUO_ACTION", "restore"),
            ("CONTINUO_POINT_ID", "ab12"),
            ("CONTINUO_RESTORE_ORDINALS", "0,2"),
            ("CONTINUO_POD_INDEX", "2"),
        ]))
        .unwrap();
        match s.action {
            Action::Restore(Target::Volume { ordinals, pod_index, .. }) => {
                assert_eq!((ordinals, pod_index), (vec![0, 2], Some(2)));
            }
            other => panic!("{other:?}"),
        }
        let none = read(&env(&[loc, ("CONTINUO_RESTORE_PATH", "/nonexistent")])).unwrap_err();
        assert!(none.contains("nothing to copy"), "{none}");
    }
}
