//! The Kubernetes objects that run the agent: a CronJob per [`Run`](super::Run), and the one-off Jobs of the
//! agent's other actions. Pure builders.
//!
//! The agent contract: the first container of `spec.backup.agent` is run with
//! - `CONTINUO_ACTION`: `backup`, `restore` or `delete`;
//! - `CONTINUO_SERVICE`, `CONTINUO_NAMESPACE`: whose data;
//! - `CONTINUO_TIERS`: the tiers a copy belongs to (comma-separated; empty for a copy made on request);
//! - `CONTINUO_POINT`, `CONTINUO_POINT_ID`: the recovery point and the agent's own id for it (restore, delete);
//! - `CONTINUO_RESTORE_SCOPE`: what to restore (`all`, or a tenant or archive the agent understands);
//! - `CONTINUO_LOCATION`, `CONTINUO_LOCATION_REGION`, `CONTINUO_LOCATION_ZONE`, and one
//!   `CONTINUO_LOCATION_<KEY>` per entry of the location's `config`; the location's Secret, if it names one, as
//!   environment variables;
//!
//! and reports a copy by writing one line of JSON to its termination message (`/dev/termination-log`):
//! `{"id": "…", "sizeBytes": 123, "capturedAt": "2026-11-25T02:00:04Z"}` (`capturedAt` optional: the Job's
//! start otherwise). A non-zero exit is a failed copy: counted, never catalogued.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        batch::v1::{CronJob, CronJobSpec, Job, JobSpec, JobTemplateSpec},
        core::v1::{Affinity, EnvFromSource, EnvVar, PodTemplateSpec, SecretEnvSource},
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{Resource, ResourceExt};

use super::tiers::Run;
use crate::{
    api::{BackupLocation, ResilientService},
    topology::Keys,
    workload::{self, FIELD_MANAGER, SERVICE_LABEL},
};

/// Label on the agent's Jobs and pods: `backup`, `restore` or `delete`.
pub const ACTION_LABEL: &str = "continuo.dev/action";
/// Annotation on a backup Job (from its CronJob's template): the tiers its copy belongs to.
pub const TIERS_ANNOTATION: &str = "continuo.dev/tiers";
/// Annotation on a Job: the recovery point it acts on (restore, delete, a copy on request).
pub const POINT_ANNOTATION: &str = "continuo.dev/recovery-point";
/// Annotation on a one-off Job: the uid of the object it runs for (the point, or the restore request), so that a
/// Job left by an earlier object of the same name is told apart from this one's.
pub const SUBJECT_ANNOTATION: &str = "continuo.dev/for-uid";
/// Annotation continuo puts on a scheduled backup Job once its copy is in the catalog: the point's name. The
/// CronJob keeps finished Jobs for a while; this mark, not the point's existence, is what says the run was
/// catalogued, so a point that retention deleted is never catalogued again from the Job still in the history.
pub const CATALOGUED_ANNOTATION: &str = "continuo.dev/catalogued-as";
/// A run that has not started this long after its time is skipped (and shows as a gap), rather than piling up.
pub const STARTING_DEADLINE_SECONDS: i64 = 3600;

/// What every agent pod of one service is made from.
pub struct Agent<'a> {
    pub service: &'a ResilientService,
    pub location: &'a BackupLocation,
    pub keys: &'a Keys,
    /// Zones the agent may run in: eligible ones only, so a copy is never scheduled into a zone that is down.
    pub zones: &'a [String],
    pub regions: Option<&'a [String]>,
    /// The reference agent's image, for a service that names no agent of its own.
    pub image: Option<&'a str>,
}

/// continuo's reference agent (`continuo agent`, restic) as a pod: non-root, no service account token, its
/// cache and the copy's manifest in an emptyDir at /tmp.
pub fn reference_agent(image: &str) -> PodTemplateSpec {
    serde_json::from_value(serde_json::json!({"spec": {
        "automountServiceAccountToken": false,
        "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "agent", "image": image,
            "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                                "capabilities": {"drop": ["ALL"]}},
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}],
        "volumes": [{"name": "tmp", "emptyDir": {}}]}}))
    .unwrap_or_default()
}

/// `<service>-backup-<tiers>`, kept within the 52 characters a CronJob name may have.
pub fn cron_job_name(service: &str, tiers: &[String]) -> String {
    let tiers = if tiers.is_empty() { "now".into() } else { tiers.join("-") };
    bounded_name(&format!("{service}-backup-{tiers}"), "", 52)
}

/// `base` + `suffix` when it fits in `max` characters; otherwise `base` cut short, a hash of the whole name (so
/// two long names stay distinct) and `suffix`.
/// On a service that reads another's copies (a site drill's copy): `namespace/name` of the service whose copies it
/// restores, and whose repository its agent reads. It makes no copy of its own and deletes none.
pub const COPIES_OF_ANNOTATION: &str = "continuo.dev/copies-of";

