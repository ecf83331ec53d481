//! batch/v1: Job and CronJob.

mod cronjob;
mod job;
mod job_spec;
pub mod schedule;

#[cfg(test)]
mod tests;

pub use cronjob::CronJobStrategy;
pub use job::JobStrategy;
pub use job_spec::validate_job_spec_fields;

/// Strategy for Job.
pub static JOB_STRATEGY: JobStrategy = JobStrategy;

/// Strategy for CronJob.
pub static CRON_JOB_STRATEGY: CronJobStrategy = CronJobStrategy;

/// The legacy label selecting a Job's pods by the Job's uid.
pub const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";
/// The legacy label carrying the Job's name on its pods.
pub const LEGACY_JOB_NAME_LABEL: &str = "job-name";
/// The label selecting a Job's pods by the Job's uid.
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
/// The label carrying the Job's name on its pods.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
