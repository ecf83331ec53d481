//! The fields a create makes its manager own, straight in `fieldsV1` form.
//!
//! A create compares the new object with the kind's zero object: every
//! leaf, list item, map and struct that the zero object does not already
//! hold is added, and a create with no managers of its own gives all of it
//! to its manager, minus the fields its endpoint does not own (`status`
//! through the main resource) and the server-owned metadata. That is
//! [`managers::update`] with no live object and no managers;
//! [`created_fields_v1`] computes the same `fieldsV1` value in one walk
//! over the object, without the comparison, union and difference sets in
//! between (on a pod create those were most of the managedFields cost).
//!
//! Anything the walk cannot decide the way the general path would (a list
//! item without its key fields, two list items whose keys differ as text
//! but compare equal, such as `1` and `1.0`) is left to the general path.
//!
//! [`managers::update`]: super::managers::update

use serde_json::{Map, Value};

use super::managers::stripped;
use super::path::PathElement;
use super::schema::{ListType, Node, NodeId, Schema, UNTYPED};
use super::set::Set;
use super::typed::{Shape, item_element, shape};

/// The walk met something only the general path decides exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub String);

/// The `fieldsV1` of the single `Update` entry a create records: every
/// field of `obj` the zero object of its kind does not hold, except those
/// in or below `ignored` and the server-owned metadata. `Ok(None)` when
/// that leaves nothing (the create records no entry).
///
/// Equal, key order included, to the entry's `fieldsV1` that
/// [`managers::update`](super::managers::update)`(schema, None, obj, Managers::default(), ..)`
/// encodes.
pub fn created_fields_v1(
    schema: &Schema,
    obj: &Value,
    ignored: &Set,
) -> Result<Option<Value>, Unsupported> {
    let root = schema.root();
    let zero_object = Value::Object(Map::new());
    // `compare` reads the old side of a create as `{}` at the root.
    if is_leaf(schema, root, Some(&zero_object), obj) {
        return Ok(None);
    }
    let walk = Walk { schema };
    let scope = Scope {
        ignored: non_empty(ignored),
        stripped: non_empty(stripped()),
    };
    let mut out = Map::new();
    walk.children(root, obj, true, scope, &mut out)?;
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

fn non_empty(s: &Set) -> Option<&Set> {
    (!s.is_empty()).then_some(s)
}

/// The parts of the ignored and stripped sets below the current node.
#[derive(Clone, Copy)]
struct Scope<'s> {
    /// Paths not owned, with everything below them.
    ignored: Option<&'s Set>,
    /// Paths not owned themselves (what is below them still is).
    stripped: Option<&'s Set>,
}

impl<'s> Scope<'s> {
    /// The scope of the child `pe`, or None if the child is ignored as a
    /// whole. `owned` says whether the child itself may be owned.
    fn child(&self, pe: &PathElement) -> Option<(Scope<'s>, bool)> {
        if self.ignored.is_some_and(|s| s.has_member(pe)) {
            return None;
        }
        let owned = !self.stripped.is_some_and(|s| s.has_member(pe));
        Some((
            Scope {
                ignored: self.ignored.and_then(|s| s.with_prefix(pe)),
                stripped: self.stripped.and_then(|s| s.with_prefix(pe)),
            },
            owned,
        ))
    }

    fn is_empty(&self) -> bool {
        self.ignored.is_none() && self.stripped.is_none()
    }
}

/// Whether `compare` treats the pair as a leaf: either side's shape is.
fn is_leaf(schema: &Schema, node: NodeId, old: Option<&Value>, new: &Value) -> bool {
    matches!(shape(schema, node, old), Shape::Leaf)
        || matches!(shape(schema, node, Some(new)), Shape::Leaf)
}

struct Walk<'a> {
    schema: &'a Schema,
}

