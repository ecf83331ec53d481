//! The change tracker: the latest Services and EndpointSlices as the watchers
//! delivered them, turned into a [`ProxyState`] on demand.
//!
//! The watchers are the only writers; the sync loop takes snapshots. Besides
//! the objects, the tracker remembers the `last-change-trigger-time` of the
//! slices changed since the last snapshot, which is where upstream's network
//! programming latency starts.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::model::{
    self, Changes, Endpoint, NodeInfo, ProxyState, ServicePort, ServicePortName,
    TRIGGER_TIME_ANNOTATION, ZONE_LABEL,
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
    /// The slices of each Service, so one Service's endpoints are merged
    /// without looking at the others.
    slices_by_service: HashMap<Key, BTreeSet<Key>>,
    node: NodeInfo,
    /// The Services changed since the last [`ChangeTracker::apply_changes`]
    /// (everything at first).
    changes: Changes,
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
            self.services.insert(key.clone(), ports);
        }
        if changed {
            self.service_changes += 1;
            self.mark(key);
        }
        changed
    }

    /// Records a deleted Service.
    pub fn service_deleted(&mut self, namespace: &str, name: &str) -> bool {
        let key = (namespace.to_string(), name.to_string());
        let changed = self.services.remove(&key).is_some();
        if changed {
            self.service_changes += 1;
            self.mark(key);
        }
        changed
    }

    fn mark(&mut self, key: Key) {
        if let Changes::Services(keys) = &mut self.changes {
            keys.insert(key);
        }
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
        let old_service = self.slices.get(&key).map(|old| old.service.clone());
        let changed = self
            .slices
            .get(&key)
            .is_none_or(|old| old.service != entry.service || old.endpoints != entry.endpoints);
        if changed {
            if let Some(old_service) = old_service.filter(|s| *s != entry.service) {
                self.unindex(&old_service, &key);
                self.mark(old_service);
            }
            self.slices_by_service
                .entry(entry.service.clone())
                .or_default()
                .insert(key.clone());
            self.mark(entry.service.clone());
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
        let key = (namespace.to_string(), name.to_string());
        let Some(old) = self.slices.remove(&key) else {
            return false;
        };
        self.unindex(&old.service, &key);
        self.mark(old.service);
        self.endpoint_changes += 1;
        true
    }

    fn unindex(&mut self, service: &Key, slice: &Key) {
        if let Some(slices) = self.slices_by_service.get_mut(service) {
            slices.remove(slice);
            if slices.is_empty() {
                self.slices_by_service.remove(service);
            }
        }
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
            // The node's zone and IPs shape every Service's rules.
            self.changes = Changes::All;
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
        self.changes = Changes::All;
    }

    /// Replaces every EndpointSlice (after a watcher relist).
    pub fn reset_slices(&mut self, slices: &[EndpointSlice]) {
        self.slices.clear();
        self.slices_by_service.clear();
        for slice in slices {
            self.slice_applied(slice);
        }
        self.endpoint_changes += 1;
        self.changes = Changes::All;
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
        let mut merged = Merged::new();
        for entry in self.slices.values() {
            merge(&mut merged, entry, &services);
        }
        ProxyState {
            services,
            endpoints: finish(merged),
            node: self.node.clone(),
        }
    }

    /// Brings `state` (the result of earlier calls, or anything at first)
    /// up to date and says which Services changed: only those are rebuilt,
    /// so a sync after one EndpointSlice update costs O(that Service), not
    /// O(every Service). Resets the changes.
    pub fn apply_changes(&mut self, state: &mut ProxyState) -> Changes {
        let changes = std::mem::replace(&mut self.changes, Changes::Services(BTreeSet::new()));
        let Changes::Services(keys) = &changes else {
            *state = self.snapshot();
            return changes;
        };
        for key in keys {
            let stale: Vec<ServicePortName> = state.ports_of(key).map(|(n, _)| n.clone()).collect();
            for name in stale {
                state.services.remove(&name);
                state.endpoints.remove(&name);
            }
            let mut services = BTreeMap::new();
            for port in self.services.get(key).into_iter().flatten() {
                services.insert(port.name.clone(), port.clone());
            }
            let mut merged = Merged::new();
            for slice in self.slices_by_service.get(key).into_iter().flatten() {
                if let Some(entry) = self.slices.get(slice) {
                    merge(&mut merged, entry, &services);
                }
            }
            state.endpoints.extend(finish(merged));
            state.services.extend(services);
        }
        state.node = self.node.clone();
        changes
    }

    /// Gives back the changes of a sync that did not happen.
    pub fn requeue_changes(&mut self, changes: Changes) {
        self.changes.merge(changes);
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

type Merged = BTreeMap<ServicePortName, BTreeMap<(std::net::IpAddr, u16), Endpoint>>;

/// Adds a slice's endpoints of the ports in `services` to `merged`; of two
/// copies of an address the ready one wins.
fn merge(
    merged: &mut Merged,
    entry: &SliceEntry,
    services: &BTreeMap<ServicePortName, ServicePort>,
) {
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

fn finish(merged: Merged) -> BTreeMap<ServicePortName, Vec<Endpoint>> {
    merged
        .into_iter()
        .map(|(name, eps)| (name, eps.into_values().collect()))
        .collect()
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

    #[test]
    fn apply_changes_rebuilds_only_changed_services_and_matches_a_snapshot() {
        use crate::model::Changes;
        let key = |n: &str| ("ns".to_string(), n.to_string());
        let mut t = ChangeTracker::new("n1");
        t.service_applied(&service("web", "10.96.0.10"));
        t.service_applied(&service("api", "10.96.0.11"));
        t.slice_applied(&slice("web-1", "web", &[("10.0.0.1", true)]));
        t.slice_applied(&slice("api-1", "api", &[("10.0.1.1", true)]));
        let mut state = ProxyState::default();
        assert_eq!(
            t.apply_changes(&mut state),
            Changes::All,
            "first: everything"
        );
        assert_eq!(state, t.snapshot());
        assert_eq!(
            t.apply_changes(&mut state),
            Changes::Services(Default::default())
        );

        // A second slice of web, and an api slice moving to web.
        t.slice_applied(&slice("web-2", "web", &[("10.0.0.2", false)]));
        t.slice_applied(&slice("api-1", "web", &[("10.0.0.3", true)]));
        let changes = t.apply_changes(&mut state);
        assert_eq!(
            changes,
            Changes::Services([key("web"), key("api")].into_iter().collect())
        );
        assert_eq!(state, t.snapshot());
        let web = state
            .services
            .keys()
            .find(|n| n.name == "web")
            .unwrap()
            .clone();
        assert_eq!(state.endpoints_of(&web).len(), 3);

        // A Service deleted, a slice deleted; a failed sync's changes come
        // back and merge with new ones.
        t.service_deleted("ns", "api");
        let changes = t.apply_changes(&mut state);
        t.requeue_changes(changes);
        t.slice_deleted("ns", "web-2");
        assert_eq!(
            t.apply_changes(&mut state),
            Changes::Services([key("web"), key("api")].into_iter().collect())
        );
        assert_eq!(state, t.snapshot());

        // The node's zone shapes every Service: everything again.
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "z"}}
        }))
        .unwrap();
        assert!(t.node_updated(Some(&node)));
        assert_eq!(t.apply_changes(&mut state), Changes::All);
        assert_eq!(state, t.snapshot());
    }
}
