//! The arithmetic of a PodDisruptionBudget's status (upstream
//! `getExpectedPodCount`, `countHealthyPods`, `updatePdbStatus`), free of
//! I/O so it can be tested on its own.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;

use crate::framework::pod_readiness::is_ready;

/// How long an entry of `status.disruptedPods` keeps a pod out of the
/// healthy count when the pod is not deleted (upstream `DeletionTimeout`).
pub const DELETION_TIMEOUT: SignedDuration = SignedDuration::from_secs(120);
/// The condition type.
pub const DISRUPTION_ALLOWED: &str = "DisruptionAllowed";

/// Why the expected pod count could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// A percentage that does not parse.
    #[error("invalid value for IntOrString: invalid value {0:?}")]
    BadPercent(String),
    /// A pod whose controller is missing or has no scale we know.
    #[error("found no controllers for pod {0:?}")]
    UnknownController(String),
    /// Looking up a controller's scale failed (discovery, a resource
    /// without a scale subresource, an API error).
    #[error("{0}")]
    Lookup(String),
}

/// Resolves an int-or-percent against `total`, rounding up (upstream
/// `GetScaledValueFromIntOrPercent(..., true)`).
pub fn scaled(value: &IntOrString, total: i32) -> Result<i32, BudgetError> {
    match value {
        IntOrString::Int(v) => Ok(*v),
        IntOrString::String(s) => {
            let percent: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| BudgetError::BadPercent(s.clone()))?;
            let scaled = (percent * i64::from(total) + 99).div_euclid(100);
            Ok(i32::try_from(scaled).unwrap_or(i32::MAX))
        }
    }
}

fn is_percent(value: &IntOrString) -> bool {
    matches!(value, IntOrString::String(_))
}

/// Whether [`expected_counts`] needs the scale of the pods' controllers:
/// `maxUnavailable`, or `minAvailable` as a percentage.
pub fn needs_scale(pdb: &PodDisruptionBudget) -> bool {
    let spec = pdb.spec.as_ref();
    spec.is_some_and(|s| s.max_unavailable.is_some())
        || spec
            .and_then(|s| s.min_available.as_ref())
            .is_some_and(is_percent)
}

/// `(expectedCount, desiredHealthy)`. `scale` gives the summed scale of the
/// pods' controllers; it is only asked for when a percentage or
/// `maxUnavailable` needs it.
pub fn expected_counts(
    pdb: &PodDisruptionBudget,
    pods: &[&Pod],
    scale: impl FnOnce() -> Result<i32, BudgetError>,
) -> Result<(i32, i32), BudgetError> {
    let spec = pdb.spec.as_ref();
    if let Some(max_unavailable) = spec.and_then(|s| s.max_unavailable.as_ref()) {
        let expected = scale()?;
        let max_unavailable = scaled(max_unavailable, expected)?;
        return Ok((expected, (expected - max_unavailable).max(0)));
    }
    if let Some(min_available) = spec.and_then(|s| s.min_available.as_ref()) {
        if is_percent(min_available) {
            let expected = scale()?;
            return Ok((expected, scaled(min_available, expected)?));
        }
        let count = i32::try_from(pods.len()).unwrap_or(i32::MAX);
        return Ok((count, scaled(min_available, count)?));
    }
    Ok((0, 0))
}

/// What became of `status.disruptedPods` at one sync (upstream
/// `buildDisruptedPodMap`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DisruptedPods {
    /// The entries still in force: the pod exists, is not being deleted,
    /// and was evicted less than [`DELETION_TIMEOUT`] ago.
    pub live: BTreeMap<String, Time>,
    /// When the next live entry lapses.
    pub next_expiry: Option<Timestamp>,
    /// Pods evicted longer ago than [`DELETION_TIMEOUT`] that still exist
    /// and are not being deleted (upstream's `NotDeleted` event).
    pub not_deleted: Vec<String>,
}

/// Sorts the recorded `disruptedPods` entries of `pdb` at `now`. Entries
/// of pods that are gone or being deleted are dropped.
pub fn disrupted_pods(pdb: &PodDisruptionBudget, pods: &[&Pod], now: Timestamp) -> DisruptedPods {
    let mut result = DisruptedPods::default();
    let recorded = pdb.status.as_ref().and_then(|s| s.disrupted_pods.as_ref());
    let Some(recorded) = recorded else {
        return result;
    };
    for pod in pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let name = pod.name_any();
        let Some(at) = recorded.get(&name) else {
            continue;
        };
        let expires = at.0.checked_add(DELETION_TIMEOUT).unwrap_or(Timestamp::MAX);
        if expires < now {
            result.not_deleted.push(name);
            continue;
        }
        result.next_expiry = Some(result.next_expiry.map_or(expires, |n| n.min(expires)));
        result.live.insert(name, at.clone());
    }
    result
}

/// Healthy pods: ready, not being deleted, not recently evicted.
pub fn count_healthy(pods: &[&Pod], disrupted: &BTreeMap<String, Time>) -> i32 {
    let healthy = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| !disrupted.contains_key(&p.name_any()))
        .filter(|p| is_ready(p))
        .count();
    i32::try_from(healthy).unwrap_or(i32::MAX)
}

/// Upstream `updatePdbStatus`: nothing may be disrupted while no pods
/// are expected (a PDB whose pods just appeared is safe until synced).
pub fn disruptions_allowed(current: i32, desired: i32, expected: i32) -> i32 {
    if expected <= 0 {
        return 0;
    }
    (current - desired).max(0)
}

