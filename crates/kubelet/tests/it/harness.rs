//! One node of a real cluster for a test: etcd + apiserver (in process),
//! a private containerd (own root, state, socket, CNI bridge and subnet,
//! local images imported) and our kubelet (in process), torn down in order
//! at the end, also when the test fails.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use corten_cri::instrumented::Instrumented;
use corten_cri::testing::TestContainerd;
use corten_e2e::TestCluster;
use corten_kubelet::config::KubeletConfig;
use corten_kubelet::kubelet::RunningKubelet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};

/// Unmounts whatever the kubelet mounted below its root (secret tmpfs)
/// before the temporary directory is removed.
struct UnmountGuard(PathBuf);

impl Drop for UnmountGuard {
    fn drop(&mut self) {
        corten_kubelet::volume::unmount_all_below(&self.0);
    }
}

/// A node under test. Field order is teardown order.
pub struct Node {
    /// The kubelet (None after shutdown).
    pub kubelet: Option<RunningKubelet>,
    /// Its containerd.
    pub containerd: Option<TestContainerd>,
    _unmount: UnmountGuard,
    /// The kubelet's root dir (also holds pod logs).
    pub root: tempfile::TempDir,
    /// The cluster.
    pub cluster: TestCluster,
    /// A client for the cluster.
    pub client: kube::Client,
    /// The node name.
    pub name: String,
    /// A client certificate (cert, key) the kubelet API accepts: an admin
    /// (O=system:masters) from the cluster CA.
    pub api_client_cert: (PathBuf, PathBuf),
}

/// Whether the real-containerd tests can run here; prints why not.
pub fn can_run() -> bool {
    match corten_cri::testing::available() {
        Ok(()) => true,
        Err(err) => {
            eprintln!("skipping: {err}");
            false
        }
    }
}

impl Node {
    /// Starts everything; `tweak` adjusts the kubelet config.
    pub async fn start(name: &str, tweak: impl FnOnce(&mut KubeletConfig)) -> Node {
        Node::start_in_netns(name, None, |_, config| tweak(config)).await
    }

    /// Like [`Node::start`] with containerd (so the CNI bridge and the
    /// pods' network) in the network namespace `netns`; `tweak` also sees
    /// the containerd (its pod subnet) before the kubelet starts.
    pub async fn start_in_netns(
        name: &str,
        netns: Option<&str>,
        tweak: impl FnOnce(&TestContainerd, &mut KubeletConfig),
    ) -> Node {
        let cluster = TestCluster::start().await.expect("cluster");
        let client = cluster.client().await.expect("client");
        let containerd = TestContainerd::start_in_netns(
            Some(Path::new(env!("CARGO_BIN_EXE_corten-testserver"))),
            netns,
        )
        .await
        .expect("containerd");
        let root = tempfile::tempdir().expect("tempdir");
        let mut config = KubeletConfig::for_node(name, root.path());
        let f = &mut config.file;
        f.address = Some("127.0.0.1".into());
        f.port = Some(0);
        f.healthz_port = Some(0);
        f.pod_logs_dir = Some(root.path().join("logs").display().to_string());
        f.cgroup_root = Some(containerd.cgroup_root.clone());
        f.container_runtime_endpoint = Some(containerd.endpoint());
        f.node_status_update_frequency = Some(Duration::from_secs(2));
        f.sync_frequency = Some(Duration::from_secs(5));
        config.node_ips = vec!["127.0.0.1".parse().expect("ip")];
        // The test machine's own disk usage must not evict test pods or
        // collect test images: only the memory threshold stays (tests that
        // exercise eviction and image GC simulate the usage they need).
        f.eviction_hard = Some([("memory.available".to_string(), "100Mi".to_string())].into());
        f.image_gc_high_threshold_percent = Some(100);
        f.image_gc_low_threshold_percent = Some(99);
        // Locked down like a kubeadm node: client certificates from the
        // cluster CA, SubjectAccessReview authorization.
        f.authentication
            .get_or_insert_with(Default::default)
            .x509
            .get_or_insert_with(Default::default)
            .client_ca_file = Some(cluster.ca_file().display().to_string());
        let api_client_cert = cluster
            .client_cert_files("kubelet-api-test", &["system:masters"])
            .expect("client cert");
        tweak(&containerd, &mut config);
        let runtime = Arc::new(Instrumented::new(containerd.runtime()));
        let kubelet = corten_kubelet::kubelet::start(config, Some(client.clone()), runtime)
            .await
            .expect("kubelet");
        Node {
            kubelet: Some(kubelet),
            containerd: Some(containerd),
            _unmount: UnmountGuard(root.path().to_path_buf()),
            root,
            cluster,
            client,
            name: name.to_string(),
            api_client_cert,
        }
    }

    /// `https://127.0.0.1:<port>` of the kubelet API.
    pub fn api_url(&self) -> String {
        let addr = self
            .kubelet
            .as_ref()
            .and_then(|k| k.api_addr)
            .expect("api addr");
        format!("https://{addr}")
    }

    /// GET on the kubelet API as an admin (its serving certificate is
    /// self-signed).
    pub async fn kubelet_get(&self, path: &str) -> (u16, String) {
        let (cert, key) = &self.api_client_cert;
        self.kubelet_get_as(
            path,
            &[
                "--cert",
                &cert.display().to_string(),
                "--key",
                &key.display().to_string(),
            ],
        )
        .await
    }

