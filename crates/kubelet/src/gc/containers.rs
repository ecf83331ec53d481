//! Container garbage collection (upstream `containerGC` with the kubelet's
//! fixed policy: `MinAge` 0, `MaxPerPodContainer` 1, `MaxContainers` -1).
//!
//! Every minute, dead (exited or never started) containers are grouped by
//! pod and container name: for pods that still run, the newest dead one
//! per name is kept (for `kubectl logs --previous`) and older ones are
//! removed; for pods whose content may go (deleted from the kubelet, or
//! terminal and evicted) all of them are. Sandboxes that are not ready and
//! hold no containers are removed, except the newest of a pod that still
//! runs. Under disk pressure (`all_dead`) no dead container is kept.
//!
//! The plan is a pure function of the runtime's lists and a pod-state
//! lookup, so it is tested without a runtime.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use corten_cri::{Runtime, api};

use crate::pod::labels;

/// Upstream's `ContainerGCPeriod`.
pub const PERIOD: Duration = Duration::from_secs(60);

/// What the kubelet says about a pod UID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodState {
    /// The pod may still run (keep its newest dead container and sandbox).
    Active,
    /// The pod's content can be removed (upstream `ShouldPodContentBeRemoved`).
    Removable,
}

/// What to remove.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Container ids.
    pub containers: Vec<String>,
    /// Sandbox ids.
    pub sandboxes: Vec<String>,
}

fn is_dead(state: i32) -> bool {
    state == api::ContainerState::ContainerExited as i32
        || state == api::ContainerState::ContainerCreated as i32
}

/// Decides what to remove.
pub fn plan(
    containers: &[api::Container],
    sandboxes: &[api::PodSandbox],
    pod_state: impl Fn(&str) -> PodState,
    all_dead: bool,
) -> Plan {
    let mut out = Plan::default();
    let keep = if all_dead { 0 } else { 1 };
    let mut groups: HashMap<(String, String), Vec<&api::Container>> = HashMap::new();
    for c in containers.iter().filter(|c| is_dead(c.state)) {
        let Some(uid) = c.labels.get(labels::POD_UID) else {
            continue;
        };
        let name = c
            .labels
            .get(labels::CONTAINER_NAME)
            .cloned()
            .or_else(|| c.metadata.as_ref().map(|m| m.name.clone()))
            .unwrap_or_default();
        groups.entry((uid.clone(), name)).or_default().push(c);
    }
    let mut removed: HashSet<&str> = HashSet::new();
    for ((uid, _), mut group) in groups {
        group.sort_by_key(|c| std::cmp::Reverse(c.created_at));
        let skip = match pod_state(&uid) {
            PodState::Removable => 0,
            PodState::Active => keep,
        };
        for c in group.into_iter().skip(skip) {
            removed.insert(&c.id);
            out.containers.push(c.id.clone());
        }
    }
    out.containers.sort();
    // Sandboxes still holding a container that stays.
    let holding: HashSet<&str> = containers
        .iter()
        .filter(|c| !removed.contains(c.id.as_str()))
        .map(|c| c.pod_sandbox_id.as_str())
        .collect();
    let mut by_pod: HashMap<String, Vec<&api::PodSandbox>> = HashMap::new();
    for s in sandboxes {
        let uid = s
            .labels
            .get(labels::POD_UID)
            .cloned()
            .or_else(|| s.metadata.as_ref().map(|m| m.uid.clone()))
            .unwrap_or_default();
        by_pod.entry(uid).or_default().push(s);
    }
    for (uid, mut group) in by_pod {
        group.sort_by_key(|c| std::cmp::Reverse(c.created_at));
        let skip = match pod_state(&uid) {
            PodState::Removable => 0,
            PodState::Active => 1,
        };
        for s in group.into_iter().skip(skip) {
            let ready = s.state == api::PodSandboxState::SandboxReady as i32;
            if !ready && !holding.contains(s.id.as_str()) {
                out.sandboxes.push(s.id.clone());
            }
        }
    }
    out.sandboxes.sort();
    out
}

/// Lists the runtime, plans and removes. Returns how many containers and
/// sandboxes were removed.
pub async fn collect(
    runtime: &Arc<dyn Runtime>,
    pod_state: impl Fn(&str) -> PodState,
    all_dead: bool,
) -> Result<(usize, usize), String> {
    let containers = runtime
        .list_containers(None)
        .await
        .map_err(|e| format!("failed to list containers: {}", e.message()))?;
    let sandboxes = runtime
        .list_pod_sandbox(None)
        .await
        .map_err(|e| format!("failed to list pod sandboxes: {}", e.message()))?;
    let plan = plan(&containers, &sandboxes, pod_state, all_dead);
    let mut removed = (0, 0);
    for id in &plan.containers {
        crate::logs::clean(runtime, id).await;
        match runtime.remove_container(id).await {
            Ok(()) => removed.0 += 1,
            Err(err) => {
                tracing::warn!(container = %id, error = %err.message(), "failed to remove container")
            }
        }
    }
    for id in &plan.sandboxes {
        match runtime.remove_pod_sandbox(id).await {
            Ok(()) => removed.1 += 1,
            Err(err) => {
                tracing::warn!(sandbox = %id, error = %err.message(), "failed to remove pod sandbox")
            }
        }
    }
    if removed != (0, 0) {
        tracing::info!(
            containers = removed.0,
            sandboxes = removed.1,
            "garbage collected dead containers and sandboxes"
        );
    }
    Ok(removed)
}
