//! Verdicts on the data layer, case by case, on objects written as their operators write them.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{
    cnpg::{CLUSTER_LABEL, Durability, POD_ROLE_LABEL, postgres_seconds},
    volsync::{Where, go_duration_secs},
    *,
};
use crate::topology::synthetic_node;

const ZONE: &str = "topology.kubernetes.io/zone";

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A Cluster as CloudNativePG reports it: three instances, `passhub-db-1` the primary.
fn cluster(postgresql: Value, affinity: Value) -> PgCluster {
    serde_json::from_value(json!({
        "apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
        "metadata": {"name": "passhub-db", "namespace": "invoicing"},
        "spec": {"instances": 3, "postgresql": postgresql, "affinity": affinity, "storage": {"size": "1Gi"}},
        "status": {
            "currentPrimary": "passhub-db-1", "currentPrimaryTimestamp": "2026-11-30T08:00:00.000000Z",
            "readyInstances": 3, "instances": 3,
            "instancesStatus": {"healthy": ["passhub-db-1", "passhub-db-2", "passhub-db-3"]},
            "conditions": [{"type": "Ready", "status": "True", "reason": "ClusterIsReady", "message": "Cluster is Ready",
                            "lastTransitionTime": "2026-11-30T08:00:00Z"}]
        }
    }))
    .unwrap()
}

fn required() -> Value {
    json!({"synchronous": {"method": "any", "number": 1, "dataDurability": "required"},
           "syncReplicaElectionConstraint": {"enabled": true, "nodeLabelsAntiAffinity": [ZONE]}})
}

/// An instance pod as the kubelet reports it.
fn pod(i: usize, node: &str, ready: bool) -> InstancePod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("passhub-db-{i}"), "namespace": "invoicing",
                     "labels": {CLUSTER_LABEL: "passhub-db", POD_ROLE_LABEL: "instance",
                                "cnpg.io/instanceRole": if i == 1 { "primary" } else { "replica" }}},
        "spec": {"nodeName": node, "containers": [{"name": "postgres"}]},
        "status": {"phase": "Running", "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": if ready { "True" } else { "False" }}]}
    }))
    .unwrap()
}

fn nodes() -> Vec<NodeFacts> {
    ["a", "b", "c"]
        .iter()
        .flat_map(|z| (1..=2).map(move |i| synthetic_node(&format!("{z}{i}"), &format!("eu-south-1{z}"), None, true)))
        .collect()
}

fn judge(c: &PgCluster, pods: &[InstancePod], scope: Scope, target: u64) -> Judged {
    let refs: Vec<&InstancePod> = pods.iter().collect();
    let m = Members::observed(c, &refs, &nodes(), &[]);
    super::cnpg::rpo(scope, Span::from_secs(target), c, &m, ZONE, ts("2026-11-30T10:00:00Z"))
}

fn spread() -> Vec<InstancePod> {
    vec![pod(1, "a1", true), pod(2, "b1", true), pod(3, "c1", true)]
}

#[test]
fn required_durability_with_the_zone_constraint_meets_rpo_zero_for_a_zone_with_its_evidence() {
    let c = cluster(required(), json!(null));
    let (v, reason, message) = judge(&c, &spread(), Scope::Zone, 0);
    assert_eq!((v, reason), (Verdict::Feasible, "SynchronousReplication"), "{message}");
    assert_eq!(
        message,
        "Zone: RPO 0s met — passhub-db: 3 instances in eu-south-1a/b/c, 1 synchronous standby(s) required outside \
         the primary's zone (syncReplicaElectionConstraint on the zone label); primary in eu-south-1a, standbys \
         Ready in eu-south-1b/c now"
    );
    let (v, _, message) = judge(&c, &spread(), Scope::Node, 0);
    assert_eq!(v, Verdict::Feasible);
    assert!(message.contains("3 instances on 3 nodes"), "{message}");
}

