//! `corten images build`: the images a machine without a registry needs
//! (pause, busybox, the test server), built from local files as OCI layout
//! tarballs and imported into containerd's `k8s.io` namespace with `ctr`.
//!
//! ```text
//! corten images build [--state-dir DIR] [--output DIR] [--containerd-address SOCK]
//!                     [--no-import] [--busybox PATH] [--testserver PATH] [--ctr PATH]
//! ```
//!
//! By default the tarballs go to `<state>/images/` and are imported into the
//! containerd that `corten up` runs (`<state>/containerd/containerd.sock`).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use corten_cri::containerd::{CniNetwork, ContainerdConfig, write_cni_config};
use corten_cri::local_images::{self, Sources};

use crate::process;
use crate::state::StateLayout;

/// Options of `corten images build`.
#[derive(clap::Args, Debug, Clone)]
pub struct BuildArgs {
    /// Where to write the OCI layout tarballs (default: <state-dir>/images).
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// containerd socket to import into (default: <state-dir>/containerd/containerd.sock).
    #[arg(long, value_name = "SOCK")]
    pub containerd_address: Option<PathBuf>,
    /// Only write the tarballs.
    #[arg(long)]
    pub no_import: bool,
    /// A statically linked busybox.
    #[arg(long, value_name = "PATH", default_value = local_images::DEFAULT_BUSYBOX)]
    pub busybox: PathBuf,
    /// The corten-testserver binary (default: next to corten, then on PATH).
    #[arg(long, value_name = "PATH")]
    pub testserver: Option<PathBuf>,
    /// The ctr binary.
    #[arg(long, value_name = "PATH", default_value = "/usr/bin/ctr")]
    pub ctr: PathBuf,
}

/// The containerd directory of a state directory (config, root, state, socket).
pub fn containerd_dir(layout: &StateLayout) -> PathBuf {
    layout.root().join("containerd")
}

/// The socket of the containerd `corten up` runs.
pub fn containerd_socket(layout: &StateLayout) -> PathBuf {
    containerd_dir(layout).join("containerd.sock")
}

/// The local node's pod CIDR (the CNI bridge's subnet).
pub const LOCAL_POD_CIDR: &str = "10.244.0.0/24";
/// The local node's CNI bridge.
pub const LOCAL_BRIDGE: &str = "corten0";
/// containerd's metrics endpoint on 127.0.0.1, used as its readiness probe.
pub const CONTAINERD_METRICS_PORT: u16 = 1338;

/// The configuration of the containerd `corten up` runs:
/// `<state>/containerd/{root,state,containerd.sock,cni/net.d}`.
pub fn containerd_config(layout: &StateLayout) -> ContainerdConfig {
    let mut config = ContainerdConfig::under(&containerd_dir(layout));
    config.metrics_address = Some(format!("127.0.0.1:{CONTAINERD_METRICS_PORT}"));
    config
}

/// `<state>/containerd/config.toml`.
pub fn containerd_config_file(layout: &StateLayout) -> PathBuf {
    containerd_dir(layout).join("config.toml")
}

/// Writes containerd's `config.toml` and the node's CNI config (bridge
/// `corten0` with host-local IPAM on [`LOCAL_POD_CIDR`], portmap, loopback).
/// Idempotent.
pub fn write_node_files(layout: &StateLayout) -> anyhow::Result<ContainerdConfig> {
    let config = containerd_config(layout);
    std::fs::create_dir_all(containerd_dir(layout))
        .with_context(|| format!("creating {}", containerd_dir(layout).display()))?;
    let file = containerd_config_file(layout);
    let text = config.render();
    if std::fs::read_to_string(&file).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
    }
    write_cni_config(
        &config.cni_conf_dir,
        &CniNetwork {
            name: "corten".into(),
            bridge: LOCAL_BRIDGE.into(),
            subnet: LOCAL_POD_CIDR.into(),
            ip_masq: true,
            ipam_data_dir: Some(containerd_dir(layout).join("ipam")),
        },
    )
    .with_context(|| {
        format!(
            "writing the CNI config to {}",
            config.cni_conf_dir.display()
        )
    })?;
    Ok(config)
}

/// Runs `corten images build`.
pub fn build(layout: &StateLayout, args: &BuildArgs) -> anyhow::Result<()> {
    if !args.busybox.is_file() {
        bail!(
            "{} not found: install busybox-static (`make deps`) or pass --busybox",
            args.busybox.display()
        );
    }
    let testserver = match &args.testserver {
        Some(path) if path.is_file() => Some(path.clone()),
        Some(path) => bail!("--testserver {} does not exist", path.display()),
        None => process::find_program("corten-testserver"),
    };
    if testserver.is_none() {
        eprintln!(
            "warning: corten-testserver not found (build it with `make build`); skipping {}",
            local_images::TESTSERVER_IMAGE
        );
    }
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| layout.root().join("images"));
    let built = local_images::build_all(
        &Sources {
            busybox: args.busybox.clone(),
            testserver,
        },
        &output,
    )
    .with_context(|| format!("building images into {}", output.display()))?;
    for image in &built {
        println!("built    {:<36} {}", image.name, image.path.display());
    }
    if args.no_import {
        return Ok(());
    }
    let address = args
        .containerd_address
        .clone()
        .unwrap_or_else(|| containerd_socket(layout));
    import_all(&args.ctr, &address, &built)
}

