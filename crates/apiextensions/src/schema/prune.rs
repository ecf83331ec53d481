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
    /// Unknown fields of the root's `metadata`.
    root_meta: Vec<String>,
    /// Unknown fields of embedded resources' `metadata`.
    embedded_meta: Vec<String>,
}

impl Pruner {
    fn path_of(&self, key: &str) -> String {
        let mut p = self.path.concat();
        if !p.is_empty() {
            p.push('.');
        }
        p.push_str(key);
        p
    }

    fn record(&mut self, key: &str) {
        let p = self.path_of(key);
        self.pruned.push(p);
    }

    fn record_meta(&mut self, key: &str) {
        let p = self.path_of(key);
        if self.path.len() == 1 {
            self.root_meta.push(p);
        } else {
            self.embedded_meta.push(p);
        }
    }

    /// Upstream's order: the root's metadata (decoded first), the pruned
    /// fields sorted, then the metadata of embedded resources (coerced
    /// last).
    fn into_upstream_order(mut self) -> Vec<String> {
        self.pruned.sort();
        let mut out = self.root_meta;
        out.append(&mut self.pruned);
        out.append(&mut self.embedded_meta);
        out
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
/// Returns the pruned field paths in upstream's order (see
/// [`order_unknown_fields`]).
pub(crate) fn prune(obj: &mut Value, schema: &Node, is_resource_root: bool) -> Vec<String> {
    let mut p = Pruner {
        path: Vec::new(),
        pruned: Vec::new(),
        root_meta: Vec::new(),
        embedded_meta: Vec::new(),
    };
    if is_resource_root && !schema.x_embedded_resource {
        let root = schema.as_resource_root();
        prune_value(obj, Some(&root), &mut p, 0);
    } else {
        prune_value(obj, Some(schema), &mut p, 0);
    }
    p.into_upstream_order()
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

/// Puts unknown field paths of a custom resource (found in any order) in
/// upstream's order, the one [`prune`] returns: unknown fields of the
/// root's `metadata` first, then the fields pruning drops, sorted, then
/// unknown fields of embedded resources' `metadata`.
pub(crate) fn order_unknown_fields(schema: &Node, fields: Vec<String>) -> Vec<String> {
    let mut root_meta = Vec::new();
    let mut pruned = Vec::new();
    let mut embedded_meta = Vec::new();
    for f in fields {
        if f.starts_with("metadata.") {
            root_meta.push(f);
        } else if in_embedded_metadata(schema, &f) {
            embedded_meta.push(f);
        } else {
            pruned.push(f);
        }
    }
    pruned.sort();
    root_meta.append(&mut pruned);
    root_meta.append(&mut embedded_meta);
    root_meta
}

/// Whether `path` (`spec.obj.metadata.x`, `spec.items[0].metadata.x`)
/// lies in the `metadata` of an `x-kubernetes-embedded-resource` object.
fn in_embedded_metadata(schema: &Node, path: &str) -> bool {
    let mut node = Some(schema);
    for segment in path.split('.') {
        let (name, indexes) = match segment.find('[') {
            Some(i) => segment.split_at(i),
            None => (segment, ""),
        };
        let Some(n) = node else {
            return false;
        };
        if name == "metadata" && n.x_embedded_resource && !std::ptr::eq(n, schema) {
            return true;
        }
        node = n.prop(name).or_else(|| n.additional_schema());
        for _ in 0..indexes.matches('[').count() {
            node = node.and_then(|n| n.items.as_deref());
        }
    }
    false
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
        p.record_meta(k);
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
    fn unknown_fields_come_in_upstream_order() {
        // Upstream's field validation test schema, reduced.
        let s = node(json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "knownField1": {"type": "string"},
                "embeddedObj": {"type": "object", "x-kubernetes-embedded-resource": true,
                    "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                        "metadata": {"type": "object"}}},
                "ports": {"type": "array", "items": {"type": "object", "properties": {
                    "name": {"type": "string"}}}}}}}}));
        let mut obj = json!({"apiVersion": "x/v1", "kind": "K",
            "metadata": {"name": "n", "unknownMeta": "metaVal"},
            "spec": {"unknown1": "val1", "unknownDupe": "v", "knownField1": "val1",
                "ports": [{"name": "p", "unknownNested": "val"}],
                "embeddedObj": {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "my-cm", "unknownEmbeddedMeta": "foo"}}}});
        let document_order = dropped_in_document_order();
        let want = vec![
            "metadata.unknownMeta",
            "spec.ports[0].unknownNested",
            "spec.unknown1",
            "spec.unknownDupe",
            "spec.embeddedObj.metadata.unknownEmbeddedMeta",
        ];
        assert_eq!(prune(&mut obj, &s, true), want);
        assert_eq!(order_unknown_fields(&s, document_order), want);

        fn dropped_in_document_order() -> Vec<String> {
            [
                "metadata.unknownMeta",
                "spec.unknown1",
                "spec.unknownDupe",
                "spec.ports[0].unknownNested",
                "spec.embeddedObj.metadata.unknownEmbeddedMeta",
            ]
            .map(String::from)
            .to_vec()
        }
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
            vec!["metadata.bogus", "spec.extra", "spec.list[0].b", "status"]
        );
        assert_eq!(
            obj,
            json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n"},
                "spec": {"list": [{"a": "x"}], "free": {"anything": {"deep": 1}}, "labels": {"k": "v"}}})
        );
    }
}
