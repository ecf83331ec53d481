//! Defaulting and validation for apps.

use crate::strategy::TypedStrategy;

/// Strategy for Deployment (placeholder: typed round trip and metadata rules).
pub static DEPLOYMENT_STRATEGY: TypedStrategy<k8s_openapi::api::apps::v1::Deployment> =
    TypedStrategy::new(true, true);

/// Strategy for ReplicaSet (placeholder: typed round trip and metadata rules).
pub static REPLICA_SET_STRATEGY: TypedStrategy<k8s_openapi::api::apps::v1::ReplicaSet> =
    TypedStrategy::new(true, true);

/// Strategy for StatefulSet (placeholder: typed round trip and metadata rules).
pub static STATEFUL_SET_STRATEGY: TypedStrategy<k8s_openapi::api::apps::v1::StatefulSet> =
    TypedStrategy::new(true, true);

/// Strategy for DaemonSet (placeholder: typed round trip and metadata rules).
pub static DAEMON_SET_STRATEGY: TypedStrategy<k8s_openapi::api::apps::v1::DaemonSet> =
    TypedStrategy::new(true, true);

/// Strategy for ControllerRevision (placeholder: typed round trip and metadata rules).
pub static CONTROLLER_REVISION_STRATEGY: TypedStrategy<
    k8s_openapi::api::apps::v1::ControllerRevision,
> = TypedStrategy::new(true, false);
