//! Which nodes run a daemon pod (upstream `NodeShouldRunDaemonPod`): the
//! template's `nodeName`, `nodeSelector` and required node affinity, and
//! the node's taints against the template's tolerations plus those the
//! controller adds to every daemon pod.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    PodSpec, Taint, Toleration,
};

/// Upstream `AddOrUpdateDaemonPodTolerations`: daemons keep running on
/// nodes that are unhealthy, under pressure or cordoned.
pub fn add_daemon_tolerations(spec: &mut PodSpec) {
    let mut wanted = vec![
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if spec.host_network == Some(true) {
        wanted.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for (key, effect) in wanted {
        let toleration = Toleration {
            key: Some(key.to_string()),
            operator: Some("Exists".to_string()),
            effect: Some(effect.to_string()),
            ..Toleration::default()
        };
        // Upstream AddOrUpdateTolerationInPodSpec: same key+effect+operator is replaced.
        tolerations.retain(|t| {
            !(t.key.as_deref() == Some(key)
                && t.effect.as_deref() == Some(effect)
                && t.operator.as_deref().unwrap_or("Equal") == "Exists")
        });
        tolerations.push(toleration);
    }
}

/// Upstream `Toleration.ToleratesTaint`.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = t.effect.as_deref().filter(|e| !e.is_empty())
        && effect != taint.effect
    {
        return false;
    }
    let key = t.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

fn untolerated<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    effects: &[&str],
) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| effects.contains(&t.effect.as_str()))
        .find(|t| !tolerations.iter().any(|tol| tolerates(tol, t)))
}

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&String>) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if r.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let exprs = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        // An empty term matches nothing.
        return false;
    }
    let name = node.metadata.name.clone();
    exprs
        .iter()
        .all(|r| requirement_matches(r, labels.get(&r.key)))
        && fields
            .iter()
            .all(|r| r.key == "metadata.name" && requirement_matches(r, name.as_ref()))
}

/// `nodeSelector` and the required node affinity of `spec` match `node`.
pub fn affinity_matches(spec: &PodSpec, node: &Node) -> bool {
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let selector_ok = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    if !selector_ok {
        return false;
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    match required {
        None => true,
        Some(selector) => selector
            .node_selector_terms
            .iter()
            .any(|t| term_matches(t, node)),
    }
}

/// The pod spec a daemon pod for `node` would have (upstream `NewPod`).
pub fn daemon_pod_spec(template: &PodSpec, node: &str) -> PodSpec {
    let mut spec = template.clone();
    add_daemon_tolerations(&mut spec);
    spec.node_name = Some(node.to_string());
    spec
}

/// Upstream `NodeShouldRunDaemonPod`: (should run, should keep running).
pub fn node_should_run(template: &PodSpec, node: &Node) -> (bool, bool) {
    let name = node.metadata.name.clone().unwrap_or_default();
    if template
        .node_name
        .as_deref()
        .is_some_and(|n| !n.is_empty() && n != name)
    {
        return (false, false);
    }
    let spec = daemon_pod_spec(template, &name);
    if !affinity_matches(&spec, node) {
        return (false, false);
    }
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let tolerations = spec.tolerations.clone().unwrap_or_default();
    if untolerated(&taints, &tolerations, &["NoSchedule", "NoExecute"]).is_some() {
        // Running pods stay unless a NoExecute taint evicts them.
        let keep = untolerated(&taints, &tolerations, &["NoExecute"]).is_none();
        return (false, keep);
    }
    (true, true)
}

/// Upstream `ReplaceDaemonSetPodNodeNameNodeAffinity`: the pod may only
/// go to `node` (a required `metadata.name` field term replaces the
/// others; the scheduler binds it).
pub fn pin_to_node(affinity: Option<Affinity>, node: &str) -> Affinity {
    let term = NodeSelectorTerm {
        match_expressions: None,
        match_fields: Some(vec![NodeSelectorRequirement {
            key: "metadata.name".to_string(),
            operator: "In".to_string(),
            values: Some(vec![node.to_string()]),
        }]),
    };
    let mut affinity = affinity.unwrap_or_default();
    let node_affinity = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    node_affinity.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
        node_selector_terms: vec![term],
    });
    affinity
}

