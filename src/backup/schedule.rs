//! Cron schedules as the Kubernetes CronJob controller reads them, and the gaps between their runs.
//!
//! The CronJob controller parses `spec.schedule` with robfig/cron's standard parser and finds each next run with
//! its `Next`, in `spec.timeZone`. That algorithm walks months and days on the calendar but hours and minutes on
//! the clock, which decides what happens on the two days a year when a zone changes its offset:
//! - a run in the hour that is skipped (spring forward) does not happen that day;
//! - a run in the hour that repeats (fall back) happens twice, an hour apart.
//!
//! So a daily 02:00 copy in Europe/Rome leaves a 47-hour gap every March, and any other daily time a 25-hour gap
//! every October: the worst gap, not the nominal cadence, is what an RPO is measured against. This module
//! reproduces that walk, so the gaps continuo reports are the ones the cluster will produce.

use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex},
};

use jiff::{
    SignedDuration, Timestamp, ToSpan, Zoned,
    civil::{Date, DateTime},
    tz::{TimeZone, TimeZoneDatabase},
};

/// The time zone database continuo was built with (the same in the operator's image, the CLI and tests).
static TZDB: LazyLock<TimeZoneDatabase> = LazyLock::new(TimeZoneDatabase::bundled);

/// The IANA time zone `name` (`UTC` included), or why it is not one.
pub fn time_zone(name: &str) -> Result<TimeZone, String> {
    TZDB.get(name).map_err(|_| format!("{name:?} is not a time zone of the IANA database (for example Europe/Rome)"))
}

/// A parsed five-field cron expression: bit sets of the minutes, hours, days of month, months and weekdays it
/// names. `dom_star`/`dow_star`: the field was `*` or `?`, which changes how the two day fields combine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
    dom_star: bool,
    dow_star: bool,
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Field = Field { name: "minute", min: 0, max: 59, names: &[] };
const HOUR: Field = Field { name: "hour", min: 0, max: 23, names: &[] };
const DOM: Field = Field { name: "day of month", min: 1, max: 31, names: &[] };
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
};
const DOW: Field =
    Field { name: "day of week", min: 0, max: 6, names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"] };

impl Schedule {
    /// Parses what the CronJob API accepts: five fields (`*`, `?`, lists, ranges, steps, month and weekday
    /// names) or a descriptor (`@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`).
    /// `@every` and `TZ=` prefixes are refused: a backup's time zone is the class's `timeZone`.
    pub fn parse(expr: &str) -> Result<Schedule, String> {
        let expr = expr.trim();
        if expr.starts_with('@') && expand_descriptor(expr) == expr {
            return Err(format!("{expr:?}: use five cron fields or @yearly, @monthly, @weekly, @daily or @hourly"));
        }
        if expr.starts_with("TZ=") || expr.starts_with("CRON_TZ=") {
            return Err(format!("{expr:?}: set the time zone in backup.timeZone, not in the schedule"));
        }
        let expanded = expand_descriptor(expr);
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let [minute, hour, dom, month, dow] = fields[..] else {
            return Err(format!(
                "{expr:?}: a schedule has five fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            ));
        };
        let (minute, _) = bits(minute, &MINUTE)?;
        let (hour, _) = bits(hour, &HOUR)?;
        let (dom, dom_star) = bits(dom, &DOM)?;
        let (month, _) = bits(month, &MONTH)?;
        let (dow, dow_star) = bits(dow, &DOW)?;
        Ok(Schedule { minute, hour, dom, month, dow, dom_star, dow_star })
    }

    /// Runs at most this often on any day: a bound used to keep gap scans short.
    pub fn runs_per_day(&self) -> u32 {
        self.minute.count_ones() * self.hour.count_ones()
    }

    /// Whether `date` is a day this schedule runs on. As in cron: when both day fields are restricted, either
    /// one matching is enough; when one is `*`, the other decides.
    fn day_matches(&self, date: Date) -> bool {
        let dom = self.dom & (1 << date.day()) != 0;
        let dow = self.dow & (1 << date.weekday().to_sunday_zero_offset()) != 0;
        if self.dom_star || self.dow_star { dom && dow } else { dom || dow }
    }

    /// The first run strictly after `after`, in `tz`, found as the CronJob controller finds it; `None` if there
    /// is none within five years (say, the 30th of February).
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let at = |dt: DateTime| dt.to_zoned(tz.clone()).ok();
        // The next whole second.
        let mut t: Zoned = (after.checked_add(SignedDuration::from_secs(1)).ok()?).to_zoned(tz.clone());
        t = t.with().subsec_nanosecond(0).build().ok()?;
        let mut added = false;
        let year_limit = t.year() + 5;
        'wrap: loop {
            if t.year() > year_limit {
                return None;
            }
            while self.month & (1 << t.month()) == 0 {
                if !added {
                    added = true;
                    t = at(t.date().first_of_month().to_datetime(jiff::civil::Time::midnight()))?;
                }
                t = t.checked_add(1.month()).ok()?;
                if t.month() == 1 {
                    continue 'wrap;
                }
            }
            while !self.day_matches(t.date()) {
                if !added {
                    added = true;
                    t = at(t.date().to_datetime(jiff::civil::Time::midnight()))?;
                }
                t = t.checked_add(1.day()).ok()?;
                // Where midnight does not exist (a zone that changes its offset at 00:00), come back to it.
                if t.hour() != 0 {
                    let back = if t.hour() > 12 { i64::from(24 - t.hour()) } else { -i64::from(t.hour()) };
                    t = t.checked_add(SignedDuration::from_hours(back)).ok()?;
                }
                if t.day() == 1 {
                    continue 'wrap;
                }
            }
            while self.hour & (1 << t.hour()) == 0 {
                if !added {
                    added = true;
                    t = at(t.datetime().with().minute(0).second(0).subsec_nanosecond(0).build().ok()?)?;
                }
                // Clock hours, not calendar ones: this is how a skipped hour is skipped and a repeated one
                // repeated.
                t = t.checked_add(SignedDuration::from_hours(1)).ok()?;
                if t.hour() == 0 {
                    continue 'wrap;
                }
            }
            while self.minute & (1 << t.minute()) == 0 {
                if !added {
                    added = true;
                    t = t.with().second(0).subsec_nanosecond(0).build().ok()?;
                }
                t = t.checked_add(SignedDuration::from_mins(1)).ok()?;
                if t.minute() == 0 {
                    continue 'wrap;
                }
            }
            if t.second() != 0 {
                // Runs are at second 0: on to the next minute, and check it all again.
                added = true;
                t = t.with().second(0).build().ok()?.checked_add(SignedDuration::from_mins(1)).ok()?;
                continue 'wrap;
            }
            return Some(t.timestamp());
        }
    }
}

/// The five fields a descriptor stands for (`@daily` → `0 0 * * *`); anything else as it is.
pub fn expand_descriptor(expr: &str) -> &str {
    match expr.trim() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        e => e,
    }
}

