//! Delegated authentication (upstream's `DelegatingAuthenticatorConfig`):
//!
//! 1. a front proxy's certificate (`--requestheader-*`) and the user its
//!    headers name;
//! 2. a client certificate verified against the client CA (user = CN,
//!    groups = O);
//! 3. otherwise `Authorization: Bearer <token>`, asked of the apiserver with
//!    a TokenReview (authentication.k8s.io/v1) and cached for
//!    `--authentication-token-webhook-cache-ttl` (10s), failures too;
//! 4. authenticated users get the `system:authenticated` group;
//! 5. a request with none of these is `system:anonymous` (group
//!    `system:unauthenticated`); a request whose certificate or token was
//!    *rejected* (or could not be checked) is 401, never anonymous.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use http::{HeaderMap, header};

use super::cache::TtlCache;
use super::requestheader::{ProxyIdentity, RequestHeaderAuthenticator};
use super::tls::CertIdentity;

/// `system:authenticated`.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";

/// An authenticated (or anonymous) caller.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserInfo {
    /// User name.
    pub name: String,
    /// UID (tokens only).
    pub uid: String,
    /// Groups.
    pub groups: Vec<String>,
    /// Extra attributes (tokens only).
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// `system:anonymous` in `system:unauthenticated`.
    pub fn anonymous() -> UserInfo {
        UserInfo {
            name: "system:anonymous".into(),
            uid: String::new(),
            groups: vec!["system:unauthenticated".into()],
            extra: BTreeMap::new(),
        }
    }

    /// The user of a (verified) client certificate: CN and O, plus
    /// `system:authenticated`.
    pub fn from_certificate(der: &[u8]) -> Option<UserInfo> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let subject = cert.subject();
        let name = subject.iter_common_name().next()?.as_str().ok()?;
        if name.is_empty() {
            return None;
        }
        let groups = subject
            .iter_organization()
            .filter_map(|o| o.as_str().ok().map(str::to_string))
            .collect();
        Some(
            UserInfo {
                name: name.to_string(),
                uid: String::new(),
                groups,
                extra: BTreeMap::new(),
            }
            .with_authenticated_group(),
        )
    }

    fn with_authenticated_group(mut self) -> UserInfo {
        if !self.groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
            self.groups.push(AUTHENTICATED_GROUP.into());
        }
        self
    }
}

/// Asks the apiserver who a bearer token belongs to.
pub trait TokenReviewer: Send + Sync {
    /// `Ok(None)`: the token is not valid; `Err`: the apiserver could not
    /// be asked.
    fn review_token<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<UserInfo>, String>>;
}

/// Why a request is not authenticated (401).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unauthenticated(pub String);

/// The authenticator of the secure port.
pub struct DelegatingAuthenticator {
    request_header: Option<RequestHeaderAuthenticator>,
    tokens: Option<Arc<dyn TokenReviewer>>,
    ttl: Duration,
    cache: TtlCache<[u8; 32], Option<UserInfo>>,
}

impl std::fmt::Debug for DelegatingAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelegatingAuthenticator")
            .field("token_review", &self.tokens.is_some())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// The bearer token of a request, as upstream reads it: scheme `Bearer`
