//! `bootstrap-signer-controller` (off by default, as upstream): signs the
//! `kubeconfig` of the `kube-public/cluster-info` ConfigMap with every
//! valid bootstrap token whose Secret allows signing
//! (`usage-bootstrap-signing: "true"`), so a joining node can check the
//! cluster CA it downloads anonymously with the token it was given. The
//! signatures are detached HS256 JWS (`<header>..<signature>`, key = the
//! token secret, `kid` = the token id) in `jws-kubeconfig-<token id>`
//! keys; keys of tokens that are gone or expired are removed.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::{Api, Client, ResourceExt};
use ring::hmac;

use super::tokencleaner::{BOOTSTRAP_TOKEN_TYPE, TOKEN_NAMESPACE, expiration};
use crate::framework::api_errors;
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::informer::{Change, Informer};
use crate::framework::queue::WorkQueue;
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "bootstrap-signer-controller";
/// The namespace of the signed ConfigMap.
pub const CONFIG_MAP_NAMESPACE: &str = "kube-public";
/// The signed ConfigMap.
pub const CONFIG_MAP_NAME: &str = "cluster-info";
/// The prefix of the signature keys.
pub const SIGNATURE_PREFIX: &str = "jws-kubeconfig-";

/// A detached JWS (`header..signature`) of `content`, as upstream's
/// `ComputeDetachedSignature` produces it.
pub fn detached_signature(content: &str, token_id: &str, token_secret: &str) -> String {
    let header = format!(r#"{{"alg":"HS256","kid":"{token_id}"}}"#);
    let header = URL_SAFE_NO_PAD.encode(header);
    let payload = URL_SAFE_NO_PAD.encode(content);
    let key = hmac::Key::new(hmac::HMAC_SHA256, token_secret.as_bytes());
    let tag = hmac::sign(&key, format!("{header}.{payload}").as_bytes());
    format!("{header}..{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

fn data(secret: &Secret, key: &str) -> Option<String> {
    let raw = secret.data.as_ref()?.get(key)?;
    Some(String::from_utf8_lossy(&raw.0).into_owned()).filter(|_| !raw.0.is_empty())
}

fn valid_token_part(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// `(token id, token secret)` of a bootstrap token allowed to sign, that
/// has not expired at `now` (unix seconds).
pub fn signing_token(secret: &Secret, now: i64) -> Option<(String, String)> {
    if secret.type_.as_deref() != Some(BOOTSTRAP_TOKEN_TYPE)
        || secret.namespace().as_deref() != Some(TOKEN_NAMESPACE)
        || data(secret, "usage-bootstrap-signing").as_deref() != Some("true")
    {
        return None;
    }
    let id = data(secret, "token-id")?;
    let token_secret = data(secret, "token-secret")?;
    if !valid_token_part(&id, 6)
        || !valid_token_part(&token_secret, 16)
        || secret.name_any() != format!("bootstrap-token-{id}")
    {
        return None;
    }
    match expiration(secret) {
        Ok(Some(at)) if at.as_second() <= now => None,
        Err(_) => None,
        _ => Some((id, token_secret)),
    }
}

/// Builds the controller.
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let config_maps = ctx.informers.informer::<ConfigMap>();
    let secrets = ctx.informers.informer::<Secret>();
    // One key: everything is signed in one pass.
    let queue = WorkQueue::<String>::new("bootstrap_signer_queue");
    {
        let queue = queue.clone();
        config_maps.add_event_handler(move |change: Change<'_, ConfigMap>| {
            let cm = change.object();
            if cm.namespace().as_deref() == Some(CONFIG_MAP_NAMESPACE)
                && cm.name_any() == CONFIG_MAP_NAME
            {
                queue.add(CONFIG_MAP_NAME.to_string());
            }
        });
    }
    {
        let queue = queue.clone();
        secrets.add_event_handler(move |change: Change<'_, Secret>| {
            let secret = change.object();
            if secret.type_.as_deref() == Some(BOOTSTRAP_TOKEN_TYPE)
                && secret.namespace().as_deref() == Some(TOKEN_NAMESPACE)
            {
                queue.add(CONFIG_MAP_NAME.to_string());
            }
        });
    }
    let reconciler = BootstrapSigner {
        client: ctx.client.clone(),
        config_maps: config_maps.clone(),
        secrets: secrets.clone(),
    };
    Ok(Some(Box::new(
        QueueController::new(NAME, queue, reconciler, 1, ctx)
            .wait_for(config_maps)
            .wait_for(secrets),
    )))
}

/// Keeps the signatures of `cluster-info` current.
pub struct BootstrapSigner {
    client: Client,
    config_maps: Informer<ConfigMap>,
    secrets: Informer<Secret>,
}

impl Reconciler<String> for BootstrapSigner {
    type Error = String;

    async fn reconcile(&self, _key: &String) -> Result<Action, String> {
        let Some(cm) = self
            .config_maps
            .get(Some(CONFIG_MAP_NAMESPACE), CONFIG_MAP_NAME)
        else {
            return Ok(Action::await_change());
        };
        let Some(content) = cm.data.as_ref().and_then(|d| d.get("kubeconfig")) else {
            return Ok(Action::await_change());
        };
        let now = Timestamp::now().as_second();
        let mut next_expiry: Option<i64> = None;
        let mut wanted = BTreeMap::new();
        for secret in self.secrets.list_namespace(TOKEN_NAMESPACE) {
            if let Some((id, token_secret)) = signing_token(&secret, now) {
                wanted.insert(
                    format!("{SIGNATURE_PREFIX}{id}"),
                    detached_signature(content, &id, &token_secret),
                );
                if let Ok(Some(at)) = expiration(&secret) {
                    let at = at.as_second();
                    next_expiry = Some(next_expiry.map_or(at, |n| n.min(at)));
                }
            }
        }
        let data = cm.data.clone().unwrap_or_default();
        let current: BTreeMap<String, String> = data
            .iter()
            .filter(|(k, _)| k.starts_with(SIGNATURE_PREFIX))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // Look again when the first token expires, to drop its signature.
        let action = next_expiry.map_or_else(Action::await_change, |at| {
            Action::requeue(std::time::Duration::from_secs(
                u64::try_from(at - now + 1).unwrap_or(1),
            ))
        });
        if current == wanted {
            return Ok(action);
        }
        let mut updated = (*cm).clone();
        let mut new_data: BTreeMap<String, String> = data
            .into_iter()
            .filter(|(k, _)| !k.starts_with(SIGNATURE_PREFIX))
            .collect();
        new_data.extend(wanted);
        updated.data = Some(new_data);
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), CONFIG_MAP_NAMESPACE);
        match api
            .replace(CONFIG_MAP_NAME, &PostParams::default(), &updated)
            .await
        {
            Ok(_) => Ok(action),
            Err(err) if api_errors::is_not_found(&err) => Ok(Action::await_change()),
            Err(err) => Err(format!(
                "signing cluster-info: {}",
                api_errors::message(&err)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token(name: &str, id: &str, signing: &str, expiration: Option<&str>) -> Secret {
        let mut data = json!({"token-id": id, "token-secret": "0123456789abcdef",
                              "usage-bootstrap-signing": signing});
        if let Some(e) = expiration {
            data["expiration"] = json!(e);
        }
        let data: serde_json::Map<String, serde_json::Value> = data
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    json!(base64::engine::general_purpose::STANDARD.encode(v.as_str().unwrap())),
                )
            })
            .collect();
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "kube-system"},
            "type": BOOTSTRAP_TOKEN_TYPE, "data": data
        }))
        .unwrap()
    }

    #[test]
    fn signature_is_a_detached_hs256_jws() {
        let sig = detached_signature("hello", "abcdef", "0123456789abcdef");
        let (header, signature) = sig.split_once("..").unwrap();
        let header = URL_SAFE_NO_PAD.decode(header).unwrap();
        assert_eq!(header, br#"{"alg":"HS256","kid":"abcdef"}"#);
        // The signature covers header.payload with the token secret.
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"0123456789abcdef");
        let signed = format!(
            "{}.{}",
            sig.split_once("..").unwrap().0,
            URL_SAFE_NO_PAD.encode("hello")
        );
        hmac::verify(
            &key,
            signed.as_bytes(),
            &URL_SAFE_NO_PAD.decode(signature).unwrap(),
        )
        .unwrap();
        assert_ne!(
            sig,
            detached_signature("hello!", "abcdef", "0123456789abcdef")
        );
    }

    #[test]
    fn only_valid_signing_tokens_sign() {
        let now = 1_704_067_200; // 2024-01-01T00:00:00Z
        assert!(
            signing_token(
                &token("bootstrap-token-abcdef", "abcdef", "true", None),
                now
            )
            .is_some()
        );
        assert!(
            signing_token(
                &token("bootstrap-token-abcdef", "abcdef", "false", None),
                now
            )
            .is_none()
        );
        assert!(signing_token(&token("other-name", "abcdef", "true", None), now).is_none());
        assert!(
            signing_token(
                &token("bootstrap-token-ABCDEF", "ABCDEF", "true", None),
                now
            )
            .is_none()
        );
        assert!(
            signing_token(
                &token(
                    "bootstrap-token-abcdef",
                    "abcdef",
                    "true",
                    Some("2023-12-31T00:00:00Z")
                ),
                now
            )
            .is_none()
        );
        assert!(
            signing_token(
                &token(
                    "bootstrap-token-abcdef",
                    "abcdef",
                    "true",
                    Some("2024-12-31T00:00:00Z")
                ),
                now
            )
            .is_some()
        );
    }
}
