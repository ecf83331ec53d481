//! Real nftables and iptables rules in a test network namespace: a
//! ClusterIP and a NodePort reach the endpoint, a Service without endpoints
//! is rejected, and removing the endpoint takes effect.

use std::collections::BTreeMap;

use corten_kube_proxy::model::{IpFamily, ProxyState};
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

/// NodePorts on the node's primary IPs, which the walk below changes.
fn primary_rule_config() -> RuleConfig {
    RuleConfig {
        nodeport_primary: true,
        ..rule_config()
    }
}

/// The behaviour both backends must show.
fn exercise(topo: &netns::Topology, proxier: &mut dyn Proxier, rejects_unknown_ports: bool) {
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

    if rejects_unknown_ports {
        // nftables mode: an unknown port of a live ClusterIP is rejected too.
        let err = topo
            .fetch("http://10.96.7.10:81/")
            .expect_err("invalid port");
        assert!(err.contains("refused"), "{err}");
    }

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
    exercise(&topo, &mut proxier, true);
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
    exercise(&topo, &mut proxier, false);
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

/// Every feature at once, in both families: the real tools must accept the
/// rulesets, and a later sync with a smaller state must remove what is gone.
/// The second state also moves the node (another IP, another zone) and
/// changes the load balancer's addresses and source ranges.
fn kitchen_sink(second: bool) -> corten_kube_proxy::model::ProxyState {
    let mut tracker = ChangeTracker::new("this-node");
    let (ranges, ingress) = if second {
        (json!(["198.51.100.0/24"]), json!([{"ip": "192.0.2.41"}]))
    } else {
        (
            json!(["203.0.113.0/24", "10.0.0.0/8", "fd00:203::/64"]),
            json!([{"ip": "192.0.2.40"}, {"ip": "2001:db8::40"}, {"ip": "192.0.2.49", "ipMode": "Proxy"}]),
        )
    };
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"namespace": "ns", "name": "all"},
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": "10.96.8.1", "clusterIPs": ["10.96.8.1", "fd00:96::1"],
            "externalIPs": ["192.0.2.10"],
            "sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
            "externalTrafficPolicy": "Local",
            "internalTrafficPolicy": "Local",
            "healthCheckNodePort": 32001,
            "loadBalancerSourceRanges": ranges,
            "ports": [
                {"name": "http", "port": 80, "nodePort": 30081, "protocol": "TCP"},
                {"name": "dns", "port": 53, "nodePort": 30053, "protocol": "UDP"},
                {"name": "sctp", "port": 9, "nodePort": 30009, "protocol": "SCTP"}
            ]
        },
        "status": {"loadBalancer": {"ingress": ingress}}
    }))
    .unwrap();
    tracker.service_applied(&svc);
    for family in ["IPv4", "IPv6"] {
        let (a, b) = if family == "IPv4" {
            ("10.244.1.7", "10.244.2.7")
        } else {
            ("fd00:244::7", "fd00:245::7")
        };
        let slice: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"namespace": "ns", "name": format!("all-{family}"),
                "labels": {"kubernetes.io/service-name": "all"}},
            "addressType": family,
            "ports": [
                {"name": "http", "port": 8080, "protocol": "TCP"},
                {"name": "dns", "port": 5353, "protocol": "UDP"},
                {"name": "sctp", "port": 9999, "protocol": "SCTP"}
            ],
            "endpoints": [
                {"addresses": [a], "nodeName": "this-node"},
                {"addresses": [b], "nodeName": "other", "conditions": {"ready": !second}}
            ]
        }))
        .unwrap();
        tracker.slice_applied(&slice);
    }
    if !second {
        tracker.service_applied(&service("empty", "10.96.8.2", Some(30082)));
    }
    // A Service balanced by zone hints over two endpoints.
    tracker.service_applied(&service("zoned", "10.96.8.3", None));
    let zoned: EndpointSlice = serde_json::from_value(json!({
        "metadata": {"namespace": "default", "name": "zoned-abc",
            "labels": {"kubernetes.io/service-name": "zoned"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": POD_PORT, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": ["10.244.1.21"], "hints": {"forZones": [{"name": "zone-a"}]}},
            {"addresses": ["10.244.1.22"], "hints": {"forZones": [{"name": "zone-b"}]}}
        ]
    }))
    .unwrap();
    tracker.slice_applied(&zoned);
    let (ip, zone) = if second {
        ("10.0.0.6", "zone-b")
    } else {
        ("10.0.0.5", "zone-a")
    };
    let node: k8s_openapi::api::core::v1::Node = serde_json::from_value(json!({
        "metadata": {"name": "this-node", "labels": {"topology.kubernetes.io/zone": zone}},
        "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "InternalIP", "address": "fd00:10::5"}]}
    }))
    .unwrap();
    tracker.node_updated(Some(&node));
    tracker.snapshot()
}

