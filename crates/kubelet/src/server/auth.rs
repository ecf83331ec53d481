//! Authentication and authorization of the kubelet API, as upstream's
//! kubelet does it:
//!
//! - **x509**: client certificates verified against
//!   `authentication.x509.clientCAFile` during the TLS handshake; user =
//!   subject CN, groups = subject O.
//! - **webhook**: `Authorization: Bearer <token>` checked with a
//!   TokenReview to the apiserver (cached 2 minutes).
//! - **anonymous**: otherwise `system:anonymous` when
//!   `authentication.anonymous.enabled`, else 401.
//! - **authorization** (`Webhook`): a SubjectAccessReview for
//!   `<verb> nodes/<subresource>` on this node (`stats`, `metrics`, `log`,
//!   else `proxy`), cached 5 minutes when allowed and 30 seconds when not;
//!   403 `Forbidden (user=..., verb=..., resource=nodes, subresource=...)`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::{HeaderMap, Method, header};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

use crate::config::KubeletConfiguration;

const TOKEN_CACHE_TTL: Duration = Duration::from_secs(120);
const AUTHORIZED_TTL: Duration = Duration::from_secs(300);
const UNAUTHORIZED_TTL: Duration = Duration::from_secs(30);
/// Bounds each cache so a flood of distinct tokens cannot grow memory.
const CACHE_LIMIT: usize = 4096;

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct User {
    /// User name.
    pub name: String,
    /// UID (tokens only).
    pub uid: String,
    /// Groups.
    pub groups: Vec<String>,
    /// Extra attributes (tokens only), sorted.
    pub extra: Vec<(String, Vec<String>)>,
}

impl User {
    /// `system:anonymous` in `system:unauthenticated`.
    pub fn anonymous() -> User {
        User {
            name: "system:anonymous".into(),
            uid: String::new(),
            groups: vec!["system:unauthenticated".into()],
            extra: Vec::new(),
        }
    }

    /// The user of a verified client certificate (CN, O).
    pub fn from_certificate(der: &[u8]) -> Option<User> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let subject = cert.subject();
        let name = subject
            .iter_common_name()
            .next()?
            .as_str()
            .ok()?
            .to_string();
        let mut groups: Vec<String> = subject
            .iter_organization()
            .filter_map(|o| o.as_str().ok().map(str::to_string))
            .collect();
        groups.push("system:authenticated".into());
        Some(User {
            name,
            uid: String::new(),
            groups,
            extra: Vec::new(),
        })
    }
}

/// Why a request was turned away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// 401.
    Unauthorized,
    /// 403 with upstream's text.
    Forbidden(String),
    /// The apiserver could not be asked (500).
    Error(String),
}

/// The authorization attributes of a kubelet API request.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Attributes {
    /// `get`, `create`, `update`, `patch`, `delete`.
    pub verb: &'static str,
    /// `stats`, `metrics`, `log` or `proxy`.
    pub subresource: &'static str,
}

fn is_subpath(path: &str, prefix: &str) -> bool {
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Maps a request to `<verb> nodes/<subresource>` (upstream's
/// GetRequestAttributes).
pub fn attributes(method: &Method, path: &str) -> Attributes {
    let verb = match *method {
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "get",
    };
    let subresource = if is_subpath(path, "/stats") {
        "stats"
    } else if is_subpath(path, "/metrics") {
        "metrics"
    } else if is_subpath(path, "/logs") {
        "log"
    } else {
        "proxy"
    };
    Attributes { verb, subresource }
}

struct Cache<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: std::hash::Hash + Eq + Clone, V: Clone> Cache<K, V> {
    fn new() -> Self {
        Cache {
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(key)
            .filter(|(until, _)| *until > Instant::now())
            .map(|(_, v)| v.clone())
    }

    fn put(&self, key: K, value: V, ttl: Duration) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CACHE_LIMIT {
                let now = Instant::now();
                entries.retain(|_, (until, _)| *until > now);
                if entries.len() >= CACHE_LIMIT {
                    entries.clear();
                }
            }
            entries.insert(key, (Instant::now() + ttl, value));
        }
    }
}

/// The kubelet API's authenticator and authorizer.
pub struct ApiAuth {
    anonymous: bool,
    token_webhook: bool,
    webhook_authz: bool,
    node_name: String,
    client: Option<kube::Client>,
    tokens: Cache<String, Option<User>>,
    decisions: Cache<(User, Attributes), Result<(), String>>,
}

impl std::fmt::Debug for ApiAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiAuth")
            .field("anonymous", &self.anonymous)
            .field("token_webhook", &self.token_webhook)
            .field("webhook_authz", &self.webhook_authz)
            .finish_non_exhaustive()
    }
}

