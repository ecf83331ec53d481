//! `corten down`: stop the components in reverse order (the pods through
//! CRI before containerd), remove the node's CNI bridge and pod cgroups;
//! optionally delete the state directory.

use std::time::Duration;

use anyhow::{Context, bail};

use crate::components::cluster_components;
use crate::process::{self, StopOutcome};
use crate::state::{ClusterConfig, StateLayout};

/// How long each component gets between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// Stops the cluster; with `purge`, deletes its state directory too.
pub async fn down(layout: &StateLayout, purge: bool) -> anyhow::Result<()> {
    if !layout.root().exists() {
        println!(
            "nothing to stop: {} does not exist",
            layout.root().display()
        );
        return Ok(());
    }
    let config = ClusterConfig::load(layout)?.unwrap_or_default();
    let mut components = cluster_components(&config, layout);
    components.reverse();
    for component in &components {
        let pid_file = layout.pid_file(component.name);
        let Some(pid) = process::read_pid(&pid_file) else {
            println!("{:<16} not running", component.name);
            continue;
        };
        if component.name == "containerd"
            && process::running_pid(&pid_file, &component.program).is_some()
        {
            // The kubelet is already stopped, so nothing restarts them.
            match crate::node_cleanup::remove_pods(layout).await {
                Ok(0) => {}
                Ok(n) => println!(
                    "{:<16} removed {n} pod sandbox(es) and their containers",
                    "pods"
                ),
                Err(err) => eprintln!("warning: removing pods through CRI: {err:#}"),
            }
        }
        let outcome = process::stop(pid, &component.program, STOP_GRACE)
            .with_context(|| format!("stopping {} (pid {pid})", component.name))?;
        match outcome {
            StopOutcome::Terminated => println!("{:<16} stopped (pid {pid})", component.name),
            StopOutcome::Killed => println!(
                "{:<16} killed (pid {pid}) after {}s without exiting on SIGTERM",
                component.name,
                STOP_GRACE.as_secs()
            ),
            StopOutcome::NotRunning => {
                println!("{:<16} not running (stale pid file)", component.name)
            }
        }
        if let Err(err) = std::fs::remove_file(&pid_file)
            && err.kind() != std::io::ErrorKind::NotFound
        {
            return Err(err).with_context(|| format!("removing {}", pid_file.display()));
        }
        if component.name == "kube-proxy" {
            // Like upstream, kube-proxy leaves its rules in place on SIGTERM
            // (traffic keeps flowing across restarts); a local cluster that
            // is going away removes them with `kube-proxy --cleanup`.
            remove_proxy_rules(&component.program).await;
        }
    }
    match crate::node_cleanup::remove_bridge() {
        Ok(true) => println!("{:<16} deleted {}", "network", crate::images::LOCAL_BRIDGE),
        Ok(false) => {}
        Err(err) => eprintln!("warning: {err:#}"),
    }
    let cgroups = crate::node_cleanup::remove_cgroups();
    if cgroups > 0 {
        println!("{:<16} removed {cgroups} pod cgroup(s)", "cgroups");
    }
    if purge {
        if !layout.is_corten_state() {
            bail!(
                "refusing to delete {}: it has no .corten-state marker, so it was not created by `corten up`",
                layout.root().display()
            );
        }
        std::fs::remove_dir_all(layout.root())
            .with_context(|| format!("deleting {}", layout.root().display()))?;
        println!("deleted {}", layout.root().display());
    } else {
        println!(
            "data kept in {} (`corten down --purge` deletes it)",
            layout.root().display()
        );
    }
    Ok(())
}

/// Runs `kube-proxy --cleanup`, which deletes its nftables table and
/// iptables chains; failures are warnings (the host may lack the tools).
async fn remove_proxy_rules(program: &std::path::Path) {
    let output = tokio::process::Command::new(program)
        .arg("--cleanup")
        .stdin(std::process::Stdio::null())
        .output()
        .await;
    match output {
        Ok(out) if out.status.success() => {
            println!("{:<16} removed kube-proxy's rules", "network")
        }
        Ok(out) => eprintln!(
            "warning: `kube-proxy --cleanup` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(err) => eprintln!("warning: running kube-proxy --cleanup: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn down_without_state_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let layout = StateLayout::new(&dir.path().join("missing")).unwrap();
        down(&layout, true).await.unwrap();
        assert!(!layout.root().exists());
    }

    #[tokio::test]
    async fn purge_refuses_foreign_directories_and_deletes_ours() {
        let dir = tempfile::tempdir().unwrap();
        let foreign = StateLayout::new(dir.path()).unwrap();
        std::fs::write(dir.path().join("precious.txt"), "keep me").unwrap();
        let err = down(&foreign, true).await.unwrap_err();
        assert!(err.to_string().contains("refusing to delete"), "{err}");
        assert!(dir.path().join("precious.txt").exists());

        let ours = StateLayout::new(&dir.path().join("state")).unwrap();
        ours.create().unwrap();
        // A stale pid file pointing at a process that is not etcd.
        std::fs::write(ours.pid_file("etcd"), format!("{}\n", std::process::id())).unwrap();
        down(&ours, false).await.unwrap();
        assert!(ours.root().exists());
        assert!(!ours.pid_file("etcd").exists());
        down(&ours, true).await.unwrap();
        assert!(!ours.root().exists());
    }
}
