//! The iptables backend: upstream's chain layout, written with one
//! `iptables-restore --noflush` per sync (atomic per table).
//!
//! nat: `KUBE-SERVICES` (one rule per cluster IP/port, then a jump to
//! `KUBE-NODEPORTS` for local destinations), `KUBE-SVC-*` (balancing with
//! `statistic --probability 1/n`), `KUBE-SVL-*` (local endpoints),
//! `KUBE-EXT-*` (NodePort/external IP traffic), `KUBE-SEP-*` (DNAT),
//! `KUBE-MARK-MASQ` and `KUBE-POSTROUTING`. filter: `KUBE-SERVICES` and
//! `KUBE-EXTERNAL-SERVICES` reject (or drop) traffic to services without
//! endpoints. The jumps from the built-in chains are ensured separately
//! ([`JUMPS`]), as upstream does.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use std::net::IpAddr;

use crate::model::{Endpoint, IpFamily, Protocol, ProxyState, ServicePortName};
use crate::naming;
use crate::plan::{self, NodePortMatch, PortPlan, RuleConfig, Target};

/// Jumps from built-in chains into ours: (table, chain, rule args). Each
/// missing one is inserted at the top, so later entries of a chain end up
/// before earlier ones (in `INPUT`: the load-balancer firewall, the health
/// check ports, then the external services, as upstream).
pub const JUMPS: &[(&str, &str, &[&str])] = &[
    (
        "filter",
        "INPUT",
        &[
            "-m",
            "conntrack",
            "--ctstate",
            "NEW",
            "-m",
            "comment",
            "--comment",
            "kubernetes externally-visible service portals",
            "-j",
            "KUBE-EXTERNAL-SERVICES",
        ],
    ),
    (
        "filter",
        "FORWARD",
        &[
            "-m",
            "conntrack",
            "--ctstate",
            "NEW",
            "-m",
            "comment",
            "--comment",
            "kubernetes service portals",
            "-j",
            "KUBE-SERVICES",
        ],
    ),
    (
        "filter",
        "OUTPUT",
        &[
            "-m",
            "conntrack",
            "--ctstate",
            "NEW",
            "-m",
            "comment",
            "--comment",
            "kubernetes service portals",
            "-j",
            "KUBE-SERVICES",
        ],
    ),
    (
        "nat",
        "PREROUTING",
        &[
            "-m",
            "comment",
            "--comment",
            "kubernetes service portals",
            "-j",
            "KUBE-SERVICES",
        ],
    ),
    (
        "nat",
        "OUTPUT",
        &[
            "-m",
            "comment",
            "--comment",
            "kubernetes service portals",
            "-j",
            "KUBE-SERVICES",
        ],
    ),
    (
        "nat",
        "POSTROUTING",
        &[
            "-m",
            "comment",
            "--comment",
            "kubernetes postrouting rules",
            "-j",
            "KUBE-POSTROUTING",
        ],
    ),
    (
        "filter",
        "INPUT",
        &[
            "-m",
            "comment",
            "--comment",
            "kubernetes health check service ports",
            "-j",
            "KUBE-NODEPORTS",
        ],
    ),
    (
        "filter",
        "INPUT",
        &[
            "-m",
            "conntrack",
            "--ctstate",
            "NEW",
            "-m",
            "comment",
            "--comment",
            "kubernetes load balancer firewall",
            "-j",
            "KUBE-PROXY-FIREWALL",
        ],
    ),
    (
        "filter",
        "FORWARD",
        &[
            "-m",
            "conntrack",
            "--ctstate",
            "NEW",
            "-m",
            "comment",
            "--comment",
            "kubernetes load balancer firewall",
            "-j",
            "KUBE-PROXY-FIREWALL",
        ],
    ),
    (
        "filter",
        "OUTPUT",
        &[
            "-m",
            "conntrack",
            "--ctstate",
            "NEW",
            "-m",
            "comment",
            "--comment",
            "kubernetes load balancer firewall",
            "-j",
            "KUBE-PROXY-FIREWALL",
        ],
    ),
];

/// Our fixed chains per table (always declared, hence flushed, per sync).
const FILTER_CHAINS: &[&str] = &[
    "KUBE-SERVICES",
    "KUBE-EXTERNAL-SERVICES",
    "KUBE-PROXY-FIREWALL",
    "KUBE-NODEPORTS",
];
const NAT_CHAINS: &[&str] = &[
    "KUBE-SERVICES",
    "KUBE-NODEPORTS",
    "KUBE-POSTROUTING",
    "KUBE-MARK-MASQ",
];
/// Prefixes of the per-service chains we own (stale ones are deleted).
const OWNED_PREFIXES: &[&str] = &[
    "KUBE-SVC-",
    "KUBE-SVL-",
    "KUBE-EXT-",
    "KUBE-FW-",
    "KUBE-SEP-",
];

