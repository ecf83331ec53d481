//! Core (`""` group) kinds other than Pod and Event.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::access::{
    age, annotation, at, container_cells, format_labels, int, is_deleting, list, map_len, name,
    opt_int, opt_text, quantity, text,
};
use super::{AGE, CONTAINERS, Column, IMAGES, NAME, Printer};

/// The printer for a core kind (LimitRange and others use the default).
pub(super) fn printer(kind: &str) -> Option<&'static Printer> {
    Some(match kind {
        "Pod" => &super::pod::POD,
        "Event" => &super::events::EVENT,
        "PodTemplate" => &POD_TEMPLATE,
        "ReplicationController" => &REPLICATION_CONTROLLER,
        "Service" => &SERVICE,
        "Endpoints" => &ENDPOINTS,
        "Node" => &NODE,
        "Namespace" => &NAMESPACE,
        "Secret" => &SECRET,
        "ServiceAccount" => &SERVICE_ACCOUNT,
        "PersistentVolume" => &PERSISTENT_VOLUME,
        "PersistentVolumeClaim" => &PERSISTENT_VOLUME_CLAIM,
        "ComponentStatus" => &COMPONENT_STATUS,
        "ConfigMap" => &CONFIG_MAP,
        "ResourceQuota" => &RESOURCE_QUOTA,
        _ => return None,
    })
}

/// The value, or `<none>` when empty.
pub(super) fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s.to_string()
    }
}

static POD_TEMPLATE: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "Containers",
            "string",
            "Names of each container in the template.",
        ),
        Column::new(
            "Images",
            "string",
            "Images referenced by each container in the template.",
        ),
        Column::new("Pod Labels", "string", "The labels for the pod template."),
    ],
    |obj, _now| {
        let (names, images) = container_cells(list(obj, &["template", "spec", "containers"]));
        vec![
            json!(name(obj)),
            json!(names),
            json!(images),
            json!(format_labels(at(obj, &["template", "metadata", "labels"]))),
        ]
    },
);

static REPLICATION_CONTROLLER: Printer = Printer::new(
    &[
        NAME,
        Column::new("Desired", "integer", "Number of desired pods."),
        Column::new("Current", "integer", "Number of pods currently running."),
        Column::new("Ready", "integer", "Number of ready pods."),
        AGE,
        CONTAINERS,
        IMAGES,
        Column::wide(
            "Selector",
            "string",
            "Label keys and values pods must match to be managed.",
        ),
    ],
    |obj, now| {
        let (names, images) =
            container_cells(list(obj, &["spec", "template", "spec", "containers"]));
        vec![
            json!(name(obj)),
            json!(opt_int(obj, &["spec", "replicas"]).unwrap_or(1)),
            json!(int(obj, &["status", "replicas"])),
            json!(int(obj, &["status", "readyReplicas"])),
            json!(age(obj, now)),
            json!(names),
            json!(images),
            json!(format_labels(at(obj, &["spec", "selector"]))),
        ]
    },
);

static SERVICE: Printer = Printer::new(
    &[
        NAME,
        Column::new("Type", "string", "How the service is exposed."),
        Column::new("Cluster-IP", "string", "The IP address of the service."),
        Column::new(
            "External-IP",
            "string",
            "External IPs or load-balancer addresses of the service.",
        ),
        Column::new("Port(s)", "string", "The ports exposed by the service."),
        AGE,
        Column::wide(
            "Selector",
            "string",
            "Pods with these labels receive the service's traffic.",
        ),
    ],
    service_cells,
);

fn service_type(svc: &Value) -> &str {
    match text(svc, &["spec", "type"]) {
        "" => "ClusterIP",
        t => t,
    }
}

/// Upstream `loadBalancerStatusStringer` (wide): the sorted, distinct IPs
/// or hostnames of the load-balancer ingress points.
pub(super) fn load_balancer_addresses(ingress: &[Value]) -> String {
    let set: BTreeSet<&str> = ingress
        .iter()
        .filter_map(|i| {
            let ip = text(i, &["ip"]);
            let host = text(i, &["hostname"]);
            if !ip.is_empty() {
                Some(ip)
            } else if !host.is_empty() {
                Some(host)
            } else {
                None
            }
        })
        .collect();
    set.into_iter().collect::<Vec<_>>().join(",")
}

fn strings(values: &[Value]) -> Vec<&str> {
    values.iter().map(|v| v.as_str().unwrap_or("")).collect()
}

