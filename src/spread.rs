//! Which zones take the share of a service that does not divide evenly over its zones — a WarmStandby primary, a
//! Restart remainder — so that over many services each zone takes an even part of them, and what the loss of each
//! zone would cost now (the blast radius).
//!
//! The choice is a **rendezvous hash** (highest random weight) of the service's `namespace/name` with each zone:
//! every zone gets a score, the highest scores win. It depends on nothing but the names, so every replica of the
//! operator and `continuo plan` choose the same; and a zone added or removed changes only the choices it wins or
//! held (a modulo hash over the zone list would reshuffle most services). The hash is XXH3, a specified function,
//! so an upgrade of the toolchain or of continuo never changes a choice.
//!
//! Before the hash come, in this order: the zones the user prefers (`spec.preferredZones`), then the zones that hold
//! the share now (the primary in status; a Restart zone running more than the even part). A running primary is
//! therefore never moved to even out the cluster: moving one is a failover, with its risk, for no one's benefit.

use std::collections::BTreeMap;

use crate::api::ZoneStatus;

/// What orders a service's zones for its uneven share.
#[derive(Clone, Debug, Default)]
pub struct Spread<'a> {
    /// `namespace/name`: what is hashed.
    pub key: String,
    /// The user's preferred zones, first first (`spec.preferredZones`).
    pub preferred: &'a [String],
    /// WarmStandby: the primary recorded in status.
    pub primary: Option<&'a str>,
    /// Each zone's replicas as recorded in status (for a Restart remainder kept where it is).
    pub recorded: Vec<(&'a str, i32)>,
}

impl Spread<'_> {
    /// `zones` ordered for the uneven share: preferred, then `held`, then by score; each group's own order is
    /// the preference's, then the score's.
    pub fn order<'z>(&self, zones: &'z [String], held: &[&str]) -> Vec<&'z String> {
        let rank = |z: &String| {
            let preferred = self.preferred.iter().position(|p| p == z).unwrap_or(usize::MAX);
            (preferred, !held.contains(&z.as_str()), std::cmp::Reverse(score(&self.key, z)), z.clone())
        };
        let mut ordered: Vec<&String> = zones.iter().collect();
        ordered.sort_by_cached_key(|z| rank(z));
        ordered
    }

    /// The zones recorded with more than `base` replicas: the ones holding a Restart remainder now.
    pub fn holding_more_than(&self, base: i32) -> Vec<&str> {
        self.recorded.iter().filter(|(_, r)| *r > base).map(|(z, _)| *z).collect()
    }
}

/// The rendezvous score of `zone` for the service `key`.
pub fn score(key: &str, zone: &str) -> u64 {
    let mut input = Vec::with_capacity(key.len() + zone.len() + 1);
    input.extend_from_slice(key.as_bytes());
    input.push(0);
    input.extend_from_slice(zone.as_bytes());
    xxhash_rust::xxh3::xxh3_64(&input)
}

/// What the loss of one zone would cost now, over services.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exposure {
    /// Services that would drop below their declared replicas.
    pub services: u32,
    /// Replicas that would have to start in other zones to bring them back.
    pub replicas: i64,
}

/// Per zone, what its loss would cost: for each service (its declared replicas and its zones as in status), the
/// replicas left in its other eligible zones against the declared ones.
pub fn blast_radius<'a>(services: impl IntoIterator<Item = (i32, &'a [ZoneStatus])>) -> BTreeMap<&'a str, Exposure> {
    let mut out: BTreeMap<&str, Exposure> = BTreeMap::new();
    for (declared, zones) in services {
        let total: i32 = zones.iter().filter(|z| z.eligible).map(|z| z.desired_replicas).sum();
        for z in zones.iter().filter(|z| z.eligible) {
            let e = out.entry(z.name.as_str()).or_default();
            let short = declared - (total - z.desired_replicas);
            if short > 0 {
                e.services += 1;
                e.replicas += i64::from(short);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn zones(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("eu-south-1{}", (b'a' + i as u8) as char)).collect()
    }

    fn first(key: &str, zones: &[String]) -> String {
        Spread { key: key.into(), ..Spread::default() }.order(zones, &[])[0].clone()
    }

    #[test]
    fn the_score_is_a_specified_hash_that_never_changes() {
        // Pinned: a change here would move every service's primary on upgrade.
        assert_eq!(score("shop/checkout", "eu-south-1a"), xxhash_rust::xxh3::xxh3_64(b"shop/checkout\0eu-south-1a"));
        assert_eq!(first("shop/checkout", &zones(3)), first("shop/checkout", &zones(3)));
    }

    #[test]
    fn preferred_then_held_then_hash() {
        let zs = zones(3);
        let s = Spread { key: "n/s".into(), preferred: &zs[2..], ..Spread::default() };
        assert_eq!(s.order(&zs, &["eu-south-1b"])[..2], [&zs[2], &zs[1]]);
        let none = Spread { key: "n/s".into(), ..Spread::default() };
        assert_eq!(none.order(&zs, &["eu-south-1b"])[0], &zs[1], "held beats the hash");
    }

    #[test]
    fn a_zone_loss_costs_the_share_that_does_not_survive_it() {
        let z = |name: &str, desired: i32| ZoneStatus {
            name: name.into(),
            eligible: true,
            nodes: 2,
            role: "Active".into(),
            desired_replicas: desired,
            ready_replicas: desired,
            revision: None,
        };
        let warm = [z("a", 4), z("b", 1), z("c", 1)];
        let active = [z("a", 2), z("b", 2), z("c", 2)];
        let restart = [z("a", 1), z("b", 2), z("c", 1)];
        let blast = blast_radius([(4, &warm[..]), (4, &active[..]), (4, &restart[..])]);
        assert_eq!(blast["a"], Exposure { services: 2, replicas: 2 + 1 }, "the primary's zone, and Restart's 1");
        assert_eq!(blast["b"], Exposure { services: 1, replicas: 2 }, "Restart's 2; ActiveActive survives any");
        assert_eq!(blast["c"], Exposure { services: 1, replicas: 1 });
    }

    fn names() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec("[a-z]{1,12}/[a-z][a-z0-9-]{0,30}", 1000)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Each zone's count is binomial (1,000 draws, 1/Z each): five standard deviations is a bound it stays
        /// within unless the hash is biased (about 1 in 3 million per zone by chance).
        #[test]
        fn over_many_services_each_zone_gets_an_even_share(keys in names(), z in 3usize..=5) {
            let zs = zones(z);
            let mut counts = BTreeMap::new();
            for k in &keys {
                *counts.entry(first(k, &zs)).or_insert(0usize) += 1;
            }
            let (n, p) = (keys.len() as f64, 1.0 / z as f64);
            let bound = 5.0 * (n * p * (1.0 - p)).sqrt();
            for zone in &zs {
                let c = *counts.get(zone).unwrap_or(&0) as f64;
                prop_assert!((c - n * p).abs() <= bound, "{zone}: {c} of {n}, an even share is {}", n * p);
            }
        }

        #[test]
        fn a_zone_added_or_removed_moves_only_the_choices_it_wins_or_held(keys in names(), z in 3usize..=5) {
            let (zs, more) = (zones(z), zones(z + 1));
            let added = more.last().unwrap();
            let fewer = &zs[1..];
            for k in &keys {
                let before = first(k, &zs);
                let after = first(k, &more);
                prop_assert!(after == before || &after == added, "{k}: {before} → {after}");
                let removed = first(k, fewer);
                prop_assert!(removed == before || before == zs[0], "{k}: {before} → {removed} without {}", zs[0]);
            }
        }
    }
}
