//! Authentication: request headers from an allowed front proxy
//! (`--requestheader-*`), x509 client certificate, then bearer token
//! (static token file, ServiceAccount JWT, bootstrap token), then
//! anonymous.
//!
//! Like upstream's union authenticator, credentials that are present but
//! invalid are a 401 even when anonymous requests are allowed; only a
//! request with no credentials at all becomes `system:anonymous`.

use std::sync::Arc;

use anyhow::Result;
use corten_apimachinery::StatusError;
use http::HeaderMap;
use rustls::pki_types::CertificateDer;
use serde_json::Value;

use super::serviceaccount::{self, ServiceAccountTokens};
use super::token_file::TokenFile;
use super::x509::X509Authenticator;
use super::{UserInfo, unauthorized};
use crate::options::AuthnOptions;
use crate::registry::Registry;

/// The client certificate of a connection, verified once per connection:
/// `Ok(None)` without one, `Err` for one that does not verify against
/// `--client-ca-file`; and whether it is an allowed request-header proxy's.
#[derive(Clone, Debug)]
pub struct PeerIdentity(pub Arc<Result<Option<UserInfo>, String>>, pub bool);

/// Who a request is from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticated {
    /// The user (groups include `system:authenticated` or
    /// `system:unauthenticated`).
    pub user: UserInfo,
    /// Audiences the credential is valid for (empty = the API's).
    pub audiences: Vec<String>,
}

/// The configured authenticators.
#[derive(Debug, Default)]
pub struct Authenticator {
    /// `--client-ca-file`.
    pub x509: Option<X509Authenticator>,
    /// `--token-auth-file`.
    pub token_file: Option<TokenFile>,
    /// ServiceAccount token keys and issuers.
    pub service_accounts: ServiceAccountTokens,
    /// `--enable-bootstrap-token-auth`.
    pub bootstrap_tokens: bool,
    /// `--anonymous-auth`.
    pub anonymous: bool,
    /// `--requestheader-*`.
    pub request_header: Option<super::requestheader::RequestHeaderAuthenticator>,
}

impl Authenticator {
    /// Loads every configured credential source.
    pub fn from_options(o: &AuthnOptions) -> Result<Self> {
        let x509 = o
            .client_ca_file
            .as_deref()
            .map(X509Authenticator::from_file)
            .transpose()?;
        let token_file = o
            .token_auth_file
            .as_deref()
            .map(TokenFile::from_file)
            .transpose()?;
        let mut sa = ServiceAccountTokens {
            issuers: o.service_account_issuers.clone(),
            api_audiences: if o.api_audiences.is_empty() {
                o.service_account_issuers.clone()
            } else {
                o.api_audiences.clone()
            },
            max_expiration_seconds: o.service_account_max_token_expiration_seconds,
            ..Default::default()
        };
        for f in &o.service_account_key_files {
            sa.keys.extend(super::jwt::load_public_keys(f)?);
        }
        if let Some(f) = &o.service_account_signing_key_file {
            let key = super::jwt::load_signing_key(f)?;
            if !sa.keys.iter().any(|k| k.kid == key.public.kid) {
                sa.keys.push(key.public.clone());
            }
            sa.signer = Some(key);
        }
        let request_header = o
            .request_header
            .as_ref()
            .map(super::requestheader::RequestHeaderAuthenticator::from_config)
            .transpose()?;
        Ok(Authenticator {
            request_header,
            x509,
            token_file,
            service_accounts: sa,
            bootstrap_tokens: o.enable_bootstrap_token_auth,
            anonymous: o.anonymous_auth,
        })
    }

