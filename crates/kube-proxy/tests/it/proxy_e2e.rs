//! The whole kube-proxy (watchers, sync loop, nftables) against a real
//! apiserver, programming a test network namespace: a Service and an
//! EndpointSlice created through the API become reachable, deleting the
//! slice makes the Service reject, /healthz and the metrics follow,
//! /healthz fails while the proxy's Node is marked for removal, and a
//! LoadBalancer Service's health check node port opens, reports local
//! endpoints and closes, and its status IP carries traffic.

use std::time::{Duration, Instant};

use clap::Parser;
use corten_e2e::TestCluster;
use corten_kube_proxy::model::IpFamily;
use corten_kube_proxy::options::Options;
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::netns::{self, BODY, POD_IP, POD_PORT};

/// Polls `check` (blocking, in the node namespace) for up to 20 s.
async fn eventually<T: Send + 'static>(
    what: &str,
    check: impl Fn() -> Option<T> + Send + Sync + Clone + 'static,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let c = check.clone();
        if let Some(v) = tokio::task::spawn_blocking(c).await.unwrap() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn http_get(addr: &str, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    out
}

/// Polls `/healthz` for up to 20 s until the response starts with `status`.
async fn healthz_until(addr: &str, status: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let response = http_get(addr, "/healthz").await;
        if response.starts_with(status) || Instant::now() >= deadline {
            assert!(response.starts_with(status), "{response}");
            return response;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `GET /` on 127.0.0.1:`port` for up to 20 s until `check` holds.
async fn health_check_until(port: u16, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let addr = format!("127.0.0.1:{port}");
        let response = match tokio::net::TcpStream::connect(&addr).await {
            Ok(_) => http_get(&addr, "/").await,
            Err(err) => format!("connect: {err}"),
        };
        if check(&response) || Instant::now() >= deadline {
            assert!(check(&response), "{response}");
            return response;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A LoadBalancer Service with `externalTrafficPolicy: Local` gets a health
/// check node port that reports this node's ready local endpoints, and loses
/// it with the Service. (Corten's apiserver does not allocate
/// `healthCheckNodePort` yet, so the test picks a free one.)
async fn health_check_node_port(
    services: &Api<Service>,
    slices: &Api<EndpointSlice>,
    prefix: Vec<String>,
) {
    let free = (32000..32700)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port in the NodePort range");
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "lb"},
        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local",
            "healthCheckNodePort": free,
            "ports": [{"name": "http", "port": 80, "targetPort": POD_PORT}]}
    }))
    .unwrap();
    let svc = services.create(&PostParams::default(), &svc).await.unwrap();
    let port = svc
        .spec
        .and_then(|s| s.health_check_node_port)
        .expect("the health check node port is kept") as u16;
    let response = health_check_until(port, |r| r.starts_with("HTTP/1.1 503")).await;
    assert!(response.contains("\"localEndpoints\": 0"), "{response}");
    assert!(response.contains("\"name\": \"lb\""), "{response}");
    let slice: EndpointSlice = serde_json::from_value(json!({
        "metadata": {"name": "lb-1", "labels": {"kubernetes.io/service-name": "lb"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": POD_PORT, "protocol": "TCP"}],
        "endpoints": [{"addresses": [POD_IP], "conditions": {"ready": true}, "nodeName": "node-1"}]
    }))
    .unwrap();
    slices.create(&PostParams::default(), &slice).await.unwrap();
    let response = health_check_until(port, |r| r.starts_with("HTTP/1.1 200")).await;
    assert!(response.contains("\"localEndpoints\": 1"), "{response}");
    assert!(
        response.contains("\"serviceProxyHealthy\": true"),
        "{response}"
    );

    // The cloud reports the load balancer's IP in the status: it is
    // programmed like an external IP.
    let status = json!({"status": {"loadBalancer": {"ingress": [{"ip": "10.96.9.41"}]}}});
    services
        .patch_status("lb", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let body = eventually("the load-balancer IP to reach the endpoint", move || {
        let out = std::process::Command::new(&prefix[0])
            .args(&prefix[1..])
            .args(["timeout", "3", "busybox", "wget", "-q", "-O", "-"])
            .arg("http://10.96.9.41:80/")
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    })
    .await;
    assert_eq!(body, BODY);
    services
        .delete("lb", &DeleteParams::default())
        .await
        .unwrap();
    health_check_until(port, |r| r.starts_with("connect:")).await;
}

/// A health check node port someone else holds on loopback: kube-proxy
/// records upstream's Warning event on the Service (events.k8s.io/v1).
async fn taken_health_check_port_is_reported(client: &kube::Client, services: &Api<Service>) {
    use k8s_openapi::api::events::v1::Event;
    let (squatter, port) = (32000..32700)
        .find_map(|p| {
            std::net::TcpListener::bind(("127.0.0.1", p))
                .ok()
                .map(|l| (l, p))
        })
        .expect("a free port in the NodePort range");
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "lb-taken"},
        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local",
            "healthCheckNodePort": port,
            "ports": [{"name": "http", "port": 80, "targetPort": POD_PORT}]}
    }))
    .unwrap();
    services.create(&PostParams::default(), &svc).await.unwrap();
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let deadline = Instant::now() + Duration::from_secs(20);
    let event = loop {
        let list = events.list(&Default::default()).await.unwrap();
        let found = list.items.into_iter().find(|e| {
            e.reason.as_deref() == Some("FailedToStartServiceHealthcheck")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("lb-taken")
        });
        if let Some(event) = found {
            break event;
        }
        assert!(
            Instant::now() < deadline,
            "no FailedToStartServiceHealthcheck event"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(event.action.as_deref(), Some("Listen"));
    assert_eq!(event.reporting_controller.as_deref(), Some("kube-proxy"));
    let regarding = event.regarding.unwrap();
    assert_eq!(regarding.kind.as_deref(), Some("Service"));
    assert_eq!(
        event.note.as_deref(),
        Some(
            format!(
                "node node-1 failed to start healthcheck \"default/lb-taken\" on port {port}: listen tcp 127.0.0.1:{port}: bind: address already in use"
            )
            .as_str()
        )
    );
    drop(squatter);
    services
        .delete("lb-taken", &DeleteParams::default())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_proxy_programs_services_from_the_api() {
    let Some(topo) = netns::topology_or_skip() else {
        return;
    };
    let test = async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let services: Api<Service> = Api::namespaced(client.clone(), "default");
        let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": "web"},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": POD_PORT}]}
        }))
        .unwrap();
        let svc = services.create(&PostParams::default(), &svc).await.unwrap();
        let cluster_ip = svc.spec.unwrap().cluster_ip.unwrap();
        let slice: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": "web-1", "labels": {"kubernetes.io/service-name": "web"},
                "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": jiff::Timestamp::now().to_string()}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": POD_PORT, "protocol": "TCP"}],
            "endpoints": [{"addresses": [POD_IP], "conditions": {"ready": true}}]
        }))
        .unwrap();
        slices.create(&PostParams::default(), &slice).await.unwrap();

        // The proxy's Node, first: nftables mode answers NodePorts on its
        // primary IP (upstream's default) and waits for it at start. Its
        // IP is loopback (the proxy runs in this namespace): NodePorts then
        // answer nowhere and health check ports listen on 127.0.0.1.
        let nodes: Api<Node> = Api::all(client.clone());
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "node-1"}})).unwrap();
        nodes.create(&PostParams::default(), &node).await.unwrap();
        let addresses =
            json!({"status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]}});
        nodes
            .patch_status("node-1", &PatchParams::default(), &Patch::Merge(&addresses))
            .await
            .unwrap();

        let healthz = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        };
        let kubeconfig = cluster.kubeconfig.display().to_string();
        let mut config = Options::try_parse_from([
            "kube-proxy",
            "--kubeconfig",
            &kubeconfig,
            "--proxy-mode=nftables",
            "--hostname-override=node-1",
            "--cluster-cidr=10.244.0.0/16",
            &format!("--healthz-bind-address={healthz}"),
            "--metrics-bind-address=",
            "--iptables-min-sync-period=100ms",
        ])
        .unwrap()
        .complete()
        .unwrap();
        config.command_prefix = topo.prefix();
        config.families = vec![IpFamily::V4];
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let proxy = tokio::spawn(corten_kube_proxy::app::run(config, async move {
            let _ = stop_rx.await;
        }));

        let url = format!("http://{cluster_ip}:80/");
        let fetch_topo = topo.prefix();
        let fetch = {
            let url = url.clone();
            move || -> Result<String, String> {
                let out = std::process::Command::new(&fetch_topo[0])
                    .args(&fetch_topo[1..])
                    .args(["timeout", "3", "busybox", "wget", "-q", "-O", "-", &url])
                    .output()
                    .map_err(|e| e.to_string())?;
                if out.status.success() {
                    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
                } else {
                    Err(String::from_utf8_lossy(&out.stderr).into_owned())
                }
            }
        };
        let f = fetch.clone();
        let body = eventually("the ClusterIP to reach the endpoint", move || f().ok()).await;
        assert_eq!(body, BODY);

        let response = http_get(&healthz, "/healthz").await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.contains("\"nodeEligible\": true"), "{response}");

        // The cluster autoscaler marks the node for removal: load balancers
        // must stop sending traffic here (/healthz 503), /livez stays 200.
        let taint = json!({"spec": {"taints": [{"key": "ToBeDeletedByClusterAutoscaler",
            "value": "1764144000", "effect": "NoSchedule"}]}});
        nodes
            .patch("node-1", &PatchParams::default(), &Patch::Merge(&taint))
            .await
            .unwrap();
        let response = healthz_until(&healthz, "HTTP/1.1 503").await;
        assert!(response.contains("\"nodeEligible\": false"), "{response}");
        assert!(
            http_get(&healthz, "/livez")
                .await
                .starts_with("HTTP/1.1 200")
        );
        let untainted = json!({"spec": {"taints": null}});
        nodes
            .patch("node-1", &PatchParams::default(), &Patch::Merge(&untainted))
            .await
            .unwrap();
        let response = healthz_until(&healthz, "HTTP/1.1 200").await;
        assert!(response.contains("\"nodeEligible\": true"), "{response}");

        let metrics = String::from_utf8(corten_component_base::metrics::gather_text()).unwrap();
        let last_sync = metrics
            .lines()
            .find(|l| l.starts_with("kubeproxy_sync_proxy_rules_last_timestamp_seconds "))
            .unwrap();
        assert!(!last_sync.ends_with(" 0"), "{last_sync}");
        assert!(
            metrics.contains("kubeproxy_network_programming_duration_seconds_count 1")
                || metrics.contains("kubeproxy_network_programming_duration_seconds_count 2"),
            "the slice's trigger time was observed:\n{metrics}"
        );

        health_check_node_port(&services, &slices, topo.prefix()).await;
        taken_health_check_port_is_reported(&client, &services).await;

        slices
            .delete("web-1", &DeleteParams::default())
            .await
            .unwrap();
        let f = fetch.clone();
        let err = eventually("the Service to reject without endpoints", move || {
            f().err().filter(|e| e.contains("refused"))
        })
        .await;
        assert!(err.contains("refused"));

        stop_tx.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), proxy)
            .await
            .expect("kube-proxy stops on shutdown")
            .unwrap()
            .unwrap();
        // Like upstream, rules stay for the next kube-proxy.
        assert!(topo.exec(&["nft", "list", "tables"]).contains("kube-proxy"));
    };
    tokio::time::timeout(Duration::from_secs(120), test)
        .await
        .expect("test timed out");
}