fn apply_twice(proxier: &mut dyn Proxier) {
    proxier
        .sync(&kitchen_sink(false))
        .expect("the full ruleset is accepted");
    proxier
        .sync(&kitchen_sink(true))
        .expect("the smaller ruleset is accepted");
}

#[test]
fn nftables_accepts_every_feature_and_removes_stale_objects() {
    let Some(topo) = netns::topology_or_skip() else {
        return;
    };
    let mut proxier = NftablesProxier::new(
        ExecRunner::with_prefix(topo.prefix()),
        rule_config(),
        vec![IpFamily::V4, IpFamily::V6],
    );
    apply_twice(&mut proxier);
    let v4 = topo.exec(&["nft", "list", "table", "ip", "kube-proxy"]);
    assert!(v4.contains("10.244.1.7"), "{v4}");
    assert!(
        !v4.contains("10.244.2.7"),
        "the unready endpoint's chain is gone:\n{v4}"
    );
    assert!(
        !v4.contains("ns/empty/"),
        "the deleted service's chains are gone:\n{v4}"
    );
    let v6 = topo.exec(&["nft", "list", "table", "ip6", "kube-proxy"]);
    assert!(v6.contains("fd00:244::7"), "{v6}");
    proxier.cleanup().unwrap();
}

#[test]
fn iptables_accepts_every_feature_and_removes_stale_chains() {
    let Some(topo) = netns::topology_or_skip() else {
        return;
    };
    let mut proxier = IptablesProxier::new(
        ExecRunner::with_prefix(topo.prefix()),
        rule_config(),
        vec![IpFamily::V4, IpFamily::V6],
    );
    apply_twice(&mut proxier);
    let v4 = topo.exec(&["iptables-save", "-t", "nat"]);
    assert!(v4.contains("10.244.1.7:8080"), "{v4}");
    assert!(!v4.contains("10.244.2.7"), "{v4}");
    let v6 = topo.exec(&["ip6tables-save", "-t", "nat"]);
    assert!(v6.contains("[fd00:244::7]:8080"), "{v6}");
    proxier.cleanup().unwrap();
    assert!(!topo.exec(&["iptables-save"]).contains("KUBE-"));
    assert!(!topo.exec(&["ip6tables-save"]).contains("KUBE-"));
}

