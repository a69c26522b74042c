//! The CRDs: committed YAML in sync with the code, and what `kubectl apply` accepts or rejects — checked
//! offline with the CRD's own schema (structure), the API server's native list-type checks (duplicates in
//! `set` and `map` lists) and its CEL rules (evaluated by kube-cel).

use continuo::{api, cli};
use serde_json::{Value, json};

#[test]
fn committed_crds_match_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/crds/continuo.yaml")).unwrap();
    assert!(
        committed == cli::crds_yaml(),
        "crds/continuo.yaml is stale: regenerate it with `cargo run -- crds > crds/continuo.yaml`"
    );
}

fn schema_for(kind: &str) -> &'static Value {
    api::admission::schema_of(kind).expect("one of continuo's kinds")
}

/// What the API server would say to `kubectl apply` of `obj`: Ok, or every reason it is rejected.
fn admit(obj: &Value) -> Result<(), Vec<String>> {
    let schema = schema_for(obj["kind"].as_str().unwrap());
    let mut errors: Vec<String> = jsonschema::validator_for(schema)
        .unwrap()
        .iter_errors(obj)
        .map(|e| format!("{}: {}", e.instance_path(), e))
        .collect();
    errors.extend(api::admission::duplicate_items(schema, obj));
    if let Err(cel) = kube::core::cel::Validator::new().validate(schema, obj, None) {
        errors.extend(cel.as_slice().iter().map(ToString::to_string));
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

fn yaml_docs(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    serde_saphyr::from_multiple::<Value>(&text).unwrap().into_iter().filter(|d| !d.is_null()).collect()
}

fn service() -> Value {
    json!({
        "apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService",
        "metadata": {"name": "s", "namespace": "n"},
        "spec": {"className": "standard", "replicas": 3, "zones": ["a", "b"],
                 "template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}}
    })
}

fn class() -> Value {
    json!({
        "apiVersion": "continuo.dev/v1alpha1", "kind": "ContinuityClass", "metadata": {"name": "c"},
        "spec": {"mode": "Restart", "objectives": [{"scope": "Node", "rto": "15m"}, {"scope": "Zone", "rto": "1h", "rpo": "24h"}]}
    })
}

#[test]
fn shipped_examples_and_classes_are_accepted() {
    for path in [
        "examples/einvoicing-hub.yaml",
        "examples/booking-engine.yaml",
        "examples/backups/daily-7.yaml",
        "examples/backups/gfs-7-4-6.yaml",
        "examples/backups/three-a-day.yaml",
        "examples/drills/zone-loss.yaml",
        "deploy/classes.yaml",
    ] {
        // Other operators' kinds beside continuo's (a CloudNativePG Cluster) are theirs to admit.
        for doc in
            yaml_docs(path).into_iter().filter(|d| api::admission::schema_of(d["kind"].as_str().unwrap()).is_some())
        {
            assert_eq!(admit(&doc), Ok(()), "{path}: {}", doc["metadata"]["name"]);
        }
    }
    assert_eq!(admit(&service()), Ok(()));
    assert_eq!(admit(&class()), Ok(()));
}

fn rejected(obj: Value, expect: &str) {
    match admit(&obj) {
        Ok(()) => panic!("accepted, but should be rejected with {expect:?}: {obj}"),
        Err(errors) => assert!(errors.iter().any(|e| e.contains(expect)), "expected {expect:?} in {errors:?}"),
    }
}

#[test]
fn service_rules_reject_bad_input_at_apply() {
    let mut s = service();
    s["spec"]["replicas"] = json!(0);
    rejected(s, "replicas must be at least 1");

    let mut s = service();
    s["spec"]["className"] = json!("");
    rejected(s, "className must name a ContinuityClass");

    let mut s = service();
    s["spec"]["template"]["spec"]["containers"] = json!([]);
    rejected(s, "at least one container");

    let mut s = service();
    s["spec"]["template"] = json!({"metadata": {"labels": {"a": "b"}}});
    rejected(s, "at least one container");

    let mut s = service();
    s["spec"]["zones"] = json!(["a", "b", "a"]);
    rejected(s, "spec.zones[2]: Duplicate value: \"a\"");

    let mut s = service();
    s["spec"]["zones"] = json!(["a", "z".repeat(64)]);
    rejected(s, "zones/1");

    let mut s = service();
    s["spec"].as_object_mut().unwrap().remove("className");
    rejected(s, "className");
}

#[test]
fn preferred_zones_are_a_set_among_the_pinned_zones_or_are_rejected_at_apply() {
    let with = |zones: Value, preferred: Value| {
        let mut s = service();
        s["spec"]["zones"] = zones;
        s["spec"]["preferredZones"] = preferred;
        s
    };
    assert_eq!(admit(&with(json!(["a", "b", "c"]), json!(["c", "a"]))), Ok(()));
    let mut unpinned = service();
    unpinned["spec"].as_object_mut().unwrap().remove("zones");
    unpinned["spec"]["preferredZones"] = json!(["c"]);
    assert_eq!(admit(&unpinned), Ok(()), "without a pin, any zone may be preferred (residency is checked by continuo)");
    rejected(with(json!(["a", "b"]), json!(["c"])), "spec.preferredZones must be among spec.zones");
    rejected(with(json!(["a", "b"]), json!(["a", "a"])), "spec.preferredZones[1]: Duplicate value: \"a\"");
    rejected(with(json!(["a"]), json!(["z".repeat(64)])), "preferredZones/0");
}

#[test]
fn a_drill_names_its_service_and_a_known_scenario_or_is_rejected_at_apply() {
    let drill = |spec: Value| {
        json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "ContinuityDrill",
            "metadata": {"name": "d", "namespace": "n"}, "spec": spec})
    };
    assert_eq!(admit(&drill(json!({"service": "s", "scenario": "ZoneLoss", "zone": "a"}))), Ok(()));
    rejected(drill(json!({"service": "s", "scenario": "Meteor"})), "scenario");
    rejected(drill(json!({"service": "", "scenario": "ZoneLoss"})), "service");
    rejected(drill(json!({"scenario": "ZoneLoss"})), "service");
}

#[test]
fn data_entries_name_one_layer_each_under_a_unique_name_or_are_rejected_at_apply() {
    let with = |data: Value| {
        let mut s = service();
        s["spec"]["data"] = data;
        s
    };
    assert_eq!(
        admit(&with(json!([{"name": "db", "cloudNativePG": {"cluster": "pg"}},
        {"name": "files", "volSync": {"replicationSource": "rs", "destinationZone": "c"}}]))),
        Ok(())
    );
    rejected(with(json!([{"name": "db"}])), "a data entry names exactly one of cloudNativePG or volSync");
    rejected(
        with(json!([{"name": "db", "cloudNativePG": {"cluster": "pg"}, "volSync": {"replicationSource": "rs"}}])),
        "a data entry names exactly one of cloudNativePG or volSync",
    );
    rejected(
        with(
            json!([{"name": "db", "cloudNativePG": {"cluster": "a"}}, {"name": "db", "cloudNativePG": {"cluster": "b"}}]),
        ),
        "spec.data[1]: Duplicate value: [\"db\"]",
    );
    rejected(with(json!([{"name": "db", "cloudNativePG": {"cluster": ""}}])), "cluster");
}

#[test]
fn class_rules_reject_bad_input_at_apply() {
    let mut c = class();
    c["spec"]["mode"] = json!("Active");
    rejected(c, "Active");

    let mut c = class();
    c["spec"]["objectives"] = json!([{"scope": "Zone", "rto": "1h"}, {"scope": "Zone", "rto": "2h"}]);
    rejected(c, "spec.objectives[1]: Duplicate value: [\"Zone\"]");

    let mut c = class();
    c["spec"]["residency"] = json!({"regions": ["eu-south-1", "eu-south-1"]});
    rejected(c, "spec.residency.regions[1]: Duplicate value");

    for bad in ["15 minutes", "15", "-1m", "1d", ""] {
        let mut c = class();
        c["spec"]["objectives"][0]["rto"] = json!(bad);
        rejected(c, "rto");
    }

    let mut c = class();
    c["spec"]["objectives"][0]["scope"] = json!("Galaxy");
    rejected(c, "Galaxy");

    let mut c = class();
    c["spec"]["residency"] = json!({"regions": []});
    rejected(c, "regions");
}

#[test]
fn an_availability_target_outside_0_to_100_or_a_malformed_time_zone_is_rejected_at_apply() {
    let with = |availability: Value| {
        let mut c = class();
        c["spec"]["availability"] = availability;
        c
    };
    assert_eq!(admit(&with(json!({"target": "99.9", "minZones": 2, "timeZone": "Europe/Rome"}))), Ok(()));
    assert_eq!(admit(&with(json!({"target": "99.95"}))), Ok(()));
    for bad in ["100", "0", "0.0", "101", "-5", "99.", "ninety", "100.0"] {
        rejected(with(json!({"target": bad})), "target");
    }
    rejected(with(json!({"target": "99.9", "minZones": 0})), "minZones");
    rejected(with(json!({"target": "99.9", "timeZone": "Europe/../Rome"})), "timeZone");
    rejected(with(json!({"minZones": 2})), "target");
    let mut s = service();
    s["spec"]["progressDeadlineSeconds"] = json!(5);
    rejected(s, "progressDeadlineSeconds");
}

#[test]
fn conditions_and_zones_merge_as_maps_under_server_side_apply() {
    let schema = schema_for("ResilientService");
    let status = &schema["properties"]["status"]["properties"];
    assert_eq!(status["conditions"]["x-kubernetes-list-type"], "map");
    assert_eq!(status["conditions"]["x-kubernetes-list-map-keys"], json!(["type"]));
    assert_eq!(status["zones"]["x-kubernetes-list-map-keys"], json!(["name"]));
}

#[test]
fn status_subresource_and_printer_columns_are_declared() {
    let crd = api::crds().into_iter().find(|c| c.spec.names.kind == "ResilientService").unwrap();
    let v = &crd.spec.versions[0];
    assert!(v.subresources.as_ref().unwrap().status.is_some());
    let columns: Vec<&str> = v.additional_printer_columns.as_ref().unwrap().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(columns, ["Class", "Replicas", "Ready", "Zones", "Objectives", "Status", "Age"]);
}

fn backup_class() -> Value {
    let mut c = class();
    c["spec"]["backup"] = json!({"timeZone": "Europe/Rome", "tiers": [
        {"name": "intraday", "schedule": "0 2,7,16 * * *", "keep": {"within": "48h"}},
        {"name": "archive", "schedule": "0 2 * * *", "keep": {"within": "4320h"}}]});
    c
}

#[test]
fn backup_fields_reject_bad_input_at_apply() {
    assert_eq!(admit(&backup_class()), Ok(()));

    let mut c = backup_class();
    c["spec"]["backup"]["tiers"][1]["name"] = json!("intraday");
    rejected(c, "spec.backup.tiers[1]: Duplicate value");

    let mut c = backup_class();
    c["spec"]["backup"]["tiers"][0]["keep"] = json!({});
    rejected(c, "this tier would keep no copy");

    let mut c = backup_class();
    c["spec"]["backup"]["tiers"][0]["keep"] = json!({"daily": 0});
    rejected(c, "daily");

    for bad in ["0 2 * *", "every day", "@every 1h", "0 2 * * * *"] {
        let mut c = backup_class();
        c["spec"]["backup"]["tiers"][0]["schedule"] = json!(bad);
        rejected(c, "schedule");
    }

    let mut c = backup_class();
    c["spec"]["backup"]["timeZone"] = json!("Rome time");
    rejected(c, "timeZone");

    let mut s = service();
    s["spec"]["backup"] = json!({"location": "offsite-eu", "agent": {"spec": {"containers": []}}});
    rejected(s, "agent.spec.containers must list at least one container");

    let location = json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "BackupLocation",
        "metadata": {"name": "offsite"}, "spec": {"region": "eu-south-2"}});
    assert_eq!(admit(&location), Ok(()));
    let restore = json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "RestoreRequest",
        "metadata": {"name": "r", "namespace": "n"}, "spec": {"service": "hub", "point": "hub-1"}});
    assert_eq!(admit(&restore), Ok(()));
    let mut both = restore.clone();
    both["spec"]["before"] = json!("2026-11-24T00:00:00Z");
    rejected(both, "name a recovery point or a point in time, not both");
    let mut no_region = location.clone();
    no_region["spec"] = json!({"zone": "eu-south-2a"});
    rejected(no_region, "region");
}
