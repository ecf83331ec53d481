//! `cronjob-controller`: creates a Job for each scheduled time of a
//! CronJob, with upstream 1.33's semantics (the "v2" controller).
//!
//! One sync of a CronJob ([`sync`]):
//!
//! 1. the Jobs it controls update `status.active` (finished ones leave it
//!    with `SawCompletedJob`, vanished ones with `MissingJob`) and
//!    `status.lastSuccessfulTime`;
//! 2. unless it is being deleted, suspended, or has an unknown `timeZone`
//!    (`UnknownTimeZone`) or schedule (`UnparseableSchedule`), the most
//!    recent unmet scheduled time ([`times`]) is considered: too late for
//!    `startingDeadlineSeconds` (`MissSchedule`), already processed,
//!    `Forbid` with an active Job (`JobAlreadyActive`), or `Replace`
//!    (the active Jobs are deleted first); otherwise a Job named
//!    `<cronjob>-<minutes since epoch>` is created from `jobTemplate`
//!    with the `batch.kubernetes.io/cronjob-scheduled-timestamp`
//!    annotation (`SuccessfulCreate`), and `lastScheduleTime` is set;
//! 3. finished Jobs beyond `successfulJobsHistoryLimit` /
//!    `failedJobsHistoryLimit` are deleted, oldest first;
//! 4. the CronJob is looked at again at its next scheduled time.
//!
//! Schedules ([`schedule`]) are standard cron with `@hourly`-style
//! descriptors, evaluated in `spec.timeZone` (UTC by default).

pub mod schedule;
mod sync;
pub mod times;

use std::sync::Arc;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::{Client, ResourceExt};
use prometheus::{Histogram, HistogramOpts, exponential_buckets};

use crate::framework::api_errors;
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::controller_ref::controller_of;
use crate::framework::events::EventRecorder;
use crate::framework::informer::{Change, Informer};
use crate::framework::key::ObjectKey;
use crate::framework::queue::WorkQueue;
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "cronjob-controller";
/// `source.component` of its events.
pub const EVENT_COMPONENT: &str = "cronjob-controller";
/// The annotation with the scheduled time of a Job (RFC 3339, in the
/// CronJob's time zone).
pub const SCHEDULED_TIMESTAMP_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// Why a sync failed (the key is retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A request failed.
    #[error("{}", api_errors::message(.0))]
    Api(#[from] kube::Error),
    /// Something else stopped the sync.
    #[error("{0}")]
    Other(String),
}

/// `cronjob_controller_job_creation_skew_duration_seconds`: how late Jobs
/// are created after their scheduled time.
pub fn creation_skew() -> &'static Histogram {
    static METRIC: std::sync::OnceLock<Histogram> = std::sync::OnceLock::new();
    METRIC.get_or_init(|| {
        let h = Histogram::with_opts(
            HistogramOpts::new(
                "job_creation_skew_duration_seconds",
                "Time between when a cronjob is scheduled to be run, and when the corresponding job is created",
            )
            .subsystem("cronjob_controller")
            .buckets(exponential_buckets(1.0, 2.0, 10).expect("valid buckets")),
        )
        .expect("valid metric");
        let _ = prometheus::register(Box::new(h.clone()));
        h
    })
}

/// Builds the controller (`--concurrent-cron-job-syncs` workers).
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let cronjobs = ctx.informers.informer::<CronJob>();
    let jobs = ctx.informers.informer::<Job>();
    let queue = WorkQueue::<ObjectKey>::new("cronjob");
    creation_skew();
    {
        let queue = queue.clone();
        cronjobs.add_event_handler(move |change: Change<'_, CronJob>| {
            queue.add(ObjectKey::of(change.object()));
        });
    }
    {
        let cronjobs = cronjobs.clone();
        let queue = queue.clone();
        jobs.add_event_handler(move |change: Change<'_, Job>| {
            let enqueue_owner = |job: &Job| {
                if let Some(cj) = resolve(&cronjobs, job) {
                    queue.add(ObjectKey::of(cj.as_ref()));
                }
            };
            match change {
                Change::Added(job) | Change::Deleted(job) => enqueue_owner(job),
                Change::Updated { old, new } => {
                    if old.metadata.resource_version == new.metadata.resource_version {
                        return;
                    }
                    if controller_of(&old.metadata) != controller_of(&new.metadata) {
                        enqueue_owner(old);
                    }
                    enqueue_owner(new);
                }
            }
        });
    }
    let reconciler = CronJobReconciler {
        client: ctx.client.clone(),
        cronjobs: cronjobs.clone(),
        jobs: jobs.clone(),
        recorder: ctx.recorder(EVENT_COMPONENT),
    };
    Ok(Some(Box::new(
        QueueController::new(NAME, queue, reconciler, ctx.config.concurrency.cronjob, ctx)
            .wait_for(cronjobs)
            .wait_for(jobs),
    )))
}

/// The CronJob a Job's controller reference points to, if cached with that UID.
fn resolve(cronjobs: &Informer<CronJob>, job: &Job) -> Option<Arc<CronJob>> {
    let reference = controller_of(&job.metadata)?;
    if reference.kind != "CronJob" {
        return None;
    }
    cronjobs
        .get(job.namespace().as_deref(), &reference.name)
        .filter(|cj| cj.uid().as_deref() == Some(reference.uid.as_str()))
}

/// Reconciles CronJobs by key.
pub struct CronJobReconciler {
    client: Client,
    cronjobs: Informer<CronJob>,
    jobs: Informer<Job>,
    recorder: EventRecorder,
}

impl Reconciler<ObjectKey> for CronJobReconciler {
    type Error = SyncError;

    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, SyncError> {
        let namespace = key.namespace.clone().unwrap_or_default();
        let Some(cj) = self.cronjobs.get(Some(&namespace), &key.name) else {
            return Ok(Action::await_change());
        };
        let uid = cj.uid().unwrap_or_default();
        let jobs: Vec<Arc<Job>> = self
            .jobs
            .list_namespace(&namespace)
            .into_iter()
            .filter(|j| controller_of(&j.metadata).is_some_and(|r| r.uid == uid))
            .collect();
        let requeue = self.sync(&cj, &jobs).await?;
        Ok(match requeue {
            Some(after) => Action::requeue(after),
            None => Action::await_change(),
        })
    }
}