/// The service whose copies `svc` reads, as (namespace, name), when it reads another's.
pub fn copies_of(svc: &ResilientService) -> Option<(String, String)> {
    let text = svc.metadata.annotations.as_ref()?.get(COPIES_OF_ANNOTATION)?;
    let (ns, name) = text.split_once('/')?;
    (!ns.is_empty() && !name.is_empty()).then(|| (ns.to_string(), name.to_string()))
}

pub fn bounded_name(base: &str, suffix: &str, max: usize) -> String {
    let name = format!("{base}{suffix}");
    if name.len() <= max {
        return name;
    }
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    let tail = format!("-{:08x}{suffix}", h.finish() as u32);
    let keep = max.saturating_sub(tail.len()).min(base.len());
    format!("{}{tail}", base[..keep].trim_end_matches('-'))
}

/// The environment variable a location `config` key becomes.
pub fn location_variable(key: &str) -> String {
    let k: String = key.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("CONTINUO_LOCATION_{k}")
}

impl Agent<'_> {
    fn labels(&self, action: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app.kubernetes.io/managed-by".to_string(), FIELD_MANAGER.to_string()),
            (SERVICE_LABEL.to_string(), self.service.name_any()),
            (ACTION_LABEL.to_string(), action.to_string()),
        ])
    }

    /// The agent's pod for `action`, with the contract's variables.
    pub fn pod(&self, action: &str, vars: &[(&str, String)]) -> PodTemplateSpec {
        let declared = self.service.spec.backup.as_ref().and_then(|b| b.agent.clone());
        let agent = declared.or_else(|| self.image.map(reference_agent)).unwrap_or_default();
        let mut pod = agent;
        let meta = pod.metadata.get_or_insert_with(ObjectMeta::default);
        meta.labels.get_or_insert_with(BTreeMap::new).extend(self.labels(action));
        let spec = pod.spec.get_or_insert_with(Default::default);
        spec.restart_policy = Some("Never".into());
        workload::pin_to_zones(
            spec.affinity.get_or_insert_with(Affinity::default),
            self.keys,
            self.zones,
            self.regions,
        );
        let loc = &self.location.spec;
        // A drill's copy of a service reads that service's copies: its repository is the service's.
        let (namespace, service) = copies_of(self.service)
            .unwrap_or_else(|| (self.service.namespace().unwrap_or_default(), self.service.name_any()));
        let mut env = vec![
            ("CONTINUO_ACTION", action.to_string()),
            ("CONTINUO_SERVICE", service),
            ("CONTINUO_NAMESPACE", namespace),
            ("CONTINUO_LOCATION", self.location.name_any()),
            ("CONTINUO_LOCATION_REGION", loc.region.clone()),
            ("CONTINUO_LOCATION_ZONE", loc.zone.clone().unwrap_or_default()),
        ];
        env.extend(vars.iter().cloned());
        let mut env: Vec<EnvVar> =
            env.into_iter().map(|(k, v)| EnvVar { name: k.into(), value: Some(v), ..EnvVar::default() }).collect();
        env.extend(loc.config.iter().map(|(k, v)| EnvVar {
            name: location_variable(k),
            value: Some(v.clone()),
            ..EnvVar::default()
        }));
        if let Some(container) = spec.containers.first_mut() {
            let mine: Vec<String> = env.iter().map(|e| e.name.clone()).collect();
            let theirs = container.env.get_or_insert_with(Vec::new);
            theirs.retain(|e| !mine.contains(&e.name));
            theirs.extend(env);
            if let Some(secret) = &loc.secret_name {
                container.env_from.get_or_insert_with(Vec::new).push(EnvFromSource {
                    secret_ref: Some(SecretEnvSource { name: secret.clone(), optional: Some(false) }),
                    ..EnvFromSource::default()
                });
            }
        }
        pod
    }

    fn meta(&self, name: String, action: &str, annotations: BTreeMap<String, String>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name),
            namespace: self.service.namespace(),
            labels: Some(self.labels(action)),
            annotations: (!annotations.is_empty()).then_some(annotations),
            owner_references: self.service.controller_owner_ref(&()).map(|o| vec![o]),
            ..ObjectMeta::default()
        }
    }

    /// The CronJob of one run: in the class's time zone, never two copies at once, late runs kept within an hour.
    pub fn cron_job(&self, run: &Run, time_zone: &str) -> CronJob {
        let tiers = run.tiers.join(",");
        let annotations = BTreeMap::from([(TIERS_ANNOTATION.to_string(), tiers.clone())]);
        let name = cron_job_name(&self.service.name_any(), &run.tiers);
        CronJob {
            metadata: self.meta(name, "backup", annotations.clone()),
            spec: Some(CronJobSpec {
                schedule: run.schedule.clone(),
                time_zone: Some(time_zone.into()),
                concurrency_policy: Some("Forbid".into()),
                starting_deadline_seconds: Some(STARTING_DEADLINE_SECONDS),
                successful_jobs_history_limit: Some(3),
                failed_jobs_history_limit: Some(3),
                job_template: JobTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(self.labels("backup")),
                        annotations: Some(annotations),
                        ..ObjectMeta::default()
                    }),
                    spec: Some(JobSpec {
                        backoff_limit: Some(2),
                        template: self.pod("backup", &[("CONTINUO_TIERS", tiers)]),
                        ..JobSpec::default()
                    }),
                },
                ..CronJobSpec::default()
            }),
            status: None,
        }
    }

    /// A one-off Job running `action` for the recovery point `point`, on behalf of the object whose uid is
    /// `subject` (the point itself, or a restore request).
    pub fn job(&self, name: String, action: &str, point: &str, subject: &str, vars: &[(&str, String)]) -> Job {
        let annotations = BTreeMap::from([
            (POINT_ANNOTATION.to_string(), point.to_string()),
            (SUBJECT_ANNOTATION.to_string(), subject.to_string()),
        ]);
        let mut all = vec![("CONTINUO_POINT", point.to_string())];
        all.extend(vars.iter().cloned());
        Job {
            metadata: self.meta(name, action, annotations),
            spec: Some(JobSpec {
                backoff_limit: Some(2),
                template: self.pod(action, &all),
                ttl_seconds_after_finished: Some(7 * 24 * 3600),
                ..JobSpec::default()
            }),
            status: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn service() -> ResilientService {
        serde_json::from_value(json!({
            "apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService",
            "metadata": {"name": "einvoicing", "namespace": "hub", "uid": "u1"},
            "spec": {"className": "standard", "replicas": 3,
                "template": {"spec": {"containers": [{"name": "app", "image": "hub:1"}]}},
                "backup": {"location": "offsite-eu", "agent": {"spec": {"containers": [
                    {"name": "restic", "image": "restic/restic:0.17", "env": [{"name": "CONTINUO_ACTION", "value": "x"}]}]}}}}
        }))
        .unwrap()
    }

    fn location() -> BackupLocation {
        serde_json::from_value(json!({
            "apiVersion": "continuo.dev/v1alpha1", "kind": "BackupLocation", "metadata": {"name": "offsite-eu"},
            "spec": {"region": "eu-south-2", "config": {"bucket": "hub-backups", "s3-endpoint": "https://s3.example"},
                     "secretName": "restic-credentials"}
        }))
        .unwrap()
    }

    #[test]
    fn a_cron_job_runs_the_agent_in_the_class_time_zone_only_in_eligible_zones() {
        let (svc, loc) = (service(), location());
        let zones = ["eu-south-1a".to_string(), "eu-south-1b".to_string()];
        let agent =
            Agent { service: &svc, location: &loc, keys: &Keys::default(), zones: &zones, regions: None, image: None };
        let run = Run { schedule: "0 2 * * *".into(), tiers: vec!["archive".into(), "intraday".into()] };
        let cj = serde_json::to_value(agent.cron_job(&run, "Europe/Rome")).unwrap();
        assert_eq!(cj["metadata"]["name"], "einvoicing-backup-archive-intraday");
        assert_eq!(cj["metadata"]["ownerReferences"][0]["uid"], "u1");
        let spec = &cj["spec"];
        assert_eq!((spec["schedule"].as_str(), spec["timeZone"].as_str()), (Some("0 2 * * *"), Some("Europe/Rome")));
        assert_eq!(spec["concurrencyPolicy"], "Forbid");
        assert_eq!(spec["startingDeadlineSeconds"], STARTING_DEADLINE_SECONDS);
        assert_eq!(spec["jobTemplate"]["metadata"]["annotations"][TIERS_ANNOTATION], "archive,intraday");
        let pod = &spec["jobTemplate"]["spec"]["template"];
        assert_eq!(pod["spec"]["restartPolicy"], "Never");
        let term = &pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
            [0];
        assert_eq!(term["matchExpressions"][0]["values"], json!(["eu-south-1a", "eu-south-1b"]));
        let env: BTreeMap<String, String> = pod["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["name"].as_str().unwrap().into(), e["value"].as_str().unwrap().into()))
            .collect();
        assert_eq!(env["CONTINUO_ACTION"], "backup", "the contract's variables win over the template's");
        assert_eq!(env["CONTINUO_TIERS"], "archive,intraday");
        assert_eq!(env["CONTINUO_LOCATION_BUCKET"], "hub-backups");
        assert_eq!(env["CONTINUO_LOCATION_S3_ENDPOINT"], "https://s3.example");
        assert_eq!(env["CONTINUO_LOCATION_REGION"], "eu-south-2");
        assert_eq!(pod["spec"]["containers"][0]["envFrom"][0]["secretRef"]["name"], "restic-credentials");
    }

    #[test]
    fn long_names_stay_valid_and_distinct() {
        let a = cron_job_name(&"s".repeat(40), &["intraday".into(), "archive".into()]);
        let b = cron_job_name(&"s".repeat(40), &["intraday".into(), "monthly".into()]);
        assert!(a.len() <= 52 && b.len() <= 52 && a != b, "{a} {b}");
    }
}
