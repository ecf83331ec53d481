//! The `scale` subresource of custom resources: an autoscaling/v1 `Scale`
//! view of the paths the CRD version names (`specReplicasPath`,
//! `statusReplicasPath`, `labelSelectorPath`). Writes go through
//! `registry::scale` like those of built-in kinds.

use corten_apimachinery::{StatusError, meta};
use serde_json::{Value, json};

use super::custom::CustomResource;
use crate::registry::keys::object_key;
use crate::registry::store::{decode_stored, storage_error};
use crate::registry::{Registry, Resource, convert};

/// The Scale of a custom resource (served version).
pub fn scale_of(custom: &CustomResource, obj: &Value) -> Value {
    let s = &custom.schema;
    let mut md = serde_json::Map::new();
    if let Some(m) = meta::metadata(obj) {
        for k in [
            "name",
            "namespace",
            "uid",
            "resourceVersion",
            "creationTimestamp",
        ] {
            if let Some(v) = m.get(k) {
                md.insert(k.into(), v.clone());
            }
        }
    }
    let mut status = json!({"replicas": s.status_replicas(obj).unwrap_or(0)});
    if let Some(sel) = s.label_selector(obj).filter(|s| !s.is_empty()) {
        status["selector"] = json!(sel);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": md,
        "spec": {"replicas": s.spec_replicas(obj).unwrap_or(0)},
        "status": status,
    })
}

fn custom_of(res: &Resource) -> Result<&CustomResource, StatusError> {
    res.custom
        .as_deref()
        .ok_or_else(|| StatusError::internal("not a custom resource"))
}

/// GET .../scale of a custom resource.
pub async fn get(
    reg: &Registry,
    res: &Resource,
    ns: Option<&str>,
    name: &str,
) -> Result<Value, StatusError> {
    let custom = custom_of(res)?;
    let gr = res.group_resource();
    let kv = reg
        .store
        .get(&object_key(res.def, ns, name))
        .await
        .map_err(|e| storage_error(e, &gr, name))?
        .ok_or_else(|| StatusError::not_found(&gr, name))?;
    let obj = convert::from_storage(res, decode_stored(&kv)?)?;
    Ok(scale_of(custom, &obj))
}
