//! Retention as it runs on a real cluster: the CronJob controller keeps finished backup Jobs after their copy
//! expired, the Job controller finishes one-off runs, watches deliver their changes in their own order, and a
//! Job's pod template cannot be changed. A copy that retention deleted must stay gone, no reconcile may fail, and
//! the RPO verdict must follow the clock while retention runs.

mod support;

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
};

use continuo::{
    api::ResilientService,
    controller::{Context, reconcile},
    plan::Config,
};
use k8s_openapi::{
    api::core::v1::Node,
    jiff::{SignedDuration, Timestamp},
};
use kube::runtime::events::Reporter;
use serde_json::{Value, json};
use support::{FakeApi, Feed, nodes};

const NS: &str = "ledger";
const SERVICES: &str = "/apis/continuo.dev/v1alpha1/namespaces/ledger/resilientservices";
const CLASSES: &str = "/apis/continuo.dev/v1alpha1/continuityclasses";
const LOCATIONS: &str = "/apis/continuo.dev/v1alpha1/backuplocations";
const POINTS: &str = "/apis/continuo.dev/v1alpha1/namespaces/ledger/recoverypoints";
const JOBS: &str = "/apis/batch/v1/namespaces/ledger/jobs";
const CRON_JOB: &str = "ledger-backup-minutely";

/// A copy every minute, the last 2 kept; a zone loss may cost 3 minutes of data.
fn class() -> Value {
    json!({
        "apiVersion": "continuo.dev/v1alpha1", "kind": "ContinuityClass", "metadata": {"name": "minutely"},
        "spec": {"mode": "Restart", "minZones": 2,
            "objectives": [{"scope": "Zone", "rto": "60m", "rpo": "3m"}],
            "backup": {"timeZone": "UTC", "tiers": [{"name": "minutely", "schedule": "* * * * *", "keep": {"last": 2}}]}}
    })
}

fn service() -> Value {
    json!({
        "apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService",
        "metadata": {"name": "ledger", "namespace": NS},
        "spec": {"className": "minutely", "replicas": 2,
            "template": {"spec": {"containers": [{"name": "app", "image": "ledger:1"}]}},
            "backup": {"location": "offsite", "expectedDuration": "10s",
                "agent": {"spec": {"containers": [{"name": "agent", "image": "agent:1"}]}}}}
    })
}

struct World {
    api: FakeApi,
    nodes: Vec<Node>,
    ctx: Mutex<Arc<Context>>,
    feed: Mutex<Feed>,
    clock: Arc<Mutex<Timestamp>>,
    /// Reconciles that returned an error.
    errors: Mutex<Vec<String>>,
}

impl World {
    fn new(start: Timestamp) -> World {
        let api = FakeApi::default();
        api.put(CLASSES, class());
        api.put(
            LOCATIONS,
            json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "BackupLocation", "metadata": {"name": "offsite"},
                "spec": {"region": "eu-south-2", "config": {"bucket": "ledger"}}}),
        );
        api.put(SERVICES, service());
        let nodes = nodes(&["eu-south-1a", "eu-south-1b", "eu-south-1c"], 1);
        let clock = Arc::new(Mutex::new(start));
        let (ctx, feed) = operator(&api, &nodes, &clock);
        World { api, nodes, ctx: ctx.into(), feed: feed.into(), clock, errors: Mutex::default() }
    }

    /// The operator restarts: new caches, listed afresh, and nothing remembered.
    fn restart(&self) {
        let (ctx, feed) = operator(&self.api, &self.nodes, &self.clock);
        *self.ctx.lock().unwrap() = ctx;
        *self.feed.lock().unwrap() = feed;
    }

    fn now(&self) -> Timestamp {
        *self.clock.lock().unwrap()
    }

    fn advance(&self, by: SignedDuration) {
        let mut c = self.clock.lock().unwrap();
        *c += by;
    }

    /// One reconcile after the caches of `kinds` (all, when empty) caught up.
    async fn reconcile_after(&self, kinds: &[&str]) {
        self.feed.lock().unwrap().sync_only(&self.api, &self.nodes, kinds);
        let svc: ResilientService = serde_json::from_value(self.api.get(SERVICES, "ledger").unwrap()).unwrap();
        let ctx = self.ctx.lock().unwrap().clone();
        if let Err(e) = reconcile(Arc::new(svc), ctx).await {
            self.errors.lock().unwrap().push(e.to_string());
        }
    }

    async fn reconcile(&self) {
        self.reconcile_after(&[]).await
    }

    /// The Job controller: every one-off delete run still running finishes, as the agent deleted the copy.
    fn finish_delete_runs(&self) {
        for j in self.api.list(JOBS) {
            let name = j["metadata"]["name"].as_str().unwrap();
            if j["metadata"]["labels"]["continuo.dev/action"] == "delete" && j["status"]["conditions"].is_null() {
                self.api.finish_job(NS, name, true, self.now(), None);
            }
        }
    }

    /// `n` minutes of the CronJob's runs, each a good copy, without a reconcile between them.
    fn copies_a_minute(&self, n: usize) {
        for minute in 0..n {
            self.api.cron_run(NS, CRON_JOB, self.now(), true, Some(&report(&format!("snap-{minute}"))));
            self.advance(SignedDuration::from_secs(60));
        }
    }

    fn points(&self) -> BTreeSet<String> {
        self.api.list(POINTS).iter().map(|p| p["metadata"]["name"].as_str().unwrap().to_string()).collect()
    }

    fn rpo(&self) -> Value {
        let svc = self.api.get(SERVICES, "ledger").unwrap();
        svc["status"]["objectives"].as_array().unwrap().iter().find(|o| o["objective"] == "RPO").unwrap().clone()
    }

    /// How many times a Job of each name was created or changed.
    fn job_writes(&self) -> Vec<(String, String)> {
        self.api.writes().into_iter().filter(|(_, p)| p.starts_with(JOBS)).collect()
    }
}

