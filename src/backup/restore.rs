//! Which recovery point a restore request names, or why it cannot be restored. Pure.

use kube::ResourceExt;

use crate::api::{RecoveryPoint, RestoreRequest};

/// The point `req` asks for among the service's `points`: the named one (which must be the service's own and
/// available), the newest captured at or before `before`, or the newest.
pub fn resolve<'a>(req: &RestoreRequest, points: &'a [RecoveryPoint]) -> Result<&'a RecoveryPoint, String> {
    let service = &req.spec.service;
    if let Some(name) = &req.spec.point {
        let p = points
            .iter()
            .find(|p| &p.name_any() == name)
            .ok_or_else(|| format!("recovery point {name:?} does not exist in this namespace"))?;
        if &p.spec.service != service {
            return Err(format!("recovery point {name:?} belongs to service {:?}, not {service:?}", p.spec.service));
        }
        p.available_since().ok_or_else(|| format!("recovery point {name:?} is not an available copy"))?;
        return Ok(p);
    }
    let before = req.spec.before.as_ref().map(|t| t.0);
    points
        .iter()
        .filter(|p| &p.spec.service == service)
        .filter_map(|p| Some((p.available_since()?, p)))
        .filter(|(at, _)| before.is_none_or(|b| *at <= b))
        .max_by_key(|(at, p)| (*at, p.name_any()))
        .map(|(_, p)| p)
        .ok_or_else(|| match before {
            Some(b) => format!("service {service:?} has no copy captured at or before {b}"),
            None => format!("service {service:?} has no copy to restore"),
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn point(name: &str, service: &str, at: &str, phase: &str) -> RecoveryPoint {
        serde_json::from_value(json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "RecoveryPoint",
            "metadata": {"name": name, "namespace": "n"}, "spec": {"service": service, "location": "l"},
            "status": {"phase": phase, "capturedAt": at}}))
        .unwrap()
    }

    fn req(spec: serde_json::Value) -> RestoreRequest {
        serde_json::from_value(json!({"apiVersion": "continuo.dev/v1alpha1", "kind": "RestoreRequest",
            "metadata": {"name": "r", "namespace": "n"}, "spec": spec}))
        .unwrap()
    }

    fn points() -> Vec<RecoveryPoint> {
        vec![
            point("hub-1", "hub", "2026-11-23T01:00:00Z", "Available"),
            point("hub-2", "hub", "2026-11-24T01:00:00Z", "Available"),
            point("hub-3", "hub", "2026-11-25T01:00:00Z", "Deleting"),
            point("other-1", "other", "2026-11-25T02:00:00Z", "Available"),
        ]
    }

    #[test]
    fn a_point_in_time_restores_the_newest_copy_at_or_before_it() {
        let p = points();
        assert_eq!(resolve(&req(json!({"service": "hub"})), &p).unwrap().name_any(), "hub-2", "newest available");
        let r = req(json!({"service": "hub", "before": "2026-11-23T12:00:00Z"}));
        assert_eq!(resolve(&r, &p).unwrap().name_any(), "hub-1");
        let r = req(json!({"service": "hub", "before": "2026-11-20T00:00:00Z"}));
        assert!(resolve(&r, &p).unwrap_err().contains("no copy captured at or before"));
    }

    #[test]
    fn a_point_that_does_not_exist_or_is_another_services_is_refused() {
        let p = points();
        assert!(resolve(&req(json!({"service": "hub", "point": "hub-9"})), &p).unwrap_err().contains("does not exist"));
        let err = resolve(&req(json!({"service": "hub", "point": "other-1"})), &p).unwrap_err();
        assert!(err.contains("belongs to service \"other\""), "{err}");
        assert!(
            resolve(&req(json!({"service": "hub", "point": "hub-3"})), &p)
                .unwrap_err()
                .contains("not an available copy")
        );
        assert_eq!(resolve(&req(json!({"service": "hub", "point": "hub-1"})), &p).unwrap().name_any(), "hub-1");
    }
}
