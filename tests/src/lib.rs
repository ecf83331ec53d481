//! Harness for end-to-end tests: a real etcd, the apiserver (in-process,
//! serving real TLS on a loopback port), the real `/usr/bin/kubectl` and a
//! kube-rs client. Everything is torn down when the [`TestCluster`] drops,
//! even if the test fails.
//!
//! The apiserver runs locked down like a kubeadm cluster
//! (`--authorization-mode=Node,RBAC`, client certificates, ServiceAccount
//! tokens, the static tokens of [`TEST_TOKENS`]); the default kubeconfig is
//! an admin (O=system:masters) that may do anything. Other identities:
//! [`TestCluster::user_kubeconfig`] (a client certificate for any user and
//! groups), [`TestCluster::token_kubeconfig`] (any bearer token) and
//! [`TestCluster::anonymous_kubeconfig`]. Like upstream's integration test
//! servers, the admission plugins whose work a controller must finish are
//! off by default: ServiceAccount (nothing creates `default`
//! ServiceAccounts without a controller-manager), TaintNodesByCondition
//! (nothing removes the `not-ready` taint of new Nodes without the node
//! lifecycle controller) and StorageObjectInUseProtection (nothing removes
//! the protection finalizers of claims and volumes without the
//! `pvc-protection`/`pv-protection` controllers). A test passing its own
//! `--disable-admission-plugins` replaces that list.

pub mod extension_server;
pub mod fixtures;
pub mod procstat;
pub mod secure_port;
pub mod webhook_server;

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

/// Static bearer tokens every test cluster accepts (`--token-auth-file`):
/// (token, user, groups).
pub const TEST_TOKENS: &[(&str, &str, &[&str])] = &[
    ("alice-token", "alice", &[]),
    ("bob-token", "bob", &["dev"]),
    ("carol-token", "carol", &["dev", "ops"]),
];

/// The ServiceAccount token issuer of test clusters.
pub const SA_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// A CA and a serving certificate for 127.0.0.1/localhost.
struct TestPki {
    ca_pem: String,
    ca_key_pem: String,
    cert_path: PathBuf,
    key_path: PathBuf,
    /// An admin client certificate (CN=kubernetes-admin, O=system:masters).
    admin_cert_pem: String,
    admin_key_pem: String,
}

