//! Deployment status and conditions (upstream `calculateStatus` and the
//! progress helpers of `deploymentutil`).
//!
//! | condition | status | reason | when |
//! | --- | --- | --- | --- |
//! | `Available` | True | `MinimumReplicasAvailable` | available >= replicas - maxUnavailable |
//! | `Available` | False | `MinimumReplicasUnavailable` | otherwise |
//! | `Progressing` | True | `NewReplicaSetCreated` / `FoundNewReplicaSet` | a new ReplicaSet was created / first noticed |
//! | `Progressing` | True | `ReplicaSetUpdated` | pods moved towards the new template |
//! | `Progressing` | True | `NewReplicaSetAvailable` | the rollout completed |
//! | `Progressing` | False | `ProgressDeadlineExceeded` | no progress for `progressDeadlineSeconds` |
//! | `Progressing` | Unknown | `DeploymentPaused` / `DeploymentResumed` | paused / resumed |
//! | `Progressing` | False | `ReplicaSetCreateError` | the new ReplicaSet could not be created |
//! | `ReplicaFailure` | True | from the ReplicaSet | a ReplicaSet cannot create or delete pods |

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentSpec, DeploymentStatus, ReplicaSet,
    ReplicaSetCondition,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::replicas;

/// Condition type: enough replicas are available.
pub const AVAILABLE: &str = "Available";
/// Condition type: the rollout makes progress.
pub const PROGRESSING: &str = "Progressing";
/// Condition type: a ReplicaSet failed to create or delete pods.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// `Available=True` reason.
pub const MINIMUM_REPLICAS_AVAILABLE: &str = "MinimumReplicasAvailable";
/// `Available=False` reason.
pub const MINIMUM_REPLICAS_UNAVAILABLE: &str = "MinimumReplicasUnavailable";
/// A new ReplicaSet was created.
pub const NEW_RS_REASON: &str = "NewReplicaSetCreated";
/// An existing new ReplicaSet was noticed.
pub const FOUND_NEW_RS_REASON: &str = "FoundNewReplicaSet";
/// The rollout moved on.
pub const RS_UPDATED_REASON: &str = "ReplicaSetUpdated";
/// The rollout completed.
pub const NEW_RS_AVAILABLE_REASON: &str = "NewReplicaSetAvailable";
/// No progress within the deadline.
pub const TIMED_OUT_REASON: &str = "ProgressDeadlineExceeded";
/// The Deployment is paused.
pub const PAUSED_REASON: &str = "DeploymentPaused";
/// The Deployment was resumed.
pub const RESUMED_REASON: &str = "DeploymentResumed";
/// The new ReplicaSet could not be created.
pub const FAILED_RS_CREATE_REASON: &str = "ReplicaSetCreateError";

/// Now, at the second precision the API stores.
pub fn now() -> Timestamp {
    let now = Timestamp::now();
    Timestamp::from_second(now.as_second()).unwrap_or(now)
}

/// Upstream `NewDeploymentCondition` (both times `now`).
pub fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
) -> DeploymentCondition {
    let at = Time(now());
    DeploymentCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        last_update_time: Some(at.clone()),
        last_transition_time: Some(at),
    }
}

/// The condition of `type_`.
pub fn get_condition<'a>(
    status: &'a DeploymentStatus,
    type_: &str,
) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// Upstream `SetDeploymentCondition`: no-op if status and reason are the
/// same; keeps the transition time if only the reason changed.
pub fn set_condition(status: &mut DeploymentStatus, mut condition: DeploymentCondition) {
    if let Some(current) = get_condition(status, &condition.type_) {
        if current.status == condition.status && current.reason == condition.reason {
            return;
        }
        if current.status == condition.status {
            condition.last_transition_time = current.last_transition_time.clone();
        }
    }
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    conditions.retain(|c| c.type_ != condition.type_);
    conditions.push(condition);
}

/// Removes the condition of `type_`.
pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_ != type_);
    }
}