    /// Verifies a connection's client certificate chain.
    pub fn peer_identity(&self, chain: Option<&[CertificateDer<'static>]>) -> PeerIdentity {
        let result = match (&self.x509, chain) {
            (Some(x), Some(c)) => x.authenticate(c),
            _ => Ok(None),
        };
        let proxy = match (&self.request_header, chain) {
            (Some(rh), Some(c)) => rh.verify_peer(c).unwrap_or_else(|e| {
                tracing::debug!(error = %e, "not a request-header proxy");
                false
            }),
            _ => false,
        };
        PeerIdentity(Arc::new(result), proxy)
    }

    /// Authenticates a request; 401 for invalid credentials, or for none
    /// when anonymous requests are off.
    pub async fn authenticate(
        &self,
        reg: &Registry,
        headers: &HeaderMap,
        peer: Option<&PeerIdentity>,
    ) -> Result<Authenticated, StatusError> {
        let mut failed = false;
        // An allowed front proxy naming a user wins; without a username
        // its certificate is judged like any other.
        if let (Some(rh), Some(PeerIdentity(_, true))) = (&self.request_header, peer)
            && let Some(user) = rh.user_from_headers(headers)
        {
            return Ok(Authenticated {
                user: user.with_authenticated_group(),
                audiences: Vec::new(),
            });
        }
        if let Some(p) = peer {
            match p.0.as_ref() {
                Ok(Some(user)) => {
                    return Ok(Authenticated {
                        user: user.clone().with_authenticated_group(),
                        audiences: Vec::new(),
                    });
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "client certificate rejected");
                    failed = true;
                }
            }
        }
        if let Some(token) = bearer_token(headers) {
            return match self.authenticate_token(reg, token).await {
                Ok(a) => Ok(Authenticated {
                    user: a.user.with_authenticated_group(),
                    audiences: a.audiences,
                }),
                Err(e) => {
                    tracing::debug!(error = %e, "bearer token rejected");
                    Err(unauthorized())
                }
            };
        }
        if failed || !self.anonymous {
            return Err(unauthorized());
        }
        Ok(Authenticated {
            user: UserInfo::anonymous(),
            audiences: Vec::new(),
        })
    }

    /// Authenticates a bearer token (also used by TokenReview).
    pub async fn authenticate_token(
        &self,
        reg: &Registry,
        token: &str,
    ) -> Result<Authenticated, String> {
        if let Some(u) = self.token_file.as_ref().and_then(|f| f.lookup(token)) {
            return Ok(Authenticated {
                user: u.clone(),
                audiences: Vec::new(),
            });
        }
        if let Some(a) = self.service_accounts.authenticate(reg, token).await? {
            return Ok(Authenticated {
                user: a.user,
                audiences: a.audiences,
            });
        }
        if self.bootstrap_tokens
            && let Some(u) = bootstrap_token(reg, token).await?
        {
            return Ok(Authenticated {
                user: u,
                audiences: Vec::new(),
            });
        }
        Err("invalid bearer token".into())
    }
}

/// The token of `Authorization: Bearer <token>` (None if absent, another
/// scheme, or empty).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let mut parts = value.splitn(3, ' ');
    let scheme = parts.next()?;
    let token = parts.next()?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return None;
    }
    Some(token)
}

/// Bootstrap tokens (`abcdef.0123456789abcdef`) backed by
/// `kube-system/bootstrap-token-<id>` Secrets. `Ok(None)` if the token does
/// not have the bootstrap shape.
async fn bootstrap_token(reg: &Registry, token: &str) -> Result<Option<UserInfo>, String> {
    let Some((id, secret)) = token.split_once('.') else {
        return Ok(None);
    };
    let shape = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    if !shape(id, 6) || !shape(secret, 16) {
        return Ok(None);
    }
    let obj = serviceaccount::lookup(
        reg,
        "secrets",
        &format!("secrets/kube-system/bootstrap-token-{id}"),
    )
    .await
    .ok_or("bootstrap token not found")?;
    if obj.get("type").and_then(Value::as_str) != Some("bootstrap.kubernetes.io/token") {
        return Err("bootstrap token secret has the wrong type".into());
    }
    use base64::Engine;
    let data = |k: &str| {
        obj.pointer(&format!("/data/{k}"))
            .and_then(Value::as_str)
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default()
    };
    if data("token-id") != id || data("token-secret") != secret {
        return Err("bootstrap token does not match".into());
    }
    if data("usage-bootstrap-authentication") != "true" {
        return Err("bootstrap token is not for authentication".into());
    }
    let expiration = data("expiration");
    if !expiration.is_empty()
        && expiration
            .parse::<jiff::Timestamp>()
            .map(|t| t <= jiff::Timestamp::now())
            .unwrap_or(true)
    {
        return Err("bootstrap token has expired".into());
    }
    let mut groups = vec!["system:bootstrappers".to_string()];
    for g in data("auth-extra-groups").split(',') {
        let g = g.trim();
        if g.starts_with("system:bootstrappers:") && !groups.iter().any(|x| x == g) {
            groups.push(g.to_string());
        }
    }
    Ok(Some(UserInfo {
        name: format!("system:bootstrap:{id}"),
        groups,
        ..Default::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), None);
        h.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert("authorization", "bearer abc extra".parse().unwrap());
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert("authorization", "Bearer ".parse().unwrap());
        assert_eq!(bearer_token(&h), None);
        h.insert("authorization", "Basic dXNlcjpwdw==".parse().unwrap());
        assert_eq!(bearer_token(&h), None);
    }
}
