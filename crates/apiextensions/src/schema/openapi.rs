//! OpenAPI v3 validation of custom resources (upstream kube-openapi
//! `validate.SchemaValidator` plus apiextensions'
//! `kubeOpenAPIResultToFieldErrors`).
//!
//! Messages carry the kube-openapi shape
//! (`spec.replicas in body must be of type integer: "string"`) and the
//! field errors the apiextensions conversion makes of them. Validators run
//! in kube-openapi's order for every node: type, allOf/anyOf/oneOf/not,
//! string, format, number, array, enum, object.

use corten_apimachinery::{ErrorList, FieldError, FieldErrorType, Path};
use serde_json::{Map, Value};

use super::{Additional, Node, formats, is_json_int};
use crate::go_fmt;

/// One kube-openapi failure, before it becomes a field error.
#[derive(Debug, Clone)]
enum Failure {
    InvalidType {
        name: String,
        type_name: String,
        value: String,
    },
    Required {
        name: String,
    },
    TooLong {
        name: String,
        max: i64,
    },
    Invalid {
        name: String,
        value: Value,
        message: String,
    },
    Enum {
        name: String,
        value: Value,
        allowed: Vec<Value>,
    },
    TooMany {
        name: String,
        actual: i64,
        max: i64,
    },
    /// anyOf/oneOf/allOf/not summaries: not tied to a field.
    Composite(String),
}

