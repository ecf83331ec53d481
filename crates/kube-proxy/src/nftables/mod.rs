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
use std::sync::Arc;

pub mod service;
pub mod transaction;

use crate::model::{
    self, Endpoint, IpFamily, NodeInfo, ProxyState, ServiceKey, ServicePort, ServicePortName,
};
use crate::plan::{self, NodePortMatch, RuleConfig};
use service::ServiceRules;

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
    (
        "filter-prerouting",
        "type filter hook prerouting priority -110 ;",
    ),
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
    "firewall-check",
    "mark-for-masquerade",
    "masquerading",
    "reject-chain",
];

/// The sets and maps of our table: (kind, name, declaration).
pub fn collections(family: IpFamily) -> [(&'static str, &'static str, String); 7] {
    let addr = addr_type(family);
    let by_ip = format!("type {addr} . inet_proto . inet_service : verdict ;");
    let by_port = "type inet_proto . inet_service : verdict ;".to_string();
    [
        (
            "set",
            "cluster-ips",
            format!("type {addr} ; comment \"Active ClusterIPs\" ;"),
        ),
        ("map", "service-ips", by_ip.clone()),
        ("map", "service-nodeports", by_port.clone()),
        ("map", "no-endpoint-services", by_ip.clone()),
        ("map", "no-endpoint-nodeports", by_port),
        // loadBalancerSourceRanges: load-balancer IP . proto . port : goto
        // the Service's firewall chain.
        ("map", "firewall-ips", by_ip),
        // Endpoint address pairs: `saddr . daddr` found here after DNAT is
        // a pod reaching itself through a Service (masqueraded).
        (
            "set",
            service::HAIRPIN_SET,
            format!("type {addr} . {addr} ;"),
        ),
    ]
}

/// The rules of the fixed (base and helper) chains, in order; they depend
/// on the configuration and, for `--nodeport-addresses=primary`, on the
/// node's IPs.
fn fixed_rules(
    config: &RuleConfig,
    family: IpFamily,
    node: &NodeInfo,
) -> Vec<(&'static str, String)> {
    let ip = family_keyword(family); // the payload keyword equals the family keyword
    let mark = config.mark();
    // NodePorts answer on local addresses (all of them, or the configured
    // ones), never on loopback: that needs route_localnet, which nftables
    // mode does not set (as upstream).
    let nodeport_match = match config.nodeport_match(family, node) {
        NodePortMatch::AllLocal => {
            let loopback = match family {
                IpFamily::V4 => "127.0.0.0/8",
                IpFamily::V6 => "::1",
            };
            Some(format!("fib daddr type local {ip} daddr != {loopback}"))
        }
        NodePortMatch::Only(nets) => {
            let list: Vec<String> = nets.iter().map(|n| n.to_string()).collect();
            Some(format!(
                "fib daddr type local {ip} daddr {{ {} }}",
                list.join(", ")
            ))
        }
        NodePortMatch::Nowhere => None,
    };
    let mut rules = vec![
        ("nat-prerouting", "jump services".to_string()),
        ("nat-output", "jump services".to_string()),
        (
            "nat-postrouting",
            format!(
                "ct status dnat {ip} saddr . {ip} daddr @{} jump mark-for-masquerade",
                service::HAIRPIN_SET
            ),
        ),
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
        // loadBalancerSourceRanges, on the destination before DNAT.
        (
            "filter-prerouting",
            "ct state new jump firewall-check".to_string(),
        ),
        (
            "filter-output",
            "ct state new jump firewall-check".to_string(),
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
            "service-endpoints-check",
            format!("{ip} daddr . meta l4proto . th dport vmap @no-endpoint-services"),
        ),
        (
            "cluster-ips-check",
            format!(
                "{ip} daddr @cluster-ips reject comment \"Reject traffic to invalid ports of ClusterIPs\""
            ),
        ),
        (
            "firewall-check",
            format!("{ip} daddr . meta l4proto . th dport vmap @firewall-ips"),
        ),
    ];
    if let Some(nodeport_match) = nodeport_match {
        rules.push((
            "services",
            format!("{nodeport_match} meta l4proto . th dport vmap @service-nodeports"),
        ));
        rules.push((
            "service-endpoints-check",
            format!("{nodeport_match} meta l4proto . th dport vmap @no-endpoint-nodeports"),
        ));
    }
    rules
}

