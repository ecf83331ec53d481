//! Node health as the controller sees it (upstream `nodeHealthData` and
//! `tryUpdateNodeHealth`): the last time the node showed signs of life, by
//! the controller's own clock, so clock skew between kubelet and controller
//! does not matter.
//!
//! A sign of life is a change of the Ready condition's `lastHeartbeatTime`
//! or of the node's Lease `renewTime`. When none came within the grace
//! period (`--node-monitor-grace-period`, or `--node-startup-grace-period`
//! for a node that never posted Ready), the node's Ready, MemoryPressure,
//! DiskPressure and PIDPressure conditions become Unknown.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, NodeCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// The conditions a kubelet owns and the controller marks Unknown.
pub const KUBELET_CONDITIONS: [&str; 4] =
    ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

#[derive(Debug, Clone)]
struct Record {
    /// When the controller last saw a sign of life.
    probe: Timestamp,
    heartbeat: Option<Timestamp>,
    lease_renew: Option<Timestamp>,
}

/// The per-node records.
#[derive(Debug, Default)]
pub struct HealthTracker {
    records: Mutex<HashMap<String, Record>>,
}

/// The node's `condition` of `type_`.
pub fn condition<'a>(node: &'a Node, type_: &str) -> Option<&'a NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// The Ready condition's status (`None`: never posted).
pub fn ready_status(node: &Node) -> Option<&str> {
    condition(node, "Ready").map(|c| c.status.as_str())
}

impl HealthTracker {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Forgets a deleted node.
    pub fn forget(&self, node: &str) {
        self.lock().remove(node);
    }

    /// Records what `node` and its Lease show at `now` and returns whether
    /// the node went silent for longer than its grace period.
    pub fn is_silent(
        &self,
        node: &Node,
        lease_renew: Option<&MicroTime>,
        now: Timestamp,
        monitor_grace: Duration,
        startup_grace: Duration,
    ) -> bool {
        let name = node.metadata.name.clone().unwrap_or_default();
        let heartbeat = condition(node, "Ready")
            .and_then(|c| c.last_heartbeat_time.as_ref())
            .map(|t| t.0);
        let lease_renew = lease_renew.map(|t| t.0);
        let mut records = self.lock();
        let record = records.entry(name).or_insert_with(|| Record {
            probe: now,
            heartbeat,
            lease_renew,
        });
        if record.heartbeat != heartbeat {
            record.heartbeat = heartbeat;
            record.probe = now;
        }
        if lease_renew.is_some() && lease_renew > record.lease_renew {
            record.lease_renew = lease_renew;
            record.probe = now;
        }
        let (since, grace) = if condition(node, "Ready").is_none() {
            // Never posted: counted from creation with the startup grace.
            let created = node
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or(record.probe, |t| t.0);
            (created, startup_grace)
        } else {
            (record.probe, monitor_grace)
        };
        let grace = SignedDuration::try_from(grace).unwrap_or(SignedDuration::MAX);
        now.duration_since(since) > grace
    }
}

/// The conditions after the node went silent at `now`: every kubelet
/// condition Unknown (`NodeStatusUnknown`, or `NodeStatusNeverUpdated` when
/// it was never posted). `None` when they are all Unknown already.
pub fn unknown_conditions(node: &Node, now: Timestamp) -> Option<Vec<NodeCondition>> {
    let mut conditions = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let now = Time(Timestamp::from_second(now.as_second()).unwrap_or(now));
    let created = node.metadata.creation_timestamp.clone();
    let mut changed = false;
    for type_ in KUBELET_CONDITIONS {
        match conditions.iter_mut().find(|c| c.type_ == type_) {
            Some(c) if c.status == "Unknown" => {}
            Some(c) => {
                c.status = "Unknown".to_string();
                c.reason = Some("NodeStatusUnknown".to_string());
                c.message = Some("Kubelet stopped posting node status.".to_string());
                c.last_transition_time = Some(now.clone());
                changed = true;
            }
            None => {
                conditions.push(NodeCondition {
                    type_: type_.to_string(),
                    status: "Unknown".to_string(),
                    reason: Some("NodeStatusNeverUpdated".to_string()),
                    message: Some("Kubelet never posted node status.".to_string()),
                    last_heartbeat_time: created.clone(),
                    last_transition_time: Some(now.clone()),
                });
                changed = true;
            }
        }
    }
    changed.then_some(conditions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(heartbeat: Option<&str>) -> Node {
        let conditions = heartbeat.map(|h| {
            json!([{"type": "Ready", "status": "True", "lastHeartbeatTime": h,
                    "lastTransitionTime": "2025-01-01T00:00:00Z"}])
        });
        serde_json::from_value(json!({
            "metadata": {"name": "n1", "creationTimestamp": "2025-01-01T00:00:00Z"},
            "status": {"conditions": conditions}
        }))
        .unwrap()
    }

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_735_689_600 + s).unwrap()
    }

    const GRACE: Duration = Duration::from_secs(40);
    const STARTUP: Duration = Duration::from_secs(60);

    #[test]
    fn silent_after_the_grace_period_without_heartbeats() {
        let tracker = HealthTracker::default();
        let n = node(Some("2025-01-01T00:00:10Z"));
        assert!(!tracker.is_silent(&n, None, at(100), GRACE, STARTUP));
        assert!(!tracker.is_silent(&n, None, at(140), GRACE, STARTUP));
        assert!(tracker.is_silent(&n, None, at(141), GRACE, STARTUP));
        // A new heartbeat revives it.
        let n = node(Some("2025-01-01T00:02:30Z"));
        assert!(!tracker.is_silent(&n, None, at(150), GRACE, STARTUP));
    }

    #[test]
    fn lease_renewals_count_as_life() {
        let tracker = HealthTracker::default();
        let n = node(Some("2025-01-01T00:00:10Z"));
        let lease = |s: i64| MicroTime(at(s));
        assert!(!tracker.is_silent(&n, Some(&lease(0)), at(100), GRACE, STARTUP));
        assert!(!tracker.is_silent(&n, Some(&lease(130)), at(130), GRACE, STARTUP));
        assert!(!tracker.is_silent(&n, Some(&lease(130)), at(170), GRACE, STARTUP));
        assert!(tracker.is_silent(&n, Some(&lease(130)), at(171), GRACE, STARTUP));
    }

    #[test]
    fn never_posted_nodes_get_the_startup_grace() {
        let tracker = HealthTracker::default();
        let n = node(None);
        assert!(!tracker.is_silent(&n, None, at(50), GRACE, STARTUP));
        assert!(tracker.is_silent(&n, None, at(61), GRACE, STARTUP));
        let conditions = unknown_conditions(&n, at(61)).unwrap();
        assert_eq!(conditions.len(), 4);
        assert!(conditions.iter().all(
            |c| c.status == "Unknown" && c.reason.as_deref() == Some("NodeStatusNeverUpdated")
        ));
    }

    #[test]
    fn conditions_turn_unknown_once() {
        let n = node(Some("2025-01-01T00:00:10Z"));
        let conditions = unknown_conditions(&n, at(100)).unwrap();
        let ready = conditions.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
        assert_eq!(
            ready.message.as_deref(),
            Some("Kubelet stopped posting node status.")
        );
        let mut n2 = n.clone();
        n2.status.as_mut().unwrap().conditions = Some(conditions);
        assert!(unknown_conditions(&n2, at(110)).is_none());
    }
}
