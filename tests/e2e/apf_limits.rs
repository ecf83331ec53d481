//! API Priority and Fairness limits: a `Reject` priority level with one
//! seat refuses a second concurrent request of its flow with upstream's
//! 429 (`TooManyRequests`, `Retry-After: 1`, the PF headers), while exempt
//! requests (the admin) and other levels go on; the
//! `apiserver_flowcontrol_*` metrics count what happened. alice speaks
//! through curl: kube-rs and kubectl would retry a 429 themselves.

use std::time::Duration;

use corten_e2e::TestCluster;
use kube::Client;
use serde_json::{Value, json};

/// GET `path` as `alice` with curl (kube-rs and kubectl retry a 429 by
/// themselves): status, Retry-After and the FlowSchema UID header.
async fn get_as_alice(c: &TestCluster, path: &str) -> (u16, String, String) {
    let (cert, key) = c.client_cert_files("alice", &[]).unwrap();
    let out = tokio::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-D", "-", "--cacert"])
        .arg(c.ca_file())
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .arg(format!("{}{path}", c.url))
        .output()
        .await
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout).to_string();
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let header = |n: &str| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(n).then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    (
        code,
        header("Retry-After"),
        header("X-Kubernetes-PF-FlowSchema-UID"),
    )
}

async fn create(client: &Client, path: &str, body: Value) -> Value {
    let req = http::Request::post(path)
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(&body).unwrap())
        .unwrap();
    serde_json::from_str(&client.request_text(req).await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_level_refuses_beyond_its_seat_with_429() {
    crate::with_timeout!(async {
        // A server limit of 1: every limited level gets one seat.
        let c = TestCluster::start_with(&[
            "--max-requests-inflight=1",
            "--max-mutating-requests-inflight=0",
        ])
        .await
        .unwrap();
        let client = c.client().await.unwrap();
        c.kubectl_ok(&[
            "create",
            "clusterrolebinding",
            "alice-view",
            "--clusterrole=view",
            "--user=alice",
        ])
        .await
        .unwrap();
        let base = "/apis/flowcontrol.apiserver.k8s.io/v1";
        create(
            &client,
            &format!("{base}/prioritylevelconfigurations"),
            json!({"metadata": {"name": "narrow"}, "spec": {"type": "Limited",
                "limited": {"nominalConcurrencyShares": 1, "limitResponse": {"type": "Reject"}}}}),
        )
        .await;
        let fs = create(
            &client,
            &format!("{base}/flowschemas"),
            json!({"metadata": {"name": "narrow"}, "spec": {
                "priorityLevelConfiguration": {"name": "narrow"}, "matchingPrecedence": 100,
                "rules": [{"subjects": [{"kind": "User", "user": {"name": "alice"}}],
                           "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"],
                               "resources": ["*"], "namespaces": ["*"], "clusterScope": true}]}]}}),
        )
        .await;
        let fs_uid = fs["metadata"]["uid"].as_str().unwrap().to_string();

        // alice's requests land in `narrow`.
        let ok_path = "/api/v1/namespaces/default/configmaps";
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (code, _, uid) = get_as_alice(&c, ok_path).await;
            if uid == fs_uid {
                assert_eq!(code, 200);
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "never classified");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // A GET at a future resourceVersion waits (up to 3 s) for the
        // cache, holding narrow's only seat meanwhile.
        let blocker = {
            let (cert, key) = c.client_cert_files("alice", &[]).unwrap();
            tokio::process::Command::new("curl")
                .args(["-s", "-o", "/dev/null", "--cacert"])
                .arg(c.ca_file())
                .arg("--cert")
                .arg(&cert)
                .arg("--key")
                .arg(&key)
                .arg(format!(
                    "{}/api/v1/namespaces/default/configmaps/x?resourceVersion=999999999",
                    c.url
                ))
                .spawn()
                .unwrap()
        };
        let mut blocker = blocker;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            blocker.try_wait().unwrap().is_none(),
            "the blocking request still runs"
        );
        let (code, retry_after, uid) = get_as_alice(&c, ok_path).await;
        assert_eq!(
            (code, retry_after.as_str(), uid.as_str()),
            (429, "1", fs_uid.as_str())
        );
        // Exempt requests are not held back.
        let req = http::Request::get(ok_path)
            .body(kube::client::Body::empty())
            .unwrap();
        assert_eq!(client.send(req).await.unwrap().status().as_u16(), 200);
        blocker.wait().await.unwrap();
        // The seat is free again.
        assert_eq!(get_as_alice(&c, ok_path).await.0, 200);

        let req = http::Request::get("/metrics").body(Vec::new()).unwrap();
        let metrics = client.request_text(req).await.unwrap();
        for line in [
            r#"apiserver_flowcontrol_rejected_requests_total{flow_schema="narrow",priority_level="narrow",reason="concurrency-limit"} 1"#,
            r#"apiserver_flowcontrol_nominal_limit_seats{priority_level="narrow"} 1"#,
            r#"apiserver_flowcontrol_current_executing_requests{flow_schema="narrow",priority_level="narrow"} 0"#,
        ] {
            assert!(metrics.lines().any(|l| l == line), "missing {line}");
        }
        assert!(
            metrics.lines().any(|l| l.starts_with(
                r#"apiserver_flowcontrol_dispatched_requests_total{flow_schema="narrow",priority_level="narrow"}"#
            )),
            "dispatched counted"
        );
    });
}
