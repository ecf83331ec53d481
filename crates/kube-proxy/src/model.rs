//! The proxier's view of the cluster: one [`ServicePort`] per (Service, port)
//! and its [`Endpoint`]s, built from Services and EndpointSlices.
//!
//! No I/O here: the watchers feed objects in, the backends read a
//! [`ProxyState`] out. Everything the backends need to decide is computed
//! here once (which endpoints serve cluster traffic, which serve local
//! traffic), so the nftables and iptables code only translate.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// The label linking an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// Services with this label belong to another proxy and are ignored.
pub const SERVICE_PROXY_NAME_LABEL: &str = "service.kubernetes.io/service-proxy-name";
/// Marks headless Services and their EndpointSlices (ignored, like upstream).
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";
/// Annotation set by the EndpointSlice controller: when the change that led
/// to this slice happened (the start of network programming latency).
pub const TRIGGER_TIME_ANNOTATION: &str = "endpoints.kubernetes.io/last-change-trigger-time";
/// Upstream's default ClientIP affinity timeout (3 hours).
pub const DEFAULT_AFFINITY_SECONDS: u32 = 10800;

/// L4 protocol of a service port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TCP
    #[default]
    Tcp,
    /// UDP
    Udp,
    /// SCTP
    Sctp,
}

impl Protocol {
    /// Parses the Kubernetes spelling (default TCP when absent).
    pub fn parse(value: Option<&str>) -> Option<Protocol> {
        match value.unwrap_or("TCP") {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// Lower case, as nftables and iptables spell it.
    pub fn lower(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// IP family of an address, a rule set or a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpFamily {
    /// IPv4
    V4,
    /// IPv6
    V6,
}

impl IpFamily {
    /// The family of `ip`.
    pub fn of(ip: &IpAddr) -> IpFamily {
        if ip.is_ipv4() {
            IpFamily::V4
        } else {
            IpFamily::V6
        }
    }
}

/// Identifies one port of one Service: `namespace/name:port-name/protocol`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServicePortName {
    /// Namespace of the Service.
    pub namespace: String,
    /// Name of the Service.
    pub name: String,
    /// The port's name ("" for a single unnamed port).
    pub port_name: String,
    /// The port's protocol.
    pub protocol: Protocol,
}

impl fmt::Display for ServicePortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)?;
        if !self.port_name.is_empty() {
            write!(f, ":{}", self.port_name)?;
        }
        Ok(())
    }
}

/// One Service port as the proxier programs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServicePort {
    /// Which Service port this is.
    pub name: ServicePortName,
    /// Cluster IPs (one per family).
    pub cluster_ips: Vec<IpAddr>,
    /// The Service port.
    pub port: u16,
    /// The node port, for NodePort and LoadBalancer Services.
    pub node_port: Option<u16>,
    /// `spec.externalIPs`.
    pub external_ips: Vec<IpAddr>,
    /// ClientIP affinity timeout, when `sessionAffinity: ClientIP`.
    pub affinity_seconds: Option<u32>,
    /// `externalTrafficPolicy: Local`.
    pub external_policy_local: bool,
    /// `internalTrafficPolicy: Local`.
    pub internal_policy_local: bool,
    /// Load-balancer ingress IPs (`status.loadBalancer.ingress[].ip`),
    /// except those with `ipMode: Proxy`: that load balancer delivers to
    /// the node itself, so the IP must not be captured here.
    pub load_balancer_ips: Vec<IpAddr>,
    /// `spec.loadBalancerSourceRanges`: only these sources may use the
    /// load-balancer IPs.
    pub source_ranges: Vec<IpNet>,
    /// `spec.healthCheckNodePort` of a LoadBalancer Service with
    /// `externalTrafficPolicy: Local`.
    pub health_check_node_port: Option<u16>,
}

impl ServicePort {
    /// The cluster IP of `family`, if the Service has one.
    pub fn cluster_ip(&self, family: IpFamily) -> Option<IpAddr> {
        self.cluster_ips
            .iter()
            .copied()
            .find(|ip| IpFamily::of(ip) == family)
    }
}

