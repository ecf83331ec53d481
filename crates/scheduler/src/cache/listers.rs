//! The objects besides nodes and pods that plugins read: namespaces (for
//! namespace selectors), PodDisruptionBudgets (preemption), volumes, and
//! the selectors of pod owners (default topology spreading); plus the
//! nominations made by preemption.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use corten_apimachinery::labels::Selector;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::{CSINode, StorageClass};

use crate::framework::PodInfo;
use crate::framework::pod_info::compile_label_selector;

/// A PodDisruptionBudget as preemption needs it.
#[derive(Debug, Clone)]
pub struct PdbInfo {
    /// Its namespace.
    pub namespace: String,
    /// The pods it covers (an invalid or missing selector covers none).
    pub selector: Selector,
    /// `status.disruptionsAllowed`.
    pub disruptions_allowed: i32,
    /// `status.disruptedPods` names.
    pub disrupted_pods: BTreeSet<String>,
}

impl PdbInfo {
    /// Extracts what preemption needs.
    pub fn new(pdb: &PodDisruptionBudget) -> Self {
        let selector = pdb
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .map(|s| compile_label_selector(Some(s)).unwrap_or_else(|_| Selector::nothing()))
            .unwrap_or_else(Selector::nothing);
        let status = pdb.status.as_ref();
        PdbInfo {
            namespace: pdb.metadata.namespace.clone().unwrap_or_default(),
            selector,
            disruptions_allowed: status.map_or(0, |s| s.disruptions_allowed),
            disrupted_pods: status
                .and_then(|s| s.disrupted_pods.as_ref())
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
        }
    }

    /// Whether the budget covers `pod` (upstream: same namespace, non-empty
    /// selector that matches).
    pub fn covers(&self, pod: &PodInfo) -> bool {
        self.namespace == pod.namespace
            && !self.selector.is_empty()
            && self.selector.matches(pod.labels())
    }
}

/// A controller's label selector, keyed by (kind, namespace, name).
type OwnerKey = (String, String, String);

/// Objects other than nodes and pods.
#[derive(Debug, Default)]
pub struct Listers {
    /// Namespace labels by name.
    pub namespaces: HashMap<String, BTreeMap<String, String>>,
    /// PodDisruptionBudgets by `namespace/name`.
    pub pdbs: BTreeMap<String, PdbInfo>,
    /// PersistentVolumeClaims by `namespace/name`.
    pub pvcs: HashMap<String, Arc<PersistentVolumeClaim>>,
    /// PersistentVolumes by name.
    pub pvs: HashMap<String, Arc<PersistentVolume>>,
    /// StorageClasses by name.
    pub storage_classes: HashMap<String, Arc<StorageClass>>,
    /// CSINodes by name.
    pub csi_nodes: HashMap<String, Arc<CSINode>>,
    /// Service selectors: namespace -> (name -> selector).
    pub services: HashMap<String, BTreeMap<String, BTreeMap<String, String>>>,
    /// Label selectors of ReplicaSets, StatefulSets and
    /// ReplicationControllers.
    pub owners: HashMap<OwnerKey, Selector>,
}

impl Listers {
    /// The labels of namespace `name` (None when unknown).
    pub fn namespace_labels(&self, name: &str) -> Option<&BTreeMap<String, String>> {
        self.namespaces.get(name)
    }

    /// Records a controller's selector (`kind` is `ReplicaSet`,
    /// `StatefulSet` or `ReplicationController`).
    pub fn set_owner(
        &mut self,
        kind: &str,
        namespace: &str,
        name: &str,
        selector: Option<Selector>,
    ) {
        let key = (kind.to_string(), namespace.to_string(), name.to_string());
        match selector {
            Some(selector) => {
                self.owners.insert(key, selector);
            }
            None => {
                self.owners.remove(&key);
            }
        }
    }

