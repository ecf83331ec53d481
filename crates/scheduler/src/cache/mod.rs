//! The scheduler's view of the cluster (upstream's cache and snapshot in
//! one): node infos with the pods counted on them (assumed pods included),
//! and the other objects plugins read.
//!
//! Only the scheduling loop owns it, so there is no lock and no snapshot
//! copy: informer events are applied between scheduling cycles, which makes
//! every cycle see a consistent cluster, like upstream's per-cycle
//! snapshot. Every update is O(pods on the affected node); nothing is
//! O(cluster) except rebuilding the zone-interleaved node order when nodes
//! come or go.

pub mod listers;
mod node_tree;

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

pub use self::listers::{Listers, Nominations, PdbInfo};
use self::node_tree::zone_interleaved;
use crate::framework::parallelize::Parallelizer;
use crate::framework::{NodeInfo, PodInfo};

/// Why a cache operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// The pod is already in the cache.
    #[error("pod {0} is in the cache, so can't be assumed")]
    AlreadyCached(String),
    /// The pod has no node.
    #[error("pod {0} has no node to be assumed on")]
    NoNode(String),
}

#[derive(Debug, Clone)]
struct CachedPod {
    info: Arc<PodInfo>,
    slot: usize,
    assumed: bool,
}

/// Interned image names and on how many nodes each is present.
#[derive(Debug, Default)]
struct Images {
    ids: HashMap<String, u32>,
    node_counts: Vec<u32>,
}

impl Images {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = u32::try_from(self.node_counts.len()).unwrap_or(u32::MAX);
        self.ids.insert(name.to_string(), id);
        self.node_counts.push(0);
        id
    }
}

/// The cluster as the scheduling loop sees it.
#[derive(Debug, Default)]
pub struct Snapshot {
    slots: Vec<NodeInfo>,
    index: HashMap<String, usize>,
    free: Vec<usize>,
    order: Vec<usize>,
    order_dirty: bool,
    pods: HashMap<String, CachedPod>,
    images: Images,
    pods_with_affinity: usize,
    pods_with_required_anti_affinity: usize,
    /// Namespaces, PDBs, volumes, selectors of pod owners.
    pub listers: Listers,
    /// Pods nominated to nodes by preemption.
    pub nominations: Nominations,
    /// The workers plugins may spread scans of every node over (upstream
    /// `Handle.Parallelizer()`); the scheduling loop filters and scores on
    /// the same ones.
    parallelizer: Parallelizer,
}

impl Snapshot {
    /// An empty snapshot.
    pub fn new() -> Self {
        Snapshot::default()
    }

    fn slot_for(&mut self, name: &str) -> usize {
        if let Some(at) = self.index.get(name) {
            return *at;
        }
        let info = NodeInfo {
            name: name.to_string(),
            ..NodeInfo::default()
        };
        let at = match self.free.pop() {
            Some(at) => {
                self.slots[at] = info;
                at
            }
            None => {
                self.slots.push(info);
                self.slots.len() - 1
            }
        };
        self.index.insert(name.to_string(), at);
        at
    }

    fn release_if_empty(&mut self, at: usize) {
        let info = &self.slots[at];
        if !info.present && info.pods.is_empty() {
            self.index.remove(&info.name);
            self.slots[at] = NodeInfo::default();
            self.free.push(at);
        }
    }

    fn set_images(&mut self, at: usize, node: Option<&Node>) {
        for (id, _) in std::mem::take(&mut self.slots[at].images) {
            if let Some(count) = self.images.node_counts.get_mut(id as usize) {
                *count = count.saturating_sub(1);
            }
        }
        let Some(node) = node else { return };
        let mut images: Vec<(u32, i64)> = Vec::new();
        for image in node
            .status
            .as_ref()
            .and_then(|s| s.images.as_ref())
            .into_iter()
            .flatten()
        {
            let size = image.size_bytes.unwrap_or(0);
            for name in image.names.iter().flatten() {
                let id = self.images.intern(name);
                if !images.iter().any(|(i, _)| *i == id) {
                    images.push((id, size));
                }
            }
        }
        images.sort_unstable_by_key(|(id, _)| *id);
        for (id, _) in &images {
            if let Some(count) = self.images.node_counts.get_mut(*id as usize) {
                *count += 1;
            }
        }
        self.slots[at].images = images;
    }

