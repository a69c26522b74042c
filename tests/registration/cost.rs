//! The API server's static cost estimate of CEL rules, re-done offline.
//!
//! When a CRD is created or updated, the API server estimates the worst-case cost of every
//! `x-kubernetes-validations` rule from the schema's bounds and refuses the CRD when one rule is over
//! [`RULE_LIMIT`] or all of them together over [`CRD_LIMIT`]. This module follows the same rules:
//! - expression costs as cel-go's checker estimates them (`checker/cost.go`: 1 per identifier and field
//!   selection, 0 per literal, comprehensions multiplied by the size of their range, string comparisons
//!   and traversals at 0.1 per character, regular expressions at 0.25 per pattern character);
//! - sizes as Kubernetes derives them from the schema (`apiserver/pkg/cel/common/schemas.go`: `maxLength`
//!   × 4 bytes, the longest `enum` value, `maxItems`, `maxProperties`, and otherwise as many as fit in a
//!   3 MiB request);
//! - a rule's cost multiplied by how many times it can run in one object (the product of the `maxItems` and
//!   `maxProperties` above it, or what fits in a request when one of them is unbounded).
//!
//! It is calibrated on the two rules a Kubernetes 1.36 API server refused (`8.1x` over budget, see the
//! tests). Where it cannot estimate (a function it does not model), it returns an error rather than a low
//! guess, so a new rule is either estimated faithfully or fails the test that uses this.

use std::sync::LazyLock;

use kube::core::cel::cel::{
    common::ast::{CallExpr, ComprehensionExpr, EntryExpr, Expr, IdedExpr, LiteralValue, operators},
    parser::Parser,
};
use serde_json::{Value, json};

/// `StaticEstimatedCostLimit`: the most one rule may cost.
pub const RULE_LIMIT: u64 = 10_000_000;
/// `StaticEstimatedCRDCostLimit`: the most all rules of one CRD version may cost together.
pub const CRD_LIMIT: u64 = 100_000_000;
/// The largest request the API server accepts, from which it bounds what the schema leaves unbounded.
pub const MAX_REQUEST_BYTES: u64 = 3 * 1024 * 1024;

const STRING_TRAVERSAL_FACTOR: f64 = 0.1;
const REGEX_LENGTH_FACTOR: f64 = 0.25;
const LIST_CREATE_COST: u64 = 10;
const MAP_CREATE_COST: u64 = 30;
const STRUCT_CREATE_COST: u64 = 40;
const MAX_DURATION_SIZE: u64 = 32;
const MAX_DATETIME_SIZE: u64 = 32;
const DATE_SIZE: u64 = 12;

/// A range of costs or sizes; arithmetic saturates as cel-go's does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub min: u64,
    pub max: u64,
}

impl Bounds {
    pub const ZERO: Bounds = Bounds { min: 0, max: 0 };
    const UNKNOWN: Bounds = Bounds { min: 0, max: u64::MAX };

    const fn fixed(n: u64) -> Bounds {
        Bounds { min: n, max: n }
    }

    fn add(self, o: Bounds) -> Bounds {
        Bounds { min: self.min.saturating_add(o.min), max: self.max.saturating_add(o.max) }
    }

    fn mul(self, o: Bounds) -> Bounds {
        Bounds { min: self.min.saturating_mul(o.min), max: self.max.saturating_mul(o.max) }
    }

    fn factor(self, f: f64) -> Bounds {
        let scale = |x: u64| {
            let v = (x as f64 * f).ceil();
            if v >= u64::MAX as f64 { u64::MAX } else { v as u64 }
        };
        Bounds { min: scale(self.min), max: scale(self.max) }
    }

    fn union(self, o: Bounds) -> Bounds {
        Bounds { min: self.min.min(o.min), max: self.max.max(o.max) }
    }
}

