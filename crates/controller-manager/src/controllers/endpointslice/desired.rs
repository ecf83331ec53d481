//! The endpoints a Service should have: one [`DesiredGroup`] per address
//! type and port set (upstream `endpointMeta`), each holding the endpoints
//! built from the Service's pods (upstream `podToEndpoint`).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort};
use kube::ResourceExt;

use crate::controllers::service_pods::{
    hostname_for, is_ipv6, pod_ips, pod_ready, pod_reference, publish_not_ready,
    should_be_in_endpoints, target_port,
};
use crate::framework::pod_readiness::node_name;

/// The node label an endpoint's `zone` comes from.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// `IPv4` or `IPv6` (`discovery.AddressType`).
pub type AddressType = &'static str;

/// Address type of IPv4 slices.
pub const IPV4: AddressType = "IPv4";
/// Address type of IPv6 slices.
pub const IPV6: AddressType = "IPv6";

/// Which slices an endpoint belongs in: same address type, same ports.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey {
    /// `IPv4` or `IPv6`.
    pub address_type: String,
    /// The ports, in canonical order.
    pub ports: Vec<PortKey>,
}

/// One port of a slice, comparable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortKey {
    /// The Service port's name (`""` when unnamed).
    pub name: String,
    /// The port on the pod.
    pub port: i32,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// The Service port's `appProtocol`.
    pub app_protocol: Option<String>,
}

impl PortKey {
    /// The API form.
    pub fn to_endpoint_port(&self) -> EndpointPort {
        EndpointPort {
            name: Some(self.name.clone()),
            port: Some(self.port),
            protocol: Some(self.protocol.clone()),
            app_protocol: self.app_protocol.clone(),
        }
    }

    /// From the API form (missing fields take the API defaults).
    pub fn from_endpoint_port(port: &EndpointPort) -> Self {
        Self {
            name: port.name.clone().unwrap_or_default(),
            port: port.port.unwrap_or(0),
            protocol: port.protocol.clone().unwrap_or_else(|| "TCP".to_string()),
            app_protocol: port.app_protocol.clone(),
        }
    }
}

impl GroupKey {
    /// The group an existing slice belongs to.
    pub fn of_slice(slice: &k8s_openapi::api::discovery::v1::EndpointSlice) -> Self {
        let mut ports: Vec<PortKey> = slice
            .ports
            .iter()
            .flatten()
            .map(PortKey::from_endpoint_port)
            .collect();
        ports.sort();
        Self {
            address_type: slice.address_type.clone(),
            ports,
        }
    }
}

/// The identity of an endpoint across syncs: its first address.
pub fn endpoint_id(endpoint: &Endpoint) -> &str {
    endpoint.addresses.first().map_or("", String::as_str)
}

/// The endpoints of one group, by [`endpoint_id`].
pub type DesiredGroup = BTreeMap<String, Endpoint>;

/// Everything a Service should publish.
#[derive(Debug, Default)]
pub struct Desired {
    /// The groups; empty when no pod is an endpoint.
    pub groups: BTreeMap<GroupKey, DesiredGroup>,
    /// Pods skipped because their node is not (yet) known: retry later.
    pub missing_nodes: bool,
}

/// Upstream `getAddressTypesForService`: the Service's IP families; without
/// them the family of its cluster IP; a headless Service without families
/// gets both.
pub fn address_types(service: &Service) -> BTreeSet<AddressType> {
    let spec = service.spec.as_ref();
    let mut types = BTreeSet::new();
    for family in spec
        .and_then(|s| s.ip_families.as_ref())
        .into_iter()
        .flatten()
    {
        match family.as_str() {
            "IPv4" => types.insert(IPV4),
            "IPv6" => types.insert(IPV6),
            _ => false,
        };
    }
    if !types.is_empty() {
        return types;
    }
    match spec.and_then(|s| s.cluster_ip.as_deref()) {
        Some(ip) if !ip.is_empty() && ip != "None" => {
            types.insert(if is_ipv6(ip) == Some(true) {
                IPV6
            } else {
                IPV4
            });
        }
        _ => {
            types.insert(IPV4);
            types.insert(IPV6);
        }
    }
    types
}

