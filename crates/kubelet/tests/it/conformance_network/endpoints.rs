//! Endpoints and EndpointSlices of Services with pods
//! (`network/service.go` "should serve a basic endpoint from pods",
//! "should serve multiport endpoints from pods", `endpointslice.go`
//! "should create Endpoints and EndpointSlices for Pods matching a
//! Service") and the service endpoint latency (`service_latency.go`, on a
//! smaller sample).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{BUSYBOX, Cluster, SETTLE};
use crate::control_plane::kubectl_ok;

/// pod name -> its port numbers.
type PortsByPod = BTreeMap<String, BTreeSet<i64>>;

pub async fn checks(c: &Cluster<'_>) {
    discovery(c).await;
    basic_endpoints(c).await;
    multiport_endpoints(c).await;
    latency(c).await;
}

/// The discovery documents EndpointSlice tests start with.
async fn discovery(c: &Cluster<'_>) {
    let apis: Value =
        serde_json::from_str(&kubectl_ok(c.node, &["get", "--raw", "/apis"]).await).unwrap();
    assert!(
        apis["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|g| g["name"] == "discovery.k8s.io"
                && g["versions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|v| v["version"] == "v1")),
        "{apis}"
    );
    let resources: Value = serde_json::from_str(
        &kubectl_ok(c.node, &["get", "--raw", "/apis/discovery.k8s.io/v1"]).await,
    )
    .unwrap();
    assert!(
        resources["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["name"] == "endpointslices"),
        "{resources}"
    );
}

fn port_pod(name: &str, labels: Value, ports: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "main", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
                "ports": ports
            }]
        }
    })
}

