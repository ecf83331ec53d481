//! The client certificate in use and its rotation (upstream's certificate
//! manager with `rotateCertificates`).
//!
//! [`CertStore`] holds the current certificate and key and hands them to
//! every new TLS connection of the kubelet's API client (a rustls client
//! certificate resolver), so a rotated certificate is used without
//! rebuilding the client. [`run`] waits until 70–90% (jittered) of the
//! certificate's lifetime has passed, requests a new one with a new key
//! through a CSR authenticated by the current certificate, stores it under
//! the cert dir (moving the `kubelet-client-current.pem` symlink) and
//! swaps it in. Failures are retried with backoff (1s doubling to 5m).
//! Connections opened before a rotation keep the old certificate until
//! they are closed (watches are re-established within minutes).

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, RwLock};
use std::time::Duration;

use anyhow::Context;
use rustls::client::ResolvesClientCert;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use super::{bootstrap, csr};

static TTL: LazyLock<prometheus::Gauge> = LazyLock::new(|| {
    let g = prometheus::Gauge::new(
        "kubelet_certificate_manager_client_ttl_seconds",
        "Gauge of the TTL (time-to-live) of the Kubelet's client certificate. The value is in seconds until certificate expiry (negative if already expired).",
    )
    .expect("metric");
    if let Err(err) = prometheus::register(Box::new(g.clone())) {
        tracing::debug!(error = %err, "registering the certificate TTL gauge");
    }
    g
});

static RENEW_ERRORS: LazyLock<prometheus::IntCounter> = LazyLock::new(|| {
    let c = prometheus::IntCounter::new(
        "kubelet_certificate_manager_client_expiration_renew_errors",
        "Counter of certificate renewal errors.",
    )
    .expect("metric");
    if let Err(err) = prometheus::register(Box::new(c.clone())) {
        tracing::debug!(error = %err, "registering the certificate renewal error counter");
    }
    c
});

struct Current {
    key: Arc<CertifiedKey>,
    not_before: i64,
    not_after: i64,
}

/// The client certificate in use.
pub struct CertStore {
    cert_dir: PathBuf,
    current: RwLock<Current>,
}

impl std::fmt::Debug for CertStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (not_before, not_after) = self.validity();
        f.debug_struct("CertStore")
            .field("cert_dir", &self.cert_dir)
            .field("not_before", &not_before)
            .field("not_after", &not_after)
            .finish()
    }
}

/// Parses a PEM bundle of certificates and one private key. Repeated
/// certificates are dropped (a kubeconfig naming one file as both
/// certificate and key reads it twice).
fn parse_bundle(pem: &[u8]) -> anyhow::Result<Current> {
    use rustls::pki_types::pem::{PemObject, SectionKind};
    let mut certs: Vec<CertificateDer<'static>> = Vec::new();
    let mut key: Option<PrivateKeyDer<'static>> = None;
    for item in <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(pem) {
        let (kind, der) = item.map_err(|e| anyhow::anyhow!("bad PEM: {e:?}"))?;
        match kind {
            SectionKind::Certificate => {
                let cert = CertificateDer::from(der);
                if !certs.contains(&cert) {
                    certs.push(cert);
                }
            }
            SectionKind::PrivateKey if key.is_none() => {
                key = Some(PrivateKeyDer::Pkcs8(der.into()))
            }
            SectionKind::EcPrivateKey if key.is_none() => {
                key = Some(PrivateKeyDer::Sec1(der.into()))
            }
            SectionKind::RsaPrivateKey if key.is_none() => {
                key = Some(PrivateKeyDer::Pkcs1(der.into()))
            }
            _ => {}
        }
    }
    let key = key.context("no private key")?;
    let first = certs.first().context("no certificate")?;
    let (not_before, not_after) =
        bootstrap::validity_der(first.as_ref()).context("the certificate does not parse")?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| anyhow::anyhow!("unsupported private key: {e}"))?;
    Ok(Current {
        key: Arc::new(CertifiedKey::new(certs, signing)),
        not_before,
        not_after,
    })
}

