//! PodTopologySpread's PreFilter and Filter (upstream `filtering.go`).

use super::{
    Constraint, ERR_CONSTRAINTS_NOT_MATCH, ERR_NODE_LABEL_NOT_MATCH, PodTopologySpread,
    count_matching, node_has_all_keys,
};
use crate::cache::Snapshot;
use crate::framework::node_selector::RequiredNodeAffinity;
use crate::framework::{
    NodeInfo, PodInfo, PreFilterOutput, StateData, Status, state_mut, state_ref,
};
use crate::fxhash::FxHashMap;

#[derive(Clone)]
pub(super) struct PreFilterState {
    constraints: Vec<Constraint>,
    /// Per constraint: matching pods per domain value.
    counts: Vec<FxHashMap<String, i64>>,
    /// Per constraint: the smallest count over the domains.
    min_counts: Vec<i64>,
    required: RequiredNodeAffinity,
}

impl PreFilterState {
    fn refresh_min(&mut self, i: usize) {
        self.min_counts[i] = self.counts[i].values().copied().min().unwrap_or(0);
    }
}

pub(super) fn pre_filter(
    plugin: &PodTopologySpread,
    pod: &PodInfo,
    snapshot: &Snapshot,
) -> PreFilterOutput {
    let constraints = match plugin.constraints(pod, "DoNotSchedule", snapshot) {
        Ok(c) => c,
        Err(err) => {
            return PreFilterOutput::status(Status::error(format!(
                "obtaining pod's hard topology spread constraints: {err}"
            )));
        }
    };
    if constraints.is_empty() {
        return PreFilterOutput::status(Status::skip());
    }
    let required = RequiredNodeAffinity::of_pod(&pod.pod);
    // Every node is visited: spread over the scheduler's workers, each
    // chunk counting into its own maps (sums are order-free).
    let counts = snapshot.parallelizer().fold(
        snapshot.num_nodes(),
        || vec![FxHashMap::<String, i64>::default(); constraints.len()],
        |counts, n| {
            let node = snapshot.nth_node(n);
            let labels = node.labels();
            if !node_has_all_keys(labels, &constraints) {
                return;
            }
            for (i, c) in constraints.iter().enumerate() {
                if !c.includes_node(pod, &required, &node.node) {
                    continue;
                }
                let value = labels.get(&c.topology_key).map_or("", String::as_str);
                let count = count_matching(&node.pods, &c.selector, &pod.namespace);
                match counts[i].get_mut(value) {
                    Some(total) => *total += count,
                    None => {
                        counts[i].insert(value.to_string(), count);
                    }
                }
            }
        },
        |counts, part| {
            for (into, more) in counts.iter_mut().zip(part) {
                for (value, count) in more {
                    *into.entry(value).or_insert(0) += count;
                }
            }
        },
    );
    let mut state = PreFilterState {
        min_counts: vec![0; constraints.len()],
        constraints,
        counts,
        required,
    };
    for i in 0..state.constraints.len() {
        state.refresh_min(i);
    }
    PreFilterOutput::with_state(state)
}

pub(super) fn update_with_pod(
    state: &mut dyn StateData,
    pod: &PodInfo,
    other: &PodInfo,
    node: &NodeInfo,
    delta: i64,
) {
    let Some(s) = state_mut::<PreFilterState>(state) else {
        return;
    };
    if other.namespace != pod.namespace || !node.present {
        return;
    }
    let labels = node.labels();
    if !node_has_all_keys(labels, &s.constraints) {
        return;
    }
    for i in 0..s.constraints.len() {
        let c = &s.constraints[i];
        if !c.selector.matches(other.labels()) || !c.includes_node(pod, &s.required, &node.node) {
            continue;
        }
        let value = labels.get(&c.topology_key).cloned().unwrap_or_default();
        *s.counts[i].entry(value).or_insert(0) += delta;
        s.refresh_min(i);
    }
}

pub(super) fn filter(state: Option<&dyn StateData>, pod: &PodInfo, node: &NodeInfo) -> Status {
    let Some(s) = state_ref::<PreFilterState>(state) else {
        return Status::error("reading PodTopologySpread PreFilter state: not found");
    };
    let labels = node.labels();
    for (i, c) in s.constraints.iter().enumerate() {
        let Some(value) = labels.get(&c.topology_key) else {
            return Status::unresolvable(ERR_NODE_LABEL_NOT_MATCH);
        };
        let domains = s.counts[i].len();
        let min = if i64::try_from(domains).unwrap_or(i64::MAX) < i64::from(c.min_domains) {
            0
        } else {
            s.min_counts[i]
        };
        let self_match = i64::from(c.selector.matches(pod.labels()));
        let matching = s.counts[i].get(value).copied().unwrap_or(0);
        if matching + self_match - min > i64::from(c.max_skew) {
            return Status::unschedulable(ERR_CONSTRAINTS_NOT_MATCH);
        }
    }
    Status::success()
}

