//! TaintToleration: a pod must tolerate every `NoSchedule`/`NoExecute`
//! taint of a node; nodes with fewer untolerated `PreferNoSchedule` taints
//! score higher.

use k8s_openapi::api::core::v1::Toleration;

use crate::cache::Snapshot;
use crate::framework::taints::{
    PREFER_NO_SCHEDULE, find_untolerated_do_not_schedule, tolerated_by_any,
};
use crate::framework::{
    ActionType, ClusterEventWithHint, EventObjects, EventResource, ExtensionPoints, MAX_NODE_SCORE,
    NodeInfo, Plugin, PodInfo, QueueingHint, StateBox, StateData, Status, default_normalize_score,
    state_ref,
};

/// Plugin name.
pub const NAME: &str = "TaintToleration";

/// The TaintToleration plugin.
#[derive(Debug, Default)]
pub struct TaintToleration;

/// Tolerations that apply to PreferNoSchedule taints.
#[derive(Clone)]
struct PreScoreState {
    tolerations: Vec<Toleration>,
}

/// Upstream's message for an untolerated taint.
pub fn untolerated_message(key: &str, value: &str) -> String {
    format!("node(s) had untolerated taint {{{key}: {value}}}")
}

impl Plugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }

    fn extension_points(&self) -> ExtensionPoints {
        ExtensionPoints::FILTER
            .or(ExtensionPoints::PRE_SCORE)
            .or(ExtensionPoints::SCORE)
    }

    fn filter(
        &self,
        _state: Option<&dyn StateData>,
        pod: &PodInfo,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Status {
        match find_untolerated_do_not_schedule(node.taints(), pod.tolerations()) {
            None => Status::success(),
            Some(taint) => Status::unresolvable(untolerated_message(
                &taint.key,
                taint.value.as_deref().unwrap_or(""),
            )),
        }
    }

    fn pre_score(
        &self,
        pod: &PodInfo,
        _nodes: &[&NodeInfo],
        _snapshot: &Snapshot,
    ) -> (Option<StateBox>, Status) {
        let tolerations = pod
            .tolerations()
            .iter()
            .filter(|t| {
                t.effect
                    .as_deref()
                    .is_none_or(|e| e.is_empty() || e == PREFER_NO_SCHEDULE)
            })
            .cloned()
            .collect();
        (
            Some(Box::new(PreScoreState { tolerations })),
            Status::success(),
        )
    }

    fn score(
        &self,
        state: Option<&dyn StateData>,
        _pod: &PodInfo,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Result<i64, Status> {
        let tolerations =
            state_ref::<PreScoreState>(state).map_or(&[][..], |s| s.tolerations.as_slice());
        let count = node
            .taints()
            .iter()
            .filter(|t| t.effect == PREFER_NO_SCHEDULE && !tolerated_by_any(t, tolerations))
            .count();
        Ok(i64::try_from(count).unwrap_or(i64::MAX))
    }

    fn normalize_scores(
        &self,
        _state: Option<&dyn StateData>,
        _pod: &PodInfo,
        scores: &mut [i64],
    ) -> Status {
        default_normalize_score(MAX_NODE_SCORE, true, scores);
        Status::success()
    }

    fn events_to_register(&self) -> Vec<ClusterEventWithHint> {
        vec![
            ClusterEventWithHint::with_hint(
                EventResource::Node,
                ActionType::ADD.or(ActionType::UPDATE_NODE_TAINT),
                |pod, event| {
                    let EventObjects::Node {
                        new: Some(node), ..
                    } = event
                    else {
                        return QueueingHint::Skip;
                    };
                    let taints = node
                        .spec
                        .as_ref()
                        .and_then(|s| s.taints.as_deref())
                        .unwrap_or(&[]);
                    if find_untolerated_do_not_schedule(taints, pod.tolerations()).is_none() {
                        QueueingHint::Queue
                    } else {
                        QueueingHint::Skip
                    }
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
    use crate::framework::Code;
    use serde_json::json;
    use std::sync::Arc;

    fn node(taints: serde_json::Value) -> NodeInfo {
        NodeInfo::new(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "n"}, "spec": {"taints": taints}}))
                .unwrap(),
        ))
    }
    fn pod(tolerations: serde_json::Value) -> PodInfo {
        PodInfo::new(Arc::new(serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": [], "tolerations": tolerations}})).unwrap()))
    }

    #[test]
    fn filter_table() {
        let snap = Snapshot::new();
        let tainted = node(json!([{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}]));
        let status = TaintToleration.filter(None, &pod(json!([])), &tainted, &snap);
        assert_eq!(status.code(), Code::UnschedulableAndUnresolvable);
        assert_eq!(
            status.message(),
            "node(s) had untolerated taint {dedicated: user1}"
        );
        let ok = pod(
            json!([{"key": "dedicated", "operator": "Equal", "value": "user1", "effect": "NoSchedule"}]),
        );
        assert!(
            TaintToleration
                .filter(None, &ok, &tainted, &snap)
                .is_success()
        );
        let wrong_value = pod(
            json!([{"key": "dedicated", "operator": "Equal", "value": "user2", "effect": "NoSchedule"}]),
        );
        assert!(
            !TaintToleration
                .filter(None, &wrong_value, &tainted, &snap)
                .is_success()
        );
        let soft = node(json!([{"key": "foo", "value": "bar", "effect": "PreferNoSchedule"}]));
        assert!(
            TaintToleration
                .filter(None, &pod(json!([])), &soft, &snap)
                .is_success()
        );
    }

    #[test]
    fn score_prefers_fewer_untolerated_soft_taints() {
        // Upstream "the more intolerable taints a node has, the lower score it gets".
        let snap = Snapshot::new();
        let p = pod(
            json!([{"key": "foo", "operator": "Equal", "value": "bar", "effect": "PreferNoSchedule"}]),
        );
        let nodes = [
            node(json!([])),
            node(json!([{"key": "cpu-type", "value": "arm64", "effect": "PreferNoSchedule"}])),
            node(
                json!([{"key": "cpu-type", "value": "arm64", "effect": "PreferNoSchedule"},
                        {"key": "disk-type", "value": "ssd", "effect": "PreferNoSchedule"}]),
            ),
        ];
        let refs: Vec<&NodeInfo> = nodes.iter().collect();
        let (state, _) = TaintToleration.pre_score(&p, &refs, &snap);
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| {
                TaintToleration
                    .score(state.as_deref(), &p, n, &snap)
                    .unwrap()
            })
            .collect();
        TaintToleration.normalize_scores(None, &p, &mut scores);
        assert_eq!(scores, [100, 50, 0]);
    }
}
