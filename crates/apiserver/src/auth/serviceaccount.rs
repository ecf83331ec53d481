//! ServiceAccount tokens: issuing bound tokens (TokenRequest) and
//! authenticating bound and legacy (Secret-based) JWTs.
//!
//! A token is only as good as the objects it names: on every use the
//! ServiceAccount (and the bound Pod, Secret or Node) must still exist with
//! the uid recorded in the token, so deleting any of them revokes it.

use std::collections::BTreeMap;

use corten_apimachinery::meta;
use serde_json::{Value, json};

use super::jwt::{self, JwtError, PublicKey, SigningKey};
use super::{UserInfo, service_account_groups, service_account_user};
use crate::registry::Registry;

/// The issuer of legacy Secret-based tokens.
pub const LEGACY_ISSUER: &str = "kubernetes/serviceaccount";

/// An object a token is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundObject {
    /// `Pod`, `Secret` or `Node`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its uid.
    pub uid: String,
}

/// Issuing and checking ServiceAccount tokens.
#[derive(Debug, Default)]
pub struct ServiceAccountTokens {
    /// Verification keys (`--service-account-key-file`, plus the signing
    /// key's public half).
    pub keys: Vec<PublicKey>,
    /// `--service-account-signing-key-file`.
    pub signer: Option<SigningKey>,
    /// `--service-account-issuer` values; the first one signs.
    pub issuers: Vec<String>,
    /// `--api-audiences` (default: the issuers).
    pub api_audiences: Vec<String>,
    /// `--service-account-max-token-expiration` in seconds (0 = none).
    pub max_expiration_seconds: i64,
}

/// A token accepted by [`ServiceAccountTokens::authenticate`].
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Who.
    pub user: UserInfo,
    /// The token's audiences that the server accepts.
    pub audiences: Vec<String>,
}

/// Reads an object from the watch cache, falling back to etcd for one the
/// cache has not seen yet.
pub async fn lookup(reg: &Registry, storage_resource: &str, key: &str) -> Option<Value> {
    if let Some(c) = reg.cache(storage_resource)
        && let Some(o) = c.get(key)
    {
        return serde_json::from_slice(&o.json).ok();
    }
    match reg.store.get(key).await {
        Ok(Some(kv)) => serde_json::from_slice(&kv.value).ok(),
        _ => None,
    }
}

fn str_claim<'a>(v: &'a Value, path: &str) -> &'a str {
    v.pointer(path).and_then(Value::as_str).unwrap_or("")
}

fn audiences_of(claims: &Value) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// What a token check reads of a live object: decoding only these two
/// fields skips building a whole pod or ServiceAccount on every request.
#[derive(Debug, Default, serde::Deserialize)]
struct LiveMeta {
    #[serde(default)]
    metadata: LiveFields,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct LiveFields {
    uid: Option<String>,
    deletion_timestamp: Option<String>,
}

/// The uid and deletion timestamp of the object at `key`: from the watch
/// cache, or from etcd when the cache does not hold it or holds another
/// incarnation than the token names (it may lag a re-creation), as
/// upstream's token getter falls back from its listers to a live read.
async fn live_meta(
    reg: &Registry,
    storage_resource: &str,
    key: &str,
    uid: &str,
    what: &str,
) -> Result<LiveFields, String> {
    let decode = |bytes: &[u8]| serde_json::from_slice::<LiveMeta>(bytes).ok();
    let cached = reg
        .cache(storage_resource)
        .and_then(|c| c.get(key))
        .and_then(|o| decode(&o.json));
    let fields = match cached {
        Some(m) if uid.is_empty() || m.metadata.uid.as_deref() == Some(uid) => m.metadata,
        _ => match reg.store.get(key).await {
            Ok(Some(kv)) => {
                decode(&kv.value)
                    .ok_or_else(|| format!("{what} could not be read"))?
                    .metadata
            }
            _ => return Err(format!("{what} has been deleted")),
        },
    };
    let actual = fields.uid.as_deref().unwrap_or_default();
    if !uid.is_empty() && actual != uid {
        return Err(format!(
            "{what} UID ({actual}) does not match claim ({uid})"
        ));
    }
    Ok(fields)
}

async fn live_object(
    reg: &Registry,
    storage_resource: &str,
    key: &str,
    uid: &str,
    what: &str,
) -> Result<Value, String> {
    let obj = lookup(reg, storage_resource, key)
        .await
        .ok_or_else(|| format!("{what} has been deleted"))?;
    if !uid.is_empty() && meta::uid(&obj) != Some(uid) {
        return Err(format!(
            "{what} UID ({}) does not match claim ({uid})",
            meta::uid(&obj).unwrap_or_default()
        ));
    }
    Ok(obj)
}

impl ServiceAccountTokens {
    /// Whether tokens can be issued.
    pub fn can_issue(&self) -> bool {
        self.signer.is_some() && !self.issuers.is_empty()
    }

