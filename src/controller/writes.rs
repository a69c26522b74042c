//! What this replica just wrote: until the caches show a write, the same write is not repeated and a child's
//! readiness is not trusted; and the generations its applies produced.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use serde_json::Value;

/// Per Deployment, the `metadata.generation` continuo's last apply produced (or, for a Deployment found already as
/// continuo wants it, the one it was found at). A later generation means someone else changed the spec.
#[derive(Default)]
pub struct AppliedGenerations {
    generations: Mutex<HashMap<String, i64>>,
}

impl AppliedGenerations {
    pub fn record(&self, key: &str, generation: i64) {
        if let Ok(mut g) = self.generations.lock() {
            g.insert(key.to_string(), generation);
        }
    }

    /// Whether `generation` is one continuo produced or accepted; the first one seen is accepted.
    pub fn accepts(&self, key: &str, generation: i64) -> bool {
        let Ok(mut g) = self.generations.lock() else { return true };
        generation <= *g.entry(key.to_string()).or_insert(generation)
    }

    pub fn forget(&self, key: &str) {
        if let Ok(mut g) = self.generations.lock() {
            g.remove(key);
        }
    }
}

/// How long a write is trusted over a cache that does not show it yet. A watch delivers in well under a
/// second; past this, the cache is believed again (say, the object was deleted by someone in between).
pub const WRITE_GRACE: Duration = Duration::from_secs(10);

struct Write {
    /// A hash of what was written: enough to tell the same write again, without keeping the body.
    body: u64,
    /// `metadata.generation` the API server answered with (0 when the kind has none).
    generation: i64,
    at: Instant,
}

/// What continuo wrote in the last [`WRITE_GRACE`], per object.
#[derive(Default)]
pub struct RecentWrites {
    writes: Mutex<HashMap<String, Write>>,
}

impl RecentWrites {
    pub fn key(kind: &str, ns: &str, name: &str) -> String {
        format!("{kind}/{ns}/{name}")
    }

    pub fn record(&self, key: String, body: &Value, generation: i64, now: Instant) {
        if let Ok(mut w) = self.writes.lock() {
            w.retain(|_, v| now.duration_since(v.at) < WRITE_GRACE);
            w.insert(key, Write { body: digest(body), generation, at: now });
        }
    }

    /// True when exactly `body` was written to `key` within the grace period: writing it again would only repeat
    /// a write the cache has not delivered yet.
    pub fn just_wrote(&self, key: &str, body: &Value, now: Instant) -> bool {
        self.writes
            .lock()
            .map(|w| w.get(key).is_some_and(|v| v.body == digest(body) && now.duration_since(v.at) < WRITE_GRACE))
            .unwrap_or(false)
    }

    /// The generation continuo's last write produced, while within the grace period: a cached object older than
    /// that is stale, and its status says nothing about the spec continuo applied.
    pub fn generation(&self, key: &str, now: Instant) -> Option<i64> {
        self.writes.lock().ok()?.get(key).filter(|v| now.duration_since(v.at) < WRITE_GRACE).map(|v| v.generation)
    }

    /// The time left until the oldest pending write stops being trusted: when to look again.
    pub fn pending(&self, keys: &[String], now: Instant) -> Option<Duration> {
        let w = self.writes.lock().ok()?;
        keys.iter().filter_map(|k| w.get(k)).map(|v| WRITE_GRACE.saturating_sub(now.duration_since(v.at))).min()
    }

    pub fn forget(&self, key: &str) {
        if let Ok(mut w) = self.writes.lock() {
            w.remove(key);
        }
    }
}

/// A hash of a JSON value (serde_json's maps are ordered, so equal values hash equally).
fn digest(v: &Value) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.to_string().hash(&mut h);
    h.finish()
}
