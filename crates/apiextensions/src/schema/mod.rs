//! OpenAPI v3 schemas of CustomResourceDefinitions (upstream
//! `apiextensions.JSONSchemaProps` and the structural schema built from it).
//!
//! A schema arrives as JSON; [`Node::parse`] turns it into a tree once so the
//! per-request work (validation, defaulting, pruning, CEL) does not re-read
//! JSON. Parsing never fails on odd input: fields of the wrong JSON type are
//! reported as field errors and otherwise ignored, and nesting deeper than
//! [`MAX_SCHEMA_DEPTH`] is cut off with an error, so adversarial schemas cannot
//! overflow the stack.

pub(crate) mod defaults;
pub(crate) mod formats;
pub(crate) mod listtype;
pub(crate) mod objectmeta;
pub(crate) mod openapi;
pub(crate) mod prune;
pub(crate) mod structural;

use std::collections::HashMap;

use corten_apimachinery::{ErrorList, FieldError, Path};
use regex::Regex;
use serde_json::{Map, Value};

/// Deepest schema nesting accepted (each `properties`/`items`/`allOf`/...
/// hop is one level). Real CRDs stay far below; deeper schemas are rejected.
pub const MAX_SCHEMA_DEPTH: usize = 64;

/// Compiled `pattern` regexes are capped at this many bytes of program.
const MAX_REGEX_SIZE: usize = 1 << 20;

/// `additionalProperties`: a boolean or a schema.
#[derive(Debug, Clone)]
pub(crate) enum Additional {
    /// `additionalProperties: true|false`.
    Bool(bool),
    /// `additionalProperties: {...}`.
    Schema(Box<Node>),
}

/// One `x-kubernetes-validations` rule.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Rule {
    pub rule: String,
    pub message: String,
    pub message_expression: String,
    pub reason: Option<String>,
    pub field_path: String,
    pub optional_old_self: Option<bool>,
    /// The rule as written, for error values.
    pub raw: Value,
}

/// One schema node (a `JSONSchemaProps`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Node {
    pub type_: String,
    pub format: String,
    pub title: String,
    pub description: String,
    pub nullable: bool,
    pub default: Option<Value>,
    pub enum_: Option<Vec<Value>>,
    pub maximum: Option<f64>,
    pub exclusive_maximum: bool,
    pub minimum: Option<f64>,
    pub exclusive_minimum: bool,
    pub max_length: Option<i64>,
    pub min_length: Option<i64>,
    pub pattern: String,
    /// The compiled `pattern`, or the compile error.
    pub pattern_re: Option<Result<Regex, String>>,
    pub max_items: Option<i64>,
    pub min_items: Option<i64>,
    pub unique_items: bool,
    pub multiple_of: Option<f64>,
    pub max_properties: Option<i64>,
    pub min_properties: Option<i64>,
    pub required: Vec<String>,
    pub properties: Vec<(String, Node)>,
    prop_index: HashMap<String, usize>,
    pub additional_properties: Option<Additional>,
    /// `items` as a single schema.
    pub items: Option<Box<Node>>,
    /// `items` given as an array of schemas (forbidden for CRDs).
    pub items_array: bool,
    pub all_of: Vec<Node>,
    pub any_of: Vec<Node>,
    pub one_of: Vec<Node>,
    pub not: Option<Box<Node>>,
    pub x_preserve_unknown_fields: Option<bool>,
    pub x_embedded_resource: bool,
    pub x_int_or_string: bool,
    pub x_list_type: Option<String>,
    pub x_list_map_keys: Vec<String>,
    pub x_map_type: Option<String>,
    pub x_validations: Vec<Rule>,
    /// Fields CRDs may not use but that may be present: `id`, `$schema`,
    /// `$ref`, `patternProperties`, `dependencies`, `additionalItems`,
    /// `definitions` (the JSON key names).
    pub unsupported: Vec<&'static str>,
    /// JSON keys present with a non-zero value (for the root-schema rules).
    pub set_keys: Vec<String>,
    /// The schema as written.
    pub raw: Value,
}

