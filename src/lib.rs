//! continuo: turns continuity promises (RTO/RPO per failure scope) into zone-spread Kubernetes workloads,
//! and reports, measured, whether each promise holds.
//!
//! The core is pure and computes desired objects and status from plain values. Its layers point down only:
//! [`verdict`] and [`api`] → [`spread`], [`stateful`] → [`topology`], [`placement`], [`workload`], [`backup`] → [`data`], [`drill`], [`failover`],
//! [`availability`], [`rollout`], [`sites`] → [`objectives`] → [`plan`] → [`status`] → [`report`]. The shell — [`controller`],
//! [`cli`] and [`metrics`] — observes, applies and records. `tests/layers.rs` fails on an import circle.

pub mod agent;
pub mod api;
pub mod availability;
pub mod backup;
pub mod cli;
pub mod controller;
pub mod data;
pub mod drill;
pub mod failover;
pub mod metrics;
pub mod objectives;
pub mod placement;
pub mod plan;
pub mod report;
pub mod rollout;
pub mod sites;
pub mod spread;
pub mod stateful;
pub mod status;
pub mod topology;
pub mod verdict;
pub mod workload;
