//! NodeAffinity: `spec.nodeSelector` and required node affinity filter
//! nodes; preferred terms score them. The `addedAffinity` argument applies
//! extra affinity to every pod of the profile.

use std::sync::Arc;

use crate::cache::Snapshot;
use crate::config::args::{NodeAffinityArgs, decode};
use crate::framework::node_selector::{CompiledNodeSelector, PreferredTerms, RequiredNodeAffinity};
use crate::framework::{
    ActionType, ClusterEventWithHint, EventObjects, EventResource, ExtensionPoints, MAX_NODE_SCORE,
    NodeInfo, Plugin, PodInfo, PreFilterOutput, QueueingHint, StateBox, StateData, Status,
    default_normalize_score, state_ref,
};

/// Plugin name.
pub const NAME: &str = "NodeAffinity";
/// Upstream `ErrReasonPod`.
pub const ERR_REASON_POD: &str = "node(s) didn't match Pod's node affinity/selector";
/// Upstream `errReasonEnforced`.
pub const ERR_REASON_ENFORCED: &str = "node(s) didn't match scheduler-enforced node affinity";
/// Upstream `errReasonConflict`.
pub const ERR_REASON_CONFLICT: &str = "pod affinity terms conflict";

/// The NodeAffinity plugin.
#[derive(Debug, Default)]
pub struct NodeAffinity {
    added_required: Option<Arc<CompiledNodeSelector>>,
    added_preferred: PreferredTerms,
}

#[derive(Clone)]
struct PreFilterState {
    required: RequiredNodeAffinity,
}

#[derive(Clone)]
struct PreScoreState {
    preferred: PreferredTerms,
}

impl NodeAffinity {
    /// Builds the plugin from its args.
    pub fn new(args: Option<&serde_json::Value>) -> Result<Self, String> {
        let args: NodeAffinityArgs = decode(args, "args")?;
        let errors = args.validate("args");
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        let added = args.added_affinity.unwrap_or_default();
        Ok(NodeAffinity {
            added_required: added
                .required_during_scheduling_ignored_during_execution
                .as_ref()
                .map(|s| Arc::new(CompiledNodeSelector::new(s))),
            added_preferred: PreferredTerms::new(
                added
                    .preferred_during_scheduling_ignored_during_execution
                    .as_deref()
                    .unwrap_or(&[]),
            ),
        })
    }

    fn matches_required(
        &self,
        required: &RequiredNodeAffinity,
        node: &k8s_openapi::api::core::v1::Node,
    ) -> bool {
        self.added_required.as_ref().is_none_or(|s| s.matches(node)) && required.matches(node)
    }
}

fn pod_preferred(pod: &PodInfo) -> PreferredTerms {
    let terms = pod
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.preferred_during_scheduling_ignored_during_execution
                .as_deref()
        })
        .unwrap_or(&[]);
    PreferredTerms::new(terms)
}

