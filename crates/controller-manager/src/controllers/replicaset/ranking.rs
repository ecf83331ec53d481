//! Which pods a ReplicaSet deletes first when it scales down (upstream
//! `ActivePodsWithRanks.Less` with `LogarithmicScaleDown`, and
//! `getPodsRankedByRelatedPodsOnSameNode`).
//!
//! Pods are compared criterion by criterion; the first that differs
//! decides, and the "smaller" pod is deleted first:
//!
//! 1. unscheduled before scheduled;
//! 2. `Pending` before `Unknown` before `Running` (other phases count as
//!    pending);
//! 3. not ready before ready;
//! 4. lower `controller.kubernetes.io/pod-deletion-cost` first;
//! 5. pods on nodes with more active pods of the same owner (the rank)
//!    first;
//! 6. both ready: ready for less time first, compared on a log2 scale of
//!    the time since (pods within the same power of two are ordered by
//!    UID, a stable pseudo-random order);
//! 7. more container restarts first (then more sidecar restarts);
//! 8. newer first (same log2 scale as 6).
//!
//! The comparison is not a strict total order in every corner (upstream's
//! is not either), so the sort is a merge sort that cannot panic on an
//! inconsistent comparison.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use crate::framework::pod_readiness::{is_active, is_ready, node_name, phase, ready_since};

/// The annotation that lets users say which pods to delete first.
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

fn phase_ordinal(pod: &Pod) -> u8 {
    match phase(pod) {
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    }
}

fn deletion_cost(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(POD_DELETION_COST))
        .and_then(|v| v.trim().parse::<i32>().ok())
        .unwrap_or(0)
}

/// (regular, sidecar) maximum restart counts.
fn max_restarts(pod: &Pod) -> (i32, i32) {
    let Some(status) = pod.status.as_ref() else {
        return (0, 0);
    };
    let regular = status
        .container_statuses
        .iter()
        .flatten()
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0);
    let sidecars: HashSet<&str> = pod
        .spec
        .iter()
        .flat_map(|s| s.init_containers.iter().flatten())
        .filter(|c| c.restart_policy.as_deref() == Some("Always"))
        .map(|c| c.name.as_str())
        .collect();
    let sidecar = status
        .init_container_statuses
        .iter()
        .flatten()
        .filter(|c| sidecars.contains(c.name.as_str()))
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0);
    (regular, sidecar)
}

/// floor(log2(nanoseconds since `t`)), or -1 for a time not in the past.
fn log_rank(t: Timestamp, now: Timestamp) -> i64 {
    let nanos = now.as_nanosecond() - t.as_nanosecond();
    if nanos <= 0 {
        return -1;
    }
    // The position of the highest set bit (upstream goes through a float,
    // which can round a duration just below a power of two up to it).
    i64::from(127 - nanos.leading_zeros())
}

/// Upstream `afterOrZero`: a zero (absent) time is smallest, else later
/// times are smaller.
fn after_or_zero(a: Option<Timestamp>, b: Option<Timestamp>) -> bool {
    match (a, b) {
        (None, _) => true,
        (_, None) => false,
        (Some(a), Some(b)) => a > b,
    }
}

/// Compares two times the logarithmic way; `None` when it cannot decide.
fn compare_times(
    a: Option<Timestamp>,
    b: Option<Timestamp>,
    a_uid: &str,
    b_uid: &str,
    now: Timestamp,
) -> Option<bool> {
    if a == b {
        return None;
    }
    match (a, b) {
        (Some(ta), Some(tb)) => {
            let diff = log_rank(ta, now) - log_rank(tb, now);
            Some(if diff == 0 { a_uid < b_uid } else { diff < 0 })
        }
        _ => Some(after_or_zero(a, b)),
    }
}

/// Upstream `ActivePodsWithRanks.Less`: whether `a` should be deleted
/// before `b`.
pub fn delete_first(a: &Pod, a_rank: usize, b: &Pod, b_rank: usize, now: Timestamp) -> bool {
    let (a_node, b_node) = (node_name(a), node_name(b));
    if a_node != b_node && (a_node.is_empty() || b_node.is_empty()) {
        return a_node.is_empty();
    }
    if phase_ordinal(a) != phase_ordinal(b) {
        return phase_ordinal(a) < phase_ordinal(b);
    }
    if is_ready(a) != is_ready(b) {
        return !is_ready(a);
    }
    if deletion_cost(a) != deletion_cost(b) {
        return deletion_cost(a) < deletion_cost(b);
    }
    if a_rank != b_rank {
        return a_rank > b_rank;
    }
    let (a_uid, b_uid) = (
        a.metadata.uid.as_deref().unwrap_or(""),
        b.metadata.uid.as_deref().unwrap_or(""),
    );
    if is_ready(a)
        && is_ready(b)
        && let Some(decided) = compare_times(ready_since(a), ready_since(b), a_uid, b_uid, now)
    {
        return decided;
    }
    let (a_restarts, b_restarts) = (max_restarts(a), max_restarts(b));
    if a_restarts.0 != b_restarts.0 {
        return a_restarts.0 > b_restarts.0;
    }
    if a_restarts.1 != b_restarts.1 {
        return a_restarts.1 > b_restarts.1;
    }
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    compare_times(created(a), created(b), a_uid, b_uid, now).unwrap_or(false)
}

