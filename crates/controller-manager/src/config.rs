//! The validated configuration the controller-manager runs with, produced
//! from the flags by [`crate::options::Options::complete`].
//!
//! [`ControllerConfig`] is upstream's "component config" of the
//! controllers: it also holds settings of controllers Corten does not have
//! yet (node IPAM, node lifecycle, pod GC, ...), validated now so they are
//! ready when those controllers arrive.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use corten_component_base::secure_serving::SecureServingOptions;
use ipnet::IpNet;

pub use crate::controllers::horizontal_pod_autoscaler::HpaConfig;
use crate::leader_election::LeaderElectionConfig;
use crate::registry::ControllerSelection;

/// Everything `run` needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// `--kubeconfig`; `None` means in-cluster configuration.
    pub kubeconfig: Option<PathBuf>,
    /// `--master`: overrides the kubeconfig's server.
    pub master: Option<String>,
    /// `--controllers`.
    pub controllers: ControllerSelection,
    /// `--leader-elect*`; `None` with `--leader-elect=false`.
    pub leader_election: Option<LeaderElectionConfig>,
    /// Where `/healthz`, `/livez`, `/readyz` and `/metrics` are served;
    /// `None` with `--secure-port=0`.
    pub serving: Option<SocketAddr>,
    /// TLS, delegated authentication and authorization of the secure port.
    pub secure_serving: SecureServingOptions,
    /// The controllers' settings.
    pub controller: ControllerConfig,
    /// `--use-service-account-credentials`: each controller uses its own
    /// ServiceAccount in kube-system.
    pub use_service_account_credentials: bool,
}

/// A CA bundle read from `--root-ca-file`.
#[derive(Clone, PartialEq, Eq)]
pub struct RootCa {
    /// Where it was read from.
    pub path: PathBuf,
    /// The PEM bytes, as published in `kube-root-ca.crt`.
    pub pem: Vec<u8>,
}

impl std::fmt::Debug for RootCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootCa")
            .field("path", &self.path)
            .field("bytes", &self.pem.len())
            .finish()
    }
}

/// Settings of the controllers (upstream `KubeControllerManagerConfiguration`).
#[derive(Debug, Clone, PartialEq)]
pub struct ControllerConfig {
    /// `--root-ca-file`, read and checked to hold certificates. Without it,
    /// the CA of the kubeconfig is published (as upstream does).
    pub root_ca: Option<RootCa>,
    /// `--service-account-private-key-file` (for the token controller, not
    /// implemented yet); checked to hold a PEM private key.
    pub service_account_private_key_file: Option<PathBuf>,
    /// `--concurrent-namespace-syncs`.
    pub concurrent_namespace_syncs: usize,
    /// `--namespace-sync-period`.
    pub namespace_sync_period: Duration,
    /// `--concurrent-*-syncs` of the controllers still to come.
    pub concurrency: Concurrency,
    /// Node IPAM settings.
    pub node_ipam: NodeIpamConfig,
    /// Node lifecycle settings.
    pub node_lifecycle: NodeLifecycleConfig,
    /// `--terminated-pod-gc-threshold` (pod GC; `<= 0` disables it).
    pub terminated_pod_gc_threshold: i32,
    /// Volume controllers' settings.
    pub volume: VolumeConfig,
    /// `--cluster-signing-*`: the CA each signer name issues certificates
    /// with; a signer without one is off (all off: no CSR signer).
    pub csr_signing: BTreeMap<&'static str, CsrSigningConfig>,
    /// `--horizontal-pod-autoscaler-*`.
    pub horizontal_pod_autoscaler: HpaConfig,
}

/// The cluster signing CA (`--cluster-signing-cert-file`,
/// `--cluster-signing-key-file`, `--cluster-signing-duration`).
#[derive(Clone, PartialEq, Eq)]
pub struct CsrSigningConfig {
    /// The CA certificate (PEM).
    pub cert_pem: String,
    /// The CA private key (PEM).
    pub key_pem: String,
    /// The longest lifetime of issued certificates.
    pub duration: Duration,
}

impl std::fmt::Debug for CsrSigningConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsrSigningConfig")
            .field("duration", &self.duration)
            .finish_non_exhaustive()
    }
}

/// Settings of the volume controllers.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeConfig {
    /// `--hostpath-provisioner-dir`: where the `corten.io/hostpath`
    /// provisioner puts volume directories.
    pub hostpath_dir: PathBuf,
    /// `--pv-recycler-*`: the recycler pods of `Recycle` volumes.
    pub recycler: crate::controllers::persistentvolume::recycle::RecyclerConfig,
}

