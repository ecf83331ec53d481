//! Pod failure backoff (upstream `backoffStore`): after failures, new pods
//! of a Job are created only after 10 s, doubled per consecutive failure,
//! at most 6 min; a success resets it. With `backoffLimitPerIndex` the
//! same delay applies per index, from the index's last failed pod.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

/// The first delay after a failure (upstream `DefaultJobPodFailureBackOff`).
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(10);
/// The longest delay (upstream `MaxJobPodFailureBackOff`).
pub const MAX_BACKOFF: Duration = Duration::from_secs(360);

/// Failures since the last success of one Job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackoffRecord {
    /// Consecutive failures after the last success.
    pub failures_after_last_success: u32,
    /// When the last of them finished.
    pub last_failure_time: Option<Timestamp>,
}

impl BackoffRecord {
    /// How long to wait before creating pods again at `now`.
    pub fn remaining(&self, now: Timestamp) -> Duration {
        match self.last_failure_time {
            Some(at) if self.failures_after_last_success > 0 => {
                remaining_since(self.failures_after_last_success, at, now)
            }
            _ => Duration::ZERO,
        }
    }
}

/// The backoff after `failures` failures, the last finished `at`.
pub fn remaining_since(failures: u32, at: Timestamp, now: Timestamp) -> Duration {
    let mut backoff = DEFAULT_BACKOFF;
    for _ in 1..failures {
        backoff = (backoff * 2).min(MAX_BACKOFF);
        if backoff == MAX_BACKOFF {
            break;
        }
    }
    let elapsed = Duration::try_from(now.duration_since(at)).unwrap_or(Duration::ZERO);
    backoff.saturating_sub(elapsed)
}

/// Upstream `getFinishedTime`: when the pod's last container terminated,
/// else when it stopped being ready, else its deletion time, else `now`.
pub fn finished_time(pod: &Pod, now: Timestamp) -> Timestamp {
    let status = pod.status.as_ref();
    let from_containers = status
        .into_iter()
        .flat_map(|s| s.container_statuses.iter().flatten())
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0)
        .max();
    if let Some(t) = from_containers {
        return t;
    }
    let from_ready = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready" && c.status == "False"))
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0);
    from_ready
        .or_else(|| pod.metadata.deletion_timestamp.as_ref().map(|t| t.0))
        .unwrap_or(now)
}

/// Upstream `newBackoffRecord`: the record after the newly counted
/// successes and failures of a sync.
pub fn next_record(
    previous: &BackoffRecord,
    new_succeeded: &[&Pod],
    new_failed: &[&Pod],
    now: Timestamp,
) -> BackoffRecord {
    let mut failed: Vec<Timestamp> = new_failed.iter().map(|p| finished_time(p, now)).collect();
    failed.sort();
    let last_success = new_succeeded.iter().map(|p| finished_time(p, now)).max();
    match last_success {
        None => {
            let Some(last) = failed.last() else {
                return previous.clone();
            };
            BackoffRecord {
                failures_after_last_success: previous.failures_after_last_success
                    + u32::try_from(failed.len()).unwrap_or(u32::MAX),
                last_failure_time: Some(*last),
            }
        }
        Some(success) => {
            let after: Vec<&Timestamp> = failed.iter().filter(|t| **t > success).collect();
            BackoffRecord {
                failures_after_last_success: u32::try_from(after.len()).unwrap_or(u32::MAX),
                last_failure_time: after.last().map(|t| **t),
            }
        }
    }
}

/// The records of all Jobs, by key.
#[derive(Debug, Default)]
pub struct BackoffStore {
    records: Mutex<HashMap<String, BackoffRecord>>,
}

impl BackoffStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, BackoffRecord>> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The record of `key` (empty when unknown).
    pub fn get(&self, key: &str) -> BackoffRecord {
        self.lock().get(key).cloned().unwrap_or_default()
    }

    /// Stores the record of `key`.
    pub fn set(&self, key: &str, record: BackoffRecord) {
        self.lock().insert(key.to_string(), record);
    }

    /// Forgets `key` (finished or deleted Job).
    pub fn remove(&self, key: &str) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::SignedDuration;

    fn pod_finished_at(at: Timestamp) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "status": {"containerStatuses": [{"name": "c", "image": "i", "imageID": "",
                "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 1, "finishedAt": at.to_string()}}}]}
        }))
        .unwrap()
    }

    #[test]
    fn delays_double_up_to_the_maximum() {
        let now = Timestamp::from_second(1_000_000).unwrap();
        assert_eq!(remaining_since(1, now, now), Duration::from_secs(10));
        assert_eq!(remaining_since(3, now, now), Duration::from_secs(40));
        assert_eq!(remaining_since(20, now, now), MAX_BACKOFF);
        let later = now + SignedDuration::from_secs(15);
        assert_eq!(remaining_since(2, now, later), Duration::from_secs(5));
        assert_eq!(remaining_since(1, now, later), Duration::ZERO);
    }

    #[test]
    fn successes_reset_failures_before_them() {
        let t0 = Timestamp::from_second(1_000_000).unwrap();
        let at = |s: i64| pod_finished_at(t0 + SignedDuration::from_secs(s));
        let (f1, f2, s1, f3) = (at(1), at(2), at(3), at(4));
        let r = next_record(&BackoffRecord::default(), &[], &[&f1, &f2], t0);
        assert_eq!(r.failures_after_last_success, 2);
        let r = next_record(&r, &[&s1], &[&f3], t0);
        assert_eq!(r.failures_after_last_success, 1);
        assert_eq!(r.last_failure_time, Some(t0 + SignedDuration::from_secs(4)));
        let r = next_record(&r, &[&s1], &[], t0);
        assert_eq!(r, BackoffRecord::default());
    }
}
