//! PodTopologySpread's PreScore, Score and NormalizeScore (upstream
//! `scoring.go`).

use std::collections::{HashMap, HashSet};

use super::{Constraint, LABEL_HOSTNAME, PodTopologySpread, count_matching, node_has_all_keys};
use crate::cache::Snapshot;
use crate::framework::node_selector::RequiredNodeAffinity;
use crate::framework::{MAX_NODE_SCORE, NodeInfo, PodInfo, StateBox, StateData, Status, state_ref};

/// Marks nodes that must not be scored (normalized to 0).
const IGNORED: i64 = i64::MIN;

#[derive(Clone)]
pub(super) struct PreScoreState {
    constraints: Vec<Constraint>,
    ignored_nodes: HashSet<String>,
    /// Matching pods per (constraint index, domain value), for non-hostname keys.
    pair_counts: HashMap<(usize, String), i64>,
    weights: Vec<f64>,
}

/// Upstream `topologyNormalizingWeight`.
fn normalizing_weight(size: usize) -> f64 {
    ((size + 2) as f64).ln()
}

pub(super) fn pre_score(
    plugin: &PodTopologySpread,
    pod: &PodInfo,
    nodes: &[&NodeInfo],
    snapshot: &Snapshot,
) -> (Option<StateBox>, Status) {
    if nodes.is_empty() || snapshot.num_nodes() == 0 {
        return (None, Status::skip());
    }
    let constraints = match plugin.constraints(pod, "ScheduleAnyway", snapshot) {
        Ok(c) => c,
        Err(err) => {
            return (
                None,
                Status::error(format!("calculating preScoreState: {err}")),
            );
        }
    };
    if constraints.is_empty() {
        return (None, Status::skip());
    }
    let require_all = plugin.require_all_topologies(pod);
    let mut ignored_nodes = HashSet::new();
    let mut pair_counts: HashMap<(usize, String), i64> = HashMap::new();
    let mut sizes = vec![0usize; constraints.len()];
    for node in nodes {
        let labels = node.labels();
        if require_all && !node_has_all_keys(labels, &constraints) {
            ignored_nodes.insert(node.name.clone());
            continue;
        }
        for (i, c) in constraints.iter().enumerate() {
            if c.topology_key == LABEL_HOSTNAME {
                continue;
            }
            let value = labels.get(&c.topology_key).cloned().unwrap_or_default();
            if let std::collections::hash_map::Entry::Vacant(slot) = pair_counts.entry((i, value)) {
                slot.insert(0);
                sizes[i] += 1;
            }
        }
    }
    let weights = constraints
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let size = if c.topology_key == LABEL_HOSTNAME {
                nodes.len() - ignored_nodes.len()
            } else {
                sizes[i]
            };
            normalizing_weight(size)
        })
        .collect();
    let required = RequiredNodeAffinity::of_pod(&pod.pod);
    if constraints.iter().any(|c| c.topology_key != LABEL_HOSTNAME) {
        // Every node is visited: spread over the scheduler's workers, each
        // chunk counting the domains of `pair_counts` into its own map.
        let found = snapshot.parallelizer().fold(
            snapshot.num_nodes(),
            HashMap::<(usize, String), i64>::new,
            |found, n| {
                let node = snapshot.nth_node(n);
                let labels = node.labels();
                if require_all && !node_has_all_keys(labels, &constraints) {
                    return;
                }
                for (i, c) in constraints.iter().enumerate() {
                    if c.topology_key == LABEL_HOSTNAME
                        || !c.includes_node(pod, &required, &node.node)
                    {
                        continue;
                    }
                    let value = labels.get(&c.topology_key).cloned().unwrap_or_default();
                    let key = (i, value);
                    if pair_counts.contains_key(&key) {
                        *found.entry(key).or_insert(0) +=
                            count_matching(&node.pods, &c.selector, &pod.namespace);
                    }
                }
            },
            |found, part| {
                for (key, count) in part {
                    *found.entry(key).or_insert(0) += count;
                }
            },
        );
        for (key, count) in found {
            if let Some(total) = pair_counts.get_mut(&key) {
                *total += count;
            }
        }
    }
    let state = PreScoreState {
        constraints,
        ignored_nodes,
        pair_counts,
        weights,
    };
    (Some(Box::new(state)), Status::success())
}

pub(super) fn score(state: Option<&dyn StateData>, pod: &PodInfo, node: &NodeInfo) -> i64 {
    let Some(s) = state_ref::<PreScoreState>(state) else {
        return 0;
    };
    if s.ignored_nodes.contains(&node.name) {
        return IGNORED;
    }
    let labels = node.labels();
    let mut score = 0.0;
    for (i, c) in s.constraints.iter().enumerate() {
        let Some(value) = labels.get(&c.topology_key) else {
            continue;
        };
        let count = if c.topology_key == LABEL_HOSTNAME {
            count_matching(&node.pods, &c.selector, &pod.namespace)
        } else {
            s.pair_counts.get(&(i, value.clone())).copied().unwrap_or(0)
        };
        score += count as f64 * s.weights[i] + f64::from(c.max_skew - 1);
    }
    score.round() as i64
}

