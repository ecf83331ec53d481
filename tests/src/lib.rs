//! Harness for end-to-end tests: a real etcd, the apiserver (in-process,
//! serving real TLS on a loopback port), the real `/usr/bin/kubectl` and a
//! kube-rs client. Everything is torn down when the [`TestCluster`] drops,
//! even if the test fails.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine;
use clap::Parser;
use corten_storage::testing::EtcdServer;
use tokio::sync::oneshot;

/// The kubectl binary the tests drive.
pub const KUBECTL: &str = "/usr/bin/kubectl";

/// A CA and a serving certificate for 127.0.0.1/localhost.
struct TestPki {
    ca_pem: String,
    cert_path: PathBuf,
    key_path: PathBuf,
    /// An admin client certificate (CN=kubernetes-admin, O=system:masters).
    admin_cert_pem: String,
    admin_key_pem: String,
}

fn write_pki(dir: &Path) -> Result<TestPki> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "corten-test-ca");
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])?;
    params
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    let cert = params.signed_by(&key, &issuer)?;
    let admin_key = KeyPair::generate()?;
    let mut admin = CertificateParams::new(Vec::<String>::new())?;
    admin
        .distinguished_name
        .push(DnType::CommonName, "kubernetes-admin");
    admin
        .distinguished_name
        .push(DnType::OrganizationName, "system:masters");
    admin.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let admin_cert = admin.signed_by(&admin_key, &issuer)?;
    let cert_path = dir.join("apiserver.crt");
    let key_path = dir.join("apiserver.key");
    std::fs::write(&cert_path, cert.pem())?;
    std::fs::write(&key_path, key.serialize_pem())?;
    Ok(TestPki {
        ca_pem: ca_cert.pem(),
        cert_path,
        key_path,
        admin_cert_pem: admin_cert.pem(),
        admin_key_pem: admin_key.serialize_pem(),
    })
}

/// A running etcd + apiserver pair for one test.
pub struct TestCluster {
    /// The etcd the apiserver stores into.
    pub etcd: EtcdServer,
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    /// kubeconfig for kubectl and kube-rs.
    pub kubeconfig: PathBuf,
    dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<Result<()>>>,
}

impl TestCluster {
    /// Starts etcd and an apiserver with default flags plus `extra_flags`.
    pub async fn start() -> Result<TestCluster> {
        Self::start_with(&[]).await
    }

    /// Starts with extra kube-apiserver flags.
    pub async fn start_with(extra_flags: &[&str]) -> Result<TestCluster> {
        let etcd = EtcdServer::start().await.context("starting etcd")?;
        let dir = tempfile::tempdir()?;
        let pki = write_pki(dir.path())?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let mut args = vec![
            "kube-apiserver".to_string(),
            format!("--etcd-servers={}", etcd.endpoint()),
            format!("--secure-port={port}"),
            "--bind-address=127.0.0.1".into(),
            format!("--tls-cert-file={}", pki.cert_path.display()),
            format!("--tls-private-key-file={}", pki.key_path.display()),
            "--service-cluster-ip-range=10.96.0.0/16".into(),
            "--advertise-address=127.0.0.1".into(),
        ];
        args.extend(extra_flags.iter().map(|s| s.to_string()));
        let config = corten_apiserver::options::Options::try_parse_from(&args)?
            .complete()
            .map_err(|e| anyhow::anyhow!(e))?;
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(corten_apiserver::run_on(listener, config, async move {
            let _ = rx.await;
        }));
        let url = format!("https://127.0.0.1:{port}");
        let kubeconfig = dir.path().join("kubeconfig");
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
        let ca_b64 = b64(&pki.ca_pem);
        let cert_b64 = b64(&pki.admin_cert_pem);
        let key_b64 = b64(&pki.admin_key_pem);
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {url}\n    certificate-authority-data: {ca_b64}\nusers:\n- name: test\n  user:\n    client-certificate-data: {cert_b64}\n    client-key-data: {key_b64}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: test\ncurrent-context: test\n"
            ),
        )?;
        let mut cluster = TestCluster {
            etcd,
            url,
            kubeconfig,
            dir,
            shutdown: Some(tx),
            server: Some(server),
        };
        cluster.wait_ready().await?;
        Ok(cluster)
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if self.server.as_ref().is_some_and(|h| h.is_finished())
                && let Some(h) = self.server.take()
            {
                match h.await {
                    Ok(Err(e)) => bail!("the apiserver exited during startup: {e:#}"),
                    other => bail!("the apiserver exited during startup: {other:?}"),
                }
            }
            if let Ok(client) = self.client().await {
                let req = http::Request::get("/readyz").body(Vec::new())?;
                if let Ok(text) = client.request_text(req).await
                    && text.trim() == "ok"
                {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() > deadline {
                bail!("the apiserver did not become ready in 30s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A kube-rs client for this cluster.
    pub async fn client(&self) -> Result<kube::Client> {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig)?;
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
        Ok(kube::Client::try_from(cfg)?)
    }

    /// Runs kubectl with this cluster's kubeconfig (and an isolated cache
    /// dir so tests never share discovery caches).
    pub async fn kubectl(&self, args: &[&str]) -> Result<Output> {
        self.kubectl_stdin(args, None).await
    }

    /// Runs kubectl feeding `stdin`.
    pub async fn kubectl_stdin(&self, args: &[&str], stdin: Option<&str>) -> Result<Output> {
        use tokio::io::AsyncWriteExt;
        let mut cmd = tokio::process::Command::new(KUBECTL);
        cmd.arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .arg(format!(
                "--cache-dir={}",
                self.dir.path().join("kube-cache").display()
            ))
            .args(args)
            .env_remove("KUBECONFIG")
            .stdin(if stdin.is_some() {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().context("running kubectl")?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes()).await?;
            drop(pipe);
        }
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .context("kubectl timed out")??;
        Ok(out)
    }

    /// Runs kubectl and returns stdout, failing with stderr if it failed.
    pub async fn kubectl_ok(&self, args: &[&str]) -> Result<String> {
        let out = self.kubectl(args).await?;
        if !out.status.success() {
            bail!(
                "kubectl {} failed: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A temp directory private to this cluster.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            h.abort();
        }
    }
}