/// A ReplicaSet condition as a Deployment condition.
pub fn from_replica_set_condition(c: &ReplicaSetCondition) -> DeploymentCondition {
    DeploymentCondition {
        type_: c.type_.clone(),
        status: c.status.clone(),
        reason: c.reason.clone(),
        message: c.message.clone(),
        last_update_time: c.last_transition_time.clone(),
        last_transition_time: c.last_transition_time.clone(),
    }
}

/// `spec.progressDeadlineSeconds`, unless unset or "never" (MaxInt32).
pub fn progress_deadline(d: &Deployment) -> Option<i32> {
    progress_deadline_of(d.spec.as_ref())
}

fn progress_deadline_of(spec: Option<&DeploymentSpec>) -> Option<i32> {
    spec.and_then(|s| s.progress_deadline_seconds)
        .filter(|s| *s != i32::MAX)
}

/// Upstream `HasProgressDeadline`.
pub fn has_progress_deadline(d: &Deployment) -> bool {
    progress_deadline(d).is_some()
}

/// [`has_progress_deadline`] of a spec (while the status is borrowed).
pub fn has_progress_deadline_of(spec: Option<&DeploymentSpec>) -> bool {
    progress_deadline_of(spec).is_some()
}

fn count(v: Option<i32>) -> i32 {
    v.unwrap_or(0)
}

/// The status with every counter set (0 instead of absent) and no empty
/// condition list, so two statuses compare like upstream's structs.
pub fn normalized(status: Option<&DeploymentStatus>) -> DeploymentStatus {
    let s = status.cloned().unwrap_or_default();
    DeploymentStatus {
        observed_generation: Some(s.observed_generation.unwrap_or(0)),
        replicas: Some(count(s.replicas)),
        updated_replicas: Some(count(s.updated_replicas)),
        ready_replicas: Some(count(s.ready_replicas)),
        available_replicas: Some(count(s.available_replicas)),
        unavailable_replicas: Some(count(s.unavailable_replicas)),
        terminating_replicas: s.terminating_replicas,
        collision_count: s.collision_count,
        conditions: s.conditions.filter(|c| !c.is_empty()),
    }
}

/// Upstream `DeploymentComplete`.
pub fn deployment_complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let want = replicas::desired(d);
    count(status.updated_replicas) == want
        && count(status.replicas) == want
        && count(status.available_replicas) == want
        && status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// Upstream `DeploymentProgressing`: more updated, fewer old, more ready or
/// more available replicas than in the stored status.
pub fn deployment_progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = normalized(d.status.as_ref());
    let old_old = count(old.replicas) - count(old.updated_replicas);
    let new_old = count(new.replicas) - count(new.updated_replicas);
    count(new.updated_replicas) > count(old.updated_replicas)
        || new_old < old_old
        || count(new.ready_replicas) > count(old.ready_replicas)
        || count(new.available_replicas) > count(old.available_replicas)
}

/// Upstream `DeploymentTimedOut`: the Progressing condition was last
/// updated more than the deadline ago (and the rollout is not complete).
pub fn deployment_timed_out(d: &Deployment, status: &DeploymentStatus, now: Timestamp) -> bool {
    let Some(deadline) = progress_deadline(d) else {
        return false;
    };
    let Some(condition) = get_condition(status, PROGRESSING) else {
        return false;
    };
    match condition.reason.as_deref() {
        Some(NEW_RS_AVAILABLE_REASON) => return false,
        Some(TIMED_OUT_REASON) => return true,
        _ => {}
    }
    let Some(from) = condition.last_update_time.as_ref() else {
        return false;
    };
    from.0
        .checked_add(SignedDuration::from_secs(i64::from(deadline)))
        .is_ok_and(|at| at < now)
}

