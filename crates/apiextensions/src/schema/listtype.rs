//! `x-kubernetes-list-type: set|map` invariants on custom resources
//! (upstream `listtype.ValidateListSetsAndMaps`): set items and map keys
//! must be unique; map lists hold objects.

use std::collections::HashMap;

use corten_apimachinery::{ErrorList, FieldError, Path};
use serde_json::{Map, Value};

use super::Node;

/// Validates list sets and maps below the object root; paths start at the
/// top-level field names.
pub(crate) fn validate(s: &Node, obj: &Value) -> ErrorList {
    let mut errs = ErrorList::new();
    if let Value::Object(m) = obj {
        object(None, s, m, &mut errs);
    }
    errs
}

fn child(path: Option<&Path>, k: &str) -> Path {
    path.map_or_else(|| Path::new(k), |p| p.child(k))
}

fn key(path: Option<&Path>, k: &str) -> Path {
    path.map_or_else(|| Path::new(&format!("[{k}]")), |p| p.key(k))
}

fn object(path: Option<&Path>, s: &Node, m: &Map<String, Value>, errs: &mut ErrorList) {
    if let Some(a) = s.additional_schema() {
        for (k, v) in m {
            value(&key(path, k), a, v, errs);
        }
    }
    for (k, v) in m {
        if let Some(p) = s.prop(k) {
            value(&child(path, k), p, v, errs);
        }
    }
}

fn value(path: &Path, s: &Node, v: &Value, errs: &mut ErrorList) {
    match v {
        Value::Array(items) => array(path, s, items, errs),
        Value::Object(m) => object(Some(path), s, m, errs),
        _ => {}
    }
}

fn array(path: &Path, s: &Node, items: &[Value], errs: &mut ErrorList) {
    match s.x_list_type.as_deref() {
        Some("set") => {
            for i in non_unique(items.iter().map(Some)) {
                errs.push(FieldError::duplicate(&path.index(i), items[i].clone()));
            }
        }
        Some("map") => list_map(path, s, items, errs),
        _ => {}
    }
    if let Some(item) = &s.items {
        for (i, v) in items.iter().enumerate() {
            value(&path.index(i), item, v, errs);
        }
    }
}

/// Indices of the second occurrence of each repeated element (`None` is an
/// unspecified key, distinct from `null`).
fn non_unique<'a>(items: impl Iterator<Item = Option<&'a Value>>) -> Vec<usize> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (i, x) in items.enumerate() {
        let k = match x {
            None => "\u{0}unspecified".to_string(),
            Some(v) => canonical(v),
        };
        let n = seen.entry(k).or_insert(0);
        *n += 1;
        if *n == 2 {
            out.push(i);
        }
    }
    out
}

/// A comparison key: numbers compare by value (Go decodes `1` and `1.0`
/// differently, so they stay different), objects by sorted keys.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{k:?}:{}", canonical(&m[*k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

fn list_map(path: &Path, s: &Node, items: &[Value], errs: &mut ErrorList) {
    for (i, x) in items.iter().enumerate() {
        if !x.is_null() && !x.is_object() {
            errs.push(FieldError::invalid(
                &path.index(i),
                x.clone(),
                "must be an object for an array of list-type map",
            ));
            return;
        }
    }
    if items.len() <= 1 {
        return;
    }
    if s.x_list_map_keys.len() == 1 {
        let kf = &s.x_list_map_keys[0];
        let keys: Vec<Option<&Value>> = items.iter().map(|x| x.get(kf)).collect();
        for i in non_unique(keys.iter().copied()) {
            let dup = match keys[i] {
                None => Value::Object(Map::new()),
                Some(k) => {
                    let mut m = Map::new();
                    m.insert(kf.clone(), k.clone());
                    Value::Object(m)
                }
            };
            errs.push(FieldError::duplicate(&path.index(i), dup));
        }
        return;
    }
    let keys: Vec<Value> = items
        .iter()
        .map(|x| {
            let mut m = Map::new();
            for kf in &s.x_list_map_keys {
                if let Some(k) = x.get(kf) {
                    m.insert(kf.clone(), k.clone());
                }
            }
            Value::Object(m)
        })
        .collect();
    for i in non_unique(keys.iter().map(Some)) {
        errs.push(FieldError::duplicate(&path.index(i), keys[i].clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn duplicates_in_sets_and_maps() {
        let mut perrs = ErrorList::new();
        let s = Node::parse(
            &json!({"type": "object", "properties": {
                "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "ports": {"type": "array", "x-kubernetes-list-type": "map",
                          "x-kubernetes-list-map-keys": ["port"],
                          "items": {"type": "object", "properties": {"port": {"type": "integer"}}}}}}),
            &Path::new("s"),
            &mut perrs,
        );
        let errs: Vec<String> = validate(
            &s,
            &json!({"tags": ["a", "b", "a", "a"], "ports": [{"port": 80}, {"port": 80}]}),
        )
        .iter()
        .map(|e| e.to_string())
        .collect();
        assert_eq!(
            errs,
            vec![
                r#"tags[2]: Duplicate value: "a""#,
                r#"ports[1]: Duplicate value: {"port":80}"#,
            ]
        );
    }
}
