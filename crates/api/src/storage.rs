//! Defaulting and validation for storage.

use crate::strategy::TypedStrategy;

/// Strategy for StorageClass (placeholder: typed round trip and metadata rules).
pub static STORAGE_CLASS_STRATEGY: TypedStrategy<k8s_openapi::api::storage::v1::StorageClass> =
    TypedStrategy::new(false, false);

/// Strategy for CSIDriver (placeholder: typed round trip and metadata rules).
pub static CSI_DRIVER_STRATEGY: TypedStrategy<k8s_openapi::api::storage::v1::CSIDriver> =
    TypedStrategy::new(false, false);

/// Strategy for CSINode (placeholder: typed round trip and metadata rules).
pub static CSI_NODE_STRATEGY: TypedStrategy<k8s_openapi::api::storage::v1::CSINode> =
    TypedStrategy::new(false, false);

/// Strategy for VolumeAttachment (placeholder: typed round trip and metadata rules).
pub static VOLUME_ATTACHMENT_STRATEGY: TypedStrategy<
    k8s_openapi::api::storage::v1::VolumeAttachment,
> = TypedStrategy::new(false, false);