impl Walk<'_> {
    /// Adds the entries below a non-leaf `v` (an object or an associative
    /// list, by its shape) to `out`.
    fn children(
        &self,
        node: NodeId,
        v: &Value,
        zero: bool,
        scope: Scope<'_>,
        out: &mut Map<String, Value>,
    ) -> Result<(), Unsupported> {
        match shape(self.schema, node, Some(v)) {
            Shape::Fields { node } => match v {
                Value::Object(m) => self.fields(node, m, zero, scope, out),
                _ => Ok(()),
            },
            Shape::Items { items, list_type } => match v {
                Value::Array(list) => self.items(items, list_type, list, scope, out),
                _ => Ok(()),
            },
            Shape::Leaf => Ok(()),
        }
    }

    /// The fields of a struct or map, in path element (name) order.
    fn fields(
        &self,
        node: NodeId,
        m: &Map<String, Value>,
        zero: bool,
        scope: Scope<'_>,
        out: &mut Map<String, Value>,
    ) -> Result<(), Unsupported> {
        // On create the old side is the zero object: non-pointer struct
        // fields are already there (as `{}`), everything else is not.
        let zero_fields: &[String] = match (zero, self.schema.node(node)) {
            (true, Node::Struct { zero_present, .. }) => zero_present,
            _ => &[],
        };
        let mut keys: Vec<(&String, &Value)> = m.iter().collect();
        keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (k, v) in keys {
            let (child_scope, owned) = if scope.is_empty() {
                (scope, true)
            } else {
                match scope.child(&PathElement::Field(k.clone())) {
                    Some(c) => c,
                    None => continue,
                }
            };
            let child = self.schema.field(node, k).unwrap_or(UNTYPED);
            let child_zero = zero && v.is_object() && zero_fields.iter().any(|f| f == k);
            let leaf = if child_zero {
                is_leaf(self.schema, child, Some(&Value::Object(Map::new())), v)
            } else {
                is_leaf(self.schema, child, None, v)
            };
            // Added unless the zero object holds it; a leaf the zero
            // object holds as `{}` counts when it changed.
            let member = owned
                && match (child_zero, leaf) {
                    (false, _) => true,
                    (true, true) => v.as_object().is_some_and(|o| !o.is_empty()),
                    (true, false) => false,
                };
            let mut key = String::with_capacity(k.len() + 2);
            key.push_str("f:");
            key.push_str(k);
            self.emit(key, member, leaf, child, v, child_zero, child_scope, out)?;
        }
        Ok(())
    }

    /// The items of an associative list (set or map), in path element
    /// order; the first of items with the same key, as `compare` does.
    fn items(
        &self,
        items: NodeId,
        list_type: &ListType,
        list: &[Value],
        scope: Scope<'_>,
        out: &mut Map<String, Value>,
    ) -> Result<(), Unsupported> {
        let mut entries: Vec<(PathElement, String, &Value)> = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let pe = item_element(self.schema, list_type, items, i, item).map_err(Unsupported)?;
            let key = pe.to_fields_key();
            if entries.iter().any(|(_, k, _)| *k == key) {
                continue;
            }
            entries.push((pe, key, item));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        if entries.windows(2).any(|w| w[0].0.cmp(&w[1].0).is_eq()) {
            // Distinct keys that compare equal share one node of the
            // general path's set; leave the merge to it.
            return Err(Unsupported("list items with equal keys".into()));
        }
        for (pe, key, item) in entries {
            let (child_scope, owned) = if scope.is_empty() {
                (scope, true)
            } else {
                match scope.child(&pe) {
                    Some(c) => c,
                    None => continue,
                }
            };
            let leaf = is_leaf(self.schema, items, None, item);
            self.emit(key, owned, leaf, items, item, false, child_scope, out)?;
        }
        Ok(())
    }

    /// Writes one child: `{}` if it is owned as a whole and nothing below
    /// it is, else its entries (after `"."` if it is owned itself);
    /// nothing if neither.
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &self,
        key: String,
        member: bool,
        leaf: bool,
        node: NodeId,
        v: &Value,
        zero: bool,
        scope: Scope<'_>,
        out: &mut Map<String, Value>,
    ) -> Result<(), Unsupported> {
        let mut below = Map::new();
        if !leaf {
            if member {
                below.insert(".".into(), Value::Object(Map::new()));
            }
            self.children(node, v, zero, scope, &mut below)?;
            if member && below.len() == 1 {
                below.clear();
            }
        }
        if member || !below.is_empty() {
            out.insert(key, Value::Object(below));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::managers::{self, ManagerId, Managers, Operation, reset_fields};
    use super::super::schema::Schema;
    use super::super::set::Set;
    use super::{Unsupported, created_fields_v1};

    /// A schema with every node kind: structs with zero-present fields,
    /// maps, atomic structs and lists, list-maps with one and two keys
    /// (one defaulted), sets, and untyped (preserve-unknown-fields) parts.
    fn schema() -> Schema {
        let comps = json!({
            "Thing": {"type": "object", "properties": {
                "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                "metadata": {"$ref": "#/components/schemas/ObjectMeta"},
                "spec": {"$ref": "#/components/schemas/Spec"},
                "status": {"type": "object", "properties": {
                    "phase": {"type": "string"},
                    "conditions": {"type": "array", "items": {"$ref": "#/components/schemas/Condition"},
                        "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}}}
            }},
            "ObjectMeta": {"type": "object", "properties": {
                "name": {"type": "string"}, "namespace": {"type": "string"},
                "uid": {"type": "string"}, "generateName": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                "finalizers": {"type": "array", "items": {"type": "string"},
                    "x-kubernetes-list-type": "set"},
                "ownerReferences": {"type": "array", "items": {"type": "object", "properties": {
                    "uid": {"type": "string"}, "name": {"type": "string"}}},
                    "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["uid"]},
                "managedFields": {"type": "array", "items": {"type": "object"}}
            }},
            "Condition": {"type": "object", "properties": {
                "type": {"type": "string"}, "status": {"type": "string"}}},
            "Spec": {"type": "object", "properties": {
                "replicas": {"type": "integer"},
                "selector": {"type": "object", "x-kubernetes-map-type": "atomic", "properties": {
                    "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}}},
                "template": {"$ref": "#/components/schemas/Template"},
                "ports": {"type": "array", "items": {"$ref": "#/components/schemas/Port"},
                    "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port", "protocol"]},
                "args": {"type": "array", "items": {"type": "string"}},
                "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                "numbers": {"type": "array", "items": {"type": "number"}, "x-kubernetes-list-type": "set"},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "config": {"type": "object", "properties": {"a": {"type": "string"}},
                    "x-kubernetes-preserve-unknown-fields": true},
                "resources": {"$ref": "#/components/schemas/Resources"}
            }},
            "Template": {"type": "object", "properties": {
                "metadata": {"$ref": "#/components/schemas/ObjectMeta"},
                "spec": {"type": "object", "properties": {
                    "containers": {"type": "array", "items": {"$ref": "#/components/schemas/Container"},
                        "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name"},
                    "volumes": {"type": "array", "items": {"type": "object", "properties": {
                        "name": {"type": "string"}, "projected": {"type": "object"}}},
                        "x-kubernetes-patch-strategy": "merge,retainKeys", "x-kubernetes-patch-merge-key": "name"}
                }}
            }},
            "Container": {"type": "object", "properties": {
                "name": {"type": "string"}, "image": {"type": "string"},
                "resources": {"$ref": "#/components/schemas/Resources"},
                "ports": {"type": "array", "items": {"$ref": "#/components/schemas/Port"},
                    "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port", "protocol"]}
            }},
            "Port": {"type": "object", "properties": {
                "port": {"type": "integer"}, "protocol": {"type": "string"}, "name": {"type": "string"}}},
            "Resources": {"type": "object", "properties": {
                "limits": {"type": "object", "additionalProperties": {"type": "string"}},
                "requests": {"type": "object", "additionalProperties": {"type": "string"}}}}
        });
        let zero = |c: &str| -> Vec<String> {
            let fields: &[&str] = match c {
                "Thing" => &["metadata", "spec", "status"],
                "Spec" => &["template", "resources", "selector"],
                "Template" => &["metadata", "spec"],
                "Container" => &["resources"],
                _ => &[],
            };
            fields.iter().map(|s| s.to_string()).collect()
        };
        let comps: &'static Value = Box::leak(Box::new(comps));
        let root: &'static Value =
            Box::leak(Box::new(json!({"$ref": "#/components/schemas/Thing"})));
        Schema::compile(root, &|n| comps.get(n), &zero)
    }

    /// The general path's `fieldsV1` of a create (None: no entry).
    fn general(schema: &Schema, obj: &Value, ignored: &Set) -> Option<Value> {
        let me = ManagerId {
            manager: "m".into(),
            operation: Operation::Update,
            api_version: "v1".into(),
            subresource: String::new(),
        };
        let m = managers::update(schema, None, obj, Managers::default(), &me, ignored, "t")
            .expect("general path");
        let enc = m.encode();
        enc.as_array()
            .unwrap()
            .first()
            .map(|e| e["fieldsV1"].clone())
    }

    /// Same value and same bytes (key order) as the general path.
    fn assert_same(schema: &Schema, obj: &Value, ignored: &Set) {
        let fast = created_fields_v1(schema, obj, ignored).expect("fast path");
        let want = general(schema, obj, ignored);
        assert_eq!(
            fast.as_ref().map(|v| v.to_string()),
            want.as_ref().map(|v| v.to_string()),
            "for {obj}"
        );
    }

    fn objects() -> Vec<Value> {
        vec![
            json!({}),
            json!({"apiVersion": "v1", "kind": "Thing", "metadata": {"name": "a", "namespace": "n"}}),
            json!({"metadata": {"name": "a", "uid": "u", "labels": {"z": "1", "a": "2"},
                "annotations": {}, "finalizers": ["b", "a", "b"],
                "ownerReferences": [{"uid": "2", "name": "y"}, {"uid": "1", "name": "x"}],
                "managedFields": []},
                "spec": {}, "status": {"phase": "Running"}}),
            json!({"kind": "Thing", "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "x"}},
                "template": {"metadata": {"labels": {"app": "x"}}, "spec": {
                    "containers": [
                        {"name": "web", "image": "nginx", "resources": {},
                         "ports": [{"port": 80}, {"port": 53, "protocol": "UDP", "name": "dns"},
                                   {"port": 53, "protocol": "TCP"}]},
                        {"name": "side", "image": "busybox",
                         "resources": {"limits": {"cpu": "1"}, "requests": {}}},
                        {"name": "web", "image": "duplicate, ignored"}
                    ],
                    "volumes": [{"name": "v", "projected": {"sources": [{"a": 1}]}}]
                }},
                "ports": [{"port": 8080, "protocol": "TCP"}],
                "args": ["x", "y"],
                "tags": ["b", "a", 3, true, null],
                "numbers": [2, 1.5],
                "extra": {"nested": {"deep": [1, 2]}, "s": "x", "o": {}},
                "config": {"a": "x", "b": {"c": 1}},
                "resources": {"limits": {}}
            }, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
            // Zero-present structs given as {} or null, atomic ones empty.
            json!({"spec": {"template": {}, "selector": {}, "resources": null, "extra": {}}}),
            json!({"spec": {"template": {"spec": {}}, "selector": {"matchLabels": {}}}}),
            // Values of the wrong shape are leaves.
            json!({"metadata": "x", "spec": {"template": [], "ports": {}, "tags": "t"}}),
            json!({"spec": null, "status": null}),
            json!({"unknown": {"x": {"y": 1}}, "spec": {"extra": [1, {"a": 2}]}}),
        ]
    }

    #[test]
    fn create_fields_match_the_general_path() {
        let s = schema();
        for obj in objects() {
            for ignored in [
                Set::new(),
                reset_fields("", true),
                reset_fields("status", true),
            ] {
                assert_same(&s, &obj, &ignored);
            }
        }
    }

    #[test]
    fn untyped_schema_matches_the_general_path() {
        let s = Schema::untyped();
        for obj in objects() {
            assert_same(&s, &obj, &reset_fields("", true));
        }
        // An untyped root that is not an object owns nothing.
        assert_same(&s, &json!([1, 2]), &Set::new());
        assert_eq!(created_fields_v1(&s, &json!("x"), &Set::new()), Ok(None));
    }

    #[test]
    fn only_stripped_metadata_records_no_entry() {
        let s = schema();
        let obj = json!({"apiVersion": "v1", "kind": "Thing",
            "metadata": {"name": "a", "namespace": "n", "uid": "u"}, "status": {"phase": "x"}});
        assert_eq!(
            created_fields_v1(&s, &obj, &reset_fields("", true)),
            Ok(None)
        );
        assert_eq!(general(&s, &obj, &reset_fields("", true)), None);
    }

    #[test]
    fn what_the_general_path_decides_is_left_to_it() {
        let s = schema();
        // A list-map item without its key: the general path fails.
        let missing = json!({"spec": {"ports": [{"name": "x"}]}});
        assert!(matches!(
            created_fields_v1(&s, &missing, &Set::new()),
            Err(Unsupported(_))
        ));
        // Keys that differ as text but compare equal share a node there.
        let equal = json!({"spec": {"numbers": [1, 1.0]}});
        assert!(matches!(
            created_fields_v1(&s, &equal, &Set::new()),
            Err(Unsupported(_))
        ));
        assert!(general(&s, &equal, &Set::new()).is_some());
    }
}
