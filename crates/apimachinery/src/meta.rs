//! Accessors for the `metadata` (and `apiVersion`/`kind`) of objects held as
//! `serde_json::Value`.
//!
//! The apiserver handles every object generically as JSON; these helpers keep
//! the pointer-walking in one place and never panic on malformed shapes
//! (a missing or non-object `metadata` simply reads as empty).

use serde_json::{Map, Value};

/// The `metadata` map, if present and an object.
pub fn metadata(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata")?.as_object()
}

/// The `metadata` map, created (or replaced if it is not an object) on demand.
/// Returns `None` only if `obj` itself is not a JSON object.
pub fn metadata_mut(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    let map = obj.as_object_mut()?;
    let entry = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    entry.as_object_mut()
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    metadata(obj)?.get(field)?.as_str()
}

/// `metadata.name` (None if absent or empty).
pub fn name(obj: &Value) -> Option<&str> {
    meta_str(obj, "name").filter(|s| !s.is_empty())
}

/// `metadata.generateName`.
pub fn generate_name(obj: &Value) -> Option<&str> {
    meta_str(obj, "generateName").filter(|s| !s.is_empty())
}

/// `metadata.namespace` (None if absent or empty).
pub fn namespace(obj: &Value) -> Option<&str> {
    meta_str(obj, "namespace").filter(|s| !s.is_empty())
}

/// `metadata.uid`.
pub fn uid(obj: &Value) -> Option<&str> {
    meta_str(obj, "uid").filter(|s| !s.is_empty())
}

/// `metadata.resourceVersion`.
pub fn resource_version(obj: &Value) -> Option<&str> {
    meta_str(obj, "resourceVersion").filter(|s| !s.is_empty())
}

/// `metadata.deletionTimestamp`.
pub fn deletion_timestamp(obj: &Value) -> Option<&str> {
    meta_str(obj, "deletionTimestamp")
}

/// `metadata.creationTimestamp`.
pub fn creation_timestamp(obj: &Value) -> Option<&str> {
    meta_str(obj, "creationTimestamp")
}

/// `metadata.generation` (0 if absent).
pub fn generation(obj: &Value) -> i64 {
    metadata(obj)
        .and_then(|m| m.get("generation"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// `metadata.labels` as a map of strings (non-string values are skipped).
pub fn labels(obj: &Value) -> std::collections::BTreeMap<String, String> {
    string_map(obj, "labels")
}

/// `metadata.annotations` as a map of strings.
pub fn annotations(obj: &Value) -> std::collections::BTreeMap<String, String> {
    string_map(obj, "annotations")
}

fn string_map(obj: &Value, field: &str) -> std::collections::BTreeMap<String, String> {
    metadata(obj)
        .and_then(|m| m.get(field))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// `metadata.finalizers`.
pub fn finalizers(obj: &Value) -> Vec<String> {
    metadata(obj)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Sets `metadata.<field>` to `value` (no-op if `obj` is not an object).
pub fn set(obj: &mut Value, field: &str, value: Value) {
    if let Some(m) = metadata_mut(obj) {
        m.insert(field.to_string(), value);
    }
}

/// Removes `metadata.<field>`.
pub fn remove(obj: &mut Value, field: &str) -> Option<Value> {
    obj.get_mut("metadata")?.as_object_mut()?.remove(field)
}

/// Sets `metadata.resourceVersion`.
pub fn set_resource_version(obj: &mut Value, rv: i64) {
    set(obj, "resourceVersion", Value::String(rv.to_string()));
}

/// `apiVersion` of the object.
pub fn api_version(obj: &Value) -> Option<&str> {
    obj.get("apiVersion")?.as_str()
}

/// `kind` of the object.
pub fn kind(obj: &Value) -> Option<&str> {
    obj.get("kind")?.as_str()
}

/// Sets `apiVersion` and `kind`, putting them first like upstream output.
pub fn set_type_meta(obj: &mut Value, api_version: &str, kind: &str) {
    if let Some(map) = obj.as_object_mut() {
        map.shift_remove("apiVersion");
        map.shift_remove("kind");
        map.shift_insert(0, "kind".into(), Value::String(kind.to_string()));
        map.shift_insert(
            0,
            "apiVersion".into(),
            Value::String(api_version.to_string()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_and_writes_metadata() {
        let mut o = json!({"metadata": {"name": "a", "labels": {"x": "1", "bad": 2}}});
        assert_eq!(name(&o), Some("a"));
        assert_eq!(labels(&o).len(), 1);
        set_resource_version(&mut o, 7);
        assert_eq!(resource_version(&o), Some("7"));
        set_type_meta(&mut o, "v1", "Pod");
        let keys: Vec<_> = o.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, vec!["apiVersion", "kind", "metadata"]);
    }

    #[test]
    fn tolerates_malformed_metadata() {
        let mut o = json!({"metadata": 5});
        assert_eq!(name(&o), None);
        set(&mut o, "name", json!("b"));
        assert_eq!(name(&o), Some("b"));
        let mut not_obj = json!([1]);
        set(&mut not_obj, "name", json!("c"));
        assert_eq!(not_obj, json!([1]));
    }
}