/// The hours an hour field names, in order; `None` if it is not a valid hour field.
pub fn hours(field: &str) -> Option<Vec<u32>> {
    let (set, _) = bits(field, &HOUR).ok()?;
    Some((0..24).filter(|h| set & (1 << h) != 0).collect())
}

/// Parses one field into a bit set; the flag says it was `*` or `?`.
fn bits(expr: &str, f: &Field) -> Result<(u64, bool), String> {
    let mut set = 0u64;
    let mut star = false;
    for part in expr.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("{}: step {s:?} is not a positive number", f.name))?;
                (r, Some(step))
            }
            None => (part, None),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            star = step.is_none() && expr.split(',').count() == 1;
            (f.min, f.max)
        } else {
            match range.split_once('-') {
                Some((a, b)) => (value(a, f)?, value(b, f)?),
                // `N/step` runs from N to the end of the field.
                None => {
                    let v = value(range, f)?;
                    (v, if step.is_some() { f.max } else { v })
                }
            }
        };
        if lo > hi {
            return Err(format!("{}: range {range:?} runs backwards", f.name));
        }
        let step = step.unwrap_or(1);
        for v in (lo..=hi).step_by(step as usize) {
            set |= 1 << v;
        }
    }
    Ok((set, star))
}

fn value(s: &str, f: &Field) -> Result<u32, String> {
    let v = match f.names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
        Some(i) => i as u32 + f.min,
        None => s.parse().map_err(|_| format!("{}: {s:?} is not a number", f.name))?,
    };
    if v < f.min || v > f.max {
        return Err(format!("{}: {v} is outside {}-{}", f.name, f.min, f.max));
    }
    Ok(v)
}

/// The runs of several schedules merged (a run that two schedules share happens once), from `from` for `span`.
pub fn runs(schedules: &[Schedule], tz: &TimeZone, from: Timestamp, span: SignedDuration) -> Vec<Timestamp> {
    let Ok(end) = from.checked_add(span) else { return Vec::new() };
    let mut all: Vec<Timestamp> = Vec::new();
    for s in schedules {
        let mut t = from;
        while let Some(next) = s.next_after(t, tz).filter(|n| *n <= end) {
            all.push(next);
            t = next;
        }
    }
    all.sort();
    all.dedup();
    all
}

/// How far ahead gaps are scanned: a year and a bit, so both offset changes of any zone fall inside.
const SCAN: SignedDuration = SignedDuration::from_hours(24 * 400);

