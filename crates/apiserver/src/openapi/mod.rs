//! OpenAPI v3 documents (`/openapi/v3` and one per group-version).
//!
//! kubectl reads these to learn that the server validates fields itself
//! (the `fieldValidation` parameter on each kind's PATCH operation), so it
//! sends `fieldValidation=Strict` instead of validating client-side. The
//! documents list every served path and operation with its
//! `x-kubernetes-group-version-kind`; component schemas are added by the
//! kubectl-parity work.

mod proto_v2;
pub mod schemas;
pub mod v2;

use std::collections::BTreeMap;

use bytes::Bytes;
use corten_api::{ResourceDef, builtin_resources};
use serde_json::{Map, Value, json};

/// The documents, computed once.
pub struct OpenApi {
    root: Bytes,
    docs: BTreeMap<String, (Bytes, String)>,
}

fn param(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": schema, "uniqueItems": true})
}

fn write_params() -> Vec<Value> {
    vec![
        param(
            "dryRun",
            "When present, indicates that modifications should not be persisted.",
            json!({"type": "string"}),
        ),
        param(
            "fieldManager",
            "fieldManager is a name associated with the actor or entity that is making these changes.",
            json!({"type": "string"}),
        ),
        param(
            "fieldValidation",
            "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn (default), Strict.",
            json!({"type": "string"}),
        ),
    ]
}

fn gvk(d: &ResourceDef) -> Value {
    json!({"group": d.group, "version": d.version, "kind": d.kind})
}

fn op(d: &ResourceDef, action: &str, extra: Vec<Value>, schema: Option<&str>) -> Value {
    let mut params = match action {
        "post" | "put" | "patch" => write_params(),
        _ => Vec::new(),
    };
    if action == "patch" {
        params.push(param(
            "force",
            "Force is going to \"force\" Apply requests.",
            json!({"type": "boolean"}),
        ));
    }
    params.extend(extra);
    let mut o = json!({
        "operationId": format!("{action}{}", d.kind),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(d),
        "parameters": params,
        "responses": {"200": {"description": "OK"}, "401": {"description": "Unauthorized"}},
    });
    let object_ref = schema.map(|n| json!({"$ref": format!("#/components/schemas/{n}")}));
    if let Some(r) = &object_ref
        && matches!(action, "get" | "put" | "post" | "patch" | "delete")
    {
        o["responses"]["200"]["content"] = json!({
            "application/json": {"schema": r},
            "application/yaml": {"schema": r},
        });
    }
    if matches!(action, "post" | "put" | "patch") {
        let media = if action == "patch" {
            json!({
                "application/json-patch+json": {"schema": {"type": "object"}},
                "application/merge-patch+json": {"schema": {"type": "object"}},
                "application/strategic-merge-patch+json": {"schema": {"type": "object"}},
                "application/apply-patch+yaml": {"schema": {"type": "object"}},
            })
        } else {
            let r = object_ref
                .clone()
                .unwrap_or_else(|| json!({"type": "object"}));
            json!({"*/*": {"schema": r}})
        };
        o["requestBody"] = json!({"content": media, "required": true});
    }
    o
}

fn prefix(d: &ResourceDef) -> String {
    if d.group.is_empty() {
        format!("/api/{}", d.version)
    } else {
        format!("/apis/{}/{}", d.group, d.version)
    }
}

fn doc_for(group: &str, version: &str) -> Value {
    let defs: Vec<&ResourceDef> = builtin_resources()
        .iter()
        .filter(|d| d.group == group && d.version == version)
        .collect();
    let kinds: Vec<&str> = defs.iter().map(|d| d.kind).collect();
    let (components, named) = schemas::components(group, version, &kinds);
    let mut paths = Map::new();
    for d in defs {
        let schema = named
            .iter()
            .find(|(k, _)| k == d.kind)
            .map(|(_, n)| n.as_str());
        add_paths(&mut paths, d, schema);
    }
    document(paths, components)
}

