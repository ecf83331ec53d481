//! CRD defaulting (upstream v1 `SetDefaults_*`) and the create/update
//! preparation of the CRD REST strategy.

use serde_json::{Map, Value, json};

/// Applies upstream's v1 defaults: `names.singular` = lowercased kind,
/// `names.listKind` = kind + `List`, `conversion.strategy: None`, webhook
/// service port 443, and `status.storedVersions` seeded with the storage
/// version.
pub fn default_crd(crd: &mut Value) {
    let Some(obj) = crd.as_object_mut() else {
        return;
    };
    let spec = obj
        .entry("spec")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(spec) = spec.as_object_mut() {
        if let Some(names) = spec.get_mut("names").and_then(Value::as_object_mut) {
            let kind = names
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if names
                .get("singular")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                names.insert("singular".into(), Value::String(kind.to_lowercase()));
            }
            if names
                .get("listKind")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
                && !kind.is_empty()
            {
                names.insert("listKind".into(), Value::String(format!("{kind}List")));
            }
        }
        if spec.get("conversion").is_none_or(Value::is_null) {
            spec.insert("conversion".into(), json!({"strategy": "None"}));
        }
        if let Some(svc) = spec
            .get_mut("conversion")
            .and_then(|c| c.pointer_mut("/webhook/clientConfig/service"))
            .and_then(Value::as_object_mut)
            && svc.get("port").is_none_or(Value::is_null)
        {
            svc.insert("port".into(), Value::from(443));
        }
    }
    let storage = storage_version(crd);
    if let (Some(v), Some(obj)) = (storage, crd.as_object_mut()) {
        let status = obj
            .entry("status")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(status) = status.as_object_mut() {
            let empty = status
                .get("storedVersions")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty);
            if empty {
                status.insert("storedVersions".into(), json!([v]));
            }
        }
    }
}

fn storage_version(crd: &Value) -> Option<String> {
    crd.pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .and_then(|v| v.get("name").and_then(Value::as_str))
        .map(String::from)
}

fn add_stored_version(crd: &mut Value) {
    let Some(v) = storage_version(crd) else {
        return;
    };
    let Some(obj) = crd.as_object_mut() else {
        return;
    };
    let status = obj
        .entry("status")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(status) = status.as_object_mut() else {
        return;
    };
    let stored = status
        .entry("storedVersions")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Some(list) = stored.as_array_mut()
        && !list.iter().any(|s| s.as_str() == Some(v.as_str()))
    {
        list.push(Value::String(v));
    }
}

/// Upstream `PrepareForCreate`: the client's status is dropped,
/// `metadata.generation` is 1 and the storage version is recorded in
/// `status.storedVersions`.
pub fn prepare_crd_for_create(crd: &mut Value) {
    let Some(obj) = crd.as_object_mut() else {
        return;
    };
    obj.insert("status".into(), json!({"storedVersions": [], "conditions": [], "acceptedNames": {"plural": "", "kind": ""}}));
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("generation".into(), Value::from(1));
    }
    add_stored_version(crd);
}

/// Upstream `PrepareForUpdate`: the status is kept from `old`, the
/// generation increments when the spec changed, and a new storage version
/// is appended to `status.storedVersions`.
pub fn prepare_crd_for_update(new: &mut Value, old: &Value) {
    let old_gen = old
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let spec_changed = new.get("spec") != old.get("spec");
    let Some(obj) = new.as_object_mut() else {
        return;
    };
    obj.insert(
        "status".into(),
        old.get("status").cloned().unwrap_or_else(|| json!({})),
    );
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert(
            "generation".into(),
            Value::from(if spec_changed { old_gen + 1 } else { old_gen }),
        );
    }
    add_stored_version(new);
}
