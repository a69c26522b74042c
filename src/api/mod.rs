//! The continuo API: the `ContinuityClass` and `ResilientService` custom resources.

mod class;
mod duration;
mod service;

pub use class::*;
pub use duration::{PATTERN as DURATION_PATTERN, Span};
pub use service::*;

/// The API group of every continuo resource.
pub const GROUP: &str = "continuo.dev";

/// The CRDs continuo owns, in the order they are installed.
pub fn crds() -> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> {
    use kube::CustomResourceExt;
    vec![ContinuityClass::crd(), ResilientService::crd()]
}