/// The longest time between two consecutive runs of `schedules` (merged) over the coming year from `from`;
/// `None` when they run fewer than twice in that year. Memoised per schedule set, zone and day: a reconcile
/// asks for it often and the answer changes only as the scanned year moves.
pub fn worst_gap(exprs: &[&str], tz_name: &str, from: Timestamp) -> Result<Option<Gap>, String> {
    type Key = (Vec<String>, String, i64);
    static MEMO: LazyLock<Mutex<HashMap<Key, Option<Gap>>>> = LazyLock::new(Mutex::default);
    let day = from.as_second().div_euclid(86_400);
    let key = (exprs.iter().map(|e| e.to_string()).collect::<Vec<_>>(), tz_name.to_string(), day);
    if let Some(hit) = MEMO.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return Ok(hit);
    }
    let tz = time_zone(tz_name)?;
    let schedules = exprs.iter().map(|e| Schedule::parse(e)).collect::<Result<Vec<_>, _>>()?;
    // Schedules that run more than hourly are scanned over a month and a few days around each offset change
    // would be needed to be exact; they are far below any RPO a backup serves, so a shorter scan is enough.
    let span = if schedules.iter().map(Schedule::runs_per_day).sum::<u32>() > 48 {
        SignedDuration::from_hours(24 * 31)
    } else {
        SCAN
    };
    let start = Timestamp::from_second(day * 86_400).unwrap_or(from);
    let runs = runs(&schedules, &tz, start, span);
    let gap = runs
        .windows(2)
        .map(|w| Gap { after: w[0], length: w[1].duration_since(w[0]) })
        .max_by_key(|g| (g.length, std::cmp::Reverse(g.after)));
    if let Ok(mut m) = MEMO.lock() {
        if m.len() > 1024 {
            m.clear();
        }
        m.insert(key, gap.clone());
    }
    Ok(gap)
}

