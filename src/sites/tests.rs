use std::collections::BTreeMap;

use jiff::Timestamp;
use proptest::prelude::*;

use super::{karmada, verdict, *};
use crate::{
    api::{Site, SiteFailoverMode, Sites, Span, Standby},
    verdict::Verdict,
};

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_790_000_000 + secs).unwrap()
}

fn site(name: &str, clusters: &[&str]) -> Site {
    Site {
        name: name.into(),
        cluster_names: clusters.iter().map(|c| c.to_string()).collect(),
        cluster_labels: BTreeMap::new(),
    }
}

fn sites(standby: Standby, failover: SiteFailoverMode) -> Sites {
    Sites {
        sites: vec![site("milan", &["mil-1", "mil-2"]), site("turin", &["tur-1"]), site("frankfurt", &["fra-1"])],
        standby,
        standby_replicas: 1,
        failover,
    }
}

fn cluster(name: &str, region: &str, ready: bool, since: i64) -> Cluster {
    Cluster {
        name: name.into(),
        labels: BTreeMap::new(),
        region: Some(region.into()),
        ready: Some(ready),
        since: Some(t(since)),
    }
}

fn healthy() -> Vec<Cluster> {
    vec![
        cluster("mil-1", "eu-south-1", true, 0),
        cluster("mil-2", "eu-south-1", true, 0),
        cluster("tur-1", "eu-south-2", true, 0),
        cluster("fra-1", "eu-central-1", true, 0),
    ]
}

fn milan_lost_at(secs: i64) -> Vec<Cluster> {
    let mut c = healthy();
    c[0] = cluster("mil-1", "eu-south-1", false, secs);
    c[1] = cluster("mil-2", "eu-south-1", false, secs - 5);
    c
}

#[test]
fn a_site_is_lost_only_when_none_of_its_clusters_is_ready_and_since_the_last_one_stopped() {
    let s = sites(Standby::Cold, SiteFailoverMode::Automatic);
    assert_eq!(health(s.primary(), &healthy()), Health::Healthy);
    let mut one_down = healthy();
    one_down[0] = cluster("mil-1", "eu-south-1", false, 100);
    assert_eq!(health(s.primary(), &one_down), Health::Healthy, "one Ready cluster keeps the site");
    assert_eq!(health(s.primary(), &milan_lost_at(100)), Health::Lost { since: t(100) });
    assert_eq!(health(&site("nowhere", &["x"]), &healthy()), Health::Unknown, "no cluster observed: unknown");
    let mut by_label = site("labelled", &[]);
    by_label.cluster_labels.insert("continuo.dev/site".into(), "turin".into());
    let mut labelled = healthy();
    labelled[2].labels.insert("continuo.dev/site".into(), "turin".into());
    assert_eq!(members(&by_label, &labelled).iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["tur-1"]);
}

#[test]
fn declared_failover_moves_only_when_a_person_declares_it_and_the_newest_declaration_wins() {
    let s = sites(Standby::Cold, SiteFailoverMode::Declared);
    let lost = milan_lost_at(0);
    assert_eq!(serving(&s, &lost, &[], None, 120, t(100_000)).0, "milan", "a lost site alone moves nothing");
    let to_turin = Declaration { name: "flood".into(), to: "turin".into(), declared: t(600) };
    let (site, why) = serving(&s, &lost, std::slice::from_ref(&to_turin), None, 120, t(700));
    assert_eq!((site.as_str(), why), ("turin", Serving::Declared { by: "flood".into(), at: t(600) }));
    let back = Declaration { name: "failback".into(), to: "milan".into(), declared: t(9_000) };
    let unknown = Declaration { name: "typo".into(), to: "rome".into(), declared: t(10_000) };
    let all = [back.clone(), to_turin.clone(), unknown];
    assert_eq!(serving(&s, &healthy(), &all, None, 120, t(10_100)).0, "milan", "failback, the typo ignored");
}

