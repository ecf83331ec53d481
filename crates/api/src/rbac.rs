//! Defaulting and validation for rbac.

use crate::strategy::TypedStrategy;

/// Strategy for Role (placeholder: typed round trip and metadata rules).
pub static ROLE_STRATEGY: TypedStrategy<k8s_openapi::api::rbac::v1::Role> =
    TypedStrategy::new(true, false);

/// Strategy for RoleBinding (placeholder: typed round trip and metadata rules).
pub static ROLE_BINDING_STRATEGY: TypedStrategy<k8s_openapi::api::rbac::v1::RoleBinding> =
    TypedStrategy::new(true, false);

/// Strategy for ClusterRole (placeholder: typed round trip and metadata rules).
pub static CLUSTER_ROLE_STRATEGY: TypedStrategy<k8s_openapi::api::rbac::v1::ClusterRole> =
    TypedStrategy::new(false, false);

/// Strategy for ClusterRoleBinding (placeholder: typed round trip and metadata rules).
pub static CLUSTER_ROLE_BINDING_STRATEGY: TypedStrategy<
    k8s_openapi::api::rbac::v1::ClusterRoleBinding,
> = TypedStrategy::new(false, false);
