//! Field ownership of custom resources: the schema server-side apply
//! merges a CRD version's objects by, and the CRD's versions for
//! managedFields entries recorded in another version than a write's.
//!
//! Like upstream (`buildOpenAPIModelsForApply` + the smd type converter),
//! the schema is the version's structural schema with `apiVersion` and
//! `kind` as strings and `metadata` (also inside
//! `x-kubernetes-embedded-resource` objects) as the built-in ObjectMeta,
//! so lists follow `x-kubernetes-list-type` (`atomic` by default, `set`
//! by value, `map` by `x-kubernetes-list-map-keys`), objects follow
//! `x-kubernetes-map-type`, and whatever sits under
//! `x-kubernetes-preserve-unknown-fields` is deduced (maps merge key by
//! key, lists are atomic).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use corten_apimachinery::managedfields::{Schema, Versions};
use serde_json::{Map, Value, json};

use super::webhook::WebhookClient;

/// The built-in component schemas ObjectMeta needs (with the list types
/// of `ownerReferences` and `finalizers`), and ObjectMeta's name.
fn object_meta() -> &'static (Map<String, Value>, String) {
    static META: OnceLock<(Map<String, Value>, String)> = OnceLock::new();
    META.get_or_init(|| {
        // Any built-in kind brings ObjectMeta with its extensions.
        let (defs, named) = crate::openapi::schemas::components("", "v1", &["ConfigMap"]);
        let name = named
            .first()
            .and_then(|(_, n)| defs.get(n))
            .and_then(|cm| cm.pointer("/properties/metadata"))
            .and_then(|m| m.get("$ref").or_else(|| m.pointer("/allOf/0/$ref")))
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .unwrap_or_default()
            .to_string();
        (defs, name)
    })
}

fn meta_ref() -> Value {
    json!({"$ref": format!("#/components/schemas/{}", object_meta().1)})
}

/// Gives `x-kubernetes-embedded-resource` objects their `apiVersion`,
/// `kind` and ObjectMeta `metadata` (upstream's `addEmbeddedProperties`).
fn add_embedded_properties(schema: &mut Value, depth: usize) {
    if depth > 64 {
        return;
    }
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    if obj.get("x-kubernetes-embedded-resource") == Some(&Value::Bool(true)) {
        let props = obj
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(p) = props.as_object_mut() {
            p.entry("apiVersion")
                .or_insert_with(|| json!({"type": "string"}));
            p.entry("kind").or_insert_with(|| json!({"type": "string"}));
            p.insert("metadata".into(), meta_ref());
        }
    }
    for key in ["properties", "patternProperties"] {
        if let Some(Value::Object(props)) = obj.get_mut(key) {
            for p in props.values_mut() {
                add_embedded_properties(p, depth + 1);
            }
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child @ Value::Object(_)) = obj.get_mut(key) {
            add_embedded_properties(child, depth + 1);
        }
    }
}

/// The JSON schema apply merges objects of `version` by.
fn version_json_schema(crd: &Value, version: &str) -> Value {
    let mut schema = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(version))
        .and_then(|v| v.pointer("/schema/openAPIV3Schema"))
        .cloned()
        .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    add_embedded_properties(&mut schema, 0);
    if let Some(obj) = schema.as_object_mut() {
        let props = obj
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(p) = props.as_object_mut() {
            p.insert("apiVersion".into(), json!({"type": "string"}));
            p.insert("kind".into(), json!({"type": "string"}));
            p.insert("metadata".into(), meta_ref());
        }
    }
    schema
}

/// Compiles the apply schema of `version` of a CRD.
pub fn compile(crd: &Value, version: &str) -> Schema {
    let root = version_json_schema(crd, version);
    let (defs, _) = object_meta();
    // Custom resources are unstructured upstream: a create compares
    // against an empty object, nothing is present from the start.
    Schema::compile(&root, &|n| defs.get(n), &|_| Vec::new())
}

/// Every version of a CRD, for managedFields entries recorded in another
/// version than a write's (upstream's version converter over the CRD's
/// converter): their fields are compared in their own version's schema,
/// after converting the object there (by the conversion webhook, or by
/// rewriting `apiVersion` for `conversion: None`).
pub struct CrdVersions {
    /// `group/version` -> apply schema, for every version in `spec.versions`.
    schemas: HashMap<String, Arc<Schema>>,
    webhook: Option<Arc<WebhookClient>>,
}

impl CrdVersions {
    /// The versions of a CRD with its conversion webhook, if any.
    pub fn new(crd: &Value, webhook: Option<Arc<WebhookClient>>) -> Self {
        let group = crd
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or("");
        let schemas = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.get("name").and_then(Value::as_str))
            .map(|v| (format!("{group}/{v}"), Arc::new(compile(crd, v))))
            .collect();
        CrdVersions { schemas, webhook }
    }

    /// The apply schema of `api_version` (`group/version`).
    pub fn schema_of(&self, api_version: &str) -> Option<Arc<Schema>> {
        self.schemas.get(api_version).cloned()
    }
}

impl Versions for CrdVersions {
    fn schema(&self, api_version: &str) -> Option<Arc<Schema>> {
        self.schema_of(api_version)
    }

