//! Delegated authorization (upstream's `DelegatingAuthorizationOptions`),
//! asked in this order:
//!
//! 1. members of `system:masters` may do anything (upstream's
//!    `AlwaysAllowGroups`);
//! 2. `--authorization-always-allow-paths` (default `/healthz`, `/readyz`,
//!    `/livez`; a trailing `*` matches a prefix) are open to everyone,
//!    anonymous callers included;
//! 3. otherwise a SubjectAccessReview with `nonResourceAttributes`
//!    `{path, verb}` (verb = the lower-cased HTTP method, as upstream's
//!    request info for non-resource requests), cached for
//!    `--authorization-webhook-cache-authorized-ttl` /
//!    `--authorization-webhook-cache-unauthorized-ttl` (10s each).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::authn::UserInfo;
use super::cache::TtlCache;

/// The group that is always allowed (upstream's default `AlwaysAllowGroups`).
pub const PRIVILEGED_GROUP: &str = "system:masters";

/// Upstream's default `--authorization-always-allow-paths` of
/// kube-scheduler and kube-controller-manager.
pub const DEFAULT_ALWAYS_ALLOW_PATHS: &[&str] = &["/healthz", "/readyz", "/livez"];

/// The answer to "may `user` `verb` `path`?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed.
    Allow,
    /// Not allowed; the reason the apiserver gave (often empty).
    Deny(String),
}

/// Asks the apiserver whether a user may use a non-resource path.
pub trait AccessReviewer: Send + Sync {
    /// `Err`: the apiserver could not be asked.
    fn review_access<'a>(
        &'a self,
        user: &'a UserInfo,
        verb: &'a str,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Decision, String>>;
}

/// `--authorization-always-allow-paths`: exact paths and `prefix*`
/// patterns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlwaysAllowPaths {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl AlwaysAllowPaths {
    /// Parses the patterns; `*` is only allowed at the end (upstream's
    /// error otherwise). As upstream, the leading `/` is optional.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<AlwaysAllowPaths, String> {
        let mut paths = AlwaysAllowPaths::default();
        for pattern in patterns {
            let p = pattern.as_ref().trim_start_matches('/');
            if let Some(prefix) = p.strip_suffix('*') {
                if prefix.contains('*') {
                    return Err(format!("only trailing * allowed in {:?}", pattern.as_ref()));
                }
                paths.prefixes.push(prefix.to_string());
            } else if p.contains('*') {
                return Err(format!("only trailing * allowed in {:?}", pattern.as_ref()));
            } else {
                paths.exact.push(p.to_string());
            }
        }
        Ok(paths)
    }

    /// Whether `path` (the URL path, without query) is always allowed.
    pub fn allows(&self, path: &str) -> bool {
        let path = path.strip_prefix('/').unwrap_or(path);
        self.exact.iter().any(|p| p == path)
            || self.prefixes.iter().any(|p| path.starts_with(p.as_str()))
    }
}

/// The authorizer of the secure port.
pub struct DelegatingAuthorizer {
    paths: AlwaysAllowPaths,
    reviewer: Option<Arc<dyn AccessReviewer>>,
    allowed_ttl: Duration,
    denied_ttl: Duration,
    cache: TtlCache<(UserInfo, String, String), Decision>,
}

impl std::fmt::Debug for DelegatingAuthorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelegatingAuthorizer")
            .field("paths", &self.paths)
            .field("subject_access_review", &self.reviewer.is_some())
            .finish_non_exhaustive()
    }
}

/// The verb of a non-resource request: the lower-cased HTTP method.
pub fn verb_of(method: &http::Method) -> String {
    method.as_str().to_ascii_lowercase()
}

impl DelegatingAuthorizer {
    /// `reviewer`: None without an apiserver connection (then only
    /// `system:masters` and the always-allowed paths get through).
    pub fn new(
        paths: AlwaysAllowPaths,
        reviewer: Option<Arc<dyn AccessReviewer>>,
        allowed_ttl: Duration,
        denied_ttl: Duration,
    ) -> DelegatingAuthorizer {
        DelegatingAuthorizer {
            paths,
            reviewer,
            allowed_ttl,
            denied_ttl,
            cache: TtlCache::default(),
        }
    }

