//! The condition types of a `ResilientService`'s status: API vocabulary, below the plan that reads the last ones
//! written and the status that writes them.

pub const READY: &str = "Ready";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";
pub const ZONE_REDUNDANT: &str = "ZoneRedundant";
pub const OBJECTIVES_MET: &str = "ObjectivesMet";
pub const FAILURE_DETECTION: &str = "FailureDetection";
pub const AVAILABILITY_MET: &str = "AvailabilityMet";

/// `Ready`'s reason while a service that has never been Ready rolls out for the first time: progress as planned,
/// which is status, not news.
pub const CREATING: &str = "Creating";

/// The condition types, in the order they are written (`AvailabilityMet` only when the class declares a target).
pub const TYPES: [&str; 7] =
    [READY, RECONCILING, STALLED, ZONE_REDUNDANT, OBJECTIVES_MET, FAILURE_DETECTION, AVAILABILITY_MET];
