//! The `kube-controller-manager` binary: flag errors, the ops endpoints
//! (HTTPS with delegated authentication and authorization),
//! and a graceful SIGTERM that releases the Lease.

use std::process::Stdio;
use std::time::Duration;

use corten_e2e::TestCluster;
use corten_e2e::secure_port::{Caller, assert_delegated_auth, https_get};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use tokio::io::AsyncReadExt;

use crate::support::{wait_for, write_cluster_ca};

const BINARY: &str = env!("CARGO_BIN_EXE_kube-controller-manager");

async fn run_to_exit(args: &[&str]) -> (i32, String, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(BINARY)
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the binary did not exit")
    .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn bad_flags_are_rejected_with_exit_64() {
    crate::with_timeout!(async {
        let cases: [(&[&str], &str); 10] = [
            (
                &["--feature-gates=Foo=true"],
                "invalid argument \"Foo=true\" for \"--feature-gates\" flag: unrecognized feature gate: Foo",
            ),
            (
                &[
                    "--feature-gates=WatchList=true",
                    "--feature-gates=JobSuccessPolicy=false",
                ],
                "cannot set feature gate JobSuccessPolicy to false, feature is locked to true",
            ),
            (
                &["--feature-gates=MaxUnavailableStatefulSet=maybe"],
                "invalid value of MaxUnavailableStatefulSet=maybe, err: strconv.ParseBool: parsing \"maybe\": invalid syntax",
            ),
            (
                &["--controllers=*,bogus"],
                "\"bogus\" is not in the list of known controllers",
            ),
            (
                &["--controllers=*,persistentvolume-expander"],
                "controller \"persistentvolume-expander-controller\" is an upstream kube-controller-manager controller that Corten does not implement yet",
            ),
            (
                &["--cloud-config=/etc/cloud.conf"],
                "flag --cloud-config is an upstream kube-controller-manager flag that Corten does not implement yet",
            ),
            (
                &["--leader-elect-lease-duration=5s"],
                "leaseDuration must be greater than renewDeadline",
            ),
            (
                &["--leader-elect-retry-period=soon"],
                "invalid duration \"soon\"",
            ),
            (&["--no-such-flag"], "--no-such-flag"),
            (
                &["--root-ca-file=/nonexistent/ca.crt"],
                "error reading root-ca-file at /nonexistent/ca.crt",
            ),
        ];
        for (args, message) in cases {
            let (code, _, stderr) = run_to_exit(args).await;
            assert_eq!(code, 64, "{args:?}: {stderr}");
            assert!(stderr.contains(message), "{args:?}: {stderr}");
        }
        let (code, stdout, _) = run_to_exit(&["--help"]).await;
        assert_eq!(code, 0);
        for flag in [
            "--controllers",
            "--leader-elect",
            "--root-ca-file",
            "--secure-port",
            "--concurrent-namespace-syncs",
        ] {
            assert!(stdout.contains(flag), "{flag} missing from --help");
        }
        let (code, stdout, _) = run_to_exit(&["--version"]).await;
        assert_eq!(code, 0);
        assert!(stdout.contains("v1.33.0-corten"), "{stdout}");
    });
}

/// `GET` on the secure port, anonymously (the health paths are open).
async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    https_get(port, path, &Caller::Anonymous).await
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn serves_health_and_metrics_and_releases_the_lease_on_sigterm() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let ca = write_cluster_ca(&cluster);
        let port = free_port();
        // No --client-ca-file: the client CA is looked up where the
        // apiserver publishes it (created here if it has not done so yet).
        let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
        let authentication: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "extension-apiserver-authentication"},
            "data": {"client-ca-file": cluster.ca_pem()},
        }))
        .unwrap();
        match configmaps
            .create(&Default::default(), &authentication)
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => panic!("creating the authentication ConfigMap: {e}"),
        }
        let published = configmaps
            .get("extension-apiserver-authentication")
            .await
            .unwrap();
        assert_eq!(
            published.data.unwrap()["client-ca-file"].trim(),
            cluster.ca_pem().trim()
        );
        let mut child = tokio::process::Command::new(BINARY)
            .arg(format!("--kubeconfig={}", cluster.kubeconfig.display()))
            .arg(format!("--root-ca-file={}", ca.display()))
            .arg(format!("--secure-port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg("--leader-elect-lease-duration=30s")
            .arg("--leader-elect-renew-deadline=20s")
            .arg("--leader-elect-retry-period=1s")
            .arg("--feature-gates=MaxUnavailableStatefulSet=true,KMSv1=false")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // Drain stderr as it comes, so the pipe never fills.
        let mut pipe = child.stderr.take().unwrap();
        let stderr_task = tokio::spawn(async move {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text).await;
            text
        });

        let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
        let holder = wait_for(
            "the binary to take the Lease",
            Duration::from_secs(30),
            || {
                let leases = leases.clone();
                async move {
                    let spec = leases
                        .get_opt("kube-controller-manager")
                        .await
                        .unwrap()?
                        .spec?;
                    spec.holder_identity.filter(|h| !h.is_empty())
                }
            },
        )
        .await;
        let (host, uuid) = holder.rsplit_once('_').unwrap();
        assert!(!host.is_empty() && uuid.len() == 36, "{holder}");

        let (code, body) = wait_for("/healthz", Duration::from_secs(20), || {
            http_get(port, "/healthz")
        })
        .await;
        assert_eq!((code, body.as_str()), (200, "ok"));
        let (_, verbose) = http_get(port, "/healthz?verbose").await.unwrap();
        assert!(verbose.contains("[+]leaderElection ok"), "{verbose}");
        for path in ["/livez", "/readyz"] {
            assert_eq!(http_get(port, path).await.unwrap().0, 200, "{path}");
        }
        let metrics = wait_for("controller metrics", Duration::from_secs(30), || async {
            let (_, body) = admin_get(&cluster, port, "/metrics").await?;
            // The first sync of the root CA publisher is done (not just queued).
            body.contains("root_ca_cert_publisher_sync_total{code=\"200\"}")
                .then_some(body)
        })
        .await;
        for wanted in [
            "leader_election_master_status{name=\"kube-controller-manager\"} 1",
            "workqueue_depth{name=\"namespace\"}",
            "workqueue_queue_duration_seconds_bucket{name=\"serviceaccount\"",
            "workqueue_work_duration_seconds_count{name=\"root_ca_cert_publisher\"}",
            "workqueue_retries_total",
            "workqueue_unfinished_work_seconds",
            "workqueue_longest_running_processor_seconds",
            "root_ca_cert_publisher_sync_total{code=\"200\"}",
            "kubernetes_build_info{",
            "kubernetes_feature_enabled{name=\"MaxUnavailableStatefulSet\",stage=\"ALPHA\"} 1",
            "kubernetes_feature_enabled{name=\"KMSv1\",stage=\"DEPRECATED\"} 0",
            "kubernetes_feature_enabled{name=\"JobSuccessPolicy\",stage=\"\"} 1",
            "process_resident_memory_bytes",
        ] {
            assert!(
                metrics.contains(wanted),
                "{wanted} missing from /metrics:\n{metrics}"
            );
        }

        assert_delegated_auth(&cluster, port).await.unwrap();

        // SIGTERM: controllers stop, the Lease is released, exit 0.
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("no exit after SIGTERM")
            .unwrap();
        let stderr = stderr_task.await.unwrap();
        assert!(status.success(), "exit {status}: {stderr}");
        assert!(stderr.contains("released leader lease"), "{stderr}");
        let spec = leases
            .get("kube-controller-manager")
            .await
            .unwrap()
            .spec
            .unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some(""));
        assert_eq!(spec.lease_duration_seconds, Some(1));
        assert!(
            http_get(port, "/healthz").await.is_none(),
            "still serving after exit"
        );
    });
}
