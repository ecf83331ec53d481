//! The check an apply configuration passes before it is merged: upstream
//! converts it to a typed value of the kind's schema (structured-merge-diff)
//! and refuses it, as an HTTP 500 `failed to create typed patch object`,
//! when a field is not declared, a value has the wrong shape or scalar
//! type, or a keyed list item lacks its keys or repeats them.
//!
//! Paths are written upstream's way: `.spec.replicas`, list items of
//! keyed lists by their keys (`.spec.containers[name="c"]`), of sets by
//! value (`[="x"]`), of atomic lists by index (`[0]`). Like upstream the
//! walk stops at the first undeclared field of an object (the rest of
//! that object is not looked at) and at the first item of a keyed list
//! whose key cannot be formed. Upstream visits an object's fields in Go
//! map order (random); here they are visited in document order.

use crate::go_format::go_type_name;
use std::fmt;

use serde_json::Value;

use super::path::{PathElement, path_string};
use super::schema::{ListType, Node, NodeId, ScalarKind, Schema};
use super::typed::item_element;

/// One reason a value does not fit its schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Where, as upstream prints paths (`.spec.containers[name="c"]`).
    pub path: String,
    /// What is wrong (`field not declared in schema`).
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// The violations of `v` against `schema`, in document order.
pub fn check(schema: &Schema, v: &Value) -> Vec<Violation> {
    let mut w = Walker {
        schema,
        path: Vec::new(),
        out: Vec::new(),
    };
    w.node(schema.root(), v);
    w.out
}

/// Upstream's text for a list of violations: one as is, several as
/// `errors:` and one indented line each.
pub fn describe(violations: &[Violation]) -> String {
    match violations {
        [one] => one.to_string(),
        many => {
            let mut s = String::from("errors:");
            for v in many {
                s.push_str(&format!("\n  {v}"));
            }
            s
        }
    }
}

struct Walker<'s> {
    schema: &'s Schema,
    path: Vec<PathElement>,
    out: Vec<Violation>,
}

impl Walker<'_> {
    fn fail(&mut self, message: String) {
        self.out.push(Violation {
            path: path_string(&self.path),
            message,
        });
    }

    fn node(&mut self, id: NodeId, v: &Value) {
        // Null fits every node (an explicit "unset").
        if v.is_null() {
            return;
        }
        match self.schema.node(id) {
            Node::Untyped => {}
            Node::Scalar => self.scalar(self.schema.scalar_kind(id), v),
            Node::Struct { fields, extra, .. } => {
                let Value::Object(m) = v else {
                    return self.fail(format!("expected map, got {}", go_pointer_v(v)));
                };
                for (k, child) in m {
                    let Some(child_node) = fields.get(k).copied().or(*extra) else {
                        self.path.push(PathElement::Field(k.clone()));
                        self.fail("field not declared in schema".into());
                        self.path.pop();
                        return;
                    };
                    self.path.push(PathElement::Field(k.clone()));
                    self.node(child_node, child);
                    self.path.pop();
                }
            }
            Node::Map { values, .. } => {
                let Value::Object(m) = v else {
                    return self.fail(format!("expected map, got {}", go_pointer_v(v)));
                };
                let values = *values;
                for (k, child) in m {
                    self.path.push(PathElement::Field(k.clone()));
                    self.node(values, child);
                    self.path.pop();
                }
            }
            Node::List { items, list_type } => {
                let Value::Array(list) = v else {
                    return self.fail(format!("expected list, got {}", go_pointer_v(v)));
                };
                self.list(*items, list_type, list);
            }
        }
    }

    fn list(&mut self, items: NodeId, list_type: &ListType, list: &[Value]) {
        let mut seen: Vec<PathElement> = Vec::new();
        for (i, item) in list.iter().enumerate() {
            let pe = match item_element(self.schema, list_type, items, i, item) {
                Ok(pe) => pe,
                // Without a key, nothing below can be named: upstream
                // gives up on the rest of the list.
                Err(e) => return self.fail(e),
            };
            if !matches!(list_type, ListType::Atomic) {
                if seen.contains(&pe) {
                    self.fail(format!("duplicate entries for key {pe}"));
                }
                seen.push(pe.clone());
            }
            self.path.push(pe);
            self.node(items, item);
            self.path.pop();
        }
    }

    fn scalar(&mut self, kind: ScalarKind, v: &Value) {
        let ok = match kind {
            ScalarKind::String => v.is_string(),
            ScalarKind::Numeric => v.is_number(),
            ScalarKind::Boolean => v.is_boolean(),
            ScalarKind::Untyped => !v.is_object() && !v.is_array(),
        };
        if ok {
            return;
        }
        let message = match kind {
            ScalarKind::Numeric => {
                format!("expected numeric (int or float), got {}", go_type_name(v))
            }
            ScalarKind::String => format!(
                "expected string, got &value.valueUnstructured{{Value:{}}}",
                go_sharp_v(v)
            ),
            ScalarKind::Boolean => format!("expected boolean, got {}", go_pointer_v(v)),
            ScalarKind::Untyped => format!("expected any scalar, got {}", go_pointer_v(v)),
        };
        self.fail(message);
    }
}

/// Go's `%v` of a pointer to the struct upstream wraps a value in:
/// `&{...}` around the value's own `%v`.
fn go_pointer_v(v: &Value) -> String {
    format!("&{{{}}}", go_v(v))
}

