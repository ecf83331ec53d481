//! Pruning of fields the structural schema does not specify (upstream
//! `pruning.PruneWithOptions`): unknown fields are dropped unless a node sets
//! `x-kubernetes-preserve-unknown-fields`; `apiVersion`, `kind` and
//! `metadata` survive at the resource root and in embedded resources, where
//! `metadata` keeps only the ObjectMeta fields. The dropped paths feed
//! `fieldValidation` (`unknown field "spec.foo"`).

use serde_json::{Map, Value};

use super::Node;

/// Beyond this data depth, pruning stops descending (the request decoder
/// already caps nesting far lower; this only guards hand-built values).
const MAX_DATA_DEPTH: usize = 1000;

/// The JSON fields of `metav1.ObjectMeta`.
pub(crate) const OBJECT_META_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

struct Pruner {
    path: Vec<String>,
    pruned: Vec<String>,
}

impl Pruner {
    fn record(&mut self, key: &str) {
        let mut p = self.path.concat();
        if !p.is_empty() {
            p.push('.');
        }
        p.push_str(key);
        self.pruned.push(p);
    }
    fn push_key(&mut self, key: &str) {
        if self.path.is_empty() {
            self.path.push(key.to_string());
        } else {
            self.path.push(format!(".{key}"));
        }
    }
    fn push_index(&mut self, i: usize) {
        self.path.push(format!("[{i}]"));
    }
}

/// Prunes `obj` in place against `schema`; `is_resource_root` treats the
/// top level as a resource (keeping `apiVersion`, `kind`, `metadata`).
/// Returns the pruned field paths in the order they were found.
pub(crate) fn prune(obj: &mut Value, schema: &Node, is_resource_root: bool) -> Vec<String> {
    let mut p = Pruner {
        path: Vec::new(),
        pruned: Vec::new(),
    };
    if is_resource_root && !schema.x_embedded_resource {
        let root = schema.as_resource_root();
        prune_value(obj, Some(&root), &mut p, 0);
    } else {
        prune_value(obj, Some(schema), &mut p, 0);
    }
    p.pruned
}

fn prune_value(x: &mut Value, s: Option<&Node>, p: &mut Pruner, depth: usize) {
    if depth > MAX_DATA_DEPTH {
        return;
    }
    if let Some(s) = s.filter(|s| s.preserve_unknown()) {
        skip_prune(x, s, p, depth);
        return;
    }
    match x {
        Value::Object(m) => {
            let Some(s) = s else {
                let keys: Vec<String> = m.keys().cloned().collect();
                for k in keys {
                    p.record(&k);
                }
                m.clear();
                return;
            };
            let keys: Vec<String> = m.keys().cloned().collect();
            let mut dropped = std::collections::HashSet::new();
            for k in keys {
                if s.x_embedded_resource {
                    match (k.as_str(), m.get(&k)) {
                        ("apiVersion" | "kind", Some(Value::String(_))) => continue,
                        ("metadata", Some(Value::Object(_))) => {
                            if let Some(Value::Object(meta)) = m.get_mut(&k) {
                                p.push_key("metadata");
                                prune_object_meta(meta, p);
                                p.path.pop();
                            }
                            continue;
                        }
                        _ => {}
                    }
                }
                if let Some(prop) = s.prop(&k) {
                    if let Some(v) = m.get_mut(&k) {
                        p.push_key(&k);
                        prune_value(v, Some(prop), p, depth + 1);
                        p.path.pop();
                    }
                } else if s.additional_properties.is_some() {
                    if let Some(v) = m.get_mut(&k) {
                        p.push_key(&k);
                        prune_value(v, s.additional_schema(), p, depth + 1);
                        p.path.pop();
                    }
                } else {
                    let is_meta = matches!(k.as_str(), "apiVersion" | "kind" | "metadata");
                    if !is_meta || !p.path.is_empty() {
                        p.record(&k);
                    }
                    dropped.insert(k);
                }
            }
            if !dropped.is_empty() {
                m.retain(|k, _| !dropped.contains(k));
            }
        }
        Value::Array(items) => {
            let item_schema = s.and_then(|s| s.items.as_deref());
            for (i, v) in items.iter_mut().enumerate() {
                p.push_index(i);
                prune_value(v, item_schema, p, depth + 1);
                p.path.pop();
            }
        }
        _ => {}
    }
}

fn skip_prune(x: &mut Value, s: &Node, p: &mut Pruner, depth: usize) {
    if depth > MAX_DATA_DEPTH {
        return;
    }
    match x {
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                if s.x_embedded_resource && matches!(k.as_str(), "apiVersion" | "kind" | "metadata")
                {
                    if k == "metadata"
                        && let Value::Object(meta) = v
                    {
                        p.push_key("metadata");
                        prune_object_meta(meta, p);
                        p.path.pop();
                    }
                    continue;
                }
                if let Some(prop) = s.prop(k) {
                    p.push_key(k);
                    prune_value(v, Some(prop), p, depth + 1);
                    p.path.pop();
                } else if s.additional_properties.is_some() {
                    p.push_key(k);
                    prune_value(v, s.additional_schema(), p, depth + 1);
                    p.path.pop();
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = s.items.as_deref() {
                for (i, v) in items.iter_mut().enumerate() {
                    p.push_index(i);
                    skip_prune(v, item_schema, p, depth + 1);
                    p.path.pop();
                }
            }
        }
        _ => {}
    }
}

/// Drops fields `metav1.ObjectMeta` does not have (the apiserver's decode
/// into ObjectMeta loses them too).
fn prune_object_meta(meta: &mut Map<String, Value>, p: &mut Pruner) {
    let unknown: Vec<String> = meta
        .keys()
        .filter(|k| !OBJECT_META_FIELDS.contains(&k.as_str()))
        .cloned()
        .collect();
    for k in &unknown {
        p.record(k);
    }
    if !unknown.is_empty() {
        meta.retain(|k, _| OBJECT_META_FIELDS.contains(&k.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corten_apimachinery::{ErrorList, Path};
    use serde_json::json;

    fn node(v: Value) -> Node {
        let mut errs = ErrorList::new();
        Node::parse(&v, &Path::new("s"), &mut errs)
    }

    #[test]
    fn prunes_unknown_fields_and_reports_paths() {
        let s = node(json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "list": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}}}}}}));
        let mut obj = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n", "bogus": 1},
            "spec": {"list": [{"a": "x", "b": 1}], "free": {"anything": {"deep": 1}},
                     "labels": {"k": "v"}, "extra": true}, "status": {"x": 1}});
        let pruned = prune(&mut obj, &s, true);
        assert_eq!(
            pruned,
            vec!["metadata.bogus", "spec.list[0].b", "spec.extra", "status"]
        );
        assert_eq!(
            obj,
            json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n"},
                "spec": {"list": [{"a": "x"}], "free": {"anything": {"deep": 1}}, "labels": {"k": "v"}}})
        );
    }
}
