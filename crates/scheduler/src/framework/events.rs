//! Cluster events that can make an unschedulable pod schedulable, and the
//! per-plugin "queueing hints" that decide whether a given event is worth
//! retrying a given pod for (upstream `framework.ClusterEvent`,
//! `QueueingHintFn`).

use std::fmt;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use super::pod_info::PodInfo;

/// The kind of object an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventResource {
    /// A pod bound to a node.
    AssignedPod,
    /// The pending pod itself was updated.
    UnscheduledPod,
    /// A Node.
    Node,
    /// A PersistentVolume.
    PersistentVolume,
    /// A PersistentVolumeClaim.
    PersistentVolumeClaim,
    /// A StorageClass.
    StorageClass,
    /// A CSINode.
    CsiNode,
    /// A Namespace.
    Namespace,
    /// Anything (periodic flushes, forced moves).
    WildCard,
}

/// What happened, as a bit set (upstream `framework.ActionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ActionType(pub u32);

impl ActionType {
    /// Created.
    pub const ADD: ActionType = ActionType(1);
    /// Deleted.
    pub const DELETE: ActionType = ActionType(1 << 1);
    /// Node allocatable changed.
    pub const UPDATE_NODE_ALLOCATABLE: ActionType = ActionType(1 << 2);
    /// Node labels changed.
    pub const UPDATE_NODE_LABEL: ActionType = ActionType(1 << 3);
    /// Node taints or `spec.unschedulable` changed.
    pub const UPDATE_NODE_TAINT: ActionType = ActionType(1 << 4);
    /// Node conditions changed.
    pub const UPDATE_NODE_CONDITION: ActionType = ActionType(1 << 5);
    /// Node annotations changed.
    pub const UPDATE_NODE_ANNOTATION: ActionType = ActionType(1 << 6);
    /// Pod labels changed.
    pub const UPDATE_POD_LABEL: ActionType = ActionType(1 << 7);
    /// Pod requests went down.
    pub const UPDATE_POD_SCALE_DOWN: ActionType = ActionType(1 << 8);
    /// Pod tolerations changed.
    pub const UPDATE_POD_TOLERATION: ActionType = ActionType(1 << 9);
    /// The last scheduling gate was removed.
    pub const UPDATE_POD_SCHEDULING_GATES_ELIMINATED: ActionType = ActionType(1 << 10);
    /// Any other update.
    pub const UPDATE_OTHER: ActionType = ActionType(1 << 11);
    /// Every kind of update.
    pub const UPDATE: ActionType = ActionType(
        (1 << 2)
            | (1 << 3)
            | (1 << 4)
            | (1 << 5)
            | (1 << 6)
            | (1 << 7)
            | (1 << 8)
            | (1 << 9)
            | (1 << 10)
            | (1 << 11),
    );
    /// Everything.
    pub const ALL: ActionType = ActionType(u32::MAX);

    /// The union.
    pub const fn or(self, other: ActionType) -> ActionType {
        ActionType(self.0 | other.0)
    }

    /// Whether any bit is shared.
    pub fn intersects(self, other: ActionType) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether no bit is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// One cluster event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClusterEvent {
    /// What kind of object.
    pub resource: EventResource,
    /// What happened.
    pub action: ActionType,
    /// The upstream event label (`NodeAdd`, `AssignedPodDelete`, ...) for
    /// metrics and logs.
    pub label: &'static str,
}

impl ClusterEvent {
    /// An event of `resource` with `action`.
    pub const fn new(resource: EventResource, action: ActionType, label: &'static str) -> Self {
        ClusterEvent {
            resource,
            action,
            label,
        }
    }

    /// Whether a registration (`self`) covers the event `other`.
    pub fn covers(&self, other: &ClusterEvent) -> bool {
        (self.resource == EventResource::WildCard || self.resource == other.resource)
            && self.action.intersects(other.action)
    }
}

impl fmt::Display for ClusterEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label)
    }
}

/// Well-known events.
pub mod known {
    use super::*;

    /// A node was added.
    pub const NODE_ADD: ClusterEvent =
        ClusterEvent::new(EventResource::Node, ActionType::ADD, "NodeAdd");
    /// A node was deleted.
    pub const NODE_DELETE: ClusterEvent =
        ClusterEvent::new(EventResource::Node, ActionType::DELETE, "NodeDelete");
    /// An assigned pod was added.
    pub const ASSIGNED_POD_ADD: ClusterEvent = ClusterEvent::new(
        EventResource::AssignedPod,
        ActionType::ADD,
        "AssignedPodAdd",
    );
    /// An assigned pod was deleted.
    pub const ASSIGNED_POD_DELETE: ClusterEvent = ClusterEvent::new(
        EventResource::AssignedPod,
        ActionType::DELETE,
        "AssignedPodDelete",
    );
    /// Pods stayed unschedulable for too long.
    pub const UNSCHEDULABLE_TIMEOUT: ClusterEvent = ClusterEvent::new(
        EventResource::WildCard,
        ActionType::ALL,
        "UnschedulableTimeout",
    );
    /// Everything is retried (e.g. after a binding failure freed space).
    pub const FORCE_ACTIVATE: ClusterEvent =
        ClusterEvent::new(EventResource::WildCard, ActionType::ALL, "ForceActivate");
}

