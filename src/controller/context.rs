//! What every reconcile shares ([`Context`]: the client, the caches, what was just written, the leadership, the
//! clock), and why a reconcile can fail ([`Error`]).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use k8s_openapi::jiff::Timestamp;
use kube::{Client, runtime::events::Reporter};
use tokio::sync::watch;

use super::{
    api_health::ApiHealth,
    cache::{AppliedGenerations, Caches, RecentWrites},
    detect::Detector,
    events::Recorder,
    reported::Reported,
};
use crate::{
    metrics::Metrics,
    plan::{Config, Problem},
};

/// Why a reconcile failed. Every kind is transient: a user's mistake is a status condition, not an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("the caches did not sync in time")]
    CachesNotSynced,
    #[error("object has no namespace")]
    NoNamespace,
    /// The API rejected a child as invalid: the user's to fix, reported in status, never retried blindly.
    #[error("{}", .0.message)]
    Rejected(Problem),
}

impl Error {
    /// A bounded label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            _ if self.unreachable() => "unreachable",
            Error::Kube(kube::Error::Api(_)) => "api",
            Error::Kube(_) => "client",
            Error::CachesNotSynced => "cache",
            Error::NoNamespace | Error::Rejected(_) => "spec",
        }
    }
}

impl Error {
    /// The API server could not be reached, or answered that it cannot serve now: nobody's spec problem, and one
    /// condition of the operator's, not a failure of each service.
    pub fn unreachable(&self) -> bool {
        matches!(self, Error::Kube(e) if super::api_health::api_away(e))
    }
}

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    /// Nodes, classes and children, kept by the controller's watches.
    pub caches: Caches,
    /// What this replica wrote in the last seconds, until the caches show it.
    pub(super) writes: RecentWrites,
    /// The Deployment generations continuo produced: the template check of the template-free cache.
    pub(super) applied: AppliedGenerations,
    pub config: Config,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// Whether this replica may write: it holds the lease, or leader election is off.
    leader: watch::Receiver<bool>,
    /// Backup runs already reported, so each failure is an Event once.
    pub(super) reported: Reported,
    /// Whether the API server answers.
    pub(super) api: Arc<ApiHealth>,
    /// Consecutive failures per object, for backoff.
    pub(super) failures: Mutex<HashMap<String, u32>>,
    /// Zone loss from node leases: what every reconcile withholds.
    pub detector: Arc<Detector>,
    /// The wall clock incidents and availability are timed with (a fake one in tests).
    clock: Arc<dyn Fn() -> Timestamp + Send + Sync>,
}

impl Context {
    /// A context that always writes (leader election off).
    pub fn new(client: Client, caches: Caches, config: Config, reporter: Reporter) -> Self {
        let recorder = Recorder::new(client.clone(), reporter);
        let (_, leader) = watch::channel(true);
        Context {
            client,
            caches,
            writes: RecentWrites::default(),
            applied: AppliedGenerations::default(),
            config,
            recorder,
            metrics: Arc::default(),
            leader,
            reported: Default::default(),
            api: Arc::default(),
            failures: Mutex::default(),
            detector: Arc::default(),
            clock: Arc::new(Timestamp::now),
        }
    }

    /// Times incidents and availability with `clock` instead of the system clock.
    pub fn with_clock(self, clock: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        Context { clock: Arc::new(clock), ..self }
    }

    /// Withholds the zones `detector` finds lost or recovering.
    pub fn with_detector(self, detector: Arc<Detector>) -> Self {
        Context { detector, ..self }
    }

    /// Says whether the API answers through `api` (shared with the watches).
    pub fn with_api_health(self, api: Arc<ApiHealth>) -> Self {
        Context { api, ..self }
    }

    /// Writes only while `leader` says this replica holds the lease.
    pub fn with_leadership(self, leader: watch::Receiver<bool>, metrics: Arc<Metrics>) -> Self {
        Context { leader, metrics, ..self }
    }

    /// The wall clock of this operator (a fake one in tests).
    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }

    pub fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }

    /// A receiver of this replica's leadership.
    pub fn leadership(&self) -> watch::Receiver<bool> {
        self.leader.clone()
    }
}