#[test]
fn preferred_durability_is_not_rpo_zero_and_says_what_to_set() {
    let mut pg = required();
    pg["synchronous"]["dataDurability"] = json!("preferred");
    let (v, reason, message) = judge(&cluster(pg, json!(null)), &spread(), Scope::Zone, 0);
    assert_eq!((v, reason), (Verdict::NotFeasible, "PreferredDurability"));
    assert_eq!(
        message,
        "Zone: RPO 0s not met — passhub-db replicates with dataDurability preferred: with its standbys gone it \
         acknowledges writes no other node holds; set spec.postgresql.synchronous.dataDurability: required"
    );
}

#[test]
fn synchronous_without_a_durability_is_required_as_cloudnativepg_defaults_it() {
    let pg = json!({"synchronous": {"method": "any", "number": 1}});
    let c = cluster(pg, json!(null));
    assert_eq!(c.durability(), Durability::Required(1));
    assert_eq!(judge(&c, &spread(), Scope::Node, 0).0, Verdict::Feasible);
}

#[test]
fn legacy_min_sync_replicas_is_required_and_max_alone_is_not() {
    let mut c = cluster(json!(null), json!(null));
    c.spec.min_sync_replicas = Some(1);
    c.spec.max_sync_replicas = Some(2);
    assert_eq!(c.durability(), Durability::Required(1));
    assert_eq!(judge(&c, &spread(), Scope::Node, 0).0, Verdict::Feasible);
    c.spec.min_sync_replicas = None;
    let (v, reason, message) = judge(&c, &spread(), Scope::Node, 0);
    assert_eq!((v, reason), (Verdict::NotFeasible, "SynchronousNotRequired"), "{message}");
    assert!(message.contains("set minSyncReplicas ≥ 1"), "{message}");
    c.spec.max_sync_replicas = None;
    assert_eq!(judge(&c, &spread(), Scope::Node, 0).1, "AsynchronousReplication");
}

#[test]
fn without_a_zone_constraint_the_standby_may_share_the_primary_zone() {
    let pg = json!({"synchronous": {"method": "any", "number": 1, "dataDurability": "required"}});
    let c = cluster(pg.clone(), json!(null));
    let (v, reason, message) = judge(&c, &spread(), Scope::Zone, 0);
    assert_eq!((v, reason), (Verdict::NotFeasible, "StandbyMayShareZone"));
    assert!(
        message
            .contains("syncReplicaElectionConstraint (enabled, nodeLabelsAntiAffinity: [topology.kubernetes.io/zone])")
    );
    // Node scope needs no zone constraint.
    assert_eq!(judge(&c, &spread(), Scope::Node, 0).0, Verdict::Feasible);
    // Required anti-affinity on the zone label keeps every instance in its own zone: that is enough.
    let one_per_zone = cluster(pg, json!({"topologyKey": ZONE, "podAntiAffinityType": "required"}));
    let (v, _, message) = judge(&one_per_zone, &spread(), Scope::Zone, 0);
    assert_eq!(v, Verdict::Feasible, "{message}");
    assert!(message.contains("(one instance per zone)"), "{message}");
    // Preferred anti-affinity can still share a zone.
    let preferred = cluster(json!({"synchronous": {"number": 1}}), json!({"topologyKey": ZONE}));
    assert_eq!(judge(&preferred, &spread(), Scope::Zone, 0).1, "StandbyMayShareZone");
}

#[test]
fn instances_all_in_one_zone_are_no_zone_protection() {
    let c = cluster(required(), json!(null));
    let pods = vec![pod(1, "a1", true), pod(2, "a2", true), pod(3, "a2", true)];
    let (v, reason, message) = judge(&c, &pods, Scope::Zone, 0);
    assert_eq!((v, reason), (Verdict::NotFeasible, "NoStandbyInAnotherZone"));
    assert!(
        message.contains("has 0 of 1 required synchronous standby(s) Ready outside the primary's zone (eu-south-1a)")
    );
    // Still two nodes: a node's loss loses nothing.
    assert_eq!(judge(&c, &pods, Scope::Node, 0).0, Verdict::Feasible);
}

