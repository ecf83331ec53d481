//! CustomResourceDefinitions served by the apiserver (upstream's
//! apiextensions-apiserver, folded into kube-apiserver).
//!
//! - [`definition`]: the `customresourcedefinitions` resource itself.
//! - [`custom`]: custom resources as registry resources (strategy,
//!   conversion, definitions).
//! - [`controller`]: the naming/establishing controller that maintains CRD
//!   status and starts/stops serving, and the finalizer that deletes a
//!   CRD's objects.
//! - [`decode`]: stored objects read through the CRD's current schema
//!   (pruned, defaulted), as the watch cache and etcd reads see them.
//! - [`discovery`] and [`openapi`]: the documents of served CRDs.
//! - [`scale`]: the `scale` subresource of custom resources.
//! - [`versions`]: writes and reads through a non-storage version
//!   (request-version validation, conversion).
//! - [`ownership`]: the schemas server-side apply merges custom resources
//!   by, and their versions for managedFields.
//! - [`webhook`]: `conversion: Webhook` calls, and their [`metrics`];
//!   [`memo`] keeps recent answers so a write asks once per content.
//!
//! [`ServedCrds`] is the shared state: which CRDs are served, under which
//! group/version/resource, with one watch cache per CRD.

pub mod controller;
pub mod custom;
pub mod decode;
pub mod definition;
pub mod discovery;
pub mod memo;
pub mod metrics;
pub mod openapi;
pub mod ownership;
pub mod scale;
pub mod versions;
pub mod webhook;

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use corten_apimachinery::{Reason, StatusError};
use corten_storage::WatchCache;
use serde_json::Value;

use crate::registry::Resource;

/// One served CRD.
pub struct ServedCrd {
    /// The CRD as last served (spec and accepted names decide serving).
    pub crd: Value,
    /// `spec` + `status.acceptedNames`: serving is rebuilt when they change.
    pub fingerprint: Value,
    /// The cache shared by all versions.
    pub cache: Arc<WatchCache>,
    /// Served versions.
    pub resources: Vec<Arc<Resource>>,
    /// Set while the CRD is being deleted.
    pub terminating: Arc<AtomicBool>,
}

#[derive(Default)]
struct State {
    crds: HashMap<String, ServedCrd>,
    by_gvr: HashMap<(String, String, String), Arc<Resource>>,
    docs: Option<Arc<discovery::Docs>>,
    openapi: Option<Arc<openapi::Docs>>,
}

/// Served CRDs, shared by request handlers and the controller.
#[derive(Default)]
pub struct ServedCrds {
    state: RwLock<State>,
    /// Conversion webhook clients and their kept connections, shared by
    /// every CRD (one client per caBundle and address).
    conversion_pool: Arc<crate::admission::webhook::client::Pool>,
}

impl ServedCrds {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The pool conversion webhook calls go through.
    pub fn conversion_pool(&self) -> Arc<crate::admission::webhook::client::Pool> {
        self.conversion_pool.clone()
    }

    /// The served custom resource at group/version/plural.
    pub fn resource(&self, group: &str, version: &str, resource: &str) -> Option<Arc<Resource>> {
        self.read()
            .by_gvr
            .get(&(group.to_string(), version.to_string(), resource.to_string()))
            .cloned()
    }

    /// The fingerprint a CRD is served with, if served.
    pub fn fingerprint(&self, name: &str) -> Option<Value> {
        self.read().crds.get(name).map(|c| c.fingerprint.clone())
    }

    /// Names of the served CRDs.
    pub fn names(&self) -> Vec<String> {
        self.read().crds.keys().cloned().collect()
    }

    /// The served CRD's terminating flag and storage-version resource.
    pub fn storage_resource(&self, name: &str) -> Option<Arc<Resource>> {
        let st = self.read();
        let c = st.crds.get(name)?;
        c.resources
            .iter()
            .find(|r| r.is_storage_version())
            .or(c.resources.first())
            .cloned()
    }