fn service_external_ip(svc: &Value) -> String {
    let external: Vec<&str> = strings(list(svc, &["spec", "externalIPs"]));
    match service_type(svc) {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".to_string()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = load_balancer_addresses(list(svc, &["status", "loadBalancer", "ingress"]));
            if !external.is_empty() {
                let mut all: Vec<&str> = Vec::new();
                if !lb.is_empty() {
                    all.extend(lb.split(','));
                }
                all.extend(external);
                all.join(",")
            } else if !lb.is_empty() {
                lb
            } else {
                "<pending>".to_string()
            }
        }
        "ExternalName" => text(svc, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

fn service_ports(svc: &Value) -> String {
    let pieces: Vec<String> = list(svc, &["spec", "ports"])
        .iter()
        .map(|p| {
            let port = int(p, &["port"]);
            let protocol = match text(p, &["protocol"]) {
                "" => "TCP",
                other => other,
            };
            match int(p, &["nodePort"]) {
                n if n > 0 => format!("{port}:{n}/{protocol}"),
                _ => format!("{port}/{protocol}"),
            }
        })
        .collect();
    or_none(&pieces.join(","))
}

fn service_cells(svc: &Value, now: Timestamp) -> Vec<Value> {
    let cluster_ip = list(svc, &["spec", "clusterIPs"])
        .first()
        .and_then(Value::as_str)
        .or_else(|| opt_text(svc, &["spec", "clusterIP"]))
        .unwrap_or("");
    vec![
        json!(name(svc)),
        json!(service_type(svc)),
        json!(or_none(cluster_ip)),
        json!(service_external_ip(svc)),
        json!(service_ports(svc)),
        json!(age(svc, now)),
        json!(format_labels(at(svc, &["spec", "selector"]))),
    ]
}

static ENDPOINTS: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "Endpoints",
            "string",
            "The addresses and ports of the endpoints.",
        ),
        AGE,
    ],
    |obj, now| {
        vec![
            json!(name(obj)),
            json!(format_endpoints(obj)),
            json!(age(obj, now)),
        ]
    },
);

/// Go's `net.JoinHostPort`.
pub(super) fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Upstream `formatEndpoints`: up to three `ip:port` entries, then
/// ` + N more...`.
fn format_endpoints(obj: &Value) -> String {
    const MAX: usize = 3;
    let subsets = list(obj, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    let mut out: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0usize;
    for subset in subsets {
        let addresses = list(subset, &["addresses"]);
        let ports = list(subset, &["ports"]);
        if ports.is_empty() {
            // Headless services may have no ports.
            count += addresses.len();
            for addr in addresses {
                if out.len() == MAX {
                    more = true;
                    break;
                }
                out.push(text(addr, &["ip"]).to_string());
            }
            continue;
        }
        for port in ports {
            count += addresses.len();
            for addr in addresses {
                if out.len() == MAX {
                    more = true;
                    break;
                }
                out.push(join_host_port(text(addr, &["ip"]), int(port, &["port"])));
            }
        }
    }
    let joined = out.join(",");
    if more {
        format!("{joined} + {} more...", count - MAX)
    } else {
        joined
    }
}

static NODE: Printer = Printer::new(
    &[
        NAME,
        Column::new("Status", "string", "The status of the node"),
        Column::new("Roles", "string", "The roles of the node"),
        AGE,
        Column::new("Version", "string", "The kubelet version of the node."),
        Column::wide("Internal-IP", "string", "The node's internal IP address."),
        Column::wide("External-IP", "string", "The node's external IP address."),
        Column::wide("OS-Image", "string", "The OS image reported by the node."),
        Column::wide(
            "Kernel-Version",
            "string",
            "The kernel version reported by the node.",
        ),
        Column::wide(
            "Container-Runtime",
            "string",
            "The container runtime reported by the node.",
        ),
    ],
    node_cells,
);

/// Upstream node STATUS: `Ready` / `NotReady` / `Unknown` (no Ready
/// condition), plus `,SchedulingDisabled` when cordoned.
fn node_status(node: &Value) -> String {
    let conditions = list(node, &["status", "conditions"]);
    // Upstream keeps the last condition of each type.
    let mut status: Vec<String> = match conditions
        .iter()
        .rev()
        .find(|c| text(c, &["type"]) == "Ready")
    {
        Some(c) if text(c, &["status"]) == "True" => vec!["Ready".to_string()],
        Some(_) => vec!["NotReady".to_string()],
        None => vec!["Unknown".to_string()],
    };
    if at(node, &["spec", "unschedulable"]).as_bool() == Some(true) {
        status.push("SchedulingDisabled".to_string());
    }
    status.join(",")
}

/// Upstream `findNodeRoles`: `node-role.kubernetes.io/<role>` label keys
/// and the `kubernetes.io/role` label value, sorted and distinct.
fn node_roles(node: &Value) -> String {
    let mut roles = BTreeSet::new();
    if let Some(labels) = at(node, &["metadata", "labels"]).as_object() {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.insert(role.to_string());
                }
            } else if k == "kubernetes.io/role" {
                let v = v.as_str().unwrap_or("");
                if !v.is_empty() {
                    roles.insert(v.to_string());
                }
            }
        }
    }
    or_none(&roles.into_iter().collect::<Vec<_>>().join(","))
}

