//! `serviceaccount-token-controller`: fills legacy ServiceAccount token
//! Secrets (`type: kubernetes.io/service-account-token` with the
//! annotation `kubernetes.io/service-account.name`): `token` (a JWT with
//! issuer `kubernetes/serviceaccount`, signed with
//! `--service-account-private-key-file`), `ca.crt` (`--root-ca-file`, else
//! the kubeconfig's CA) and `namespace`; it records the ServiceAccount's
//! UID in `kubernetes.io/service-account.uid`. A token Secret whose
//! ServiceAccount does not exist (or has another UID) is deleted, and so
//! are the token Secrets of a deleted ServiceAccount. As upstream since
//! 1.24, no Secret is created for a ServiceAccount on its own.
//!
//! It needs `--service-account-private-key-file`; without it the
//! controller does not run (upstream refuses to start it too).

use std::collections::BTreeMap;

use corten_component_base::jwt::{SigningKey, load_signing_key};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{DeleteParams, PostParams, Preconditions};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::framework::api_errors;
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::informer::{Change, Informer};
use crate::framework::key::ObjectKey;
use crate::framework::queue::WorkQueue;
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "serviceaccount-token-controller";
/// The Secret type of legacy tokens.
pub const TOKEN_TYPE: &str = "kubernetes.io/service-account-token";
/// Names the ServiceAccount of a token Secret.
pub const ANN_SA_NAME: &str = "kubernetes.io/service-account.name";
/// The UID of that ServiceAccount.
pub const ANN_SA_UID: &str = "kubernetes.io/service-account.uid";
/// The issuer of legacy tokens.
pub const LEGACY_ISSUER: &str = "kubernetes/serviceaccount";

/// The claims of a legacy token (upstream `LegacyClaims`).
pub fn legacy_claims(
    namespace: &str,
    secret: &str,
    sa_name: &str,
    sa_uid: &str,
) -> serde_json::Value {
    json!({
        "iss": LEGACY_ISSUER,
        "kubernetes.io/serviceaccount/namespace": namespace,
        "kubernetes.io/serviceaccount/secret.name": secret,
        "kubernetes.io/serviceaccount/service-account.name": sa_name,
        "kubernetes.io/serviceaccount/service-account.uid": sa_uid,
        "sub": format!("system:serviceaccount:{namespace}:{sa_name}"),
    })
}

fn annotation<'a>(secret: &'a Secret, key: &str) -> Option<&'a str> {
    secret
        .metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

fn is_token_secret(secret: &Secret) -> bool {
    secret.type_.as_deref() == Some(TOKEN_TYPE)
}

/// Builds the controller.
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let Some(key_file) = ctx.config.service_account_private_key_file.as_ref() else {
        tracing::warn!(
            controller = NAME,
            "no --service-account-private-key-file given; legacy token Secrets are not filled"
        );
        return Ok(None);
    };
    let key = load_signing_key(key_file)?;
    let ca = ctx
        .config
        .root_ca
        .as_ref()
        .map(|ca| ca.pem.clone())
        .or_else(|| ctx.kubeconfig_ca.clone())
        .unwrap_or_default();
    let secrets = ctx.informers.informer::<Secret>();
    let accounts = ctx.informers.informer::<ServiceAccount>();
    let queue = WorkQueue::<ObjectKey>::new("token_secrets");
    {
        let queue = queue.clone();
        secrets.add_event_handler(move |change: Change<'_, Secret>| {
            let secret = change.object();
            if !matches!(change, Change::Deleted(_)) && is_token_secret(secret) {
                queue.add(ObjectKey::of(secret));
            }
        });
    }
    {
        // A ServiceAccount that appears, changes UID or goes away affects
        // the token Secrets that name it.
        let queue = queue.clone();
        let secrets = secrets.clone();
        accounts.add_event_handler(move |change: Change<'_, ServiceAccount>| {
            let sa = change.object();
            let namespace = sa.namespace().unwrap_or_default();
            for secret in secrets.list_namespace(&namespace) {
                if is_token_secret(&secret)
                    && annotation(&secret, ANN_SA_NAME) == Some(sa.name_any().as_str())
                {
                    queue.add(ObjectKey::of(secret.as_ref()));
                }
            }
        });
    }
    let reconciler = TokenFiller {
        client: ctx.client.clone(),
        secrets: secrets.clone(),
        accounts: accounts.clone(),
        key,
        ca,
    };
    let workers = ctx.config.concurrency.serviceaccount_token;
    Ok(Some(Box::new(
        QueueController::new(NAME, queue, reconciler, workers, ctx)
            .wait_for(secrets)
            .wait_for(accounts),
    )))
}