#[test]
fn automatic_failover_waits_the_hold_moves_to_the_first_healthy_site_and_never_moves_back_on_its_own() {
    let s = sites(Standby::Cold, SiteFailoverMode::Automatic);
    let lost = milan_lost_at(1_000);
    assert_eq!(serving(&s, &lost, &[], None, 120, t(1_119)).0, "milan", "within the hold: stays");
    let (site, why) = serving(&s, &lost, &[], None, 120, t(1_120));
    assert_eq!((site.as_str(), why), ("turin", Serving::Automatic { lost: "milan".into(), since: t(1_000) }));
    let mut turin_down_too = lost.clone();
    turin_down_too[2] = cluster("tur-1", "eu-south-2", false, 900);
    assert_eq!(serving(&s, &turin_down_too, &[], None, 120, t(2_000)).0, "frankfurt", "the next healthy site");
    // Recorded at turin; milan returns: the service stays at turin until a person declares the failback.
    let recorded = Recorded { site: "turin".into(), since: t(1_120) };
    let (site, why) = serving(&s, &healthy(), &[], Some(&recorded), 120, t(5_000));
    assert_eq!((site.as_str(), why), ("turin", Serving::Kept { since: t(1_120) }));
    let back = Declaration { name: "failback".into(), to: "milan".into(), declared: t(6_000) };
    assert_eq!(serving(&s, &healthy(), &[back], Some(&recorded), 120, t(6_001)).0, "milan");
}

proptest! {
    /// Whatever the sites' health, declarations and clock, the service is placed at exactly one site of its class
    /// (one writer), and a Cold policy names only that site's clusters.
    #[test]
    fn the_service_is_always_placed_at_exactly_one_site_of_its_class(
        down in proptest::collection::vec(any::<bool>(), 4),
        since in proptest::collection::vec(0i64..5_000, 4),
        declared in proptest::collection::vec((0usize..4, 0i64..5_000), 0..4),
        automatic in any::<bool>(),
        now in 0i64..10_000,
    ) {
        let mode = if automatic { SiteFailoverMode::Automatic } else { SiteFailoverMode::Declared };
        let s = sites(Standby::Cold, mode);
        let names = ["mil-1", "mil-2", "tur-1", "fra-1"];
        let regions = ["eu-south-1", "eu-south-1", "eu-south-2", "eu-central-1"];
        let clusters: Vec<Cluster> = (0..4).map(|i| cluster(names[i], regions[i], !down[i], since[i])).collect();
        let targets = ["milan", "turin", "frankfurt", "rome"];
        let decls: Vec<Declaration> = declared
            .iter()
            .enumerate()
            .map(|(i, (to, at))| Declaration { name: format!("d{i}"), to: targets[*to].into(), declared: t(*at) })
            .collect();
        let (site, _) = serving(&s, &clusters, &decls, None, 120, t(now));
        prop_assert!(s.site(&site).is_some());
        let policy = karmada::propagation_policy("hub", "erp", &s, &site, &clusters);
        let named = policy["spec"]["placement"]["clusterAffinity"]["clusterNames"].clone();
        prop_assert_eq!(named, serde_json::json!(s.site(&site).unwrap().cluster_names));
        prop_assert_eq!(policy["spec"]["placement"]["spreadConstraints"][0]["maxGroups"].as_i64(), Some(1));
    }
}

#[test]
fn a_warm_standby_runs_one_cluster_per_site_and_scales_the_others_down() {
    let s = sites(Standby::Warm, SiteFailoverMode::Declared);
    let mut c = healthy();
    c[0].ready = Some(false);
    let policy = karmada::propagation_policy("hub", "erp", &s, "turin", &c);
    assert_eq!(
        policy["spec"]["placement"]["clusterAffinity"]["clusterNames"],
        serde_json::json!(["mil-2", "tur-1", "fra-1"]),
        "one cluster per site, a Ready one first"
    );
    let over = karmada::override_policy("hub", "erp", &s, "turin", &c, Default::default()).unwrap();
    let rule = &over["spec"]["overrideRules"][0];
    assert_eq!(rule["targetCluster"]["clusterNames"], serde_json::json!(["mil-2", "fra-1"]));
    assert_eq!(rule["overriders"]["plaintext"][0]["value"], 1);
    assert!(
        karmada::override_policy(
            "hub",
            "erp",
            &sites(Standby::Cold, SiteFailoverMode::Declared),
            "milan",
            &c,
            Default::default()
        )
        .is_none()
    );
    let tolerations = &policy["spec"]["placement"]["clusterTolerations"];
    assert_eq!(tolerations.as_array().unwrap().len(), 2, "Karmada never evicts on its own: {tolerations}");
    assert!(tolerations[0].get("tolerationSeconds").is_none());
}

