//! Services through kube-proxy (`network/service.go`): a functioning
//! NodePort, session affinity (ClientIP, and switching to None and back)
//! for ClusterIP and NodePort, type changes between ClusterIP, NodePort and
//! ExternalName, and one port number serving TCP and UDP.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::dns::update_service;
use super::{BACKEND_LABEL, Cluster, hostnames};
use crate::control_plane::kubectl_ok;

const ZONE: &str = "default.svc.cluster.local";

pub async fn checks(c: &Cluster<'_>) {
    nodeport(c).await;
    for kind in ["ClusterIP", "NodePort"] {
        session_affinity(c, kind).await;
    }
    type_changes(c).await;
    same_port_both_protocols(c).await;
}

fn backend_service(name: &str, kind: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {
            "type": kind,
            "selector": {"app": BACKEND_LABEL},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]
        }
    })
}

async fn create(c: &Cluster<'_>, svc: &Value) -> Value {
    c.apply(&svc.to_string()).await;
    let name = svc["metadata"]["name"].as_str().expect("name");
    c.get(&["service", name]).await
}

fn cluster_ip(svc: &Value) -> String {
    svc["spec"]["clusterIP"]
        .as_str()
        .expect("clusterIP")
        .to_string()
}

fn node_port(svc: &Value) -> u64 {
    svc["spec"]["ports"][0]["nodePort"]
        .as_u64()
        .expect("nodePort")
}

/// `n` HTTP requests from the client pod to `target` (host:port).
fn requests(target: &str, n: usize) -> String {
    format!("for i in $(seq {n}); do timeout 5 wget -q -O- http://{target}/hostname; done")
}

/// Waits until a request to each target reaches a backend.
async fn reachable(c: &Cluster<'_>, targets: &[String]) {
    let names = c.backend_names();
    for target in targets {
        c.exec_until(&format!("{target} serves"), &requests(target, 1), |out| {
            hostnames(out, &names).len() == 1
        })
        .await;
    }
}

/// "should be able to create a functioning NodePort service": by name and
/// ClusterIP on the Service port, and on the node's IP on the NodePort,
/// from a pod (and from the node).
async fn nodeport(c: &Cluster<'_>) {
    let svc = create(c, &backend_service("nodeport-test", "NodePort")).await;
    let (ip, port) = (cluster_ip(&svc), node_port(&svc));
    let node_target = format!("{}:{port}", c.netns.node_ip);
    reachable(
        c,
        &[
            "nodeport-test:80".into(),
            format!("{ip}:80"),
            node_target.clone(),
        ],
    )
    .await;
    let names = c.backend_names();
    c.node_exec_until(
        "the NodePort from the node",
        &format!("timeout 5 busybox wget -q -O- http://{node_target}/hostname"),
        |out| hostnames(out, &names).len() == 1,
    )
    .await;
    kubectl_ok(c.node, &["delete", "service", "nodeport-test"]).await;
}

/// 15 requests (upstream's AffinityConfirmCount) until the set of
/// backends answering satisfies `done`.
async fn affinity(c: &Cluster<'_>, what: &str, target: &str, pinned: bool) {
    let names = c.backend_names();
    c.exec_until(what, &requests(target, 15), |out| {
        let seen = hostnames(out, &names);
        let distinct: BTreeSet<&String> = seen.iter().collect();
        seen.len() == 15 && (distinct.len() == 1) == pinned
    })
    .await;
}

/// "should have session affinity work for service with type clusterIP /
/// NodePort" and "should be able to switch session affinity for ...":
/// ClientIP pins the client, None spreads it again, ClientIP pins again.
async fn session_affinity(c: &Cluster<'_>, kind: &str) {
    let name = format!("affinity-{}", kind.to_lowercase());
    let mut svc = backend_service(&name, kind);
    svc["spec"]["sessionAffinity"] = json!("ClientIP");
    let svc = create(c, &svc).await;
    assert_eq!(
        svc["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"], 10800,
        "defaulted affinity timeout: {svc}"
    );
    let target = if kind == "NodePort" {
        format!("{}:{}", c.netns.node_ip, node_port(&svc))
    } else {
        format!("{}:80", cluster_ip(&svc))
    };
    reachable(c, &[format!("{name}:80"), target.clone()]).await;
    affinity(c, &format!("{kind} ClientIP affinity"), &target, true).await;
    update_service(c, &name, |s| s["spec"]["sessionAffinity"] = json!("None")).await;
    affinity(
        c,
        &format!("{kind} affinity switched to None"),
        &target,
        false,
    )
    .await;
    update_service(c, &name, |s| {
        s["spec"]["sessionAffinity"] = json!("ClientIP")
    })
    .await;
    affinity(
        c,
        &format!("{kind} affinity back to ClientIP"),
        &target,
        true,
    )
    .await;
    kubectl_ok(c.node, &["delete", "service", &name]).await;
}