    /// Adds or replaces a node.
    pub fn upsert_node(&mut self, node: Arc<Node>) {
        let Some(name) = node.metadata.name.clone() else {
            return;
        };
        let at = self.slot_for(&name);
        let was_present = self.slots[at].present;
        let old_zone = was_present.then(|| node_tree::zone_key(&self.slots[at].node));
        self.set_images(at, Some(&node));
        let new_zone = node_tree::zone_key(&node);
        self.slots[at].set_node(node);
        if !was_present || old_zone.as_deref() != Some(new_zone.as_str()) {
            self.order_dirty = true;
        }
    }

    /// Removes a node; its pods stay counted until they are deleted.
    pub fn remove_node(&mut self, name: &str) {
        let Some(&at) = self.index.get(name) else {
            return;
        };
        self.set_images(at, None);
        let info = &mut self.slots[at];
        info.present = false;
        info.node = Arc::new(Node::default());
        info.taints.clear();
        info.unschedulable = false;
        info.generation += 1;
        self.order_dirty = true;
        self.release_if_empty(at);
    }

    fn refresh_order(&mut self) {
        if self.order_dirty {
            self.order = zone_interleaved(&self.slots);
            self.order_dirty = false;
        }
    }

    /// Prepares the node order for a cycle (call after applying events).
    pub fn prepare(&mut self) {
        self.refresh_order();
    }

    /// Slots of the present nodes, zone-interleaved (call [`Snapshot::prepare`]
    /// first after node changes).
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// The node info in `slot`.
    pub fn slot(&self, slot: usize) -> &NodeInfo {
        &self.slots[slot]
    }

