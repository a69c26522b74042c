//! The book's reference pages, generated from what the code declares: every field of every CRD from its
//! OpenAPI schema (descriptions, types, defaults, bounds, the CEL rules the API server checks), and every metric
//! the operator exports from its registry. The committed pages are compared with these; they never drift.

use std::fmt::Write;

use serde_json::Value;

/// The custom resources, one section each, in the order `continuo crds` writes them.
pub fn crds() -> String {
    let mut out = String::from(
        "# Custom resources\n\n<!-- Generated from the CRDs' schemas by tests/docs.rs: \
         CONTINUO_BLESS=1 cargo nextest run --test docs rewrites it. -->\n\n\
         Every field the API server accepts, from the schema `continuo crds` writes (`crds/continuo.yaml`). \
         Rules marked *checked at apply* are CEL rules: `kubectl apply` refuses a document that breaks one, \
         with the message shown.\n",
    );
    for crd in continuo::api::crds() {
        let crd = serde_json::to_value(&crd).expect("a CRD is JSON");
        crd_section(&mut out, &crd);
    }
    out
}

fn crd_section(out: &mut String, crd: &Value) {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let kind = names["kind"].as_str().unwrap_or_default();
    let short: Vec<String> = names["shortNames"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|s| format!("`{s}`"))
        .collect();
    for version in spec["versions"].as_array().into_iter().flatten() {
        let api =
            format!("{}/{}", spec["group"].as_str().unwrap_or_default(), version["name"].as_str().unwrap_or_default());
        let _ = write!(out, "\n## {kind}\n\n`{api}` · {}", spec["scope"].as_str().unwrap_or_default().to_lowercase());
        if !short.is_empty() {
            let _ = write!(out, " · short names {}", short.join(", "));
        }
        out.push_str("\n\n");
        let schema = &version["schema"]["openAPIV3Schema"];
        if let Some(d) = schema["description"].as_str().filter(|d| !d.starts_with("Auto-generated")) {
            let _ = writeln!(out, "{}\n", one_line(d));
        }
        let columns: Vec<String> = version["additionalPrinterColumns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(|n| format!("`{n}`")))
            .collect();
        if !columns.is_empty() {
            let _ = writeln!(out, "`kubectl get` shows: {}.\n", columns.join(", "));
        }
        out.push_str("| Field | Type | Description |\n|---|---|---|\n");
        let mut rules = Vec::new();
        for part in ["spec", "status"] {
            let sub = &schema["properties"][part];
            if !sub.is_null() {
                let required = schema["required"].as_array().is_some_and(|r| r.iter().any(|x| x == part));
                field(out, &mut rules, part, sub, required);
            }
        }
        if !rules.is_empty() {
            out.push_str("\nChecked at apply:\n\n");
            for (path, message, rule) in rules {
                let _ = writeln!(out, "- `{path}`: {message} (`{}`)", rule.replace('`', "'"));
            }
        }
    }
}

/// One row for `path`, then its children.
fn field(out: &mut String, rules: &mut Vec<(String, String, String)>, path: &str, s: &Value, required: bool) {
    let _ =
        writeln!(out, "| `{path}` | {} | {} |", type_of(s, required), cell(s["description"].as_str().unwrap_or("")));
    for v in s["x-kubernetes-validations"].as_array().into_iter().flatten() {
        let rule = v["rule"].as_str().unwrap_or_default().to_string();
        let message = v["message"].as_str().map(str::to_string).unwrap_or_else(|| format!("must satisfy `{rule}`"));
        rules.push((path.to_string(), one_line(&message), one_line(&rule)));
    }
    let required: Vec<&str> = s["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    if let Some(props) = s["properties"].as_object() {
        for (name, sub) in props {
            field(out, rules, &format!("{path}.{name}"), sub, required.contains(&name.as_str()));
        }
    }
    if s["items"].is_object()
        && (s["items"]["properties"].is_object() || s["items"]["x-kubernetes-validations"].is_array())
    {
        field(out, rules, &format!("{path}[]"), &s["items"], false);
    }
    if s["additionalProperties"]["properties"].is_object() {
        field(out, rules, &format!("{path}.<key>"), &s["additionalProperties"], false);
    }
}

fn type_of(s: &Value, required: bool) -> String {
    let mut t = match s["type"].as_str() {
        Some("array") => format!("array of {}", s["items"]["type"].as_str().unwrap_or("object")),
        Some("object") if s["additionalProperties"].is_object() => {
            format!("map of {}", s["additionalProperties"]["type"].as_str().unwrap_or("object"))
        }
        Some(t) => t.to_string(),
        None if s["x-kubernetes-int-or-string"] == true => "integer or string".into(),
        None => "any".into(),
    };
    if let Some(f) = s["format"].as_str() {
        let _ = write!(t, " ({f})");
    }
    if s["x-kubernetes-preserve-unknown-fields"] == true {
        t.push_str(", kept as written");
    }
    let mut notes = Vec::new();
    if required {
        notes.push("**required**".to_string());
    }
    if let Some(e) = s["enum"].as_array().or(s["items"]["enum"].as_array()) {
        let values: Vec<String> =
            e.iter().map(|v| format!("`{}`", v.as_str().map_or_else(|| v.to_string(), str::to_string))).collect();
        notes.push(format!("one of {}", values.join(", ")));
    }
    if !s["default"].is_null() {
        notes.push(format!("default `{}`", s["default"]));
    }
    for (key, word) in [
        ("minimum", "≥"),
        ("maximum", "≤"),
        ("minItems", "items ≥"),
        ("maxItems", "items ≤"),
        ("minLength", "length ≥"),
        ("maxLength", "length ≤"),
    ] {
        if let Some(n) = s[key].as_f64() {
            notes.push(format!("{word} {n}"));
        }
    }
    if let Some(p) = s["pattern"].as_str() {
        notes.push(format!("pattern `{}`", p.replace('|', "\\|")));
    }
    if notes.is_empty() { t } else { format!("{t}; {}", notes.join("; ")) }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn cell(s: &str) -> String {
    one_line(s).replace('|', "\\|")
}

/// Every metric the operator exports: its name as scraped, type, help, and labels.
pub fn metrics() -> String {
    let mut out = String::from(
        "# Metrics\n\n<!-- Generated from the operator's registry by tests/docs.rs: \
         CONTINUO_BLESS=1 cargo nextest run --test docs rewrites it. -->\n\n\
         Served in the OpenMetrics format on the admin port's `/metrics` (the chart's ServiceMonitor scrapes it). \
         Per-service series are computed from the cache at scrape time, so a deleted service leaves none behind; \
         their labels are bounded by the number of services, zones and scopes. See [Metrics](../operating/metrics.md) \
         for what to watch.\n\n## The operator\n\n| Metric | Type | Labels | Meaning |\n|---|---|---|---|\n",
    );
    let text = continuo::metrics::every_family().expect("the registry renders");
    for (name, kind, help, labels) in families(&text) {
        let _ = writeln!(out, "| `{name}` | {kind} | {labels} | {} |", cell(&help));
    }
    out.push_str(
        "\n## Per service\n\nEvery series carries `namespace` and `service`; the zone, scope, objective, condition \
         type, source or scenario it is about is a further label.\n\n| Metric | Type | Meaning |\n|---|---|---|\n",
    );
    for (name, help) in continuo::metrics::SERVICE_GAUGES {
        let _ = writeln!(out, "| `{name}` | gauge | {} |", cell(help));
    }
    for (name, help) in continuo::metrics::SERVICE_COUNTERS {
        let _ = writeln!(out, "| `{name}_total` | counter | {} |", cell(help));
    }
    out.push_str("\n## Per zone\n\n| Metric | Type | Meaning |\n|---|---|---|\n");
    for (name, help) in continuo::metrics::BLAST_RADIUS {
        let _ = writeln!(out, "| `{name}` | gauge (label `zone`) | {} |", cell(help));
    }
    out.push_str(
        "\n## The site controller (`continuo sites`, on Karmada's control plane)\n\n| Metric | Type | Meaning |\n|---|---|---|\n",
    );
    for (name, kind, help) in continuo::metrics::sites::SITE_FAMILIES {
        let _ = writeln!(out, "| `{name}` | {kind} | {} |", cell(help));
    }
    out
}

/// (name as scraped, type, help, labels) of each family in an exposition.
fn families(text: &str) -> Vec<(String, String, String, String)> {
    let mut out: Vec<(String, String, String, String)> = Vec::new();
    let mut help = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = rest.split_once(' ').map(|(_, h)| h.to_string()).unwrap_or_default();
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            let scraped = if kind == "counter" { format!("{name}_total") } else { name.to_string() };
            out.push((scraped, kind.to_string(), help.clone(), String::new()));
        } else if let (Some(last), Some((_, labels))) = (out.last_mut(), line.split_once('{'))
            && last.3.is_empty()
        {
            let names: Vec<String> = labels
                .split(',')
                .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.trim()))
                .filter(|k| *k != "le")
                .map(|k| format!("`{k}`"))
                .collect();
            last.3 = names.join(", ");
        }
    }
    out
}