/// The Endpoints object's view: pod -> ports.
async fn endpoints_of(c: &Cluster<'_>, service: &str) -> PortsByPod {
    let ep: Value = c.get_opt(&["endpoints", service]).await;
    let mut out = PortsByPod::new();
    for subset in ep["subsets"].as_array().into_iter().flatten() {
        let ports: Vec<i64> = subset["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["port"].as_i64())
            .collect();
        for address in subset["addresses"].as_array().into_iter().flatten() {
            let pod = address["targetRef"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string();
            out.entry(pod).or_default().extend(ports.iter().copied());
        }
    }
    out
}

/// The EndpointSlices' view: pod -> ports (ready endpoints), checking what
/// every slice of the Service must carry.
async fn slices_of(c: &Cluster<'_>, service: &str) -> PortsByPod {
    let list: Value = c
        .get(&[
            "endpointslices",
            "-l",
            &format!("kubernetes.io/service-name={service}"),
        ])
        .await;
    let mut out = PortsByPod::new();
    for slice in list["items"].as_array().into_iter().flatten() {
        assert_eq!(slice["addressType"], "IPv4", "{slice}");
        assert_eq!(
            slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
            "endpointslice-controller.k8s.io",
            "{slice}"
        );
        assert_eq!(
            slice["metadata"]["ownerReferences"][0]["kind"], "Service",
            "{slice}"
        );
        let ports: Vec<i64> = slice["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["port"].as_i64())
            .collect();
        for endpoint in slice["endpoints"].as_array().into_iter().flatten() {
            if endpoint["conditions"]["ready"] != true {
                continue;
            }
            assert_eq!(endpoint["nodeName"], c.node.name.as_str(), "{slice}");
            assert_eq!(endpoint["targetRef"]["kind"], "Pod", "{slice}");
            let pod = endpoint["targetRef"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string();
            out.entry(pod).or_default().extend(ports.iter().copied());
        }
    }
    out
}

/// Waits until both the Endpoints and the EndpointSlices of `service`
/// list exactly `want`.
async fn expect_endpoints(c: &Cluster<'_>, service: &str, want: &[(&str, &[i64])]) {
    let want: PortsByPod = want
        .iter()
        .map(|(pod, ports)| (pod.to_string(), ports.iter().copied().collect()))
        .collect();
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let (endpoints, slices) = (endpoints_of(c, service).await, slices_of(c, service).await);
        if endpoints == want && slices == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{service}: wanted {want:?}, Endpoints list {endpoints:?}, EndpointSlices {slices:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// "should serve a basic endpoint from pods" (also the EndpointSlice
/// entry's pods matching a Service).
async fn basic_endpoints(c: &Cluster<'_>) {
    let service = "endpoint-test2";
    let labels = json!({"name": service});
    c.apply(
        &json!({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": service},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 80}]}
        })
        .to_string(),
    )
    .await;
    expect_endpoints(c, service, &[]).await;
    let ports = json!([{"containerPort": 80}]);
    c.run_pods(&[port_pod("pod1", labels.clone(), ports.clone())])
        .await;
    expect_endpoints(c, service, &[("pod1", &[80])]).await;
    c.run_pods(&[port_pod("pod2", labels.clone(), ports.clone())])
        .await;
    expect_endpoints(c, service, &[("pod1", &[80]), ("pod2", &[80])]).await;
    c.delete_pods(&["pod1"]).await;
    expect_endpoints(c, service, &[("pod2", &[80])]).await;
    c.delete_pods(&["pod2"]).await;
    expect_endpoints(c, service, &[]).await;
    kubectl_ok(c.node, &["delete", "service", service]).await;
}

/// "should serve multiport endpoints from pods": named target ports
/// resolve per pod.
async fn multiport_endpoints(c: &Cluster<'_>) {
    let service = "multi-endpoint-test";
    let labels = json!({"name": service});
    c.apply(
        &json!({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": service},
            "spec": {"selector": labels, "ports": [
                {"name": "portname1", "port": 80, "targetPort": "svc1"},
                {"name": "portname2", "port": 81, "targetPort": "svc2"}
            ]}
        })
        .to_string(),
    )
    .await;
    expect_endpoints(c, service, &[]).await;
    c.run_pods(&[port_pod(
        "mpod1",
        labels.clone(),
        json!([{"name": "svc1", "containerPort": 100}]),
    )])
    .await;
    expect_endpoints(c, service, &[("mpod1", &[100])]).await;
    c.run_pods(&[port_pod(
        "mpod2",
        labels.clone(),
        json!([{"name": "svc2", "containerPort": 101}]),
    )])
    .await;
    expect_endpoints(c, service, &[("mpod1", &[100]), ("mpod2", &[101])]).await;
    c.delete_pods(&["mpod1"]).await;
    expect_endpoints(c, service, &[("mpod2", &[101])]).await;
    c.delete_pods(&["mpod2"]).await;
    expect_endpoints(c, service, &[]).await;
    kubectl_ok(c.node, &["delete", "service", service]).await;
}

/// "Service endpoints latency should not be very high": Services over the
/// running backends get their endpoints within upstream's thresholds (50th
/// percentile 20 s, 90th 50 s); 20 samples instead of 200.
async fn latency(c: &Cluster<'_>) {
    let mut samples = Vec::new();
    for i in 0..20 {
        let name = format!("latency-svc-{i}");
        let start = Instant::now();
        c.apply(
            &json!({
                "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                "spec": {"selector": {"app": super::BACKEND_LABEL}, "ports": [{"port": 80, "targetPort": 8080}]}
            })
            .to_string(),
        )
        .await;
        let deadline = tokio::time::Instant::now() + SETTLE;
        loop {
            let ep: Value = c.get_opt(&["endpoints", &name]).await;
            if ep["subsets"][0]["addresses"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} never got endpoints"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        samples.push(start.elapsed());
    }
    samples.sort();
    let (p50, p90) = (samples[samples.len() / 2], samples[samples.len() * 9 / 10]);
    eprintln!("netconf: endpoint latency p50 {p50:?} p90 {p90:?}");
    assert!(
        p50 < Duration::from_secs(20) && p90 < Duration::from_secs(50),
        "{samples:?}"
    );
    let names: Vec<String> = (0..20).map(|i| format!("latency-svc-{i}")).collect();
    let mut args = vec!["delete", "service"];
    args.extend(names.iter().map(String::as_str));
    kubectl_ok(c.node, &args).await;
}
