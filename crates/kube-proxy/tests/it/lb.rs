//! Real traffic in a test network namespace through load-balancer IPs with
//! and without loadBalancerSourceRanges, zone-hinted endpoints, and NodePorts
//! on the node's primary IP as it changes, in both modes.

use corten_kube_proxy::model::IpFamily;
use corten_kube_proxy::plan::RuleConfig;
use corten_kube_proxy::proxier::{IptablesProxier, NftablesProxier, Proxier};
use corten_kube_proxy::runner::ExecRunner;
use corten_kube_proxy::tracker::ChangeTracker;
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::{Value, json};

use crate::netns::{self, BODY, NODE_IP, POD_IP, POD_PORT};

const LB_IP: &str = "10.96.9.40";

fn lb_service(ranges: Value, ingress: Value) -> Service {
    serde_json::from_value(json!({
        "metadata": {"namespace": "default", "name": "lb"},
        "spec": {
            "type": "LoadBalancer", "clusterIP": "10.96.7.40", "clusterIPs": ["10.96.7.40"],
            "loadBalancerSourceRanges": ranges,
            "ports": [{"name": "http", "port": 80, "targetPort": POD_PORT, "nodePort": 30040, "protocol": "TCP"}]
        },
        "status": {"loadBalancer": {"ingress": ingress}}
    }))
    .unwrap()
}

fn slice(service: &str, endpoints: Value) -> EndpointSlice {
    serde_json::from_value(json!({
        "metadata": {"namespace": "default", "name": format!("{service}-abc"),
            "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": POD_PORT, "protocol": "TCP"}],
        "endpoints": endpoints
    }))
    .unwrap()
}

fn node(ip: &str, zone: &str) -> Node {
    serde_json::from_value(json!({
        "metadata": {"name": "this-node", "labels": {"topology.kubernetes.io/zone": zone}},
        "status": {"addresses": [{"type": "InternalIP", "address": ip}]}
    }))
    .unwrap()
}

fn config(primary: bool) -> RuleConfig {
    RuleConfig {
        cluster_cidrs: vec!["10.244.0.0/16".parse().unwrap()],
        nodeport_primary: primary,
        ..RuleConfig::default()
    }
}

fn load_balancer_scenario(topo: &netns::Topology, proxier: &mut dyn Proxier) {
    let url = format!("http://{LB_IP}:80/");
    let mut tracker = ChangeTracker::new("this-node");
    tracker.node_updated(Some(&node(NODE_IP, "")));
    tracker.slice_applied(&slice(
        "lb",
        json!([{"addresses": [POD_IP], "conditions": {"ready": true}}]),
    ));
    // The node's own address is inside the allowed range.
    tracker.service_applied(&lb_service(
        json!(["10.244.1.0/24"]),
        json!([{"ip": LB_IP}]),
    ));
    proxier.sync(&tracker.snapshot()).expect("sync");
    assert_eq!(topo.fetch(&url).expect("allowed source"), BODY);

    // Only another range is allowed now: dropped (a timeout, not a reject).
    tracker.service_applied(&lb_service(json!(["192.0.2.0/24"]), json!([{"ip": LB_IP}])));
    proxier.sync(&tracker.snapshot()).expect("sync");
    let err = topo.fetch(&url).expect_err("source outside the ranges");
    assert!(!err.contains("refused"), "dropped, not rejected: {err}");
    assert_eq!(
        topo.fetch("http://10.96.7.40:80/")
            .expect("the ClusterIP is not firewalled"),
        BODY
    );

    // No ranges: open to everyone.
    tracker.service_applied(&lb_service(json!([]), json!([{"ip": LB_IP}])));
    proxier.sync(&tracker.snapshot()).expect("sync");
    assert_eq!(topo.fetch(&url).expect("no source ranges"), BODY);

    // ipMode Proxy: the load balancer proxies to the node, its IP is not
    // captured here (the packet leaves untranslated and goes nowhere).
    tracker.service_applied(&lb_service(
        json!([]),
        json!([{"ip": LB_IP, "ipMode": "Proxy"}]),
    ));
    proxier.sync(&tracker.snapshot()).expect("sync");
    topo.fetch(&url)
        .expect_err("ipMode Proxy is not programmed");
    proxier.cleanup().expect("cleanup");
}

