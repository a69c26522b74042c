//! What the API server checks natively when an object is applied, beyond its schema and CEL rules: an item
//! that repeats in an `x-kubernetes-list-type: set` list, or a key that repeats in a `map` list, is refused
//! (`spec.zones[2]: Duplicate value: "a"`). `continuo plan` repeats the check offline, so a file the API server
//! would refuse is refused there too.

use std::sync::LazyLock;

use serde_json::Value;

/// Each kind's schema, as registered by its CRD, built once.
static SCHEMAS: LazyLock<Vec<(String, Value)>> = LazyLock::new(|| {
    super::crds()
        .into_iter()
        .filter_map(|crd| {
            let schema = crd.spec.versions.first()?.schema.as_ref()?.open_api_v3_schema.as_ref()?;
            Some((crd.spec.names.kind.clone(), serde_json::to_value(schema).ok()?))
        })
        .collect()
});

/// The schema of one of continuo's kinds, as registered by its CRD.
pub fn schema_of(kind: &str) -> Option<&'static Value> {
    SCHEMAS.iter().find(|(k, _)| k == kind).map(|(_, schema)| schema)
}

/// Every repeated item of a `set` list and repeated key of a `map` list in `obj`, worded as the API server does.
pub fn duplicate_items(schema: &Value, obj: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    walk(schema, obj, "", &mut errors);
    errors
}

fn walk(schema: &Value, obj: &Value, path: &str, errors: &mut Vec<String>) {
    match obj {
        Value::Object(fields) => {
            for (name, value) in fields {
                if let Some(child) = schema.get("properties").and_then(|p| p.get(name)) {
                    let at = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
                    walk(child, value, &at, errors);
                }
            }
        }
        Value::Array(items) => {
            let keys: Vec<&str> = schema["x-kubernetes-list-map-keys"]
                .as_array()
                .map(|k| k.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let identity = |item: &Value| match schema["x-kubernetes-list-type"].as_str() {
                Some("set") => Some(item.clone()),
                Some("map") => Some(Value::Array(keys.iter().map(|k| item[*k].clone()).collect())),
                _ => None,
            };
            let mut seen = Vec::new();
            for (i, item) in items.iter().enumerate() {
                if let Some(id) = identity(item) {
                    if seen.contains(&id) {
                        errors.push(format!("{path}[{i}]: Duplicate value: {id}"));
                    }
                    seen.push(id);
                }
                walk(&schema["items"], item, &format!("{path}[{i}]"), errors);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn repeated_set_items_and_map_keys_are_refused_with_their_path() {
        let service = json!({"spec": {"zones": ["a", "b", "a"], "className": "x"}});
        assert_eq!(
            duplicate_items(schema_of("ResilientService").unwrap(), &service),
            ["spec.zones[2]: Duplicate value: \"a\""]
        );
        let class = json!({"spec": {"objectives": [{"scope": "Zone", "rto": "1h"}, {"scope": "Node", "rto": "2m"},
            {"scope": "Zone", "rto": "2h"}], "residency": {"regions": ["eu", "eu"]}}});
        assert_eq!(
            duplicate_items(schema_of("ContinuityClass").unwrap(), &class),
            ["spec.objectives[2]: Duplicate value: [\"Zone\"]", "spec.residency.regions[1]: Duplicate value: \"eu\""]
        );
    }

    #[test]
    fn distinct_items_and_atomic_lists_pass() {
        let service = json!({"spec": {"zones": ["a", "b"], "template": {"spec": {"containers": [{"name": "x"}, {"name": "x"}]}}}});
        assert!(duplicate_items(schema_of("ResilientService").unwrap(), &service).is_empty());
    }
}