    /// The present nodes, zone-interleaved.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> + '_ {
        self.order.iter().map(|&at| &self.slots[at])
    }

    /// The `i`-th present node in [`Snapshot::nodes`] order
    /// (`i < num_nodes()`): lets plugins split that order into chunks.
    pub fn nth_node(&self, i: usize) -> &NodeInfo {
        &self.slots[self.order[i]]
    }

    /// The workers to spread per-node scans over.
    pub fn parallelizer(&self) -> &Parallelizer {
        &self.parallelizer
    }

    /// Replaces those workers (the scheduler's `parallelism`).
    pub fn set_parallelizer(&mut self, parallelizer: Parallelizer) {
        self.parallelizer = parallelizer;
    }

    /// The number of present nodes.
    pub fn num_nodes(&self) -> usize {
        self.order.len()
    }

    /// The node info of `name`, if the node exists.
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.index
            .get(name)
            .map(|&at| &self.slots[at])
            .filter(|n| n.present)
    }

    /// The slot of node `name`.
    pub fn slot_of(&self, name: &str) -> Option<usize> {
        self.index
            .get(name)
            .copied()
            .filter(|&at| self.slots[at].present)
    }

    fn count_affinity(&mut self, pod: &PodInfo, delta: isize) {
        let apply = |n: &mut usize| *n = n.saturating_add_signed(delta);
        if pod.has_affinity {
            apply(&mut self.pods_with_affinity);
        }
        if pod.has_required_anti_affinity() {
            apply(&mut self.pods_with_required_anti_affinity);
        }
    }

    fn place(&mut self, info: Arc<PodInfo>, assumed: bool) {
        let at = self.slot_for(&info.node_name);
        self.count_affinity(&info, 1);
        self.slots[at].add_pod(info.clone());
        self.pods.insert(
            info.uid.clone(),
            CachedPod {
                info,
                slot: at,
                assumed,
            },
        );
    }

    fn unplace(&mut self, uid: &str) -> Option<CachedPod> {
        let cached = self.pods.remove(uid)?;
        self.slots[cached.slot].remove_pod(uid);
        self.count_affinity(&cached.info.clone(), -1);
        self.release_if_empty(cached.slot);
        Some(cached)
    }

    /// Counts a pod the scheduler chose a node for, before the binding is
    /// confirmed.
    pub fn assume_pod(&mut self, info: Arc<PodInfo>) -> Result<(), CacheError> {
        if info.node_name.is_empty() {
            return Err(CacheError::NoNode(info.key()));
        }
        if self.pods.contains_key(&info.uid) {
            return Err(CacheError::AlreadyCached(info.key()));
        }
        self.place(info, true);
        Ok(())
    }

    /// Drops an assumption (binding failed). No-op if the pod was
    /// confirmed meanwhile.
    pub fn forget_pod(&mut self, uid: &str) {
        if self.pods.get(uid).is_some_and(|p| p.assumed) {
            self.unplace(uid);
        }
    }

    /// Whether the pod with `uid` is assumed (not yet confirmed).
    pub fn is_assumed(&self, uid: &str) -> bool {
        self.pods.get(uid).is_some_and(|p| p.assumed)
    }

    /// Whether the pod with `uid` is counted (assumed or confirmed).
    pub fn contains_pod(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    /// The cached version of the pod with `uid`.
    pub fn pod(&self, uid: &str) -> Option<&Arc<PodInfo>> {
        self.pods.get(uid).map(|p| &p.info)
    }

    /// Adds or updates an assigned pod reported by the apiserver
    /// (confirming an assumption). Returns the previous version.
    pub fn upsert_pod(&mut self, info: Arc<PodInfo>) -> Option<Arc<PodInfo>> {
        if info.node_name.is_empty() {
            return None;
        }
        let old = self.unplace(&info.uid).map(|c| c.info);
        self.place(info, false);
        old
    }

    /// Removes a pod; returns what was cached.
    pub fn remove_pod(&mut self, uid: &str) -> Option<Arc<PodInfo>> {
        self.unplace(uid).map(|c| c.info)
    }

    /// Number of pods counted (assumed included) and of assumed pods.
    pub fn pod_counts(&self) -> (usize, usize) {
        let assumed = self.pods.values().filter(|p| p.assumed).count();
        (self.pods.len(), assumed)
    }

    /// The uids of every counted pod (for relist reconciliation).
    pub fn pod_uids(&self) -> Vec<String> {
        self.pods.keys().cloned().collect()
    }

    /// The interned id of image `name`, if any node has it.
    pub fn image_id(&self, name: &str) -> Option<u32> {
        self.images.ids.get(name).copied()
    }

    /// On how many nodes image `id` is present.
    pub fn image_node_count(&self, id: u32) -> u32 {
        self.images
            .node_counts
            .get(id as usize)
            .copied()
            .unwrap_or(0)
    }

    /// Whether any pod has pod affinity or anti-affinity.
    pub fn has_pods_with_affinity(&self) -> bool {
        self.pods_with_affinity > 0
    }

    /// Whether any pod has required anti-affinity.
    pub fn has_pods_with_required_anti_affinity(&self) -> bool {
        self.pods_with_required_anti_affinity > 0
    }

    /// The pods nominated to `node`.
    pub fn nominated_pods(&self, node: &str) -> &[Arc<PodInfo>] {
        self.nominations.on_node(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, zone: &str) -> Arc<Node> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}},
                "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                    "images": [{"names": ["busybox:latest", "docker.io/library/busybox:latest"], "sizeBytes": 1000}]}
            }))
            .unwrap(),
        )
    }

    fn pod(uid: &str, node: &str) -> Arc<PodInfo> {
        Arc::new(PodInfo::new(Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": uid, "namespace": "ns", "uid": uid},
                "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}
            }))
            .unwrap(),
        )))
    }

    #[test]
    fn nodes_pods_and_assumptions() {
        let mut s = Snapshot::new();
        s.upsert_node(node("a", "z1"));
        s.upsert_node(node("b", "z2"));
        s.upsert_node(node("c", "z1"));
        s.prepare();
        let names: Vec<&str> = s.nodes().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        let id = s.image_id("busybox:latest").unwrap();
        assert_eq!(s.image_node_count(id), 3);

        // A pod for a node that does not exist yet.
        s.upsert_pod(pod("p0", "d"));
        assert!(s.node("d").is_none());
        s.upsert_node(node("d", "z2"));
        s.prepare();
        assert_eq!(s.node("d").unwrap().pods.len(), 1);
        assert_eq!(s.num_nodes(), 4);

        let assumed = Arc::new(pod("p1", "").assumed_on("a"));
        s.assume_pod(assumed.clone()).unwrap();
        assert!(s.is_assumed("p1"));
        assert_eq!(
            s.assume_pod(assumed).unwrap_err(),
            CacheError::AlreadyCached("ns/p1".into())
        );
        assert_eq!(s.node("a").unwrap().requested.milli_cpu, 1000);
        // Confirmation on another node moves it.
        s.upsert_pod(pod("p1", "b"));
        assert!(!s.is_assumed("p1"));
        assert_eq!(s.node("a").unwrap().requested.milli_cpu, 0);
        assert_eq!(s.node("b").unwrap().requested.milli_cpu, 1000);
        s.forget_pod("p1");
        assert!(s.contains_pod("p1"));

        s.remove_node("b");
        s.prepare();
        assert_eq!(s.num_nodes(), 3);
        assert_eq!(s.image_node_count(id), 3);
        s.remove_pod("p1");
        assert!(s.node("b").is_none());
        assert_eq!(s.pod_counts(), (1, 0));
        // The freed slot is reused.
        s.upsert_node(node("e", "z3"));
        s.prepare();
        assert_eq!(s.num_nodes(), 4);
    }
}
