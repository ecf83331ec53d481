//! Pod networking (`common/network/networking.go`, "Granular Checks: Pods")
//! and host ports (`network/hostport.go`).
//!
//! Upstream's test pod asks every netserver pod for its hostname over HTTP
//! and UDP, from a pod and from the node (a host-network pod); here the
//! client pod and the node's network namespace do, with busybox.

use std::time::Duration;

use serde_json::json;

use super::{Cluster, TESTSERVER, hostnames};
use crate::harness::phase;

/// "intra-pod communication: http/udp" and "node-pod communication:
/// http/udp": every backend answers its own hostname on both protocols,
/// from the client pod and from the node.
pub async fn intra_pod(c: &Cluster<'_>) {
    let names = c.backend_names();
    for (name, ip) in &c.backends {
        let http = format!("timeout 5 wget -q -O- http://{ip}:8080/hostname");
        let udp = super::udp_hostname(ip, 8080);
        for (proto, script) in [("http", &http), ("udp", &udp)] {
            let out = c
                .exec_until(&format!("pod -> {name} over {proto}"), script, |out| {
                    hostnames(out, &names) == [name.clone()]
                })
                .await;
            assert_eq!(hostnames(&out, &names), std::slice::from_ref(name));
            let node_script = if proto == "http" {
                format!("timeout 5 busybox wget -q -O- http://{ip}:8080/hostname")
            } else {
                format!("{} udp-request {ip} 8080 hostname", super::TESTSERVER_BIN)
            };
            c.node_exec_until(
                &format!("node -> {name} over {proto}"),
                &node_script,
                |out| hostnames(out, &names) == [name.clone()],
            )
            .await;
        }
    }
}

/// "validates that there is no conflict between pods with same hostPort but
/// different hostIP and protocol": three pods asking for host port 54321
/// (127.0.0.1/TCP, node IP/TCP, node IP/UDP) are scheduled to the one node
/// and each answers on its own address and protocol.
pub async fn host_ports(c: &Cluster<'_>) {
    const HOST_PORT: u16 = 54321;
    let node_ip = c.netns.node_ip.clone();
    let pods = [
        ("hostport-pod1", "127.0.0.1", "TCP"),
        ("hostport-pod2", node_ip.as_str(), "TCP"),
        ("hostport-pod3", node_ip.as_str(), "UDP"),
    ];
    for (name, host_ip, protocol) in pods {
        // No nodeName: the scheduler's NodePorts filter must see no
        // conflict between the three.
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "nodeSelector": {"kubernetes.io/hostname": c.node.name},
                "containers": [{
                    "name": "server",
                    "image": TESTSERVER,
                    "ports": [{
                        "containerPort": 8080,
                        "hostPort": HOST_PORT,
                        "hostIP": host_ip,
                        "protocol": protocol
                    }]
                }]
            }
        });
        c.apply(&pod.to_string()).await;
    }
    for (name, _, _) in pods {
        c.node
            .wait_pod(name, "running", Duration::from_secs(90), |p| {
                phase(p) == "Running"
            })
            .await;
    }
    let names = pods.iter().map(|(n, _, _)| n.to_string()).collect();
    let expect = |pod: &str, script: String| {
        let names = &names;
        let pod = pod.to_string();
        async move {
            c.node_exec_until(&format!("host port of {pod}"), &script, |out| {
                hostnames(out, names) == [pod.clone()]
            })
            .await
        }
    };
    expect(
        "hostport-pod1",
        format!("timeout 5 busybox wget -q -O- http://127.0.0.1:{HOST_PORT}/hostname"),
    )
    .await;
    expect(
        "hostport-pod2",
        format!("timeout 5 busybox wget -q -O- http://{node_ip}:{HOST_PORT}/hostname"),
    )
    .await;
    expect(
        "hostport-pod3",
        format!(
            "{} udp-request {node_ip} {HOST_PORT} hostname",
            super::TESTSERVER_BIN
        ),
    )
    .await;
    c.delete_pods(&["hostport-pod1", "hostport-pod2", "hostport-pod3"])
        .await;
}
