//! The state directory of a local cluster and the settings saved in it.
//!
//! ```text
//! <state>/
//!   .corten-state          marker: this directory belongs to corten (checked before --purge)
//!   cluster.json           settings of the last `corten up` (ports, ranges), read by status/down
//!   admin.kubeconfig       kubeconfig for kubectl
//!   pki/                   ca.crt ca.key apiserver.crt apiserver.key (keys 0600)
//!   etcd/                  etcd data directory
//!   logs/<component>.log   stdout+stderr of each daemon
//!   run/<component>.pid    pid of each running daemon
//! ```

use std::fs;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// Paths inside a state directory.
#[derive(Clone, Debug)]
pub struct StateLayout {
    root: PathBuf,
}

impl StateLayout {
    /// A layout rooted at `root`, made absolute against the current directory.
    pub fn new(root: &Path) -> anyhow::Result<Self> {
        let root = std::path::absolute(root)
            .with_context(|| format!("resolving state directory {}", root.display()))?;
        Ok(Self { root })
    }

    /// The state directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Certificates and keys.
    pub fn pki_dir(&self) -> PathBuf {
        self.root.join("pki")
    }

    /// etcd's `--data-dir`.
    pub fn etcd_data_dir(&self) -> PathBuf {
        self.root.join("etcd")
    }

    /// Daemon logs.
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// Pid files.
    pub fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    /// `logs/<component>.log`.
    pub fn log_file(&self, component: &str) -> PathBuf {
        self.logs_dir().join(format!("{component}.log"))
    }

    /// `run/<component>.pid`.
    pub fn pid_file(&self, component: &str) -> PathBuf {
        self.run_dir().join(format!("{component}.pid"))
    }

    /// The admin kubeconfig written by `corten up`.
    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.root.join("admin.kubeconfig")
    }

    /// Settings of the last `corten up`.
    pub fn config_file(&self) -> PathBuf {
        self.root.join("cluster.json")
    }

    /// Marker proving the directory was created by corten.
    pub fn marker_file(&self) -> PathBuf {
        self.root.join(".corten-state")
    }

    /// Whether the directory carries the corten marker.
    pub fn is_corten_state(&self) -> bool {
        self.marker_file().is_file()
    }

    /// Creates the directory tree (idempotent). The root, `pki/` and `run/`
    /// are private to the user (0700).
    pub fn create(&self) -> anyhow::Result<()> {
        for dir in [self.root.clone(), self.pki_dir(), self.run_dir()] {
            create_dir_with_mode(&dir, 0o700)?;
        }
        create_dir_with_mode(&self.logs_dir(), 0o755)?;
        let marker = self.marker_file();
        if !marker.exists() {
            fs::write(
                &marker,
                "This directory holds the state of a local Corten cluster (corten up).\n",
            )
            .with_context(|| format!("writing {}", marker.display()))?;
        }
        Ok(())
    }
}

fn create_dir_with_mode(dir: &Path, mode: u32) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting permissions of {}", dir.display()))
}

/// Upstream's default `--service-cluster-ip-range` in kubeadm clusters.
pub const DEFAULT_SERVICE_CLUSTER_IP_RANGE: ipnet::IpNet = ipnet::IpNet::V4(
    ipnet::Ipv4Net::new_assert(std::net::Ipv4Addr::new(10, 96, 0, 0), 12),
);

/// The settings of a local cluster, saved as `cluster.json` by `corten up`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterConfig {
    /// etcd client port on 127.0.0.1.
    pub etcd_client_port: u16,
    /// etcd peer port on 127.0.0.1.
    pub etcd_peer_port: u16,
    /// kube-apiserver `--secure-port`.
    pub secure_port: u16,
    /// kube-apiserver `--service-cluster-ip-range`.
    pub service_cluster_ip_range: ipnet::IpNet,
    /// kube-apiserver `--service-node-port-range`.
    pub service_node_port_range: String,
    /// kube-apiserver `--advertise-address`.
    pub advertise_address: IpAddr,
    /// Host addresses other than loopback to put into the serving certificate.
    pub host_ips: Vec<IpAddr>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            etcd_client_port: 2379,
            etcd_peer_port: 2380,
            secure_port: 6443,
            service_cluster_ip_range: DEFAULT_SERVICE_CLUSTER_IP_RANGE,
            service_node_port_range: "30000-32767".to_string(),
            advertise_address: IpAddr::from([127, 0, 0, 1]),
            host_ips: Vec::new(),
        }
    }
}