#[derive(Default)]
struct Outcome {
    failures: Vec<Failure>,
    matches: usize,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.failures.extend(other.failures);
        self.matches += other.matches;
    }
    fn fail(&mut self, f: Failure) {
        self.failures.push(f);
    }
    fn is_valid(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Validates `data` against `schema` (the whole custom resource at the
/// root) and returns upstream's field errors.
pub(crate) fn validate(schema: &Node, data: &Value) -> ErrorList {
    validate_at(schema, data, None)
}

/// Like [`validate`], with error paths below `base` (upstream passes a nil
/// path for custom resources, rendered `<nil>` for whole-object errors).
pub(crate) fn validate_at(schema: &Node, data: &Value, base: Option<&Path>) -> ErrorList {
    let out = validate_node(schema, "", data);
    out.failures
        .into_iter()
        .map(|f| to_field_error(f, base))
        .collect()
}

fn err_field(name: &str, base: Option<&Path>) -> String {
    let trimmed = name.strip_prefix('.').unwrap_or(name);
    match (base, name.is_empty() || name == ".") {
        (None, true) => "<nil>".to_string(),
        (None, false) => trimmed.to_string(),
        (Some(b), true) => b.to_string(),
        (Some(b), false) => b.child(trimmed).to_string(),
    }
}

fn to_field_error(f: Failure, base: Option<&Path>) -> FieldError {
    let err_field = |name: &str| err_field(name, base);
    let mk = |t: FieldErrorType, field: String, bad: Option<Value>, detail: String| FieldError {
        error_type: t,
        field,
        bad_value: bad,
        detail,
    };
    match f {
        Failure::InvalidType {
            name,
            type_name,
            value,
        } => {
            let detail = format!(
                "{name} in body must be of type {type_name}: {}",
                go_fmt::quote(&value)
            );
            mk(
                FieldErrorType::TypeInvalid,
                err_field(&name),
                Some(Value::String(value)),
                detail,
            )
        }
        Failure::Required { name } => mk(
            FieldErrorType::Required,
            err_field(&name),
            None,
            String::new(),
        ),
        Failure::TooLong { name, max } => {
            let unit = if max == 1 { "byte" } else { "bytes" };
            mk(
                FieldErrorType::TooLong,
                err_field(&name),
                None,
                format!("may not be more than {max} {unit}"),
            )
        }
        Failure::Invalid {
            name,
            value,
            message,
        } => mk(
            FieldErrorType::Invalid,
            err_field(&name),
            Some(value),
            message,
        ),
        Failure::Enum {
            name,
            value,
            allowed,
        } => {
            let quoted: Vec<String> = allowed
                .iter()
                .map(|v| match v {
                    Value::String(s) => go_fmt::quote(s),
                    other => go_fmt::quote(&other.to_string()),
                })
                .collect();
            mk(
                FieldErrorType::NotSupported,
                err_field(&name),
                Some(go_fmt::number_value(&value)),
                format!("supported values: {}", quoted.join(", ")),
            )
        }
        Failure::TooMany { name, actual, max } => mk(
            FieldErrorType::TooMany,
            err_field(&name),
            Some(Value::from(actual)),
            format!("must have at most {max} items"),
        ),
        Failure::Composite(msg) => mk(
            FieldErrorType::Invalid,
            base.map_or_else(|| "<nil>".to_string(), |b| b.to_string()),
            Some(Value::String(String::new())),
            msg,
        ),
    }
}

fn child_name(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The JSON type kube-openapi infers for a decoded value.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if is_json_int(n) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn as_f64(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// Go's `swag.IsFloat64AJSONInteger`.
fn is_json_integer(f: f64) -> bool {
    if !f.is_finite() || f.abs() > 9_007_199_254_740_992.0 {
        return false;
    }
    (f - f.trunc()).abs() < 1e-9
}

fn schema_types(s: &Node) -> Vec<&str> {
    if s.x_int_or_string {
        vec!["integer", "string"]
    } else if s.type_.is_empty() {
        Vec::new()
    } else {
        vec![s.type_.as_str()]
    }
}

fn validate_node(s: &Node, path: &str, data: &Value) -> Outcome {
    let mut out = Outcome::default();
    let types = schema_types(s);
    if data.is_null() {
        if !types.is_empty() && !s.nullable {
            out.fail(Failure::InvalidType {
                name: path.to_string(),
                type_name: types.join(","),
                value: "null".to_string(),
            });
        }
        enum_check(s, path, data, &mut out);
        return out;
    }
    type_check(s, &types, path, data, &mut out);
    props_check(s, path, data, &mut out);
    if let Value::String(text) = data {
        string_check(s, path, text, &mut out);
        if let Some(f) = formats::normalize(&s.format) {
            out.matches += 1;
            if !formats::validates(f, text) {
                out.fail(Failure::InvalidType {
                    name: path.to_string(),
                    type_name: s.format.clone(),
                    value: text.clone(),
                });
            }
        }
    }
    if let Value::Number(_) = data {
        number_check(s, path, data, &mut out);
    }
    if let Value::Array(items) = data {
        array_check(s, path, items, &mut out);
    }
    enum_check(s, path, data, &mut out);
    if let Value::Object(m) = data {
        object_check(s, path, m, &mut out);
    }
    out.matches += 1;
    out
}

fn type_check(s: &Node, types: &[&str], path: &str, data: &Value, out: &mut Outcome) {
    if types.is_empty() && s.format.is_empty() {
        return;
    }
    out.matches += 1;
    let sch = json_type(data);
    let contains = |t: &str| types.contains(&t);
    let is_float_int = sch == "number" && is_json_integer(as_f64(data)) && contains("integer");
    let is_int_float = sch == "integer" && contains("number");
    if types.is_empty() {
        return;
    }
    if !(contains(sch) || is_float_int || is_int_float) {
        out.fail(Failure::InvalidType {
            name: path.to_string(),
            type_name: types.join(","),
            value: sch.to_string(),
        });
    }
}

fn props_check(s: &Node, path: &str, data: &Value, out: &mut Outcome) {
    if !s.any_of.is_empty() {
        let mut best: Option<Outcome> = None;
        let mut succeeded = false;
        for sub in &s.any_of {
            let r = validate_node(sub, path, data);
            if r.is_valid() {
                succeeded = true;
                best = None;
                break;
            }
            if best.as_ref().is_none_or(|b| r.matches > b.matches) {
                best = Some(r);
            }
        }
        if !succeeded {
            out.fail(Failure::Composite(format!(
                "{} must validate at least one schema (anyOf)",
                go_fmt::quote(path)
            )));
        }
        if let Some(b) = best {
            out.merge(b);
        }
    }
    if !s.one_of.is_empty() {
        let mut best: Option<Outcome> = None;
        let mut validated = 0;
        for sub in &s.one_of {
            let r = validate_node(sub, path, data);
            if r.is_valid() {
                validated += 1;
                best = None;
                continue;
            }
            if validated == 0 && best.as_ref().is_none_or(|b| r.matches > b.matches) {
                best = Some(r);
            }
        }
        if validated != 1 {
            let extra = if validated == 0 {
                "Found none valid".to_string()
            } else {
                format!("Found {validated} valid alternatives")
            };
            out.fail(Failure::Composite(format!(
                "{} must validate one and only one schema (oneOf). {extra}",
                go_fmt::quote(path)
            )));
            if let Some(b) = best {
                out.merge(b);
            }
        }
    }
    if !s.all_of.is_empty() {
        let mut validated = 0;
        for sub in &s.all_of {
            let r = validate_node(sub, path, data);
            if r.is_valid() {
                validated += 1;
            }
            out.merge(r);
        }
        if validated != s.all_of.len() {
            let extra = if validated == 0 {
                ". None validated"
            } else {
                ""
            };
            out.fail(Failure::Composite(format!(
                "{} must validate all the schemas (allOf){extra}",
                go_fmt::quote(path)
            )));
        }
    }
    if let Some(not) = &s.not
        && validate_node(not, path, data).is_valid()
    {
        out.fail(Failure::Composite(format!(
            "{} must not validate the schema (not)",
            go_fmt::quote(path)
        )));
    }
}

fn string_check(s: &Node, path: &str, text: &str, out: &mut Outcome) {
    if s.max_length.is_none() && s.min_length.is_none() && s.pattern.is_empty() {
        return;
    }
    out.matches += 1;
    let len = text.chars().count() as i64;
    if let Some(max) = s.max_length
        && len > max
    {
        out.fail(Failure::TooLong {
            name: path.to_string(),
            max,
        });
    }
    if let Some(min) = s.min_length
        && len < min
    {
        out.fail(Failure::Invalid {
            name: path.to_string(),
            value: Value::String(text.to_string()),
            message: format!("{path} in body should be at least {min} chars long"),
        });
    }
    if let Some(Ok(re)) = &s.pattern_re
        && !re.is_match(text)
    {
        out.fail(Failure::Invalid {
            name: path.to_string(),
            value: Value::String(text.to_string()),
            message: format!("{path} in body should match '{}'", s.pattern),
        });
    }
}

fn number_check(s: &Node, path: &str, data: &Value, out: &mut Outcome) {
    if s.multiple_of.is_none() && s.maximum.is_none() && s.minimum.is_none() {
        return;
    }
    out.matches += 1;
    let f = as_f64(data);
    let shown = go_fmt::number_value(data);
    if let Some(factor) = s.multiple_of {
        if factor <= 0.0 {
            out.fail(Failure::Invalid {
                name: path.to_string(),
                value: Value::from(factor),
                message: format!(
                    "factor MultipleOf declared for {path} must be positive: {}",
                    go_fmt::float(factor)
                ),
            });
        } else {
            let mult = if factor < 1.0 {
                1.0 / factor * f
            } else {
                f / factor
            };
            if !is_json_integer(mult) {
                out.fail(Failure::Invalid {
                    name: path.to_string(),
                    value: shown.clone(),
                    message: format!(
                        "{path} in body should be a multiple of {}",
                        go_fmt::float(factor)
                    ),
                });
            }
        }
    }
    if let Some(min) = s.minimum {
        let bad = if s.exclusive_minimum {
            f <= min
        } else {
            f < min
        };
        if bad {
            let how = if s.exclusive_minimum {
                "greater than"
            } else {
                "greater than or equal to"
            };
            out.fail(Failure::Invalid {
                name: path.to_string(),
                value: shown.clone(),
                message: format!("{path} in body should be {how} {}", go_fmt::float(min)),
            });
        }
    }
    if let Some(max) = s.maximum {
        let bad = if s.exclusive_maximum {
            f >= max
        } else {
            f > max
        };
        if bad {
            let how = if s.exclusive_maximum {
                "less than"
            } else {
                "less than or equal to"
            };
            out.fail(Failure::Invalid {
                name: path.to_string(),
                value: shown,
                message: format!("{path} in body should be {how} {}", go_fmt::float(max)),
            });
        }
    }
}

fn array_check(s: &Node, path: &str, items: &[Value], out: &mut Outcome) {
    out.matches += 1;
    if let Some(item_schema) = &s.items {
        for (i, item) in items.iter().enumerate() {
            out.merge(validate_node(item_schema, &format!("{path}[{i}]"), item));
        }
    }
    let size = items.len() as i64;
    if let Some(min) = s.min_items
        && size < min
    {
        out.fail(Failure::Invalid {
            name: path.to_string(),
            value: Value::from(size),
            message: format!("{path} in body should have at least {min} items"),
        });
    }
    if let Some(max) = s.max_items
        && size > max
    {
        out.fail(Failure::TooMany {
            name: path.to_string(),
            actual: size,
            max,
        });
    }
    if s.unique_items {
        let mut seen = std::collections::HashSet::new();
        if !items.iter().all(|i| seen.insert(i.to_string())) {
            out.fail(Failure::Invalid {
                name: path.to_string(),
                value: Value::String(String::new()),
                message: format!("{path} in body shouldn't contain duplicates"),
            });
        }
    }
}

fn json_equal_for_enum(data: &Value, allowed: &Value) -> bool {
    match (data, allowed) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

fn enum_check(s: &Node, path: &str, data: &Value, out: &mut Outcome) {
    let Some(allowed) = &s.enum_ else { return };
    if allowed.is_empty() {
        return;
    }
    out.matches += 1;
    let ok = !data.is_null()
        && allowed
            .iter()
            .any(|a| !a.is_null() && json_equal_for_enum(data, a));
    if !ok {
        out.fail(Failure::Enum {
            name: path.to_string(),
            value: data.clone(),
            allowed: allowed.clone(),
        });
    }
}

fn object_check(s: &Node, path: &str, m: &Map<String, Value>, out: &mut Outcome) {
    out.matches += 1;
    let n = m.len() as i64;
    if let Some(min) = s.min_properties
        && n < min
    {
        out.fail(Failure::Invalid {
            name: path.to_string(),
            value: Value::from(n),
            message: format!("{path} in body should have at least {min} properties"),
        });
        return;
    }
    if let Some(max) = s.max_properties
        && n > max
    {
        out.fail(Failure::TooMany {
            name: path.to_string(),
            actual: n,
            max,
        });
        return;
    }
    match &s.additional_properties {
        Some(Additional::Bool(false)) => {
            for k in m.keys() {
                if s.prop(k).is_none() {
                    out.fail(Failure::Invalid {
                        name: path.to_string(),
                        value: Value::String(k.clone()),
                        message: format!("{path}.{k} in body is a forbidden property"),
                    });
                }
            }
        }
        Some(Additional::Schema(add)) => {
            for (k, v) in m {
                if s.prop(k).is_none() {
                    out.merge(validate_node(add, &format!("{path}.{k}"), v));
                }
            }
        }
        _ => {}
    }
    for (name, prop) in &s.properties {
        if let Some(v) = m.get(name) {
            out.merge(validate_node(prop, &child_name(path, name), v));
        }
    }
    for k in &s.required {
        if !m.contains_key(k) {
            out.fail(Failure::Required {
                name: format!("{path}.{k}"),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(schema: Value, data: Value) -> Vec<String> {
        let mut perrs = ErrorList::new();
        let n = Node::parse(&schema, &Path::new("s"), &mut perrs);
        assert!(perrs.is_empty(), "{perrs:?}");
        validate(&n, &data).iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn type_errors_have_upstream_shape() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object",
            "properties": {"replicas": {"type": "integer"}}}}});
        assert_eq!(
            errors(schema.clone(), json!({"spec": {"replicas": "abc"}})),
            vec![
                r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#
            ]
        );
        assert!(errors(schema.clone(), json!({"spec": {"replicas": 2.0}})).is_empty());
        assert_eq!(
            errors(schema, json!({"spec": null})),
            vec![r#"spec: Invalid value: "null": spec in body must be of type object: "null""#]
        );
    }

    #[test]
    fn value_constraints() {
        let schema = json!({"type": "object", "required": ["a"], "properties": {
            "n": {"type": "integer", "minimum": 1, "maximum": 10},
            "s": {"type": "string", "maxLength": 3, "pattern": "^[a-z]+$"},
            "e": {"type": "string", "enum": ["x", "y"]},
            "l": {"type": "array", "maxItems": 1, "items": {"type": "string"}}}});
        assert_eq!(
            errors(
                schema,
                json!({"n": 11, "s": "ABCD", "e": "z", "l": ["a", "b"]})
            ),
            vec![
                "n: Invalid value: 11: n in body should be less than or equal to 10",
                "s: Too long: may not be more than 3 bytes",
                "s: Invalid value: \"ABCD\": s in body should match '^[a-z]+$'",
                "e: Unsupported value: \"z\": supported values: \"x\", \"y\"",
                "l: Too many: 2: must have at most 1 items",
                "a: Required value",
            ]
        );
    }

    #[test]
    fn composites_report_at_nil_path() {
        let schema = json!({"type": "object", "properties": {"p": {"type": "string",
            "oneOf": [{"pattern": "^a"}, {"pattern": "^b"}]}}});
        assert_eq!(
            errors(schema, json!({"p": "c"})),
            vec![
                "<nil>: Invalid value: \"\": \"p\" must validate one and only one schema (oneOf). Found none valid",
                "p: Invalid value: \"c\": p in body should match '^a'",
            ]
        );
    }
}
