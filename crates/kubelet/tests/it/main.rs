//! The kubelet against the real containerd and a real apiserver.

mod fake_runtime;
mod harness;
mod kubectl_workloads;
mod node_and_pods;
mod node_health;
mod restarts;
mod tls_bootstrap;