/// What the estimator knows of a sub-expression's value.
#[derive(Clone, Debug)]
enum Val<'s> {
    /// Data of the object, described by its schema node: the API server sizes it from the schema.
    Data(&'s Value),
    /// A string or bytes value the expression built, of this size.
    Text(Bounds),
    /// A list or map the expression built, with this many entries of this kind.
    List(Bounds, Box<Val<'s>>),
    /// A number, boolean, duration or timestamp the expression computed (size 1).
    Scalar,
    /// Null, a type, or a dynamic value: no size is known.
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Str,
    Bytes,
    List,
    Map,
    Object,
    Scalar,
    Dyn,
}

fn type_of(s: &Value) -> &str {
    s.get("type").and_then(Value::as_str).unwrap_or("")
}

fn uint(s: &Value, key: &str) -> Option<u64> {
    s.get(key).and_then(Value::as_u64)
}

fn is_int_or_string(s: &Value) -> bool {
    s.get("x-kubernetes-int-or-string") == Some(&json!(true))
}

fn additional_properties(s: &Value) -> Option<&Value> {
    s.get("additionalProperties").filter(|a| a.is_object())
}

/// Whether the API server exposes this schema node to CEL at all (`SchemaDeclType` returns non-nil).
fn exposed(s: &Value) -> bool {
    if is_int_or_string(s) {
        return true;
    }
    match type_of(s) {
        "array" => s.get("items").is_some_and(exposed),
        "object" => additional_properties(s).is_none_or(exposed),
        "string" | "boolean" | "number" | "integer" => true,
        _ => false,
    }
}

/// `MinSerializedSize` of a schema node: the fewest bytes one value of it takes in JSON.
pub fn min_serialized_size(s: &Value) -> u64 {
    if is_int_or_string(s) {
        return 1;
    }
    match type_of(s) {
        "string" => match s.get("format").and_then(Value::as_str) {
            Some("duration") => 3,
            Some("date") => DATE_SIZE,
            Some("date-time") => 21,
            _ => 2,
        },
        "boolean" => 4,
        "number" | "integer" => 1,
        "object" if additional_properties(s).is_some() => 2,
        "object" => {
            let required: Vec<&str> = s
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let props = s.get("properties").and_then(Value::as_object);
            2 + props
                .into_iter()
                .flatten()
                .filter(|(name, p)| required.contains(&name.as_str()) && p.get("default").is_none() && exposed(p))
                .map(|(name, p)| name.len() as u64 + min_serialized_size(p) + 4)
                .sum::<u64>()
        }
        _ => 2,
    }
}

/// `MaxElements` of a schema node: the longest string, the most items or properties it can hold.
fn max_elements(s: &Value) -> u64 {
    let unbounded_string = MAX_REQUEST_BYTES - 2;
    if is_int_or_string(s) {
        return uint(s, "maxLength").map_or(unbounded_string, |l| l * 4);
    }
    match type_of(s) {
        "string" => match s.get("format").and_then(Value::as_str) {
            Some("byte") => uint(s, "maxLength").unwrap_or(unbounded_string),
            Some("duration") => MAX_DURATION_SIZE,
            Some("date") => DATE_SIZE,
            Some("date-time") => MAX_DATETIME_SIZE,
            _ => match (uint(s, "maxLength"), s.get("enum").and_then(Value::as_array)) {
                (Some(l), _) => l * 4,
                (None, Some(values)) if !values.is_empty() => {
                    values.iter().filter_map(Value::as_str).map(|v| v.len() as u64).max().unwrap_or(0)
                }
                _ => unbounded_string,
            },
        },
        "array" => uint(s, "maxItems").unwrap_or_else(|| {
            let item = s.get("items").map_or(2, min_serialized_size);
            (MAX_REQUEST_BYTES - 2) / (item + 1)
        }),
        "object" => match additional_properties(s) {
            Some(props) => {
                uint(s, "maxProperties").unwrap_or((MAX_REQUEST_BYTES - 2) / (min_serialized_size(props) + 6))
            }
            None => 0,
        },
        _ => 0,
    }
}

impl<'s> Val<'s> {
    fn kind(&self) -> Kind {
        match self {
            Val::Data(s) if is_int_or_string(s) => Kind::Dyn,
            Val::Data(s) => match type_of(s) {
                "string" => match s.get("format").and_then(Value::as_str) {
                    Some("byte") => Kind::Bytes,
                    Some("duration" | "date" | "date-time") => Kind::Scalar,
                    _ => Kind::Str,
                },
                "array" => Kind::List,
                "object" if additional_properties(s).is_some() => Kind::Map,
                "object" => Kind::Object,
                "boolean" | "number" | "integer" => Kind::Scalar,
                _ => Kind::Dyn,
            },
            Val::Text(_) => Kind::Str,
            Val::List(..) => Kind::List,
            Val::Scalar => Kind::Scalar,
            Val::Unknown => Kind::Dyn,
        }
    }

    /// cel-go's `sizeOrUnknown`: the schema's bound for data, the computed size otherwise.
    fn size(&self) -> Bounds {
        match self {
            Val::Data(s) => Bounds { min: 0, max: max_elements(s) },
            Val::Text(b) | Val::List(b, _) => *b,
            Val::Scalar => Bounds::fixed(1),
            Val::Unknown => Bounds::UNKNOWN,
        }
    }

    /// The value of one element when iterating (list items, map keys) or indexing (list items, map values).
    fn element(&self, indexing: bool) -> Val<'s> {
        match self {
            Val::Data(s) => match self.kind() {
                Kind::List => s.get("items").map_or(Val::Unknown, Val::Data),
                Kind::Map if indexing => additional_properties(s).map_or(Val::Unknown, Val::Data),
                // Map keys: Kubernetes gives them no bound of their own; assume the worst.
                Kind::Map => Val::Text(Bounds { min: 0, max: MAX_REQUEST_BYTES - 2 }),
                _ => Val::Unknown,
            },
            Val::List(_, item) => (**item).clone(),
            _ => Val::Unknown,
        }
    }
}

