//! Bad input gets the upstream Status code and a clear message; the server
//! keeps serving and nothing stored changes.

use corten_e2e::TestCluster;
use corten_e2e::fixtures::send_raw;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::PostParams;
use kube::{Api, ResourceExt};
use serde_json::json;

/// method, path, content type, body, expected code, expected reason.
type Case = (
    &'static str,
    String,
    &'static str,
    Vec<u8>,
    u16,
    &'static str,
);

#[tokio::test]
async fn malformed_requests_get_upstream_statuses() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let keep = cms
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": "keep"}, "data": {"k": "v"}}))
                    .unwrap(),
            )
            .await
            .unwrap();
        let base = "/api/v1/namespaces/default/configmaps";

        let cases: Vec<Case> = vec![
            (
                "POST",
                base.into(),
                "application/json",
                b"{not json".to_vec(),
                400,
                "BadRequest",
            ),
            (
                "POST",
                base.into(),
                "application/yaml",
                b"a: [unclosed".to_vec(),
                400,
                "BadRequest",
            ),
            (
                "POST",
                base.into(),
                "application/json",
                b"[1,2]".to_vec(),
                400,
                "BadRequest",
            ),
            (
                "POST",
                base.into(),
                "application/json",
                serde_json::to_vec(
                    &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}),
                )
                .unwrap(),
                400,
                "BadRequest",
            ),
            (
                "POST",
                base.into(),
                "application/json",
                serde_json::to_vec(&json!({"metadata": {"name": "x", "namespace": "other"}}))
                    .unwrap(),
                400,
                "BadRequest",
            ),
            (
                "POST",
                base.into(),
                "application/json",
                serde_json::to_vec(&json!({"metadata": {"name": "Bad_Name"}})).unwrap(),
                422,
                "Invalid",
            ),
            (
                "POST",
                base.into(),
                "application/json",
                serde_json::to_vec(&json!({"metadata": {"name": "x"}, "data": "not-a-map"}))
                    .unwrap(),
                400,
                "BadRequest",
            ),
            (
                "POST",
                base.into(),
                "application/json",
                serde_json::to_vec(&json!({"metadata": {"name": "keep"}})).unwrap(),
                409,
                "AlreadyExists",
            ),
            (
                "POST",
                base.into(),
                "application/json",
                {
                    let mut v = b"{\"metadata\":{\"name\":\"big\"},\"data\":{\"a\":\"".to_vec();
                    v.extend(std::iter::repeat_n(b'x', 4 * 1024 * 1024));
                    v.extend(b"\"}}");
                    v
                },
                413,
                "RequestEntityTooLarge",
            ),
            (
                "POST",
                base.into(),
                "text/plain",
                b"hello".to_vec(),
                415,
                "UnsupportedMediaType",
            ),
            (
                "GET",
                "/api/v1/namespaces/default/widgets".into(),
                "application/json",
                vec![],
                404,
                "NotFound",
            ),
            (
                "GET",
                format!("{base}?labelSelector=a%20in%20(b"),
                "application/json",
                vec![],
                400,
                "BadRequest",
            ),
            (
                "GET",
                format!("{base}?fieldSelector=spec.nope%3Dx"),
                "application/json",
                vec![],
                400,
                "BadRequest",
            ),
            (
                "GET",
                format!("{base}?resourceVersion=abc"),
                "application/json",
                vec![],
                400,
                "BadRequest",
            ),
            (
                "GET",
                format!("{base}?resourceVersionMatch=Exact"),
                "application/json",
                vec![],
                422,
                "Invalid",
            ),
            (
                "GET",
                format!("{base}?continue=garbage"),
                "application/json",
                vec![],
                400,
                "BadRequest",
            ),
            (
                "PUT",
                format!("{base}/keep"),
                "application/json",
                serde_json::to_vec(&json!({"metadata": {"name": "other"}})).unwrap(),
                400,
                "BadRequest",
            ),
            (
                "PUT",
                format!("{base}/keep"),
                "application/json",
                serde_json::to_vec(&json!({"metadata": {"name": "keep", "resourceVersion": "1"}}))
                    .unwrap(),
                409,
                "Conflict",
            ),
            (
                "PATCH",
                format!("{base}/keep"),
                "application/merge-patch+json",
                b"[".to_vec(),
                400,
                "BadRequest",
            ),
            (
                "PATCH",
                format!("{base}/keep"),
                "application/json-patch+json",
                serde_json::to_vec(&json!([{"op": "test", "path": "/data/k", "value": "nope"}]))
                    .unwrap(),
                422,
                "Invalid",
            ),
            (
                "PATCH",
                format!("{base}/keep"),
                "application/merge-patch+json",
                serde_json::to_vec(&json!({"metadata": {"name": "Bad_Name"}})).unwrap(),
                400,
                "BadRequest",
            ),
            (
                "DELETE",
                format!("{base}/keep"),
                "application/json",
                serde_json::to_vec(&json!({"preconditions": {"uid": "not-the-uid"}})).unwrap(),
                409,
                "Conflict",
            ),
            (
                "DELETE",
                format!("{base}/keep"),
                "application/json",
                serde_json::to_vec(&json!({"propagationPolicy": "Sideways"})).unwrap(),
                422,
                "Invalid",
            ),
            (
                "GET",
                format!("{base}/missing"),
                "application/json",
                vec![],
                404,
                "NotFound",
            ),
            (
                "POST",
                "/api/v1/namespaces/nope/configmaps".into(),
                "application/json",
                serde_json::to_vec(&json!({"metadata": {"name": "x"}})).unwrap(),
                404,
                "NotFound",
            ),
        ];
        for (method, path, ct, body, code, reason) in cases {
            let answer = send_raw(&client, method, &path, ct, body).await;
            let (got, status) = (answer.code, answer.body);
            assert_eq!(got, code, "{method} {path}: {status}");
            assert_eq!(status["kind"], "Status", "{method} {path}: {status}");
            assert_eq!(status["reason"], reason, "{method} {path}: {status}");
            assert!(
                !status["message"].as_str().unwrap_or("").is_empty(),
                "{status}"
            );
        }

        // The stored object is untouched and the server still serves.
        let now = cms.get("keep").await.unwrap();
        assert_eq!(now.resource_version(), keep.resource_version());
        assert_eq!(now.data, keep.data);
        let code = send_raw(&client, "GET", "/readyz", "text/plain", vec![])
            .await
            .code;
        assert_eq!(code, 200);
    });
}