/// Upstream `GetTargetNodeName`: `spec.nodeName`, or the node a daemon
/// pod's affinity pins it to.
pub fn target_node(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(name) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(name.to_string());
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms.iter().find_map(|t| {
        t.match_fields.iter().flatten().find_map(|f| {
            (f.key == "metadata.name" && f.operator == "In")
                .then(|| f.values.as_ref()?.first().cloned())
                .flatten()
        })
    })
}

/// Labels of a node, for tests and callers.
pub fn node_labels(node: &Node) -> BTreeMap<String, String> {
    node.metadata.labels.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(labels: serde_json::Value, taints: serde_json::Value) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": "n1", "labels": labels},
            "spec": {"taints": taints}
        }))
        .unwrap()
    }

    fn spec(extra: serde_json::Value) -> PodSpec {
        let mut s = json!({"containers": [{"name": "c", "image": "i"}]});
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        serde_json::from_value(s).unwrap()
    }

    #[test]
    fn selectors_and_affinity() {
        let n = node(json!({"disk": "ssd", "zone": "a", "cpus": "8"}), json!([]));
        assert_eq!(node_should_run(&spec(json!({})), &n), (true, true));
        assert_eq!(
            node_should_run(&spec(json!({"nodeSelector": {"disk": "hdd"}})), &n),
            (false, false)
        );
        let aff = |op: &str, values: serde_json::Value| {
            spec(
                json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": "cpus", "operator": op, "values": values}]}]
                }}}}),
            )
        };
        assert!(node_should_run(&aff("Gt", json!(["4"])), &n).0);
        assert!(!node_should_run(&aff("Lt", json!(["4"])), &n).0);
        assert!(!node_should_run(&aff("NotIn", json!(["8"])), &n).0);
        assert!(!node_should_run(&spec(json!({"nodeName": "other"})), &n).0);
    }

    #[test]
    fn taints_and_the_automatic_tolerations() {
        let unschedulable = node(
            json!({}),
            json!([{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]),
        );
        assert_eq!(
            node_should_run(&spec(json!({})), &unschedulable),
            (true, true)
        );
        let dedicated = node(
            json!({}),
            json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
        );
        assert_eq!(node_should_run(&spec(json!({})), &dedicated), (false, true));
        let tolerating = spec(
            json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]}),
        );
        assert_eq!(node_should_run(&tolerating, &dedicated), (true, true));
        let evicting = node(json!({}), json!([{"key": "x", "effect": "NoExecute"}]));
        assert_eq!(node_should_run(&spec(json!({})), &evicting), (false, false));
        let not_ready = node(
            json!({}),
            json!([{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}]),
        );
        assert_eq!(node_should_run(&spec(json!({})), &not_ready), (true, true));
        let mut s = spec(json!({"hostNetwork": true}));
        add_daemon_tolerations(&mut s);
        add_daemon_tolerations(&mut s);
        assert_eq!(s.tolerations.unwrap().len(), 7);
    }

    #[test]
    fn pods_are_pinned_by_affinity() {
        let affinity = pin_to_node(None, "n7");
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [], "affinity": affinity}
        }))
        .unwrap();
        assert_eq!(target_node(&pod).as_deref(), Some("n7"));
        let n7 = serde_json::from_value::<Node>(json!({"metadata": {"name": "n7"}})).unwrap();
        assert!(affinity_matches(pod.spec.as_ref().unwrap(), &n7));
        assert!(!affinity_matches(
            pod.spec.as_ref().unwrap(),
            &node(json!({}), json!([]))
        ));
    }
}