impl Node {
    /// Parses a schema, reporting malformed fields under `path`.
    pub(crate) fn parse(v: &Value, path: &Path, errs: &mut ErrorList) -> Node {
        parse_node(v, path, 0, errs)
    }

    /// The schema of property `name`.
    pub(crate) fn prop(&self, name: &str) -> Option<&Node> {
        self.prop_index.get(name).map(|&i| &self.properties[i].1)
    }

    /// The `additionalProperties` schema, if it is one.
    pub(crate) fn additional_schema(&self) -> Option<&Node> {
        match &self.additional_properties {
            Some(Additional::Schema(s)) => Some(s),
            _ => None,
        }
    }

    /// `x-kubernetes-preserve-unknown-fields: true`.
    pub(crate) fn preserve_unknown(&self) -> bool {
        self.x_preserve_unknown_fields == Some(true)
    }

    /// A copy marked as an embedded resource (the resource root is treated
    /// as one by pruning and metadata validation).
    pub(crate) fn as_resource_root(&self) -> Node {
        let mut n = self.clone();
        n.x_embedded_resource = true;
        n
    }

    /// Calls `f` on this node and every nested node (properties, items,
    /// additionalProperties, allOf/anyOf/oneOf/not); stops early when `f`
    /// returns true and returns whether it did.
    pub(crate) fn any(&self, f: &mut dyn FnMut(&Node) -> bool) -> bool {
        if f(self) {
            return true;
        }
        self.properties.iter().any(|(_, p)| p.any(f))
            || self.items.as_ref().is_some_and(|i| i.any(f))
            || self.additional_schema().is_some_and(|a| a.any(f))
            || self.all_of.iter().any(|s| s.any(f))
            || self.any_of.iter().any(|s| s.any(f))
            || self.one_of.iter().any(|s| s.any(f))
            || self.not.as_ref().is_some_and(|n| n.any(f))
    }
}

fn type_error(path: &Path, v: &Value, want: &str) -> FieldError {
    FieldError::invalid(path, v.clone(), &format!("must be {want}"))
}

fn get_str(m: &Map<String, Value>, key: &str, path: &Path, errs: &mut ErrorList) -> String {
    match m.get(key) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            errs.push(type_error(&path.child(key), other, "a string"));
            String::new()
        }
    }
}

fn get_bool(m: &Map<String, Value>, key: &str, path: &Path, errs: &mut ErrorList) -> Option<bool> {
    match m.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => {
            errs.push(type_error(&path.child(key), other, "a boolean"));
            None
        }
    }
}

fn get_f64(m: &Map<String, Value>, key: &str, path: &Path, errs: &mut ErrorList) -> Option<f64> {
    match m.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(other) => {
            errs.push(type_error(&path.child(key), other, "a number"));
            None
        }
    }
}

fn get_i64(m: &Map<String, Value>, key: &str, path: &Path, errs: &mut ErrorList) -> Option<i64> {
    match m.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => Some(i),
            None => {
                errs.push(type_error(
                    &path.child(key),
                    &Value::Number(n.clone()),
                    "an integer",
                ));
                None
            }
        },
        Some(other) => {
            errs.push(type_error(&path.child(key), other, "an integer"));
            None
        }
    }
}

fn get_strings(
    m: &Map<String, Value>,
    key: &str,
    path: &Path,
    errs: &mut ErrorList,
) -> Vec<String> {
    match m.get(key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => out.push(s.clone()),
                    other => errs.push(type_error(&path.child(key).index(i), other, "a string")),
                }
            }
            out
        }
        Some(other) => {
            errs.push(type_error(&path.child(key), other, "an array of strings"));
            Vec::new()
        }
    }
}

/// Whether a JSON value is the Go zero value of its field (so the field
/// counts as unset for upstream's reflection-based root-schema check).
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        // Numbers are pointers upstream: present means set, even 0.
        Value::Number(_) | Value::Array(_) | Value::Object(_) => false,
    }
}

