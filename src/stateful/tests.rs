use jiff::Timestamp;
use proptest::prelude::*;

use super::*;
use crate::placement::{Role, ZoneTarget};

fn t(h: i64) -> Timestamp {
    Timestamp::from_second(1_796_000_000 + h * 3600).unwrap()
}

fn target(zone: &str, replicas: i32) -> ZoneTarget {
    ZoneTarget { zone: zone.into(), replicas, role: Role::Active }
}

fn placement(targets: &[(&str, i32)]) -> Placement {
    Placement { targets: targets.iter().map(|(z, r)| target(z, *r)).collect(), primary: None }
}

fn held(zone: &str, replicas: i32, eligible: bool, forfeited: bool) -> Held {
    Held { zone: zone.into(), replicas, eligible, forfeited }
}

fn counts(p: &Placement) -> Vec<(String, i32)> {
    p.targets.iter().map(|t| (t.zone.clone(), t.replicas)).collect()
}

#[test]
fn a_replica_stays_with_its_volume_whatever_the_mode_would_prefer() {
    // The mode would put the one replica in a; its volume is in c.
    let mut p = placement(&[("a", 1), ("b", 0), ("c", 0)]);
    let moves = hold(&mut p, 1, &[held("c", 1, true, false)]);
    assert_eq!(moves, []);
    assert_eq!(counts(&p), [("a".into(), 0), ("b".into(), 0), ("c".into(), 1)]);
}

#[test]
fn a_lost_zone_s_replica_is_recreated_elsewhere_and_restored_a_new_one_is_not() {
    let mut p = placement(&[("b", 1), ("c", 0)]);
    let moves = hold(&mut p, 1, &[held("a", 1, false, false), held("b", 0, true, false), held("c", 0, true, false)]);
    assert_eq!(moves, [Move { zone: "b".into(), from_zone: "a".into(), first_ordinal: 0, replicas: 1 }]);
    // A scale-up from 1 to 2: the new replica is a first placement.
    let mut p = placement(&[("a", 1), ("b", 1), ("c", 0)]);
    assert_eq!(hold(&mut p, 2, &[held("a", 1, true, false)]), []);
    // A first placement never restores.
    let mut p = placement(&[("a", 1), ("b", 0)]);
    assert_eq!(hold(&mut p, 1, &[]), []);
    assert_eq!(counts(&p), [("a".into(), 1), ("b".into(), 0)]);
}

#[test]
fn replicas_whose_data_survives_elsewhere_are_not_restored() {
    // ActiveActive 3 over a, b, c (2 each): a is lost, b and c still hold 4 ≥ 3 replicas' data.
    let mut p = placement(&[("b", 3), ("c", 3)]);
    let lost = [held("a", 2, false, false), held("b", 2, true, false), held("c", 2, true, false)];
    assert_eq!(hold(&mut p, 3, &lost), [], "the application's own replication holds the data");
    assert_eq!(counts(&p), [("b".into(), 3), ("c".into(), 3)]);
}

#[test]
fn a_zone_that_grows_by_restored_replicas_keeps_its_own_ordinals() {
    // Restart 3 over a, b, c; a is lost: b grows from 1 to 2, its new ordinal 1 is restored from a's copy.
    let mut p = placement(&[("b", 2), ("c", 1)]);
    let moves = hold(&mut p, 3, &[held("a", 1, false, false), held("b", 1, true, false), held("c", 1, true, false)]);
    assert_eq!(moves, [Move { zone: "b".into(), from_zone: "a".into(), first_ordinal: 1, replicas: 1 }]);
}

#[test]
fn the_zone_back_gets_nothing_while_its_volumes_are_forfeited() {
    // a was lost and its replica restored in b; a is back. The mode would spread back to a.
    let mut p = placement(&[("a", 1), ("b", 1), ("c", 1)]);
    let now = [held("a", 1, true, true), held("b", 2, true, false), held("c", 1, true, false)];
    assert_eq!(hold(&mut p, 3, &now), []);
    assert_eq!(counts(&p), [("a".into(), 0), ("b".into(), 2), ("c".into(), 1)]);
}

#[test]
fn shrinking_the_declared_replicas_takes_the_mode_s_placement() {
    let mut p = placement(&[("a", 1), ("b", 1)]);
    assert_eq!(hold(&mut p, 2, &[held("a", 2, true, false), held("b", 2, true, false)]), []);
    assert_eq!(p.total(), 2);
}

fn copy(name: &'static str, h: i64, zone: Option<&'static str>, good: bool) -> Copy<'static> {
    Copy { name, captured: t(h), zone, region: None, good }
}

