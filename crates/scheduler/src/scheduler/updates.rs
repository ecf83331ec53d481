//! Applying informer updates to the snapshot and the queue (upstream's
//! event handlers), and retrying unschedulable pods the update may help.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{
    Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, ReplicationController, Service,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::{CSINode, StorageClass};
use tokio::time::Instant;

use super::Scheduler;
use crate::cache::PdbInfo;
use crate::framework::events::{known, node_update_actions};
use crate::framework::pod_info::compile_label_selector;
use crate::framework::{ActionType, ClusterEvent, EventObjects, EventResource, PodInfo, Status};

/// A watched resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// Nodes.
    Nodes,
    /// Pods (all namespaces).
    Pods,
    /// Namespaces.
    Namespaces,
    /// PodDisruptionBudgets.
    PodDisruptionBudgets,
    /// PersistentVolumeClaims.
    PersistentVolumeClaims,
    /// PersistentVolumes.
    PersistentVolumes,
    /// StorageClasses.
    StorageClasses,
    /// CSINodes.
    CsiNodes,
    /// Services.
    Services,
    /// ReplicaSets.
    ReplicaSets,
    /// StatefulSets.
    StatefulSets,
    /// ReplicationControllers.
    ReplicationControllers,
}

/// An object was created/updated, or deleted.
#[derive(Debug, Clone)]
pub enum Change<T> {
    /// Created or updated (the new version).
    Upsert(Arc<T>),
    /// Deleted (the last known version).
    Delete(Arc<T>),
}

/// One informer delivery.
#[derive(Debug, Clone)]
pub enum ClusterUpdate {
    /// A Node.
    Node(Change<Node>),
    /// A Pod.
    Pod(Change<Pod>),
    /// A Namespace.
    Namespace(Change<Namespace>),
    /// A PodDisruptionBudget.
    Pdb(Change<PodDisruptionBudget>),
    /// A PersistentVolumeClaim.
    Pvc(Change<PersistentVolumeClaim>),
    /// A PersistentVolume.
    Pv(Change<PersistentVolume>),
    /// A StorageClass.
    StorageClass(Change<StorageClass>),
    /// A CSINode.
    CsiNode(Change<CSINode>),
    /// A Service.
    Service(Change<Service>),
    /// A ReplicaSet.
    ReplicaSet(Change<ReplicaSet>),
    /// A StatefulSet.
    StatefulSet(Change<StatefulSet>),
    /// A ReplicationController.
    ReplicationController(Change<ReplicationController>),
    /// The initial list of a resource has been delivered.
    Synced(Resource),
}

fn key(namespace: Option<&String>, name: Option<&String>) -> String {
    format!(
        "{}/{}",
        namespace.map_or("", String::as_str),
        name.map_or("", String::as_str)
    )
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded") | Some("Failed")
    )
}

impl Scheduler {
    fn move_pods(&mut self, event: ClusterEvent, objects: EventObjects<'_>) {
        self.queue.move_on_event(&event, &objects, Instant::now());
    }

