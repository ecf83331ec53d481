//! Defaulting and validation for batch.

use crate::strategy::TypedStrategy;

/// Strategy for Job (placeholder: typed round trip and metadata rules).
pub static JOB_STRATEGY: TypedStrategy<k8s_openapi::api::batch::v1::Job> =
    TypedStrategy::new(true, true);

/// Strategy for CronJob (placeholder: typed round trip and metadata rules).
pub static CRON_JOB_STRATEGY: TypedStrategy<k8s_openapi::api::batch::v1::CronJob> =
    TypedStrategy::new(true, true);