#[test]
fn a_standby_not_ready_turns_the_verdict_only_when_none_is_left_elsewhere() {
    let c = cluster(required(), json!(null));
    let one_down = vec![pod(1, "a1", true), pod(2, "b1", false), pod(3, "c1", true)];
    let (v, _, message) = judge(&c, &one_down, Scope::Zone, 0);
    assert_eq!(v, Verdict::Feasible);
    assert!(message.ends_with("standbys Ready in eu-south-1c now"), "{message}");
    let both_down = vec![pod(1, "a1", true), pod(2, "b1", false), pod(3, "c1", false)];
    let (v, reason, message) = judge(&c, &both_down, Scope::Zone, 0);
    assert_eq!((v, reason), (Verdict::NotFeasible, "NoStandbyInAnotherZone"));
    assert!(message.contains("commits wait until one is"), "{message}");
    assert_eq!(judge(&c, &both_down, Scope::Node, 0).1, "SynchronousStandbyNotReady");
}

#[test]
fn no_primary_observed_is_unknown_not_met() {
    let mut c = cluster(required(), json!(null));
    c.status = None;
    assert_eq!(judge(&c, &spread(), Scope::Zone, 0).1, "PrimaryNotObserved");
}

fn archiving(status: &str, since: &str) -> PgCluster {
    let mut c = cluster(json!({"parameters": {"archive_timeout": "10min", "max_connections": "200"}}), json!(null));
    let condition = serde_json::from_value(json!({"type": "ContinuousArchiving", "status": status,
        "reason": if status == "True" { "ContinuousArchivingSuccess" } else { "ContinuousArchivingFailing" },
        "message": if status == "True" { "Continuous archiving is working" } else { "exit status 1: bucket not found" },
        "lastTransitionTime": since}))
    .unwrap();
    c.status.as_mut().unwrap().conditions.push(condition);
    c
}

#[test]
fn wal_archiving_meets_an_rpo_its_archive_timeout_fits() {
    let c = archiving("True", "2026-11-29T00:00:00Z");
    assert_eq!(c.archive_timeout(), Span::from_secs(600));
    let (v, reason, message) = judge(&c, &spread(), Scope::Zone, 3600);
    assert_eq!((v, reason), (Verdict::Feasible, "WALArchiving"), "{message}");
    assert!(message.contains("a segment at least every 10m (archive_timeout) ≤ 1h"), "{message}");
    let (v, reason, _) = judge(&c, &spread(), Scope::Zone, 300);
    assert_eq!((v, reason), (Verdict::NotFeasible, "ArchiveTimeoutExceedsRPO"));
    // RPO 0 is never met by archiving.
    assert_eq!(judge(&c, &spread(), Scope::Zone, 0).1, "AsynchronousReplication");
}

#[test]
fn failing_archiving_is_not_met_with_the_exposure_measured_since_it_stopped() {
    let c = archiving("False", "2026-11-30T09:30:00Z");
    let (v, reason, message) = judge(&c, &spread(), Scope::Zone, 3600);
    assert_eq!((v, reason), (Verdict::NotFeasible, "ArchivingFailing"));
    assert!(message.contains("fails since 2026-11-30 09:30 UTC (exit status 1: bucket not found)"), "{message}");
    assert!(message.contains("up to 40m of writes are in no archive"), "{message}");
    let plan =
        DataPlan { sources: vec![("db".into(), Source::Pg(Box::new(c), Members::default()))], ..Default::default() };
    let s = &plan.statuses()[0];
    assert_eq!((s.bound_seconds, s.synced_at.as_ref().map(|t| t.0)), (Some(600), Some(ts("2026-11-30T09:30:00Z"))));
}

#[test]
fn postgres_time_settings_are_read_in_their_units() {
    assert_eq!(postgres_seconds("5min"), Some(300));
    assert_eq!(postgres_seconds("300"), Some(300));
    assert_eq!(postgres_seconds("30s"), Some(30));
    assert_eq!(postgres_seconds("1500ms"), Some(2));
    assert_eq!(postgres_seconds("1h"), Some(3600));
    assert_eq!(postgres_seconds("soon"), None);
}

