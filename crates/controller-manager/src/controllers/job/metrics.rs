//! The `job_controller_*` metrics, with upstream's names and labels.

use std::sync::OnceLock;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, exponential_buckets};

/// The job controller's metric vectors.
#[derive(Debug)]
pub struct JobMetrics {
    /// `job_controller_job_sync_duration_seconds{completion_mode,result,action}`.
    pub sync_duration: HistogramVec,
    /// `job_controller_job_syncs_total{completion_mode,result,action}`.
    pub syncs: IntCounterVec,
    /// `job_controller_jobs_finished_total{completion_mode,result,reason}`.
    pub finished: IntCounterVec,
    /// `job_controller_job_pods_finished_total{completion_mode,result}`.
    pub pods_finished: IntCounterVec,
    /// `job_controller_pod_failures_handled_by_failure_policy_total{action}`.
    pub failure_policy_actions: IntCounterVec,
    /// `job_controller_terminated_pods_tracking_finalizer_total{event}`.
    pub tracking_finalizer: IntCounterVec,
}

/// The metrics, registered on first use.
pub fn metrics() -> &'static JobMetrics {
    static METRICS: OnceLock<JobMetrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help).subsystem("job_controller"), labels)
                .expect("valid metric");
            let _ = prometheus::register(Box::new(c.clone()));
            c
        };
        let sync_duration = HistogramVec::new(
            HistogramOpts::new(
                "job_sync_duration_seconds",
                "The time it took to sync a job",
            )
            .subsystem("job_controller")
            .buckets(exponential_buckets(0.004, 2.0, 15).expect("valid buckets")),
            &["completion_mode", "result", "action"],
        )
        .expect("valid metric");
        let _ = prometheus::register(Box::new(sync_duration.clone()));
        JobMetrics {
            sync_duration,
            syncs: counter(
                "job_syncs_total",
                "The number of job syncs",
                &["completion_mode", "result", "action"],
            ),
            finished: counter(
                "jobs_finished_total",
                "The number of finished jobs",
                &["completion_mode", "result", "reason"],
            ),
            pods_finished: counter(
                "job_pods_finished_total",
                "The number of finished Pods that are fully tracked",
                &["completion_mode", "result"],
            ),
            failure_policy_actions: counter(
                "pod_failures_handled_by_failure_policy_total",
                "The number of failed Pods handled by failure policy with respect to the failure policy action applied based on the matched rule",
                &["action"],
            ),
            tracking_finalizer: counter(
                "terminated_pods_tracking_finalizer_total",
                "The number of terminated pods (phase=Failed|Succeeded) that have the finalizer batch.kubernetes.io/job-tracking",
                &["event"],
            ),
        }
    })
}
