//! What to do with a pod given its spec and what the runtime has: upstream's
//! `computePodActions`, as a pure function so every rule is unit-tested.
//!
//! - no ready sandbox (or no IP): kill what is left, create a new sandbox
//!   (attempt + 1) and start over with the first init container — unless a
//!   `restartPolicy: Never` pod already ran;
//! - init containers run one at a time, in order; a failed one is restarted
//!   (or fails the pod with `restartPolicy: Never`); sidecars (init
//!   containers with `restartPolicy: Always`) keep running and are restarted
//!   whenever they exit;
//! - app containers start once initialised; an exited one restarts per the
//!   pod's restart policy; a running one whose spec hash changed or whose
//!   liveness/startup probe failed is killed (and restarted if the policy
//!   allows);
//! - when nothing runs and nothing will start again, the pod is done: kill
//!   the sandbox;
//! - ephemeral containers start once in an existing sandbox (whatever the
//!   init containers do, so they can debug a stuck start) and are never
//!   restarted.

use k8s_openapi::api::core::v1::{Container, Pod};

use super::labels::container_hash;
use super::runtime_pod::{RuntimeContainer, RuntimePod};

/// Why a running container is killed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KillReason {
    /// Its spec changed.
    SpecChanged,
    /// Its liveness probe failed.
    Liveness,
    /// Its startup probe failed.
    Startup,
}

/// A container to kill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KillContainer {
    /// Runtime id.
    pub id: String,
    /// Container name.
    pub name: String,
    /// Why.
    pub reason: KillReason,
    /// Upstream's message ("Container c failed liveness probe, will be restarted").
    pub message: String,
    /// Whether it is an init container (sidecar).
    pub init: bool,
}

/// The actions for one sync.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodActions {
    /// Kill every container and stop the sandbox(es) first.
    pub kill_pod: bool,
    /// Create a new sandbox.
    pub create_sandbox: bool,
    /// Attempt number of the new sandbox.
    pub attempt: u32,
    /// Init containers to start (indexes into `initContainers`).
    pub init_to_start: Vec<usize>,
    /// App containers to start (indexes into `containers`).
    pub start: Vec<usize>,
    /// Ephemeral containers to start (indexes into `ephemeralContainers`).
    pub ephemeral_to_start: Vec<usize>,
    /// Running containers to kill.
    pub kill: Vec<KillContainer>,
    /// An init container failed and the pod will not retry (`Never`).
    pub init_failed: bool,
}

/// Probe verdicts for running containers, by container id.
pub trait ProbeVerdicts {
    /// The liveness probe failed (failureThreshold reached).
    fn liveness_failed(&self, container_id: &str) -> bool;
    /// The startup probe failed (failureThreshold reached).
    fn startup_failed(&self, container_id: &str) -> bool;
    /// The startup probe has succeeded (or there is none).
    fn started(&self, container_id: &str) -> bool;
}

/// No probes at all.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProbes;

impl ProbeVerdicts for NoProbes {
    fn liveness_failed(&self, _: &str) -> bool {
        false
    }
    fn startup_failed(&self, _: &str) -> bool {
        false
    }
    fn started(&self, _: &str) -> bool {
        true
    }
}

fn restart_policy(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always")
}

/// Whether the init container is a sidecar (`restartPolicy: Always`).
pub fn is_sidecar(container: &Container) -> bool {
    container.restart_policy.as_deref() == Some("Always")
}

/// Upstream's `ShouldContainerBeRestarted` for a container not running.
pub fn should_restart(pod: &Pod, latest: Option<&RuntimeContainer>) -> bool {
    let Some(status) = latest else { return true };
    if status.is_running() {
        return false;
    }
    if !status.is_exited() {
        // Created or unknown: (re)start it.
        return true;
    }
    match restart_policy(pod) {
        "Never" => false,
        "OnFailure" => status.exit_code != 0,
        _ => true,
    }
}

fn sandbox_changed(pod: &Pod, runtime: &RuntimePod) -> (bool, u32) {
    let Some(latest) = runtime.latest_sandbox() else {
        return (true, 0);
    };
    let host_network = pod
        .spec
        .as_ref()
        .and_then(|s| s.host_network)
        .unwrap_or(false);
    let ready_count = runtime.sandboxes.iter().filter(|s| s.ready).count();
    let changed = !latest.ready
        || ready_count > 1
        || latest.host_network != host_network
        || (!host_network && latest.ips.is_empty());
    (changed, latest.attempt + 1)
}

