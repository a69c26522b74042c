//! Failover: seeing a lost zone before the node controller does ([`detection`]), and timing every recovery
//! against its RTO ([`incidents`]). Pure: the shell feeds observations and the clock.

pub mod detection;
pub mod fencing;
pub mod incidents;

pub use detection::{Detection, Guard, Leases, Memory, Settings, ZoneLoss, ZoneState};