    /// Whether any token can be verified.
    pub fn enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Issues a bound token; returns it with its expiry (unix seconds).
    pub fn issue(
        &self,
        namespace: &str,
        sa_name: &str,
        sa_uid: &str,
        audiences: &[String],
        expiration_seconds: i64,
        bound: Option<&BoundObject>,
    ) -> Result<(String, i64), String> {
        let signer = self
            .signer
            .as_ref()
            .ok_or("no --service-account-signing-key-file is configured")?;
        let issuer = self
            .issuers
            .first()
            .ok_or("no --service-account-issuer is configured")?;
        let now = jiff::Timestamp::now().as_second();
        let exp = now + expiration_seconds;
        let mut k8s = json!({
            "namespace": namespace,
            "serviceaccount": {"name": sa_name, "uid": sa_uid},
        });
        if let Some(b) = bound {
            let field = match b.kind.as_str() {
                "Pod" => "pod",
                "Secret" => "secret",
                "Node" => "node",
                other => return Err(format!("cannot bind a token to a {other}")),
            };
            k8s[field] = json!({"name": b.name, "uid": b.uid});
        }
        let claims = json!({
            "aud": audiences,
            "exp": exp,
            "iat": now,
            "iss": issuer,
            "jti": uuid::Uuid::new_v4().to_string(),
            "kubernetes.io": k8s,
            "nbf": now,
            "sub": service_account_user(namespace, sa_name),
        });
        let token = signer.sign(&claims).map_err(|e| e.to_string())?;
        Ok((token, exp))
    }

