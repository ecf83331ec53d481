//! The `kube-scheduler` binary: flag and configuration errors exit 64 with
//! the offending field named; a running binary serves health and metrics.

use std::process::Stdio;
use std::time::Duration;

use corten_e2e::TestCluster;
use serde_json::json;

use crate::support::{create_node, create_pod, wait_bound, wait_for};
use crate::with_timeout;

const BIN: &str = env!("CARGO_BIN_EXE_kube-scheduler");

fn run(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_flags_and_configs_exit_64() {
    let (code, err) = run(&["--tls-cert-file=/x"]);
    assert_eq!(code, 64);
    assert!(err.contains("flag --tls-cert-file is an upstream kube-scheduler flag that Corten does not implement yet"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: x\n  plugins:\n    score:\n      enabled:\n      - name: NodeResourcesFitt\n").unwrap();
    let (code, err) = run(&[&format!("--config={}", path.display())]);
    assert_eq!(code, 64);
    assert!(
        err.contains(
            "profiles[0].plugins: score.enabled[0].name: Invalid value: \"NodeResourcesFitt\""
        ),
        "{err}"
    );
    std::fs::write(&path, "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\npodMaxBackoffSecond: 3\n").unwrap();
    let (code, err) = run(&[&format!("--config={}", path.display())]);
    assert_eq!(code, 64);
    assert!(err.contains("unknown field `podMaxBackoffSecond`"), "{err}");
    let written = dir.path().join("out.yaml");
    let (code, _) = run(&[
        &format!("--write-config-to={}", written.display()),
        "--leader-elect=false",
    ]);
    assert_eq!(code, 0);
    let text = std::fs::read_to_string(&written).unwrap();
    assert!(text.contains("schedulerName: default-scheduler"), "{text}");
    assert!(text.contains("leaderElect: false"), "{text}");
}

async fn http_get(port: u16, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn the_binary_schedules_and_serves_metrics() {
    with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        create_node(&client, "n1", "4", "8Gi", json!({}), json!([])).await;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = tokio::process::Command::new(BIN)
            .args([
                &format!("--kubeconfig={}", cluster.kubeconfig.display()),
                "--bind-address=127.0.0.1",
                &format!("--secure-port={port}"),
                "--leader-elect-lease-duration=5s",
                "--leader-elect-renew-deadline=3s",
                "--leader-elect-retry-period=1s",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // /healthz fails (sched-handler-sync) until the informers have
        // synced, so poll until it answers 200.
        let health = wait_for("/healthz", Duration::from_secs(30), || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()?;
            let health = http_get(port, "/healthz?verbose").await;
            health.starts_with("HTTP/1.1 200").then_some(health)
        })
        .await;
        assert!(health.contains("[+]leaderElection ok"), "{health}");
        create_pod(&client, "p", "100m", json!({}), json!({})).await;
        assert_eq!(wait_bound(&client, "p").await, "n1");
        let metrics = wait_for("the scheduled attempt in /metrics", Duration::from_secs(20), || async move {
            let text = http_get(port, "/metrics").await;
            text.contains("scheduler_schedule_attempts_total{profile=\"default-scheduler\",result=\"scheduled\"} 1").then_some(text)
        })
        .await;
        for name in [
            "scheduler_scheduling_attempt_duration_seconds_bucket",
            "scheduler_pending_pods{queue=\"active\"}",
            "scheduler_pod_scheduling_sli_duration_seconds_bucket",
            "scheduler_framework_extension_point_duration_seconds_bucket",
            "scheduler_preemption_attempts_total",
            "leader_election_master_status{name=\"kube-scheduler\"} 1",
            "kubernetes_build_info",
        ] {
            assert!(metrics.contains(name), "{name} missing from /metrics");
        }
        let ready = http_get(port, "/readyz?verbose").await;
        assert!(ready.contains("[+]sched-handler-sync ok"), "{ready}");
        let pid = child.id().unwrap();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "{status:?}");
    });
}
