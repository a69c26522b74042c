//! Value formats and schema pieces that several kinds share: below every kind's file, so none needs another's.

/// An IANA time zone name (`Europe/Rome`, `UTC`); whether it exists is checked by continuo.
pub const TIME_ZONE_PATTERN: &str = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$";

/// A Service's ports, validated by the Service API when continuo applies them; the CRD keeps their structure with
/// every string bounded (as the Service API bounds them), since a rule on the spec reads the whole spec. These are
/// all of a ServicePort's fields: anything else (a misspelt field) is pruned at admission, as before.
pub fn service_ports_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "description": "Ports as in a Service.",
        "minItems": 1,
        "maxItems": 64,
        "items": {
            "type": "object",
            "required": ["port"],
            "properties": {
                "name": {"type": "string", "maxLength": 63},
                "port": {"type": "integer", "format": "int32"},
                "targetPort": {"x-kubernetes-int-or-string": true, "maxLength": 63},
                "protocol": {"type": "string", "enum": ["TCP", "UDP", "SCTP"]},
                "appProtocol": {"type": "string", "maxLength": 317},
                "nodePort": {"type": "integer", "format": "int32"}
            }
        }
    })
}

/// The pod template is validated by the Deployment API when continuo applies it; the CRD keeps only the
/// structure its own rules need (at least one container), which keeps the CRD small.
pub fn pod_template_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "description": "A pod template, as in a Deployment.",
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {
            "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "spec": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": true,
                "required": ["containers"],
                "properties": {
                    "containers": {
                        "type": "array",
                        "maxItems": 64,
                        "items": {
                            "type": "object",
                            "required": ["name"],
                            "x-kubernetes-preserve-unknown-fields": true,
                            "properties": {"name": {"type": "string", "maxLength": 63}}
                        }
                    }
                }
            }
        }
    })
}