/// One endpoint of a Service port.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    /// Pod (or other backend) address.
    pub ip: IpAddr,
    /// Target port.
    pub port: u16,
    /// `conditions.ready` (nil counts as ready).
    pub ready: bool,
    /// `conditions.serving` (defaults to ready).
    pub serving: bool,
    /// `conditions.terminating`.
    pub terminating: bool,
    /// Runs on this proxy's node.
    pub local: bool,
    /// `hints.forZones[].name`, sorted (topology-aware routing).
    pub zone_hints: Vec<String>,
}

impl Endpoint {
    /// `ip:port`, bracketed for IPv6.
    pub fn address(&self) -> String {
        match self.ip {
            IpAddr::V4(ip) => format!("{ip}:{}", self.port),
            IpAddr::V6(ip) => format!("[{ip}]:{}", self.port),
        }
    }
}

/// What the proxy knows of its own Node (from the Node object).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node's primary IP per family (first InternalIP, else
    /// ExternalIP): `--nodeport-addresses=primary` and the
    /// loadBalancerSourceRanges exception for the node's own traffic.
    pub ips: Vec<IpAddr>,
    /// The `topology.kubernetes.io/zone` label ("" when absent).
    pub zone: String,
}

impl NodeInfo {
    /// The node's primary IP of `family`.
    pub fn ip(&self, family: IpFamily) -> Option<IpAddr> {
        self.ips
            .iter()
            .copied()
            .find(|ip| IpFamily::of(ip) == family)
    }
}

/// The zone label of Nodes.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// Everything the proxier programs: every Service port with its endpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyState {
    /// Service ports, sorted by name so generated rules are deterministic.
    pub services: BTreeMap<ServicePortName, ServicePort>,
    /// Endpoints per Service port (sorted, deduplicated).
    pub endpoints: BTreeMap<ServicePortName, Vec<Endpoint>>,
    /// This proxy's Node.
    pub node: NodeInfo,
}

impl ProxyState {
    /// The endpoints of `name` (empty when there are none).
    pub fn endpoints_of(&self, name: &ServicePortName) -> &[Endpoint] {
        self.endpoints.get(name).map_or(&[], Vec::as_slice)
    }

    /// The ports of the Service `key`, in order.
    pub fn ports_of<'a>(
        &'a self,
        key: &'a ServiceKey,
    ) -> impl Iterator<Item = (&'a ServicePortName, &'a ServicePort)> + 'a {
        ports_of(&self.services, key)
    }
}

/// A Service: (namespace, name).
pub type ServiceKey = (String, String);

/// The entries of `map` that belong to the Service `key`: a range lookup,
/// since names sort by namespace and name first.
pub fn ports_of<'a, V>(
    map: &'a BTreeMap<ServicePortName, V>,
    key: &'a ServiceKey,
) -> impl Iterator<Item = (&'a ServicePortName, &'a V)> + 'a {
    let first = ServicePortName {
        namespace: key.0.clone(),
        name: key.1.clone(),
        port_name: String::new(),
        protocol: Protocol::Tcp,
    };
    map.range(first..)
        .take_while(move |(n, _)| n.namespace == key.0 && n.name == key.1)
}

/// Which Services changed since the proxier's previous sync: the hint that
/// lets a partial sync look at those alone (upstream's
/// `ServiceChangeTracker`/`EndpointsChangeTracker` results).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Changes {
    /// Unknown or everything (first sync, a relist, this node changed):
    /// compare every Service.
    #[default]
    All,
    /// Only these Services (their ports or endpoints) changed.
    Services(std::collections::BTreeSet<ServiceKey>),
}

impl Changes {
    /// Folds `other` (later changes) into `self`.
    pub fn merge(&mut self, other: Changes) {
        match (&mut *self, other) {
            (Changes::All, _) => {}
            (_, Changes::All) => *self = Changes::All,
            (Changes::Services(mine), Changes::Services(theirs)) => mine.extend(theirs),
        }
    }
}