#[tokio::test]
async fn metrics_pass_promtool() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        // Some traffic so request metrics have samples.
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let _ = cms.list(&Default::default()).await.unwrap();
        let text = client
            .request_text(http::Request::get("/metrics").body(Vec::new()).unwrap())
            .await
            .unwrap();
        for name in [
            "apiserver_request_total",
            "apiserver_request_duration_seconds_bucket",
            "apiserver_storage_objects",
            "etcd_request_duration_seconds_bucket",
            "kubernetes_build_info",
            "process_resident_memory_bytes",
            "kubernetes_feature_enabled{name=\"SidecarContainers\",stage=\"\"} 1",
            "kubernetes_feature_enabled{name=\"MaxUnavailableStatefulSet\",stage=\"ALPHA\"} 0",
        ] {
            assert!(text.contains(name), "{name} missing from /metrics");
        }
        assert!(
            text.lines()
                .any(|l| l.starts_with("apiserver_request_total{")
                    && l.contains("verb=\"LIST\"")
                    && l.contains("resource=\"configmaps\"")
                    && l.contains("code=\"200\"")),
            "no LIST configmaps sample"
        );
        if std::path::Path::new("/usr/bin/promtool").exists() {
            use tokio::io::AsyncWriteExt;
            let mut child = tokio::process::Command::new("/usr/bin/promtool")
                .args(["check", "metrics"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(text.as_bytes()).await.unwrap();
            drop(stdin);
            let out = child.wait_with_output().await.unwrap();
            assert!(
                out.status.success(),
                "promtool: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    });
}