/// Fills or deletes one token Secret.
pub struct TokenFiller {
    client: Client,
    secrets: Informer<Secret>,
    accounts: Informer<ServiceAccount>,
    key: SigningKey,
    ca: Vec<u8>,
}

impl TokenFiller {
    /// The ServiceAccount the Secret names, from the cache, else the API
    /// (a Secret created right after its ServiceAccount must not be
    /// deleted because the cache lags).
    async fn account(&self, namespace: &str, name: &str) -> Result<Option<ServiceAccount>, String> {
        if let Some(sa) = self.accounts.get(Some(namespace), name) {
            return Ok(Some((*sa).clone()));
        }
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        api.get_opt(name)
            .await
            .map_err(|e| format!("reading service account: {}", api_errors::message(&e)))
    }
}

impl Reconciler<ObjectKey> for TokenFiller {
    type Error = String;

    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, String> {
        let namespace = key.namespace.clone().unwrap_or_default();
        let Some(secret) = self.secrets.get(Some(&namespace), &key.name) else {
            return Ok(Action::await_change());
        };
        if !is_token_secret(&secret) || secret.metadata.deletion_timestamp.is_some() {
            return Ok(Action::await_change());
        }
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &namespace);
        let sa_name = annotation(&secret, ANN_SA_NAME)
            .unwrap_or_default()
            .to_string();
        let sa = if sa_name.is_empty() {
            None
        } else {
            self.account(&namespace, &sa_name).await?
        };
        let sa_uid = sa.as_ref().and_then(|s| s.uid()).unwrap_or_default();
        let wanted_uid = annotation(&secret, ANN_SA_UID);
        if sa.is_none() || wanted_uid.is_some_and(|u| u != sa_uid) {
            // Its ServiceAccount is gone (or was recreated): the token goes.
            tracing::info!(secret = %key, "deleting the token of a missing service account");
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: secret.uid(),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            return match api.delete(&key.name, &params).await {
                Ok(_) => Ok(Action::await_change()),
                Err(e) if api_errors::is_not_found(&e) || api_errors::is_conflict(&e) => {
                    Ok(Action::await_change())
                }
                Err(e) => Err(format!(
                    "deleting token secret: {}",
                    api_errors::message(&e)
                )),
            };
        }
        let data = secret.data.clone().unwrap_or_default();
        let has_token = data.get("token").is_some_and(|v| !v.0.is_empty());
        let ca_current = self.ca.is_empty() || data.get("ca.crt").is_some_and(|v| v.0 == self.ca);
        let namespace_current = data
            .get("namespace")
            .is_some_and(|v| v.0 == namespace.as_bytes());
        if has_token && ca_current && namespace_current && wanted_uid.is_some() {
            return Ok(Action::await_change());
        }
        let mut updated = (*secret).clone();
        let mut data: BTreeMap<String, ByteString> = data;
        if !has_token {
            let claims = legacy_claims(&namespace, &key.name, &sa_name, &sa_uid);
            let token = self
                .key
                .sign(&claims)
                .map_err(|e| format!("signing the token: {e:#}"))?;
            data.insert("token".into(), ByteString(token.into_bytes()));
        }
        if !self.ca.is_empty() {
            data.insert("ca.crt".into(), ByteString(self.ca.clone()));
        }
        data.insert(
            "namespace".into(),
            ByteString(namespace.clone().into_bytes()),
        );
        updated.data = Some(data);
        updated
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(ANN_SA_UID.into(), sa_uid);
        match api
            .replace(&key.name, &PostParams::default(), &updated)
            .await
        {
            Ok(_) => Ok(Action::await_change()),
            Err(e) if api_errors::is_not_found(&e) => Ok(Action::await_change()),
            Err(e) => Err(format!("filling token secret: {}", api_errors::message(&e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_claims_match_upstream() {
        let c = legacy_claims("ns", "build-token", "build", "u-1");
        assert_eq!(c["iss"], "kubernetes/serviceaccount");
        assert_eq!(c["sub"], "system:serviceaccount:ns:build");
        assert_eq!(c["kubernetes.io/serviceaccount/secret.name"], "build-token");
        assert_eq!(c["kubernetes.io/serviceaccount/service-account.uid"], "u-1");
        assert_eq!(c["kubernetes.io/serviceaccount/namespace"], "ns");
        assert_eq!(
            c["kubernetes.io/serviceaccount/service-account.name"],
            "build"
        );
    }
}
