//! What the endpoints and endpointslice controllers share: which Services
//! select a pod, which pods a Service selects, how a pod's addresses and
//! ports become endpoints, and the handlers that queue Services when their
//! pods change (upstream `endpointutil` and `endpointsliceutil`).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use crate::framework::informer::{Change, Informer};
use crate::framework::key::ObjectKey;
use crate::framework::pod_readiness::{is_ready, phase};
use crate::framework::queue::WorkQueue;
use crate::framework::selector::Selector;

/// `endpoints.kubernetes.io/last-change-trigger-time`: when the change that
/// the endpoints reflect happened (read by kube-proxy for its latency metric).
pub const LAST_CHANGE_TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";
/// Label set on the endpoints of headless Services.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";

/// The Service's selector; `None` for selector-less Services (their
/// endpoints are managed by someone else) and ExternalName Services.
pub fn service_selector(service: &Service) -> Option<Selector> {
    let spec = service.spec.as_ref()?;
    if spec.type_.as_deref() == Some("ExternalName") {
        return None;
    }
    // An empty selector is stored as none upstream (protobuf drops empty
    // maps), so it selects nothing rather than everything.
    spec.selector
        .as_ref()
        .filter(|s| !s.is_empty())
        .map(Selector::from_set)
}

/// `spec.clusterIP` is `None`.
pub fn is_headless(service: &Service) -> bool {
    service.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

/// `spec.publishNotReadyAddresses`.
pub fn publish_not_ready(service: &Service) -> bool {
    service
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false)
}

/// The Services of the pod's namespace whose selector matches `labels`.
pub fn services_selecting(
    services: &Informer<Service>,
    namespace: &str,
    labels: Option<&BTreeMap<String, String>>,
) -> Vec<Arc<Service>> {
    services
        .list_namespace(namespace)
        .into_iter()
        .filter(|svc| service_selector(svc).is_some_and(|s| s.matches(labels)))
        .collect()
}

/// The pods of the Service's namespace its selector matches.
pub fn selected_pods(pods: &Informer<Pod>, service: &Service) -> Vec<Arc<Pod>> {
    let Some(selector) = service_selector(service) else {
        return Vec::new();
    };
    pods.list_namespace(&service.namespace().unwrap_or_default())
        .into_iter()
        .filter(|pod| selector.matches(pod.metadata.labels.as_ref()))
        .collect()
}

/// Upstream `ShouldPodBeInEndpoints`: a pod with an IP that has not
/// finished; a terminating pod only when `include_terminating`.
pub fn should_be_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    if matches!(phase(pod), "Succeeded" | "Failed") {
        return false;
    }
    if pod_ips(pod).is_empty() {
        return false;
    }
    include_terminating || pod.metadata.deletion_timestamp.is_none()
}

/// The pod's IPs (`status.podIPs`, or `status.podIP` alone).
pub fn pod_ips(pod: &Pod) -> Vec<String> {
    let Some(status) = pod.status.as_ref() else {
        return Vec::new();
    };
    let mut ips: Vec<String> = status
        .pod_ips
        .iter()
        .flatten()
        .map(|ip| ip.ip.clone())
        .filter(|ip| !ip.is_empty())
        .collect();
    if ips.is_empty()
        && let Some(ip) = status.pod_ip.as_ref().filter(|ip| !ip.is_empty())
    {
        ips.push(ip.clone());
    }
    ips
}

/// Whether an address is IPv6 (`None` when it does not parse).
pub fn is_ipv6(address: &str) -> Option<bool> {
    address
        .parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| ip.is_ipv6())
}

/// The pod's `Ready` condition is `True`.
pub fn pod_ready(pod: &Pod) -> bool {
    is_ready(pod)
}

/// The DNS hostname of a pod behind a headless Service: set when the pod
/// names a `hostname` and its `subdomain` is this Service's name.
pub fn hostname_for(pod: &Pod, service: &Service) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let hostname = spec.hostname.as_deref().filter(|h| !h.is_empty())?;
    (is_headless(service) && spec.subdomain.as_deref() == Some(service.name_any().as_str()))
        .then(|| hostname.to_string())
}