    /// `Ok(None)`: not a ServiceAccount token (not a JWT, or another
    /// issuer). `Err`: a ServiceAccount token that is not valid.
    pub async fn authenticate(
        &self,
        reg: &Registry,
        token: &str,
    ) -> Result<Option<Authenticated>, String> {
        if !self.enabled() {
            return Ok(None);
        }
        let unverified = match jwt::peek_claims(token) {
            Ok(c) => c,
            Err(_) => return Ok(None),
        };
        let iss = str_claim(&unverified, "/iss");
        let legacy = iss == LEGACY_ISSUER;
        if !legacy && !self.issuers.iter().any(|i| i == iss) {
            return Ok(None);
        }
        let claims = match jwt::verify(token, &self.keys) {
            Ok(c) => c,
            Err(JwtError::NotJwt) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        if legacy {
            self.check_legacy(reg, token, &claims).await.map(Some)
        } else {
            self.check_bound(reg, &claims).await.map(Some)
        }
    }

    async fn check_bound(&self, reg: &Registry, claims: &Value) -> Result<Authenticated, String> {
        let now = jiff::Timestamp::now().as_second();
        let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        if exp <= now {
            return Err("service account token has expired".into());
        }
        if let Some(nbf) = claims.get("nbf").and_then(Value::as_i64)
            && nbf > now + 60
        {
            return Err("service account token is not valid yet".into());
        }
        let token_auds = audiences_of(claims);
        let audiences: Vec<String> = token_auds
            .iter()
            .filter(|a| self.api_audiences.contains(a))
            .cloned()
            .collect();
        if audiences.is_empty() {
            return Err("token audiences are invalid".into());
        }
        let ns = str_claim(claims, "/kubernetes.io/namespace");
        let sa_name = str_claim(claims, "/kubernetes.io/serviceaccount/name");
        let sa_uid = str_claim(claims, "/kubernetes.io/serviceaccount/uid");
        if ns.is_empty() || sa_name.is_empty() || ns.contains('/') || sa_name.contains('/') {
            return Err("service account token is missing its subject".into());
        }
        let sa = live_meta(
            reg,
            "serviceaccounts",
            &format!("serviceaccounts/{ns}/{sa_name}"),
            sa_uid,
            &format!("service account {ns}/{sa_name}"),
        )
        .await?;
        if sa.deletion_timestamp.is_some() {
            return Err(format!("service account {ns}/{sa_name} is being deleted"));
        }
        let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let pod_name = str_claim(claims, "/kubernetes.io/pod/name");
        if !pod_name.is_empty() {
            let pod_uid = str_claim(claims, "/kubernetes.io/pod/uid");
            let pod = live_meta(
                reg,
                "pods",
                &format!("pods/{ns}/{pod_name}"),
                pod_uid,
                &format!("pod {ns}/{pod_name}"),
            )
            .await?;
            if let Some(ts) = pod.deletion_timestamp.as_deref()
                && ts
                    .parse::<jiff::Timestamp>()
                    .is_ok_and(|t| t.as_second() < now)
            {
                return Err(format!("pod {ns}/{pod_name} is being deleted"));
            }
            extra.insert(
                "authentication.kubernetes.io/pod-name".into(),
                vec![pod_name.to_string()],
            );
            extra.insert(
                "authentication.kubernetes.io/pod-uid".into(),
                vec![pod_uid.to_string()],
            );
        }
        let secret_name = str_claim(claims, "/kubernetes.io/secret/name");
        if !secret_name.is_empty() {
            live_meta(
                reg,
                "secrets",
                &format!("secrets/{ns}/{secret_name}"),
                str_claim(claims, "/kubernetes.io/secret/uid"),
                &format!("secret {ns}/{secret_name}"),
            )
            .await?;
        }
        let node_name = str_claim(claims, "/kubernetes.io/node/name");
        if !node_name.is_empty() {
            let node_uid = str_claim(claims, "/kubernetes.io/node/uid");
            live_meta(
                reg,
                "nodes",
                &format!("nodes/{node_name}"),
                node_uid,
                &format!("node {node_name}"),
            )
            .await?;
            extra.insert(
                "authentication.kubernetes.io/node-name".into(),
                vec![node_name.to_string()],
            );
            extra.insert(
                "authentication.kubernetes.io/node-uid".into(),
                vec![node_uid.to_string()],
            );
        }
        let jti = str_claim(claims, "/jti");
        if !jti.is_empty() {
            extra.insert(
                "authentication.kubernetes.io/credential-id".into(),
                vec![format!("JTI={jti}")],
            );
        }
        Ok(Authenticated {
            user: UserInfo {
                name: service_account_user(ns, sa_name),
                uid: sa.uid.unwrap_or_else(|| sa_uid.to_string()),
                groups: service_account_groups(ns),
                extra,
            },
            audiences,
        })
    }

    async fn check_legacy(
        &self,
        reg: &Registry,
        token: &str,
        claims: &Value,
    ) -> Result<Authenticated, String> {
        let get = |k: &str| {
            claims
                .get(format!("kubernetes.io/serviceaccount/{k}"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (ns, secret_name, sa_name, sa_uid) = (
            get("namespace"),
            get("secret.name"),
            get("service-account.name"),
            get("service-account.uid"),
        );
        if [&ns, &secret_name, &sa_name]
            .iter()
            .any(|s| s.is_empty() || s.contains('/'))
        {
            return Err("legacy service account token is missing claims".into());
        }
        let sa = live_meta(
            reg,
            "serviceaccounts",
            &format!("serviceaccounts/{ns}/{sa_name}"),
            &sa_uid,
            &format!("service account {ns}/{sa_name}"),
        )
        .await?;
        let secret = live_object(
            reg,
            "secrets",
            &format!("secrets/{ns}/{secret_name}"),
            "",
            &format!("secret {ns}/{secret_name}"),
        )
        .await?;
        use base64::Engine;
        let stored = secret
            .pointer("/data/token")
            .and_then(Value::as_str)
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .unwrap_or_default();
        if stored != token.as_bytes() {
            return Err("token does not match the one in its secret".into());
        }
        let mut extra = BTreeMap::new();
        extra.insert(
            "authentication.kubernetes.io/credential-id".into(),
            vec![format!(
                "{}",
                meta::uid(&secret)
                    .map(|u| format!("secret={u}"))
                    .unwrap_or_default()
            )],
        );
        Ok(Authenticated {
            user: UserInfo {
                name: service_account_user(&ns, &sa_name),
                uid: sa.uid.unwrap_or_default(),
                groups: service_account_groups(&ns),
                extra,
            },
            audiences: self.api_audiences.clone(),
        })
    }
}
