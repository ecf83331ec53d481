//! The API pod status the kubelet reports (upstream `generateAPIPodStatus`,
//! `convertToAPIContainerStatuses`, `getPhase` and the condition
//! generators), as a pure function of the pod, the runtime state, the last
//! sync's per-container errors and the probe results.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
    ResourceRequirements, VolumeMountStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::actions::is_sidecar;
use super::qos::qos_class;
use super::runtime_pod::{RuntimeContainer, RuntimePod};

/// Condition types the kubelet owns (others are kept from the API object).
pub const KUBELET_CONDITIONS: &[&str] = &[
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
];

/// Whether the kubelet owns condition `kind`: the ones generated here and
/// the in-place resize ones ([`super::resize`] adds them afterwards), so
/// none is carried over from the API object once it no longer holds.
pub fn kubelet_owned(kind: &str) -> bool {
    KUBELET_CONDITIONS.contains(&kind)
        || kind == super::resize::PENDING
        || kind == super::resize::IN_PROGRESS
}

/// Probe results the status needs, by container id.
pub trait ProbeStatus {
    /// Readiness: `true` when the container passes its readiness probe (or has none).
    fn ready(&self, container_id: &str) -> bool;
    /// Startup: `true` when the startup probe passed (or there is none).
    fn started(&self, container_id: &str) -> bool;
}

/// Every running container is ready and started.
#[derive(Clone, Copy, Debug, Default)]
pub struct AllReady;

impl ProbeStatus for AllReady {
    fn ready(&self, _: &str) -> bool {
        true
    }
    fn started(&self, _: &str) -> bool {
        true
    }
}

/// Inputs of [`generate`].
pub struct StatusInputs<'a> {
    /// The pod.
    pub pod: &'a Pod,
    /// What the runtime has.
    pub runtime: &'a RuntimePod,
    /// Containers that failed to start in the last sync: name -> (reason, message).
    pub waiting: &'a HashMap<String, (String, String)>,
    /// Probe results.
    pub probes: &'a dyn ProbeStatus,
    /// The status last reported (to keep transition times, start time, terminal states).
    pub old: Option<&'a PodStatus>,
    /// Node IPs.
    pub host_ips: &'a [String],
    /// The pod is being terminated (deleted, or evicted).
    pub terminal: bool,
    /// Now.
    pub now: Time,
}

fn waiting(reason: &str, message: Option<String>) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: (!reason.is_empty()).then(|| reason.to_string()),
            message,
        }),
        ..Default::default()
    }
}

fn convert_state(c: &RuntimeContainer) -> ContainerState {
    if c.is_running() {
        return ContainerState {
            running: Some(ContainerStateRunning {
                started_at: crate::time::from_nanos(c.started_at),
            }),
            ..Default::default()
        };
    }
    if c.is_exited() {
        return ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: c.exit_code,
                reason: (!c.reason.is_empty()).then(|| c.reason.clone()),
                message: (!c.message.is_empty()).then(|| c.message.clone()),
                started_at: crate::time::from_nanos(c.started_at),
                finished_at: crate::time::from_nanos(c.finished_at),
                container_id: Some(c.container_id()),
                signal: None,
            }),
            ..Default::default()
        };
    }
    // Created or unknown: waiting without a reason, as upstream.
    waiting("", None)
}

fn resources_status(spec: &Container) -> Option<ResourceRequirements> {
    let r = spec.resources.clone()?;
    (r.requests.is_some() || r.limits.is_some())
        .then_some(ResourceRequirements { claims: None, ..r })
}

fn volume_mounts_status(spec: &Container) -> Option<Vec<VolumeMountStatus>> {
    let mounts = spec.volume_mounts.as_ref()?;
    Some(
        mounts
            .iter()
            .map(|m| VolumeMountStatus {
                name: m.name.clone(),
                mount_path: m.mount_path.clone(),
                read_only: m.read_only.filter(|r| *r),
                recursive_read_only: Some("Disabled".into()),
            })
            .collect(),
    )
}

