//! API aggregation (upstream's kube-aggregator, folded into the apiserver):
//!
//! - `apiregistration.k8s.io/v1` APIServices are an ordinary built-in
//!   resource (strategy in `corten_api::apiregistration`);
//! - [`autoregister`] keeps a local APIService for every built-in and CRD
//!   group-version;
//! - [`available`] sets each APIService's `Available` condition (local ones
//!   at once; remote ones by checking the Service, its endpoints and the
//!   backend's `/apis/<group>/<version>`), and keeps what the backend's
//!   discovery says;
//! - [`proxy`] sends requests for a remote group-version to its backend
//!   (resolved by [`backend`]) with the user in `X-Remote-*` headers;
//! - [`discovery`] adds remote groups to `/apis`;
//! - [`openapi`] keeps the remote group-versions' OpenAPI documents for
//!   `/openapi/v3` and `/openapi/v2`;
//! - [`authconfig`] publishes the `extension-apiserver-authentication`
//!   ConfigMap extension apiservers read to trust those headers.

pub mod authconfig;
pub mod autoregister;
pub mod available;
pub mod backend;
pub mod discovery;
pub mod metrics;
pub mod openapi;
pub mod options;
pub mod priorities;
pub mod proxy;
pub mod snapshot;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use serde_json::Value;

use self::backend::ProxyIdentity;
use self::options::AggregatorConfig;
use self::snapshot::{Entry, Snapshot, Snapshots};
use crate::registry::Registry;
use crate::request_info::RequestTarget;

/// The aggregator's state shared by requests and its controllers.
pub struct Aggregator {
    config: AggregatorConfig,
    identity: Option<ProxyIdentity>,
    snapshots: Snapshots,
    /// APIService name -> the aggregated discovery entries its backend
    /// last reported.
    resources: RwLock<HashMap<String, Vec<Value>>>,
    /// The remote group-versions' OpenAPI documents.
    pub openapi: openapi::RemoteOpenApi,
}

impl Aggregator {
    /// Loads the proxy client certificate, if configured.
    pub fn new(config: AggregatorConfig) -> anyhow::Result<Aggregator> {
        let identity = config
            .proxy_client
            .as_ref()
            .map(|(c, k)| ProxyIdentity::load(c, k))
            .transpose()?;
        Ok(Aggregator {
            config,
            identity,
            snapshots: Snapshots::default(),
            resources: RwLock::default(),
            openapi: Default::default(),
        })
    }

    /// The APIServices at the cache's current state.
    pub fn snapshot(&self, reg: &Registry) -> Arc<Snapshot> {
        self.snapshots.get(reg.cache("apiservices"))
    }

    /// The remote APIService a request is for, if any: resource requests
    /// and `/apis/<group>/<version>` of a group-version an APIService
    /// points at a Service.
    pub fn remote_for(&self, reg: &Registry, target: &RequestTarget) -> Option<Arc<Entry>> {
        let (group, version) = match target {
            RequestTarget::Resource(r) => (r.group.as_str(), r.version.as_str()),
            RequestTarget::ApiResources { group, version } => (group.as_str(), version.as_str()),
            _ => return None,
        };
        if group.is_empty() {
            return None;
        }
        self.snapshot(reg).remote(group, version)
    }

    /// Whether backends are dialed at endpoint IPs.
    pub fn endpoint_routing(&self) -> bool {
        self.config.endpoint_routing
    }

    /// The configured request-header names (stripped from proxied
    /// requests besides `X-Remote-*`).
    pub fn request_header_names(&self) -> Vec<String> {
        self.config
            .request_header
            .as_ref()
            .map(|rh| {
                rh.username_headers
                    .iter()
                    .chain(&rh.group_headers)
                    .chain(&rh.uid_headers)
                    .chain(&rh.extra_headers_prefix)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The TLS client configuration for an APIService's backend.
    pub fn tls_for(&self, entry: &Entry) -> Result<Arc<rustls::ClientConfig>, String> {
        entry
            .tls
            .get_or_init(|| {
                backend::client_tls(
                    &entry.ca_bundle,
                    entry.insecure_skip_tls_verify,
                    self.identity.as_ref(),
                )
            })
            .clone()
    }

    /// The TLS configuration of the availability check: no verification of
    /// the backend (upstream's check only asks whether something answers),
    /// the proxy client certificate.
    pub fn probe_tls(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        backend::client_tls(&[], true, self.identity.as_ref())
    }

    /// The settings.
    pub fn config(&self) -> &AggregatorConfig {
        &self.config
    }

    fn remote_groups(&self, reg: &Registry) -> Vec<discovery::RemoteGroup> {
        let snap = self.snapshot(reg);
        if !snap.has_remote() {
            return Vec::new();
        }
        let resources = self.resources.read().unwrap_or_else(|e| e.into_inner());
        discovery::remote_groups(&snap.remotes(), &resources)
    }

    /// Legacy `/apis` with the remote groups.
    pub fn api_groups(&self, reg: &Registry, local: Bytes) -> Bytes {
        discovery::merge_legacy(&local, &self.remote_groups(reg))
    }

    /// Aggregated `/apis` with the remote groups.
    pub fn aggregated(&self, reg: &Registry, local: Bytes) -> Bytes {
        discovery::merge_aggregated(&local, &self.remote_groups(reg))
    }

    /// `/apis/<group>` of a group only remote APIServices serve.
    pub fn group(&self, reg: &Registry, name: &str) -> Option<Bytes> {
        discovery::group_doc(&self.remote_groups(reg), name)
    }

    /// Records (or forgets, with `None`) what a backend's discovery said.
    pub fn set_resources(&self, apiservice: &str, resources: Option<Vec<Value>>) {
        let mut map = self.resources.write().unwrap_or_else(|e| e.into_inner());
        match resources {
            Some(r) => {
                map.insert(apiservice.to_string(), r);
            }
            None => {
                map.remove(apiservice);
            }
        }
    }
}
