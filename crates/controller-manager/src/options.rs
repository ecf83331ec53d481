//! Command-line flags of kube-controller-manager (named as upstream) and
//! their validation into a [`Config`].
//!
//! Boolean flags take `--flag`, `--flag=true` or `--flag=false` (Go's
//! syntax); durations use Go's syntax (`15s`, `1m30s`). Upstream flags not
//! listed here are rejected before parsing by
//! `corten_component_base::flags::exit_on_unsupported_flags`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{ArgAction, Parser};
use corten_component_base::logging::LoggingOptions;
use corten_component_base::secure_serving::SecureServingOptions;
use ipnet::IpNet;

use crate::config::{
    Concurrency, Config, ControllerConfig, CsrSigningConfig, EvictionConfig, HpaConfig,
    NodeIpamConfig, NodeLifecycleConfig, RootCa, VolumeConfig,
};
use crate::duration::parse_duration;
use crate::leader_election::{JITTER_FACTOR, LeaderElectionConfig};
use crate::registry::ControllerSelection;

/// The largest difference between the cluster CIDR's prefix and the node
/// mask upstream's CIDR allocator accepts.
const MAX_NODE_MASK_DIFF: u8 = 16;

/// kube-controller-manager flags.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "kube-controller-manager",
    about = "The Kubernetes controller manager (Corten): runs the control loops that move the cluster towards its desired state.",
    version = corten_component_base::version::GIT_VERSION,
    // Like Go's pflag: a repeated flag takes the last value.
    args_override_self = true
)]
pub struct Options {
    /// Path to kubeconfig file with authorization and master location information (the master location can be overridden by the master flag).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,

    /// The address of the Kubernetes API server (overrides any value in kubeconfig).
    #[arg(long)]
    pub master: Option<String>,

