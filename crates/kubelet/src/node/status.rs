//! Node status as upstream's setters build it: capacity and allocatable,
//! the four conditions, addresses, daemon endpoints, nodeInfo, images and
//! runtime handlers. Pure functions of their inputs, so the node manager can
//! compute a status every `nodeStatusUpdateFrequency` and compare it with the
//! last one posted.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use corten_apimachinery::quantity::Quantity as ParsedQuantity;
use corten_cri::api;
use k8s_openapi::api::core::v1::{
    ContainerImage, DaemonEndpoint, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeStatus,
    NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::machine::MachineInfo;

/// Everything the status is computed from.
#[derive(Clone, Debug)]
pub struct StatusInputs<'a> {
    /// The machine.
    pub machine: &'a MachineInfo,
    /// The pressure conditions that are True (from the eviction manager).
    pub pressure: &'a BTreeSet<&'static str>,
    /// `maxPods`.
    pub max_pods: i32,
    /// `systemReserved` + `kubeReserved` are subtracted from capacity.
    pub reserved: Vec<&'a BTreeMap<String, String>>,
    /// `evictionHard`.
    pub eviction_hard: &'a BTreeMap<String, String>,
    /// Node IPs (InternalIP addresses), first is primary.
    pub node_ips: &'a [IpAddr],
    /// Hostname address.
    pub hostname: &'a str,
    /// Kubelet API port.
    pub kubelet_port: u16,
    /// `Version` of the runtime (`None` if it does not answer).
    pub runtime_version: Option<&'a api::VersionResponse>,
    /// `Status` of the runtime (`None` if it does not answer).
    pub runtime_status: Option<&'a api::RuntimeStatus>,
    /// Images on the node.
    pub images: &'a [api::Image],
    /// `nodeStatusMaxImages` (negative: no limit).
    pub max_images: i32,
    /// The conditions currently posted (to keep transition times).
    pub previous: &'a [NodeCondition],
    /// Now.
    pub now: Time,
}

fn milli_cpu_string(milli: i64) -> String {
    if milli % 1000 == 0 {
        (milli / 1000).to_string()
    } else {
        format!("{milli}m")
    }
}

fn bytes_string(bytes: i64) -> String {
    if bytes % 1024 == 0 {
        format!("{}Ki", bytes / 1024)
    } else {
        bytes.to_string()
    }
}

fn parse(q: &str) -> Option<ParsedQuantity> {
    ParsedQuantity::parse(q).ok()
}

/// An eviction threshold: absolute bytes or a fraction of capacity.
fn threshold_bytes(value: &str, capacity: i64) -> i64 {
    if let Some(percent) = value.strip_suffix('%') {
        let p: f64 = percent.trim().parse().unwrap_or(0.0);
        return (capacity as f64 * p / 100.0) as i64;
    }
    parse(value).map(|q| q.value()).unwrap_or(0)
}

/// Allocatable = capacity - reservations - hard eviction thresholds, as
/// upstream's container manager computes it.
pub fn allocatable(
    capacity: &BTreeMap<String, Quantity>,
    reserved: &[&BTreeMap<String, String>],
    eviction_hard: &BTreeMap<String, String>,
) -> BTreeMap<String, Quantity> {
    let mut out = BTreeMap::new();
    let reserved_of = |name: &str, milli: bool| -> i64 {
        reserved
            .iter()
            .filter_map(|r| r.get(name))
            .filter_map(|q| parse(q))
            .map(|q| if milli { q.milli_value() } else { q.value() })
            .sum()
    };
    for (name, quantity) in capacity {
        let Some(parsed) = parse(&quantity.0) else {
            out.insert(name.clone(), quantity.clone());
            continue;
        };
        let value = match name.as_str() {
            "cpu" => {
                let milli = (parsed.milli_value() - reserved_of("cpu", true)).max(0);
                milli_cpu_string(milli)
            }
            "memory" => {
                let cap = parsed.value();
                let hugepages: i64 = capacity
                    .iter()
                    .filter(|(k, _)| k.starts_with("hugepages-"))
                    .filter_map(|(_, q)| parse(&q.0))
                    .map(|q| q.value())
                    .sum();
                let eviction = eviction_hard
                    .get("memory.available")
                    .map(|t| threshold_bytes(t, cap))
                    .unwrap_or(0);
                bytes_string((cap - reserved_of("memory", false) - eviction - hugepages).max(0))
            }
            "ephemeral-storage" => {
                let cap = parsed.value();
                let eviction = eviction_hard
                    .get("nodefs.available")
                    .map(|t| threshold_bytes(t, cap))
                    .unwrap_or(0);
                bytes_string((cap - reserved_of("ephemeral-storage", false) - eviction).max(0))
            }
            "pods" => (parsed.value() - reserved_of("pods", false))
                .max(0)
                .to_string(),
            _ => quantity.0.clone(),
        };
        out.insert(name.clone(), Quantity(value));
    }
    out
}