#[test]
fn a_stateful_service_never_stands_by_warm_two_sites_would_write() {
    let warm = sites(Standby::Warm, SiteFailoverMode::Declared);
    let (cold, why) = effective(&warm, true);
    assert_eq!(cold.standby, Standby::Cold);
    assert!(why.unwrap().contains("stands by Cold"));
    let policy = karmada::propagation_policy("db", "erp", &cold, "milan", &healthy());
    assert_eq!(policy["spec"]["placement"]["clusterAffinity"]["clusterNames"], serde_json::json!(["mil-1", "mil-2"]));
    assert_eq!(effective(&warm, false).0.standby, Standby::Warm, "a stateless service keeps its warm site");
    assert!(effective(&warm, false).1.is_none());
}

fn situation<'a>(s: &'a Sites, clusters: &'a [Cluster], timing: &'a verdict::Timing) -> verdict::Situation<'a> {
    verdict::Situation {
        sites: s,
        clusters,
        startup: 40,
        stateful: false,
        restore: None,
        backup: None,
        timing,
        now: t(0),
    }
}

#[test]
fn the_region_rto_adds_karmadas_grace_continuos_hold_propagation_start_up_and_a_cold_sites_restore() {
    let timing = verdict::Timing::default();
    let c = healthy();
    let declared = sites(Standby::Cold, SiteFailoverMode::Declared);
    let (v, reason, msg) = verdict::rto(&situation(&declared, &c, &timing), Span::from_secs(60));
    assert_eq!((v, reason), (Verdict::Feasible, "SiteFailoverInTime"), "{msg}");
    assert!(msg.contains("55s from the declaration"), "{msg}");
    let automatic = sites(Standby::Cold, SiteFailoverMode::Automatic);
    let (v, reason, msg) = verdict::rto(&situation(&automatic, &c, &timing), Span::from_secs(180));
    assert_eq!((v, reason), (Verdict::NotFeasible, "SiteFailoverTooSlow"), "40 + 120 + 15 + 40 = 215 > 180: {msg}");
    let mut stateful = situation(&declared, &c, &timing);
    stateful.stateful = true;
    assert_eq!(verdict::rto(&stateful, Span::from_secs(14_400)).1, "RestoreNotMeasured");
    stateful.restore = Some(3_000);
    let (v, _, msg) = verdict::rto(&stateful, Span::from_secs(14_400));
    assert!(v == Verdict::Feasible && msg.contains("restore 3000s (measured)"), "{msg}");
    let warm = sites(Standby::Warm, SiteFailoverMode::Declared);
    let mut warm_stateful = situation(&warm, &c, &timing);
    warm_stateful.stateful = true;
    assert_eq!(verdict::rto(&warm_stateful, Span::from_secs(60)).0, Verdict::Feasible, "a warm site restores nothing");
    let no_turin: Vec<Cluster> = c.iter().filter(|x| x.name != "tur-1").cloned().collect();
    assert_eq!(verdict::rto(&situation(&declared, &no_turin, &timing), Span::from_secs(60)).1, "NoRecoverySite");
}

#[test]
fn the_region_rpo_refuses_copies_kept_at_the_primary_site_and_rpo_zero_across_sites() {
    let timing = verdict::Timing::default();
    let c = healthy();
    let s = sites(Standby::Cold, SiteFailoverMode::Declared);
    assert_eq!(verdict::rpo(&situation(&s, &c, &timing), Span::from_secs(0)).1, "NeedsCrossSiteReplication");
    assert_eq!(verdict::rpo(&situation(&s, &c, &timing), Span::from_secs(86_400)).1, "BackupNotConfigured");
    let plan = crate::backup::BackupPlan { stored_in: Some(("eu-south-1".into(), None)), ..Default::default() };
    let mut at_primary = situation(&s, &c, &timing);
    at_primary.backup = Some(&plan);
    let (v, reason, msg) = verdict::rpo(&at_primary, Span::from_secs(86_400));
    assert_eq!((v, reason), (Verdict::NotFeasible, "CopiesInProtectedSite"), "{msg}");
}

