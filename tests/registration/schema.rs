//! The schema checks a real API server makes when a CRD is registered, re-done offline, and our own lint
//! of the bounds its CEL cost estimate depends on.
//!
//! Covered (each with the API server's reason in the message):
//! - structural schema: a `type` on every node (except `x-kubernetes-int-or-string` and
//!   `x-kubernetes-preserve-unknown-fields` nodes), no `$ref`, `definitions`, `id`, `additionalItems`,
//!   `patternProperties`, `dependencies`, `uniqueItems`, `type: null`, item arrays; `properties` and
//!   `additionalProperties` not together; nothing but validation inside `allOf`/`anyOf`/`oneOf`/`not`;
//!   `x-kubernetes-preserve-unknown-fields: false` forbidden;
//! - the root: `type: object`, not nullable, only the allowed fields when the status subresource is on,
//!   `metadata` restricted to `name` and `generateName`, no defaults in `metadata`, `apiVersion`, `kind`;
//! - list and map types: known values, only on arrays/objects; `set` items scalar or atomic; `map` lists with
//!   non-empty, unique, scalar, required-or-defaulted, non-nullable keys; no nullable set/map items;
//! - defaults: valid against their own schema and CEL rules, and unchanged by pruning (no unknown fields);
//! - CEL rules: a rule, a one-line message, a known reason; `oldSelf` only where old and new values correlate.

use std::collections::BTreeSet;

use serde_json::{Value, json};

const FORBIDDEN_KEYWORDS: [(&str, &str); 6] = [
    ("$ref", "$ref is not supported"),
    ("definitions", "definitions is not supported"),
    ("id", "id is not supported"),
    ("additionalItems", "additionalItems is not supported"),
    ("patternProperties", "patternProperties is not supported"),
    ("dependencies", "dependencies is not supported"),
];

/// Fields the root schema may have when the status subresource is enabled (`allowedFieldsAtRootSchema`).
const ALLOWED_AT_ROOT: [&str; 22] = [
    "description",
    "type",
    "format",
    "title",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "multipleOf",
    "required",
    "items",
    "properties",
    "externalDocs",
    "example",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-validations",
];

const JUNCTORS: [&str; 4] = ["allOf", "anyOf", "oneOf", "not"];
const VALIDATION_REASONS: [&str; 4] =
    ["FieldValueRequired", "FieldValueForbidden", "FieldValueInvalid", "FieldValueDuplicate"];

fn type_of(s: &Value) -> &str {
    s.get("type").and_then(Value::as_str).unwrap_or("")
}

fn flag(s: &Value, key: &str) -> bool {
    s.get(key) == Some(&json!(true))
}

fn required(s: &Value) -> Vec<&str> {
    s.get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Every problem the API server would report about this version's schema at registration.
pub fn registration_errors(schema: &Value, path: &str, status_subresource: bool) -> Vec<String> {
    let mut errors = Vec::new();
    if type_of(schema) != "object" {
        errors.push(format!("{path}.type: Invalid value: only \"object\" is allowed as the type at the root"));
    }
    if flag(schema, "nullable") {
        errors.push(format!("{path}.nullable: Forbidden: nullable cannot be true at the root"));
    }
    if status_subresource {
        for key in schema.as_object().into_iter().flatten().map(|(k, _)| k) {
            if !ALLOWED_AT_ROOT.contains(&key.as_str()) {
                errors.push(format!(
                    "{path}: Invalid value: {key} is not allowed at the root of the schema if the status subresource is enabled"
                ));
            }
        }
    }
    if let Some(meta) = schema.get("properties").and_then(|p| p.get("metadata")) {
        check_metadata(meta, &format!("{path}.properties[metadata]"), &mut errors);
    }
    let mut walker = Walker { errors: &mut errors };
    walker.node(schema, path, Context { root: true, old_self_forbidden: None, defaults_forbidden: None });
    errors
}

fn check_metadata(meta: &Value, path: &str, errors: &mut Vec<String>) {
    for (key, value) in meta.as_object().into_iter().flatten() {
        match key.as_str() {
            "type" | "description" => {}
            "properties" => {
                for (field, schema) in value.as_object().into_iter().flatten() {
                    let allowed = ["name", "generateName"].contains(&field.as_str())
                        && schema.as_object().is_some_and(|o| {
                            o.keys().all(|k| {
                                ["type", "description", "maxLength", "minLength", "pattern"].contains(&k.as_str())
                            })
                        });
                    if !allowed {
                        errors.push(format!(
                            "{path}.properties[{field}]: Forbidden: must not be specified: metadata may only restrict name and generateName"
                        ));
                    }
                }
            }
            other => errors.push(format!(
                "{path}.{other}: Forbidden: must not be specified: metadata may only restrict name and generateName"
            )),
        }
    }
}

#[derive(Clone, Copy)]
struct Context<'p> {
    root: bool,
    /// Set below lists whose items cannot be correlated between an old and a new object.
    old_self_forbidden: Option<&'p str>,
    /// Why a `default` is forbidden here, if it is.
    defaults_forbidden: Option<&'static str>,
}