struct ConditionSpec {
    kind: &'static str,
    status: &'static str,
    reason: &'static str,
    message: String,
}

/// Upstream's condition setters, in upstream's order.
fn condition_specs(inputs: &StatusInputs<'_>) -> Vec<ConditionSpec> {
    // As upstream's setters, straight from the eviction manager.
    let memory_pressure = inputs.pressure.contains("MemoryPressure");
    let disk_pressure = inputs.pressure.contains("DiskPressure");
    let pid_pressure = inputs.pressure.contains("PIDPressure");

    let mut specs = vec![
        if memory_pressure {
            ConditionSpec {
                kind: "MemoryPressure",
                status: "True",
                reason: "KubeletHasInsufficientMemory",
                message: "kubelet has insufficient memory available".into(),
            }
        } else {
            ConditionSpec {
                kind: "MemoryPressure",
                status: "False",
                reason: "KubeletHasSufficientMemory",
                message: "kubelet has sufficient memory available".into(),
            }
        },
        if disk_pressure {
            ConditionSpec {
                kind: "DiskPressure",
                status: "True",
                reason: "KubeletHasDiskPressure",
                message: "kubelet has disk pressure".into(),
            }
        } else {
            ConditionSpec {
                kind: "DiskPressure",
                status: "False",
                reason: "KubeletHasNoDiskPressure",
                message: "kubelet has no disk pressure".into(),
            }
        },
        if pid_pressure {
            ConditionSpec {
                kind: "PIDPressure",
                status: "True",
                reason: "KubeletHasInsufficientPID",
                message: "kubelet has insufficient PID available".into(),
            }
        } else {
            ConditionSpec {
                kind: "PIDPressure",
                status: "False",
                reason: "KubeletHasSufficientPID",
                message: "kubelet has sufficient PID available".into(),
            }
        },
    ];
    let runtime_errors = runtime_errors(inputs.runtime_status);
    specs.push(if runtime_errors.is_empty() {
        ConditionSpec {
            kind: "Ready",
            status: "True",
            reason: "KubeletReady",
            message: "kubelet is posting ready status".into(),
        }
    } else {
        ConditionSpec {
            kind: "Ready",
            status: "False",
            reason: "KubeletNotReady",
            message: runtime_errors.join(", "),
        }
    });
    specs
}

/// Why the runtime is not ready, in upstream's words.
pub fn runtime_errors(status: Option<&api::RuntimeStatus>) -> Vec<String> {
    let Some(status) = status else {
        return vec!["container runtime is down".into()];
    };
    let mut errors = Vec::new();
    for wanted in ["RuntimeReady", "NetworkReady"] {
        match status.conditions.iter().find(|c| c.r#type == wanted) {
            Some(c) if c.status => {}
            Some(c) => {
                let prefix = if wanted == "NetworkReady" {
                    "container runtime network not ready"
                } else {
                    "container runtime not ready"
                };
                errors.push(format!(
                    "{prefix}: {wanted}=false reason:{} message:{}",
                    c.reason, c.message
                ));
            }
            None => errors.push(format!(
                "container runtime status check may not have completed yet: {wanted} missing"
            )),
        }
    }
    errors
}

