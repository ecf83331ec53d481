//! Defaulting and validation for networking.

use crate::strategy::TypedStrategy;

/// Strategy for Ingress (placeholder: typed round trip and metadata rules).
pub static INGRESS_STRATEGY: TypedStrategy<k8s_openapi::api::networking::v1::Ingress> =
    TypedStrategy::new(true, true);

/// Strategy for IngressClass (placeholder: typed round trip and metadata rules).
pub static INGRESS_CLASS_STRATEGY: TypedStrategy<k8s_openapi::api::networking::v1::IngressClass> =
    TypedStrategy::new(false, false);

/// Strategy for NetworkPolicy (placeholder: typed round trip and metadata rules).
pub static NETWORK_POLICY_STRATEGY: TypedStrategy<k8s_openapi::api::networking::v1::NetworkPolicy> =
    TypedStrategy::new(true, true);