/// The fields the API server adds at the root of a resource for CEL (`WithTypeAndObjectMeta`).
static RESOURCE_META: LazyLock<Value> = LazyLock::new(|| {
    json!({
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object", "properties": {"name": {"type": "string"}, "generateName": {"type": "string"}}}
    })
});

struct Estimator<'s> {
    root: &'s Value,
    is_resource_root: bool,
    locals: Vec<(String, Val<'s>)>,
}

type Step<'s> = Result<(Bounds, Val<'s>), String>;

impl<'s> Estimator<'s> {
    fn expr(&mut self, e: &IdedExpr) -> Step<'s> {
        match &e.expr {
            Expr::Literal(lit) => Ok((Bounds::ZERO, literal(lit))),
            Expr::Ident(name) => self.ident(name).map(|v| (Bounds::fixed(1), v)),
            Expr::Select(sel) => {
                let (cost, operand) = self.expr(&sel.operand)?;
                if sel.test {
                    return Ok((cost.add(Bounds::fixed(1)), Val::Scalar));
                }
                let select_cost = match operand.kind() {
                    Kind::Map | Kind::Object => 1,
                    _ => 0,
                };
                Ok((cost.add(Bounds::fixed(select_cost)), self.field(&operand, &sel.field)?))
            }
            Expr::Call(call) => self.call(call),
            Expr::List(list) => {
                let mut cost = Bounds::fixed(LIST_CREATE_COST);
                let mut item: Option<Val<'s>> = None;
                for el in &list.elements {
                    let (c, v) = self.expr(el)?;
                    cost = cost.add(c);
                    item = Some(match item {
                        None => v,
                        Some(prev) => merge(prev, v),
                    });
                }
                let n = list.elements.len() as u64;
                Ok((cost, Val::List(Bounds::fixed(n), Box::new(item.unwrap_or(Val::Unknown)))))
            }
            Expr::Map(map) => {
                let mut cost = Bounds::fixed(MAP_CREATE_COST);
                for entry in &map.entries {
                    if let EntryExpr::MapEntry(m) = &entry.expr {
                        cost = cost.add(self.expr(&m.key)?.0).add(self.expr(&m.value)?.0);
                    }
                }
                let n = map.entries.len() as u64;
                Ok((cost, Val::List(Bounds::fixed(n), Box::new(Val::Unknown))))
            }
            Expr::Struct(st) => {
                let mut cost = Bounds::fixed(STRUCT_CREATE_COST);
                for entry in &st.entries {
                    if let EntryExpr::StructField(f) = &entry.expr {
                        cost = cost.add(self.expr(&f.value)?.0);
                    }
                }
                Ok((cost, Val::Unknown))
            }
            Expr::Comprehension(comp) => self.comprehension(comp),
            Expr::Unspecified => Err("unspecified expression".into()),
        }
    }

    fn ident(&self, name: &str) -> Result<Val<'s>, String> {
        if let Some((_, v)) = self.locals.iter().rev().find(|(n, _)| n == name) {
            return Ok(v.clone());
        }
        match name {
            "self" | "oldSelf" => Ok(Val::Data(self.root)),
            other => Err(format!("undeclared reference to '{other}'")),
        }
    }

    fn field(&self, operand: &Val<'s>, name: &str) -> Result<Val<'s>, String> {
        match operand {
            Val::Data(s) => match operand.kind() {
                Kind::Object => {
                    let declared = s.get("properties").and_then(|p| p.get(name)).filter(|p| exposed(p));
                    let meta = (self.is_resource_root && std::ptr::eq(*s, self.root))
                        .then(|| RESOURCE_META.get(name))
                        .flatten();
                    declared.or(meta).map(Val::Data).ok_or_else(|| format!("undefined field '{name}'"))
                }
                Kind::Map => Ok(additional_properties(s).map_or(Val::Unknown, Val::Data)),
                Kind::Dyn => Ok(Val::Unknown),
                _ => Err(format!("type '{}' does not support field selection", type_of(s))),
            },
            _ => Ok(Val::Unknown),
        }
    }

    fn call(&mut self, call: &CallExpr) -> Step<'s> {
        let (target_cost, target) = match &call.target {
            Some(t) => {
                let (c, v) = self.expr(t)?;
                (c, Some(v))
            }
            None => (Bounds::ZERO, None),
        };
        let mut arg_costs = Vec::with_capacity(call.args.len());
        let mut args = Vec::with_capacity(call.args.len());
        for a in &call.args {
            let (c, v) = self.expr(a)?;
            arg_costs.push(c);
            args.push(v);
        }
        let arg_sum = arg_costs.iter().fold(Bounds::ZERO, |acc, c| acc.add(*c));
        let o1 = Bounds::fixed(1).add(arg_sum);
        let name = call.func_name.as_str();
        let (cost, val) = match (name, target.as_ref(), args.as_slice()) {
            (operators::LOGICAL_AND | operators::LOGICAL_OR, None, [_, _]) => {
                let (l, r) = (arg_costs[0], arg_costs[1]);
                (Bounds { min: l.min, max: l.max.saturating_add(r.max) }, Val::Scalar)
            }
            (operators::CONDITIONAL, None, [_, a, b]) => {
                (arg_costs[0].add(arg_costs[1].union(arg_costs[2])), merge(a.clone(), b.clone()))
            }
            (operators::EQUALS | operators::NOT_EQUALS, None, [a, b]) => (compare(a, b).add(arg_sum), Val::Scalar),
            (
                operators::LESS | operators::LESS_EQUALS | operators::GREATER | operators::GREATER_EQUALS,
                None,
                [a, b],
            ) if matches!(a.kind(), Kind::Str | Kind::Bytes) => {
                let _ = b;
                (compare(a, b).add(arg_sum), Val::Scalar)
            }
            (operators::ADD, None, [a, b]) => match a.kind() {
                Kind::Str | Kind::Bytes => {
                    let size = a.size().add(b.size());
                    (size.factor(STRING_TRAVERSAL_FACTOR).add(arg_sum), Val::Text(size))
                }
                Kind::List => (o1, Val::List(a.size().add(b.size()), Box::new(a.element(false)))),
                _ => (o1, Val::Scalar),
            },
            (operators::IN, None, [_, list]) if list.kind() == Kind::List => (list.size().add(arg_sum), Val::Scalar),
            (operators::IN, None, [_, _]) => (o1, Val::Scalar),
            (operators::INDEX, None, [container, _]) => (o1, container.element(true)),
            ("size", _, _) => (o1, Val::Scalar),
            ("startsWith" | "endsWith", Some(_), [prefix]) => {
                (prefix.size().factor(STRING_TRAVERSAL_FACTOR).add(arg_sum), Val::Scalar)
            }
            ("contains", Some(s), [sub]) if s.kind() == Kind::Str => {
                let cost = s.size().factor(STRING_TRAVERSAL_FACTOR).mul(sub.size().factor(STRING_TRAVERSAL_FACTOR));
                (cost.add(arg_sum), Val::Scalar)
            }
            ("matches", Some(s), [re]) => {
                let text = s.size().add(Bounds::fixed(1)).factor(STRING_TRAVERSAL_FACTOR);
                (text.mul(re.size().factor(REGEX_LENGTH_FACTOR)).add(arg_sum), Val::Scalar)
            }
            ("bytes", None, [s]) if s.kind() == Kind::Str => {
                let size = s.size();
                (
                    size.factor(STRING_TRAVERSAL_FACTOR).add(arg_sum),
                    Val::Text(Bounds { min: size.min, max: size.max.saturating_mul(4) }),
                )
            }
            ("dyn", None, [v]) => (o1, v.clone()),
            ("string", None, [_]) => (o1, Val::Text(Bounds::UNKNOWN)),
            (
                operators::NOT_STRICTLY_FALSE
                | operators::LOGICAL_NOT
                | operators::NEGATE
                | operators::SUBSTRACT
                | operators::MULTIPLY
                | operators::DIVIDE
                | operators::MODULO
                | operators::LESS
                | operators::LESS_EQUALS
                | operators::GREATER
                | operators::GREATER_EQUALS
                | "int"
                | "uint"
                | "double"
                | "bool"
                | "duration"
                | "timestamp",
                None,
                _,
            ) => (o1, Val::Scalar),
            ("type", None, [_]) => (o1, Val::Unknown),
            _ => {
                return Err(format!(
                    "the estimator does not model the cost of {}{name}() with {} argument(s): add it from cel-go's \
                     checker/cost.go (or Kubernetes' library/cost.go) before using it in a rule",
                    if target.is_some() { "method " } else { "" },
                    args.len()
                ));
            }
        };
        Ok((target_cost.add(cost), val))
    }

    fn comprehension(&mut self, comp: &ComprehensionExpr) -> Step<'s> {
        let (range_cost, range) = self.expr(&comp.iter_range)?;
        let (init_cost, init) = self.expr(&comp.accu_init)?;
        let mut cost = range_cost.add(init_cost);
        let depth = self.locals.len();
        self.locals.push((comp.accu_var.clone(), init.clone()));
        match &comp.iter_var2 {
            Some(second) => {
                self.locals.push((comp.iter_var.clone(), key_of(&range)));
                self.locals.push((second.clone(), range.element(true)));
            }
            None => self.locals.push((comp.iter_var.clone(), range.element(false))),
        }
        let body = self.expr(&comp.loop_cond).and_then(|(cond, _)| Ok(cond.add(self.expr(&comp.loop_step)?.0)));
        self.locals.truncate(depth + 1);
        let result = self.expr(&comp.result);
        self.locals.truncate(depth);
        let (body, (result_cost, _)) = (body?, result?);
        let count = range.size();
        cost = cost.add(result_cost).add(count.mul(body));
        let val = match &comp.accu_init.expr {
            Expr::List(_) | Expr::Map(_) => Val::List(count, Box::new(Val::Unknown)),
            _ => init,
        };
        Ok((cost, val))
    }
}

