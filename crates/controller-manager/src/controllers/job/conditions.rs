//! Job conditions (upstream `newCondition`, `ensureJobConditionStatus`).

use k8s_openapi::api::batch::v1::{JobCondition, JobStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// All wanted completions (or a success policy) reached; terminal.
pub const COMPLETE: &str = "Complete";
/// The Job failed; terminal.
pub const FAILED: &str = "Failed";
/// The Job will fail once its pods are gone.
pub const FAILURE_TARGET: &str = "FailureTarget";
/// The Job will complete once its pods are gone.
pub const SUCCESS_CRITERIA_MET: &str = "SuccessCriteriaMet";
/// `spec.suspend` is in effect.
pub const SUSPENDED: &str = "Suspended";

/// Reason: more failures than `backoffLimit`.
pub const REASON_BACKOFF_LIMIT_EXCEEDED: &str = "BackoffLimitExceeded";
/// Reason: `activeDeadlineSeconds` passed.
pub const REASON_DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
/// Reason: a FailJob rule of the pod failure policy matched.
pub const REASON_POD_FAILURE_POLICY: &str = "PodFailurePolicy";
/// Reason: more failed indexes than `maxFailedIndexes`.
pub const REASON_MAX_FAILED_INDEXES_EXCEEDED: &str = "MaxFailedIndexesExceeded";
/// Reason: every index is done and some failed.
pub const REASON_FAILED_INDEXES: &str = "FailedIndexes";
/// Reason: a success policy rule matched.
pub const REASON_SUCCESS_POLICY: &str = "SuccessPolicy";
/// Reason: `completions` pods succeeded.
pub const REASON_COMPLETIONS_REACHED: &str = "CompletionsReached";

/// A condition with both times `now`.
pub fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> JobCondition {
    JobCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: (!reason.is_empty()).then(|| reason.to_string()),
        message: (!message.is_empty()).then(|| message.to_string()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// The condition of `type_`, if present.
pub fn find<'a>(status: Option<&'a JobStatus>, type_: &str) -> Option<&'a JobCondition> {
    status?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// Whether the condition of `type_` is `True`.
pub fn is_true(status: Option<&JobStatus>, type_: &str) -> bool {
    find(status, type_).is_some_and(|c| c.status == "True")
}

/// Upstream `ensureJobConditionStatus`: replaces a condition of `type_`
/// that differs, adds a missing one unless it would be `False`; returns
/// whether anything changed.
pub fn ensure(
    status: &mut JobStatus,
    type_: &str,
    cond_status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> bool {
    let list = status.conditions.get_or_insert_with(Vec::new);
    if let Some(existing) = list.iter_mut().find(|c| c.type_ == type_) {
        let same = existing.status == cond_status
            && existing.reason.as_deref().unwrap_or("") == reason
            && existing.message.as_deref().unwrap_or("") == message;
        if same {
            return false;
        }
        *existing = new_condition(type_, cond_status, reason, message, now);
        return true;
    }
    if cond_status == "False" {
        return false;
    }
    list.push(new_condition(type_, cond_status, reason, message, now));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensure_adds_replaces_and_skips_false() {
        let now = Timestamp::now();
        let mut s = JobStatus::default();
        assert!(!ensure(
            &mut s,
            SUSPENDED,
            "False",
            "JobResumed",
            "Job resumed",
            now
        ));
        assert!(ensure(
            &mut s,
            SUSPENDED,
            "True",
            "JobSuspended",
            "Job suspended",
            now
        ));
        assert!(!ensure(
            &mut s,
            SUSPENDED,
            "True",
            "JobSuspended",
            "Job suspended",
            now
        ));
        assert!(ensure(
            &mut s,
            SUSPENDED,
            "False",
            "JobResumed",
            "Job resumed",
            now
        ));
        assert_eq!(s.conditions.as_ref().unwrap().len(), 1);
        assert!(!is_true(Some(&s), SUSPENDED));
        assert_eq!(
            find(Some(&s), SUSPENDED).unwrap().reason.as_deref(),
            Some("JobResumed")
        );
    }
}
