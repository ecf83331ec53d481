//! Which pods a StatefulSet RollingUpdate deletes next (upstream
//! `updateStatefulSet` after the invariant is established: every ordinal
//! below `replicas` exists or was just created). Two policies, as upstream:
//! one pod at a time, waiting on unhealthy pods, with the
//! MaxUnavailableStatefulSet gate off (its 1.33 default); with it on, up to
//! `rollingUpdate.maxUnavailable` pods are down at once.

use std::sync::Arc;

use corten_apimachinery::feature_gates;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;

use super::control::{is_healthy, is_terminating, min_ready_seconds, partition};
use super::identity::pod_revision;
use crate::controllers::deployment::replicas::scaled_value;

/// The pods to delete now for the update to `update_revision`, highest
/// ordinal first. `slots` holds the pods of ordinals `0..replicas` (None
/// for one just created).
pub(super) fn targets<'a>(
    set: &StatefulSet,
    slots: &'a [Option<Arc<Pod>>],
    update_revision: &str,
    now: Timestamp,
) -> Result<Vec<&'a Arc<Pod>>, String> {
    if feature_gates::enabled("MaxUnavailableStatefulSet") {
        up_to_max_unavailable(set, slots, update_revision, now)
    } else {
        Ok(one_at_a_time(set, slots, update_revision, now)
            .into_iter()
            .collect())
    }
}

/// The pod a RollingUpdate deletes next, if any (upstream with the
/// MaxUnavailableStatefulSet gate off, its 1.33 default, so
/// `rollingUpdate.maxUnavailable` is ignored). From the highest ordinal down to the partition: the first
/// pod not at the update revision (and not already terminating) goes, but
/// the walk stops at the first pod that is missing or not healthy. Pods
/// below the partition are never waited on.
fn one_at_a_time<'a>(
    set: &StatefulSet,
    slots: &'a [Option<Arc<Pod>>],
    update_revision: &str,
    now: Timestamp,
) -> Option<&'a Arc<Pod>> {
    let min_ready = min_ready_seconds(set);
    let lowest = usize::try_from(partition(set)).unwrap_or(0);
    for slot in slots.iter().skip(lowest).rev() {
        // A missing pod was just created (from the update revision).
        let pod = slot.as_ref()?;
        if pod_revision(pod) != update_revision && !is_terminating(pod) {
            return Some(pod);
        }
        if !is_healthy(pod, min_ready, now) {
            return None;
        }
    }
    None
}

/// Upstream `getStatefulSetMaxUnavailable`: `maxUnavailable` (default 1)
/// of the replica count, a percentage rounded down, at least 1.
fn max_unavailable(set: &StatefulSet) -> Result<i32, String> {
    let spec = set.spec.as_ref();
    let replicas = spec.and_then(|s| s.replicas).unwrap_or(1);
    let value = spec
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|r| r.max_unavailable.clone())
        .unwrap_or(IntOrString::Int(1));
    Ok(scaled_value(&value, replicas, false)?.max(1))
}

