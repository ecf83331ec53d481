//! The nftables backend: one table of our own (`kube-proxy` in family `ip`
//! and `ip6`), written with `nft -f -` transactions.
//!
//! Lookups are O(1) in the number of Services: packets are classified by the
//! verdict maps `service-ips` (`daddr . proto . port : goto chain`),
//! `service-nodeports` and `no-endpoint-services` instead of a rule per
//! Service. [`ruleset`] computes what the table should hold; [`transaction`]
//! writes it: a full sync replaces the whole table, a partial sync rewrites
//! only the chains, map elements and sets that differ from what the last
//! successful sync wrote (as upstream's nftables proxier does). Either way
//! it is one transaction, so the kernel never sees a half-written ruleset.
//! The ClientIP affinity sets are dynamic (the kernel adds clients) and are
//! kept across syncs.

use std::collections::{BTreeMap, BTreeSet};

pub mod transaction;

use crate::model::{Endpoint, IpFamily, ProxyState};
use crate::naming;
use crate::plan::{self, RuleConfig, Target};

/// Name of our table (in both families).
pub const TABLE: &str = "kube-proxy";

/// The nft family keyword.
pub fn family_keyword(family: IpFamily) -> &'static str {
    match family {
        IpFamily::V4 => "ip",
        IpFamily::V6 => "ip6",
    }
}

fn addr_type(family: IpFamily) -> &'static str {
    match family {
        IpFamily::V4 => "ipv4_addr",
        IpFamily::V6 => "ipv6_addr",
    }
}

/// Chains and sets currently in our table (from `nft list table`), so a sync
/// can delete what it no longer needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Existing {
    /// Chain names.
    pub chains: BTreeSet<String>,
    /// Set names (including affinity sets).
    pub sets: BTreeSet<String>,
    /// Map names.
    pub maps: BTreeSet<String>,
}

impl Existing {
    /// Parses `nft list chains|sets|maps <family>` (or `list table`)
    /// output, keeping only the objects of our table: those commands list
    /// every table of the family.
    pub fn parse(listing: &str) -> Existing {
        let mut out = Existing::default();
        let mut ours = false;
        for line in listing.lines() {
            let mut words = line.split_whitespace();
            if let (Some("table"), Some(_family), Some(name)) =
                (words.next(), words.next(), words.next())
            {
                ours = name == TABLE;
                continue;
            }
            let mut words = line.split_whitespace();
            let (Some(kind), Some(name), Some("{")) = (words.next(), words.next(), words.next())
            else {
                continue;
            };
            let name = name.to_string();
            match kind {
                "chain" if ours => {
                    out.chains.insert(name);
                }
                "set" if ours => {
                    out.sets.insert(name);
                }
                "map" if ours => {
                    out.maps.insert(name);
                }
                _ => {}
            }
        }
        out
    }

    /// Merges what another listing found.
    pub fn extend(&mut self, other: Existing) {
        self.chains.extend(other.chains);
        self.sets.extend(other.sets);
        self.maps.extend(other.maps);
    }
}

/// Static base chains: (name, hook declaration).
pub(crate) const BASE_CHAINS: &[(&str, &str)] = &[
    // Numeric priorities: nft 1.0.6 only knows the names in some hooks.
    // -100 is dstnat, 100 srcnat; the filter chains run just before
    // (-110) or just after (-90) DNAT.
    ("nat-prerouting", "type nat hook prerouting priority -100 ;"),
    ("nat-output", "type nat hook output priority -100 ;"),
    (
        "nat-postrouting",
        "type nat hook postrouting priority 100 ;",
    ),
    ("filter-input", "type filter hook input priority -110 ;"),
    ("filter-forward", "type filter hook forward priority -110 ;"),
    ("filter-output", "type filter hook output priority -110 ;"),
    (
        "filter-output-post-dnat",
        "type filter hook output priority -90 ;",
    ),
];

pub(crate) const HELPER_CHAINS: &[&str] = &[
    "services",
    "service-endpoints-check",
    "cluster-ips-check",
    "mark-for-masquerade",
    "masquerading",
    "reject-chain",
];

/// A set or map of our table and its elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collection {
    /// `set` or `map`.
    pub kind: &'static str,
    /// Its name.
    pub name: &'static str,
    /// The declaration between the braces (type, flags, comment).
    pub spec: String,
    /// Elements: key to verdict (maps), or key to "" (sets).
    pub elements: BTreeMap<String, String>,
}

impl Collection {
    fn new(kind: &'static str, name: &'static str, spec: String) -> Collection {
        Collection {
            kind,
            name,
            spec,
            elements: BTreeMap::new(),
        }
    }

    /// How an element is written in `add element`.
    pub fn element_text(key: &str, value: &str) -> String {
        if value.is_empty() {
            key.to_string()
        } else {
            format!("{key} : {value}")
        }
    }
}

