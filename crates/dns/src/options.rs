//! corten-dns flags and the optional config file, validated into a [`Config`].
//!
//! Precedence: defaults, then `--config`, then flags given on the command line.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Parser;
use corten_component_base::logging::LoggingOptions;
use serde::Deserialize;

/// corten-dns flags.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "corten-dns",
    about = "Cluster DNS (Corten): answers <service>.<namespace>.svc.<cluster-domain> from Services and EndpointSlices and forwards other names.",
    version = corten_component_base::version::GIT_VERSION,
    args_override_self = true
)]
pub struct Options {
    /// Path to a YAML configuration file (see deploy/dns/corten-dns.yaml).
    #[arg(long)]
    pub config: Option<PathBuf>,

    /// Path to a kubeconfig file (default: in-cluster configuration).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,

    /// The cluster domain. (default cluster.local)
    #[arg(long)]
    pub cluster_domain: Option<String>,

    /// Address to serve DNS on, UDP and TCP. (default 0.0.0.0:53)
    #[arg(long)]
    pub listen: Option<SocketAddr>,

    /// Upstream resolvers for names outside the cluster domain (IP or IP:port; repeatable or comma-separated). Without any, such names are REFUSED.
    #[arg(long, value_delimiter = ',')]
    pub upstream: Option<Vec<String>>,

    /// Read upstream resolvers from this resolv.conf (e.g. /etc/resolv.conf).
    #[arg(long)]
    pub resolv_conf: Option<PathBuf>,

    /// TTL of the answers for cluster names, in seconds. (default 5)
    #[arg(long)]
    pub ttl: Option<u32>,

    /// Address of the /health endpoint; empty disables. (default 0.0.0.0:8080)
    #[arg(long)]
    pub health_address: Option<String>,

    /// Address of the /ready endpoint; empty disables. (default 0.0.0.0:8181)
    #[arg(long)]
    pub ready_address: Option<String>,

    /// Address of the /metrics endpoint; empty disables. (default 0.0.0.0:9153)
    #[arg(long)]
    pub metrics_address: Option<String>,

    /// Logging flags.
    #[command(flatten)]
    pub logging: LoggingOptions,
}

/// The configuration file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileConfig {
    /// Must be `dns.corten.io/v1alpha1` when set.
    #[serde(default)]
    pub api_version: String,
    /// Must be `DNSConfiguration` when set.
    #[serde(default)]
    pub kind: String,
    /// Path to the kubeconfig.
    #[serde(default)]
    pub kubeconfig: Option<String>,
    /// Cluster domain.
    #[serde(default)]
    pub cluster_domain: Option<String>,
    /// DNS listen address.
    #[serde(default)]
    pub listen: Option<String>,
    /// Upstream resolvers.
    #[serde(default)]
    pub upstream: Vec<String>,
    /// resolv.conf to read upstreams from.
    #[serde(default)]
    pub resolv_conf: Option<String>,
    /// Answer TTL.
    #[serde(default)]
    pub ttl: Option<u32>,
    /// /health address.
    #[serde(default)]
    pub health_address: Option<String>,
    /// /ready address.
    #[serde(default)]
    pub ready_address: Option<String>,
    /// /metrics address.
    #[serde(default)]
    pub metrics_address: Option<String>,
}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// kubeconfig path (None: in-cluster).
    pub kubeconfig: Option<PathBuf>,
    /// Cluster domain, without the trailing dot.
    pub cluster_domain: String,
    /// DNS address (UDP and TCP).
    pub listen: SocketAddr,
    /// Upstreams (empty: refuse).
    pub upstreams: Vec<SocketAddr>,
    /// Answer TTL.
    pub ttl: u32,
    /// /health address.
    pub health: Option<SocketAddr>,
    /// /ready address.
    pub ready: Option<SocketAddr>,
    /// /metrics address.
    pub metrics: Option<SocketAddr>,
}

fn parse_upstream(value: &str) -> Result<SocketAddr, String> {
    let v = value.trim();
    if let Ok(addr) = v.parse::<SocketAddr>() {
        return Ok(addr);
    }
    v.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("invalid upstream {v:?}: must be an IP or IP:port"))
}

/// The `nameserver` lines of a resolv.conf.
pub fn resolv_conf_nameservers(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

fn parse_addr(flag: &str, value: &str) -> Result<Option<SocketAddr>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .map_err(|_| format!("invalid {flag} {value:?}: must be IP:port"))
}