/// `replicaset_controller_sorting_deletion_age_ratio`: for each ready pod
/// chosen for deletion, its age over the age of the youngest ready pod
/// (how well the ranking prefers young pods; should stay below 2).
pub fn sorting_deletion_age_ratio() -> &'static prometheus::Histogram {
    static METRIC: OnceLock<prometheus::Histogram> = OnceLock::new();
    METRIC.get_or_init(|| {
        let buckets = prometheus::exponential_buckets(0.25, 2.0, 6).unwrap_or_default();
        let histogram = prometheus::Histogram::with_opts(
            prometheus::HistogramOpts::new(
                "replicaset_controller_sorting_deletion_age_ratio",
                "The ratio of chosen deleted pod's ages to the current youngest pod's age (at the time). Should be <2. The intent of this metric is to measure the rough efficacy of the LogarithmicScaleDown feature gate's effect on the sorting (and deletion) of pods when a replicaset scales down. This only considers Ready pods when calculating and reporting.",
            )
            .buckets(buckets),
        )
        .expect("valid metric");
        if let Err(err) = prometheus::register(Box::new(histogram.clone())) {
            tracing::warn!(error = %err, "registering replicaset_controller_sorting_deletion_age_ratio");
        }
        histogram
    })
}

/// Upstream `reportSortingDeletionAgeRatioMetric` for the pods chosen.
fn report_age_ratio(candidates: &[Arc<Pod>], chosen: &[Arc<Pod>], now: Timestamp) {
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let Some(youngest) = candidates
        .iter()
        .filter(|p| is_ready(p))
        .filter_map(|p| created(p))
        .max()
    else {
        return;
    };
    let youngest_age = now.as_millisecond() - youngest.as_millisecond();
    if youngest_age <= 0 {
        return;
    }
    for pod in chosen.iter().filter(|p| is_ready(p)) {
        if let Some(at) = created(pod) {
            // Whole milliseconds divided as integers, like upstream.
            let ratio = (now.as_millisecond() - at.as_millisecond()) / youngest_age;
            sorting_deletion_age_ratio().observe(ratio as f64);
        }
    }
}

/// Upstream `getPodsToDelete`: the `count` pods of `pods` to delete first,
/// ranking each by how many active `related` pods (of the same owner's
/// family) share its node.
pub fn pods_to_delete(
    mut pods: Vec<Arc<Pod>>,
    related: &[Arc<Pod>],
    count: usize,
    now: Timestamp,
) -> Vec<Arc<Pod>> {
    if count < pods.len() {
        let mut on_node: HashMap<&str, usize> = HashMap::new();
        for pod in related.iter().filter(|p| is_active(p)) {
            *on_node.entry(node_name(pod)).or_default() += 1;
        }
        let mut ranked: Vec<(Arc<Pod>, usize)> = pods
            .into_iter()
            .map(|p| {
                let rank = on_node.get(node_name(&p)).copied().unwrap_or(0);
                (p, rank)
            })
            .collect();
        merge_sort(&mut ranked, &|(a, ra), (b, rb)| {
            delete_first(a, *ra, b, *rb, now)
        });
        pods = ranked.into_iter().map(|(p, _)| p).collect();
        report_age_ratio(&pods, &pods[..count], now);
    }
    pods.truncate(count);
    pods
}

/// A stable merge sort by `less`; never panics, whatever `less` answers.
fn merge_sort<T: Clone>(items: &mut [T], less: &dyn Fn(&T, &T) -> bool) {
    if items.len() <= 1 {
        return;
    }
    let mid = items.len() / 2;
    merge_sort(&mut items[..mid], less);
    merge_sort(&mut items[mid..], less);
    let mut merged = Vec::with_capacity(items.len());
    let (mut i, mut j) = (0, mid);
    while i < mid && j < items.len() {
        if less(&items[j], &items[i]) {
            merged.push(items[j].clone());
            j += 1;
        } else {
            merged.push(items[i].clone());
            i += 1;
        }
    }
    merged.extend_from_slice(&items[i..mid]);
    merged.extend_from_slice(&items[j..]);
    items.clone_from_slice(&merged);
}

