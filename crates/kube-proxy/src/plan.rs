//! What to program for each Service port of one IP family, independent of
//! the backend. The nftables and iptables renderers translate a [`PortPlan`]
//! into their syntax, so the traffic policy decisions live in one place.
//!
//! Per Service port (as upstream):
//! - a *cluster* chain balancing over the cluster endpoints
//!   (`service-*` / `KUBE-SVC-*`);
//! - a *local* chain balancing over endpoints on this node
//!   (`local-*` / `KUBE-SVL-*`), when a traffic policy is Local;
//! - an *external* chain for NodePort and external IP traffic
//!   (`external-*` / `KUBE-EXT-*`);
//! - one chain per endpoint doing the DNAT (`KUBE-SEP-*`; in nftables mode
//!   `endpoint-*` only with ClientIP affinity, the Service chains DNAT
//!   themselves otherwise).

use std::net::IpAddr;

use ipnet::IpNet;

use crate::model::{Endpoint, IpFamily, NodeInfo, ProxyState, ServicePort};
use crate::topology::EndpointSets;

/// Backend-independent settings of the rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleConfig {
    /// Pod CIDRs (`--cluster-cidr`): traffic from elsewhere to a cluster IP is
    /// masqueraded, and under `externalTrafficPolicy: Local` pods still reach
    /// every endpoint.
    pub cluster_cidrs: Vec<IpNet>,
    /// SNAT every packet sent to a service (`--masquerade-all`).
    pub masquerade_all: bool,
    /// The packet mark bit meaning "masquerade me" (upstream default 14).
    pub masquerade_bit: u8,
    /// Addresses NodePorts answer on; empty means every local address
    /// (unless `nodeport_primary`).
    pub nodeport_addresses: Vec<IpNet>,
    /// `--nodeport-addresses=primary`: NodePorts answer on the node's
    /// primary IPs as its Node object reports them (followed as they
    /// change); without one of a family, on none of that family.
    pub nodeport_primary: bool,
}

impl Default for RuleConfig {
    fn default() -> Self {
        RuleConfig {
            cluster_cidrs: Vec::new(),
            masquerade_all: false,
            masquerade_bit: 14,
            nodeport_addresses: Vec::new(),
            nodeport_primary: false,
        }
    }
}

impl RuleConfig {
    /// The mark as a hex literal (`0x4000` for bit 14).
    pub fn mark(&self) -> String {
        format!("{:#x}", 1u32 << self.masquerade_bit.min(31))
    }

    /// Cluster CIDRs of `family`.
    pub fn cluster_cidrs_of(&self, family: IpFamily) -> Vec<IpNet> {
        self.cluster_cidrs
            .iter()
            .filter(|n| family_of_net(n) == family)
            .copied()
            .collect()
    }

    /// Where NodePorts of `family` answer, for a node with `node`'s IPs.
    pub fn nodeport_match(&self, family: IpFamily, node: &NodeInfo) -> NodePortMatch {
        if self.nodeport_primary {
            // Loopback never answers (no route_localnet), as upstream
            // falls back to when the Node has no IP.
            return match node.ip(family).filter(|ip| !ip.is_loopback()) {
                Some(ip) => NodePortMatch::Only(vec![IpNet::from(ip)]),
                None => NodePortMatch::Nowhere,
            };
        }
        let nets: Vec<IpNet> = self
            .nodeport_addresses
            .iter()
            .filter(|n| family_of_net(n) == family)
            .copied()
            .collect();
        if nets.is_empty() {
            NodePortMatch::AllLocal
        } else {
            NodePortMatch::Only(nets)
        }
    }
}

/// Which local destination addresses NodePorts answer on (one family).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodePortMatch {
    /// Every local address but loopback.
    AllLocal,
    /// Local addresses within these networks.
    Only(Vec<IpNet>),
    /// None (`primary` without a node IP of this family).
    Nowhere,
}

fn family_of_net(net: &IpNet) -> IpFamily {
    match net {
        IpNet::V4(_) => IpFamily::V4,
        IpNet::V6(_) => IpFamily::V6,
    }
}

