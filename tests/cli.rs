//! The `continuo` binary, run offline as a user would.

use std::process::{Command, Output};

use serde_json::Value;

fn continuo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_continuo")).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn plan_json(args: &[&str]) -> (Vec<Value>, String) {
    let mut all = vec!["plan", "-o", "json"];
    all.extend_from_slice(args);
    let out = continuo(&all);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    (list["items"].as_array().unwrap().clone(), text(&out.stderr))
}

fn kinds(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|o| format!("{}/{}", o["kind"].as_str().unwrap(), o["metadata"]["name"].as_str().unwrap()))
        .collect()
}

#[test]
fn plan_of_the_einvoicing_hub_spreads_six_replicas_over_three_zones_with_spare() {
    let (items, report) = plan_json(&["-f", "examples/einvoicing-hub.yaml"]);
    assert_eq!(
        kinds(&items),
        [
            "Deployment/passhub-eu-south-1a",
            "Deployment/passhub-eu-south-1b",
            "Deployment/passhub-eu-south-1c",
            "PodDisruptionBudget/passhub",
            "Service/passhub"
        ]
    );
    assert!(items[..3].iter().all(|d| d["spec"]["replicas"] == 3));
    assert!(report.contains("Zone: RTO 1m feasible — 3 zones × 3 replicas, any zone loss leaves 6 ≥ 6"), "{report}");
    // RPO 0 judged on the database behind the service, with its evidence in numbers.
    assert!(
        report.contains(
            "Zone: RPO 0s met — passhub-db: 3 instances in eu-south-1a/b/c, 1 synchronous standby(s) required \
             outside the primary's zone"
        ),
        "{report}"
    );
    assert!(report.contains("Node: RPO 0s met — passhub-db: 3 instances on 3 nodes"), "{report}");
    assert!(report.contains("5s promotion = 55s ≤ 1m"), "the database's failover joins the RTO: {report}");
    assert!(report.contains("ObjectivesMet=True"), "{report}");
}