/// A gap between two runs: the run it follows and how long until the next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    pub after: Timestamp,
    pub length: SignedDuration,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn rome() -> TimeZone {
        time_zone("Europe/Rome").unwrap()
    }

    fn local(t: Timestamp, tz: &TimeZone) -> String {
        t.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M %Z").to_string()
    }

    #[test]
    fn parses_what_the_cronjob_api_accepts() {
        for ok in [
            "0 2 * * *",
            "0 2,7,16 * * *",
            "*/15 * * * *",
            "0 3 * * mon-fri",
            "30 1 1 JAN,jul ?",
            "@daily",
            "5/20 * * * *",
        ] {
            assert!(Schedule::parse(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("0 2 * *", "five fields"),
            ("61 * * * *", "outside 0-59"),
            ("0 2 * * 7", "outside 0-6"),
            ("0 5-2 * * *", "backwards"),
            ("*/0 * * * *", "positive"),
            ("@every 1h", "five cron fields"),
            ("TZ=UTC 0 2 * * *", "backup.timeZone"),
            ("0 two * * *", "not a number"),
        ] {
            let err = Schedule::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn runs_in_the_schedules_time_zone() {
        let s = Schedule::parse("0 2,7,16 * * *").unwrap();
        let tz = rome();
        let next = s.next_after(ts("2026-06-01T00:30:00Z"), &tz).unwrap();
        assert_eq!(local(next, &tz), "2026-06-01 07:00 CEST");
        assert_eq!(next, ts("2026-06-01T05:00:00Z"));
    }

    #[test]
    fn a_run_in_the_skipped_hour_does_not_happen_that_day() {
        // 2026-03-29: Europe/Rome goes from 02:00 CET to 03:00 CEST.
        let s = Schedule::parse("0 2 * * *").unwrap();
        let tz = rome();
        let sat = s.next_after(ts("2026-03-27T12:00:00Z"), &tz).unwrap();
        assert_eq!(local(sat, &tz), "2026-03-28 02:00 CET");
        let next = s.next_after(sat, &tz).unwrap();
        assert_eq!(local(next, &tz), "2026-03-30 02:00 CEST", "no run on the 29th");
        assert_eq!(next.duration_since(sat), SignedDuration::from_hours(47));
    }

    #[test]
    fn a_run_in_the_repeated_hour_happens_twice() {
        // 2026-10-25: Europe/Rome goes from 03:00 CEST back to 02:00 CET.
        let s = Schedule::parse("30 2 * * *").unwrap();
        let tz = rome();
        let first = s.next_after(ts("2026-10-24T12:00:00Z"), &tz).unwrap();
        assert_eq!(local(first, &tz), "2026-10-25 02:30 CEST");
        let second = s.next_after(first, &tz).unwrap();
        assert_eq!(local(second, &tz), "2026-10-25 02:30 CET");
        assert_eq!(second.duration_since(first), SignedDuration::from_hours(1));
    }

    #[test]
    fn day_fields_combine_as_in_cron() {
        let tz = TimeZone::UTC;
        // Both restricted: the 13th, or any Friday.
        let either = Schedule::parse("0 0 13 * 5").unwrap();
        assert_eq!(either.next_after(ts("2026-11-01T00:00:00Z"), &tz), Some(ts("2026-11-06T00:00:00Z")));
        // Day of month `*`: only Fridays.
        let fridays = Schedule::parse("0 0 * * 5").unwrap();
        assert_eq!(fridays.next_after(ts("2026-11-06T00:00:00Z"), &tz), Some(ts("2026-11-13T00:00:00Z")));
        assert_eq!(Schedule::parse("0 0 30 2 *").unwrap().next_after(ts("2026-01-01T00:00:00Z"), &tz), None);
    }

    #[test]
    fn the_worst_gap_of_a_daily_copy_in_rome_is_the_spring_day() {
        let gap = worst_gap(&["0 2 * * *"], "Europe/Rome", ts("2026-01-10T00:00:00Z")).unwrap().unwrap();
        assert_eq!(gap.length, SignedDuration::from_hours(47));
        assert_eq!(local(gap.after, &rome()), "2026-03-28 02:00 CET");
        // At 01:00 the skipped hour is missed, but the 25-hour day of October is not.
        let gap = worst_gap(&["0 1 * * *"], "Europe/Rome", ts("2026-01-10T00:00:00Z")).unwrap().unwrap();
        assert_eq!(gap.length, SignedDuration::from_hours(25));
        // In UTC a day is a day.
        let gap = worst_gap(&["0 1 * * *"], "UTC", ts("2026-01-10T00:00:00Z")).unwrap().unwrap();
        assert_eq!(gap.length, SignedDuration::from_hours(24));
    }

    #[test]
    fn tiers_that_share_a_time_run_once_and_the_gap_is_of_the_merged_runs() {
        let tz = rome();
        let s = [Schedule::parse("0 2,7,16 * * *").unwrap(), Schedule::parse("0 2 * * *").unwrap()];
        let day = runs(&s, &tz, ts("2026-05-31T22:00:00Z"), SignedDuration::from_hours(24));
        let shown: Vec<String> = day.iter().map(|t| local(*t, &tz)).collect();
        assert_eq!(shown, ["2026-06-01 02:00 CEST", "2026-06-01 07:00 CEST", "2026-06-01 16:00 CEST"]);
        // Normally 16:00 to 02:00 is the longest (10 h); on the spring day the 02:00 run does not happen, so
        // Saturday 16:00 to Sunday 07:00 is the worst: 15 hours on the clock, 14 of real time.
        let gap =
            worst_gap(&["0 2,7,16 * * *", "0 2 * * *"], "Europe/Rome", ts("2026-01-10T00:00:00Z")).unwrap().unwrap();
        assert_eq!(local(gap.after, &tz), "2026-03-28 16:00 CET");
        assert_eq!(gap.length, SignedDuration::from_hours(14));
    }

    #[test]
    fn unknown_time_zones_are_refused() {
        assert!(time_zone("Europe/Roma").unwrap_err().contains("not a time zone"));
        assert!(time_zone("UTC").is_ok());
    }

    proptest::proptest! {
        /// Away from offset changes, the next run is the first whole minute after `t` that every field matches.
        #[test]
        fn next_run_is_the_first_matching_minute_in_utc(
            minute in proptest::sample::select(vec!["0", "*/15", "5,35", "59"]),
            hour in proptest::sample::select(vec!["*", "2", "2,7,16", "9-17/4"]),
            dom in proptest::sample::select(vec!["*", "1", "13", "28-31"]),
            dow in proptest::sample::select(vec!["*", "0", "1-5", "5"]),
            start in 1_767_225_600i64..1_798_761_600,
        ) {
            let expr = format!("{minute} {hour} {dom} * {dow}");
            let s = Schedule::parse(&expr).unwrap();
            let from = Timestamp::from_second(start).unwrap();
            let got = s.next_after(from, &TimeZone::UTC).unwrap();
            let mut m = (start / 60 + 1) * 60;
            loop {
                let z = Timestamp::from_second(m).unwrap().to_zoned(TimeZone::UTC);
                let matches = s.minute & (1 << z.minute()) != 0 && s.hour & (1 << z.hour()) != 0 && s.day_matches(z.date());
                if matches { break; }
                m += 60;
            }
            proptest::prop_assert_eq!(got, Timestamp::from_second(m).unwrap(), "{}", expr);
        }
    }
}