/// The per-service nat chains present now (from `iptables-save -t nat`).
pub fn existing_chains(save_output: &str) -> BTreeSet<String> {
    save_output
        .lines()
        .filter_map(|l| l.strip_prefix(':'))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| OWNED_PREFIXES.iter().any(|p| name.starts_with(p)))
        .map(str::to_string)
        .collect()
}

fn host(ip: &std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(a) => format!("{a}/32"),
        std::net::IpAddr::V6(a) => format!("{a}/128"),
    }
}

fn quote(comment: &str) -> String {
    format!("\"{}\"", comment.replace('"', "'"))
}

/// What our chains should hold for one family: the fixed chains (rewritten
/// by every sync; `KUBE-SERVICES` has a rule per Service, as upstream) and
/// the per-Service chains (written only when they change).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// Rules of the filter table's fixed chains.
    pub filter: String,
    /// Rules of the nat table's fixed chains.
    pub nat_fixed: String,
    /// nat `KUBE-SVC-*`, `KUBE-SVL-*`, `KUBE-EXT-*`, `KUBE-SEP-*` chains and
    /// their rules.
    pub chains: BTreeMap<String, String>,
}

/// Per-Service chains a successful sync left, with fingerprints of their
/// rules (what the next partial sync compares against).
pub type Written = BTreeMap<String, u64>;

impl Ruleset {
    /// What the next partial sync compares against.
    pub fn written(&self) -> Written {
        self.chains
            .iter()
            .map(|(name, rules)| (name.clone(), plan::fingerprint(rules)))
            .collect()
    }
}

