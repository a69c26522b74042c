//! Would a real API server register our CRDs? The checks it makes at `kubectl apply -f crds/` — CEL rule cost,
//! structural schema, list types, defaults — re-done offline (see `registration/`), run on every CRD continuo
//! ships, and proven on the CRDs a Kubernetes 1.36 API server actually refused.

mod registration;

use continuo::{api, cli};
use registration::{cost, schema};
use serde_json::{Value, json};

fn shipped_crds() -> Vec<Value> {
    api::crds().into_iter().map(|c| serde_json::to_value(c).unwrap()).collect()
}

fn yaml_docs(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    serde_saphyr::from_multiple::<Value>(&text).unwrap().into_iter().filter(|d| !d.is_null()).collect()
}

fn schema_of(crd: &Value) -> &Value {
    &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
}

#[test]
fn every_crd_continuo_ships_would_be_registered_by_the_api_server() {
    // The CRDs the code generates (what the next `continuo crds` prints) and the committed ones (what users apply);
    // `the_committed_crds_are_the_ones_the_binary_prints` says when they differ.
    let crds: Vec<Value> = shipped_crds().into_iter().chain(yaml_docs("crds/continuo.yaml")).collect();
    for crd in &crds {
        let errors = registration::registration_errors(crd);
        assert!(errors.is_empty(), "the API server would refuse:\n{}", errors.join("\n"));
    }
    // Every rule is far inside the budget, not just under it: a rule near the limit breaks with one more field.
    for crd in &crds {
        let (costs, errors) = cost::rule_costs(schema_of(crd), "spec");
        assert!(errors.is_empty(), "{errors:?}");
        for c in costs {
            assert!(
                c.total <= cost::RULE_LIMIT / 100,
                "{} costs {} ({}): keep rules under 1% of the budget",
                c.path,
                c.total,
                c.rule
            );
        }
    }
}

#[test]
fn the_crds_a_real_api_server_refused_are_refused_here_in_its_words() {
    // crds/continuo.yaml as shipped before the fix; a Kubernetes 1.36.2 API server answered `kubectl apply
    // --server-side -f crds/` with exactly these two errors.
    let refused = yaml_docs("tests/fixtures/crds/refused-by-apiserver-1.36.yaml");
    let errors: Vec<String> = refused.iter().flat_map(registration::registration_errors).collect();
    let suffix = "Forbidden: estimated rule cost exceeds budget by factor of 8.1x (try simplifying the rule, or adding \
                  maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)";
    assert_eq!(
        errors,
        [
            format!(
                "CustomResourceDefinition \"continuityclasses.continuo.dev\": spec.validation.openAPIV3Schema.properties[spec].properties[residency].properties[regions].x-kubernetes-validations[0].rule: {suffix}"
            ),
            format!(
                "CustomResourceDefinition \"resilientservices.continuo.dev\": spec.validation.openAPIV3Schema.properties[spec].properties[zones].x-kubernetes-validations[0].rule: {suffix}"
            ),
        ]
    );
}

fn strings(max_items: Option<u64>, max_length: Option<u64>) -> Value {
    let mut items = json!({"type": "string"});
    if let Some(l) = max_length {
        items["maxLength"] = json!(l);
    }
    let mut s = json!({"type": "array", "items": items});
    if let Some(n) = max_items {
        s["maxItems"] = json!(n);
    }
    s
}