/// `nft list table` in a comparable form: every chain, set and map by name,
/// with chain rules in order and elements sorted (the kernel lists objects
/// in creation order and elements in its own order).
fn normalized_table(topo: &netns::Topology, family: &str) -> BTreeMap<String, Vec<String>> {
    let listing = topo.exec(&["nft", "list", "table", family, "kube-proxy"]);
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut elements = String::new();
    let mut in_elements = false;
    for line in listing.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if in_elements {
            elements.push_str(line);
            if line.ends_with('}') {
                in_elements = false;
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("elements = ") {
            elements = rest.to_string();
            in_elements = !rest.ends_with('}');
            continue;
        }
        if line.ends_with('{') && !line.starts_with("table") {
            current = Some(line.to_string());
            continue;
        }
        if line == "}" {
            if let Some(name) = current.take() {
                let body = out.entry(name).or_default();
                let mut items: Vec<String> = elements
                    .trim_matches(|c| c == '{' || c == '}' || c == ' ')
                    .split(',')
                    .map(|e| e.trim().to_string())
                    .filter(|e| !e.is_empty())
                    .collect();
                items.sort();
                body.extend(items.into_iter().map(|e| format!("element {e}")));
                elements.clear();
            }
            continue;
        }
        if let Some(name) = &current {
            out.entry(name.clone()).or_default().push(line.to_string());
        }
    }
    out
}

/// Listings of both families, comparable.
type Listing = (BTreeMap<String, Vec<String>>, BTreeMap<String, Vec<String>>);

/// Walks one proxier (partial syncs after the first) through more, fewer,
/// more again and affinity-off states; after each step a fresh proxier
/// (a full sync) rewrites the same rules, and the listings must be equal.
/// Finally a fresh proxier syncs the smallest state over the biggest one's
/// rules (a restart): the stale objects must go. `real` checks a listing is
/// not trivially empty.
/// What the change tracker would report between two states: the Services
/// whose ports or endpoints differ, or everything when the node changed.
fn changes_between(
    prev: Option<&ProxyState>,
    next: &ProxyState,
) -> corten_kube_proxy::model::Changes {
    use corten_kube_proxy::model::Changes;
    let Some(prev) = prev.filter(|p| p.node == next.node) else {
        return Changes::All;
    };
    let key = |n: &corten_kube_proxy::model::ServicePortName| (n.namespace.clone(), n.name.clone());
    let mut keys = std::collections::BTreeSet::new();
    for (a, b) in [(prev, next), (next, prev)] {
        for (name, svc) in &a.services {
            if b.services.get(name) != Some(svc) || a.endpoints_of(name) != b.endpoints_of(name) {
                keys.insert(key(name));
            }
        }
    }
    Changes::Services(keys)
}

fn assert_partial_syncs_match_full(
    new_proxier: impl Fn() -> Box<dyn Proxier>,
    listing: impl Fn() -> Listing,
    real: impl Fn(&Listing) -> bool,
) {
    let mut last = kitchen_sink(true);
    for svc in last.services.values_mut() {
        svc.affinity_seconds = None;
    }
    // Only the node moves (IP and zone): NodePort addresses and the zoned
    // Service's chain change, nothing else.
    let mut moved = kitchen_sink(false);
    moved.node = kitchen_sink(true).node;
    // Steps on the same node are partial syncs naming only the changed
    // Services (ks(true) -> last: affinity off everywhere).
    let states = [
        kitchen_sink(false),
        moved,
        kitchen_sink(true),
        last.clone(),
        kitchen_sink(false),
        last,
    ];
    let mut incremental = new_proxier();
    let mut prev: Option<&ProxyState> = None;
    for (step, state) in states.iter().enumerate() {
        // As the sync loop does: only the changed Services are named.
        incremental
            .sync_changes(state, &changes_between(prev, state))
            .expect("incremental sync");
        prev = Some(state);
        let after_partial = listing();
        new_proxier().sync(state).expect("full sync");
        let after_full = listing();
        assert!(real(&after_full), "step {step}: real rules: {after_full:?}");
        assert_eq!(after_partial, after_full, "step {step}");
    }
    let expected = listing();
    incremental
        .sync_changes(&states[0], &changes_between(prev, &states[0]))
        .expect("back to the bigger state");
    new_proxier().sync(&states[5]).expect("full sync");
    assert_eq!(
        listing(),
        expected,
        "stale objects are deleted by a full sync"
    );
    incremental.cleanup().unwrap();
}

#[test]
fn nftables_partial_syncs_end_where_a_full_sync_would() {
    let Some(topo) = netns::topology_or_skip() else {
        return;
    };
    let families = vec![IpFamily::V4, IpFamily::V6];
    let new_proxier = || -> Box<dyn Proxier> {
        let runner = ExecRunner::with_prefix(topo.prefix());
        Box::new(NftablesProxier::new(
            runner,
            primary_rule_config(),
            families.clone(),
        ))
    };
    let listing = || {
        (
            normalized_table(&topo, "ip"),
            normalized_table(&topo, "ip6"),
        )
    };
    assert_partial_syncs_match_full(new_proxier, listing, |l| l.0.len() > 10);
}

/// `iptables-save` of our chains in a comparable form: declared chains and,
/// per chain, its rules in order (counters and our chains' order ignored).
fn normalized_iptables(topo: &netns::Topology, save: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for table in ["filter", "nat"] {
        for line in topo.exec(&[save, "-t", table]).lines() {
            if let Some(chain) = line.strip_prefix(':') {
                let name = chain.split_whitespace().next().unwrap_or_default();
                out.entry(format!("{table} {name}")).or_default();
            } else if let Some(rule) = line.strip_prefix("-A ") {
                let chain = rule.split_whitespace().next().unwrap_or_default();
                out.entry(format!("{table} {chain}"))
                    .or_default()
                    .push(rule.to_string());
            }
        }
    }
    out
}

#[test]
fn iptables_partial_syncs_end_where_a_full_sync_would() {
    let Some(topo) = netns::topology_or_skip() else {
        return;
    };
    let families = vec![IpFamily::V4, IpFamily::V6];
    let new_proxier = || -> Box<dyn Proxier> {
        let runner = ExecRunner::with_prefix(topo.prefix());
        Box::new(IptablesProxier::new(
            runner,
            primary_rule_config(),
            families.clone(),
        ))
    };
    let listing = || {
        (
            normalized_iptables(&topo, "iptables-save"),
            normalized_iptables(&topo, "ip6tables-save"),
        )
    };
    assert_partial_syncs_match_full(new_proxier, listing, |l| {
        l.0.keys().any(|k| k.contains("KUBE-SEP-"))
    });
}
