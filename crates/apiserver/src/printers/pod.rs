//! Pods: the READY / STATUS / RESTARTS computation of upstream `printPod`.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::access::{ago, at, list, text, timestamp};
use super::{AGE, Column, NAME, Printer};

pub(super) static POD: Printer = Printer {
    columns: &[
        NAME,
        Column::new(
            "Ready",
            "string",
            "The aggregate readiness state of this pod for accepting traffic.",
        ),
        Column::new(
            "Status",
            "string",
            "The aggregate status of the containers in this pod.",
        ),
        Column::new(
            "Restarts",
            "string",
            "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        ),
        AGE,
        Column::wide("IP", "string", "The IP address allocated to the pod."),
        Column::wide("Node", "string", "The node the pod is bound to."),
        Column::wide(
            "Nominated Node",
            "string",
            "The node the scheduler nominated for the pod when it preempted other pods.",
        ),
        Column::wide(
            "Readiness Gates",
            "string",
            "How many of the pod's readiness gate conditions are true.",
        ),
    ],
    cells: pod_cells,
    conditions: pod_conditions,
    sort: None,
};

/// The row conditions upstream attaches to finished pods.
fn pod_conditions(pod: &Value) -> Option<Value> {
    let (reason, message) = match text(pod, &["status", "phase"]) {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{
        "type": "Completed",
        "status": "True",
        "reason": reason,
        "message": message,
    }]))
}

/// The pod reason upstream sets for pods on an unreachable node.
const NODE_LOST: &str = "NodeLost";

/// A container status's last termination time, if it has terminated before.
fn last_termination(status: &Value) -> Option<Option<Timestamp>> {
    let terminated = at(status, &["lastState", "terminated"]);
    if terminated.is_object() {
        Some(timestamp(at(terminated, &["finishedAt"])))
    } else {
        None
    }
}

/// Keeps the later of two optional (unset = zero) times, as upstream's
/// `lastRestartDate.Before(&terminatedDate)` update does.
fn later(current: Option<Timestamp>, candidate: Option<Timestamp>) -> Option<Timestamp> {
    match (current, candidate) {
        (None, c) => c,
        (Some(a), Some(b)) if a < b => Some(b),
        (a, _) => a,
    }
}

fn restart_count(status: &Value) -> i64 {
    super::access::int(status, &["restartCount"])
}

/// A terminated state's reason, or `Signal:N` / `ExitCode:N` without one.
fn terminated_reason(terminated: &Value) -> String {
    let reason = text(terminated, &["reason"]);
    if !reason.is_empty() {
        return reason.to_string();
    }
    let signal = super::access::int(terminated, &["signal"]);
    if signal != 0 {
        format!("Signal:{signal}")
    } else {
        format!("ExitCode:{}", super::access::int(terminated, &["exitCode"]))
    }
}

fn condition_true(pod: &Value, type_: &str) -> bool {
    list(pod, &["status", "conditions"])
        .iter()
        .any(|c| text(c, &["type"]) == type_ && text(c, &["status"]) == "True")
}

/// Upstream `isPodInitializedConditionTrue`: the first `Initialized`
/// condition decides.
fn initialized(pod: &Value) -> bool {
    list(pod, &["status", "conditions"])
        .iter()
        .find(|c| text(c, &["type"]) == "Initialized")
        .is_some_and(|c| text(c, &["status"]) == "True")
}

/// Whether the spec's init container `name` is a sidecar
/// (`restartPolicy: Always`).
fn is_restartable_init(pod: &Value, name: &str) -> bool {
    list(pod, &["spec", "initContainers"])
        .iter()
        .find(|c| text(c, &["name"]) == name)
        .is_some_and(|c| text(c, &["restartPolicy"]) == "Always")
}

/// READY, STATUS and RESTARTS as upstream `printPod` computes them.
pub(super) struct PodSummary {
    pub(super) ready: usize,
    pub(super) total: usize,
    pub(super) reason: String,
    pub(super) restarts: i64,
    pub(super) last_restart: Option<Timestamp>,
}

