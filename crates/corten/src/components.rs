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
    ]
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

/// One local node: no leader election (a restarted controller-manager
/// starts at once instead of waiting for its old Lease to expire). It uses
/// the admin kubeconfig until the security work gives it its own identity.
fn kube_controller_manager(layout: &StateLayout) -> Component {
    Component {
        name: "kube-controller-manager",
        program: process::find_program("kube-controller-manager")
            .unwrap_or_else(|| PathBuf::from("kube-controller-manager")),
        args: vec![
            format!("--kubeconfig={}", layout.admin_kubeconfig().display()),
            format!(
                "--root-ca-file={}",
                layout.pki_dir().join("ca.crt").display()
            ),
            "--leader-elect=false".into(),
            format!("--secure-port={CONTROLLER_MANAGER_PORT}"),
            "--bind-address=127.0.0.1".into(),
        ],
        ports: vec![CONTROLLER_MANAGER_PORT],
        probe: Probe::Http {
            addr: loopback(CONTROLLER_MANAGER_PORT),
            path: "/healthz".into(),
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
        assert_eq!(names, ["etcd", "kube-apiserver", "kube-controller-manager"]);

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
        ];
        assert_eq!(apiserver.args, expected);
        assert_eq!(apiserver.probe.url(), "https://127.0.0.1:16443/readyz");
        let spec = apiserver.process_spec(&layout);
        assert_eq!(spec.log_file, layout.log_file("kube-apiserver"));
        assert_eq!(spec.pid_file, layout.pid_file("kube-apiserver"));

        let kcm = &components[2];
        let expected = [
            format!("--kubeconfig={}", layout.admin_kubeconfig().display()),
            format!(
                "--root-ca-file={}",
                layout.pki_dir().join("ca.crt").display()
            ),
            "--leader-elect=false".to_string(),
            "--secure-port=10257".to_string(),
            "--bind-address=127.0.0.1".to_string(),
        ];
        assert_eq!(kcm.args, expected);
        assert_eq!(kcm.ports, [10257]);
        assert_eq!(kcm.probe.url(), "http://127.0.0.1:10257/healthz");
    }
}
