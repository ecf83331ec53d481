//! Command-line flags of kube-apiserver (named as upstream) and their
//! validation into a [`Config`].

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use clap::Parser;
use ipnet::IpNet;

/// kube-apiserver flags. Names, meanings and defaults follow upstream so
/// existing unit files and habits carry over.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "kube-apiserver",
    about = "The Kubernetes API server (Corten): validates and stores API objects in etcd and serves them over REST, list and watch.",
    version = corten_component_base::version::GIT_VERSION
)]
pub struct Options {
    /// List of etcd servers to connect with (scheme://ip:port), comma separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub etcd_servers: Vec<String>,

    /// The prefix to prepend to all resource paths in etcd.
    #[arg(long, default_value = "/registry")]
    pub etcd_prefix: String,

    /// The IP address on which to listen for the --secure-port port.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: IpAddr,

    /// The port on which to serve HTTPS with authentication and authorization.
    #[arg(long, default_value_t = 6443)]
    pub secure_port: u16,

    /// If true, SO_REUSEPORT will be used when binding the port, which
    /// allows more than one instance to bind on the same address and port.
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false)]
    pub permit_port_sharing: bool,

    /// If true, SO_REUSEADDR will be used when binding the port (Corten's
    /// listeners always set it on Linux, as Go's do, so this changes nothing).
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false)]
    pub permit_address_sharing: bool,

    /// File containing the default x509 certificate for HTTPS (CA cert, if
    /// any, concatenated after the server cert).
    #[arg(long)]
    pub tls_cert_file: Option<PathBuf>,

    /// File containing the default x509 private key matching --tls-cert-file.
    #[arg(long)]
    pub tls_private_key_file: Option<PathBuf>,

    /// The directory where a self-signed certificate is generated when
    /// --tls-cert-file and --tls-private-key-file are not given.
    #[arg(long, default_value = "/var/run/kubernetes")]
    pub cert_dir: PathBuf,

    /// A CIDR notation IP range from which to assign service cluster IPs.
    #[arg(long, default_value = "10.0.0.0/24")]
    pub service_cluster_ip_range: String,

    /// A port range to reserve for services with NodePort visibility.
    #[arg(long, default_value = "30000-32767")]
    pub service_node_port_range: String,

    /// The IP address on which to advertise the apiserver to members of the
    /// cluster (the `kubernetes` service's endpoint).
    #[arg(long)]
    pub advertise_address: Option<IpAddr>,

    /// This and --max-mutating-requests-inflight are summed to determine the
    /// server's total concurrency limit (which must be positive) if
    /// --enable-priority-and-fairness is true.
    #[arg(long, default_value_t = 400)]
    pub max_requests_inflight: u32,

    /// This and --max-requests-inflight are summed to determine the server's
    /// total concurrency limit (which must be positive) if
    /// --enable-priority-and-fairness is true.
    #[arg(long, default_value_t = 200)]
    pub max_mutating_requests_inflight: u32,

    /// If true, replace the max-in-flight handler with an enhanced one that
    /// queues and dispatches with priority and fairness.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub enable_priority_and_fairness: bool,

    /// Use an endpoint reconciler (master-count, lease, none). master-count
    /// is deprecated, and will be removed in a future version.
    #[arg(long, default_value = "lease")]
    pub endpoint_reconciler_type: String,

    /// `--kubelet-*`: how to reach kubelets.
    #[command(flatten)]
    pub kubelet: crate::proxy::KubeletClientOptions,

    /// The maximum size of a request body in bytes.
    #[arg(long, default_value_t = 3 * 1024 * 1024, hide = true)]
    pub max_request_body_bytes: usize,

    /// Number of events kept per resource for resuming watches.
    #[arg(long, default_value_t = 1000, hide = true)]
    pub watch_cache_window: usize,

    /// The interval of compaction requests to etcd (0 disables).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub etcd_compaction_interval: std::time::Duration,

    /// Minimum watch timeout; watches end after a random time in
    /// [min, 2*min) unless timeoutSeconds is given.
    #[arg(long, default_value_t = 1800)]
    pub min_request_timeout: u64,

    /// If set, any request presenting a client certificate signed by one of
    /// the authorities in this file is authenticated with an identity
    /// corresponding to the CommonName of the client certificate.
    #[arg(long)]
    pub client_ca_file: Option<PathBuf>,

    /// If set, the file that will be used to secure the secure port of the
    /// API server via token authentication (CSV: token,user,uid,"groups").
    #[arg(long)]
    pub token_auth_file: Option<PathBuf>,

    /// Enables anonymous requests to the secure port. Requests that are not
    /// rejected by another authentication method are treated as anonymous
    /// requests (user system:anonymous, group system:unauthenticated).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub anonymous_auth: bool,

    /// Enable to allow secrets of type 'bootstrap.kubernetes.io/token' in the
    /// 'kube-system' namespace to be used for TLS bootstrapping authentication.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub enable_bootstrap_token_auth: bool,

    /// File containing PEM-encoded x509 RSA or ECDSA private or public keys,
    /// used to verify ServiceAccount tokens. May be given multiple times.
    #[arg(long)]
    pub service_account_key_file: Vec<PathBuf>,

    /// Path to the file that contains the current private key of the
    /// service account token issuer.
    #[arg(long)]
    pub service_account_signing_key_file: Option<PathBuf>,

    /// Identifier of the service account token issuer (the `iss` claim).
    /// May be given multiple times; the first one is used to sign.
    #[arg(long)]
    pub service_account_issuer: Vec<String>,

    /// Identifiers of the API. Tokens used against the API must be bound to
    /// at least one of these audiences (default: the issuers).
    #[arg(long, value_delimiter = ',')]
    pub api_audiences: Vec<String>,

    /// The maximum validity duration of a token created by the service
    /// account token issuer (0 = no maximum).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub service_account_max_token_expiration: std::time::Duration,

    /// If true, validate ServiceAccount tokens exist in etcd as part of
    /// authentication (always on in Corten).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub service_account_lookup: bool,

    /// Ordered list of plug-ins to do authorization on the secure port:
    /// AlwaysAllow, AlwaysDeny, Node, RBAC.
    #[arg(long, value_delimiter = ',', default_value = "AlwaysAllow")]
    pub authorization_mode: Vec<String>,

    /// Admission plugins that should be enabled in addition to the
    /// default-enabled ones.
    #[arg(long, value_delimiter = ',')]
    pub enable_admission_plugins: Vec<String>,

    /// Admission plugins that should be disabled although they are in the
    /// default enabled plugins list.
    #[arg(long, value_delimiter = ',')]
    pub disable_admission_plugins: Vec<String>,

    /// File with admission control configuration
    /// (apiserver.config.k8s.io/v1 AdmissionConfiguration).
    #[arg(long)]
    pub admission_control_config_file: Option<PathBuf>,

    /// Path to the file that defines the audit policy configuration
    /// (audit.k8s.io/v1 Policy).
    #[arg(long)]
    pub audit_policy_file: Option<PathBuf>,

    /// If set, all requests coming to the apiserver will be logged to this
    /// file ('-' means standard out), as audit.k8s.io/v1 Event JSON lines.
    #[arg(long)]
    pub audit_log_path: Option<PathBuf>,

    /// The file containing the configuration for encryption providers to be
    /// used for storing secrets (and other resources) in etcd.
    #[arg(long)]
    pub encryption_provider_config: Option<PathBuf>,

    /// Format of saved audits; only "json" is supported.
    #[arg(long, default_value = "json")]
    pub audit_log_format: String,

    /// `--requestheader-*`, `--proxy-client-*`, `--enable-aggregator-routing`.
    #[command(flatten)]
    pub aggregator: crate::aggregator::options::AggregatorOptions,

    /// Logging flags.
    #[command(flatten)]
    pub logging: corten_component_base::logging::LoggingOptions,

    /// `--feature-gates` (validated and exposed, no behaviour depends on it).
    #[command(flatten)]
    pub feature_gates: corten_component_base::feature_gates::FeatureGateOptions,
}

