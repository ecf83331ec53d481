//! The kubelet's configuration: the `KubeletConfiguration` file
//! (`kubelet.config.k8s.io/v1beta1`, `--config`) with upstream's defaults,
//! plus the flag-only settings, validated into a [`KubeletConfig`].
//!
//! As upstream, flags win over the file, and unknown fields in the file are
//! reported as a warning (upstream retries with lenient decoding and logs the
//! strict decoding error) rather than failing.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::serde_opt;

pub mod topology;

/// `apiVersion` of the configuration file.
pub const API_VERSION: &str = "kubelet.config.k8s.io/v1beta1";
/// `kind` of the configuration file.
pub const KIND: &str = "KubeletConfiguration";

/// Errors in the configuration; the binary exits 64 on them.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("failed to read kubelet config file {path:?}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a valid KubeletConfiguration.
    #[error("failed to decode kubelet config file {path:?}: {message}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// A setting a kubelet component refuses when it starts (upstream
    /// reports these from the component, without the `invalid
    /// configuration` prefix).
    #[error("{0}")]
    Component(String),
}

/// `authentication.x509` / `.webhook` / `.anonymous`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Authentication {
    /// `x509.clientCAFile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x509: Option<X509Authentication>,
    /// `anonymous.enabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous: Option<AnonymousAuthentication>,
    /// `webhook.enabled`: bearer tokens checked with TokenReviews.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookAuthentication>,
}

/// `authentication.webhook` (the cache TTL is fixed at upstream's 2m).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAuthentication {
    /// Whether bearer tokens are checked through the apiserver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// `authorization` (the cache TTLs are fixed at upstream's 5m/30s).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Authorization {
    /// `AlwaysAllow` or `Webhook` (SubjectAccessReview to the apiserver).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// `authentication.x509`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct X509Authentication {
    /// CA bundle verifying client certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca_file: Option<String>,
}

/// `authentication.anonymous`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AnonymousAuthentication {
    /// Whether unauthenticated requests are allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// The `KubeletConfiguration` file. Every field is optional; [`KubeletConfiguration::defaulted`]
