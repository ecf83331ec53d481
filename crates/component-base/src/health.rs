//! `/healthz`, `/livez` and `/readyz` with upstream's behaviour and output.
//!
//! Components register named checks; the endpoints run them and answer as the
//! Go apiserver does:
//!
//! ```text
//! GET /readyz            -> 200 "ok"
//! GET /readyz?verbose    -> 200 "[+]ping ok\n[+]etcd ok\n[+]shutdown ok\nreadyz check passed\n"
//! GET /readyz (failing)  -> 500 "[+]ping ok\n[-]etcd failed: reason withheld\n...readyz check failed\n"
//! GET /readyz?exclude=etcd  skips that check ("[+]etcd excluded: ok")
//! GET /readyz/etcd       -> 200 "ok" or 500 "internal server error: <reason>\n"
//! ```
//!
//! Membership follows upstream: [`HealthRegistry::add_check`] adds a check to
//! all three endpoints, [`HealthRegistry::add_livez_check`] and
//! [`HealthRegistry::add_readyz_check`] to one of livez/readyz, and `/healthz`
//! runs every registered check (livez + readyz). The built-in `ping` check is
//! always first; the built-in `shutdown` check is always last and only on
//! `/readyz` (upstream keeps `/healthz` and `/livez` green while draining).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use futures::future::{BoxFuture, FutureExt, join_all};

/// Result of one health check: `Err` carries the reason (logged, never sent to
/// clients of the aggregate endpoints).
pub type CheckResult = Result<(), String>;

/// Content type of every health endpoint response.
pub const CONTENT_TYPE: &str = "text/plain; charset=utf-8";

type CheckFn = Arc<dyn Fn() -> BoxFuture<'static, CheckResult> + Send + Sync>;

/// Which health endpoint is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HealthEndpoint {
    /// `/healthz`: every registered check (kept for older tooling).
    Healthz,
    /// `/livez`: is the process alive (restart it if not).
    Livez,
    /// `/readyz`: should it receive traffic.
    Readyz,
}

impl HealthEndpoint {
    /// The endpoint name as used in paths and messages (`healthz`, `livez`, `readyz`).
    pub fn name(self) -> &'static str {
        match self {
            HealthEndpoint::Healthz => "healthz",
            HealthEndpoint::Livez => "livez",
            HealthEndpoint::Readyz => "readyz",
        }
    }

    /// Splits a request path such as `/readyz/etcd` into the endpoint and the
    /// rest (`/etcd`); `None` if the path is not a health endpoint.
    pub fn from_path(path: &str) -> Option<(HealthEndpoint, &str)> {
        for endpoint in [
            HealthEndpoint::Healthz,
            HealthEndpoint::Livez,
            HealthEndpoint::Readyz,
        ] {
            if let Some(rest) = path
                .strip_prefix('/')
                .and_then(|p| p.strip_prefix(endpoint.name()))
                && (rest.is_empty() || rest.starts_with('/'))
            {
                return Some((endpoint, rest));
            }
        }
        None
    }
}

struct NamedCheck {
    name: String,
    livez: bool,
    readyz: bool,
    check: CheckFn,
}

struct Inner {
    checks: RwLock<Vec<NamedCheck>>,
    shutting_down: Arc<AtomicBool>,
}

/// The registry of health checks of one process. Cheap to clone; all clones
/// share the same checks.
#[derive(Clone)]
pub struct HealthRegistry {
    inner: Arc<Inner>,
}

impl Default for HealthRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for HealthRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.read_checks().iter().map(|c| c.name.clone()).collect();
        f.debug_struct("HealthRegistry")
            .field("checks", &names)
            .field("shutting_down", &self.is_shutting_down())
            .finish()
    }
}

impl HealthRegistry {
    /// A registry holding the always-ok `ping` check (and the built-in
    /// `shutdown` readyz check).
    pub fn new() -> Self {
        let registry = Self {
            inner: Arc::new(Inner {
                checks: RwLock::new(Vec::new()),
                shutting_down: Arc::new(AtomicBool::new(false)),
            }),
        };
        registry.add_check("ping", || async { Ok(()) }.boxed());
        registry
    }

