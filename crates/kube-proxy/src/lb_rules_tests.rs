//! Rule tests of load-balancer IPs, loadBalancerSourceRanges, health check
//! node ports, topology hints and node-IP-dependent NodePort addresses.

use std::collections::BTreeSet;

use crate::iptables;
use crate::model::{IpFamily, NodeInfo, ProxyState, ServicePort};
use crate::naming;
use crate::nftables::{self, transaction};
use crate::plan::RuleConfig;
use crate::rules_tests::{cfg, ep, name, nft, nft_chain, nft_elements, port, state};

fn lb_service(ranges: &[&str]) -> ServicePort {
    let mut svc = port("lb", "10.96.0.40");
    svc.node_port = Some(30040);
    svc.load_balancer_ips = vec!["192.0.2.40".parse().unwrap()];
    svc.source_ranges = ranges.iter().map(|r| r.parse().unwrap()).collect();
    svc
}

fn with_node(mut st: ProxyState, ips: &[&str], zone: &str) -> ProxyState {
    st.node = NodeInfo {
        ips: ips.iter().map(|ip| ip.parse().unwrap()).collect(),
        zone: zone.into(),
    };
    st
}

#[test]
fn nft_load_balancer_ips_are_captured_like_external_ips() {
    let st = state(vec![(lb_service(&[]), vec![ep("10.244.1.5", true, false)])]);
    let script = nft(&st);
    let ext = naming::nft_service_chain("external", &name("lb"));
    assert!(
        nft_elements(&script, "service-ips")
            .contains(&format!("192.0.2.40 . tcp . 80 : goto {ext}"))
    );
    assert!(nft_elements(&script, "firewall-ips").is_empty());
    // Without endpoints the load-balancer IP is rejected like the rest.
    let st = state(vec![(lb_service(&[]), vec![])]);
    assert!(
        nft_elements(&nft(&st), "no-endpoint-services")
            .contains(&"192.0.2.40 . tcp . 80 : goto reject-chain".to_string())
    );
}

#[test]
fn nft_source_ranges_drop_other_sources_before_dnat() {
    let st = state(vec![(
        lb_service(&["203.0.113.0/24", "fd00::/64"]),
        vec![ep("10.244.1.5", true, false)],
    )]);
    let script = nft(&st);
    let fw = naming::nft_service_chain("firewall", &name("lb"));
    assert_eq!(
        nft_elements(&script, "firewall-ips"),
        vec![format!("192.0.2.40 . tcp . 80 : goto {fw}")]
    );
    // Only the ranges of this family.
    assert_eq!(
        nft_chain(&script, &fw),
        vec!["ip saddr != { 203.0.113.0/24 } drop"]
    );
    assert_eq!(
        nft_chain(&script, "firewall-check"),
        vec!["ip daddr . meta l4proto . th dport vmap @firewall-ips"]
    );
    for hook in ["filter-prerouting", "filter-output"] {
        assert!(nft_chain(&script, hook).contains(&"ct state new jump firewall-check"));
    }
    assert!(script.contains(
        "add chain ip kube-proxy filter-prerouting { type filter hook prerouting priority -110 ; }"
    ));
    // A range holding the node's IP also lets the node reach the VIP it
    // may carry as a local address (source = the VIP).
    let st = with_node(st, &["203.0.113.7"], "");
    assert_eq!(
        nft_chain(&nft(&st), &fw),
        vec!["ip saddr != { 203.0.113.0/24, 192.0.2.40 } drop"]
    );
    // The firewall stays while the Service has no endpoints.
    let st = state(vec![(lb_service(&["203.0.113.0/24"]), vec![])]);
    assert_eq!(nft_elements(&nft(&st), "firewall-ips").len(), 1);
}

