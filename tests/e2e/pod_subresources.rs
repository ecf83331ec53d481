//! `pods/log`, `pods/exec`, `pods/portforward` and `nodes/proxy` before any
//! kubelet is involved: option validation, container choice, pods without a
//! node, nodes without a usable address, WebSocket protocol choice. The
//! happy paths with a real kubelet and containerd are in
//! `crates/kubelet/tests/it/kubectl_workloads.rs`.

use corten_e2e::TestCluster;
use http::Request;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};

async fn get(client: &kube::Client, path: &str, headers: &[(&str, &str)]) -> (u16, Value, String) {
    let mut req = Request::builder().method("GET").uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .send(req.body(Vec::new()).unwrap().map(kube::client::Body::from))
        .await
        .unwrap();
    let code = resp.status().as_u16();
    use http_body_util::BodyExt;
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes().to_vec())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (
        code,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text,
    )
}

#[tokio::test]
async fn subresources_validate_and_explain_like_upstream() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "two"},
            "spec": {"containers": [
                {"name": "a", "image": "busybox"},
                {"name": "b", "image": "busybox"}
            ]}
        }))
        .unwrap();
        pods.create(&PostParams::default(), &pod).await.unwrap();
        let base = "/api/v1/namespaces/default/pods/two";

        // Container choice.
        let (code, v, _) = get(&client, &format!("{base}/log"), &[]).await;
        assert_eq!(code, 400, "{v}");
        assert_eq!(
            v["message"],
            "a container name must be specified for pod two, choose one of: [a b]"
        );
        let (code, v, _) = get(&client, &format!("{base}/log?container=c"), &[]).await;
        assert_eq!(
            (code, v["message"].as_str()),
            (400, Some("container c is not valid for pod two"))
        );
        // PodLogOptions validation.
        let (code, v, _) = get(
            &client,
            &format!("{base}/log?container=a&tailLines=-1"),
            &[],
        )
        .await;
        assert_eq!((code, v["reason"].as_str()), (422, Some("Invalid")), "{v}");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .starts_with("PodLogOptions \"two\" is invalid: tailLines"),
            "{v}"
        );
        let (code, _, _) = get(
            &client,
            &format!("{base}/log?container=a&follow=maybe"),
            &[],
        )
        .await;
        assert_eq!(code, 400);
        // A pod without a node has an empty log (upstream).
        let (code, _, text) = get(&client, &format!("{base}/log?container=a"), &[]).await;
        assert_eq!((code, text.as_str()), (200, ""));
        let out = c.kubectl(&["logs", "two", "-c", "b"]).await.unwrap();
        assert!(out.status.success());
        assert!(out.stdout.is_empty());
        // exec needs a command and a node.
        let (code, v, _) = get(
            &client,
            &format!("{base}/exec?container=a&stdout=true"),
            &[],
        )
        .await;
        assert_eq!(
            (code, v["message"].as_str()),
            (400, Some("you must specify at least 1 command"))
        );
        let (code, v, _) = get(
            &client,
            &format!("{base}/exec?container=a&stdout=true&command=ls"),
            &[],
        )
        .await;
        assert_eq!(
            (code, v["message"].as_str()),
            (400, Some("pod two does not have a host assigned"))
        );
        // WebSocket: v5 is served (translated), so a pod without a node
        // gets the same answer as over SPDY; an unknown subprotocol is
        // refused with a Status (client-go then falls back to SPDY), and
        // so is a malformed handshake.
        let ws = |protocol: &'static str, key: &'static str| {
            [
                ("connection", "Upgrade"),
                ("upgrade", "websocket"),
                ("sec-websocket-version", "13"),
                ("sec-websocket-key", key),
                ("sec-websocket-protocol", protocol),
            ]
        };
        let exec = format!("{base}/exec?container=a&stdout=true&command=ls");
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let (code, v, _) = get(&client, &exec, &ws("v5.channel.k8s.io", key)).await;
        assert_eq!(
            (code, v["message"].as_str()),
            (400, Some("pod two does not have a host assigned")),
            "{v}"
        );
        let (code, v, _) = get(&client, &exec, &ws("chat.example.com", key)).await;
        assert_eq!((code, v["kind"].as_str()), (400, Some("Status")), "{v}");
        assert!(
            v["message"].as_str().unwrap().contains("are not supported"),
            "{v}"
        );
        let (code, v, _) = get(&client, &exec, &ws("v5.channel.k8s.io", "short")).await;
        assert_eq!(code, 400, "{v}");
        assert!(
            v["message"].as_str().unwrap().contains("Sec-WebSocket-Key"),
            "{v}"
        );
        let (code, _, _) = get(&client, "/api/v1/namespaces/default/pods/missing/log", &[]).await;
        assert_eq!(code, 404);

        // A node without a preferred address.
        let nodes: Api<Node> = Api::all(client.clone());
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "n1"}})).unwrap();
        nodes.create(&PostParams::default(), &node).await.unwrap();
        // (kube-rs retries 503s, so ask with kubectl.)
        let out = c
            .kubectl(&["get", "--raw", "/api/v1/nodes/n1/proxy/healthz"])
            .await
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            err.contains("(ServiceUnavailable)") && err.contains("no preferred addresses found"),
            "{err}"
        );
        // RBAC: reading pods does not allow pods/log.
        let alice = c.token_kubeconfig("alice-token").unwrap();
        let out = c
            .kubectl_with(
                &alice,
                &["get", "--raw", &format!("{base}/log?container=a")],
            )
            .await
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(
                "cannot get resource \"pods/log\" in API group \"\" in the namespace \"default\""
            ),
            "{err}"
        );
    })
}