/// Validated authentication settings.
#[derive(Debug, Clone, Default)]
pub struct AuthnOptions {
    /// `--client-ca-file`.
    pub client_ca_file: Option<PathBuf>,
    /// `--token-auth-file`.
    pub token_auth_file: Option<PathBuf>,
    /// `--anonymous-auth`.
    pub anonymous_auth: bool,
    /// `--enable-bootstrap-token-auth`.
    pub enable_bootstrap_token_auth: bool,
    /// `--service-account-key-file`.
    pub service_account_key_files: Vec<PathBuf>,
    /// `--service-account-signing-key-file`.
    pub service_account_signing_key_file: Option<PathBuf>,
    /// `--service-account-issuer`.
    pub service_account_issuers: Vec<String>,
    /// `--api-audiences`.
    pub api_audiences: Vec<String>,
    /// `--service-account-max-token-expiration` in seconds (0 = none).
    pub service_account_max_token_expiration_seconds: i64,
    /// `--requestheader-*`.
    pub request_header: Option<crate::aggregator::options::RequestHeaderConfig>,
}

/// Parses `5m`, `30s`, `1h`, `250ms` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("invalid duration unit in {s:?}")),
    };
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// etcd endpoints.
    pub etcd_servers: Vec<String>,
    /// etcd key prefix.
    pub etcd_prefix: String,
    /// Listen address.
    pub bind_address: IpAddr,
    /// Listen port.
    pub secure_port: u16,
    /// `--permit-port-sharing` (SO_REUSEPORT).
    pub permit_port_sharing: bool,
    /// Serving certificate and key (PEM files).
    pub tls: TlsSource,
    /// Service ClusterIP range.
    pub service_cidr: IpNet,
    /// NodePort range (inclusive).
    pub node_port_range: (u16, u16),
    /// The address published in the `kubernetes` service endpoints.
    pub advertise_address: IpAddr,
    /// API Priority and Fairness's total seats, or None when
    /// `--enable-priority-and-fairness=false`.
    pub apf_concurrency_limit: Option<usize>,
    /// Whether this apiserver keeps the `kubernetes` service's endpoints
    /// (`--endpoint-reconciler-type=lease`; `none` leaves them alone).
    pub reconcile_endpoints: bool,
    /// Maximum request body size.
    pub max_request_body_bytes: usize,
    /// Watch cache window per resource.
    pub watch_cache_window: usize,
    /// etcd compaction interval (zero disables).
    pub etcd_compaction_interval: std::time::Duration,
    /// Minimum watch timeout in seconds.
    pub min_request_timeout: u64,
    /// Authentication settings.
    pub authn: AuthnOptions,
    /// `--authorization-mode`, in order.
    pub authorization_modes: Vec<crate::auth::authz::Mode>,
    /// The admission plugins to run, in upstream's order.
    pub admission_plugins: Vec<&'static str>,
    /// `--admission-control-config-file`.
    pub admission_control_config_file: Option<PathBuf>,
    /// `--audit-policy-file`.
    pub audit_policy_file: Option<PathBuf>,
    /// `--audit-log-path`.
    pub audit_log_path: Option<PathBuf>,
    /// `--encryption-provider-config`.
    pub encryption_provider_config: Option<PathBuf>,
    /// How to reach kubelets.
    pub kubelet_client: crate::proxy::KubeletClientConfig,
    /// API aggregation and request-header authentication.
    pub aggregator: crate::aggregator::options::AggregatorConfig,
}