fn key_of<'s>(v: &Val<'s>) -> Val<'s> {
    match v.kind() {
        Kind::List => Val::Scalar,
        _ => v.element(false),
    }
}

fn literal<'s>(lit: &LiteralValue) -> Val<'s> {
    match lit {
        LiteralValue::String(s) => Val::Text(Bounds::fixed(s.inner().chars().count() as u64)),
        LiteralValue::Bytes(b) => Val::Text(Bounds::fixed(b.inner().len() as u64)),
        LiteralValue::Null => Val::Unknown,
        _ => Val::Scalar,
    }
}

/// Equality and string ordering: the shorter operand is traversed.
fn compare(a: &Val<'_>, b: &Val<'_>) -> Bounds {
    let smallest = a.size().max.min(b.size().max);
    Bounds { min: u64::from(smallest > 0), max: smallest }.factor(STRING_TRAVERSAL_FACTOR)
}

/// The value of `c ? a : b`, sized to cover both branches.
fn merge<'s>(a: Val<'s>, b: Val<'s>) -> Val<'s> {
    match (a.kind(), b.kind()) {
        (Kind::Str | Kind::Bytes, Kind::Str | Kind::Bytes) => Val::Text(a.size().union(b.size())),
        (Kind::List, Kind::List) => {
            let item = a.element(false);
            Val::List(a.size().union(b.size()), Box::new(item))
        }
        (x, y) if x == y && x == Kind::Scalar => Val::Scalar,
        _ => Val::Unknown,
    }
}