/// The four type changes upstream checks.
async fn type_changes(c: &Cluster<'_>) {
    // The Service an ExternalName points to, by its cluster FQDN.
    let external = create(c, &backend_service("externalsvc", "ClusterIP")).await;
    let external_fqdn = format!("externalsvc.{ZONE}");
    let external_ip = cluster_ip(&external);

    // ClusterIP -> ExternalName: the ClusterIP goes (the test leaves the
    // field as read, the apiserver drops it) and the name now resolves
    // through the CNAME.
    let before = create(c, &backend_service("clusterip-service", "ClusterIP")).await;
    assert!(!cluster_ip(&before).is_empty());
    let after = update_service(c, "clusterip-service", |s| {
        s["spec"]["type"] = json!("ExternalName");
        s["spec"]["externalName"] = json!(external_fqdn);
    })
    .await;
    assert_no_cluster_ip(&after);
    resolves_to_external(c, "clusterip-service", &external_fqdn, &external_ip).await;

    // NodePort -> ExternalName: the NodePort is released too.
    let before = create(c, &backend_service("nodeport-service", "NodePort")).await;
    let released = node_port(&before);
    let after = update_service(c, "nodeport-service", |s| {
        s["spec"]["type"] = json!("ExternalName");
        s["spec"]["externalName"] = json!(external_fqdn);
    })
    .await;
    assert_no_cluster_ip(&after);
    assert!(
        after["spec"]["ports"][0].get("nodePort").is_none(),
        "the NodePort is dropped: {after}"
    );
    resolves_to_external(c, "nodeport-service", &external_fqdn, &external_ip).await;
    let mut reuse = backend_service("nodeport-reuse", "NodePort");
    reuse["spec"]["ports"][0]["nodePort"] = json!(released);
    let out = c
        .node
        .cluster
        .kubectl_stdin(&["create", "-f", "-"], Some(&reuse.to_string()))
        .await
        .expect("kubectl create");
    assert!(
        out.status.success(),
        "NodePort {released} was released: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // ExternalName -> ClusterIP / NodePort: an address is allocated and the
    // Service serves by name, ClusterIP (and NodePort).
    for kind in ["ClusterIP", "NodePort"] {
        let name = format!("externalname-to-{}", kind.to_lowercase());
        let mut svc = backend_service(&name, "ExternalName");
        svc["spec"]["externalName"] = json!("foo.example.com");
        let svc = create(c, &svc).await;
        assert_no_cluster_ip(&svc);
        let after = update_service(c, &name, |s| {
            s["spec"]["type"] = json!(kind);
            s["spec"]["externalName"] = json!("");
            s["spec"]["ports"] =
                json!([{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]);
        })
        .await;
        let ip = cluster_ip(&after);
        assert!(!ip.is_empty() && ip != "None", "{after}");
        let mut targets = vec![format!("{name}:80"), format!("{ip}:80")];
        if kind == "NodePort" {
            targets.push(format!("{}:{}", c.netns.node_ip, node_port(&after)));
        }
        reachable(c, &targets).await;
    }
    kubectl_ok(
        c.node,
        &[
            "delete",
            "service",
            "externalsvc",
            "clusterip-service",
            "nodeport-service",
            "nodeport-reuse",
            "externalname-to-clusterip",
            "externalname-to-nodeport",
        ],
    )
    .await;
}

fn assert_no_cluster_ip(svc: &Value) {
    assert_eq!(svc["spec"]["type"], "ExternalName", "{svc}");
    assert!(
        svc["spec"].get("clusterIP").is_none_or(|ip| ip == ""),
        "an ExternalName Service has no ClusterIP: {svc}"
    );
    assert!(svc["spec"].get("clusterIPs").is_none(), "{svc}");
}

/// The ExternalName Service's name leads to the Service it names.
async fn resolves_to_external(c: &Cluster<'_>, name: &str, fqdn: &str, ip: &str) {
    c.exec_until(
        &format!("{name} is a CNAME to {fqdn}"),
        &format!("nslookup {name}.{ZONE}"),
        |out| out.contains(&format!("Address: {ip}")),
    )
    .await;
    reachable(c, &[format!("{name}:80")]).await;
}

/// "should serve endpoints on same port and different protocols": TCP and
/// UDP on port 80 both reach the backends; with only one of them left in
/// the Service, the other stops answering.
async fn same_port_both_protocols(c: &Cluster<'_>) {
    let name = "multiprotocol-test";
    let tcp = json!({"name": "tcp-port", "port": 80, "targetPort": 8080, "protocol": "TCP"});
    let udp = json!({"name": "udp-port", "port": 80, "targetPort": 8080, "protocol": "UDP"});
    let mut svc = backend_service(name, "ClusterIP");
    svc["spec"]["ports"] = json!([tcp, udp]);
    let ip = cluster_ip(&create(c, &svc).await);
    let names = c.backend_names();
    let http = requests(&format!("{ip}:80"), 1);
    let datagram = super::udp_hostname(&ip, 80);
    let answers = |out: &str| hostnames(out, &names).len() == 1;
    c.exec_until("TCP on the shared port", &http, answers).await;
    c.exec_until("UDP on the shared port", &datagram, answers)
        .await;

    update_service(c, name, |s| s["spec"]["ports"] = json!([tcp])).await;
    c.exec_until("UDP gone", &datagram, |out| {
        hostnames(out, &names).is_empty()
    })
    .await;
    c.exec_until("TCP still served", &http, answers).await;

    update_service(c, name, |s| s["spec"]["ports"] = json!([udp])).await;
    c.exec_until("TCP gone", &http, |out| hostnames(out, &names).is_empty())
        .await;
    c.exec_until("UDP served again", &datagram, answers).await;
    kubectl_ok(c.node, &["delete", "service", name]).await;
}
