//! Whether a live object still holds every field continuo applies — so a steady state sends no write.

use serde_json::Value;

/// True when every field set in `desired` has the same value in `live`. Fields the API server or other
/// managers add (defaults, status, other labels) are ignored; a hand-edited field continuo owns is not.
pub fn holds(live: &Value, desired: &Value) -> bool {
    match (live, desired) {
        (_, Value::Null) => true,
        (Value::Object(l), Value::Object(d)) => d.iter().all(|(k, dv)| match l.get(k) {
            Some(lv) => holds(lv, dv),
            None => is_empty(dv),
        }),
        (Value::Array(l), Value::Array(d)) => l.len() == d.len() && l.iter().zip(d).all(|(lv, dv)| holds(lv, dv)),
        (Value::Number(l), Value::Number(d)) => l.as_f64() == d.as_f64(),
        (l, d) => l == d,
    }
}

/// An empty map or list that the API server drops on the way in, or a `false` it omits (Go's `omitempty` on a
/// plain bool, such as a Deployment's `spec.paused`).
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::Object(m) => m.values().all(is_empty),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn extra_live_fields_are_fine() {
        let live = json!({"spec": {"replicas": 3, "progressDeadlineSeconds": 600}, "status": {"readyReplicas": 3}});
        assert!(holds(&live, &json!({"spec": {"replicas": 3}})));
    }

    #[test]
    fn a_changed_or_missing_owned_field_is_drift() {
        let live = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a"}]}}}});
        assert!(!holds(&live, &json!({"spec": {"replicas": 3}})));
        assert!(!holds(&live, &json!({"spec": {"paused": true}})));
        assert!(!holds(
            &live,
            &json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}})
        ));
    }

    #[test]
    fn empty_desired_maps_match_absent_live_fields() {
        assert!(holds(&json!({"metadata": {}}), &json!({"metadata": {"annotations": {}}})));
    }

    #[test]
    fn a_false_the_api_omits_matches_an_absent_field_and_true_does_not() {
        assert!(holds(&json!({"spec": {"replicas": 3}}), &json!({"spec": {"paused": false}})));
        assert!(!holds(&json!({"spec": {"replicas": 3}}), &json!({"spec": {"paused": true}})));
        assert!(!holds(&json!({"spec": {"paused": true}}), &json!({"spec": {"paused": false}})));
    }
}