/// The worst-case cost of one evaluation of `rule` on the schema node `node` (cel-go's `MaxCost`).
pub fn expression_cost(rule: &str, node: &Value, is_resource_root: bool) -> Result<u64, String> {
    let parsed = Parser::new().parse(rule).map_err(|e| format!("compilation failed: {e}"))?;
    let mut estimator = Estimator { root: node, is_resource_root, locals: Vec::new() };
    Ok(estimator.expr(&parsed)?.0.max)
}

/// One rule as the API server accounts for it.
#[derive(Debug, Clone)]
pub struct RuleCost {
    /// The path the API server reports, e.g. `...properties[spec].x-kubernetes-validations[0].rule`.
    pub path: String,
    pub rule: String,
    /// The cost of one evaluation.
    pub expression: u64,
    /// How many times it can run in one object.
    pub cardinality: u64,
    /// `expression × cardinality`: what is compared with [`RULE_LIMIT`] and summed against [`CRD_LIMIT`].
    pub total: u64,
}

/// How far over a limit a cost is, worded as the API server words it.
pub fn exceeds(cost: u64, limit: u64) -> String {
    let factor = cost as f64 / limit as f64;
    if factor > 100.0 {
        "more than 100x".to_string()
    } else if factor < 1.5 {
        format!("{factor:.6}x")
    } else {
        format!("{factor:.1}x")
    }
}