/// Where traffic of one kind (to the cluster IP, or external) goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The cluster chain.
    Cluster,
    /// The local chain.
    Local,
    /// The external chain (NodePort/external IPs only).
    External,
    /// No endpoint at all: reject, so clients fail fast.
    Reject,
    /// Endpoints exist but none for this traffic (Local policy): drop.
    Drop,
}

/// The plan for one Service port in one family.
#[derive(Clone, Debug)]
pub struct PortPlan<'a> {
    /// The Service port.
    pub service: &'a ServicePort,
    /// Its cluster IP in this family.
    pub cluster_ip: IpAddr,
    /// External IPs in this family.
    pub external_ips: Vec<IpAddr>,
    /// Load-balancer IPs in this family.
    pub load_balancer_ips: Vec<IpAddr>,
    /// `loadBalancerSourceRanges` of this family, when the load-balancer
    /// IPs are firewalled: the sources that may pass (the ranges, plus the
    /// load-balancer IPs themselves when a range holds the node's IP, so
    /// the node reaches a VIP it carries as a local address, as upstream).
    pub firewall_sources: Option<Vec<String>>,
    /// Endpoints of this family by category.
    pub endpoints: EndpointSets,
    /// Where traffic to the cluster IP goes.
    pub internal: Target,
    /// Where NodePort/external IP traffic goes (`None`: no such traffic).
    pub external: Option<Target>,
    /// Where the external chain sends traffic it does not divert to the
    /// cluster chain (the local chain, or drop/reject).
    pub external_final: Target,
    /// Whether the cluster and local chains exist.
    pub has_cluster_chain: bool,
    /// Whether the local chain exists.
    pub has_local_chain: bool,
}

impl PortPlan<'_> {
    /// Every endpoint that needs its own chain (union of both categories).
    pub fn chained_endpoints(&self) -> Vec<&Endpoint> {
        let mut out: Vec<&Endpoint> = Vec::new();
        if self.has_cluster_chain {
            out.extend(self.endpoints.cluster.iter());
        }
        if self.has_local_chain {
            for ep in &self.endpoints.local {
                if !out.contains(&ep) {
                    out.push(ep);
                }
            }
        }
        out
    }

    /// Whether a chain of this port leads to endpoints (used for the "no
    /// endpoints" filter rules).
    pub fn internal_blocked(&self) -> bool {
        matches!(self.internal, Target::Reject | Target::Drop)
    }
}

/// A fingerprint of rendered rules: partial syncs keep this instead of the
/// rules to tell whether a chain changed.
pub fn fingerprint<T: std::hash::Hash + ?Sized>(rules: &T) -> u64 {
    use std::hash::Hasher;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    rules.hash(&mut hasher);
    hasher.finish()
}

/// Plans every Service port of `family` in `state`.
pub fn plan(state: &ProxyState, family: IpFamily) -> Vec<PortPlan<'_>> {
    state
        .services
        .values()
        .filter_map(|service| {
            plan_one(
                service,
                state.endpoints_of(&service.name),
                &state.node,
                family,
            )
        })
        .collect()
}

/// Plans one Service port of `family` with its `endpoints` (of any family)
/// on the node `node`; `None` when it has no cluster IP of that family.
pub fn plan_one<'a>(
    service: &'a ServicePort,
    endpoints: &[Endpoint],
    node: &NodeInfo,
    family: IpFamily,
) -> Option<PortPlan<'a>> {
    let cluster_ip = service.cluster_ip(family)?;
    let endpoints: Vec<Endpoint> = endpoints
        .iter()
        .filter(|ep| IpFamily::of(&ep.ip) == family)
        .cloned()
        .collect();
    let sets = EndpointSets::categorize(&endpoints, &node.zone);
    let has_cluster = !sets.cluster.is_empty();
    let has_local = !sets.local.is_empty();
    let no_local = |has_any: bool| {
        if has_any {
            Target::Drop
        } else {
            Target::Reject
        }
    };
    let internal = if service.internal_policy_local {
        if has_local {
            Target::Local
        } else {
            no_local(has_cluster)
        }
    } else if has_cluster {
        Target::Cluster
    } else {
        Target::Reject
    };
    let external_ips: Vec<IpAddr> = service
        .external_ips
        .iter()
        .copied()
        .filter(|ip| IpFamily::of(ip) == family)
        .collect();
    let load_balancer_ips: Vec<IpAddr> = service
        .load_balancer_ips
        .iter()
        .copied()
        .filter(|ip| IpFamily::of(ip) == family)
        .collect();
    let firewall_sources = firewall_sources(service, &load_balancer_ips, node, family);
    let has_external_traffic =
        service.node_port.is_some() || !external_ips.is_empty() || !load_balancer_ips.is_empty();
    let (external, external_final) = if !has_external_traffic {
        (None, Target::Reject)
    } else if service.external_policy_local {
        let last = if has_local {
            Target::Local
        } else {
            no_local(has_cluster)
        };
        if has_cluster {
            (Some(Target::External), last)
        } else {
            (Some(Target::Reject), Target::Reject)
        }
    } else if has_cluster {
        (Some(Target::External), Target::Cluster)
    } else {
        (Some(Target::Reject), Target::Reject)
    };
    let uses_local = internal == Target::Local || external_final == Target::Local;
    Some(PortPlan {
        service,
        cluster_ip,
        external_ips,
        load_balancer_ips,
        firewall_sources,
        endpoints: sets,
        internal,
        external,
        external_final,
        has_cluster_chain: has_cluster,
        has_local_chain: uses_local,
    })
}

