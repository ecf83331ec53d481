//! NodeUnschedulable: cordoned nodes (`spec.unschedulable`) take only pods
//! that tolerate the `node.kubernetes.io/unschedulable:NoSchedule` taint.

use k8s_openapi::api::core::v1::Taint;

use crate::cache::Snapshot;
use crate::framework::taints::tolerated_by_any;
use crate::framework::{
    ActionType, ClusterEventWithHint, EventObjects, EventResource, ExtensionPoints, NodeInfo,
    Plugin, PodInfo, QueueingHint, StateData, Status,
};

/// Plugin name.
pub const NAME: &str = "NodeUnschedulable";
/// Upstream `ErrReasonUnschedulable`.
pub const ERR_REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";
/// Upstream `ErrReasonUnknownCondition`.
pub const ERR_REASON_UNKNOWN_CONDITION: &str = "node(s) had unknown conditions";

/// The NodeUnschedulable plugin.
#[derive(Debug, Default)]
pub struct NodeUnschedulable;

fn unschedulable_taint() -> Taint {
    Taint {
        key: "node.kubernetes.io/unschedulable".into(),
        effect: "NoSchedule".into(),
        ..Taint::default()
    }
}

impl Plugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        NAME
    }

    fn extension_points(&self) -> ExtensionPoints {
        ExtensionPoints::FILTER
    }

    fn filter(
        &self,
        _state: Option<&dyn StateData>,
        pod: &PodInfo,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Status {
        if !node.present {
            return Status::unresolvable(ERR_REASON_UNKNOWN_CONDITION);
        }
        if node.unschedulable() && !tolerated_by_any(&unschedulable_taint(), pod.tolerations()) {
            return Status::unresolvable(ERR_REASON_UNSCHEDULABLE);
        }
        Status::success()
    }

    fn events_to_register(&self) -> Vec<ClusterEventWithHint> {
        vec![
            ClusterEventWithHint::with_hint(
                EventResource::Node,
                ActionType::ADD.or(ActionType::UPDATE_NODE_TAINT),
                |_, event| match event {
                    EventObjects::Node {
                        new: Some(node), ..
                    } if !node
                        .spec
                        .as_ref()
                        .and_then(|s| s.unschedulable)
                        .unwrap_or(false) =>
                    {
                        QueueingHint::Queue
                    }
                    _ => QueueingHint::Skip,
                },
            ),
            ClusterEventWithHint::always(
                EventResource::UnscheduledPod,
                ActionType::UPDATE_POD_TOLERATION,
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn cordoned_nodes_need_a_toleration() {
        let node = NodeInfo::new(Arc::new(
            serde_json::from_value(
                json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true}}),
            )
            .unwrap(),
        ));
        let pod = |tol: serde_json::Value| {
            PodInfo::new(Arc::new(serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": [], "tolerations": tol}})).unwrap()))
        };
        let snap = Snapshot::new();
        let status = NodeUnschedulable.filter(None, &pod(json!([])), &node, &snap);
        assert_eq!(status.message(), ERR_REASON_UNSCHEDULABLE);
        assert_eq!(
            status.code(),
            crate::framework::Code::UnschedulableAndUnresolvable
        );
        let tolerant = pod(
            json!([{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]),
        );
        assert!(
            NodeUnschedulable
                .filter(None, &tolerant, &node, &snap)
                .is_success()
        );
        let open = NodeInfo::new(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "n"}})).unwrap(),
        ));
        assert!(
            NodeUnschedulable
                .filter(None, &pod(json!([])), &open, &snap)
                .is_success()
        );
    }
}