fn operator(api: &FakeApi, nodes: &[Node], clock: &Arc<Mutex<Timestamp>>) -> (Arc<Context>, Feed) {
    let (caches, feed) = api.watched(nodes);
    let reporter = Reporter { controller: "continuo".into(), instance: None };
    let read = clock.clone();
    let ctx = Context::new(api.client(), caches, Config::default(), reporter).with_clock(move || *read.lock().unwrap());
    (Arc::new(ctx), feed)
}

fn report(id: &str) -> String {
    format!("{{\"id\": \"{id}\", \"sizeBytes\": 4096}}")
}

fn start() -> Timestamp {
    "2026-11-29T10:00:00Z".parse().unwrap()
}

#[tokio::test]
async fn an_expired_copy_is_deleted_once_and_stays_gone_while_its_job_is_kept_in_the_cron_jobs_history() {
    let w = World::new(start());
    w.reconcile().await;
    let cj = w.api.get("/apis/batch/v1/namespaces/ledger/cronjobs", CRON_JOB).unwrap();
    assert_eq!(cj["spec"]["schedule"], "* * * * *", "a schedule that shares no run stays as written");
    for minute in 0..10 {
        w.api.cron_run(NS, CRON_JOB, w.now(), true, Some(&report(&format!("snap-{minute}"))));
        for round in 0..4 {
            w.advance(SignedDuration::from_secs(5));
            // The points' watch delivers before the Jobs', or the other way round.
            let first = if (minute + round) % 2 == 0 { ["recoverypoints"] } else { ["jobs"] };
            w.reconcile_after(&first).await;
            w.reconcile().await;
            w.finish_delete_runs();
        }
        assert!(w.points().len() <= 3, "minute {minute}: retention keeps the last 2 (and one being deleted)");
        // Across a restart too: what was catalogued is not remembered in memory only.
        w.restart();
        w.reconcile().await;
        w.reconcile().await;
        w.advance(SignedDuration::from_secs(40));
    }
    // In the order the API received them: no point is written again once deleted.
    let mut deleted: BTreeSet<String> = BTreeSet::new();
    for (method, path) in w.api.writes() {
        let Some(rest) = path.strip_prefix(&format!("{POINTS}/")) else { continue };
        let name = rest.split('/').next().unwrap().to_string();
        // (A DELETE repeated from a cache not yet showing the first is answered 404 and changes nothing.)
        assert!(!deleted.contains(&name) || method == "DELETE", "{method} {path}: a deleted copy is catalogued again");
        if method == "DELETE" {
            deleted.insert(name);
        }
    }
    let history: Vec<String> =
        w.api.list(JOBS).iter().map(|j| j["metadata"]["name"].as_str().unwrap().to_string()).collect();
    assert!(
        deleted.iter().any(|d| history.contains(d)),
        "copies were deleted while their Jobs stayed in the history: deleted {deleted:?}, Jobs {history:?}"
    );
    assert_eq!(w.points().len(), 2);
    assert_eq!(*w.errors.lock().unwrap(), Vec::<String>::new(), "no reconcile failed");
    // Each delete run was created once and never applied again; a backup Job only gets its mark, once.
    let writes = w.api.writes_with_query();
    let applied: Vec<&(String, String, String)> =
        writes.iter().filter(|(m, p, q)| m == "PATCH" && p.starts_with(JOBS) && q.contains("fieldManager")).collect();
    assert_eq!(applied, Vec::<&(String, String, String)>::new(), "a Job is never re-applied");
    let marks: Vec<&String> =
        writes.iter().filter(|(m, p, _)| m == "PATCH" && p.starts_with(JOBS)).map(|w| &w.1).collect();
    let distinct: BTreeSet<&&String> = marks.iter().collect();
    assert_eq!(distinct.len(), marks.len(), "each backup Job is marked once: {marks:?}");
    assert!(marks.len() >= 9, "every catalogued run is marked: {marks:?}");
    let delete_runs: Vec<String> = w
        .api
        .list(JOBS)
        .iter()
        .filter(|j| j["metadata"]["labels"]["continuo.dev/action"] == "delete")
        .map(|j| j["metadata"]["annotations"]["continuo.dev/recovery-point"].as_str().unwrap().to_string())
        .collect();
    let distinct: BTreeSet<&String> = delete_runs.iter().collect();
    assert_eq!(distinct.len(), delete_runs.len(), "one delete run per copy: {delete_runs:?}");
}