    /// Upstream `helper.DefaultSelector`: the merged selectors of the
    /// Services selecting the pod and of its controller (ReplicaSet,
    /// StatefulSet, ReplicationController). Empty when none applies.
    pub fn default_spread_selector(&self, pod: &Pod) -> Selector {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("");
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let mut set: BTreeMap<String, String> = BTreeMap::new();
        for selector in self
            .services
            .get(namespace)
            .into_iter()
            .flat_map(|m| m.values())
        {
            if !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
                set.extend(selector.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        let Some(owner) = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
        else {
            return Selector::from_set(&set);
        };
        let key = (
            owner.kind.clone(),
            namespace.to_string(),
            owner.name.clone(),
        );
        let known_kind = matches!(
            (owner.api_version.as_str(), owner.kind.as_str()),
            ("v1", "ReplicationController")
                | ("apps/v1", "ReplicaSet")
                | ("apps/v1", "StatefulSet")
        );
        let mut selector = Selector::from_set(&set);
        if known_kind && let Some(owner_selector) = self.owners.get(&key) {
            for requirement in owner_selector.requirements() {
                selector = selector.with_requirement(requirement.clone());
            }
        }
        selector
    }
}

/// Pods nominated to nodes (upstream's nominator): by node, and node by pod
/// uid.
#[derive(Debug, Default)]
pub struct Nominations {
    by_node: HashMap<String, Vec<Arc<PodInfo>>>,
    by_pod: HashMap<String, String>,
}

impl Nominations {
    /// Nominates `pod` to `node` (replacing an earlier nomination).
    pub fn add(&mut self, pod: Arc<PodInfo>, node: &str) {
        self.remove(&pod.uid);
        if node.is_empty() {
            return;
        }
        self.by_pod.insert(pod.uid.clone(), node.to_string());
        self.by_node.entry(node.to_string()).or_default().push(pod);
    }

    /// Drops the pod's nomination.
    pub fn remove(&mut self, uid: &str) {
        let Some(node) = self.by_pod.remove(uid) else {
            return;
        };
        if let Some(list) = self.by_node.get_mut(&node) {
            list.retain(|p| p.uid != uid);
            if list.is_empty() {
                self.by_node.remove(&node);
            }
        }
    }

    /// Where the pod is nominated.
    pub fn node_of(&self, uid: &str) -> Option<&str> {
        self.by_pod.get(uid).map(String::as_str)
    }

    /// The pods nominated to `node`.
    pub fn on_node(&self, node: &str) -> &[Arc<PodInfo>] {
        self.by_node.get(node).map_or(&[], Vec::as_slice)
    }

    /// Whether nothing is nominated.
    pub fn is_empty(&self) -> bool {
        self.by_pod.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn default_selector_merges_services_and_owner() {
        let mut listers = Listers::default();
        listers.services.entry("ns".into()).or_default().insert(
            "web".into(),
            BTreeMap::from([("app".to_string(), "web".to_string())]),
        );
        let rs_selector = compile_label_selector(Some(
            &serde_json::from_value(json!({"matchLabels": {"tier": "fe"}})).unwrap(),
        ))
        .unwrap();
        listers.set_owner("ReplicaSet", "ns", "web-1", Some(rs_selector));
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "ns",
            "labels": {"app": "web", "tier": "fe"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "u", "controller": true}]}}))
        .unwrap();
        let selector = listers.default_spread_selector(&pod);
        assert_eq!(selector.to_string(), "app=web,tier=fe");
        let lonely: Pod =
            serde_json::from_value(json!({"metadata": {"name": "q", "namespace": "ns"}})).unwrap();
        assert!(listers.default_spread_selector(&lonely).is_empty());
    }

    #[test]
    fn nominations_move() {
        let pod = Arc::new(PodInfo::new(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "p", "uid": "u1"}})).unwrap(),
        )));
        let mut n = Nominations::default();
        n.add(pod.clone(), "a");
        assert_eq!(n.on_node("a").len(), 1);
        n.add(pod, "b");
        assert!(n.on_node("a").is_empty());
        assert_eq!(n.node_of("u1"), Some("b"));
        n.remove("u1");
        assert!(n.is_empty());
    }
}
