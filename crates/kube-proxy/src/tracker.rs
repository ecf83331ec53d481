//! The change tracker: the latest Services and EndpointSlices as the watchers
//! delivered them, turned into a [`ProxyState`] on demand.
//!
//! The watchers are the only writers; the sync loop takes snapshots. Besides
//! the objects, the tracker remembers the `last-change-trigger-time` of the
//! slices changed since the last snapshot, which is where upstream's network
//! programming latency starts.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::model::{
    self, Endpoint, NodeInfo, ProxyState, ServicePort, ServicePortName, TRIGGER_TIME_ANNOTATION,
    ZONE_LABEL,
};

type Key = (String, String);

#[derive(Debug)]
struct SliceEntry {
    service: Key,
    endpoints: Vec<(ServicePortName, Endpoint)>,
}

/// Latest Services and EndpointSlices, and what changed since the last sync.
#[derive(Debug, Default)]
pub struct ChangeTracker {
    node_name: String,
    services: HashMap<Key, Vec<ServicePort>>,
    slices: HashMap<Key, SliceEntry>,
    node: NodeInfo,
    trigger_times: Vec<jiff::Timestamp>,
    service_changes: u64,
    endpoint_changes: u64,
}

/// How many changes a snapshot folds in (for the `*_changes_total` metrics).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PendingChanges {
    /// Service adds, updates and deletes.
    pub services: u64,
    /// EndpointSlice adds, updates and deletes.
    pub endpoints: u64,
}

impl ChangeTracker {
    /// A tracker for the proxy of `node_name` (decides which endpoints are local).
    pub fn new(node_name: impl Into<String>) -> ChangeTracker {
        ChangeTracker {
            node_name: node_name.into(),
            ..ChangeTracker::default()
        }
    }

    fn key(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<Key> {
        Some((meta.namespace.clone()?, meta.name.clone()?))
    }

    /// Records an added or updated Service. Returns whether anything changed.
    pub fn service_applied(&mut self, service: &Service) -> bool {
        let Some(key) = Self::key(&service.metadata) else {
            return false;
        };
        let ports = model::service_ports(service);
        let changed = match self.services.get(&key) {
            Some(old) => *old != ports,
            None => !ports.is_empty(),
        };
        if ports.is_empty() {
            self.services.remove(&key);
        } else {
            self.services.insert(key, ports);
        }
        if changed {
            self.service_changes += 1;
        }
        changed
    }

    /// Records a deleted Service.
    pub fn service_deleted(&mut self, namespace: &str, name: &str) -> bool {
        let changed = self
            .services
            .remove(&(namespace.to_string(), name.to_string()))
            .is_some();
        if changed {
            self.service_changes += 1;
        }
        changed
    }

    /// Records an added or updated EndpointSlice.
    pub fn slice_applied(&mut self, slice: &EndpointSlice) -> bool {
        let Some(key) = Self::key(&slice.metadata) else {
            return false;
        };
        let Some(contribution) = model::slice_endpoints(slice, &self.node_name) else {
            return self.slice_deleted(&key.0, &key.1);
        };
        let entry = SliceEntry {
            service: (contribution.namespace, contribution.service),
            endpoints: contribution.endpoints,
        };
        let changed = self
            .slices
            .get(&key)
            .is_none_or(|old| old.service != entry.service || old.endpoints != entry.endpoints);
        if changed {
            if let Some(time) = slice
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(TRIGGER_TIME_ANNOTATION))
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            {
                self.trigger_times.push(time);
            }
            self.endpoint_changes += 1;
        }
        self.slices.insert(key, entry);
        changed
    }

    /// Records a deleted EndpointSlice.
    pub fn slice_deleted(&mut self, namespace: &str, name: &str) -> bool {
        let changed = self
            .slices
            .remove(&(namespace.to_string(), name.to_string()))
            .is_some();
        if changed {
            self.endpoint_changes += 1;
        }
        changed
    }

    /// Records this proxy's Node (`None`: deleted). Its zone label drives
    /// topology-aware routing; its primary IPs the `primary` NodePort
    /// addresses and the source-range exception for the node. IPs are kept
    /// when the Node goes away or reports none, so NodePorts keep working.
    /// Returns whether anything the rules use changed.
    pub fn node_updated(&mut self, node: Option<&Node>) -> bool {
        let zone = node
            .and_then(|n| n.metadata.labels.as_ref())
            .and_then(|l| l.get(ZONE_LABEL))
            .cloned()
            .unwrap_or_default();
        let ips = node.map(model::primary_ips).unwrap_or_default();
        let next = NodeInfo {
            ips: if ips.is_empty() {
                self.node.ips.clone()
            } else {
                ips
            },
            zone,
        };
        let changed = next != self.node;
        if changed {
            tracing::info!(ips = ?next.ips, zone = %next.zone, "this node's IPs or zone changed");
            self.node = next;
        }
        changed
    }