#[test]
fn the_site_a_service_moved_to_is_told_where_it_came_from_when_that_was_lost_and_its_regions() {
    use super::arrival::Arrival;
    let s = sites(Standby::Cold, SiteFailoverMode::Declared);
    let c = milan_lost_at(100);
    // Declared at 400: milan was lost at 100 (the last of its clusters to stop being Ready).
    let a = Arrival::after_move(&s, &c, Some("milan"), "turin", None, t(400)).unwrap();
    assert_eq!(
        a,
        Arrival {
            from: "milan".into(),
            lost_at: t(100),
            regions: vec!["eu-south-1".into()],
            copy: None,
            declared_at: None
        }
    );
    // Kept while the service stays; none at the site it always served from.
    let later = Arrival::after_move(&s, &healthy(), Some("milan"), "turin", Some(a.clone()), t(9_000));
    assert_eq!(later.as_ref(), Some(&a));
    assert_eq!(Arrival::after_move(&s, &c, None, "milan", None, t(400)), None);
    assert_eq!(Arrival::after_move(&s, &c, Some("milan"), "milan", None, t(400)), None);
    // A declared move off a site not seen lost (a planned move): its writes count until the declaration.
    let planned = Arrival::after_move(&s, &healthy(), Some("milan"), "turin", None, t(400)).unwrap();
    assert_eq!(planned.lost_at, t(400));

    let over =
        karmada::override_policy("hub", "erp", &s, "turin", &c, karmada::Carried { arrival: Some(&a), handover: None })
            .expect("annotates the arrival");
    let rule = &over["spec"]["overrideRules"][0];
    assert_eq!(rule["targetCluster"]["clusterNames"], serde_json::json!(["tur-1"]), "only the serving site");
    let value = rule["overriders"]["annotationsOverrider"][0]["value"][super::arrival::ARRIVAL_ANNOTATION].as_str();
    assert_eq!(serde_json::from_str::<Arrival>(value.unwrap()).unwrap(), a);
}

mod handing_over {
    use serde_json::json;

    use super::*;
    use crate::sites::{
        arrival::Arrival,
        handover::{self, Handover, Member, RunState, Stage},
    };

    fn declared(at: i64) -> Serving {
        Serving::Declared { by: "failback".into(), at: t(at) }
    }

    /// The binding as Karmada aggregates it: `cluster` reports `handover`.
    fn binding(cluster: &str, handover: serde_json::Value) -> serde_json::Value {
        json!({"status": {"aggregatedStatus": [{"clusterName": cluster, "status": {"handover": handover}}]}})
    }

    fn made(to: &str, declared_at: i64, id: &str, captured: i64) -> serde_json::Value {
        json!({"to": to, "declaredAt": t(declared_at).to_string(), "phase": "CopyMade", "copyId": id,
               "capturedAt": t(captured).to_string(), "message": "copy made"})
    }

    #[test]
    fn only_a_declared_move_of_a_stateful_service_off_a_healthy_site_waits_for_a_last_copy() {
        let s = sites(Standby::Cold, SiteFailoverMode::Declared);
        let want = Some(Handover { to: "milan".into(), declared_at: t(100) });
        assert_eq!(handover::needed(&s, &healthy(), true, Some("turin"), ("milan", &declared(100))), want);
        let mut turin_lost = healthy();
        turin_lost[2] = cluster("tur-1", "eu-south-2", false, 50);
        assert_eq!(handover::needed(&s, &turin_lost, true, Some("turin"), ("milan", &declared(100))), None);
        assert_eq!(handover::needed(&s, &healthy(), false, Some("turin"), ("milan", &declared(100))), None);
        assert_eq!(handover::needed(&s, &healthy(), true, Some("milan"), ("milan", &declared(100))), None);
        let automatic = Serving::Automatic { lost: "turin".into(), since: t(50) };
        assert_eq!(handover::needed(&s, &healthy(), true, Some("turin"), ("milan", &automatic)), None);
        assert_eq!(handover::needed(&s, &healthy(), true, None, ("milan", &declared(100))), None);
    }

