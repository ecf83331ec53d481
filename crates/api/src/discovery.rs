//! Defaulting and validation for discovery.

use crate::strategy::TypedStrategy;

/// Strategy for EndpointSlice (placeholder: typed round trip and metadata rules).
pub static ENDPOINT_SLICE_STRATEGY: TypedStrategy<k8s_openapi::api::discovery::v1::EndpointSlice> =
    TypedStrategy::new(true, false);
