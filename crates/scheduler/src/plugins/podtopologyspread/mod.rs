//! PodTopologySpread: spreads matching pods evenly across topology domains.
//! `DoNotSchedule` constraints filter, `ScheduleAnyway` constraints (and the
//! cluster default constraints for pods without any) score.

mod filtering;
mod scoring;

use std::collections::BTreeMap;

use corten_apimachinery::labels::{Operator, Requirement, Selector};
use k8s_openapi::api::core::v1::{Node, TopologySpreadConstraint};

use crate::cache::Snapshot;
use crate::config::args::{PodTopologySpreadArgs, decode};
use crate::framework::node_selector::RequiredNodeAffinity;
use crate::framework::pod_info::compile_label_selector;
use crate::framework::taints::find_untolerated_do_not_schedule;
use crate::framework::{
    ActionType, ClusterEventWithHint, EventObjects, EventResource, ExtensionPoints, NodeInfo,
    Plugin, PodInfo, PreFilterOutput, QueueingHint, StateBox, StateData, Status,
};

/// Plugin name.
pub const NAME: &str = "PodTopologySpread";
/// Upstream `ErrReasonConstraintsNotMatch`.
pub const ERR_CONSTRAINTS_NOT_MATCH: &str = "node(s) didn't match pod topology spread constraints";
/// Upstream `ErrReasonNodeLabelNotMatch`.
pub const ERR_NODE_LABEL_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";
/// `kubernetes.io/hostname`
pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";

/// A constraint with its selector compiled.
#[derive(Debug, Clone)]
pub(crate) struct Constraint {
    pub max_skew: i32,
    pub topology_key: String,
    pub selector: Selector,
    pub min_domains: i32,
    pub honor_node_affinity: bool,
    pub honor_node_taints: bool,
}

impl Constraint {
    /// Whether `node` counts for this constraint under its node inclusion
    /// policies.
    pub fn includes_node(
        &self,
        pod: &PodInfo,
        required: &RequiredNodeAffinity,
        node: &Node,
    ) -> bool {
        if self.honor_node_affinity && !required.matches(node) {
            return false;
        }
        if self.honor_node_taints {
            let taints = node
                .spec
                .as_ref()
                .and_then(|s| s.taints.as_deref())
                .unwrap_or(&[]);
            if find_untolerated_do_not_schedule(taints, pod.tolerations()).is_some() {
                return false;
            }
        }
        true
    }
}

/// Whether the node has every constraint's topology key.
pub(crate) fn node_has_all_keys(
    labels: &BTreeMap<String, String>,
    constraints: &[Constraint],
) -> bool {
    constraints
        .iter()
        .all(|c| labels.contains_key(&c.topology_key))
}

/// Upstream `countPodsMatchSelector`: non-terminating pods of `namespace`
/// matching `selector` (an empty selector counts nothing).
pub(crate) fn count_matching(
    pods: &[std::sync::Arc<PodInfo>],
    selector: &Selector,
    namespace: &str,
) -> i64 {
    if selector.is_empty() {
        return 0;
    }
    pods.iter()
        .filter(|p| !p.is_terminating() && p.namespace == namespace && selector.matches(p.labels()))
        .count() as i64
}

/// The PodTopologySpread plugin.
#[derive(Debug)]
pub struct PodTopologySpread {
    default_constraints: Vec<TopologySpreadConstraint>,
    system_defaulted: bool,
}

fn system_default_constraints() -> Vec<TopologySpreadConstraint> {
    vec![
        TopologySpreadConstraint {
            max_skew: 3,
            topology_key: LABEL_HOSTNAME.into(),
            when_unsatisfiable: "ScheduleAnyway".into(),
            ..TopologySpreadConstraint::default()
        },
        TopologySpreadConstraint {
            max_skew: 5,
            topology_key: "topology.kubernetes.io/zone".into(),
            when_unsatisfiable: "ScheduleAnyway".into(),
            ..TopologySpreadConstraint::default()
        },
    ]
}

impl PodTopologySpread {
    /// Builds the plugin from its args.
    pub fn new(args: Option<&serde_json::Value>) -> Result<Self, String> {
        let args: PodTopologySpreadArgs = decode(args, "args")?;
        let errors = args.validate("args");
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        let system = args.defaulting_type == "System";
        Ok(PodTopologySpread {
            default_constraints: if system {
                system_default_constraints()
            } else {
                args.default_constraints
            },
            system_defaulted: system,
        })
    }

