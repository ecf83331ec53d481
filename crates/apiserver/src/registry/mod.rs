//! The registry: every served resource, wired to etcd and its watch cache,
//! and the generic REST store that implements the verbs on top of the
//! per-kind strategies from `corten-api`.

pub mod admission;
pub mod apply;
pub mod change;
pub mod convert;
pub mod delete;
pub mod keys;
pub mod list;
pub mod lookup;
pub mod managed;
pub mod patch;
pub mod scale;
pub mod services;
pub mod store;
pub mod strategy_subresource;
pub mod subresources;
pub mod watch;

use std::collections::HashMap;
use std::sync::Arc;

use corten_api::{ResourceDef, builtin_resources};
use corten_apimachinery::{GroupResource, StatusError};
use corten_storage::{CacheConfig, EtcdStore, WatchCache};
use serde_json::Value;

use crate::options::Config;

/// One served resource (a group/version/resource) with its storage.
pub struct Resource {
    /// The served version's definition.
    pub def: &'static ResourceDef,
    /// The definition of the version persisted in etcd (may be `def`).
    pub storage_def: &'static ResourceDef,
    /// The cache shared by every version of this resource.
    pub cache: Arc<WatchCache>,
    /// For custom resources: the CRD version's schema and printer columns.
    pub custom: Option<Arc<crate::crd::custom::CustomResource>>,
}

impl Resource {
    /// `pods`, `deployments.apps`: used in error messages.
    pub fn group_resource(&self) -> GroupResource {
        GroupResource::new(self.def.group, self.def.resource)
    }

    /// Whether the served version is the stored version (no conversion).
    pub fn is_storage_version(&self) -> bool {
        std::ptr::eq(self.def, self.storage_def)
    }

    /// A meta.k8s.io Table of objects of this resource (a CRD's printer
    /// columns for custom resources); see [`crate::printers::table`].
    pub fn table(
        &self,
        objects: &[serde_json::Value],
        include: crate::printers::IncludeObject,
        list_meta: Option<serde_json::Value>,
        now: jiff::Timestamp,
    ) -> serde_json::Value {
        match &self.custom {
            Some(c) => c.columns.table(objects, include, list_meta, now),
            None => crate::printers::table(
                self.def.group,
                self.def.kind,
                objects,
                include,
                list_meta,
                now,
            ),
        }
    }

    /// The Table of one watch event; see [`crate::printers::watch_event_table`].
    pub fn watch_event_table(
        &self,
        object: &serde_json::Value,
        include: crate::printers::IncludeObject,
        first: bool,
        now: jiff::Timestamp,
    ) -> serde_json::Value {
        match &self.custom {
            Some(c) => c.columns.watch_event_table(object, include, first, now),
            None => crate::printers::watch_event_table(
                self.def.group,
                self.def.kind,
                object,
                include,
                first,
                now,
            ),
        }
    }
}

/// All served resources and shared storage handles.
pub struct Registry {
    /// etcd.
    pub store: EtcdStore,
    resources: HashMap<(String, String, String), Arc<Resource>>,
    caches: HashMap<&'static str, Arc<WatchCache>>,
    /// ClusterIP and NodePort allocation.
    pub services: services::Allocators,
    /// Custom resources of established CRDs.
    pub crds: crate::crd::ServedCrds,
}

impl Registry {
    /// Starts one watch cache per storage resource and indexes every served
    /// resource.
    pub async fn start(store: EtcdStore, config: &Config) -> Result<Self, StatusError> {
        let mut caches: HashMap<&'static str, Arc<WatchCache>> = HashMap::new();
        let mut resources = HashMap::new();
        let defs = builtin_resources()
            .iter()
            .chain(std::iter::once(&crate::crd::definition::CRD_DEF));
        for def in defs {
            let storage_def = storage_def_of(def);
            let cache = match caches.get(storage_def.storage_resource) {
                Some(c) => c.clone(),
                None => {
                    let strategy = storage_def.strategy;
                    let mut cfg = CacheConfig::new(
                        &format!("{}/", def.storage_resource),
                        &storage_def.api_version(),
                        storage_def.kind,
                    );
                    cfg.window = config.watch_cache_window;
                    cfg.attrs = Arc::new(move |obj| strategy.field_attrs(obj));
                    cfg.resource =
                        GroupResource::new(storage_def.group, def.storage_resource).to_string();
                    let c = WatchCache::start(store.clone(), cfg).await.map_err(|e| {
                        StatusError::internal(format!(
                            "starting watch cache for {}: {e}",
                            def.storage_resource
                        ))
                    })?;
                    caches.insert(def.storage_resource, c.clone());
                    c
                }
            };
            resources.insert(
                (
                    def.group.to_string(),
                    def.version.to_string(),
                    def.resource.to_string(),
                ),
                Arc::new(Resource {
                    def,
                    storage_def,
                    cache,
                    custom: None,
                }),
            );
        }
        let services = services::Allocators::new(store.clone(), config);
        Ok(Registry {
            store,
            resources,
            caches,
            services,
            crds: Default::default(),
        })
    }

    /// Looks up a served resource (built-in, then custom).
    pub fn resource(&self, group: &str, version: &str, resource: &str) -> Option<Arc<Resource>> {
        self.resources
            .get(&(group.to_string(), version.to_string(), resource.to_string()))
            .cloned()
            .or_else(|| self.crds.resource(group, version, resource))
    }

    /// The cache of a storage resource (`namespaces`, `pods`, ...).
    pub fn cache(&self, storage_resource: &str) -> Option<&Arc<WatchCache>> {
        self.caches.get(storage_resource)
    }

    /// Every cached object of `storage_resource` (in `namespace`, or all)
    /// as JSON, for admission plugins and proxies that read other
    /// resources; empty when the resource has no cache.
    pub fn cached_values(&self, storage_resource: &str, namespace: Option<&str>) -> Vec<Value> {
        let Some(cache) = self.cache(storage_resource) else {
            return Vec::new();
        };
        let prefix = match namespace {
            Some(ns) => format!("{storage_resource}/{ns}/"),
            None => format!("{storage_resource}/"),
        };
        cache
            .list(&corten_storage::ListRequest {
                prefix,
                filter: Default::default(),
                start_after: None,
                limit: None,
            })
            .items
            .iter()
            .filter_map(|o| serde_json::from_slice(&o.json).ok())
            .collect()
    }

    /// Whether the cache holds any object of `storage_resource` (in
    /// `namespace`), without decoding them.
    pub fn has_cached(&self, storage_resource: &str, namespace: Option<&str>) -> bool {
        let Some(cache) = self.cache(storage_resource) else {
            return false;
        };
        let prefix = match namespace {
            Some(ns) => format!("{storage_resource}/{ns}/"),
            None => format!("{storage_resource}/"),
        };
        !cache
            .list(&corten_storage::ListRequest {
                prefix,
                filter: Default::default(),
                start_after: None,
                limit: Some(1),
            })
            .items
            .is_empty()
    }

    /// Every cache, for readiness and metrics.
    pub fn caches(&self) -> impl Iterator<Item = (&&'static str, &Arc<WatchCache>)> {
        self.caches.iter()
    }
}

/// The definition of the version a resource is persisted in.
/// Virtual resources (e.g. `bindings`, which writes pods) point at the
/// stored resource's own definition.
pub fn storage_def_of(def: &'static ResourceDef) -> &'static ResourceDef {
    builtin_resources()
        .iter()
        .find(|d| {
            d.storage_resource == def.storage_resource
                && d.resource == def.storage_resource
                && d.group == def.storage_group
                && d.version == def.storage_version
        })
        .unwrap_or(def)
}
