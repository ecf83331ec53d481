//! `/stats/summary`: node and pod usage in upstream's Summary API shape
//! (`stats.k8s.io/v1alpha1`), from /proc, statvfs and CRI container stats.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::kubelet::Kubelet;
use crate::node::machine::MachineUsage;
use crate::pod::labels;

fn rfc3339_now() -> String {
    jiff::Timestamp::now().to_string()
}

/// CPU time the machine spent busy, in core-seconds (`/proc/stat`).
pub(crate) fn node_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system irq softirq steal (not idle/iowait), in USER_HZ.
    let busy = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|i| fields.get(*i))
        .sum::<f64>();
    Some(busy / 100.0)
}

/// The summary.
pub async fn summary(kubelet: &Kubelet) -> Value {
    let now = rfc3339_now();
    let usage = MachineUsage::read(&kubelet.config.root_dir);
    let memory_total = kubelet.machine.memory_bytes;
    let working_set = memory_total.saturating_sub(usage.memory_available);
    let node = json!({
        "nodeName": kubelet.config.node_name,
        "startTime": kubelet.started_at,
        "cpu": {
            "time": now,
            "usageCoreNanoSeconds": node_cpu_seconds().map(|s| (s * 1e9) as u64),
        },
        "memory": {
            "time": now,
            "availableBytes": usage.memory_available,
            "usageBytes": working_set,
            "workingSetBytes": working_set,
        },
        "fs": {
            "time": now,
            "availableBytes": usage.nodefs_available,
            "capacityBytes": kubelet.machine.root_fs_bytes,
            "usedBytes": kubelet.machine.root_fs_bytes.saturating_sub(usage.nodefs_available),
            "inodesFree": usage.nodefs_inodes_free,
            "inodes": usage.nodefs_inodes,
        },
        "rlimit": {
            "time": now,
            "maxpid": usage.pid_max,
            "curproc": usage.processes,
        },
        "systemContainers": [],
    });
    let stats = kubelet
        .runtime
        .list_container_stats(None)
        .await
        .unwrap_or_default();
    let mut pods: BTreeMap<String, (Value, Vec<Value>)> = BTreeMap::new();
    for stat in stats {
        let Some(attributes) = &stat.attributes else {
            continue;
        };
        let get = |k: &str| attributes.labels.get(k).cloned().unwrap_or_default();
        let uid = get(labels::POD_UID);
        let reference = json!({
            "name": get(labels::POD_NAME),
            "namespace": get(labels::POD_NAMESPACE),
            "uid": uid,
        });
        let container = json!({
            "name": get(labels::CONTAINER_NAME),
            "startTime": now,
            "cpu": stat.cpu.as_ref().map(|c| json!({
                "time": now,
                "usageNanoCores": c.usage_nano_cores.as_ref().map(|v| v.value),
                "usageCoreNanoSeconds": c.usage_core_nano_seconds.as_ref().map(|v| v.value),
            })),
            "memory": stat.memory.as_ref().map(|m| json!({
                "time": now,
                "workingSetBytes": m.working_set_bytes.as_ref().map(|v| v.value),
                "usageBytes": m.usage_bytes.as_ref().map(|v| v.value),
                "rssBytes": m.rss_bytes.as_ref().map(|v| v.value),
            })),
            "rootfs": stat.writable_layer.as_ref().map(|f| json!({
                "time": now,
                "usedBytes": f.used_bytes.as_ref().map(|v| v.value),
                "inodesUsed": f.inodes_used.as_ref().map(|v| v.value),
            })),
        });
        pods.entry(uid)
            .or_insert_with(|| (reference, Vec::new()))
            .1
            .push(container);
    }
    let pods: Vec<Value> = pods
        .into_values()
        .map(|(reference, containers)| {
            json!({
                "podRef": reference,
                "startTime": now,
                "containers": containers,
            })
        })
        .collect();
    json!({"node": node, "pods": pods})
}