fn node_address(node: &Value, type_: &str) -> String {
    list(node, &["status", "addresses"])
        .iter()
        .find(|a| text(a, &["type"]) == type_)
        .map_or_else(
            || "<none>".to_string(),
            |a| text(a, &["address"]).to_string(),
        )
}

fn node_cells(node: &Value, now: Timestamp) -> Vec<Value> {
    let info = |field: &str| match text(node, &["status", "nodeInfo", field]) {
        "" => "<unknown>".to_string(),
        v => v.to_string(),
    };
    vec![
        json!(name(node)),
        json!(node_status(node)),
        json!(node_roles(node)),
        json!(age(node, now)),
        json!(text(node, &["status", "nodeInfo", "kubeletVersion"])),
        json!(node_address(node, "InternalIP")),
        json!(node_address(node, "ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}

static NAMESPACE: Printer = Printer::new(
    &[
        NAME,
        Column::new("Status", "string", "The status of the namespace"),
        AGE,
    ],
    |obj, now| {
        let phase = match text(obj, &["status", "phase"]) {
            "" => "Active",
            p => p,
        };
        vec![json!(name(obj)), json!(phase), json!(age(obj, now))]
    },
);

static SECRET: Printer = Printer::new(
    &[
        NAME,
        Column::new("Type", "string", "The type of the secret."),
        Column::new(
            "Data",
            "string",
            "The number of data entries in the secret.",
        ),
        AGE,
    ],
    |obj, now| {
        let type_ = match text(obj, &["type"]) {
            "" => "Opaque",
            t => t,
        };
        vec![
            json!(name(obj)),
            json!(type_),
            json!(map_len(obj, &["data"])),
            json!(age(obj, now)),
        ]
    },
);

static SERVICE_ACCOUNT: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "Secrets",
            "string",
            "The number of secrets listed by the service account.",
        ),
        AGE,
    ],
    |obj, now| {
        vec![
            json!(name(obj)),
            json!(list(obj, &["secrets"]).len()),
            json!(age(obj, now)),
        ]
    },
);

static CONFIG_MAP: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "Data",
            "string",
            "The number of data and binaryData entries.",
        ),
        AGE,
    ],
    |obj, now| {
        vec![
            json!(name(obj)),
            json!(map_len(obj, &["data"]) + map_len(obj, &["binaryData"])),
            json!(age(obj, now)),
        ]
    },
);

