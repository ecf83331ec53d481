//! The apiserver's proxy subresources to pods, Services and nodes
//! (`network/proxy.go`): every HTTP method through `pods/proxy` and
//! `services/proxy` with and without a path, named and numbered ports with
//! an optional scheme, HTML links rewritten to stay under the proxy path,
//! and the kubelet's `/logs/` through `nodes/proxy`.
//!
//! Upstream's agnhost `porter` answers with the method and the port's
//! message; the test server's `/echo/...` answers with the request line and
//! `/env` with its environment (`MSG` per container here).

use http::{Method, Request};
use serde_json::{Value, json};

use super::{Cluster, TESTSERVER};
use crate::control_plane::kubectl_ok;

const METHODS: [&str; 7] = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"];

pub async fn checks(c: &Cluster<'_>) {
    methods(c).await;
    ports_and_rewriting(c).await;
    node_logs(c).await;
}

/// Sends `method path` as the test's admin user; (status, body).
async fn send(c: &Cluster<'_>, method: &str, path: &str) -> (u16, String) {
    let request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).expect("method"))
        .uri(path)
        .body(Vec::new())
        .expect("request");
    match c.node.client.request_text(request).await {
        Ok(body) => (200, body),
        Err(kube::Error::Api(status)) => (status.code, status.message),
        Err(err) => panic!("{method} {path}: {err}"),
    }
}

/// Retries `method path` for a while until it answers 200; the body.
async fn ok(c: &Cluster<'_>, method: &str, path: &str) -> String {
    let deadline = tokio::time::Instant::now() + super::SETTLE;
    loop {
        let (code, body) = send(c, method, path).await;
        if code == 200 {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{method} {path}: {code} {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

/// "A set of valid responses are returned for both pod and service
/// ProxyWithPath" and "... Proxy": every method reaches the pod, with its
/// path and query, directly and through the Service.
async fn methods(c: &Cluster<'_>) {
    let labels = json!({"test": "response"});
    let pod = super::testserver_pod(
        "agnhost",
        labels.clone(),
        json!([{"name": "PORT", "value": "80"}]),
    );
    let mut pod = pod;
    pod["spec"]["containers"][0]["ports"] = json!([{"containerPort": 80}]);
    pod["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = json!(80);
    c.run_pods(&[pod]).await;
    c.apply(
        &json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "test-service", "labels": labels},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 80, "protocol": "TCP"}]}
        })
        .to_string(),
    )
    .await;
    for base in [
        "/api/v1/namespaces/default/pods/agnhost/proxy",
        "/api/v1/namespaces/default/services/test-service/proxy",
    ] {
        for method in METHODS {
            let path = format!("/echo/some/path/with/{method}");
            let body = ok(c, method, &format!("{base}{path}")).await;
            if method == "HEAD" {
                assert!(body.is_empty(), "HEAD {base}{path}: {body}");
            } else {
                assert!(
                    body.starts_with(&format!("{method} {path} ")),
                    "{method} {base}{path} reached the pod as: {body}"
                );
            }
            // Without a path: the pod's root, the query kept.
            if method != "HEAD" {
                let body = ok(c, method, &format!("{base}?method={method}")).await;
                assert_eq!(body.trim(), "agnhost", "{method} {base}?method={method}");
            }
        }
        let body = ok(c, "POST", &format!("{base}/echo?method=POST")).await;
        assert!(body.starts_with("POST /echo?method=POST "), "{body}");
    }
    c.delete_pods(&["agnhost"]).await;
    kubectl_ok(c.node, &["delete", "service", "test-service"]).await;
}

fn server_container(name: &str, port: u16, message: &str, port_name: Option<&str>) -> Value {
    let mut ports = json!({"containerPort": port});
    if let Some(n) = port_name {
        ports["name"] = json!(n);
    }
    json!({
        "name": name,
        "image": TESTSERVER,
        "env": [{"name": "PORT", "value": port.to_string()}, {"name": "MSG", "value": message}],
        "ports": [ports],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": port}, "periodSeconds": 1}
    })
}

/// "should proxy through a service and a pod": Service ports by name (to a
/// named or numbered target port) and pod ports by number, each with and
/// without the `http` scheme, reach the right container; an HTML page's
/// absolute links are rewritten under the proxy path.
async fn ports_and_rewriting(c: &Cluster<'_>) {
    let labels = json!({"proxy-service-target": "true"});
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "proxy-service-pod", "labels": labels},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                server_container("port80", 80, "rewrite", None),
                server_container("port160", 160, "foo", Some("dest1")),
                server_container("port162", 162, "bar", Some("dest2")),
            ]
        }
    });
    c.run_pods(&[pod]).await;
    c.apply(
        &json!({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "proxy-service"},
            "spec": {"selector": labels, "ports": [
                {"name": "portname1", "port": 80, "targetPort": "dest1"},
                {"name": "portname2", "port": 81, "targetPort": 162}
            ]}
        })
        .to_string(),
    )
    .await;
    let svc = |id: &str| format!("/api/v1/namespaces/default/services/{id}/proxy");
    let pod = |id: &str| format!("/api/v1/namespaces/default/pods/{id}/proxy");
    let expectations = [
        (svc("proxy-service:portname1"), "MSG=foo"),
        (svc("http:proxy-service:portname1"), "MSG=foo"),
        (svc("proxy-service:portname2"), "MSG=bar"),
        (svc("http:proxy-service:portname2"), "MSG=bar"),
        (pod("proxy-service-pod:160"), "MSG=foo"),
        (pod("http:proxy-service-pod:160"), "MSG=foo"),
        (pod("proxy-service-pod:162"), "MSG=bar"),
        (pod("http:proxy-service-pod:162"), "MSG=bar"),
        (pod("proxy-service-pod"), "MSG=rewrite"),
        (pod("proxy-service-pod:80"), "MSG=rewrite"),
    ];
    // Upstream repeats each case 20 times to catch rare flakes; 3 here.
    for _ in 0..3 {
        for (base, want) in &expectations {
            let body = ok(c, "GET", &format!("{base}/env")).await;
            assert!(body.lines().any(|l| l == *want), "{base}/env: {body}");
        }
    }
    for base in [
        pod("proxy-service-pod"),
        pod("proxy-service-pod:80"),
        pod("http:proxy-service-pod:80"),
    ] {
        let body = ok(c, "GET", &format!("{base}/html")).await;
        assert_eq!(
            body,
            format!("<a href=\"{base}/rewriteme\">test</a>"),
            "{base}/html"
        );
    }
    c.delete_pods(&["proxy-service-pod"]).await;
    kubectl_ok(c.node, &["delete", "service", "proxy-service"]).await;
}

/// "Proxy, logs service endpoint": the kubelet's `/logs/` through the
/// node's proxy subresource.
async fn node_logs(c: &Cluster<'_>) {
    let path = format!("/api/v1/nodes/{}/proxy/logs/", c.node.name);
    for _ in 0..3 {
        let body = ok(c, "GET", &path).await;
        assert!(
            body.starts_with("<!doctype html>") && body.contains("<pre>"),
            "{body}"
        );
    }
}
