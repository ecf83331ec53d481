//! Defaulting and validation for service.

use crate::strategy::TypedStrategy;

/// Strategy for Service (placeholder: typed round trip and metadata rules).
pub static SERVICE_STRATEGY: TypedStrategy<k8s_openapi::api::core::v1::Service> =
    TypedStrategy::new(true, false);

/// Strategy for Endpoints (placeholder: typed round trip and metadata rules).
pub static ENDPOINTS_STRATEGY: TypedStrategy<k8s_openapi::api::core::v1::Endpoints> =
    TypedStrategy::new(true, false);
