//! `POST serviceaccounts/<name>/token` (TokenRequest): issues a bound
//! ServiceAccount token with audiences, an expiry and optionally a bound
//! Pod, Secret or Node.

use corten_apimachinery::{FieldError, GroupKind, GroupResource, Path, StatusError, meta};
use serde_json::{Value, json};

use super::serviceaccount::{BoundObject, lookup};
use crate::app::ApiServer;

/// Upstream's default `expirationSeconds`.
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// The shortest allowed `expirationSeconds`.
pub const MIN_EXPIRATION_SECONDS: i64 = 600;
/// The kubelet asks for this many seconds; upstream then issues a token
/// valid for a year (`--service-account-extend-token-expiration`).
pub const KUBELET_EXPIRATION_SECONDS: i64 = 3607;
const EXTENDED_EXPIRATION_SECONDS: i64 = 365 * 24 * 3600;

fn invalid(name: &str, field: &str, value: Value, msg: &str) -> StatusError {
    StatusError::invalid(
        &GroupKind::new("authentication.k8s.io", "TokenRequest"),
        name,
        &vec![FieldError::invalid(
            &Path::new("spec").child(field),
            value,
            msg,
        )],
    )
}

/// Issues a token for ServiceAccount `namespace/name`.
pub async fn create(
    server: &ApiServer,
    namespace: &str,
    name: &str,
    mut body: Value,
    dry_run: bool,
) -> Result<Value, StatusError> {
    let sa_tokens = &server.authn.service_accounts;
    let reg = &server.registry;
    let sa = lookup(
        reg,
        "serviceaccounts",
        &format!("serviceaccounts/{namespace}/{name}"),
    )
    .await
    .ok_or_else(|| StatusError::not_found(&GroupResource::new("", "serviceaccounts"), name))?;
    if !sa_tokens.can_issue() {
        return Err(StatusError::service_unavailable(
            "the apiserver has no --service-account-signing-key-file and --service-account-issuer, so it cannot issue tokens",
        ));
    }
    if !body.is_object() {
        body = json!({});
    }
    let spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
    let mut expiration = spec
        .get("expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(DEFAULT_EXPIRATION_SECONDS);
    if expiration < MIN_EXPIRATION_SECONDS {
        return Err(invalid(
            name,
            "expirationSeconds",
            json!(expiration),
            "may not specify a duration less than 10 minutes",
        ));
    }
    if expiration > 1 << 32 {
        return Err(invalid(
            name,
            "expirationSeconds",
            json!(expiration),
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    if sa_tokens.max_expiration_seconds > 0 && expiration > sa_tokens.max_expiration_seconds {
        expiration = sa_tokens.max_expiration_seconds;
    }
    let mut audiences: Vec<String> = spec
        .get("audiences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if audiences.is_empty() {
        audiences = sa_tokens.api_audiences.clone();
    }
    let mut bound = None;
    if let Some(r) = spec.get("boundObjectRef").filter(|r| r.is_object()) {
        let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let (kind, obj_name, uid) = (s("kind"), s("name"), s("uid"));
        let (resource, key) = match kind.as_str() {
            "Pod" => ("pods", format!("pods/{namespace}/{obj_name}")),
            "Secret" => ("secrets", format!("secrets/{namespace}/{obj_name}")),
            "Node" => ("nodes", format!("nodes/{obj_name}")),
            other => {
                return Err(invalid(
                    name,
                    "boundObjectRef.kind",
                    json!(other),
                    "supported values: \"Pod\", \"Secret\", \"Node\"",
                ));
            }
        };
        if obj_name.is_empty() || obj_name.contains('/') {
            return Err(invalid(
                name,
                "boundObjectRef.name",
                json!(obj_name),
                "Required value",
            ));
        }
        let obj = lookup(reg, resource, &key)
            .await
            .ok_or_else(|| StatusError::not_found(&GroupResource::new("", resource), &obj_name))?;
        let actual_uid = meta::uid(&obj).unwrap_or_default().to_string();
        if !uid.is_empty() && uid != actual_uid {
            return Err(StatusError::conflict(
                &GroupResource::new("", &kind),
                &obj_name,
                &format!(
                    "the UID in the bound object reference ({uid}) does not match the UID in record. The object might have been deleted and then recreated"
                ),
            ));
        }
        if kind == "Pod" {
            let pod_sa = obj
                .pointer("/spec/serviceAccountName")
                .and_then(Value::as_str)
                .unwrap_or("default");
            if pod_sa != name {
                return Err(StatusError::bad_request(format!(
                    "cannot bind token for serviceaccount {name:?} to pod running with different serviceaccount name."
                )));
            }
        }
        bound = Some(BoundObject {
            kind,
            name: obj_name,
            uid: actual_uid,
        });
    }
    let sa_uid = meta::uid(&sa).unwrap_or_default();
    let actual_expiration = match &bound {
        Some(b) if b.kind == "Pod" && expiration == KUBELET_EXPIRATION_SECONDS => {
            EXTENDED_EXPIRATION_SECONDS
        }
        _ => expiration,
    };
    let (token, _) = if dry_run {
        (String::new(), 0)
    } else {
        sa_tokens
            .issue(
                namespace,
                name,
                sa_uid,
                &audiences,
                actual_expiration,
                bound.as_ref(),
            )
            .map_err(StatusError::internal)?
    };
    let now = jiff::Timestamp::now();
    let expires = now
        .checked_add(jiff::SignedDuration::from_secs(expiration))
        .unwrap_or(now);
    let mut out_spec = json!({"audiences": audiences, "expirationSeconds": expiration});
    if let Some(b) = &bound {
        out_spec["boundObjectRef"] =
            json!({"kind": b.kind, "apiVersion": "v1", "name": b.name, "uid": b.uid});
    }
    Ok(json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "creationTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        },
        "spec": out_spec,
        "status": {
            "token": token,
            "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        },
    }))
}
