//! Kubernetes-style durations (`0s`, `90s`, `15m`, `24h`, `1h30m`) as used in objectives.

use std::{borrow::Cow, fmt, str::FromStr, time::Duration};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The pattern the CRD schema enforces, so a malformed duration is rejected at `kubectl apply`.
/// Go's `time.ParseDuration` syntax without a sign: one or more `<number><unit>` groups.
pub const PATTERN: &str = r"^(0|([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+)$";

/// A non-negative duration written the Kubernetes way.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span(Duration);

impl Span {
    pub const ZERO: Span = Span(Duration::ZERO);

    pub const fn from_secs(secs: u64) -> Self {
        Span(Duration::from_secs(secs))
    }

    pub fn as_secs(&self) -> u64 {
        self.0.as_secs()
    }

    pub fn as_duration(&self) -> Duration {
        self.0
    }
}

impl From<Duration> for Span {
    fn from(d: Duration) -> Self {
        Span(d)
    }
}

impl FromStr for Span {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "0" {
            return Ok(Span::ZERO);
        }
        if s.trim().is_empty() {
            return Err("invalid duration \"\": write it like 0s, 90s, 15m or 24h".into());
        }
        let parsed: kube::core::Duration =
            s.parse().map_err(|e| format!("invalid duration {s:?}: {e} (write it like 0s, 90s, 15m or 24h)"))?;
        if parsed.is_negative() {
            return Err(format!("invalid duration {s:?}: must not be negative"));
        }
        Ok(Span(parsed.into()))
    }
}

/// Prints the shortest exact form: `0s`, `45s`, `15m`, `24h`, `1h30m`, `1m30s`, `250ms`.
impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total_ms = self.0.as_millis();
        if total_ms == 0 {
            return f.write_str("0s");
        }
        if !total_ms.is_multiple_of(1000) {
            return write!(f, "{total_ms}ms");
        }
        let secs = total_ms / 1000;
        let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if s > 0 {
            write!(f, "{s}s")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = Cow::<str>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Span {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": PATTERN,
            "maxLength": 32,
            "description": "A duration such as 0s, 90s, 15m or 24h."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubernetes_durations() {
        for (text, secs) in [("0s", 0), ("0", 0), ("90s", 90), ("15m", 900), ("24h", 86_400), ("1h30m", 5_400)] {
            assert_eq!(text.parse::<Span>().unwrap().as_secs(), secs, "{text}");
        }
    }

    #[test]
    fn rejects_malformed_and_negative() {
        for text in ["", "15", "15 minutes", "-5s", "1d", "abc"] {
            assert!(text.parse::<Span>().is_err(), "{text} should be rejected");
        }
    }

    #[test]
    fn prints_shortest_exact_form() {
        for (secs, text) in [(0, "0s"), (45, "45s"), (900, "15m"), (86_400, "24h"), (5_400, "1h30m"), (90, "1m30s")] {
            assert_eq!(Span::from_secs(secs).to_string(), text);
        }
    }

    #[test]
    fn schema_pattern_agrees_with_parser() {
        let re = regex_lite::Regex::new(PATTERN).unwrap();
        for text in ["0", "0s", "90s", "15m", "24h", "1h30m", "1.5h", "250ms"] {
            assert!(re.is_match(text) && text.parse::<Span>().is_ok(), "{text}");
        }
        for text in ["", "15", "-5s", "1d", "5 s"] {
            assert!(!re.is_match(text) && text.parse::<Span>().is_err(), "{text}");
        }
    }
}