/// Computes the actions for `pod`.
pub fn compute(pod: &Pod, runtime: &RuntimePod, probes: &dyn ProbeVerdicts) -> PodActions {
    let spec = pod.spec.clone().unwrap_or_default();
    let inits = spec.init_containers.clone().unwrap_or_default();
    let mut actions = PodActions::default();

    let (create, attempt) = sandbox_changed(pod, runtime);
    if create {
        if restart_policy(pod) == "Never"
            && !runtime.sandboxes.is_empty()
            && !runtime.containers.is_empty()
        {
            // The pod ran already and must not run again: only clean up.
            actions.kill_pod = runtime.is_running();
            return actions;
        }
        actions.create_sandbox = true;
        actions.attempt = attempt;
        actions.kill_pod = !runtime.sandboxes.is_empty();
        if inits.is_empty() {
            for (i, c) in spec.containers.iter().enumerate() {
                let succeeded = runtime
                    .latest(&c.name)
                    .is_some_and(|s| s.is_exited() && s.exit_code == 0);
                if restart_policy(pod) == "OnFailure" && succeeded {
                    continue;
                }
                actions.start.push(i);
            }
        } else {
            actions.init_to_start.push(0);
        }
        return actions;
    }

    // Ephemeral containers never ran in this pod yet (upstream starts them
    // only into an existing sandbox and never restarts them).
    for (i, ec) in spec.ephemeral_containers.iter().flatten().enumerate() {
        if runtime.latest(&ec.name).is_none() {
            actions.ephemeral_to_start.push(i);
        }
    }

    // Init containers, in order.
    let mut initialized = true;
    for (i, init) in inits.iter().enumerate() {
        let latest = runtime.latest(&init.name);
        if is_sidecar(init) {
            match latest {
                Some(c) if c.is_running() => {
                    if probes.liveness_failed(&c.id)
                        || probes.startup_failed(&c.id)
                        || c.hash != container_hash(init)
                    {
                        actions.kill.push(kill(c, init, probes, true));
                        actions.init_to_start.push(i);
                    }
                    if !probes.started(&c.id) {
                        initialized = false;
                        break;
                    }
                }
                _ => {
                    actions.init_to_start.push(i);
                    initialized = false;
                    break;
                }
            }
            continue;
        }
        match latest {
            None => {
                actions.init_to_start.push(i);
                initialized = false;
                break;
            }
            Some(c) if c.is_running() => {
                initialized = false;
                break;
            }
            Some(c) if c.is_exited() && c.exit_code == 0 => continue,
            Some(c) if c.is_exited() => {
                if restart_policy(pod) == "Never" {
                    actions.init_failed = true;
                    actions.kill_pod = runtime.is_running();
                } else {
                    actions.init_to_start.push(i);
                }
                initialized = false;
                break;
            }
            Some(_) => {
                actions.init_to_start.push(i);
                initialized = false;
                break;
            }
        }
    }
    if !initialized {
        return actions;
    }

    let mut keep = 0;
    for (i, container) in spec.containers.iter().enumerate() {
        let latest = runtime.latest(&container.name);
        let Some(c) = latest.filter(|c| c.is_running()) else {
            if should_restart(pod, latest) {
                actions.start.push(i);
            }
            continue;
        };
        let verdict = c.hash != container_hash(container)
            || probes.liveness_failed(&c.id)
            || probes.startup_failed(&c.id);
        if !verdict {
            keep += 1;
            continue;
        }
        let k = kill(c, container, probes, false);
        let restart = restart_policy(pod) != "Never" || k.reason == KillReason::SpecChanged;
        if restart {
            actions.start.push(i);
        }
        actions.kill.push(KillContainer {
            message: if restart {
                format!("{}, will be restarted", k.message)
            } else {
                k.message.clone()
            },
            ..k
        });
    }
    // Running sidecars do not keep a pod alive on their own.
    if keep == 0 && actions.start.is_empty() {
        actions.kill_pod = runtime.is_running();
        actions.kill.clear();
        actions.init_to_start.clear();
    }
    actions
}

fn kill(
    c: &RuntimeContainer,
    spec: &Container,
    probes: &dyn ProbeVerdicts,
    init: bool,
) -> KillContainer {
    let (reason, message) = if c.hash != container_hash(spec) {
        (
            KillReason::SpecChanged,
            format!("Container {} definition changed", spec.name),
        )
    } else if probes.liveness_failed(&c.id) {
        (
            KillReason::Liveness,
            format!("Container {} failed liveness probe", spec.name),
        )
    } else {
        (
            KillReason::Startup,
            format!("Container {} failed startup probe", spec.name),
        )
    };
    KillContainer {
        id: c.id.clone(),
        name: spec.name.clone(),
        reason,
        message,
        init,
    }
}

#[cfg(test)]
mod tests;
