//! NamespaceLifecycle: no new objects in a namespace that does not exist
//! or is terminating, and the system namespaces may not be deleted. Always
//! on: the store calls [`admit_create`] right before writing.

use corten_apimachinery::status::StatusCause;
use corten_apimachinery::{GroupResource, StatusError, meta};
use serde::Deserialize;
use serde_json::Value;

use crate::registry::lookup::consistent_get;
use crate::registry::{Registry, Resource};

/// Namespaces that always exist and may not be deleted.
pub const IMMORTAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

/// What NamespaceLifecycle reads of a namespace.
#[derive(Deserialize)]
struct Namespace {
    #[serde(default)]
    metadata: NamespaceMeta,
    #[serde(default)]
    status: NamespaceStatus,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct NamespaceMeta {
    deletion_timestamp: Option<Value>,
}

#[derive(Deserialize, Default)]
struct NamespaceStatus {
    phase: Option<String>,
}

/// Whether the namespace is terminating, or None if it does not exist.
/// From the watch cache, which catches up with etcd before it says a
/// namespace created a moment ago does not exist.
async fn namespace_terminating(reg: &Registry, ns: &str) -> Result<Option<bool>, StatusError> {
    let Some(json) = consistent_get(reg, "namespaces", &format!("namespaces/{ns}")).await? else {
        return Ok(None);
    };
    // Stored namespaces always decode; anything else reads as active.
    let Ok(n) = serde_json::from_slice::<Namespace>(&json.json) else {
        return Ok(Some(false));
    };
    let deleting = n.metadata.deletion_timestamp.is_some_and(|t| t.is_string());
    Ok(Some(
        deleting || n.status.phase.as_deref() == Some("Terminating"),
    ))
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
    match namespace_terminating(reg, ns).await? {
        None => Err(StatusError::not_found(
            &GroupResource::new("", "namespaces"),
            ns,
        )),
        Some(true) => {
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
        Some(false) => Ok(()),
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
