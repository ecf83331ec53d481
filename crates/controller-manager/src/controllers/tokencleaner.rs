//! `token-cleaner-controller` (off by default, as upstream): deletes
//! bootstrap token Secrets (`type: bootstrap.kubernetes.io/token` in
//! `kube-system`) once the RFC 3339 time in their `expiration` key has
//! passed, and looks at each again when it is due. A Secret without
//! `expiration` never expires; a malformed one is logged and kept.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Preconditions};
use kube::{Api, Client, ResourceExt};

use crate::framework::api_errors;
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::informer::{Change, Informer};
use crate::framework::queue::WorkQueue;
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "token-cleaner-controller";
/// The namespace of bootstrap tokens.
pub const TOKEN_NAMESPACE: &str = "kube-system";
/// The Secret type of bootstrap tokens.
pub const BOOTSTRAP_TOKEN_TYPE: &str = "bootstrap.kubernetes.io/token";

/// When the token expires: `Ok(None)` never, `Err` malformed.
pub fn expiration(secret: &Secret) -> Result<Option<Timestamp>, String> {
    let Some(raw) = secret.data.as_ref().and_then(|d| d.get("expiration")) else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&raw.0);
    text.trim()
        .parse::<Timestamp>()
        .map(Some)
        .map_err(|e| format!("invalid expiration {text:?}: {e}"))
}

fn is_bootstrap_token(secret: &Secret) -> bool {
    secret.type_.as_deref() == Some(BOOTSTRAP_TOKEN_TYPE)
        && secret.namespace().as_deref() == Some(TOKEN_NAMESPACE)
}

/// Builds the controller.
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let secrets = ctx.informers.informer::<Secret>();
    let queue = WorkQueue::<String>::new("token_cleaner");
    {
        let queue = queue.clone();
        secrets.add_event_handler(move |change: Change<'_, Secret>| {
            let secret = change.object();
            if !matches!(change, Change::Deleted(_)) && is_bootstrap_token(secret) {
                queue.add(secret.name_any());
            }
        });
    }
    let reconciler = TokenCleaner {
        client: ctx.client.clone(),
        secrets: secrets.clone(),
    };
    Ok(Some(Box::new(
        QueueController::new(NAME, queue, reconciler, 1, ctx).wait_for(secrets),
    )))
}

/// Deletes one expired token.
pub struct TokenCleaner {
    client: Client,
    secrets: Informer<Secret>,
}

impl Reconciler<String> for TokenCleaner {
    type Error = String;

    async fn reconcile(&self, name: &String) -> Result<Action, String> {
        let Some(secret) = self.secrets.get(Some(TOKEN_NAMESPACE), name) else {
            return Ok(Action::await_change());
        };
        if !is_bootstrap_token(&secret) || secret.metadata.deletion_timestamp.is_some() {
            return Ok(Action::await_change());
        }
        let expires = match expiration(&secret) {
            Ok(Some(at)) => at,
            Ok(None) => return Ok(Action::await_change()),
            Err(message) => {
                tracing::info!(secret = %name, %message, "ignoring the bootstrap token's expiration");
                return Ok(Action::await_change());
            }
        };
        let left = expires.as_second() - Timestamp::now().as_second();
        if left > 0 {
            return Ok(Action::requeue(Duration::from_secs(
                u64::try_from(left).unwrap_or(0),
            )));
        }
        tracing::info!(secret = %name, "Deleting expired secret");
        let api: Api<Secret> = Api::namespaced(self.client.clone(), TOKEN_NAMESPACE);
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: secret.uid(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match api.delete(name, &params).await {
            Ok(_) => Ok(Action::await_change()),
            Err(err) if api_errors::is_not_found(&err) || api_errors::is_conflict(&err) => {
                Ok(Action::await_change())
            }
            Err(err) => Err(format!(
                "deleting expired token: {}",
                api_errors::message(&err)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret(expiration: Option<&str>) -> Secret {
        let mut data = json!({"token-id": "YWJjZGVm"});
        if let Some(e) = expiration {
            use base64::Engine;
            data["expiration"] = json!(base64::engine::general_purpose::STANDARD.encode(e));
        }
        serde_json::from_value(json!({
            "metadata": {"name": "bootstrap-token-abcdef", "namespace": "kube-system"},
            "type": BOOTSTRAP_TOKEN_TYPE, "data": data
        }))
        .unwrap()
    }

    #[test]
    fn expiration_is_read_from_the_secret() {
        assert_eq!(expiration(&secret(None)), Ok(None));
        assert_eq!(
            expiration(&secret(Some("2024-01-01T00:00:00Z")))
                .unwrap()
                .unwrap()
                .as_second(),
            1_704_067_200
        );
        assert!(expiration(&secret(Some("tomorrow"))).is_err());
        assert!(is_bootstrap_token(&secret(None)));
        let mut other = secret(None);
        other.metadata.namespace = Some("default".into());
        assert!(!is_bootstrap_token(&other));
    }
}