/// fills in upstream's v1beta1 defaults.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KubeletConfiguration {
    /// `kubelet.config.k8s.io/v1beta1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `KubeletConfiguration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Whether to serve the kubelet API (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_server: Option<bool>,
    /// Directory of static pod manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub static_pod_path: Option<String>,
    /// Where container logs go (default `/var/log/pods`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_logs_dir: Option<String>,
    /// Resync period of running pods (default 1m).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_opt")]
    pub sync_frequency: Option<Duration>,
    /// How often static pod manifests are re-read (default 20s).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_opt")]
    pub file_check_frequency: Option<Duration>,
    /// Address of the kubelet API (default 0.0.0.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Port of the kubelet API (default 10250).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Read-only port (0 disables; the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_port: Option<u16>,
    /// Serving certificate of the kubelet API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert_file: Option<String>,
    /// Serving key of the kubelet API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_private_key_file: Option<String>,
    /// Authentication of the kubelet API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Authentication>,
    /// Authorization of the kubelet API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    /// Port of the plain-HTTP `/healthz` (default 10248; 0 disables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthz_port: Option<u16>,
    /// Address of `/healthz` (default 127.0.0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthz_bind_address: Option<String>,
    /// Cluster DNS domain (default cluster.local).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_domain: Option<String>,
    /// Cluster DNS server IPs.
    #[serde(
        rename = "clusterDNS",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub cluster_dns: Option<Vec<String>>,
    /// How often node status is computed (default 10s).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_opt")]
    pub node_status_update_frequency: Option<Duration>,
    /// How often an unchanged node status is still posted (default 5m).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_opt")]
    pub node_status_report_frequency: Option<Duration>,
    /// Node lease duration (default 40).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_lease_duration_seconds: Option<i32>,
    /// Create per-QoS cgroups under the cgroup root (default true).
    #[serde(
        rename = "cgroupsPerQOS",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub cgroups_per_qos: Option<bool>,
    /// cgroupfs or systemd (only cgroupfs is supported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_driver: Option<String>,
    /// Root cgroup of pods (default `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_root: Option<String>,
    /// Timeout of runtime calls (default 2m).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_opt")]
    pub runtime_request_timeout: Option<Duration>,
    /// Maximum pods on the node (default 110).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pods: Option<i32>,
    /// The node's pod CIDR when no controller assigns one.
    #[serde(rename = "podCIDR", default, skip_serializing_if = "Option::is_none")]
    pub pod_cidr: Option<String>,
    /// Resolver config used for `dnsPolicy: Default` (default /etc/resolv.conf).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolv_conf: Option<String>,
    /// Pull one image at a time (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serialize_image_pulls: Option<bool>,
    /// Hard eviction thresholds (default memory.available<100Mi, nodefs.available<10%, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eviction_hard: Option<BTreeMap<String, String>>,
    /// Soft eviction thresholds (signal -> quantity or percentage), acted on
    /// after their `evictionSoftGracePeriod`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eviction_soft: Option<BTreeMap<String, String>>,
    /// How long each soft threshold must hold before pods are evicted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eviction_soft_grace_period: Option<BTreeMap<String, String>>,
    /// How long a pressure condition stays after its threshold stopped
    /// being met (default 5m).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_opt")]
    pub eviction_pressure_transition_period: Option<Duration>,
    /// Maximum termination grace period of pods evicted for a soft threshold (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eviction_max_pod_grace_period: Option<i32>,
    /// How much beyond a met threshold must be reclaimed before it counts as resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eviction_minimum_reclaim: Option<BTreeMap<String, String>>,
    /// Image disk usage (percent) above which image GC runs (default 85).
    #[serde(
        rename = "imageGCHighThresholdPercent",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub image_gc_high_threshold_percent: Option<i32>,
    /// Image disk usage (percent) image GC frees down to (default 80).
    #[serde(
        rename = "imageGCLowThresholdPercent",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub image_gc_low_threshold_percent: Option<i32>,
    /// Minimum age of an unused image before it is garbage collected (default 2m).
    #[serde(
        rename = "imageMinimumGCAge",
        default,
        skip_serializing_if = "Option::is_none",
        with = "serde_opt"
    )]
    pub image_minimum_gc_age: Option<Duration>,
    /// Unused images older than this are removed whatever the disk usage (default 0: never).
    #[serde(
        rename = "imageMaximumGCAge",
        default,
        skip_serializing_if = "Option::is_none",
        with = "serde_opt"
    )]
    pub image_maximum_gc_age: Option<Duration>,
    /// Renew the client certificate through CSRs when it nears expiry (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotate_certificates: Option<bool>,
    /// Request the serving certificate of the kubelet API from the
    /// `kubernetes.io/kubelet-serving` signer through CSRs and rotate it
    /// (default false: `tlsCertFile` or a self-signed certificate).
    #[serde(
        rename = "serverTLSBootstrap",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub server_tls_bootstrap: Option<bool>,
    /// Resources reserved for the OS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_reserved: Option<BTreeMap<String, String>>,
    /// Resources reserved for Kubernetes daemons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_reserved: Option<BTreeMap<String, String>>,
    /// Refuse to start with swap on (accepted; not enforced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_swap_on: Option<bool>,
    /// CRI socket (`unix:///run/containerd/containerd.sock`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_runtime_endpoint: Option<String>,
    /// Register the node with the apiserver (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register_node: Option<bool>,
    /// Taints added at registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register_with_taints: Option<Vec<k8s_openapi::api::core::v1::Taint>>,
    /// Maximum images listed in node status (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_status_max_images: Option<i32>,
    /// Feature gates (accepted; logged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_gates: Option<BTreeMap<String, bool>>,
    /// Size at which a container log is rotated (a quantity, default
    /// `10Mi`; negative disables rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_log_max_size: Option<String>,
    /// Log files kept per container, the current one included (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_log_max_files: Option<i32>,
    /// Containers whose logs are rotated at once (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_log_max_workers: Option<i32>,
    /// Unsafe sysctls (names, or patterns ending in `*`) pods may set
    /// besides the safe ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_unsafe_sysctls: Option<Vec<String>>,
    /// Topology manager policy: `none` (default), `best-effort`,
    /// `restricted` or `single-numa-node` (no resource manager gives hints
    /// here, so every policy admits every pod).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology_manager_policy: Option<String>,
    /// Topology manager scope: `container` (default) or `pod`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology_manager_scope: Option<String>,
    /// Topology manager policy options (`prefer-closest-numa-nodes`,
    /// `max-allowable-numa-nodes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology_manager_policy_options: Option<BTreeMap<String, String>>,
    /// How often log sizes are checked (default 10s, at least 3s).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_opt")]
    pub container_log_monitor_interval: Option<Duration>,
}