/// Every rule (and message expression) of a CRD schema, with its estimated cost, or the reasons one could not
/// be estimated. `path` is the schema's own path, e.g. `spec.validation.openAPIV3Schema`.
pub fn rule_costs(schema: &Value, path: &str) -> (Vec<RuleCost>, Vec<String>) {
    let mut out = (Vec::new(), Vec::new());
    walk(schema, path, Some(1), true, &mut out);
    out
}

fn walk(node: &Value, path: &str, cardinality: Option<u64>, is_root: bool, out: &mut (Vec<RuleCost>, Vec<String>)) {
    let rules = node.get("x-kubernetes-validations").and_then(Value::as_array);
    for (i, rule) in rules.into_iter().flatten().enumerate() {
        for (key, reported) in [("rule", "rule"), ("messageExpression", "messageExpression")] {
            let Some(text) = rule.get(key).and_then(Value::as_str) else { continue };
            let at = format!("{path}.x-kubernetes-validations[{i}].{reported}");
            match expression_cost(text, node, is_root) {
                Ok(expression) => {
                    let cardinality =
                        cardinality.unwrap_or_else(|| MAX_REQUEST_BYTES / (min_serialized_size(node) + 1));
                    let total = if expression == 0 { 0 } else { expression.saturating_mul(cardinality) };
                    out.0.push(RuleCost { path: at, rule: text.to_string(), expression, cardinality, total });
                }
                Err(e) => out.1.push(format!("{at}: {e} (in {text:?})")),
            }
        }
    }
    // How many values of each child one value of this node can hold (`extractMaxElements`).
    let fan_out = |bound: Option<u64>| cardinality.zip(bound).map(|(c, b)| c.saturating_mul(b));
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        for (name, child) in props {
            walk(child, &format!("{path}.properties[{name}]"), fan_out(Some(1)), false, out);
        }
    }
    if let Some(items) = node.get("items") {
        walk(items, &format!("{path}.items"), fan_out(uint(node, "maxItems")), false, out);
    }
    if let Some(props) = additional_properties(node) {
        walk(props, &format!("{path}.additionalProperties"), fan_out(uint(node, "maxProperties")), false, out);
    }
}

/// What the API server would answer about the cost of a CRD version's rules: empty when it accepts them.
/// Messages carry the same paths and wording as the API server's.
pub fn cost_errors(schema: &Value, path: &str) -> Vec<String> {
    let (costs, mut errors) = rule_costs(schema, path);
    for c in &costs {
        if c.total > RULE_LIMIT {
            errors.push(format!(
                "{}: Forbidden: estimated rule cost exceeds budget by factor of {} (try simplifying the rule, or \
                 adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)",
                c.path,
                exceeds(c.total, RULE_LIMIT)
            ));
        }
    }
    let total = costs.iter().fold(0u64, |acc, c| acc.saturating_add(c.total));
    if total > CRD_LIMIT {
        errors.push(format!(
            "{path}: Forbidden: x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema \
             exceeds budget by factor of {}",
            exceeds(total, CRD_LIMIT)
        ));
    }
    errors
}
