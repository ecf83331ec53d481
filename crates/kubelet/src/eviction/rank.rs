//! Which pod to evict first, and the message it gets (upstream's
//! `rankMemoryPressure`, `rankDiskPressureFunc`, `rankPIDPressure` and
//! `evictionMessage`).
//!
//! - memory: pods using more than they request first, then lower priority,
//!   then the most usage above requests;
//! - disk (bytes or inodes): the same with ephemeral-storage (inodes have no
//!   requests);
//! - pids: lower priority first, then the most processes.
//!
//! Pods without stats come first, as upstream (they cannot be judged).

use std::cmp::Ordering;
use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Container, Pod};

use super::observe::PodUsage;
use super::threshold::{Signal, format_quantity};
use crate::pod::qos;

/// Upstream's `SystemCriticalPriority` (2 * 10^9).
pub const SYSTEM_CRITICAL_PRIORITY: i32 = 2_000_000_000;

fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// Static pods, mirror pods and system-critical priority pods are never
/// evicted (upstream `IsCriticalPod`).
pub fn is_critical(pod: &Pod) -> bool {
    crate::pod::static_pods::is_static(pod)
        || pod
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"))
        || priority(pod) >= SYSTEM_CRITICAL_PRIORITY
}

fn containers(pod: &Pod) -> &[Container] {
    pod.spec.as_ref().map_or(&[], |s| s.containers.as_slice())
}

/// The pod's request of `resource` (upstream `PodRequests`: the app
/// containers' sum, or the largest init container's if that is larger).
pub fn pod_request(pod: &Pod, resource: &str) -> i64 {
    let value = |c: &Container| qos::request(c, resource).map_or(0, |q| q.value());
    let sum: i64 = containers(pod).iter().map(value).sum();
    let init = pod
        .spec
        .iter()
        .flat_map(|s| s.init_containers.iter().flatten())
        .map(value)
        .max()
        .unwrap_or(0);
    sum.max(init)
}

fn usage(signal: Signal, stats: &PodUsage) -> i64 {
    match signal {
        Signal::MemoryAvailable => stats.memory(),
        Signal::NodeFsAvailable | Signal::ImageFsAvailable => stats.disk(),
        Signal::NodeFsInodesFree | Signal::ImageFsInodesFree => stats.inodes(),
        Signal::PidAvailable => stats.processes,
    }
}

fn request(signal: Signal, pod: &Pod) -> i64 {
    match signal {
        Signal::MemoryAvailable => pod_request(pod, "memory"),
        Signal::NodeFsAvailable | Signal::ImageFsAvailable => pod_request(pod, "ephemeral-storage"),
        _ => 0,
    }
}

/// Sorts `pods` so the first is the one to evict for `signal`.
pub fn rank(signal: Signal, pods: &mut [Pod], stats: &HashMap<String, PodUsage>) {
    let uid = |p: &Pod| p.metadata.uid.clone().unwrap_or_default();
    pods.sort_by(|a, b| {
        let (sa, sb) = (stats.get(&uid(a)), stats.get(&uid(b)));
        let (Some(sa), Some(sb)) = (sa, sb) else {
            // Pods without stats first.
            return sa.is_some().cmp(&sb.is_some());
        };
        let (ua, ub) = (usage(signal, sa), usage(signal, sb));
        if signal == Signal::PidAvailable {
            return priority(a).cmp(&priority(b)).then(ub.cmp(&ua));
        }
        let (ra, rb) = (request(signal, a), request(signal, b));
        let exceeds = (ub > rb).cmp(&(ua > ra));
        exceeds
            .then(priority(a).cmp(&priority(b)))
            .then_with(|| (ub - rb).cmp(&(ua - ra)))
            .then(Ordering::Equal)
    });
}