#[test]
fn offline_the_instances_are_placed_one_per_zone_only_when_the_spec_forces_it() {
    let zones: Vec<String> = ["z1", "z2", "z3"].map(String::from).to_vec();
    let forced = cluster(required(), json!({"topologyKey": ZONE, "podAntiAffinityType": "required"}));
    let m = Members::planned(&forced, &zones, ZONE);
    assert!(!m.observed);
    assert_eq!(m.list.iter().map(|x| x.zone.clone().unwrap()).collect::<Vec<_>>(), zones);
    let free = cluster(required(), json!(null));
    let m = Members::planned(&free, &zones, ZONE);
    assert!(m.list.iter().all(|x| x.zone.is_none()), "the scheduler's choice is not claimed");
    let (v, reason, _) = super::cnpg::rpo(Scope::Zone, Span::from_secs(0), &free, &m, ZONE, Timestamp::UNIX_EPOCH);
    assert_eq!((v, reason), (Verdict::NotFeasible, "NoStandbyInAnotherZone"));
}

fn source(schedule: Option<&str>, last: Option<&str>, duration: &str) -> ReplicationSource {
    serde_json::from_value(json!({
        "apiVersion": "volsync.backube/v1alpha1", "kind": "ReplicationSource",
        "metadata": {"name": "attachments-offsite", "namespace": "invoicing"},
        "spec": {"sourcePVC": "attachments", "trigger": schedule.map(|s| json!({"schedule": s})),
                 "restic": {"repository": "restic-config", "copyMethod": "Snapshot"}},
        "status": {"lastSyncTime": last, "lastSyncDuration": duration, "nextSyncTime": "2026-11-30T10:10:00Z",
                   "conditions": [{"type": "Synchronizing", "status": "False", "reason": "WaitingForSchedule",
                                   "message": "Waiting for next scheduled synchronization",
                                   "lastTransitionTime": "2026-11-30T09:51:10Z"}]}
    }))
    .unwrap()
}

fn vjudge(r: &ReplicationSource, scope: Scope, target: u64, zone: Option<&str>) -> Judged {
    let protected: Vec<String> = vec!["eu-south-1a".into(), "eu-south-1b".into()];
    let at = Where { destination_zone: zone, protected: &protected };
    super::volsync::rpo(scope, Span::from_secs(target), r, &at, ts("2026-11-30T10:00:00Z"))
}

#[test]
fn volsync_is_met_while_the_last_sync_is_younger_than_the_rpo() {
    let r = source(Some("*/10 * * * *"), Some("2026-11-30T09:51:10Z"), "1m10.5s");
    let (v, reason, message) = vjudge(&r, Scope::Zone, 3600, Some("eu-south-1c"));
    assert_eq!((v, reason), (Verdict::Feasible, "SyncedWithinRPO"));
    assert_eq!(
        message,
        "Zone: RPO 1h met — attachments-offsite last synced to eu-south-1c 8m ago (worst gap 10m + last sync 1m11s \
         = 11m11s)"
    );
}

#[test]
fn volsync_overdue_is_not_met_and_its_review_is_when_it_ages_past_the_rpo() {
    let r = source(Some("*/10 * * * *"), Some("2026-11-30T08:30:00Z"), "2m");
    let (v, reason, message) = vjudge(&r, Scope::Zone, 3600, Some("eu-south-1c"));
    assert_eq!((v, reason), (Verdict::NotFeasible, "SyncOverdue"));
    assert!(message.contains("last synced to eu-south-1c 1h30m ago"), "{message}");
    let fresh = source(Some("*/10 * * * *"), Some("2026-11-30T09:51:10Z"), "2m");
    let plan = DataPlan { sources: vec![("a".into(), Source::Vol(Box::new(fresh), None))], ..Default::default() };
    let objectives = [Objective { scope: Scope::Zone, rto: Span::from_secs(60), rpo: Some(Span::from_secs(3600)) }];
    assert_eq!(plan.next_review(&objectives, ts("2026-11-30T10:00:00Z")), Some(ts("2026-11-30T10:51:11Z")));
}

