//! `ttl-after-finished-controller`: deletes finished Jobs
//! `spec.ttlSecondsAfterFinished` seconds after they finished.
//!
//! A Job is finished when it has a `Complete` or `Failed` condition that is
//! `True`; it finished at that condition's `lastTransitionTime`. When the
//! time is up, the Job is read again from the apiserver (the TTL may just
//! have been changed) and deleted with foreground propagation (its pods go
//! first, through the garbage collector) and its UID as a precondition; a
//! Job that is not due yet is looked at again when it will be.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{DeleteParams, Preconditions, PropagationPolicy};
use kube::{Api, Client, ResourceExt};
use prometheus::{Histogram, HistogramOpts, exponential_buckets};

use crate::framework::api_errors;
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::informer::{Change, Informer};
use crate::framework::key::ObjectKey;
use crate::framework::queue::WorkQueue;
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "ttl-after-finished-controller";

fn deletion_duration() -> &'static Histogram {
    static METRIC: std::sync::OnceLock<Histogram> = std::sync::OnceLock::new();
    METRIC.get_or_init(|| {
        let h = Histogram::with_opts(
            HistogramOpts::new(
                "job_deletion_duration_seconds",
                "The time it took to delete the job since it became eligible for deletion",
            )
            .subsystem("ttl_after_finished_controller")
            .buckets(exponential_buckets(0.1, 2.0, 14).expect("valid buckets")),
        )
        .expect("valid metric");
        let _ = prometheus::register(Box::new(h.clone()));
        h
    })
}

/// When the Job finished, if it did.
pub fn finish_time(job: &Job) -> Option<Timestamp> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        .map(|c| c.last_transition_time.as_ref().map(|t| t.0))?
}

/// Whether the Job is to be cleaned up at all: finished, with a TTL, and
/// not already being deleted.
pub fn needs_cleanup(job: &Job) -> bool {
    job.metadata.deletion_timestamp.is_none()
        && job
            .spec
            .as_ref()
            .and_then(|s| s.ttl_seconds_after_finished)
            .is_some()
        && finish_time(job).is_some()
}

/// `Some(d)`: the Job expires in `d` (zero: now); `None`: never.
pub fn time_left(job: &Job, now: Timestamp) -> Option<Duration> {
    if !needs_cleanup(job) {
        return None;
    }
    let ttl = job.spec.as_ref()?.ttl_seconds_after_finished?;
    // A finish time without a transition time counts from now.
    let finished = finish_time(job).unwrap_or(now);
    let expire_at = finished + SignedDuration::from_secs(i64::from(ttl));
    Some(Duration::try_from(expire_at.duration_since(now)).unwrap_or(Duration::ZERO))
}

/// Builds the controller (`--concurrent-ttl-after-finished-syncs` workers).
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let jobs = ctx.informers.informer::<Job>();
    let queue = WorkQueue::<ObjectKey>::new("ttl_jobs_to_delete");
    deletion_duration();
    {
        let queue = queue.clone();
        jobs.add_event_handler(move |change: Change<'_, Job>| match change {
            Change::Added(job) | Change::Updated { new: job, .. } => {
                if needs_cleanup(job) {
                    queue.add(ObjectKey::of(job));
                }
            }
            Change::Deleted(_) => {}
        });
    }
    let reconciler = TtlReconciler {
        client: ctx.client.clone(),
        jobs: jobs.clone(),
    };
    Ok(Some(Box::new(
        QueueController::new(
            NAME,
            queue,
            reconciler,
            ctx.config.concurrency.ttl_after_finished,
            ctx,
        )
        .wait_for(jobs),
    )))
}

/// Deletes expired Jobs by key.
pub struct TtlReconciler {
    client: Client,
    jobs: Informer<Job>,
}

impl Reconciler<ObjectKey> for TtlReconciler {
    type Error = String;

    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, String> {
        let namespace = key.namespace.clone().unwrap_or_default();
        let Some(cached) = self.jobs.get(Some(&namespace), &key.name) else {
            return Ok(Action::await_change());
        };
        match time_left(&cached, Timestamp::now()) {
            None => return Ok(Action::await_change()),
            Some(left) if !left.is_zero() => return Ok(Action::requeue(left)),
            Some(_) => {}
        }
        // The cache may be stale (the TTL may have been raised): decide on
        // the Job as it is now.
        let api: Api<Job> = Api::namespaced(self.client.clone(), &namespace);
        let fresh = match api.get(&key.name).await {
            Ok(job) => job,
            Err(err) if api_errors::is_not_found(&err) => return Ok(Action::await_change()),
            Err(err) => return Err(api_errors::message(&err)),
        };
        let now = Timestamp::now();
        match time_left(&fresh, now) {
            None => return Ok(Action::await_change()),
            Some(left) if !left.is_zero() => return Ok(Action::requeue(left)),
            Some(_) => {}
        }
        tracing::info!(job = %key, "Cleaning up Job");
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Foreground),
            preconditions: Some(Preconditions {
                uid: fresh.uid(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match api.delete(&key.name, &params).await {
            Ok(_) => {}
            Err(err) if api_errors::is_not_found(&err) => return Ok(Action::await_change()),
            Err(err) => return Err(api_errors::message(&err)),
        }
        if let Some(finished) = finish_time(&fresh) {
            let ttl = fresh
                .spec
                .as_ref()
                .and_then(|s| s.ttl_seconds_after_finished)
                .unwrap_or(0);
            let eligible = finished + SignedDuration::from_secs(i64::from(ttl));
            let late = now.duration_since(eligible).as_secs_f64().max(0.0);
            deletion_duration().observe(late);
        }
        Ok(Action::await_change())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(ttl: Option<i32>, finished: Option<(&str, Timestamp)>) -> Job {
        let conditions: Vec<serde_json::Value> = finished
            .map(|(t, at)| json!({"type": t, "status": "True", "lastTransitionTime": at.to_string()}))
            .into_iter()
            .collect();
        serde_json::from_value(json!({
            "metadata": {"name": "j", "namespace": "ns"},
            "spec": {"ttlSecondsAfterFinished": ttl, "template": {}},
            "status": {"conditions": conditions}
        }))
        .unwrap()
    }

    #[test]
    fn expiry_follows_the_finish_time_and_ttl() {
        let now = Timestamp::from_second(2_000_000_000).unwrap();
        let ten_ago = now - SignedDuration::from_secs(10);
        assert_eq!(
            time_left(&job(Some(30), Some(("Complete", ten_ago))), now),
            Some(Duration::from_secs(20))
        );
        assert_eq!(
            time_left(&job(Some(5), Some(("Failed", ten_ago))), now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            time_left(&job(Some(0), Some(("Complete", now))), now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            time_left(&job(None, Some(("Complete", ten_ago))), now),
            None
        );
        assert_eq!(time_left(&job(Some(5), None), now), None);
        assert_eq!(
            time_left(&job(Some(5), Some(("Suspended", ten_ago))), now),
            None
        );
    }
}
