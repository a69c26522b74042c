//! Availability arithmetic: per service and calendar month (in the target's time zone), the seconds up,
//! degraded, down and not observed, the availability so far and the error budget left.
//!
//! Written on transitions only. The status holds the figures up to a checkpoint (`since`) and the state since
//! then; the checkpoint moves when the state changes, when a month ends, or when continuo starts after a time
//! nobody observed. That time is inferred, not heartbeaten: from the checkpoint to the previous observer's last
//! sign of life (the leader lease's last renewal) the state was what the status says; from then until this
//! process started observing, nobody observed — counted apart, never as up.

use jiff::{Timestamp, ToSpan, tz::TimeZone};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::{AvailabilityStatus, AvailabilityTarget, Health, MonthFigures};

/// When observation of the cluster last stopped and resumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observer {
    /// When this process started observing (its caches synced).
    pub since: Timestamp,
    /// The last renewal of the leader lease by the previous holder, read at start; `None` when unknown (no
    /// leader election, or no previous holder).
    pub previous_until: Option<Timestamp>,
}

impl Observer {
    /// An observer that has always been there (offline planning, tests).
    pub fn always() -> Observer {
        Observer { since: Timestamp::UNIX_EPOCH, previous_until: None }
    }
}

/// The health of a service with `ready` of `replicas` Ready in healthy zones.
pub fn health(ready: i32, replicas: i32) -> Health {
    if ready >= replicas {
        Health::Up
    } else if ready <= 0 {
        Health::Down
    } else {
        Health::Degraded
    }
}

fn severity(h: Health) -> u8 {
    match h {
        Health::Up => 0,
        Health::Degraded => 1,
        Health::Down => 2,
    }
}

/// What one reconcile observes.
pub struct Inputs<'a> {
    pub target: &'a AvailabilityTarget,
    pub tz: &'a TimeZone,
    pub health: Health,
    /// Zones with Ready replicas, healthy ones only.
    pub zones_ready: i32,
    pub previous: Option<&'a AvailabilityStatus>,
    pub observer: Observer,
    /// When a change of health began, by the best evidence (a lost zone's last lease renewal), if earlier than now.
    pub evidence: Option<Timestamp>,
    pub now: Timestamp,
}

fn time(t: Timestamp) -> Time {
    Time(Timestamp::from_second(t.as_second()).unwrap_or(t))
}

fn month_of(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone()).strftime("%Y-%m").to_string()
}

/// The first instant of the month after the one `t` is in.
pub fn next_month(t: Timestamp, tz: &TimeZone) -> Timestamp {
    let date = t.to_zoned(tz.clone()).date().first_of_month();
    date.checked_add(1.month()).ok().and_then(|d| d.to_zoned(tz.clone()).ok()).map_or(Timestamp::MAX, |z| z.timestamp())
}

/// Seconds in the calendar month `month` (`YYYY-MM`) in `tz`.
fn month_seconds(month: &str, tz: &TimeZone) -> Option<i64> {
    let first: jiff::civil::Date = format!("{month}-01").parse().ok()?;
    let start = first.to_zoned(tz.clone()).ok()?.timestamp();
    Some(next_month(start, tz).as_second() - start.as_second())
}

#[derive(Clone, Copy)]
enum Bucket {
    Observed(Health),
    Unobserved,
}

struct Ledger<'a> {
    current: MonthFigures,
    previous: Option<MonthFigures>,
    tz: &'a TimeZone,
    target: &'a AvailabilityTarget,
}

