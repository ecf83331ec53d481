//! The Container Runtime Interface (CRI v1) as the kubelet uses it.
//!
//! - [`api`]: the CRI v1 protobuf types and tonic clients/servers (from the
//!   `k8s-cri` crate, generated from upstream's `api.proto`);
//! - [`service`]: the narrow [`RuntimeService`]/[`ImageService`] traits the
//!   kubelet talks to, one method per CRI call it makes;
//! - [`remote`]: the real implementation over gRPC on a unix socket
//!   (containerd's CRI plugin);
//! - [`instrumented`]: a wrapper recording upstream's
//!   `kubelet_runtime_operations_total`, `..._duration_seconds` and
//!   `..._errors_total` per operation;
//! - [`fake`]: an in-process runtime that only simulates containers, for unit
//!   tests and simulated nodes (never the default);
//! - [`image_layout`] and [`local_images`]: OCI image-layout tarballs built on
//!   the machine (pause, busybox, the test server), for machines that cannot
//!   reach a registry, and importing them with `ctr`.

#![warn(missing_docs)]

/// CRI v1 protobuf types, `runtime_service_client`/`image_service_client`
/// and the matching servers.
pub mod api {
    pub use k8s_cri::v1::*;
}

pub mod containerd;
pub mod fake;
pub mod image_layout;
pub mod image_ref;
pub mod instrumented;
pub mod local_images;
pub mod remote;
pub mod service;
pub mod testing;

pub use service::{ImageService, Result, Runtime, RuntimeService};

/// Upstream's CRI API version string, sent in `Version` requests.
pub const CRI_API_VERSION: &str = "v1";

/// Nanoseconds since the Unix epoch (CRI timestamps).
pub fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