    /// The constraints of `pod` with `action` (`DoNotSchedule` or
    /// `ScheduleAnyway`): its own, or the defaults with the selector of its
    /// Services and controller.
    pub(crate) fn constraints(
        &self,
        pod: &PodInfo,
        action: &str,
        snapshot: &Snapshot,
    ) -> Result<Vec<Constraint>, String> {
        let own = pod
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.topology_spread_constraints.as_deref())
            .unwrap_or(&[]);
        if !own.is_empty() {
            return compile(own, pod, action);
        }
        let mut constraints = compile(&self.default_constraints, pod, action)?;
        if constraints.is_empty() {
            return Ok(constraints);
        }
        let selector = snapshot.listers.default_spread_selector(&pod.pod);
        if selector.is_empty() {
            return Ok(Vec::new());
        }
        for c in &mut constraints {
            c.selector = selector.clone();
        }
        Ok(constraints)
    }

    /// Whether nodes must carry every topology key to be scored.
    pub(crate) fn require_all_topologies(&self, pod: &PodInfo) -> bool {
        let own = pod
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.topology_spread_constraints.as_ref())
            .is_some_and(|c| !c.is_empty());
        own || !self.system_defaulted
    }
}

fn compile(
    constraints: &[TopologySpreadConstraint],
    pod: &PodInfo,
    action: &str,
) -> Result<Vec<Constraint>, String> {
    let mut out = Vec::new();
    for c in constraints
        .iter()
        .filter(|c| c.when_unsatisfiable == action)
    {
        let mut selector = compile_label_selector(c.label_selector.as_ref())?;
        for key in c.match_label_keys.iter().flatten() {
            if let Some(value) = pod.labels().get(key) {
                let requirement = Requirement::new(key, Operator::In, vec![value.clone()])
                    .map_err(|e| e.to_string())?;
                selector = selector.with_requirement(requirement);
            }
        }
        out.push(Constraint {
            max_skew: c.max_skew,
            topology_key: c.topology_key.clone(),
            selector,
            min_domains: c.min_domains.unwrap_or(1),
            honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
            honor_node_taints: c.node_taints_policy.as_deref() == Some("Honor"),
        });
    }
    Ok(out)
}

impl Plugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        NAME
    }

    fn extension_points(&self) -> ExtensionPoints {
        ExtensionPoints::PRE_FILTER
            .or(ExtensionPoints::FILTER)
            .or(ExtensionPoints::PRE_SCORE)
            .or(ExtensionPoints::SCORE)
    }

    fn pre_filter(&self, pod: &PodInfo, snapshot: &Snapshot) -> PreFilterOutput {
        filtering::pre_filter(self, pod, snapshot)
    }

    fn filter(
        &self,
        state: Option<&dyn StateData>,
        pod: &PodInfo,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Status {
        filtering::filter(state, pod, node)
    }

    fn has_pre_filter_extensions(&self) -> bool {
        true
    }

    fn add_pod(&self, state: &mut dyn StateData, pod: &PodInfo, added: &PodInfo, node: &NodeInfo) {
        filtering::update_with_pod(state, pod, added, node, 1);
    }

    fn remove_pod(
        &self,
        state: &mut dyn StateData,
        pod: &PodInfo,
        removed: &PodInfo,
        node: &NodeInfo,
    ) {
        filtering::update_with_pod(state, pod, removed, node, -1);
    }

    fn pre_score(
        &self,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> (Option<StateBox>, Status) {
        scoring::pre_score(self, pod, nodes, snapshot)
    }

    fn score(
        &self,
        state: Option<&dyn StateData>,
        pod: &PodInfo,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Result<i64, Status> {
        Ok(scoring::score(state, pod, node))
    }

    fn normalize_scores(
        &self,
        state: Option<&dyn StateData>,
        _pod: &PodInfo,
        scores: &mut [i64],
    ) -> Status {
        scoring::normalize(state, scores);
        Status::success()
    }

    fn events_to_register(&self) -> Vec<ClusterEventWithHint> {
        vec![
            ClusterEventWithHint::with_hint(
                EventResource::AssignedPod,
                ActionType::ADD
                    .or(ActionType::DELETE)
                    .or(ActionType::UPDATE_POD_LABEL),
                |pod, event| {
                    let EventObjects::Pod { old, new } = event else {
                        return QueueingHint::Skip;
                    };
                    let constraints = pod
                        .pod
                        .spec
                        .as_ref()
                        .and_then(|s| s.topology_spread_constraints.as_deref())
                        .unwrap_or(&[]);
                    if constraints.is_empty() {
                        return QueueingHint::Queue;
                    }
                    let Ok(compiled) = compile(constraints, pod, "DoNotSchedule") else {
                        return QueueingHint::Queue;
                    };
                    let relevant = |other: &PodInfo| {
                        other.namespace == pod.namespace
                            && compiled.iter().any(|c| c.selector.matches(other.labels()))
                    };
                    if old.is_some_and(relevant) || new.is_some_and(relevant) {
                        QueueingHint::Queue
                    } else {
                        QueueingHint::Skip
                    }
                },
            ),
            ClusterEventWithHint::always(
                EventResource::Node,
                ActionType::ADD
                    .or(ActionType::DELETE)
                    .or(ActionType::UPDATE_NODE_LABEL)
                    .or(ActionType::UPDATE_NODE_TAINT),
            ),
        ]
    }
}
