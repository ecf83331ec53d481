//! End-to-end tests against a real etcd and the real apiserver, driven by
//! /usr/bin/kubectl and kube-rs. One test binary (link time is scarce).

mod admission;
mod admission_defaults;
mod aggregator;
mod apf_limits;
mod apply;
mod apply_checks;
mod audit;
mod bad_input;
mod certificates;
mod conformance_apf;
mod conformance_defaulting;
mod conformance_machinery;
mod conformance_namespaces_quota;
mod conformance_resources;
mod crd;
mod crd_admission;
mod crd_apply;
mod crd_versions;
mod crd_webhook;
mod encryption;
mod kube_client;
mod kubectl;
mod kubectl_everyday;
mod kubectl_more;
mod kubernetes_endpoints;
mod openapi_v2;
mod pod_resize;
mod pod_security;
mod pod_subresources;
mod policies;
mod resource_quota;
mod security;
mod server_side_apply;
mod service_proxy;
mod services;
mod watch;
mod webhooks;
mod write_paths;

/// Every test gets this long before it is failed.
pub const TEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Runs an async test body with the standard timeout.
#[macro_export]
macro_rules! with_timeout {
    ($body:expr) => {
        tokio::time::timeout($crate::TEST_TIMEOUT, $body)
            .await
            .expect("test timed out")
    };
}