impl Ledger<'_> {
    /// Counts `[from, to)` in `bucket`, month by month.
    fn add(&mut self, mut from: Timestamp, to: Timestamp, bucket: Bucket) {
        while from < to {
            self.roll_to(from);
            let end = next_month(from, self.tz).min(to);
            let secs = end.as_second() - from.as_second();
            let m = &mut self.current;
            match bucket {
                Bucket::Unobserved => m.unobserved_seconds += secs,
                Bucket::Observed(h) => {
                    m.observed_seconds += secs;
                    match h {
                        Health::Up => {}
                        Health::Degraded => m.degraded_seconds += secs,
                        Health::Down => m.down_seconds += secs,
                    }
                }
            }
            from = end;
        }
    }

    /// Starts a new month if `t` is past the current one; the one ending is kept as last month's figure.
    fn roll_to(&mut self, t: Timestamp) {
        let month = month_of(t, self.tz);
        if month != self.current.month {
            let ended = std::mem::replace(&mut self.current, MonthFigures { month, ..MonthFigures::default() });
            self.previous = Some(derive(ended, self.target, self.tz));
        }
    }
}

/// Fills the availability so far and the error budget left from the counted seconds.
pub fn derive(mut m: MonthFigures, target: &AvailabilityTarget, tz: &TimeZone) -> MonthFigures {
    m.availability = (m.observed_seconds > 0)
        .then(|| format!("{:.3}", 100.0 * (m.observed_seconds - m.down_seconds) as f64 / m.observed_seconds as f64));
    m.error_budget_remaining_seconds = target
        .fraction()
        .zip(month_seconds(&m.month, tz))
        .map(|(f, secs)| ((1.0 - f) * secs as f64).round() as i64 - m.down_seconds);
    m
}

/// The availability status after this observation. Unchanged (equal to the previous one) unless the health
/// changed, a month ended, unobserved time was found, or the target or its claimability changed.
pub fn advance(i: &Inputs<'_>) -> AvailabilityStatus {
    let claimable = i.zones_ready >= i.target.min_zones;
    let Some(prev) = i.previous else {
        let fresh = MonthFigures { month: month_of(i.now, i.tz), ..MonthFigures::default() };
        return AvailabilityStatus {
            state: i.health,
            since: time(i.now),
            target: Some(i.target.target.clone()),
            claimable,
            current: derive(fresh, i.target, i.tz),
            previous: None,
        };
    };
    let mut ledger =
        Ledger { current: prev.current.clone(), previous: prev.previous.clone(), tz: i.tz, target: i.target };
    let mut t = prev.since.0;
    let mut moved = false;
    // Nobody observed from the previous observer's last sign of life until this process started.
    if i.observer.since > t {
        let end = i.observer.previous_until.map_or(t, |p| p.clamp(t, i.observer.since));
        ledger.add(t, end, Bucket::Observed(prev.state));
        ledger.add(end, i.observer.since, Bucket::Unobserved);
        t = i.observer.since;
        moved = true;
    }
    let now = i.now.max(t);
    if i.health != prev.state {
        // Evidence dates a loss, not a recovery: a recovery is dated when it is seen.
        let worse = severity(i.health) > severity(prev.state);
        let at = i.evidence.filter(|_| worse).unwrap_or(now).clamp(t, now);
        ledger.add(t, at, Bucket::Observed(prev.state));
        ledger.add(at, now, Bucket::Observed(i.health));
        moved = true;
    } else if moved || month_of(now, i.tz) != prev.current.month {
        ledger.add(t, now, Bucket::Observed(prev.state));
        moved = true;
    }
    if moved {
        ledger.roll_to(now);
    }
    AvailabilityStatus {
        state: i.health,
        since: if moved { time(now) } else { prev.since.clone() },
        target: Some(i.target.target.clone()),
        claimable,
        current: derive(ledger.current, i.target, i.tz),
        previous: ledger.previous,
    }
}

/// The figures as of `now`: the status's, plus the time since its checkpoint in its state (for metrics).
pub fn as_of(s: &AvailabilityStatus, target: &AvailabilityTarget, tz: &TimeZone, now: Timestamp) -> MonthFigures {
    months_as_of(s, target, tz, now).0
}