/// A reference to the pod (an endpoint's `targetRef`).
pub fn pod_reference(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".to_string()),
        namespace: pod.namespace(),
        name: Some(pod.name_any()),
        uid: pod.uid(),
        ..ObjectReference::default()
    }
}

/// The port a Service port reaches on `pod`: a numeric `targetPort` as is
/// (the `port` when unset), a named one looked up among the pod's container
/// ports of the same protocol (upstream `podutil.FindPort`). `None` when the
/// pod has no such named port.
pub fn target_port(pod: &Pod, service_port: &ServicePort) -> Option<i32> {
    let protocol = service_port.protocol.as_deref().unwrap_or("TCP");
    match &service_port.target_port {
        None => Some(service_port.port),
        Some(IntOrString::Int(0)) => Some(service_port.port),
        Some(IntOrString::Int(port)) => Some(*port),
        Some(IntOrString::String(name)) => {
            if let Ok(port) = name.parse::<i32>() {
                return Some(port);
            }
            let spec = pod.spec.as_ref()?;
            spec.containers
                .iter()
                .chain(spec.init_containers.iter().flatten())
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && p.protocol.as_deref().unwrap_or("TCP") == protocol
                })
                .map(|p| p.container_port)
        }
    }
}

/// When the pod last changed in a way the endpoints show: the latest of its
/// creation and its `Ready` condition's transition.
pub fn pod_change_time(pod: &Pod) -> Option<Timestamp> {
    let ready = crate::framework::pod_readiness::ready_condition(pod)
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0);
    let created = pod.metadata.creation_timestamp.as_ref().map(|t| t.0);
    ready.max(created)
}

/// The value of [`LAST_CHANGE_TRIGGER_TIME`] for a Service and its pods:
/// the most recent change among them (upstream's trigger time tracker keeps
/// the first unprocessed change; this is the same for a single change and
/// never earlier than the last one).
pub fn last_change_trigger_time<'a>(
    service: &Service,
    pods: impl Iterator<Item = &'a Pod>,
) -> Option<String> {
    let service_time = service.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let latest = pods.filter_map(pod_change_time).max();
    latest
        .max(service_time)
        .map(|t| Time(Timestamp::from_second(t.as_second()).unwrap_or(t)))
        .map(|t| t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// Queues the Service keys affected by pod changes: the Services selecting
/// the pod before and after the change (upstream `GetServicesToUpdateOnPodChange`).
pub fn add_pod_handlers(
    services: &Informer<Service>,
    pods: &Informer<Pod>,
    queue: &WorkQueue<ObjectKey>,
) {
    let services = services.clone();
    let queue = queue.clone();
    pods.add_event_handler(move |change: Change<'_, Pod>| {
        let enqueue = |pod: &Pod| {
            let namespace = pod.namespace().unwrap_or_default();
            for svc in services_selecting(&services, &namespace, pod.metadata.labels.as_ref()) {
                queue.add(ObjectKey::of(svc.as_ref()));
            }
        };
        match change {
            Change::Added(pod) | Change::Deleted(pod) => enqueue(pod),
            Change::Updated { old, new } => {
                if old.metadata.resource_version == new.metadata.resource_version {
                    return;
                }
                if endpoint_relevant(old) == endpoint_relevant(new) {
                    return;
                }
                enqueue(new);
                if old.metadata.labels != new.metadata.labels {
                    enqueue(old);
                }
            }
        }
    });
}

/// Queues a Service on every change of it.
pub fn add_service_handlers(services: &Informer<Service>, queue: &WorkQueue<ObjectKey>) {
    let queue = queue.clone();
    services.add_event_handler(move |change: Change<'_, Service>| {
        queue.add(ObjectKey::of(change.object()));
    });
}

