//! The ordered list of daemons that make up a local cluster.
//!
//! `corten up` starts them in order, waiting for each to be ready before the
//! next; `corten down` stops them in reverse order. Adding the scheduler,
//! controller-manager, kubelet and proxy means appending entries to
//! [`cluster_components`]: a name, a command line, the ports it must find
//! free, and a readiness probe.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::probe::Probe;
use crate::process::{self, ProcessSpec};
use crate::state::{ClusterConfig, StateLayout};

/// Where the etcd binary lives on Debian (`apt-get install etcd-server`).
pub const DEFAULT_ETCD_BINARY: &str = "/usr/bin/etcd";

/// kube-controller-manager's `--secure-port` (upstream's default).
pub const CONTROLLER_MANAGER_PORT: u16 = 10257;

/// kube-scheduler's `--secure-port` (upstream's default).
pub const SCHEDULER_PORT: u16 = 10259;

/// One daemon of the cluster.
#[derive(Clone, Debug)]
pub struct Component {
    /// Name: used for `logs/<name>.log` and `run/<name>.pid`.
    pub name: &'static str,
    /// Executable (may not exist yet; checked when starting).
    pub program: PathBuf,
    /// Command line arguments.
    pub args: Vec<String>,
    /// Ports on 127.0.0.1 it listens on; checked free before starting.
    pub ports: Vec<u16>,
    /// Readiness probe.
    pub probe: Probe,
    /// How long to wait for readiness.
    pub ready_timeout: Duration,
    /// Hint printed when the program is missing.
    pub install_hint: &'static str,
}

impl Component {
    /// The process description for [`process::spawn_detached`].
    pub fn process_spec(&self, layout: &StateLayout) -> ProcessSpec {
        ProcessSpec {
            name: self.name.to_string(),
            program: self.program.clone(),
            args: self.args.clone(),
            log_file: layout.log_file(self.name),
            pid_file: layout.pid_file(self.name),
            working_dir: layout.root().to_path_buf(),
        }
    }
}

/// The daemons of a local cluster, in start order.
pub fn cluster_components(config: &ClusterConfig, layout: &StateLayout) -> Vec<Component> {
    vec![
        etcd(config, layout),
        kube_apiserver(config, layout),
        kube_controller_manager(layout),
        kube_scheduler(layout),
        containerd(layout),
        kubelet(config, layout),
        kube_proxy(layout),
        cluster_dns(config, layout),
    ]
}

/// kube-proxy's health port (upstream's default).
pub const PROXY_HEALTHZ_PORT: u16 = 10256;
/// kube-proxy's metrics port (upstream's default).
pub const PROXY_METRICS_PORT: u16 = 10249;
/// corten-dns's `/health`, `/ready` and `/metrics` ports (CoreDNS's).
pub const DNS_OPS_PORTS: [u16; 3] = [8080, 8181, 9153];
/// corten-dns's DNS port on the pod bridge address; pods use the kube-dns
/// ClusterIP on port 53, which kube-proxy DNATs here.
pub const DNS_PORT: u16 = 10053;
/// The cluster domain of the local cluster.
pub const CLUSTER_DOMAIN: &str = "cluster.local";

/// The kube-dns ClusterIP: the 10th address of the service range (kubeadm's
/// convention, `10.96.0.10` for `10.96.0.0/12`).
pub fn cluster_dns_ip(config: &ClusterConfig) -> IpAddr {
    match config.service_cluster_ip_range.network() {
        IpAddr::V4(net) => IpAddr::from(u32::from(net).saturating_add(10).to_be_bytes()),
        IpAddr::V6(net) => IpAddr::from(u128::from(net).saturating_add(10).to_be_bytes()),
    }
}