/// Builds the conditions, keeping `lastTransitionTime` of unchanged ones.
pub fn conditions(inputs: &StatusInputs<'_>) -> Vec<NodeCondition> {
    condition_specs(inputs)
        .into_iter()
        .map(|spec| {
            let previous = inputs.previous.iter().find(|c| c.type_ == spec.kind);
            let transition = match previous {
                Some(p) if p.status == spec.status => p
                    .last_transition_time
                    .clone()
                    .unwrap_or_else(|| inputs.now.clone()),
                _ => inputs.now.clone(),
            };
            NodeCondition {
                type_: spec.kind.to_string(),
                status: spec.status.to_string(),
                reason: Some(spec.reason.to_string()),
                message: Some(spec.message),
                last_heartbeat_time: Some(inputs.now.clone()),
                last_transition_time: Some(transition),
            }
        })
        .collect()
}

/// The images list: names (digests then tags) and sizes, largest first.
pub fn images(images: &[api::Image], max: i32) -> Vec<ContainerImage> {
    let mut list: Vec<ContainerImage> = images
        .iter()
        .filter(|i| !i.repo_tags.is_empty() || !i.repo_digests.is_empty())
        .map(|i| ContainerImage {
            names: Some(
                i.repo_digests
                    .iter()
                    .chain(i.repo_tags.iter())
                    .cloned()
                    .collect(),
            ),
            size_bytes: i64::try_from(i.size).ok(),
        })
        .collect();
    list.sort_by(|a, b| b.size_bytes.cmp(&a.size_bytes).then(a.names.cmp(&b.names)));
    if max >= 0 {
        list.truncate(max as usize);
    }
    list
}

/// The whole status.
pub fn node_status(inputs: &StatusInputs<'_>) -> NodeStatus {
    let capacity = inputs.machine.capacity(inputs.max_pods);
    let allocatable = allocatable(&capacity, &inputs.reserved, inputs.eviction_hard);
    let mut addresses: Vec<NodeAddress> = inputs
        .node_ips
        .iter()
        .map(|ip| NodeAddress {
            type_: "InternalIP".into(),
            address: ip.to_string(),
        })
        .collect();
    addresses.push(NodeAddress {
        type_: "Hostname".into(),
        address: inputs.hostname.to_string(),
    });
    let runtime_version = inputs
        .runtime_version
        .map(|v| format!("{}://{}", v.runtime_name, v.runtime_version))
        .unwrap_or_else(|| "Unknown".into());
    let machine = inputs.machine;
    NodeStatus {
        capacity: Some(capacity),
        allocatable: Some(allocatable),
        conditions: Some(conditions(inputs)),
        addresses: Some(addresses),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint {
                port: i32::from(inputs.kubelet_port),
            }),
        }),
        node_info: Some(NodeSystemInfo {
            machine_id: machine.machine_id.clone(),
            system_uuid: machine.system_uuid.clone(),
            boot_id: machine.boot_id.clone(),
            kernel_version: machine.kernel_version.clone(),
            os_image: machine.os_image.clone(),
            container_runtime_version: runtime_version,
            kubelet_version: corten_component_base::version::GIT_VERSION.to_string(),
            kube_proxy_version: String::new(),
            operating_system: "linux".into(),
            architecture: machine.architecture.clone(),
            swap: None,
        }),
        images: Some(images(inputs.images, inputs.max_images)),
        // containerd 1.6 reports neither runtime handlers nor features.
        runtime_handlers: None,
        features: None,
        ..Default::default()
    }
}