/// Converts a Service into its ports. Returns an empty list for Services the
/// proxy does not handle (headless, ExternalName, another proxy's), and logs
/// and skips ports that are invalid.
pub fn service_ports(service: &Service) -> Vec<ServicePort> {
    let meta = &service.metadata;
    let (Some(namespace), Some(name)) = (&meta.namespace, &meta.name) else {
        return Vec::new();
    };
    let labels = meta.labels.as_ref();
    if labels.is_some_and(|l| l.contains_key(SERVICE_PROXY_NAME_LABEL)) {
        return Vec::new();
    }
    let Some(spec) = &service.spec else {
        return Vec::new();
    };
    if spec.type_.as_deref() == Some("ExternalName") {
        return Vec::new();
    }
    let mut ips: Vec<&String> = spec.cluster_ips.iter().flatten().collect();
    if ips.is_empty()
        && let Some(ip) = &spec.cluster_ip
    {
        ips.push(ip);
    }
    if ips.is_empty() || ips.iter().any(|ip| ip.as_str() == "None" || ip.is_empty()) {
        // Headless: DNS answers with the endpoints, nothing to proxy.
        return Vec::new();
    }
    let mut cluster_ips = Vec::new();
    for ip in ips {
        match ip.parse::<IpAddr>() {
            Ok(ip) => cluster_ips.push(ip),
            Err(_) => {
                tracing::warn!(service = %format!("{namespace}/{name}"), ip, "skipping a Service with an invalid cluster IP");
                return Vec::new();
            }
        }
    }
    let mut external_ips: Vec<IpAddr> = Vec::new();
    for ip in spec.external_ips.iter().flatten() {
        match ip.parse::<IpAddr>() {
            Ok(ip) if !external_ips.contains(&ip) => external_ips.push(ip),
            Ok(_) => {}
            Err(_) => {
                tracing::warn!(service = %format!("{namespace}/{name}"), ip, "skipping an invalid external IP");
            }
        }
    }
    let affinity_seconds = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
        spec.session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds)
            .and_then(|t| u32::try_from(t).ok())
            .filter(|t| *t > 0)
            .unwrap_or(DEFAULT_AFFINITY_SECONDS)
    });
    let external_policy_local = spec.external_traffic_policy.as_deref() == Some("Local")
        && matches!(spec.type_.as_deref(), Some("NodePort" | "LoadBalancer"));
    let internal_policy_local = spec.internal_traffic_policy.as_deref() == Some("Local");
    let load_balancer_ips = load_balancer_ips(service);
    let source_ranges = source_ranges(spec, &format!("{namespace}/{name}"));
    // Upstream's NeedsHealthCheck: only LoadBalancer Services with the
    // Local policy get a health check node port.
    let health_check_node_port = (spec.type_.as_deref() == Some("LoadBalancer")
        && external_policy_local)
        .then_some(spec.health_check_node_port)
        .flatten()
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0);
    let mut out: Vec<ServicePort> = Vec::new();
    for port in spec.ports.iter().flatten() {
        let Some(protocol) = Protocol::parse(port.protocol.as_deref()) else {
            tracing::warn!(service = %format!("{namespace}/{name}"), protocol = ?port.protocol, "skipping a port with an unknown protocol");
            continue;
        };
        let Ok(number) = u16::try_from(port.port) else {
            tracing::warn!(service = %format!("{namespace}/{name}"), port = port.port, "skipping an out-of-range port");
            continue;
        };
        if number == 0 {
            continue;
        }
        let node_port = port
            .node_port
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0);
        let port_name = ServicePortName {
            namespace: namespace.clone(),
            name: name.clone(),
            port_name: port.name.clone().unwrap_or_default(),
            protocol,
        };
        if out.iter().any(|p| p.name == port_name) {
            tracing::warn!(service = %port_name, "skipping a duplicate port name");
            continue;
        }
        out.push(ServicePort {
            name: port_name,
            cluster_ips: cluster_ips.clone(),
            port: number,
            node_port,
            external_ips: external_ips.clone(),
            affinity_seconds,
            external_policy_local,
            internal_policy_local,
            load_balancer_ips: load_balancer_ips.clone(),
            source_ranges: source_ranges.clone(),
            health_check_node_port,
        });
    }
    out
}