#[test]
fn iptables_load_balancer_ips_go_through_the_firewall_chain() {
    let st = state(vec![(
        lb_service(&["203.0.113.0/24"]),
        vec![ep("10.244.1.5", true, false)],
    )]);
    let out = iptables::render(&st, &cfg(), IpFamily::V4, &BTreeSet::new());
    let fw = naming::iptables_service_chain("KUBE-FW-", &name("lb"));
    let ext = naming::iptables_service_chain("KUBE-EXT-", &name("lb"));
    assert!(out.contains(&format!(
        "-A KUBE-SERVICES -m comment --comment \"ns/lb:http loadbalancer IP\" -d 192.0.2.40/32 -p tcp -m tcp --dport 80 -j {fw}"
    )), "{out}");
    assert!(out.contains(&format!(
        "-A {fw} -m comment --comment \"ns/lb:http loadbalancer IP\" -s 203.0.113.0/24 -j {ext}"
    )));
    assert!(out.contains(&format!(
        "-A {fw} -m comment --comment \"other traffic to ns/lb:http will be dropped by KUBE-PROXY-FIREWALL\"\n"
    )));
    let filter = out.split("*nat").next().unwrap();
    assert!(filter.contains(":KUBE-PROXY-FIREWALL - [0:0]"));
    assert!(filter.contains(&format!(
        "-A KUBE-PROXY-FIREWALL -m comment --comment \"ns/lb:http traffic not accepted by {fw}\" -d 192.0.2.40/32 -p tcp -m tcp --dport 80 -j DROP"
    )));
    // Without source ranges, straight to the external chain.
    let st = state(vec![(lb_service(&[]), vec![ep("10.244.1.5", true, false)])]);
    let out = iptables::render(&st, &cfg(), IpFamily::V4, &BTreeSet::new());
    assert!(out.contains(&format!("--dport 80 -j {ext}")));
    assert!(!out.contains("KUBE-FW-"));
    // Without endpoints: rejected in KUBE-EXTERNAL-SERVICES.
    let st = state(vec![(lb_service(&["203.0.113.0/24"]), vec![])]);
    let out = iptables::render(&st, &cfg(), IpFamily::V4, &BTreeSet::new());
    assert!(out.contains(
        "-A KUBE-EXTERNAL-SERVICES -m comment --comment \"ns/lb:http has no endpoints\" -d 192.0.2.40/32 -p tcp -m tcp --dport 80 -j REJECT"
    ));
}

#[test]
fn iptables_accepts_health_check_node_ports() {
    let mut svc = lb_service(&[]);
    svc.external_policy_local = true;
    svc.health_check_node_port = Some(32100);
    let st = state(vec![(svc, vec![ep("10.244.1.5", true, true)])]);
    let out = iptables::render(&st, &cfg(), IpFamily::V4, &BTreeSet::new());
    let filter = out.split("*nat").next().unwrap();
    assert!(filter.contains(
        "-A KUBE-NODEPORTS -m comment --comment \"ns/lb:http health check node port\" -m tcp -p tcp --dport 32100 -j ACCEPT"
    ));
    assert!(
        iptables::JUMPS
            .iter()
            .any(|(t, c, r)| *t == "filter" && *c == "INPUT" && r.contains(&"KUBE-NODEPORTS"))
    );
}

#[test]
fn topology_hints_narrow_the_cluster_chain_in_both_modes() {
    let mut a = ep("10.244.1.5", true, false);
    a.zone_hints = vec!["zone-a".into()];
    let mut b = ep("10.244.2.5", true, false);
    b.zone_hints = vec!["zone-b".into()];
    let st = with_node(
        state(vec![(
            port("web", "10.96.0.10"),
            vec![a.clone(), b.clone()],
        )]),
        &[],
        "zone-a",
    );
    let chain = naming::nft_service_chain("service", &name("web"));
    let rules = nft_chain(&nft(&st), &chain).join("\n");
    assert!(rules.contains("dnat to 10.244.1.5:8080"), "{rules}");
    assert!(!rules.contains("10.244.2.5"), "{rules}");
    let out = iptables::render(&st, &cfg(), IpFamily::V4, &BTreeSet::new());
    assert!(out.contains("--to-destination 10.244.1.5:8080"));
    assert!(!out.contains("10.244.2.5"));
    // A zone no endpoint is hinted for: every endpoint.
    let st = with_node(st, &[], "zone-c");
    let rules = nft_chain(&nft(&st), &chain).join("\n");
    assert!(rules.contains("dnat to 10.244.2.5:8080"), "{rules}");
}