fn parse_list(
    m: &Map<String, Value>,
    key: &str,
    path: &Path,
    depth: usize,
    errs: &mut ErrorList,
) -> Vec<Node> {
    match m.get(key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, s)| parse_node(s, &path.child(key).index(i), depth + 1, errs))
            .collect(),
        Some(other) => {
            errs.push(type_error(&path.child(key), other, "an array of schemas"));
            Vec::new()
        }
    }
}

fn parse_rules(m: &Map<String, Value>, path: &Path, errs: &mut ErrorList) -> Vec<Rule> {
    let key = "x-kubernetes-validations";
    let items = match m.get(key) {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(other) => {
            errs.push(type_error(&path.child(key), other, "an array"));
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let p = path.child(key).index(i);
        let Some(r) = item.as_object() else {
            errs.push(type_error(&p, item, "an object"));
            continue;
        };
        let reason = match r.get("reason") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                errs.push(type_error(&p.child("reason"), other, "a string"));
                None
            }
        };
        out.push(Rule {
            rule: get_str(r, "rule", &p, errs),
            message: get_str(r, "message", &p, errs),
            message_expression: get_str(r, "messageExpression", &p, errs),
            reason,
            field_path: get_str(r, "fieldPath", &p, errs),
            optional_old_self: get_bool(r, "optionalOldSelf", &p, errs),
            raw: item.clone(),
        });
    }
    out
}

fn compile_pattern(pattern: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(pattern)
        .size_limit(MAX_REGEX_SIZE)
        .dfa_size_limit(MAX_REGEX_SIZE)
        .build()
        .map_err(|e| e.to_string())
}

