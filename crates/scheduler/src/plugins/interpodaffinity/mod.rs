//! InterPodAffinity: required pod affinity and anti-affinity (of the pod
//! and of the pods already running) filter nodes by topology domain;
//! preferred terms, and existing pods' terms, score them.

mod filtering;
mod scoring;

use std::collections::BTreeMap;
use std::sync::Arc;

use corten_apimachinery::labels::Selector;

use crate::cache::Snapshot;
use crate::config::args::{InterPodAffinityArgs, decode};
use crate::framework::pod_info::AffinityTerm;
use crate::framework::{
    ActionType, ClusterEventWithHint, EventObjects, EventResource, ExtensionPoints, NodeInfo,
    Plugin, PodInfo, PreFilterOutput, QueueingHint, StateBox, StateData, Status,
};
use crate::fxhash::FxHashMap;

/// Plugin name.
pub const NAME: &str = "InterPodAffinity";
/// Upstream `ErrReasonExistingAntiAffinityRulesNotMatch`.
pub const ERR_EXISTING_ANTI_AFFINITY: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";
/// Upstream `ErrReasonAffinityRulesNotMatch`.
pub const ERR_AFFINITY: &str = "node(s) didn't match pod affinity rules";
/// Upstream `ErrReasonAntiAffinityRulesNotMatch`.
pub const ERR_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";

/// Matching term counts per topology domain: key -> value -> count.
/// Nested so lookups borrow `&str` instead of building owned pairs.
pub(crate) type TopologyCounts = FxHashMap<String, FxHashMap<String, i64>>;

/// The count of domain (`key`, `value`).
pub(crate) fn count_of(counts: &TopologyCounts, key: &str, value: &str) -> i64 {
    counts
        .get(key)
        .and_then(|values| values.get(value))
        .copied()
        .unwrap_or(0)
}

/// The InterPodAffinity plugin.
#[derive(Debug)]
pub struct InterPodAffinity {
    args: InterPodAffinityArgs,
}

impl InterPodAffinity {
    /// Builds the plugin from its args.
    pub fn new(args: Option<&serde_json::Value>) -> Result<Self, String> {
        let args: InterPodAffinityArgs = decode(args, "args")?;
        let errors = args.validate("args");
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        Ok(InterPodAffinity { args })
    }
}

/// Adds `delta` to the count of `node`'s domain for `key` (entries that
/// reach zero are removed).
pub(crate) fn update_count(
    counts: &mut TopologyCounts,
    node_labels: &BTreeMap<String, String>,
    key: &str,
    delta: i64,
) {
    let Some(value) = node_labels.get(key) else {
        return;
    };
    if !counts.contains_key(key) {
        counts.insert(key.to_string(), FxHashMap::default());
    }
    let Some(values) = counts.get_mut(key) else {
        return;
    };
    let now = match values.get_mut(value.as_str()) {
        Some(count) => {
            *count += delta;
            *count
        }
        None => {
            values.insert(value.clone(), delta);
            delta
        }
    };
    if now == 0 {
        values.remove(value.as_str());
        if values.is_empty() {
            counts.remove(key);
        }
    }
}

/// Adds the domain counts of `part` to `counts`: merges the counts of the
/// chunks of a parallel scan into what one loop over every node counts.
pub(crate) fn add_counts(counts: &mut TopologyCounts, part: TopologyCounts) {
    for (key, values) in part {
        let into = counts.entry(key).or_default();
        for (value, n) in values {
            *into.entry(value).or_insert(0) += n;
        }
    }
}

/// Whether `pod` matches every term (false for no terms).
pub(crate) fn matches_all_terms(terms: &[AffinityTerm], pod: &PodInfo) -> bool {
    !terms.is_empty() && terms.iter().all(|t| t.matches(pod, None))
}

/// The pod with its terms' namespace selectors resolved into namespace
/// names (upstream `mergeAffinityTermNamespacesIfNotEmpty`), so matching
/// other pods needs no namespace lookups.
pub(crate) fn merge_namespaces(pod: &PodInfo, snapshot: &Snapshot) -> Arc<PodInfo> {
    let resolve = |term: &mut AffinityTerm| {
        if term.namespace_selector.matches_nothing() {
            return;
        }
        for (name, labels) in &snapshot.listers.namespaces {
            if term.namespace_selector.matches(labels) && !term.namespaces.contains(name) {
                term.namespaces.push(name.clone());
            }
        }
        term.namespaces.sort();
        term.namespace_selector = Selector::nothing();
    };
    let mut merged = pod.clone();
    merged.required_affinity_terms.iter_mut().for_each(resolve);
    merged
        .required_anti_affinity_terms
        .iter_mut()
        .for_each(resolve);
    merged
        .preferred_affinity_terms
        .iter_mut()
        .for_each(|w| resolve(&mut w.term));
    merged
        .preferred_anti_affinity_terms
        .iter_mut()
        .for_each(|w| resolve(&mut w.term));
    Arc::new(merged)
}

impl Plugin for InterPodAffinity {
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
        filtering::pre_filter(pod, snapshot)
    }

    fn filter(
        &self,
        state: Option<&dyn StateData>,
        _pod: &PodInfo,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Status {
        filtering::filter(state, node)
    }

    fn has_pre_filter_extensions(&self) -> bool {
        true
    }

    fn add_pod(&self, state: &mut dyn StateData, _pod: &PodInfo, added: &PodInfo, node: &NodeInfo) {
        filtering::update_with_pod(state, added, node, 1);
    }

    fn remove_pod(
        &self,
        state: &mut dyn StateData,
        _pod: &PodInfo,
        removed: &PodInfo,
        node: &NodeInfo,
    ) {
        filtering::update_with_pod(state, removed, node, -1);
    }

    fn pre_score(
        &self,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> (Option<StateBox>, Status) {
        scoring::pre_score(&self.args, pod, nodes, snapshot)
    }

    fn score(
        &self,
        state: Option<&dyn StateData>,
        _pod: &PodInfo,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Result<i64, Status> {
        Ok(scoring::score(state, node))
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
                    let relevant = |other: &PodInfo| {
                        pod.required_affinity_terms
                            .iter()
                            .any(|t| t.matches(other, None))
                            || pod
                                .required_anti_affinity_terms
                                .iter()
                                .any(|t| t.matches(other, None))
                            || other
                                .required_anti_affinity_terms
                                .iter()
                                .any(|t| t.matches(pod, None))
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
                ActionType::ADD.or(ActionType::UPDATE_NODE_LABEL),
            ),
        ]
    }
}
