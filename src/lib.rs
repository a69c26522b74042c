//! continuo: turns continuity promises (RTO/RPO per failure scope) into zone-spread Kubernetes workloads,
//! and reports, measured, whether each promise holds.
//!
//! The core is pure — [`topology`], [`placement`], [`objectives`], [`workload`], [`plan`], [`status`] — and
//! computes desired objects and status from plain values. The shell — [`controller`] and [`cli`] — observes,
//! applies and records.

pub mod api;
pub mod availability;
pub mod backup;
pub mod cli;
pub mod controller;
pub mod failover;
pub mod metrics;
pub mod objectives;
pub mod placement;
pub mod plan;
pub mod rollout;
pub mod status;
pub mod topology;
pub mod workload;
