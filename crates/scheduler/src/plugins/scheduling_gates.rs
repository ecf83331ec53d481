//! SchedulingGates: pods with `spec.schedulingGates` wait outside the
//! active queue until every gate is removed.

use crate::framework::{
    ActionType, ClusterEventWithHint, EventObjects, EventResource, ExtensionPoints, Plugin,
    PodInfo, QueueingHint, Status,
};

/// Plugin name.
pub const NAME: &str = "SchedulingGates";

/// The SchedulingGates plugin.
#[derive(Debug, Default)]
pub struct SchedulingGates;

fn gates(pod: &PodInfo) -> Vec<String> {
    pod.pod
        .spec
        .as_ref()
        .and_then(|s| s.scheduling_gates.as_ref())
        .map(|g| g.iter().map(|g| g.name.clone()).collect())
        .unwrap_or_default()
}

impl Plugin for SchedulingGates {
    fn name(&self) -> &'static str {
        NAME
    }

    fn extension_points(&self) -> ExtensionPoints {
        ExtensionPoints::PRE_ENQUEUE
    }

    fn pre_enqueue(&self, pod: &PodInfo) -> Status {
        let gates = gates(pod);
        if gates.is_empty() {
            return Status::success();
        }
        Status::unresolvable(format!(
            "waiting for scheduling gates: [{}]",
            gates.join(" ")
        ))
    }

    fn events_to_register(&self) -> Vec<ClusterEventWithHint> {
        vec![ClusterEventWithHint::with_hint(
            EventResource::UnscheduledPod,
            ActionType::UPDATE_POD_SCHEDULING_GATES_ELIMINATED,
            |pod, event| match event {
                EventObjects::Pod { new: Some(new), .. }
                    if new.uid == pod.uid && gates(new).is_empty() =>
                {
                    QueueingHint::Queue
                }
                _ => QueueingHint::Skip,
            },
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn gated_pods_wait() {
        let pod = |gates: serde_json::Value| {
            PodInfo::new(Arc::new(
                serde_json::from_value(json!({
            "metadata": {"name": "p"}, "spec": {"containers": [], "schedulingGates": gates}}))
                .unwrap(),
            ))
        };
        let status = SchedulingGates.pre_enqueue(&pod(json!([{"name": "a"}, {"name": "b"}])));
        assert_eq!(
            status.code(),
            crate::framework::Code::UnschedulableAndUnresolvable
        );
        assert_eq!(status.message(), "waiting for scheduling gates: [a b]");
        assert!(SchedulingGates.pre_enqueue(&pod(json!([]))).is_success());
    }
}