    /// Adds a check to `/livez`, `/readyz` and `/healthz` (upstream's
    /// `AddHealthChecks`). A check with the same name is replaced.
    pub fn add_check(
        &self,
        name: impl Into<String>,
        check: impl Fn() -> BoxFuture<'static, CheckResult> + Send + Sync + 'static,
    ) {
        self.insert(name.into(), true, true, Arc::new(check));
    }

    /// Adds a check to `/livez` (and `/healthz`) only.
    pub fn add_livez_check(
        &self,
        name: impl Into<String>,
        check: impl Fn() -> BoxFuture<'static, CheckResult> + Send + Sync + 'static,
    ) {
        self.insert(name.into(), true, false, Arc::new(check));
    }

    /// Adds a check to `/readyz` (and `/healthz`) only.
    pub fn add_readyz_check(
        &self,
        name: impl Into<String>,
        check: impl Fn() -> BoxFuture<'static, CheckResult> + Send + Sync + 'static,
    ) {
        self.insert(name.into(), false, true, Arc::new(check));
    }

    /// Marks the start of graceful shutdown: from now on the `shutdown` readyz
    /// check fails, so load balancers stop sending traffic.
    pub fn begin_shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Whether [`begin_shutdown`](Self::begin_shutdown) was called.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::SeqCst)
    }

    /// The names of the checks an endpoint runs, in order.
    pub fn check_names(&self, endpoint: HealthEndpoint) -> Vec<String> {
        self.checks_for(endpoint)
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    /// Answers a request to a health endpoint: returns the HTTP status and the
    /// body (content type [`CONTENT_TYPE`]).
    ///
    /// `path_suffix` is what follows the endpoint in the path (`""` or
    /// `"/etcd"`); `query` is the raw query string without `?`.
    pub async fn handle(
        &self,
        endpoint: HealthEndpoint,
        path_suffix: &str,
        query: &str,
    ) -> (u16, String) {
        let checks = self.checks_for(endpoint);
        let wanted = path_suffix.trim_start_matches('/');
        if !wanted.is_empty() {
            return match checks.into_iter().find(|(name, _)| name == wanted) {
                None => (404, "404 page not found\n".to_string()),
                Some((name, check)) => match check().await {
                    Ok(()) => (200, "ok".to_string()),
                    Err(reason) => {
                        tracing::debug!(endpoint = endpoint.name(), check = %name, %reason, "health check failed");
                        (500, format!("internal server error: {reason}\n"))
                    }
                },
            };
        }

        let (verbose, mut excluded) = parse_query(query);
        let results = join_all(checks.iter().map(|(name, check)| {
            let skip = excluded.contains(name);
            let check = Arc::clone(check);
            async move { if skip { None } else { Some(check().await) } }
        }))
        .await;

        let mut out = String::new();
        let mut failed = Vec::new();
        let mut reasons = String::new();
        for ((name, _), result) in checks.iter().zip(results) {
            match result {
                None => {
                    excluded.remove(name);
                    out.push_str(&format!("[+]{name} excluded: ok\n"));
                }
                Some(Ok(())) => out.push_str(&format!("[+]{name} ok\n")),
                Some(Err(reason)) => {
                    // The endpoint is public: the reason goes to the log only.
                    out.push_str(&format!("[-]{name} failed: reason withheld\n"));
                    reasons.push_str(&format!("[-]{name} failed: {reason}\n"));
                    failed.push(name.clone());
                }
            }
        }
        if !excluded.is_empty() {
            let quoted: Vec<String> = excluded.iter().map(|name| format!("{name:?}")).collect();
            out.push_str(&format!(
                "warn: some health checks cannot be excluded: no matches for {}\n",
                quoted.join(", ")
            ));
        }

        let name = endpoint.name();
        if !failed.is_empty() {
            tracing::debug!(
                endpoint = name,
                failed = %failed.join(","),
                "{name} check failed:\n{reasons}"
            );
            out.push_str(&format!("{name} check failed\n"));
            return (500, out);
        }
        if !verbose {
            return (200, "ok".to_string());
        }
        out.push_str(&format!("{name} check passed\n"));
        (200, out)
    }

    fn insert(&self, name: String, livez: bool, readyz: bool, check: CheckFn) {
        let mut checks = match self.inner.checks.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let entry = NamedCheck {
            name,
            livez,
            readyz,
            check,
        };
        match checks.iter_mut().find(|c| c.name == entry.name) {
            Some(existing) => *existing = entry,
            None => checks.push(entry),
        }
    }

    fn read_checks(&self) -> std::sync::RwLockReadGuard<'_, Vec<NamedCheck>> {
        match self.inner.checks.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The checks of an endpoint, cloned out of the lock so they can be awaited.
    fn checks_for(&self, endpoint: HealthEndpoint) -> Vec<(String, CheckFn)> {
        let mut list: Vec<(String, CheckFn)> = self
            .read_checks()
            .iter()
            .filter(|c| match endpoint {
                HealthEndpoint::Healthz => true,
                HealthEndpoint::Livez => c.livez,
                HealthEndpoint::Readyz => c.readyz,
            })
            .map(|c| (c.name.clone(), Arc::clone(&c.check)))
            .collect();
        if endpoint == HealthEndpoint::Readyz {
            let flag = Arc::clone(&self.inner.shutting_down);
            let shutdown: CheckFn = Arc::new(move || {
                let down = flag.load(Ordering::SeqCst);
                async move {
                    if down {
                        Err("process is shutting down".to_string())
                    } else {
                        Ok(())
                    }
                }
                .boxed()
            });
            list.push(("shutdown".to_string(), shutdown));
        }
        list
    }
}