/// Whether two statuses differ in anything but heartbeat times.
pub fn changed(old: &NodeStatus, new: &NodeStatus) -> bool {
    let strip = |s: &NodeStatus| {
        let mut s = s.clone();
        for c in s.conditions.iter_mut().flatten() {
            c.last_heartbeat_time = None;
        }
        s
    };
    strip(old) != strip(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> MachineInfo {
        MachineInfo {
            cpus: 2,
            memory_bytes: 8 << 30,
            root_fs_bytes: 100 << 30,
            hugepages: BTreeMap::from([(2 << 20, 0)]),
            machine_id: "m".into(),
            system_uuid: "u".into(),
            boot_id: "b".into(),
            kernel_version: "6.1".into(),
            os_image: "Debian GNU/Linux 12 (bookworm)".into(),
            architecture: "amd64".into(),
        }
    }

    fn ready_runtime() -> api::RuntimeStatus {
        api::RuntimeStatus {
            conditions: ["RuntimeReady", "NetworkReady"]
                .iter()
                .map(|t| api::RuntimeCondition {
                    r#type: t.to_string(),
                    status: true,
                    ..Default::default()
                })
                .collect(),
        }
    }

    #[test]
    fn allocatable_subtracts_reservations_and_eviction() {
        let m = machine();
        let capacity = m.capacity(110);
        assert_eq!(capacity["memory"].0, "8388608Ki");
        assert_eq!(capacity["hugepages-2Mi"].0, "0");
        let reserved = BTreeMap::from([("cpu".to_string(), "100m".to_string())]);
        let alloc = allocatable(
            &capacity,
            &[&reserved],
            &crate::config::default_eviction_hard(),
        );
        assert_eq!(alloc["cpu"].0, "1900m");
        assert_eq!(alloc["memory"].0, "8286208Ki");
        assert_eq!(alloc["pods"].0, "110");
        assert_eq!(alloc["ephemeral-storage"].0, "94371840Ki");
    }

    #[test]
    fn ready_and_not_ready() {
        let m = machine();
        let eviction = crate::config::default_eviction_hard();
        let status = ready_runtime();
        let now = crate::time::now();
        let inputs = StatusInputs {
            machine: &m,
            pressure: &BTreeSet::new(),
            max_pods: 110,
            reserved: vec![],
            eviction_hard: &eviction,
            node_ips: &[IpAddr::from([10, 0, 0, 1])],
            hostname: "node-a",
            kubelet_port: 10250,
            runtime_version: None,
            runtime_status: Some(&status),
            images: &[],
            max_images: 50,
            previous: &[],
            now: now.clone(),
        };
        let s = node_status(&inputs);
        let conditions = s.conditions.clone().unwrap();
        let kinds: Vec<&str> = conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(
            kinds,
            ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
        );
        assert_eq!(conditions[3].status, "True");
        assert_eq!(conditions[0].status, "False");
        assert_eq!(
            conditions[0].reason.as_deref(),
            Some("KubeletHasSufficientMemory")
        );
        assert_eq!(conditions[3].reason.as_deref(), Some("KubeletReady"));
        assert_eq!(s.addresses.as_ref().unwrap()[0].type_, "InternalIP");
        assert_eq!(
            s.node_info.as_ref().unwrap().container_runtime_version,
            "Unknown"
        );

        let mut broken = ready_runtime();
        broken.conditions[1].status = false;
        broken.conditions[1].reason = "NetworkPluginNotReady".into();
        broken.conditions[1].message = "cni plugin not initialized".into();
        let inputs2 = StatusInputs {
            runtime_status: Some(&broken),
            previous: &conditions,
            ..inputs.clone()
        };
        let s2 = node_status(&inputs2);
        let ready = &s2.conditions.as_ref().unwrap()[3];
        assert_eq!(ready.status, "False");
        assert!(ready.message.as_deref().unwrap().starts_with(
            "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady"
        ));
        assert!(changed(&s, &s2));
        assert!(!changed(&s, &node_status(&inputs)));

        let pressure = BTreeSet::from(["DiskPressure"]);
        let inputs3 = StatusInputs {
            pressure: &pressure,
            previous: &conditions,
            ..inputs.clone()
        };
        let s3 = node_status(&inputs3);
        let disk = &s3.conditions.as_ref().unwrap()[1];
        assert_eq!(
            (disk.status.as_str(), disk.reason.as_deref()),
            ("True", Some("KubeletHasDiskPressure"))
        );
        assert_eq!(s3.conditions.as_ref().unwrap()[0].status, "False");
    }

    #[test]
    fn images_sorted_and_limited() {
        let list = [
            api::Image {
                id: "a".into(),
                repo_tags: vec!["small:1".into()],
                size: 10,
                ..Default::default()
            },
            api::Image {
                id: "b".into(),
                repo_tags: vec!["big:1".into()],
                repo_digests: vec!["big@sha256:x".into()],
                size: 100,
                ..Default::default()
            },
        ];
        let out = images(&list, 1);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].names.as_ref().unwrap(),
            &["big@sha256:x".to_string(), "big:1".to_string()]
        );
    }
}