/// Top-level field names of the file, for the unknown-field warning.
const KNOWN_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "enableServer",
    "staticPodPath",
    "podLogsDir",
    "syncFrequency",
    "fileCheckFrequency",
    "address",
    "port",
    "readOnlyPort",
    "tlsCertFile",
    "tlsPrivateKeyFile",
    "authentication",
    "authorization",
    "healthzPort",
    "healthzBindAddress",
    "clusterDomain",
    "clusterDNS",
    "nodeStatusUpdateFrequency",
    "nodeStatusReportFrequency",
    "nodeLeaseDurationSeconds",
    "cgroupsPerQOS",
    "cgroupDriver",
    "cgroupRoot",
    "runtimeRequestTimeout",
    "maxPods",
    "podCIDR",
    "resolvConf",
    "serializeImagePulls",
    "evictionHard",
    "evictionSoft",
    "evictionSoftGracePeriod",
    "evictionPressureTransitionPeriod",
    "evictionMaxPodGracePeriod",
    "evictionMinimumReclaim",
    "imageGCHighThresholdPercent",
    "imageGCLowThresholdPercent",
    "imageMinimumGCAge",
    "imageMaximumGCAge",
    "rotateCertificates",
    "serverTLSBootstrap",
    "systemReserved",
    "kubeReserved",
    "failSwapOn",
    "containerRuntimeEndpoint",
    "registerNode",
    "registerWithTaints",
    "nodeStatusMaxImages",
    "featureGates",
    "containerLogMaxSize",
    "containerLogMaxFiles",
    "containerLogMaxWorkers",
    "containerLogMonitorInterval",
    "allowedUnsafeSysctls",
    "topologyManagerPolicy",
    "topologyManagerScope",
    "topologyManagerPolicyOptions",
];

impl KubeletConfiguration {
    /// Parses a YAML or JSON file. Returns the configuration and the unknown
    /// top-level fields (for a warning).
    pub fn parse(text: &str, path: &Path) -> Result<(Self, Vec<String>), ConfigError> {
        let decode = |message: String| ConfigError::Decode {
            path: path.to_path_buf(),
            message,
        };
        let value: serde_json::Value =
            serde_yaml::from_str(text).map_err(|e| decode(e.to_string()))?;
        let object = value
            .as_object()
            .ok_or_else(|| decode("not an object".into()))?;
        let unknown: Vec<String> = object
            .keys()
            .filter(|k| !KNOWN_FIELDS.contains(&k.as_str()))
            .cloned()
            .collect();
        let config: KubeletConfiguration =
            serde_json::from_value(value).map_err(|e| decode(e.to_string()))?;
        match config.kind.as_deref() {
            None | Some(KIND) => {}
            Some(other) => return Err(decode(format!("kind {other:?} is not {KIND}"))),
        }
        match config.api_version.as_deref() {
            None | Some(API_VERSION) => {}
            Some(other) => {
                return Err(decode(format!("apiVersion {other:?} is not {API_VERSION}")));
            }
        }
        Ok((config, unknown))
    }

    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<(Self, Vec<String>), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }
}

