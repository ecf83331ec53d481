//! The default StorageClass of a local cluster (`standard`, served by the
//! controller-manager's `corten.io/hostpath` provisioner), created with
//! kubectl once the control plane is up, like kind's default class. An
//! existing `standard` class is left as the user made it.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use crate::process::find_program;

/// The manifest (also in `deploy/storage/standard-storageclass.yaml`).
pub const MANIFEST: &str = include_str!("../../../deploy/storage/standard-storageclass.yaml");

/// Creates the class unless it exists. `Ok(true)` when it was created.
pub fn ensure_default_storage_class(kubeconfig: &Path) -> anyhow::Result<bool> {
    let kubectl = find_program("kubectl").context("kubectl is not on PATH")?;
    let kubeconfig = format!("--kubeconfig={}", kubeconfig.display());
    let existing = Command::new(&kubectl)
        .args([
            kubeconfig.as_str(),
            "get",
            "storageclass",
            "standard",
            "-o",
            "name",
        ])
        .output()
        .context("running kubectl")?;
    if existing.status.success() {
        return Ok(false);
    }
    let mut child = Command::new(&kubectl)
        .args([kubeconfig.as_str(), "create", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("running kubectl")?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        stdin
            .write_all(MANIFEST.as_bytes())
            .context("writing the StorageClass to kubectl")?;
    }
    let out = child.wait_with_output().context("running kubectl")?;
    if !out.status.success() {
        bail!(
            "kubectl create: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_is_the_default_hostpath_class() {
        let v: serde_yaml::Value = serde_yaml::from_str(MANIFEST).unwrap();
        assert_eq!(v["metadata"]["name"], "standard");
        assert_eq!(
            v["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"],
            "true"
        );
        assert_eq!(v["provisioner"], "corten.io/hostpath");
        assert_eq!(v["volumeBindingMode"], "WaitForFirstConsumer");
    }
}