/// This month's and last month's figures as of `now`, each counting the time since the status's checkpoint that
/// falls in it (the report of a month, made at any instant, counts it up to that instant, as the metric does).
pub fn months_as_of(
    s: &AvailabilityStatus,
    target: &AvailabilityTarget,
    tz: &TimeZone,
    now: Timestamp,
) -> (MonthFigures, Option<MonthFigures>) {
    let mut ledger = Ledger { current: s.current.clone(), previous: s.previous.clone(), tz, target };
    // An instant before the checkpoint (a report of an earlier month) adds nothing and starts no month.
    if now > s.since.0 {
        ledger.add(s.since.0, now, Bucket::Observed(s.state));
        ledger.roll_to(now);
    }
    (derive(ledger.current, target, tz), ledger.previous)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(t: &str) -> AvailabilityTarget {
        AvailabilityTarget { target: t.into(), min_zones: 2, time_zone: "Europe/Rome".into() }
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn rome() -> TimeZone {
        TimeZone::get("Europe/Rome").unwrap()
    }

    struct Run {
        target: AvailabilityTarget,
        tz: TimeZone,
        status: Option<AvailabilityStatus>,
        observer: Observer,
        writes: usize,
    }

    impl Run {
        fn new() -> Run {
            Run { target: target("99.9"), tz: rome(), status: None, observer: Observer::always(), writes: 0 }
        }

        fn see(&mut self, now: &str, health: Health) -> &AvailabilityStatus {
            let next = advance(&Inputs {
                target: &self.target,
                tz: &self.tz,
                health,
                zones_ready: 3,
                previous: self.status.as_ref(),
                observer: self.observer,
                evidence: None,
                now: at(now),
            });
            if self.status.as_ref() != Some(&next) {
                self.writes += 1;
            }
            self.status = Some(next);
            self.status.as_ref().unwrap()
        }
    }

    #[test]
    fn down_and_degraded_time_are_counted_and_nothing_is_written_while_nothing_changes() {
        let mut r = Run::new();
        r.see(
            "2026-11-01T00:00:00+01:00[Europe/Rome]".parse::<jiff::Zoned>().unwrap().timestamp().to_string().as_str(),
            Health::Up,
        );
        for h in 1..48 {
            r.see(&format!("2026-11-0{}T{:02}:00:00Z", 1 + h / 24, h % 24), Health::Up);
        }
        assert_eq!(r.writes, 1, "the passing of time writes nothing");
        r.see("2026-11-03T10:00:00Z", Health::Down);
        r.see("2026-11-03T10:05:00Z", Health::Degraded);
        let s = r.see("2026-11-03T10:15:00Z", Health::Up).clone();
        assert_eq!(r.writes, 4);
        assert_eq!((s.current.down_seconds, s.current.degraded_seconds), (300, 600));
        // 2 days 10 h 15 min observed, 300 s down.
        let observed = 2 * 86_400 + 11 * 3600 + 15 * 60;
        assert_eq!(s.current.observed_seconds, observed);
        assert_eq!(
            s.current.availability.as_deref(),
            Some(format!("{:.3}", 100.0 * (observed - 300) as f64 / observed as f64)).as_deref()
        );
        // November has 30 days: 0.1 % of it is 2592 s.
        assert_eq!(s.current.error_budget_remaining_seconds, Some(2592 - 300));
    }

    #[test]
    fn the_month_rolls_over_in_the_targets_time_zone_and_keeps_last_months_figure() {
        let mut r = Run::new();
        r.see("2026-11-30T20:00:00Z", Health::Up);
        r.see("2026-11-30T22:00:00Z", Health::Down);
        // 23:00 UTC is already December in Rome: the month ended at 23:00 UTC, one hour into the outage.
        let s = r.see("2026-12-01T01:00:00Z", Health::Up).clone();
        let last = s.previous.as_ref().unwrap();
        assert_eq!((last.month.as_str(), last.down_seconds, last.observed_seconds), ("2026-11", 3600, 3 * 3600));
        assert_eq!((s.current.month.as_str(), s.current.down_seconds), ("2026-12", 7200));
        // December has 31 days: budget 2678 s.
        assert_eq!(s.current.error_budget_remaining_seconds, Some(2678 - 7200));
        // A quiet month end is a checkpoint of its own (the requeue at `next_month` makes it).
        let s2 = r.see("2027-01-01T00:00:00Z", Health::Up).clone();
        assert_eq!(s2.previous.as_ref().unwrap().month, "2026-12");
        assert_eq!(s2.previous.as_ref().unwrap().observed_seconds, 31 * 86_400, "December in Rome, observed whole");
    }

    #[test]
    fn time_nobody_observed_is_counted_apart_never_as_up() {
        let mut r = Run::new();
        r.see("2026-11-10T00:00:00Z", Health::Up);
        // The operator was stopped; the previous leader last renewed its lease at 06:00; a new one starts at 07:00.
        r.observer = Observer { since: at("2026-11-10T07:00:00Z"), previous_until: Some(at("2026-11-10T06:00:00Z")) };
        let s = r.see("2026-11-10T07:00:05Z", Health::Up).clone();
        assert_eq!(s.current.unobserved_seconds, 3600);
        assert_eq!(s.current.observed_seconds, 6 * 3600 + 5);
        // Seen again by the same process: nothing more is inferred, nothing written.
        let writes = r.writes;
        r.see("2026-11-10T08:00:00Z", Health::Up);
        assert_eq!(r.writes, writes);
        // Without a previous observer's evidence, the whole gap since the checkpoint is unobserved.
        r.observer = Observer { since: at("2026-11-10T09:00:00Z"), previous_until: None };
        let s = r.see("2026-11-10T09:00:00Z", Health::Up).clone();
        assert_eq!(s.current.unobserved_seconds, 3600 + 2 * 3600 - 5);
    }

    #[test]
    fn a_change_is_dated_by_its_evidence() {
        let tz = TimeZone::UTC;
        let t = target("99.9");
        let prev = advance(&Inputs {
            target: &t,
            tz: &tz,
            health: Health::Up,
            zones_ready: 3,
            previous: None,
            observer: Observer::always(),
            evidence: None,
            now: at("2026-11-10T00:00:00Z"),
        });
        let next = advance(&Inputs {
            target: &t,
            tz: &tz,
            health: Health::Down,
            zones_ready: 0,
            previous: Some(&prev),
            observer: Observer::always(),
            evidence: Some(at("2026-11-10T00:00:40Z")),
            now: at("2026-11-10T00:01:00Z"),
        });
        assert_eq!(next.current.down_seconds, 20);
        assert!(!next.claimable, "0 zones Ready: the target cannot be claimed");
    }

    #[test]
    fn the_target_must_lie_strictly_between_0_and_100() {
        let re = regex_lite::Regex::new(r"^(0\.[0-9]{0,4}[1-9][0-9]{0,3}|[1-9][0-9]?(\.[0-9]{1,5})?)$").unwrap();
        for ok in ["99.9", "99.95", "50", "1", "0.5", "99.99999"] {
            assert!(re.is_match(ok) && target(ok).fraction().is_some(), "{ok}");
        }
        for bad in ["100", "0", "0.0", "-1", "99.", "abc", "100.0", "099"] {
            assert!(!re.is_match(bad), "{bad}");
        }
    }

    #[test]
    fn as_of_adds_the_time_since_the_checkpoint() {
        let t = target("99.9");
        let tz = TimeZone::UTC;
        let s = advance(&Inputs {
            target: &t,
            tz: &tz,
            health: Health::Down,
            zones_ready: 0,
            previous: None,
            observer: Observer::always(),
            evidence: None,
            now: at("2026-11-10T00:00:00Z"),
        });
        let live = as_of(&s, &t, &tz, at("2026-11-10T00:10:00Z"));
        assert_eq!((live.down_seconds, live.observed_seconds), (600, 600));
        assert_eq!(live.availability.as_deref(), Some("0.000"));
    }
}
