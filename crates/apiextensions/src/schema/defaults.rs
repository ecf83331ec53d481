//! Defaulting of custom resources (upstream `structuraldefaulting.Default`
//! and `PruneNonNullableNullsWithoutDefaults`) and the CRD-time check that
//! every `default` validates and is pruned (`ValidateDefaults`).

use corten_apimachinery::{ErrorList, FieldError, Path};
use serde_json::Value;

use super::{Node, objectmeta, openapi, prune};

const MAX_DATA_DEPTH: usize = 1000;

/// Drops `null` values of non-nullable fields that have no default (they
/// would otherwise fail type validation although the user meant "unset").
pub(crate) fn prune_non_nullable_nulls(x: &mut Value, s: &Node, depth: usize) {
    if depth > MAX_DATA_DEPTH {
        return;
    }
    match x {
        Value::Object(m) => {
            let drop: Vec<String> = m
                .iter()
                .filter(|(k, v)| {
                    v.is_null()
                        && s.prop(k)
                            .is_some_and(|p| p.default.is_none() && !p.nullable)
                })
                .map(|(k, _)| k.clone())
                .collect();
            if !drop.is_empty() {
                m.retain(|k, _| !drop.contains(k));
            }
            for (k, v) in m.iter_mut() {
                if let Some(p) = s.prop(k) {
                    prune_non_nullable_nulls(v, p, depth + 1);
                } else if let Some(a) = s.additional_schema() {
                    prune_non_nullable_nulls(v, a, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = &s.items {
                for v in items.iter_mut() {
                    prune_non_nullable_nulls(v, item, depth + 1);
                }
            }
        }
        _ => {}
    }
}

fn is_non_nullable_null(x: &Value, s: &Node) -> bool {
    x.is_null() && !s.nullable
}

/// Applies `default` values: missing properties (and non-nullable nulls)
/// get their schema's default; array items and map values that are
/// non-nullable nulls get the items/additionalProperties default.
pub(crate) fn apply_defaults(x: &mut Value, s: &Node, depth: usize) {
    if depth > MAX_DATA_DEPTH {
        return;
    }
    match x {
        Value::Object(m) => {
            for (k, prop) in &s.properties {
                let Some(d) = &prop.default else { continue };
                let missing = match m.get(k) {
                    None => true,
                    Some(v) => is_non_nullable_null(v, prop),
                };
                if missing {
                    m.insert(k.clone(), d.clone());
                }
            }
            for (k, v) in m.iter_mut() {
                if let Some(prop) = s.prop(k) {
                    apply_defaults(v, prop, depth + 1);
                } else if let Some(a) = s.additional_schema() {
                    if is_non_nullable_null(v, a)
                        && let Some(d) = &a.default
                    {
                        *v = d.clone();
                    }
                    apply_defaults(v, a, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            let Some(item) = &s.items else { return };
            for v in items.iter_mut() {
                if is_non_nullable_null(v, item)
                    && let Some(d) = &item.default
                {
                    *v = d.clone();
                }
                apply_defaults(v, item, depth + 1);
            }
        }
        _ => {}
    }
}

/// Checks every `default` in the schema rooted at `path`: it must validate
/// against its own node and (outside metadata) be free of unknown fields.
pub(crate) fn validate_defaults(path: &Path, root: &Node, require_pruned: bool) -> ErrorList {
    let mut errs = ErrorList::new();
    let root = if root.x_embedded_resource {
        root.clone()
    } else {
        root.as_resource_root()
    };
    walk(path, &root, false, require_pruned, &mut errs);
    errs
}

fn walk(path: &Path, s: &Node, inside_meta: bool, require_pruned: bool, errs: &mut ErrorList) {
    let inside_meta = if s.x_embedded_resource {
        false
    } else {
        inside_meta
    };
    if let Some(d) = &s.default {
        let dpath = path.child("default");
        if !inside_meta {
            let mut pruned = d.clone();
            prune::prune(&mut pruned, s, s.x_embedded_resource);
            if require_pruned && &pruned != d {
                errs.push(FieldError::invalid(
                    &dpath,
                    d.clone(),
                    "must not have unknown fields",
                ));
            }
            let meta_errs =
                objectmeta::validate_embedded(Some(&dpath), d, s, s.x_embedded_resource);
            if meta_errs.is_empty() {
                errs.extend(openapi::validate_at(s, d, Some(&dpath)));
            } else {
                errs.extend(meta_errs);
            }
        } else {
            errs.extend(openapi::validate_at(s, d, Some(&dpath)));
        }
    }
    if let Some(items) = &s.items {
        walk(
            &path.child("items"),
            items,
            inside_meta,
            require_pruned,
            errs,
        );
    }
    for (k, p) in &s.properties {
        let sub_meta = inside_meta
            || (s.x_embedded_resource && matches!(k.as_str(), "metadata" | "apiVersion" | "kind"));
        walk(
            &path.child("properties").key(k),
            p,
            sub_meta,
            require_pruned,
            errs,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(v: Value) -> Node {
        let mut errs = ErrorList::new();
        Node::parse(&v, &Path::new("s"), &mut errs)
    }

    #[test]
    fn defaults_fill_missing_and_null_fields() {
        let s = node(
            json!({"type": "object", "properties": {"spec": {"type": "object",
            "default": {}, "properties": {
                "replicas": {"type": "integer", "default": 1},
                "mode": {"type": "string", "nullable": true, "default": "a"},
                "ports": {"type": "array", "items": {"type": "object", "properties": {
                    "protocol": {"type": "string", "default": "TCP"}}}}}}}}),
        );
        let mut obj = json!({"spec": null});
        prune_non_nullable_nulls(&mut obj, &s, 0);
        apply_defaults(&mut obj, &s, 0);
        assert_eq!(obj, json!({"spec": {"replicas": 1, "mode": "a"}}));
        let mut obj = json!({"spec": {"replicas": null, "mode": null, "ports": [{}]}});
        apply_defaults(&mut obj, &s, 0);
        assert_eq!(
            obj,
            json!({"spec": {"replicas": 1, "mode": null, "ports": [{"protocol": "TCP"}]}})
        );
    }

    #[test]
    fn invalid_and_unpruned_defaults_are_reported() {
        let s = node(
            json!({"type": "object", "properties": {"spec": {"type": "object",
            "properties": {"replicas": {"type": "integer", "default": "one"},
                           "sub": {"type": "object", "default": {"x": 1}}}}}}),
        );
        let errs: Vec<String> = validate_defaults(&Path::new("r"), &s, true)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            errs,
            vec![
                r#"r.properties[spec].properties[replicas].default: Invalid value: "string":  in body must be of type integer: "string""#,
                r#"r.properties[spec].properties[sub].default: Invalid value: {"x":1}: must not have unknown fields"#,
            ]
        );
    }
}