#[test]
fn volsync_never_meets_rpo_zero_and_needs_a_destination_outside_the_service_zones() {
    let r = source(Some("*/10 * * * *"), Some("2026-11-30T09:51:10Z"), "1m");
    assert_eq!(vjudge(&r, Scope::Node, 0, Some("eu-south-1c")).1, "AsynchronousReplication");
    assert_eq!(vjudge(&r, Scope::Zone, 3600, Some("eu-south-1a")).1, "DestinationInProtectedZone");
    assert_eq!(
        vjudge(&r, Scope::Zone, 3600, None),
        (Verdict::Unknown, "DestinationZoneUnknown", vjudge(&r, Scope::Zone, 3600, None).2)
    );
    // A node's loss does not depend on where the destination is.
    assert_eq!(vjudge(&r, Scope::Node, 3600, None).0, Verdict::Feasible);
}

#[test]
fn volsync_feasibility_is_the_schedule_gap_plus_the_sync_duration() {
    let slow = source(Some("0 */2 * * *"), Some("2026-11-30T09:51:10Z"), "5m");
    let (v, reason, message) = vjudge(&slow, Scope::Zone, 7200, Some("eu-south-1c"));
    assert_eq!((v, reason), (Verdict::NotFeasible, "SyncScheduleExceedsRPO"));
    assert!(message.contains("worst gap 2h + last sync 5m = 2h5m > 2h"), "{message}");
    assert_eq!(vjudge(&source(None, None, "1m"), Scope::Zone, 7200, Some("eu-south-1c")).1, "NoSyncSchedule");
    let new = source(Some("*/10 * * * *"), None, "");
    assert_eq!(vjudge(&new, Scope::Zone, 3600, Some("eu-south-1c")).1, "AwaitingFirstSync");
}

#[test]
fn go_durations_are_read_to_the_second() {
    assert_eq!(go_duration_secs("1m10.5s"), Some(71));
    assert_eq!(go_duration_secs("1h2m3s"), Some(3723));
    assert_eq!(go_duration_secs("250ms"), Some(1));
    assert_eq!(go_duration_secs("later"), None);
}

#[test]
fn missing_objects_and_layers_are_unknown_with_the_reason() {
    let declared: Vec<DataSource> = serde_json::from_value(json!([
        {"name": "invoices", "cloudNativePG": {"cluster": "gone"}},
        {"name": "attachments", "volSync": {"replicationSource": "x"}}
    ]))
    .unwrap();
    let observed =
        Observed { clusters: Layer::Seen(&[]), sources: Layer::NotInstalled, pods: Some(&[]), unreachable: &[] };
    let plan = resolve(&declared, "invoicing", &observed, &[], &[], &[], ZONE);
    let verdicts = plan.rpo(Scope::Zone, Span::from_secs(0), Timestamp::UNIX_EPOCH);
    assert_eq!(verdicts[0].1, "DataSourceNotFound");
    assert_eq!(
        verdicts[0].2,
        "Zone: RPO 0s not verified — data \"invoices\": CloudNativePG invoicing/gone does not exist"
    );
    assert_eq!(verdicts[1].1, "DataLayerNotInstalled");
    assert!(verdicts[1].2.contains("replicationsources.volsync.backube CRD is not installed"));
    assert_eq!(worst(verdicts).unwrap().0, Verdict::Unknown);
}

#[test]
fn the_worst_verdict_wins_and_alike_ones_join_their_evidence() {
    let met = |m: &str| (Verdict::Feasible, "A", format!("Zone: RPO 1h met — {m}"));
    let joined = worst(vec![met("x ok"), met("y ok")]).unwrap();
    assert_eq!(joined.2, "Zone: RPO 1h met — x ok; y ok");
    let bad = (Verdict::NotFeasible, "B", "Zone: RPO 1h not met — z".to_string());
    assert_eq!(worst(vec![met("x"), (Verdict::Unknown, "U", "u".into()), bad.clone()]), Some(bad));
    assert_eq!(worst(vec![]), None);
}

#[test]
fn zones_are_shortened_when_they_differ_in_their_last_letter() {
    assert_eq!(zones_line(&["eu-south-1c", "eu-south-1a", "eu-south-1b"]), "eu-south-1a/b/c");
    assert_eq!(zones_line(&["a", "zone-b"]), "a, zone-b");
    assert_eq!(zones_line(&["b", "a"]), "a, b", "nothing shared, nothing shortened");
    assert_eq!(zones_line(&["eu-south-1b"]), "eu-south-1b");
}

