//! NodePorts: the host ports a pod asks for must be free on the node.

use crate::cache::Snapshot;
use crate::framework::pod_info::HostPort;
use crate::framework::{
    ActionType, ClusterEventWithHint, EventObjects, EventResource, ExtensionPoints, NodeInfo,
    Plugin, PodInfo, PreFilterOutput, QueueingHint, StateData, Status, state_ref,
};

/// Plugin name.
pub const NAME: &str = "NodePorts";
/// Upstream `ErrReason`.
pub const ERR_REASON: &str = "node(s) didn't have free ports for the requested pod ports";

/// The NodePorts plugin.
#[derive(Debug, Default)]
pub struct NodePorts;

#[derive(Clone)]
struct PreFilterState {
    wanted: Vec<HostPort>,
}

impl Plugin for NodePorts {
    fn name(&self) -> &'static str {
        NAME
    }

    fn extension_points(&self) -> ExtensionPoints {
        ExtensionPoints::PRE_FILTER.or(ExtensionPoints::FILTER)
    }

    fn pre_filter(&self, pod: &PodInfo, _snapshot: &Snapshot) -> PreFilterOutput {
        if pod.host_ports.is_empty() {
            return PreFilterOutput::status(Status::skip());
        }
        PreFilterOutput::with_state(PreFilterState {
            wanted: pod.host_ports.clone(),
        })
    }

    fn filter(
        &self,
        state: Option<&dyn StateData>,
        pod: &PodInfo,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Status {
        let wanted = state_ref::<PreFilterState>(state)
            .map_or(pod.host_ports.as_slice(), |s| s.wanted.as_slice());
        if node.ports_conflict(wanted) {
            Status::unschedulable(ERR_REASON)
        } else {
            Status::success()
        }
    }

    fn events_to_register(&self) -> Vec<ClusterEventWithHint> {
        vec![
            ClusterEventWithHint::with_hint(
                EventResource::AssignedPod,
                ActionType::DELETE,
                |pod, event| match event {
                    EventObjects::Pod {
                        old: Some(deleted), ..
                    } if deleted
                        .host_ports
                        .iter()
                        .any(|d| pod.host_ports.iter().any(|w| w.conflicts_with(d))) =>
                    {
                        QueueingHint::Queue
                    }
                    _ => QueueingHint::Skip,
                },
            ),
            ClusterEventWithHint::always(EventResource::Node, ActionType::ADD),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn pod(ports: serde_json::Value) -> PodInfo {
        PodInfo::new(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "p", "uid": "p"},
            "spec": {"containers": [{"name": "c", "ports": ports}]}}))
            .unwrap(),
        ))
    }

    #[test]
    fn filter_table() {
        let snap = Snapshot::new();
        let mut node = NodeInfo::new(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "n"}})).unwrap(),
        ));
        let mut existing =
            pod(json!([{"containerPort": 1, "hostPort": 8080, "hostIP": "127.0.0.1"}]));
        existing.uid = "e".into();
        node.add_pod(Arc::new(existing));
        let cases = [
            (json!([]), true),
            (
                json!([{"containerPort": 1, "hostPort": 8080, "hostIP": "127.0.0.1"}]),
                false,
            ),
            (json!([{"containerPort": 1, "hostPort": 8080}]), false),
            (
                json!([{"containerPort": 1, "hostPort": 8080, "hostIP": "127.0.0.2"}]),
                true,
            ),
            (
                json!([{"containerPort": 1, "hostPort": 8080, "hostIP": "127.0.0.1", "protocol": "UDP"}]),
                true,
            ),
            (json!([{"containerPort": 1, "hostPort": 9090}]), true),
        ];
        for (ports, want) in cases {
            let p = pod(ports.clone());
            let out = NodePorts.pre_filter(&p, &snap);
            let status = if out.status.is_skip() {
                Status::success()
            } else {
                NodePorts.filter(out.state.as_deref(), &p, &node, &snap)
            };
            assert_eq!(status.is_success(), want, "{ports}");
            if !want {
                assert_eq!(status.message(), ERR_REASON);
                assert_eq!(status.code(), crate::framework::Code::Unschedulable);
            }
        }
    }
}
