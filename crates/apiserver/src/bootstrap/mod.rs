//! What the apiserver itself keeps in place (upstream's bootstrap
//! controller): the system namespaces and the `kubernetes` Service; its
//! Endpoints and EndpointSlice are kept by [`endpoints`].

use corten_apimachinery::StatusError;
use serde_json::{Value, json};

use crate::app::ApiServer;

pub mod endpoints;
use crate::registry::store::{self, WriteOptions};

/// The namespaces every cluster has.
pub const SYSTEM_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

async fn ensure(
    server: &ApiServer,
    group: &str,
    version: &str,
    resource: &str,
    ns: Option<&str>,
    obj: Value,
) -> Result<(), StatusError> {
    let res = server
        .registry
        .resource(group, version, resource)
        .ok_or_else(|| StatusError::internal(format!("resource {resource} is not served")))?;
    // Look first: re-creating an existing Service would collide with its
    // own ClusterIP reservation before reaching the AlreadyExists check.
    let name = corten_apimachinery::meta::name(&obj)
        .unwrap_or_default()
        .to_string();
    match store::get(&server.registry, &res, ns, &name, None).await {
        Ok(_) => return Ok(()),
        Err(e) if e.code == 404 => {}
        Err(e) => return Err(e),
    }
    match store::create(&server.registry, &res, ns, obj, &WriteOptions::default()).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates what is missing. Safe to run on every start and by several
/// apiservers at once (creates are put-if-absent).
pub async fn run(server: &ApiServer) -> Result<(), StatusError> {
    for ns in SYSTEM_NAMESPACES {
        ensure(
            server,
            "",
            "v1",
            "namespaces",
            None,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .await?;
    }
    let cfg = &server.config;
    let Some(ip) = server.registry.services.nth_ip(1) else {
        return Err(StatusError::internal("service range has no first address"));
    };
    ensure(
        server,
        "",
        "v1",
        "services",
        Some("default"),
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "labels": {"component": "apiserver", "provider": "kubernetes"},
            },
            "spec": {
                "type": "ClusterIP",
                "clusterIP": ip.to_string(),
                "clusterIPs": [ip.to_string()],
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": cfg.secure_port}],
                "sessionAffinity": "None",
            },
        }),
    )
    .await?;
    Ok(())
}