/// What a hint says about one (pod, event) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueingHint {
    /// The event may make the pod schedulable: retry it.
    Queue,
    /// The event cannot help this pod.
    Skip,
}

/// The objects of an event, old and new.
#[derive(Debug, Clone, Copy)]
pub enum EventObjects<'a> {
    /// A node event.
    Node {
        /// Before (None on add).
        old: Option<&'a Node>,
        /// After (None on delete).
        new: Option<&'a Node>,
    },
    /// A pod event.
    Pod {
        /// Before (None on add).
        old: Option<&'a PodInfo>,
        /// After (None on delete).
        new: Option<&'a PodInfo>,
    },
    /// An event whose objects plugins do not look at.
    Other,
}

/// Decides whether an event is worth retrying a pending pod for.
pub type QueueingHintFn = Arc<dyn Fn(&PodInfo, &EventObjects<'_>) -> QueueingHint + Send + Sync>;

/// An event a plugin registers, with its optional hint (no hint means
/// "always retry").
#[derive(Clone)]
pub struct ClusterEventWithHint {
    /// The event.
    pub event: ClusterEvent,
    /// The hint, if any.
    pub hint: Option<QueueingHintFn>,
}

impl fmt::Debug for ClusterEventWithHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterEventWithHint")
            .field("event", &self.event)
            .field("hint", &self.hint.is_some())
            .finish()
    }
}

impl ClusterEventWithHint {
    /// An event without a hint.
    pub fn always(resource: EventResource, action: ActionType) -> Self {
        ClusterEventWithHint {
            event: ClusterEvent::new(resource, action, ""),
            hint: None,
        }
    }

    /// An event with a hint.
    pub fn with_hint(
        resource: EventResource,
        action: ActionType,
        hint: impl Fn(&PodInfo, &EventObjects<'_>) -> QueueingHint + Send + Sync + 'static,
    ) -> Self {
        ClusterEventWithHint {
            event: ClusterEvent::new(resource, action, ""),
            hint: Some(Arc::new(hint)),
        }
    }
}

/// The update actions between two versions of a node (upstream
/// `nodeSchedulingPropertiesChange`). Empty when nothing the scheduler
/// looks at changed (heartbeats).
pub fn node_update_actions(old: &Node, new: &Node) -> ActionType {
    let mut action = ActionType::default();
    let allocatable = |n: &Node| n.status.as_ref().and_then(|s| s.allocatable.clone());
    if allocatable(old) != allocatable(new) {
        action = action.or(ActionType::UPDATE_NODE_ALLOCATABLE);
    }
    if old.metadata.labels != new.metadata.labels {
        action = action.or(ActionType::UPDATE_NODE_LABEL);
    }
    let taints = |n: &Node| {
        n.spec
            .as_ref()
            .map(|s| (s.taints.clone(), s.unschedulable.unwrap_or(false)))
    };
    if taints(old) != taints(new) {
        action = action.or(ActionType::UPDATE_NODE_TAINT);
    }
    let conditions = |n: &Node| {
        n.status.as_ref().map(|s| {
            s.conditions
                .iter()
                .flatten()
                .map(|c| (c.type_.clone(), c.status.clone()))
                .collect::<Vec<_>>()
        })
    };
    if conditions(old) != conditions(new) {
        action = action.or(ActionType::UPDATE_NODE_CONDITION);
    }
    if old.metadata.annotations != new.metadata.annotations {
        action = action.or(ActionType::UPDATE_NODE_ANNOTATION);
    }
    action
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn registrations_cover_events() {
        let reg = ClusterEvent::new(
            EventResource::Node,
            ActionType::ADD.or(ActionType::UPDATE_NODE_TAINT),
            "",
        );
        assert!(reg.covers(&known::NODE_ADD));
        assert!(!reg.covers(&known::NODE_DELETE));
        assert!(!reg.covers(&known::ASSIGNED_POD_DELETE));
        let wild = ClusterEvent::new(EventResource::WildCard, ActionType::ALL, "");
        assert!(wild.covers(&known::ASSIGNED_POD_DELETE));
    }

    #[test]
    fn node_updates_are_classified() {
        let old: Node = serde_json::from_value(json!({"metadata": {"name": "n", "labels": {"a": "1"}},
            "status": {"allocatable": {"cpu": "1"}, "conditions": [{"type": "Ready", "status": "True"}]}}))
        .unwrap();
        let mut new = old.clone();
        assert!(node_update_actions(&old, &new).is_empty());
        new.metadata
            .labels
            .as_mut()
            .unwrap()
            .insert("b".into(), "2".into());
        assert_eq!(
            node_update_actions(&old, &new),
            ActionType::UPDATE_NODE_LABEL
        );
        let mut tainted = old.clone();
        tainted.spec = Some(serde_json::from_value(json!({"unschedulable": true})).unwrap());
        assert!(node_update_actions(&old, &tainted).intersects(ActionType::UPDATE_NODE_TAINT));
    }
}