/// Go's `%v` of a decoded JSON value (maps print with sorted keys).
fn go_v(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            format!("[{}]", items.iter().map(go_v).collect::<Vec<_>>().join(" "))
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", go_v(&m[k])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// Go's `%#v` of a decoded JSON value.
fn go_sharp_v(v: &Value) -> String {
    match v {
        Value::Null => "interface {}(nil)".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => format!("{s:?}"),
        Value::Array(items) => format!(
            "[]interface {{}}{{{}}}",
            items.iter().map(go_sharp_v).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k:?}:{}", go_sharp_v(&m[k])))
                .collect();
            format!("map[string]interface {{}}{{{}}}", parts.join(", "))
        }
    }
}

/// A number as Go prints an int64 or a float64 (`%v`: shortest form,
/// exponent from 1e21 up or below 1e-4).
fn go_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        // Rust's `{:e}` is `1e21`; Go's is `1e+21`, exponent at least two
        // digits.
        let s = format!("{f:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    f.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod_schema() -> Schema {
        let defs = json!({
            "Pod": {"type": "object", "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object", "properties": {
                    "name": {"type": "string"},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
                "spec": {"type": "object", "properties": {
                    "replicas": {"type": "integer"},
                    "paused": {"type": "boolean"},
                    "containers": {"type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {"$ref": "#/components/schemas/Container"}},
                    "finalizers": {"type": "array", "x-kubernetes-list-type": "set",
                        "items": {"type": "string"}},
                    "args": {"type": "array", "items": {"type": "string"}},
                    "port": {"x-kubernetes-int-or-string": true}}}}},
            "Container": {"type": "object", "properties": {
                "name": {"type": "string"},
                "image": {"type": "string"},
                "ports": {"type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
                    "items": {"type": "object", "properties": {
                        "containerPort": {"type": "integer"},
                        "protocol": {"type": "string"}}}}}}
        });
        let root = json!({"$ref": "#/components/schemas/Pod"});
        Schema::compile(&root, &|n| defs.get(n), &|_| Vec::new())
    }

    fn messages(v: &Value) -> Vec<String> {
        check(&pod_schema(), v)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn undeclared_fields_are_named_by_upstream_paths() {
        let v = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "bogus": 1,
                "ports": [{"containerPort": 80, "extra": true}]}],
                "args": [{"x": 1}]}});
        assert_eq!(
            messages(&v),
            [
                ".spec.containers[name=\"c\"].bogus: field not declared in schema",
                ".spec.args[0]: expected string, got &value.valueUnstructured{Value:map[string]interface {}{\"x\":1}}",
            ]
        );
        let v = json!({"spec": {"containers": [{"name": "c",
            "ports": [{"containerPort": 80, "extra": true}]}]}});
        assert_eq!(
            messages(&v),
            [
                ".spec.containers[name=\"c\"].ports[containerPort=80,protocol=\"TCP\"].extra: field not declared in schema"
            ]
        );
    }

    #[test]
    fn the_first_undeclared_field_ends_its_object() {
        let v = json!({"spec": {"foo": 1, "bar": 2, "replicas": "x"}, "zzz": true});
        assert_eq!(
            messages(&v),
            [
                ".spec.foo: field not declared in schema",
                ".zzz: field not declared in schema"
            ]
        );
        assert_eq!(
            describe(&check(&pod_schema(), &v)),
            "errors:\n  .spec.foo: field not declared in schema\n  .zzz: field not declared in schema"
        );
    }

    #[test]
    fn scalar_and_shape_mismatches_read_like_upstream() {
        let v = json!({"spec": {"replicas": "3", "paused": "yes", "port": "http",
            "finalizers": ["a", "a"], "containers": {"name": "c"}},
            "metadata": {"labels": {"n": 1, "f": 2.5, "b": true}}});
        assert_eq!(
            messages(&v),
            [
                ".spec.replicas: expected numeric (int or float), got string",
                ".spec.paused: expected boolean, got &{yes}",
                ".spec.finalizers: duplicate entries for key [=\"a\"]",
                ".spec.containers: expected list, got &{map[name:c]}",
                ".metadata.labels.n: expected string, got &value.valueUnstructured{Value:1}",
                ".metadata.labels.f: expected string, got &value.valueUnstructured{Value:2.5}",
                ".metadata.labels.b: expected string, got &value.valueUnstructured{Value:true}",
            ]
        );
    }

    #[test]
    fn keyed_lists_need_their_keys_once() {
        let v = json!({"spec": {"containers": [{"name": "a"}, {"name": "a"}, {"image": "x"}, {"name": "b", "zz": 1}]}});
        assert_eq!(
            messages(&v),
            [
                ".spec.containers: duplicate entries for key [name=\"a\"]",
                ".spec.containers: element 2: associative list with keys has an element that omits key field \"name\" (and doesn't have default value)",
            ]
        );
        assert!(messages(&json!({"spec": {"containers": null, "replicas": null}})).is_empty());
    }

    #[test]
    fn numbers_print_like_go() {
        let n = |v: Value| go_sharp_v(&v);
        assert_eq!(n(json!(587)), "587");
        assert_eq!(n(json!(2026.01)), "2026.01");
        assert_eq!(n(json!(1e21)), "1e+21");
        assert_eq!(n(json!(["a", 1])), "[]interface {}{\"a\", 1}");
        assert_eq!(go_pointer_v(&json!([300, "x"])), "&{[300 x]}");
    }
}