#[test]
fn through_a_zone_loss_volsync_loses_the_writes_since_its_last_sync_and_that_first_figure_is_kept() {
    let r = source(Some("*/10 * * * *"), Some("2026-11-30T09:51:10Z"), "1m");
    let plan = DataPlan { sources: vec![("files".into(), Source::Vol(Box::new(r), None))], ..Default::default() };
    let facts = plan.through_loss(ts("2026-11-30T09:58:00Z"));
    assert_eq!(facts[0].rpo_seconds, Some(410), "6m50s of writes since the last sync");
    let mut incident: Incident = serde_json::from_value(json!({"scope": "Zone", "subject": "a",
        "began": "2026-11-30T09:58:00Z", "detected": "2026-11-30T09:58:20Z", "lowestReady": 3, "replicas": 3}))
    .unwrap();
    record(&mut incident, facts);
    // A sync that completes later (from a surviving copy) does not rewrite what was lost at the loss.
    let later = source(Some("*/10 * * * *"), Some("2026-11-30T10:01:00Z"), "1m");
    let plan = DataPlan { sources: vec![("files".into(), Source::Vol(Box::new(later), None))], ..Default::default() };
    record(&mut incident, plan.through_loss(ts("2026-11-30T09:58:00Z")));
    assert_eq!(incident.data.len(), 1);
    assert_eq!(incident.data[0].rpo_seconds, Some(410));
}

#[test]
fn through_a_zone_loss_preferred_durability_cannot_say_what_was_lost() {
    let mut pg = required();
    pg["synchronous"]["dataDurability"] = json!("preferred");
    let c = cluster(pg, json!(null));
    let plan =
        DataPlan { sources: vec![("db".into(), Source::Pg(Box::new(c), Members::default()))], ..Default::default() };
    let facts = plan.through_loss(ts("2026-11-30T09:00:00Z"));
    assert_eq!(facts[0].rpo_seconds, None, "unknown, never claimed 0");
    assert_eq!(facts[0].promoted, None, "the primary was promoted before the loss");
}

/// CloudNativePG 1.28's failure-domain keys naming the zone label bind the synchronous standby to another zone
/// while the Cluster says it can (`SyncReplicationTopologySatisfied`); once it says it cannot, RPO 0 is not met.
#[test]
fn failure_domain_keys_on_the_zone_label_bind_the_standby_while_the_cluster_honours_them() {
    for key in ["nodeFailureDomainKeys", "podFailureDomainKeys"] {
        let sync = json!({"method": "any", "number": 1, "dataDurability": "required", key: [ZONE]});
        let mut c = cluster(json!({"synchronous": sync}), json!(null));
        let (verdict, reason, message) = judge(&c, &spread(), Scope::Zone, 0);
        assert_eq!((verdict, reason), (Verdict::Feasible, "SynchronousReplication"), "{message}");
        assert!(message.contains(&format!("synchronous.{key} on the zone label")), "{message}");
        let not_now: super::cnpg::PgStatus =
            serde_json::from_value(json!({"currentPrimary": "passhub-db-1", "conditions": [
            {"type": "SyncReplicationTopologySatisfied", "status": "False", "reason": "InsufficientDomains",
             "message": "1 standby outside zone a, 2 required"}]}))
            .unwrap();
        c.status = Some(not_now);
        let (verdict, reason, message) = judge(&c, &spread(), Scope::Zone, 0);
        assert_eq!((verdict, reason), (Verdict::NotFeasible, "SyncTopologyNotSatisfied"), "{message}");
        assert!(message.contains("1 standby outside zone a, 2 required"), "{message}");
    }
    // Keys that name another label do not bind the zone.
    let sync = json!({"number": 1, "dataDurability": "required", "nodeFailureDomainKeys": ["rack"]});
    let c = cluster(json!({"synchronous": sync}), json!(null));
    assert_eq!(judge(&c, &spread(), Scope::Zone, 0).1, "StandbyMayShareZone");
}
