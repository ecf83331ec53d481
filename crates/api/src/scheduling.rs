//! Defaulting and validation for scheduling.

use crate::strategy::TypedStrategy;

/// Strategy for PriorityClass (placeholder: typed round trip and metadata rules).
pub static PRIORITY_CLASS_STRATEGY: TypedStrategy<k8s_openapi::api::scheduling::v1::PriorityClass> =
    TypedStrategy::new(false, false);
