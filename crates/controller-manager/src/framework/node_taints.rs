//! Taints and tolerations (upstream `v1helper.TolerationsTolerateTaint`
//! and the well-known `node.kubernetes.io/*` taint keys).

use k8s_openapi::api::core::v1::{Taint, Toleration};

/// Ready is False.
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// Ready is Unknown (the node stopped reporting).
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// `spec.unschedulable`.
pub const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// MemoryPressure is True.
pub const MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
/// DiskPressure is True.
pub const DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
/// PIDPressure is True.
pub const PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
/// NetworkUnavailable is True.
pub const NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

/// Whether `toleration` tolerates `taint` (upstream `ToleratesTaint`): the
/// effects match (an empty effect matches all), and either the operator is
/// `Exists` (an empty key matches every key) or the key and value are equal.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => {
            !key.is_empty()
                && toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        _ => false,
    }
}

/// The tolerations that tolerate `taint`.
pub fn tolerations_for<'a>(tolerations: &'a [Toleration], taint: &Taint) -> Vec<&'a Toleration> {
    tolerations.iter().filter(|t| tolerates(t, taint)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn toleration(v: serde_json::Value) -> Toleration {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn matching_follows_upstream() {
        let taint = Taint {
            key: UNREACHABLE.into(),
            effect: "NoExecute".into(),
            value: None,
            time_added: None,
        };
        assert!(tolerates(
            &toleration(json!({"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"})),
            &taint
        ));
        assert!(tolerates(
            &toleration(json!({"operator": "Exists"})),
            &taint
        ));
        assert!(tolerates(
            &toleration(json!({"key": UNREACHABLE, "operator": "Exists"})),
            &taint
        ));
        assert!(!tolerates(
            &toleration(json!({"key": UNREACHABLE, "operator": "Exists", "effect": "NoSchedule"})),
            &taint
        ));
        assert!(!tolerates(
            &toleration(json!({"key": NOT_READY, "operator": "Exists"})),
            &taint
        ));
        assert!(tolerates(
            &toleration(json!({"key": UNREACHABLE, "operator": "Equal", "value": ""})),
            &taint
        ));
        assert!(!tolerates(
            &toleration(json!({"key": UNREACHABLE, "value": "x"})),
            &taint
        ));
        // Equal with an empty key tolerates nothing.
        assert!(!tolerates(
            &toleration(json!({"operator": "Equal"})),
            &taint
        ));
    }
}
