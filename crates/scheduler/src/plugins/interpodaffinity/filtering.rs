//! InterPodAffinity's PreFilter and Filter (upstream `filtering.go`).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{
    ERR_AFFINITY, ERR_ANTI_AFFINITY, ERR_EXISTING_ANTI_AFFINITY, TopologyCounts, add_counts,
    count_of, matches_all_terms, merge_namespaces, update_count,
};
use crate::cache::Snapshot;
use crate::framework::{
    NodeInfo, PodInfo, PreFilterOutput, StateData, Status, state_mut, state_ref,
};

#[derive(Clone)]
pub(super) struct PreFilterState {
    /// Domains where an existing pod's required anti-affinity matches the
    /// incoming pod.
    existing_anti_affinity_counts: TopologyCounts,
    /// Domains with pods matching all the incoming pod's affinity terms.
    affinity_counts: TopologyCounts,
    /// Domains with pods matching the incoming pod's anti-affinity terms.
    anti_affinity_counts: TopologyCounts,
    pod: Arc<PodInfo>,
    namespace_labels: BTreeMap<String, String>,
}

pub(super) fn pre_filter(pod: &PodInfo, snapshot: &Snapshot) -> PreFilterOutput {
    if let Some(err) = &pod.parse_error {
        return PreFilterOutput::status(Status::unresolvable(format!("parsing pod: {err}")));
    }
    let pod = merge_namespaces(pod, snapshot);
    let namespace_labels = snapshot
        .listers
        .namespace_labels(&pod.namespace)
        .cloned()
        .unwrap_or_default();
    // Both scans visit every node: spread them over the scheduler's
    // workers, each chunk counting into its own maps.
    let par = snapshot.parallelizer();
    let n = snapshot.num_nodes();
    let mut existing_anti_affinity_counts = TopologyCounts::default();
    if snapshot.has_pods_with_required_anti_affinity() {
        existing_anti_affinity_counts = par.fold(
            n,
            TopologyCounts::default,
            |counts, i| {
                let node = snapshot.nth_node(i);
                for existing in &node.pods_with_required_anti_affinity {
                    for term in &existing.required_anti_affinity_terms {
                        if term.matches(&pod, Some(&namespace_labels)) {
                            update_count(counts, node.labels(), &term.topology_key, 1);
                        }
                    }
                }
            },
            add_counts,
        );
    }
    let mut affinity_counts = TopologyCounts::default();
    let mut anti_affinity_counts = TopologyCounts::default();
    if !pod.required_affinity_terms.is_empty() || !pod.required_anti_affinity_terms.is_empty() {
        (affinity_counts, anti_affinity_counts) = par.fold(
            n,
            <(TopologyCounts, TopologyCounts)>::default,
            |(affinity, anti_affinity), i| {
                let node = snapshot.nth_node(i);
                for existing in &node.pods {
                    if matches_all_terms(&pod.required_affinity_terms, existing) {
                        for term in &pod.required_affinity_terms {
                            update_count(affinity, node.labels(), &term.topology_key, 1);
                        }
                    }
                    for term in &pod.required_anti_affinity_terms {
                        if term.matches(existing, None) {
                            update_count(anti_affinity, node.labels(), &term.topology_key, 1);
                        }
                    }
                }
            },
            |(affinity, anti_affinity), (more_affinity, more_anti_affinity)| {
                add_counts(affinity, more_affinity);
                add_counts(anti_affinity, more_anti_affinity);
            },
        );
    }
    if existing_anti_affinity_counts.is_empty()
        && pod.required_affinity_terms.is_empty()
        && pod.required_anti_affinity_terms.is_empty()
    {
        return PreFilterOutput::status(Status::skip());
    }
    PreFilterOutput::with_state(PreFilterState {
        existing_anti_affinity_counts,
        affinity_counts,
        anti_affinity_counts,
        pod,
        namespace_labels,
    })
}

pub(super) fn update_with_pod(
    state: &mut dyn StateData,
    other: &PodInfo,
    node: &NodeInfo,
    delta: i64,
) {
    let Some(s) = state_mut::<PreFilterState>(state) else {
        return;
    };
    let labels = node.labels();
    for term in &other.required_anti_affinity_terms {
        if term.matches(&s.pod, Some(&s.namespace_labels)) {
            update_count(
                &mut s.existing_anti_affinity_counts,
                labels,
                &term.topology_key,
                delta,
            );
        }
    }
    if matches_all_terms(&s.pod.required_affinity_terms, other) {
        for term in &s.pod.required_affinity_terms {
            update_count(&mut s.affinity_counts, labels, &term.topology_key, delta);
        }
    }
    for term in &s.pod.required_anti_affinity_terms {
        if term.matches(other, None) {
            update_count(
                &mut s.anti_affinity_counts,
                labels,
                &term.topology_key,
                delta,
            );
        }
    }
}