#[test]
fn cost_estimates_follow_the_api_servers_rules() {
    let unique = "self.all(r, self.exists_one(s, s == r))";
    // Each figure is derived by hand from cel-go's checker/cost.go and Kubernetes' schema sizes:
    // 16 × (2 + 1 + (3 + 16 × (⌈3_145_726 × 0.1⌉ + 2 + 2))) + 2: strings without maxLength may be 3 MiB long.
    assert_eq!(cost::expression_cost(unique, &strings(Some(16), None), false), Ok(80_531_810));
    // The same rule once the strings are bounded: 63 characters are at most 252 bytes, ⌈25.2⌉ per comparison.
    assert_eq!(cost::expression_cost(unique, &strings(Some(16), Some(63)), false), Ok(7_778));
    // Scalars and an empty literal cost next to nothing.
    assert_eq!(cost::expression_cost("self >= 1", &json!({"type": "integer"}), false), Ok(2));
    assert_eq!(cost::expression_cost("self != ''", &json!({"type": "string", "maxLength": 253}), false), Ok(1));
    // Enum strings are as long as their longest value: "Node" and "Zone" compare in one unit.
    let scopes = json!({"type": "array", "maxItems": 8, "items": {"type": "object", "required": ["scope"],
        "properties": {"scope": {"type": "string", "enum": ["Node", "Zone"]}}}});
    assert_eq!(
        cost::expression_cost("self.all(o, self.exists_one(p, p.scope == o.scope))", &scopes, false),
        Ok(8 * (2 + 1 + (3 + 8 * (5 + 2))) + 2)
    );
    // A list without maxItems holds as many items as fit in a 3 MiB request: 1_048_575 two-byte strings.
    assert_eq!(
        cost::expression_cost("self.all(x, x.size() < 10)", &strings(None, Some(10)), false),
        Ok(1_048_575 * (2 + 4) + 2)
    );
    // Regular expressions: (text + 1) × 0.1 per character, times 0.25 per pattern character.
    assert_eq!(
        cost::expression_cost("self.matches('^[a-z]+$')", &json!({"type": "string", "maxLength": 25}), false),
        Ok(11 * 2 + 1)
    );
}

#[test]
fn a_rule_on_items_of_an_unbounded_list_is_charged_for_every_item_that_fits_in_a_request() {
    let items = json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "maxLength": 1000}},
        "x-kubernetes-validations": [{"rule": "self.name.matches('^[a-z]+$')", "message": "lower-case"}]});
    let unbounded = json!({"type": "object", "properties": {"list": {"type": "array", "items": items.clone()}}});
    // 804 per evaluation, but once for each of the 241_979 smallest items a request can hold: over both budgets.
    let errors = cost::cost_errors(&unbounded, "s");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].starts_with("s.properties[list].items.x-kubernetes-validations[0].rule: Forbidden: estimated rule cost exceeds budget by factor of 19.5x"));
    assert!(errors[1].starts_with("s: Forbidden: x-kubernetes-validations estimated rule cost total"));

    let bounded = json!({"type": "object", "properties": {"list": {"type": "array", "maxItems": 100, "items": items}}});
    assert_eq!(cost::cost_errors(&bounded, "s"), Vec::<String>::new());
    let (costs, _) = cost::rule_costs(&bounded, "s");
    assert_eq!((costs[0].cardinality, costs[0].total), (100, 100 * costs[0].expression));
}

#[test]
fn rules_each_within_budget_can_still_exceed_the_budget_of_the_whole_crd() {
    // Each rule ≈ 9 M (45 items × 200 k), under the 10 M per rule; twelve of them ≈ 108 M, over the 100 M per CRD.
    let item = json!({"type": "object", "properties": {"s": {"type": "string", "maxLength": 250_000}},
        "x-kubernetes-validations": [{"rule": "self.s.matches('[a-z]')"}]});
    let lists: serde_json::Map<String, Value> =
        (0..12).map(|i| (format!("l{i}"), json!({"type": "array", "maxItems": 45, "items": item}))).collect();
    let errors = cost::cost_errors(&json!({"type": "object", "properties": lists}), "s");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("estimated rule cost total for entire OpenAPIv3 schema exceeds budget by factor of"),
        "{}",
        errors[0]
    );
}