/// The sources allowed to a firewalled load-balancer IP (see
/// [`PortPlan::firewall_sources`]); `None` without a firewall.
fn firewall_sources(
    service: &ServicePort,
    load_balancer_ips: &[IpAddr],
    node: &NodeInfo,
    family: IpFamily,
) -> Option<Vec<String>> {
    let ranges: Vec<&IpNet> = service
        .source_ranges
        .iter()
        .filter(|n| family_of_net(n) == family)
        .collect();
    if load_balancer_ips.is_empty() || ranges.is_empty() {
        return None;
    }
    let mut sources: Vec<String> = ranges.iter().map(|n| n.to_string()).collect();
    let node_ip = node.ip(family);
    if node_ip.is_some_and(|ip| ranges.iter().any(|n| n.contains(&ip))) {
        sources.extend(load_balancer_ips.iter().map(ToString::to_string));
    }
    Some(sources)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Protocol, ServicePortName};

    fn state(itp: bool, etp: bool, eps: &[(bool, bool)]) -> ProxyState {
        let name = ServicePortName {
            namespace: "ns".into(),
            name: "s".into(),
            port_name: String::new(),
            protocol: Protocol::Tcp,
        };
        let mut st = ProxyState::default();
        st.services.insert(
            name.clone(),
            ServicePort {
                name: name.clone(),
                cluster_ips: vec!["10.96.0.1".parse().unwrap()],
                port: 80,
                node_port: Some(30000),
                external_ips: vec![],
                affinity_seconds: None,
                external_policy_local: etp,
                internal_policy_local: itp,
                ..ServicePort::default()
            },
        );
        st.endpoints.insert(
            name,
            eps.iter()
                .enumerate()
                .map(|(i, (ready, local))| Endpoint {
                    ip: format!("10.0.0.{}", i + 1).parse().unwrap(),
                    port: 80,
                    ready: *ready,
                    serving: *ready,
                    terminating: false,
                    local: *local,
                    zone_hints: Vec::new(),
                })
                .collect(),
        );
        st
    }

    #[test]
    fn targets_follow_traffic_policies() {
        let st = state(false, false, &[]);
        let p = &plan(&st, IpFamily::V4)[0];
        assert_eq!(
            (p.internal, p.external),
            (Target::Reject, Some(Target::Reject))
        );

        let st = state(true, true, &[(true, false)]);
        let p = &plan(&st, IpFamily::V4)[0];
        assert_eq!(p.internal, Target::Drop, "endpoints exist, none local");
        assert_eq!(p.external, Some(Target::External));
        assert_eq!(p.external_final, Target::Drop);
        assert!(!p.has_local_chain);

        let st = state(true, false, &[(true, false), (true, true)]);
        let p = &plan(&st, IpFamily::V4)[0];
        assert_eq!(p.internal, Target::Local);
        assert_eq!(p.external_final, Target::Cluster);
        assert_eq!(p.chained_endpoints().len(), 2);

        assert!(plan(&st, IpFamily::V6).is_empty());
    }
}
