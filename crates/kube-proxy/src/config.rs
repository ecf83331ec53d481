//! `KubeProxyConfiguration` (kubeproxy.config.k8s.io/v1alpha1), the file
//! given to `--config`. Decoded strictly like upstream: unknown fields are an
//! error. Fields Corten accepts but does not act on (ipvs, winkernel, ...)
//! are listed in docs/kube-proxy.md.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The API group/version of the configuration file.
pub const API_VERSION: &str = "kubeproxy.config.k8s.io/v1alpha1";

/// `clientConnection`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientConnection {
    /// Path to the kubeconfig.
    #[serde(default)]
    pub kubeconfig: String,
    /// Accepted for compatibility.
    #[serde(default)]
    pub accept_content_types: String,
    /// Accepted for compatibility (Corten always speaks JSON).
    #[serde(default)]
    pub content_type: String,
    /// Accepted for compatibility.
    #[serde(default)]
    pub qps: f64,
    /// Accepted for compatibility.
    #[serde(default)]
    pub burst: i64,
}

/// `iptables` / `nftables` sections.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackendSection {
    /// SNAT all service traffic.
    #[serde(default)]
    pub masquerade_all: bool,
    /// The fwmark bit for SNAT (default 14).
    #[serde(default)]
    pub masquerade_bit: Option<u8>,
    /// Minimum time between syncs (Go duration).
    #[serde(default)]
    pub min_sync_period: Option<String>,
    /// Maximum time between syncs (Go duration).
    #[serde(default)]
    pub sync_period: Option<String>,
    /// iptables only: NodePorts on localhost (Corten never enables them).
    #[serde(default)]
    pub localhost_node_ports: Option<bool>,
}

/// `detectLocal`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DetectLocal {
    /// Accepted for compatibility.
    #[serde(default)]
    pub bridge_interface: String,
    /// Accepted for compatibility.
    #[serde(default)]
    pub interface_name_prefix: String,
    /// Pod CIDRs (the same as `clusterCIDR` for `detectLocalMode: ClusterCIDR`).
    #[serde(default, rename = "clusterCIDRs")]
    pub cluster_cidrs: Vec<String>,
}

/// The configuration file.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubeProxyConfiguration {
    /// Must be `kubeproxy.config.k8s.io/v1alpha1`.
    #[serde(default)]
    pub api_version: String,
    /// Must be `KubeProxyConfiguration`.
    #[serde(default)]
    pub kind: String,
    /// Accepted for compatibility.
    #[serde(default)]
    pub bind_address: String,
    /// Accepted for compatibility.
    #[serde(default)]
    pub bind_address_hard_fail: bool,
    /// API client settings.
    #[serde(default)]
    pub client_connection: ClientConnection,
    /// Pod CIDRs, comma separated.
    #[serde(default, rename = "clusterCIDR")]
    pub cluster_cidr: String,
    /// Accepted for compatibility.
    #[serde(default)]
    pub config_sync_period: Option<String>,
    /// Connection tracking sysctls set at start.
    #[serde(default)]
    pub conntrack: Option<crate::conntrack_sysctl::ConntrackFile>,
    /// `ClusterCIDR` (default) or empty.
    #[serde(default)]
    pub detect_local_mode: String,
    /// Local traffic detection settings.
    #[serde(default)]
    pub detect_local: DetectLocal,
    /// Accepted for compatibility.
    #[serde(default)]
    pub enable_profiling: bool,
    /// Feature gates (validated with `--feature-gates` on top).
    #[serde(default)]
    pub feature_gates: Option<std::collections::BTreeMap<String, bool>>,
    /// `host:port` of the health server (default `0.0.0.0:10256`).
    #[serde(default)]
    pub healthz_bind_address: String,
    /// Node name override.
    #[serde(default)]
    pub hostname_override: String,
    /// iptables settings.
    #[serde(default)]
    pub iptables: BackendSection,
    /// Accepted (ipvs mode is not implemented).
    #[serde(default)]
    pub ipvs: Option<serde_json::Value>,
    /// Accepted (logging flags are command line only in Corten).
    #[serde(default)]
    pub logging: Option<serde_json::Value>,
    /// `host:port` of the metrics server (default `127.0.0.1:10249`).
    #[serde(default)]
    pub metrics_bind_address: String,
    /// `iptables` or `nftables` ("" is iptables, as upstream on Linux).
    #[serde(default)]
    pub mode: String,
    /// nftables settings.
    #[serde(default)]
    pub nftables: BackendSection,
    /// CIDRs NodePorts answer on, or `primary` (the node's primary IPs).
    #[serde(default)]
    pub node_port_addresses: Vec<String>,
    /// Accepted for compatibility.
    #[serde(default)]
    pub oom_score_adj: Option<i64>,
    /// Accepted for compatibility.
    #[serde(default)]
    pub port_range: String,
    /// Accepted for compatibility.
    #[serde(default)]
    pub show_hidden_metrics_for_version: String,
    /// Accepted (Windows only).
    #[serde(default)]
    pub winkernel: Option<serde_json::Value>,
    /// Top-level sync period (newer releases), overrides the mode's section.
    #[serde(default)]
    pub sync_period: Option<String>,
    /// Top-level min sync period (newer releases).
    #[serde(default)]
    pub min_sync_period: Option<String>,
}

impl KubeProxyConfiguration {
    /// Parses and checks the file text.
    pub fn parse(text: &str) -> Result<KubeProxyConfiguration, String> {
        let config: KubeProxyConfiguration =
            serde_yaml::from_str(text).map_err(|e| format!("strict decoding error: {e}"))?;
        if config.api_version != API_VERSION {
            return Err(format!(
                "no kind \"{}\" is registered for version \"{}\": expected apiVersion {API_VERSION}",
                config.kind, config.api_version
            ));
        }
        if config.kind != "KubeProxyConfiguration" {
            return Err(format!(
                "unexpected kind {:?}: expected KubeProxyConfiguration",
                config.kind
            ));
        }
        Ok(config)
    }
}

/// Go's duration syntax (`30s`, `1m30s`, `500ms`, `1h`).
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {input:?}");
    let s = input.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() || s.starts_with('-') {
        return Err(invalid());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let value: f64 = rest[..n].parse().map_err(|_| invalid())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(invalid()),
        };
        total += value * scale;
        rest = &rest[u..];
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_typical_file_and_rejects_unknown_fields() {
        let text = r#"
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clusterCIDR: 10.244.0.0/16
clientConnection:
  kubeconfig: /etc/kubernetes/kube-proxy.kubeconfig
nftables:
  masqueradeAll: true
  minSyncPeriod: 1s
  syncPeriod: 30s
conntrack:
  maxPerCore: 32768
"#;
        let c = KubeProxyConfiguration::parse(text).unwrap();
        assert_eq!(c.mode, "nftables");
        assert!(c.nftables.masquerade_all);
        assert_eq!(c.nftables.min_sync_period.as_deref(), Some("1s"));
        let err = KubeProxyConfiguration::parse(&format!("{text}bogusField: 1\n")).unwrap_err();
        assert!(err.contains("bogusField"), "{err}");
        assert!(
            KubeProxyConfiguration::parse("apiVersion: v1\nkind: KubeProxyConfiguration\n")
                .is_err()
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