/// Upstream `GetAccessModesAsString`: `RWO,ROX,RWX,RWOP` in that order.
pub(super) fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| has(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// The storage class of a PV or PVC: the beta annotation wins over
/// `spec.storageClassName`.
fn storage_class(obj: &Value) -> String {
    annotation(obj, "volume.beta.kubernetes.io/storage-class")
        .or_else(|| opt_text(obj, &["spec", "storageClassName"]))
        .unwrap_or("")
        .to_string()
}

fn or_unset(v: Option<&str>) -> String {
    v.unwrap_or("<unset>").to_string()
}

static PERSISTENT_VOLUME: Printer = Printer::new(
    &[
        NAME,
        Column::new("Capacity", "string", "The storage capacity of the volume."),
        Column::new(
            "Access Modes",
            "string",
            "The ways the volume can be mounted.",
        ),
        Column::new(
            "Reclaim Policy",
            "string",
            "What happens to the volume when it is released from its claim.",
        ),
        Column::new("Status", "string", "The phase of the volume."),
        Column::new("Claim", "string", "The claim bound to the volume."),
        Column::new("StorageClass", "string", "StorageClass of the pv"),
        Column::new(
            "VolumeAttributesClass",
            "string",
            "VolumeAttributesClass of the pv",
        ),
        Column::new("Reason", "string", "Why the volume is in its phase."),
        AGE,
        Column::wide(
            "VolumeMode",
            "string",
            "Whether the volume is a filesystem or a raw block device.",
        ),
    ],
    |pv, now| {
        let claim = if at(pv, &["spec", "claimRef"]).is_object() {
            format!(
                "{}/{}",
                text(pv, &["spec", "claimRef", "namespace"]),
                text(pv, &["spec", "claimRef", "name"])
            )
        } else {
            String::new()
        };
        let phase = if is_deleting(pv) {
            "Terminating"
        } else {
            match text(pv, &["status", "phase"]) {
                "" => "Pending",
                p => p,
            }
        };
        let reclaim = match text(pv, &["spec", "persistentVolumeReclaimPolicy"]) {
            "" => "Retain",
            p => p,
        };
        vec![
            json!(name(pv)),
            json!(quantity(at(pv, &["spec", "capacity", "storage"]))),
            json!(access_modes(list(pv, &["spec", "accessModes"]))),
            json!(reclaim),
            json!(phase),
            json!(claim),
            json!(storage_class(pv)),
            json!(or_unset(opt_text(
                pv,
                &["spec", "volumeAttributesClassName"]
            ))),
            json!(text(pv, &["status", "reason"])),
            json!(age(pv, now)),
            json!(opt_text(pv, &["spec", "volumeMode"]).unwrap_or("Filesystem")),
        ]
    },
);

static PERSISTENT_VOLUME_CLAIM: Printer = Printer::new(
    &[
        NAME,
        Column::new("Status", "string", "The phase of the claim."),
        Column::new("Volume", "string", "The volume bound to the claim."),
        Column::new(
            "Capacity",
            "string",
            "The storage capacity of the bound volume.",
        ),
        Column::new(
            "Access Modes",
            "string",
            "The ways the bound volume can be mounted.",
        ),
        Column::new("StorageClass", "string", "StorageClass of the pvc"),
        Column::new(
            "VolumeAttributesClass",
            "string",
            "VolumeAttributesClass of the pvc",
        ),
        AGE,
        Column::wide(
            "VolumeMode",
            "string",
            "Whether the claim is for a filesystem or a raw block device.",
        ),
    ],
    |pvc, now| {
        let phase = if is_deleting(pvc) {
            "Terminating"
        } else {
            match text(pvc, &["status", "phase"]) {
                "" => "Pending",
                p => p,
            }
        };
        let volume = text(pvc, &["spec", "volumeName"]);
        let (capacity, modes) = if volume.is_empty() {
            (String::new(), String::new())
        } else {
            (
                quantity(at(pvc, &["status", "capacity", "storage"])),
                access_modes(list(pvc, &["status", "accessModes"])),
            )
        };
        vec![
            json!(name(pvc)),
            json!(phase),
            json!(volume),
            json!(capacity),
            json!(modes),
            json!(storage_class(pvc)),
            json!(or_unset(opt_text(
                pvc,
                &["spec", "volumeAttributesClassName"]
            ))),
            json!(age(pvc, now)),
            json!(opt_text(pvc, &["spec", "volumeMode"]).unwrap_or("Filesystem")),
        ]
    },
);

static COMPONENT_STATUS: Printer = Printer::new(
    &[
        NAME,
        Column::new("Status", "string", "Status of the component conditions"),
        Column::new("Message", "string", "Message of the component conditions"),
        Column::new("Error", "string", "Error of the component conditions"),
    ],
    |obj, _now| {
        let healthy = list(obj, &["conditions"])
            .iter()
            .find(|c| text(c, &["type"]) == "Healthy");
        let (status, message, error) = match healthy {
            Some(c) => (
                if text(c, &["status"]) == "True" {
                    "Healthy"
                } else {
                    "Unhealthy"
                },
                text(c, &["message"]),
                text(c, &["error"]),
            ),
            None => ("Unknown", "", ""),
        };
        vec![
            json!(name(obj)),
            json!(status),
            json!(message),
            json!(error),
        ]
    },
);

static RESOURCE_QUOTA: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "Request",
            "string",
            "Used and hard amounts of the quota's request (non-limit) resources.",
        ),
        Column::new(
            "Limit",
            "string",
            "Used and hard amounts of the quota's limits.* resources.",
        ),
        AGE,
    ],
    resource_quota_cells,
);

/// `resource: used/hard` for each hard resource, sorted by name; the
/// `limits.*` resources go to the LIMIT column.
fn resource_quota_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let mut requests: Vec<String> = Vec::new();
    let mut limits: Vec<String> = Vec::new();
    if let Some(hard) = at(obj, &["status", "hard"]).as_object() {
        let mut resources: Vec<&String> = hard.keys().collect();
        resources.sort();
        for resource in resources {
            let used = quantity(at(obj, &["status", "used", resource]));
            let entry = format!("{resource}: {used}/{}", quantity(&hard[resource.as_str()]));
            let mut pieces = resource.split('.');
            if pieces.next() == Some("limits") && pieces.next().is_some() {
                limits.push(entry);
            } else {
                requests.push(entry);
            }
        }
    }
    vec![
        json!(name(obj)),
        json!(requests.join(", ")),
        json!(limits.join(", ")),
        json!(age(obj, now)),
    ]
}
