use jiff::Timestamp;
use proptest::prelude::*;

use super::*;

fn t(h: i64) -> Timestamp {
    Timestamp::from_second(1_796_000_000 + h * 3600).unwrap()
}

fn zones(names: &[&str]) -> Vec<String> {
    names.iter().map(|z| z.to_string()).collect()
}

fn rec(pairs: &[(usize, &str)]) -> Vec<(usize, String)> {
    pairs.iter().map(|(o, z)| (*o, z.to_string())).collect()
}

#[test]
fn a_replica_stays_with_its_volume_whatever_the_spread_would_prefer() {
    let s = seats(1, &rec(&[(0, "c")]), &zones(&["a", "b", "c"]));
    assert_eq!(s, [Seat { ordinal: 0, zone: "c".into(), restore_from_zone: None }]);
}

#[test]
fn a_lost_zone_s_replica_is_recreated_elsewhere_and_restored_a_new_one_is_not() {
    let s = seats(2, &rec(&[(0, "a"), (1, "b")]), &zones(&["b", "c"]));
    assert_eq!(s[0], Seat { ordinal: 0, zone: "c".into(), restore_from_zone: Some("a".into()) }, "least loaded");
    assert_eq!(s[1], Seat { ordinal: 1, zone: "b".into(), restore_from_zone: None });
    let scaled = seats(3, &rec(&[(0, "a"), (1, "b")]), &zones(&["a", "b", "c"]));
    assert_eq!(scaled[2], Seat { ordinal: 2, zone: "c".into(), restore_from_zone: None }, "a scale-up starts empty");
    let first = seats(1, &[], &zones(&["b", "a"]));
    assert_eq!(first[0].zone, "b", "first in the spread's order");
    assert_eq!(first[0].restore_from_zone, None, "a first placement never restores");
}

#[test]
fn the_zone_back_does_not_pull_the_replica_back() {
    // Moved to c while a was lost; a is eligible again, the recorded zone is c now.
    let s = seats(1, &rec(&[(0, "c")]), &zones(&["a", "b", "c"]));
    assert_eq!(s[0].zone, "c");
}

fn copy(name: &'static str, h: i64, zone: Option<&'static str>, good: bool) -> Copy<'static> {
    Copy { name, captured: t(h), zone, good }
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
    let start = start_from(&copies, "eu-south-1a", t(52), false);
    assert_eq!(start, Start::Restore { point: "d2".into(), captured: t(24) });
    assert_eq!(data_loss(t(52), t(24), Some(86_400)), DataLoss { seconds: 28 * 3600, within_rpo: Some(false) });
    assert_eq!(data_loss(t(30), t(24), Some(86_400)).within_rpo, Some(true));
}

#[test]
fn without_a_copy_the_replica_does_not_start_unless_the_class_allows_empty() {
    let only_local = [copy("local", 10, Some("a"), true)];
    match start_from(&only_local, "a", t(12), false) {
        Start::Refuse { reason, message } => {
            assert_eq!(reason, "NoCopyToRestore");
            assert!(message.contains("1 good copies, all stored in a, lost with it"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let unknown = [copy("x", 10, None, true)];
    match start_from(&unknown, "a", t(12), false) {
        Start::Refuse { message, .. } => assert!(message.contains("none known to be stored outside a"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(start_from(&[], "a", t(12), true), Start::Empty);
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
    /// Every replica gets a seat in an eligible zone; a replica whose zone stays eligible never moves; only a
    /// replica that had a zone and lost it is restored.
    #[test]
    fn seats_keep_gravity(replicas in 0usize..6, recorded in prop::collection::vec((0usize..6, 0usize..4), 0..6),
                          eligible in prop::collection::btree_set(0usize..4, 1..4)) {
        let name = |z: usize| format!("z{z}");
        let mut seen = std::collections::BTreeSet::new();
        let recorded: Vec<(usize, String)> =
            recorded.into_iter().filter(|(o, _)| seen.insert(*o)).map(|(o, z)| (o, name(z))).collect();
        let eligible: Vec<String> = eligible.into_iter().map(name).collect();
        let s = seats(replicas, &recorded, &eligible);
        prop_assert_eq!(s.len(), replicas);
        for seat in &s {
            prop_assert!(eligible.contains(&seat.zone));
            let had = recorded.iter().find(|(o, _)| *o == seat.ordinal).map(|(_, z)| z.clone());
            match &had {
                Some(z) if eligible.contains(z) => {
                    prop_assert_eq!(&seat.zone, z);
                    prop_assert_eq!(&seat.restore_from_zone, &None);
                }
                _ => prop_assert_eq!(&seat.restore_from_zone, &had),
            }
        }
    }
}
