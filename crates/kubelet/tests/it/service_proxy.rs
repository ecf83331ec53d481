//! `services/{name}[:port]/proxy/{path}` to real pods: the Service's
//! EndpointSlices (written by the endpointslice controller) lead the
//! apiserver to a ready pod, through `kubectl get --raw` and through
//! `kubectl proxy`, as upstream.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::control_plane::kubectl;
use crate::harness::{Node, http_get};

/// The checks, on the `web` deployment's pods (`pods` are their names).
pub async fn check(node: &Node, pods: &[String]) {
    let (ok, _, err) = kubectl(
        node,
        &[
            "expose",
            "deployment",
            "web",
            "--port=80",
            "--target-port=8080",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let path = "/api/v1/namespaces/default/services/web:80/proxy/";
    // The controller fills the EndpointSlice shortly after.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (ok, out, err) = kubectl(node, &["get", "--raw", path]).await;
        if ok {
            break out;
        }
        assert!(
            err.contains("no endpoints available") && tokio::time::Instant::now() < deadline,
            "{err}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(
        pods.iter().any(|p| body.contains(p.as_str())),
        "a web pod answers with its hostname: {body}"
    );
    // The unnamed port by number or implied, with a path and a query.
    for id in ["web", "http:web:80"] {
        let (ok, out, err) = kubectl(
            node,
            &[
                "get",
                "--raw",
                &format!("/api/v1/namespaces/default/services/{id}/proxy/echo?marker=svc-proxy"),
            ],
        )
        .await;
        assert!(ok, "{id}: {err}");
        assert!(out.contains("svc-proxy"), "{id}: {out}");
    }

    // kubectl proxy: the same path through a local proxy to the apiserver.
    let mut proxy = tokio::process::Command::new(corten_e2e::KUBECTL)
        .arg(format!(
            "--kubeconfig={}",
            node.cluster.kubeconfig.display()
        ))
        .args(["proxy", "--port=0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl proxy");
    let mut lines = BufReader::new(proxy.stdout.take().unwrap()).lines();
    let port: u16 = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.strip_prefix("Starting to serve on 127.0.0.1:") {
                return rest.trim().parse().ok();
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .expect("kubectl proxy printed its port");
    let (code, body) = http_get("127.0.0.1", port, path)
        .await
        .expect("through kubectl proxy");
    assert_eq!(code, 200, "{body}");
    assert!(
        pods.iter().any(|p| body.contains(p.as_str())),
        "through kubectl proxy: {body}"
    );
    let _ = proxy.kill().await;
    let (ok, _, err) = kubectl(node, &["delete", "service", "web"]).await;
    assert!(ok, "{err}");
}