fn satisfies_affinity(s: &PreFilterState, node: &NodeInfo) -> bool {
    let labels = node.labels();
    let mut pods_exist = true;
    for term in &s.pod.required_affinity_terms {
        let Some(value) = labels.get(&term.topology_key) else {
            // Every topology label must exist on the node.
            return false;
        };
        if count_of(&s.affinity_counts, &term.topology_key, value) <= 0 {
            pods_exist = false;
        }
    }
    if pods_exist {
        return true;
    }
    // The first pod of a group with affinity to itself: allowed when no
    // pod anywhere matches and the pod matches its own terms.
    s.affinity_counts.is_empty() && matches_all_terms(&s.pod.required_affinity_terms, &s.pod)
}

fn satisfies_anti_affinity(s: &PreFilterState, node: &NodeInfo) -> bool {
    if s.anti_affinity_counts.is_empty() {
        return true;
    }
    let labels = node.labels();
    !s.pod.required_anti_affinity_terms.iter().any(|term| {
        labels
            .get(&term.topology_key)
            .is_some_and(|value| count_of(&s.anti_affinity_counts, &term.topology_key, value) > 0)
    })
}

fn satisfies_existing_anti_affinity(s: &PreFilterState, node: &NodeInfo) -> bool {
    if s.existing_anti_affinity_counts.is_empty() {
        return true;
    }
    !node
        .labels()
        .iter()
        .any(|(k, v)| count_of(&s.existing_anti_affinity_counts, k, v) > 0)
}

pub(super) fn filter(state: Option<&dyn StateData>, node: &NodeInfo) -> Status {
    let Some(s) = state_ref::<PreFilterState>(state) else {
        return Status::error("reading InterPodAffinity PreFilter state: not found");
    };
    if !satisfies_affinity(s, node) {
        return Status::unresolvable(ERR_AFFINITY);
    }
    if !satisfies_anti_affinity(s, node) {
        return Status::unschedulable(ERR_ANTI_AFFINITY);
    }
    if !satisfies_existing_anti_affinity(s, node) {
        return Status::unschedulable(ERR_EXISTING_ANTI_AFFINITY);
    }
    Status::success()
}

#[cfg(test)]
mod tests {
    use super::super::InterPodAffinity;
    use super::*;
    use crate::framework::{Code, Plugin};
    use serde_json::json;

