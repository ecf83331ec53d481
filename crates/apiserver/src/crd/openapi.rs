//! OpenAPI v3 documents of `apiextensions.k8s.io/v1` and of every served
//! CRD group-version, built from the CRDs' schemas (what `kubectl explain`
//! and kubectl's field validation read), and the `/openapi/v2` document
//! that joins them to the built-in ones (`kubectl explain
//! --output=plaintext-openapiv2`, clients that only read v2).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::definition::{CRD_DEF, GROUP};
use super::to_bytes;
use crate::openapi::{add_paths, document, document_key, hash_of, schemas};
use crate::registry::Resource;

/// The documents, keyed like the built-in ones (`apis/<g>/<v>`).
pub struct Docs {
    docs: BTreeMap<String, (Bytes, String)>,
}

/// `stable.example.com` -> `com.example.stable` (upstream's component
/// naming for custom resources).
fn reversed(group: &str) -> String {
    let mut parts: Vec<&str> = group.split('.').collect();
    parts.reverse();
    parts.join(".")
}

fn version_schema(crd: &Value, version: &str) -> Value {
    crd.pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(version))
        .and_then(|v| v.pointer("/schema/openAPIV3Schema"))
        .cloned()
        .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}))
}

fn ref_to(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// Adds a custom resource version's kind and list kind to `components`;
/// returns the kind's component name.
fn add_custom_kind(
    components: &mut Map<String, Value>,
    crd: &Value,
    res: &Resource,
    object_meta: &str,
    list_meta: &str,
) -> String {
    let d = res.def;
    let base = format!("{}.{}", reversed(d.group), d.version);
    let name = format!("{base}.{}", d.kind);
    let mut schema = version_schema(crd, d.version);
    if let Some(obj) = schema.as_object_mut() {
        obj.entry("type").or_insert_with(|| json!("object"));
        let props = obj.entry("properties").or_insert_with(|| json!({}));
        if let Some(p) = props.as_object_mut() {
            p.insert("apiVersion".into(), json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"}));
            p.insert("kind".into(), json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"}));
            p.insert(
                "metadata".into(),
                json!({"allOf": [ref_to(object_meta)], "default": {}, "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"}),
            );
        }
        obj.insert(
            "x-kubernetes-group-version-kind".into(),
            json!([{"group": d.group, "kind": d.kind, "version": d.version}]),
        );
    }
    components.insert(name.clone(), schema);
    let list_kind = res
        .custom
        .as_ref()
        .map(|c| c.schema.list_kind().to_string())
        .unwrap_or_else(|| format!("{}List", d.kind));
    components.insert(
        format!("{base}.{list_kind}"),
        json!({
            "type": "object",
            "description": format!("{list_kind} is a list of {}", d.kind),
            "required": ["items"],
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "items": {"type": "array", "items": ref_to(&name),
                    "description": format!("List of {}. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md", d.resource)},
                "metadata": {"allOf": [ref_to(list_meta)], "default": {}},
            },
            "x-kubernetes-group-version-kind": [{"group": d.group, "kind": list_kind, "version": d.version}],
        }),
    );
    name
}

impl Docs {
    /// Builds the documents for the served CRDs and their resources.
    pub fn build(crds: &[Value], resources: &[Arc<Resource>]) -> Docs {
        let mut docs = BTreeMap::new();
        let (components, named) = schemas::components(GROUP, "v1", &["CustomResourceDefinition"]);
        let mut paths = Map::new();
        add_paths(&mut paths, &CRD_DEF, named.first().map(|(_, n)| n.as_str()));
        let doc = to_bytes(&document(paths, components));
        let hash = hash_of(&doc);
        docs.insert(document_key(GROUP, "v1"), (doc, hash));

        let mut by_gv: BTreeMap<(String, String), Vec<&Arc<Resource>>> = BTreeMap::new();
        for r in resources {
            by_gv
                .entry((r.def.group.to_string(), r.def.version.to_string()))
                .or_default()
                .push(r);
        }
        for ((g, v), list) in by_gv {
            let (mut components, object_meta, list_meta) = schemas::meta_components();
            let mut paths = Map::new();
            for r in list {
                let crd_name = r.custom.as_ref().map(|c| c.crd_name.as_str());
                let Some(crd) = crds
                    .iter()
                    .find(|c| corten_apimachinery::meta::name(c) == crd_name)
                else {
                    continue;
                };
                let name = add_custom_kind(&mut components, crd, r, &object_meta, &list_meta);
                add_paths(&mut paths, r.def, Some(&name));
            }
            let doc = to_bytes(&document(paths, components));
            let hash = hash_of(&doc);
            docs.insert(document_key(&g, &v), (doc, hash));
        }
        Docs { docs }
    }

    /// Every document, parsed (for merging into `/openapi/v2`).
    pub fn documents(&self) -> impl Iterator<Item = Value> + '_ {
        self.docs
            .values()
            .filter_map(|(bytes, _)| serde_json::from_slice(bytes).ok())
    }

    /// One document and its hash.
    pub fn document(&self, key: &str) -> Option<(Bytes, String)> {
        self.docs.get(key.trim_matches('/')).cloned()
    }

    /// `/openapi/v3` with these documents merged into `base`.
    pub fn root(&self, base: &Bytes) -> Bytes {
        let mut root: Value = serde_json::from_slice(base).unwrap_or_else(|_| json!({"paths": {}}));
        if let Some(paths) = root.get_mut("paths").and_then(Value::as_object_mut) {
            for (key, (_, hash)) in &self.docs {
                paths.insert(
                    key.clone(),
                    json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash}")}),
                );
            }
        }
        to_bytes(&root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverses_group() {
        assert_eq!(reversed("stable.example.com"), "com.example.stable");
    }
}