/// Upstream `calculateStatus`: counts over all ReplicaSets, `updated` over
/// the new one, and the `Available` condition.
pub fn calculate_status(
    all: &[&ReplicaSet],
    new_rs: Option<&ReplicaSet>,
    d: &Deployment,
) -> DeploymentStatus {
    let available = replicas::available_total(all.iter().copied());
    let total = replicas::spec_total(all.iter().copied());
    let current = normalized(d.status.as_ref());
    let mut status = DeploymentStatus {
        observed_generation: Some(d.metadata.generation.unwrap_or(0)),
        replicas: Some(replicas::actual_total(all.iter().copied())),
        updated_replicas: Some(replicas::actual_total(new_rs)),
        ready_replicas: Some(replicas::ready_total(all.iter().copied())),
        available_replicas: Some(available),
        unavailable_replicas: Some((total - available).max(0)),
        terminating_replicas: current.terminating_replicas,
        collision_count: current.collision_count,
        conditions: current.conditions.clone(),
    };
    if available >= replicas::desired(d) - replicas::max_unavailable(d) {
        set_condition(
            &mut status,
            new_condition(
                AVAILABLE,
                "True",
                MINIMUM_REPLICAS_AVAILABLE,
                "Deployment has minimum availability.",
            ),
        );
    } else {
        set_condition(
            &mut status,
            new_condition(
                AVAILABLE,
                "False",
                MINIMUM_REPLICAS_UNAVAILABLE,
                "Deployment does not have minimum availability.",
            ),
        );
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(replicas: i32, generation: i64, status: serde_json::Value) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "generation": generation},
            "spec": {"replicas": replicas, "selector": {}, "template": {},
                "progressDeadlineSeconds": 600},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn conditions_keep_transition_times_and_skip_no_ops() {
        let mut status = DeploymentStatus::default();
        let mut first = new_condition(PROGRESSING, "True", NEW_RS_REASON, "a");
        first.last_transition_time = Some(Time(Timestamp::UNIX_EPOCH));
        set_condition(&mut status, first);
        set_condition(
            &mut status,
            new_condition(PROGRESSING, "True", NEW_RS_REASON, "b"),
        );
        assert_eq!(
            get_condition(&status, PROGRESSING)
                .unwrap()
                .message
                .as_deref(),
            Some("a")
        );
        set_condition(
            &mut status,
            new_condition(PROGRESSING, "True", RS_UPDATED_REASON, "c"),
        );
        let c = get_condition(&status, PROGRESSING).unwrap();
        assert_eq!(c.reason.as_deref(), Some(RS_UPDATED_REASON));
        assert_eq!(c.last_transition_time, Some(Time(Timestamp::UNIX_EPOCH)));
        set_condition(
            &mut status,
            new_condition(PROGRESSING, "False", TIMED_OUT_REASON, "d"),
        );
        assert_ne!(
            get_condition(&status, PROGRESSING)
                .unwrap()
                .last_transition_time,
            Some(Time(Timestamp::UNIX_EPOCH))
        );
        remove_condition(&mut status, PROGRESSING);
        assert!(get_condition(&status, PROGRESSING).is_none());
    }

    #[test]
    fn complete_progressing_and_timed_out() {
        let d = deployment(
            3,
            2,
            serde_json::json!({"replicas": 4, "updatedReplicas": 2}),
        );
        let done = DeploymentStatus {
            replicas: Some(3),
            updated_replicas: Some(3),
            available_replicas: Some(3),
            observed_generation: Some(2),
            ..DeploymentStatus::default()
        };
        assert!(deployment_complete(&d, &done));
        assert!(deployment_progressing(&d, &done));
        let stuck = normalized(d.status.as_ref());
        assert!(!deployment_progressing(&d, &stuck));
        let mut old = stuck.clone();
        let mut c = new_condition(PROGRESSING, "True", RS_UPDATED_REASON, "x");
        c.last_update_time = Some(Time(Timestamp::now() - SignedDuration::from_secs(601)));
        set_condition(&mut old, c);
        assert!(deployment_timed_out(&d, &old, Timestamp::now()));
        let mut fresh = stuck;
        set_condition(
            &mut fresh,
            new_condition(PROGRESSING, "True", RS_UPDATED_REASON, "x"),
        );
        assert!(!deployment_timed_out(&d, &fresh, Timestamp::now()));
    }
}
