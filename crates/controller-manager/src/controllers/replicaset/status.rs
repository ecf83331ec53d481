//! The status of a ReplicaSet / ReplicationController (upstream
//! `calculateStatus` and `updateReplicaSetStatus`).

use std::sync::Arc;

use k8s_openapi::api::apps::v1::ReplicaSetCondition;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use super::{REPLICA_FAILURE, ReplicaOwner, new_condition};
use crate::framework::pod_readiness::{is_available, is_ready};
use crate::framework::selector::Selector;

/// The status fields shared by ReplicaSets and ReplicationControllers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplicaStatus {
    /// Active pods owned.
    pub replicas: i32,
    /// Of those, pods whose labels match the template's labels.
    pub fully_labeled_replicas: i32,
    /// Of those, ready pods.
    pub ready_replicas: i32,
    /// Of those, pods ready for at least `minReadySeconds`.
    pub available_replicas: i32,
    /// The generation this status describes.
    pub observed_generation: i64,
    /// Conditions (only `ReplicaFailure` is written by the controller).
    pub conditions: Vec<ReplicaSetCondition>,
    /// Kept as found (the feature that fills it is off by default in 1.33).
    pub terminating_replicas: Option<i32>,
}

impl ReplicaStatus {
    /// The condition of `type_`, if present.
    pub fn condition(&self, type_: &str) -> Option<&ReplicaSetCondition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// Upstream `SetCondition`: replaces the condition of the same type,
    /// keeping its transition time if the status did not change.
    pub fn set_condition(&mut self, mut condition: ReplicaSetCondition) {
        if let Some(current) = self.condition(&condition.type_) {
            if current.status == condition.status && current.reason == condition.reason {
                return;
            }
            if current.status == condition.status {
                condition.last_transition_time = current.last_transition_time.clone();
            }
        }
        self.conditions.retain(|c| c.type_ != condition.type_);
        self.conditions.push(condition);
    }
}

/// Upstream `calculateStatus`: counts over the claimed active `pods`;
/// `manage_error` (a failed create or delete) sets `ReplicaFailure`, a
/// successful sync removes it.
pub fn calculate_status<K: ReplicaOwner>(
    owner: &K,
    pods: &[Arc<Pod>],
    manage_error: Option<&str>,
    now: Timestamp,
) -> ReplicaStatus {
    let mut status = owner.replica_status();
    let template_labels = owner
        .template()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let template_selector = Selector::from_set(&template_labels);
    let min_ready = owner.min_ready_seconds();
    let mut fully_labeled = 0;
    let mut ready = 0;
    let mut available = 0;
    for pod in pods {
        if template_selector.matches(pod.metadata.labels.as_ref()) {
            fully_labeled += 1;
        }
        if is_ready(pod) {
            ready += 1;
            if is_available(pod, min_ready, now) {
                available += 1;
            }
        }
    }
    let has_failure = status.condition(REPLICA_FAILURE).is_some();
    match manage_error {
        Some(message) if !has_failure => {
            let diff =
                i64::try_from(pods.len()).unwrap_or(i64::MAX) - i64::from(owner.desired_replicas());
            let reason = match diff.signum() {
                -1 => "FailedCreate",
                1 => "FailedDelete",
                _ => "",
            };
            status.set_condition(new_condition(REPLICA_FAILURE, "True", reason, message));
        }
        None if has_failure => status.conditions.retain(|c| c.type_ != REPLICA_FAILURE),
        _ => {}
    }
    status.replicas = i32::try_from(pods.len()).unwrap_or(i32::MAX);
    status.fully_labeled_replicas = fully_labeled;
    status.ready_replicas = ready;
    status.available_replicas = available;
    status
}

/// Whether `new` differs from what `owner` has (upstream compares the
/// counts, the conditions and whether the generation was observed).
pub fn needs_update<K: ReplicaOwner>(owner: &K, new: &ReplicaStatus) -> bool {
    let current = owner.replica_status();
    let generation = owner.meta().generation.unwrap_or(0);
    current.replicas != new.replicas
        || current.fully_labeled_replicas != new.fully_labeled_replicas
        || current.ready_replicas != new.ready_replicas
        || current.available_replicas != new.available_replicas
        || current.observed_generation != generation
        || current.conditions != new.conditions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::pod_readiness::testing::pod;
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use k8s_openapi::jiff::SignedDuration;

    fn rs(replicas: i32, min_ready: i32) -> ReplicaSet {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "ns", "generation": 2},
            "spec": {
                "replicas": replicas,
                "minReadySeconds": min_ready,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web", "tier": "fe"}}}
            }
        }))
        .unwrap()
    }

    fn labeled(mut p: Pod, labels: &[(&str, &str)]) -> Arc<Pod> {
        p.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        Arc::new(p)
    }

    #[test]
    fn counts_follow_labels_readiness_and_min_ready_seconds() {
        let now = Timestamp::now();
        let long_ago = now - SignedDuration::from_secs(60);
        let just_now = now - SignedDuration::from_secs(1);
        let pods = vec![
            labeled(
                pod("a", "Running", "n", Some(long_ago)),
                &[("app", "web"), ("tier", "fe")],
            ),
            labeled(pod("b", "Running", "n", Some(just_now)), &[("app", "web")]),
            labeled(
                pod("c", "Pending", "", None),
                &[("app", "web"), ("tier", "fe")],
            ),
        ];
        let status = calculate_status(&rs(3, 10), &pods, None, now);
        assert_eq!(status.replicas, 3);
        assert_eq!(status.fully_labeled_replicas, 2);
        assert_eq!(status.ready_replicas, 2);
        assert_eq!(status.available_replicas, 1);
        assert!(needs_update(&rs(3, 10), &status));
    }

    #[test]
    fn manage_errors_set_and_clear_replica_failure() {
        let now = Timestamp::now();
        let owner = rs(3, 0);
        let failed = calculate_status(&owner, &[], Some("pods \"web-\" is forbidden"), now);
        let condition = failed.condition(REPLICA_FAILURE).unwrap();
        assert_eq!(condition.reason.as_deref(), Some("FailedCreate"));
        assert_eq!(condition.status, "True");
        assert_eq!(
            condition.message.as_deref(),
            Some("pods \"web-\" is forbidden")
        );
        let owner = owner.with_status(&failed);
        let healed = calculate_status(&owner, &[], None, now);
        assert!(healed.condition(REPLICA_FAILURE).is_none());
    }
}