/// The example's Cluster with one change, planned from a temporary file.
fn einvoicing_with(edit: impl Fn(&str) -> String) -> (Vec<Value>, String) {
    let text = std::fs::read_to_string("examples/einvoicing-hub.yaml").unwrap();
    let dir = std::env::temp_dir().join(format!("continuo-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("hub-{}.yaml", text.len() ^ edit("").len()));
    std::fs::write(&file, edit(&text)).unwrap();
    let out = plan_json(&["-f", file.to_str().unwrap()]);
    std::fs::remove_file(&file).ok();
    out
}

#[test]
fn the_einvoicing_hub_on_preferred_durability_keeps_no_rpo_zero_and_says_what_to_change() {
    let (_, report) = einvoicing_with(|t| t.replace("dataDurability: required", "dataDurability: preferred"));
    assert!(
        report.contains(
            "Zone: RPO 0s not met — passhub-db replicates with dataDurability preferred: with its standbys gone it \
             acknowledges writes no other node holds; set spec.postgresql.synchronous.dataDurability: required"
        ),
        "{report}"
    );
    assert!(report.contains("ObjectivesMet=False"), "{report}");
}

#[test]
fn a_data_entry_naming_a_cluster_not_in_the_files_is_unknown_not_met() {
    let (_, report) =
        einvoicing_with(|t| t.replace("cloudNativePG: {cluster: passhub-db}", "cloudNativePG: {cluster: other}"));
    assert!(report.contains("DataSourceNotFound"), "{report}");
    assert!(report.contains("CloudNativePG invoicing/other does not exist"), "{report}");
    assert!(report.contains("ObjectivesMet=Unknown"), "{report}");
}

#[test]
fn plan_of_many_services_prints_the_spread_and_each_zones_blast_radius() {
    let dir = std::env::temp_dir().join(format!("continuo-cli-spread-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("hotels.yaml");
    let mut docs = String::from(
        "apiVersion: continuo.dev/v1alpha1\nkind: ContinuityClass\nmetadata: {name: warm}\n\
         spec: {mode: WarmStandby, objectives: [{scope: Zone, rto: 15m}]}\n",
    );
    for i in 0..30 {
        docs += &format!(
            "---\napiVersion: continuo.dev/v1alpha1\nkind: ResilientService\nmetadata: {{name: hotel-{i:02}, namespace: hotels}}\n\
             spec: {{className: warm, replicas: 4, template: {{spec: {{containers: [{{name: app, image: app:1}}]}}}}}}\n"
        );
    }
    std::fs::write(&file, docs).unwrap();
    let out = continuo(&["plan", "-f", file.to_str().unwrap(), "--zones", "z1,z2,z3"]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stderr);
    let table = report.split("spread of 30 service(s)").nth(1).unwrap_or_else(|| panic!("{report}"));
    let rows: Vec<Vec<i64>> = table
        .lines()
        .filter(|l| l.trim_start().starts_with('z'))
        .map(|l| l.split_whitespace().skip(1).map(|n| n.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 3, "{table}");
    for r in &rows {
        let (primaries, replicas, short, to_move) = (r[0], r[1], r[2], r[3]);
        assert!((5..=15).contains(&primaries), "about a third of the primaries in each zone: {table}");
        assert_eq!(replicas, primaries * 4 + (30 - primaries), "{table}");
        assert_eq!(short, primaries, "a zone's loss costs only the services whose primary it holds: {table}");
        assert_eq!(to_move, primaries * 2, "4 declared, their 2 standbys left: {table}");
    }
    assert_eq!(rows.iter().map(|r| r[0]).sum::<i64>(), 30);
}

#[test]
fn plan_yaml_is_a_stream_kubectl_can_apply() {
    let out = continuo(&["plan", "-f", "examples/booking-engine.yaml", "--zones", "z1,z2,z3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text(&out.stdout)).unwrap();
    let docs: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    let mut replicas: Vec<i64> =
        docs.iter().filter(|d| d["kind"] == "Deployment").map(|d| d["spec"]["replicas"].as_i64().unwrap()).collect();
    replicas.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(replicas, [4, 1, 1], "the primary runs the capacity, the others a warm standby");
    let report = text(&out.stderr);
    assert!(report.contains("z1") && report.contains("Primary") && report.contains("Standby"), "{report}");
}

#[test]
fn plan_against_real_nodes_respects_residency_and_readiness() {
    let (items, report) = plan_json(&["-f", "tests/fixtures/residency.yaml", "--nodes", "tests/fixtures/nodes.yaml"]);
    assert_eq!(kinds(&items)[..2], ["Deployment/portal-eu-south-1a", "Deployment/portal-eu-south-1b"]);
    assert!(!kinds(&items).iter().any(|k| k.contains("us-east")), "the US zone is outside the residency");
    for d in items.iter().filter(|o| o["kind"] == "Deployment") {
        let exprs = &d["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            ["nodeSelectorTerms"][0]["matchExpressions"];
        assert!(
            exprs
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["key"] == "topology.kubernetes.io/region" && e["values"][0] == "eu-south-1")
        );
    }
    // eu-south-1a has two nodes but one is NotReady.
    assert!(report.contains("eu-south-1a") && report.contains("yes           1"), "{report}");
}

#[test]
fn invalid_replicas_names_the_file_the_object_and_the_field() {
    let out = continuo(&["plan", "-f", "tests/fixtures/bad-replicas.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("tests/fixtures/bad-replicas.yaml"), "{err}");
    assert!(err.contains("ResilientService shop/broken"), "{err}");
    assert!(err.contains("spec.replicas") && err.contains("replicas must be at least 1"), "{err}");
    assert!(out.stdout.is_empty(), "nothing is printed to apply");
}

#[test]
fn a_repeated_zone_is_refused_as_the_api_server_refuses_it() {
    let out = continuo(&["plan", "-f", "tests/fixtures/duplicate-zone.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("ResilientService shop/twice: spec.zones[2]: Duplicate value: \"eu-south-1a\""), "{err}");
    assert!(out.stdout.is_empty(), "nothing is printed to apply");
}

#[test]
fn malformed_duration_names_the_field() {
    let out = continuo(&["plan", "-f", "tests/fixtures/bad-duration.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("ContinuityClass sloppy") && err.contains("spec.objectives[0].rto"), "{err}");
    assert!(err.contains("15 minutes"), "{err}");
}

#[test]
fn unknown_class_is_reported_with_the_known_ones() {
    let out = continuo(&["plan", "-f", "tests/fixtures/unknown-class.yaml"]);
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(err.contains("shop/shop") && err.contains("ClassNotFound") && err.contains("\"platinum\""), "{err}");
    assert!(err.contains("active-active, standard, warm-standby"), "{err}");
}

#[test]
fn missing_file_and_not_yaml_are_clear_errors() {
    let out = continuo(&["plan", "-f", "tests/fixtures/nope.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("tests/fixtures/nope.yaml"));
    let out = continuo(&["plan", "-f", "Cargo.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("Cargo.toml"), "{}", text(&out.stderr));
}

#[test]
fn crds_command_prints_the_committed_crds() {
    let out = continuo(&["crds"]);
    assert!(out.status.success());
    let committed = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/crds/continuo.yaml")).unwrap();
    assert_eq!(out.stdout, committed);
}

#[test]
fn an_out_of_range_lease_timeout_or_hold_down_is_refused_with_the_reason() {
    for (flag, value, why) in [
        ("--node-lease-timeout", "15s", "two renewal periods of kubelets renewing every 10s"),
        ("--node-lease-timeout", "10m", "out of range"),
        ("--zone-hold-down", "2h", "from 0s to 1h"),
    ] {
        let out = continuo(&["run", flag, value]);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag) && err.contains(why), "{flag} {value}: {err}");
    }
}

#[test]
fn an_out_of_range_debounce_is_refused_before_anything_starts() {
    let out = continuo(&["run", "--debounce", "30s"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("--debounce") && err.contains("at most 10s"), "{err}");
    let out = continuo(&["run", "--debounce", "soon"]);
    assert!(text(&out.stderr).contains("invalid duration"), "{}", text(&out.stderr));
}

fn cron_jobs(items: &[Value]) -> Vec<(String, String, String)> {
    items
        .iter()
        .filter(|o| o["kind"] == "CronJob")
        .map(|c| {
            let s = &c["spec"];
            (
                c["metadata"]["name"].as_str().unwrap().into(),
                s["schedule"].as_str().unwrap().into(),
                s["timeZone"].as_str().unwrap().into(),
            )
        })
        .collect()
}

const ZONES: &str = "eu-south-1a,eu-south-1b,eu-south-1c";

#[test]
fn plan_of_daily_copies_kept_a_week_derives_a_schedule_that_keeps_the_rpo() {
    let (items, report) = plan_json(&["-f", "examples/backups/daily-7.yaml", "--zones", ZONES]);
    let cjs = cron_jobs(&items);
    assert_eq!(cjs.len(), 1);
    assert_eq!((cjs[0].0.as_str(), cjs[0].2.as_str()), ("delivery-portal-backup-rpo", "Europe/Rome"));
    // One copy a day cannot keep a 24h RPO (a copy takes time, and one day a year has 25 hours): two a day.
    assert_eq!(cjs[0].1.split_whitespace().nth(1).unwrap().split(',').count(), 2, "{cjs:?}");
    assert!(report.contains("(derived from the RPO)"), "{report}");
    // Daily 7 keeps each day's newest copy: the oldest is 6 days and some hours old after the day's 12:00 copy
    // (Rome), 5 days and more before it, so the figure depends on the hour the plan is made.
    assert!(
        ["~5 days", "~6 days"]
            .iter()
            .any(|d| report.contains(&format!("retention holds 7 restore points, oldest {d}"))),
        "{report}"
    );
    assert!(report.contains("off-zone: copies stored in region eu-south-2"), "{report}");
    assert!(report.contains("AwaitingFirstCopy: Zone: RPO 24h feasible (worst gap 13h"), "{report}");
}

#[test]
fn plan_of_grandfather_father_son_holds_seventeen_points() {
    let (items, report) = plan_json(&["-f", "examples/backups/gfs-7-4-6.yaml", "--zones", ZONES]);
    assert_eq!(cron_jobs(&items).len(), 1);
    assert!(report.contains("keeps daily 7, weekly 4, monthly 6"), "{report}");
    assert!(report.contains("retention holds 17 restore points, oldest ~"), "{report}");
}

#[test]
fn plan_of_three_copies_a_day_shares_the_two_oclock_run_between_tiers() {
    let (items, report) = plan_json(&["-f", "examples/backups/three-a-day.yaml", "--zones", ZONES]);
    assert_eq!(
        cron_jobs(&items),
        [
            ("invoice-archive-backup-archive-intraday".into(), "0 2 * * *".into(), "Europe/Rome".into()),
            ("invoice-archive-backup-intraday".into(), "0 7,16 * * *".into(), "Europe/Rome".into()),
        ]
    );
    assert!(report.contains("oldest ~6 months"), "{report}");
    assert!(report.contains("worst gap between copies: 14h"), "{report}");
    assert!(report.contains("off-zone: copies stored in region eu-south-1"), "{report}");
}

#[test]
fn plan_refuses_copies_in_a_zone_the_service_runs_in() {
    let dir = std::env::temp_dir().join(format!("continuo-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text_of =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/backups/daily-7.yaml")).unwrap();
    let inside = text_of.replace("  region: eu-south-2\n", "  region: eu-south-1\n  zone: eu-south-1b\n");
    let file = dir.join("inside.yaml");
    std::fs::write(&file, inside).unwrap();
    let (items, report) = plan_json(&["-f", file.to_str().unwrap(), "--zones", ZONES]);
    assert_eq!(cron_jobs(&items), vec![], "no CronJob is planned");
    assert!(
        report.contains(
            "LocationInProtectedZone: Zone: RPO 24h not met — copies are stored in eu-south-1b (BackupLocation \
             offsite-eu), which this service runs in"
        ),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn plan_of_a_standard_installation_shows_its_statefulsets_the_timing_model_and_the_verdicts() {
    let (items, report) = plan_json(&["-f", "examples/standard-installation.yaml", "--zones", ZONES]);
    let sets: Vec<&Value> = items.iter().filter(|o| o["kind"] == "StatefulSet").collect();
    assert_eq!(sets.len(), 3, "one StatefulSet per zone: {:?}", kinds(&items));
    assert!(items.iter().all(|o| o["kind"] != "Deployment"), "a stateful service runs no Deployment");
    let replicas: i64 = sets.iter().map(|s| s["spec"]["replicas"].as_i64().unwrap()).sum();
    assert_eq!(replicas, 1, "the installation's one writer");
    let claim = &sets[0]["spec"]["volumeClaimTemplates"][0];
    assert_eq!(
        (claim["metadata"]["name"].as_str(), claim["spec"]["storageClassName"].as_str()),
        (Some("archives"), Some("zonal-ssd"))
    );
    assert_eq!(sets[0]["spec"]["persistentVolumeClaimRetentionPolicy"]["whenScaled"], "Retain");
    for line in [
        "volumes per replica: archives (50Gi, zonal-ssd); one StatefulSet per zone",
        "server lost: the volume survives on network storage; the pod is not fenced",
        "zone lost: detected in ≤ 23s; the replica is recreated in another zone, its volume restored from the newest copy",
        "NetworkVolumes: Node: RPO 0s feasible",
        "NeedsAPerson: Node: RTO 15m not feasible",
        "ObjectivesMet=False",
    ] {
        assert!(report.contains(line), "missing {line:?} in\n{report}");
    }
    // With fencing on, the server's loss is bounded: fenced, attached elsewhere, started.
    let (_, fenced) =
        plan_json(&["--fence-lost-nodes", "60s", "-f", "examples/standard-installation.yaml", "--zones", ZONES]);
    assert!(fenced.contains("FencedInTime: Node: RTO 15m feasible"), "{fenced}");
    assert!(fenced.contains("fenced 60s after its lease went silent + 30s to attach the volume elsewhere"), "{fenced}");
}

#[test]
fn plan_says_what_a_drill_of_each_service_would_do_and_the_rto_it_should_show() {
    let (_, report) = plan_json(&["-f", "examples/booking-engine.yaml", "--zones", ZONES]);
    assert!(report.contains("drill ZoneLoss: takes out eu-south-1"), "{report}");
    assert!(report.contains("(the primary's zone); expected RTO ~40s: the pods' start-up in the other zones (2 of 4 Ready meanwhile); Zone RTO 15m"), "{report}");
    let (_, report) = plan_json(&["-f", "examples/einvoicing-hub.yaml", "--zones", ZONES]);
    assert!(report.contains("expected RTO 0s: the other zones already run"), "{report}");
    let (_, report) = plan_json(&["-f", "examples/backups/daily-7.yaml", "--zones", ZONES]);
    assert!(report.contains("drill Restore: restores the newest good copy into a scratch target"), "{report}");
}

#[test]
fn plan_says_a_local_volume_is_lost_with_its_server_as_its_verdict_does() {
    // The same installation on local volumes (no provisioner): the time line and the verdict tell one story.
    let dir = std::env::temp_dir().join(format!("continuo-local-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/standard-installation.yaml"));
    let local =
        example.unwrap().replace("provisioner: pd.csi.storage.gke.io", "provisioner: kubernetes.io/no-provisioner");
    let file = dir.join("local.yaml");
    std::fs::write(&file, local).unwrap();
    let (_, report) = plan_json(&["-f", file.to_str().unwrap(), "--zones", ZONES]);
    assert!(report.contains("LocalVolumes: Node: RPO 0s"), "{report}");
    assert!(!report.contains("survives on network storage"), "{report}");
    assert!(
        report
            .contains("server lost: the volume is lost with it (StorageClass zonal-ssd (kubernetes.io/no-provisioner)"),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_service_that_names_no_agent_is_copied_by_the_reference_agent_or_told_why_not() {
    let dir = std::env::temp_dir().join(format!("continuo-default-agent-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/backups/daily-7.yaml")).unwrap();
    // The same service, its spec.backup naming no agent.
    let start = example.find("    agent:\n").unwrap();
    let end = example[start..].find("\n---").map_or(example.len(), |e| start + e);
    let file = dir.join("no-agent.yaml");
    std::fs::write(&file, format!("{}{}", &example[..start], &example[end..])).unwrap();
    let file = file.to_str().unwrap();

    let (items, _) =
        plan_json(&["--agent-image", "registry.example.com/continuo/agent:0.1.0", "-f", file, "--zones", ZONES]);
    let cron = items.iter().find(|o| o["kind"] == "CronJob").expect("the backup CronJob");
    let pod = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["image"], "registry.example.com/continuo/agent:0.1.0");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(pod["volumes"][0]["emptyDir"], serde_json::json!({}));

    let (items, report) = plan_json(&["-f", file, "--zones", ZONES]);
    assert!(items.iter().all(|o| o["kind"] != "CronJob"), "no agent, no CronJob");
    assert!(report.contains("AgentNotSet"), "{report}");
    let _ = std::fs::remove_dir_all(dir);
}