    /// A list of controllers to enable. '*' enables all on-by-default controllers, 'foo' enables the controller named 'foo', '-foo' disables the controller named 'foo'. Names are upstream's (canonical or alias); see docs/kube-controller-manager.md for the ones Corten implements.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "*",
        allow_hyphen_values = true
    )]
    pub controllers: Vec<String>,

    /// If true, use individual service account credentials for each controller.
    #[arg(long, action = ArgAction::Set, default_value_t = false, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub use_service_account_credentials: bool,

    /// Start a leader election client and gain leadership before executing the main loop. Enable this when running replicated components for high availability.
    #[arg(long, action = ArgAction::Set, default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub leader_elect: bool,

    /// The duration that non-leader candidates will wait after observing a leadership renewal until attempting to acquire leadership of a led but unrenewed leader slot.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub leader_elect_lease_duration: Duration,

    /// The interval between attempts by the acting master to renew a leadership slot before it stops leading. This must be less than the lease duration.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub leader_elect_renew_deadline: Duration,

    /// The duration the clients should wait between attempting acquisition and renewal of a leadership.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub leader_elect_retry_period: Duration,

    /// The type of resource object that is used for locking during leader election. Supported options are 'leases'.
    #[arg(long, default_value = "leases")]
    pub leader_elect_resource_lock: String,

    /// The name of resource object that is used for locking during leader election.
    #[arg(long, default_value = "kube-controller-manager")]
    pub leader_elect_resource_name: String,

    /// The namespace of resource object that is used for locking during leader election.
    #[arg(long, default_value = "kube-system")]
    pub leader_elect_resource_namespace: String,

    /// The port on which to serve HTTPS with authentication and authorization. If 0, don't serve HTTPS at all.
    #[arg(long, default_value_t = 10257)]
    pub secure_port: u16,

    /// The IP address on which to listen for the --secure-port port.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    pub bind_address: IpAddr,

    /// If set, this root certificate authority will be included in service account's token secret. This must be a valid PEM-encoded CA bundle. Also published as the kube-root-ca.crt ConfigMap.
    #[arg(long)]
    pub root_ca_file: Option<PathBuf>,

    /// Filename containing a PEM-encoded private RSA or ECDSA key used to sign service account tokens.
    #[arg(long)]
    pub service_account_private_key_file: Option<PathBuf>,

    /// The number of namespace objects that are allowed to sync concurrently. Larger number = more responsive namespace termination, but more CPU (and network) load.
    #[arg(long, default_value_t = 10)]
    pub concurrent_namespace_syncs: usize,

    /// The period for syncing namespace life-cycle updates.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub namespace_sync_period: Duration,

    /// The number of service account token objects that are allowed to sync concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_serviceaccount_token_syncs: usize,

    /// The number of deployment objects that are allowed to sync concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_deployment_syncs: usize,

    /// The number of replica sets that are allowed to sync concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_replicaset_syncs: usize,

    /// The number of replication controllers that are allowed to sync concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_rc_syncs: usize,

    /// The number of statefulset objects that are allowed to sync concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_statefulset_syncs: usize,

    /// The number of daemonset objects that are allowed to sync concurrently.
    #[arg(long, default_value_t = 2)]
    pub concurrent_daemonset_syncs: usize,

    /// The number of job objects that are allowed to sync concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_job_syncs: usize,

    /// The number of cron job objects that are allowed to sync concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_cron_job_syncs: usize,

    /// The number of endpoint syncing operations that will be done concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_endpoint_syncs: usize,

    /// The number of service endpoint syncing operations that will be done concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_service_endpoint_syncs: usize,

    /// The number of garbage collector workers that are allowed to sync concurrently.
    #[arg(long, default_value_t = 20)]
    pub concurrent_gc_syncs: usize,

    /// The number of resource quotas that are allowed to sync concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_resource_quota_syncs: usize,

    /// The number of ttl-after-finished-controller workers that are allowed to sync concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_ttl_after_finished_syncs: usize,

    /// The number of horizontal pod autoscaler objects that are allowed to sync concurrently.
    #[arg(long, default_value_t = 5)]
    pub concurrent_horizontal_pod_autoscaler_syncs: usize,

    /// The period for syncing the number of pods in horizontal pod autoscaler.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub horizontal_pod_autoscaler_sync_period: Duration,

    /// The minimum change (from 1.0) in the desired-to-actual metrics ratio for the horizontal pod autoscaler to consider scaling.
    #[arg(long, default_value_t = 0.1)]
    pub horizontal_pod_autoscaler_tolerance: f64,

    /// The period for which autoscaler will look backwards and not scale down below any recommendation it made during that period.
    #[arg(long, default_value = "5m0s", value_parser = parse_duration)]
    pub horizontal_pod_autoscaler_downscale_stabilization: Duration,

    /// The period after pod start when CPU samples might be skipped.
    #[arg(long, default_value = "5m0s", value_parser = parse_duration)]
    pub horizontal_pod_autoscaler_cpu_initialization_period: Duration,

    /// The period after pod start during which readiness changes will be treated as initial readiness.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub horizontal_pod_autoscaler_initial_readiness_delay: Duration,

    /// CIDR Range for Pods in cluster. Requires --allocate-node-cidrs to be true.
    #[arg(long)]
    pub cluster_cidr: Option<String>,

    /// Should CIDRs for Pods be allocated and set on the cloud provider.
    #[arg(long, action = ArgAction::Set, default_value_t = false, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub allocate_node_cidrs: bool,

    /// Mask size for node cidr in cluster. Default is 24 for IPv4 and 64 for IPv6.
    #[arg(long, default_value_t = 0)]
    pub node_cidr_mask_size: u8,

    /// Mask size for IPv4 node cidr in dual-stack cluster. Default is 24.
    #[arg(long, default_value_t = 0)]
    pub node_cidr_mask_size_ipv4: u8,

    /// Mask size for IPv6 node cidr in dual-stack cluster. Default is 64.
    #[arg(long, default_value_t = 0)]
    pub node_cidr_mask_size_ipv6: u8,

    /// Amount of time which we allow running Node to be unresponsive before marking it unhealthy.
    #[arg(long, default_value = "50s", value_parser = parse_duration)]
    pub node_monitor_grace_period: Duration,

    /// The period for syncing NodeStatus in cloud-node-lifecycle-controller.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub node_monitor_period: Duration,

    /// Amount of time which we allow starting Node to be unresponsive before marking it unhealthy.
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    pub node_startup_grace_period: Duration,

    /// Number of nodes per second on which pods are deleted in case of node failure when a zone is healthy (see --unhealthy-zone-threshold for definition of healthy/unhealthy). Zone refers to entire cluster in non-multizone clusters.
    #[arg(long, default_value_t = 0.1)]
    pub node_eviction_rate: f64,

    /// Number of nodes per second on which pods are deleted in case of node failure when a zone is unhealthy (see --unhealthy-zone-threshold for definition of healthy/unhealthy). Zone refers to entire cluster in non-multizone clusters. This value is implicitly overridden to 0 if the cluster size is smaller than --large-cluster-size-threshold.
    #[arg(long, default_value_t = 0.01)]
    pub secondary_node_eviction_rate: f64,

    /// Number of nodes from which node-lifecycle-controller treats the cluster as large for the eviction logic purposes. --secondary-node-eviction-rate is implicitly overridden to 0 for clusters this size or smaller.
    #[arg(long, default_value_t = 50, allow_negative_numbers = true)]
    pub large_cluster_size_threshold: i32,

    /// Fraction of Nodes in a zone which needs to be not Ready (minimum 3) for zone to be treated as unhealthy.
    #[arg(long, default_value_t = 0.55)]
    pub unhealthy_zone_threshold: f64,

    /// Number of terminated pods that can exist before the terminated pod garbage collector starts deleting terminated pods. If <= 0, the terminated pod garbage collector is disabled.
    #[arg(long, default_value_t = 12500, allow_negative_numbers = true)]
    pub terminated_pod_gc_threshold: i32,

    /// Directory under which the corten.io/hostpath provisioner creates the directories of the PersistentVolumes it provisions (a Corten flag; upstream's test-only hostPath provisioner uses /tmp/hostpath_pv).
    #[arg(long, default_value = crate::config::DEFAULT_HOSTPATH_DIR)]
    pub hostpath_provisioner_dir: PathBuf,

    /// Filename containing a PEM-encoded X509 CA certificate used to issue cluster-scoped certificates.
    #[arg(long)]
    pub cluster_signing_cert_file: Option<PathBuf>,

    /// Filename containing a PEM-encoded RSA or ECDSA private key used to sign cluster-scoped certificates.
    #[arg(long)]
    pub cluster_signing_key_file: Option<PathBuf>,

    /// Filename containing a PEM-encoded X509 CA certificate used to issue certificates for the kubernetes.io/kubelet-serving signer. If specified, --cluster-signing-{cert,key}-file must not be set.
    #[arg(long)]
    pub cluster_signing_kubelet_serving_cert_file: Option<PathBuf>,

    /// Filename containing a PEM-encoded RSA or ECDSA private key used to sign certificates for the kubernetes.io/kubelet-serving signer. If specified, --cluster-signing-{cert,key}-file must not be set.
    #[arg(long)]
    pub cluster_signing_kubelet_serving_key_file: Option<PathBuf>,

    /// Filename containing a PEM-encoded X509 CA certificate used to issue client certificates for the kubernetes.io/kube-apiserver-client-kubelet signer. If specified, --cluster-signing-{cert,key}-file must not be set.
    #[arg(long)]
    pub cluster_signing_kubelet_client_cert_file: Option<PathBuf>,

    /// Filename containing a PEM-encoded RSA or ECDSA private key used to sign client certificates for the kubernetes.io/kube-apiserver-client-kubelet signer. If specified, --cluster-signing-{cert,key}-file must not be set.
    #[arg(long)]
    pub cluster_signing_kubelet_client_key_file: Option<PathBuf>,

    /// Filename containing a PEM-encoded X509 CA certificate used to issue certificates for the kubernetes.io/kube-apiserver-client signer. If specified, --cluster-signing-{cert,key}-file must not be set.
    #[arg(long)]
    pub cluster_signing_kube_apiserver_client_cert_file: Option<PathBuf>,

    /// Filename containing a PEM-encoded RSA or ECDSA private key used to sign certificates for the kubernetes.io/kube-apiserver-client signer. If specified, --cluster-signing-{cert,key}-file must not be set.
    #[arg(long)]
    pub cluster_signing_kube_apiserver_client_key_file: Option<PathBuf>,

    /// Filename containing a PEM-encoded X509 CA certificate used to issue certificates for the kubernetes.io/legacy-unknown signer. If specified, --cluster-signing-{cert,key}-file must not be set.
    #[arg(long)]
    pub cluster_signing_legacy_unknown_cert_file: Option<PathBuf>,

    /// Filename containing a PEM-encoded RSA or ECDSA private key used to sign certificates for the kubernetes.io/legacy-unknown signer. If specified, --cluster-signing-{cert,key}-file must not be set.
    #[arg(long)]
    pub cluster_signing_legacy_unknown_key_file: Option<PathBuf>,

    /// The max length of duration signed certificates will be given. Individual CSRs may request shorter certs by setting spec.expirationSeconds.
    #[arg(long, default_value = "8760h0m0s", value_parser = parse_duration)]
    pub cluster_signing_duration: Duration,

    /// `--pv-recycler-*`.
    #[command(flatten)]
    pub recycler: crate::recycler_options::RecyclerOptions,

    /// TLS, delegated authentication and authorization of the secure port.
    #[command(flatten)]
    pub secure_serving: SecureServingOptions,

    /// Logging flags.
    #[command(flatten)]
    pub logging: LoggingOptions,

    /// `--feature-gates` (validated and exposed, no behaviour depends on it).
    #[command(flatten)]
    pub feature_gates: corten_component_base::feature_gates::FeatureGateOptions,
}