#[tokio::test]
async fn the_rpo_verdict_turns_within_a_minute_of_the_newest_copy_passing_the_rpo_while_retention_runs() {
    let w = World::new(start());
    w.reconcile().await;
    for minute in 0..5 {
        w.api.cron_run(NS, CRON_JOB, w.now(), true, Some(&report(&format!("snap-{minute}"))));
        w.advance(SignedDuration::from_secs(5));
        w.reconcile().await;
        w.finish_delete_runs();
        w.reconcile().await;
        w.advance(SignedDuration::from_secs(55));
    }
    assert_eq!(w.rpo()["reason"], "RPOMet");
    let newest = w.now() - SignedDuration::from_secs(60);
    // The agent fails from now on; the CronJob keeps running it and retention keeps deleting.
    let mut turned = None;
    for _ in 0..8 {
        w.api.cron_run(NS, CRON_JOB, w.now(), false, None);
        w.advance(SignedDuration::from_secs(20));
        w.reconcile().await;
        w.finish_delete_runs();
        w.reconcile().await;
        if turned.is_none() && w.rpo()["reason"] == "NewestCopyTooOld" {
            turned = Some(w.now());
        }
        w.advance(SignedDuration::from_secs(40));
    }
    let turned = turned.expect("the verdict turned");
    let late = turned.duration_since(newest + SignedDuration::from_mins(3));
    assert!(late <= SignedDuration::from_mins(1), "turned {late:?} after the copy passed the RPO");
    assert!(w.rpo()["message"].as_str().unwrap().contains("not met — newest copy"), "{}", w.rpo());
    assert_eq!(*w.errors.lock().unwrap(), Vec::<String>::new(), "no reconcile failed");
}

#[tokio::test]
async fn a_delete_run_that_exists_already_is_taken_as_the_run_and_never_patched() {
    let w = World::new(start());
    w.reconcile().await;
    w.copies_a_minute(3);
    w.reconcile().await;
    w.reconcile().await;
    // The oldest copy expired: its delete run started. Its point's status is then lost (say, the status write
    // failed), and the run's template no longer matches what continuo would build now (the zones changed).
    let oldest = w.points().into_iter().next().unwrap();
    let run = format!("{oldest}-delete");
    assert!(w.api.get(JOBS, &run).is_some(), "{:?}", w.api.list(JOBS));
    w.api.edit(POINTS, &oldest, |p| p["status"]["phase"] = json!("Available"));
    w.api.edit(JOBS, &run, |j| j["spec"]["template"]["spec"]["containers"][0]["image"] = json!("agent:0"));
    w.api.clear_log();
    w.reconcile().await;
    assert_eq!(*w.errors.lock().unwrap(), Vec::<String>::new());
    let delete_run_writes: Vec<(String, String)> =
        w.job_writes().into_iter().filter(|(_, p)| p.ends_with("-delete")).collect();
    assert_eq!(delete_run_writes, vec![], "the delete run is neither patched nor created again");
    assert_eq!(w.api.get(POINTS, &oldest).unwrap()["status"]["phase"], "Deleting");
    w.finish_delete_runs();
    w.reconcile().await;
    w.reconcile().await;
    assert!(!w.points().contains(&oldest));
}

#[tokio::test]
async fn a_failing_delete_never_stops_the_status_from_being_written() {
    let w = World::new(start());
    w.reconcile().await;
    w.copies_a_minute(3);
    // Every write to Jobs fails from now on: no delete run can start.
    w.api.refuse(JOBS, 500, "InternalError", "etcdserver: request timed out");
    w.reconcile().await;
    w.reconcile().await;
    assert_eq!(w.rpo()["reason"], "RPOMet");
    w.advance(SignedDuration::from_mins(4));
    w.reconcile().await;
    assert_eq!(w.rpo()["reason"], "NewestCopyTooOld", "the verdict is written though retention failed");
    assert_eq!(*w.errors.lock().unwrap(), Vec::<String>::new(), "a failed side step is no reconcile error");
    let events = w.api.list("/apis/events.k8s.io/v1/namespaces/ledger/events");
    assert!(
        events.iter().any(|e| e["type"] == "Warning"
            && e["reason"] == "CopyDeleteFailed"
            && e["note"].as_str().unwrap().contains("request timed out")),
        "{events:?}"
    );
}
