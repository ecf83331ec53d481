//! NamespaceLifecycle: no new objects in a namespace that does not exist
//! or is terminating, and the system namespaces may not be deleted. Always
//! on: the store calls [`admit_create`] right before writing.

use corten_apimachinery::status::StatusCause;
use corten_apimachinery::{GroupResource, StatusError, meta};
use serde_json::Value;

use crate::registry::{Registry, Resource};

/// Namespaces that always exist and may not be deleted.
pub const IMMORTAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

/// The namespace's phase, or None if it does not exist.
async fn namespace_phase(reg: &Registry, ns: &str) -> Result<Option<String>, StatusError> {
    let key = format!("namespaces/{ns}");
    if let Some(cache) = reg.cache("namespaces")
        && let Some(o) = cache.get(&key)
    {
        return Ok(Some(phase_of(&o.json)));
    }
    // The cache may lag a namespace created a moment ago: ask etcd.
    match reg.store.get(&key).await {
        Ok(Some(kv)) => Ok(Some(phase_of(&kv.value))),
        Ok(None) => Ok(None),
        Err(e) => Err(StatusError::internal(e)),
    }
}

fn phase_of(json: &[u8]) -> String {
    let v: Value = serde_json::from_slice(json).unwrap_or(Value::Null);
    if meta::deletion_timestamp(&v).is_some() {
        return "Terminating".into();
    }
    v.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("Active")
        .to_string()
}

/// NamespaceLifecycle on create: the namespace must exist and not be
/// terminating.
pub async fn admit_create(reg: &Registry, res: &Resource, obj: &Value) -> Result<(), StatusError> {
    if !res.def.namespaced {
        return Ok(());
    }
    let Some(ns) = meta::namespace(obj) else {
        return Ok(());
    };
    match namespace_phase(reg, ns).await? {
        None => Err(StatusError::not_found(
            &GroupResource::new("", "namespaces"),
            ns,
        )),
        Some(phase) if phase == "Terminating" => {
            let name = meta::name(obj).unwrap_or_default();
            let mut e = StatusError::forbidden(
                &res.group_resource(),
                name,
                &format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                ),
            );
            e.causes.push(StatusCause {
                reason: "NamespaceTerminating".into(),
                message: format!("namespace {ns} is being terminated"),
                field: "metadata.namespace".into(),
            });
            Err(e)
        }
        Some(_) => Ok(()),
    }
}

/// NamespaceLifecycle on delete: the system namespaces stay.
pub fn admit_delete(res: &Resource, name: &str) -> Result<(), StatusError> {
    if res.def.storage_resource == "namespaces" && IMMORTAL_NAMESPACES.contains(&name) {
        return Err(StatusError::forbidden(
            &res.group_resource(),
            name,
            "this namespace may not be deleted",
        ));
    }
    Ok(())
}
