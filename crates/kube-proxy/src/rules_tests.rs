//! Tests of the generated rulesets: they assert what traffic does (which map
//! entry leads where, which chain balances over what), not the exact text.

use std::collections::BTreeSet;

use crate::iptables;
use crate::model::{Endpoint, IpFamily, Protocol, ProxyState, ServicePort, ServicePortName};
use crate::naming;
use crate::nftables::{self, Existing};
use crate::plan::RuleConfig;
use crate::proxier::{IptablesProxier, NftablesProxier, Proxier};
use crate::runner::{FakeRunner, RunError};

pub(crate) fn name(svc: &str) -> ServicePortName {
    ServicePortName {
        namespace: "ns".into(),
        name: svc.into(),
        port_name: "http".into(),
        protocol: Protocol::Tcp,
    }
}

pub(crate) fn port(svc: &str, ip: &str) -> ServicePort {
    ServicePort {
        name: name(svc),
        cluster_ips: vec![ip.parse().unwrap()],
        port: 80,
        node_port: None,
        external_ips: vec![],
        affinity_seconds: None,
        external_policy_local: false,
        internal_policy_local: false,
        ..ServicePort::default()
    }
}

pub(crate) fn ep(ip: &str, ready: bool, local: bool) -> Endpoint {
    Endpoint {
        ip: ip.parse().unwrap(),
        port: 8080,
        ready,
        serving: ready,
        terminating: false,
        local,
        zone_hints: Vec::new(),
    }
}

pub(crate) fn state(entries: Vec<(ServicePort, Vec<Endpoint>)>) -> ProxyState {
    let mut st = ProxyState::default();
    for (svc, eps) in entries {
        st.endpoints.insert(svc.name.clone(), eps);
        st.services.insert(svc.name.clone(), svc);
    }
    st
}

pub(crate) fn cfg() -> RuleConfig {
    RuleConfig {
        cluster_cidrs: vec!["10.244.0.0/16".parse().unwrap()],
        ..RuleConfig::default()
    }
}

pub(crate) fn nft(st: &ProxyState) -> String {
    nftables::render(st, &cfg(), IpFamily::V4, &Existing::default())
}

/// The rules of one chain, in order.
pub(crate) fn nft_chain<'a>(script: &'a str, chain: &str) -> Vec<&'a str> {
    let prefix = format!("add rule ip kube-proxy {chain} ");
    script
        .lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .collect()
}

