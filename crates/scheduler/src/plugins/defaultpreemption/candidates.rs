//! Finding victims on one node and choosing the best node (upstream
//! `SelectVictimsOnNode`, `filterPodsWithPDBViolation`,
//! `pickOneNodeForPreemption`).

use std::cmp::Ordering;
use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;

use crate::cache::PdbInfo;
use crate::framework::{NodeInfo, PodInfo, PostFilterContext, Status};

/// A node where preemption would work.
#[derive(Debug, Clone)]
pub(super) struct Candidate {
    pub node: String,
    /// Victims, most important first.
    pub victims: Vec<Arc<PodInfo>>,
    pub num_pdb_violations: usize,
}

/// When the pod started (`now` when it has not).
fn start_time(pod: &PodInfo, now: Timestamp) -> Timestamp {
    pod.pod
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map_or(now, |t| t.0)
}

/// Upstream `MoreImportantPod`: higher priority, then started earlier.
fn more_important(a: &PodInfo, b: &PodInfo, now: Timestamp) -> Ordering {
    b.priority
        .cmp(&a.priority)
        .then_with(|| start_time(a, now).cmp(&start_time(b, now)))
}

/// Splits pods (most important first) into those whose eviction would
/// violate a PodDisruptionBudget and the others.
fn split_by_pdb(
    pods: Vec<Arc<PodInfo>>,
    pdbs: &[&PdbInfo],
) -> (Vec<Arc<PodInfo>>, Vec<Arc<PodInfo>>) {
    let mut allowed: Vec<i32> = pdbs.iter().map(|p| p.disruptions_allowed).collect();
    let (mut violating, mut fine) = (Vec::new(), Vec::new());
    for pod in pods {
        let mut violated = false;
        if !pod.labels().is_empty() {
            for (i, pdb) in pdbs.iter().enumerate() {
                if !pdb.covers(&pod) || pdb.disrupted_pods.contains(&pod.name) {
                    continue;
                }
                allowed[i] -= 1;
                if allowed[i] < 0 {
                    violated = true;
                }
            }
        }
        if violated {
            violating.push(pod);
        } else {
            fine.push(pod);
        }
    }
    (violating, fine)
}

/// The fewest, least important pods to evict from `node` for `pod` to fit.
pub(super) fn select_victims_on_node(
    ctx: &PostFilterContext<'_>,
    pod: &PodInfo,
    node: &NodeInfo,
    pdbs: &[&PdbInfo],
) -> Result<Candidate, Status> {
    let framework = ctx.framework;
    let mut state = ctx.state.clone();
    let mut node = node.clone();
    let mut potential: Vec<Arc<PodInfo>> = node
        .pods
        .iter()
        .filter(|p| p.priority < pod.priority)
        .cloned()
        .collect();
    if potential.is_empty() {
        return Err(Status::unresolvable(
            "No preemption victims found for incoming pod",
        ));
    }
    for victim in &potential {
        node.remove_pod(&victim.uid);
        framework.run_pre_filter_remove_pod(&mut state, pod, victim, &node);
    }
    let status = framework.run_filter_with_nominated_pods(&state, pod, &node, ctx.snapshot);
    if !status.is_success() {
        return Err(status);
    }
    let now = Timestamp::now();
    potential.sort_by(|a, b| more_important(a, b, now));
    let (violating, fine) = split_by_pdb(potential, pdbs);
    let mut victims = Vec::new();
    let mut num_pdb_violations = 0;
    let mut reprieve = |candidate: Arc<PodInfo>,
                        node: &mut NodeInfo,
                        state: &mut crate::framework::CycleState|
     -> bool {
        node.add_pod(candidate.clone());
        framework.run_pre_filter_add_pod(state, pod, &candidate, node);
        let fits = framework
            .run_filter_with_nominated_pods(state, pod, node, ctx.snapshot)
            .is_success();
        if !fits {
            node.remove_pod(&candidate.uid);
            framework.run_pre_filter_remove_pod(state, pod, &candidate, node);
            victims.push(candidate);
        }
        fits
    };
    for candidate in violating {
        if !reprieve(candidate, &mut node, &mut state) {
            num_pdb_violations += 1;
        }
    }
    for candidate in fine {
        reprieve(candidate, &mut node, &mut state);
    }
    victims.sort_by(|a, b| more_important(a, b, now));
    Ok(Candidate {
        node: node.name.clone(),
        victims,
        num_pdb_violations,
    })
}

