//! DaemonSet RollingUpdate (upstream `rollingUpdate`).
//!
//! Without surge, old pods are deleted so that at most `maxUnavailable`
//! nodes lack an available pod (unavailable old pods may always go); the
//! manage step then creates the new pods. With `maxSurge`, new pods start
//! next to old ones (at most `maxSurge` at a time, at once where the old
//! one is unavailable) and the old pod goes once the new one is available.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use super::node_fit::node_should_run;
use super::sync::{NodeChanges, is_updated};
use crate::controllers::deployment::replicas::scaled_value;
use crate::framework::pod_readiness::is_available;

/// A node's pod of the current revision and its pod of an older one.
type NewAndOld = (Option<Arc<Pod>>, Option<Arc<Pod>>);

/// Upstream `findUpdatedPodsOnNode`: (new pod, old pod), `None` when the
/// node has more than one of either.
fn updated_pods_on_node(
    pods: &[Arc<Pod>],
    hash: &str,
    generation: Option<i64>,
) -> Option<NewAndOld> {
    let mut new = None;
    let mut old = None;
    for pod in pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
    {
        let slot = if is_updated(pod, hash, generation) {
            &mut new
        } else {
            &mut old
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(pod.clone());
    }
    Some((new, old))
}

/// The pods to delete and nodes to surge onto for one rolling step.
pub(super) fn rolling_update(
    ds: &DaemonSet,
    nodes: &[Arc<Node>],
    by_node: &HashMap<String, Vec<Arc<Pod>>>,
    hash: &str,
    max_surge: Option<IntOrString>,
    max_unavailable: Option<IntOrString>,
    now: Timestamp,
) -> NodeChanges {
    let template = ds
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.clone())
        .unwrap_or_default();
    let min_ready = ds
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let generation = ds.metadata.generation;
    let node_by_name: HashMap<String, &Arc<Node>> =
        nodes.iter().map(|n| (n.name_any(), n)).collect();
    let desired = i32::try_from(
        nodes
            .iter()
            .filter(|n| node_should_run(&template, n).0)
            .count(),
    )
    .unwrap_or(i32::MAX);
    let surge = max_surge
        .as_ref()
        .map_or(0, |s| scaled_value(s, desired, true).unwrap_or(0));
    let mut unavailable = max_unavailable
        .as_ref()
        .map_or(1, |u| scaled_value(u, desired, true).unwrap_or(1));
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    let available = |p: &Pod| is_available(p, min_ready, now);
    let mut changes = NodeChanges::default();
    // Like upstream `updatedDesiredNodeCounts`, a node that should run a
    // pod but has none yet counts too (as unavailable): its old pod was
    // just deleted and the replacement is not there, so deleting another
    // now would exceed maxUnavailable.
    let no_pods: Vec<Arc<Pod>> = Vec::new();
    let mut names: Vec<String> = by_node.keys().cloned().collect();
    names.extend(
        nodes
            .iter()
            .filter(|n| node_should_run(&template, n).0)
            .map(|n| n.name_any()),
    );
    names.sort();
    names.dedup();
    let pods_on = |name: &String| by_node.get(name).unwrap_or(&no_pods);
    if surge == 0 {
        let mut num_unavailable = 0;
        let mut candidates = Vec::new();
        for name in names {
            let Some((new, old)) = updated_pods_on_node(pods_on(&name), hash, generation) else {
                num_unavailable += 1;
                continue;
            };
            match (new, old) {
                (None, None) | (Some(_), Some(_)) => num_unavailable += 1,
                (Some(new), None) => {
                    if !available(&new) {
                        num_unavailable += 1;
                    }
                }
                (None, Some(old)) => {
                    if !available(&old) {
                        changes.delete.push(old);
                        num_unavailable += 1;
                    } else if num_unavailable < unavailable {
                        candidates.push(old);
                    }
                }
            }
        }
        let room = usize::try_from((unavailable - num_unavailable).max(0)).unwrap_or(0);
        changes.delete.extend(candidates.into_iter().take(room));
        return changes;
    }
    let mut num_surge = 0;
    let mut num_available = 0;
    let mut candidates = Vec::new();
    let mut should_not_run = Vec::new();
    for name in names {
        let Some((new, old)) = updated_pods_on_node(pods_on(&name), hash, generation) else {
            num_surge += 1;
            continue;
        };
        match (&old, &new) {
            (Some(o), _) if available(o) => num_available += 1,
            (None, Some(n)) if available(n) => num_available += 1,
            _ => {}
        }
        let runs_here = node_by_name
            .get(&name)
            .is_some_and(|n| node_should_run(&template, n).0);
        match (new, old) {
            (_, None) => {}
            (None, Some(old)) => {
                if !available(&old) {
                    if runs_here {
                        changes.create_on.push(name.clone());
                    } else {
                        changes.delete.push(old);
                    }
                } else if !runs_here {
                    should_not_run.push(old);
                } else if num_surge < surge {
                    candidates.push(name.clone());
                }
            }
            (Some(new), Some(old)) => {
                if available(&new) {
                    changes.delete.push(old);
                } else {
                    num_surge += 1;
                }
            }
        }
    }
    // Pods on nodes that no longer qualify go only while enough others
    // are available.
    let deletable = usize::try_from((num_available - desired).max(0)).unwrap_or(0);
    changes
        .delete
        .extend(should_not_run.into_iter().take(deletable));
    let room = usize::try_from((surge - num_surge).max(0)).unwrap_or(0);
    changes.create_on.extend(candidates.into_iter().take(room));
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::controller_history::CONTROLLER_REVISION_HASH_LABEL;
    use serde_json::json;

    fn ds(strategy: serde_json::Value) -> DaemonSet {
        serde_json::from_value(json!({
            "metadata": {"name": "agent", "generation": 2},
            "spec": {"selector": {"matchLabels": {"app": "a"}}, "updateStrategy": strategy,
                "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": []}}}
        }))
        .unwrap()
    }

    fn node(name: &str) -> Arc<Node> {
        Arc::new(serde_json::from_value(json!({"metadata": {"name": name}})).unwrap())
    }

    fn pod(name: &str, hash: &str, ready: bool) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "labels": {CONTROLLER_REVISION_HASH_LABEL: hash}},
                "spec": {"containers": []},
                "status": {"phase": "Running", "conditions": [
                    {"type": "Ready", "status": if ready { "True" } else { "False" },
                     "lastTransitionTime": "2020-01-01T00:00:00Z"}]}
            }))
            .unwrap(),
        )
    }

    fn names(pods: &[Arc<Pod>]) -> Vec<String> {
        let mut n: Vec<String> = pods.iter().map(|p| p.name_any()).collect();
        n.sort();
        n
    }

    #[test]
    fn max_unavailable_limits_old_pod_deletions() {
        let d = ds(json!({"type": "RollingUpdate"}));
        let nodes = vec![node("n1"), node("n2"), node("n3")];
        let by_node = HashMap::from([
            ("n1".to_string(), vec![pod("a", "old", true)]),
            ("n2".to_string(), vec![pod("b", "old", true)]),
            ("n3".to_string(), vec![pod("c", "old", false)]),
        ]);
        let now = Timestamp::now();
        // maxUnavailable 1: the unavailable old pod is replaced first and
        // uses up the budget.
        let c = rolling_update(
            &d,
            &nodes,
            &by_node,
            "new",
            None,
            Some(IntOrString::Int(1)),
            now,
        );
        assert_eq!(names(&c.delete), ["c"]);
        let c = rolling_update(
            &d,
            &nodes,
            &by_node,
            "new",
            None,
            Some(IntOrString::Int(2)),
            now,
        );
        assert_eq!(names(&c.delete), ["a", "c"]);
        // A new pod that is not available yet holds the budget.
        let by_node = HashMap::from([
            ("n1".to_string(), vec![pod("a", "new", false)]),
            ("n2".to_string(), vec![pod("b", "old", true)]),
        ]);
        let c = rolling_update(
            &d,
            &nodes,
            &by_node,
            "new",
            None,
            Some(IntOrString::Int(1)),
            now,
        );
        assert!(c.delete.is_empty());
        // A node whose old pod was just deleted (no pod yet) holds it too.
        let by_node = HashMap::from([
            ("n2".to_string(), vec![pod("b", "old", true)]),
            ("n3".to_string(), vec![pod("c", "old", true)]),
        ]);
        let c = rolling_update(
            &d,
            &nodes,
            &by_node,
            "new",
            None,
            Some(IntOrString::Int(1)),
            now,
        );
        assert!(c.delete.is_empty(), "{:?}", names(&c.delete));
    }

    #[test]
    fn surge_starts_new_pods_before_removing_old_ones() {
        let d = ds(json!({"type": "RollingUpdate"}));
        let nodes = vec![node("n1"), node("n2")];
        let now = Timestamp::now();
        let by_node = HashMap::from([
            ("n1".to_string(), vec![pod("a", "old", true)]),
            ("n2".to_string(), vec![pod("b", "old", true)]),
        ]);
        let c = rolling_update(
            &d,
            &nodes,
            &by_node,
            "new",
            Some(IntOrString::Int(1)),
            Some(IntOrString::Int(0)),
            now,
        );
        assert_eq!(c.create_on, ["n1"]);
        assert!(c.delete.is_empty());
        let by_node = HashMap::from([
            (
                "n1".to_string(),
                vec![pod("a", "old", true), pod("a2", "new", true)],
            ),
            ("n2".to_string(), vec![pod("b", "old", true)]),
        ]);
        let c = rolling_update(
            &d,
            &nodes,
            &by_node,
            "new",
            Some(IntOrString::Int(1)),
            Some(IntOrString::Int(0)),
            now,
        );
        assert_eq!(names(&c.delete), ["a"]);
        assert_eq!(c.create_on, ["n2"]);
    }
}