/// A taint given to `--register-with-taints` (`key=value:Effect`).
pub fn parse_taint(spec: &str) -> Result<k8s_openapi::api::core::v1::Taint, String> {
    let (kv, effect) = spec
        .rsplit_once(':')
        .ok_or_else(|| format!("invalid taint spec {spec:?}: missing effect"))?;
    if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
        return Err(format!("invalid taint effect {effect:?} in {spec:?}"));
    }
    let (key, value) = match kv.split_once('=') {
        Some((k, v)) => (k, Some(v.to_string())),
        None => (kv, None),
    };
    if key.is_empty() {
        return Err(format!("invalid taint spec {spec:?}: empty key"));
    }
    Ok(k8s_openapi::api::core::v1::Taint {
        key: key.to_string(),
        value,
        effect: effect.to_string(),
        time_added: None,
    })
}

/// Everything the kubelet runs with, defaults applied and validated.
#[derive(Clone, Debug)]
pub struct KubeletConfig {
    /// The node name (lowercased hostname, or `--hostname-override`).
    pub node_name: String,
    /// The hostname reported in node addresses.
    pub hostname: String,
    /// `--node-ip` (detected when empty).
    pub node_ips: Vec<IpAddr>,
    /// `--node-labels`.
    pub node_labels: BTreeMap<String, String>,
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// `--root-dir` (default /var/lib/kubelet).
    pub root_dir: PathBuf,
    /// `--cert-dir` (default <root-dir>/pki).
    pub cert_dir: PathBuf,
    /// `--bootstrap-kubeconfig`: credentials to request a client certificate with.
    pub bootstrap_kubeconfig: Option<PathBuf>,
    /// `--pod-infra-container-image`: the sandbox image (never garbage collected).
    pub pod_infra_container_image: String,
    /// The file configuration with defaults filled in.
    pub file: KubeletConfiguration,
}

/// The sandbox image upstream 1.33 defaults to.
pub const DEFAULT_SANDBOX_IMAGE: &str = "registry.k8s.io/pause:3.10";