/// Issues a client certificate (CN=user, O=groups) signed by the test CA.
fn client_cert(
    ca_pem: &str,
    ca_key_pem: &str,
    user: &str,
    groups: &[&str],
) -> Result<(String, String)> {
    use rcgen::{CertificateParams, DnType, Issuer, KeyPair};
    let issuer = Issuer::from_ca_cert_pem(ca_pem, KeyPair::from_pem(ca_key_pem)?)?;
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, user);
    for g in groups {
        params.distinguished_name.push(DnType::OrganizationName, *g);
    }
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
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
    // The apiserver's identity towards kubelets (kubeadm's
    // apiserver-kubelet-client: CN=kube-apiserver-kubelet-client,
    // O=system:masters).
    let (kubelet_client_cert, kubelet_client_key) = client_cert(
        &ca_cert.pem(),
        &issuer.key().serialize_pem(),
        "kube-apiserver-kubelet-client",
        &["system:masters"],
    )?;
    std::fs::write(
        dir.join("apiserver-kubelet-client.crt"),
        kubelet_client_cert,
    )?;
    std::fs::write(dir.join("apiserver-kubelet-client.key"), kubelet_client_key)?;
    std::fs::write(&cert_path, cert.pem())?;
    std::fs::write(&key_path, key.serialize_pem())?;
    Ok(TestPki {
        ca_pem: ca_cert.pem(),
        ca_key_pem: issuer.key().serialize_pem(),
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
    ca_pem: String,
    ca_key_pem: String,
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
        let ca_path = dir.path().join("ca.crt");
        std::fs::write(&ca_path, &pki.ca_pem)?;
        let tokens_path = dir.path().join("tokens.csv");
        let tokens: String = TEST_TOKENS
            .iter()
            .enumerate()
            .map(|(i, (t, u, g))| format!("{t},{u},{},\"{}\"\n", 1000 + i, g.join(",")))
            .collect();
        std::fs::write(&tokens_path, tokens)?;
        let sa_key = rcgen::KeyPair::generate()?;
        let (sa_key_path, sa_pub_path) = (dir.path().join("sa.key"), dir.path().join("sa.pub"));
        std::fs::write(&sa_key_path, sa_key.serialize_pem())?;
        std::fs::write(&sa_pub_path, sa_key.public_key_pem())?;
        let mut args = vec![
            "kube-apiserver".to_string(),
            format!("--etcd-servers={}", etcd.endpoint()),
            format!("--secure-port={port}"),
            "--bind-address=127.0.0.1".into(),
            format!("--tls-cert-file={}", pki.cert_path.display()),
            format!("--tls-private-key-file={}", pki.key_path.display()),
            "--service-cluster-ip-range=10.96.0.0/16".into(),
            "--advertise-address=127.0.0.1".into(),
            format!("--client-ca-file={}", ca_path.display()),
            format!("--token-auth-file={}", tokens_path.display()),
            "--authorization-mode=Node,RBAC".into(),
            format!("--service-account-key-file={}", sa_pub_path.display()),
            format!(
                "--service-account-signing-key-file={}",
                sa_key_path.display()
            ),
            format!("--service-account-issuer={SA_ISSUER}"),
            "--disable-admission-plugins=ServiceAccount,TaintNodesByCondition,StorageObjectInUseProtection"
                .into(),
            format!(
                "--kubelet-client-certificate={}",
                dir.path().join("apiserver-kubelet-client.crt").display()
            ),
            format!(
                "--kubelet-client-key={}",
                dir.path().join("apiserver-kubelet-client.key").display()
            ),
            // kubeadm's choice: test nodes' host names do not resolve.
            "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname".into(),
        ];
        // A flag given by the test replaces the default of the same name.
        let flag_name = |a: &str| a.split('=').next().unwrap_or(a).to_string();
        let overridden: Vec<String> = extra_flags.iter().map(|f| flag_name(f)).collect();
        args.retain(|a| !overridden.contains(&flag_name(a)));
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
        let user = format!(
            "client-certificate-data: {}\n    client-key-data: {}",
            b64(&pki.admin_cert_pem),
            b64(&pki.admin_key_pem)
        );
        write_kubeconfig(&kubeconfig, &url, &pki.ca_pem, &user)?;
        let mut cluster = TestCluster {
            etcd,
            url,
            kubeconfig,
            ca_pem: pki.ca_pem,
            ca_key_pem: pki.ca_key_pem,
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

    /// The CA that signed the serving and client certificates (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The cluster CA's private key (PEM), for tests that sign certificates
    /// as a signer would (CSR tests).
    pub fn ca_key_pem(&self) -> &str {
        &self.ca_key_pem
    }

    /// The cluster CA certificate file (`ca.crt` in [`Self::dir`]).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// Writes a client certificate and key (CN=user, O=groups) from the
    /// cluster CA into [`Self::dir`]; returns (cert, key) paths.
    pub fn client_cert_files(&self, user: &str, groups: &[&str]) -> Result<(PathBuf, PathBuf)> {
        let (cert, key) = client_cert(&self.ca_pem, &self.ca_key_pem, user, groups)?;
        let safe: String = user
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let n = std::fs::read_dir(self.dir.path())?.count();
        let cert_path = self.dir.path().join(format!("client-{safe}-{n}.crt"));
        let key_path = self.dir.path().join(format!("client-{safe}-{n}.key"));
        std::fs::write(&cert_path, cert)?;
        std::fs::write(&key_path, key)?;
        Ok((cert_path, key_path))
    }

    /// A kubeconfig authenticating as `user` in `groups` with a client
    /// certificate from the cluster CA. (The certificate carries one O:
    /// only the last group counts; use a token for several groups.)
    pub fn user_kubeconfig(&self, user: &str, groups: &[&str]) -> Result<PathBuf> {
        let (cert, key) = client_cert(&self.ca_pem, &self.ca_key_pem, user, groups)?;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
        let safe: String = user
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let path = self.dir.path().join(format!(
            "user-{safe}-{}.kubeconfig",
            groups.join("_").replace(':', "_")
        ));
        let creds = format!(
            "client-certificate-data: {}\n    client-key-data: {}",
            b64(&cert),
            b64(&key)
        );
        write_kubeconfig(&path, &self.url, &self.ca_pem, &creds)?;
        Ok(path)
    }

    /// A kubeconfig sending `token` as a bearer token.
    pub fn token_kubeconfig(&self, token: &str) -> Result<PathBuf> {
        let n = std::fs::read_dir(self.dir.path())?.count();
        let path = self.dir.path().join(format!("token-{n}.kubeconfig"));
        write_kubeconfig(&path, &self.url, &self.ca_pem, &format!("token: {token}"))?;
        Ok(path)
    }

    /// A kubeconfig with no credentials (anonymous requests).
    pub fn anonymous_kubeconfig(&self) -> Result<PathBuf> {
        let path = self.dir.path().join("anonymous.kubeconfig");
        write_kubeconfig(&path, &self.url, &self.ca_pem, "{}")?;
        Ok(path)
    }

    /// A kube-rs client for the given kubeconfig.
    pub async fn client_for(&self, kubeconfig: &Path) -> Result<kube::Client> {
        let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
        Ok(kube::Client::try_from(cfg)?)
    }

    /// Runs kubectl with another kubeconfig.
    pub async fn kubectl_with(&self, kubeconfig: &Path, args: &[&str]) -> Result<Output> {
        let mut full = vec![format!("--kubeconfig={}", kubeconfig.display())];
        full.extend(args.iter().map(|a| a.to_string()));
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        self.kubectl(&refs).await
    }
}

/// Writes a single-context kubeconfig; `user` is the YAML of the user
/// entry's body (indented by four spaces after the first line).
fn write_kubeconfig(path: &Path, url: &str, ca_pem: &str, user: &str) -> Result<()> {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes());
    let user = if user == "{}" {
        "  user: {}".to_string()
    } else {
        format!("  user:\n    {user}")
    };
    std::fs::write(
        path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {url}\n    certificate-authority-data: {ca}\nusers:\n- name: test\n{user}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: test\ncurrent-context: test\n"
        ),
    )?;
    Ok(())
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