    fn convert(&self, obj: &Value, api_version: &str) -> Result<Value, String> {
        if corten_apimachinery::meta::api_version(obj) == Some(api_version) {
            return Ok(obj.clone());
        }
        if !self.schemas.contains_key(api_version) {
            return Err(format!("{api_version} is not a version of the kind"));
        }
        match &self.webhook {
            Some(w) => w.convert_blocking(obj, api_version),
            None => {
                let mut out = obj.clone();
                if let Some(m) = out.as_object_mut() {
                    m.insert("apiVersion".into(), Value::String(api_version.into()));
                }
                Ok(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corten_apimachinery::managedfields::{ListType, Node};

    fn crd() -> Value {
        json!({"spec": {"group": "example.com", "versions": [{"name": "v1", "schema": {"openAPIV3Schema": {
            "type": "object",
            "properties": {"spec": {"type": "object", "properties": {
                "ports": {"type": "array", "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name", "protocol"],
                    "items": {"type": "object", "properties": {
                        "name": {"type": "string"}, "protocol": {"type": "string"},
                        "port": {"type": "integer"}}}},
                "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "args": {"type": "array", "items": {"type": "string"}},
                "selector": {"type": "object", "x-kubernetes-map-type": "atomic",
                    "properties": {"app": {"type": "string"}}},
                "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                    "x-kubernetes-preserve-unknown-fields": true}}}}}}}]}})
    }

    fn at<'a>(s: &'a Schema, path: &[&str]) -> &'a Node {
        let mut id = s.root();
        for p in path {
            id = s.field(id, p).unwrap_or_else(|| panic!("no field {p}"));
        }
        s.node(id)
    }

    fn list_type(s: &Schema, path: &[&str]) -> ListType {
        match at(s, path) {
            Node::List { list_type, .. } => list_type.clone(),
            other => panic!("not a list: {other:?}"),
        }
    }

    #[test]
    fn compiles_list_and_map_types_and_object_meta() {
        let s = compile(&crd(), "v1");
        assert_eq!(
            list_type(&s, &["spec", "ports"]),
            ListType::Map(vec!["name".into(), "protocol".into()])
        );
        assert_eq!(list_type(&s, &["spec", "tags"]), ListType::Set);
        assert_eq!(list_type(&s, &["spec", "args"]), ListType::Atomic);
        assert!(matches!(
            at(&s, &["spec", "selector"]),
            Node::Struct { atomic: true, .. }
        ));
        assert_eq!(at(&s, &["spec", "config"]), &Node::Untyped);
        // ObjectMeta at the root and in embedded resources.
        for base in [&[][..], &["spec", "template"][..]] {
            let mut p = base.to_vec();
            p.extend(["metadata", "ownerReferences"]);
            assert_eq!(list_type(&s, &p), ListType::Map(vec!["uid".into()]));
            let mut p = base.to_vec();
            p.extend(["metadata", "finalizers"]);
            assert_eq!(list_type(&s, &p), ListType::Set);
        }
        assert_eq!(at(&s, &["kind"]), &Node::Scalar);
    }

    #[test]
    fn shapes_upstream_types_alike() {
        let crd = json!({"spec": {"group": "example.com", "versions": [{"name": "v1", "schema": {"openAPIV3Schema": {
            "type": "object",
            "properties": {"spec": {"type": "object", "properties": {
                "port": {"x-kubernetes-int-or-string": true},
                "pods": {"type": "array", "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "x-kubernetes-embedded-resource": true,
                        "properties": {"name": {"type": "string"}}}},
                "free": {"type": "object"}}}}}}}]}});
        let s = compile(&crd, "v1");
        // int-or-string is a scalar, not a deduced value.
        assert_eq!(at(&s, &["spec", "port"]), &Node::Scalar);
        // Embedded resources inside list items get ObjectMeta and keep
        // their own fields.
        let Node::List { items, .. } = at(&s, &["spec", "pods"]) else {
            panic!("not a list")
        };
        let meta = s.field(*items, "metadata").unwrap();
        let finalizers = s.field(meta, "finalizers").unwrap();
        assert!(matches!(
            s.node(finalizers),
            Node::List {
                list_type: ListType::Set,
                ..
            }
        ));
        assert!(s.field(*items, "name").is_some());
        assert!(s.field(*items, "kind").is_some());
        // An object without properties is a map of anything upstream
        // (kube-openapi parses it as a map of Arbitrary): deduced here.
        assert_eq!(at(&s, &["spec", "free"]), &Node::Untyped);
        // A version without a schema: typed metadata, anything else.
        let bare = json!({"spec": {"group": "example.com", "versions": [{"name": "v1"}]}});
        let s = compile(&bare, "v1");
        assert!(s.field(s.root(), "whatever").is_some());
        assert_eq!(
            list_type(&s, &["metadata", "ownerReferences"]),
            ListType::Map(vec!["uid".into()])
        );
    }

    #[test]
    fn versions_convert_without_a_webhook_by_rewriting_api_version() {
        let v = CrdVersions::new(&crd(), None);
        assert!(v.schema("example.com/v1").is_some());
        assert!(v.schema("example.com/v2").is_none());
        let obj = json!({"apiVersion": "example.com/v0", "spec": {"a": 1}});
        assert_eq!(
            v.convert(&obj, "example.com/v1").unwrap(),
            json!({"apiVersion": "example.com/v1", "spec": {"a": 1}})
        );
        assert!(v.convert(&obj, "example.com/v9").is_err());
    }
}