/// One Service port's rules and the inputs they were rendered from (so the
/// next sync reuses them when the inputs did not change).
#[derive(Debug, PartialEq, Eq)]
pub struct Rendered {
    service: ServicePort,
    endpoints: Vec<Endpoint>,
    /// The rules.
    pub rules: ServiceRules,
}

/// Everything our table should hold for one family: the fixed chains' rules
/// and each Service port's part. The proxier keeps the ruleset of its last
/// successful sync: the next sync reuses the parts of unchanged Services
/// (shared, not copied) and writes only the parts that differ
/// ([`transaction::partial`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ruleset {
    /// The family this is for.
    pub family: IpFamily,
    /// The node the Service parts were rendered for (its zone and IPs
    /// shape them; a change re-renders every part).
    pub node: NodeInfo,
    /// Rules of the fixed chains, in order.
    pub fixed_rules: Vec<(&'static str, String)>,
    /// Each Service port's part.
    pub services: BTreeMap<ServicePortName, Arc<Rendered>>,
    /// Who claims each map key (`ip . proto . port`, `proto . port`), in
    /// order of precedence (see [`Ruleset::owner`]).
    pub claims: BTreeMap<String, BTreeSet<Claim>>,
}

/// A Service port's claim on a map key: `(false, name)` when it sends the
/// key's traffic to its endpoints (`service-ips`), `(true, name)` when it
/// rejects or drops it; the smallest claim owns the key.
pub type Claim = (bool, ServicePortName);

/// The map keys a Service port's part claims, with its claim on each.
pub(crate) fn claims_of<'a>(
    name: &ServicePortName,
    rules: &'a ServiceRules,
) -> BTreeMap<&'a str, Claim> {
    let mut out: BTreeMap<&str, Claim> = BTreeMap::new();
    for (map, key, _) in &rules.elements {
        let serves = *map == "service-ips";
        let claim = out.entry(key.as_str()).or_insert((true, name.clone()));
        claim.0 &= !serves;
    }
    out
}

impl Ruleset {
    /// The elements of the `cluster-ips` set.
    pub fn cluster_ips(&self) -> BTreeSet<&str> {
        self.services
            .values()
            .map(|r| r.rules.cluster_ip.as_str())
            .collect()
    }

    /// The Service port owning map key `key`. Two different Services may
    /// claim one (the apiserver lets two list the same external IP and
    /// port): a claimant sending it to endpoints wins over one rejecting it
    /// (as in iptables mode, where the first one's DNAT happens before the
    /// other one's filter rule looks), then the first in `ServicePortName`
    /// order. Only the owner's elements for the key are in the table,
    /// whichever sync wrote them, and when the owner goes or changes the
    /// next claimant takes over in the same transaction. Upstream leaves
    /// the order among equals to chance (Go map order in iptables mode; its
    /// nftables mode fails the whole transaction, nft refusing a key added
    /// twice).
    pub fn owner(&self, key: &str) -> Option<&ServicePortName> {
        self.claims
            .get(key)
            .and_then(|c| c.first())
            .map(|(_, name)| name)
    }

    /// Records the keys `part` of `name` claims.
    fn claim(&mut self, name: &ServicePortName, part: &Rendered) {
        for (key, claim) in claims_of(name, &part.rules) {
            self.claims
                .entry(key.to_string())
                .or_default()
                .insert(claim);
        }
    }

    /// Forgets the keys `part` of `name` claimed.
    fn unclaim(&mut self, name: &ServicePortName, part: &Rendered) {
        for (key, claim) in claims_of(name, &part.rules) {
            if let Some(claimants) = self.claims.get_mut(key) {
                claimants.remove(&claim);
                if claimants.is_empty() {
                    self.claims.remove(key);
                }
            }
        }
    }
}

/// One Service port's part before and after a change (`None`: absent).
pub type PartChange = (Option<Arc<Rendered>>, Option<Arc<Rendered>>);

