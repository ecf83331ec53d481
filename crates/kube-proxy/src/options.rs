//! kube-proxy command-line flags (upstream names) and their validation,
//! together with `--config`, into a [`Config`].
//!
//! Precedence: defaults, then the `--config` file, then flags given on the
//! command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser};
use corten_component_base::logging::LoggingOptions;
use ipnet::IpNet;

use crate::config::{KubeProxyConfiguration, parse_duration};
use crate::conntrack_sysctl::ConntrackSettings;
use crate::model::IpFamily;
use crate::plan::RuleConfig;
use crate::proxier::ProxyMode;

/// kube-proxy flags.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "kube-proxy",
    about = "The Kubernetes network proxy (Corten) runs on each node and programs Service virtual IPs with nftables or iptables.",
    version = corten_component_base::version::GIT_VERSION,
    args_override_self = true
)]
pub struct Options {
    /// The path to the configuration file.
    #[arg(long)]
    pub config: Option<PathBuf>,

    /// Path to kubeconfig file with authorization information (the master location can be overridden by the master flag).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,

    /// The address of the Kubernetes API server (overrides any value in kubeconfig).
    #[arg(long)]
    pub master: Option<String>,

    /// Which proxy mode to use: 'iptables' or 'nftables'. (default iptables)
    #[arg(long, value_enum)]
    pub proxy_mode: Option<ProxyMode>,

    /// The CIDR range of the pods in the cluster (comma-separated, one per family). Traffic from outside this range to a service cluster IP is masqueraded.
    #[arg(long)]
    pub cluster_cidr: Option<String>,

    /// If non-empty, will be used as the name of the Node that kube-proxy is running on.
    #[arg(long)]
    pub hostname_override: Option<String>,

    /// A list of CIDR ranges that contain valid node IPs (comma-separated); NodePorts answer only there. `primary`: only the node's primary IPs (from its Node object). Empty (default) means `primary` in nftables mode and all local addresses in iptables mode.
    #[arg(long, value_delimiter = ',')]
    pub nodeport_addresses: Option<Vec<String>>,

    /// SNAT all traffic sent via Service cluster IPs.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub masquerade_all: Option<bool>,

    /// The IP address and port for the health check server to serve on. (default 0.0.0.0:10256; empty disables)
    #[arg(long)]
    pub healthz_bind_address: Option<String>,

    /// The IP address and port for the metrics server to serve on. (default 127.0.0.1:10249; empty disables)
    #[arg(long)]
    pub metrics_bind_address: Option<String>,

    /// The minimum period between rule resyncs (e.g. '1s'); changes arriving faster are batched. (default 1s)
    #[arg(long, value_parser = parse_duration)]
    pub iptables_min_sync_period: Option<Duration>,

    /// An interval (e.g. '5s', '1m') at which rules are fully resynced. (default 30s)
    #[arg(long, value_parser = parse_duration)]
    pub iptables_sync_period: Option<Duration>,

    /// The bit of the fwmark space to mark packets requiring SNAT. Must be within [0, 31]. (default 14)
    #[arg(long)]
    pub iptables_masquerade_bit: Option<u8>,

    /// Maximum number of NAT connections to track per CPU core (0 to leave the limit as-is and ignore conntrack-min). (default 32768)
    #[arg(long)]
    pub conntrack_max_per_core: Option<i64>,

    /// Minimum number of conntrack entries to allocate, regardless of conntrack-max-per-core. (default 131072)
    #[arg(long)]
    pub conntrack_min: Option<i64>,

    /// Idle timeout for established TCP connections (0 to leave as-is). (default 24h0m0s)
    #[arg(long, value_parser = parse_duration)]
    pub conntrack_tcp_timeout_established: Option<Duration>,

    /// NAT timeout for TCP connections in the CLOSE_WAIT state. (default 1h0m0s)
    #[arg(long, value_parser = parse_duration)]
    pub conntrack_tcp_timeout_close_wait: Option<Duration>,

    /// Enable liberal mode for tracking TCP packets by setting nf_conntrack_tcp_be_liberal to 1.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub conntrack_tcp_be_liberal: Option<bool>,

    /// Idle timeout for UNREPLIED UDP connections (0 to leave as-is).
    #[arg(long, value_parser = parse_duration)]
    pub conntrack_udp_timeout: Option<Duration>,

    /// Idle timeout for ASSURED UDP connections (0 to leave as-is).
    #[arg(long, value_parser = parse_duration)]
    pub conntrack_udp_timeout_stream: Option<Duration>,

    /// If true cleanup the rules of both modes and exit.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub cleanup: Option<bool>,

