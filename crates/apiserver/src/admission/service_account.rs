//! ServiceAccount: every new pod runs as a ServiceAccount (`default` unless
//! named), which must exist; unless automounting is switched off, the pod
//! gets upstream's projected `kube-api-access-<random>` volume (a bound
//! token, the cluster CA from the `kube-root-ca.crt` ConfigMap and the
//! namespace) mounted read-only at
//! `/var/run/secrets/kubernetes.io/serviceaccount` in every container, and
//! inherits the ServiceAccount's `imagePullSecrets`.

use corten_apimachinery::StatusError;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Operation, Request};
use crate::app::ApiServer;
use crate::registry::lookup::consistent_get;

/// What the plugin reads of a ServiceAccount (decoding only these fields
/// skips building the rest of the object on every pod create).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Account {
    automount_service_account_token: Option<bool>,
    image_pull_secrets: Option<Vec<Value>>,
}

/// The pod's ServiceAccount from the watch cache (consistent with etcd,
/// see [`consistent_get`]); a 403 like upstream's when it does not exist
/// or cannot be read.
async fn service_account(
    server: &ApiServer,
    req: &Request<'_>,
    name: &str,
) -> Result<Account, StatusError> {
    let ns = req.namespace;
    let refused = |why: &str| {
        req.forbidden(&format!(
            "error looking up service account {ns}/{name}: {why}"
        ))
    };
    let json = consistent_get(
        &server.registry,
        "serviceaccounts",
        &format!("serviceaccounts/{ns}/{name}"),
    )
    .await
    .map_err(|e| refused(&e.message))?
    .ok_or_else(|| refused(&format!("serviceaccount \"{name}\" not found")))?;
    serde_json::from_slice(&json.json).map_err(|e| refused(&e.to_string()))
}

/// Where the token volume is mounted.
pub const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The annotation of mirror pods (static pods the kubelet mirrors).
pub const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
/// The token lifetime the kubelet requests (upstream's warn-only one).
pub const TOKEN_EXPIRATION_SECONDS: i64 = 3607;

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(5)
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect()
}

fn is_mirror(pod: &Value) -> bool {
    pod.get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(MIRROR_ANNOTATION))
        .is_some()
}

/// The projected volume upstream injects.
pub fn token_volume(name: &str) -> Value {
    json!({
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}, "path": "namespace"}]}},
            ],
        },
    })
}

/// Mutating half: defaults the ServiceAccount, checks it exists, mounts the
/// token and copies pull secrets.
pub async fn admit(
    server: &ApiServer,
    req: &Request<'_>,
    pod: &mut Value,
) -> Result<(), StatusError> {
    if req.operation != Operation::Create || !req.is("", "pods") || is_mirror(pod) {
        return Ok(());
    }
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    let sa_name = match spec.get("serviceAccountName").and_then(Value::as_str) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => {
            // The deprecated field wins when only it is set.
            let legacy = spec
                .get("serviceAccount")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or("default")
                .to_string();
            spec.insert("serviceAccountName".into(), json!(legacy));
            legacy
        }
    };
    let sa = service_account(server, req, &sa_name).await?;
    let automount = spec
        .get("automountServiceAccountToken")
        .and_then(Value::as_bool)
        .or(sa.automount_service_account_token)
        .unwrap_or(true);
    if automount {
        let volume_name = format!("kube-api-access-{}", random_suffix());
        let mut mounted = false;
        for kind in ["initContainers", "containers"] {
            for c in spec
                .get_mut(kind)
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                let Some(c) = c.as_object_mut() else { continue };
                let mounts = c.entry("volumeMounts").or_insert_with(|| json!([]));
                let Some(mounts) = mounts.as_array_mut() else {
                    continue;
                };
                if mounts
                    .iter()
                    .any(|m| m.get("mountPath").and_then(Value::as_str) == Some(MOUNT_PATH))
                {
                    continue;
                }
                mounts
                    .push(json!({"name": volume_name, "readOnly": true, "mountPath": MOUNT_PATH}));
                mounted = true;
            }
        }
        if mounted {
            let vols = spec.entry("volumes").or_insert_with(|| json!([]));
            if let Some(vols) = vols.as_array_mut() {
                vols.push(token_volume(&volume_name));
            }
        }
    }
    let has_pull_secrets = spec
        .get("imagePullSecrets")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if !has_pull_secrets
        && let Some(secrets) = sa.image_pull_secrets
        && !secrets.is_empty()
    {
        spec.insert("imagePullSecrets".into(), json!(secrets));
    }
    Ok(())
}

/// Validating half: mirror pods may not use ServiceAccounts or secrets
/// (a kubelet could otherwise mint access to them).
pub fn validate(req: &Request<'_>, pod: &Value) -> Result<(), StatusError> {
    if req.operation != Operation::Create || !req.is("", "pods") || !is_mirror(pod) {
        return Ok(());
    }
    let sa = pod
        .pointer("/spec/serviceAccountName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !sa.is_empty() {
        return Err(req.forbidden("a mirror pod may not reference service accounts"));
    }
    let refs = crate::auth::authz::node::pod_refs(pod);
    if !refs.secrets.is_empty() {
        return Err(req.forbidden(&format!(
            "a mirror pod may not reference secrets: {:?}",
            refs.secrets
        )));
    }
    Ok(())
}