/// Upstream's eviction message, e.g. `The node was low on resource:
/// memory. Threshold quantity: 100Mi, available: 50Mi. Container app was
/// using 300Mi, request is 100Mi, has larger consumption of memory. `
pub fn message(
    signal: Signal,
    threshold: i64,
    available: i64,
    pod: &Pod,
    stats: Option<&PodUsage>,
) -> String {
    let resource = signal.resource();
    let bytes = signal.is_bytes();
    let mut message = format!(
        "The node was low on resource: {resource}. Threshold quantity: {}, available: {}. ",
        format_quantity(threshold, bytes),
        format_quantity(available, bytes),
    );
    let Some(stats) = stats else {
        return message;
    };
    if !matches!(resource, "memory" | "ephemeral-storage") {
        return message;
    }
    for container in containers(pod) {
        let Some(used) = stats.containers.get(&container.name) else {
            continue;
        };
        let used = if resource == "memory" {
            used.memory
        } else {
            used.rootfs
        };
        let request = container
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get(resource));
        let request_value = request
            .and_then(|q| corten_apimachinery::quantity::Quantity::parse(&q.0).ok())
            .map_or(0, |q| q.value());
        if used > request_value {
            message.push_str(&format!(
                "Container {} was using {}, request is {}, has larger consumption of {resource}. ",
                container.name,
                format_quantity(used, true),
                request.map_or_else(|| "0".to_string(), |q| q.0.clone()),
            ));
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eviction::observe::ContainerUsage;

    pub(crate) fn pod(name: &str, priority: i32, memory_request: Option<&str>) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
            "spec": {
                "priority": priority,
                "containers": [{
                    "name": "app",
                    "image": "busybox",
                    "resources": memory_request.map_or_else(
                        || serde_json::json!({}),
                        |r| serde_json::json!({"requests": {"memory": r}})),
                }],
            },
        }))
        .unwrap()
    }

    fn usage(memory: i64) -> PodUsage {
        PodUsage {
            containers: [(
                "app".to_string(),
                ContainerUsage {
                    memory,
                    rootfs: memory / 2,
                    rootfs_inodes: 10,
                },
            )]
            .into(),
            processes: memory / (1 << 20),
            ..Default::default()
        }
    }

    fn names(pods: &[Pod]) -> Vec<&str> {
        pods.iter()
            .map(|p| p.metadata.name.as_deref().unwrap())
            .collect()
    }

    #[test]
    fn memory_ranking_like_upstream() {
        let mut pods = vec![
            // Within its request: last whatever its usage and priority.
            pod("guaranteed", 0, Some("1Gi")),
            // Above request, high priority.
            pod("important", 1000, Some("100Mi")),
            // Above request, low priority, small excess.
            pod("small-excess", 0, Some("200Mi")),
            // Best effort (request 0), low priority, big excess.
            pod("best-effort", 0, None),
            // No stats: first.
            pod("unknown", 0, None),
        ];
        let stats = HashMap::from([
            ("uid-guaranteed".to_string(), usage(900 << 20)),
            ("uid-important".to_string(), usage(800 << 20)),
            ("uid-small-excess".to_string(), usage(250 << 20)),
            ("uid-best-effort".to_string(), usage(300 << 20)),
        ]);
        rank(Signal::MemoryAvailable, &mut pods, &stats);
        assert_eq!(
            names(&pods),
            [
                "unknown",
                "best-effort",
                "small-excess",
                "important",
                "guaranteed"
            ]
        );
        pods.retain(|p| p.metadata.name.as_deref() != Some("unknown"));
        rank(Signal::PidAvailable, &mut pods, &stats);
        // Priority first, then processes (900 > 300 > 250).
        assert_eq!(
            names(&pods),
            ["guaranteed", "best-effort", "small-excess", "important"]
        );
    }

    #[test]
    fn messages_like_upstream() {
        let p = pod("web", 0, Some("100Mi"));
        let m = message(
            Signal::MemoryAvailable,
            100 << 20,
            50 << 20,
            &p,
            Some(&usage(300 << 20)),
        );
        assert_eq!(
            m,
            "The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. \
             Container app was using 300Mi, request is 100Mi, has larger consumption of memory. "
        );
        let m = message(Signal::PidAvailable, 1000, 10, &p, Some(&usage(1 << 20)));
        assert_eq!(
            m,
            "The node was low on resource: pids. Threshold quantity: 1k, available: 10. "
        );
        let m = message(
            Signal::NodeFsAvailable,
            10 << 30,
            1 << 30,
            &p,
            Some(&usage(2 << 20)),
        );
        assert!(m.ends_with("Container app was using 1Mi, request is 0, has larger consumption of ephemeral-storage. "), "{m}");
    }

    #[test]
    fn critical_pods() {
        let mut p = pod("x", SYSTEM_CRITICAL_PRIORITY, None);
        assert!(is_critical(&p));
        p.spec.as_mut().unwrap().priority = Some(0);
        assert!(!is_critical(&p));
        p.metadata.annotations =
            Some([("kubernetes.io/config.mirror".to_string(), "h".to_string())].into());
        assert!(is_critical(&p));
    }
}