/// What `corten up` does once containerd is ready: builds and imports the
/// local images that containerd does not have yet (the pause image first of
/// all, without which no pod starts). Returns the names imported.
pub fn ensure_imported(layout: &StateLayout) -> anyhow::Result<Vec<String>> {
    let ctr = Path::new("/usr/bin/ctr");
    let address = containerd_socket(layout);
    let listed = std::process::Command::new(ctr)
        .arg("--address")
        .arg(&address)
        .args([
            "--namespace",
            local_images::CRI_NAMESPACE,
            "images",
            "ls",
            "-q",
        ])
        .output()
        .with_context(|| format!("running {} images ls", ctr.display()))?;
    if !listed.status.success() {
        bail!(
            "listing containerd's images failed: {}",
            String::from_utf8_lossy(&listed.stderr).trim()
        );
    }
    let present = String::from_utf8_lossy(&listed.stdout).into_owned();
    let present: Vec<&str> = present.lines().map(str::trim).collect();
    let testserver = process::find_program("corten-testserver");
    let mut wanted = vec![local_images::PAUSE_IMAGE, local_images::BUSYBOX_IMAGE];
    if testserver.is_some() {
        wanted.push(local_images::TESTSERVER_IMAGE);
        wanted.push(local_images::TESTSERVER_PINNED_IMAGE);
    }
    if wanted.iter().all(|w| present.contains(w)) {
        return Ok(Vec::new());
    }
    let busybox = PathBuf::from(local_images::DEFAULT_BUSYBOX);
    if !busybox.is_file() {
        bail!(
            "{} not found: install busybox-static (`make deps`) to build the local images",
            busybox.display()
        );
    }
    let built = local_images::build_all(
        &Sources {
            busybox,
            testserver,
        },
        &layout.root().join("images"),
    )
    .context("building the local images")?;
    let mut imported = Vec::new();
    for image in built.iter().filter(|i| !present.contains(&i.name.as_str())) {
        local_images::import(ctr, &address, &image.path)
            .with_context(|| format!("importing {}", image.name))?;
        imported.push(image.name.clone());
    }
    Ok(imported)
}

fn import_all(
    ctr: &Path,
    address: &Path,
    built: &[local_images::BuiltImage],
) -> anyhow::Result<()> {
    if !address.exists() {
        bail!(
            "containerd socket {} does not exist: start containerd (`corten up`) or pass --containerd-address, or use --no-import",
            address.display()
        );
    }
    for image in built {
        local_images::import(ctr, address, &image.path)
            .with_context(|| format!("importing {}", image.name))?;
        println!("imported {:<36} {}", image.name, image.id);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_files() {
        let dir = tempfile::tempdir().unwrap();
        let layout = StateLayout::new(dir.path()).unwrap();
        let config = write_node_files(&layout).unwrap();
        let toml = std::fs::read_to_string(containerd_config_file(&layout)).unwrap();
        assert!(toml.contains("restrict_oom_score_adj = true"), "{toml}");
        assert!(toml.contains("address = \"127.0.0.1:1338\""), "{toml}");
        let conflist =
            std::fs::read_to_string(config.cni_conf_dir.join("10-corten.conflist")).unwrap();
        assert!(
            conflist.contains("10.244.0.0/24") && conflist.contains("corten0"),
            "{conflist}"
        );
        write_node_files(&layout).unwrap();
    }

    #[test]
    fn writes_tarballs_without_importing() {
        if !Path::new(local_images::DEFAULT_BUSYBOX).exists() {
            eprintln!("skipping: busybox-static missing");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let layout = StateLayout::new(dir.path()).unwrap();
        let args = BuildArgs {
            output: None,
            containerd_address: None,
            no_import: true,
            busybox: PathBuf::from(local_images::DEFAULT_BUSYBOX),
            testserver: None,
            ctr: PathBuf::from("/usr/bin/ctr"),
        };
        build(&layout, &args).unwrap();
        assert!(dir.path().join("images/pause-3.10.oci.tar").is_file());
        assert!(dir.path().join("images/busybox-latest.oci.tar").is_file());
        let missing = BuildArgs {
            no_import: false,
            ..args
        };
        let err = build(&layout, &missing).unwrap_err();
        assert!(format!("{err:#}").contains("does not exist"), "{err:#}");
    }
}
