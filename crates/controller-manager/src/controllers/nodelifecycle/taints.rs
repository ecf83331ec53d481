//! The taints the node lifecycle controller keeps on a node from its
//! conditions (upstream `doNoScheduleTaintingPass` and the NoExecute part
//! of `processTaintBaseEviction`):
//!
//! | condition | NoSchedule taint | NoExecute taint |
//! | --- | --- | --- |
//! | Ready=False | `not-ready` | `not-ready` |
//! | Ready=Unknown | `unreachable` | `unreachable` |
//! | MemoryPressure / DiskPressure / PIDPressure / NetworkUnavailable=True | `memory-pressure` / ... | |
//! | `spec.unschedulable` | `unschedulable` | |
//!
//! Other taints are left alone; a taint that stays keeps its `timeAdded`.
//! A *new* NoExecute taint is added only when the zone's budget allows it
//! ([`super::zones`]); swapping `not-ready` and `unreachable` is not
//! limited.

use k8s_openapi::api::core::v1::{Node, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::health::condition;
use super::zones::NoExecute;
use crate::framework::node_taints::{
    DISK_PRESSURE, MEMORY_PRESSURE, NETWORK_UNAVAILABLE, NOT_READY, PID_PRESSURE, UNREACHABLE,
    UNSCHEDULABLE,
};

/// (key, effect) pairs this controller manages.
const MANAGED: [(&str, &str); 9] = [
    (NOT_READY, "NoSchedule"),
    (UNREACHABLE, "NoSchedule"),
    (MEMORY_PRESSURE, "NoSchedule"),
    (DISK_PRESSURE, "NoSchedule"),
    (PID_PRESSURE, "NoSchedule"),
    (NETWORK_UNAVAILABLE, "NoSchedule"),
    (UNSCHEDULABLE, "NoSchedule"),
    (NOT_READY, "NoExecute"),
    (UNREACHABLE, "NoExecute"),
];

fn status_of<'a>(node: &'a Node, type_: &str) -> Option<&'a str> {
    condition(node, type_).map(|c| c.status.as_str())
}

/// The managed (key, effect) pairs the node should carry now.
pub fn wanted(node: &Node) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    match status_of(node, "Ready") {
        Some("False") => {
            out.push((NOT_READY, "NoSchedule"));
            out.push((NOT_READY, "NoExecute"));
        }
        Some("Unknown") => {
            out.push((UNREACHABLE, "NoSchedule"));
            out.push((UNREACHABLE, "NoExecute"));
        }
        _ => {}
    }
    for (type_, key) in [
        ("MemoryPressure", MEMORY_PRESSURE),
        ("DiskPressure", DISK_PRESSURE),
        ("PIDPressure", PID_PRESSURE),
        ("NetworkUnavailable", NETWORK_UNAVAILABLE),
    ] {
        if status_of(node, type_) == Some("True") {
            out.push((key, "NoSchedule"));
        }
    }
    if node
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false)
    {
        out.push((UNSCHEDULABLE, "NoSchedule"));
    }
    out
}

fn is_managed(t: &Taint) -> bool {
    MANAGED.iter().any(|(k, e)| t.key == *k && t.effect == *e)
}

fn current_taints(node: &Node) -> &[Taint] {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or_default()
}

/// Whether the node's Ready condition calls for a NoExecute taint while it
/// has none of ours: adding one spends the zone's budget.
pub fn needs_new_no_execute(node: &Node) -> bool {
    wanted(node).iter().any(|(_, e)| *e == "NoExecute")
        && !current_taints(node)
            .iter()
            .any(|t| t.effect == "NoExecute" && is_managed(t))
}