    /// Logging flags.
    #[command(flatten)]
    pub logging: LoggingOptions,

    /// `--feature-gates`, over the config file's `featureGates`.
    #[command(flatten)]
    pub feature_gates: corten_component_base::feature_gates::FeatureGateOptions,
}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// kubeconfig path (None: in-cluster).
    pub kubeconfig: Option<PathBuf>,
    /// API server URL override.
    pub master: Option<String>,
    /// The backend.
    pub mode: ProxyMode,
    /// This node's name (local endpoints).
    pub node_name: String,
    /// Rule settings.
    pub rules: RuleConfig,
    /// Health server address (None: disabled).
    pub healthz_bind: Option<SocketAddr>,
    /// Metrics server address (None: disabled).
    pub metrics_bind: Option<SocketAddr>,
    /// Periodic full resync.
    pub sync_period: Duration,
    /// Minimum time between syncs.
    pub min_sync_period: Duration,
    /// Remove rules and exit.
    pub cleanup: bool,
    /// Connection tracking sysctls to set at start.
    pub conntrack: ConntrackSettings,
    /// Families to program.
    pub families: Vec<IpFamily>,
    /// Prefix for every netfilter command (tests: `ip netns exec <ns>`).
    /// Not a flag.
    pub command_prefix: Vec<String>,
    /// The file's `featureGates` with `--feature-gates` on top (validated
    /// and exposed; no behaviour depends on them).
    pub feature_gates: corten_component_base::feature_gates::FeatureGates,
}

fn parse_bind(flag: &str, value: &str) -> Result<Option<SocketAddr>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    value
        .parse::<SocketAddr>()
        .map(Some)
        .map_err(|_| format!("invalid {flag} {value:?}: must be IP:port"))
}

fn parse_cidrs(flag: &str, values: &[String]) -> Result<Vec<IpNet>, String> {
    values
        .iter()
        .map(|v| v.trim())
        .filter(|v| !v.is_empty() && *v != "primary")
        .map(|v| {
            v.parse::<IpNet>()
                .map_err(|_| format!("invalid {flag} {v:?}: must be a CIDR"))
        })
        .collect()
}