/// Sets the `DisruptionAllowed` condition, keeping the transition time
/// when the status is unchanged (`meta.SetStatusCondition`).
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    status: bool,
    reason: &str,
    message: &str,
    generation: i64,
    now: Timestamp,
) {
    let status = if status { "True" } else { "False" };
    let now = Time(Timestamp::from_second(now.as_second()).unwrap_or(now));
    match conditions
        .iter_mut()
        .find(|c| c.type_ == DISRUPTION_ALLOWED)
    {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = now;
            }
            c.status = status.to_string();
            c.reason = reason.to_string();
            c.message = message.to_string();
            c.observed_generation = Some(generation);
        }
        None => conditions.push(Condition {
            type_: DISRUPTION_ALLOWED.to_string(),
            status: status.to_string(),
            reason: reason.to_string(),
            message: message.to_string(),
            observed_generation: Some(generation),
            last_transition_time: now,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pdb(spec: serde_json::Value) -> PodDisruptionBudget {
        serde_json::from_value(json!({"metadata": {"name": "b", "generation": 2}, "spec": spec}))
            .unwrap()
    }

    fn pod(name: &str, ready: bool) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "status": {"conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
        }))
        .unwrap()
    }

    #[test]
    fn percentages_round_up() {
        assert_eq!(scaled(&IntOrString::String("50%".into()), 5), Ok(3));
        assert_eq!(scaled(&IntOrString::String("0%".into()), 5), Ok(0));
        assert_eq!(scaled(&IntOrString::Int(2), 5), Ok(2));
        assert!(scaled(&IntOrString::String("half".into()), 5).is_err());
    }

    #[test]
    fn expected_and_desired_counts() {
        let pods = [pod("a", true), pod("b", true), pod("c", false)];
        let refs: Vec<&Pod> = pods.iter().collect();
        let no_scale = || -> Result<i32, BudgetError> { panic!("scale not needed") };
        assert_eq!(
            expected_counts(&pdb(json!({"minAvailable": 2})), &refs, no_scale),
            Ok((3, 2))
        );
        assert_eq!(
            expected_counts(&pdb(json!({"minAvailable": "50%"})), &refs, || Ok(4)),
            Ok((4, 2))
        );
        assert_eq!(
            expected_counts(&pdb(json!({"maxUnavailable": 1})), &refs, || Ok(4)),
            Ok((4, 3))
        );
        assert_eq!(
            expected_counts(&pdb(json!({"maxUnavailable": "30%"})), &refs, || Ok(4)),
            Ok((4, 2))
        );
        assert_eq!(
            expected_counts(&pdb(json!({"maxUnavailable": 1})), &refs, || Err(
                BudgetError::UnknownController("a".into())
            )),
            Err(BudgetError::UnknownController("a".into()))
        );
        assert!(!needs_scale(&pdb(json!({"minAvailable": 2}))));
        assert!(needs_scale(&pdb(json!({"minAvailable": "50%"}))));
        assert!(needs_scale(&pdb(json!({"maxUnavailable": 0}))));
        assert!(!needs_scale(&pdb(json!({}))));
        assert_eq!(count_healthy(&refs, &BTreeMap::new()), 2);
        assert_eq!(disruptions_allowed(2, 2, 3), 0);
        assert_eq!(disruptions_allowed(3, 2, 3), 1);
        assert_eq!(disruptions_allowed(3, 0, 0), 0);
    }

    #[test]
    fn disrupted_pods_expire() {
        let now = Timestamp::from_second(1_000_000).unwrap();
        let at = |s: i64| Time(Timestamp::from_second(1_000_000 - s).unwrap());
        let mut budget = pdb(json!({"minAvailable": 1}));
        budget.status = Some(
            serde_json::from_value(json!({
                "disruptedPods": {"a": at(10), "b": at(200), "gone": at(5), "deleting": at(5)},
                "currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0, "expectedPods": 0
            }))
            .unwrap(),
        );
        let mut deleting = pod("deleting", true);
        deleting.metadata.deletion_timestamp = Some(Time(now));
        let pods = [pod("a", true), pod("b", true), deleting];
        let refs: Vec<&Pod> = pods.iter().collect();
        let result = disrupted_pods(&budget, &refs, now);
        assert_eq!(result.live.keys().collect::<Vec<_>>(), ["a"]);
        assert_eq!(
            result.next_expiry,
            Some(Timestamp::from_second(1_000_110).unwrap())
        );
        // b was evicted 200 s ago and still runs: upstream's NotDeleted.
        assert_eq!(result.not_deleted, ["b"]);
        assert_eq!(count_healthy(&refs, &result.live), 1);
        // Exactly at the timeout an entry still holds (upstream: expired
        // only once the deadline is before now).
        let edge = disrupted_pods(&budget, &refs, Timestamp::from_second(1_000_110).unwrap());
        assert_eq!(edge.live.keys().collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    fn condition_transition_time_moves_only_on_change() {
        let t0 = Timestamp::from_second(1_000).unwrap();
        let t1 = Timestamp::from_second(2_000).unwrap();
        let mut conditions = Vec::new();
        set_condition(&mut conditions, true, "SufficientPods", "", 1, t0);
        set_condition(&mut conditions, true, "SufficientPods", "", 2, t1);
        assert_eq!(conditions[0].last_transition_time.0, t0);
        assert_eq!(conditions[0].observed_generation, Some(2));
        set_condition(&mut conditions, false, "InsufficientPods", "", 2, t1);
        assert_eq!(conditions[0].last_transition_time.0, t1);
    }
}
