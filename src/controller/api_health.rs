//! Whether the Kubernetes API answers, as the watches and the reconciles find it: said once when it stops
//! answering and once when it answers again (a log line, and `continuo_api_reachable`), however many watches and
//! services fail meanwhile.

use std::{sync::Mutex, time::Instant};

use prometheus_client::metrics::gauge::Gauge;

/// Whether `e` means the API server could not be reached, or answered that it cannot serve now: nobody's spec
/// problem, and one condition of the operator's. The one definition the reconciles and the watches share.
pub fn api_away(e: &kube::Error) -> bool {
    match e {
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        kube::Error::Api(s) => matches!(s.code, 429 | 502 | 503 | 504),
        _ => false,
    }
}

/// Whether the API answers.
pub struct ApiHealth {
    down_since: Mutex<Option<Instant>>,
    /// `continuo_api_reachable`.
    gauge: Gauge,
}

impl Default for ApiHealth {
    fn default() -> Self {
        ApiHealth::new(Gauge::default())
    }
}

impl ApiHealth {
    pub fn new(gauge: Gauge) -> Self {
        gauge.set(1);
        ApiHealth { down_since: Mutex::default(), gauge }
    }

    /// A request failed for want of an API server.
    pub fn failed(&self, error: &dyn std::fmt::Display) {
        if let Ok(mut down) = self.down_since.lock()
            && down.is_none()
        {
            *down = Some(Instant::now());
            self.gauge.set(0);
            tracing::error!(error = %error, "the Kubernetes API does not answer: watches and reconciles are retried every few seconds");
        }
    }

    /// A request went through.
    pub fn answered(&self) {
        if let Ok(mut down) = self.down_since.lock()
            && let Some(since) = down.take()
        {
            self.gauge.set(1);
            tracing::info!(after = ?since.elapsed(), "the Kubernetes API answers again");
        }
    }
}
