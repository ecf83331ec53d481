//! The `kube-scheduler` binary: flag and configuration errors exit 64 with
//! the offending field named; a running binary serves health and metrics
//! over HTTPS with delegated authentication and authorization.

use std::process::Stdio;
use std::time::Duration;

use corten_e2e::TestCluster;
use corten_e2e::secure_port::{Caller, assert_delegated_auth, https_get};
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
    let (code, err) = run(&["--contention-profiling"]);
    assert_eq!(code, 64);
    assert!(err.contains("flag --contention-profiling is an upstream kube-scheduler flag that Corten does not implement yet"), "{err}");
    // Not a URL: refused before any client is built (kube-rs would panic
    // on a URL without a scheme).
    let (code, err) = run(&["--master=ftp://x"]);
    assert_eq!(code, 64);
    assert!(err.contains("invalid --master \"ftp://x\""), "{err}");
    let (code, err) = run(&["--tls-min-version=VersionTLS14"]);
    assert_eq!(code, 64);
    assert!(
        err.contains("--tls-min-version: unknown tls version \"VersionTLS14\""),
        "{err}"
    );
    let (code, err) = run(&["--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_FOO"]);
    assert_eq!(code, 64);
    assert!(
        err.contains("Cipher suite TLS_FOO not supported or doesn't exist"),
        "{err}"
    );
    let (code, err) = run(&["--tls-cert-file=/x"]);
    assert_eq!(code, 64);
    assert!(
        err.contains("--tls-cert-file and --tls-private-key-file must be given together"),
        "{err}"
    );
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
    // `--feature-gates` is validated as upstream (message, exit 64).
    let (code, err) = run(&["--feature-gates=Foo=true"]);
    assert_eq!(code, 64);
    assert!(
        err.contains("invalid argument \"Foo=true\" for \"--feature-gates\" flag: unrecognized feature gate: Foo"),
        "{err}"
    );
    let (code, err) = run(&["--feature-gates=SidecarContainers=false"]);
    assert_eq!(code, 64);
    assert!(
        err.contains(
            "cannot set feature gate SidecarContainers to false, feature is locked to true"
        ),
        "{err}"
    );
    let written = dir.path().join("out.yaml");
    let (code, err) = run(&[
        &format!("--write-config-to={}", written.display()),
        "--leader-elect=false",
        "--feature-gates=SchedulerAsyncPreemption=false,AllAlpha=true",
        "--feature-gates=SchedulerQueueingHints=true",
    ]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&written).unwrap();
    assert!(text.contains("schedulerName: default-scheduler"), "{text}");
    assert!(text.contains("leaderElect: false"), "{text}");
}

/// `GET` as the cluster admin (a system:masters client certificate).
async fn admin_get(cluster: &TestCluster, port: u16, path: &str) -> Option<(u16, String)> {
    let (cert, key) = cluster
        .client_cert_files("kubernetes-admin", &["system:masters"])
        .ok()?;
    let caller = Caller::Certificate(
        std::fs::read_to_string(cert).ok()?,
        std::fs::read_to_string(key).ok()?,
    );
    https_get(port, path, &caller).await
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
        // The scheduler's own identity (as `corten up` and kubeadm run it):
        // its RBAC role must allow scheduling and the delegated TokenReviews
        // and SubjectAccessReviews of its secure port.
        let kubeconfig = cluster
            .user_kubeconfig("system:kube-scheduler", &[])
            .unwrap();
        let mut child = tokio::process::Command::new(BIN)
            .args([
                &format!("--kubeconfig={}", kubeconfig.display()),
                "--bind-address=127.0.0.1",
                &format!("--secure-port={port}"),
                &format!("--client-ca-file={}", cluster.ca_file().display()),
                "--leader-elect-lease-duration=5s",
                "--leader-elect-renew-deadline=3s",
                "--leader-elect-retry-period=1s",
                "--feature-gates=MaxUnavailableStatefulSet=true",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // /healthz fails (sched-handler-sync) until the informers have
        // synced, so poll until it answers 200.
        let health = wait_for("/healthz", Duration::from_secs(30), || async {
            let (code, body) = https_get(port, "/healthz?verbose", &Caller::Anonymous).await?;
            (code == 200).then_some(body)
        })
        .await;
        assert!(health.contains("[+]leaderElection ok"), "{health}");
        create_pod(&client, "p", "100m", json!({}), json!({})).await;
        assert_eq!(wait_bound(&client, "p").await, "n1");
        let metrics = wait_for("the scheduled attempt in /metrics", Duration::from_secs(20), || async {
            let (_, text) = admin_get(&cluster, port, "/metrics").await?;
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
            "kubernetes_feature_enabled{name=\"MaxUnavailableStatefulSet\",stage=\"ALPHA\"} 1",
            "kubernetes_feature_enabled{name=\"SidecarContainers\",stage=\"\"} 1",
            "kubernetes_feature_enabled{name=\"PodLevelResources\",stage=\"ALPHA\"} 0",
        ] {
            assert!(metrics.contains(name), "{name} missing from /metrics");
        }
        let (_, ready) = https_get(port, "/readyz?verbose", &Caller::Anonymous)
            .await
            .unwrap();
        assert!(ready.contains("[+]sched-handler-sync ok"), "{ready}");
        assert_delegated_auth(&cluster, port).await.unwrap();
        // What an admin types: curl with the admin's client certificate
        // (OpenSSL as the client); anonymous curl gets upstream's indented
        // Status.
        let (cert, key) = cluster
            .client_cert_files("kubernetes-admin", &["system:masters"])
            .unwrap();
        let url = format!("https://127.0.0.1:{port}/metrics");
        let curl = |args: Vec<String>| async move {
            let out = tokio::process::Command::new("curl")
                .args(["-sk", "-w", "\n%{http_code}"])
                .args(args)
                .output()
                .await
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let admin = curl(vec![
            "--cert".into(),
            cert.display().to_string(),
            "--key".into(),
            key.display().to_string(),
            url.clone(),
        ])
        .await;
        assert!(
            admin.ends_with("\n200") && admin.contains("scheduler_schedule_attempts_total"),
            "{admin}"
        );
        let anonymous = curl(vec![url]).await;
        assert!(
            anonymous.contains("\"message\": \"forbidden: User \\\"system:anonymous\\\" cannot get path \\\"/metrics\\\"\",\n")
                && anonymous.ends_with("\n403"),
            "{anonymous}"
        );
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
