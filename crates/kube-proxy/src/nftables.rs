//! The nftables backend: one table of our own (`kube-proxy` in family `ip`
//! and `ip6`), replaced in one `nft -f -` transaction per sync.
//!
//! Lookups are O(1) in the number of Services: packets are classified by the
//! verdict maps `service-ips` (`daddr . proto . port : goto chain`),
//! `service-nodeports` and `no-endpoint-services` instead of a rule per
//! Service. Each sync flushes every rule of the table, re-adds them and
//! fills the maps again, all in one transaction, so the kernel never sees a
//! half-written ruleset. The ClientIP affinity sets are dynamic (the kernel
//! adds clients) and are kept across syncs; stale chains and sets are deleted
//! in the same transaction.

use std::collections::BTreeSet;
use std::fmt::Write as _;

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
    /// Parses the output of `nft list table <family> kube-proxy`.
    pub fn parse(listing: &str) -> Existing {
        let mut out = Existing::default();
        for line in listing.lines() {
            let mut words = line.split_whitespace();
            let (Some(kind), Some(name), Some("{")) = (words.next(), words.next(), words.next())
            else {
                continue;
            };
            let name = name.to_string();
            match kind {
                "chain" => {
                    out.chains.insert(name);
                }
                "set" => {
                    out.sets.insert(name);
                }
                "map" => {
                    out.maps.insert(name);
                }
                _ => {}
            }
        }
        out
    }
}

/// Static base chains: (name, hook declaration).
const BASE_CHAINS: &[(&str, &str)] = &[
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

const HELPER_CHAINS: &[&str] = &[
    "services",
    "service-endpoints-check",
    "cluster-ips-check",
    "mark-for-masquerade",
    "masquerading",
    "reject-chain",
];

/// The transaction in sections: nft resolves names as it reads, so chains
/// and sets are declared before rules and map elements refer to them.
struct Writer<'a> {
    out: String,
    rules: String,
    elements: String,
    family: &'a str,
    chains: BTreeSet<String>,
    sets: BTreeSet<String>,
    maps: BTreeSet<String>,
}

impl Writer<'_> {
    fn line(&mut self, text: impl AsRef<str>) {
        self.out.push_str(text.as_ref());
        self.out.push('\n');
    }

    fn chain(&mut self, name: &str) {
        let family = self.family;
        self.line(format!("add chain {family} {TABLE} {name}"));
        self.chains.insert(name.to_string());
    }

    fn rule(&mut self, chain: &str, rule: impl AsRef<str>) {
        let family = self.family;
        let _ = writeln!(
            self.rules,
            "add rule {family} {TABLE} {chain} {}",
            rule.as_ref()
        );
    }

    /// Declares a set or map, empties it and adds `elements`.
    fn collection(&mut self, kind: &str, name: &str, spec: &str, elements: &[String]) {
        let family = self.family;
        self.line(format!("add {kind} {family} {TABLE} {name} {{ {spec} }}"));
        self.line(format!("flush {kind} {family} {TABLE} {name}"));
        // Chunked so one line never grows without bound.
        for chunk in elements.chunks(1000) {
            let _ = writeln!(
                self.elements,
                "add element {family} {TABLE} {name} {{ {} }}",
                chunk.join(", ")
            );
        }
        if kind == "map" {
            self.maps.insert(name.to_string());
        } else {
            self.sets.insert(name.to_string());
        }
    }
}