#[cfg(test)]
mod tests {
    use super::super::PodTopologySpread;
    use super::*;
    use crate::framework::{Code, Plugin};
    use serde_json::json;
    use std::sync::Arc;

    fn snapshot(nodes: &[(&str, &str)], pods: &[(&str, &str)]) -> Snapshot {
        let mut snap = Snapshot::new();
        for (name, zone) in nodes {
            let mut labels = json!({"kubernetes.io/hostname": name});
            if !zone.is_empty() {
                labels["zone"] = json!(zone);
            }
            snap.upsert_node(Arc::new(
                serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}}))
                    .unwrap(),
            ));
        }
        for (i, (node, app)) in pods.iter().enumerate() {
            snap.upsert_pod(Arc::new(PodInfo::new(Arc::new(serde_json::from_value(json!({
                "metadata": {"name": format!("e{i}"), "namespace": "default", "uid": format!("e{i}"), "labels": {"app": app}},
                "spec": {"nodeName": node, "containers": []}})).unwrap()))));
        }
        snap.prepare();
        snap
    }

    fn pod(constraints: serde_json::Value) -> PodInfo {
        PodInfo::new(Arc::new(
            serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"containers": [], "topologySpreadConstraints": constraints}}))
            .unwrap(),
        ))
    }

    fn statuses(snap: &Snapshot, p: &PodInfo) -> Vec<Status> {
        let plugin = PodTopologySpread::new(None).unwrap();
        let out = plugin.pre_filter(p, snap);
        snap.nodes()
            .map(|n| plugin.filter(out.state.as_deref(), p, n, snap))
            .collect()
    }

    fn zone_constraint(max_skew: i32, extra: serde_json::Value) -> serde_json::Value {
        let mut c = json!({"maxSkew": max_skew, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "web"}}});
        if let (Some(obj), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
            obj.extend(extra.clone());
        }
        json!([c])
    }

    #[test]
    fn skew_against_the_global_minimum() {
        // zone a has 2 web pods, zone b has 0: with maxSkew 1 only b fits.
        let snap = snapshot(
            &[("n1", "a"), ("n2", "b"), ("n3", "")],
            &[("n1", "web"), ("n1", "web"), ("n2", "db")],
        );
        let s = statuses(&snap, &pod(zone_constraint(1, json!({}))));
        assert_eq!(s[0].message(), ERR_CONSTRAINTS_NOT_MATCH);
        assert_eq!(s[0].code(), Code::Unschedulable);
        assert!(s[1].is_success());
        assert_eq!(s[2].message(), ERR_NODE_LABEL_NOT_MATCH);
        assert_eq!(s[2].code(), Code::UnschedulableAndUnresolvable);
        let s = statuses(&snap, &pod(zone_constraint(3, json!({}))));
        assert!(s[0].is_success() && s[1].is_success());
    }

    #[test]
    fn min_domains_treats_missing_domains_as_zero() {
        // Two domains exist, minDomains 3: the global minimum is 0.
        let snap = snapshot(&[("n1", "a"), ("n2", "b")], &[("n1", "web"), ("n2", "web")]);
        let s = statuses(&snap, &pod(zone_constraint(1, json!({"minDomains": 3}))));
        assert!(s.iter().all(|s| !s.is_success()), "{s:?}");
        let s = statuses(&snap, &pod(zone_constraint(1, json!({}))));
        assert!(s.iter().all(Status::is_success));
    }

    #[test]
    fn node_affinity_policy_excludes_domains() {
        let snap = snapshot(&[("n1", "a"), ("n2", "b")], &[("n1", "web")]);
        let mut p = pod(zone_constraint(1, json!({})));
        let mut raw = (*p.pod).clone();
        raw.spec.as_mut().unwrap().node_selector =
            Some([("zone".to_string(), "a".to_string())].into());
        p = PodInfo::new(Arc::new(raw));
        // Honor (default): only zone a counts, so the minimum is 1 and a fits.
        assert!(statuses(&snap, &p)[0].is_success());
    }

    #[test]
    fn add_pod_updates_counts() {
        let snap = snapshot(&[("n1", "a"), ("n2", "b")], &[]);
        let p = pod(zone_constraint(1, json!({})));
        let plugin = PodTopologySpread::new(None).unwrap();
        let mut out = plugin.pre_filter(&p, &snap);
        let n1 = snap.node("n1").unwrap();
        let web = PodInfo::new(Arc::new(
            serde_json::from_value(
                json!({"metadata": {"name": "w", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": []}}),
            )
            .unwrap(),
        ));
        let state = out.state.as_deref_mut().unwrap();
        plugin.add_pod(state, &p, &web, n1);
        assert!(!plugin.filter(Some(state), &p, n1, &snap).is_success());
        plugin.remove_pod(state, &p, &web, n1);
        assert!(plugin.filter(Some(state), &p, n1, &snap).is_success());
    }
}
