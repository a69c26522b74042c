//! How many replicas each zone runs, per mode, so that the declared capacity survives the class's failures.

use crate::{api::Mode, spread::Spread};

/// What a zone's Deployment is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Active,
    Primary,
    Standby,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Active => "Active",
            Role::Primary => "Primary",
            Role::Standby => "Standby",
        }
    }
}

/// The replicas one eligible zone runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneTarget {
    pub zone: String,
    pub replicas: i32,
    pub role: Role,
}

/// The placement of one service over its eligible zones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub targets: Vec<ZoneTarget>,
    /// WarmStandby: the serving zone.
    pub primary: Option<String>,
}

impl Placement {
    pub fn total(&self) -> i32 {
        self.targets.iter().map(|t| t.replicas).sum()
    }

    /// Replicas left after losing the zone that holds the most.
    pub fn after_worst_zone_loss(&self) -> i32 {
        self.total() - self.targets.iter().map(|t| t.replicas).max().unwrap_or(0)
    }
}

/// Places `replicas` over `zones` (eligible, in a stable order).
///
/// - ActiveActive: each of Z zones runs ceil(N / (Z-1)), so losing any one zone leaves at least N.
///   With one zone it runs N there (and the objectives say a zone loss cannot be survived).
/// - WarmStandby: the primary runs N and every other zone `standby`. The primary is the first of the zones in
///   `spread`'s order: a preferred zone, else the primary in status (kept while it stays eligible), else the
///   service's own choice by rendezvous hash (see [`crate::spread`]).
/// - Restart: N spread as evenly as possible; the remainder goes to the first zones in the same order (a zone
///   holding one now keeps it).
pub fn place(mode: Mode, replicas: i32, standby: i32, zones: &[String], spread: &Spread<'_>) -> Placement {
    let z = zones.len() as i32;
    if z == 0 {
        return Placement { targets: vec![], primary: None };
    }
    let target = |zone: &String, replicas: i32, role: Role| ZoneTarget { zone: zone.clone(), replicas, role };
    match mode {
        Mode::ActiveActive => {
            let per_zone = if z == 1 { replicas } else { div_ceil(replicas, z - 1) };
            Placement { targets: zones.iter().map(|zn| target(zn, per_zone, Role::Active)).collect(), primary: None }
        }
        Mode::WarmStandby => {
            let held: Vec<&str> = spread.primary.into_iter().collect();
            let chosen = spread.order(zones, &held)[0].clone();
            let targets = zones
                .iter()
                .map(|zn| {
                    if *zn == chosen { target(zn, replicas, Role::Primary) } else { target(zn, standby, Role::Standby) }
                })
                .collect();
            Placement { targets, primary: Some(chosen) }
        }
        Mode::Restart => {
            let (base, extra) = (replicas / z, replicas % z);
            let order = spread.order(zones, &spread.holding_more_than(base));
            let remainder = &order[..extra as usize];
            let targets =
                zones.iter().map(|zn| target(zn, base + i32::from(remainder.contains(&zn)), Role::Active)).collect();
            Placement { targets, primary: None }
        }
    }
}