/// Upstream `pickOneNodeForPreemption`: fewest PDB violations, then the
/// lowest highest-priority victim, the smallest priority sum, the fewest
/// victims, the latest start among the highest-priority victims.
pub(super) fn pick_one_node(candidates: Vec<Candidate>) -> Option<Candidate> {
    let mut pool = candidates;
    let now = Timestamp::now();
    // Keys are computed once per criterion: a pod without a start time
    // counts as starting `now`, the same instant for every comparison.
    let keep_min = |pool: &mut Vec<Candidate>, key: &dyn Fn(&Candidate) -> i64| {
        let keys: Vec<i64> = pool.iter().map(key).collect();
        if let Some(&best) = keys.iter().min() {
            let mut i = 0;
            pool.retain(|_| {
                let keep = keys[i] == best;
                i += 1;
                keep
            });
        }
    };
    keep_min(&mut pool, &|c| c.num_pdb_violations as i64);
    keep_min(&mut pool, &|c| {
        c.victims
            .first()
            .map_or(i64::MIN, |v| i64::from(v.priority))
    });
    keep_min(&mut pool, &|c| {
        c.victims
            .iter()
            .map(|v| i64::from(v.priority) + i64::from(i32::MAX) + 1)
            .sum()
    });
    keep_min(&mut pool, &|c| c.victims.len() as i64);
    // Latest earliest-start-time among the highest-priority victims.
    keep_min(&mut pool, &|c| {
        let Some(top) = c.victims.first().map(|v| v.priority) else {
            return i64::MIN;
        };
        let earliest = c
            .victims
            .iter()
            .filter(|v| v.priority == top)
            .map(|v| start_time(v, now))
            .min()
            .unwrap_or(now);
        -earliest
            .as_nanosecond()
            .clamp(i128::from(i64::MIN + 1), i128::from(i64::MAX)) as i64
    });
    pool.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, priority: i32, labels: serde_json::Value, start: &str) -> Arc<PodInfo> {
        Arc::new(PodInfo::new(Arc::new(
            serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "uid": name, "labels": labels},
            "spec": {"containers": [], "priority": priority},
            "status": {"startTime": start}}))
            .unwrap(),
        )))
    }

    fn candidate(node: &str, victims: Vec<Arc<PodInfo>>, violations: usize) -> Candidate {
        Candidate {
            node: node.into(),
            victims,
            num_pdb_violations: violations,
        }
    }

    #[test]
    fn pdbs_split_victims() {
        let pdb = PdbInfo {
            namespace: "ns".into(),
            selector: corten_apimachinery::labels::Selector::parse("app=db").unwrap(),
            disruptions_allowed: 1,
            disrupted_pods: Default::default(),
        };
        let pods = vec![
            pod("a", 1, json!({"app": "db"}), "2024-01-01T00:00:00Z"),
            pod("b", 1, json!({"app": "db"}), "2024-01-01T00:00:00Z"),
            pod("c", 1, json!({}), "2024-01-01T00:00:00Z"),
        ];
        let (violating, fine) = split_by_pdb(pods, &[&pdb]);
        assert_eq!(
            violating
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>(),
            ["b"]
        );
        assert_eq!(fine.len(), 2);
    }

    #[test]
    fn picks_like_upstream() {
        let t = "2024-01-01T00:00:00Z";
        // Fewer PDB violations wins over everything.
        let best = pick_one_node(vec![
            candidate("n1", vec![pod("a", 1, json!({}), t)], 1),
            candidate("n2", vec![pod("b", 100, json!({}), t)], 0),
        ]);
        assert_eq!(best.unwrap().node, "n2");
        // Then the lowest highest-priority victim.
        let best = pick_one_node(vec![
            candidate("n1", vec![pod("a", 10, json!({}), t)], 0),
            candidate(
                "n2",
                vec![pod("b", 5, json!({}), t), pod("c", 5, json!({}), t)],
                0,
            ),
        ]);
        assert_eq!(best.unwrap().node, "n2");
        // Then fewer victims (same priorities: the sum decides first).
        let best = pick_one_node(vec![
            candidate(
                "n1",
                vec![pod("a", 5, json!({}), t), pod("b", 5, json!({}), t)],
                0,
            ),
            candidate("n2", vec![pod("c", 5, json!({}), t)], 0),
        ]);
        assert_eq!(best.unwrap().node, "n2");
        // Then the victims that started last.
        let best = pick_one_node(vec![
            candidate(
                "n1",
                vec![pod("a", 5, json!({}), "2024-01-01T00:00:00Z")],
                0,
            ),
            candidate(
                "n2",
                vec![pod("b", 5, json!({}), "2024-06-01T00:00:00Z")],
                0,
            ),
        ]);
        assert_eq!(best.unwrap().node, "n2");
        assert!(pick_one_node(Vec::new()).is_none());
    }
}