/// (any case), a non-empty token.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl DelegatingAuthenticator {
    /// `tokens`: None when no apiserver connection is available (bearer
    /// tokens are then refused). `ttl`: how long answers are reused.
    pub fn new(tokens: Option<Arc<dyn TokenReviewer>>, ttl: Duration) -> DelegatingAuthenticator {
        DelegatingAuthenticator {
            request_header: None,
            tokens,
            ttl,
            cache: TtlCache::default(),
        }
    }

    /// Adds front-proxy authentication.
    pub fn with_request_header(mut self, rh: RequestHeaderAuthenticator) -> Self {
        self.request_header = Some(rh);
        self
    }

    /// The front-proxy authenticator, if configured.
    pub fn request_header(&self) -> Option<&RequestHeaderAuthenticator> {
        self.request_header.as_ref()
    }

    /// Who is calling: `proxy` and `cert` are what the connection's client
    /// certificate proved.
    pub async fn authenticate(
        &self,
        proxy: &ProxyIdentity,
        cert: &CertIdentity,
        headers: &HeaderMap,
    ) -> Result<UserInfo, Unauthenticated> {
        let mut errors = Vec::new();
        match (proxy, &self.request_header) {
            (ProxyIdentity::Verified, Some(rh)) => {
                if let Some(user) = rh.user_from_headers(headers) {
                    return Ok(user.with_authenticated_group());
                }
            }
            // Kept only if nothing else authenticates the request (a
            // client certificate of the client CA fails here and passes
            // below).
            (ProxyIdentity::Invalid(why), _) => errors.push(why.clone()),
            _ => {}
        }
        match cert {
            CertIdentity::Verified(user) => return Ok(user.clone()),
            CertIdentity::Invalid(why) => errors.push(why.clone()),
            CertIdentity::None => {}
        }

        if let Some(token) = bearer_token(headers) {
            match self.review_token(token).await {
                Ok(Some(user)) => return Ok(user.with_authenticated_group()),
                Ok(None) => errors.push("invalid bearer token".into()),
                Err(err) => errors.push(err),
            }
        }
        if errors.is_empty() {
            Ok(UserInfo::anonymous())
        } else {
            Err(Unauthenticated(errors.join(", ")))
        }
    }

    async fn review_token(&self, token: &str) -> Result<Option<UserInfo>, String> {
        // Tokens are kept only as digests.
        let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        if let Some(hit) = self.cache.get(&key) {
            return Ok(hit);
        }
        let Some(reviewer) = &self.tokens else {
            return Err("token authentication is not available (no apiserver connection)".into());
        };
        // Errors are not cached: the next request asks again.
        let answer = reviewer.review_token(token).await?;
        self.cache.put(key, answer.clone(), self.ttl);
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Answers from a table and counts the questions.
    struct Table {
        asked: AtomicUsize,
        fail: bool,
    }

    impl TokenReviewer for Table {
        fn review_token<'a>(
            &'a self,
            token: &'a str,
        ) -> BoxFuture<'a, Result<Option<UserInfo>, String>> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            let answer = if self.fail {
                Err("connection refused".to_string())
            } else if token == "good" {
                Ok(Some(UserInfo {
                    name: "system:serviceaccount:monitoring:prometheus".into(),
                    uid: "u1".into(),
                    groups: vec!["system:serviceaccounts".into()],
                    extra: BTreeMap::new(),
                }))
            } else {
                Ok(None)
            };
            Box::pin(async move { answer })
        }
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        headers
    }

    #[tokio::test]
    async fn tokens_are_reviewed_once_per_ttl_and_failures_are_401() {
        let table = Arc::new(Table {
            asked: AtomicUsize::new(0),
            fail: false,
        });
        let authn = DelegatingAuthenticator::new(Some(table.clone()), Duration::from_secs(10));
        let user = authn
            .authenticate(&ProxyIdentity::None, &CertIdentity::None, &bearer("good"))
            .await
            .unwrap();
        assert_eq!(user.name, "system:serviceaccount:monitoring:prometheus");
        assert_eq!(user.groups, ["system:serviceaccounts", AUTHENTICATED_GROUP]);
        authn
            .authenticate(&ProxyIdentity::None, &CertIdentity::None, &bearer("good"))
            .await
            .unwrap();
        assert_eq!(table.asked.load(Ordering::SeqCst), 1, "cached");

        // A rejected token is 401 (not anonymous), and cached as well.
        for _ in 0..2 {
            let err = authn
                .authenticate(&ProxyIdentity::None, &CertIdentity::None, &bearer("bad"))
                .await
                .unwrap_err();
            assert_eq!(err.0, "invalid bearer token");
        }
        assert_eq!(table.asked.load(Ordering::SeqCst), 2);

        // Nothing at all: anonymous.
        assert_eq!(
            authn
                .authenticate(&ProxyIdentity::None, &CertIdentity::None, &HeaderMap::new())
                .await
                .unwrap(),
            UserInfo::anonymous()
        );
        // Not a bearer scheme, or an empty token: anonymous (as upstream).
        let mut basic = HeaderMap::new();
        basic.insert(header::AUTHORIZATION, "Basic YTpi".parse().unwrap());
        assert_eq!(
            authn
                .authenticate(&ProxyIdentity::None, &CertIdentity::None, &basic)
                .await
                .unwrap(),
            UserInfo::anonymous()
        );
        assert!(bearer_token(&bearer(" ")).is_none());
    }

    #[tokio::test]
    async fn zero_ttl_and_review_errors_are_not_cached() {
        let table = Arc::new(Table {
            asked: AtomicUsize::new(0),
            fail: true,
        });
        let authn = DelegatingAuthenticator::new(Some(table.clone()), Duration::from_secs(10));
        for _ in 0..2 {
            let err = authn
                .authenticate(&ProxyIdentity::None, &CertIdentity::None, &bearer("good"))
                .await
                .unwrap_err();
            assert_eq!(err.0, "connection refused");
        }
        assert_eq!(table.asked.load(Ordering::SeqCst), 2);

        let table = Arc::new(Table {
            asked: AtomicUsize::new(0),
            fail: false,
        });
        let authn = DelegatingAuthenticator::new(Some(table.clone()), Duration::ZERO);
        for _ in 0..2 {
            authn
                .authenticate(&ProxyIdentity::None, &CertIdentity::None, &bearer("good"))
                .await
                .unwrap();
        }
        assert_eq!(table.asked.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn certificates_come_first_and_bad_ones_are_401() {
        let authn = DelegatingAuthenticator::new(None, Duration::from_secs(10));
        let admin = UserInfo {
            name: "kubernetes-admin".into(),
            uid: String::new(),
            groups: vec!["system:masters".into(), AUTHENTICATED_GROUP.into()],
            extra: BTreeMap::new(),
        };
        assert_eq!(
            authn
                .authenticate(
                    &ProxyIdentity::None,
                    &CertIdentity::Verified(admin.clone()),
                    &bearer("x")
                )
                .await
                .unwrap(),
            admin
        );
        assert!(
            authn
                .authenticate(
                    &ProxyIdentity::None,
                    &CertIdentity::Invalid("unknown CA".into()),
                    &HeaderMap::new()
                )
                .await
                .is_err()
        );
        // Without an apiserver connection a token cannot be checked: 401.
        assert!(
            authn
                .authenticate(&ProxyIdentity::None, &CertIdentity::None, &bearer("good"))
                .await
                .is_err()
        );
    }
}