impl Plugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn extension_points(&self) -> ExtensionPoints {
        ExtensionPoints::PRE_FILTER
            .or(ExtensionPoints::FILTER)
            .or(ExtensionPoints::PRE_SCORE)
            .or(ExtensionPoints::SCORE)
    }

    fn pre_filter(&self, pod: &PodInfo, _snapshot: &Snapshot) -> PreFilterOutput {
        let required = RequiredNodeAffinity::of_pod(&pod.pod);
        if required.is_empty() && self.added_required.is_none() {
            return PreFilterOutput::status(Status::skip());
        }
        let node_names = required
            .required()
            .and_then(CompiledNodeSelector::pinned_names);
        if node_names.as_ref().is_some_and(Vec::is_empty) {
            return PreFilterOutput::status(Status::unresolvable(ERR_REASON_CONFLICT));
        }
        PreFilterOutput {
            state: Some(Box::new(PreFilterState { required })),
            node_names,
            status: Status::success(),
        }
    }

    fn filter(
        &self,
        state: Option<&dyn StateData>,
        pod: &PodInfo,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Status {
        if let Some(added) = &self.added_required
            && !added.matches(&node.node)
        {
            return Status::unresolvable(ERR_REASON_ENFORCED);
        }
        let matched = match state_ref::<PreFilterState>(state) {
            Some(s) => s.required.matches(&node.node),
            None => RequiredNodeAffinity::of_pod(&pod.pod).matches(&node.node),
        };
        if matched {
            Status::success()
        } else {
            Status::unresolvable(ERR_REASON_POD)
        }
    }

    fn pre_score(
        &self,
        pod: &PodInfo,
        _nodes: &[&NodeInfo],
        _snapshot: &Snapshot,
    ) -> (Option<StateBox>, Status) {
        let preferred = pod_preferred(pod);
        if preferred.is_empty() && self.added_preferred.is_empty() {
            return (None, Status::skip());
        }
        (
            Some(Box::new(PreScoreState { preferred })),
            Status::success(),
        )
    }

    fn score(
        &self,
        state: Option<&dyn StateData>,
        pod: &PodInfo,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Result<i64, Status> {
        let own = match state_ref::<PreScoreState>(state) {
            Some(s) => s.preferred.score(&node.node),
            None => pod_preferred(pod).score(&node.node),
        };
        Ok(own + self.added_preferred.score(&node.node))
    }

    fn normalize_scores(
        &self,
        _state: Option<&dyn StateData>,
        _pod: &PodInfo,
        scores: &mut [i64],
    ) -> Status {
        default_normalize_score(MAX_NODE_SCORE, false, scores);
        Status::success()
    }

    fn events_to_register(&self) -> Vec<ClusterEventWithHint> {
        let added = self.added_required.clone();
        let this = NodeAffinity {
            added_required: added,
            added_preferred: PreferredTerms::default(),
        };
        vec![ClusterEventWithHint::with_hint(
            EventResource::Node,
            ActionType::ADD.or(ActionType::UPDATE_NODE_LABEL),
            move |pod, event| match event {
                EventObjects::Node {
                    new: Some(node), ..
                } if this.matches_required(&RequiredNodeAffinity::of_pod(&pod.pod), node) => {
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
    use crate::framework::Code;
    use serde_json::json;

    fn node(name: &str, labels: serde_json::Value) -> NodeInfo {
        NodeInfo::new(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap(),
        ))
    }
    fn pod(spec: serde_json::Value) -> PodInfo {
        let mut spec = spec;
        spec["containers"] = json!([]);
        PodInfo::new(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).unwrap(),
        ))
    }

    fn run_filter(plugin: &NodeAffinity, p: &PodInfo, n: &NodeInfo) -> Status {
        let snap = Snapshot::new();
        let out = plugin.pre_filter(p, &snap);
        if out.status.is_skip() {
            return plugin.filter(None, p, n, &snap);
        }
        plugin.filter(out.state.as_deref(), p, n, &snap)
    }

    #[test]
    fn filter_table() {
        let plugin = NodeAffinity::default();
        let n = node("n1", json!({"foo": "bar", "zone": "a"}));
        let cases = [
            (json!({}), true),
            (json!({"nodeSelector": {"foo": "bar"}}), true),
            (json!({"nodeSelector": {"foo": "baz"}}), false),
            (
                json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}}}),
                true,
            ),
            (
                json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}]}}}}),
                false,
            ),
            (
                json!({"nodeSelector": {"foo": "bar"}, "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]}]}}}}),
                false,
            ),
        ];
        for (spec, want) in cases {
            let status = run_filter(&plugin, &pod(spec.clone()), &n);
            assert_eq!(status.is_success(), want, "{spec}");
            if !want {
                assert_eq!(status.message(), ERR_REASON_POD);
                assert_eq!(status.code(), Code::UnschedulableAndUnresolvable);
            }
        }
    }

    #[test]
    fn pre_filter_pins_node_names() {
        let plugin = NodeAffinity::default();
        let snap = Snapshot::new();
        let p = pod(
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1", "n2"]}]}]}}}}),
        );
        assert_eq!(
            plugin.pre_filter(&p, &snap).node_names,
            Some(vec!["n1".to_string(), "n2".to_string()])
        );
        let conflict = pod(
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]},
                             {"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]}}}}),
        );
        assert_eq!(
            plugin.pre_filter(&conflict, &snap).status.message(),
            ERR_REASON_CONFLICT
        );
    }

    #[test]
    fn added_affinity_is_enforced_and_scored() {
        let plugin = NodeAffinity::new(Some(&json!({"addedAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "Exists"}]}]},
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 5, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}}]
        }}))).unwrap();
        let status = run_filter(&plugin, &pod(json!({})), &node("x", json!({})));
        assert_eq!(status.message(), ERR_REASON_ENFORCED);
        assert!(
            run_filter(&plugin, &pod(json!({})), &node("x", json!({"zone": "b"}))).is_success()
        );
        let snap = Snapshot::new();
        let p = pod(
            json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 2, "preference": {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}}]}}}),
        );
        let nodes = [
            node("a", json!({"zone": "a", "disk": "1"})),
            node("b", json!({"zone": "b", "disk": "1"})),
            node("c", json!({"zone": "c"})),
        ];
        let refs: Vec<&NodeInfo> = nodes.iter().collect();
        let (state, status) = plugin.pre_score(&p, &refs, &snap);
        assert!(status.is_success());
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| plugin.score(state.as_deref(), &p, n, &snap).unwrap())
            .collect();
        assert_eq!(scores, [7, 2, 0]);
        plugin.normalize_scores(None, &p, &mut scores);
        assert_eq!(scores, [100, 28, 0]);
    }
}