/// Everything our table should hold for one family, before it is written:
/// the fixed chains, one entry per Service-specific chain, the affinity
/// sets and the lookup maps. Kept by the proxier after a successful sync so
/// the next sync writes only what differs ([`transaction::partial`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ruleset {
    /// The family this is for.
    pub family: IpFamily,
    /// Rules of the fixed (base and helper) chains, in order.
    pub fixed_rules: Vec<(&'static str, String)>,
    /// Service-specific chains (service, local, external, endpoint) and their
    /// rules in order.
    pub chains: BTreeMap<String, Vec<String>>,
    /// ClientIP affinity sets and their timeouts in seconds.
    pub affinity_sets: BTreeMap<String, u32>,
    /// `cluster-ips`, `service-ips`, `service-nodeports`,
    /// `no-endpoint-services`, `no-endpoint-nodeports`.
    pub collections: Vec<Collection>,
}

impl Ruleset {
    fn chain(&mut self, name: &str) -> &mut Vec<String> {
        self.chains.entry(name.to_string()).or_default()
    }

    fn collection(&mut self, name: &str) -> &mut Collection {
        let index = self
            .collections
            .iter()
            .position(|c| c.name == name)
            .expect("a collection declared in Ruleset::fixed");
        &mut self.collections[index]
    }

    /// The parts that depend only on the configuration.
    fn fixed(config: &RuleConfig, family: IpFamily) -> Ruleset {
        let ip = family_keyword(family); // the payload keyword equals the family keyword
        let addr = addr_type(family);
        let mark = config.mark();
        // NodePorts answer on local addresses (all of them, or the configured
        // ones), never on loopback: that needs route_localnet, which nftables
        // mode does not set (as upstream).
        let nodeport_match = {
            let nets = config.nodeport_addresses_of(family);
            if nets.is_empty() {
                let loopback = match family {
                    IpFamily::V4 => "127.0.0.0/8",
                    IpFamily::V6 => "::1",
                };
                format!("fib daddr type local {ip} daddr != {loopback}")
            } else {
                let list: Vec<String> = nets.iter().map(|n| n.to_string()).collect();
                format!("fib daddr type local {ip} daddr {{ {} }}", list.join(", "))
            }
        };
        let fixed_rules = vec![
            ("nat-prerouting", "jump services".to_string()),
            ("nat-output", "jump services".to_string()),
            ("nat-postrouting", "jump masquerading".to_string()),
            (
                "filter-input",
                "ct state new jump service-endpoints-check".to_string(),
            ),
            (
                "filter-forward",
                "ct state new jump service-endpoints-check".to_string(),
            ),
            (
                "filter-forward",
                "ct state new jump cluster-ips-check".to_string(),
            ),
            (
                "filter-output",
                "ct state new jump service-endpoints-check".to_string(),
            ),
            (
                "filter-output-post-dnat",
                "ct state new jump cluster-ips-check".to_string(),
            ),
            ("mark-for-masquerade", format!("mark set mark or {mark}")),
            ("masquerading", format!("mark and {mark} == 0 return")),
            ("masquerading", format!("mark set mark xor {mark}")),
            ("masquerading", "masquerade fully-random".to_string()),
            ("reject-chain", "reject".to_string()),
            (
                "services",
                format!("{ip} daddr . meta l4proto . th dport vmap @service-ips"),
            ),
            (
                "services",
                format!("{nodeport_match} meta l4proto . th dport vmap @service-nodeports"),
            ),
            (
                "service-endpoints-check",
                format!("{ip} daddr . meta l4proto . th dport vmap @no-endpoint-services"),
            ),
            (
                "service-endpoints-check",
                format!("{nodeport_match} meta l4proto . th dport vmap @no-endpoint-nodeports"),
            ),
            (
                "cluster-ips-check",
                format!(
                    "{ip} daddr @cluster-ips reject comment \"Reject traffic to invalid ports of ClusterIPs\""
                ),
            ),
        ];
        let by_ip = format!("type {addr} . inet_proto . inet_service : verdict ;");
        let by_port = "type inet_proto . inet_service : verdict ;".to_string();
        Ruleset {
            family,
            fixed_rules,
            chains: BTreeMap::new(),
            affinity_sets: BTreeMap::new(),
            collections: vec![
                Collection::new(
                    "set",
                    "cluster-ips",
                    format!("type {addr} ; comment \"Active ClusterIPs\" ;"),
                ),
                Collection::new("map", "service-ips", by_ip.clone()),
                Collection::new("map", "service-nodeports", by_port.clone()),
                Collection::new("map", "no-endpoint-services", by_ip),
                Collection::new("map", "no-endpoint-nodeports", by_port),
            ],
        }
    }
}

/// What a successful sync left in the table, kept for the next partial
/// sync. Chain contents are kept only as fingerprints (the next sync needs
/// to know whether a chain differs, not what it held), so thousands of
/// Services cost little memory; elements and set names are kept in full
/// because deleting them needs their keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// The family.
    pub family: IpFamily,
    /// Service-specific chains and a fingerprint of their rules.
    pub chains: BTreeMap<String, u64>,
    /// ClientIP affinity sets and their timeouts.
    pub affinity_sets: BTreeMap<String, u32>,
    /// The lookup sets and maps with their elements.
    pub collections: Vec<Collection>,
}