/// Where the serving certificate comes from.
#[derive(Debug, Clone)]
pub enum TlsSource {
    /// Given files.
    Files {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
    },
    /// Self-signed, generated into (or reused from) this directory.
    SelfSigned {
        /// The --cert-dir.
        dir: PathBuf,
    },
}

impl Options {
    /// Validates the flags into a config. Errors are user-facing messages.
    pub fn complete(self) -> Result<Config, String> {
        if self.etcd_servers.iter().all(|s| s.trim().is_empty()) {
            return Err("--etcd-servers must be specified".into());
        }
        for s in &self.etcd_servers {
            if !(s.starts_with("http://") || s.starts_with("https://")) {
                return Err(format!(
                    "--etcd-servers: {s:?} must be a URL like http://127.0.0.1:2379"
                ));
            }
        }
        if !self.etcd_prefix.starts_with('/') {
            return Err(format!(
                "--etcd-prefix {:?} must start with '/'",
                self.etcd_prefix
            ));
        }
        let service_cidr: IpNet = self.service_cluster_ip_range.parse().map_err(|_| {
            format!(
                "--service-cluster-ip-range {:?} is not a valid CIDR",
                self.service_cluster_ip_range
            )
        })?;
        let host_bits = match service_cidr {
            IpNet::V4(n) => 32 - n.prefix_len(),
            IpNet::V6(n) => 128 - n.prefix_len(),
        };
        if host_bits < 2 {
            return Err("--service-cluster-ip-range is too small".into());
        }
        if host_bits > 20 && service_cidr.addr().is_ipv4() {
            return Err(format!(
                "--service-cluster-ip-range {service_cidr} is too large (the largest allowed IPv4 range is a /12)"
            ));
        }
        let node_port_range = parse_port_range(&self.service_node_port_range)?;
        let tls = match (self.tls_cert_file, self.tls_private_key_file) {
            (Some(cert), Some(key)) => TlsSource::Files { cert, key },
            (None, None) => TlsSource::SelfSigned { dir: self.cert_dir },
            _ => {
                return Err(
                    "--tls-cert-file and --tls-private-key-file must be given together".into(),
                );
            }
        };
        let advertise_address = self.advertise_address.unwrap_or(match self.bind_address {
            a if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            a => a,
        });
        let total_inflight =
            u64::from(self.max_requests_inflight) + u64::from(self.max_mutating_requests_inflight);
        let apf_concurrency_limit = match self.enable_priority_and_fairness {
            false => None,
            true if total_inflight == 0 => {
                return Err("--max-requests-inflight plus --max-mutating-requests-inflight must be positive when --enable-priority-and-fairness is true".into());
            }
            true => Some(usize::try_from(total_inflight).unwrap_or(usize::MAX)),
        };
        let reconcile_endpoints = match self.endpoint_reconciler_type.as_str() {
            "lease" => true,
            "none" => false,
            "master-count" => {
                return Err("--endpoint-reconciler-type=master-count is not implemented in Corten (deprecated upstream); use lease".into());
            }
            other => {
                return Err(format!(
                    "invalid --endpoint-reconciler-type {other:?}: must be one of lease, master-count, none"
                ));
            }
        };
        if self.max_request_body_bytes < 1024 {
            return Err("--max-request-body-bytes must be at least 1024".into());
        }
        let mut authorization_modes = Vec::new();
        for m in self
            .authorization_mode
            .iter()
            .filter(|m| !m.trim().is_empty())
        {
            let mode = crate::auth::authz::Mode::parse(m)?;
            if authorization_modes.contains(&mode) {
                return Err(format!("--authorization-mode: {m} is given more than once"));
            }
            authorization_modes.push(mode);
        }
        if authorization_modes.is_empty() {
            return Err("--authorization-mode may not be empty".into());
        }
        if self.service_account_signing_key_file.is_some() && self.service_account_issuer.is_empty()
        {
            return Err(
                "--service-account-issuer is required with --service-account-signing-key-file"
                    .into(),
            );
        }
        for i in &self.service_account_issuer {
            if i.contains(':') && !i.starts_with("https://") && !i.starts_with("http://") {
                // Upstream accepts URLs and plain strings without colons.
                return Err(format!(
                    "--service-account-issuer {i:?} contained a ':' but was not a valid URL"
                ));
            }
        }
        let admission_plugins = crate::admission::plugins_from_flags(
            &self.enable_admission_plugins,
            &self.disable_admission_plugins,
        )?;
        let authn = AuthnOptions {
            client_ca_file: self.client_ca_file,
            token_auth_file: self.token_auth_file,
            anonymous_auth: self.anonymous_auth,
            enable_bootstrap_token_auth: self.enable_bootstrap_token_auth,
            service_account_key_files: self.service_account_key_file,
            service_account_signing_key_file: self.service_account_signing_key_file,
            service_account_issuers: self.service_account_issuer,
            api_audiences: self
                .api_audiences
                .into_iter()
                .filter(|a| !a.is_empty())
                .collect(),
            service_account_max_token_expiration_seconds: self
                .service_account_max_token_expiration
                .as_secs() as i64,
            request_header: None,
        };
        if self.audit_log_format != "json" {
            return Err(format!(
                "--audit-log-format {:?} is not supported by Corten (only \"json\")",
                self.audit_log_format
            ));
        }
        let kubelet_client = self.kubelet.complete()?;
        let aggregator = self.aggregator.complete()?;
        let authn = AuthnOptions {
            request_header: aggregator.request_header.clone(),
            ..authn
        };
        Ok(Config {
            kubelet_client,
            aggregator,
            audit_policy_file: self.audit_policy_file,
            audit_log_path: self.audit_log_path,
            encryption_provider_config: self.encryption_provider_config,
            authn,
            authorization_modes,
            admission_plugins,
            admission_control_config_file: self.admission_control_config_file,
            etcd_servers: self.etcd_servers,
            etcd_prefix: self.etcd_prefix.trim_end_matches('/').to_string(),
            bind_address: self.bind_address,
            secure_port: self.secure_port,
            permit_port_sharing: self.permit_port_sharing,
            tls,
            service_cidr,
            node_port_range,
            advertise_address,
            reconcile_endpoints,
            apf_concurrency_limit,
            max_request_body_bytes: self.max_request_body_bytes,
            watch_cache_window: self.watch_cache_window.max(10),
            etcd_compaction_interval: self.etcd_compaction_interval,
            min_request_timeout: self.min_request_timeout.max(1),
        })
    }
}

