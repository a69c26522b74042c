//! Which recovery points each tier keeps, and which expire: a pure function of the catalog, the tiers and the
//! clock.
//!
//! A tier keeps its points (those its schedule made) by any combination of rules:
//! - `within`: every point younger than this;
//! - `last`, `daily`, `weekly`, `monthly`: counts, applied in that order as Proxmox Backup Server and restic's
//!   grandfather-father-son schemes do: `daily: 7` keeps the newest point of each of the 7 newest days that have
//!   one; `weekly` then looks only at points older than every point already kept, and so on. So
//!   `{daily: 7, weekly: 4, monthly: 6}` holds 17 distinct points once the catalog is old enough.
//!
//! Whatever the rules say, three things are never expired: the newest point (the newest good copy), a point any
//! tier keeps, and a point made on request (kept until a person deletes it). A point whose tiers the class no
//! longer declares is kept too, and counted, rather than deleted because of an edit.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp, tz::TimeZone};

/// A recovery point, as retention sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Point {
    pub id: String,
    /// When the data was captured.
    pub captured: Timestamp,
    /// The tiers whose schedule made it.
    pub tiers: Vec<String>,
    /// Made on request: kept until deleted by a person.
    pub on_demand: bool,
}

/// How a tier keeps its points; at least one rule is set (the CRD refuses a tier that keeps nothing).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keep {
    pub within: Option<SignedDuration>,
    pub last: Option<u32>,
    pub daily: Option<u32>,
    pub weekly: Option<u32>,
    pub monthly: Option<u32>,
}

impl Keep {
    /// How many points the count rules hold at most (`within` aside).
    pub fn counted(&self) -> u32 {
        [self.last, self.daily, self.weekly, self.monthly].iter().flatten().sum()
    }
}

/// Why a point is kept.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// Kept by this tier's rules.
    Tier(String),
    /// The newest good copy.
    Newest,
    /// Made on request.
    OnDemand,
    /// Its tiers are no longer declared.
    Undeclared,
}

/// The outcome: why each kept point is kept, when it will expire if only `within` rules hold it, and the points
/// to delete (oldest first).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    pub kept: BTreeMap<String, BTreeSet<Reason>>,
    pub expires: BTreeMap<String, Timestamp>,
    pub expired: Vec<String>,
}

/// Applies `tiers` to `points` at `now`; day, week and month boundaries are those of `tz`.
pub fn retain(points: &[Point], tiers: &[(String, Keep)], tz: &TimeZone, now: Timestamp) -> Retention {
    let mut newest_first: Vec<&Point> = points.iter().collect();
    newest_first.sort_by(|a, b| b.captured.cmp(&a.captured).then_with(|| a.id.cmp(&b.id)));
    let mut out = Retention::default();
    let mut keep = |id: &str, reason: Reason| {
        out.kept.entry(id.to_string()).or_default().insert(reason);
    };
    if let Some(newest) = newest_first.first() {
        keep(&newest.id, Reason::Newest);
    }
    let declared: BTreeSet<&str> = tiers.iter().map(|(n, _)| n.as_str()).collect();
    for p in &newest_first {
        if p.on_demand {
            keep(&p.id, Reason::OnDemand);
        } else if !p.tiers.iter().any(|t| declared.contains(t.as_str())) {
            keep(&p.id, Reason::Undeclared);
        }
    }
    let mut within_until: BTreeMap<String, Timestamp> = BTreeMap::new();
    let mut counted: BTreeSet<String> = BTreeSet::new();
    for (name, rules) in tiers {
        let mine: Vec<&Point> = newest_first.iter().copied().filter(|p| p.tiers.contains(name)).collect();
        if let Some(within) = rules.within {
            for p in mine.iter().filter(|p| p.captured.checked_add(within).is_ok_and(|end| end > now)) {
                keep(&p.id, Reason::Tier(name.clone()));
                let end = p.captured.checked_add(within).unwrap_or(Timestamp::MAX);
                let e = within_until.entry(p.id.clone()).or_insert(end);
                *e = (*e).max(end);
            }
        }
        for id in by_counts(&mine, rules, tz) {
            keep(&id, Reason::Tier(name.clone()));
            counted.insert(id);
        }
    }
    for p in &newest_first {
        let reasons = out.kept.get(&p.id);
        let only_within =
            reasons.is_some_and(|r| r.iter().all(|r| matches!(r, Reason::Tier(_)))) && !counted.contains(&p.id);
        if let (true, Some(until)) = (only_within, within_until.get(&p.id)) {
            out.expires.insert(p.id.clone(), *until);
        }
    }
    out.expired = newest_first.iter().rev().filter(|p| !out.kept.contains_key(&p.id)).map(|p| p.id.clone()).collect();
    out
}