struct Walker<'e> {
    errors: &'e mut Vec<String>,
}

impl Walker<'_> {
    fn err(&mut self, msg: String) {
        self.errors.push(msg);
    }

    fn node(&mut self, s: &Value, path: &str, cx: Context<'_>) {
        let Some(obj) = s.as_object() else {
            self.err(format!("{path}: Invalid value: a schema must be an object"));
            return;
        };
        for (key, why) in FORBIDDEN_KEYWORDS {
            if obj.contains_key(key) {
                self.err(format!("{path}.{key}: Forbidden: {why}"));
            }
        }
        if flag(s, "uniqueItems") {
            self.err(format!(
                "{path}.uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic"
            ));
        }
        let t = type_of(s);
        if t == "null" {
            self.err(format!("{path}.type: Forbidden: type cannot be set to null, use nullable as an alternative"));
        }
        if !t.is_empty() && !["string", "number", "integer", "boolean", "array", "object"].contains(&t) {
            self.err(format!("{path}.type: Unsupported value: {t:?}"));
        }
        if t.is_empty() && !flag(s, "x-kubernetes-int-or-string") && !flag(s, "x-kubernetes-preserve-unknown-fields") {
            self.err(format!("{path}.type: Required value: must not be empty for specified object fields"));
        }
        if s.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(false)) {
            self.err(format!("{path}.x-kubernetes-preserve-unknown-fields: Invalid value: must be true or undefined"));
        }
        if s.get("items").is_some_and(Value::is_array) {
            self.err(format!("{path}.items: Forbidden: items must be a schema object and not an array"));
        }
        if s.get("properties").and_then(Value::as_object).is_some_and(|p| !p.is_empty())
            && s.get("additionalProperties").is_some_and(|a| a.is_object() || a == &json!(false))
        {
            self.err(format!(
                "{path}.additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"
            ));
        }
        for j in JUNCTORS {
            let branches: Vec<&Value> = match s.get(j) {
                Some(Value::Array(a)) => a.iter().collect(),
                Some(v @ Value::Object(_)) => vec![v],
                _ => continue,
            };
            for (i, b) in branches.iter().enumerate() {
                self.junctor(b, &format!("{path}.{j}[{i}]"), s);
            }
        }
        if let Some(default) = s.get("default") {
            match cx.defaults_forbidden {
                Some(why) => self.err(format!("{path}.default: Forbidden: must not be set {why}")),
                None => self.default(default, s, path),
            }
        }
        self.list_and_map_types(s, path);
        self.rules(s, path, cx);

        let props = s.get("properties").and_then(Value::as_object);
        for (name, child) in props.into_iter().flatten() {
            let mut sub = Context { root: false, ..cx };
            if cx.root && ["metadata", "kind", "apiVersion"].contains(&name.as_str()) {
                sub.defaults_forbidden = Some(match name.as_str() {
                    "metadata" => "in top-level metadata",
                    "kind" => "in top-level kind",
                    _ => "in top-level apiVersion",
                });
            }
            self.node(child, &format!("{path}.properties[{name}]"), sub);
        }
        if let Some(items) = s.get("items").filter(|i| i.is_object()) {
            let mut sub = Context { root: false, ..cx };
            if s.get("x-kubernetes-list-type").and_then(Value::as_str) != Some("map")
                && sub.old_self_forbidden.is_none()
            {
                sub.old_self_forbidden = Some(path);
            }
            self.node(items, &format!("{path}.items"), sub);
        }
        if let Some(ap) = s.get("additionalProperties").filter(|a| a.is_object()) {
            self.node(ap, &format!("{path}.additionalProperties"), Context { root: false, ..cx });
        }
    }

    /// Inside `allOf`/`anyOf`/`oneOf`/`not`: validation only, and only of fields specified outside.
    fn junctor(&mut self, b: &Value, path: &str, outer: &Value) {
        let int_or_string_pattern = flag(outer, "x-kubernetes-int-or-string")
            && b.as_object().is_some_and(|o| o.len() == 1 && matches!(type_of(b), "integer" | "string"));
        for key in ["description", "type", "default", "additionalProperties", "nullable"] {
            if b.get(key).is_some() && !(key == "type" && int_or_string_pattern) {
                self.err(format!("{path}.{key}: Forbidden: must not be used inside of logical junctors"));
            }
        }
        for (name, _) in b.get("properties").and_then(Value::as_object).into_iter().flatten() {
            if outer.get("properties").and_then(|p| p.get(name)).is_none() {
                self.err(format!(
                    "{path}.properties[{name}]: Required value: must be specified outside of the logical junctor too"
                ));
            }
        }
        if b.get("items").is_some() && outer.get("items").is_none() {
            self.err(format!("{path}.items: Required value: must be specified outside of the logical junctor too"));
        }
    }

    fn list_and_map_types(&mut self, s: &Value, path: &str) {
        let list_type = s.get("x-kubernetes-list-type").and_then(Value::as_str);
        let keys: Vec<&str> = s
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
            .map(|k| k.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(map_type) = s.get("x-kubernetes-map-type").and_then(Value::as_str) {
            if type_of(s) != "object" {
                self.err(format!("{path}.type: Invalid value: must be object if x-kubernetes-map-type is specified"));
            }
            if !["atomic", "granular"].contains(&map_type) {
                self.err(format!("{path}.x-kubernetes-map-type: Unsupported value: {map_type:?}"));
            }
        }
        if !keys.is_empty() && list_type != Some("map") {
            self.err(format!(
                "{path}.x-kubernetes-list-type: Required value: must be map if x-kubernetes-list-map-keys is non-empty"
            ));
        }
        let Some(list_type) = list_type else { return };
        if type_of(s) != "array" {
            self.err(format!("{path}.type: Invalid value: must be array if x-kubernetes-list-type is specified"));
            return;
        }
        if !["atomic", "set", "map"].contains(&list_type) {
            self.err(format!("{path}.x-kubernetes-list-type: Unsupported value: {list_type:?}"));
        }
        let items = s.get("items").cloned().unwrap_or(Value::Null);
        if list_type != "atomic" && flag(&items, "nullable") {
            self.err(format!(
                "{path}.items.nullable: Forbidden: cannot be nullable when x-kubernetes-list-type is {list_type}"
            ));
        }
        match list_type {
            "set" => match type_of(&items) {
                "array" if items.get("x-kubernetes-list-type").is_some_and(|t| t != "atomic") => self.err(format!(
                    "{path}.items.x-kubernetes-list-type: Invalid value: must be atomic as item of a list with x-kubernetes-list-type=set"
                )),
                "object" if items.get("x-kubernetes-map-type").and_then(Value::as_str) != Some("atomic") => self.err(format!(
                    "{path}.items.x-kubernetes-map-type: Invalid value: must be atomic as item of a list with x-kubernetes-list-type=set"
                )),
                _ => {}
            },
            "map" => {
                if keys.is_empty() {
                    self.err(format!(
                        "{path}.x-kubernetes-list-map-keys: Required value: must not be empty if x-kubernetes-list-type is map"
                    ));
                }
                if type_of(&items) != "object" {
                    self.err(format!(
                        "{path}.items.type: Invalid value: must be object if parent array's x-kubernetes-list-type is map"
                    ));
                    return;
                }
                let req = required(&items);
                let mut seen = BTreeSet::new();
                for k in keys {
                    if !seen.insert(k) {
                        self.err(format!("{path}.x-kubernetes-list-map-keys: Invalid value: must not contain duplicate entries"));
                    }
                    let Some(prop) = items.get("properties").and_then(|p| p.get(k)) else {
                        self.err(format!(
                            "{path}.x-kubernetes-list-map-keys: Invalid value: entries must all be names of item properties"
                        ));
                        continue;
                    };
                    if matches!(type_of(prop), "array" | "object") {
                        self.err(format!(
                            "{path}.items.properties[{k}].type: Invalid value: must be a scalar type if parent array's x-kubernetes-list-type is map"
                        ));
                    }
                    if !req.contains(&k) && prop.get("default").is_none() {
                        self.err(format!(
                            "{path}.items.properties[{k}].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property"
                        ));
                    }
                    if flag(prop, "nullable") {
                        self.err(format!(
                            "{path}.items.properties[{k}].nullable: Forbidden: this property is in x-kubernetes-list-map-keys, so it cannot be nullable"
                        ));
                    }
                }
            }
            _ => {}
        }
    }

    fn rules(&mut self, s: &Value, path: &str, cx: Context<'_>) {
        let rules = s.get("x-kubernetes-validations").and_then(Value::as_array);
        for (i, rule) in rules.into_iter().flatten().enumerate() {
            let at = format!("{path}.x-kubernetes-validations[{i}]");
            let text = rule.get("rule").and_then(Value::as_str).unwrap_or("").trim();
            let message = rule.get("message").and_then(Value::as_str);
            if text.is_empty() {
                self.err(format!("{at}.rule: Required value: rule is not specified"));
            }
            if message.is_some_and(|m| m.trim().is_empty()) {
                self.err(format!("{at}.message: Invalid value: message must be non-empty if specified"));
            }
            if message.is_some_and(|m| m.trim().contains(['\n', '\r'])) {
                self.err(format!("{at}.message: Invalid value: message must not contain line breaks"));
            }
            if text.contains(['\n', '\r']) && message.is_none_or(|m| m.trim().is_empty()) {
                self.err(format!(
                    "{at}.message: Required value: message must be specified if rule contains line breaks"
                ));
            }
            if let Some(reason) = rule.get("reason").and_then(Value::as_str)
                && !VALIDATION_REASONS.contains(&reason)
            {
                self.err(format!("{at}.reason: Unsupported value: {reason:?}"));
            }
            if let Some(uncorrelatable) = cx.old_self_forbidden
                && text.contains("oldSelf")
            {
                self.err(format!(
                    "{at}.rule: Invalid value: oldSelf cannot be used on the uncorrelatable portion of the schema within {uncorrelatable}"
                ));
            }
        }
    }

    /// A default must be valid against its own schema and rules, and survive pruning unchanged.
    fn default(&mut self, default: &Value, s: &Value, path: &str) {
        if default.is_null() && !flag(s, "nullable") {
            self.err(format!("{path}.default: Invalid value: null is only allowed as a default of a nullable field"));
            return;
        }
        let mut pruned = default.clone();
        prune(&mut pruned, s);
        if &pruned != default {
            self.err(format!(
                "{path}.default: Invalid value: must not have unknown fields (pruning would change it to {pruned})"
            ));
        }
        match jsonschema::validator_for(s) {
            Ok(v) => {
                for e in v.iter_errors(default) {
                    self.err(format!("{path}.default{}: Invalid value: {e}", e.instance_path()));
                }
            }
            Err(e) => self.err(format!("{path}: Invalid value: cannot build a validator: {e}")),
        }
        if let Err(cel) = kube::core::cel::Validator::new().validate(s, default, None) {
            for e in cel.as_slice() {
                self.err(format!("{path}.default: Invalid value: {e}"));
            }
        }
    }
}

