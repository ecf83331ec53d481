//! core/v1 kinds other than pods and services: namespaces, configmaps,
//! secrets, nodes, service accounts, events, limit ranges, resource quotas,
//! persistent volumes and claims.

mod config;
mod event;
mod namespace;
mod node;
mod quota;
mod volume;

#[cfg(test)]
mod tests;

use k8s_openapi::api::core::v1::{Binding, ServiceAccount};

use crate::kind::{KindRules, KindStrategy};
use crate::strategy::TypedStrategy;

pub use config::{
    ConfigMapRules, MAX_DATA_SIZE, SA_NAME_ANNOTATION, SECRET_TYPE_OPAQUE, SECRET_TYPE_SA_TOKEN,
    SecretRules,
};
pub use event::{EVENT_FIELD_LABELS, EventRules, event_field_attrs, validate_event};
pub use namespace::{FINALIZER_KUBERNETES, LABEL_METADATA_NAME, NamespaceRules};
pub use node::{NodeRules, validate_taints, validate_tolerations};
pub use quota::{
    LimitRangeRules, ResourceQuotaRules, validate_container_resource_name, validate_resource_name,
};
pub use volume::{PersistentVolumeClaimRules, PersistentVolumeRules};

/// Strategy for Namespace.
pub static NAMESPACE_STRATEGY: KindStrategy<NamespaceRules> = KindStrategy::new();

/// Strategy for ConfigMap.
pub static CONFIG_MAP_STRATEGY: KindStrategy<ConfigMapRules> = KindStrategy::new();

/// Strategy for Secret.
pub static SECRET_STRATEGY: KindStrategy<SecretRules> = KindStrategy::new();

/// Strategy for Node.
pub static NODE_STRATEGY: KindStrategy<NodeRules> = KindStrategy::new();

/// Strategy for ServiceAccount.
pub static SERVICE_ACCOUNT_STRATEGY: KindStrategy<ServiceAccountRules> = KindStrategy::new();

/// Strategy for core/v1 Event.
pub static EVENT_STRATEGY: KindStrategy<EventRules> = KindStrategy::new();

/// Strategy for LimitRange.
pub static LIMIT_RANGE_STRATEGY: KindStrategy<LimitRangeRules> = KindStrategy::new();

/// Strategy for ResourceQuota.
pub static RESOURCE_QUOTA_STRATEGY: KindStrategy<ResourceQuotaRules> = KindStrategy::new();

/// Strategy for PersistentVolume.
pub static PERSISTENT_VOLUME_STRATEGY: KindStrategy<PersistentVolumeRules> = KindStrategy::new();

/// Strategy for PersistentVolumeClaim.
pub static PERSISTENT_VOLUME_CLAIM_STRATEGY: KindStrategy<PersistentVolumeClaimRules> =
    KindStrategy::new();

/// Strategy for the create-only `bindings` resource: a typed round trip and
/// the metadata rules; the apiserver turns the create into a pod binding.
pub static BINDING_STRATEGY: TypedStrategy<Binding> = TypedStrategy::new(true, false);

/// The rules of ServiceAccount: metadata only (upstream validates nothing
/// else; token secrets are the controllers' business).
pub struct ServiceAccountRules;

impl KindRules for ServiceAccountRules {
    type Object = ServiceAccount;
    const NAMESPACED: bool = true;
}
