//! Defaulting and validation for coordination.

use crate::strategy::TypedStrategy;

/// Strategy for Lease (placeholder: typed round trip and metadata rules).
pub static LEASE_STRATEGY: TypedStrategy<k8s_openapi::api::coordination::v1::Lease> =
    TypedStrategy::new(true, false);
