//! Defaulting and validation for autoscaling.

use crate::strategy::TypedStrategy;

/// Strategy for HorizontalPodAutoscaler (placeholder: typed round trip and metadata rules).
pub static HORIZONTAL_POD_AUTOSCALER_STRATEGY: TypedStrategy<
    k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler,
> = TypedStrategy::new(true, false);
