//! The batch controllers continuo relies on, played over the in-memory API as the real ones behave:
//! - the CronJob controller starts one Job per scheduled time from the CronJob's `jobTemplate`, named
//!   `<cronjob>-<scheduled minute since the epoch>` and controlled by the CronJob, and keeps only
//!   `successfulJobsHistoryLimit` succeeded and `failedJobsHistoryLimit` failed Jobs, deleting the oldest (their
//!   pods go with them);
//! - the Job controller finishes a Job: its conditions, its times, and its pod's termination message, where the
//!   agent writes its report.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::FakeApi;

fn jobs(ns: &str) -> String {
    format!("/apis/batch/v1/namespaces/{ns}/jobs")
}

fn pods(ns: &str) -> String {
    format!("/api/v1/namespaces/{ns}/pods")
}

impl FakeApi {
    /// The CronJob controller's run of `cron_job` scheduled at `at`, which the agent finished at once (`ok`, with
    /// `report` as its termination message), then the history limits applied. Returns the Job's name.
    pub fn cron_run(&self, ns: &str, cron_job: &str, at: Timestamp, ok: bool, report: Option<&str>) -> String {
        let cj = self.get(&format!("/apis/batch/v1/namespaces/{ns}/cronjobs"), cron_job).expect("the CronJob exists");
        let name = format!("{cron_job}-{}", at.as_second() / 60);
        let template = &cj["spec"]["jobTemplate"];
        self.put(
            &jobs(ns),
            json!({"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": name, "namespace": ns,
                    "labels": template["metadata"]["labels"], "annotations": template["metadata"]["annotations"],
                    "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": cron_job,
                        "uid": cj["metadata"]["uid"], "controller": true}]},
                "spec": template["spec"],
                "status": {"startTime": at.to_string()}}),
        );
        self.finish_job(ns, &name, ok, at, report);
        self.keep_history(ns, cron_job, &cj);
        name
    }

    /// The Job controller: `job` (and its one pod) finished at `at`, succeeded or failed, the agent's container
    /// having written `report` to its termination message.
    pub fn finish_job(&self, ns: &str, job: &str, ok: bool, at: Timestamp, report: Option<&str>) {
        let Some(j) = self.get(&jobs(ns), job) else { return };
        let condition = if ok { "Complete" } else { "Failed" };
        let started = j["status"]["startTime"].as_str().map(str::to_string).unwrap_or_else(|| at.to_string());
        self.edit(&jobs(ns), job, |j| {
            let mut status = json!({"startTime": started, "conditions": [{"type": condition, "status": "True"}]});
            if ok {
                status["completionTime"] = json!(at.to_string());
            }
            j["status"] = status;
        });
        let mut terminated = json!({"exitCode": if ok { 0 } else { 1 }});
        if let Some(m) = report {
            terminated["message"] = json!(m);
        }
        let mut labels = j["spec"]["template"]["metadata"]["labels"].clone();
        if !labels.is_object() {
            labels = json!({});
        }
        labels["job-name"] = json!(job);
        self.put(
            &pods(ns),
            json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("{job}-pod"), "namespace": ns, "labels": labels},
                "status": {"containerStatuses": [{"name": "agent", "state": {"terminated": terminated}}]}}),
        );
    }

    /// The CronJob controller's clean-up: of the finished Jobs `cron_job` controls, the newest succeeded and failed
    /// ones within its history limits stay; older ones are deleted with their pods.
    fn keep_history(&self, ns: &str, cron_job: &str, cj: &Value) {
        let owned: Vec<Value> = self
            .list(&jobs(ns))
            .into_iter()
            .filter(|j| j["metadata"]["ownerReferences"][0]["name"] == cron_job)
            .collect();
        for (condition, limit) in [("Complete", "successfulJobsHistoryLimit"), ("Failed", "failedJobsHistoryLimit")] {
            let limit = cj["spec"][limit].as_u64().unwrap_or(if condition == "Complete" { 3 } else { 1 }) as usize;
            let mut finished: Vec<&Value> = owned
                .iter()
                .filter(|j| {
                    j["status"]["conditions"]
                        .as_array()
                        .is_some_and(|cs| cs.iter().any(|c| c["type"] == condition && c["status"] == "True"))
                })
                .collect();
            finished.sort_by_key(|j| std::cmp::Reverse(j["status"]["startTime"].as_str().unwrap_or("").to_string()));
            for old in finished.into_iter().skip(limit) {
                let name = old["metadata"]["name"].as_str().unwrap_or_default();
                self.remove(&jobs(ns), name);
                self.remove(&pods(ns), &format!("{name}-pod"));
            }
        }
    }
}
