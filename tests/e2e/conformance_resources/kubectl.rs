//! sig-cli entries with the real /usr/bin/kubectl: version, cluster-info,
//! run, proxy on port zero and on a unix socket.

use corten_e2e::TestCluster;

/// Sends a plain HTTP/1.0 GET over `stream` and returns the whole answer.
async fn http_get<S>(mut stream: S, path: &str) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let req = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    out
}

/// Starts `kubectl proxy` with `args` (killed when dropped) and returns
/// the child and its first stdout line.
async fn kubectl_proxy(c: &TestCluster, args: &[&str]) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(corten_e2e::KUBECTL)
        .arg(format!("--kubeconfig={}", c.kubeconfig.display()))
        .arg("proxy")
        .args(args)
        .env_remove("KUBECONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = lines.next_line().await.unwrap().unwrap_or_default();
    (child, line)
}

/// "Kubectl, version", "Kubectl, check version v1", "Kubectl, cluster
/// info", "Kubectl, run pod", "Kubectl, proxy port zero", "Kubectl, proxy
/// socket", with the real /usr/bin/kubectl.
#[tokio::test]
async fn kubectl_conformance_commands() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let out = c.kubectl_ok(&["version"]).await.unwrap();
        assert!(
            out.contains("Client Version") && out.contains("Server Version"),
            "{out}"
        );
        let versions = c.kubectl_ok(&["api-versions"]).await.unwrap();
        assert!(versions.lines().any(|l| l == "v1"), "{versions}");
        let out = c.kubectl_ok(&["cluster-info"]).await.unwrap();
        assert!(out.contains("Kubernetes control plane"), "{out}");

        c.kubectl_ok(&[
            "run",
            "e2e-test-httpd-pod",
            "--restart=Never",
            "--pod-running-timeout=2m0s",
            "--image=registry.k8s.io/e2e-test-images/httpd:2.4.38-4",
        ])
        .await
        .unwrap();
        let image = c
            .kubectl_ok(&[
                "get",
                "pod",
                "e2e-test-httpd-pod",
                "-o",
                "jsonpath={.spec.containers[0].image}",
            ])
            .await
            .unwrap();
        assert_eq!(image, "registry.k8s.io/e2e-test-images/httpd:2.4.38-4");

        let (_proxy, line) = kubectl_proxy(&c, &["-p", "0", "--disable-filter"]).await;
        let addr = line
            .strip_prefix("Starting to serve on ")
            .unwrap_or_else(|| panic!("{line}"))
            .to_string();
        let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let answer = http_get(tcp, "/api/").await;
        assert!(
            answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
            "{answer}"
        );
        assert!(answer.contains("\"APIVersions\""), "{answer}");

        let socket = c.dir().join("proxy.sock");
        let socket_arg = format!("--unix-socket={}", socket.display());
        let (_proxy, line) = kubectl_proxy(&c, &[&socket_arg]).await;
        assert!(line.contains("Starting to serve on"), "{line}");
        let unix = tokio::net::UnixStream::connect(&socket).await.unwrap();
        let answer = http_get(unix, "/api/").await;
        assert!(answer.contains("\"APIVersions\""), "{answer}");
    });
}