impl ApiAuth {
    /// From the (defaulted) configuration. Without an apiserver client
    /// (standalone mode) tokens cannot be checked and authorization allows
    /// every authenticated request, with a warning.
    pub fn new(
        config: &KubeletConfiguration,
        node_name: &str,
        client: Option<kube::Client>,
    ) -> ApiAuth {
        let authn = config.authentication.clone().unwrap_or_default();
        let anonymous = authn.anonymous.and_then(|a| a.enabled).unwrap_or(false);
        let token_webhook = authn.webhook.and_then(|w| w.enabled).unwrap_or(true);
        let mut webhook_authz = config
            .authorization
            .as_ref()
            .and_then(|a| a.mode.as_deref())
            .unwrap_or("Webhook")
            == "Webhook";
        if webhook_authz && client.is_none() {
            tracing::warn!(
                "authorization mode Webhook needs an apiserver; the kubelet API allows every authenticated request"
            );
            webhook_authz = false;
        }
        ApiAuth {
            anonymous,
            token_webhook: token_webhook && client.is_some(),
            webhook_authz,
            node_name: node_name.to_string(),
            client,
            tokens: Cache::new(),
            decisions: Cache::new(),
        }
    }

    /// Authenticates a request (`cert_user` from the TLS handshake).
    pub async fn authenticate(
        &self,
        cert_user: Option<&User>,
        headers: &HeaderMap,
    ) -> Result<User, Denied> {
        if let Some(user) = cert_user {
            return Ok(user.clone());
        }
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| token.trim().to_string())
            })
            .filter(|t| !t.is_empty());
        if let Some(token) = token {
            if !self.token_webhook {
                return Err(Denied::Unauthorized);
            }
            return match self.review_token(&token).await? {
                Some(user) => Ok(user),
                None => Err(Denied::Unauthorized),
            };
        }
        if self.anonymous {
            Ok(User::anonymous())
        } else {
            Err(Denied::Unauthorized)
        }
    }

    async fn review_token(&self, token: &str) -> Result<Option<User>, Denied> {
        if let Some(hit) = self.tokens.get(&token.to_string()) {
            return Ok(hit);
        }
        let Some(client) = &self.client else {
            return Ok(None);
        };
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_string()),
                audiences: None,
            },
            ..Default::default()
        };
        let api: Api<TokenReview> = Api::all(client.clone());
        let answer = api
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| Denied::Error(format!("TokenReview: {e}")))?;
        let user = answer
            .status
            .filter(|s| s.authenticated == Some(true))
            .and_then(|s| s.user)
            .map(|u| User {
                name: u.username.unwrap_or_default(),
                uid: u.uid.unwrap_or_default(),
                groups: u.groups.unwrap_or_default(),
                extra: u.extra.unwrap_or_default().into_iter().collect(),
            });
        self.tokens
            .put(token.to_string(), user.clone(), TOKEN_CACHE_TTL);
        Ok(user)
    }

    /// Authorizes `user` for `method path` on this node.
    pub async fn authorize(&self, user: &User, method: &Method, path: &str) -> Result<(), Denied> {
        let attrs = attributes(method, path);
        if !self.webhook_authz {
            return Ok(());
        }
        let key = (user.clone(), attrs.clone());
        let decision = match self.decisions.get(&key) {
            Some(d) => d,
            None => {
                let d = self.review_access(user, &attrs).await?;
                let ttl = if d.is_ok() {
                    AUTHORIZED_TTL
                } else {
                    UNAUTHORIZED_TTL
                };
                self.decisions.put(key, d.clone(), ttl);
                d
            }
        };
        decision.map_err(|reason| {
            tracing::debug!(user = %user.name, verb = attrs.verb, subresource = attrs.subresource, %reason, "kubelet API request forbidden");
            Denied::Forbidden(format!(
                "Forbidden (user={}, verb={}, resource=nodes, subresource={})",
                user.name, attrs.verb, attrs.subresource
            ))
        })
    }

    async fn review_access(
        &self,
        user: &User,
        attrs: &Attributes,
    ) -> Result<Result<(), String>, Denied> {
        let Some(client) = &self.client else {
            return Ok(Ok(()));
        };
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(user.name.clone()),
                uid: (!user.uid.is_empty()).then(|| user.uid.clone()),
                groups: Some(user.groups.clone()),
                extra: (!user.extra.is_empty()).then(|| user.extra.iter().cloned().collect()),
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(attrs.verb.to_string()),
                    version: Some("v1".into()),
                    resource: Some("nodes".into()),
                    subresource: Some(attrs.subresource.to_string()),
                    name: Some(self.node_name.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let api: Api<SubjectAccessReview> = Api::all(client.clone());
        let answer = api
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| Denied::Error(format!("SubjectAccessReview: {e}")))?;
        let status = answer.status.unwrap_or_default();
        Ok(if status.allowed {
            Ok(())
        } else {
            Err(status.reason.unwrap_or_default())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_like_upstream() {
        let a = |m: Method, p: &str| {
            let a = attributes(&m, p);
            (a.verb, a.subresource)
        };
        assert_eq!(a(Method::GET, "/stats/summary"), ("get", "stats"));
        assert_eq!(a(Method::GET, "/stats"), ("get", "stats"));
        assert_eq!(a(Method::GET, "/statsx"), ("get", "proxy"));
        assert_eq!(a(Method::GET, "/metrics/cadvisor"), ("get", "metrics"));
        assert_eq!(a(Method::GET, "/logs/syslog"), ("get", "log"));
        assert_eq!(
            a(Method::GET, "/containerLogs/default/p/c"),
            ("get", "proxy")
        );
        assert_eq!(a(Method::POST, "/exec/default/p/c"), ("create", "proxy"));
        assert_eq!(a(Method::HEAD, "/pods"), ("get", "proxy"));
        assert_eq!(a(Method::DELETE, "/x"), ("delete", "proxy"));
    }

    #[tokio::test]
    async fn anonymous_is_refused_by_default() {
        let config = KubeletConfiguration::default().defaulted();
        let auth = ApiAuth::new(&config, "n1", None);
        assert_eq!(
            auth.authenticate(None, &HeaderMap::new()).await,
            Err(Denied::Unauthorized)
        );
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(
            auth.authenticate(None, &headers).await,
            Err(Denied::Unauthorized)
        );
        let cert_user = User {
            name: "kube-apiserver-kubelet-client".into(),
            uid: String::new(),
            groups: vec!["system:masters".into()],
            extra: Vec::new(),
        };
        assert_eq!(
            auth.authenticate(Some(&cert_user), &HeaderMap::new())
                .await
                .unwrap(),
            cert_user
        );
    }

    #[tokio::test]
    async fn anonymous_can_be_enabled() {
        let mut config = KubeletConfiguration::default();
        config.authentication = Some(crate::config::Authentication {
            anonymous: Some(crate::config::AnonymousAuthentication {
                enabled: Some(true),
            }),
            ..Default::default()
        });
        let auth = ApiAuth::new(&config.defaulted(), "n1", None);
        assert_eq!(
            auth.authenticate(None, &HeaderMap::new()).await.unwrap(),
            User::anonymous()
        );
        // Standalone (no apiserver): authorization cannot be asked.
        assert!(
            auth.authorize(&User::anonymous(), &Method::GET, "/pods")
                .await
                .is_ok()
        );
    }

    #[test]
    fn certificate_users() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "system:node:n1");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "system:nodes");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let user = User::from_certificate(cert.der()).unwrap();
        assert_eq!(user.name, "system:node:n1");
        assert_eq!(user.groups, ["system:nodes", "system:authenticated"]);
        assert!(User::from_certificate(b"garbage").is_none());
    }

    #[test]
    fn cache_expires_and_is_bounded() {
        let cache: Cache<u32, u32> = Cache::new();
        cache.put(1, 10, Duration::from_secs(60));
        cache.put(2, 20, Duration::ZERO);
        assert_eq!(cache.get(&1), Some(10));
        assert_eq!(cache.get(&2), None);
        for i in 0..(CACHE_LIMIT as u32 + 10) {
            cache.put(i, i, Duration::from_secs(60));
        }
        assert!(cache.entries.lock().unwrap().len() <= CACHE_LIMIT);
    }
}
