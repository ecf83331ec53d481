//! `corten status`: is each component running, and is it ready.

use std::time::Duration;

use crate::components::cluster_components;
use crate::process;
use crate::state::{ClusterConfig, StateLayout};

/// Prints the state of every component; returns whether all of them run
/// and answer their readiness probe.
pub async fn status(layout: &StateLayout) -> anyhow::Result<bool> {
    if !layout.root().exists() {
        println!(
            "no cluster state at {} (run `corten up`)",
            layout.root().display()
        );
        return Ok(false);
    }
    let config = ClusterConfig::load(layout)?.unwrap_or_default();
    let mut healthy = true;
    for component in cluster_components(&config, layout) {
        let pid_file = layout.pid_file(component.name);
        let Some(pid) = process::running_pid(&pid_file, &component.program) else {
            println!("{:<16} not running", component.name);
            healthy = false;
            continue;
        };
        match component.probe.check(Duration::from_secs(3)).await {
            Ok(_) => println!(
                "{:<16} running (pid {pid}), ready: {} ok",
                component.name,
                component.probe.url()
            ),
            Err(err) => {
                healthy = false;
                println!(
                    "{:<16} running (pid {pid}), NOT ready: {err:#}",
                    component.name
                );
            }
        }
    }
    let kubeconfig = layout.admin_kubeconfig();
    if kubeconfig.is_file() {
        println!("\nexport KUBECONFIG={}", kubeconfig.display());
    }
    Ok(healthy)
}
