//! The kubelet's command line: upstream flag names, each overriding the
//! matching `KubeletConfiguration` field when given.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use corten_component_base::logging::LoggingOptions;
use corten_component_base::version::GIT_VERSION;

use crate::config::{ConfigError, KubeletConfig, KubeletConfiguration, parse_taint};
use crate::duration::parse_go_duration;

/// kubelet: the primary node agent.
#[derive(Parser, Debug, Clone, Default)]
#[command(name = "kubelet", version = GIT_VERSION)]
pub struct KubeletFlags {
    /// The kubelet will load its initial configuration from this file (a KubeletConfiguration).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Path to a kubeconfig file, specifying how to connect to the API server.
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Path to a kubeconfig used for the client certificate bootstrap; used when --kubeconfig does not exist yet.
    #[arg(long, value_name = "PATH")]
    pub bootstrap_kubeconfig: Option<PathBuf>,
    /// The endpoint of the container runtime (unix:///run/containerd/containerd.sock).
    #[arg(long, value_name = "ENDPOINT")]
    pub container_runtime_endpoint: Option<String>,
    /// If non-empty, will use this string as identification instead of the actual hostname.
    #[arg(long, value_name = "NAME")]
    pub hostname_override: Option<String>,
    /// IP address(es) of the node (comma separated; at most one per family).
    #[arg(long, value_name = "IPS")]
    pub node_ip: Option<String>,
    /// Labels to add when registering the node (key=value,...).
    #[arg(long, value_name = "LABELS")]
    pub node_labels: Option<String>,
    /// Taints to add when registering the node (key=value:Effect,...).
    #[arg(long, value_name = "TAINTS")]
    pub register_with_taints: Option<String>,
    /// Register the node with the apiserver.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub register_node: Option<bool>,
    /// Directory path for managing kubelet files (volume mounts, etc).
    #[arg(long, value_name = "DIR", default_value = "/var/lib/kubelet")]
    pub root_dir: PathBuf,
    /// The directory where the TLS certs are located (default <root-dir>/pki).
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// Path to the directory containing static pod files to run.
    #[arg(long, value_name = "PATH")]
    pub pod_manifest_path: Option<String>,
    /// The port for the kubelet to serve on.
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// The IP address for the kubelet to serve on.
    #[arg(long, value_name = "IP")]
    pub address: Option<String>,
    /// The port of the localhost healthz endpoint (0 disables).
    #[arg(long, value_name = "PORT")]
    pub healthz_port: Option<u16>,
    /// The IP address for the healthz server to serve on.
    #[arg(long, value_name = "IP")]
    pub healthz_bind_address: Option<String>,
    /// x509 certificate for serving HTTPS.
    #[arg(long, value_name = "PATH")]
    pub tls_cert_file: Option<String>,
    /// x509 private key matching --tls-cert-file.
    #[arg(long, value_name = "PATH")]
    pub tls_private_key_file: Option<String>,
    /// CA bundle verifying client certificates of the kubelet API.
    #[arg(long, value_name = "PATH")]
    pub client_ca_file: Option<String>,
    /// Allow anonymous requests to the kubelet API.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub anonymous_auth: Option<bool>,
    /// Check bearer tokens with TokenReviews.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub authentication_token_webhook: Option<bool>,
    /// Authorization mode of the kubelet API: AlwaysAllow or Webhook.
    #[arg(long, value_name = "MODE")]
    pub authorization_mode: Option<String>,
    /// Comma-separated list of DNS server IP addresses for pods.
    #[arg(long, value_name = "IPS")]
    pub cluster_dns: Option<String>,
    /// Domain for this cluster.
    #[arg(long, value_name = "DOMAIN")]
    pub cluster_domain: Option<String>,
    /// Number of pods that can run on this kubelet.
    #[arg(long, value_name = "N")]
    pub max_pods: Option<i32>,
    /// Optional root cgroup to use for pods.
    #[arg(long, value_name = "CGROUP")]
    pub cgroup_root: Option<String>,
    /// Create the QoS cgroup hierarchy.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub cgroups_per_qos: Option<bool>,
    /// The cgroup driver (only cgroupfs).
    #[arg(long, value_name = "DRIVER")]
    pub cgroup_driver: Option<String>,
    /// Timeout of all runtime requests except long running ones (pull, logs, exec, attach).
    #[arg(long, value_name = "DURATION")]
    pub runtime_request_timeout: Option<String>,
    /// Max period between synchronizing running containers and config.
    #[arg(long, value_name = "DURATION")]
    pub sync_frequency: Option<String>,
    /// How often the kubelet posts node status to the master.
    #[arg(long, value_name = "DURATION")]
    pub node_status_update_frequency: Option<String>,
    /// Resolver configuration file used as the basis for pods' DNS.
    #[arg(long, value_name = "PATH")]
    pub resolv_conf: Option<String>,
    /// The CIDR to use for pod IP addresses when no controller assigns one.
    #[arg(long, value_name = "CIDR")]
    pub pod_cidr: Option<String>,
    /// Make the kubelet fail to start if swap is enabled on the node.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub fail_swap_on: Option<bool>,
    /// The sandbox image (deprecated upstream; must match containerd's sandbox_image).
    #[arg(long, value_name = "IMAGE")]
    pub pod_infra_container_image: Option<String>,
    /// Pull images one at a time.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub serialize_image_pulls: Option<bool>,
    /// Hard eviction thresholds, e.g. `memory.available<1Gi` (replaces `evictionHard`).
    #[arg(long, value_name = "THRESHOLDS")]
    pub eviction_hard: Option<String>,
    /// Soft eviction thresholds, e.g. `memory.available<1.5Gi`.
    #[arg(long, value_name = "THRESHOLDS")]
    pub eviction_soft: Option<String>,
    /// Grace periods of soft thresholds, e.g. `memory.available=1m30s`.
    #[arg(long, value_name = "PERIODS")]
    pub eviction_soft_grace_period: Option<String>,
    /// Maximum grace period (seconds) of pods evicted for a soft threshold.
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub eviction_max_pod_grace_period: Option<i32>,
    /// How long to wait before leaving a pressure condition.
    #[arg(long, value_name = "DURATION")]
    pub eviction_pressure_transition_period: Option<String>,
    /// Minimum reclaim once a threshold is met, e.g. `memory.available=0.5Gi`.
    #[arg(long, value_name = "AMOUNTS")]
    pub eviction_minimum_reclaim: Option<String>,
    /// Image disk usage percent that starts image garbage collection.
    #[arg(long, value_name = "PERCENT", allow_negative_numbers = true)]
    pub image_gc_high_threshold: Option<i32>,
    /// Image disk usage percent image garbage collection frees down to.
    #[arg(long, value_name = "PERCENT", allow_negative_numbers = true)]
    pub image_gc_low_threshold: Option<i32>,
    /// Minimum age of an unused image before it is garbage collected.
    #[arg(long, value_name = "DURATION")]
    pub minimum_image_ttl_duration: Option<String>,
    /// Rotate the client certificate through CSRs as it nears expiry.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub rotate_certificates: Option<bool>,
    /// Request the serving certificate from the kubelet-serving signer through CSRs and rotate it (serverTLSBootstrap).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub rotate_server_certificates: Option<bool>,
    /// Size at which a container log is rotated (e.g. 10Mi).
    #[arg(long, value_name = "QUANTITY", allow_negative_numbers = true)]
    pub container_log_max_size: Option<String>,
    /// Log files kept per container, the current one included.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub container_log_max_files: Option<i32>,
    /// Unsafe sysctls or sysctl patterns (ending in `*`) pods may set, comma separated.
    #[arg(long, value_name = "SYSCTLS")]
    pub allowed_unsafe_sysctls: Option<String>,
    /// Topology Manager policy to use: none, best-effort, restricted or single-numa-node.
    #[arg(long, value_name = "POLICY")]
    pub topology_manager_policy: Option<String>,
    /// Scope to which topology hints are applied: container or pod.
    #[arg(long, value_name = "SCOPE")]
    pub topology_manager_scope: Option<String>,
    /// Topology Manager policy options (key=value,...).
    #[arg(long, value_name = "OPTIONS")]
    pub topology_manager_policy_options: Option<String>,
    /// `--feature-gates`, over the config file's `featureGates`.
    #[command(flatten)]
    pub feature_gates: corten_component_base::feature_gates::FeatureGateOptions,
    /// Logging flags.
    #[command(flatten)]
    pub logging: LoggingOptions,
}