/// Ordering helper for tests and callers that want a comparator.
pub fn ordering(a: &Pod, b: &Pod, now: Timestamp) -> Ordering {
    if delete_first(a, 0, b, 0, now) {
        Ordering::Less
    } else if delete_first(b, 0, a, 0, now) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::pod_readiness::testing::pod;
    use k8s_openapi::api::core::v1::ContainerStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::SignedDuration;

    fn names(pods: &[Arc<Pod>]) -> Vec<String> {
        pods.iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect()
    }

    fn ago(now: Timestamp, secs: i64) -> Timestamp {
        now - SignedDuration::from_secs(secs)
    }

    #[test]
    fn log_rank_is_floor_log2_of_nanoseconds() {
        let now = Timestamp::now();
        assert_eq!(log_rank(now, now), -1);
        assert_eq!(log_rank(now - SignedDuration::from_nanos(1), now), 0);
        assert_eq!(log_rank(now - SignedDuration::from_nanos(2), now), 1);
        assert_eq!(log_rank(now - SignedDuration::from_nanos(1023), now), 9);
        assert_eq!(log_rank(now - SignedDuration::from_nanos(1024), now), 10);
    }

    #[test]
    fn unhealthy_pods_go_first() {
        let now = Timestamp::now();
        let ready_long = pod("ready-long", "Running", "n1", Some(ago(now, 100_000)));
        let ready_short = pod("ready-short", "Running", "n1", Some(ago(now, 10)));
        let running_not_ready = pod("not-ready", "Running", "n1", None);
        let unknown = pod("unknown", "Unknown", "n1", None);
        let pending = pod("pending", "Pending", "n1", None);
        let unscheduled = pod("unscheduled", "Pending", "", None);
        let all: Vec<Arc<Pod>> = [
            ready_long,
            ready_short,
            running_not_ready,
            unknown,
            pending,
            unscheduled,
        ]
        .into_iter()
        .map(Arc::new)
        .collect();
        let mut reversed = all.clone();
        reversed.reverse();
        let order = pods_to_delete(reversed, &[], 5, now);
        assert_eq!(
            names(&order),
            [
                "unscheduled",
                "pending",
                "unknown",
                "not-ready",
                "ready-short"
            ]
        );
    }

    #[test]
    fn cost_rank_restarts_and_age_break_ties() {
        let now = Timestamp::now();
        let mut cheap = pod("cheap", "Running", "n1", None);
        cheap.metadata.annotations =
            Some([(POD_DELETION_COST.to_string(), "-5".to_string())].into());
        let crowded = pod("crowded", "Running", "n2", None);
        let mut restarted = pod("restarted", "Running", "n3", None);
        restarted.status.as_mut().unwrap().container_statuses = Some(vec![ContainerStatus {
            name: "c".into(),
            restart_count: 4,
            ..ContainerStatus::default()
        }]);
        let mut newer = pod("newer", "Running", "n3", None);
        newer.metadata.creation_timestamp = Some(Time(ago(now, 10)));
        let mut older = pod("older", "Running", "n3", None);
        older.metadata.creation_timestamp = Some(Time(ago(now, 100_000)));
        let related: Vec<Arc<Pod>> = (0..3)
            .map(|i| Arc::new(pod(&format!("r{i}"), "Running", "n2", None)))
            .collect();
        let pods: Vec<Arc<Pod>> = [older, newer, restarted, crowded, cheap]
            .into_iter()
            .map(Arc::new)
            .collect();
        let order = pods_to_delete(pods, &related, 4, now);
        assert_eq!(names(&order), ["cheap", "crowded", "restarted", "newer"]);
    }

    #[test]
    fn deleting_everything_keeps_the_input() {
        let now = Timestamp::now();
        let pods: Vec<Arc<Pod>> = ["b", "a"]
            .iter()
            .map(|n| Arc::new(pod(n, "Running", "n", None)))
            .collect();
        assert_eq!(names(&pods_to_delete(pods, &[], 2, now)), ["b", "a"]);
        let a = pod("a", "Pending", "", None);
        let b = pod("b", "Running", "n", None);
        assert_eq!(ordering(&a, &b, now), Ordering::Less);
        assert_eq!(ordering(&b, &a, now), Ordering::Greater);
    }
}