/// The address type of the placeholder slice of a Service without
/// endpoints: its primary family.
pub fn primary_address_type(service: &Service) -> AddressType {
    let spec = service.spec.as_ref();
    let first_family = spec
        .and_then(|s| s.ip_families.as_ref())
        .and_then(|f| f.first());
    if let Some(family) = first_family {
        return if family == "IPv6" { IPV6 } else { IPV4 };
    }
    match spec.and_then(|s| s.cluster_ip.as_deref()).map(is_ipv6) {
        Some(Some(true)) => IPV6,
        _ => IPV4,
    }
}

/// The ports an endpoint for `pod` has: every Service port whose target
/// resolves on the pod (named target ports the pod lacks are left out).
pub fn pod_ports(pod: &Pod, service: &Service) -> Vec<PortKey> {
    let mut ports: Vec<PortKey> = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|sp| {
            Some(PortKey {
                name: sp.name.clone().unwrap_or_default(),
                port: target_port(pod, sp)?,
                protocol: sp.protocol.clone().unwrap_or_else(|| "TCP".to_string()),
                app_protocol: sp.app_protocol.clone(),
            })
        })
        .collect();
    ports.sort();
    ports.dedup();
    ports
}

/// The endpoint of `pod` for one of its addresses.
pub fn pod_endpoint(pod: &Pod, service: &Service, address: String, node: &Node) -> Endpoint {
    let publish = publish_not_ready(service);
    let serving = publish || pod_ready(pod);
    let terminating = pod.metadata.deletion_timestamp.is_some();
    let ready = publish || (serving && !terminating);
    let node_name = node_name(pod);
    Endpoint {
        addresses: vec![address],
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        hostname: hostname_for(pod, service),
        node_name: (!node_name.is_empty()).then(|| node_name.to_string()),
        zone: node.labels().get(ZONE_LABEL).cloned(),
        target_ref: Some(pod_reference(pod)),
        ..Endpoint::default()
    }
}