/// Brings `rules` (what the last successful sync wrote) up to date for the
/// Services `keys`, which are the only ones that changed since: renders
/// their ports again (reusing unchanged parts) and leaves every other
/// Service alone, so the cost is O(changed Services). Returns the parts that
/// differ, for [`transaction::partial_services`]. The caller makes sure
/// `state.node` is the node `rules` were rendered for (the fixed chains
/// and every part depend on it).
pub fn update_services(
    rules: &mut Ruleset,
    state: &ProxyState,
    config: &RuleConfig,
    keys: &BTreeSet<ServiceKey>,
) -> Vec<PartChange> {
    let cidrs: Vec<String> = config
        .cluster_cidrs_of(rules.family)
        .iter()
        .map(|n| n.to_string())
        .collect();
    let mut out = Vec::new();
    for key in keys {
        let names: Vec<ServicePortName> = model::ports_of(&rules.services, key)
            .map(|(n, _)| n.clone())
            .collect();
        let mut old: BTreeMap<ServicePortName, Arc<Rendered>> = names
            .into_iter()
            .filter_map(|n| rules.services.remove(&n).map(|r| (n, r)))
            .collect();
        for (name, part) in &old {
            rules.unclaim(name, part);
        }
        for (name, service) in state.ports_of(key) {
            let endpoints = state.endpoints_of(name);
            let before = old.remove(name);
            if let Some(same) = before
                .as_ref()
                .filter(|r| r.service == *service && r.endpoints == endpoints)
            {
                // Kept as a pair: its cluster IP still counts.
                rules.claim(name, same);
                rules.services.insert(name.clone(), Arc::clone(same));
                out.push((Some(Arc::clone(same)), Some(Arc::clone(same))));
                continue;
            }
            let after = plan::plan_one(service, endpoints, &state.node, rules.family).map(|p| {
                Arc::new(Rendered {
                    service: service.clone(),
                    endpoints: endpoints.to_vec(),
                    rules: service::render(&p, config, &cidrs),
                })
            });
            if let Some(after) = &after {
                rules.claim(name, after);
                rules.services.insert(name.clone(), Arc::clone(after));
            }
            if before.is_some() || after.is_some() {
                out.push((before, after));
            }
        }
        // Ports that are gone.
        out.extend(old.into_values().map(|before| (Some(before), None)));
    }
    out
}

/// Computes what the table of `family` should hold for `state`.
pub fn ruleset(state: &ProxyState, config: &RuleConfig, family: IpFamily) -> Ruleset {
    ruleset_reusing(state, config, family, None)
}

/// Like [`ruleset`], reusing the parts of `prev` whose Service port and
/// endpoints are unchanged: a sync at 10,000 Services renders only what
/// changed.
pub fn ruleset_reusing(
    state: &ProxyState,
    config: &RuleConfig,
    family: IpFamily,
    prev: Option<&Ruleset>,
) -> Ruleset {
    let cidrs: Vec<String> = config
        .cluster_cidrs_of(family)
        .iter()
        .map(|n| n.to_string())
        .collect();
    let mut services = BTreeMap::new();
    for (name, service) in &state.services {
        let endpoints = state.endpoints_of(name);
        let reusable = prev
            .filter(|prev| prev.node == state.node)
            .and_then(|prev| prev.services.get(name))
            .filter(|r| r.service == *service && r.endpoints == endpoints);
        if let Some(same) = reusable {
            services.insert(name.clone(), Arc::clone(same));
            continue;
        }
        let Some(p) = plan::plan_one(service, endpoints, &state.node, family) else {
            continue;
        };
        let rendered = Rendered {
            service: service.clone(),
            endpoints: endpoints.to_vec(),
            rules: service::render(&p, config, &cidrs),
        };
        services.insert(name.clone(), Arc::new(rendered));
    }
    let mut rules = Ruleset {
        family,
        node: state.node.clone(),
        fixed_rules: fixed_rules(config, family, &state.node),
        services: BTreeMap::new(),
        claims: BTreeMap::new(),
    };
    for (name, part) in &services {
        rules.claim(name, part);
    }
    rules.services = services;
    rules
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