/// Adds the paths and operations of one served resource; `schema` names
/// its component schema, if it has one.
pub fn add_paths(paths: &mut Map<String, Value>, d: &ResourceDef, schema: Option<&str>) {
    let base = prefix(d);
    let collection = if d.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}", d.resource)
    } else {
        format!("{base}/{}", d.resource)
    };
    let item = format!("{collection}/{{name}}");
    let has = |v: &str| d.verbs.contains(&v);
    let mut coll = Map::new();
    if has("list") {
        coll.insert("get".into(), op(d, "list", vec![], None));
    }
    if has("create") {
        coll.insert("post".into(), op(d, "post", vec![], schema));
    }
    if has("deletecollection") {
        coll.insert("delete".into(), op(d, "deletecollection", vec![], schema));
    }
    if !coll.is_empty() {
        paths.insert(collection.clone(), Value::Object(coll));
    }
    let mut one = Map::new();
    if has("get") {
        one.insert("get".into(), op(d, "get", vec![], schema));
    }
    if has("update") {
        one.insert("put".into(), op(d, "put", vec![], schema));
    }
    if has("patch") {
        one.insert("patch".into(), op(d, "patch", vec![], schema));
    }
    if has("delete") {
        one.insert("delete".into(), op(d, "delete", vec![], schema));
    }
    if !one.is_empty() {
        paths.insert(item.clone(), Value::Object(one));
    }
    if d.namespaced && has("list") {
        let mut all = Map::new();
        all.insert("get".into(), op(d, "list", vec![], None));
        paths.insert(format!("{base}/{}", d.resource), Value::Object(all));
    }
}

/// A group-version document from its paths and component schemas.
pub fn document(paths: Map<String, Value>, components: Map<String, Value>) -> Value {
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": corten_component_base::version::GIT_VERSION},
        "paths": paths,
        "components": {"schemas": components},
    })
}

/// The key of a group-version document (`api/v1`, `apis/<g>/<v>`).
pub fn document_key(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The `/openapi/v3` index `root` with more entries (key, hash): remote
/// APIServices' documents, served at `/openapi/v3/<key>`. Local entries win.
pub fn with_remote_entries(root: &Bytes, entries: &[(String, String)]) -> Bytes {
    if entries.is_empty() {
        return root.clone();
    }
    let Ok(mut index) = serde_json::from_slice::<Value>(root) else {
        return root.clone();
    };
    if let Some(paths) = index.get_mut("paths").and_then(Value::as_object_mut) {
        for (key, hash) in entries {
            paths.entry(key.clone()).or_insert_with(
                || json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash}")}),
            );
        }
    }
    serde_json::to_vec(&index)
        .map(Bytes::from)
        .unwrap_or_else(|_| root.clone())
}

/// A stable content hash (ETag, `?hash=` of the root's URLs).
pub fn hash_of(bytes: &[u8]) -> String {
    // FNV-1a: a stable content hash for cache-busting URLs and ETags.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016X}")
}

impl OpenApi {
    /// Builds every document from the resource table.
    pub fn new() -> Self {
        let mut gvs: Vec<(&str, &str)> = Vec::new();
        for d in builtin_resources() {
            if !gvs.contains(&(d.group, d.version)) {
                gvs.push((d.group, d.version));
            }
        }
        let mut docs = BTreeMap::new();
        let mut root_paths = Map::new();
        for (g, v) in gvs {
            let key = if g.is_empty() {
                format!("api/{v}")
            } else {
                format!("apis/{g}/{v}")
            };
            let doc = doc_for(g, v);
            let bytes = Bytes::from(serde_json::to_vec(&doc).unwrap_or_default());
            let hash = hash_of(&bytes);
            root_paths.insert(
                key.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash}")}),
            );
            docs.insert(key, (bytes, hash));
        }
        let root =
            Bytes::from(serde_json::to_vec(&json!({"paths": root_paths})).unwrap_or_default());
        OpenApi { root, docs }
    }

    /// Every built-in group-version document, parsed again (`/openapi/v2`
    /// is built from them together with the CRDs' documents, once per CRD
    /// change, so the parsed form is not kept).
    pub fn documents(&self) -> impl Iterator<Item = Value> + '_ {
        self.docs
            .values()
            .filter_map(|(bytes, _)| serde_json::from_slice(bytes).ok())
    }

    /// `/openapi/v3`.
    pub fn root(&self) -> Bytes {
        self.root.clone()
    }

    /// `/openapi/v3/<api/v1 | apis/g/v>`: the document and its hash (ETag).
    pub fn document(&self, path: &str) -> Option<(Bytes, String)> {
        self.docs.get(path.trim_matches('/')).cloned()
    }
}

impl Default for OpenApi {
    fn default() -> Self {
        Self::new()
    }
}
