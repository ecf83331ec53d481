//! More of the everyday kubectl session: watch tables, wait, delete
//! variants, output formats and sorting.

use std::time::Duration;

use corten_e2e::{KUBECTL, TestCluster};
use tokio::io::{AsyncBufReadExt, BufReader};

const CM: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: NAME
  labels:
    tier: "TIER"
data:
  k: v
"#;

fn cm(name: &str, tier: &str) -> String {
    CM.replace("NAME", name).replace("TIER", tier)
}

async fn next(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> String {
    tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn get_watch_prints_table_rows() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        c.kubectl_stdin(&["create", "-f", "-"], Some(&cm("a", "x")))
            .await
            .unwrap();
        let mut child = tokio::process::Command::new(KUBECTL)
            .arg(format!("--kubeconfig={}", c.kubeconfig.display()))
            .arg(format!("--cache-dir={}", c.dir().join("wcache").display()))
            .args(["get", "configmaps", "-w"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(c.dir().join("watch.err")).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let header = match tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await {
            Ok(Ok(Some(l))) => l,
            other => panic!(
                "no header: {other:?}; stderr: {}",
                std::fs::read_to_string(c.dir().join("watch.err")).unwrap_or_default()
            ),
        };
        assert_eq!(
            header.split_whitespace().collect::<Vec<_>>(),
            ["NAME", "DATA", "AGE"]
        );
        let mut saw_a = false;
        for _ in 0..3 {
            let l = next(&mut lines).await;
            if l.starts_with("a ") || l.starts_with("a\t") {
                saw_a = true;
                break;
            }
        }
        assert!(saw_a);
        c.kubectl_stdin(&["create", "-f", "-"], Some(&cm("b", "y")))
            .await
            .unwrap();
        let mut saw_b = false;
        for _ in 0..5 {
            let l = match tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await {
                Ok(Ok(Some(l))) => l,
                other => panic!(
                    "no row for b: {other:?}; stderr: {}",
                    std::fs::read_to_string(c.dir().join("watch.err")).unwrap_or_default()
                ),
            };
            let cells: Vec<&str> = l.split_whitespace().collect();
            if cells.first() == Some(&"b") {
                assert_eq!(cells[1], "1", "{l}");
                saw_b = true;
                break;
            }
        }
        assert!(saw_b);
        child.kill().await.unwrap();
    });
}

#[tokio::test]
async fn wait_delete_variants_and_output_formats() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        for (n, t) in [("c1", "front"), ("c2", "back"), ("c3", "back")] {
            c.kubectl_stdin(&["create", "-f", "-"], Some(&cm(n, t)))
                .await
                .unwrap();
        }
        // jsonpath, custom-columns, go-template, sort-by
        let out = c
            .kubectl_ok(&[
                "get",
                "cm",
                "-l",
                "tier",
                "-o",
                "jsonpath={range .items[*]}{.metadata.name} {end}",
            ])
            .await
            .unwrap();
        assert_eq!(out.trim(), "c1 c2 c3");
        let out = c
            .kubectl_ok(&[
                "get",
                "cm",
                "-l",
                "tier",
                "-o",
                "custom-columns=NAME:.metadata.name,TIER:.metadata.labels.tier",
            ])
            .await
            .unwrap();
        assert!(
            out.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["c2", "back"]),
            "{out}"
        );
        let out = c
            .kubectl_ok(&[
                "get",
                "cm",
                "c1",
                "-o",
                "go-template={{.metadata.labels.tier}}",
            ])
            .await
            .unwrap();
        assert_eq!(out, "front");
        let out = c
            .kubectl_ok(&[
                "get",
                "cm",
                "-l",
                "tier",
                "--sort-by=.metadata.labels.tier",
                "-o",
                "name",
            ])
            .await
            .unwrap();
        assert_eq!(out.lines().next(), Some("configmap/c2"), "{out}");

        // wait for a jsonpath condition on a resource changed concurrently.
        let waiter = {
            let kubeconfig = c.kubeconfig.clone();
            tokio::spawn(async move {
                tokio::process::Command::new(KUBECTL)
                    .arg(format!("--kubeconfig={}", kubeconfig.display()))
                    .args([
                        "wait",
                        "configmap/c1",
                        "--for=jsonpath={.data.k}=done",
                        "--timeout=30s",
                    ])
                    .output()
                    .await
                    .unwrap()
            })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        c.kubectl_ok(&[
            "patch",
            "cm",
            "c1",
            "--type=merge",
            "-p",
            r#"{"data":{"k":"done"}}"#,
        ])
        .await
        .unwrap();
        let out = waiter.await.unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        // wait --for=delete
        let waiter = {
            let kubeconfig = c.kubeconfig.clone();
            tokio::spawn(async move {
                tokio::process::Command::new(KUBECTL)
                    .arg(format!("--kubeconfig={}", kubeconfig.display()))
                    .args(["wait", "configmap/c3", "--for=delete", "--timeout=30s"])
                    .output()
                    .await
                    .unwrap()
            })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        c.kubectl_ok(&["delete", "cm", "c3"]).await.unwrap();
        let out = waiter.await.unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        // delete -l, delete --all (deletecollection or per-object, as kubectl decides)
        let out = c
            .kubectl_ok(&["delete", "cm", "-l", "tier=back"])
            .await
            .unwrap();
        assert!(out.contains("configmap \"c2\" deleted"), "{out}");
        let out = c.kubectl_ok(&["delete", "cm", "--all"]).await.unwrap();
        assert!(out.contains("configmap \"c1\" deleted"), "{out}");
        let out = c
            .kubectl_ok(&["get", "cm", "-l", "tier", "-o", "name"])
            .await
            .unwrap();
        assert_eq!(out.trim(), "");

        // --cascade=orphan records the orphan finalizer until a GC handles it.
        c.kubectl_stdin(&["create", "-f", "-"], Some(&cm("o1", "x")))
            .await
            .unwrap();
        let out = c
            .kubectl(&["delete", "cm", "o1", "--cascade=orphan", "--wait=false"])
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let fin = c
            .kubectl_ok(&["get", "cm", "o1", "-o", "jsonpath={.metadata.finalizers}"])
            .await
            .unwrap();
        assert!(fin.contains("orphan"), "{fin}");

        // cluster-info and version talk to the server.
        let out = c.kubectl_ok(&["cluster-info"]).await.unwrap();
        assert!(
            out.contains("Kubernetes control plane is running at"),
            "{out}"
        );
        let out = c.kubectl_ok(&["version", "-o", "json"]).await.unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["serverVersion"]["minor"], "33");
    });
}

