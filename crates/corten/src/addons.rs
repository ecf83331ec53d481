//! What `corten up` creates in the cluster with the admin kubeconfig, like
//! kubeadm's and kind's addon phases: the RBAC of corten-dns (before it
//! starts) and the default StorageClass (`standard`, served by the
//! controller-manager's `corten.io/hostpath` provisioner; an existing
//! `standard` class is left as the user made it).

use std::path::Path;
use std::process::{Command, Output};

use anyhow::{Context, bail};

use crate::process::find_program;

/// The StorageClass manifest (`deploy/storage/standard-storageclass.yaml`).
pub const MANIFEST: &str = include_str!("../../../deploy/storage/standard-storageclass.yaml");

/// corten-dns's roles and bindings (`deploy/dns/rbac.yaml`).
pub const DNS_RBAC: &str = include_str!("../../../deploy/dns/rbac.yaml");

/// Runs kubectl with `kubeconfig`, feeding `stdin` if given.
fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> anyhow::Result<Output> {
    let kubectl = find_program("kubectl").context("kubectl is not on PATH")?;
    let mut child = Command::new(&kubectl)
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .args(args)
        .stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("running kubectl")?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        pipe.write_all(text.as_bytes())
            .context("writing a manifest to kubectl")?;
    }
    child.wait_with_output().context("running kubectl")
}

fn check(out: Output, what: &str) -> anyhow::Result<()> {
    if !out.status.success() {
        bail!(
            "kubectl {what}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Applies corten-dns's RBAC (server-side, so re-running `up` converges).
pub fn apply_dns_rbac(kubeconfig: &Path) -> anyhow::Result<()> {
    let out = kubectl(
        kubeconfig,
        &[
            "apply",
            "--server-side",
            "--field-manager=corten",
            "-f",
            "-",
        ],
        Some(DNS_RBAC),
    )?;
    check(out, "apply")
}

/// Creates the class unless it exists. `Ok(true)` when it was created.
pub fn ensure_default_storage_class(kubeconfig: &Path) -> anyhow::Result<bool> {
    let existing = kubectl(
        kubeconfig,
        &["get", "storageclass", "standard", "-o", "name"],
        None,
    )?;
    if existing.status.success() {
        return Ok(false);
    }
    check(
        kubectl(kubeconfig, &["create", "-f", "-"], Some(MANIFEST))?,
        "create",
    )?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_rbac_grants_only_what_corten_dns_uses() {
        let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(DNS_RBAC)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]
        );
        for binding in [&docs[1], &docs[3]] {
            assert_eq!(binding["subjects"][0]["name"], "system:corten-dns");
        }
        // Cluster-wide it only reads.
        for rule in docs[0]["rules"].as_sequence().unwrap() {
            let verbs: Vec<&str> = rule["verbs"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(verbs, ["list", "watch"]);
        }
        assert_eq!(docs[2]["metadata"]["namespace"], "kube-system");
    }

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
