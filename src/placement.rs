//! How many replicas each zone runs, per mode, so that the declared capacity survives the class's failures.

use crate::api::Mode;

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
/// - WarmStandby: the primary runs N — kept while it stays eligible — and every other zone `standby`.
/// - Restart: N spread as evenly as possible; the zones first in order take the remainder.
pub fn place(mode: Mode, replicas: i32, standby: i32, zones: &[String], primary: Option<&str>) -> Placement {
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
            let chosen = primary.and_then(|p| zones.iter().find(|zn| zn.as_str() == p)).unwrap_or(&zones[0]).clone();
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
            let targets = zones
                .iter()
                .enumerate()
                .map(|(i, zn)| target(zn, base + i32::from((i as i32) < extra), Role::Active))
                .collect();
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
            assert_eq!(counts(&place(*mode, *n, 1, &zones(*z), None)), *want, "{mode:?} N={n} Z={z}");
        }
    }

    #[test]
    fn warm_standby_keeps_its_primary_while_eligible() {
        let p = place(Mode::WarmStandby, 4, 2, &zones(3), Some("zone-b"));
        assert_eq!(p.primary.as_deref(), Some("zone-b"));
        assert_eq!(counts(&p), [2, 4, 2]);
    }

    #[test]
    fn warm_standby_promotes_a_standby_when_its_primary_is_gone() {
        let survivors = vec!["zone-a".to_string(), "zone-c".to_string()];
        let p = place(Mode::WarmStandby, 4, 1, &survivors, Some("zone-b"));
        assert_eq!(p.primary.as_deref(), Some("zone-a"));
        assert_eq!(counts(&p), [4, 1]);
    }

    #[test]
    fn no_zone_places_nothing() {
        assert_eq!(place(Mode::ActiveActive, 3, 1, &[], None).targets, vec![]);
    }

    proptest! {
        #[test]
        fn active_active_survives_any_single_zone_loss(n in 1i32..500, z in 2usize..9) {
            let p = place(Mode::ActiveActive, n, 1, &zones(z), None);
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
        fn even_modes_differ_by_at_most_one(n in 1i32..500, z in 1usize..9) {
            for mode in [Mode::ActiveActive, Mode::Restart] {
                let c = counts(&place(mode, n, 1, &zones(z), None));
                prop_assert!(c.iter().max().unwrap() - c.iter().min().unwrap() <= 1);
            }
            prop_assert_eq!(place(Mode::Restart, n, 1, &zones(z), None).total(), n);
        }

        #[test]
        fn warm_standby_primary_carries_full_capacity(n in 1i32..500, z in 1usize..9, standby in 0i32..5, pick in 0usize..9) {
            let zs = zones(z);
            let wanted = zs.get(pick).cloned();
            let p = place(Mode::WarmStandby, n, standby, &zs, wanted.as_deref());
            let primary = p.primary.clone().unwrap();
            if let Some(w) = wanted { prop_assert_eq!(&primary, &w); }
            for t in &p.targets {
                prop_assert_eq!(t.replicas, if t.zone == primary { n } else { standby });
            }
        }
    }
}