impl Default for Options {
    fn default() -> Self {
        Self::parse_from(["kube-controller-manager"])
    }
}

impl Options {
    /// Validates the flags and reads the files they name. All problems are
    /// reported at once, one per line.
    pub fn complete(self) -> Result<Config, String> {
        let mut errors: Vec<String> = Vec::new();

        // `--controllers=` (empty) enables nothing, as with pflag.
        let entries: Vec<&str> = if self.controllers.len() == 1 && self.controllers[0].is_empty() {
            Vec::new()
        } else {
            self.controllers.iter().map(String::as_str).collect()
        };
        let controllers = ControllerSelection::parse(&entries).unwrap_or_else(|err| {
            errors.push(err.to_string());
            ControllerSelection::default()
        });

        let leader_election = LeaderElectionConfig {
            lease_duration: self.leader_elect_lease_duration,
            renew_deadline: self.leader_elect_renew_deadline,
            retry_period: self.leader_elect_retry_period,
            namespace: self.leader_elect_resource_namespace.clone(),
            name: self.leader_elect_resource_name.clone(),
        };
        if self.leader_elect {
            errors.extend(validate_leader_election(
                &leader_election,
                &self.leader_elect_resource_lock,
            ));
        }

        if let Some(master) = &self.master
            && let Err(err) = corten_component_base::flags::parse_master(master)
        {
            errors.push(err);
        }
        if let Some(path) = &self.kubeconfig
            && !path.is_file()
        {
            errors.push(format!("--kubeconfig {}: no such file", path.display()));
        }

        let root_ca = self
            .root_ca_file
            .as_deref()
            .and_then(|path| read_root_ca(path).map_err(|err| errors.push(err)).ok());
        if let Some(path) = &self.service_account_private_key_file
            && let Err(err) = check_private_key(path)
        {
            errors.push(err);
        }

        let node_ipam = self.node_ipam().unwrap_or_else(|errs| {
            errors.extend(errs);
            NodeIpamConfig::default()
        });
        for (flag, value) in [
            (
                "--node-monitor-grace-period",
                self.node_monitor_grace_period,
            ),
            ("--node-monitor-period", self.node_monitor_period),
            (
                "--node-startup-grace-period",
                self.node_startup_grace_period,
            ),
            ("--namespace-sync-period", self.namespace_sync_period),
            (
                "--horizontal-pod-autoscaler-sync-period",
                self.horizontal_pod_autoscaler_sync_period,
            ),
        ] {
            if value.is_zero() {
                errors.push(format!("{flag} must be greater than zero"));
            }
        }

        for (flag, value) in [
            ("--node-eviction-rate", self.node_eviction_rate),
            (
                "--secondary-node-eviction-rate",
                self.secondary_node_eviction_rate,
            ),
            ("--unhealthy-zone-threshold", self.unhealthy_zone_threshold),
        ] {
            if !value.is_finite() || value < 0.0 {
                errors.push(format!("{flag} must be a non-negative number, got {value}"));
            }
        }

        if !self.horizontal_pod_autoscaler_tolerance.is_finite()
            || self.horizontal_pod_autoscaler_tolerance < 0.0
        {
            errors.push(format!(
                "--horizontal-pod-autoscaler-tolerance must be a non-negative number, got {}",
                self.horizontal_pod_autoscaler_tolerance
            ));
        }

        let csr_signing = self.csr_signing().unwrap_or_else(|err| {
            errors.push(err);
            BTreeMap::new()
        });
        if let Err(flag_errors) = self.secure_serving.validate() {
            errors.extend(flag_errors);
        }
        let recycler = self.recycler.config().unwrap_or_else(|errs| {
            errors.extend(errs);
            Default::default()
        });

        if !errors.is_empty() {
            return Err(errors.join("\n"));
        }
        Ok(Config {
            kubeconfig: self.kubeconfig,
            master: self.master,
            controllers,
            leader_election: self.leader_elect.then_some(leader_election),
            use_service_account_credentials: self.use_service_account_credentials,
            serving: (self.secure_port != 0)
                .then(|| SocketAddr::new(self.bind_address, self.secure_port)),
            secure_serving: self.secure_serving,
            controller: ControllerConfig {
                root_ca,
                service_account_private_key_file: self.service_account_private_key_file,
                concurrent_namespace_syncs: self.concurrent_namespace_syncs,
                namespace_sync_period: self.namespace_sync_period,
                concurrency: Concurrency {
                    serviceaccount_token: self.concurrent_serviceaccount_token_syncs,
                    deployment: self.concurrent_deployment_syncs,
                    replicaset: self.concurrent_replicaset_syncs,
                    replicationcontroller: self.concurrent_rc_syncs,
                    statefulset: self.concurrent_statefulset_syncs,
                    daemonset: self.concurrent_daemonset_syncs,
                    job: self.concurrent_job_syncs,
                    cronjob: self.concurrent_cron_job_syncs,
                    endpoint: self.concurrent_endpoint_syncs,
                    endpointslice: self.concurrent_service_endpoint_syncs,
                    garbage_collector: self.concurrent_gc_syncs,
                    resource_quota: self.concurrent_resource_quota_syncs,
                    ttl_after_finished: self.concurrent_ttl_after_finished_syncs,
                    horizontal_pod_autoscaler: self.concurrent_horizontal_pod_autoscaler_syncs,
                },
                node_ipam,
                node_lifecycle: NodeLifecycleConfig {
                    node_monitor_grace_period: self.node_monitor_grace_period,
                    node_monitor_period: self.node_monitor_period,
                    node_startup_grace_period: self.node_startup_grace_period,
                    eviction: EvictionConfig {
                        rate: self.node_eviction_rate,
                        secondary_rate: self.secondary_node_eviction_rate,
                        large_cluster_threshold: self.large_cluster_size_threshold,
                        unhealthy_zone_threshold: self.unhealthy_zone_threshold,
                    },
                },
                terminated_pod_gc_threshold: self.terminated_pod_gc_threshold,
                volume: VolumeConfig {
                    hostpath_dir: self.hostpath_provisioner_dir,
                    recycler,
                },
                csr_signing,
                horizontal_pod_autoscaler: HpaConfig {
                    sync_period: self.horizontal_pod_autoscaler_sync_period,
                    tolerance: self.horizontal_pod_autoscaler_tolerance,
                    downscale_stabilization: self.horizontal_pod_autoscaler_downscale_stabilization,
                    cpu_initialization_period: self
                        .horizontal_pod_autoscaler_cpu_initialization_period,
                    initial_readiness_delay: self.horizontal_pod_autoscaler_initial_readiness_delay,
                },
            },
        })
    }

