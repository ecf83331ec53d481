//! Corten's containerd configuration, and the CNI network config a node
//! writes for it.
//!
//! Three settings are required on machines like ours (see
//! `deploy/containerd/config.toml` and docs/kubelet.md):
//!
//! 1. `restrict_oom_score_adj = true`: without CAP_SYS_RESOURCE runc cannot
//!    lower `oom_score_adj` (the sandbox asks for -998) and fails;
//! 2. CNI binaries in `/usr/lib/cni` (Debian) and a `conf_dir` the node
//!    writes ([`cni_config`]);
//! 3. `sandbox_image` = the locally built pause image, since no registry can
//!    be reached.
//!
//! Every instance gets its own `root`, `state` and socket `address`, so a
//! launcher-managed or test containerd never touches a system one.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::local_images::PAUSE_IMAGE;

/// Where Debian's containernetworking-plugins installs the CNI plugins.
pub const DEBIAN_CNI_BIN_DIR: &str = "/usr/lib/cni";

/// Settings of one containerd instance.
#[derive(Clone, Debug)]
pub struct ContainerdConfig {
    /// Persistent data (`--root`): images, snapshots, container metadata.
    pub root: PathBuf,
    /// Runtime state (`--state`): sockets of shims, mounted rootfs.
    pub state: PathBuf,
    /// The gRPC socket (`--address`) the kubelet and `ctr` use.
    pub address: PathBuf,
    /// CNI network configs (the node writes [`cni_config`] here).
    pub cni_conf_dir: PathBuf,
    /// CNI plugin binaries.
    pub cni_bin_dir: PathBuf,
    /// The sandbox (pause) image.
    pub sandbox_image: String,
    /// `host:port` of containerd's plain-HTTP metrics endpoint (`/v1/metrics`),
    /// which also serves as a readiness probe; `None` disables it.
    pub metrics_address: Option<String>,
}

impl ContainerdConfig {
    /// An instance whose root, state, socket and CNI config all live under `dir`.
    pub fn under(dir: &Path) -> Self {
        Self {
            root: dir.join("root"),
            state: dir.join("state"),
            address: dir.join("containerd.sock"),
            cni_conf_dir: dir.join("cni/net.d"),
            cni_bin_dir: PathBuf::from(DEBIAN_CNI_BIN_DIR),
            sandbox_image: PAUSE_IMAGE.to_string(),
            metrics_address: None,
        }
    }

    /// The containerd `config.toml` (version 2 schema, containerd 1.6+).
    pub fn render(&self) -> String {
        let q = |p: &Path| toml_string(&p.display().to_string());
        format!(
            r#"# Corten's containerd configuration (generated).
version = 2
root = {root}
state = {state}

[grpc]
  address = {address}

[plugins."io.containerd.grpc.v1.cri"]
  # The pause image is built locally by `corten images build`.
  sandbox_image = {sandbox}
  # runc cannot lower oom_score_adj without CAP_SYS_RESOURCE.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = {bin_dir}
    conf_dir = {conf_dir}
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # The kubelet's cgroup driver is cgroupfs.
        SystemdCgroup = false
{metrics}"#,
            root = q(&self.root),
            state = q(&self.state),
            address = q(&self.address),
            sandbox = toml_string(&self.sandbox_image),
            bin_dir = q(&self.cni_bin_dir),
            conf_dir = q(&self.cni_conf_dir),
            metrics = self
                .metrics_address
                .as_deref()
                .map(|a| format!("\n[metrics]\n  address = {}\n", toml_string(a)))
                .unwrap_or_default(),
        )
    }

    /// The command line to run this instance with `config_file`.
    pub fn args(&self, config_file: &Path) -> Vec<String> {
        vec![
            "--config".into(),
            config_file.display().to_string(),
            "--root".into(),
            self.root.display().to_string(),
            "--state".into(),
            self.state.display().to_string(),
            "--address".into(),
            self.address.display().to_string(),
        ]
    }
}

