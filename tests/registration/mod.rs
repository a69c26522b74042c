//! What a real API server checks when a CRD is registered (`kubectl apply -f crds/`), re-done offline so
//! that a CRD no cluster would accept cannot pass the tests: CEL rule cost ([`cost`]), the structural schema,
//! list and map types, defaults and rule fields ([`schema`]), and the CRD's names and printer columns (here).

pub mod cost;
pub mod schema;

use serde_json::Value;

/// The path the API server reports a version's schema under: hoisted to `spec.validation` when the CRD has a
/// single version (as the API server's internal form does), per version otherwise.
pub fn schema_path(crd: &Value, version: usize) -> String {
    match crd["spec"]["versions"].as_array().map(Vec::len) {
        Some(1) => "spec.validation.openAPIV3Schema".to_string(),
        _ => format!("spec.versions[{version}].schema.openAPIV3Schema"),
    }
}

/// Everything the API server would refuse in this CRD, prefixed with the CRD's name; empty when it would
/// register it.
pub fn registration_errors(crd: &Value) -> Vec<String> {
    let name = crd["metadata"]["name"].as_str().unwrap_or("<unnamed>").to_string();
    let mut errors = names_errors(crd);
    for (i, version) in crd["spec"]["versions"].as_array().into_iter().flatten().enumerate() {
        let Some(schema) = version.get("schema").and_then(|s| s.get("openAPIV3Schema")) else {
            errors.push(format!("spec.versions[{i}].schema.openAPIV3Schema: Required value: schemas are required"));
            continue;
        };
        let path = schema_path(crd, i);
        let status = version.get("subresources").and_then(|s| s.get("status")).is_some();
        let structural = schema::registration_errors(schema, &path, status);
        // Like the API server, CEL rules are compiled and costed only on a valid structural schema.
        let cel = if structural.is_empty() { cost::cost_errors(schema, &path) } else { Vec::new() };
        errors.extend(structural);
        errors.extend(cel);
        for (c, col) in version["additionalPrinterColumns"].as_array().into_iter().flatten().enumerate() {
            let at = format!("spec.versions[{i}].additionalPrinterColumns[{c}]");
            if !["integer", "number", "string", "boolean", "date"].contains(&col["type"].as_str().unwrap_or("")) {
                errors.push(format!("{at}.type: Unsupported value: {}", col["type"]));
            }
            if !col["jsonPath"].as_str().is_some_and(|p| p.starts_with('.')) {
                errors.push(format!("{at}.JSONPath: Invalid value: must be a simple json path starting with ."));
            }
        }
    }
    errors.into_iter().map(|e| format!("CustomResourceDefinition {name:?}: {e}")).collect()
}

fn names_errors(crd: &Value) -> Vec<String> {
    let names = &crd["spec"]["names"];
    let dns1035 = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && !s.ends_with('-')
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    let mut errors = Vec::new();
    let plural = names["plural"].as_str().unwrap_or("");
    let expected = format!("{plural}.{}", crd["spec"]["group"].as_str().unwrap_or(""));
    if crd["metadata"]["name"].as_str() != Some(expected.as_str()) {
        errors.push(format!("metadata.name: Invalid value: must be spec.names.plural+\".\"+spec.group ({expected})"));
    }
    let mut labels: Vec<(String, String)> = vec![("plural".into(), plural.into())];
    for key in ["singular", "kind", "listKind"] {
        if let Some(v) = names[key].as_str() {
            labels.push((key.into(), v.to_lowercase()));
        }
    }
    for key in ["shortNames", "categories"] {
        for (i, v) in names[key].as_array().into_iter().flatten().enumerate() {
            labels.push((format!("{key}[{i}]"), v.as_str().unwrap_or("").into()));
        }
    }
    for (key, v) in labels {
        if !dns1035(&v) {
            errors.push(format!("spec.names.{key}: Invalid value: {v:?}: must be a DNS-1035 label"));
        }
    }
    errors
}