#[test]
fn a_rule_the_estimator_cannot_cost_or_compile_fails_loudly() {
    let s = json!({"type": "object", "properties": {"a": {"type": "string", "maxLength": 8}}});
    let unknown = cost::expression_cost("self.a.lowerAscii() == 'x'", &s, false).unwrap_err();
    assert!(unknown.contains("does not model the cost of method lowerAscii()"), "{unknown}");
    let undefined = cost::expression_cost("self.b == 'x'", &s, false).unwrap_err();
    assert!(undefined.contains("undefined field 'b'"), "{undefined}");
    let malformed = cost::expression_cost("self.a ==", &s, false).unwrap_err();
    assert!(malformed.contains("compilation failed"), "{malformed}");
}

/// A minimal CRD around a spec schema, to show one registration rule at a time.
fn crd_with(spec: Value, status_subresource: bool) -> Value {
    let mut version = json!({"name": "v1", "served": true, "storage": true,
        "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": spec}}}});
    if status_subresource {
        version["subresources"] = json!({"status": {}});
    }
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.dev"},
        "spec": {"group": "example.dev", "scope": "Namespaced",
                 "names": {"plural": "things", "singular": "thing", "kind": "Thing", "listKind": "ThingList"},
                 "versions": [version]}})
}

fn refused(crd: Value, expect: &str) {
    let errors = registration::registration_errors(&crd);
    assert!(errors.iter().any(|e| e.contains(expect)), "expected {expect:?} in {errors:#?}");
}

