//! NodeName: a pod that names a node (`spec.nodeName`) fits only there.

use crate::cache::Snapshot;
use crate::framework::{
    ActionType, ClusterEventWithHint, EventResource, ExtensionPoints, NodeInfo, Plugin, PodInfo,
    StateData, Status,
};

/// Plugin name.
pub const NAME: &str = "NodeName";
/// Upstream `ErrReason`.
pub const ERR_REASON: &str = "node(s) didn't match the requested node name";

/// The NodeName plugin.
#[derive(Debug, Default)]
pub struct NodeName;

impl Plugin for NodeName {
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
        if !pod.node_name.is_empty() && pod.node_name != node.name {
            return Status::unresolvable(ERR_REASON);
        }
        Status::success()
    }

    fn events_to_register(&self) -> Vec<ClusterEventWithHint> {
        vec![ClusterEventWithHint::always(
            EventResource::Node,
            ActionType::ADD,
        )]
    }
}