    /// May `user` `verb` `path`? `Err` when the apiserver could not be
    /// asked (upstream answers 500 then).
    pub async fn authorize(
        &self,
        user: &UserInfo,
        verb: &str,
        path: &str,
    ) -> Result<Decision, String> {
        if user.groups.iter().any(|g| g == PRIVILEGED_GROUP) || self.paths.allows(path) {
            return Ok(Decision::Allow);
        }
        let Some(reviewer) = &self.reviewer else {
            return Ok(Decision::Deny(String::new()));
        };
        let key = (user.clone(), verb.to_string(), path.to_string());
        if let Some(hit) = self.cache.get(&key) {
            return Ok(hit);
        }
        let decision = reviewer.review_access(user, verb, path).await?;
        let ttl = match decision {
            Decision::Allow => self.allowed_ttl,
            Decision::Deny(_) => self.denied_ttl,
        };
        self.cache.put(key, decision.clone(), ttl);
        Ok(decision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// Allows `get /metrics` to `prometheus` only; records the questions.
    #[derive(Default)]
    struct Rbac {
        asked: Mutex<Vec<(String, String, String)>>,
        fail: bool,
    }

    impl AccessReviewer for Rbac {
        fn review_access<'a>(
            &'a self,
            user: &'a UserInfo,
            verb: &'a str,
            path: &'a str,
        ) -> BoxFuture<'a, Result<Decision, String>> {
            self.asked.lock().unwrap().push((
                user.name.clone(),
                verb.to_string(),
                path.to_string(),
            ));
            let answer = if self.fail {
                Err("SubjectAccessReview: connection refused".to_string())
            } else if user.name == "prometheus" && verb == "get" && path == "/metrics" {
                Ok(Decision::Allow)
            } else {
                Ok(Decision::Deny(String::new()))
            };
            Box::pin(async move { answer })
        }
    }

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            name: name.into(),
            uid: String::new(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn always_allow_paths_like_upstream() {
        let paths = AlwaysAllowPaths::new(DEFAULT_ALWAYS_ALLOW_PATHS).unwrap();
        assert!(paths.allows("/healthz"));
        assert!(paths.allows("/livez"));
        assert!(paths.allows("/readyz"));
        // Exact: subpaths are not included.
        assert!(!paths.allows("/healthz/leaderElection"));
        assert!(!paths.allows("/healthzz"));
        assert!(!paths.allows("/metrics"));
        let paths = AlwaysAllowPaths::new(&["/metrics*", "debug/flags/v", "/"]).unwrap();
        assert!(paths.allows("/metrics"));
        assert!(paths.allows("/metrics/slis"));
        assert!(paths.allows("/debug/flags/v"));
        assert!(paths.allows("/"));
        assert!(!paths.allows("/debug/flags"));
        assert_eq!(
            AlwaysAllowPaths::new(&["/a*b"]).unwrap_err(),
            "only trailing * allowed in \"/a*b\""
        );
        assert!(AlwaysAllowPaths::new(&["/a**"]).is_err());
        assert!(
            AlwaysAllowPaths::new::<&str>(&[])
                .unwrap()
                .paths_are_empty()
        );
    }

    impl AlwaysAllowPaths {
        fn paths_are_empty(&self) -> bool {
            self.exact.is_empty() && self.prefixes.is_empty()
        }
    }

    #[test]
    fn verbs_are_lower_cased_methods() {
        assert_eq!(verb_of(&http::Method::GET), "get");
        assert_eq!(verb_of(&http::Method::POST), "post");
        assert_eq!(verb_of(&http::Method::PUT), "put");
        assert_eq!(verb_of(&http::Method::HEAD), "head");
    }

    #[tokio::test]
    async fn masters_and_open_paths_skip_the_review_and_answers_are_cached() {
        let rbac = Arc::new(Rbac::default());
        let authz = DelegatingAuthorizer::new(
            AlwaysAllowPaths::new(DEFAULT_ALWAYS_ALLOW_PATHS).unwrap(),
            Some(rbac.clone()),
            Duration::from_secs(10),
            Duration::from_secs(10),
        );
        let anonymous = UserInfo::anonymous();
        assert_eq!(
            authz.authorize(&anonymous, "get", "/healthz").await,
            Ok(Decision::Allow)
        );
        let admin = user(
            "kubernetes-admin",
            &["system:masters", "system:authenticated"],
        );
        assert_eq!(
            authz.authorize(&admin, "get", "/metrics").await,
            Ok(Decision::Allow)
        );
        assert!(rbac.asked.lock().unwrap().is_empty());

        let prometheus = user("prometheus", &["system:authenticated"]);
        for _ in 0..3 {
            assert_eq!(
                authz.authorize(&prometheus, "get", "/metrics").await,
                Ok(Decision::Allow)
            );
            assert_eq!(
                authz.authorize(&anonymous, "get", "/metrics").await,
                Ok(Decision::Deny(String::new()))
            );
        }
        assert_eq!(
            authz.authorize(&prometheus, "post", "/metrics").await,
            Ok(Decision::Deny(String::new()))
        );
        assert_eq!(
            *rbac.asked.lock().unwrap(),
            [
                ("prometheus".into(), "get".into(), "/metrics".into()),
                ("system:anonymous".into(), "get".into(), "/metrics".into()),
                ("prometheus".into(), "post".into(), "/metrics".into()),
            ]
        );
    }

    #[tokio::test]
    async fn denials_expire_on_their_own_ttl_and_errors_are_not_cached() {
        let rbac = Arc::new(Rbac::default());
        let authz = DelegatingAuthorizer::new(
            AlwaysAllowPaths::default(),
            Some(rbac.clone()),
            Duration::from_secs(10),
            Duration::ZERO,
        );
        let anonymous = UserInfo::anonymous();
        for _ in 0..2 {
            authz
                .authorize(&anonymous, "get", "/healthz")
                .await
                .unwrap();
        }
        assert_eq!(
            rbac.asked.lock().unwrap().len(),
            2,
            "denials not cached with a zero TTL"
        );

        let failing = Arc::new(Rbac {
            fail: true,
            ..Rbac::default()
        });
        let authz = DelegatingAuthorizer::new(
            AlwaysAllowPaths::default(),
            Some(failing.clone()),
            Duration::from_secs(10),
            Duration::from_secs(10),
        );
        for _ in 0..2 {
            assert!(
                authz
                    .authorize(&anonymous, "get", "/metrics")
                    .await
                    .is_err()
            );
        }
        assert_eq!(failing.asked.lock().unwrap().len(), 2);

        // No apiserver connection: only masters and open paths.
        let offline = DelegatingAuthorizer::new(
            AlwaysAllowPaths::new(DEFAULT_ALWAYS_ALLOW_PATHS).unwrap(),
            None,
            Duration::from_secs(10),
            Duration::from_secs(10),
        );
        assert_eq!(
            offline.authorize(&anonymous, "get", "/livez").await,
            Ok(Decision::Allow)
        );
        assert_eq!(
            offline
                .authorize(&user("prometheus", &[]), "get", "/metrics")
                .await,
            Ok(Decision::Deny(String::new()))
        );
    }
}
