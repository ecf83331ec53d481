//! The kubelet against the real containerd and a real apiserver.

mod binary;
mod conformance_network;
mod conformance_node;
mod conformance_storage;
mod container_metrics;
mod control_plane;
mod csr_signer;
mod fake_runtime;
mod harness;
mod kubectl_websocket;
mod kubectl_workloads;
mod log_rotation;
mod node_and_pods;
mod node_health;
mod node_netns;
mod pod_log_dirs;
mod pod_resize;
mod restarts;
mod service_network;
mod service_proxy;
mod serving_certificate;
mod simulated_nodes;
mod sysctls;
mod tls_bootstrap;