/// The desired endpoints of `service` given its selected `pods`;
/// `node` looks up the Node a pod runs on.
pub fn desired<'a, P, N>(service: &Service, pods: P, node: N) -> Desired
where
    P: IntoIterator<Item = &'a Pod>,
    N: Fn(&str) -> Option<std::sync::Arc<Node>>,
{
    let types = address_types(service);
    let mut out = Desired::default();
    for pod in pods {
        if !should_be_in_endpoints(pod, true) {
            continue;
        }
        let Some(node) = node(node_name(pod)) else {
            // Upstream leaves such pods out until the node shows up.
            out.missing_nodes = true;
            continue;
        };
        let ports = pod_ports(pod, service);
        let ips = pod_ips(pod);
        for address_type in &types {
            let want_v6 = *address_type == IPV6;
            let Some(address) = ips.iter().find(|ip| is_ipv6(ip) == Some(want_v6)) else {
                continue;
            };
            let endpoint = pod_endpoint(pod, service, address.clone(), &node);
            out.groups
                .entry(GroupKey {
                    address_type: address_type.to_string(),
                    ports: ports.clone(),
                })
                .or_default()
                .insert(address.clone(), endpoint);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::service_pods::tests::{pod, service};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use serde_json::json;
    use std::sync::Arc;

    fn node() -> Arc<Node> {
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "node-1",
                "labels": {ZONE_LABEL: "zone-a"}}}))
            .unwrap(),
        )
    }

    #[test]
    fn families_decide_address_types() {
        assert_eq!(
            address_types(&service("s", json!({}))),
            BTreeSet::from([IPV4])
        );
        assert_eq!(
            address_types(&service("s", json!({"ipFamilies": ["IPv6", "IPv4"]}))),
            BTreeSet::from([IPV4, IPV6])
        );
        assert_eq!(
            address_types(&service(
                "s",
                json!({"ipFamilies": null, "clusterIP": "fd00::10"})
            )),
            BTreeSet::from([IPV6])
        );
        assert_eq!(
            address_types(&service(
                "s",
                json!({"ipFamilies": null, "clusterIP": "None"})
            )),
            BTreeSet::from([IPV4, IPV6])
        );
        assert_eq!(
            primary_address_type(&service("s", json!({"ipFamilies": ["IPv6", "IPv4"]}))),
            IPV6
        );
    }

    #[test]
    fn endpoints_carry_conditions_node_zone_and_target() {
        let svc = service("web", json!({}));
        let ready = pod("a", &["10.1.0.5"], true);
        let not_ready = pod("b", &["10.1.0.6"], false);
        let mut terminating = pod("c", &["10.1.0.7"], true);
        terminating.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::now()));
        let d = desired(&svc, [&ready, &not_ready, &terminating], |_| Some(node()));
        assert!(!d.missing_nodes);
        assert_eq!(d.groups.len(), 1);
        let (key, group) = d.groups.iter().next().unwrap();
        assert_eq!(key.address_type, "IPv4");
        assert_eq!(key.ports.len(), 1);
        assert_eq!(
            (key.ports[0].name.as_str(), key.ports[0].port),
            ("http", 8080)
        );
        let cond = |ip: &str| group[ip].conditions.clone().unwrap();
        assert_eq!(
            cond("10.1.0.5"),
            EndpointConditions {
                ready: Some(true),
                serving: Some(true),
                terminating: Some(false)
            }
        );
        assert_eq!(
            cond("10.1.0.6"),
            EndpointConditions {
                ready: Some(false),
                serving: Some(false),
                terminating: Some(false)
            }
        );
        assert_eq!(
            cond("10.1.0.7"),
            EndpointConditions {
                ready: Some(false),
                serving: Some(true),
                terminating: Some(true)
            }
        );
        let e = &group["10.1.0.5"];
        assert_eq!(e.node_name.as_deref(), Some("node-1"));
        assert_eq!(e.zone.as_deref(), Some("zone-a"));
        let target = e.target_ref.as_ref().unwrap();
        assert_eq!(
            (
                target.kind.as_deref(),
                target.name.as_deref(),
                target.uid.as_deref()
            ),
            (Some("Pod"), Some("a"), Some("uid-a"))
        );
    }

    #[test]
    fn publish_not_ready_marks_everything_ready() {
        let svc = service("web", json!({"publishNotReadyAddresses": true}));
        let not_ready = pod("b", &["10.1.0.6"], false);
        let d = desired(&svc, [&not_ready], |_| Some(node()));
        let group = d.groups.values().next().unwrap();
        let c = group["10.1.0.6"].conditions.clone().unwrap();
        assert_eq!((c.ready, c.serving), (Some(true), Some(true)));
    }

    #[test]
    fn dual_stack_pods_get_one_endpoint_per_family() {
        let svc = service("web", json!({"ipFamilies": ["IPv4", "IPv6"]}));
        let p = pod("a", &["10.1.0.5", "fd00::5"], true);
        let d = desired(&svc, [&p], |_| Some(node()));
        let types: Vec<&str> = d.groups.keys().map(|k| k.address_type.as_str()).collect();
        assert_eq!(types, ["IPv4", "IPv6"]);
        assert!(d.groups.values().any(|g| g.contains_key("fd00::5")));
    }

    #[test]
    fn ports_split_groups_and_unknown_nodes_are_skipped() {
        let svc = service(
            "web",
            json!({"ports": [{"name": "http", "port": 80, "targetPort": "http"},
                             {"name": "metrics", "port": 9090, "targetPort": "metrics"}]}),
        );
        let plain = pod("a", &["10.1.0.5"], true);
        let mut with_metrics = pod("b", &["10.1.0.6"], true);
        with_metrics.spec.as_mut().unwrap().containers[0]
            .ports
            .as_mut()
            .unwrap()
            .push(
                serde_json::from_value(json!({"name": "metrics", "containerPort": 9100})).unwrap(),
            );
        let d = desired(&svc, [&plain, &with_metrics], |_| Some(node()));
        assert_eq!(d.groups.len(), 2);
        let d = desired(&svc, [&plain], |_| None);
        assert!(d.missing_nodes && d.groups.is_empty());
    }
}
