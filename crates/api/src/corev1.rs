//! Defaulting and validation for core/v1 kinds other than pods and services (namespaces, configmaps, secrets, nodes, ...).

use crate::strategy::TypedStrategy;

/// Strategy for Namespace (placeholder: typed round trip and metadata rules).
pub static NAMESPACE_STRATEGY: TypedStrategy<k8s_openapi::api::core::v1::Namespace> =
    TypedStrategy::new(false, false);

/// Strategy for ConfigMap (placeholder: typed round trip and metadata rules).
pub static CONFIG_MAP_STRATEGY: TypedStrategy<k8s_openapi::api::core::v1::ConfigMap> =
    TypedStrategy::new(true, false);

/// Strategy for Secret (placeholder: typed round trip and metadata rules).
pub static SECRET_STRATEGY: TypedStrategy<k8s_openapi::api::core::v1::Secret> =
    TypedStrategy::new(true, false);

/// Strategy for Node (placeholder: typed round trip and metadata rules).
pub static NODE_STRATEGY: TypedStrategy<k8s_openapi::api::core::v1::Node> =
    TypedStrategy::new(false, false);

/// Strategy for ServiceAccount (placeholder: typed round trip and metadata rules).
pub static SERVICE_ACCOUNT_STRATEGY: TypedStrategy<k8s_openapi::api::core::v1::ServiceAccount> =
    TypedStrategy::new(true, false);

/// Strategy for Event (placeholder: typed round trip and metadata rules).
pub static EVENT_STRATEGY: TypedStrategy<k8s_openapi::api::core::v1::Event> =
    TypedStrategy::new(true, false);

/// Strategy for LimitRange (placeholder: typed round trip and metadata rules).
pub static LIMIT_RANGE_STRATEGY: TypedStrategy<k8s_openapi::api::core::v1::LimitRange> =
    TypedStrategy::new(true, false);

/// Strategy for ResourceQuota (placeholder: typed round trip and metadata rules).
pub static RESOURCE_QUOTA_STRATEGY: TypedStrategy<k8s_openapi::api::core::v1::ResourceQuota> =
    TypedStrategy::new(true, false);

/// Strategy for PersistentVolume (placeholder: typed round trip and metadata rules).
pub static PERSISTENT_VOLUME_STRATEGY: TypedStrategy<k8s_openapi::api::core::v1::PersistentVolume> =
    TypedStrategy::new(false, false);

/// Strategy for PersistentVolumeClaim (placeholder: typed round trip and metadata rules).
pub static PERSISTENT_VOLUME_CLAIM_STRATEGY: TypedStrategy<
    k8s_openapi::api::core::v1::PersistentVolumeClaim,
> = TypedStrategy::new(true, false);