/// `status.loadBalancer.ingress[].ip`, skipping `ipMode: Proxy` ingresses
/// (their load balancer proxies to the node; capturing the IP here would
/// bypass it) and entries without a valid IP.
fn load_balancer_ips(service: &Service) -> Vec<IpAddr> {
    let ingress = service
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref());
    let mut out: Vec<IpAddr> = Vec::new();
    for entry in ingress.into_iter().flatten() {
        if entry.ip_mode.as_deref() == Some("Proxy") {
            continue;
        }
        let Some(ip) = entry.ip.as_deref().and_then(|ip| ip.parse().ok()) else {
            continue;
        };
        if !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

/// `spec.loadBalancerSourceRanges`, trimmed as upstream does; invalid
/// entries are logged and skipped.
fn source_ranges(spec: &k8s_openapi::api::core::v1::ServiceSpec, service: &str) -> Vec<IpNet> {
    let mut out = Vec::new();
    for range in spec.load_balancer_source_ranges.iter().flatten() {
        let range = range.trim();
        if range.is_empty() {
            continue;
        }
        match range.parse::<IpNet>() {
            Ok(net) => out.push(net.trunc()),
            Err(_) => {
                tracing::warn!(
                    service,
                    range,
                    "skipping an invalid loadBalancerSourceRanges entry"
                );
            }
        }
    }
    out
}

/// The first InternalIP of each family (ExternalIPs when there is none).
pub fn primary_ips(node: &k8s_openapi::api::core::v1::Node) -> Vec<std::net::IpAddr> {
    let addresses = node
        .status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .map(Vec::as_slice)
        .unwrap_or_default();
    for kind in ["InternalIP", "ExternalIP"] {
        let mut out: Vec<std::net::IpAddr> = Vec::new();
        for address in addresses.iter().filter(|a| a.type_ == kind) {
            let Ok(ip) = address.address.parse::<std::net::IpAddr>() else {
                continue;
            };
            if !out.iter().any(|o| o.is_ipv4() == ip.is_ipv4()) {
                out.push(ip);
            }
        }
        if !out.is_empty() {
            return out;
        }
    }
    Vec::new()
}

/// What one EndpointSlice contributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SliceEndpoints {
    /// Namespace of the slice and its Service.
    pub namespace: String,
    /// The Service (from the `kubernetes.io/service-name` label).
    pub service: String,
    /// Endpoints per Service port.
    pub endpoints: Vec<(ServicePortName, Endpoint)>,
}

