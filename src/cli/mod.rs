//! The `continuo` command line: `run` (the operator), `crds`, `plan` (offline) and `report`.

mod drills;
pub mod plan;
pub mod report;
mod sites;

use crate::api;

/// The CRDs as one multi-document YAML stream, as committed in `crds/`.
pub fn crds_yaml() -> String {
    let docs: Vec<String> = api::crds()
        .iter()
        .map(|crd| serde_saphyr::to_string(crd).unwrap_or_else(|e| format!("# cannot render CRD: {e}\n")))
        .collect();
    format!("---\n{}", docs.join("---\n"))
}