/// The node's full taint list with the managed ones brought up to date;
/// `None` when nothing changes. New NoExecute taints get `timeAdded = now`;
/// `no_execute` says whether one may be added, only kept or swapped, or
/// must go.
pub fn reconcile_taints(node: &Node, now: Timestamp, no_execute: NoExecute) -> Option<Vec<Taint>> {
    let current = current_taints(node).to_vec();
    let mut wanted = wanted(node);
    match no_execute {
        NoExecute::Add => {}
        NoExecute::Defer(_) if !needs_new_no_execute(node) => {}
        NoExecute::Defer(_) | NoExecute::Lift => wanted.retain(|(_, e)| *e != "NoExecute"),
    }
    let mut out: Vec<Taint> = current
        .iter()
        .filter(|t| !is_managed(t) || wanted.contains(&(t.key.as_str(), t.effect.as_str())))
        .cloned()
        .collect();
    let now = Time(Timestamp::from_second(now.as_second()).unwrap_or(now));
    for (key, effect) in &wanted {
        if !out.iter().any(|t| t.key == *key && t.effect == *effect) {
            out.push(Taint {
                key: key.to_string(),
                effect: effect.to_string(),
                value: None,
                time_added: (*effect == "NoExecute").then(|| now.clone()),
            });
        }
    }
    (out != current).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(ready: &str, extra_taints: serde_json::Value) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": "n1"},
            "spec": {"taints": extra_taints},
            "status": {"conditions": [{"type": "Ready", "status": ready},
                                      {"type": "DiskPressure", "status": "True"}]}
        }))
        .unwrap()
    }

    fn keys(taints: &[Taint]) -> Vec<(String, String)> {
        taints
            .iter()
            .map(|t| (t.key.clone(), t.effect.clone()))
            .collect()
    }

    #[test]
    fn unknown_ready_gives_unreachable_taints() {
        let taints = reconcile_taints(
            &node(
                "Unknown",
                json!([{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]),
            ),
            Timestamp::now(),
            NoExecute::Add,
        )
        .unwrap();
        assert_eq!(
            keys(&taints),
            [
                ("dedicated".to_string(), "NoSchedule".to_string()),
                (UNREACHABLE.to_string(), "NoSchedule".to_string()),
                (UNREACHABLE.to_string(), "NoExecute".to_string()),
                (DISK_PRESSURE.to_string(), "NoSchedule".to_string()),
            ]
        );
        assert!(taints[2].time_added.is_some());
        assert!(taints[1].time_added.is_none());
    }

    #[test]
    fn recovery_removes_only_managed_taints_and_is_stable() {
        let tainted = json!([{"key": "dedicated", "effect": "NoSchedule"},
                             {"key": NOT_READY, "effect": "NoExecute", "timeAdded": "2025-01-01T00:00:00Z"},
                             {"key": DISK_PRESSURE, "effect": "NoSchedule"}]);
        let taints = reconcile_taints(
            &node("True", tainted.clone()),
            Timestamp::now(),
            NoExecute::Add,
        )
        .unwrap();
        assert_eq!(
            keys(&taints),
            [
                ("dedicated".to_string(), "NoSchedule".to_string()),
                (DISK_PRESSURE.to_string(), "NoSchedule".to_string()),
            ]
        );
        // Not-ready already present keeps its timeAdded; nothing to change
        // once the list is complete.
        let mut n = node("False", tainted);
        let taints = reconcile_taints(&n, Timestamp::now(), NoExecute::Add).unwrap();
        let kept = taints
            .iter()
            .find(|t| t.key == NOT_READY && t.effect == "NoExecute")
            .unwrap();
        assert_eq!(
            kept.time_added.as_ref().unwrap().0.to_string(),
            "2025-01-01T00:00:00Z"
        );
        n.spec.as_mut().unwrap().taints = Some(taints);
        assert!(reconcile_taints(&n, Timestamp::now(), NoExecute::Add).is_none());
    }

    #[test]
    fn no_execute_budget() {
        let pressure = (DISK_PRESSURE.to_string(), "NoSchedule".to_string());
        let unreachable = |e: &str| (UNREACHABLE.to_string(), e.to_string());
        // Deferred: the NoSchedule taints come, the NoExecute one waits.
        let n = node("Unknown", json!([]));
        assert!(needs_new_no_execute(&n));
        let taints = reconcile_taints(&n, Timestamp::now(), NoExecute::Defer(None)).unwrap();
        assert_eq!(keys(&taints), [unreachable("NoSchedule"), pressure.clone()]);
        // A node that has not-ready swaps to unreachable without budget.
        let n = node(
            "Unknown",
            json!([{"key": NOT_READY, "effect": "NoExecute", "timeAdded": "2025-01-01T00:00:00Z"}]),
        );
        assert!(!needs_new_no_execute(&n));
        let taints = reconcile_taints(&n, Timestamp::now(), NoExecute::Defer(None)).unwrap();
        assert_eq!(
            keys(&taints),
            [
                unreachable("NoSchedule"),
                unreachable("NoExecute"),
                pressure.clone()
            ]
        );
        // Lifted: every zone is down, so the NoExecute taint goes.
        let n = node(
            "Unknown",
            json!([{"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": "2025-01-01T00:00:00Z"}]),
        );
        let taints = reconcile_taints(&n, Timestamp::now(), NoExecute::Lift).unwrap();
        assert_eq!(keys(&taints), [unreachable("NoSchedule"), pressure]);
    }
}
