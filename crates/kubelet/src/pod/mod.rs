//! Running pods: from the desired pods (API and static manifests) to
//! sandboxes and containers in the runtime, and back to pod status.

pub mod actions;
pub mod api_status;
pub mod backoff;
pub mod container_config;
pub mod deadline;
pub mod dns;
pub mod downward;
pub mod env;
pub mod ephemeral;
pub mod evict;
pub mod images;
pub mod labels;
pub mod lifecycle;
pub mod objects;
pub mod pleg;
pub mod qos;
pub mod resize;
pub mod runtime_pod;
pub mod sandbox_config;
pub mod source;
pub mod static_pods;
pub mod status_manager;
pub mod sync;
pub mod workers;
