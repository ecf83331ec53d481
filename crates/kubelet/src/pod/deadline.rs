//! `spec.activeDeadlineSeconds` (upstream's `activeDeadlineHandler`): a pod
//! active on the node longer than its deadline fails with reason
//! `DeadlineExceeded`; the worker then sees the terminal phase and stops its
//! containers, as for an eviction.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, PodStatus};

/// Pod status reason (and event reason) of an exceeded deadline.
pub const REASON: &str = "DeadlineExceeded";
/// Pod status message (and event message) of an exceeded deadline.
pub const MESSAGE: &str = "Pod was active on the node longer than the specified deadline";

/// What the deadline says about a pod now.
#[derive(Debug, PartialEq, Eq)]
pub enum Deadline {
    /// No deadline, or the pod has not started yet.
    None,
    /// The deadline lies this far ahead.
    In(Duration),
    /// The deadline has passed.
    Exceeded,
}

/// Checks `pod`'s deadline against its start time in `status` (the
/// kubelet's latest status, which carries `startTime` once the pod was
/// seen).
pub fn check(pod: &Pod, status: Option<&PodStatus>) -> Deadline {
    let Some(limit) = pod.spec.as_ref().and_then(|s| s.active_deadline_seconds) else {
        return Deadline::None;
    };
    let Some(start) = status.and_then(|s| s.start_time.as_ref()) else {
        return Deadline::None;
    };
    let elapsed = crate::time::seconds_since(start);
    if elapsed >= limit {
        Deadline::Exceeded
    } else {
        Deadline::In(Duration::from_secs(
            u64::try_from(limit - elapsed).unwrap_or(1),
        ))
    }
}

/// `status` turned into the failed status of an exceeded deadline.
pub fn fail(mut status: PodStatus) -> PodStatus {
    status.phase = Some("Failed".into());
    status.reason = Some(REASON.into());
    status.message = Some(MESSAGE.into());
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn pod(deadline: Option<i64>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                active_deadline_seconds: deadline,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn started(seconds_ago: i64) -> PodStatus {
        let at = jiff::Timestamp::now().as_second() - seconds_ago;
        PodStatus {
            start_time: Some(Time(jiff::Timestamp::from_second(at).unwrap())),
            phase: Some("Running".into()),
            ..Default::default()
        }
    }

    #[test]
    fn deadline() {
        assert_eq!(check(&pod(None), Some(&started(100))), Deadline::None);
        assert_eq!(check(&pod(Some(5)), None), Deadline::None);
        assert_eq!(check(&pod(Some(5)), Some(&started(5))), Deadline::Exceeded);
        match check(&pod(Some(30)), Some(&started(10))) {
            Deadline::In(left) => assert!((19..=20).contains(&left.as_secs()), "{left:?}"),
            other => panic!("{other:?}"),
        }
        let failed = fail(started(1));
        assert_eq!(failed.phase.as_deref(), Some("Failed"));
        assert_eq!(failed.reason.as_deref(), Some(REASON));
        assert_eq!(failed.message.as_deref(), Some(MESSAGE));
    }
}
