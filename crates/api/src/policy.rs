//! Defaulting and validation for policy.

use crate::strategy::TypedStrategy;

/// Strategy for PodDisruptionBudget (placeholder: typed round trip and metadata rules).
pub static POD_DISRUPTION_BUDGET_STRATEGY: TypedStrategy<
    k8s_openapi::api::policy::v1::PodDisruptionBudget,
> = TypedStrategy::new(true, true);