/// Parses `30000-32767` (or a single port `30000`, meaning 30000-30000).
pub fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    let bad = || format!("--service-node-port-range {s:?} must look like 30000-32767");
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (s.trim(), s.trim()),
    };
    let lo: u16 = a.parse().map_err(|_| bad())?;
    let hi: u16 = b.parse().map_err(|_| bad())?;
    if lo == 0 || lo > hi {
        return Err(bad());
    }
    Ok((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let mut v = vec!["kube-apiserver"];
        v.extend_from_slice(args);
        Options::try_parse_from(v)
            .map_err(|e| e.to_string())?
            .complete()
    }

    #[test]
    fn defaults_follow_upstream() {
        let c = parse(&["--etcd-servers=http://127.0.0.1:2379"]).unwrap();
        assert_eq!(c.secure_port, 6443);
        assert_eq!(c.etcd_prefix, "/registry");
        assert_eq!(c.node_port_range, (30000, 32767));
        assert_eq!(c.service_cidr.to_string(), "10.0.0.0/24");
    }

    #[test]
    fn rejects_bad_values() {
        assert!(parse(&[]).is_err());
        assert!(parse(&["--etcd-servers=127.0.0.1:2379"]).is_err());
        assert!(
            parse(&[
                "--etcd-servers=http://a:1",
                "--service-cluster-ip-range=banana"
            ])
            .is_err()
        );
        assert!(parse(&["--etcd-servers=http://a:1", "--service-node-port-range=5-1"]).is_err());
        assert!(parse(&["--etcd-servers=http://a:1", "--tls-cert-file=/x"]).is_err());
        assert!(parse(&["--etcd-servers=http://a:1", "--no-such-flag"]).is_err());
    }

    #[test]
    fn security_flags() {
        let c = parse(&["--etcd-servers=http://a:1"]).unwrap();
        assert!(c.authn.anonymous_auth);
        assert_eq!(
            c.authorization_modes,
            [crate::auth::authz::Mode::AlwaysAllow]
        );
        let c = parse(&[
            "--etcd-servers=http://a:1",
            "--authorization-mode=Node,RBAC",
            "--anonymous-auth=false",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--service-account-key-file=/a",
            "--service-account-key-file=/b",
        ])
        .unwrap();
        assert!(!c.authn.anonymous_auth);
        assert_eq!(c.authn.service_account_key_files.len(), 2);
        assert_eq!(
            c.authorization_modes,
            [
                crate::auth::authz::Mode::Node,
                crate::auth::authz::Mode::Rbac
            ]
        );
        assert!(parse(&["--etcd-servers=http://a:1", "--authorization-mode=Magic"]).is_err());
        assert!(
            parse(&[
                "--etcd-servers=http://a:1",
                "--authorization-mode=RBAC,RBAC"
            ])
            .is_err()
        );
        assert!(
            parse(&[
                "--etcd-servers=http://a:1",
                "--service-account-signing-key-file=/k"
            ])
            .is_err()
        );
        assert!(
            parse(&[
                "--etcd-servers=http://a:1",
                "--enable-admission-plugins=Bogus"
            ])
            .is_err()
        );
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("5m").unwrap().as_secs(), 300);
        assert_eq!(parse_duration("250ms").unwrap().as_millis(), 250);
        assert_eq!(parse_duration("7").unwrap().as_secs(), 7);
        assert!(parse_duration("5x").is_err());
    }
}