    #[test]
    fn the_move_waits_at_the_site_handing_over_until_it_reports_the_last_copy_for_this_declaration() {
        let s = sites(Standby::Cold, SiteFailoverMode::Declared);
        let stage = |b: Option<&serde_json::Value>| {
            handover::stage(&s, &healthy(), true, Some("turin"), ("milan", &declared(100)), b)
        };
        let Stage::Hold { at, handover: h, message } = stage(None) else { panic!("held") };
        assert_eq!((at.as_str(), h.to.as_str()), ("turin", "milan"));
        assert!(message.contains("last copy"), "{message}");
        let copying = binding(
            "tur-1",
            json!({"to": "milan", "declaredAt": t(100).to_string(), "phase": "Copying",
            "message": "the last copy (run erp-handover-1) is being made"}),
        );
        let Stage::Hold { message, .. } = stage(Some(&copying)) else { panic!("held while copying") };
        assert!(message.contains("erp-handover-1"), "the member's words: {message}");
        // A copy made for an earlier declaration, or reported by another site's cluster, is not this one.
        assert!(matches!(stage(Some(&binding("tur-1", made("milan", 40, "old1", 45)))), Stage::Hold { .. }));
        assert!(matches!(stage(Some(&binding("mil-1", made("milan", 100, "ab12", 130)))), Stage::Hold { .. }));
        let Stage::Move(a) = stage(Some(&binding("tur-1", made("milan", 100, "ab12", 130)))) else { panic!("moves") };
        assert_eq!((a.from.as_str(), a.lost_at, a.copy.as_deref()), ("turin", t(130), Some("ab12")));
        assert!(a.regions.is_empty(), "the site left was not lost: where the copy is stored does not matter");
        // Once moved, the site left keeps being asked to stay stopped until Karmada removes the service there.
        assert_eq!(
            handover::kept_for(&a, "milan"),
            Some(("turin".into(), Handover { to: "milan".into(), declared_at: t(100) }))
        );
        let lost = Arrival::after_move(&s, &milan_lost_at(10), Some("milan"), "turin", None, t(20)).unwrap();
        assert_eq!(handover::kept_for(&lost, "turin"), None, "a site lost is asked nothing");
    }

    #[test]
    fn the_site_handing_over_is_annotated_and_the_serving_site_is_not() {
        let s = sites(Standby::Cold, SiteFailoverMode::Declared);
        let asked = ("turin".to_string(), Handover { to: "milan".into(), declared_at: t(100) });
        let carried = karmada::Carried { arrival: None, handover: Some(&asked) };
        let over = karmada::override_policy("hub", "erp", &s, "turin", &healthy(), carried).expect("a rule");
        let rule = &over["spec"]["overrideRules"][0];
        assert_eq!(rule["targetCluster"]["clusterNames"], json!(["tur-1"]));
        let value = rule["overriders"]["annotationsOverrider"][0]["value"][handover::HANDOVER_ANNOTATION].as_str();
        let back: Handover = serde_json::from_str(value.unwrap()).unwrap();
        assert_eq!(back, asked.1);
    }

    fn point(name: &str, id: &str, captured: i64) -> crate::api::RecoveryPoint {
        serde_json::from_value(json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "RecoveryPoint",
            "metadata": {"name": name, "namespace": "ict"}, "spec": {"service": "erp", "location": "vault"},
            "status": {"phase": "Available", "id": id, "capturedAt": t(captured).to_string(),
                       "completedAt": t(captured + 5).to_string()}}))
        .unwrap()
    }

    #[test]
    fn a_member_stops_every_replica_then_makes_one_last_copy_and_reports_it() {
        let h = Handover { to: "milan".into(), declared_at: t(100) };
        let run = h.run("erp");
        assert!(run.starts_with("erp-handover-"));
        assert_ne!(run, Handover { declared_at: t(200), ..h.clone() }.run("erp"), "one run per declaration");
        let m = |running, set, state: &RunState, p: Option<&crate::api::RecoveryPoint>| {
            handover::member(&Member { handover: &h, service: "erp", running, set, run: state, point: p })
        };
        let (s, start) = m(2, Some("erp-eu-west-3a"), &RunState::NotStarted, None);
        assert_eq!((s.phase.as_str(), start), ("Stopping", None), "no copy while a replica still writes");
        let (s, start) = m(0, Some("erp-eu-west-3a"), &RunState::NotStarted, None);
        assert_eq!(s.phase, "Copying");
        assert_eq!(start, Some((run.clone(), "erp-eu-west-3a".to_string())));
        let (s, start) = m(0, Some("erp-eu-west-3a"), &RunState::Failed("run x failed".into()), None);
        assert_eq!((s.phase.as_str(), start), ("Failed", None));
        assert!(s.message.contains(&run) && s.message.contains("delete the SiteFailover"), "{}", s.message);
        let (s, _) = m(0, None, &RunState::NotStarted, None);
        assert_eq!(s.phase, "Failed", "no volume to copy");
        let p = point(&run, "ab12", 130);
        let (s, start) = m(0, Some("erp-eu-west-3a"), &RunState::Succeeded, Some(&p));
        assert_eq!((s.phase.as_str(), s.copy_id.as_deref(), start), ("CopyMade", Some("ab12"), None));
        assert_eq!(s.captured_at.map(|c| c.0), Some(t(130)));
        assert_eq!(
            Handover::of(
                &serde_json::from_value(json!({"metadata": {"name": "erp",
            "annotations": {handover::HANDOVER_ANNOTATION: h.annotation()}},
            "spec": {"className": "c", "replicas": 1, "template": {}}}))
                .unwrap()
            ),
            Ok(Some(h))
        );
    }

    proptest! {
        /// Whatever the members report and whichever site is healthy, a declared move of a stateful service never
        /// leaves two sites free to write: while it is held, the site it serves from is asked to stay stopped; once it
        /// moves, the site it left is.
        #[test]
        fn a_stateful_service_never_writes_at_two_sites(
            from_ready in any::<bool>(),
            phase in 0usize..4,
            same_declaration in any::<bool>(),
        ) {
            let s = sites(Standby::Cold, SiteFailoverMode::Declared);
            let mut c = healthy();
            c[2] = cluster("tur-1", "eu-south-2", from_ready, 50);
            let phases = ["Stopping", "Copying", "CopyMade", "Failed"];
            let declared_at = if same_declaration { 100 } else { 40 };
            let report = json!({"to": "milan", "declaredAt": t(declared_at).to_string(), "phase": phases[phase],
                "copyId": "ab12", "capturedAt": t(130).to_string(), "message": "m"});
            let b = binding("tur-1", report);
            match handover::stage(&s, &c, true, Some("turin"), ("milan", &declared(100)), Some(&b)) {
                Stage::Hold { at, .. } => prop_assert_eq!(at, "turin"),
                Stage::Move(a) => {
                    prop_assert!(from_ready && same_declaration && phase == 2);
                    prop_assert_eq!(handover::kept_for(&a, "milan").map(|(at, _)| at), Some("turin".to_string()));
                }
                // Only a site lost moves at once: it writes nothing any more.
                Stage::Direct => prop_assert!(!from_ready),
            }
        }
    }
}