fn parse_node(v: &Value, path: &Path, depth: usize, errs: &mut ErrorList) -> Node {
    let Some(m) = v.as_object() else {
        if !v.is_null() {
            errs.push(type_error(path, v, "an object"));
        }
        return Node::default();
    };
    if depth >= MAX_SCHEMA_DEPTH {
        errs.push(FieldError::forbidden(
            path,
            &format!("schema nesting may not be deeper than {MAX_SCHEMA_DEPTH} levels"),
        ));
        return Node::default();
    }
    let mut n = Node {
        raw: v.clone(),
        type_: get_str(m, "type", path, errs),
        format: get_str(m, "format", path, errs),
        title: get_str(m, "title", path, errs),
        description: get_str(m, "description", path, errs),
        nullable: get_bool(m, "nullable", path, errs).unwrap_or(false),
        default: m.get("default").filter(|d| !d.is_null()).cloned(),
        maximum: get_f64(m, "maximum", path, errs),
        exclusive_maximum: get_bool(m, "exclusiveMaximum", path, errs).unwrap_or(false),
        minimum: get_f64(m, "minimum", path, errs),
        exclusive_minimum: get_bool(m, "exclusiveMinimum", path, errs).unwrap_or(false),
        max_length: get_i64(m, "maxLength", path, errs),
        min_length: get_i64(m, "minLength", path, errs),
        pattern: get_str(m, "pattern", path, errs),
        max_items: get_i64(m, "maxItems", path, errs),
        min_items: get_i64(m, "minItems", path, errs),
        unique_items: get_bool(m, "uniqueItems", path, errs).unwrap_or(false),
        multiple_of: get_f64(m, "multipleOf", path, errs),
        max_properties: get_i64(m, "maxProperties", path, errs),
        min_properties: get_i64(m, "minProperties", path, errs),
        required: get_strings(m, "required", path, errs),
        x_preserve_unknown_fields: get_bool(m, "x-kubernetes-preserve-unknown-fields", path, errs),
        x_embedded_resource: get_bool(m, "x-kubernetes-embedded-resource", path, errs)
            .unwrap_or(false),
        x_int_or_string: get_bool(m, "x-kubernetes-int-or-string", path, errs).unwrap_or(false),
        x_list_map_keys: get_strings(m, "x-kubernetes-list-map-keys", path, errs),
        x_validations: parse_rules(m, path, errs),
        ..Node::default()
    };
    for key in ["x-kubernetes-list-type", "x-kubernetes-map-type"] {
        let val = match m.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                errs.push(type_error(&path.child(key), other, "a string"));
                None
            }
        };
        if key == "x-kubernetes-list-type" {
            n.x_list_type = val;
        } else {
            n.x_map_type = val;
        }
    }
    n.enum_ = match m.get("enum") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(a.clone()),
        Some(other) => {
            errs.push(type_error(&path.child("enum"), other, "an array"));
            None
        }
    };
    if !n.pattern.is_empty() {
        n.pattern_re = Some(compile_pattern(&n.pattern));
    }
    match m.get("properties") {
        None | Some(Value::Null) => {}
        Some(Value::Object(props)) => {
            for (k, s) in props {
                let child = parse_node(s, &path.child("properties").key(k), depth + 1, errs);
                n.prop_index.insert(k.clone(), n.properties.len());
                n.properties.push((k.clone(), child));
            }
        }
        Some(other) => errs.push(type_error(&path.child("properties"), other, "an object")),
    }
    n.additional_properties = match m.get("additionalProperties") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(Additional::Bool(*b)),
        Some(s @ Value::Object(_)) => Some(Additional::Schema(Box::new(parse_node(
            s,
            &path.child("additionalProperties"),
            depth + 1,
            errs,
        )))),
        Some(other) => {
            errs.push(type_error(
                &path.child("additionalProperties"),
                other,
                "a boolean or a schema",
            ));
            None
        }
    };
    match m.get("items") {
        None | Some(Value::Null) => {}
        Some(s @ Value::Object(_)) => {
            n.items = Some(Box::new(parse_node(
                s,
                &path.child("items"),
                depth + 1,
                errs,
            )));
        }
        Some(Value::Array(_)) => n.items_array = true,
        Some(other) => errs.push(type_error(&path.child("items"), other, "a schema")),
    }
    n.all_of = parse_list(m, "allOf", path, depth, errs);
    n.any_of = parse_list(m, "anyOf", path, depth, errs);
    n.one_of = parse_list(m, "oneOf", path, depth, errs);
    if let Some(s) = m.get("not").filter(|s| !s.is_null()) {
        n.not = Some(Box::new(parse_node(s, &path.child("not"), depth + 1, errs)));
    }
    for key in [
        "id",
        "$schema",
        "$ref",
        "patternProperties",
        "dependencies",
        "additionalItems",
        "definitions",
    ] {
        let present = match m.get(key) {
            None | Some(Value::Null) => false,
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Object(o)) => !o.is_empty() || key == "additionalItems",
            Some(_) => true,
        };
        if present {
            n.unsupported.push(key);
        }
    }
    n.set_keys = m
        .iter()
        .filter(|(_, v)| !is_zero(v))
        .map(|(k, _)| k.clone())
        .collect();
    n
}

/// Whether a JSON value is an integer in the sense of Go's decoded JSON
/// (`int64`), as opposed to a float.
pub(crate) fn is_json_int(n: &serde_json::Number) -> bool {
    n.is_i64() || n.is_u64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_nested_schema_and_reports_bad_fields() {
        let mut errs = ErrorList::new();
        let n = Node::parse(
            &json!({"type": "object", "properties": {"a": {"type": 5, "maxLength": "x"}},
                    "items": [{}], "$ref": "#/x"}),
            &Path::new("s"),
            &mut errs,
        );
        assert_eq!(n.type_, "object");
        assert!(n.prop("a").is_some());
        assert!(n.items_array);
        assert_eq!(n.unsupported, vec!["$ref"]);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert_eq!(errs[0].field, "s.properties[a].type");
    }

    #[test]
    fn deep_schemas_are_cut_off() {
        let mut v = json!({"type": "string"});
        for _ in 0..200 {
            v = json!({"type": "object", "properties": {"a": v}});
        }
        let mut errs = ErrorList::new();
        let _ = Node::parse(&v, &Path::new("s"), &mut errs);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].detail.contains("deeper than"));
    }
}