/// Removes what the API server prunes: fields not in `properties` of objects that do not preserve them.
pub fn prune(value: &mut Value, s: &Value) {
    match value {
        Value::Object(map) => {
            if let Some(ap) = s.get("additionalProperties").filter(|a| a.is_object()) {
                for v in map.values_mut() {
                    prune(v, ap);
                }
                return;
            }
            let props = s.get("properties").and_then(Value::as_object);
            if !flag(s, "x-kubernetes-preserve-unknown-fields") {
                map.retain(|k, _| props.is_some_and(|p| p.contains_key(k)));
            }
            for (k, v) in map.iter_mut() {
                if let Some(child) = props.and_then(|p| p.get(k)) {
                    prune(v, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = s.get("items") {
                for v in items {
                    prune(v, item_schema);
                }
            }
        }
        _ => {}
    }
}

/// Our own lint of the bounds the API server's cost estimate depends on: every array has `maxItems`, every
/// map `maxProperties`, and every string a CEL rule can read (under a node that carries a rule) a `maxLength`,
/// an `enum` or a bounded format. `exempt` lists paths allowed to go without, each with its reason.
pub fn missing_bounds(schema: &Value, path: &str, exempt: &[(&str, &str)]) -> Vec<String> {
    let mut out = Vec::new();
    bounds(schema, path, false, exempt, &mut out);
    out
}

fn bounds(s: &Value, path: &str, read_by_rule: bool, exempt: &[(&str, &str)], out: &mut Vec<String>) {
    let read_by_rule = read_by_rule || s.get("x-kubernetes-validations").is_some();
    let is_exempt = exempt.iter().any(|(p, _)| *p == path);
    let string_bounded = s.get("maxLength").is_some()
        || s.get("enum").is_some()
        || matches!(s.get("format").and_then(Value::as_str), Some("date" | "date-time" | "duration"));
    if !is_exempt {
        match type_of(s) {
            "array" if s.get("maxItems").is_none() => out.push(format!("{path}: array without maxItems")),
            "object"
                if s.get("additionalProperties").is_some_and(Value::is_object) && s.get("maxProperties").is_none() =>
            {
                out.push(format!("{path}: map without maxProperties"))
            }
            "string" if read_by_rule && !string_bounded => {
                out.push(format!("{path}: string read by a CEL rule without maxLength or enum"))
            }
            _ if flag(s, "x-kubernetes-int-or-string") && read_by_rule && s.get("maxLength").is_none() => {
                out.push(format!("{path}: int-or-string read by a CEL rule without maxLength"))
            }
            _ => {}
        }
    }
    for (name, child) in s.get("properties").and_then(Value::as_object).into_iter().flatten() {
        bounds(child, &format!("{path}.properties[{name}]"), read_by_rule, exempt, out);
    }
    if let Some(items) = s.get("items").filter(|i| i.is_object()) {
        bounds(items, &format!("{path}.items"), read_by_rule, exempt, out);
    }
    if let Some(ap) = s.get("additionalProperties").filter(|a| a.is_object()) {
        bounds(ap, &format!("{path}.additionalProperties"), read_by_rule, exempt, out);
    }
}
