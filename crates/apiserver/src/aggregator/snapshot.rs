//! The APIServices as the request path needs them, parsed once from the
//! watch cache and rebuilt only when the cache changed (like the RBAC
//! snapshot). Requests look up remote group-versions here; TLS client
//! configurations are built once per APIService version.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use corten_storage::{ListRequest, WatchCache};
use serde_json::Value;

use super::priorities::{Priority, Sortable};

/// `spec.service` of a remote APIService.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRef {
    /// Namespace of the Service.
    pub namespace: String,
    /// Name of the Service.
    pub name: String,
    /// The Service port (default 443).
    pub port: i32,
}

/// One APIService.
#[derive(Debug)]
pub struct Entry {
    /// `metadata.name` (`<version>.<group>`).
    pub name: String,
    /// `spec.group`.
    pub group: String,
    /// `spec.version`.
    pub version: String,
    /// `spec.groupPriorityMinimum` and `spec.versionPriority`.
    pub priority: Priority,
    /// `spec.service`: `None` for a local APIService.
    pub service: Option<ServiceRef>,
    /// `spec.caBundle` (PEM).
    pub ca_bundle: Vec<u8>,
    /// `spec.insecureSkipTLSVerify`.
    pub insecure_skip_tls_verify: bool,
    /// Whether the `Available` condition is `True`.
    pub available: bool,
    /// The TLS client configuration for the backend, built on first use.
    pub tls: OnceLock<Result<Arc<rustls::ClientConfig>, String>>,
}

impl Entry {
    /// Parses a stored APIService; `None` if it has no name.
    pub fn from_json(obj: &Value) -> Option<Entry> {
        let name = obj.pointer("/metadata/name")?.as_str()?.to_string();
        let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
        let s = |k: &str| {
            spec.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let n = |k: &str| {
            spec.get(k)
                .and_then(Value::as_i64)
                .and_then(|v| i32::try_from(v).ok())
                .unwrap_or(0)
        };
        let service = spec
            .get("service")
            .filter(|v| v.is_object())
            .map(|svc| ServiceRef {
                namespace: svc["namespace"].as_str().unwrap_or("").to_string(),
                name: svc["name"].as_str().unwrap_or("").to_string(),
                port: svc["port"]
                    .as_i64()
                    .and_then(|p| i32::try_from(p).ok())
                    .unwrap_or(corten_api::apiregistration::DEFAULT_SERVICE_PORT),
            });
        use base64::Engine;
        let ca_bundle = spec
            .get("caBundle")
            .and_then(Value::as_str)
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .unwrap_or_default();
        let available = obj
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Available" && c["status"] == "True");
        Some(Entry {
            name,
            group: s("group"),
            version: s("version"),
            priority: Priority {
                group: n("groupPriorityMinimum"),
                version: n("versionPriority"),
            },
            service,
            ca_bundle,
            insecure_skip_tls_verify: spec
                .get("insecureSkipTLSVerify")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            available,
            tls: OnceLock::new(),
        })
    }

    /// Whether requests for this group-version go to another server.
    pub fn is_remote(&self) -> bool {
        self.service.is_some()
    }
}

impl Sortable for Arc<Entry> {
    fn name(&self) -> &str {
        &self.name
    }
    fn group(&self) -> &str {
        &self.group
    }
    fn version(&self) -> &str {
        &self.version
    }
    fn priority(&self) -> Priority {
        self.priority
    }
}

/// Every APIService at one cache state.
#[derive(Debug, Default)]
pub struct Snapshot {
    fingerprint: (usize, i64),
    /// All APIServices, by name.
    pub all: Vec<Arc<Entry>>,
    remote: HashMap<(String, String), Arc<Entry>>,
}

impl Snapshot {
    fn build(cache: &WatchCache) -> Snapshot {
        // Read before listing: a change in between only causes a rebuild.
        let fingerprint = (cache.len(), cache.revision());
        let listed = cache.list(&ListRequest {
            prefix: "apiservices/".into(),
            filter: Default::default(),
            start_after: None,
            limit: None,
        });
        let all: Vec<Arc<Entry>> = listed
            .items
            .iter()
            .filter_map(|o| serde_json::from_slice::<Value>(&o.json).ok())
            .filter_map(|v| Entry::from_json(&v))
            .map(Arc::new)
            .collect();
        let remote = all
            .iter()
            .filter(|e| e.is_remote())
            .map(|e| ((e.group.clone(), e.version.clone()), e.clone()))
            .collect();
        Snapshot {
            fingerprint,
            all,
            remote,
        }
    }

    /// The remote APIService serving `group`/`version`, if any.
    pub fn remote(&self, group: &str, version: &str) -> Option<Arc<Entry>> {
        if self.remote.is_empty() {
            return None;
        }
        self.remote
            .get(&(group.to_string(), version.to_string()))
            .cloned()
    }

    /// Whether any APIService is remote.
    pub fn has_remote(&self) -> bool {
        !self.remote.is_empty()
    }

    /// The remote APIServices.
    pub fn remotes(&self) -> Vec<Arc<Entry>> {
        self.all.iter().filter(|e| e.is_remote()).cloned().collect()
    }
}

/// The current snapshot, rebuilt when the cache moved on. Requests only
/// take the read lock unless the cache changed.
#[derive(Default)]
pub struct Snapshots {
    current: RwLock<Arc<Snapshot>>,
}

impl Snapshots {
    /// The snapshot for the cache's current state.
    pub fn get(&self, cache: Option<&Arc<WatchCache>>) -> Arc<Snapshot> {
        let Some(cache) = cache else {
            return Arc::default();
        };
        let now = (cache.len(), cache.revision());
        {
            let current = self.current.read().unwrap_or_else(|e| e.into_inner());
            if current.fingerprint == now {
                return current.clone();
            }
        }
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if current.fingerprint != now {
            *current = Arc::new(Snapshot::build(cache));
        }
        current.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_remote_and_local_services() {
        let remote = Entry::from_json(&json!({
            "metadata": {"name": "v1alpha1.wardle.example.com"},
            "spec": {"group": "wardle.example.com", "version": "v1alpha1",
                "groupPriorityMinimum": 1000, "versionPriority": 15,
                "caBundle": "YWJj", "service": {"namespace": "w", "name": "api"}},
            "status": {"conditions": [{"type": "Available", "status": "True"}]}
        }))
        .unwrap();
        assert!(remote.is_remote() && remote.available);
        assert_eq!(remote.ca_bundle, b"abc");
        assert_eq!(
            remote.service,
            Some(ServiceRef {
                namespace: "w".into(),
                name: "api".into(),
                port: 443
            })
        );
        let local = Entry::from_json(&json!({
            "metadata": {"name": "v1.apps"},
            "spec": {"group": "apps", "version": "v1", "groupPriorityMinimum": 17800, "versionPriority": 15}
        }))
        .unwrap();
        assert!(!local.is_remote() && !local.available);
        assert_eq!(local.priority.group, 17800);
    }
}