#[test]
fn nftables_load_balancer_ips_and_source_ranges() {
    let Some(topo) = netns::topology_or_skip() else {
        return;
    };
    let mut proxier = NftablesProxier::new(
        ExecRunner::with_prefix(topo.prefix()),
        config(false),
        vec![IpFamily::V4],
    );
    load_balancer_scenario(&topo, &mut proxier);
}

#[test]
fn iptables_load_balancer_ips_and_source_ranges() {
    let Some(topo) = netns::topology_or_skip() else {
        return;
    };
    let mut proxier = IptablesProxier::new(
        ExecRunner::with_prefix(topo.prefix()),
        config(false),
        vec![IpFamily::V4],
    );
    proxier
        .sync(&ChangeTracker::new("this-node").snapshot())
        .expect("sync");
    // INPUT runs the firewall, then the health check ports, then the
    // external services, as upstream.
    let input = topo.exec(&["iptables", "-S", "INPUT"]);
    let at = |chain: &str| {
        input
            .find(&format!("-j {chain}"))
            .unwrap_or_else(|| panic!("no jump to {chain}:\n{input}"))
    };
    assert!(at("KUBE-PROXY-FIREWALL") < at("KUBE-NODEPORTS"), "{input}");
    assert!(
        at("KUBE-NODEPORTS") < at("KUBE-EXTERNAL-SERVICES"),
        "{input}"
    );
    load_balancer_scenario(&topo, &mut proxier);
}

/// The real endpoint is hinted for zone-b, a dead one (no host) for zone-a:
/// a node in zone-b always reaches the real one, a node in zone-a never.
/// NodePorts answer on the node's primary IP and follow it when it moves.
fn topology_and_primary_scenario(topo: &netns::Topology, proxier: &mut dyn Proxier) {
    let mut tracker = ChangeTracker::new("this-node");
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"namespace": "default", "name": "zoned"},
        "spec": {"type": "NodePort", "clusterIP": "10.96.7.50", "clusterIPs": ["10.96.7.50"],
            "ports": [{"name": "http", "port": 80, "nodePort": 30050, "protocol": "TCP"}]}
    }))
    .unwrap();
    tracker.service_applied(&svc);
    tracker.slice_applied(&slice(
        "zoned",
        json!([
            {"addresses": [POD_IP], "hints": {"forZones": [{"name": "zone-b"}]}},
            {"addresses": ["10.244.1.99"], "hints": {"forZones": [{"name": "zone-a"}]}}
        ]),
    ));
    tracker.node_updated(Some(&node(NODE_IP, "zone-b")));
    proxier.sync(&tracker.snapshot()).expect("sync");
    for _ in 0..8 {
        // Without the hints, half of these would go to the dead endpoint.
        assert_eq!(
            topo.fetch("http://10.96.7.50:80/").expect("same zone"),
            BODY
        );
    }
    let node_port = format!("http://{NODE_IP}:30050/");
    assert_eq!(
        topo.fetch(&node_port).expect("NodePort on the node IP"),
        BODY
    );

    // The node moves to zone-a and to another IP.
    tracker.node_updated(Some(&node("10.244.1.50", "zone-a")));
    proxier.sync(&tracker.snapshot()).expect("sync");
    topo.fetch("http://10.96.7.50:80/")
        .expect_err("zone-a's only endpoint is dead");
    let err = topo
        .fetch(&node_port)
        .expect_err("the old node IP no longer answers");
    assert!(err.contains("refused"), "{err}");
    tracker.node_updated(Some(&node(NODE_IP, "zone-b")));
    proxier.sync(&tracker.snapshot()).expect("sync");
    assert_eq!(topo.fetch(&node_port).expect("the IP is back"), BODY);
    proxier.cleanup().expect("cleanup");
}

#[test]
fn nftables_zone_hints_and_primary_node_ports() {
    let Some(topo) = netns::topology_or_skip() else {
        return;
    };
    let mut proxier = NftablesProxier::new(
        ExecRunner::with_prefix(topo.prefix()),
        config(true),
        vec![IpFamily::V4],
    );
    topology_and_primary_scenario(&topo, &mut proxier);
}

#[test]
fn iptables_zone_hints_and_primary_node_ports() {
    let Some(topo) = netns::topology_or_skip() else {
        return;
    };
    let mut proxier = IptablesProxier::new(
        ExecRunner::with_prefix(topo.prefix()),
        config(true),
        vec![IpFamily::V4],
    );
    topology_and_primary_scenario(&topo, &mut proxier);
}
