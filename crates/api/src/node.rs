//! Defaulting and validation for node.

use crate::strategy::TypedStrategy;

/// Strategy for RuntimeClass (placeholder: typed round trip and metadata rules).
pub static RUNTIME_CLASS_STRATEGY: TypedStrategy<k8s_openapi::api::node::v1::RuntimeClass> =
    TypedStrategy::new(false, false);