/// The endpoints one EndpointSlice contributes, per Service port.
/// `node_name` decides which endpoints are local.
pub fn slice_endpoints(slice: &EndpointSlice, node_name: &str) -> Option<SliceEndpoints> {
    let namespace = slice.metadata.namespace.clone()?;
    let service = slice
        .metadata
        .labels
        .as_ref()?
        .get(SERVICE_NAME_LABEL)?
        .clone();
    let family = match slice.address_type.as_str() {
        "IPv4" => IpFamily::V4,
        "IPv6" => IpFamily::V6,
        // FQDN slices are not proxied.
        _ => {
            return Some(SliceEndpoints {
                namespace,
                service,
                endpoints: Vec::new(),
            });
        }
    };
    let mut out = Vec::new();
    for port in slice.ports.iter().flatten() {
        let Some(protocol) = Protocol::parse(port.protocol.as_deref()) else {
            continue;
        };
        let Some(number) = port
            .port
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0)
        else {
            continue;
        };
        let port_name = ServicePortName {
            namespace: namespace.clone(),
            name: service.clone(),
            port_name: port.name.clone().unwrap_or_default(),
            protocol,
        };
        for endpoint in &slice.endpoints {
            let conditions = endpoint.conditions.as_ref();
            let ready = conditions.and_then(|c| c.ready).unwrap_or(true);
            let serving = conditions.and_then(|c| c.serving).unwrap_or(ready);
            let terminating = conditions.and_then(|c| c.terminating).unwrap_or(false);
            let local = endpoint.node_name.as_deref() == Some(node_name);
            let mut zone_hints: Vec<String> = endpoint
                .hints
                .as_ref()
                .and_then(|h| h.for_zones.as_ref())
                .into_iter()
                .flatten()
                .map(|z| z.name.clone())
                .collect();
            zone_hints.sort();
            zone_hints.dedup();
            // Upstream uses only the first address of an endpoint.
            let Some(address) = endpoint.addresses.first() else {
                continue;
            };
            let Ok(ip) = address.parse::<IpAddr>() else {
                tracing::warn!(slice = ?slice.metadata.name, address, "skipping an endpoint with an invalid address");
                continue;
            };
            if IpFamily::of(&ip) != family {
                tracing::warn!(slice = ?slice.metadata.name, address, "skipping an endpoint of the wrong family");
                continue;
            }
            out.push((
                port_name.clone(),
                Endpoint {
                    ip,
                    port: number,
                    ready,
                    serving,
                    terminating,
                    local,
                    zone_hints,
                },
            ));
        }
    }
    Some(SliceEndpoints {
        namespace,
        service,
        endpoints: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_and_repeated_external_ips_are_skipped() {
        let svc: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "ns", "name": "x"},
            "spec": {"clusterIP": "10.96.0.3", "ports": [{"port": 80}],
                "externalIPs": ["not-an-ip", "192.0.2.1", "192.0.2.1", "2001:db8::1"]}
        }))
        .unwrap();
        let ports = service_ports(&svc);
        assert_eq!(
            ports[0].external_ips,
            vec![
                "192.0.2.1".parse::<IpAddr>().unwrap(),
                "2001:db8::1".parse().unwrap()
            ]
        );
    }

    #[test]
    fn headless_external_name_and_foreign_proxy_services_are_ignored() {
        let svc: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "ns", "name": "h"},
            "spec": {"clusterIP": "None", "ports": [{"port": 80}]}
        }))
        .unwrap();
        assert!(service_ports(&svc).is_empty());
        let svc: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "ns", "name": "x"},
            "spec": {"type": "ExternalName", "externalName": "example.org"}
        }))
        .unwrap();
        assert!(service_ports(&svc).is_empty());
        let svc: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "ns", "name": "o", "labels": {SERVICE_PROXY_NAME_LABEL: "other"}},
            "spec": {"clusterIP": "10.96.0.5", "ports": [{"port": 80}]}
        }))
        .unwrap();
        assert!(service_ports(&svc).is_empty());
    }

    #[test]
    fn service_ports_read_policies_affinity_and_skip_bad_ports() {
        let svc: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "ns", "name": "web"},
            "spec": {
                "type": "NodePort",
                "clusterIP": "10.96.0.5", "clusterIPs": ["10.96.0.5", "fd00::5"],
                "sessionAffinity": "ClientIP",
                "externalTrafficPolicy": "Local",
                "ports": [
                    {"name": "http", "port": 80, "nodePort": 30080},
                    {"name": "dns", "port": 53, "protocol": "UDP"},
                    {"name": "bad", "port": 70000},
                    {"name": "weird", "port": 81, "protocol": "ICMP"}
                ]
            }
        }))
        .unwrap();
        let ports = service_ports(&svc);
        assert_eq!(ports.len(), 2);
        assert_eq!(ports[0].node_port, Some(30080));
        assert_eq!(ports[0].affinity_seconds, Some(DEFAULT_AFFINITY_SECONDS));
        assert!(ports[0].external_policy_local);
        assert_eq!(
            ports[0].cluster_ip(IpFamily::V6),
            Some("fd00::5".parse().unwrap())
        );
        assert_eq!(ports[1].name.protocol, Protocol::Udp);
        assert_eq!(ports[1].name.to_string(), "ns/web:dns");
    }

    #[test]
    fn slices_yield_endpoints_with_conditions_and_locality() {
        let slice: EndpointSlice = serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "ns", "name": "web-abc", "labels": {SERVICE_NAME_LABEL: "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [
                {"addresses": ["10.244.0.5"], "nodeName": "n1"},
                {"addresses": ["10.244.1.5"], "nodeName": "n2", "conditions": {"ready": false, "serving": true, "terminating": true}},
                {"addresses": ["not-an-ip"]},
                {"addresses": ["fd00::1"]}
            ]
        }))
        .unwrap();
        let SliceEndpoints {
            namespace: ns,
            service: svc,
            endpoints: eps,
        } = slice_endpoints(&slice, "n1").unwrap();
        assert_eq!((ns.as_str(), svc.as_str()), ("ns", "web"));
        assert_eq!(eps.len(), 2);
        assert!(eps[0].1.ready && eps[0].1.local);
        assert!(!eps[1].1.ready && eps[1].1.serving && eps[1].1.terminating && !eps[1].1.local);
        assert_eq!(eps[0].0.port_name, "http");
    }
}