    /// Applies one informer delivery.
    pub fn apply(&mut self, update: ClusterUpdate) {
        match update {
            ClusterUpdate::Node(change) => self.apply_node(change),
            ClusterUpdate::Pod(Change::Upsert(pod)) => self.upsert_pod(pod),
            ClusterUpdate::Pod(Change::Delete(pod)) => self.delete_pod(&pod),
            ClusterUpdate::Namespace(change) => {
                let listers = &mut self.snapshot.listers;
                match change {
                    Change::Upsert(ns) => {
                        let name = ns.metadata.name.clone().unwrap_or_default();
                        listers
                            .namespaces
                            .insert(name, ns.metadata.labels.clone().unwrap_or_default());
                    }
                    Change::Delete(ns) => {
                        listers
                            .namespaces
                            .remove(ns.metadata.name.as_deref().unwrap_or(""));
                    }
                }
            }
            ClusterUpdate::Pdb(change) => match change {
                Change::Upsert(pdb) => {
                    let k = key(pdb.metadata.namespace.as_ref(), pdb.metadata.name.as_ref());
                    self.snapshot.listers.pdbs.insert(k, PdbInfo::new(&pdb));
                }
                Change::Delete(pdb) => {
                    let k = key(pdb.metadata.namespace.as_ref(), pdb.metadata.name.as_ref());
                    self.snapshot.listers.pdbs.remove(&k);
                }
            },
            ClusterUpdate::Pvc(change) => {
                let (obj, upsert) = split(change);
                let k = key(obj.metadata.namespace.as_ref(), obj.metadata.name.as_ref());
                if upsert {
                    self.snapshot.listers.pvcs.insert(k, obj);
                    self.move_pods(
                        volume_event(EventResource::PersistentVolumeClaim, "PvcAddOrUpdate"),
                        EventObjects::Other,
                    );
                } else {
                    self.snapshot.listers.pvcs.remove(&k);
                }
            }
            ClusterUpdate::Pv(change) => {
                let (obj, upsert) = split(change);
                let k = obj.metadata.name.clone().unwrap_or_default();
                if upsert {
                    self.snapshot.listers.pvs.insert(k, obj);
                    self.move_pods(
                        volume_event(EventResource::PersistentVolume, "PvAddOrUpdate"),
                        EventObjects::Other,
                    );
                } else {
                    self.snapshot.listers.pvs.remove(&k);
                }
            }
            ClusterUpdate::StorageClass(change) => {
                let (obj, upsert) = split(change);
                let k = obj.metadata.name.clone().unwrap_or_default();
                if upsert {
                    self.snapshot.listers.storage_classes.insert(k, obj);
                    self.move_pods(
                        volume_event(EventResource::StorageClass, "StorageClassAddOrUpdate"),
                        EventObjects::Other,
                    );
                } else {
                    self.snapshot.listers.storage_classes.remove(&k);
                }
            }
            ClusterUpdate::CsiNode(change) => {
                let (obj, upsert) = split(change);
                let k = obj.metadata.name.clone().unwrap_or_default();
                if upsert {
                    self.snapshot.listers.csi_nodes.insert(k, obj);
                    self.move_pods(
                        volume_event(EventResource::CsiNode, "CSINodeAddOrUpdate"),
                        EventObjects::Other,
                    );
                } else {
                    self.snapshot.listers.csi_nodes.remove(&k);
                }
            }
            ClusterUpdate::Service(change) => {
                let (svc, upsert) = split(change);
                let ns = svc.metadata.namespace.clone().unwrap_or_default();
                let name = svc.metadata.name.clone().unwrap_or_default();
                let services = self.snapshot.listers.services.entry(ns).or_default();
                let selector = svc
                    .spec
                    .as_ref()
                    .and_then(|s| s.selector.clone())
                    .filter(|s| !s.is_empty());
                match (upsert, selector) {
                    (true, Some(selector)) => {
                        services.insert(name, selector);
                    }
                    _ => {
                        services.remove(&name);
                    }
                }
            }
            ClusterUpdate::ReplicaSet(change) => {
                let (rs, upsert) = split(change);
                let selector = rs
                    .spec
                    .as_ref()
                    .and_then(|s| compile_label_selector(Some(&s.selector)).ok());
                self.set_owner("ReplicaSet", &rs.metadata, upsert, selector);
            }
            ClusterUpdate::StatefulSet(change) => {
                let (ss, upsert) = split(change);
                let selector = ss
                    .spec
                    .as_ref()
                    .and_then(|s| compile_label_selector(Some(&s.selector)).ok());
                self.set_owner("StatefulSet", &ss.metadata, upsert, selector);
            }
            ClusterUpdate::ReplicationController(change) => {
                let (rc, upsert) = split(change);
                let selector = rc
                    .spec
                    .as_ref()
                    .and_then(|s| s.selector.as_ref())
                    .map(corten_apimachinery::labels::Selector::from_set);
                self.set_owner("ReplicationController", &rc.metadata, upsert, selector);
            }
            ClusterUpdate::Synced(resource) => {
                if self.waiting_for.remove(&resource) && self.waiting_for.is_empty() {
                    tracing::info!("caches are synced; scheduling starts");
                    if let Some(flag) = &self.synced_flag {
                        flag.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            }
        }
    }

    fn set_owner(
        &mut self,
        kind: &str,
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
        upsert: bool,
        selector: Option<corten_apimachinery::labels::Selector>,
    ) {
        let ns = meta.namespace.as_deref().unwrap_or("");
        let name = meta.name.as_deref().unwrap_or("");
        self.snapshot
            .listers
            .set_owner(kind, ns, name, if upsert { selector } else { None });
    }

    fn apply_node(&mut self, change: Change<Node>) {
        match change {
            Change::Upsert(node) => {
                let name = node.metadata.name.clone().unwrap_or_default();
                let old = self.snapshot.node(&name).map(|n| n.node.clone());
                self.snapshot.upsert_node(node.clone());
                match old {
                    None => self.move_pods(
                        known::NODE_ADD,
                        EventObjects::Node {
                            old: None,
                            new: Some(&node),
                        },
                    ),
                    Some(old) => {
                        let actions = node_update_actions(&old, &node);
                        if !actions.is_empty() {
                            let event = ClusterEvent::new(
                                EventResource::Node,
                                actions,
                                node_update_label(actions),
                            );
                            self.move_pods(
                                event,
                                EventObjects::Node {
                                    old: Some(&old),
                                    new: Some(&node),
                                },
                            );
                        }
                    }
                }
            }
            Change::Delete(node) => {
                let name = node.metadata.name.clone().unwrap_or_default();
                self.snapshot.remove_node(&name);
                self.move_pods(
                    known::NODE_DELETE,
                    EventObjects::Node {
                        old: Some(&node),
                        new: None,
                    },
                );
            }
        }
    }

    fn upsert_pod(&mut self, pod: Arc<Pod>) {
        let info = Arc::new(PodInfo::new(pod.clone()));
        if !info.node_name.is_empty() {
            self.queue.delete(&info.uid);
            self.snapshot.nominations.remove(&info.uid);
            if is_terminal(&pod) {
                // The kubelet released its resources.
                if let Some(old) = self.snapshot.remove_pod(&info.uid) {
                    self.move_pods(
                        known::ASSIGNED_POD_DELETE,
                        EventObjects::Pod {
                            old: Some(&old),
                            new: None,
                        },
                    );
                }
                return;
            }
            let old = self.snapshot.upsert_pod(info.clone());
            let event = match &old {
                None => known::ASSIGNED_POD_ADD,
                Some(old) => {
                    let mut actions = ActionType::default();
                    if old.labels() != info.labels() {
                        actions = actions.or(ActionType::UPDATE_POD_LABEL);
                    }
                    if info.requests.milli_cpu < old.requests.milli_cpu
                        || info.requests.memory < old.requests.memory
                    {
                        actions = actions.or(ActionType::UPDATE_POD_SCALE_DOWN);
                    }
                    if actions.is_empty() {
                        return;
                    }
                    ClusterEvent::new(EventResource::AssignedPod, actions, "AssignedPodUpdate")
                }
            };
            self.move_pods(
                event,
                EventObjects::Pod {
                    old: old.as_deref(),
                    new: Some(&info),
                },
            );
            return;
        }
        let Some(fwk) = self.profiles.get(&info.scheduler_name).cloned() else {
            // Not ours (another scheduler's pod, or its schedulerName changed).
            self.queue.delete(&info.uid);
            return;
        };
        if info.is_terminating() || is_terminal(&pod) {
            self.queue.delete(&info.uid);
            self.snapshot.nominations.remove(&info.uid);
            return;
        }
        if self.snapshot.is_assumed(&info.uid) {
            // Our own status writes while the binding is in flight.
            return;
        }
        let nominated = info.nominated_node_name().to_string();
        if nominated.is_empty() {
            self.snapshot.nominations.remove(&info.uid);
        } else {
            self.snapshot.nominations.add(info.clone(), &nominated);
        }
        let gate: Status = fwk.run_pre_enqueue(&info);
        let now = Instant::now();
        if self.queue.contains(&info.uid) {
            self.queue.update(info, &gate, now);
        } else {
            self.queue.add(info, &gate, now);
        }
    }

    fn delete_pod(&mut self, pod: &Pod) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        self.queue.delete(&uid);
        self.snapshot.nominations.remove(&uid);
        if let Some(old) = self.snapshot.remove_pod(&uid) {
            self.move_pods(
                known::ASSIGNED_POD_DELETE,
                EventObjects::Pod {
                    old: Some(&old),
                    new: None,
                },
            );
        }
    }
}

fn split<T>(change: Change<T>) -> (Arc<T>, bool) {
    match change {
        Change::Upsert(obj) => (obj, true),
        Change::Delete(obj) => (obj, false),
    }
}

fn volume_event(resource: EventResource, label: &'static str) -> ClusterEvent {
    ClusterEvent::new(resource, ActionType::ADD.or(ActionType::UPDATE), label)
}

fn node_update_label(actions: ActionType) -> &'static str {
    if actions.intersects(ActionType::UPDATE_NODE_ALLOCATABLE) {
        "NodeAllocatableChange"
    } else if actions.intersects(ActionType::UPDATE_NODE_LABEL) {
        "NodeLabelChange"
    } else if actions.intersects(ActionType::UPDATE_NODE_TAINT) {
        "NodeTaintChange"
    } else if actions.intersects(ActionType::UPDATE_NODE_CONDITION) {
        "NodeConditionChange"
    } else {
        "NodeAnnotationChange"
    }
}
