//! What happens when a pod is not placed (upstream
//! `handleSchedulingFailure`): the pod goes back to the queue, a
//! `FailedScheduling` event is recorded, and the `PodScheduled=False`
//! condition (reason `Unschedulable` or `SchedulerError`) and the
//! nomination are written to the pod's status.

use std::time::Instant;

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::Scheduler;
use crate::framework::{Diagnosis, EventSpec, EventType, FitError, Framework, PodInfo};
use crate::metrics;
use crate::plugins::defaultpreemption::object_ref;
use crate::queue::QueuedPodInfo;

/// Longest event message (upstream `truncateMessage` limit for notes).
const MAX_EVENT_MESSAGE: usize = 1024;

/// Why a cycle failed.
#[derive(Debug)]
pub(super) enum Failure {
    /// No node fits.
    Fit(FitError),
    /// A plugin rejected the pod outside filtering (Reserve, Permit,
    /// binding).
    Plugin(String, Diagnosis),
    /// Rejected without a plugin (no nodes at all).
    Rejected(String),
    /// Not a scheduling decision: an internal or API error.
    Error(String),
}

impl Failure {
    fn message(&self) -> String {
        match self {
            Failure::Fit(fit) => fit.to_string(),
            Failure::Plugin(message, _) | Failure::Rejected(message) | Failure::Error(message) => {
                message.clone()
            }
        }
    }

    fn is_error(&self) -> bool {
        matches!(self, Failure::Error(_))
    }
}

/// Upstream `truncateMessage`.
fn truncate(message: &str) -> String {
    if message.len() <= MAX_EVENT_MESSAGE {
        return message.to_string();
    }
    let suffix = " ...";
    let mut end = MAX_EVENT_MESSAGE - suffix.len();
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}", &message[..end])
}

/// The status patch for a failed attempt, or None when the pod already
/// says so (upstream skips the write when nothing changed).
pub fn failure_status_patch(
    pod: &PodInfo,
    reason: &str,
    message: &str,
    nominated: Option<&str>,
) -> Option<Value> {
    let old = pod
        .pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"));
    let unchanged_condition = old.is_some_and(|c| {
        c.status == "False"
            && c.reason.as_deref() == Some(reason)
            && c.message.as_deref() == Some(message)
    });
    let nomination_changed = nominated.is_some_and(|n| n != pod.nominated_node_name());
    if unchanged_condition && !nomination_changed {
        return None;
    }
    let transition = match old {
        Some(c) if c.status == "False" => c.last_transition_time.as_ref().map(|t| t.0.to_string()),
        _ => None,
    }
    .unwrap_or_else(|| Timestamp::now().to_string());
    let mut status = json!({"conditions": [{
        "type": "PodScheduled",
        "status": "False",
        "reason": reason,
        "message": message,
        "lastProbeTime": null,
        "lastTransitionTime": transition,
    }]});
    if let Some(node) = nominated.filter(|_| nomination_changed) {
        status["nominatedNodeName"] = if node.is_empty() {
            Value::Null
        } else {
            json!(node)
        };
    }
    Some(json!({"status": status}))
}

impl Scheduler {
    pub(super) fn handle_failure(
        &mut self,
        fwk: &Framework,
        mut queued: QueuedPodInfo,
        failure: Failure,
        nominated: Option<String>,
        start: Instant,
    ) {
        let pod = queued.pod.clone();
        let is_error = failure.is_error();
        metrics::schedule_attempt(
            &fwk.profile_name,
            if is_error { "error" } else { "unschedulable" },
            start.elapsed(),
        );
        if is_error {
            self.stats.errors += 1;
        } else {
            self.stats.unschedulable += 1;
        }
        let message = failure.message();
        let (unschedulable, pending) = match &failure {
            Failure::Fit(fit) => (
                fit.diagnosis.unschedulable_plugins.clone(),
                fit.diagnosis.pending_plugins.clone(),
            ),
            Failure::Plugin(_, diagnosis) => (
                diagnosis.unschedulable_plugins.clone(),
                diagnosis.pending_plugins.clone(),
            ),
            _ => Default::default(),
        };
        queued.unschedulable_plugins = unschedulable;
        queued.pending_plugins = pending;
        queued.failed_with_error = is_error;
        if !self.queue.contains(&pod.uid) || self.snapshot.contains_pod(&pod.uid) {
            // Deleted, or bound by someone else, while we tried.
            self.queue.done(&pod.uid);
            return;
        }
        // Later cycles must see the newest pod (status writes below).
        let latest = self.queue.pod(&pod.uid).cloned().unwrap_or(pod);
        self.queue
            .requeue_failed(queued, tokio::time::Instant::now());
        if let Some(node) = &nominated {
            if node.is_empty() {
                self.snapshot.nominations.remove(&latest.uid);
            } else {
                self.snapshot.nominations.add(latest.clone(), node);
            }
        }
        tracing::debug!(pod = %latest.key(), message = %message, "unable to schedule pod; waiting");
        self.api.record_event(EventSpec {
            regarding: object_ref(&latest),
            related: None,
            type_: EventType::Warning,
            reason: "FailedScheduling".into(),
            action: "Scheduling".into(),
            note: truncate(&message),
            reporting_controller: fwk.profile_name.clone(),
        });
        let reason = if is_error {
            "SchedulerError"
        } else {
            "Unschedulable"
        };
        if let Some(patch) = failure_status_patch(&latest, reason, &message, nominated.as_deref()) {
            let call = self
                .api
                .patch_pod_status(&latest.namespace, &latest.name, patch);
            let key = latest.key();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    if let Err(err) = call.await {
                        tracing::warn!(pod = %key, error = %err, "updating the PodScheduled condition");
                    }
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn pod(status: Value) -> PodInfo {
        PodInfo::new(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": {"containers": []}, "status": status}))
                .unwrap(),
        ))
    }

    #[test]
    fn patches_only_when_something_changed() {
        let fresh = pod(json!({}));
        let patch = failure_status_patch(
            &fresh,
            "Unschedulable",
            "0/1 nodes are available: 1 Insufficient cpu.",
            None,
        )
        .unwrap();
        let condition = &patch["status"]["conditions"][0];
        assert_eq!(condition["type"], "PodScheduled");
        assert_eq!(condition["status"], "False");
        assert_eq!(condition["reason"], "Unschedulable");
        assert!(patch["status"].get("nominatedNodeName").is_none());
        let same = pod(
            json!({"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/1 nodes are available: 1 Insufficient cpu.", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}),
        );
        assert!(
            failure_status_patch(
                &same,
                "Unschedulable",
                "0/1 nodes are available: 1 Insufficient cpu.",
                None
            )
            .is_none()
        );
        let nominated = failure_status_patch(
            &same,
            "Unschedulable",
            "0/1 nodes are available: 1 Insufficient cpu.",
            Some("n1"),
        )
        .unwrap();
        assert_eq!(nominated["status"]["nominatedNodeName"], "n1");
        assert_eq!(
            nominated["status"]["conditions"][0]["lastTransitionTime"],
            "2024-01-01T00:00:00Z"
        );
        let cleared = pod(json!({"nominatedNodeName": "n1"}));
        let patch = failure_status_patch(&cleared, "Unschedulable", "m", Some("")).unwrap();
        assert!(patch["status"]["nominatedNodeName"].is_null());
    }

    #[test]
    fn long_messages_are_truncated() {
        let long = "x".repeat(2000);
        let t = truncate(&long);
        assert_eq!(t.len(), MAX_EVENT_MESSAGE);
        assert!(t.ends_with(" ..."));
        assert_eq!(truncate("short"), "short");
    }
}
