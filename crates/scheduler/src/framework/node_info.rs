//! A node with the pods the scheduler counts on it (upstream's
//! `framework.NodeInfo`), maintained incrementally: adding or removing a pod
//! costs O(pods on the node), never O(cluster).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Taint};

use super::node_selector::node_labels;
use super::pod_info::{HostPort, PodInfo};
use super::resource::Resource;

/// Aggregated per-node state.
#[derive(Debug, Clone, Default)]
pub struct NodeInfo {
    /// The Node object (an empty one while only pods reference the node).
    pub node: Arc<Node>,
    /// `metadata.name`.
    pub name: String,
    /// Whether the Node object exists (pods can arrive before their node).
    pub present: bool,
    /// `status.allocatable`.
    pub allocatable: Resource,
    /// `spec.taints` (copied: read for every node of every cycle).
    pub taints: Vec<Taint>,
    /// `spec.unschedulable`.
    pub unschedulable: bool,
    /// Sum of the pods' requests.
    pub requested: Resource,
    /// Sum of the pods' requests with the scoring defaults for CPU/memory.
    pub non_zero_requested: Resource,
    /// Pods on the node (assumed ones included).
    pub pods: Vec<Arc<PodInfo>>,
    /// Pods with any pod affinity or anti-affinity.
    pub pods_with_affinity: Vec<Arc<PodInfo>>,
    /// Pods with required anti-affinity.
    pub pods_with_required_anti_affinity: Vec<Arc<PodInfo>>,
    /// Host ports in use (one entry per pod using it).
    pub used_ports: Vec<HostPort>,
    /// (image id, size in bytes), sorted by id; ids come from the cache's
    /// image registry.
    pub images: Vec<(u32, i64)>,
    /// How many pods use each PVC (`namespace/name`).
    pub pvc_ref_counts: BTreeMap<String, i32>,
    /// Bumped on every change.
    pub generation: u64,
}

impl NodeInfo {
    /// An empty node info for `node`.
    pub fn new(node: Arc<Node>) -> Self {
        let mut info = NodeInfo::default();
        info.set_node(node);
        info
    }

    /// Replaces the Node object (pods stay).
    pub fn set_node(&mut self, node: Arc<Node>) {
        self.name = node.metadata.name.clone().unwrap_or_default();
        self.allocatable = node
            .status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref())
            .map(Resource::from_list)
            .unwrap_or_default();
        self.taints = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        self.unschedulable = node
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false);
        self.node = node;
        self.present = true;
        self.generation += 1;
    }

    /// The node's labels.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        node_labels(&self.node)
    }

    /// The node's taints.
    pub fn taints(&self) -> &[Taint] {
        &self.taints
    }

    /// `spec.unschedulable`.
    pub fn unschedulable(&self) -> bool {
        self.unschedulable
    }

    /// Counts `pod` on this node.
    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.requests);
        self.non_zero_requested.milli_cpu += pod.non_zero_milli_cpu;
        self.non_zero_requested.memory += pod.non_zero_memory;
        self.used_ports.extend(pod.host_ports.iter().cloned());
        for key in &pod.pvc_keys {
            *self.pvc_ref_counts.entry(key.clone()).or_insert(0) += 1;
        }
        if pod.has_affinity {
            self.pods_with_affinity.push(pod.clone());
        }
        if pod.has_required_anti_affinity() {
            self.pods_with_required_anti_affinity.push(pod.clone());
        }
        self.pods.push(pod);
        self.generation += 1;
    }

    /// Stops counting the pod with `uid`; returns it if it was here.
    pub fn remove_pod(&mut self, uid: &str) -> Option<Arc<PodInfo>> {
        let at = self.pods.iter().position(|p| p.uid == uid)?;
        let pod = self.pods.swap_remove(at);
        self.pods_with_affinity.retain(|p| p.uid != uid);
        self.pods_with_required_anti_affinity
            .retain(|p| p.uid != uid);
        self.requested.sub(&pod.requests);
        self.non_zero_requested.milli_cpu -= pod.non_zero_milli_cpu;
        self.non_zero_requested.memory -= pod.non_zero_memory;
        for port in &pod.host_ports {
            if let Some(i) = self.used_ports.iter().position(|p| p == port) {
                self.used_ports.swap_remove(i);
            }
        }
        for key in &pod.pvc_keys {
            if let Some(count) = self.pvc_ref_counts.get_mut(key) {
                *count -= 1;
                if *count <= 0 {
                    self.pvc_ref_counts.remove(key);
                }
            }
        }
        self.generation += 1;
        Some(pod)
    }

    /// Whether any used host port conflicts with `wanted`.
    pub fn ports_conflict(&self, wanted: &[HostPort]) -> bool {
        wanted
            .iter()
            .any(|w| self.used_ports.iter().any(|u| u.conflicts_with(w)))
    }

    /// The size of image `id` on this node, if present.
    pub fn image_size(&self, id: u32) -> Option<i64> {
        self.images
            .binary_search_by_key(&id, |(i, _)| *i)
            .ok()
            .map(|at| self.images[at].1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(uid: &str, cpu: &str, host_port: i32) -> Arc<PodInfo> {
        let mut ports = json!([]);
        if host_port > 0 {
            ports = json!([{"containerPort": 80, "hostPort": host_port}]);
        }
        Arc::new(PodInfo::new(Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": uid, "namespace": "ns", "uid": uid},
                "spec": {"containers": [{"name": "c", "ports": ports, "resources": {"requests": {"cpu": cpu}}}],
                    "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "claim"}}]}
            }))
            .unwrap(),
        )))
    }

    #[test]
    fn add_and_remove_are_inverse() {
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": "n", "labels": {"zone": "a"}},
            "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}
        }))
        .unwrap();
        let mut info = NodeInfo::new(Arc::new(node));
        assert_eq!(info.allocatable.milli_cpu, 4000);
        assert_eq!(info.taints().len(), 1);
        assert_eq!(info.labels()["zone"], "a");
        let g0 = info.generation;
        info.add_pod(pod("a", "500m", 8080));
        info.add_pod(pod("b", "1", 0));
        assert_eq!(info.requested.milli_cpu, 1500);
        assert_eq!(
            info.non_zero_requested.memory,
            2 * crate::framework::resource::DEFAULT_MEMORY_REQUEST
        );
        assert_eq!(info.pvc_ref_counts["ns/claim"], 2);
        assert!(info.ports_conflict(&[HostPort {
            ip: "0.0.0.0".into(),
            protocol: "TCP".into(),
            port: 8080
        }]));
        assert!(info.remove_pod("a").is_some());
        assert!(info.remove_pod("a").is_none());
        assert!(!info.ports_conflict(&[HostPort {
            ip: "0.0.0.0".into(),
            protocol: "TCP".into(),
            port: 8080
        }]));
        assert_eq!(info.requested.milli_cpu, 1000);
        assert_eq!(info.pvc_ref_counts["ns/claim"], 1);
        info.remove_pod("b");
        assert_eq!(info.requested, Resource::default());
        assert!(info.pvc_ref_counts.is_empty());
        assert!(info.generation > g0);
    }
}