fn container_statuses(
    inputs: &StatusInputs<'_>,
    specs: &[Container],
    old: Option<&Vec<ContainerStatus>>,
    default_reason: &str,
) -> Vec<ContainerStatus> {
    let mut out = Vec::with_capacity(specs.len());
    for spec in specs {
        let old = old.and_then(|list| list.iter().find(|s| s.name == spec.name));
        let mut history = inputs.runtime.named(&spec.name);
        let latest = history.next();
        let previous = history.next();
        let mut status = match latest {
            Some(c) => {
                let running = c.is_running();
                ContainerStatus {
                    name: spec.name.clone(),
                    image: if c.image.is_empty() || c.image.starts_with("sha256:") {
                        spec.image.clone().unwrap_or_default()
                    } else {
                        c.image.clone()
                    },
                    image_id: c.image_ref.clone(),
                    container_id: Some(c.container_id()),
                    state: Some(convert_state(c)),
                    last_state: previous.map(convert_state).or_else(|| {
                        old.and_then(|o| o.last_state.clone())
                            .filter(|s| s.terminated.is_some())
                    }),
                    restart_count: c.restart_count,
                    ready: running && inputs.probes.ready(&c.id),
                    started: Some(running && inputs.probes.started(&c.id)),
                    resources: resources_status(spec),
                    volume_mounts: volume_mounts_status(spec),
                    ..Default::default()
                }
            }
            None => match old {
                // A terminated container whose record is gone keeps its state.
                Some(o) if o.state.as_ref().is_some_and(|s| s.terminated.is_some()) => o.clone(),
                _ => ContainerStatus {
                    name: spec.name.clone(),
                    image: spec.image.clone().unwrap_or_default(),
                    image_id: String::new(),
                    state: Some(waiting(default_reason, None)),
                    restart_count: old.map_or(0, |o| o.restart_count),
                    last_state: old.and_then(|o| o.last_state.clone()),
                    ready: false,
                    started: Some(false),
                    resources: resources_status(spec),
                    ..Default::default()
                },
            },
        };
        if let Some((reason, message)) = inputs.waiting.get(&spec.name)
            && status.state.as_ref().is_none_or(|s| s.running.is_none())
        {
            if status
                .state
                .as_ref()
                .is_some_and(|s| s.terminated.is_some())
            {
                status.last_state = status.state.clone();
            }
            status.state = Some(waiting(
                reason,
                (!message.is_empty()).then(|| message.clone()),
            ));
            status.ready = false;
            status.started = Some(false);
        }
        if status.last_state.is_none() {
            status.last_state = Some(ContainerState::default());
        }
        out.push(status);
    }
    out
}

/// Upstream's `getPhase`.
pub fn phase(
    pod: &Pod,
    init: &[ContainerStatus],
    app: &[ContainerStatus],
    terminal: bool,
) -> &'static str {
    let spec = pod.spec.clone().unwrap_or_default();
    let policy = spec.restart_policy.as_deref().unwrap_or("Always");
    let find =
        |list: &'_ [ContainerStatus], name: &str| list.iter().find(|s| s.name == name).cloned();
    let (mut pending_sidecars, mut pending_init, mut failed_init) = (0, 0, 0);
    for c in spec.init_containers.iter().flatten() {
        let Some(s) = find(init, &c.name) else {
            if is_sidecar(c) {
                pending_sidecars += 1;
            } else {
                pending_init += 1;
            }
            continue;
        };
        let state = s.state.clone().unwrap_or_default();
        let last_terminated = s.last_state.as_ref().and_then(|l| l.terminated.clone());
        if is_sidecar(c) {
            if state.running.is_some() {
                if s.started != Some(true) {
                    pending_sidecars += 1;
                }
            } else if state.waiting.is_some() && last_terminated.is_none() {
                pending_sidecars += 1;
            }
            continue;
        }
        if state.running.is_some() {
            pending_init += 1;
        } else if let Some(t) = &state.terminated {
            if t.exit_code != 0 {
                failed_init += 1;
            }
        } else if state.waiting.is_some() {
            match last_terminated {
                Some(t) if t.exit_code != 0 => failed_init += 1,
                Some(_) => {}
                None => pending_init += 1,
            }
        } else {
            pending_init += 1;
        }
    }
    let (mut unknown, mut running, mut waiting_count, mut stopped, mut succeeded) = (0, 0, 0, 0, 0);
    for c in &spec.containers {
        let Some(s) = find(app, &c.name) else {
            unknown += 1;
            continue;
        };
        let state = s.state.clone().unwrap_or_default();
        if state.running.is_some() {
            running += 1;
        } else if let Some(t) = &state.terminated {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if state.waiting.is_some() {
            if s.last_state
                .as_ref()
                .is_some_and(|l| l.terminated.is_some())
            {
                stopped += 1;
            } else {
                waiting_count += 1;
            }
        } else {
            unknown += 1;
        }
    }
    let _ = waiting_count;
    if failed_init > 0 && policy == "Never" {
        return "Failed";
    }
    if pending_init > 0 || (pending_sidecars > 0 && stopped == 0) {
        return "Pending";
    }
    if running > 0 && unknown == 0 {
        return "Running";
    }
    if running == 0 && stopped > 0 && unknown == 0 {
        if terminal {
            return if stopped == succeeded {
                "Succeeded"
            } else {
                "Failed"
            };
        }
        if policy == "Always" {
            return "Running";
        }
        if stopped == succeeded {
            return "Succeeded";
        }
        if policy == "Never" {
            return "Failed";
        }
        return "Running";
    }
    "Pending"
}