    /// GET on the kubelet API with extra curl arguments (credentials).
    pub async fn kubelet_get_as(&self, path: &str, creds: &[&str]) -> (u16, String) {
        let url = format!("{}{path}", self.api_url());
        let output = tokio::process::Command::new("curl")
            .args(["-sk", "--max-time", "20", "-w", "\n%{http_code}", &url])
            .args(creds)
            .output()
            .await
            .expect("curl");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    /// Creates a pod (YAML) bound to this node in `default`.
    pub async fn create_pod(&self, yaml: &str) -> Pod {
        let mut pod: Pod = serde_yaml::from_str(yaml).expect("pod yaml");
        pod.spec.as_mut().expect("spec").node_name = Some(self.name.clone());
        let api: Api<Pod> = Api::namespaced(self.client.clone(), "default");
        api.create(&PostParams::default(), &pod)
            .await
            .expect("create pod")
    }

    /// Waits until `check` holds for pod `name` (default namespace).
    pub async fn wait_pod(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        check: impl Fn(&Pod) -> bool,
    ) -> Pod {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), "default");
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let pod = api.get_opt(name).await.expect("get pod");
            if let Some(pod) = &pod
                && check(pod)
            {
                return pod.clone();
            }
            if tokio::time::Instant::now() > deadline {
                let containerd_log = self
                    .containerd
                    .as_ref()
                    .map(|c| c.log())
                    .unwrap_or_default();
                let tail: String = containerd_log
                    .lines()
                    .rev()
                    .take(30)
                    .collect::<Vec<_>>()
                    .join("\n");
                panic!(
                    "timed out waiting for pod {name}: {what}\npod: {}\ncontainerd log (newest first):\n{tail}",
                    serde_json::to_string_pretty(&pod).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops the kubelet and containerd (removing every sandbox).
    pub async fn shutdown(mut self) {
        if let Some(kubelet) = self.kubelet.take() {
            kubelet.stop().await;
        }
        if let Some(containerd) = self.containerd.take() {
            containerd.shutdown().await;
        }
    }
}

/// The phase of a pod.
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// A pod condition's status.
pub fn condition<'a>(pod: &'a Pod, kind: &str) -> Option<&'a str> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
        .map(|c| c.status.as_str())
}

/// The status of container `name`.
pub fn container<'a>(
    pod: &'a Pod,
    name: &str,
) -> Option<&'a k8s_openapi::api::core::v1::ContainerStatus> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == name)
}

/// GET `http://<ip>:<port><path>` (pod IPs on the test's own bridge only).
pub async fn http_get(ip: &str, port: u16, path: &str) -> Result<(u16, String), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let work = async {
        let mut stream = tokio::net::TcpStream::connect((ip, port))
            .await
            .map_err(|e| e.to_string())?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {ip}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .await
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&response).into_owned();
        let code = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok((code, body))
    };
    tokio::time::timeout(Duration::from_secs(5), work)
        .await
        .map_err(|_| "timeout".to_string())?
}

/// Runs `command` in a container through the kubelet's `/exec` endpoint with
/// the WebSocket `v4.channel.k8s.io` protocol. Returns (stdout, status frame).
pub async fn ws_exec(
    node: &Node,
    pod: &str,
    container: &str,
    command: &[&str],
) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = node
        .kubelet
        .as_ref()
        .and_then(|k| k.api_addr)
        .expect("api addr");
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let tls = tokio_rustls::TlsConnector::from(insecure_tls(&node.api_client_cert));
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut stream = tls.connect(name, tcp).await.expect("tls");
    let query: String = command.iter().map(|c| format!("command={c}&")).collect();
    let request = format!(
        "GET /exec/default/{pod}/{container}?{query}stdout=1&stderr=1 HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut buf).await.expect("read");
        assert!(
            n > 0,
            "closed before the response: {}",
            String::from_utf8_lossy(&data)
        );
        data.extend_from_slice(&buf[..n]);
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_string();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut frames = data[head_end..].to_vec();
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => frames.extend_from_slice(&buf[..n]),
        }
    }
    let (mut stdout, mut status) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i + 2 <= frames.len() {
        let opcode = frames[i] & 0x0f;
        let mut len = usize::from(frames[i + 1] & 0x7f);
        let mut at = i + 2;
        if len == 126 {
            len = usize::from(u16::from_be_bytes([frames[at], frames[at + 1]]));
            at += 2;
        } else if len == 127 {
            let mut b = [0u8; 8];
            b.copy_from_slice(&frames[at..at + 8]);
            len = usize::try_from(u64::from_be_bytes(b)).unwrap_or(0);
            at += 8;
        }
        if at + len > frames.len() {
            break;
        }
        let payload = &frames[at..at + len];
        if (opcode == 1 || opcode == 2) && !payload.is_empty() {
            match payload[0] {
                1 => stdout.extend_from_slice(&payload[1..]),
                3 => status.extend_from_slice(&payload[1..]),
                _ => {}
            }
        }
        i = at + len;
    }
    (
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&status).into_owned(),
    )
}

fn insecure_tls(client_cert: &(PathBuf, PathBuf)) -> Arc<rustls::ClientConfig> {
    #[derive(Debug)]
    struct AcceptAll(Arc<rustls::crypto::CryptoProvider>);
    impl rustls::client::danger::ServerCertVerifier for AcceptAll {
        fn verify_server_cert(
            &self,
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &[rustls::pki_types::CertificateDer<'_>],
            _: &rustls::pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            m: &[u8],
            c: &rustls::pki_types::CertificateDer<'_>,
            d: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            m: &[u8],
            c: &rustls::pki_types::CertificateDer<'_>,
            d: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAll(provider)));
    let cert_pem = std::fs::read(&client_cert.0).expect("client cert");
    let key_pem = std::fs::read(&client_cert.1).expect("client key");
    let certs = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .expect("certs");
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .expect("key")
        .expect("a key");
    let mut config = config
        .with_client_auth_cert(certs, key)
        .expect("client auth");
    // HTTP/1.1 only: the upgrade needs it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}
