//! The kubelet: the node agent of a Corten cluster.
//!
//! It registers the node, keeps its status and Lease fresh, and runs the pods
//! bound to the node through a CRI runtime (containerd), with probes, volumes,
//! logs and pod status like upstream kubelet 1.33. The design follows
//! upstream's decomposition into small managers with narrow interfaces:
//!
//! - [`admission`]: pod admission (resources, affinity, ports, taints, pressure);
//! - [`cadvisor`]: `/metrics/cadvisor` from the pods' cgroups;
//! - [`certificate`]: TLS bootstrap and client certificate rotation;
//! - [`config`], [`options`]: `KubeletConfiguration` and the upstream flags;
//! - [`node`]: registration, node status, the node Lease;
//! - [`pod`]: pod workers, the sync loop, status generation and the status
//!   manager, PLEG, env, QoS, image pulls, lifecycle hooks;
//! - [`volume`]: emptyDir, configMap, secret, downwardAPI, projected, hostPath;
//! - [`eviction`]: the eviction manager (pressure conditions, evicting pods);
//! - [`gc`]: image and container garbage collection;
//! - [`probe`]: liveness, readiness and startup probes;
//! - [`logs`]: container log rotation;
//! - [`server`]: the kubelet API on 10250 (logs, pods, metrics, stats);
//! - [`simulated`]: many kubelets over fake runtimes in one process;
//! - [`kubelet`]: wiring everything together ([`kubelet::start`]).
//!
//! The runtime is a [`corten_cri::Runtime`]: the real one over CRI, or the
//! fake for unit tests and simulated nodes.

#![warn(missing_docs)]

pub mod admission;
pub mod cadvisor;
pub mod certificate;
pub mod config;
pub mod duration;
pub mod events;
pub mod eviction;
pub mod gc;
pub mod kubelet;
pub mod logs;
pub mod metrics;
pub mod node;
pub mod options;
pub mod pod;
pub mod probe;
pub mod server;
pub mod simulated;
pub mod time;
pub mod volume;