/// Upstream's default hard eviction thresholds.
pub fn default_eviction_hard() -> BTreeMap<String, String> {
    [
        ("memory.available", "100Mi"),
        ("nodefs.available", "10%"),
        ("nodefs.inodesFree", "5%"),
        ("imagefs.available", "15%"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

impl KubeletConfiguration {
    /// Fills unset fields with upstream's v1beta1 defaults.
    pub fn defaulted(mut self) -> Self {
        let set = |field: &mut Option<String>, value: &str| {
            if field.is_none() {
                *field = Some(value.to_string());
            }
        };
        self.api_version = Some(API_VERSION.into());
        self.kind = Some(KIND.into());
        self.enable_server.get_or_insert(true);
        set(&mut self.pod_logs_dir, "/var/log/pods");
        self.sync_frequency.get_or_insert(Duration::from_secs(60));
        self.file_check_frequency
            .get_or_insert(Duration::from_secs(20));
        set(&mut self.address, "0.0.0.0");
        self.port.get_or_insert(10250);
        self.read_only_port.get_or_insert(0);
        // v1beta1 defaults: no anonymous requests, bearer tokens through
        // TokenReview, authorization through SubjectAccessReview.
        let authn = self.authentication.get_or_insert_with(Default::default);
        authn
            .anonymous
            .get_or_insert_with(Default::default)
            .enabled
            .get_or_insert(false);
        authn
            .webhook
            .get_or_insert_with(Default::default)
            .enabled
            .get_or_insert(true);
        authn.x509.get_or_insert_with(Default::default);
        self.authorization
            .get_or_insert_with(Default::default)
            .mode
            .get_or_insert_with(|| "Webhook".into());
        self.healthz_port.get_or_insert(10248);
        set(&mut self.healthz_bind_address, "127.0.0.1");
        set(&mut self.cluster_domain, "cluster.local");
        self.cluster_dns.get_or_insert_with(Vec::new);
        self.node_status_update_frequency
            .get_or_insert(Duration::from_secs(10));
        self.node_status_report_frequency
            .get_or_insert(Duration::from_secs(300));
        self.node_lease_duration_seconds.get_or_insert(40);
        self.cgroups_per_qos.get_or_insert(true);
        set(&mut self.cgroup_driver, "cgroupfs");
        set(&mut self.cgroup_root, "/");
        self.runtime_request_timeout
            .get_or_insert(Duration::from_secs(120));
        self.max_pods.get_or_insert(110);
        set(&mut self.resolv_conf, "/etc/resolv.conf");
        self.serialize_image_pulls.get_or_insert(true);
        self.eviction_hard.get_or_insert_with(default_eviction_hard);
        self.eviction_soft.get_or_insert_with(BTreeMap::new);
        self.eviction_soft_grace_period
            .get_or_insert_with(BTreeMap::new);
        self.eviction_pressure_transition_period
            .get_or_insert(Duration::from_secs(300));
        self.eviction_max_pod_grace_period.get_or_insert(0);
        self.eviction_minimum_reclaim
            .get_or_insert_with(BTreeMap::new);
        self.image_gc_high_threshold_percent.get_or_insert(85);
        self.image_gc_low_threshold_percent.get_or_insert(80);
        self.image_minimum_gc_age
            .get_or_insert(Duration::from_secs(120));
        self.image_maximum_gc_age.get_or_insert(Duration::ZERO);
        self.rotate_certificates.get_or_insert(false);
        self.server_tls_bootstrap.get_or_insert(false);
        self.system_reserved.get_or_insert_with(BTreeMap::new);
        self.kube_reserved.get_or_insert_with(BTreeMap::new);
        self.fail_swap_on.get_or_insert(true);
        set(
            &mut self.container_runtime_endpoint,
            "unix:///run/containerd/containerd.sock",
        );
        self.register_node.get_or_insert(true);
        self.register_with_taints.get_or_insert_with(Vec::new);
        self.node_status_max_images.get_or_insert(50);
        set(&mut self.container_log_max_size, "10Mi");
        self.container_log_max_files.get_or_insert(5);
        self.container_log_max_workers.get_or_insert(1);
        self.container_log_monitor_interval
            .get_or_insert(Duration::from_secs(10));
        set(&mut self.topology_manager_policy, "none");
        set(&mut self.topology_manager_scope, "container");
        self
    }

    /// Checks ranges and supported values (after [`Self::defaulted`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.cgroup_driver.as_deref() != Some("cgroupfs") {
            return invalid(format!(
                "cgroupDriver {:?} is not supported (only \"cgroupfs\")",
                self.cgroup_driver.as_deref().unwrap_or("")
            ));
        }
        if let Some(mode) = self.authorization.as_ref().and_then(|a| a.mode.as_deref())
            && !matches!(mode, "AlwaysAllow" | "Webhook")
        {
            return invalid(format!(
                "authorization.mode {mode:?} is not supported (\"AlwaysAllow\" or \"Webhook\")"
            ));
        }
        if self.max_pods.unwrap_or(0) <= 0 {
            return invalid("maxPods must be positive".into());
        }
        if self.node_lease_duration_seconds.unwrap_or(0) <= 0 {
            return invalid("nodeLeaseDurationSeconds must be positive".into());
        }
        for ip in self.cluster_dns.iter().flatten() {
            if ip.parse::<IpAddr>().is_err() {
                return invalid(format!("clusterDNS {ip:?} is not an IP address"));
            }
        }
        if self
            .address
            .as_deref()
            .is_some_and(|a| a.parse::<IpAddr>().is_err())
        {
            return invalid(format!("address {:?} is not an IP", self.address));
        }
        if self
            .healthz_bind_address
            .as_deref()
            .is_some_and(|a| a.parse::<IpAddr>().is_err())
        {
            return invalid(format!(
                "healthzBindAddress {:?} is not an IP",
                self.healthz_bind_address
            ));
        }
        if self.sync_frequency.is_some_and(|d| d.is_zero()) {
            return invalid("syncFrequency must be positive".into());
        }
        let high = self.image_gc_high_threshold_percent.unwrap_or(85);
        let low = self.image_gc_low_threshold_percent.unwrap_or(80);
        if !(0..=100).contains(&high) {
            return invalid(format!(
                "imageGCHighThresholdPercent (--image-gc-high-threshold) {high} must be between 0 and 100, inclusive"
            ));
        }
        if !(0..=100).contains(&low) {
            return invalid(format!(
                "imageGCLowThresholdPercent (--image-gc-low-threshold) {low} must be between 0 and 100, inclusive"
            ));
        }
        if low >= high {
            return invalid(format!(
                "imageGCLowThresholdPercent (--image-gc-low-threshold) {low} must be less than imageGCHighThresholdPercent (--image-gc-high-threshold) {high}"
            ));
        }
        let min_age = self.image_minimum_gc_age.unwrap_or_default();
        if let Some(max_age) = self.image_maximum_gc_age.filter(|d| !d.is_zero())
            && max_age <= min_age
        {
            return invalid(format!(
                "imageMaximumGCAge {} must be greater than imageMinimumGCAge {}",
                crate::duration::format_go_duration(max_age),
                crate::duration::format_go_duration(min_age)
            ));
        }
        crate::eviction::threshold::Thresholds::from_config(self).map_err(ConfigError::Invalid)?;
        if self.container_log_max_workers.unwrap_or(1) < 1 {
            return invalid("containerLogMaxWorkers must be greater than or equal to 1".into());
        }
        if self
            .container_log_monitor_interval
            .is_some_and(|d| d < Duration::from_secs(3))
        {
            return invalid(
                "containerLogMonitorInterval must be a positive time duration greater than or equal to 3s"
                    .into(),
            );
        }
        crate::logs::Policy::from_config(self).map_err(ConfigError::Invalid)?;
        topology::validate(
            self.topology_manager_policy.as_deref().unwrap_or("none"),
            self.topology_manager_scope
                .as_deref()
                .unwrap_or("container"),
        )
        .map_err(ConfigError::Invalid)?;
        topology::policy_options(
            self.topology_manager_policy_options
                .as_ref()
                .unwrap_or(&BTreeMap::new()),
        )
        .map_err(ConfigError::Component)?;
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        crate::admission::sysctl::Allowlist::new(
            kernel.trim(),
            self.allowed_unsafe_sysctls.as_deref().unwrap_or_default(),
        )
        .map_err(ConfigError::Invalid)?;
        Ok(())
    }
}

impl KubeletConfig {
    /// Defaults for a node named `node_name` with everything under `root_dir`
    /// (tests and simulated nodes).
    pub fn for_node(node_name: &str, root_dir: &Path) -> Self {
        Self {
            node_name: node_name.to_string(),
            hostname: node_name.to_string(),
            node_ips: Vec::new(),
            node_labels: BTreeMap::new(),
            kubeconfig: None,
            root_dir: root_dir.to_path_buf(),
            cert_dir: root_dir.join("pki"),
            bootstrap_kubeconfig: None,
            pod_infra_container_image: DEFAULT_SANDBOX_IMAGE.into(),
            file: KubeletConfiguration::default().defaulted(),
        }
    }

    /// Shortcut: the defaulted file configuration.
    pub fn c(&self) -> &KubeletConfiguration {
        &self.file
    }

    /// `podLogsDir`.
    pub fn pod_logs_dir(&self) -> PathBuf {
        PathBuf::from(self.file.pod_logs_dir.as_deref().unwrap_or("/var/log/pods"))
    }

    /// The directory of a pod: `<root>/pods/<uid>`.
    pub fn pod_dir(&self, uid: &str) -> PathBuf {
        self.root_dir.join("pods").join(uid)
    }

    /// Resync period of pod workers.
    pub fn sync_frequency(&self) -> Duration {
        self.file.sync_frequency.unwrap_or(Duration::from_secs(60))
    }
}

#[cfg(test)]
mod tests;
