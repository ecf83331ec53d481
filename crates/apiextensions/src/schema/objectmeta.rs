//! TypeMeta/ObjectMeta of embedded resources (upstream
//! `objectmeta.Validate`): `x-kubernetes-embedded-resource` objects need
//! `apiVersion` and `kind`, and their `metadata` must be valid ObjectMeta.

use corten_apimachinery::names::{is_dns1035_label, validate_object_meta};
use corten_apimachinery::{ErrorList, FieldError, Path};
use serde_json::{Map, Value, json};

use super::Node;

fn child(path: Option<&Path>, k: &str) -> Path {
    path.map_or_else(|| Path::new(k), |p| p.child(k))
}

/// Validates embedded resources below `obj` (and `obj` itself when
/// `is_resource_root`); paths start under `path` (`None` = top level).
pub(crate) fn validate_embedded(
    path: Option<&Path>,
    obj: &Value,
    s: &Node,
    is_resource_root: bool,
) -> ErrorList {
    let mut errs = ErrorList::new();
    if is_resource_root && !s.x_embedded_resource {
        walk(path, obj, &s.as_resource_root(), &mut errs);
    } else {
        walk(path, obj, s, &mut errs);
    }
    errs
}

fn walk(path: Option<&Path>, x: &Value, s: &Node, errs: &mut ErrorList) {
    match x {
        Value::Object(m) => {
            if s.x_embedded_resource {
                embedded_resource(path, m, errs);
            }
            for (k, v) in m {
                if let Some(p) = s.prop(k) {
                    walk(Some(&child(path, k)), v, p, errs);
                } else if let Some(a) = s.additional_schema() {
                    let p = path.map_or_else(|| Path::new(&format!("[{k}]")), |p| p.key(k));
                    walk(Some(&p), v, a, errs);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = &s.items {
                for (i, v) in items.iter().enumerate() {
                    let p = path.map_or_else(|| Path::new(&format!("[{i}]")), |p| p.index(i));
                    walk(Some(&p), v, item, errs);
                }
            }
        }
        _ => {}
    }
}

/// Upstream `path.IsValidPathSegmentName`.
fn path_segment_name(name: &str) -> Vec<String> {
    for bad in [".", ".."] {
        if name == bad {
            return vec![format!("may not be '{bad}'")];
        }
    }
    ["/", "%"]
        .iter()
        .filter(|c| name.contains(*c))
        .map(|c| format!("may not contain '{c}'"))
        .collect()
}

/// Upstream `schema.ParseGroupVersion`'s error, if any.
fn group_version_error(gv: &str) -> Option<String> {
    if gv.is_empty() || gv == "/" {
        return None;
    }
    if gv.matches('/').count() > 1 {
        return Some(format!("unexpected GroupVersion string: {gv}"));
    }
    None
}

fn go_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nil",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn embedded_resource(path: Option<&Path>, x: &Map<String, Value>, errs: &mut ErrorList) {
    if !x.contains_key("apiVersion") {
        errs.push(FieldError::required(&child(path, "apiVersion"), ""));
    }
    if !x.contains_key("kind") {
        errs.push(FieldError::required(&child(path, "kind"), ""));
    }
    for (k, v) in x {
        match k.as_str() {
            "apiVersion" => match v.as_str() {
                None => errs.push(FieldError::invalid(
                    &child(path, k),
                    v.clone(),
                    "must be a string",
                )),
                Some("") => errs.push(FieldError::required(&child(path, k), "")),
                Some(gv) => {
                    if let Some(e) = group_version_error(gv) {
                        errs.push(FieldError::invalid(&child(path, k), gv, &e));
                    }
                }
            },
            "kind" => match v.as_str() {
                None => errs.push(FieldError::invalid(
                    &child(path, k),
                    v.clone(),
                    "must be a string",
                )),
                Some("") => errs.push(FieldError::required(&child(path, k), "")),
                Some(kind) => {
                    let msgs = is_dns1035_label(&kind.to_lowercase());
                    if !msgs.is_empty() {
                        errs.push(FieldError::invalid(
                            &child(path, k),
                            kind,
                            &format!(
                                "may have mixed case, but should otherwise match: {}",
                                msgs.join(",")
                            ),
                        ));
                    }
                }
            },
            "metadata" => {
                let mpath = child(path, "metadata");
                let Some(meta) = v.as_object() else {
                    if !v.is_null() {
                        errs.push(FieldError::invalid(
                            &mpath,
                            v.clone(),
                            &format!(
                                ".metadata accessor error: {v} is of the type {}, expected map[string]interface{{}}",
                                go_type_name(v)
                            ),
                        ));
                    }
                    continue;
                };
                let mut meta = meta.clone();
                if meta
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .is_empty()
                {
                    meta.insert("name".into(), Value::String("fakename".into()));
                }
                let namespaced = meta
                    .get("namespace")
                    .and_then(Value::as_str)
                    .is_some_and(|n| !n.is_empty());
                let wrapped = json!({"metadata": Value::Object(meta)});
                errs.extend(validate_object_meta(
                    &wrapped,
                    namespaced,
                    path_segment_name,
                    &mpath,
                ));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_resources_need_type_meta() {
        let mut perrs = ErrorList::new();
        let s = Node::parse(
            &json!({"type": "object", "properties": {"template": {"type": "object",
                "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}}}),
            &Path::new("s"),
            &mut perrs,
        );
        let errs: Vec<String> = validate_embedded(
            None,
            &json!({"template": {"kind": "Pod", "metadata": {"name": "a/b"}}}),
            &s,
            false,
        )
        .iter()
        .map(|e| e.to_string())
        .collect();
        assert_eq!(
            errs,
            vec![
                "template.apiVersion: Required value",
                "template.metadata.name: Invalid value: \"a/b\": may not contain '/'",
            ]
        );
    }
}