impl Options {
    /// Applies the file and the flags and validates the result.
    pub fn complete(&self) -> Result<Config, String> {
        if let Some(master) = &self.master {
            corten_component_base::flags::parse_master(master)?;
        }
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("reading --config {}: {e}", path.display()))?;
                KubeProxyConfiguration::parse(&text)
                    .map_err(|e| format!("loading --config {}: {e}", path.display()))?
            }
            None => KubeProxyConfiguration::default(),
        };
        let feature_gates = self
            .feature_gates
            .gates_over(&file.feature_gates.clone().unwrap_or_default())?;
        let mode = match self.proxy_mode {
            Some(mode) => mode,
            None => match file.mode.as_str() {
                "" | "iptables" => ProxyMode::Iptables,
                "nftables" => ProxyMode::Nftables,
                other => {
                    return Err(format!(
                        "invalid proxy mode {other:?}: Corten supports \"iptables\" and \"nftables\""
                    ));
                }
            },
        };
        let section = match mode {
            ProxyMode::Iptables => &file.iptables,
            ProxyMode::Nftables => &file.nftables,
        };
        let file_duration = |top: &Option<String>, sect: &Option<String>, name: &str| {
            top.as_ref()
                .or(sect.as_ref())
                .map(|d| parse_duration(d).map_err(|e| format!("{name}: {e}")))
                .transpose()
        };
        let sync_period = match self.iptables_sync_period {
            Some(d) => d,
            None => file_duration(&file.sync_period, &section.sync_period, "syncPeriod")?
                .unwrap_or(Duration::from_secs(30)),
        };
        let min_sync_period = match self.iptables_min_sync_period {
            Some(d) => d,
            None => file_duration(
                &file.min_sync_period,
                &section.min_sync_period,
                "minSyncPeriod",
            )?
            .unwrap_or(Duration::from_secs(1)),
        };
        if sync_period.is_zero() {
            return Err("syncPeriod must be greater than 0".into());
        }
        if min_sync_period > sync_period {
            return Err(format!(
                "minSyncPeriod ({min_sync_period:?}) must be less than or equal to syncPeriod ({sync_period:?})"
            ));
        }
        let masquerade_bit = self
            .iptables_masquerade_bit
            .or(section.masquerade_bit)
            .unwrap_or(14);
        if masquerade_bit > 31 {
            return Err(format!(
                "masqueradeBit {masquerade_bit} must be within [0, 31]"
            ));
        }
        let cluster_cidr = self
            .cluster_cidr
            .clone()
            .unwrap_or_else(|| file.cluster_cidr.clone());
        let mut cidr_strings: Vec<String> = cluster_cidr.split(',').map(str::to_string).collect();
        if cluster_cidr.trim().is_empty() {
            cidr_strings = file.detect_local.cluster_cidrs.clone();
        }
        let cluster_cidrs = parse_cidrs("--cluster-cidr", &cidr_strings)?;
        let nodeport_values = self
            .nodeport_addresses
            .as_ref()
            .unwrap_or(&file.node_port_addresses);
        let nodeport_primary = nodeport_values.iter().any(|v| v.trim() == "primary");
        let nodeport_addresses = parse_cidrs("--nodeport-addresses", nodeport_values)?;
        if nodeport_primary && !nodeport_addresses.is_empty() {
            return Err(
                "invalid --nodeport-addresses: \"primary\" cannot be combined with CIDRs".into(),
            );
        }
        // Upstream's default in nftables mode: only the node's primary IPs
        // (iptables mode keeps answering on every local address).
        let nodeport_primary =
            nodeport_primary || (mode == ProxyMode::Nftables && nodeport_addresses.is_empty());
        let healthz = self.healthz_bind_address.clone().unwrap_or_else(|| {
            if file.healthz_bind_address.is_empty() {
                "0.0.0.0:10256".into()
            } else {
                file.healthz_bind_address.clone()
            }
        });
        let metrics = self.metrics_bind_address.clone().unwrap_or_else(|| {
            if file.metrics_bind_address.is_empty() {
                "127.0.0.1:10249".into()
            } else {
                file.metrics_bind_address.clone()
            }
        });
        let hostname = self
            .hostname_override
            .clone()
            .filter(|h| !h.is_empty())
            .or_else(|| Some(file.hostname_override.clone()).filter(|h| !h.is_empty()));
        let node_name = match hostname {
            Some(h) => h.to_lowercase(),
            None => nix::unistd::gethostname()
                .map_err(|e| format!("reading the hostname: {e}"))?
                .to_string_lossy()
                .to_lowercase(),
        };
        let kubeconfig = self.kubeconfig.clone().or_else(|| {
            Some(PathBuf::from(&file.client_connection.kubeconfig))
                .filter(|p| !p.as_os_str().is_empty())
        });
        let mut conntrack = file.conntrack.clone().unwrap_or_default().settings()?;
        let count = |flag: &str, v: i64| {
            u32::try_from(v)
                .map_err(|_| format!("invalid --{flag} {v}: must be greater than or equal to 0"))
        };
        if let Some(v) = self.conntrack_max_per_core {
            conntrack.max_per_core = count("conntrack-max-per-core", v)?;
        }
        if let Some(v) = self.conntrack_min {
            conntrack.min = count("conntrack-min", v)?;
        }
        if let Some(d) = self.conntrack_tcp_timeout_established {
            conntrack.tcp_established_timeout = d;
        }
        if let Some(d) = self.conntrack_tcp_timeout_close_wait {
            conntrack.tcp_close_wait_timeout = d;
        }
        if let Some(b) = self.conntrack_tcp_be_liberal {
            conntrack.tcp_be_liberal = b;
        }
        if let Some(d) = self.conntrack_udp_timeout {
            conntrack.udp_timeout = d;
        }
        if let Some(d) = self.conntrack_udp_timeout_stream {
            conntrack.udp_stream_timeout = d;
        }
        let mut families = vec![IpFamily::V4];
        if std::path::Path::new("/proc/net/if_inet6").exists() {
            families.push(IpFamily::V6);
        }
        Ok(Config {
            kubeconfig,
            master: self.master.clone(),
            mode,
            node_name,
            rules: RuleConfig {
                cluster_cidrs,
                masquerade_all: self.masquerade_all.unwrap_or(section.masquerade_all),
                masquerade_bit,
                nodeport_addresses,
                nodeport_primary,
            },
            healthz_bind: parse_bind("--healthz-bind-address", &healthz)?,
            metrics_bind: parse_bind("--metrics-bind-address", &metrics)?,
            sync_period,
            min_sync_period,
            cleanup: self.cleanup.unwrap_or(false),
            conntrack,
            families,
            command_prefix: Vec::new(),
            feature_gates,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let mut all = vec!["kube-proxy"];
        all.extend_from_slice(args);
        Options::try_parse_from(all)
            .map_err(|e| e.to_string())?
            .complete()
    }

    #[test]
    fn defaults_match_upstream() {
        let c = parse(&["--hostname-override=Node1"]).unwrap();
        assert_eq!(c.mode, ProxyMode::Iptables);
        assert_eq!(c.node_name, "node1");
        assert_eq!(c.healthz_bind, Some("0.0.0.0:10256".parse().unwrap()));
        assert_eq!(c.metrics_bind, Some("127.0.0.1:10249".parse().unwrap()));
        assert_eq!(c.sync_period, Duration::from_secs(30));
        assert_eq!(c.min_sync_period, Duration::from_secs(1));
        assert_eq!(c.rules.mark(), "0x4000");
        let err = parse(&["--master=ftp://x"]).unwrap_err();
        assert!(err.contains("invalid --master \"ftp://x\""), "{err}");
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(
            &path,
            "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: nftables\nclusterCIDR: 10.244.0.0/16\nnftables:\n  syncPeriod: 10s\n  minSyncPeriod: 2s\n",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let c = parse(&["--config", p, "--hostname-override=n"]).unwrap();
        assert_eq!(c.mode, ProxyMode::Nftables);
        assert_eq!(c.sync_period, Duration::from_secs(10));
        assert_eq!(
            c.rules.cluster_cidrs,
            vec!["10.244.0.0/16".parse::<IpNet>().unwrap()]
        );
        let c = parse(&[
            "--config",
            p,
            "--hostname-override=n",
            "--proxy-mode=iptables",
            "--masquerade-all",
            "--cluster-cidr=10.1.0.0/16,fd00::/64",
        ])
        .unwrap();
        assert_eq!(c.mode, ProxyMode::Iptables);
        assert!(c.rules.masquerade_all);
        assert_eq!(c.rules.cluster_cidrs.len(), 2);
        assert_eq!(
            c.sync_period,
            Duration::from_secs(30),
            "iptables section is empty"
        );
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(parse(&["--proxy-mode=ipvs"]).is_err());
        assert!(
            parse(&["--cluster-cidr=nope", "--hostname-override=n"])
                .unwrap_err()
                .contains("--cluster-cidr")
        );
        assert!(parse(&["--healthz-bind-address=10256", "--hostname-override=n"]).is_err());
        assert!(
            parse(&[
                "--iptables-min-sync-period=1m",
                "--iptables-sync-period=30s",
                "--hostname-override=n"
            ])
            .is_err()
        );
        assert!(parse(&["--iptables-masquerade-bit=40", "--hostname-override=n"]).is_err());
        assert!(
            parse(&[
                "--nodeport-addresses=primary,10.0.0.0/8",
                "--hostname-override=n"
            ])
            .unwrap_err()
            .contains("primary")
        );
    }

    #[test]
    fn primary_nodeport_addresses_are_resolved_later() {
        let c = parse(&["--nodeport-addresses=primary", "--hostname-override=n"]).unwrap();
        assert!(c.rules.nodeport_primary);
        assert!(c.rules.nodeport_addresses.is_empty());
        let c = parse(&["--nodeport-addresses=10.0.0.0/8", "--hostname-override=n"]).unwrap();
        assert!(!c.rules.nodeport_primary);
        assert_eq!(c.rules.nodeport_addresses.len(), 1);
    }

    #[test]
    fn conntrack_flags_override_the_file_and_defaults() {
        let c = parse(&["--hostname-override=n"]).unwrap();
        assert_eq!(c.conntrack, ConntrackSettings::default());
        let c = parse(&[
            "--hostname-override=n",
            "--conntrack-max-per-core=0",
            "--conntrack-tcp-timeout-established=2h",
            "--conntrack-tcp-be-liberal",
        ])
        .unwrap();
        assert_eq!(c.conntrack.max(4), None);
        assert_eq!(
            c.conntrack.tcp_established_timeout,
            Duration::from_secs(7200)
        );
        assert!(c.conntrack.tcp_be_liberal);
        assert!(parse(&["--hostname-override=n", "--conntrack-min=-5"]).is_err());
    }

    #[test]
    fn nodeport_addresses_default_to_primary_in_nftables_mode_only() {
        let c = parse(&["--proxy-mode=nftables", "--hostname-override=n"]).unwrap();
        assert!(c.rules.nodeport_primary, "upstream's nftables default");
        let c = parse(&["--proxy-mode=iptables", "--hostname-override=n"]).unwrap();
        assert!(!c.rules.nodeport_primary);
        let c = parse(&[
            "--proxy-mode=nftables",
            "--nodeport-addresses=0.0.0.0/0",
            "--hostname-override=n",
        ])
        .unwrap();
        assert!(!c.rules.nodeport_primary, "explicit CIDRs win");
    }
}