    fn pod(
        name: &str,
        node: &str,
        labels: serde_json::Value,
        affinity: serde_json::Value,
    ) -> Arc<PodInfo> {
        Arc::new(PodInfo::new(Arc::new(
            serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "uid": name, "labels": labels},
            "spec": {"nodeName": node, "containers": [], "affinity": affinity}}))
            .unwrap(),
        )))
    }

    fn cluster(nodes: &[(&str, serde_json::Value)], pods: &[Arc<PodInfo>]) -> Snapshot {
        let mut snap = Snapshot::new();
        for (name, labels) in nodes {
            snap.upsert_node(Arc::new(
                serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}}))
                    .unwrap(),
            ));
        }
        for p in pods {
            snap.upsert_pod(p.clone());
        }
        snap.prepare();
        snap
    }

    fn run(snap: &Snapshot, p: &PodInfo) -> Vec<Status> {
        let plugin = InterPodAffinity::new(None).unwrap();
        let out = plugin.pre_filter(p, snap);
        if out.status.is_skip() {
            return snap.nodes().map(|_| Status::success()).collect();
        }
        assert!(out.status.is_success(), "{}", out.status);
        snap.nodes()
            .map(|n| plugin.filter(out.state.as_deref(), p, n, snap))
            .collect()
    }

    fn affinity(kind: &str, selector: serde_json::Value, key: &str) -> serde_json::Value {
        json!({kind: {"requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": selector, "topologyKey": key}]}})
    }

    #[test]
    fn required_affinity_follows_matching_pods_by_zone() {
        let nodes = [
            ("n1", json!({"zone": "z1"})),
            ("n2", json!({"zone": "z1"})),
            ("n3", json!({"zone": "z2"})),
        ];
        let db = pod("db", "n1", json!({"app": "db"}), json!(null));
        let snap = cluster(&nodes, &[db]);
        let web = pod(
            "web",
            "",
            json!({"app": "web"}),
            affinity("podAffinity", json!({"matchLabels": {"app": "db"}}), "zone"),
        );
        let statuses = run(&snap, &web);
        assert!(statuses[0].is_success() && statuses[1].is_success());
        assert_eq!(statuses[2].message(), ERR_AFFINITY);
        assert_eq!(statuses[2].code(), Code::UnschedulableAndUnresolvable);
    }

    #[test]
    fn first_pod_of_a_self_affine_group_is_allowed() {
        let nodes = [("n1", json!({"zone": "z1"})), ("n2", json!({}))];
        let snap = cluster(&nodes, &[]);
        let p = pod(
            "p",
            "",
            json!({"app": "web"}),
            affinity(
                "podAffinity",
                json!({"matchLabels": {"app": "web"}}),
                "zone",
            ),
        );
        let statuses = run(&snap, &p);
        assert!(statuses[0].is_success());
        // The node lacks the topology label.
        assert_eq!(statuses[1].message(), ERR_AFFINITY);
    }

    #[test]
    fn anti_affinity_both_ways() {
        let nodes = [
            ("n1", json!({"kubernetes.io/hostname": "n1"})),
            ("n2", json!({"kubernetes.io/hostname": "n2"})),
        ];
        let guard = pod(
            "guard",
            "n1",
            json!({"app": "guard"}),
            affinity(
                "podAntiAffinity",
                json!({"matchLabels": {"app": "web"}}),
                "kubernetes.io/hostname",
            ),
        );
        let snap = cluster(&nodes, &[guard]);
        let web = pod("web", "", json!({"app": "web"}), json!(null));
        let statuses = run(&snap, &web);
        assert_eq!(statuses[0].message(), ERR_EXISTING_ANTI_AFFINITY);
        assert_eq!(statuses[0].code(), Code::Unschedulable);
        assert!(statuses[1].is_success());
        let shy = pod(
            "shy",
            "",
            json!({}),
            affinity(
                "podAntiAffinity",
                json!({"matchLabels": {"app": "guard"}}),
                "kubernetes.io/hostname",
            ),
        );
        let statuses = run(&snap, &shy);
        assert_eq!(statuses[0].message(), ERR_ANTI_AFFINITY);
        assert!(statuses[1].is_success());
    }

    #[test]
    fn namespace_selectors_reach_other_namespaces() {
        let nodes = [
            ("n1", json!({"kubernetes.io/hostname": "n1"})),
            ("n2", json!({"kubernetes.io/hostname": "n2"})),
        ];
        let mut snap = cluster(&nodes, &[]);
        snap.listers.namespaces.insert(
            "prod".into(),
            [("team".to_string(), "a".to_string())].into(),
        );
        snap.listers
            .namespaces
            .insert("default".into(), Default::default());
        let db = Arc::new(PodInfo::new(Arc::new(
            serde_json::from_value(json!({
            "metadata": {"name": "db", "namespace": "prod", "uid": "db", "labels": {"app": "db"}},
            "spec": {"nodeName": "n2", "containers": []}}))
            .unwrap(),
        )));
        snap.upsert_pod(db);
        snap.prepare();
        let term = |ns_selector: serde_json::Value| {
            json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "db"}}, "namespaceSelector": ns_selector, "topologyKey": "kubernetes.io/hostname"}]}})
        };
        // Selecting team=a finds the db pod in "prod": only n2 qualifies.
        let p = pod(
            "p",
            "",
            json!({}),
            term(json!({"matchLabels": {"team": "a"}})),
        );
        let s = run(&snap, &p);
        assert!(!s[0].is_success() && s[1].is_success(), "{s:?}");
        // Without a namespace selector the term looks in the pod's own namespace only:
        // nothing matches, and the pod does not match itself either.
        let p = pod(
            "p",
            "",
            json!({}),
            json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}]}}),
        );
        assert!(run(&snap, &p).iter().all(|s| s.message() == ERR_AFFINITY));
    }

    #[test]
    fn add_and_remove_pod_update_counts() {
        let nodes = [("n1", json!({"kubernetes.io/hostname": "n1"}))];
        let snap = cluster(&nodes, &[]);
        let plugin = InterPodAffinity::new(None).unwrap();
        let shy = pod(
            "shy",
            "",
            json!({}),
            affinity(
                "podAntiAffinity",
                json!({"matchLabels": {"app": "x"}}),
                "kubernetes.io/hostname",
            ),
        );
        let mut out = plugin.pre_filter(&shy, &snap);
        let node = snap.node("n1").unwrap();
        let x = pod("x", "n1", json!({"app": "x"}), json!(null));
        let state = out.state.as_deref_mut().unwrap();
        plugin.add_pod(state, &shy, &x, node);
        assert_eq!(
            plugin.filter(Some(state), &shy, node, &snap).message(),
            ERR_ANTI_AFFINITY
        );
        plugin.remove_pod(state, &shy, &x, node);
        assert!(plugin.filter(Some(state), &shy, node, &snap).is_success());
    }
}