#[test]
fn structural_schema_rules_are_enforced() {
    let ok = crd_with(json!({"type": "object", "properties": {"a": {"type": "string"}}}), true);
    assert_eq!(registration::registration_errors(&ok), Vec::<String>::new());

    refused(crd_with(json!({"properties": {"a": {"type": "string"}}}), false), "properties[spec].type: Required value");
    refused(
        crd_with(json!({"type": "object", "properties": {"a": {"$ref": "#/definitions/x"}}}), false),
        "$ref is not supported",
    );
    refused(
        crd_with(
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "string"}}),
            false,
        ),
        "additionalProperties and properties are mutual exclusive",
    );
    refused(
        crd_with(json!({"type": "object", "anyOf": [{"type": "object", "description": "x"}]}), false),
        "anyOf[0].description: Forbidden: must not be used inside of logical junctors",
    );
    refused(
        crd_with(json!({"type": "array", "uniqueItems": true, "items": {"type": "string"}}), false),
        "uniqueItems cannot be set to true",
    );
    let mut meta = crd_with(json!({"type": "object"}), false);
    meta["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["metadata"] =
        json!({"type": "object", "properties": {"labels": {"type": "object"}}});
    refused(meta, "metadata may only restrict name and generateName");
    let mut root = crd_with(json!({"type": "object"}), true);
    root["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["additionalProperties"] = json!(false);
    refused(root, "additionalProperties is not allowed at the root of the schema if the status subresource is enabled");
}

#[test]
fn list_type_rules_are_enforced() {
    let map_list = |key: Value| {
        json!({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
               "items": {"type": "object", "properties": {"name": key}}})
    };
    refused(
        crd_with(map_list(json!({"type": "string"})), false),
        "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
    );
    let mut defaulted = map_list(json!({"type": "string", "default": "main"}));
    assert_eq!(registration::registration_errors(&crd_with(defaulted.clone(), false)), Vec::<String>::new());
    defaulted["items"]["properties"]["name"]["nullable"] = json!(true);
    refused(crd_with(defaulted, false), "so it cannot be nullable");
    refused(crd_with(map_list(json!({"type": "object"})), false), "must be a scalar type");
    refused(
        crd_with(json!({"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "object"}}), false),
        "must be atomic as item of a list with x-kubernetes-list-type=set",
    );
    refused(
        crd_with(json!({"type": "array", "x-kubernetes-list-map-keys": ["a"], "items": {"type": "object"}}), false),
        "must be map if x-kubernetes-list-map-keys is non-empty",
    );
    refused(
        crd_with(json!({"type": "string", "x-kubernetes-list-type": "set"}), false),
        "must be array if x-kubernetes-list-type",
    );
}

#[test]
fn defaults_must_be_valid_and_survive_pruning() {
    let with_default = |default: Value| {
        crd_with(
            json!({"type": "object", "properties": {"limits": {"type": "object",
            "properties": {"max": {"type": "integer", "minimum": 1}}, "default": default}}}),
            false,
        )
    };
    assert_eq!(registration::registration_errors(&with_default(json!({"max": 3}))), Vec::<String>::new());
    refused(with_default(json!({"max": 3, "typo": 1})), "must not have unknown fields");
    refused(with_default(json!({"max": 0})), "properties[limits].default/max: Invalid value");
    let ruled = crd_with(
        json!({"type": "integer", "default": 0,
        "x-kubernetes-validations": [{"rule": "self >= 1", "message": "at least one"}]}),
        false,
    );
    refused(ruled, "at least one");
    let mut meta_default = crd_with(json!({"type": "object"}), false);
    meta_default["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["kind"] =
        json!({"type": "string", "default": "Thing"});
    refused(meta_default, "must not be set in top-level kind");
}

#[test]
fn rule_fields_are_checked_as_the_api_server_checks_them() {
    let rule = |r: Value| crd_with(json!({"type": "integer", "x-kubernetes-validations": [r]}), false);
    refused(rule(json!({"rule": ""})), "rule is not specified");
    refused(rule(json!({"rule": "self > 0", "message": "two\nlines"})), "message must not contain line breaks");
    refused(rule(json!({"rule": "self > 0", "reason": "Because"})), "reason: Unsupported value");
    let old_self = crd_with(
        json!({"type": "array", "items": {"type": "integer",
        "x-kubernetes-validations": [{"rule": "self >= oldSelf"}]}}),
        false,
    );
    refused(old_self, "oldSelf cannot be used on the uncorrelatable portion of the schema");
}

#[test]
fn names_and_printer_columns_are_checked() {
    let mut crd = crd_with(json!({"type": "object"}), false);
    crd["spec"]["names"]["shortNames"] = json!(["Th_ing"]);
    crd["spec"]["versions"][0]["additionalPrinterColumns"] =
        json!([{"name": "X", "type": "text", "jsonPath": "spec.x"}]);
    refused(crd.clone(), "spec.names.shortNames[0]: Invalid value");
    refused(crd.clone(), "additionalPrinterColumns[0].type: Unsupported value");
    refused(crd, "must be a simple json path starting with .");
}

/// Paths allowed to go without a bound, each with the reason. None today: every array, map and string a rule
/// reads in our CRDs is bounded.
const UNBOUNDED_BY_DESIGN: &[(&str, &str)] = &[];

#[test]
fn every_list_map_and_string_read_by_a_rule_is_bounded() {
    for crd in shipped_crds() {
        let missing = schema::missing_bounds(schema_of(&crd), "openAPIV3Schema", UNBOUNDED_BY_DESIGN);
        assert!(
            missing.is_empty(),
            "{}: add maxItems / maxProperties / maxLength:\n{}",
            crd["metadata"]["name"],
            missing.join("\n")
        );
    }
    // The lint would have flagged what the API server refused: strings compared by a rule, without maxLength.
    let refused = yaml_docs("tests/fixtures/crds/refused-by-apiserver-1.36.yaml");
    let missing: Vec<String> =
        refused.iter().flat_map(|c| schema::missing_bounds(schema_of(c), "openAPIV3Schema", &[])).collect();
    for path in
        ["properties[regions].items: string read by a CEL rule", "properties[zones].items: string read by a CEL rule"]
    {
        assert!(missing.iter().any(|m| m.contains(path)), "{path} not flagged in {missing:#?}");
    }
    assert!(missing.iter().any(|m| m.contains("properties[conditions]: array without maxItems")), "{missing:#?}");
}

#[test]
fn the_committed_crds_are_the_ones_the_binary_prints() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/crds/continuo.yaml")).unwrap();
    assert!(committed == cli::crds_yaml(), "regenerate with `cargo run -- crds > crds/continuo.yaml`");
}
