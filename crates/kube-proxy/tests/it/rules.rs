//! Real nftables and iptables rules in a test network namespace: a
//! ClusterIP and a NodePort reach the endpoint, a Service without endpoints
//! is rejected, and removing the endpoint takes effect.

use corten_kube_proxy::model::IpFamily;
use corten_kube_proxy::plan::RuleConfig;
use corten_kube_proxy::proxier::{IptablesProxier, NftablesProxier, Proxier};
use corten_kube_proxy::runner::ExecRunner;
use corten_kube_proxy::tracker::ChangeTracker;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::json;

use crate::netns::{self, BODY, NODE_IP, POD_IP, POD_PORT};

fn service(name: &str, ip: &str, node_port: Option<u16>) -> Service {
    let mut port = json!({"name": "http", "port": 80, "targetPort": POD_PORT, "protocol": "TCP"});
    let mut kind = "ClusterIP";
    if let Some(np) = node_port {
        port["nodePort"] = json!(np);
        kind = "NodePort";
    }
    serde_json::from_value(json!({
        "metadata": {"namespace": "default", "name": name},
        "spec": {"type": kind, "clusterIP": ip, "clusterIPs": [ip], "ports": [port]}
    }))
    .unwrap()
}

fn slice(service: &str) -> EndpointSlice {
    serde_json::from_value(json!({
        "metadata": {"namespace": "default", "name": format!("{service}-abc"),
            "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": POD_PORT, "protocol": "TCP"}],
        "endpoints": [{"addresses": [POD_IP], "conditions": {"ready": true}, "nodeName": "other"}]
    }))
    .unwrap()
}

fn rule_config() -> RuleConfig {
    RuleConfig {
        cluster_cidrs: vec!["10.244.0.0/16".parse().unwrap()],
        ..RuleConfig::default()
    }
}

/// The behaviour both backends must show.
fn exercise(topo: &netns::Topology, proxier: &mut dyn Proxier) {
    let mut tracker = ChangeTracker::new("this-node");
    tracker.service_applied(&service("web", "10.96.7.10", Some(30080)));
    tracker.slice_applied(&slice("web"));
    tracker.service_applied(&service("empty", "10.96.7.11", None));
    proxier.sync(&tracker.snapshot()).expect("first sync");

    let body = topo
        .fetch("http://10.96.7.10:80/")
        .expect("ClusterIP reaches the endpoint");
    assert_eq!(body, BODY);
    let body = topo
        .fetch(&format!("http://{NODE_IP}:30080/"))
        .expect("NodePort reaches the endpoint");
    assert_eq!(body, BODY);

    let started = std::time::Instant::now();
    let err = topo
        .fetch("http://10.96.7.11:80/")
        .expect_err("no endpoints: rejected");
    assert!(err.contains("refused"), "a reject, not a timeout: {err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));

    // An unknown port of a live ClusterIP is rejected too.
    let err = topo
        .fetch("http://10.96.7.10:81/")
        .expect_err("invalid port");
    assert!(err.contains("refused"), "{err}");

    // The endpoint goes away: the ClusterIP now rejects; syncing twice with
    // the same state is a no-op that still succeeds.
    tracker.slice_deleted("default", "web-abc");
    proxier.sync(&tracker.snapshot()).expect("second sync");
    proxier.sync(&tracker.snapshot()).expect("idempotent sync");
    let err = topo
        .fetch("http://10.96.7.10:80/")
        .expect_err("endpoint removed");
    assert!(err.contains("refused"), "{err}");

    // Back again.
    tracker.slice_applied(&slice("web"));
    proxier.sync(&tracker.snapshot()).expect("third sync");
    assert_eq!(topo.fetch("http://10.96.7.10:80/").unwrap(), BODY);

    proxier.cleanup().expect("cleanup");
}

#[test]
fn nftables_rules_route_cluster_ip_and_node_port_traffic() {
    let Some(topo) = netns::topology_or_skip() else {
        return;
    };
    let mut proxier = NftablesProxier::new(
        ExecRunner::with_prefix(topo.prefix()),
        rule_config(),
        vec![IpFamily::V4],
    );
    exercise(&topo, &mut proxier);
    assert!(
        !topo.exec(&["nft", "list", "tables"]).contains("kube-proxy"),
        "cleanup removes the table"
    );
}

#[test]
fn iptables_rules_route_cluster_ip_and_node_port_traffic() {
    let Some(topo) = netns::topology_or_skip() else {
        return;
    };
    let mut proxier = IptablesProxier::new(
        ExecRunner::with_prefix(topo.prefix()),
        rule_config(),
        vec![IpFamily::V4],
    );
    exercise(&topo, &mut proxier);
    let left = topo.exec(&["iptables-save"]);
    assert!(
        !left.contains("KUBE-"),
        "cleanup removes every chain and jump:\n{left}"
    );
}

#[test]
fn nftables_session_affinity_pins_the_client() {
    let Some(topo) = netns::topology_or_skip() else {
        return;
    };
    let mut svc = service("sticky", "10.96.7.12", None);
    if let Some(spec) = svc.spec.as_mut() {
        spec.session_affinity = Some("ClientIP".into());
    }
    let mut tracker = ChangeTracker::new("this-node");
    tracker.service_applied(&svc);
    tracker.slice_applied(&slice("sticky"));
    let mut proxier = NftablesProxier::new(
        ExecRunner::with_prefix(topo.prefix()),
        rule_config(),
        vec![IpFamily::V4],
    );
    proxier.sync(&tracker.snapshot()).expect("sync");
    assert_eq!(topo.fetch("http://10.96.7.12:80/").unwrap(), BODY);
    // The kernel remembered the client in the endpoint's affinity set, and a
    // later sync keeps that memory.
    proxier.sync(&tracker.snapshot()).expect("resync");
    let listing = topo.exec(&["nft", "list", "table", "ip", "kube-proxy"]);
    let affinity = listing
        .split("set affinity-")
        .nth(1)
        .expect("an affinity set");
    assert!(affinity.contains("elements = { 10.244.1.1"), "{listing}");
    proxier.cleanup().unwrap();
}