/// Renders the whole transaction for `family`.
pub fn render(
    state: &ProxyState,
    config: &RuleConfig,
    family: IpFamily,
    existing: &Existing,
) -> String {
    let fam = family_keyword(family);
    let ip = fam; // the payload keyword equals the family keyword (ip/ip6)
    let addr = addr_type(family);
    let mark = config.mark();
    let mut w = Writer {
        out: String::with_capacity(4096),
        rules: String::with_capacity(4096),
        elements: String::new(),
        family: fam,
        chains: BTreeSet::new(),
        sets: BTreeSet::new(),
        maps: BTreeSet::new(),
    };
    w.line(format!(
        "add table {fam} {TABLE} {{ comment \"rules for kube-proxy\" ; }}"
    ));
    w.line(format!("flush table {fam} {TABLE}"));

    for (name, hook) in BASE_CHAINS {
        w.line(format!("add chain {fam} {TABLE} {name} {{ {hook} }}"));
        w.chains.insert(name.to_string());
    }
    for name in HELPER_CHAINS {
        w.chain(name);
    }
    w.rule("nat-prerouting", "jump services");
    w.rule("nat-output", "jump services");
    w.rule("nat-postrouting", "jump masquerading");
    w.rule("filter-input", "ct state new jump service-endpoints-check");
    w.rule(
        "filter-forward",
        "ct state new jump service-endpoints-check",
    );
    w.rule("filter-forward", "ct state new jump cluster-ips-check");
    w.rule("filter-output", "ct state new jump service-endpoints-check");
    w.rule(
        "filter-output-post-dnat",
        "ct state new jump cluster-ips-check",
    );
    w.rule("mark-for-masquerade", format!("mark set mark or {mark}"));
    w.rule("masquerading", format!("mark and {mark} == 0 return"));
    w.rule("masquerading", format!("mark set mark xor {mark}"));
    w.rule("masquerading", "masquerade fully-random");
    w.rule("reject-chain", "reject");

    // NodePorts answer on local addresses (all of them, or the configured
    // ones), never on loopback: that needs route_localnet, which nftables mode
    // does not set (as upstream).
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
    w.rule(
        "services",
        format!("{ip} daddr . meta l4proto . th dport vmap @service-ips"),
    );
    w.rule(
        "services",
        format!("{nodeport_match} meta l4proto . th dport vmap @service-nodeports"),
    );
    w.rule(
        "service-endpoints-check",
        format!("{ip} daddr . meta l4proto . th dport vmap @no-endpoint-services"),
    );
    w.rule(
        "service-endpoints-check",
        format!("{nodeport_match} meta l4proto . th dport vmap @no-endpoint-nodeports"),
    );
    w.rule(
        "cluster-ips-check",
        format!(
            "{ip} daddr @cluster-ips reject comment \"Reject traffic to invalid ports of ClusterIPs\""
        ),
    );

    let plans = plan::plan(state, family);
    let cidrs: Vec<String> = config
        .cluster_cidrs_of(family)
        .iter()
        .map(|n| n.to_string())
        .collect();
    let mut cluster_ips = BTreeSet::new();
    let mut service_ips = Vec::new();
    let mut service_nodeports = Vec::new();
    let mut no_endpoint_services = Vec::new();
    let mut no_endpoint_nodeports = Vec::new();
    let mut affinity_sets: Vec<(String, u32)> = Vec::new();

    for p in &plans {
        let svc = p.service;
        let proto = svc.name.protocol.lower();
        let cluster_chain = naming::nft_service_chain("service", &svc.name);
        let local_chain = naming::nft_service_chain("local", &svc.name);
        let external_chain = naming::nft_service_chain("external", &svc.name);
        cluster_ips.insert(p.cluster_ip.to_string());
        let chain_of = |target: Target| match target {
            Target::Cluster => format!("goto {cluster_chain}"),
            Target::Local => format!("goto {local_chain}"),
            Target::External => format!("goto {external_chain}"),
            Target::Reject => "goto reject-chain".to_string(),
            Target::Drop => "drop".to_string(),
        };
        let key = format!("{} . {proto} . {}", p.cluster_ip, svc.port);
        if p.internal_blocked() {
            no_endpoint_services.push(format!("{key} : {}", chain_of(p.internal)));
        } else {
            service_ips.push(format!("{key} : {}", chain_of(p.internal)));
        }
        if let Some(external) = p.external {
            for ext_ip in &p.external_ips {
                let key = format!("{ext_ip} . {proto} . {}", svc.port);
                if external == Target::External {
                    service_ips.push(format!("{key} : {}", chain_of(external)));
                } else {
                    no_endpoint_services.push(format!("{key} : {}", chain_of(external)));
                }
            }
            if let Some(node_port) = svc.node_port {
                let key = format!("{proto} . {node_port}");
                if external == Target::External {
                    service_nodeports.push(format!("{key} : {}", chain_of(external)));
                } else {
                    no_endpoint_nodeports.push(format!("{key} : {}", chain_of(external)));
                }
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
        let mut balance = |w: &mut Writer, chain: &str, endpoints: &[Endpoint]| {
            w.chain(chain);
            if let Some(rule) = &masq_rule {
                w.rule(chain, rule);
            }
            if let Some(timeout) = svc.affinity_seconds {
                for ep in endpoints {
                    let set = naming::nft_affinity_set(&svc.name, ep);
                    let target = naming::nft_endpoint_chain(&svc.name, ep);
                    w.rule(chain, format!("{ip} saddr @{set} goto {target}"));
                    if !affinity_sets.iter().any(|(s, _)| *s == set) {
                        affinity_sets.push((set, timeout));
                    }
                }
            }
            let arms: Vec<String> = endpoints
                .iter()
                .enumerate()
                .map(|(i, ep)| format!("{i} : goto {}", naming::nft_endpoint_chain(&svc.name, ep)))
                .collect();
            w.rule(
                chain,
                format!(
                    "numgen random mod {} vmap {{ {} }}",
                    endpoints.len(),
                    arms.join(", ")
                ),
            );
        };
        if p.has_cluster_chain {
            balance(&mut w, &cluster_chain, &p.endpoints.cluster);
        }
        if p.has_local_chain {
            balance(&mut w, &local_chain, &p.endpoints.local);
        }
        if p.external == Some(Target::External) {
            w.chain(&external_chain);
            if svc.external_policy_local {
                // Pods and the node itself keep reaching every endpoint.
                if !cidrs.is_empty() {
                    w.rule(
                        &external_chain,
                        format!("{ip} saddr {{ {} }} goto {cluster_chain}", cidrs.join(", ")),
                    );
                }
                w.rule(
                    &external_chain,
                    "fib saddr type local jump mark-for-masquerade",
                );
                w.rule(
                    &external_chain,
                    format!("fib saddr type local goto {cluster_chain}"),
                );
                w.rule(&external_chain, chain_of(p.external_final));
            } else {
                w.rule(&external_chain, "jump mark-for-masquerade");
                w.rule(&external_chain, format!("goto {cluster_chain}"));
            }
        }
        for ep in p.chained_endpoints() {
            let chain = naming::nft_endpoint_chain(&svc.name, ep);
            w.chain(&chain);
            // Hairpin: a pod reaching itself through the service must be
            // masqueraded or it would answer itself directly.
            w.rule(
                &chain,
                format!("{ip} saddr {} jump mark-for-masquerade", ep.ip),
            );
            if svc.affinity_seconds.is_some() {
                let set = naming::nft_affinity_set(&svc.name, ep);
                w.rule(&chain, format!("update @{set} {{ {ip} saddr }}"));
            }
            let target = match ep.ip {
                std::net::IpAddr::V4(a) => format!("{a}:{}", ep.port),
                std::net::IpAddr::V6(a) => format!("[{a}]:{}", ep.port),
            };
            w.rule(&chain, format!("meta l4proto {proto} dnat to {target}"));
        }
    }

    // Affinity sets are never flushed: they hold the clients' memory.
    for (set, timeout) in &affinity_sets {
        w.line(format!(
            "add set {fam} {TABLE} {set} {{ type {addr} ; flags dynamic,timeout ; timeout {timeout}s ; }}"
        ));
        w.sets.insert(set.clone());
    }
    let cluster_ips: Vec<String> = cluster_ips.into_iter().collect();
    w.collection(
        "set",
        "cluster-ips",
        &format!("type {addr} ; comment \"Active ClusterIPs\" ;"),
        &cluster_ips,
    );
    w.collection(
        "map",
        "service-ips",
        &format!("type {addr} . inet_proto . inet_service : verdict ;"),
        &service_ips,
    );
    w.collection(
        "map",
        "service-nodeports",
        "type inet_proto . inet_service : verdict ;",
        &service_nodeports,
    );
    w.collection(
        "map",
        "no-endpoint-services",
        &format!("type {addr} . inet_proto . inet_service : verdict ;"),
        &no_endpoint_services,
    );
    w.collection(
        "map",
        "no-endpoint-nodeports",
        "type inet_proto . inet_service : verdict ;",
        &no_endpoint_nodeports,
    );

    let rules = std::mem::take(&mut w.rules);
    w.out.push_str(&rules);
    let elements = std::mem::take(&mut w.elements);
    w.out.push_str(&elements);
    // Stale objects last: nothing refers to them any more in this
    // transaction (rules were flushed, maps refilled).
    for chain in existing.chains.difference(&w.chains.clone()) {
        w.line(format!("delete chain {fam} {TABLE} {chain}"));
    }
    for set in existing.sets.difference(&w.sets.clone()) {
        w.line(format!("delete set {fam} {TABLE} {set}"));
    }
    for map in existing.maps.difference(&w.maps.clone()) {
        w.line(format!("delete map {fam} {TABLE} {map}"));
    }
    let mut out = w.out;
    // A trailing newline keeps `nft -f -` happy on every version.
    if !out.ends_with('\n') {
        let _ = writeln!(out);
    }
    out
}

/// The transaction that removes our table (used by `--cleanup` and shutdown
/// of tests). `add` first so deleting a missing table is not an error.
pub fn render_cleanup(family: IpFamily) -> String {
    let fam = family_keyword(family);
    format!("add table {fam} {TABLE}\ndelete table {fam} {TABLE}\n")
}