    /// Reads and checks the signing CAs: `--cluster-signing-{cert,key}-file`
    /// for every signer, or per-signer pairs (never both, as upstream).
    fn csr_signing(&self) -> Result<BTreeMap<&'static str, CsrSigningConfig>, String> {
        use crate::controllers::certificates::{
            KUBE_APISERVER_CLIENT, KUBE_APISERVER_CLIENT_KUBELET, KUBELET_SERVING, LEGACY_UNKNOWN,
        };
        let specific = [
            (
                KUBELET_SERVING,
                "kubelet-serving",
                &self.cluster_signing_kubelet_serving_cert_file,
                &self.cluster_signing_kubelet_serving_key_file,
            ),
            (
                KUBE_APISERVER_CLIENT_KUBELET,
                "kubelet-client",
                &self.cluster_signing_kubelet_client_cert_file,
                &self.cluster_signing_kubelet_client_key_file,
            ),
            (
                KUBE_APISERVER_CLIENT,
                "kube-apiserver-client",
                &self.cluster_signing_kube_apiserver_client_cert_file,
                &self.cluster_signing_kube_apiserver_client_key_file,
            ),
            (
                LEGACY_UNKNOWN,
                "legacy-unknown",
                &self.cluster_signing_legacy_unknown_cert_file,
                &self.cluster_signing_legacy_unknown_key_file,
            ),
        ];
        let general = (
            &self.cluster_signing_cert_file,
            &self.cluster_signing_key_file,
        );
        let any_specific = specific
            .iter()
            .any(|(_, _, cert, key)| cert.is_some() || key.is_some());
        if any_specific && (general.0.is_some() || general.1.is_some()) {
            return Err("cannot specify --cluster-signing-{cert,key}-file and other --cluster-signing-*-file flags at the same time".into());
        }
        // (signer, flag prefix, cert, key) for every configured signer.
        let mut pairs = Vec::new();
        if any_specific {
            for (signer, flag, cert, key) in specific {
                pairs.push((vec![signer], format!("--cluster-signing-{flag}"), cert, key));
            }
        } else {
            pairs.push((
                vec![
                    KUBELET_SERVING,
                    KUBE_APISERVER_CLIENT_KUBELET,
                    KUBE_APISERVER_CLIENT,
                    LEGACY_UNKNOWN,
                ],
                "--cluster-signing".to_string(),
                general.0,
                general.1,
            ));
        }
        let read = |path: &Path, flag: &str| {
            std::fs::read_to_string(path).map_err(|e| format!("{flag} {}: {e}", path.display()))
        };
        let mut out = BTreeMap::new();
        for (signers, flag, cert, key) in pairs {
            let (cert, key) = match (cert, key) {
                (None, None) => continue,
                (Some(cert), Some(key)) => (cert, key),
                _ => {
                    return Err(format!(
                        "{flag}-cert-file and {flag}-key-file must be given together"
                    ));
                }
            };
            if self.cluster_signing_duration.is_zero() {
                return Err("--cluster-signing-duration must be greater than zero".into());
            }
            let config = CsrSigningConfig {
                cert_pem: read(cert, &format!("{flag}-cert-file"))?,
                key_pem: read(key, &format!("{flag}-key-file"))?,
                duration: self.cluster_signing_duration,
            };
            crate::controllers::certificates::signer::ClusterSigner::new(&config)
                .map_err(|e| format!("{flag}-*-file: {e}"))?;
            for signer in signers {
                out.insert(signer, config.clone());
            }
        }
        Ok(out)
    }

    fn node_ipam(&self) -> Result<NodeIpamConfig, Vec<String>> {
        let mut errors = Vec::new();
        let mut cidrs = Vec::new();
        if let Some(value) = self
            .cluster_cidr
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            for part in value.split(',') {
                match part.trim().parse::<IpNet>() {
                    Ok(net) => cidrs.push(net),
                    Err(_) => errors.push(format!("invalid --cluster-cidr {part:?}: not a CIDR")),
                }
            }
        }
        if cidrs.len() > 2 {
            errors.push("--cluster-cidr may contain at most two CIDRs (one per IP family)".into());
        }
        if cidrs.len() == 2 && cidrs[0].addr().is_ipv4() == cidrs[1].addr().is_ipv4() {
            errors.push(
                "--cluster-cidr with two CIDRs must be dual-stack (one IPv4 and one IPv6)".into(),
            );
        }
        for (flag, size, max) in [
            ("--node-cidr-mask-size", self.node_cidr_mask_size, 128),
            (
                "--node-cidr-mask-size-ipv4",
                self.node_cidr_mask_size_ipv4,
                32,
            ),
            (
                "--node-cidr-mask-size-ipv6",
                self.node_cidr_mask_size_ipv6,
                128,
            ),
        ] {
            if size > max {
                errors.push(format!("{flag} must be at most {max}"));
            }
        }
        if self.node_cidr_mask_size != 0
            && (self.node_cidr_mask_size_ipv4 != 0 || self.node_cidr_mask_size_ipv6 != 0)
        {
            errors.push("usage of --node-cidr-mask-size is not allowed with --node-cidr-mask-size-ipv4 or --node-cidr-mask-size-ipv6".into());
        }
        if self.node_cidr_mask_size != 0 && cidrs.len() > 1 {
            errors.push(
                "usage of --node-cidr-mask-size is not allowed with dual-stack clusters".into(),
            );
        }
        let single_is_v6 = cidrs.len() == 1 && cidrs[0].addr().is_ipv6();
        let mut ipv4 = if self.node_cidr_mask_size_ipv4 != 0 {
            self.node_cidr_mask_size_ipv4
        } else {
            24
        };
        let mut ipv6 = if self.node_cidr_mask_size_ipv6 != 0 {
            self.node_cidr_mask_size_ipv6
        } else {
            64
        };
        if self.node_cidr_mask_size != 0 {
            if single_is_v6 {
                ipv6 = self.node_cidr_mask_size;
            } else {
                ipv4 = self.node_cidr_mask_size;
            }
        }
        if self.allocate_node_cidrs {
            if cidrs.is_empty() {
                errors.push("--allocate-node-cidrs=true requires --cluster-cidr".into());
            }
            for net in &cidrs {
                let mask = if net.addr().is_ipv4() { ipv4 } else { ipv6 };
                let prefix = net.prefix_len();
                if mask < prefix {
                    errors.push(format!(
                        "node CIDR mask size /{mask} is smaller than the cluster CIDR {net}"
                    ));
                } else if mask - prefix > MAX_NODE_MASK_DIFF {
                    errors.push(format!(
                        "node CIDR mask size /{mask} is more than {MAX_NODE_MASK_DIFF} bits larger than the cluster CIDR {net}"
                    ));
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(NodeIpamConfig {
            allocate_node_cidrs: self.allocate_node_cidrs,
            cluster_cidrs: cidrs,
            node_cidr_mask_size_ipv4: ipv4,
            node_cidr_mask_size_ipv6: ipv6,
        })
    }
}

/// Upstream's checks (component-base and client-go leader election).
fn validate_leader_election(config: &LeaderElectionConfig, lock: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if lock != "leases" {
        errors.push(format!(
            "--leader-elect-resource-lock={lock:?} is not supported: only \"leases\" (coordination.k8s.io/v1 Lease) is"
        ));
    }
    if config.lease_duration.is_zero() {
        errors.push("leaseDuration must be greater than zero".into());
    }
    if config.renew_deadline.is_zero() {
        errors.push("renewDeadline must be greater than zero".into());
    }
    if config.retry_period.is_zero() {
        errors.push("retryPeriod must be greater than zero".into());
    }
    if config.lease_duration <= config.renew_deadline {
        errors.push("leaseDuration must be greater than renewDeadline".into());
    }
    if config.renew_deadline.as_secs_f64() <= JITTER_FACTOR * config.retry_period.as_secs_f64() {
        errors.push("renewDeadline must be greater than retryPeriod*JitterFactor".into());
    }
    if config.lease_duration < Duration::from_secs(1) {
        errors.push("leaseDuration must be at least 1s (the Lease holds whole seconds)".into());
    }
    if config.namespace.is_empty() || config.name.is_empty() {
        errors.push(
            "--leader-elect-resource-namespace and --leader-elect-resource-name must not be empty"
                .into(),
        );
    }
    errors
}

fn read_root_ca(path: &Path) -> Result<RootCa, String> {
    let pem = std::fs::read(path)
        .map_err(|err| format!("error reading root-ca-file at {}: {err}", path.display()))?;
    let mut reader = pem.as_slice();
    let mut count = 0;
    for cert in rustls_pemfile::certs(&mut reader) {
        cert.map_err(|err| format!("error parsing root-ca-file at {}: {err}", path.display()))?;
        count += 1;
    }
    if count == 0 {
        return Err(format!(
            "error parsing root-ca-file at {}: data does not contain any valid RSA or ECDSA certificates",
            path.display()
        ));
    }
    Ok(RootCa {
        path: path.to_path_buf(),
        pem,
    })
}

fn check_private_key(path: &Path) -> Result<(), String> {
    let context = |err: String| {
        format!(
            "error reading key for service account token controller from {}: {err}",
            path.display()
        )
    };
    let pem = std::fs::read(path).map_err(|err| context(err.to_string()))?;
    match rustls_pemfile::private_key(&mut pem.as_slice()) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(context("no PEM private key found".into())),
        Err(err) => Err(context(err.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let mut all = vec!["kube-controller-manager"];
        all.extend_from_slice(args);
        Options::try_parse_from(all)
            .map_err(|e| e.to_string())?
            .complete()
    }

    #[test]
    fn defaults_are_upstreams() {
        let config = parse(&[]).unwrap();
        let le = config.leader_election.unwrap();
        assert_eq!(le.lease_duration, Duration::from_secs(15));
        assert_eq!(le.renew_deadline, Duration::from_secs(10));
        assert_eq!(le.retry_period, Duration::from_secs(2));
        assert_eq!(
            (le.namespace.as_str(), le.name.as_str()),
            ("kube-system", "kube-controller-manager")
        );
        assert_eq!(config.serving, Some("0.0.0.0:10257".parse().unwrap()));
        assert_eq!(config.controllers, ControllerSelection::default());
        assert_eq!(config.controller, ControllerConfig::default());
        assert_eq!(
            config.controller.node_lifecycle.node_monitor_grace_period,
            Duration::from_secs(50)
        );
    }

    #[test]
    fn go_style_flags() {
        let config = parse(&[
            "--leader-elect=false",
            "--controllers=*,-serviceaccount",
            "--secure-port=0",
            "--leader-elect-lease-duration=1m",
            "--concurrent-namespace-syncs=3",
            "--cluster-cidr=10.244.0.0/16",
            "--allocate-node-cidrs",
            "--node-cidr-mask-size=26",
            "--terminated-pod-gc-threshold=-1",
            "--node-monitor-grace-period=40s",
        ])
        .unwrap();
        assert!(config.leader_election.is_none());
        assert!(config.serving.is_none());
        assert_eq!(
            config.controllers.entries(),
            ["*", "-serviceaccount-controller"]
        );
        assert_eq!(config.controller.concurrent_namespace_syncs, 3);
        assert!(config.controller.node_ipam.allocate_node_cidrs);
        assert_eq!(config.controller.node_ipam.node_cidr_mask_size_ipv4, 26);
        assert_eq!(config.controller.terminated_pod_gc_threshold, -1);
        assert_eq!(
            config.controller.node_lifecycle.node_monitor_grace_period,
            Duration::from_secs(40)
        );
        // `--leader-elect false` is not Go syntax.
        assert!(parse(&["--leader-elect", "false"]).is_err());
        assert!(
            parse(&["--controllers="])
                .unwrap()
                .controllers
                .enabled()
                .is_empty()
        );
    }

    #[test]
    fn leader_election_timings_are_checked() {
        let err = parse(&[
            "--leader-elect-lease-duration=10s",
            "--leader-elect-renew-deadline=10s",
        ])
        .unwrap_err();
        assert!(
            err.contains("leaseDuration must be greater than renewDeadline"),
            "{err}"
        );
        let err = parse(&[
            "--leader-elect-renew-deadline=2s",
            "--leader-elect-retry-period=2s",
        ])
        .unwrap_err();
        assert!(
            err.contains("renewDeadline must be greater than retryPeriod*JitterFactor"),
            "{err}"
        );
        let err = parse(&["--leader-elect-resource-lock=endpoints"]).unwrap_err();
        assert!(err.contains("only \"leases\""), "{err}");
        // Not checked when leader election is off.
        assert!(parse(&["--leader-elect=false", "--leader-elect-lease-duration=1s"]).is_ok());
        assert!(
            parse(&["--leader-elect-lease-duration=fast"])
                .unwrap_err()
                .contains("invalid duration")
        );
    }

    #[test]
    fn bad_values_are_reported_together() {
        let err = parse(&[
            "--controllers=*,nope",
            "--cluster-cidr=10.0.0.0/33",
            "--root-ca-file=/nonexistent/ca.crt",
            "--master=not a url",
        ])
        .unwrap_err();
        assert!(
            err.contains("\"nope\" is not in the list of known controllers"),
            "{err}"
        );
        assert!(err.contains("invalid --cluster-cidr"), "{err}");
        assert!(
            err.contains("error reading root-ca-file at /nonexistent/ca.crt"),
            "{err}"
        );
        assert!(err.contains("invalid --master"), "{err}");
        assert_eq!(err.lines().count(), 4, "{err}");
    }

    #[test]
    fn horizontal_pod_autoscaler_flags() {
        let config = parse(&[]).unwrap();
        assert_eq!(
            config.controller.horizontal_pod_autoscaler,
            HpaConfig::default()
        );
        let config = parse(&[
            "--horizontal-pod-autoscaler-sync-period=30s",
            "--horizontal-pod-autoscaler-tolerance=0.2",
            "--horizontal-pod-autoscaler-downscale-stabilization=1m",
            "--horizontal-pod-autoscaler-cpu-initialization-period=2m",
            "--horizontal-pod-autoscaler-initial-readiness-delay=10s",
        ])
        .unwrap();
        let hpa = config.controller.horizontal_pod_autoscaler;
        assert_eq!(hpa.cpu_initialization_period, Duration::from_secs(120));
        assert_eq!(hpa.initial_readiness_delay, Duration::from_secs(10));
        assert_eq!(hpa.sync_period, Duration::from_secs(30));
        assert_eq!(hpa.tolerance, 0.2);
        assert_eq!(hpa.downscale_stabilization, Duration::from_secs(60));
        let err = parse(&["--horizontal-pod-autoscaler-tolerance=-1"]).unwrap_err();
        assert!(err.contains("non-negative"), "{err}");
        let err = parse(&["--horizontal-pod-autoscaler-sync-period=0s"]).unwrap_err();
        assert!(err.contains("must be greater than zero"), "{err}");
    }

    #[test]
    fn node_ipam_rules() {
        assert!(
            parse(&["--allocate-node-cidrs=true"])
                .unwrap_err()
                .contains("requires --cluster-cidr")
        );
        let err = parse(&["--cluster-cidr=10.0.0.0/8,10.1.0.0/16"]).unwrap_err();
        assert!(err.contains("dual-stack"), "{err}");
        let config = parse(&[
            "--cluster-cidr=10.244.0.0/16,fd00::/48",
            "--allocate-node-cidrs",
            "--node-cidr-mask-size-ipv6=64",
        ])
        .unwrap();
        assert_eq!(config.controller.node_ipam.cluster_cidrs.len(), 2);
        let err = parse(&[
            "--cluster-cidr=10.244.0.0/16,fd00::/48",
            "--node-cidr-mask-size=24",
        ])
        .unwrap_err();
        assert!(err.contains("not allowed with dual-stack"), "{err}");
        let err = parse(&[
            "--cluster-cidr=10.0.0.0/8",
            "--allocate-node-cidrs",
            "--node-cidr-mask-size=30",
        ])
        .unwrap_err();
        assert!(err.contains("more than 16 bits"), "{err}");
        let err = parse(&[
            "--cluster-cidr=10.0.0.0/24",
            "--allocate-node-cidrs",
            "--node-cidr-mask-size=16",
        ])
        .unwrap_err();
        assert!(err.contains("smaller than the cluster CIDR"), "{err}");
    }

    #[test]
    fn files_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.crt");
        std::fs::write(&ca, "not a certificate").unwrap();
        let err = parse(&[&format!("--root-ca-file={}", ca.display())]).unwrap_err();
        assert!(
            err.contains("does not contain any valid RSA or ECDSA certificates"),
            "{err}"
        );
        let key = dir.path().join("sa.key");
        std::fs::write(&key, "nothing").unwrap();
        let err = parse(&[&format!(
            "--service-account-private-key-file={}",
            key.display()
        )])
        .unwrap_err();
        assert!(err.contains("no PEM private key found"), "{err}");
    }

    #[test]
    fn cluster_signing_flags() {
        let config = parse(&[]).unwrap();
        assert!(config.controller.csr_signing.is_empty());
        assert_eq!(
            config.controller.volume.hostpath_dir,
            std::path::PathBuf::from("/var/lib/corten/volumes")
        );
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::default();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        let (cert_path, key_path) = (dir.path().join("ca.crt"), dir.path().join("ca.key"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        let cert_flag = format!("--cluster-signing-cert-file={}", cert_path.display());
        let key_flag = format!("--cluster-signing-key-file={}", key_path.display());
        let config = parse(&[&cert_flag, &key_flag, "--cluster-signing-duration=24h"]).unwrap();
        let signing = &config.controller.csr_signing;
        assert_eq!(signing.len(), 4, "the general CA serves every signer");
        assert_eq!(
            signing["kubernetes.io/kubelet-serving"].duration,
            Duration::from_secs(24 * 3600)
        );
        assert_eq!(
            parse(&[&cert_flag]).unwrap_err(),
            "--cluster-signing-cert-file and --cluster-signing-key-file must be given together"
        );
        // Per-signer CAs: only the configured signers sign.
        let serving_cert = format!(
            "--cluster-signing-kubelet-serving-cert-file={}",
            cert_path.display()
        );
        let serving_key = format!(
            "--cluster-signing-kubelet-serving-key-file={}",
            key_path.display()
        );
        let config = parse(&[&serving_cert, &serving_key]).unwrap();
        let signers: Vec<_> = config.controller.csr_signing.keys().copied().collect();
        assert_eq!(signers, ["kubernetes.io/kubelet-serving"]);
        assert_eq!(
            parse(&[&serving_cert, &serving_key, &cert_flag, &key_flag]).unwrap_err(),
            "cannot specify --cluster-signing-{cert,key}-file and other --cluster-signing-*-file flags at the same time"
        );
        assert_eq!(
            parse(&[&serving_cert]).unwrap_err(),
            "--cluster-signing-kubelet-serving-cert-file and --cluster-signing-kubelet-serving-key-file must be given together"
        );
        std::fs::write(&key_path, "garbage").unwrap();
        let err = parse(&[&cert_flag, &key_flag]).unwrap_err();
        assert!(err.contains("parsing the cluster signing key"), "{err}");
        let err =
            parse(&[&cert_flag, "--cluster-signing-key-file=/nonexistent/ca.key"]).unwrap_err();
        assert!(err.contains("/nonexistent/ca.key"), "{err}");
    }
}