fn condition(
    old: Option<&PodStatus>,
    now: &Time,
    kind: &str,
    status: bool,
    reason: Option<&str>,
    message: Option<String>,
) -> PodCondition {
    let status = if status { "True" } else { "False" };
    let previous = old
        .and_then(|o| o.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == kind));
    let transition = match previous {
        Some(p) if p.status == status => p.last_transition_time.clone().or(Some(now.clone())),
        _ => Some(now.clone()),
    };
    PodCondition {
        type_: kind.to_string(),
        status: status.to_string(),
        reason: reason.map(str::to_string),
        message,
        last_probe_time: None,
        last_transition_time: transition,
        observed_generation: None,
    }
}

fn names(list: &[String]) -> String {
    format!("[{}]", list.join(" "))
}

/// The whole status.
pub fn generate(inputs: &StatusInputs<'_>) -> PodStatus {
    let pod = inputs.pod;
    let spec = pod.spec.clone().unwrap_or_default();
    let inits = spec.init_containers.clone().unwrap_or_default();
    let has_init = !inits.is_empty();
    let default_reason = if has_init {
        "PodInitializing"
    } else {
        "ContainerCreating"
    };
    let init_statuses = container_statuses(
        inputs,
        &inits,
        inputs.old.and_then(|o| o.init_container_statuses.as_ref()),
        default_reason,
    );
    let app_statuses = container_statuses(
        inputs,
        &spec.containers,
        inputs.old.and_then(|o| o.container_statuses.as_ref()),
        default_reason,
    );
    // Ephemeral containers: same statuses, never ready (no probes), and
    // no part of the phase or the conditions.
    let ephemerals: Vec<Container> = super::ephemeral::of(pod)
        .into_iter()
        .map(|e| e.container)
        .collect();
    let ephemeral_statuses = (!ephemerals.is_empty()).then(|| {
        let mut list = container_statuses(
            inputs,
            &ephemerals,
            inputs
                .old
                .and_then(|o| o.ephemeral_container_statuses.as_ref()),
            "ContainerCreating",
        );
        for s in &mut list {
            s.ready = false;
            s.resources = None;
        }
        list
    });
    let old_phase = inputs.old.and_then(|o| o.phase.as_deref());
    let mut phase = phase(pod, &init_statuses, &app_statuses, inputs.terminal);
    // A terminal phase never changes back.
    if let Some(old) = old_phase.filter(|p| *p == "Succeeded" || *p == "Failed") {
        phase = if old == "Succeeded" {
            "Succeeded"
        } else {
            "Failed"
        };
    }
    let completed = phase == "Succeeded" || phase == "Failed";

    let sandbox = inputs.runtime.latest_sandbox();
    let host_network = spec.host_network.unwrap_or(false);
    let pod_ips: Vec<String> = if host_network {
        inputs.host_ips.to_vec()
    } else {
        sandbox.map(|s| s.ips.clone()).unwrap_or_default()
    };
    let sandbox_ready = sandbox.is_some_and(|s| s.ready && (host_network || !s.ips.is_empty()));

    let old = inputs.old;
    let now = &inputs.now;
    let incomplete_init: Vec<String> = inits
        .iter()
        .zip(&init_statuses)
        .filter(|(c, s)| {
            let state = s.state.clone().unwrap_or_default();
            if is_sidecar(c) {
                !(state.running.is_some() && s.started == Some(true))
            } else {
                state.terminated.as_ref().is_none_or(|t| t.exit_code != 0)
            }
        })
        .map(|(c, _)| c.name.clone())
        .collect();
    let initialized = if completed && phase == "Succeeded" {
        condition(old, now, "Initialized", true, Some("PodCompleted"), None)
    } else if incomplete_init.is_empty()
        || old.and_then(|o| o.conditions.as_ref()).is_some_and(|c| {
            c.iter()
                .any(|c| c.type_ == "Initialized" && c.status == "True")
        })
    {
        condition(old, now, "Initialized", true, None, None)
    } else {
        condition(
            old,
            now,
            "Initialized",
            false,
            Some("ContainersNotInitialized"),
            Some(format!(
                "containers with incomplete status: {}",
                names(&incomplete_init)
            )),
        )
    };
    let unready: Vec<String> = spec
        .containers
        .iter()
        .zip(&app_statuses)
        .filter(|(_, s)| !s.ready)
        .map(|(c, _)| c.name.clone())
        .chain(
            inits
                .iter()
                .zip(&init_statuses)
                .filter(|(c, s)| is_sidecar(c) && !s.ready)
                .map(|(c, _)| c.name.clone()),
        )
        .collect();
    let gates: Vec<String> = spec
        .readiness_gates
        .iter()
        .flatten()
        .filter(|g| {
            !old.and_then(|o| o.conditions.as_ref()).is_some_and(|c| {
                c.iter()
                    .any(|c| c.type_ == g.condition_type && c.status == "True")
            })
        })
        .map(|g| g.condition_type.clone())
        .collect();
    let (containers_ready, ready) = if completed {
        (
            condition(
                old,
                now,
                "ContainersReady",
                false,
                Some("PodCompleted"),
                None,
            ),
            condition(old, now, "Ready", false, Some("PodCompleted"), None),
        )
    } else if unready.is_empty() {
        let ready = if gates.is_empty() {
            condition(old, now, "Ready", true, None, None)
        } else {
            condition(
                old,
                now,
                "Ready",
                false,
                Some("ReadinessGatesNotReady"),
                Some(format!(
                    "corresponding condition of pod readiness gate {:?} does not exist.",
                    gates[0]
                )),
            )
        };
        (
            condition(old, now, "ContainersReady", true, None, None),
            ready,
        )
    } else {
        let message = format!("containers with unready status: {}", names(&unready));
        (
            condition(
                old,
                now,
                "ContainersReady",
                false,
                Some("ContainersNotReady"),
                Some(message.clone()),
            ),
            condition(
                old,
                now,
                "Ready",
                false,
                Some("ContainersNotReady"),
                Some(message),
            ),
        )
    };
    let mut conditions = vec![
        condition(
            old,
            now,
            "PodReadyToStartContainers",
            sandbox_ready && !completed,
            None,
            None,
        ),
        initialized,
        ready,
        containers_ready,
        condition(old, now, "PodScheduled", true, None, None),
    ];
    // Keep conditions others own (readiness gates, DisruptionTarget, ...).
    for c in old.and_then(|o| o.conditions.clone()).unwrap_or_default() {
        if !kubelet_owned(&c.type_) {
            conditions.push(c);
        }
    }

    let host_ips = inputs.host_ips;
    PodStatus {
        phase: Some(phase.to_string()),
        conditions: Some(conditions),
        host_ip: host_ips.first().cloned(),
        host_ips: (!host_ips.is_empty()).then(|| {
            host_ips
                .iter()
                .map(|ip| HostIP { ip: ip.clone() })
                .collect()
        }),
        pod_ip: pod_ips.first().cloned(),
        pod_ips: (!pod_ips.is_empty())
            .then(|| pod_ips.iter().map(|ip| PodIP { ip: ip.clone() }).collect()),
        start_time: old
            .and_then(|o| o.start_time.clone())
            .or_else(|| Some(now.clone())),
        qos_class: Some(qos_class(pod).as_str().to_string()),
        init_container_statuses: has_init.then_some(init_statuses),
        container_statuses: Some(app_statuses),
        ephemeral_container_statuses: ephemeral_statuses,
        message: old.and_then(|o| o.message.clone()),
        reason: old.and_then(|o| o.reason.clone()),
        nominated_node_name: old.and_then(|o| o.nominated_node_name.clone()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
