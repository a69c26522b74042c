//! The continuo API: the `ContinuityClass`, `ResilientService`, backup and drill custom resources.

pub mod admission;
mod backup;
mod class;
pub mod conditions;
mod data;
mod drill;
mod duration;
mod failover;
mod formats;
mod service;
mod sites;
mod stateful;

pub use backup::*;
pub use class::*;
pub use data::*;
pub use drill::*;
pub use duration::{PATTERN as DURATION_PATTERN, Span};
pub use failover::*;
pub use formats::TIME_ZONE_PATTERN;
pub use service::*;
pub use sites::*;
pub use stateful::*;

/// The API group of every continuo resource.
pub const GROUP: &str = "continuo.dev";

/// The CRDs continuo owns, in the order they are installed.
pub fn crds() -> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> {
    use kube::CustomResourceExt;
    vec![
        ContinuityClass::crd(),
        ResilientService::crd(),
        BackupLocation::crd(),
        RecoveryPoint::crd(),
        RestoreRequest::crd(),
        ContinuityDrill::crd(),
        SiteFailover::crd(),
    ]
}

/// The built-in classes, as shipped in `deploy/classes.yaml`.
pub const BUILTIN_CLASSES: &str = include_str!("../../deploy/classes.yaml");

/// Parses the built-in classes (a test checks them against the CRD's schema and CEL rules).
pub fn builtin_classes() -> Result<Vec<ContinuityClass>, String> {
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(BUILTIN_CLASSES).map_err(|e| format!("deploy/classes.yaml: {e}"))?;
    docs.into_iter()
        .filter(|d| !d.is_null())
        .map(|d| serde_json::from_value(d).map_err(|e| format!("deploy/classes.yaml: {e}")))
        .collect()
}