pub(super) fn normalize(state: Option<&dyn StateData>, scores: &mut [i64]) {
    if state_ref::<PreScoreState>(state).is_none() {
        return;
    }
    let mut min = i64::MAX;
    let mut max = 0i64;
    for &s in scores.iter().filter(|s| **s != IGNORED) {
        min = min.min(s);
        max = max.max(s);
    }
    for s in scores.iter_mut() {
        *s = if *s == IGNORED {
            0
        } else if max == 0 {
            MAX_NODE_SCORE
        } else {
            MAX_NODE_SCORE * (max + min - *s) / max
        };
    }
}

#[cfg(test)]
mod tests {
    use super::super::PodTopologySpread;
    use super::*;
    use crate::framework::Plugin;
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn system_defaults_spread_pods_of_a_service() {
        let mut snap = Snapshot::new();
        for name in ["n1", "n2"] {
            snap.upsert_node(Arc::new(
                serde_json::from_value(json!({"metadata": {"name": name,
                "labels": {"kubernetes.io/hostname": name}}}))
                .unwrap(),
            ));
        }
        snap.listers
            .services
            .entry("default".into())
            .or_default()
            .insert(
                "web".into(),
                [("app".to_string(), "web".to_string())].into(),
            );
        for i in 0..4 {
            snap.upsert_pod(Arc::new(PodInfo::new(Arc::new(serde_json::from_value(json!({
                "metadata": {"name": format!("w{i}"), "namespace": "default", "uid": format!("w{i}"), "labels": {"app": "web"}},
                "spec": {"nodeName": "n1", "containers": []}})).unwrap()))));
        }
        snap.prepare();
        let plugin = PodTopologySpread::new(None).unwrap();
        let nodes: Vec<&NodeInfo> = snap.nodes().collect();
        let web = PodInfo::new(Arc::new(
            serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"containers": []}}))
            .unwrap(),
        ));
        let (state, status) = plugin.pre_score(&web, &nodes, &snap);
        assert!(status.is_success());
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| plugin.score(state.as_deref(), &web, n, &snap).unwrap())
            .collect();
        plugin.normalize_scores(state.as_deref(), &web, &mut scores);
        assert!(scores[1] > scores[0], "{scores:?}");
        // A pod no Service selects gets no default spreading.
        let lonely = PodInfo::new(Arc::new(
            serde_json::from_value(json!({
            "metadata": {"name": "q", "namespace": "default", "labels": {"app": "other"}},
            "spec": {"containers": []}}))
            .unwrap(),
        ));
        assert!(plugin.pre_score(&lonely, &nodes, &snap).1.is_skip());
    }

    #[test]
    fn soft_spreading_prefers_emptier_domains() {
        let mut snap = Snapshot::new();
        for (name, zone) in [("n1", "a"), ("n2", "b"), ("n3", "")] {
            let mut labels = json!({"kubernetes.io/hostname": name});
            if !zone.is_empty() {
                labels["zone"] = json!(zone);
            }
            snap.upsert_node(Arc::new(
                serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}}))
                    .unwrap(),
            ));
        }
        for i in 0..3 {
            snap.upsert_pod(Arc::new(PodInfo::new(Arc::new(serde_json::from_value(json!({
                "metadata": {"name": format!("w{i}"), "namespace": "default", "uid": format!("w{i}"), "labels": {"app": "web"}},
                "spec": {"nodeName": "n1", "containers": []}})).unwrap()))));
        }
        snap.prepare();
        let pod = PodInfo::new(Arc::new(serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"containers": [], "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
                "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {"app": "web"}}}]}})).unwrap()));
        let plugin = PodTopologySpread::new(None).unwrap();
        let nodes: Vec<&NodeInfo> = snap.nodes().collect();
        let (state, status) = plugin.pre_score(&pod, &nodes, &snap);
        assert!(status.is_success());
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| plugin.score(state.as_deref(), &pod, n, &snap).unwrap())
            .collect();
        // 2 domains -> weight ln(4); n1: 3 * 1.386 = 4.16 -> 4; n2: 0; n3 ignored.
        assert_eq!(scores[0], 4);
        assert_eq!(scores[1], 0);
        plugin.normalize_scores(state.as_deref(), &pod, &mut scores);
        assert_eq!(scores, [0, 100, 0]);
    }
}
