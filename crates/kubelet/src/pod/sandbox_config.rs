//! The CRI `PodSandboxConfig` of a pod (upstream `generatePodSandboxConfig`):
//! metadata, hostname, log directory, DNS, port mappings, namespaces,
//! security context, sysctls and the cgroup parent.

use std::path::{Path, PathBuf};

use corten_cri::api;
use k8s_openapi::api::core::v1::{Pod, SeccompProfile};

use super::labels;

/// `<podLogsDir>/<namespace>_<name>_<uid>`.
pub fn pod_log_dir(logs_dir: &Path, pod: &Pod) -> PathBuf {
    let m = &pod.metadata;
    logs_dir.join(format!(
        "{}_{}_{}",
        m.namespace.as_deref().unwrap_or("default"),
        m.name.as_deref().unwrap_or_default(),
        m.uid.as_deref().unwrap_or_default()
    ))
}

/// The pod's hostname (upstream `GeneratePodHostNameAndDomain`, without the
/// domain): `spec.hostname` or the pod name, at most 63 characters.
pub fn pod_hostname(pod: &Pod, cluster_domain: &str) -> String {
    let spec = pod.spec.as_ref();
    let mut hostname = spec
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| pod.metadata.name.clone().unwrap_or_default());
    if hostname.len() > 63 {
        hostname.truncate(63);
        while hostname.ends_with('-') || hostname.ends_with('.') {
            hostname.pop();
        }
    }
    let fqdn = spec.and_then(|s| s.set_hostname_as_fqdn).unwrap_or(false);
    if fqdn
        && let Some(subdomain) = spec
            .and_then(|s| s.subdomain.as_deref())
            .filter(|s| !s.is_empty())
    {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        return format!("{hostname}.{subdomain}.{ns}.svc.{cluster_domain}");
    }
    hostname
}

/// CRI protocol of a port.
pub fn protocol(name: Option<&str>) -> i32 {
    match name {
        Some("UDP") => api::Protocol::Udp as i32,
        Some("SCTP") => api::Protocol::Sctp as i32,
        _ => api::Protocol::Tcp as i32,
    }
}

/// A seccomp profile in CRI terms; no profile means Unconfined (upstream's
/// default while `seccompDefault` is off).
pub fn seccomp(profile: Option<&SeccompProfile>) -> api::SecurityProfile {
    match profile.map(|p| p.type_.as_str()) {
        Some("RuntimeDefault") => api::SecurityProfile {
            profile_type: api::security_profile::ProfileType::RuntimeDefault as i32,
            localhost_ref: String::new(),
        },
        Some("Localhost") => api::SecurityProfile {
            profile_type: api::security_profile::ProfileType::Localhost as i32,
            localhost_ref: profile
                .and_then(|p| p.localhost_profile.clone())
                .unwrap_or_default(),
        },
        _ => api::SecurityProfile {
            profile_type: api::security_profile::ProfileType::Unconfined as i32,
            localhost_ref: String::new(),
        },
    }
}

/// Inputs of [`sandbox_config`].
#[derive(Clone, Debug)]
pub struct SandboxInputs<'a> {
    /// The pod.
    pub pod: &'a Pod,
    /// Sandbox attempt (0, then +1 per recreation).
    pub attempt: u32,
    /// `podLogsDir`.
    pub logs_dir: &'a Path,
    /// Resolver config.
    pub dns: api::DnsConfig,
    /// cgroup parent.
    pub cgroup_parent: String,
    /// `clusterDomain`.
    pub cluster_domain: &'a str,
}