/// The pod bridge's gateway address (host-local's default: the first
/// address of the node's pod CIDR), where the node's DNS server listens.
fn bridge_gateway() -> IpAddr {
    crate::images::LOCAL_POD_CIDR
        .parse::<ipnet::IpNet>()
        .ok()
        .and_then(|net| net.hosts().next())
        .unwrap_or(IpAddr::from([10, 244, 0, 1]))
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

fn etcd(config: &ClusterConfig, layout: &StateLayout) -> Component {
    let client = format!("http://127.0.0.1:{}", config.etcd_client_port);
    let peer = format!("http://127.0.0.1:{}", config.etcd_peer_port);
    let program = if std::path::Path::new(DEFAULT_ETCD_BINARY).exists() {
        PathBuf::from(DEFAULT_ETCD_BINARY)
    } else {
        process::find_in_path("etcd").unwrap_or_else(|| PathBuf::from(DEFAULT_ETCD_BINARY))
    };
    Component {
        name: "etcd",
        program,
        args: vec![
            "--name".into(),
            "corten".into(),
            "--data-dir".into(),
            layout.etcd_data_dir().display().to_string(),
            "--listen-client-urls".into(),
            client.clone(),
            "--advertise-client-urls".into(),
            client,
            "--listen-peer-urls".into(),
            peer.clone(),
            "--initial-advertise-peer-urls".into(),
            peer.clone(),
            "--initial-cluster".into(),
            format!("corten={peer}"),
            "--initial-cluster-state".into(),
            "new".into(),
            "--initial-cluster-token".into(),
            "corten".into(),
        ],
        ports: vec![config.etcd_client_port, config.etcd_peer_port],
        probe: Probe::Http {
            addr: loopback(config.etcd_client_port),
            path: "/health".into(),
        },
        ready_timeout: Duration::from_secs(30),
        install_hint: "install it with `make deps` (Debian package etcd-server)",
    }
}

fn kube_apiserver(config: &ClusterConfig, layout: &StateLayout) -> Component {
    let pki = layout.pki_dir();
    Component {
        name: "kube-apiserver",
        program: process::find_program("kube-apiserver")
            .unwrap_or_else(|| PathBuf::from("kube-apiserver")),
        args: vec![
            format!("--etcd-servers={}", config.etcd_url()),
            format!("--secure-port={}", config.secure_port),
            "--bind-address=127.0.0.1".into(),
            format!("--tls-cert-file={}", pki.join("apiserver.crt").display()),
            format!(
                "--tls-private-key-file={}",
                pki.join("apiserver.key").display()
            ),
            format!(
                "--service-cluster-ip-range={}",
                config.service_cluster_ip_range
            ),
            format!(
                "--service-node-port-range={}",
                config.service_node_port_range
            ),
            format!("--advertise-address={}", config.advertise_address),
            // Locked down like kubeadm: client certificates from the cluster
            // CA, ServiceAccount tokens, Node and RBAC authorization.
            format!("--client-ca-file={}", pki.join("ca.crt").display()),
            format!(
                "--service-account-key-file={}",
                pki.join(crate::pki::SA_PUBLIC_KEY_FILE).display()
            ),
            format!(
                "--service-account-signing-key-file={}",
                pki.join(crate::pki::SA_PRIVATE_KEY_FILE).display()
            ),
            format!("--service-account-issuer={}", crate::pki::SA_ISSUER),
            "--authorization-mode=Node,RBAC".into(),
            "--enable-admission-plugins=NodeRestriction".into(),
            // logs/exec/attach/port-forward: the apiserver's own identity
            // towards the kubelet, whose serving certificate it verifies.
            format!(
                "--kubelet-client-certificate={}",
                pki.join("apiserver-kubelet-client.crt").display()
            ),
            format!(
                "--kubelet-client-key={}",
                pki.join("apiserver-kubelet-client.key").display()
            ),
            format!(
                "--kubelet-certificate-authority={}",
                pki.join("ca.crt").display()
            ),
            "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname".into(),
            // API aggregation like kubeadm: extension apiservers trust the
            // front-proxy CA for the user in X-Remote-* headers; the
            // aggregator dials endpoint IPs (this host need not run
            // kube-proxy).
            format!(
                "--requestheader-client-ca-file={}",
                pki.join("front-proxy-ca.crt").display()
            ),
            "--requestheader-allowed-names=front-proxy-client".into(),
            "--requestheader-username-headers=X-Remote-User".into(),
            "--requestheader-group-headers=X-Remote-Group".into(),
            "--requestheader-uid-headers=X-Remote-Uid".into(),
            "--requestheader-extra-headers-prefix=X-Remote-Extra-".into(),
            format!(
                "--proxy-client-cert-file={}",
                pki.join("front-proxy-client.crt").display()
            ),
            format!(
                "--proxy-client-key-file={}",
                pki.join("front-proxy-client.key").display()
            ),
            "--enable-aggregator-routing=true".into(),
        ],
        ports: vec![config.secure_port],
        probe: Probe::Https {
            addr: loopback(config.secure_port),
            path: "/readyz".into(),
            ca_file: pki.join("ca.crt"),
        },
        ready_timeout: Duration::from_secs(60),
        install_hint: "build it with `make build` (it is looked up next to the corten binary, then on PATH)",
    }
}

/// The secure-port flags of kube-scheduler and kube-controller-manager, as
/// kubeadm sets them: TokenReviews and SubjectAccessReviews with the
/// component's own kubeconfig (its RBAC role allows both), client
/// certificates from the cluster CA (the admin's `curl --cert` works), and
/// a serving certificate from the cluster CA (so probes verify it).
fn secure_serving_args(
    layout: &StateLayout,
    component: &str,
    serving_cert_name: &str,
) -> Vec<String> {
    let kubeconfig = crate::kubeconfig::component_kubeconfig_path(layout, component);
    let pki = layout.pki_dir();
    vec![
        format!("--authentication-kubeconfig={}", kubeconfig.display()),
        format!("--authorization-kubeconfig={}", kubeconfig.display()),
        format!("--client-ca-file={}", pki.join("ca.crt").display()),
        format!(
            "--tls-cert-file={}",
            pki.join(format!("{serving_cert_name}.crt")).display()
        ),
        format!(
            "--tls-private-key-file={}",
            pki.join(format!("{serving_cert_name}.key")).display()
        ),
    ]
}

/// One local node: no leader election (a restarted controller-manager
/// starts at once instead of waiting for its old Lease to expire). Its own
/// identity `system:kube-controller-manager`, and each controller its
/// ServiceAccount in kube-system (kubeadm's setup).
fn kube_controller_manager(layout: &StateLayout) -> Component {
    Component {
        name: "kube-controller-manager",
        program: process::find_program("kube-controller-manager")
            .unwrap_or_else(|| PathBuf::from("kube-controller-manager")),
        args: vec![
            format!(
                "--kubeconfig={}",
                crate::kubeconfig::component_kubeconfig_path(layout, "kube-controller-manager")
                    .display()
            ),
            "--use-service-account-credentials=true".into(),
            format!(
                "--root-ca-file={}",
                layout.pki_dir().join("ca.crt").display()
            ),
            "--leader-elect=false".into(),
            // Legacy ServiceAccount token Secrets are signed with the key
            // the apiserver verifies (`--service-account-key-file`).
            format!(
                "--service-account-private-key-file={}",
                layout
                    .pki_dir()
                    .join(crate::pki::SA_PRIVATE_KEY_FILE)
                    .display()
            ),
            // The CSR signer issues with the cluster CA (kubeadm's setup).
            format!(
                "--cluster-signing-cert-file={}",
                layout.pki_dir().join("ca.crt").display()
            ),
            format!(
                "--cluster-signing-key-file={}",
                layout.pki_dir().join("ca.key").display()
            ),
            format!(
                "--hostpath-provisioner-dir={}",
                layout.root().join("volumes").display()
            ),
            format!("--secure-port={CONTROLLER_MANAGER_PORT}"),
            "--bind-address=127.0.0.1".into(),
        ]
        .into_iter()
        .chain(secure_serving_args(
            layout,
            "kube-controller-manager",
            crate::pki::CONTROLLER_MANAGER_SERVING_CERT_NAME,
        ))
        .collect(),
        ports: vec![CONTROLLER_MANAGER_PORT],
        probe: Probe::Https {
            addr: loopback(CONTROLLER_MANAGER_PORT),
            path: "/healthz".into(),
            ca_file: layout.pki_dir().join("ca.crt"),
        },
        ready_timeout: Duration::from_secs(30),
        install_hint: "build it with `make build` (it is looked up next to the corten binary, then on PATH)",
    }
}

/// One local node: no leader election (like the controller-manager); its
/// own identity `system:kube-scheduler` (RBAC role of the same name).
fn kube_scheduler(layout: &StateLayout) -> Component {
    Component {
        name: "kube-scheduler",
        program: process::find_program("kube-scheduler")
            .unwrap_or_else(|| PathBuf::from("kube-scheduler")),
        args: vec![
            format!(
                "--kubeconfig={}",
                crate::kubeconfig::component_kubeconfig_path(layout, "kube-scheduler").display()
            ),
            "--leader-elect=false".into(),
            format!("--secure-port={SCHEDULER_PORT}"),
            "--bind-address=127.0.0.1".into(),
        ]
        .into_iter()
        .chain(secure_serving_args(
            layout,
            "kube-scheduler",
            crate::pki::SCHEDULER_SERVING_CERT_NAME,
        ))
        .collect(),
        ports: vec![SCHEDULER_PORT],
        probe: Probe::Https {
            addr: loopback(SCHEDULER_PORT),
            path: "/healthz".into(),
            ca_file: layout.pki_dir().join("ca.crt"),
        },
        ready_timeout: Duration::from_secs(30),
        install_hint: "build it with `make build` (it is looked up next to the corten binary, then on PATH)",
    }
}

/// containerd with Corten's config (root, state and socket under
/// `<state>/containerd`). Building the entry writes its config.toml and the
/// node's CNI config (idempotent), since they must exist before it starts.
fn containerd(layout: &StateLayout) -> Component {
    let config = match crate::images::write_node_files(layout) {
        Ok(config) => config,
        Err(err) => {
            tracing::warn!(error = %format!("{err:#}"), "writing the containerd and CNI config");
            crate::images::containerd_config(layout)
        }
    };
    Component {
        name: "containerd",
        program: PathBuf::from("/usr/bin/containerd"),
        args: config.args(&crate::images::containerd_config_file(layout)),
        ports: vec![crate::images::CONTAINERD_METRICS_PORT],
        probe: Probe::Http {
            addr: loopback(crate::images::CONTAINERD_METRICS_PORT),
            path: "/v1/metrics".into(),
        },
        ready_timeout: Duration::from_secs(30),
        install_hint: "install it with `make deps` (Debian packages containerd runc containernetworking-plugins)",
    }
}

/// The kubelet of the local node, with the node identity from the PKI
/// (`system:node:<hostname>`) and the launcher's containerd. Its API
/// serves a CA-signed certificate, accepts client certificates from the
/// cluster CA and authorizes through SubjectAccessReviews (the defaults);
/// its node IP is the apiserver's advertise address; its pods live under
/// the `/corten` cgroup so `corten down` can remove them.
fn kubelet(config: &ClusterConfig, layout: &StateLayout) -> Component {
    let pki = layout.pki_dir();
    Component {
        name: "kubelet",
        program: process::find_program("kubelet").unwrap_or_else(|| PathBuf::from("kubelet")),
        args: vec![
            format!(
                "--kubeconfig={}",
                crate::kubeconfig::component_kubeconfig_path(layout, "kubelet").display()
            ),
            format!(
                "--container-runtime-endpoint=unix://{}",
                crate::images::containerd_socket(layout).display()
            ),
            format!("--root-dir={}", layout.root().join("kubelet").display()),
            format!(
                "--pod-manifest-path={}",
                layout.root().join("manifests").display()
            ),
            format!("--pod-cidr={}", crate::images::LOCAL_POD_CIDR),
            format!("--cluster-dns={}", cluster_dns_ip(config)),
            format!("--cluster-domain={CLUSTER_DOMAIN}"),
            format!("--node-ip={}", config.advertise_address),
            format!("--client-ca-file={}", pki.join("ca.crt").display()),
            format!(
                "--tls-cert-file={}",
                pki.join("kubelet-server.crt").display()
            ),
            format!(
                "--tls-private-key-file={}",
                pki.join("kubelet-server.key").display()
            ),
            format!("--cgroup-root={}", crate::node_cleanup::LOCAL_CGROUP_ROOT),
            // The local images cannot be pulled again (no registry) and a
            // developer's disk is often fuller than upstream's 85%/15%
            // marks: collect images only on a full disk, and keep the disk
            // signals for a nearly full one.
            "--image-gc-high-threshold=100".into(),
            "--eviction-hard=memory.available<100Mi,nodefs.available<2%,nodefs.inodesFree<2%,imagefs.available<2%".into(),
        ],
        ports: vec![10250, 10248],
        probe: Probe::Http {
            addr: loopback(10248),
            path: "/healthz".into(),
        },
        ready_timeout: Duration::from_secs(60),
        install_hint: "build it with `make build` (it is looked up next to the corten binary, then on PATH)",
    }
}

/// kube-proxy (nftables mode) with its own identity (`system:kube-proxy`,
/// bound to `system:node-proxier`). It programs the host's `kube-proxy`
/// nftables tables; `kube-proxy --cleanup` removes them.
fn kube_proxy(layout: &StateLayout) -> Component {
    Component {
        name: "kube-proxy",
        program: process::find_program("kube-proxy").unwrap_or_else(|| PathBuf::from("kube-proxy")),
        args: vec![
            format!(
                "--kubeconfig={}",
                crate::kubeconfig::component_kubeconfig_path(layout, "kube-proxy").display()
            ),
            "--proxy-mode=nftables".into(),
            format!("--cluster-cidr={}", crate::images::LOCAL_POD_CIDR),
            format!("--hostname-override={}", crate::pki::local_node_name()),
            format!("--healthz-bind-address=127.0.0.1:{PROXY_HEALTHZ_PORT}"),
            format!("--metrics-bind-address=127.0.0.1:{PROXY_METRICS_PORT}"),
        ],
        ports: vec![PROXY_HEALTHZ_PORT, PROXY_METRICS_PORT],
        probe: Probe::Http {
            addr: loopback(PROXY_HEALTHZ_PORT),
            path: "/healthz".into(),
        },
        ready_timeout: Duration::from_secs(30),
        install_hint: "build it with `make build` (it is looked up next to the corten binary, then on PATH); it needs nft (`make deps`)",
    }
}

/// The cluster DNS on the pod bridge address (bound before the bridge
/// exists, with IP_FREEBIND), published as `kube-system/kube-dns` with the
/// 10th service IP. It runs as `system:corten-dns`, with the roles of
/// `deploy/dns/rbac.yaml` (applied by `corten up` once the apiserver is
/// ready): read Services and EndpointSlices, publish `kube-dns`.
fn cluster_dns(config: &ClusterConfig, layout: &StateLayout) -> Component {
    let [health, ready, metrics] = DNS_OPS_PORTS;
    Component {
        name: "corten-dns",
        program: process::find_program("corten-dns").unwrap_or_else(|| PathBuf::from("corten-dns")),
        args: vec![
            format!(
                "--kubeconfig={}",
                crate::kubeconfig::component_kubeconfig_path(layout, "corten-dns").display()
            ),
            format!("--cluster-domain={CLUSTER_DOMAIN}"),
            format!("--listen={}", SocketAddr::new(bridge_gateway(), DNS_PORT)),
            "--freebind".into(),
            format!("--kube-dns-service-ip={}", cluster_dns_ip(config)),
            format!("--hostname-override={}", crate::pki::local_node_name()),
            "--resolv-conf=/etc/resolv.conf".into(),
            format!("--health-address=127.0.0.1:{health}"),
            format!("--ready-address=127.0.0.1:{ready}"),
            format!("--metrics-address=127.0.0.1:{metrics}"),
        ],
        ports: DNS_OPS_PORTS.to_vec(),
        probe: Probe::Http {
            addr: loopback(ready),
            path: "/ready".into(),
        },
        ready_timeout: Duration::from_secs(30),
        install_hint: "build it with `make build` (it is looked up next to the corten binary, then on PATH)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_then_apiserver_with_the_configured_ports() {
        let dir = tempfile::tempdir().unwrap();
        let layout = StateLayout::new(dir.path()).unwrap();
        let config = ClusterConfig {
            etcd_client_port: 12379,
            etcd_peer_port: 12380,
            secure_port: 16443,
            advertise_address: IpAddr::from([192, 168, 1, 5]),
            ..ClusterConfig::default()
        };
        let components = cluster_components(&config, &layout);
        let names: Vec<&str> = components.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "etcd",
                "kube-apiserver",
                "kube-controller-manager",
                "kube-scheduler",
                "containerd",
                "kubelet",
                "kube-proxy",
                "corten-dns"
            ]
        );
        let kubelet = components[5].args.join(" ");
        assert!(kubelet.contains("--cluster-dns=10.96.0.10"), "{kubelet}");
        let dns = components[7].args.join(" ");
        assert!(dns.contains("--listen=10.244.0.1:10053"), "{dns}");
        assert!(dns.contains("--kube-dns-service-ip=10.96.0.10"), "{dns}");

        let etcd = &components[0];
        let args = etcd.args.join(" ");
        assert!(
            args.contains("--listen-client-urls http://127.0.0.1:12379"),
            "{args}"
        );
        assert!(
            args.contains("--initial-cluster corten=http://127.0.0.1:12380"),
            "{args}"
        );
        assert!(
            args.contains(&format!("--data-dir {}", layout.etcd_data_dir().display())),
            "{args}"
        );
        assert_eq!(etcd.ports, [12379, 12380]);

        let apiserver = &components[1];
        let expected = [
            "--etcd-servers=http://127.0.0.1:12379".to_string(),
            "--secure-port=16443".to_string(),
            "--bind-address=127.0.0.1".to_string(),
            format!(
                "--tls-cert-file={}",
                layout.pki_dir().join("apiserver.crt").display()
            ),
            format!(
                "--tls-private-key-file={}",
                layout.pki_dir().join("apiserver.key").display()
            ),
            "--service-cluster-ip-range=10.96.0.0/12".to_string(),
            "--service-node-port-range=30000-32767".to_string(),
            "--advertise-address=192.168.1.5".to_string(),
            format!(
                "--client-ca-file={}",
                layout.pki_dir().join("ca.crt").display()
            ),
            format!(
                "--service-account-key-file={}",
                layout.pki_dir().join("sa.pub").display()
            ),
            format!(
                "--service-account-signing-key-file={}",
                layout.pki_dir().join("sa.key").display()
            ),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".to_string(),
            "--authorization-mode=Node,RBAC".to_string(),
            "--enable-admission-plugins=NodeRestriction".to_string(),
            format!(
                "--kubelet-client-certificate={}",
                layout
                    .pki_dir()
                    .join("apiserver-kubelet-client.crt")
                    .display()
            ),
            format!(
                "--kubelet-client-key={}",
                layout
                    .pki_dir()
                    .join("apiserver-kubelet-client.key")
                    .display()
            ),
            format!(
                "--kubelet-certificate-authority={}",
                layout.pki_dir().join("ca.crt").display()
            ),
            "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname".to_string(),
            format!(
                "--requestheader-client-ca-file={}",
                layout.pki_dir().join("front-proxy-ca.crt").display()
            ),
            "--requestheader-allowed-names=front-proxy-client".to_string(),
            "--requestheader-username-headers=X-Remote-User".to_string(),
            "--requestheader-group-headers=X-Remote-Group".to_string(),
            "--requestheader-uid-headers=X-Remote-Uid".to_string(),
            "--requestheader-extra-headers-prefix=X-Remote-Extra-".to_string(),
            format!(
                "--proxy-client-cert-file={}",
                layout.pki_dir().join("front-proxy-client.crt").display()
            ),
            format!(
                "--proxy-client-key-file={}",
                layout.pki_dir().join("front-proxy-client.key").display()
            ),
            "--enable-aggregator-routing=true".to_string(),
        ];
        assert_eq!(apiserver.args, expected);
        assert_eq!(apiserver.probe.url(), "https://127.0.0.1:16443/readyz");
        let spec = apiserver.process_spec(&layout);
        assert_eq!(spec.log_file, layout.log_file("kube-apiserver"));
        assert_eq!(spec.pid_file, layout.pid_file("kube-apiserver"));

        let kcm = &components[2];
        let expected = [
            format!(
                "--kubeconfig={}",
                layout
                    .root()
                    .join("kube-controller-manager.kubeconfig")
                    .display()
            ),
            "--use-service-account-credentials=true".to_string(),
            format!(
                "--root-ca-file={}",
                layout.pki_dir().join("ca.crt").display()
            ),
            "--leader-elect=false".to_string(),
            format!(
                "--service-account-private-key-file={}",
                layout.pki_dir().join("sa.key").display()
            ),
            format!(
                "--cluster-signing-cert-file={}",
                layout.pki_dir().join("ca.crt").display()
            ),
            format!(
                "--cluster-signing-key-file={}",
                layout.pki_dir().join("ca.key").display()
            ),
            format!(
                "--hostpath-provisioner-dir={}",
                layout.root().join("volumes").display()
            ),
            "--secure-port=10257".to_string(),
            "--bind-address=127.0.0.1".to_string(),
            format!(
                "--authentication-kubeconfig={}",
                layout
                    .root()
                    .join("kube-controller-manager.kubeconfig")
                    .display()
            ),
            format!(
                "--authorization-kubeconfig={}",
                layout
                    .root()
                    .join("kube-controller-manager.kubeconfig")
                    .display()
            ),
            format!(
                "--client-ca-file={}",
                layout.pki_dir().join("ca.crt").display()
            ),
            format!(
                "--tls-cert-file={}",
                layout
                    .pki_dir()
                    .join("kube-controller-manager-server.crt")
                    .display()
            ),
            format!(
                "--tls-private-key-file={}",
                layout
                    .pki_dir()
                    .join("kube-controller-manager-server.key")
                    .display()
            ),
        ];
        assert_eq!(kcm.args, expected);
        assert_eq!(kcm.ports, [10257]);
        assert_eq!(kcm.probe.url(), "https://127.0.0.1:10257/healthz");

        let scheduler = &components[3];
        assert_eq!(
            scheduler.args,
            [
                format!(
                    "--kubeconfig={}",
                    layout.root().join("kube-scheduler.kubeconfig").display()
                ),
                "--leader-elect=false".to_string(),
                "--secure-port=10259".to_string(),
                "--bind-address=127.0.0.1".to_string(),
                format!(
                    "--authentication-kubeconfig={}",
                    layout.root().join("kube-scheduler.kubeconfig").display()
                ),
                format!(
                    "--authorization-kubeconfig={}",
                    layout.root().join("kube-scheduler.kubeconfig").display()
                ),
                format!(
                    "--client-ca-file={}",
                    layout.pki_dir().join("ca.crt").display()
                ),
                format!(
                    "--tls-cert-file={}",
                    layout.pki_dir().join("kube-scheduler-server.crt").display()
                ),
                format!(
                    "--tls-private-key-file={}",
                    layout.pki_dir().join("kube-scheduler-server.key").display()
                ),
            ]
        );
        assert_eq!(scheduler.ports, [10259]);
        assert_eq!(scheduler.probe.url(), "https://127.0.0.1:10259/healthz");
    }
}
