//! The part of the table one Service port contributes: its chains, its
//! ClientIP affinity sets and its entries in the lookup maps.

use crate::model::Endpoint;
use crate::naming;
use crate::plan::{PortPlan, RuleConfig, Target};

use super::family_keyword;

/// The map an element belongs to.
pub type MapName = &'static str;

/// Everything one Service port puts into the table of one family.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceRules {
    /// Its cluster IP (an element of the `cluster-ips` set).
    pub cluster_ip: String,
    /// Its chains (service, local, external, endpoint) with their rules in
    /// order.
    pub chains: Vec<(String, Vec<String>)>,
    /// Its ClientIP affinity sets and their timeouts in seconds.
    pub affinity_sets: Vec<(String, u32)>,
    /// Its elements of the verdict maps: (map, key, verdict), and of the
    /// hairpin set (verdict empty).
    pub elements: Vec<(MapName, String, String)>,
}

impl ServiceRules {
    /// The rules of chain `name`, if this Service port has it.
    pub fn chain(&self, name: &str) -> Option<&Vec<String>> {
        self.chains.iter().find(|(n, _)| n == name).map(|(_, r)| r)
    }

    /// The timeout of affinity set `name`, if this Service port has it.
    pub fn affinity_set(&self, name: &str) -> Option<u32> {
        self.affinity_sets
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| *t)
    }
}