    /// Replaces every Service (after a watcher relist).
    pub fn reset_services(&mut self, services: &[Service]) {
        self.services.clear();
        for service in services {
            self.service_applied(service);
        }
        self.service_changes += 1;
    }

    /// Replaces every EndpointSlice (after a watcher relist).
    pub fn reset_slices(&mut self, slices: &[EndpointSlice]) {
        self.slices.clear();
        for slice in slices {
            self.slice_applied(slice);
        }
        self.endpoint_changes += 1;
    }

    /// The desired state now. Endpoints are merged across a Service's slices,
    /// deduplicated by address (a ready copy wins), and sorted.
    pub fn snapshot(&self) -> ProxyState {
        let mut services = BTreeMap::new();
        for ports in self.services.values() {
            for port in ports {
                services.insert(port.name.clone(), port.clone());
            }
        }
        let mut merged: BTreeMap<ServicePortName, BTreeMap<(std::net::IpAddr, u16), Endpoint>> =
            BTreeMap::new();
        for entry in self.slices.values() {
            for (name, endpoint) in &entry.endpoints {
                if !services.contains_key(name) {
                    continue;
                }
                let slot = merged.entry(name.clone()).or_default();
                let key = (endpoint.ip, endpoint.port);
                match slot.get(&key) {
                    Some(existing) if existing.ready || !endpoint.ready => {}
                    _ => {
                        slot.insert(key, endpoint.clone());
                    }
                }
            }
        }
        let endpoints = merged
            .into_iter()
            .map(|(name, eps)| (name, eps.into_values().collect()))
            .collect();
        ProxyState {
            services,
            endpoints,
            node: self.node.clone(),
        }
    }

    /// Gives back trigger times of a failed sync.
    pub fn requeue_trigger_times(&mut self, times: Vec<jiff::Timestamp>) {
        self.trigger_times.extend(times);
    }

    /// Takes the trigger times and change counts gathered since the last call.
    pub fn take_pending(&mut self) -> (Vec<jiff::Timestamp>, PendingChanges) {
        let pending = PendingChanges {
            services: std::mem::take(&mut self.service_changes),
            endpoints: std::mem::take(&mut self.endpoint_changes),
        };
        (std::mem::take(&mut self.trigger_times), pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(name: &str, ip: &str) -> Service {
        serde_json::from_value(json!({
            "metadata": {"namespace": "ns", "name": name},
            "spec": {"clusterIP": ip, "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
        }))
        .unwrap()
    }

    fn slice(name: &str, svc: &str, ips: &[(&str, bool)]) -> EndpointSlice {
        let endpoints: Vec<_> = ips
            .iter()
            .map(|(ip, ready)| json!({"addresses": [ip], "conditions": {"ready": ready}}))
            .collect();
        serde_json::from_value(json!({
            "metadata": {"namespace": "ns", "name": name,
                "labels": {"kubernetes.io/service-name": svc},
                "annotations": {TRIGGER_TIME_ANNOTATION: "2026-01-01T00:00:00Z"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": endpoints
        }))
        .unwrap()
    }

    #[test]
    fn merges_slices_dedups_and_ignores_orphans() {
        let mut t = ChangeTracker::new("n1");
        assert!(t.service_applied(&service("web", "10.96.0.10")));
        assert!(
            !t.service_applied(&service("web", "10.96.0.10")),
            "no-op update"
        );
        assert!(t.slice_applied(&slice(
            "web-1",
            "web",
            &[("10.0.0.1", true), ("10.0.0.2", false)]
        )));
        assert!(t.slice_applied(&slice("web-2", "web", &[("10.0.0.2", true)])));
        t.slice_applied(&slice("orphan-1", "gone", &[("10.0.0.9", true)]));
        let state = t.snapshot();
        assert_eq!(state.services.len(), 1);
        let name = state.services.keys().next().unwrap().clone();
        let eps = state.endpoints_of(&name);
        assert_eq!(eps.len(), 2);
        assert!(
            eps.iter().all(|e| e.ready),
            "the ready copy of 10.0.0.2 wins: {eps:?}"
        );
        assert_eq!(
            state.endpoints.len(),
            1,
            "endpoints without a service are dropped"
        );

        let (times, pending) = t.take_pending();
        assert_eq!(times.len(), 3);
        assert_eq!(
            pending,
            PendingChanges {
                services: 1,
                endpoints: 3
            }
        );
        assert_eq!(t.take_pending().1, PendingChanges::default());

        assert!(t.slice_deleted("ns", "web-2"));
        assert!(t.service_deleted("ns", "web"));
        assert!(t.snapshot().services.is_empty());
    }
}