impl ClusterConfig {
    /// The first address of the service range, which the `kubernetes`
    /// Service (and so the serving certificate) uses: 10.96.0.1 by default.
    pub fn first_service_ip(&self) -> IpAddr {
        first_ip(&self.service_cluster_ip_range)
    }

    /// The apiserver URL clients use.
    pub fn apiserver_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.secure_port)
    }

    /// etcd's client URL.
    pub fn etcd_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.etcd_client_port)
    }

    /// Reads `cluster.json`, or `None` if it does not exist.
    pub fn load(layout: &StateLayout) -> anyhow::Result<Option<Self>> {
        let path = layout.config_file();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
        };
        let config =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        Ok(Some(config))
    }

    /// Writes `cluster.json`.
    pub fn save(&self, layout: &StateLayout) -> anyhow::Result<()> {
        let path = layout.config_file();
        let text = serde_json::to_string_pretty(self).context("serializing cluster.json")?;
        fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))
    }
}

/// The first usable address of a network (network address + 1).
pub fn first_ip(net: &ipnet::IpNet) -> IpAddr {
    match net {
        ipnet::IpNet::V4(v4) => {
            IpAddr::from((u32::from(v4.network()).wrapping_add(1)).to_be_bytes())
        }
        ipnet::IpNet::V6(v6) => {
            IpAddr::from((u128::from(v6.network()).wrapping_add(1)).to_be_bytes())
        }
    }
}

/// The host's primary address: the source address the kernel would use for
/// the default route. Connecting a UDP socket only selects a route; no packet
/// is sent. `None` when there is no default route.
pub fn primary_host_ip() -> Option<IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    // TEST-NET-1 (RFC 5737): never contacted, only used for route selection.
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_service_range_gives_10_96_0_1() {
        let config = ClusterConfig::default();
        assert_eq!(config.first_service_ip(), IpAddr::from([10, 96, 0, 1]));
        let v6: ipnet::IpNet = "fd00:10:96::/108".parse().unwrap();
        assert_eq!(first_ip(&v6), "fd00:10:96::1".parse::<IpAddr>().unwrap());
        // A host address inside the range still yields the network's first IP.
        let odd: ipnet::IpNet = "10.0.0.77/24".parse().unwrap();
        assert_eq!(first_ip(&odd), IpAddr::from([10, 0, 0, 1]));
    }

    #[test]
    fn layout_and_config_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let layout = StateLayout::new(&dir.path().join("state")).unwrap();
        layout.create().unwrap();
        assert!(layout.is_corten_state());
        assert!(
            layout.pki_dir().is_dir() && layout.run_dir().is_dir() && layout.logs_dir().is_dir()
        );
        let mode = fs::metadata(layout.pki_dir()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert_eq!(layout.pid_file("etcd"), layout.root().join("run/etcd.pid"));

        assert_eq!(ClusterConfig::load(&layout).unwrap(), None);
        let config = ClusterConfig {
            secure_port: 7443,
            host_ips: vec![IpAddr::from([192, 168, 1, 2])],
            ..ClusterConfig::default()
        };
        config.save(&layout).unwrap();
        assert_eq!(ClusterConfig::load(&layout).unwrap(), Some(config));
    }

    #[test]
    fn relative_state_dir_becomes_absolute() {
        let layout = StateLayout::new(Path::new(".corten")).unwrap();
        assert!(layout.root().is_absolute());
        assert!(layout.root().ends_with(".corten"));
    }
}