impl CertStore {
    /// Loads `<cert_dir>/kubelet-client-current.pem` (or another bundle).
    pub fn load(cert_dir: &Path, bundle: &Path) -> anyhow::Result<Arc<Self>> {
        let pem = std::fs::read(bundle).with_context(|| format!("reading {}", bundle.display()))?;
        let current =
            parse_bundle(&pem).with_context(|| format!("loading {}", bundle.display()))?;
        TTL.set((current.not_after - jiff::Timestamp::now().as_second()) as f64);
        Ok(Arc::new(Self {
            cert_dir: cert_dir.to_path_buf(),
            current: RwLock::new(current),
        }))
    }

    /// (not before, not after) of the current certificate, Unix seconds.
    pub fn validity(&self) -> (i64, i64) {
        let c = self.current.read().unwrap_or_else(|e| e.into_inner());
        (c.not_before, c.not_after)
    }

    fn replace(&self, current: Current) {
        TTL.set((current.not_after - jiff::Timestamp::now().as_second()) as f64);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = current;
    }
}

impl ResolvesClientCert for CertStore {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .key
                .clone(),
        )
    }

    fn has_certs(&self) -> bool {
        true
    }
}

impl std::fmt::Debug for Current {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Current").finish_non_exhaustive()
    }
}

/// A client for `kubeconfig` whose TLS client certificate comes from `store`.
pub async fn client_with_store(
    kubeconfig: &Path,
    store: Arc<CertStore>,
) -> anyhow::Result<kube::Client> {
    use kube::client::ConfigExt;
    let file = kube::config::Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("reading kubeconfig {}", kubeconfig.display()))?;
    let config = kube::Config::from_custom_kubeconfig(file, &Default::default())
        .await
        .with_context(|| format!("loading kubeconfig {}", kubeconfig.display()))?;
    let mut tls = config.rustls_client_config()?;
    tls.client_auth_cert_resolver = store;
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    // kube's own timeouts (a silently dead connection must not hang the
    // lease or status loops).
    let mut connector = hyper_timeout::TimeoutConnector::new(https);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, kube::client::Body>(connector);
    let service = tower::ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .service(client);
    Ok(kube::Client::new(service, config.default_namespace))
}

/// When to rotate: 70–90% (uniformly jittered by `jitter` in 0..1) of the
/// way from not-before to not-after (upstream `nextRotationDeadline`).
pub fn rotation_deadline(not_before: i64, not_after: i64, jitter: f64) -> i64 {
    let total = (not_after - not_before).max(0) as f64;
    not_before + (total * (0.7 + 0.2 * jitter.clamp(0.0, 1.0))).round() as i64
}

fn jitter() -> f64 {
    let n = uuid::Uuid::new_v4().as_u128();
    (n % 1_000_000) as f64 / 1_000_000.0
}

/// One rotation: new key, CSR, wait, store, swap.
pub async fn rotate(
    client: &kube::Client,
    store: &CertStore,
    node_name: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let request = csr::make_request(node_name, None)?;
    let name = csr::submit(client, &request, node_name).await?;
    let cert = csr::wait(client, &name, timeout).await?;
    csr::check_issued(&cert, &request.public_key)?;
    let current = bootstrap::store(&store.cert_dir, &cert, &request.key_pem)?;
    let pem = std::fs::read(&current)?;
    store.replace(parse_bundle(&pem)?);
    let (_, not_after) = store.validity();
    tracing::info!(csr = %name, not_after, "rotated the client certificate");
    Ok(())
}

/// Rotates the client certificate whenever its deadline passes, until `shutdown`.
pub async fn run(
    client: kube::Client,
    store: Arc<CertStore>,
    node_name: String,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut backoff = Duration::from_secs(1);
    loop {
        let (not_before, not_after) = store.validity();
        let deadline = rotation_deadline(not_before, not_after, jitter());
        let wait = (deadline - jiff::Timestamp::now().as_second()).max(0) as u64;
        tracing::info!(
            not_after,
            rotation_in_seconds = wait,
            "waiting to rotate the client certificate"
        );
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(wait)) => {}
            () = &mut shutdown => return,
        }
        loop {
            let attempt = rotate(&client, &store, &node_name, Duration::from_secs(15 * 60));
            let result = tokio::select! {
                r = attempt => r,
                () = &mut shutdown => return,
            };
            match result {
                Ok(()) => {
                    backoff = Duration::from_secs(1);
                    break;
                }
                Err(err) => {
                    RENEW_ERRORS.inc();
                    tracing::error!(error = %format!("{err:#}"), retry_in = ?backoff, "failed to rotate the client certificate");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = &mut shutdown => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(300));
                }
            }
        }
    }
}