mod recording {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;
    use crate::api::SiteStatus;
    use crate::sites::{
        arrival::Arrival,
        handover::{self, Handover, Stage},
        record::{recorded_words, staged},
    };

    fn at_turin(arrival: Option<&Arrival>) -> SiteStatus {
        SiteStatus {
            serving: "turin".into(),
            since: Time(t(0)),
            reason: "Declared".into(),
            message: "serving from turin".into(),
            objectives: vec![],
            arrival: arrival.map(crate::api::SiteArrival::from),
            drills: None,
        }
    }

    #[test]
    fn a_held_move_stays_where_it_serves_with_its_arrival_and_asks_that_site_to_hand_over() {
        let from_milan = Arrival {
            from: "milan".into(),
            lost_at: t(-100),
            regions: vec!["eu-south-1".into()],
            copy: None,
            declared_at: None,
        };
        let previous = at_turin(Some(&from_milan));
        let why = Serving::Declared { by: "failback".into(), at: t(50) };
        let h = Handover { to: "milan".into(), declared_at: t(50) };
        let hold =
            Stage::Hold { at: "turin".into(), handover: h.clone(), message: "waiting for turin's last copy".into() };
        let (serving, arrival, asked) = staged(
            &sites(Standby::Cold, SiteFailoverMode::Declared),
            &[],
            Some(&previous),
            ("milan".into(), &why),
            &hold,
            t(60),
        );
        assert_eq!(
            (serving.as_str(), arrival.as_ref()),
            ("turin", Some(&from_milan)),
            "nothing moves, nothing is lost"
        );
        assert_eq!(asked, Some(("turin".into(), h.clone())));
        let (since, reason, message) = recorded_words(Some(&previous), ("turin", &why), &hold, None, t(60));
        assert_eq!(
            (since.0, reason.as_str(), message.as_str()),
            (t(0), "HandingOver", "waiting for turin's last copy")
        );

        // The copy reported: the move carries it, and turin stays asked to stop.
        let planned = handover::arrival("turin", &h, &handover::LastCopy { id: "ab12".into(), captured_at: t(58) });
        let (serving, arrival, asked) = staged(
            &sites(Standby::Cold, SiteFailoverMode::Declared),
            &[],
            Some(&previous),
            ("milan".into(), &why),
            &Stage::Move(planned.clone()),
            t(60),
        );
        assert_eq!((serving.as_str(), arrival), ("milan", Some(planned.clone())));
        assert_eq!(asked, Some(("turin".into(), h)));
        let (since, reason, _) = recorded_words(Some(&previous), ("milan", &why), &Stage::Move(planned), None, t(60));
        assert_eq!((since.0, reason.as_str()), (t(50), "Declared"), "serving at milan since the declaration");
    }
}
