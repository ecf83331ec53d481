//! kubectl's default streaming transport, WebSocket, end to end: exec and
//! attach over `v5.channel.k8s.io` (translated to SPDY by the apiserver)
//! and port-forward over the `SPDY/3.1+portforward.k8s.io` tunnel, against
//! the real containerd, with a TTY (resize), `kubectl cp` and the
//! apiserver's stream metrics. kubectl's own request log (`-v=6`) shows
//! that the WebSocket upgrade was answered and that it did not fall back
//! to SPDY.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::harness::{Node, http_get};

/// Runs kubectl with `-v=6`, optional stdin; returns (exit code, stdout,
/// stderr).
async fn kubectl_v6(node: &Node, args: &[&str], stdin: Option<&[u8]>) -> (i32, Vec<u8>, String) {
    let mut child = tokio::process::Command::new(corten_e2e::KUBECTL)
        .arg(format!(
            "--kubeconfig={}",
            node.cluster.kubeconfig.display()
        ))
        .arg("-v=6")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        let input = input.to_vec();
        tokio::spawn(async move {
            let _ = pipe.write_all(&input).await;
        });
    }
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("kubectl timed out")
        .expect("kubectl");
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts kubectl's `-v=6` log shows one WebSocket upgrade (a GET
/// answered `101`) for `subresource` and no SPDY retry (a POST) or
/// fallback.
fn assert_websocket(stderr: &str, subresource: &str) {
    let upgraded = stderr.lines().any(|l| {
        l.contains(r#"verb="GET""#)
            && l.contains(&format!("/{subresource}"))
            && l.contains("101 Switching Protocols")
    });
    assert!(
        upgraded,
        "no WebSocket upgrade for {subresource}:\n{stderr}"
    );
    assert!(
        !stderr.contains(r#"verb="POST""#) && !stderr.contains("fallback"),
        "kubectl fell back to SPDY for {subresource}:\n{stderr}"
    );
}

/// The WebSocket checks, on a running pod of the test server image.
pub async fn check(node: &Node, pod: &str, pod_ip: &str) {
    // exec: output, and the upgrade was WebSocket.
    let (code, out, err) = kubectl_v6(node, &["exec", pod, "--", "echo", "hi"], None).await;
    assert_eq!((code, out.as_slice()), (0, &b"hi\n"[..]), "{err}");
    assert_websocket(&err, "exec");
    assert!(
        err.contains("The subprotocol is v5.channel.k8s.io"),
        "{err}"
    );

    // stdout and stderr apart, and the exit code becomes kubectl's.
    let (code, out, err) = kubectl_v6(
        node,
        &[
            "exec",
            pod,
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 7",
        ],
        None,
    )
    .await;
    assert_eq!(code, 7, "{err}");
    assert_eq!(out, b"out\n");
    assert!(err.contains("\nerr\n"), "{err}");
    assert!(err.contains("command terminated with exit code 7"), "{err}");
    assert_websocket(&err, "exec");

    // exec -i: a large stdin is carried whole and its end (v5's close of
    // the stdin channel) reaches the command.
    let input: Vec<u8> = (0..3_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let (code, out, err) = kubectl_v6(
        node,
        &["exec", "-i", pod, "--", "sh", "-c", "cat; echo end"],
        Some(&input),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let mut want = input.clone();
    want.extend_from_slice(b"end\n");
    assert!(out == want, "stdin round trip: {} bytes back", out.len());
    assert_websocket(&err, "exec");

    // A TTY (through `script`, which gives kubectl a terminal): the
    // terminal size travels on the resize channel.
    let kubeconfig = node.cluster.kubeconfig.display().to_string();
    let command = format!(
        "stty cols 123 rows 45; {} --kubeconfig={kubeconfig} -v=6 exec -it {pod} -- sh -c 'sleep 1; stty size'",
        corten_e2e::KUBECTL
    );
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("kubectl exec -it timed out")
    .expect("script");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("45 123"), "terminal size: {text}");
    assert!(
        text.contains("The subprotocol is v5.channel.k8s.io"),
        "{text}"
    );

    // kubectl cp both ways (tar over exec's stdin and stdout).
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("payload.txt");
    std::fs::write(&local, "copied over a WebSocket\n").unwrap();
    let (code, _, err) = kubectl_v6(
        node,
        &[
            "cp",
            local.to_str().unwrap(),
            &format!("{pod}:/tmp/payload.txt"),
        ],
        None,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_websocket(&err, "exec");
    let back = dir.path().join("back.txt");
    let (code, _, err) = kubectl_v6(
        node,
        &[
            "cp",
            &format!("{pod}:/tmp/payload.txt"),
            back.to_str().unwrap(),
        ],
        None,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(&back).unwrap(),
        "copied over a WebSocket\n"
    );

    // attach: the container's output as it is written.
    let mut attach = tokio::process::Command::new(corten_e2e::KUBECTL)
        .arg(format!(
            "--kubeconfig={}",
            node.cluster.kubeconfig.display()
        ))
        .args(["-v=6", "attach", pod])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl attach");
    let mut lines = BufReader::new(attach.stdout.take().unwrap()).lines();
    let seen = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            // Each request is logged by the test server; ask until the
            // attached stream shows one (attach may start after a request).
            let _ = http_get(pod_ip, 8080, "/echo?marker=attached-here").await;
            let next = tokio::time::timeout(Duration::from_secs(1), lines.next_line()).await;
            match next {
                Ok(Ok(Some(line))) if line.contains("attached-here") => return true,
                Ok(Ok(None)) | Ok(Err(_)) => return false,
                _ => {}
            }
        }
    })
    .await;
    let _ = attach.start_kill();
    let out = attach.wait_with_output().await.expect("attach output");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        seen,
        Ok(true),
        "kubectl attach never showed the log line:\n{err}"
    );
    assert_websocket(&err, "attach");

    // port-forward through the tunnel, two connections on one session.
    let mut forward = tokio::process::Command::new(corten_e2e::KUBECTL)
        .arg(format!(
            "--kubeconfig={}",
            node.cluster.kubeconfig.display()
        ))
        .args(["-v=6", "port-forward", &format!("pod/{pod}"), ":8080"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl port-forward");
    let mut lines = BufReader::new(forward.stdout.take().unwrap()).lines();
    let local: u16 = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.strip_prefix("Forwarding from 127.0.0.1:") {
                return rest.split(' ').next().and_then(|p| p.parse().ok());
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .expect("kubectl port-forward printed its local port");
    for _ in 0..2 {
        let (code, body) = http_get("127.0.0.1", local, "/")
            .await
            .expect("forwarded http");
        assert_eq!(code, 200);
        assert!(
            body.contains(pod),
            "the pod answers with its hostname: {body}"
        );
    }
    let _ = forward.start_kill();
    let out = forward
        .wait_with_output()
        .await
        .expect("port-forward output");
    assert_websocket(&String::from_utf8_lossy(&out.stderr), "portforward");

    // The apiserver counts the sessions under upstream's metric names (a
    // session is counted when it ends, just after kubectl exits).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let out = node
            .cluster
            .kubectl(&["get", "--raw", "/metrics"])
            .await
            .expect("metrics");
        let text = String::from_utf8_lossy(&out.stdout);
        let count = |name: &str| -> f64 {
            text.lines()
                .find(|l| l.starts_with(&format!("{name}{{code=\"200\"}}")))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        };
        let translated = count("apiserver_stream_translator_requests_total");
        let tunneled = count("apiserver_stream_tunnel_requests_total");
        if translated >= 8.0 && tunneled >= 1.0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stream metrics: translated {translated}, tunneled {tunneled}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
