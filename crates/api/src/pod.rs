//! Defaulting and validation for pod.

use crate::strategy::TypedStrategy;

/// Strategy for Pod (placeholder: typed round trip and metadata rules).
pub static POD_STRATEGY: TypedStrategy<k8s_openapi::api::core::v1::Pod> =
    TypedStrategy::new(true, false);

/// Strategy for PodTemplate (placeholder: typed round trip and metadata rules).
pub static POD_TEMPLATE_STRATEGY: TypedStrategy<k8s_openapi::api::core::v1::PodTemplate> =
    TypedStrategy::new(true, false);

/// Strategy for ReplicationController (placeholder: typed round trip and metadata rules).
pub static REPLICATION_CONTROLLER_STRATEGY: TypedStrategy<
    k8s_openapi::api::core::v1::ReplicationController,
> = TypedStrategy::new(true, true);