/// The MaxUnavailableStatefulSet policy (upstream
/// `updateStatefulSetAfterInvariantEstablished`): count the unavailable pods
/// of every ordinal (a missing one counts); if fewer than `maxUnavailable`
/// are down, delete the difference among the outdated pods at or above the
/// partition, highest first, without waiting on the ones in between.
fn up_to_max_unavailable<'a>(
    set: &StatefulSet,
    slots: &'a [Option<Arc<Pod>>],
    update_revision: &str,
    now: Timestamp,
) -> Result<Vec<&'a Arc<Pod>>, String> {
    let max = usize::try_from(max_unavailable(set)?).unwrap_or(1);
    let min_ready = min_ready_seconds(set);
    let unavailable = slots
        .iter()
        .filter(|slot| !slot.as_ref().is_some_and(|p| is_healthy(p, min_ready, now)))
        .count();
    let budget = max.saturating_sub(unavailable);
    let lowest = usize::try_from(partition(set)).unwrap_or(0);
    Ok(slots
        .iter()
        .skip(lowest)
        .rev()
        .flatten()
        .filter(|p| pod_revision(p) != update_revision && !is_terminating(p))
        .take(budget)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::statefulset::fixtures::{pod, set};
    use kube::ResourceExt;
    use serde_json::json;

    fn slots(pods: &[(&str, &str, bool)]) -> Vec<Option<Arc<Pod>>> {
        pods.iter().map(|(n, r, ok)| Some(pod(n, r, *ok))).collect()
    }

    fn target(s: &StatefulSet, slots: &[Option<Arc<Pod>>]) -> Option<String> {
        one_at_a_time(s, slots, "r2", Timestamp::now()).map(|p| p.name_any())
    }

    #[test]
    fn rolling_update_ignores_max_unavailable_and_goes_one_at_a_time() {
        // maxUnavailable 3 would allow all three old pods at once with the
        // alpha gate on; with it off (1.33 default) only the highest goes.
        let s = set(json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 3}}));
        let all_old = slots(&[
            ("web-0", "r1", true),
            ("web-1", "r1", true),
            ("web-2", "r1", true),
        ]);
        assert_eq!(target(&s, &all_old).as_deref(), Some("web-2"));
        // The recreated web-2 is not ready yet: wait, whatever maxUnavailable says.
        let waiting = slots(&[
            ("web-0", "r1", true),
            ("web-1", "r1", true),
            ("web-2", "r2", false),
        ]);
        assert_eq!(target(&s, &waiting), None);
        let mut missing = waiting.clone();
        missing[2] = None;
        assert_eq!(target(&s, &missing), None);
        let next = slots(&[
            ("web-0", "r1", true),
            ("web-1", "r1", true),
            ("web-2", "r2", true),
        ]);
        assert_eq!(target(&s, &next).as_deref(), Some("web-1"));
        let done = slots(&[
            ("web-0", "r2", true),
            ("web-1", "r2", true),
            ("web-2", "r2", true),
        ]);
        assert_eq!(target(&s, &done), None);
    }

    #[test]
    fn rolling_update_waits_only_on_pods_at_or_above_the_partition() {
        let s = set(json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}));
        // web-0 (below the partition) is unready: web-2 still goes.
        let pods = slots(&[
            ("web-0", "r1", false),
            ("web-1", "r1", true),
            ("web-2", "r1", true),
        ]);
        assert_eq!(target(&s, &pods).as_deref(), Some("web-2"));
        // Down to the partition, web-0 stays at its revision.
        let pods = slots(&[
            ("web-0", "r1", false),
            ("web-1", "r2", true),
            ("web-2", "r2", true),
        ]);
        assert_eq!(target(&s, &pods), None);
        // An unready updated pod above the partition holds the rollout.
        let pods = slots(&[
            ("web-0", "r1", true),
            ("web-1", "r1", true),
            ("web-2", "r2", false),
        ]);
        assert_eq!(target(&s, &pods), None);
    }

    fn with_replicas(strategy: serde_json::Value, replicas: i32) -> StatefulSet {
        let mut s = set(strategy);
        s.spec.as_mut().unwrap().replicas = Some(replicas);
        s
    }

    fn names(s: &StatefulSet, slots: &[Option<Arc<Pod>>]) -> Vec<String> {
        up_to_max_unavailable(s, slots, "r2", Timestamp::now())
            .unwrap()
            .iter()
            .map(|p| p.name_any())
            .collect()
    }

    #[test]
    fn max_unavailable_deletes_several_outdated_pods_at_once() {
        let s = with_replicas(
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}}),
            4,
        );
        let all_old = slots(&[
            ("web-0", "r1", true),
            ("web-1", "r1", true),
            ("web-2", "r1", true),
            ("web-3", "r1", true),
        ]);
        assert_eq!(names(&s, &all_old), ["web-3", "web-2"]);
        // web-3 is back (updated) but not ready yet, web-2 missing: both
        // count as unavailable, so nothing more goes.
        let mut waiting = slots(&[
            ("web-0", "r1", true),
            ("web-1", "r1", true),
            ("web-2", "r1", true),
            ("web-3", "r2", false),
        ]);
        waiting[2] = None;
        assert!(names(&s, &waiting).is_empty());
        // One down: one more may go, the highest outdated one.
        let one_down = slots(&[
            ("web-0", "r1", true),
            ("web-1", "r1", true),
            ("web-2", "r2", true),
            ("web-3", "r2", false),
        ]);
        assert_eq!(names(&s, &one_down), ["web-1"]);
    }

    #[test]
    fn max_unavailable_percentage_rounds_down_to_at_least_one_and_keeps_the_partition() {
        // 50% of 3 is 1.5: one pod at a time.
        let s = with_replicas(
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "50%"}}),
            3,
        );
        let all_old = slots(&[
            ("web-0", "r1", true),
            ("web-1", "r1", true),
            ("web-2", "r1", true),
        ]);
        assert_eq!(names(&s, &all_old), ["web-2"]);
        // 10% of 3 rounds to 0, raised to 1.
        let s = with_replicas(
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}}),
            3,
        );
        assert_eq!(names(&s, &all_old), ["web-2"]);
        // Pods below the partition are never deleted, but an unready one
        // still counts against the budget.
        let s = with_replicas(
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 3, "partition": 1}}),
            3,
        );
        let low_unready = slots(&[
            ("web-0", "r1", false),
            ("web-1", "r1", true),
            ("web-2", "r1", true),
        ]);
        assert_eq!(names(&s, &low_unready), ["web-2", "web-1"]);
        // Without rollingUpdate at all, maxUnavailable is 1.
        let s = with_replicas(json!({"type": "RollingUpdate"}), 3);
        assert_eq!(names(&s, &all_old), ["web-2"]);
    }
}