    /// Marks a served CRD as terminating (creates are refused).
    pub fn set_terminating(&self, name: &str, value: bool) {
        if let Some(c) = self.read().crds.get(name) {
            c.terminating
                .store(value, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Serves (or re-serves) a CRD; the previous cache, if not reused, is
    /// stopped (ending its watches, as upstream does on a CRD change).
    pub fn serve(&self, name: &str, served: ServedCrd) {
        let mut st = self.write();
        let new_cache = served.cache.clone();
        let old = st.crds.remove(name);
        if let Some(old) = &old {
            for r in &old.resources {
                st.by_gvr.remove(&gvr(r));
            }
        }
        for r in &served.resources {
            st.by_gvr.insert(gvr(r), r.clone());
        }
        st.crds.insert(name.to_string(), served);
        st.docs = None;
        st.openapi = None;
        drop(st);
        if let Some(old) = old
            && !Arc::ptr_eq(&old.cache, &new_cache)
        {
            old.cache.stop();
        }
    }

    /// Stops serving a CRD and stops its cache (ending its watches).
    pub fn unserve(&self, name: &str) {
        let mut st = self.write();
        let Some(old) = st.crds.remove(name) else {
            return;
        };
        for r in &old.resources {
            st.by_gvr.remove(&gvr(r));
        }
        st.docs = None;
        st.openapi = None;
        drop(st);
        old.cache.stop();
        tracing::info!(crd = name, "stopped serving custom resource");
    }

    /// Every served resource (all versions of all CRDs).
    pub fn resources(&self) -> Vec<Arc<Resource>> {
        let st = self.read();
        let mut out: Vec<Arc<Resource>> = st
            .crds
            .values()
            .flat_map(|c| c.resources.iter().cloned())
            .collect();
        out.sort_by(|a, b| {
            (a.def.group, a.def.version, a.def.resource).cmp(&(
                b.def.group,
                b.def.version,
                b.def.resource,
            ))
        });
        out
    }

    /// The served CRDs' JSON (for discovery and OpenAPI).
    pub fn crds(&self) -> Vec<Value> {
        let st = self.read();
        let mut v: Vec<Value> = st.crds.values().map(|c| c.crd.clone()).collect();
        v.sort_by(|a, b| {
            corten_apimachinery::meta::name(a).cmp(&corten_apimachinery::meta::name(b))
        });
        v
    }

    /// The discovery documents of the served CRDs (computed once per change).
    pub fn discovery(&self) -> Arc<discovery::Docs> {
        if let Some(d) = &self.read().docs {
            return d.clone();
        }
        let docs = Arc::new(discovery::Docs::build(&self.resources()));
        self.write().docs = Some(docs.clone());
        docs
    }

    /// The OpenAPI v3 documents of the served CRDs (computed once per change).
    pub fn openapi(&self) -> Arc<openapi::Docs> {
        if let Some(d) = &self.read().openapi {
            return d.clone();
        }
        let docs = Arc::new(openapi::Docs::build(&self.crds(), &self.resources()));
        self.write().openapi = Some(docs.clone());
        docs
    }
}

fn gvr(r: &Resource) -> (String, String, String) {
    (
        r.def.group.to_string(),
        r.def.version.to_string(),
        r.def.resource.to_string(),
    )
}

/// Refuses creating objects of a CRD that is being deleted (upstream: 405
/// `create not allowed while custom resource definition is terminating`).
pub fn check_create(res: &Resource) -> Result<(), StatusError> {
    if let Some(c) = &res.custom
        && c.is_terminating()
    {
        let mut e = StatusError::method_not_supported(&res.group_resource(), "create");
        e.message = "create not allowed while custom resource definition is terminating".into();
        return Err(e);
    }
    Ok(())
}

/// A 404 for paths under a group nobody serves.
pub fn not_found() -> StatusError {
    let mut e = StatusError::new(
        Reason::NotFound,
        "the server could not find the requested resource",
    );
    e.code = 404;
    e
}

fn to_bytes(v: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}