fn primary() -> RuleConfig {
    RuleConfig {
        nodeport_primary: true,
        ..cfg()
    }
}

#[test]
fn primary_nodeport_addresses_follow_the_node_ip() {
    let mut svc = port("np", "10.96.0.20");
    svc.node_port = Some(30080);
    let st = state(vec![(svc, vec![ep("10.244.1.5", true, false)])]);
    let before = with_node(st.clone(), &["10.0.0.5"], "");
    let rules = nftables::ruleset(&before, &primary(), IpFamily::V4);
    let script = transaction::full(&rules, &nftables::Existing::default());
    assert!(nft_chain(&script, "services").contains(
        &"fib daddr type local ip daddr { 10.0.0.5/32 } meta l4proto . th dport vmap @service-nodeports"
    ));
    // The node's IP changes: a partial sync rewrites the fixed chains.
    let after = with_node(st.clone(), &["10.0.0.6"], "");
    let next = nftables::ruleset_reusing(&after, &primary(), IpFamily::V4, Some(&rules));
    let delta = transaction::partial(&rules, &next);
    assert!(
        delta.contains("flush chain ip kube-proxy services\n"),
        "{delta}"
    );
    assert!(delta.contains("ip daddr { 10.0.0.6/32 }"), "{delta}");
    // No IP of the family (or only loopback): NodePorts answer nowhere.
    for ips in [&[][..], &["127.0.0.1"][..]] {
        let none = with_node(st.clone(), ips, "");
        let script = nftables::render(&none, &primary(), IpFamily::V4, &Default::default());
        assert!(!script.contains("@service-nodeports"), "{script}");
        let out = iptables::render(&none, &primary(), IpFamily::V4, &BTreeSet::new());
        assert!(!out.contains("-j KUBE-NODEPORTS"), "{out}");
    }
    let out = iptables::render(&before, &primary(), IpFamily::V4, &BTreeSet::new());
    assert!(out.contains("-d 10.0.0.5/32 -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS"));
}

#[test]
fn service_ports_read_load_balancer_status_ranges_and_health_check_port() {
    let svc: k8s_openapi::api::core::v1::Service = serde_json::from_value(serde_json::json!({
        "metadata": {"namespace": "ns", "name": "lb"},
        "spec": {
            "type": "LoadBalancer", "clusterIP": "10.96.0.40",
            "externalTrafficPolicy": "Local", "healthCheckNodePort": 32100,
            "loadBalancerSourceRanges": [" 203.0.113.0/24 ", "bogus", "10.1.2.3/8"],
            "ports": [{"name": "http", "port": 80, "nodePort": 30040}]
        },
        "status": {"loadBalancer": {"ingress": [
            {"ip": "192.0.2.40"},
            {"ip": "192.0.2.41", "ipMode": "VIP"},
            {"ip": "192.0.2.42", "ipMode": "Proxy"},
            {"hostname": "lb.example.com"}
        ]}}
    }))
    .unwrap();
    let ports = crate::model::service_ports(&svc);
    let p = &ports[0];
    let ips: Vec<String> = p.load_balancer_ips.iter().map(|i| i.to_string()).collect();
    assert_eq!(ips, ["192.0.2.40", "192.0.2.41"], "ipMode Proxy is skipped");
    let ranges: Vec<String> = p.source_ranges.iter().map(|n| n.to_string()).collect();
    assert_eq!(ranges, ["203.0.113.0/24", "10.0.0.0/8"]);
    assert_eq!(p.health_check_node_port, Some(32100));
    // Cluster policy: no health check port.
    let mut cluster = svc.clone();
    cluster.spec.as_mut().unwrap().external_traffic_policy = Some("Cluster".into());
    assert_eq!(
        crate::model::service_ports(&cluster)[0].health_check_node_port,
        None
    );
}
