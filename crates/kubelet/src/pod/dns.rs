//! A pod's resolver configuration (upstream `GetPodDNS`): ClusterFirst,
//! ClusterFirstWithHostNet, Default and None, merged with `spec.dnsConfig`.

use corten_cri::api;
use k8s_openapi::api::core::v1::Pod;

/// Upstream's limit on search domains.
const MAX_SEARCHES: usize = 32;
/// Upstream's (and glibc's) limit on nameservers.
const MAX_NAMESERVERS: usize = 3;

/// The host's resolver settings (from `resolvConf`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostDns {
    /// `nameserver` lines.
    pub servers: Vec<String>,
    /// `search` domains.
    pub searches: Vec<String>,
    /// `options`.
    pub options: Vec<String>,
}

impl HostDns {
    /// Parses resolv.conf text.
    pub fn parse(text: &str) -> Self {
        let mut dns = HostDns::default();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("").trim();
            let mut fields = line.split_whitespace();
            match fields.next() {
                Some("nameserver") => dns.servers.extend(fields.next().map(str::to_string)),
                Some("search") | Some("domain") => {
                    dns.searches = fields.map(str::to_string).collect();
                }
                Some("options") => dns.options.extend(fields.map(str::to_string)),
                _ => {}
            }
        }
        dns
    }

    /// Reads `path` (missing file: empty).
    pub fn read(path: &str) -> Self {
        std::fs::read_to_string(path)
            .map(|t| Self::parse(&t))
            .unwrap_or_default()
    }
}

/// The cluster DNS settings of the kubelet.
#[derive(Clone, Debug, Default)]
pub struct ClusterDns {
    /// `clusterDNS`.
    pub servers: Vec<String>,
    /// `clusterDomain`.
    pub domain: String,
}

fn push_unique(list: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
    for item in items {
        if !list.contains(&item) {
            list.push(item);
        }
    }
}

/// The pod's DNS config, and a warning event message when ClusterFirst had
/// to fall back to Default.
pub fn pod_dns(
    pod: &Pod,
    host: &HostDns,
    cluster: &ClusterDns,
) -> (api::DnsConfig, Option<String>) {
    let spec = pod.spec.clone().unwrap_or_default();
    let host_network = spec.host_network.unwrap_or(false);
    let mut policy = spec
        .dns_policy
        .clone()
        .unwrap_or_else(|| "ClusterFirst".into());
    if policy == "ClusterFirst" && host_network {
        policy = "Default".into();
    }
    let mut warning = None;
    if (policy == "ClusterFirst" || policy == "ClusterFirstWithHostNet")
        && cluster.servers.is_empty()
    {
        warning = Some(format!(
            "kubelet does not have ClusterDNS IP configured and cannot create Pod using {policy:?} policy. Falling back to \"Default\" policy."
        ));
        policy = "Default".into();
    }
    let mut config = match policy.as_str() {
        "ClusterFirst" | "ClusterFirstWithHostNet" => {
            let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
            let domain = &cluster.domain;
            let mut searches = vec![
                format!("{ns}.svc.{domain}"),
                format!("svc.{domain}"),
                domain.clone(),
            ];
            push_unique(&mut searches, host.searches.iter().cloned());
            api::DnsConfig {
                servers: cluster.servers.clone(),
                searches,
                options: vec!["ndots:5".into()],
            }
        }
        "None" => api::DnsConfig::default(),
        _ => api::DnsConfig {
            servers: host.servers.clone(),
            searches: host.searches.clone(),
            options: host.options.clone(),
        },
    };
    if let Some(extra) = &spec.dns_config {
        push_unique(
            &mut config.servers,
            extra.nameservers.clone().unwrap_or_default(),
        );
        push_unique(
            &mut config.searches,
            extra.searches.clone().unwrap_or_default(),
        );
        for option in extra.options.iter().flatten() {
            let name = option.name.clone().unwrap_or_default();
            config
                .options
                .retain(|o| o.split(':').next() != Some(name.as_str()));
            config.options.push(match &option.value {
                Some(v) => format!("{name}:{v}"),
                None => name,
            });
        }
    }
    config.servers.truncate(MAX_NAMESERVERS);
    config.searches.truncate(MAX_SEARCHES);
    (config, warning)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodDNSConfig, PodDNSConfigOption, PodSpec};

    fn pod(policy: Option<&str>, host_network: bool) -> Pod {
        Pod {
            metadata: kube::api::ObjectMeta {
                namespace: Some("team".into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                dns_policy: policy.map(str::to_string),
                host_network: Some(host_network),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn policies() {
        let host = HostDns::parse(
            "# c\nnameserver 1.1.1.1\nnameserver 8.8.8.8\nsearch corp.example\noptions edns0\n",
        );
        assert_eq!(host.servers, ["1.1.1.1", "8.8.8.8"]);
        let cluster = ClusterDns {
            servers: vec!["10.96.0.10".into()],
            domain: "cluster.local".into(),
        };
        let (dns, warning) = pod_dns(&pod(None, false), &host, &cluster);
        assert!(warning.is_none());
        assert_eq!(dns.servers, ["10.96.0.10"]);
        assert_eq!(
            dns.searches,
            [
                "team.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local",
                "corp.example"
            ]
        );
        assert_eq!(dns.options, ["ndots:5"]);
        let (dns, _) = pod_dns(&pod(None, true), &host, &cluster);
        assert_eq!(dns.servers, ["1.1.1.1", "8.8.8.8"]);
        let (dns, _) = pod_dns(&pod(Some("ClusterFirstWithHostNet"), true), &host, &cluster);
        assert_eq!(dns.servers, ["10.96.0.10"]);
        let (dns, warning) = pod_dns(&pod(None, false), &host, &ClusterDns::default());
        assert!(warning.unwrap().contains("Falling back"));
        assert_eq!(dns.options, ["edns0"]);
        let mut none = pod(Some("None"), false);
        none.spec.as_mut().unwrap().dns_config = Some(PodDNSConfig {
            nameservers: Some(vec!["9.9.9.9".into()]),
            searches: Some(vec!["a.example".into()]),
            options: Some(vec![PodDNSConfigOption {
                name: Some("ndots".into()),
                value: Some("2".into()),
            }]),
        });
        let (dns, _) = pod_dns(&none, &host, &cluster);
        assert_eq!(
            (dns.servers, dns.searches, dns.options),
            (
                vec!["9.9.9.9".to_string()],
                vec!["a.example".to_string()],
                vec!["ndots:2".to_string()]
            )
        );
    }
}