#[tokio::test]
async fn health_checks_carry_upstreams_names() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let mut verbose = String::new();
        for _ in 0..100 {
            let out = c
                .kubectl(&["get", "--raw", "/readyz?verbose"])
                .await
                .unwrap();
            verbose = String::from_utf8_lossy(&out.stdout).into_owned();
            if out.status.success() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        for check in [
            "[+]ping ok",
            "[+]etcd ok",
            "[+]poststarthook/bootstrap-controller ok",
            "[+]poststarthook/rbac/bootstrap-roles ok",
            "[+]poststarthook/scheduling/bootstrap-system-priority-classes ok",
            "[+]poststarthook/kube-apiserver-autoregistration ok",
            "[+]autoregister-completion ok",
            "[+]shutdown ok",
            "readyz check passed",
        ] {
            assert!(verbose.contains(check), "{check} missing from:\n{verbose}");
        }
        // One check by name, and on /livez (which has no shutdown check).
        let one = c
            .kubectl_ok(&["get", "--raw", "/readyz/autoregister-completion"])
            .await
            .unwrap();
        assert_eq!(one.trim(), "ok");
        let livez = c
            .kubectl_ok(&["get", "--raw", "/livez?verbose"])
            .await
            .unwrap();
        assert!(livez.contains("[+]autoregister-completion ok"), "{livez}");
        assert!(!livez.contains("shutdown"), "{livez}");
    })
}
