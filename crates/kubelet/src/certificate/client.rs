//! The client certificate in use and its rotation (upstream's client
//! certificate manager with `rotateCertificates`).
//!
//! [`CertStore`] holds the current certificate and key and hands them to
//! every new TLS connection of the kubelet's API client (a rustls client
//! certificate resolver), so a rotated certificate is used without
//! rebuilding the client. [`run`] rotates it on the shared schedule
//! ([`super::rotation`]): a new key, a CSR authenticated by the current
//! certificate (`generateName: csr-`, as upstream's certificate manager),
//! the pair stored under the cert dir (moving the
//! `kubelet-client-current.pem` symlink) and swapped in; then every
//! connection made with the old certificate is closed
//! ([`super::connections`]), as upstream's `UpdateTransport` does.

use std::path::Path;
use std::sync::{Arc, LazyLock, RwLock};
use std::time::Duration;

use anyhow::Context;
use rustls::client::ResolvesClientCert;
use rustls::sign::CertifiedKey;

use super::connections::{ConnectionTracker, TrackingConnector};
use super::csr::{self, Template};
use super::pair::{self, CLIENT_PREFIX, Pair, PairStore};

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

/// The client certificate in use.
pub struct CertStore {
    pairs: PairStore,
    current: RwLock<Pair>,
    connections: Arc<ConnectionTracker>,
}

impl std::fmt::Debug for CertStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (not_before, not_after) = self.validity();
        f.debug_struct("CertStore")
            .field("cert_dir", &self.pairs.dir())
            .field("not_before", &not_before)
            .field("not_after", &not_after)
            .finish()
    }
}

impl CertStore {
    /// Loads `<cert_dir>/kubelet-client-current.pem` (or another bundle).
    pub fn load(cert_dir: &Path, bundle: &Path) -> anyhow::Result<Arc<Self>> {
        let current = pair::load(bundle)?;
        TTL.set((current.not_after - jiff::Timestamp::now().as_second()) as f64);
        Ok(Arc::new(Self {
            pairs: PairStore::new(cert_dir, CLIENT_PREFIX),
            current: RwLock::new(current),
            connections: ConnectionTracker::new(),
        }))
    }

    /// (not before, not after) of the current certificate, Unix seconds.
    pub fn validity(&self) -> (i64, i64) {
        let c = self.current.read().unwrap_or_else(|e| e.into_inner());
        (c.not_before, c.not_after)
    }

    /// Swaps in a new certificate, then closes the connections made with
    /// the old one.
    fn replace(&self, current: Pair) {
        TTL.set((current.not_after - jiff::Timestamp::now().as_second()) as f64);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = current;
        self.connections.close_all();
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
    let connections = store.connections.clone();
    tls.client_auth_cert_resolver = store;
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(TrackingConnector::new(http, connections));
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

/// The client certificate under rotation.
struct ClientRotation {
    client: kube::Client,
    store: Arc<CertStore>,
    template: Template,
}

#[async_trait::async_trait]
impl super::rotation::Rotate for ClientRotation {
    fn kind(&self) -> &'static str {
        "client"
    }

    fn current_validity(&self) -> Option<(i64, i64)> {
        Some(self.store.validity())
    }

    async fn rotate(&self) -> anyhow::Result<()> {
        let (cert, key, name) =
            csr::request_certificate(&self.client, &self.template, Duration::from_secs(15 * 60))
                .await?;
        let current = self.store.pairs.update(&cert, &key)?;
        self.store.replace(pair::load(&current)?);
        let (_, not_after) = self.store.validity();
        tracing::info!(csr = %name, not_after, "rotated the client certificate");
        Ok(())
    }

    fn rotation_failed(&self) {
        RENEW_ERRORS.inc();
    }
}

/// Rotates the client certificate whenever its deadline passes, until `shutdown`.
pub async fn run(
    client: kube::Client,
    store: Arc<CertStore>,
    node_name: String,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let rotation = ClientRotation {
        client,
        store,
        template: Template::client(&node_name),
    };
    super::rotation::run(&rotation, shutdown).await;
}