impl From<Ruleset> for Written {
    fn from(rules: Ruleset) -> Written {
        Written {
            family: rules.family,
            chains: rules
                .chains
                .iter()
                .map(|(name, rules)| (name.clone(), plan::fingerprint(rules)))
                .collect(),
            affinity_sets: rules.affinity_sets,
            collections: rules.collections,
        }
    }
}

/// Computes what the table of `family` should hold for `state`.
pub fn ruleset(state: &ProxyState, config: &RuleConfig, family: IpFamily) -> Ruleset {
    let ip = family_keyword(family);
    let mut rs = Ruleset::fixed(config, family);
    let cidrs: Vec<String> = config
        .cluster_cidrs_of(family)
        .iter()
        .map(|n| n.to_string())
        .collect();

    for p in &plan::plan(state, family) {
        let svc = p.service;
        let proto = svc.name.protocol.lower();
        let cluster_chain = naming::nft_service_chain("service", &svc.name);
        let local_chain = naming::nft_service_chain("local", &svc.name);
        let external_chain = naming::nft_service_chain("external", &svc.name);
        rs.collection("cluster-ips")
            .elements
            .insert(p.cluster_ip.to_string(), String::new());
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
        rs.collection(map)
            .elements
            .insert(key, chain_of(p.internal));
        if let Some(external) = p.external {
            let (by_ip, by_port) = if external == Target::External {
                ("service-ips", "service-nodeports")
            } else {
                ("no-endpoint-services", "no-endpoint-nodeports")
            };
            for ext_ip in &p.external_ips {
                let key = format!("{ext_ip} . {proto} . {}", svc.port);
                rs.collection(by_ip)
                    .elements
                    .insert(key, chain_of(external));
            }
            if let Some(node_port) = svc.node_port {
                let key = format!("{proto} . {node_port}");
                rs.collection(by_port)
                    .elements
                    .insert(key, chain_of(external));
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
        let balance = |rs: &mut Ruleset, chain: &str, endpoints: &[Endpoint]| {
            let mut rules = Vec::with_capacity(endpoints.len() + 2);
            if let Some(rule) = &masq_rule {
                rules.push(rule.clone());
            }
            if let Some(timeout) = svc.affinity_seconds {
                for ep in endpoints {
                    let set = naming::nft_affinity_set(&svc.name, ep);
                    let target = naming::nft_endpoint_chain(&svc.name, ep);
                    rules.push(format!("{ip} saddr @{set} goto {target}"));
                    rs.affinity_sets.insert(set, timeout);
                }
            }
            // Equal odds without a set: endpoint i of n is taken with odds
            // 1/(n-i) by its own draw, which makes every endpoint 1/n overall
            // (as iptables' statistic cascade). An anonymous vmap per chain
            // (`numgen random mod n vmap { ... }`) would do it in one rule,
            // but the kernel names and looks up sets by scanning every set
            // of the table, so thousands of them make each sync quadratic.
            for (i, ep) in endpoints.iter().enumerate() {
                let target = naming::nft_endpoint_chain(&svc.name, ep);
                let left = endpoints.len() - i;
                if left > 1 {
                    rules.push(format!("numgen random mod {left} == 0 goto {target}"));
                } else {
                    rules.push(format!("goto {target}"));
                }
            }
            *rs.chain(chain) = rules;
        };
        if p.has_cluster_chain {
            balance(&mut rs, &cluster_chain, &p.endpoints.cluster);
        }
        if p.has_local_chain {
            balance(&mut rs, &local_chain, &p.endpoints.local);
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
            *rs.chain(&external_chain) = rules;
        }
        for ep in p.chained_endpoints() {
            let chain = naming::nft_endpoint_chain(&svc.name, ep);
            // Hairpin: a pod reaching itself through the service must be
            // masqueraded or it would answer itself directly.
            let mut rules = vec![format!("{ip} saddr {} jump mark-for-masquerade", ep.ip)];
            if svc.affinity_seconds.is_some() {
                let set = naming::nft_affinity_set(&svc.name, ep);
                rules.push(format!("update @{set} {{ {ip} saddr }}"));
            }
            let target = match ep.ip {
                std::net::IpAddr::V4(a) => format!("{a}:{}", ep.port),
                std::net::IpAddr::V6(a) => format!("[{a}]:{}", ep.port),
            };
            rules.push(format!("meta l4proto {proto} dnat to {target}"));
            *rs.chain(&chain) = rules;
        }
    }
    rs
}

/// Renders the full transaction for `family` (what a full sync writes).
pub fn render(
    state: &ProxyState,
    config: &RuleConfig,
    family: IpFamily,
    existing: &Existing,
) -> String {
    transaction::full(&ruleset(state, config, family), existing)
}

/// The transaction that removes our table (used by `--cleanup` and shutdown
/// of tests). `add` first so deleting a missing table is not an error.
pub fn render_cleanup(family: IpFamily) -> String {
    let fam = family_keyword(family);
    format!("add table {fam} {TABLE}\ndelete table {fam} {TABLE}\n")
}