fn div_ceil(a: i32, b: i32) -> i32 {
    (a + b - 1) / b
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn zones(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("zone-{}", (b'a' + i as u8) as char)).collect()
    }

    fn counts(p: &Placement) -> Vec<i32> {
        p.targets.iter().map(|t| t.replicas).collect()
    }

    fn none() -> Spread<'static> {
        Spread::default()
    }

    /// The counts, largest first: which zone takes the uneven share is the spread's, tested on its own.
    fn shares(p: &Placement) -> Vec<i32> {
        let mut c = counts(p);
        c.sort_unstable_by(|a, b| b.cmp(a));
        c
    }

    #[test]
    fn table() {
        let cases: &[(Mode, i32, usize, &[i32])] = &[
            (Mode::ActiveActive, 6, 3, &[3, 3, 3]),
            (Mode::ActiveActive, 6, 2, &[6, 6]),
            (Mode::ActiveActive, 5, 3, &[3, 3, 3]),
            (Mode::ActiveActive, 1, 3, &[1, 1, 1]),
            (Mode::ActiveActive, 4, 1, &[4]),
            (Mode::ActiveActive, 10, 4, &[4, 4, 4, 4]),
            (Mode::WarmStandby, 4, 3, &[4, 1, 1]),
            (Mode::WarmStandby, 4, 1, &[4]),
            (Mode::Restart, 7, 3, &[3, 2, 2]),
            (Mode::Restart, 2, 3, &[1, 1, 0]),
            (Mode::Restart, 3, 1, &[3]),
        ];
        for (mode, n, z, want) in cases {
            assert_eq!(shares(&place(*mode, *n, 1, &zones(*z), &none())), *want, "{mode:?} N={n} Z={z}");
        }
    }

    #[test]
    fn warm_standby_keeps_its_primary_while_eligible() {
        let spread = Spread { key: "n/s".into(), primary: Some("zone-b"), ..Spread::default() };
        let p = place(Mode::WarmStandby, 4, 2, &zones(3), &spread);
        assert_eq!(p.primary.as_deref(), Some("zone-b"));
        assert_eq!(counts(&p), [2, 4, 2]);
    }

    #[test]
    fn a_preferred_zone_wins_while_eligible() {
        let preferred = ["zone-x".to_string(), "zone-c".to_string()];
        let spread = Spread { key: "n/s".into(), preferred: &preferred, primary: Some("zone-b"), ..Spread::default() };
        assert_eq!(place(Mode::WarmStandby, 4, 1, &zones(3), &spread).primary.as_deref(), Some("zone-c"));
        assert_eq!(counts(&place(Mode::Restart, 4, 1, &zones(3), &spread)), [1, 1, 2]);
        let without_c = &zones(3)[..2];
        assert_eq!(place(Mode::WarmStandby, 4, 1, without_c, &spread).primary.as_deref(), Some("zone-b"));
    }

    #[test]
    fn warm_standby_promotes_a_standby_when_its_primary_is_gone() {
        let survivors = vec!["zone-a".to_string(), "zone-c".to_string()];
        let spread = Spread { key: "n/s".into(), primary: Some("zone-b"), ..Spread::default() };
        let p = place(Mode::WarmStandby, 4, 1, &survivors, &spread);
        assert!(p.primary.as_deref().is_some_and(|z| z != "zone-b"));
        assert_eq!(shares(&p), [4, 1]);
    }

    #[test]
    fn a_restart_remainder_stays_in_the_zones_that_hold_it() {
        // As a build before the spread recorded them: the remainder in the first zones.
        let spread =
            Spread { key: "n/s".into(), recorded: vec![("zone-a", 2), ("zone-b", 1), ("zone-c", 1)], ..none() };
        assert_eq!(counts(&place(Mode::Restart, 4, 1, &zones(3), &spread)), [2, 1, 1]);
        let spread = Spread { recorded: vec![("zone-a", 3), ("zone-b", 3), ("zone-c", 2)], ..spread };
        assert_eq!(counts(&place(Mode::Restart, 8, 1, &zones(3), &spread)), [3, 3, 2]);
    }

    #[test]
    fn no_zone_places_nothing() {
        assert_eq!(place(Mode::ActiveActive, 3, 1, &[], &none()).targets, vec![]);
    }

    proptest! {
        #[test]
        fn active_active_survives_any_single_zone_loss(n in 1i32..500, z in 2usize..9) {
            let p = place(Mode::ActiveActive, n, 1, &zones(z), &none());
            for lost in 0..z {
                let left: i32 = p.targets.iter().enumerate().filter(|(i, _)| *i != lost).map(|(_, t)| t.replicas).sum();
                prop_assert!(left >= n, "losing zone {lost} leaves {left} < {n}");
            }
            prop_assert!(p.after_worst_zone_loss() >= n);
            // N+1, not more: one replica fewer per zone would not survive a zone loss.
            let per_zone = p.targets[0].replicas;
            prop_assert!((per_zone - 1) * (z as i32 - 1) < n);
        }

        #[test]
        fn even_modes_differ_by_at_most_one(n in 1i32..500, z in 1usize..9, key in "[a-z]{1,8}/[a-z]{1,8}") {
            let spread = Spread { key, ..Spread::default() };
            for mode in [Mode::ActiveActive, Mode::Restart] {
                let c = counts(&place(mode, n, 1, &zones(z), &spread));
                prop_assert!(c.iter().max().unwrap() - c.iter().min().unwrap() <= 1);
            }
            prop_assert_eq!(place(Mode::Restart, n, 1, &zones(z), &spread).total(), n);
        }

        #[test]
        fn warm_standby_primary_carries_full_capacity(n in 1i32..500, z in 1usize..9, standby in 0i32..5, pick in 0usize..9) {
            let zs = zones(z);
            let wanted = zs.get(pick).cloned();
            let spread = Spread { key: "n/s".into(), primary: wanted.as_deref(), ..Spread::default() };
            let p = place(Mode::WarmStandby, n, standby, &zs, &spread);
            let primary = p.primary.clone().unwrap();
            if let Some(w) = wanted { prop_assert_eq!(&primary, &w, "a primary in status is never moved while eligible"); }
            for t in &p.targets {
                prop_assert_eq!(t.replicas, if t.zone == primary { n } else { standby });
            }
        }

        /// A Restart remainder over Z zones is the first `N mod Z` of the order: a zone added takes a remainder
        /// from no zone but the last one of them.
        #[test]
        fn a_zone_added_moves_at_most_one_restart_remainder(n in 1i32..50, z in 2usize..6, key in "[a-z]{1,8}/[a-z]{1,8}") {
            let spread = Spread { key, ..Spread::default() };
            let (before, after) = (zones(z), zones(z + 1));
            let holds = |zs: &[String]| -> Vec<String> {
                let p = place(Mode::Restart, n, 1, zs, &spread);
                let base = n / zs.len() as i32;
                p.targets.iter().filter(|t| t.replicas > base).map(|t| t.zone.clone()).collect()
            };
            let (was, is) = (holds(&before), holds(&after));
            let kept = is.iter().filter(|z| was.contains(z)).count();
            prop_assert!(kept + 1 >= was.len().min(is.len()), "{was:?} → {is:?}");
        }
    }
}