/// Renders the rules of one planned Service port; `cidrs` are the cluster
/// CIDRs of the family, as text.
pub fn render(p: &PortPlan<'_>, config: &RuleConfig, cidrs: &[String]) -> ServiceRules {
    let family = crate::model::IpFamily::of(&p.cluster_ip);
    let ip = family_keyword(family);
    let svc = p.service;
    let proto = svc.name.protocol.lower();
    let cluster_chain = naming::nft_service_chain("service", &svc.name);
    let local_chain = naming::nft_service_chain("local", &svc.name);
    let external_chain = naming::nft_service_chain("external", &svc.name);
    let firewall_chain = naming::nft_service_chain("firewall", &svc.name);
    let mut out = ServiceRules {
        cluster_ip: p.cluster_ip.to_string(),
        ..ServiceRules::default()
    };
    let chain_of = |target: Target| match target {
        Target::Cluster => format!("goto {cluster_chain}"),
        Target::Local => format!("goto {local_chain}"),
        Target::External => format!("goto {external_chain}"),
        Target::Reject => "goto reject-chain".to_string(),
        Target::Drop => "drop".to_string(),
    };
    let key = format!("{} . {proto} . {}", p.cluster_ip, svc.port);
    let map = if p.internal_blocked() {
        "no-endpoint-services"
    } else {
        "service-ips"
    };
    out.elements.push((map, key, chain_of(p.internal)));
    if let Some(external) = p.external {
        let (by_ip, by_port) = if external == Target::External {
            ("service-ips", "service-nodeports")
        } else {
            ("no-endpoint-services", "no-endpoint-nodeports")
        };
        // External and load-balancer IPs are handled alike.
        for ext_ip in p.external_ips.iter().chain(&p.load_balancer_ips) {
            let key = format!("{ext_ip} . {proto} . {}", svc.port);
            out.elements.push((by_ip, key, chain_of(external)));
        }
        if let Some(node_port) = svc.node_port {
            let key = format!("{proto} . {node_port}");
            out.elements.push((by_port, key, chain_of(external)));
        }
    }
    let masq_rule = if config.masquerade_all {
        Some(format!(
            "{ip} daddr {} {proto} dport {} jump mark-for-masquerade",
            p.cluster_ip, svc.port
        ))
    } else if !cidrs.is_empty() {
        Some(format!(
            "{ip} daddr {} {proto} dport {} {ip} saddr != {{ {} }} jump mark-for-masquerade",
            p.cluster_ip,
            svc.port,
            cidrs.join(", ")
        ))
    } else {
        None
    };
    // Endpoint chains only where a rule must run as an endpoint is chosen
    // (ClientIP affinity); otherwise the Service chain DNATs itself. Six
    // chains per Service made `nft` dump 60,000 chains at 10,000 Services
    // before every transaction (its cache, refetched whenever the ruleset
    // generation moved, which each of our commits does).
    let endpoint_chains = svc.affinity_seconds.is_some();
    let dnat = |ep: &Endpoint| {
        let target = match ep.ip {
            std::net::IpAddr::V4(a) => format!("{a}:{}", ep.port),
            std::net::IpAddr::V6(a) => format!("[{a}]:{}", ep.port),
        };
        format!("meta l4proto {proto} dnat to {target}")
    };
    let balance = |out: &mut ServiceRules, chain: &str, endpoints: &[Endpoint]| {
        let mut rules = Vec::with_capacity(endpoints.len() + 2);
        if let Some(rule) = &masq_rule {
            rules.push(rule.clone());
        }
        if let Some(timeout) = svc.affinity_seconds {
            for ep in endpoints {
                let set = naming::nft_affinity_set(&svc.name, ep);
                let target = naming::nft_endpoint_chain(&svc.name, ep);
                rules.push(format!("{ip} saddr @{set} goto {target}"));
                if out.affinity_set(&set).is_none() {
                    out.affinity_sets.push((set, timeout));
                }
            }
        }
        // Equal odds without a set: endpoint i of n is taken with odds
        // 1/(n-i) by its own draw, which makes every endpoint 1/n overall
        // (as iptables' statistic cascade). An anonymous vmap per chain
        // (`numgen random mod n vmap { ... }`) would do it in one rule, but
        // the kernel names and looks up sets by scanning every set of the
        // table, so thousands of them make each sync quadratic.
        for (i, ep) in endpoints.iter().enumerate() {
            let target = if endpoint_chains {
                format!("goto {}", naming::nft_endpoint_chain(&svc.name, ep))
            } else {
                dnat(ep)
            };
            let left = endpoints.len() - i;
            if left > 1 {
                rules.push(format!("numgen random mod {left} == 0 {target}"));
            } else {
                rules.push(target);
            }
        }
        out.chains.push((chain.to_string(), rules));
    };
    if let Some(sources) = &p.firewall_sources {
        // Checked before DNAT (firewall-check), whether or not the Service
        // has endpoints: other sources are dropped.
        out.chains.push((
            firewall_chain.clone(),
            vec![format!("{ip} saddr != {{ {} }} drop", sources.join(", "))],
        ));
        for lb_ip in &p.load_balancer_ips {
            let key = format!("{lb_ip} . {proto} . {}", svc.port);
            out.elements
                .push(("firewall-ips", key, format!("goto {firewall_chain}")));
        }
    }
    if p.has_cluster_chain {
        balance(&mut out, &cluster_chain, &p.endpoints.cluster);
    }
    if p.has_local_chain {
        balance(&mut out, &local_chain, &p.endpoints.local);
    }
    if p.external == Some(Target::External) {
        let mut rules = Vec::with_capacity(4);
        if svc.external_policy_local {
            // Pods and the node itself keep reaching every endpoint.
            if !cidrs.is_empty() {
                rules.push(format!(
                    "{ip} saddr {{ {} }} goto {cluster_chain}",
                    cidrs.join(", ")
                ));
            }
            rules.push("fib saddr type local jump mark-for-masquerade".to_string());
            rules.push(format!("fib saddr type local goto {cluster_chain}"));
            rules.push(chain_of(p.external_final));
        } else {
            rules.push("jump mark-for-masquerade".to_string());
            rules.push(format!("goto {cluster_chain}"));
        }
        out.chains.push((external_chain.clone(), rules));
    }
    for ep in p.chained_endpoints() {
        // Hairpin: a pod reaching itself through the service must be
        // masqueraded or it would answer itself directly. Upstream marks
        // it in each endpoint chain (`ip saddr <endpoint>`); here
        // `nat-postrouting` looks the pair up in one set instead (source
        // equal to the DNATed destination), so endpoints need no chain.
        let pair = format!("{} . {}", ep.ip, ep.ip);
        if !out.elements.iter().any(|(_, key, _)| *key == pair) {
            out.elements.push((HAIRPIN_SET, pair, String::new()));
        }
        if !endpoint_chains {
            continue;
        }
        // ClientIP affinity remembers the client in the endpoint's set as
        // it is chosen: that needs a chain per endpoint.
        let chain = naming::nft_endpoint_chain(&svc.name, ep);
        let set = naming::nft_affinity_set(&svc.name, ep);
        let rules = vec![format!("update @{set} {{ {ip} saddr }}"), dnat(ep)];
        out.chains.push((chain, rules));
    }
    out
}

/// The set of `endpoint . endpoint` address pairs (hairpin traffic).
pub const HAIRPIN_SET: MapName = "hairpin-endpoints";