/// Computes the chains of `family` for `state`.
pub fn ruleset(state: &ProxyState, config: &RuleConfig, family: IpFamily) -> Ruleset {
    let mark = config.mark();
    let plans = plan::plan(state, family);
    let cidrs: Vec<String> = config
        .cluster_cidrs_of(family)
        .iter()
        .map(|n| n.to_string())
        .collect();
    let nodeport_match = config.nodeport_match(family, &state.node);
    let reject = "REJECT";

    let mut filter = String::new();
    let mut chains: BTreeMap<String, String> = BTreeMap::new();
    let mut nat = String::new();
    let mut nodeports = String::new();

    let _ = writeln!(
        nat,
        "-A KUBE-POSTROUTING -m mark ! --mark {mark}/{mark} -j RETURN"
    );
    let _ = writeln!(nat, "-A KUBE-POSTROUTING -j MARK --xor-mark {mark}");
    let _ = writeln!(
        nat,
        "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully"
    );
    let _ = writeln!(nat, "-A KUBE-MARK-MASQ -j MARK --or-mark {mark}");
    // A destination (IP, protocol, port) two Services claim (the apiserver
    // lets two list the same external IP and port) belongs to one of them,
    // as in nftables mode (see `nftables::Ruleset::owner`): one sending it
    // to endpoints before one rejecting it, then the first in name order.
    // The other one's rules for it are left out, so the answer never
    // depends on rule order, and deleting the owner hands the destination
    // over at the next sync (these chains are rewritten every sync).
    let mut owners: BTreeMap<(IpAddr, Protocol, u16), (bool, &ServicePortName)> = BTreeMap::new();
    for p in &plans {
        let svc = p.service;
        let serves_external = p.external == Some(Target::External);
        let cluster = std::iter::once((&p.cluster_ip, !p.internal_blocked()));
        let external = p
            .external_ips
            .iter()
            .chain(&p.load_balancer_ips)
            .map(|ip| (ip, serves_external));
        for (ip, serves) in cluster.chain(external) {
            let claim = (!serves, &svc.name);
            owners
                .entry((*ip, svc.name.protocol, svc.port))
                .and_modify(|owner| *owner = (*owner).min(claim))
                .or_insert(claim);
        }
    }
    let owns = |p: &PortPlan<'_>, ip: &IpAddr| {
        owners
            .get(&(*ip, p.service.name.protocol, p.service.port))
            .is_some_and(|(_, owner)| *owner == &p.service.name)
    };
    for p in &plans {
        let svc = p.service;
        let name = svc.name.to_string();
        let proto = svc.name.protocol.lower();
        let svc_chain = naming::iptables_service_chain("KUBE-SVC-", &svc.name);
        let svl_chain = naming::iptables_service_chain("KUBE-SVL-", &svc.name);
        let ext_chain = naming::iptables_service_chain("KUBE-EXT-", &svc.name);
        let fw_chain = naming::iptables_service_chain("KUBE-FW-", &svc.name);
        let chain_of = |t: Target| match t {
            Target::Cluster => svc_chain.clone(),
            Target::Local => svl_chain.clone(),
            Target::External => ext_chain.clone(),
            Target::Reject => reject.to_string(),
            Target::Drop => "DROP".to_string(),
        };
        let dst = format!(
            "-d {} -p {proto} -m {proto} --dport {}",
            host(&p.cluster_ip),
            svc.port
        );
        // Cluster IP.
        let owns_cluster_ip = owns(p, &p.cluster_ip);
        if owns_cluster_ip && p.internal_blocked() {
            let why = if p.internal == Target::Drop {
                "has no local endpoints"
            } else {
                "has no endpoints"
            };
            let _ = writeln!(
                filter,
                "-A KUBE-SERVICES -m comment --comment {} {dst} -j {}",
                quote(&format!("{name} {why}")),
                chain_of(p.internal)
            );
        } else if owns_cluster_ip {
            let _ = writeln!(
                nat,
                "-A KUBE-SERVICES -m comment --comment {} {dst} -j {}",
                quote(&format!("{name} cluster IP")),
                chain_of(p.internal)
            );
        }
        // External IPs and NodePorts.
        if let Some(external) = p.external {
            for ext_ip in p.external_ips.iter().filter(|ip| owns(p, ip)) {
                let ext_dst = format!(
                    "-d {} -p {proto} -m {proto} --dport {}",
                    host(ext_ip),
                    svc.port
                );
                let comment = quote(&format!("{name} external IP"));
                if external == Target::External {
                    let _ = writeln!(
                        nat,
                        "-A KUBE-SERVICES -m comment --comment {comment} {ext_dst} -j {ext_chain}"
                    );
                } else {
                    let _ = writeln!(
                        filter,
                        "-A KUBE-EXTERNAL-SERVICES -m comment --comment {comment} {ext_dst} -j {}",
                        chain_of(external)
                    );
                }
            }
            // Load-balancer IPs: through the firewall chain when
            // loadBalancerSourceRanges apply (as upstream, only while the
            // Service has endpoints; without, they are rejected anyway).
            let firewalled = external == Target::External && p.firewall_sources.is_some();
            for lb_ip in p.load_balancer_ips.iter().filter(|ip| owns(p, ip)) {
                let lb_dst = format!(
                    "-d {} -p {proto} -m {proto} --dport {}",
                    host(lb_ip),
                    svc.port
                );
                if external == Target::External {
                    let target = if firewalled { &fw_chain } else { &ext_chain };
                    let _ = writeln!(
                        nat,
                        "-A KUBE-SERVICES -m comment --comment {} {lb_dst} -j {target}",
                        quote(&format!("{name} loadbalancer IP"))
                    );
                } else {
                    let _ = writeln!(
                        filter,
                        "-A KUBE-EXTERNAL-SERVICES -m comment --comment {} {lb_dst} -j {}",
                        quote(&format!("{name} has no endpoints")),
                        chain_of(external)
                    );
                }
                if firewalled {
                    // What KUBE-FW-* did not DNAT still has the
                    // load-balancer IP as destination: dropped here.
                    let _ = writeln!(
                        filter,
                        "-A KUBE-PROXY-FIREWALL -m comment --comment {} {lb_dst} -j DROP",
                        quote(&format!("{name} traffic not accepted by {fw_chain}"))
                    );
                }
            }
            if let (true, Some(sources)) = (firewalled, &p.firewall_sources) {
                let out = chains.entry(fw_chain.clone()).or_default();
                let comment = quote(&format!("{name} loadbalancer IP"));
                for source in sources {
                    let _ = writeln!(
                        out,
                        "-A {fw_chain} -m comment --comment {comment} -s {source} -j {ext_chain}"
                    );
                }
                let _ = writeln!(
                    out,
                    "-A {fw_chain} -m comment --comment {}",
                    quote(&format!(
                        "other traffic to {name} will be dropped by KUBE-PROXY-FIREWALL"
                    ))
                );
            }
            if let Some(node_port) = svc.node_port {
                let np = format!("-p {proto} -m {proto} --dport {node_port}");
                if external == Target::External {
                    let _ = writeln!(
                        nodeports,
                        "-A KUBE-NODEPORTS -m comment --comment {} {np} -j {ext_chain}",
                        quote(&name)
                    );
                } else {
                    let _ = writeln!(
                        filter,
                        "-A KUBE-EXTERNAL-SERVICES -m comment --comment {} -m addrtype --dst-type LOCAL {np} -j {}",
                        quote(&format!("{name} has no endpoints")),
                        chain_of(external)
                    );
                }
            }
        }
        if let Some(port) = svc.health_check_node_port {
            // Load balancers' probes must pass whatever else filters INPUT.
            let _ = writeln!(
                filter,
                "-A KUBE-NODEPORTS -m comment --comment {} -m tcp -p tcp --dport {port} -j ACCEPT",
                quote(&format!("{name} health check node port"))
            );
        }
        let masq = if config.masquerade_all {
            Some(format!(
                "-A {{chain}} -m comment --comment {} {dst} -j KUBE-MARK-MASQ",
                quote(&format!("{name} cluster IP"))
            ))
        } else {
            cidrs.first().map(|cidr| {
                format!(
                    "-A {{chain}} -m comment --comment {} ! -s {cidr} {dst} -j KUBE-MARK-MASQ",
                    quote(&format!("{name} cluster IP"))
                )
            })
        };
        let balance = |chains: &mut BTreeMap<String, String>, chain: &str, eps: &[Endpoint]| {
            let out = chains.entry(chain.to_string()).or_default();
            if let Some(rule) = &masq {
                let _ = writeln!(out, "{}", rule.replace("{chain}", chain));
            }
            if let Some(seconds) = svc.affinity_seconds {
                let mask = match family {
                    IpFamily::V4 => "255.255.255.255",
                    IpFamily::V6 => "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                };
                for ep in eps {
                    let sep = naming::iptables_endpoint_chain(&svc.name, ep);
                    let _ = writeln!(
                        out,
                        "-A {chain} -m comment --comment {} -m recent --name {sep} --mask {mask} --rsource --rcheck --seconds {seconds} --reap -j {sep}",
                        quote(&format!("{name} -> {}", ep.address()))
                    );
                }
            }
            let n = eps.len();
            for (i, ep) in eps.iter().enumerate() {
                let sep = naming::iptables_endpoint_chain(&svc.name, ep);
                let comment = quote(&format!("{name} -> {}", ep.address()));
                if i + 1 < n {
                    let probability = 1.0 / (n - i) as f64;
                    let _ = writeln!(
                        out,
                        "-A {chain} -m comment --comment {comment} -m statistic --mode random --probability {probability:.10} -j {sep}"
                    );
                } else {
                    let _ = writeln!(out, "-A {chain} -m comment --comment {comment} -j {sep}");
                }
            }
        };
        if p.has_cluster_chain {
            balance(&mut chains, &svc_chain, &p.endpoints.cluster);
        }
        if p.has_local_chain {
            balance(&mut chains, &svl_chain, &p.endpoints.local);
        }
        if p.external == Some(Target::External) {
            let nat = chains.entry(ext_chain.clone()).or_default();
            if svc.external_policy_local {
                for cidr in &cidrs {
                    let _ = writeln!(
                        nat,
                        "-A {ext_chain} -m comment --comment \"pod traffic for {name} external destinations\" -s {cidr} -j {svc_chain}"
                    );
                }
                let _ = writeln!(
                    nat,
                    "-A {ext_chain} -m comment --comment \"masquerade LOCAL traffic for {name} external destinations\" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ"
                );
                let _ = writeln!(
                    nat,
                    "-A {ext_chain} -m comment --comment \"route LOCAL traffic for {name} external destinations\" -m addrtype --src-type LOCAL -j {svc_chain}"
                );
                let _ = writeln!(nat, "-A {ext_chain} -j {}", chain_of(p.external_final));
            } else {
                let _ = writeln!(
                    nat,
                    "-A {ext_chain} -m comment --comment \"masquerade traffic for {name} external destinations\" -j KUBE-MARK-MASQ"
                );
                let _ = writeln!(nat, "-A {ext_chain} -j {svc_chain}");
            }
        }
        for ep in p.chained_endpoints() {
            let sep = naming::iptables_endpoint_chain(&svc.name, ep);
            if chains.contains_key(&sep) {
                continue;
            }
            let comment = quote(&name);
            let nat = chains.entry(sep.clone()).or_default();
            let _ = writeln!(
                nat,
                "-A {sep} -m comment --comment {comment} -s {} -j KUBE-MARK-MASQ",
                host(&ep.ip)
            );
            let recent = if svc.affinity_seconds.is_some() {
                let mask = match family {
                    IpFamily::V4 => "255.255.255.255",
                    IpFamily::V6 => "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                };
                format!(" -m recent --name {sep} --mask {mask} --rsource --set")
            } else {
                String::new()
            };
            let _ = writeln!(
                nat,
                "-A {sep} -m comment --comment {comment}{recent} -p {proto} -m {proto} -j DNAT --to-destination {}",
                ep.address()
            );
        }
    }

    // NodePorts last, and only for local destinations (never loopback: that
    // needs route_localnet, which Corten does not set).
    let loopback = match family {
        IpFamily::V4 => "127.0.0.0/8",
        IpFamily::V6 => "::1/128",
    };
    match nodeport_match {
        NodePortMatch::AllLocal => {
            let _ = writeln!(
                nat,
                "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" ! -d {loopback} -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS"
            );
        }
        NodePortMatch::Only(nets) => {
            for net in &nets {
                let _ = writeln!(
                    nat,
                    "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -d {net} -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS"
                );
            }
        }
        NodePortMatch::Nowhere => {}
    }
    nat.push_str(&nodeports);

    Ruleset {
        filter,
        nat_fixed: nat,
        chains,
    }
}

/// Writes `iptables-restore --noflush` input: the fixed chains in full,
/// then `chains` (declaring a chain empties it), then deletes `stale`.
fn restore_input<'a>(
    rules: &'a Ruleset,
    chains: impl Iterator<Item = &'a String> + Clone,
    stale: &[&'a String],
) -> String {
    let mut out = String::with_capacity(rules.filter.len() + rules.nat_fixed.len() + 1024);
    out.push_str("*filter\n");
    for chain in FILTER_CHAINS {
        let _ = writeln!(out, ":{chain} - [0:0]");
    }
    out.push_str(&rules.filter);
    out.push_str("COMMIT\n*nat\n");
    for chain in NAT_CHAINS {
        let _ = writeln!(out, ":{chain} - [0:0]");
    }
    for chain in chains.clone().chain(stale.iter().copied()) {
        let _ = writeln!(out, ":{chain} - [0:0]");
    }
    out.push_str(&rules.nat_fixed);
    for chain in chains {
        out.push_str(&rules.chains[chain]);
    }
    for chain in stale {
        let _ = writeln!(out, "-X {chain}");
    }
    out.push_str("COMMIT\n");
    out
}

/// The input of a full sync: every chain; `existing` (from
/// `iptables-save`) names the per-Service chains to delete when stale.
pub fn full(rules: &Ruleset, existing: &BTreeSet<String>) -> String {
    let stale: Vec<&String> = existing
        .iter()
        .filter(|c| !rules.chains.contains_key(*c))
        .collect();
    restore_input(rules, rules.chains.keys(), &stale)
}

/// The input of a partial sync: the fixed chains, the per-Service chains
/// that are new or changed since `prev`, and deletion of those gone.
pub fn partial(prev: &Written, rules: &Ruleset) -> String {
    let changed = rules
        .chains
        .iter()
        .filter(|(name, body)| prev.get(*name) != Some(&plan::fingerprint(*body)))
        .map(|(name, _)| name);
    let stale: Vec<&String> = prev
        .keys()
        .filter(|name| !rules.chains.contains_key(*name))
        .collect();
    restore_input(rules, changed, &stale)
}

/// Renders the full `iptables-restore --noflush` input for `family`.
pub fn render(
    state: &ProxyState,
    config: &RuleConfig,
    family: IpFamily,
    existing: &BTreeSet<String>,
) -> String {
    full(&ruleset(state, config, family), existing)
}

/// Input for `iptables-restore --noflush` that empties and deletes our
/// chains (after the jumps into them were removed).
pub fn render_cleanup(existing: &BTreeSet<String>) -> String {
    let mut out = String::from("*filter\n");
    for chain in FILTER_CHAINS {
        let _ = writeln!(out, ":{chain} - [0:0]");
    }
    for chain in FILTER_CHAINS {
        let _ = writeln!(out, "-X {chain}");
    }
    out.push_str("COMMIT\n*nat\n");
    let all: Vec<String> = NAT_CHAINS
        .iter()
        .map(|s| s.to_string())
        .chain(existing.iter().cloned())
        .collect();
    for chain in &all {
        let _ = writeln!(out, ":{chain} - [0:0]");
    }
    for chain in &all {
        let _ = writeln!(out, "-X {chain}");
    }
    out.push_str("COMMIT\n");
    out
}