/// The parts of a pod that endpoints are made of; an update that changes
/// none of them needs no sync (upstream `podEndpointsChanged` plus labels).
fn endpoint_relevant(pod: &Pod) -> impl PartialEq + '_ {
    let spec = pod.spec.as_ref();
    (
        pod.metadata.labels.as_ref(),
        pod.metadata.deletion_timestamp.as_ref(),
        pod_ips(pod),
        is_ready(pod),
        phase(pod),
        spec.and_then(|s| s.node_name.as_deref()),
        spec.and_then(|s| s.hostname.as_deref()),
        spec.and_then(|s| s.subdomain.as_deref()),
        spec.map(|s| &s.containers),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn pod(name: &str, ips: &[&str], ready: bool) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"),
                         "labels": {"app": "web"},
                         "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "i",
                "ports": [{"name": "http", "containerPort": 8080},
                          {"name": "dns", "containerPort": 53, "protocol": "UDP"}]}]},
            "status": {"phase": "Running",
                       "podIP": ips.first().copied().unwrap_or(""),
                       "podIPs": ips.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>(),
                       "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"},
                                       "lastTransitionTime": "2025-01-01T00:01:00Z"}]}
        }))
        .unwrap()
    }

    pub(crate) fn service(name: &str, spec: serde_json::Value) -> Service {
        let mut base = json!({"selector": {"app": "web"}, "clusterIP": "10.0.0.10",
                              "ipFamilies": ["IPv4"],
                              "ports": [{"name": "http", "port": 80, "targetPort": "http"}]});
        for (k, v) in spec.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "uid": "svc-uid",
                         "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": base
        }))
        .unwrap()
    }

    #[test]
    fn named_target_ports_resolve_by_protocol() {
        let p = pod("a", &["10.1.0.5"], true);
        let port = |v: serde_json::Value| serde_json::from_value::<ServicePort>(v).unwrap();
        assert_eq!(
            target_port(&p, &port(json!({"port": 80, "targetPort": "http"}))),
            Some(8080)
        );
        assert_eq!(target_port(&p, &port(json!({"port": 80}))), Some(80));
        assert_eq!(
            target_port(&p, &port(json!({"port": 80, "targetPort": 9090}))),
            Some(9090)
        );
        // "dns" is only a UDP port.
        assert_eq!(
            target_port(&p, &port(json!({"port": 53, "targetPort": "dns"}))),
            None
        );
        assert_eq!(
            target_port(
                &p,
                &port(json!({"port": 53, "targetPort": "dns", "protocol": "UDP"}))
            ),
            Some(53)
        );
    }

    #[test]
    fn pods_in_endpoints() {
        let mut p = pod("a", &["10.1.0.5"], true);
        assert!(should_be_in_endpoints(&p, false));
        p.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
        assert!(!should_be_in_endpoints(&p, false));
        assert!(should_be_in_endpoints(&p, true));
        let mut done = pod("b", &["10.1.0.6"], false);
        done.status.as_mut().unwrap().phase = Some("Succeeded".into());
        assert!(!should_be_in_endpoints(&done, true));
        assert!(!should_be_in_endpoints(&pod("c", &[], false), true));
    }

    #[test]
    fn hostname_only_for_the_matching_headless_service() {
        let mut p = pod("a", &["10.1.0.5"], true);
        let spec = p.spec.as_mut().unwrap();
        spec.hostname = Some("web-0".into());
        spec.subdomain = Some("web".into());
        let headless = service("web", json!({"clusterIP": "None"}));
        assert_eq!(hostname_for(&p, &headless).as_deref(), Some("web-0"));
        assert_eq!(hostname_for(&p, &service("web", json!({}))), None);
        assert_eq!(
            hostname_for(&p, &service("other", json!({"clusterIP": "None"}))),
            None
        );
    }

    #[test]
    fn trigger_time_is_the_latest_change() {
        let svc = service("web", json!({}));
        let pods = [pod("a", &["10.1.0.5"], true)];
        assert_eq!(
            last_change_trigger_time(&svc, pods.iter()).as_deref(),
            Some("2025-01-01T00:01:00Z")
        );
        assert_eq!(
            last_change_trigger_time(&svc, std::iter::empty()).as_deref(),
            Some("2025-01-01T00:00:00Z")
        );
    }
}