fn invalid(message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(message.into())
}

fn duration_flag(name: &str, value: &Option<String>) -> Result<Option<Duration>, ConfigError> {
    value
        .as_deref()
        .map(|v| parse_go_duration(v).map_err(|e| invalid(format!("--{name}: {e}"))))
        .transpose()
}

/// Parses upstream's eviction map flags: `signal<value,...` (`sep` `<`)
/// or `signal=value,...` (`sep` `=`).
fn parse_signal_map(
    name: &str,
    text: &str,
    sep: char,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut map = BTreeMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once(sep)
            .filter(|(k, v)| !k.trim().is_empty() && !v.trim().is_empty())
            .ok_or_else(|| {
                invalid(format!(
                    "--{name}: invalid {pair:?}: expected signal{sep}value"
                ))
            })?;
        map.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(map)
}

/// Parses `key=value,key2=value2`.
pub fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("invalid label {pair:?}: expected key=value"))?;
        if k.is_empty() {
            return Err(format!("invalid label {pair:?}: empty key"));
        }
        labels.insert(k.to_string(), v.to_string());
    }
    Ok(labels)
}

/// The machine's hostname, lowercased (the default node name).
pub fn machine_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_lowercase())
        .unwrap_or_else(|_| "localhost".into())
}

impl KubeletFlags {
    /// Loads `--config`, applies the flags over it and validates.
    pub fn complete(&self) -> Result<(KubeletConfig, Vec<String>), ConfigError> {
        let (mut file, unknown) = match &self.config {
            Some(path) => KubeletConfiguration::load(path)?,
            None => (KubeletConfiguration::default(), Vec::new()),
        };
        let f = &mut file;
        macro_rules! over {
            ($field:ident) => {
                if let Some(v) = &self.$field {
                    f.$field = Some(v.clone());
                }
            };
        }
        over!(container_runtime_endpoint);
        over!(register_node);
        over!(port);
        over!(address);
        over!(healthz_port);
        over!(healthz_bind_address);
        over!(tls_cert_file);
        over!(tls_private_key_file);
        over!(cluster_domain);
        over!(max_pods);
        over!(cgroup_root);
        over!(cgroups_per_qos);
        over!(cgroup_driver);
        over!(resolv_conf);
        over!(pod_cidr);
        over!(fail_swap_on);
        over!(serialize_image_pulls);
        over!(container_log_max_size);
        over!(container_log_max_files);
        over!(topology_manager_policy);
        over!(topology_manager_scope);
        if let Some(text) = &self.topology_manager_policy_options {
            // Upstream's mapStringString flag replaces the file's map.
            f.topology_manager_policy_options = Some(
                parse_labels(text)
                    .map_err(|e| invalid(format!("--topology-manager-policy-options: {e}")))?,
            );
        }
        if self.client_ca_file.is_some()
            || self.anonymous_auth.is_some()
            || self.authentication_token_webhook.is_some()
        {
            let authn = f.authentication.get_or_insert_with(Default::default);
            if let Some(ca) = &self.client_ca_file {
                authn
                    .x509
                    .get_or_insert_with(Default::default)
                    .client_ca_file = Some(ca.clone());
            }
            if let Some(on) = self.anonymous_auth {
                authn.anonymous.get_or_insert_with(Default::default).enabled = Some(on);
            }
            if let Some(on) = self.authentication_token_webhook {
                authn.webhook.get_or_insert_with(Default::default).enabled = Some(on);
            }
        }
        if let Some(sysctls) = &self.allowed_unsafe_sysctls {
            f.allowed_unsafe_sysctls = Some(
                sysctls
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
            );
        }
        if let Some(mode) = &self.authorization_mode {
            f.authorization.get_or_insert_with(Default::default).mode = Some(mode.clone());
        }
        if let Some(path) = &self.pod_manifest_path {
            f.static_pod_path = Some(path.clone());
        }
        if let Some(dns) = &self.cluster_dns {
            f.cluster_dns = Some(
                dns.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
            );
        }
        if let Some(d) = duration_flag("runtime-request-timeout", &self.runtime_request_timeout)? {
            f.runtime_request_timeout = Some(d);
        }
        if let Some(d) = duration_flag("sync-frequency", &self.sync_frequency)? {
            f.sync_frequency = Some(d);
        }
        if let Some(d) = duration_flag(
            "node-status-update-frequency",
            &self.node_status_update_frequency,
        )? {
            f.node_status_update_frequency = Some(d);
        }
        for (name, value, sep, field) in [
            (
                "eviction-hard",
                &self.eviction_hard,
                '<',
                &mut f.eviction_hard,
            ),
            (
                "eviction-soft",
                &self.eviction_soft,
                '<',
                &mut f.eviction_soft,
            ),
            (
                "eviction-soft-grace-period",
                &self.eviction_soft_grace_period,
                '=',
                &mut f.eviction_soft_grace_period,
            ),
            (
                "eviction-minimum-reclaim",
                &self.eviction_minimum_reclaim,
                '=',
                &mut f.eviction_minimum_reclaim,
            ),
        ] {
            if let Some(text) = value {
                *field = Some(parse_signal_map(name, text, sep)?);
            }
        }
        if let Some(d) = duration_flag(
            "eviction-pressure-transition-period",
            &self.eviction_pressure_transition_period,
        )? {
            f.eviction_pressure_transition_period = Some(d);
        }
        if let Some(d) = duration_flag(
            "minimum-image-ttl-duration",
            &self.minimum_image_ttl_duration,
        )? {
            f.image_minimum_gc_age = Some(d);
        }
        if let Some(v) = self.eviction_max_pod_grace_period {
            f.eviction_max_pod_grace_period = Some(v);
        }
        if let Some(v) = self.image_gc_high_threshold {
            f.image_gc_high_threshold_percent = Some(v);
        }
        if let Some(v) = self.image_gc_low_threshold {
            f.image_gc_low_threshold_percent = Some(v);
        }
        over!(rotate_certificates);
        if let Some(on) = self.rotate_server_certificates {
            f.server_tls_bootstrap = Some(on);
        }
        if let Some(taints) = &self.register_with_taints {
            let parsed: Result<Vec<_>, _> = taints
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(parse_taint)
                .collect();
            f.register_with_taints = Some(parsed.map_err(invalid)?);
        }
        // Upstream merges the flag's gates into the file's, the flag winning
        // per gate, and validates the result.
        let gates = self
            .feature_gates
            .gates_over(&f.feature_gates.clone().unwrap_or_default())
            .map_err(ConfigError::Component)?;
        if !gates.explicit().is_empty() {
            f.feature_gates = Some(gates.explicit().clone());
        }
        let file = file.defaulted();
        file.validate()?;
        let node_labels = match &self.node_labels {
            Some(text) => parse_labels(text).map_err(|e| invalid(format!("--node-labels: {e}")))?,
            None => BTreeMap::new(),
        };
        let node_ips = match &self.node_ip {
            Some(text) => text
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<IpAddr>()
                        .map_err(|_| invalid(format!("--node-ip: {s:?} is not an IP address")))
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        let hostname = match &self.hostname_override {
            Some(name) if !name.trim().is_empty() => name.trim().to_lowercase(),
            _ => machine_hostname(),
        };
        let kubeconfig = match (&self.kubeconfig, &self.bootstrap_kubeconfig) {
            (Some(k), _) if k.exists() => Some(k.clone()),
            // TLS bootstrap writes it.
            (Some(k), Some(_)) => Some(k.clone()),
            (Some(k), None) => {
                return Err(invalid(format!(
                    "--kubeconfig {} does not exist",
                    k.display()
                )));
            }
            (None, Some(bootstrap)) => {
                tracing::warn!(
                    bootstrap = %bootstrap.display(),
                    "--bootstrap-kubeconfig without --kubeconfig: using the bootstrap credentials directly"
                );
                Some(bootstrap.clone())
            }
            (None, None) => None,
        };
        if kubeconfig.is_none() && file.register_node == Some(true) {
            return Err(invalid(
                "--kubeconfig is required (standalone mode without an apiserver is not implemented)",
            ));
        }
        let cert_dir = self
            .cert_dir
            .clone()
            .unwrap_or_else(|| self.root_dir.join("pki"));
        Ok((
            KubeletConfig {
                node_name: hostname.clone(),
                hostname,
                node_ips,
                node_labels,
                kubeconfig,
                root_dir: self.root_dir.clone(),
                cert_dir,
                bootstrap_kubeconfig: self.bootstrap_kubeconfig.clone(),
                pod_infra_container_image: self
                    .pod_infra_container_image
                    .clone()
                    .unwrap_or_else(|| crate::config::DEFAULT_SANDBOX_IMAGE.into()),
                file,
            },
            unknown,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> KubeletFlags {
        KubeletFlags::try_parse_from(std::iter::once("kubelet").chain(args.iter().copied()))
            .unwrap()
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.yaml");
        std::fs::write(
            &config,
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nport: 11250\nclusterDomain: example.org\nsyncFrequency: 30s\n",
        )
        .unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, "").unwrap();
        let flags = parse(&[
            &format!("--config={}", config.display()),
            &format!("--kubeconfig={}", kubeconfig.display()),
            "--port=12250",
            "--hostname-override=Node-A",
            "--node-ip=10.0.0.5",
            "--node-labels=a=b,c=d",
            "--register-with-taints=k=v:NoSchedule",
            "--root-dir=/tmp/kubelet",
            "--pod-manifest-path=/etc/kubernetes/manifests",
            "--cluster-dns=10.96.0.10",
            "--register-node",
        ]);
        let (config, unknown) = flags.complete().unwrap();
        assert!(unknown.is_empty());
        assert_eq!(config.node_name, "node-a");
        assert_eq!(config.c().port, Some(12250));
        assert_eq!(config.c().cluster_domain.as_deref(), Some("example.org"));
        assert_eq!(config.c().sync_frequency, Some(Duration::from_secs(30)));
        assert_eq!(config.node_ips, [IpAddr::from([10, 0, 0, 5])]);
        assert_eq!(config.node_labels["c"], "d");
        assert_eq!(config.c().register_with_taints.as_ref().unwrap().len(), 1);
        assert_eq!(
            config.c().static_pod_path.as_deref(),
            Some("/etc/kubernetes/manifests")
        );
        assert_eq!(config.cert_dir, PathBuf::from("/tmp/kubelet/pki"));
        assert_eq!(
            config.c().cluster_dns.as_ref().unwrap(),
            &["10.96.0.10".to_string()]
        );
    }

    #[test]
    fn eviction_gc_and_rotation_flags() {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubelet.conf");
        let bootstrap = dir.path().join("bootstrap.conf");
        let flags = parse(&[
            &format!("--kubeconfig={}", kubeconfig.display()),
            &format!("--bootstrap-kubeconfig={}", bootstrap.display()),
            "--eviction-hard=memory.available<200Mi, nodefs.available<5%",
            "--eviction-soft=memory.available<1Gi",
            "--eviction-soft-grace-period=memory.available=1m30s",
            "--eviction-max-pod-grace-period=-1",
            "--eviction-pressure-transition-period=30s",
            "--image-gc-high-threshold=90",
            "--image-gc-low-threshold=70",
            "--minimum-image-ttl-duration=5m",
            "--rotate-certificates",
            "--rotate-server-certificates",
        ]);
        let (config, _) = flags.complete().unwrap();
        let c = config.c();
        assert_eq!(
            c.eviction_hard.clone().unwrap(),
            BTreeMap::from([
                ("memory.available".to_string(), "200Mi".to_string()),
                ("nodefs.available".to_string(), "5%".to_string()),
            ])
        );
        assert_eq!(
            c.eviction_soft_grace_period.as_ref().unwrap()["memory.available"],
            "1m30s"
        );
        assert_eq!(c.eviction_max_pod_grace_period, Some(-1));
        assert_eq!(
            c.eviction_pressure_transition_period,
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            (
                c.image_gc_high_threshold_percent,
                c.image_gc_low_threshold_percent
            ),
            (Some(90), Some(70))
        );
        assert_eq!(c.image_minimum_gc_age, Some(Duration::from_secs(300)));
        assert_eq!(c.rotate_certificates, Some(true));
        assert_eq!(c.server_tls_bootstrap, Some(true));
        // The kubeconfig does not exist yet: TLS bootstrap writes it.
        assert_eq!(config.kubeconfig, Some(kubeconfig));
        assert_eq!(config.bootstrap_kubeconfig, Some(bootstrap));

        for bad in [
            &[
                "--eviction-hard=memory.available=1Gi",
                "--register-node=false",
            ][..],
            &["--eviction-hard=memory.free<1Gi", "--register-node=false"],
            &[
                "--eviction-soft=memory.available<1Gi",
                "--register-node=false",
            ],
            &["--image-gc-high-threshold=50", "--register-node=false"],
            &["--image-gc-high-threshold=101", "--register-node=false"],
        ] {
            assert!(parse(bad).complete().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bad_values_are_config_errors() {
        for args in [
            &["--node-ip=nope", "--register-node=false"][..],
            &["--node-labels=novalue", "--register-node=false"],
            &["--register-with-taints=k=v", "--register-node=false"],
            &["--sync-frequency=soon", "--register-node=false"],
            &["--container-log-max-files=1", "--register-node=false"],
            &["--container-log-max-size=lots", "--register-node=false"],
            &[
                "--allowed-unsafe-sysctls=vm.swappiness",
                "--register-node=false",
            ],
            &[],
        ] {
            assert!(parse(args).complete().is_err(), "{args:?}");
        }
    }

    #[test]
    fn log_rotation_and_sysctl_flags() {
        let (config, _) = parse(&[
            "--register-node=false",
            "--container-log-max-size=5Mi",
            "--container-log-max-files=3",
            "--allowed-unsafe-sysctls=net.core.*, kernel.msgmax",
        ])
        .complete()
        .unwrap();
        let f = &config.file;
        assert_eq!(f.container_log_max_size.as_deref(), Some("5Mi"));
        assert_eq!(f.container_log_max_files, Some(3));
        assert_eq!(f.container_log_max_workers, Some(1));
        assert_eq!(
            f.allowed_unsafe_sysctls.as_deref(),
            Some(&["net.core.*".to_string(), "kernel.msgmax".to_string()][..])
        );
    }

    #[test]
    fn topology_manager_flags() {
        let (config, _) = parse(&[
            "--register-node=false",
            "--topology-manager-policy=restricted",
            "--topology-manager-scope=pod",
            "--topology-manager-policy-options=prefer-closest-numa-nodes=true",
        ])
        .complete()
        .unwrap();
        let f = &config.file;
        assert_eq!(f.topology_manager_policy.as_deref(), Some("restricted"));
        assert_eq!(f.topology_manager_scope.as_deref(), Some("pod"));
        assert_eq!(
            f.topology_manager_policy_options.as_ref().unwrap()["prefer-closest-numa-nodes"],
            "true"
        );
        let err = parse(&["--register-node=false", "--topology-manager-policy=strict"])
            .complete()
            .unwrap_err();
        assert!(
            err.to_string().contains(
                r#"topologyManagerPolicy (--topology-manager-policy) "strict" must be one of"#
            ),
            "{err}"
        );
        let err = parse(&["--register-node=false", "--topology-manager-scope=node"])
            .complete()
            .unwrap_err();
        assert!(err.to_string().contains("topologyManagerScope"), "{err}");
        let err = parse(&[
            "--register-node=false",
            "--topology-manager-policy-options=max-allowable-numa-nodes=x",
        ])
        .complete()
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"bad value for option "max-allowable-numa-nodes": strconv.Atoi: parsing "x": invalid syntax"#
        );
    }

    #[test]
    fn feature_gate_flags_override_the_file_gates() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.yaml");
        std::fs::write(
            &config,
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nfeatureGates:\n  ImageVolume: true\n  KubeletPSI: true\n",
        )
        .unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, "").unwrap();
        let flags = parse(&[
            &format!("--config={}", config.display()),
            &format!("--kubeconfig={}", kubeconfig.display()),
            "--feature-gates=ImageVolume=false",
            "--feature-gates=NodeSwap=false",
        ]);
        let (config, _) = flags.complete().unwrap();
        let gates = config.file.feature_gates.clone().unwrap();
        assert_eq!(gates.get("ImageVolume"), Some(&false), "flag wins");
        assert_eq!(gates.get("KubeletPSI"), Some(&true), "file kept");
        assert_eq!(gates.get("NodeSwap"), Some(&false));

        let err = parse(&["--feature-gates=Foo=true"]).complete().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid argument \"Foo=true\" for \"--feature-gates\" flag: unrecognized feature gate: Foo"
        );
        std::fs::write(
            dir.path().join("locked.yaml"),
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nfeatureGates:\n  SidecarContainers: false\n",
        )
        .unwrap();
        let locked = format!("--config={}", dir.path().join("locked.yaml").display());
        let err = parse(&[&locked]).complete().unwrap_err();
        assert!(
            err.to_string().ends_with(
                "cannot set feature gate SidecarContainers to false, feature is locked to true"
            ),
            "{err}"
        );
    }
}
