//! Container log rotation with the real containerd: a container writing
//! past a small `containerLogMaxSize` gets its log rotated (renamed,
//! compressed, pruned to `containerLogMaxFiles`, reopened through CRI)
//! while `kubectl logs`, `logs -f` and `logs --previous` keep reading
//! correctly.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::control_plane::kubectl_ok;
use crate::harness::{Node, can_run, container, phase};

const LINES: u32 = 1500;

/// The numbers of `line <n> ...` lines; panics on anything else.
fn numbers(text: &str) -> Vec<u32> {
    text.lines()
        .map(|l| {
            l.strip_prefix("line ")
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected log line {l:?}"))
        })
        .collect()
}

/// Asserts `n, n+1, n+2, ...` (nothing lost or repeated).
fn assert_consecutive(numbers: &[u32], what: &str) {
    assert!(!numbers.is_empty(), "{what}: no lines");
    for pair in numbers.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "{what}: a gap or repeat at {pair:?}");
    }
}

fn rotated_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("0.log."))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn logs_rotate_past_the_max_size_and_kubectl_still_reads_them() {
    if !can_run() {
        return;
    }
    let test = async {
        let node = Node::start("node-logs", |config| {
            let f = &mut config.file;
            f.container_log_max_size = Some("4Ki".into());
            f.container_log_max_files = Some(3);
            f.container_log_monitor_interval = Some(Duration::from_secs(3));
        })
        .await;
        node.create_pod(&format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: chatty}}
spec:
  containers:
  - name: talker
    image: docker.io/library/busybox:latest
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "seq 0 {last} | while read i; do echo \"line $i {pad}\"; usleep 4000; done"]
"#,
            last = LINES - 1,
            pad = "x".repeat(100),
        ))
        .await;
        let pod = node
            .wait_pod("chatty", "Running", Duration::from_secs(60), |p| {
                phase(p) == "Running"
            })
            .await;
        // Follow from the start: across every rotation until the container exits.
        let mut follow = tokio::process::Command::new(corten_e2e::KUBECTL)
            .args([
                "--kubeconfig",
                &node.cluster.kubeconfig.display().to_string(),
            ])
            .args(["logs", "-f", "chatty"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("kubectl logs -f");
        let uid = pod.metadata.uid.clone().unwrap();
        let dir: PathBuf = node
            .root
            .path()
            .join("logs")
            .join(format!("default_chatty_{uid}"))
            .join("talker");

        // Rotations happen while the container runs: a compressed file
        // appears, and never more than max files - 1 rotated ones.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let rotated = rotated_files(&dir);
            assert!(rotated.len() <= 2, "more than max files: {rotated:?}");
            if rotated.iter().any(|n| n.ends_with(".gz")) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no compressed rotated log in {}: {rotated:?}",
                dir.display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // The current file holds only what came after the last rotation.
        let logs = kubectl_ok(&node, &["logs", "chatty"]).await;
        let current = numbers(&logs);
        assert_consecutive(&current, "kubectl logs");
        assert!(
            current[0] > 0,
            "the first lines were rotated away: {}",
            current[0]
        );

        // The follower saw every line, in order, through the rotations.
        let mut stdout = follow.stdout.take().unwrap();
        let mut followed = String::new();
        tokio::time::timeout(
            Duration::from_secs(60),
            stdout.read_to_string(&mut followed),
        )
        .await
        .expect("kubectl logs -f ends when the container exits")
        .unwrap();
        let _ = follow.wait().await;
        let followed = numbers(&followed);
        assert_consecutive(&followed, "kubectl logs -f");
        assert_eq!(*followed.last().unwrap(), LINES - 1);
        assert!(followed.len() > current.len());

        // After the restart, --previous reads the exited container's file.
        node.wait_pod("chatty", "restarted", Duration::from_secs(60), |p| {
            container(p, "talker").is_some_and(|c| c.restart_count >= 1)
        })
        .await;
        let previous = numbers(&kubectl_ok(&node, &["logs", "--previous", "chatty"]).await);
        assert_consecutive(&previous, "kubectl logs --previous");
        assert_eq!(*previous.last().unwrap(), LINES - 1);
        let rotated = rotated_files(&dir);
        assert!(
            rotated.len() <= 2 && rotated.iter().filter(|n| !n.ends_with(".gz")).count() <= 1,
            "{rotated:?}"
        );
        node.shutdown().await;
    };
    tokio::time::timeout(Duration::from_secs(240), test)
        .await
        .expect("test timed out");
}
