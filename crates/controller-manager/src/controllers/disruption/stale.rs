//! Resetting stale `DisruptionTarget` pod conditions (upstream
//! `syncStalePodDisruption`): the eviction API (and preemption) set
//! `DisruptionTarget=True` just before deleting a pod; if the deletion
//! never happened (it failed, or a PDB refused it after the condition was
//! written), the condition would claim forever that the pod is going away.
//! Two minutes after its last transition, on a pod that is not being
//! deleted and not terminal, it is set back to `False`. Conditions the
//! kubelet added (`TerminationByKubelet`) are never stale.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;

use crate::framework::api_errors;
use crate::framework::informer::Informer;
use crate::framework::key::ObjectKey;
use crate::framework::worker::{Action, Reconciler};

/// The condition type.
pub const DISRUPTION_TARGET: &str = "DisruptionTarget";
/// Reason of the kubelet's own disruption conditions (never stale).
const TERMINATION_BY_KUBELET: &str = "TerminationByKubelet";
/// How long a `DisruptionTarget=True` condition may stand on a pod that
/// is not being deleted (upstream `stalePodDisruptionTimeout`).
pub const STALE_POD_DISRUPTION_TIMEOUT: Duration = Duration::from_secs(120);

/// When the pod's `DisruptionTarget` condition turns stale: `None` if it
/// has none that can (upstream `nonTerminatingPodHasStaleDisruptionCondition`),
/// else how long from `now` (zero: stale already).
pub fn stale_after(pod: &Pod, now: Timestamp) -> Option<Duration> {
    if pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let status = pod.status.as_ref()?;
    if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
        return None;
    }
    let condition = disruption_condition(pod)?;
    if condition.status != "True" || condition.reason.as_deref() == Some(TERMINATION_BY_KUBELET) {
        return None;
    }
    let since = condition.last_transition_time.as_ref().map_or(now, |t| t.0);
    let age = now.duration_since(since);
    let age = Duration::try_from(age).unwrap_or_default();
    Some(STALE_POD_DISRUPTION_TIMEOUT.saturating_sub(age))
}

fn disruption_condition(pod: &Pod) -> Option<&PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == DISRUPTION_TARGET)
}

/// The pod's conditions with `DisruptionTarget` reset to `False` (reason
/// and message cleared, the transition at `now`), as upstream's
/// `UpdatePodCondition` with a bare condition does.
pub fn reset_conditions(pod: &Pod, now: Timestamp) -> Vec<PodCondition> {
    let now = Time(Timestamp::from_second(now.as_second()).unwrap_or(now));
    let mut conditions = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    for condition in &mut conditions {
        if condition.type_ == DISRUPTION_TARGET {
            *condition = PodCondition {
                type_: DISRUPTION_TARGET.to_string(),
                status: "False".to_string(),
                last_transition_time: Some(now.clone()),
                ..PodCondition::default()
            };
        }
    }
    conditions
}

/// Resets stale `DisruptionTarget` conditions, one pod key at a time.
pub struct StaleDisruptionReconciler {
    pub(super) client: Client,
    pub(super) pods: Informer<Pod>,
}

/// Writing the pod status failed (retried with backoff).
#[derive(Debug, thiserror::Error)]
#[error("resetting the DisruptionTarget condition: {}", api_errors::message(.0))]
pub struct ResetError(kube::Error);

impl Reconciler<ObjectKey> for StaleDisruptionReconciler {
    type Error = ResetError;

    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, ResetError> {
        let Some(pod) = self.pods.get(key.namespace.as_deref(), &key.name) else {
            return Ok(Action::await_change());
        };
        let now = Timestamp::now();
        match stale_after(&pod, now) {
            None => return Ok(Action::await_change()),
            Some(wait) if !wait.is_zero() => return Ok(Action::requeue(wait)),
            Some(_) => {}
        }
        // The resourceVersion makes this an update of the pod as seen: a
        // concurrent change (the pod being deleted after all) conflicts.
        let patch = json!({
            "metadata": {"resourceVersion": pod.metadata.resource_version},
            "status": {"conditions": reset_conditions(&pod, now)},
        });
        let api: Api<Pod> = Api::namespaced(
            self.client.clone(),
            key.namespace.as_deref().unwrap_or_default(),
        );
        match api
            .patch_status(&key.name, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Ok(_) => {
                tracing::info!(pod = %key, "reset stale DisruptionTarget condition to False");
                Ok(Action::await_change())
            }
            Err(err) if api_errors::is_not_found(&err) => Ok(Action::await_change()),
            Err(err) => Err(ResetError(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "status": status})).unwrap()
    }

    fn at(second: i64) -> String {
        Timestamp::from_second(second).unwrap().to_string()
    }

    #[test]
    fn only_unfinished_disruptions_turn_stale_after_two_minutes() {
        let now = Timestamp::from_second(10_000).unwrap();
        let target = |status: &str, reason: &str, since: i64| {
            json!([{"type": "DisruptionTarget", "status": status, "reason": reason,
                    "lastTransitionTime": at(since)}])
        };
        let running = pod(json!({"phase": "Running",
            "conditions": target("True", "EvictionByEvictionAPI", 10_000 - 30)}));
        assert_eq!(stale_after(&running, now), Some(Duration::from_secs(90)));
        let old = pod(json!({"phase": "Running",
            "conditions": target("True", "EvictionByEvictionAPI", 10_000 - 500)}));
        assert_eq!(stale_after(&old, now), Some(Duration::ZERO));
        let by_kubelet = pod(json!({"phase": "Running",
            "conditions": target("True", "TerminationByKubelet", 0)}));
        assert_eq!(stale_after(&by_kubelet, now), None);
        let finished = pod(json!({"phase": "Failed",
            "conditions": target("True", "EvictionByEvictionAPI", 0)}));
        assert_eq!(stale_after(&finished, now), None);
        let reset = pod(json!({"phase": "Running",
            "conditions": target("False", "", 0)}));
        assert_eq!(stale_after(&reset, now), None);
        let mut deleting = old.clone();
        deleting.metadata.deletion_timestamp = Some(Time(now));
        assert_eq!(stale_after(&deleting, now), None);
        assert_eq!(stale_after(&pod(json!({"phase": "Running"})), now), None);
    }

    #[test]
    fn reset_clears_reason_and_keeps_other_conditions() {
        let now = Timestamp::from_second(10_000).unwrap();
        let p = pod(json!({"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI",
             "message": "Eviction API: evicting", "lastTransitionTime": at(1)}
        ]}));
        let conditions = reset_conditions(&p, now);
        assert_eq!(conditions.len(), 2);
        assert_eq!(conditions[0].type_, "Ready");
        let reset = &conditions[1];
        assert_eq!(
            (
                reset.status.as_str(),
                reset.reason.as_deref(),
                reset.message.as_deref()
            ),
            ("False", None, None)
        );
        assert_eq!(reset.last_transition_time.as_ref().unwrap().0, now);
    }
}
