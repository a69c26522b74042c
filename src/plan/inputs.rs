//! What a plan is computed from: the service, its class, the observed cluster, the operator's settings, the
//! clock.

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;

use crate::{
    api::{BackupLocation, ContinuityClass, RecoveryPoint, ResilientService},
    availability::Observer,
    failover::Detection,
    objectives::Timing,
    topology::{Keys, NodeFacts},
};

/// The operator's settings that shape plans.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    pub keys: Keys,
    pub timing: Timing,
    /// The reference agent's image (`--agent-image`): run for a service whose `spec.backup` names no agent.
    pub agent_image: Option<String>,
    /// How fast Karmada and the member clusters act when a site is lost (the Region scope).
    pub sites: crate::sites::verdict::Timing,
}

/// Everything a plan is computed from.
pub struct Inputs<'a> {
    pub service: &'a ResilientService,
    /// The class the service names, if it exists.
    pub class: Option<&'a ContinuityClass>,
    pub nodes: &'a [NodeFacts],
    /// The Deployments that carry this service's label.
    pub children: &'a [Deployment],
    pub config: &'a Config,
    /// What backups observe: the service's location and recovery points.
    pub backups: Backups<'a>,
    /// What failure detection concluded, and when observation last stopped and resumed.
    pub failover: Failover<'a>,
    /// The data layers the service names in `spec.data`, as observed.
    pub data: crate::data::Observed<'a>,
    /// The zone a running ZoneLoss drill takes out for this service: withheld as a lost zone is, and scaled to 0.
    pub drill: Option<&'a str>,
    /// The service's last drill of each scenario, with when each last passed (what a drill policy is judged on).
    pub last_drills: &'a [crate::api::LastDrill],
    /// A stateful service's zone a restore request quiesces: its StatefulSet is scaled to 0 meanwhile.
    pub quiesced: Option<&'a str>,
    /// A stateful service's claims, and the cluster's StorageClasses.
    pub volumes: crate::stateful::Observed<'a>,
    pub now: Timestamp,
}

impl<'a> Inputs<'a> {
    /// A plan's inputs with nothing observed but the nodes: no children, copies or failures (`continuo plan`,
    /// benchmarks, tests).
    pub fn offline(
        service: &'a ResilientService,
        class: Option<&'a ContinuityClass>,
        nodes: &'a [NodeFacts],
        config: &'a Config,
        now: Timestamp,
    ) -> Inputs<'a> {
        Inputs {
            service,
            class,
            nodes,
            children: &[],
            config,
            backups: Backups::none(),
            failover: Failover::none(),
            data: crate::data::Observed::none(),
            drill: None,
            quiesced: None,
            last_drills: &[],
            volumes: crate::stateful::Observed::default(),
            now,
        }
    }
}

/// What the backup stage observes.
#[derive(Clone, Copy)]
pub struct Backups<'a> {
    /// The BackupLocation the service names, if it exists.
    pub location: Option<&'a BackupLocation>,
    /// The service's recovery points.
    pub points: &'a [RecoveryPoint],
    /// For a service arriving after a site loss: where the agent's listing of the copies stands (`None`: no run).
    pub listing: Option<&'a crate::sites::arrival::Listing>,
    /// For a service handing over to another site: where the run making its last copy stands (`None`: no run).
    pub handover: Option<&'a crate::sites::handover::RunState>,
}

impl Backups<'_> {
    /// No location and no copies observed (offline: `continuo plan` without a cluster).
    pub fn none() -> Backups<'static> {
        Backups { location: None, points: &[], listing: None, handover: None }
    }
}

/// What failure detection observes.
#[derive(Clone, Copy)]
pub struct Failover<'a> {
    /// Lost and recovering zones, and whether suspicions are set aside.
    pub detection: &'a Detection,
    pub observer: Observer,
}

static NO_DETECTION: std::sync::LazyLock<Detection> = std::sync::LazyLock::new(Detection::default);

impl Failover<'_> {
    /// Nothing detected, always observed (offline planning).
    pub fn none() -> Failover<'static> {
        Failover { detection: &NO_DETECTION, observer: Observer::always() }
    }
}