pub(super) fn summarize(pod: &Value) -> PodSummary {
    let init_specs = list(pod, &["spec", "initContainers"]);
    let total = list(pod, &["spec", "containers"]).len()
        + init_specs
            .iter()
            .filter(|c| text(c, &["restartPolicy"]) == "Always")
            .count();
    let mut ready = 0usize;
    let mut restarts = 0i64;
    let mut sidecar_restarts = 0i64;
    let mut last_restart: Option<Timestamp> = None;
    let mut last_sidecar_restart: Option<Timestamp> = None;

    let phase = text(pod, &["status", "phase"]);
    let mut reason = phase.to_string();
    let status_reason = text(pod, &["status", "reason"]);
    if !status_reason.is_empty() {
        reason = status_reason.to_string();
    }
    if list(pod, &["status", "conditions"])
        .iter()
        .any(|c| text(c, &["type"]) == "PodScheduled" && text(c, &["reason"]) == "SchedulingGated")
    {
        reason = "SchedulingGated".to_string();
    }

    let mut initializing = false;
    for (i, status) in list(pod, &["status", "initContainerStatuses"])
        .iter()
        .enumerate()
    {
        restarts += restart_count(status);
        if let Some(t) = last_termination(status) {
            last_restart = later(last_restart, t);
        }
        let sidecar = is_restartable_init(pod, text(status, &["name"]));
        if sidecar {
            sidecar_restarts += restart_count(status);
            if let Some(t) = last_termination(status) {
                last_sidecar_restart = later(last_sidecar_restart, t);
            }
        }
        let terminated = at(status, &["state", "terminated"]);
        let waiting = at(status, &["state", "waiting"]);
        let waiting_reason = text(waiting, &["reason"]);
        if terminated.is_object() && super::access::int(terminated, &["exitCode"]) == 0 {
            continue;
        }
        if sidecar && at(status, &["started"]).as_bool() == Some(true) {
            if at(status, &["ready"]).as_bool() == Some(true) {
                ready += 1;
            }
            continue;
        }
        if terminated.is_object() {
            // The init container failed.
            reason = format!("Init:{}", terminated_reason(terminated));
        } else if waiting.is_object()
            && !waiting_reason.is_empty()
            && waiting_reason != "PodInitializing"
        {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{i}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }

    if !initializing || initialized(pod) {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for status in list(pod, &["status", "containerStatuses"]).iter().rev() {
            restarts += restart_count(status);
            if let Some(t) = last_termination(status) {
                last_restart = later(last_restart, t);
            }
            let waiting_reason = text(status, &["state", "waiting", "reason"]);
            let terminated = at(status, &["state", "terminated"]);
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if terminated.is_object() {
                reason = terminated_reason(terminated);
            } else if at(status, &["ready"]).as_bool() == Some(true)
                && at(status, &["state", "running"]).is_object()
            {
                has_running = true;
                ready += 1;
            }
        }
        // Back to Running if a container still runs after others completed.
        if reason == "Completed" && has_running {
            reason = if condition_true(pod, "Ready") {
                "Running".to_string()
            } else {
                "NotReady".to_string()
            };
        }
    }

    if super::access::is_deleting(pod) {
        if status_reason == NODE_LOST {
            reason = "Unknown".to_string();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".to_string();
        }
    }

    PodSummary {
        ready,
        total,
        reason,
        restarts,
        last_restart,
    }
}

fn pod_cells(pod: &Value, now: Timestamp) -> Vec<Value> {
    let s = summarize(pod);
    let restarts = match s.last_restart {
        Some(t) if s.restarts != 0 => format!("{} ({} ago)", s.restarts, ago(t, now)),
        _ => s.restarts.to_string(),
    };

    let or_none = |s: &str| {
        if s.is_empty() {
            "<none>".to_string()
        } else {
            s.to_string()
        }
    };
    let ip = list(pod, &["status", "podIPs"])
        .first()
        .map(|p| text(p, &["ip"]))
        .unwrap_or_else(|| text(pod, &["status", "podIP"]));
    let gates = list(pod, &["spec", "readinessGates"]);
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = list(pod, &["status", "conditions"]);
        let true_count = gates
            .iter()
            .filter(|g| {
                let wanted = text(g, &["conditionType"]);
                conditions
                    .iter()
                    .find(|c| text(c, &["type"]) == wanted)
                    .is_some_and(|c| text(c, &["status"]) == "True")
            })
            .count();
        format!("{true_count}/{}", gates.len())
    };

    vec![
        json!(super::access::name(pod)),
        json!(format!("{}/{}", s.ready, s.total)),
        json!(s.reason),
        json!(restarts),
        json!(super::access::age(pod, now)),
        json!(or_none(ip)),
        json!(or_none(text(pod, &["spec", "nodeName"]))),
        json!(or_none(text(pod, &["status", "nominatedNodeName"]))),
        json!(readiness_gates),
    ]
}