impl Options {
    /// Applies the file and flags and validates the result.
    pub fn complete(&self) -> Result<Config, String> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("reading --config {}: {e}", path.display()))?;
                let file: FileConfig = serde_yaml::from_str(&text)
                    .map_err(|e| format!("loading --config {}: {e}", path.display()))?;
                if !file.api_version.is_empty() && file.api_version != "dns.corten.io/v1alpha1" {
                    return Err(format!(
                        "unknown apiVersion {:?} (want dns.corten.io/v1alpha1)",
                        file.api_version
                    ));
                }
                if !file.kind.is_empty() && file.kind != "DNSConfiguration" {
                    return Err(format!(
                        "unknown kind {:?} (want DNSConfiguration)",
                        file.kind
                    ));
                }
                file
            }
            None => FileConfig::default(),
        };
        let cluster_domain = self
            .cluster_domain
            .clone()
            .or(file.cluster_domain.clone())
            .unwrap_or_else(|| "cluster.local".into())
            .trim_end_matches('.')
            .to_lowercase();
        if cluster_domain.is_empty()
            || !cluster_domain.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
        {
            return Err(format!("invalid --cluster-domain {cluster_domain:?}"));
        }
        let listen = match self.listen {
            Some(l) => l,
            None => parse_addr("listen", file.listen.as_deref().unwrap_or("0.0.0.0:53"))?
                .ok_or("listen must not be empty")?,
        };
        let mut upstreams = Vec::new();
        for u in self.upstream.as_ref().unwrap_or(&file.upstream) {
            if !u.trim().is_empty() {
                upstreams.push(parse_upstream(u)?);
            }
        }
        let resolv = self
            .resolv_conf
            .clone()
            .or(file.resolv_conf.as_ref().map(PathBuf::from));
        if let Some(path) = resolv {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("reading --resolv-conf {}: {e}", path.display()))?;
            upstreams.extend(resolv_conf_nameservers(&text));
        }
        // Never forward to ourselves (a loop).
        upstreams.retain(|u| *u != listen);
        let pick = |flag: &Option<String>, file: &Option<String>, default: &str| {
            flag.clone()
                .or(file.clone())
                .unwrap_or_else(|| default.to_string())
        };
        Ok(Config {
            kubeconfig: self
                .kubeconfig
                .clone()
                .or(file.kubeconfig.map(PathBuf::from)),
            cluster_domain,
            listen,
            upstreams,
            ttl: self.ttl.or(file.ttl).unwrap_or(5),
            health: parse_addr(
                "--health-address",
                &pick(&self.health_address, &file.health_address, "0.0.0.0:8080"),
            )?,
            ready: parse_addr(
                "--ready-address",
                &pick(&self.ready_address, &file.ready_address, "0.0.0.0:8181"),
            )?,
            metrics: parse_addr(
                "--metrics-address",
                &pick(&self.metrics_address, &file.metrics_address, "0.0.0.0:9153"),
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let mut all = vec!["corten-dns"];
        all.extend_from_slice(args);
        Options::try_parse_from(all)
            .map_err(|e| e.to_string())?
            .complete()
    }

    #[test]
    fn defaults_like_coredns() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.cluster_domain, "cluster.local");
        assert_eq!(c.listen, "0.0.0.0:53".parse().unwrap());
        assert!(c.upstreams.is_empty());
        assert_eq!(c.ttl, 5);
        assert_eq!(c.health, Some("0.0.0.0:8080".parse().unwrap()));
        assert_eq!(c.ready, Some("0.0.0.0:8181".parse().unwrap()));
        assert_eq!(c.metrics, Some("0.0.0.0:9153".parse().unwrap()));
    }

    #[test]
    fn upstreams_from_flags_file_and_resolv_conf() {
        let dir = tempfile::tempdir().unwrap();
        let resolv = dir.path().join("resolv.conf");
        std::fs::write(
            &resolv,
            "# comment\nnameserver 127.0.0.53\nsearch example\nnameserver ::1\n",
        )
        .unwrap();
        let conf = dir.path().join("dns.yaml");
        std::fs::write(
            &conf,
            format!("apiVersion: dns.corten.io/v1alpha1\nkind: DNSConfiguration\nclusterDomain: corp.local.\nupstream: [\"127.0.0.1:5300\"]\nresolvConf: {}\n", resolv.display()),
        )
        .unwrap();
        let c = parse(&["--config", conf.to_str().unwrap()]).unwrap();
        assert_eq!(c.cluster_domain, "corp.local");
        assert_eq!(
            c.upstreams,
            vec![
                "127.0.0.1:5300".parse().unwrap(),
                "127.0.0.53:53".parse().unwrap(),
                "[::1]:53".parse().unwrap()
            ]
        );
        let c = parse(&[
            "--config",
            conf.to_str().unwrap(),
            "--upstream=127.0.0.9",
            "--listen=127.0.0.9:53",
        ])
        .unwrap();
        assert!(
            !c.upstreams.contains(&"127.0.0.9:53".parse().unwrap()),
            "never forwards to itself"
        );
    }

    #[test]
    fn bad_input_is_rejected() {
        assert!(parse(&["--upstream=not-an-ip"]).is_err());
        assert!(parse(&["--cluster-domain=bad..domain"]).is_err());
        assert!(parse(&["--health-address=8080"]).is_err());
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("dns.yaml");
        std::fs::write(&conf, "bogus: 1\n").unwrap();
        assert!(
            parse(&["--config", conf.to_str().unwrap()])
                .unwrap_err()
                .contains("bogus")
        );
    }
}