/// The calendar period a point falls in (day, ISO week or month), as a comparable key.
type Bucket = fn(&jiff::Zoned) -> (i16, i16);

/// The points the count rules keep, newest first: `last`, then each calendar rule over what is older than
/// everything kept before it.
fn by_counts(newest_first: &[&Point], rules: &Keep, tz: &TimeZone) -> Vec<String> {
    let mut kept: Vec<String> = Vec::new();
    let mut older_than: Option<Timestamp> = None;
    let bucketed: [(Option<u32>, Bucket); 4] = [
        (rules.last, |_| (0, 0)),
        (rules.daily, |z| (z.year(), z.day_of_year())),
        (rules.weekly, |z| {
            let w = z.date().iso_week_date();
            (w.year(), i16::from(w.week()))
        }),
        (rules.monthly, |z| (z.year(), i16::from(z.month()))),
    ];
    for (i, (count, bucket)) in bucketed.into_iter().enumerate() {
        let Some(count) = count.filter(|c| *c > 0) else { continue };
        let mut buckets: Vec<(i16, i16)> = Vec::new();
        let mut oldest = older_than;
        for p in newest_first.iter().filter(|p| older_than.is_none_or(|o| p.captured < o)) {
            if buckets.len() as u32 >= count {
                break;
            }
            // `last` keeps every point; the others one per day, week or month.
            let key = bucket(&p.captured.to_zoned(tz.clone()));
            if i > 0 && buckets.contains(&key) {
                continue;
            }
            buckets.push(key);
            kept.push(p.id.clone());
            oldest = Some(p.captured);
        }
        older_than = oldest;
    }
    kept
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const DAY: i64 = 86_400;

    fn point(i: usize, at: i64, tiers: &[&str]) -> Point {
        Point {
            id: format!("p{i:04}"),
            captured: Timestamp::from_second(at).unwrap(),
            tiers: tiers.iter().map(|t| t.to_string()).collect(),
            on_demand: false,
        }
    }

    fn gfs(d: u32, w: u32, m: u32) -> Keep {
        Keep { daily: Some(d), weekly: Some(w), monthly: Some(m), ..Keep::default() }
    }

    /// One copy a day at 02:00 UTC for `days` days up to `now`.
    fn daily(days: usize, now: i64) -> Vec<Point> {
        (0..days).map(|i| point(i, now - (days - i) as i64 * DAY + 7200, &["daily"])).collect()
    }

    #[test]
    fn seven_daily_four_weekly_six_monthly_hold_seventeen_points() {
        let now = 1_798_761_600; // 2027-01-01T00:00Z
        let points = daily(400, now);
        let r =
            retain(&points, &[("daily".into(), gfs(7, 4, 6))], &TimeZone::UTC, Timestamp::from_second(now).unwrap());
        assert_eq!(r.kept.len(), 17);
        assert_eq!(r.expired.len(), 400 - 17);
        let oldest = r.kept.keys().min().unwrap();
        let age = Timestamp::from_second(now)
            .unwrap()
            .duration_since(points.iter().find(|p| &p.id == oldest).unwrap().captured);
        assert!(age > SignedDuration::from_hours(24 * 150) && age < SignedDuration::from_hours(24 * 200), "{age:?}");
    }

    #[test]
    fn two_tiers_share_the_two_oclock_copy() {
        // Three copies a day; the 02:00 one belongs to both tiers.
        let now = 1_798_761_600;
        let mut points = Vec::new();
        for d in 0..30 {
            for (h, tiers) in [(2, vec!["intraday", "archive"]), (7, vec!["intraday"]), (16, vec!["intraday"])] {
                points.push(point(points.len(), now - (30 - d) * DAY + h * 3600, &tiers));
            }
        }
        let tiers = [
            ("intraday".to_string(), Keep { within: Some(SignedDuration::from_hours(48)), ..Keep::default() }),
            ("archive".to_string(), Keep { within: Some(SignedDuration::from_hours(4320)), ..Keep::default() }),
        ];
        let r = retain(&points, &tiers, &TimeZone::UTC, Timestamp::from_second(now).unwrap());
        // The last two days' six copies, plus every earlier 02:00 copy (28 of them).
        assert_eq!(r.kept.len(), 6 + 28);
        let archive_only = &points[0];
        assert_eq!(
            r.expires[&archive_only.id],
            archive_only.captured.checked_add(SignedDuration::from_hours(4320)).unwrap()
        );
    }

    #[test]
    fn an_on_demand_copy_and_a_copy_of_an_undeclared_tier_are_kept() {
        let now = Timestamp::from_second(1_798_761_600).unwrap();
        let mut export = point(0, 1_700_000_000, &[]);
        export.on_demand = true;
        let renamed = point(1, 1_700_000_100, &["old-tier"]);
        let old = point(2, 1_700_000_200, &["daily"]);
        let newest = point(3, 1_798_000_000, &["daily"]);
        let r = retain(&[export, renamed, old, newest], &[("daily".into(), gfs(1, 0, 0))], &TimeZone::UTC, now);
        assert_eq!(r.expired, ["p0002"]);
        assert!(r.kept["p0000"].contains(&Reason::OnDemand));
        assert!(r.kept["p0001"].contains(&Reason::Undeclared));
    }

    proptest! {
        #[test]
        fn the_newest_copy_survives_and_nothing_kept_expires(
            ages in proptest::collection::vec(0i64..400 * DAY, 1..60),
            within_h in proptest::option::of(1i64..2000),
            d in 0u32..8, w in 0u32..5, m in 0u32..7, last in proptest::option::of(0u32..4),
        ) {
            let now = 1_798_761_600i64;
            let points: Vec<Point> = ages.iter().enumerate().map(|(i, a)| point(i, now - a, &["t"])).collect();
            let keep = Keep { within: within_h.map(SignedDuration::from_hours), last, daily: Some(d), weekly: Some(w), monthly: Some(m) };
            let r = retain(&points, &[("t".into(), keep.clone())], &TimeZone::UTC, Timestamp::from_second(now).unwrap());
            let newest = points.iter().max_by_key(|p| (p.captured, std::cmp::Reverse(p.id.clone()))).unwrap();
            prop_assert!(r.kept.contains_key(&newest.id));
            for id in &r.expired {
                prop_assert!(!r.kept.contains_key(id));
            }
            prop_assert_eq!(r.kept.len() + r.expired.len(), points.len());
            // Nothing younger than `within` expires.
            if let Some(h) = within_h {
                for p in &points {
                    if now - p.captured.as_second() < h * 3600 {
                        prop_assert!(!r.expired.contains(&p.id));
                    }
                }
            }
            // Count rules never keep more than they say (the newest and `within` aside).
            let counted = by_counts(&points.iter().collect::<Vec<_>>(), &keep, &TimeZone::UTC);
            prop_assert!(counted.len() as u32 <= keep.counted());
        }

        #[test]
        fn daily_counts_are_exact(days in 1usize..40, n in 1u32..10, copies_per_day in 1usize..4) {
            let now = 1_798_761_600i64;
            let points: Vec<Point> = (0..days * copies_per_day)
                .map(|i| point(i, now - (days * copies_per_day - i) as i64 * (DAY / copies_per_day as i64), &["t"]))
                .collect();
            let keep = Keep { daily: Some(n), ..Keep::default() };
            let newest_first = { let mut v: Vec<&Point> = points.iter().collect(); v.sort_by_key(|p| std::cmp::Reverse(p.captured)); v };
            let kept = by_counts(&newest_first, &keep, &TimeZone::UTC);
            let distinct_days: BTreeSet<i64> = points.iter().map(|p| p.captured.as_second().div_euclid(DAY)).collect();
            prop_assert_eq!(kept.len(), distinct_days.len().min(n as usize));
        }
    }
}