fn loss(zone: &'static str, h: i64) -> Loss<'static> {
    Loss { zone, region: Some("eu-south-1"), at: t(h), site_regions: None }
}

#[test]
fn the_newest_good_copy_stored_outside_the_lost_zone_is_restored() {
    let copies = [
        copy("d1", 0, Some("eu-south-2a"), true),
        copy("d2", 24, Some("eu-south-2a"), true),
        copy("d3", 48, Some("eu-south-2a"), false),
        copy("local", 50, Some("eu-south-1a"), true),
        copy("after", 60, Some("eu-south-2a"), true),
    ];
    let start = start_from(&copies, &loss("eu-south-1a", 52), false);
    assert_eq!(start, Start::Restore { point: "d2".into(), captured: t(24) });
    assert_eq!(data_loss(t(52), t(24), Some(86_400)), DataLoss { seconds: 28 * 3600, within_rpo: Some(false) });
    assert_eq!(data_loss(t(30), t(24), Some(86_400)).within_rpo, Some(true));
}

#[test]
fn without_a_copy_the_replica_does_not_start_unless_the_class_allows_empty() {
    let only_local = [copy("local", 10, Some("a"), true)];
    match start_from(&only_local, &loss("a", 12), false) {
        Start::Refuse { reason, message } => {
            assert_eq!(reason, "NoCopyToRestore");
            assert!(message.contains("1 good copies, all stored in a, lost with it"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let unknown = [copy("x", 10, None, true)];
    match start_from(&unknown, &loss("a", 12), false) {
        Start::Refuse { message, .. } => assert!(message.contains("none known to be stored outside a"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(start_from(&[], &loss("a", 12), true), Start::Empty);
    // A copy whose location names only a region is outside the zone when that region is another.
    let offsite = [Copy { region: Some("eu-south-2"), ..copy("offsite", 10, None, true) }];
    assert!(matches!(start_from(&offsite, &loss("a", 12), false), Start::Restore { .. }));
    let same_region = [Copy { region: Some("eu-south-1"), ..copy("near", 10, None, true) }];
    assert!(matches!(start_from(&same_region, &loss("a", 12), false), Start::Refuse { .. }));
}

#[test]
fn only_network_attached_volumes_survive_a_server() {
    assert_eq!(survival("zonal-ssd", "pd.csi.storage.gke.io"), Survival::Survives);
    assert_eq!(survival("ceph", "rbd.csi.ceph.com"), Survival::Survives);
    for local in ["kubernetes.io/no-provisioner", "rancher.io/local-path", "hostpath.csi.k8s.io", "topolvm.io"] {
        assert!(matches!(survival("c", local), Survival::LostWithTheServer(_)), "{local}");
    }
}

#[test]
fn a_lost_server_s_stateful_replica_comes_back_only_when_fenced() {
    let model = NodeLoss { fence_after_seconds: None, attach_seconds: 20, startup_seconds: 30 };
    match node_recovery(&model) {
        NodeRecovery::NeedsAPerson(why) => {
            assert!(why.contains("stays Terminating") && why.contains("--fence-lost-nodes"))
        }
        other => panic!("{other:?}"),
    }
    let fenced = NodeLoss { fence_after_seconds: Some(60), ..model };
    assert_eq!(
        node_recovery(&fenced),
        NodeRecovery::Bounded {
            seconds: 110,
            how: "fenced 60s after its lease went silent + 20s to attach the volume elsewhere + 30s start-up = 110s"
                .into()
        }
    );
}

proptest! {
    /// Whatever was held and lost: no eligible zone that holds volumes loses replicas unless the declared replicas
    /// shrank; a forfeited zone gets none; moves never exceed what the unusable zones held nor the shortfall; and
    /// each move's ordinals are new ones in its zone.
    #[test]
    fn gravity_holds(declared in 1i32..8, spread in prop::collection::vec(0i32..4, 3),
                     recorded in prop::collection::vec((0i32..4, any::<bool>(), any::<bool>()), 3)) {
        let zones = ["a", "b", "c"];
        let held: Vec<Held> = zones.iter().zip(&recorded)
            .map(|(z, (r, eligible, forfeited))| held(z, *r, *eligible, *forfeited && *eligible)).collect();
        let eligible: Vec<&str> = held.iter().filter(|h| h.eligible).map(|h| h.zone.as_str()).collect();
        prop_assume!(!eligible.is_empty());
        let mut p = placement(&eligible.iter().zip(&spread).map(|(z, r)| (*z, *r)).collect::<Vec<_>>());
        let mode_total = p.total();
        let moves = hold(&mut p, declared, &held);
        let kept: i32 = held.iter().filter(|h| h.eligible && !h.forfeited).map(|h| h.replicas).sum();
        for t in &p.targets {
            let h = held.iter().find(|h| h.zone == t.zone).unwrap();
            if h.forfeited {
                prop_assert_eq!(t.replicas, 0);
            } else if kept <= mode_total {
                prop_assert!(t.replicas >= h.replicas, "{} shrank", t.zone);
            }
        }
        let lost: i32 = held.iter().filter(|h| !h.eligible).map(|h| h.replicas).sum();
        let moved: i32 = moves.iter().map(|m| m.replicas).sum();
        prop_assert!(moved <= lost && moved <= (declared - kept).max(0));
        for m in &moves {
            let was = held.iter().find(|h| h.zone == m.zone).map_or(0, |h| h.replicas);
            prop_assert!(m.first_ordinal >= was);
            let t = p.targets.iter().find(|t| t.zone == m.zone).unwrap();
            prop_assert!(m.first_ordinal + m.replicas <= t.replicas);
        }
    }
}

#[test]
fn node_rpo_is_judged_on_each_claim_s_storage_class() {
    let claims: Vec<crate::api::ClaimTemplate> = serde_json::from_value(serde_json::json!([
        {"metadata": {"name": "db"}, "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "ssd", "resources": {"requests": {"storage": "1Gi"}}}},
        {"metadata": {"name": "cache"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    ]))
    .unwrap();
    let class = |name: &str, provisioner: &str, default: bool| StorageClass {
        name: name.into(),
        provisioner: provisioner.into(),
        default,
    };
    let loss = NodeLoss { fence_after_seconds: None, attach_seconds: 30, startup_seconds: 20 };
    let network = [class("ssd", "pd.csi.storage.gke.io", false), class("std", "ebs.csi.aws.com", true)];
    let st = storage(&claims, Some(&network), loss);
    assert_eq!(st.node_rpo(0).map(|(ok, reason, _)| (ok, reason)), Some((true, "NetworkVolumes")));
    // The claim without a class gets the default one: a local one loses its data with the server.
    let local_default = [class("ssd", "pd.csi.storage.gke.io", false), class("local", "rancher.io/local-path", true)];
    let st = storage(&claims, Some(&local_default), loss);
    let (ok, reason, why) = st.node_rpo(0).unwrap();
    assert_eq!((ok, reason), (false, "LocalVolumes"));
    assert!(why.contains("StorageClass local (rancher.io/local-path)"), "{why}");
    assert_eq!(st.node_rpo(3600), None, "an RPO above 0 is the backups' to judge");
    assert_eq!(storage(&claims, None, loss).node_rpo(0), None, "not observed: not judged");
    let missing = storage(&claims, Some(&[class("std", "ebs.csi.aws.com", false)]), loss).missing;
    assert_eq!(missing, ["ssd", "(the default class)"]);
    // And the server's loss: fenced in time, or a person.
    let (ok, reason, _) =
        storage(&claims, Some(&network), NodeLoss { fence_after_seconds: Some(60), ..loss }).node_rto(900);
    assert_eq!((ok, reason), (true, "FencedInTime"));
    assert_eq!(storage(&claims, Some(&network), loss).node_rto(900).1, "NeedsAPerson");
}

fn stored(name: &'static str, h: i64, region: Option<&'static str>) -> Copy<'static> {
    Copy { name, captured: t(h), zone: Some("eu-south-1b"), region, good: true }
}

#[test]
fn after_a_site_loss_only_a_copy_stored_in_another_region_is_restored_whatever_its_zone() {
    let regions = ["eu-south-1".to_string()];
    let site = Loss { zone: "site milan", region: None, at: t(50), site_regions: Some(&regions) };
    // The newest copy is stored in a zone with another name, but in the lost site's region: lost with it.
    let copies = [stored("paris-1", 24, Some("eu-west-3")), stored("milan-1", 48, Some("eu-south-1"))];
    assert_eq!(start_from(&copies, &site, false), Start::Restore { point: "paris-1".into(), captured: t(24) });
    let Start::Refuse { reason, message } = start_from(&copies[1..], &site, false) else { panic!("refused") };
    assert_eq!(reason, "NoCopyToRestore");
    assert!(message.contains("stored in site milan"), "{message}");
    // Not knowing the lost site's regions, no copy is known to have survived it.
    let unknown = Loss { site_regions: Some(&[]), ..site };
    assert!(matches!(start_from(&copies, &unknown, false), Start::Refuse { .. }));
}

proptest::proptest! {
    /// A first start at a recovery site never starts empty, nor refuses, while a good copy captured before the loss
    /// is stored outside the lost site's regions; and what it restores is always such a copy, the newest.
    #[test]
    fn a_first_start_at_a_recovery_site_never_starts_empty_when_a_copy_outside_the_site_exists(
        copies in proptest::collection::vec((0i64..100, 0usize..3, proptest::bool::ANY), 0..8),
        lost_at in 0i64..100,
        empty_allowed in proptest::bool::ANY,
    ) {
        const REGIONS: [Option<&str>; 3] = [Some("eu-south-1"), Some("eu-west-3"), None];
        let regions = ["eu-south-1".to_string()];
        let site = Loss { zone: "site milan", region: None, at: t(lost_at), site_regions: Some(&regions) };
        let all: Vec<Copy<'static>> = copies
            .iter()
            .map(|(h, r, good)| Copy { name: "c", captured: t(*h), zone: None, region: REGIONS[*r], good: *good })
            .collect();
        let survivors: Vec<&Copy<'_>> =
            all.iter().filter(|c| c.good && c.captured <= t(lost_at) && c.region == Some("eu-west-3")).collect();
        match start_from(&all, &site, empty_allowed) {
            Start::Restore { captured, .. } => {
                proptest::prop_assert_eq!(Some(captured), survivors.iter().map(|c| c.captured).max());
            }
            Start::Empty | Start::Refuse { .. } => proptest::prop_assert!(survivors.is_empty()),
        }
    }
}
