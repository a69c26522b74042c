//! The condition types of a `ResilientService`'s status: API vocabulary, below the plan that reads the last ones
//! written and the status that writes them.

pub const READY: &str = "Ready";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";
pub const ZONE_REDUNDANT: &str = "ZoneRedundant";
pub const OBJECTIVES_MET: &str = "ObjectivesMet";
pub const FAILURE_DETECTION: &str = "FailureDetection";
pub const AVAILABILITY_MET: &str = "AvailabilityMet";
/// Stateful services: whether every replica runs on its data (restored from a copy where a zone was lost).
pub const DATA_RESTORED: &str = "DataRestored";
/// Whether the service passed a drill of each scenario its class requires, within the class's period.
pub const DRILLS_CURRENT: &str = "DrillsCurrent";
/// Stateful services: whether a zone that came back holds volumes whose data diverged from the service's.
pub const DATA_DIVERGED: &str = "DataDiverged";

/// `Ready`'s reason while a service that has never been Ready rolls out for the first time: progress as planned,
/// which is status, not news.
pub const CREATING: &str = "Creating";

/// The condition types, in the order they are written (`AvailabilityMet` only when the class declares a target,
/// `DataRestored` and `DataDiverged` only for stateful services, `DrillsCurrent` only under a drill policy).
pub const TYPES: [&str; 10] = [
    READY,
    RECONCILING,
    STALLED,
    ZONE_REDUNDANT,
    OBJECTIVES_MET,
    FAILURE_DETECTION,
    AVAILABILITY_MET,
    DATA_RESTORED,
    DATA_DIVERGED,
    DRILLS_CURRENT,
];