/// The elements added to one map or set.
pub(crate) fn nft_elements(script: &str, map: &str) -> Vec<String> {
    let prefix = format!("add element ip kube-proxy {map} {{ ");
    script
        .lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .flat_map(|l| {
            l.trim_end_matches(" }")
                .split(", ")
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn nft_cluster_ip_balances_equally_over_ready_endpoints() {
    let st = state(vec![(
        port("web", "10.96.0.10"),
        vec![
            ep("10.244.1.5", true, false),
            ep("10.244.2.5", true, false),
            ep("10.244.3.5", false, false),
        ],
    )]);
    let script = nft(&st);
    let svc_chain = naming::nft_service_chain("service", &name("web"));
    assert_eq!(
        nft_elements(&script, "service-ips"),
        vec![format!("10.96.0.10 . tcp . 80 : goto {svc_chain}")]
    );
    assert!(nft_elements(&script, "no-endpoint-services").is_empty());
    assert_eq!(nft_elements(&script, "cluster-ips"), vec!["10.96.0.10"]);
    let rules = nft_chain(&script, &svc_chain);
    // Off-cluster sources are masqueraded.
    assert!(rules[0].contains("ip saddr != { 10.244.0.0/16 } jump mark-for-masquerade"));
    // The first endpoint by a 1-in-2 draw, the second otherwise: 1/2 each,
    // DNATed by the Service chain itself (no chain per endpoint without
    // ClientIP affinity).
    assert_eq!(
        rules[1..],
        [
            "numgen random mod 2 == 0 meta l4proto tcp dnat to 10.244.1.5:8080",
            "meta l4proto tcp dnat to 10.244.2.5:8080"
        ]
    );
    assert!(
        !script.contains("chain ip kube-proxy endpoint-"),
        "{script}"
    );
    // Hairpin: each endpoint's address pair is in the set nat-postrouting
    // masquerades.
    assert_eq!(
        nft_elements(&script, "hairpin-endpoints"),
        vec!["10.244.1.5 . 10.244.1.5", "10.244.2.5 . 10.244.2.5"]
    );
    assert_eq!(
        nft_chain(&script, "nat-postrouting")[0],
        "ct status dnat ip saddr . ip daddr @hairpin-endpoints jump mark-for-masquerade"
    );
    assert!(
        !script.contains("10.244.3.5"),
        "unready endpoints get no traffic"
    );
    // Everything happens in one transaction that starts by flushing our table.
    assert!(script.starts_with("add table ip kube-proxy"));
    assert_eq!(script.lines().nth(1), Some("flush table ip kube-proxy"));
}

#[test]
fn nft_services_without_endpoints_are_rejected_and_local_policies_drop() {
    let mut local_only = port("local", "10.96.0.12");
    local_only.internal_policy_local = true;
    let st = state(vec![
        (port("empty", "10.96.0.11"), vec![]),
        (local_only, vec![ep("10.244.2.5", true, false)]),
    ]);
    let script = nft(&st);
    let blocked = nft_elements(&script, "no-endpoint-services");
    assert!(blocked.contains(&"10.96.0.11 . tcp . 80 : goto reject-chain".to_string()));
    assert!(blocked.contains(&"10.96.0.12 . tcp . 80 : drop".to_string()));
    assert!(nft_elements(&script, "service-ips").is_empty());
    assert_eq!(nft_chain(&script, "reject-chain"), vec!["reject"]);
    // The check runs for new connections from pods, the host and outside.
    for hook in ["filter-input", "filter-forward", "filter-output"] {
        assert!(nft_chain(&script, hook).contains(&"ct state new jump service-endpoints-check"));
    }
}

#[test]
fn nft_serving_terminating_endpoints_are_a_fallback() {
    let mut terminating = ep("10.244.4.5", false, false);
    terminating.serving = true;
    terminating.terminating = true;
    let st = state(vec![(port("web", "10.96.0.10"), vec![terminating.clone()])]);
    let script = nft(&st);
    assert!(script.contains("dnat to 10.244.4.5:8080"));
    let st = state(vec![(
        port("web", "10.96.0.10"),
        vec![terminating, ep("10.244.1.5", true, false)],
    )]);
    assert!(!nft(&st).contains("10.244.4.5"), "ready endpoints win");
}

#[test]
fn nft_node_ports_and_external_traffic_policy_local() {
    let mut svc = port("np", "10.96.0.20");
    svc.node_port = Some(30080);
    svc.external_policy_local = true;
    let st = state(vec![(
        svc,
        vec![ep("10.244.1.5", true, true), ep("10.244.2.5", true, false)],
    )]);
    let script = nft(&st);
    let ext = naming::nft_service_chain("external", &name("np"));
    let local = naming::nft_service_chain("local", &name("np"));
    let cluster = naming::nft_service_chain("service", &name("np"));
    assert_eq!(
        nft_elements(&script, "service-nodeports"),
        vec![format!("tcp . 30080 : goto {ext}")]
    );
    let rules = nft_chain(&script, &ext);
    assert_eq!(
        rules,
        vec![
            format!("ip saddr {{ 10.244.0.0/16 }} goto {cluster}"),
            "fib saddr type local jump mark-for-masquerade".to_string(),
            format!("fib saddr type local goto {cluster}"),
            format!("goto {local}"),
        ]
    );
    let local_rules = nft_chain(&script, &local);
    assert_eq!(
        local_rules.last().unwrap(),
        &"meta l4proto tcp dnat to 10.244.1.5:8080"
    );
    // NodePorts never answer on loopback.
    assert!(nft_chain(&script, "services")[1].contains("ip daddr != 127.0.0.0/8"));
}

#[test]
fn nft_cluster_policy_node_ports_masquerade_everything() {
    let mut svc = port("np", "10.96.0.20");
    svc.node_port = Some(30080);
    let st = state(vec![(svc, vec![ep("10.244.1.5", true, false)])]);
    let script = nft(&st);
    let ext = naming::nft_service_chain("external", &name("np"));
    let cluster = naming::nft_service_chain("service", &name("np"));
    assert_eq!(
        nft_chain(&script, &ext),
        vec![
            "jump mark-for-masquerade".to_string(),
            format!("goto {cluster}")
        ]
    );
    assert_eq!(
        nft_chain(&script, "masquerading"),
        vec![
            "mark and 0x4000 == 0 return",
            "mark set mark xor 0x4000",
            "masquerade fully-random"
        ]
    );
}

#[test]
fn nft_client_ip_affinity_uses_dynamic_sets_that_survive_syncs() {
    let mut svc = port("sticky", "10.96.0.30");
    svc.affinity_seconds = Some(600);
    let endpoint = ep("10.244.1.5", true, false);
    let st = state(vec![(svc, vec![endpoint.clone()])]);
    let script = nft(&st);
    let set = naming::nft_affinity_set(&name("sticky"), &endpoint);
    let chain = naming::nft_endpoint_chain(&name("sticky"), &endpoint);
    assert!(script.contains(&format!(
        "add set ip kube-proxy {set} {{ type ipv4_addr ; flags dynamic,timeout ; timeout 600s ; }}"
    )));
    assert!(
        !script.contains(&format!("flush set ip kube-proxy {set}")),
        "client memory is kept"
    );
    let svc_rules = nft_chain(
        &script,
        &naming::nft_service_chain("service", &name("sticky")),
    );
    assert!(svc_rules.contains(&format!("ip saddr @{set} goto {chain}").as_str()));
    assert!(nft_chain(&script, &chain).contains(&format!("update @{set} {{ ip saddr }}").as_str()));
}

#[test]
fn nft_masquerade_all_and_stale_objects() {
    let st = state(vec![(
        port("web", "10.96.0.10"),
        vec![ep("10.244.1.5", true, false)],
    )]);
    let config = RuleConfig {
        masquerade_all: true,
        ..RuleConfig::default()
    };
    let existing = Existing {
        chains: [
            "service-OLD-ns/gone/tcp/http".to_string(),
            "services".to_string(),
        ]
        .into(),
        sets: ["affinity-OLD".to_string()].into(),
        maps: ["service-ips".to_string()].into(),
    };
    let script = nftables::render(&st, &config, IpFamily::V4, &existing);
    let rules = nft_chain(&script, &naming::nft_service_chain("service", &name("web")));
    assert_eq!(
        rules[0],
        "ip daddr 10.96.0.10 tcp dport 80 jump mark-for-masquerade"
    );
    assert!(script.contains("delete chain ip kube-proxy service-OLD-ns/gone/tcp/http\n"));
    assert!(script.contains("delete set ip kube-proxy affinity-OLD\n"));
    assert!(!script.contains("delete chain ip kube-proxy services\n"));
    assert!(!script.contains("delete map"));
    // Deletions come after everything that could still refer to them.
    let last_add = script.rfind("add ").unwrap();
    assert!(script.find("delete ").unwrap() > last_add);
}

#[test]
fn nft_ipv6_uses_ip6_table_and_brackets() {
    let st = state(vec![(
        port("web", "fd00::10"),
        vec![ep("fd00:1::5", true, false)],
    )]);
    let script = nftables::render(&st, &cfg(), IpFamily::V6, &Existing::default());
    assert!(script.starts_with("add table ip6 kube-proxy"));
    assert!(script.contains("dnat to [fd00:1::5]:8080"));
    assert!(script.contains("type ipv6_addr . inet_proto . inet_service : verdict"));
    // The IPv4 table has nothing of this service.
    assert!(!nft(&st).contains("fd00"));
}

#[test]
fn existing_objects_are_parsed_from_nft_list() {
    let listing = "table ip filter {\n\tchain INPUT {\n\t}\n\tset other {\n\t}\n}\ntable ip kube-proxy {\n\tcomment \"rules for kube-proxy\"\n\tset cluster-ips {\n\t\ttype ipv4_addr\n\t}\n\tmap service-ips {\n\t}\n\tchain services {\n\t}\n\tchain endpoint-AB-ns/a/tcp/_ {\n\t}\n}\ntable ip nat {\n\tchain POSTROUTING {\n\t}\n}\n";
    let existing = Existing::parse(listing);
    assert_eq!(existing.sets, BTreeSet::from(["cluster-ips".to_string()]));
    assert_eq!(existing.maps, BTreeSet::from(["service-ips".to_string()]));
    assert_eq!(existing.chains.len(), 2);
}

#[test]
fn iptables_balances_with_decreasing_probabilities() {
    let st = state(vec![(
        port("web", "10.96.0.10"),
        vec![
            ep("10.244.1.5", true, false),
            ep("10.244.2.5", true, false),
            ep("10.244.3.5", true, false),
        ],
    )]);
    let out = iptables::render(&st, &cfg(), IpFamily::V4, &BTreeSet::new());
    let svc = naming::iptables_service_chain("KUBE-SVC-", &name("web"));
    let svc_rules: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with(&format!("-A {svc} ")))
        .collect();
    assert!(
        svc_rules[0].contains("! -s 10.244.0.0/16 -d 10.96.0.10/32")
            && svc_rules[0].ends_with("-j KUBE-MARK-MASQ")
    );
    assert!(svc_rules[1].contains("--probability 0.3333333333"));
    assert!(svc_rules[2].contains("--probability 0.5000000000"));
    assert!(!svc_rules[3].contains("--probability"));
    assert!(out.contains(&format!(
        "-A KUBE-SERVICES -m comment --comment \"ns/web:http cluster IP\" -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j {svc}"
    )));
    let sep = naming::iptables_endpoint_chain(&name("web"), &ep("10.244.2.5", true, false));
    assert!(out.contains(&format!(":{sep} - [0:0]")));
    assert!(out.contains("-j DNAT --to-destination 10.244.2.5:8080"));
    // The node ports jump is the last KUBE-SERVICES rule of the nat table.
    let nat = out.split("*nat").nth(1).unwrap();
    let last = nat
        .lines()
        .rfind(|l| l.starts_with("-A KUBE-SERVICES"))
        .unwrap();
    assert!(last.contains("-j KUBE-NODEPORTS"), "{last}");
    assert_eq!(out.matches("COMMIT").count(), 2);
}

#[test]
fn iptables_rejects_drops_affinity_and_stale_chains() {
    let mut local_only = port("local", "10.96.0.12");
    local_only.internal_policy_local = true;
    let mut sticky = port("sticky", "10.96.0.13");
    sticky.affinity_seconds = Some(10800);
    sticky.node_port = Some(30000);
    let st = state(vec![
        (port("empty", "10.96.0.11"), vec![]),
        (local_only, vec![ep("10.244.2.5", true, false)]),
        (sticky, vec![ep("10.244.1.5", true, false)]),
    ]);
    let existing = BTreeSet::from(["KUBE-SVC-STALESTALESTALE1".to_string()]);
    let out = iptables::render(&st, &cfg(), IpFamily::V4, &existing);
    let filter = out.split("*nat").next().unwrap();
    assert!(filter.contains(
        "\"ns/empty:http has no endpoints\" -d 10.96.0.11/32 -p tcp -m tcp --dport 80 -j REJECT"
    ));
    assert!(filter.contains(
        "\"ns/local:http has no local endpoints\" -d 10.96.0.12/32 -p tcp -m tcp --dport 80 -j DROP"
    ));
    assert!(out.contains(":KUBE-SVC-STALESTALESTALE1 - [0:0]\n"));
    assert!(out.contains("-X KUBE-SVC-STALESTALESTALE1\n"));
    assert!(out.contains("--rcheck --seconds 10800 --reap"));
    assert!(out.contains("--rsource --set -p tcp -m tcp -j DNAT"));
    let ext = naming::iptables_service_chain("KUBE-EXT-", &name("sticky"));
    assert!(out.contains(&format!("-A KUBE-NODEPORTS -m comment --comment \"ns/sticky:http\" -p tcp -m tcp --dport 30000 -j {ext}")));
    assert_eq!(
        iptables::existing_chains(
            ":KUBE-SERVICES - [0:0]\n:KUBE-SEP-ABC - [0:0]\n:OTHER - [0:0]\n"
        ),
        BTreeSet::from(["KUBE-SEP-ABC".to_string()])
    );
}

#[test]
fn nft_proxier_applies_one_transaction_per_family_and_reports_failures() {
    let runner = FakeRunner::default();
    let mut proxier = NftablesProxier::new(runner.clone(), cfg(), vec![IpFamily::V4, IpFamily::V6]);
    let st = state(vec![(
        port("web", "10.96.0.10"),
        vec![ep("10.244.1.5", true, false)],
    )]);
    proxier.sync(&st).unwrap();
    let calls = runner.calls();
    let applies: Vec<_> = calls.iter().filter(|c| c.args == ["-f", "-"]).collect();
    assert_eq!(applies.len(), 2);
    assert!(
        applies[0]
            .stdin
            .as_ref()
            .unwrap()
            .starts_with("add table ip kube-proxy")
    );
    assert!(
        applies[1]
            .stdin
            .as_ref()
            .unwrap()
            .starts_with("add table ip6 kube-proxy")
    );

    let failing = FakeRunner::new(|call| {
        if call.args == ["-f", "-"] {
            Err(RunError::Failed {
                program: "nft".into(),
                code: Some(1),
                stderr: "Error: syntax error".into(),
            })
        } else {
            Ok(String::new())
        }
    });
    let mut proxier = NftablesProxier::new(failing, cfg(), vec![IpFamily::V4]);
    let err = proxier.sync(&st).unwrap_err();
    assert!(err.to_string().contains("syntax error"), "{err}");
}

#[test]
fn iptables_proxier_restores_then_ensures_jumps_once() {
    // -C succeeds only for nat PREROUTING: every other jump is inserted.
    let runner = FakeRunner::new(|call| {
        if call.args.contains(&"-C".to_string()) && !call.args.contains(&"PREROUTING".to_string()) {
            Err(RunError::Failed {
                program: "iptables".into(),
                code: Some(1),
                stderr: "Bad rule".into(),
            })
        } else {
            Ok(String::new())
        }
    });
    let mut proxier = IptablesProxier::new(runner.clone(), cfg(), vec![IpFamily::V4]);
    proxier.sync(&ProxyState::default()).unwrap();
    let calls = runner.calls();
    let restore = calls
        .iter()
        .position(|c| c.program == "iptables-restore")
        .unwrap();
    let first_check = calls
        .iter()
        .position(|c| c.args.contains(&"-C".to_string()))
        .unwrap();
    assert!(restore < first_check, "chains exist before jumps are added");
    let inserts = calls
        .iter()
        .filter(|c| c.args.contains(&"-I".to_string()))
        .count();
    assert_eq!(inserts, iptables::JUMPS.len() - 1);
}