impl Default for VolumeConfig {
    fn default() -> Self {
        Self {
            hostpath_dir: PathBuf::from(DEFAULT_HOSTPATH_DIR),
            recycler: Default::default(),
        }
    }
}

/// Default of `--hostpath-provisioner-dir`.
pub const DEFAULT_HOSTPATH_DIR: &str = "/var/lib/corten/volumes";

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            root_ca: None,
            service_account_private_key_file: None,
            concurrent_namespace_syncs: 10,
            namespace_sync_period: Duration::from_secs(300),
            concurrency: Concurrency::default(),
            node_ipam: NodeIpamConfig::default(),
            node_lifecycle: NodeLifecycleConfig::default(),
            terminated_pod_gc_threshold: 12500,
            volume: VolumeConfig::default(),
            csr_signing: BTreeMap::new(),
            horizontal_pod_autoscaler: HpaConfig::default(),
        }
    }
}

/// Worker counts of the controllers that are still to come (upstream defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concurrency {
    /// `--concurrent-serviceaccount-token-syncs` (5).
    pub serviceaccount_token: usize,
    /// `--concurrent-deployment-syncs` (5).
    pub deployment: usize,
    /// `--concurrent-replicaset-syncs` (5).
    pub replicaset: usize,
    /// `--concurrent-rc-syncs` (5).
    pub replicationcontroller: usize,
    /// `--concurrent-statefulset-syncs` (5).
    pub statefulset: usize,
    /// `--concurrent-daemonset-syncs` (2).
    pub daemonset: usize,
    /// `--concurrent-job-syncs` (5).
    pub job: usize,
    /// `--concurrent-cron-job-syncs` (5).
    pub cronjob: usize,
    /// `--concurrent-endpoint-syncs` (5).
    pub endpoint: usize,
    /// `--concurrent-service-endpoint-syncs` (5, EndpointSlices).
    pub endpointslice: usize,
    /// `--concurrent-gc-syncs` (20).
    pub garbage_collector: usize,
    /// `--concurrent-resource-quota-syncs` (5).
    pub resource_quota: usize,
    /// `--concurrent-ttl-after-finished-syncs` (5).
    pub ttl_after_finished: usize,
    /// `--concurrent-horizontal-pod-autoscaler-syncs` (5).
    pub horizontal_pod_autoscaler: usize,
}

impl Default for Concurrency {
    fn default() -> Self {
        Self {
            serviceaccount_token: 5,
            deployment: 5,
            replicaset: 5,
            replicationcontroller: 5,
            statefulset: 5,
            daemonset: 2,
            job: 5,
            cronjob: 5,
            endpoint: 5,
            endpointslice: 5,
            garbage_collector: 20,
            resource_quota: 5,
            ttl_after_finished: 5,
            horizontal_pod_autoscaler: 5,
        }
    }
}

/// Node IPAM (`node-ipam-controller`) settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIpamConfig {
    /// `--allocate-node-cidrs`.
    pub allocate_node_cidrs: bool,
    /// `--cluster-cidr` (one CIDR, or one per IP family).
    pub cluster_cidrs: Vec<IpNet>,
    /// Pod CIDR prefix length per node for IPv4 (default 24).
    pub node_cidr_mask_size_ipv4: u8,
    /// Pod CIDR prefix length per node for IPv6 (default 64).
    pub node_cidr_mask_size_ipv6: u8,
}

impl Default for NodeIpamConfig {
    fn default() -> Self {
        Self {
            allocate_node_cidrs: false,
            cluster_cidrs: Vec::new(),
            node_cidr_mask_size_ipv4: 24,
            node_cidr_mask_size_ipv6: 64,
        }
    }
}

/// Node lifecycle (`node-lifecycle-controller`) settings.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeLifecycleConfig {
    /// `--node-monitor-grace-period` (50s): unresponsive time before a node
    /// is marked unhealthy.
    pub node_monitor_grace_period: Duration,
    /// `--node-monitor-period` (5s).
    pub node_monitor_period: Duration,
    /// `--node-startup-grace-period` (1m).
    pub node_startup_grace_period: Duration,
    /// How fast NoExecute taints may spread per zone.
    pub eviction: EvictionConfig,
}

// The eviction rates are checked to be finite when the flags are read.
impl Eq for NodeLifecycleConfig {}

pub use crate::controllers::nodelifecycle::zones::EvictionConfig;

impl Default for NodeLifecycleConfig {
    fn default() -> Self {
        Self {
            node_monitor_grace_period: Duration::from_secs(50),
            node_monitor_period: Duration::from_secs(5),
            node_startup_grace_period: Duration::from_secs(60),
            eviction: EvictionConfig::default(),
        }
    }
}