/// `verbose` is set when the key is present with any value; `exclude` may repeat.
fn parse_query(query: &str) -> (bool, BTreeSet<String>) {
    let mut verbose = false;
    let mut excluded = BTreeSet::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "verbose" => verbose = true,
            "exclude" => {
                excluded.insert(value.into_owned());
            }
            _ => {}
        }
    }
    (verbose, excluded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn registry_with_etcd(healthy: Arc<AtomicBool>) -> HealthRegistry {
        let registry = HealthRegistry::new();
        registry.add_check("etcd", move || {
            let ok = healthy.load(Ordering::SeqCst);
            async move {
                if ok {
                    Ok(())
                } else {
                    Err("context deadline exceeded".to_string())
                }
            }
            .boxed()
        });
        registry
    }

    #[tokio::test]
    async fn healthy_endpoints_answer_ok() {
        let registry = registry_with_etcd(Arc::new(AtomicBool::new(true)));
        for endpoint in [
            HealthEndpoint::Healthz,
            HealthEndpoint::Livez,
            HealthEndpoint::Readyz,
        ] {
            assert_eq!(
                registry.handle(endpoint, "", "").await,
                (200, "ok".to_string())
            );
        }
    }

    #[tokio::test]
    async fn verbose_lists_each_check() {
        let registry = registry_with_etcd(Arc::new(AtomicBool::new(true)));
        let (code, body) = registry.handle(HealthEndpoint::Readyz, "", "verbose").await;
        assert_eq!(code, 200);
        assert_eq!(
            body,
            "[+]ping ok\n[+]etcd ok\n[+]shutdown ok\nreadyz check passed\n"
        );
        let (code, body) = registry
            .handle(HealthEndpoint::Livez, "", "verbose=1")
            .await;
        assert_eq!(code, 200);
        assert_eq!(body, "[+]ping ok\n[+]etcd ok\nlivez check passed\n");
        let (_, body) = registry
            .handle(HealthEndpoint::Healthz, "", "verbose")
            .await;
        assert_eq!(body, "[+]ping ok\n[+]etcd ok\nhealthz check passed\n");
    }

    #[tokio::test]
    async fn failure_withholds_reason_and_returns_500() {
        let registry = registry_with_etcd(Arc::new(AtomicBool::new(false)));
        let (code, body) = registry.handle(HealthEndpoint::Healthz, "", "").await;
        assert_eq!(code, 500);
        assert_eq!(
            body,
            "[+]ping ok\n[-]etcd failed: reason withheld\nhealthz check failed\n"
        );
        assert!(!body.contains("deadline"));
    }

    #[tokio::test]
    async fn exclude_skips_checks_and_warns_about_unknown_names() {
        let registry = registry_with_etcd(Arc::new(AtomicBool::new(false)));
        let (code, body) = registry
            .handle(HealthEndpoint::Readyz, "", "exclude=etcd")
            .await;
        assert_eq!((code, body.as_str()), (200, "ok"));
        let (code, body) = registry
            .handle(
                HealthEndpoint::Readyz,
                "",
                "verbose&exclude=etcd&exclude=nope",
            )
            .await;
        assert_eq!(code, 200);
        assert_eq!(
            body,
            "[+]ping ok\n[+]etcd excluded: ok\n[+]shutdown ok\nwarn: some health checks cannot be excluded: no matches for \"nope\"\nreadyz check passed\n"
        );
    }

    #[tokio::test]
    async fn individual_checks() {
        let healthy = Arc::new(AtomicBool::new(true));
        let registry = registry_with_etcd(Arc::clone(&healthy));
        assert_eq!(
            registry.handle(HealthEndpoint::Healthz, "/etcd", "").await,
            (200, "ok".to_string())
        );
        assert_eq!(
            registry.handle(HealthEndpoint::Livez, "/ping", "").await,
            (200, "ok".to_string())
        );
        healthy.store(false, Ordering::SeqCst);
        assert_eq!(
            registry.handle(HealthEndpoint::Readyz, "/etcd", "").await,
            (
                500,
                "internal server error: context deadline exceeded\n".to_string()
            )
        );
        assert_eq!(
            registry
                .handle(HealthEndpoint::Readyz, "/missing", "")
                .await
                .0,
            404
        );
        // shutdown is a readyz-only check.
        assert_eq!(
            registry
                .handle(HealthEndpoint::Livez, "/shutdown", "")
                .await
                .0,
            404
        );
    }

    #[tokio::test]
    async fn shutdown_fails_readyz_only() {
        let registry = registry_with_etcd(Arc::new(AtomicBool::new(true)));
        registry.begin_shutdown();
        assert!(registry.is_shutting_down());
        let (code, body) = registry.handle(HealthEndpoint::Readyz, "", "").await;
        assert_eq!(code, 500);
        assert!(body.ends_with("[-]shutdown failed: reason withheld\nreadyz check failed\n"));
        assert_eq!(registry.handle(HealthEndpoint::Livez, "", "").await.0, 200);
        assert_eq!(
            registry.handle(HealthEndpoint::Healthz, "", "").await.0,
            200
        );
    }

    #[tokio::test]
    async fn membership_and_replacement() {
        let registry = HealthRegistry::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        registry.add_livez_check("log", || async { Ok(()) }.boxed());
        registry.add_readyz_check("informer-sync", move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Ok(()) }.boxed()
        });
        assert_eq!(registry.check_names(HealthEndpoint::Livez), ["ping", "log"]);
        assert_eq!(
            registry.check_names(HealthEndpoint::Readyz),
            ["ping", "informer-sync", "shutdown"]
        );
        assert_eq!(
            registry.check_names(HealthEndpoint::Healthz),
            ["ping", "log", "informer-sync"]
        );
        registry.handle(HealthEndpoint::Readyz, "", "").await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        // Re-adding a name replaces the check in place.
        registry.add_readyz_check("informer-sync", || {
            async { Err("not synced".to_string()) }.boxed()
        });
        assert_eq!(
            registry.check_names(HealthEndpoint::Readyz),
            ["ping", "informer-sync", "shutdown"]
        );
        assert_eq!(registry.handle(HealthEndpoint::Readyz, "", "").await.0, 500);
        // Clones share the checks.
        let clone = registry.clone();
        assert_eq!(clone.handle(HealthEndpoint::Readyz, "", "").await.0, 500);
    }

    #[test]
    fn endpoint_from_path() {
        assert_eq!(
            HealthEndpoint::from_path("/readyz"),
            Some((HealthEndpoint::Readyz, ""))
        );
        assert_eq!(
            HealthEndpoint::from_path("/healthz/etcd"),
            Some((HealthEndpoint::Healthz, "/etcd"))
        );
        assert_eq!(
            HealthEndpoint::from_path("/livez/poststarthook/x"),
            Some((HealthEndpoint::Livez, "/poststarthook/x"))
        );
        assert_eq!(HealthEndpoint::from_path("/readyzz"), None);
        assert_eq!(HealthEndpoint::from_path("/metrics"), None);
    }
}
