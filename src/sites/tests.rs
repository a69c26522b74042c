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
    let over = karmada::override_policy("hub", "erp", &s, "turin", &c, None).unwrap();
    let rule = &over["spec"]["overrideRules"][0];
    assert_eq!(rule["targetCluster"]["clusterNames"], serde_json::json!(["mil-2", "fra-1"]));
    assert_eq!(rule["overriders"]["plaintext"][0]["value"], 1);
    assert!(
        karmada::override_policy("hub", "erp", &sites(Standby::Cold, SiteFailoverMode::Declared), "milan", &c, None)
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
    assert_eq!(a, Arrival { from: "milan".into(), lost_at: t(100), regions: vec!["eu-south-1".into()] });
    // Kept while the service stays; none at the site it always served from.
    let later = Arrival::after_move(&s, &healthy(), Some("milan"), "turin", Some(a.clone()), t(9_000));
    assert_eq!(later.as_ref(), Some(&a));
    assert_eq!(Arrival::after_move(&s, &c, None, "milan", None, t(400)), None);
    assert_eq!(Arrival::after_move(&s, &c, Some("milan"), "milan", None, t(400)), None);
    // A declared move off a site not seen lost (a planned move): its writes count until the declaration.
    let planned = Arrival::after_move(&s, &healthy(), Some("milan"), "turin", None, t(400)).unwrap();
    assert_eq!(planned.lost_at, t(400));

    let over = karmada::override_policy("hub", "erp", &s, "turin", &c, Some(&a)).expect("annotates the arrival");
    let rule = &over["spec"]["overrideRules"][0];
    assert_eq!(rule["targetCluster"]["clusterNames"], serde_json::json!(["tur-1"]), "only the serving site");
    let value = rule["overriders"]["annotationsOverrider"][0]["value"][super::arrival::ARRIVAL_ANNOTATION].as_str();
    assert_eq!(serde_json::from_str::<Arrival>(value.unwrap()).unwrap(), a);
}
