//! Sysctl admission with the real containerd: safe and allowed unsafe
//! sysctls reach the pod's sandbox, others are rejected with
//! `SysctlForbidden` before anything runs.

use std::time::Duration;

use crate::harness::{Node, can_run, phase, ws_exec};

const TIMEOUT: Duration = Duration::from_secs(60);

fn pod(name: &str, sysctl: &str, value: &str, host_network: bool) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  hostNetwork: {host_network}
  securityContext:
    sysctls: [{{name: {sysctl}, value: "{value}"}}]
  containers:
  - name: main
    image: docker.io/library/busybox:latest
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
"#
    )
}

#[tokio::test]
async fn safe_and_allowed_sysctls_run_others_are_forbidden() {
    if !can_run() {
        return;
    }
    let test = async {
        let node = Node::start("node-sysctl", |config| {
            config.file.allowed_unsafe_sysctls = Some(vec!["net.core.*".into()]);
        })
        .await;
        node.create_pod(&pod(
            "safe",
            "net.ipv4.ip_unprivileged_port_start",
            "80",
            false,
        ))
        .await;
        node.create_pod(&pod("unsafe-allowed", "net.core.somaxconn", "1234", false))
            .await;
        node.create_pod(&pod("unsafe", "kernel.msgmax", "65536", false))
            .await;
        node.create_pod(&pod("host-net", "net.ipv4.tcp_syncookies", "1", true))
            .await;
        for (name, message) in [
            (
                "unsafe",
                "Pod was rejected: forbidden sysctl: \"kernel.msgmax\" not allowlisted",
            ),
            (
                "host-net",
                "Pod was rejected: forbidden sysctl: \"net.ipv4.tcp_syncookies\" not allowed with host Net enabled",
            ),
        ] {
            let rejected = node
                .wait_pod(name, "rejected", TIMEOUT, |p| phase(p) == "Failed")
                .await;
            let status = rejected.status.unwrap();
            assert_eq!(status.reason.as_deref(), Some("SysctlForbidden"));
            assert_eq!(status.message.as_deref(), Some(message));
            assert!(
                status
                    .container_statuses
                    .unwrap_or_default()
                    .iter()
                    .all(|c| c.container_id.is_none())
            );
        }
        for (name, file, value) in [
            (
                "safe",
                "/proc/sys/net/ipv4/ip_unprivileged_port_start",
                "80",
            ),
            ("unsafe-allowed", "/proc/sys/net/core/somaxconn", "1234"),
        ] {
            node.wait_pod(name, "Running", TIMEOUT, |p| phase(p) == "Running")
                .await;
            let (stdout, _) = ws_exec(&node, name, "main", &["cat", file]).await;
            assert_eq!(stdout.trim(), value, "{name}");
        }
        node.shutdown().await;
    };
    tokio::time::timeout(Duration::from_secs(240), test)
        .await
        .expect("test timed out");
}