fn toml_string(s: &str) -> String {
    // JSON string escaping is valid TOML basic-string escaping.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The node's pod network.
#[derive(Clone, Debug)]
pub struct CniNetwork {
    /// Network name (`corten`).
    pub name: String,
    /// Linux bridge to create (`cni0`; at most 15 characters).
    pub bridge: String,
    /// The node's pod CIDR (`10.244.0.0/24`).
    pub subnet: String,
    /// Masquerade traffic leaving the node (adds iptables rules).
    pub ip_masq: bool,
    /// Where host-local keeps its allocations (`None`: its default,
    /// `/var/lib/cni/networks`).
    pub ipam_data_dir: Option<PathBuf>,
}

/// The CNI files for `network`: `(file name, contents)` for a conflist with
/// bridge (host-local IPAM) + portmap, and the loopback config.
pub fn cni_config(network: &CniNetwork) -> Vec<(String, String)> {
    let mut ipam = json!({
        "type": "host-local",
        "ranges": [[{"subnet": network.subnet}]],
        "routes": [{"dst": "0.0.0.0/0"}],
    });
    if let Some(dir) = &network.ipam_data_dir {
        ipam["dataDir"] = json!(dir.display().to_string());
    }
    let conflist = json!({
        "cniVersion": "1.0.0",
        "name": network.name,
        "plugins": [
            {
                "type": "bridge",
                "bridge": network.bridge,
                "isGateway": true,
                "ipMasq": network.ip_masq,
                "hairpinMode": true,
                "ipam": ipam,
            },
            {"type": "portmap", "capabilities": {"portMappings": true}},
        ],
    });
    let loopback = json!({"cniVersion": "1.0.0", "name": "lo", "type": "loopback"});
    vec![
        (
            "10-corten.conflist".to_string(),
            serde_json::to_string_pretty(&conflist).unwrap_or_default(),
        ),
        (
            "99-loopback.conf".to_string(),
            serde_json::to_string_pretty(&loopback).unwrap_or_default(),
        ),
    ]
}

/// Writes [`cni_config`] into `conf_dir` (created if missing).
pub fn write_cni_config(conf_dir: &Path, network: &CniNetwork) -> std::io::Result<()> {
    std::fs::create_dir_all(conf_dir)?;
    for (name, contents) in cni_config(network) {
        let path = conf_dir.join(&name);
        let tmp = conf_dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, contents)?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_the_required_settings() {
        let mut config = ContainerdConfig::under(Path::new("/var/lib/corten/containerd"));
        config.metrics_address = Some("127.0.0.1:1338".into());
        let text = config.render();
        for needle in [
            "restrict_oom_score_adj = true",
            "bin_dir = \"/usr/lib/cni\"",
            "conf_dir = \"/var/lib/corten/containerd/cni/net.d\"",
            "sandbox_image = \"registry.k8s.io/pause:3.10\"",
            "address = \"/var/lib/corten/containerd/containerd.sock\"",
            "root = \"/var/lib/corten/containerd/root\"",
            "[metrics]\n  address = \"127.0.0.1:1338\"",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
        assert_eq!(
            config.args(Path::new("/c.toml"))[..2],
            ["--config", "/c.toml"]
        );
    }

    #[test]
    fn cni_files() {
        let files = cni_config(&CniNetwork {
            name: "corten".into(),
            bridge: "cni0".into(),
            subnet: "10.244.0.0/24".into(),
            ip_masq: false,
            ipam_data_dir: Some(PathBuf::from("/tmp/ipam")),
        });
        assert_eq!(files[0].0, "10-corten.conflist");
        let conflist: serde_json::Value = serde_json::from_str(&files[0].1).unwrap();
        assert_eq!(conflist["plugins"][0]["type"], "bridge");
        assert_eq!(
            conflist["plugins"][0]["ipam"]["ranges"][0][0]["subnet"],
            "10.244.0.0/24"
        );
        assert_eq!(conflist["plugins"][0]["ipam"]["dataDir"], "/tmp/ipam");
        assert_eq!(conflist["plugins"][1]["type"], "portmap");
        assert_eq!(files[1].0, "99-loopback.conf");
    }
}
