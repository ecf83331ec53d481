//! InterPodAffinity's PreScore, Score and NormalizeScore (upstream
//! `scoring.go`).

use std::collections::BTreeMap;

use super::{TopologyCounts, add_counts, merge_namespaces};
use crate::cache::Snapshot;
use crate::config::args::InterPodAffinityArgs;
use crate::framework::pod_info::AffinityTerm;
use crate::framework::{MAX_NODE_SCORE, NodeInfo, PodInfo, StateBox, StateData, Status, state_ref};
use crate::fxhash::FxHashMap;

/// Score per topology key and value.
#[derive(Clone, Default)]
pub(super) struct PreScoreState {
    topology_score: FxHashMap<String, FxHashMap<String, i64>>,
}

fn process_term(
    scores: &mut FxHashMap<String, FxHashMap<String, i64>>,
    term: &AffinityTerm,
    weight: i64,
    pod: &PodInfo,
    namespace_labels: Option<&BTreeMap<String, String>>,
    node: &NodeInfo,
    multiplier: i64,
) {
    if !term.matches(pod, namespace_labels) {
        return;
    }
    let Some(value) = node.labels().get(&term.topology_key) else {
        return;
    };
    if !scores.contains_key(&term.topology_key) {
        scores.insert(term.topology_key.clone(), FxHashMap::default());
    }
    let Some(values) = scores.get_mut(&term.topology_key) else {
        return;
    };
    match values.get_mut(value.as_str()) {
        Some(score) => *score += weight * multiplier,
        None => {
            values.insert(value.clone(), weight * multiplier);
        }
    }
}

pub(super) fn pre_score(
    args: &InterPodAffinityArgs,
    pod: &PodInfo,
    nodes: &[&NodeInfo],
    snapshot: &Snapshot,
) -> (Option<StateBox>, Status) {
    if nodes.is_empty() {
        return (None, Status::skip());
    }
    let has_constraints =
        !pod.preferred_affinity_terms.is_empty() || !pod.preferred_anti_affinity_terms.is_empty();
    if args.ignore_preferred_terms_of_existing_pods && !has_constraints {
        return (None, Status::skip());
    }
    if !has_constraints && !snapshot.has_pods_with_affinity() {
        return (None, Status::skip());
    }
    let incoming = merge_namespaces(pod, snapshot);
    let namespace_labels = snapshot
        .listers
        .namespace_labels(&pod.namespace)
        .cloned()
        .unwrap_or_default();
    // Every node's pods are visited: spread over the scheduler's workers,
    // each chunk summing into its own map (sums are order-free).
    let scan = |scores: &mut TopologyCounts, i: usize| {
        let node = snapshot.nth_node(i);
        if node.labels().is_empty() {
            return;
        }
        let existing_pods = if has_constraints {
            &node.pods
        } else {
            &node.pods_with_affinity
        };
        for existing in existing_pods {
            for w in &incoming.preferred_affinity_terms {
                process_term(scores, &w.term, w.weight, existing, None, node, 1);
            }
            for w in &incoming.preferred_anti_affinity_terms {
                process_term(scores, &w.term, w.weight, existing, None, node, -1);
            }
            if args.hard_pod_affinity_weight > 0 {
                for term in &existing.required_affinity_terms {
                    process_term(
                        scores,
                        term,
                        args.hard_pod_affinity_weight,
                        pod,
                        Some(&namespace_labels),
                        node,
                        1,
                    );
                }
            }
            for w in &existing.preferred_affinity_terms {
                process_term(
                    scores,
                    &w.term,
                    w.weight,
                    pod,
                    Some(&namespace_labels),
                    node,
                    1,
                );
            }
            for w in &existing.preferred_anti_affinity_terms {
                process_term(
                    scores,
                    &w.term,
                    w.weight,
                    pod,
                    Some(&namespace_labels),
                    node,
                    -1,
                );
            }
        }
    };
    let scores = snapshot.parallelizer().fold(
        snapshot.num_nodes(),
        TopologyCounts::default,
        scan,
        add_counts,
    );
    if scores.is_empty() {
        return (None, Status::skip());
    }
    (
        Some(Box::new(PreScoreState {
            topology_score: scores,
        })),
        Status::success(),
    )
}

pub(super) fn score(state: Option<&dyn StateData>, node: &NodeInfo) -> i64 {
    let Some(s) = state_ref::<PreScoreState>(state) else {
        return 0;
    };
    let labels = node.labels();
    s.topology_score
        .iter()
        .filter_map(|(key, values)| labels.get(key).and_then(|v| values.get(v)))
        .sum()
}

pub(super) fn normalize(state: Option<&dyn StateData>, scores: &mut [i64]) {
    if state_ref::<PreScoreState>(state).is_none_or(|s| s.topology_score.is_empty()) {
        return;
    }
    let (min, max) = scores
        .iter()
        .fold((i64::MAX, i64::MIN), |(lo, hi), s| (lo.min(*s), hi.max(*s)));
    let diff = max - min;
    for score in scores.iter_mut() {
        *score = if diff > 0 {
            (MAX_NODE_SCORE as f64 * ((*score - min) as f64 / diff as f64)) as i64
        } else {
            0
        };
    }
}

#[cfg(test)]
mod tests {
    use super::super::InterPodAffinity;
    use super::*;
    use crate::framework::Plugin;
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn preferred_affinity_and_anti_affinity_score_by_zone() {
        let mut snap = Snapshot::new();
        for (name, zone) in [("n1", "z1"), ("n2", "z2"), ("n3", "z3")] {
            snap.upsert_node(Arc::new(
                serde_json::from_value(
                    json!({"metadata": {"name": name, "labels": {"zone": zone}}}),
                )
                .unwrap(),
            ));
        }
        let existing = |name: &str, node: &str, app: &str| {
            Arc::new(PodInfo::new(Arc::new(serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "default", "uid": name, "labels": {"app": app}},
                "spec": {"nodeName": node, "containers": []}})).unwrap())))
        };
        snap.upsert_pod(existing("db", "n1", "db"));
        snap.upsert_pod(existing("noisy", "n2", "noisy"));
        snap.prepare();
        let pod = PodInfo::new(Arc::new(serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": [], "affinity": {
                "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 5, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone"}}]},
                "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 5, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "noisy"}}, "topologyKey": "zone"}}]}}}})).unwrap()));
        let plugin = InterPodAffinity::new(None).unwrap();
        let nodes: Vec<&NodeInfo> = snap.nodes().collect();
        let (state, status) = plugin.pre_score(&pod, &nodes, &snap);
        assert!(status.is_success());
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| plugin.score(state.as_deref(), &pod, n, &snap).unwrap())
            .collect();
        assert_eq!(scores, [5, -5, 0]);
        plugin.normalize_scores(state.as_deref(), &pod, &mut scores);
        assert_eq!(scores, [100, 0, 50]);
    }
}
