//! A whole one-node cluster driven by the real kubectl: apiserver,
//! kube-scheduler and kube-controller-manager (their own identities, the
//! controllers with ServiceAccount credentials) and our
//! kubelet over the real containerd. `kubectl create deployment` leads to
//! Running pods on the node; `logs`, `logs -f`, `exec`, `exec -i`,
//! `attach`, `port-forward` (over WebSocket, kubectl's default:
//! `kubectl_websocket.rs`) and `get -o wide` go through the apiserver's
//! kubelet proxy as on upstream; `delete` stops the containers.

use std::process::Stdio;

use std::time::Duration;

use corten_cri::service::RuntimeService;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::control_plane::{ControlPlane, kubectl, kubectl_ok};
use crate::harness::{Node, can_run, http_get};

const IMAGE: &str = corten_cri::local_images::TESTSERVER_PINNED_IMAGE;

/// Waits for `n` Running and Ready pods of `app=web`; returns them.
async fn running_web_pods(node: &Node, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let out = kubectl_ok(node, &["get", "pods", "-l", "app=web", "-o", "json"]).await;
        let list: Value = serde_json::from_str(&out).expect("pod list");
        let items = list["items"].as_array().cloned().unwrap_or_default();
        let ready: Vec<Value> = items
            .iter()
            .filter(|p| {
                p["status"]["phase"] == "Running"
                    && p["status"]["conditions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
            .cloned()
            .collect();
        if ready.len() == n && items.len() == n {
            return ready;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never got {n} running web pods: {out}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Spawns a kubectl child with the cluster's kubeconfig.
fn spawn_kubectl(node: &Node, args: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(corten_e2e::KUBECTL)
        .arg(format!(
            "--kubeconfig={}",
            node.cluster.kubeconfig.display()
        ))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn kubectl")
}

/// Reads lines from `child`'s stdout until one satisfies `want`.
async fn read_until(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    what: &str,
    want: impl Fn(&str) -> bool,
) -> String {
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if want(&line) {
                return Some(line);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(line)) => line,
        _ => panic!("kubectl never printed {what}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kubectl_deployment_logs_exec_port_forward_and_delete() {
    if !can_run() {
        return;
    }
    let node = Node::start("node-k", |_| {}).await;
    let control = ControlPlane::start(
        &node,
        "replicaset-controller,deployment-controller,garbage-collector-controller,\
         endpointslice-controller",
    )
    .await;
    // A failed assertion must not skip the orderly teardown: with the
    // kubelet and the controllers still running, containers would be
    // recreated while containerd is being cleaned up.
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
        tokio::time::timeout(Duration::from_secs(300), scenario(&node)),
    ))
    .await;
    control.stop().await;
    node.shutdown().await;
    match result {
        Ok(finished) => finished.expect("the scenario timed out"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

async fn scenario(node: &Node) {
    kubectl_ok(
        node,
        &[
            "create",
            "deployment",
            "web",
            &format!("--image={IMAGE}"),
            "--replicas=2",
        ],
    )
    .await;
    let pods = running_web_pods(node, 2).await;
    let names: Vec<String> = pods
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    for p in &pods {
        assert_eq!(p["spec"]["nodeName"], "node-k");
        assert_eq!(
            p["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
    }
    // The controllers worked under their own ServiceAccounts.
    let sas = kubectl_ok(
        node,
        &["get", "serviceaccounts", "-n", "kube-system", "-o", "name"],
    )
    .await;
    for sa in [
        "replicaset-controller",
        "deployment-controller",
        "generic-garbage-collector",
    ] {
        assert!(sas.contains(&format!("serviceaccount/{sa}\n")), "{sas}");
    }
    let pod = names[0].as_str();
    let pod_ip = pods[0]["status"]["podIP"].as_str().unwrap().to_string();

    // get -o wide: the node and pod IP columns, as upstream prints them.
    let wide = kubectl_ok(node, &["get", "pods", "-o", "wide"]).await;
    let header = wide.lines().next().unwrap();
    for column in [
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "IP",
        "NODE",
        "NOMINATED NODE",
        "READINESS GATES",
    ] {
        assert!(header.contains(column), "{wide}");
    }
    let row = wide.lines().find(|l| l.starts_with(pod)).expect("pod row");
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cols[1..3], ["1/1", "Running"], "{wide}");
    assert_eq!(cols[5], pod_ip, "{wide}");
    assert_eq!(cols[6], "node-k", "{wide}");

    // Logs.
    let logs = kubectl_ok(node, &["logs", pod]).await;
    assert!(logs.contains("testserver listening on :8080"), "{logs}");
    let logs = kubectl_ok(
        node,
        &["logs", "deployment/web", "--tail=1", "--timestamps"],
    )
    .await;
    assert_eq!(logs.lines().count(), 1, "{logs}");
    assert!(logs.starts_with("20"), "timestamps: {logs}");
    let (ok, _, err) = kubectl(node, &["logs", pod, "-c", "nope"]).await;
    assert!(!ok);
    assert!(
        err.contains(&format!("container nope is not valid for pod {pod}")),
        "{err}"
    );
    let (ok, _, err) = kubectl(node, &["logs", "missing-pod"]).await;
    assert!(!ok);
    assert!(err.contains("pods \"missing-pod\" not found"), "{err}");

    // logs -f streams new lines as they are written.
    let mut follow = spawn_kubectl(node, &["logs", "-f", pod]);
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    read_until(&mut lines, "the startup line", |l| l.contains("listening")).await;
    let (code, _) = http_get(&pod_ip, 8080, "/echo?marker=follow-me")
        .await
        .expect("pod http");
    assert_eq!(code, 200);
    read_until(&mut lines, "the request logged after -f started", |l| {
        l.contains("follow-me")
    })
    .await;
    let _ = follow.kill().await;

    // exec, with and without stdin.
    let out = kubectl_ok(node, &["exec", pod, "--", "echo", "hi"]).await;
    assert_eq!(out, "hi\n");
    let out = node
        .cluster
        .kubectl_stdin(
            &["exec", "-i", pod, "--", "cat"],
            Some("hello from stdin\n"),
        )
        .await
        .expect("kubectl exec -i");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from stdin\n");
    let (ok, _, err) = kubectl(node, &["exec", pod, "--", "sh", "-c", "exit 3"]).await;
    assert!(!ok);
    assert!(err.contains("command terminated with exit code 3"), "{err}");

    // The same over WebSocket, kubectl's default, checked to not fall back.
    crate::kubectl_websocket::check(node, pod, &pod_ip).await;
    // services/proxy to these pods.
    crate::service_proxy::check(node, &names).await;

    // kubectl 1.32 and 1.33 both speak WebSocket (v5.channel.k8s.io).
    for version in ["1.32", "1.33"] {
        let binary = format!("/usr/lib/google-cloud-sdk/bin/kubectl.{version}");
        if !std::path::Path::new(&binary).exists() {
            continue;
        }
        let mut child = tokio::process::Command::new(&binary)
            .arg(format!(
                "--kubeconfig={}",
                node.cluster.kubeconfig.display()
            ))
            .args(["exec", "-i", pod, "--", "sh", "-c", "cat; echo done"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("kubectl");
        {
            use tokio::io::AsyncWriteExt;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(version.as_bytes()).await.unwrap();
        }
        let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .expect("kubectl exec timed out")
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl {version}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{version}done\n")
        );
    }

    // port-forward to the pod's port 8080.
    let mut forward = spawn_kubectl(node, &["port-forward", &format!("pod/{pod}"), ":8080"]);
    let mut lines = BufReader::new(forward.stdout.take().unwrap()).lines();
    let line = read_until(&mut lines, "Forwarding from", |l| {
        l.starts_with("Forwarding from 127.0.0.1:")
    })
    .await;
    let local: u16 = line
        .trim_start_matches("Forwarding from 127.0.0.1:")
        .split(' ')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("local port");
    let (code, body) = http_get("127.0.0.1", local, "/")
        .await
        .expect("forwarded http");
    assert_eq!(code, 200);
    assert!(
        body.contains(pod),
        "the pod answers with its hostname: {body}"
    );
    let _ = forward.kill().await;

    // RBAC: the subresources are authorized like upstream (`get pods/log`,
    // `create pods/exec`); "nobody" may only read pods.
    kubectl_ok(
        node,
        &[
            "create",
            "role",
            "pod-reader",
            "--verb=get,list",
            "--resource=pods",
        ],
    )
    .await;
    kubectl_ok(
        node,
        &[
            "create",
            "rolebinding",
            "nobody-reads",
            "--role=pod-reader",
            "--user=nobody",
        ],
    )
    .await;
    let nobody = node.cluster.user_kubeconfig("nobody", &[]).unwrap();
    for (args, verb, sub) in [
        (vec!["logs", pod], "get", "pods/log"),
        (vec!["exec", pod, "--", "true"], "create", "pods/exec"),
        (
            vec!["port-forward", pod, ":8080"],
            "create",
            "pods/portforward",
        ),
    ] {
        let out = node.cluster.kubectl_with(&nobody, &args).await.unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            err.contains(&format!(
                "pods \"{pod}\" is forbidden: User \"nobody\" cannot {verb} resource \"{sub}\" in API group \"\" in the namespace \"default\""
            )),
            "{args:?}: {err}"
        );
    }

    // Delete the deployment: the pods go and their containers stop.
    let runtime = node.containerd.as_ref().unwrap().runtime();
    let running_web = || async {
        runtime
            .list_containers(None)
            .await
            .expect("list containers")
            .into_iter()
            .filter(|c| {
                c.labels
                    .get("io.kubernetes.pod.name")
                    .is_some_and(|n| names.contains(n))
                    && c.state == corten_cri::api::ContainerState::ContainerRunning as i32
            })
            .count()
    };
    assert_eq!(running_web().await, 2);
    kubectl_ok(node, &["delete", "deployment", "web"]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let left = kubectl_ok(node, &["get", "pods", "-l", "app=web", "-o", "name"]).await;
        if left.trim().is_empty() && running_web().await == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pods or containers left after delete: {left}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