/// The sandbox config.
pub fn sandbox_config(inputs: &SandboxInputs<'_>) -> api::PodSandboxConfig {
    let pod = inputs.pod;
    let spec = pod.spec.clone().unwrap_or_default();
    let host_network = spec.host_network.unwrap_or(false);
    let share_pid = spec.share_process_namespace.unwrap_or(false);
    let mode = |on_host: bool, pod_wide: bool| {
        if on_host {
            api::NamespaceMode::Node as i32
        } else if pod_wide {
            api::NamespaceMode::Pod as i32
        } else {
            api::NamespaceMode::Container as i32
        }
    };
    let pod_security = spec.security_context.clone().unwrap_or_default();
    let privileged = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .any(|c| {
            c.security_context
                .as_ref()
                .and_then(|s| s.privileged)
                .unwrap_or(false)
        });
    let mut port_mappings = Vec::new();
    for container in &spec.containers {
        for port in container.ports.iter().flatten() {
            port_mappings.push(api::PortMapping {
                protocol: protocol(port.protocol.as_deref()),
                container_port: port.container_port,
                host_port: port.host_port.unwrap_or(0),
                host_ip: port.host_ip.clone().unwrap_or_default(),
            });
        }
    }
    let sysctls = pod_security
        .sysctls
        .iter()
        .flatten()
        .map(|s| (s.name.clone(), s.value.clone()))
        .collect();
    api::PodSandboxConfig {
        metadata: Some(api::PodSandboxMetadata {
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            attempt: inputs.attempt,
        }),
        hostname: if host_network {
            String::new()
        } else {
            pod_hostname(pod, inputs.cluster_domain)
        },
        log_directory: pod_log_dir(inputs.logs_dir, pod).display().to_string(),
        dns_config: Some(inputs.dns.clone()),
        port_mappings,
        labels: labels::sandbox_labels(pod),
        annotations: labels::sandbox_annotations(pod),
        linux: Some(api::LinuxPodSandboxConfig {
            cgroup_parent: inputs.cgroup_parent.clone(),
            security_context: Some(api::LinuxSandboxSecurityContext {
                namespace_options: Some(api::NamespaceOption {
                    network: mode(host_network, true),
                    pid: mode(spec.host_pid.unwrap_or(false), share_pid),
                    ipc: mode(spec.host_ipc.unwrap_or(false), true),
                    ..Default::default()
                }),
                run_as_user: pod_security
                    .run_as_user
                    .map(|value| api::Int64Value { value }),
                run_as_group: pod_security
                    .run_as_group
                    .map(|value| api::Int64Value { value }),
                supplemental_groups: pod_security.supplemental_groups.clone().unwrap_or_default(),
                privileged,
                seccomp: Some(seccomp(pod_security.seccomp_profile.as_ref())),
                ..Default::default()
            }),
            sysctls,
            ..Default::default()
        }),
        windows: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, ContainerPort, PodSpec};

    #[test]
    fn config_of_a_pod() {
        let pod = Pod {
            metadata: kube::api::ObjectMeta {
                name: Some("web".into()),
                namespace: Some("ns".into()),
                uid: Some("u-1".into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                hostname: Some("h".repeat(70)),
                containers: vec![Container {
                    name: "c".into(),
                    ports: Some(vec![ContainerPort {
                        container_port: 8080,
                        host_port: Some(18080),
                        protocol: Some("TCP".into()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }],
                security_context: Some(k8s_openapi::api::core::v1::PodSecurityContext {
                    sysctls: Some(vec![k8s_openapi::api::core::v1::Sysctl {
                        name: "net.ipv4.tcp_syncookies".into(),
                        value: "0".into(),
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let config = sandbox_config(&SandboxInputs {
            pod: &pod,
            attempt: 2,
            logs_dir: Path::new("/var/log/pods"),
            dns: api::DnsConfig::default(),
            cgroup_parent: "/kubepods/besteffort/podu-1".into(),
            cluster_domain: "cluster.local",
        });
        assert_eq!(config.metadata.as_ref().unwrap().attempt, 2);
        assert_eq!(config.hostname.len(), 63);
        assert_eq!(config.log_directory, "/var/log/pods/ns_web_u-1");
        assert_eq!(config.port_mappings[0].host_port, 18080);
        assert_eq!(config.labels[labels::POD_UID], "u-1");
        let linux = config.linux.unwrap();
        // Admitted sysctls reach the runtime.
        assert_eq!(linux.sysctls["net.ipv4.tcp_syncookies"], "0");
        let ns = linux.security_context.unwrap().namespace_options.unwrap();
        assert_eq!(ns.network, api::NamespaceMode::Pod as i32);
        assert_eq!(ns.pid, api::NamespaceMode::Container as i32);
    }
}
