//! The `scale` subresource of custom resources: an autoscaling/v1 `Scale`
//! view of the paths the CRD version names (`specReplicasPath`,
//! `statusReplicasPath`, `labelSelectorPath`).

use corten_apimachinery::{StatusError, meta};
use corten_storage::{KeyValue, UpdateDecision};
use serde_json::{Value, json};

use super::custom::CustomResource;
use crate::registry::keys::object_key;
use crate::registry::patch::apply_patch;
use crate::registry::store::{
    UpdateTarget, WriteOptions, decide_update, decode_stored, storage_error, update_computed,
};
use crate::registry::subresources::{ScaleChange, checked_scale_request};
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

/// PUT or PATCH .../scale of a custom resource: writes the replicas at
/// `specReplicasPath` through the regular update (schema, CEL, generation).
pub async fn update(
    reg: &Registry,
    res: &Resource,
    ns: Option<&str>,
    name: &str,
    change: ScaleChange,
    opts: &WriteOptions,
) -> Result<Value, StatusError> {
    let custom = custom_of(res)?;
    let gr = res.group_resource();
    let key = object_key(res.def, ns, name);
    let compute = |kv: &KeyValue| -> Result<(UpdateDecision, Value), StatusError> {
        let old = decode_stored(kv)?;
        let served = convert::from_storage(res, old.clone())?;
        let current = scale_of(custom, &served);
        let scale = match &change {
            ScaleChange::Replace(v) => v.clone(),
            ScaleChange::Patch(p, f) => apply_patch(res, name, &current, p, *f)?,
        };
        let replicas = checked_scale_request(&gr, name, &scale, &old)?;
        let mut new = served;
        if !custom.schema.set_spec_replicas(&mut new, replicas) {
            return Err(StatusError::internal(
                "the object has no place for the scale subresource's specReplicasPath",
            ));
        }
        let new = convert::to_storage(res, new)?;
        decide_update(res, &old, new, UpdateTarget::Main, opts)
    };
    let updated = update_computed(reg, res, &key, name, opts.dry_run, compute).await?;
    Ok(scale_of(custom, &updated))
}
