//! The kubelet API's serving certificate through CSRs (upstream's
//! `serverTLSBootstrap: true` / `--rotate-server-certificates`).
//!
//! The kubelet requests a certificate for `CN=system:node:<node>,
//! O=system:nodes` with its hostname and IPs as subject alternative names
//! from the `kubernetes.io/kubelet-serving` signer, keeps it as
//! `kubelet-server-<time>.pem` behind `kubelet-server-current.pem` in the
//! cert dir, and serves port 10250 with it ([`ServingCertificate`] is the
//! TLS listener's certificate resolver). Until one is issued, handshakes
//! fail (upstream: "no serving certificate available for the kubelet");
//! there is no self-signed fallback. The certificate is rotated on the
//! shared schedule ([`super::rotation`]) with a new key and a new CSR each
//! time, and at once when the stored one does not match the node's names
//! and addresses any more.

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, LazyLock, RwLock};
use std::time::Duration;

use prometheus::core::Collector;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::csr::{self, Template};
use super::pair::{self, Pair, PairStore, SERVER_PREFIX};

/// Not-after of the serving certificate in use (`i64::MIN`: none).
static NOT_AFTER: AtomicI64 = AtomicI64::new(i64::MIN);

/// `kubelet_certificate_manager_server_ttl_seconds`, computed when scraped.
struct TtlCollector(prometheus::Gauge);

impl Collector for TtlCollector {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.0.desc()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        let not_after = NOT_AFTER.load(Ordering::Relaxed);
        self.0.set(if not_after == i64::MIN {
            f64::INFINITY
        } else {
            (not_after - jiff::Timestamp::now().as_second()) as f64
        });
        self.0.collect()
    }
}

struct Metrics {
    rotation: prometheus::Histogram,
    renew_errors: prometheus::IntCounter,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    fn register(c: Box<dyn Collector>) {
        if let Err(err) = prometheus::register(c) {
            tracing::debug!(error = %err, "registering a serving certificate metric");
        }
    }
    let ttl = prometheus::Gauge::new(
        "kubelet_certificate_manager_server_ttl_seconds",
        "Gauge of the shortest TTL (time-to-live) of the Kubelet's serving certificate. The value is in seconds until certificate expiry (negative if already expired). If serving certificate is invalid or unused, the value will be +INF.",
    )
    .expect("metric");
    register(Box::new(TtlCollector(ttl)));
    let rotation = prometheus::Histogram::with_opts(
        prometheus::HistogramOpts::new(
            "kubelet_certificate_manager_server_rotation_seconds",
            "Histogram of the number of seconds the previous certificate lived before being rotated.",
        )
        // 1 minute, 1 hour, 4 hours, 1 day, 1 week, 1 month, 3 months, 6 months, 1 year, 4 years.
        .buckets(vec![
            60.0,
            3600.0,
            14400.0,
            86400.0,
            604800.0,
            2592000.0,
            7776000.0,
            15552000.0,
            31104000.0,
            124416000.0,
        ]),
    )
    .expect("metric");
    register(Box::new(rotation.clone()));
    let renew_errors = prometheus::IntCounter::new(
        "kubelet_server_expiration_renew_errors",
        "Counter of certificate renewal errors.",
    )
    .expect("metric");
    register(Box::new(renew_errors.clone()));
    Metrics {
        rotation,
        renew_errors,
    }
});

/// The serving certificate in use (none until the first is issued).
pub struct ServingCertificate {
    pairs: PairStore,
    template: Template,
    current: RwLock<Option<Pair>>,
}

impl std::fmt::Debug for ServingCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingCertificate")
            .field("cert_dir", &self.pairs.dir())
            .field("template", &self.template)
            .finish_non_exhaustive()
    }
}

impl ServingCertificate {
    /// The serving certificate of `node_name` for `dns_names` and `ips`:
    /// `kubelet-server-current.pem` from `cert_dir` when there is one,
    /// else `tlsCertFile`/`tlsPrivateKeyFile` when given (upstream's file
    /// store falls back to them), else none yet.
    pub fn load(
        cert_dir: &Path,
        node_name: &str,
        dns_names: Vec<String>,
        ips: Vec<IpAddr>,
        fallback: Option<(&str, &str)>,
    ) -> Arc<Self> {
        LazyLock::force(&METRICS);
        let pairs = PairStore::new(cert_dir, SERVER_PREFIX);
        let current = match pairs.load_current() {
            Ok(Some(pair)) => Some(pair),
            Ok(None) => fallback.and_then(|(cert, key)| {
                let mut pem = std::fs::read(cert).ok()?;
                pem.push(b'\n');
                pem.extend(std::fs::read(key).ok()?);
                pair::parse(&pem)
                    .inspect_err(|err| tracing::warn!(error = %format!("{err:#}"), "loading tlsCertFile/tlsPrivateKeyFile"))
                    .ok()
            }),
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), "loading the serving certificate; requesting a new one");
                None
            }
        };
        NOT_AFTER.store(
            current.as_ref().map_or(i64::MIN, |c| c.not_after),
            Ordering::Relaxed,
        );
        Arc::new(Self {
            pairs,
            template: Template::serving(node_name, dns_names, ips),
            current: RwLock::new(current),
        })
    }

    /// What the certificate is requested for.
    pub fn template(&self) -> &Template {
        &self.template
    }

    /// The certificate in use, if any.
    pub fn current(&self) -> Option<Pair> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether `pair` carries exactly the names and addresses requested
    /// (upstream `certSatisfiesTemplate`).
    fn fits(&self, pair: &Pair) -> bool {
        let mut want_dns = self.template.dns_names.clone();
        let mut have_dns = pair.dns_names.clone();
        let mut want_ips = self.template.ips.clone();
        let mut have_ips = pair.ips.clone();
        for list in [&mut want_dns, &mut have_dns] {
            list.sort();
            list.dedup();
        }
        for list in [&mut want_ips, &mut have_ips] {
            list.sort();
            list.dedup();
        }
        want_dns == have_dns && want_ips == have_ips
    }

    fn replace(&self, new: Pair) {
        NOT_AFTER.store(new.not_after, Ordering::Relaxed);
        let old = self
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .replace(new);
        if let Some(old) = old {
            let lived = jiff::Timestamp::now().as_second() - old.not_before;
            METRICS.rotation.observe(lived.max(0) as f64);
        }
    }

    /// Requests new certificates until `shutdown`, through `client`.
    pub async fn run(
        self: Arc<Self>,
        client: kube::Client,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let rotation = ServingRotation { cert: self, client };
        super::rotation::run(&rotation, shutdown).await;
    }
}

impl ResolvesServerCert for ServingCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let key = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|p| p.key.clone());
        if key.is_none() {
            // Upstream's GetCertificate error; rustls then aborts the handshake.
            tracing::info!("no serving certificate available for the kubelet");
        }
        key
    }
}

struct ServingRotation {
    cert: Arc<ServingCertificate>,
    client: kube::Client,
}

#[async_trait::async_trait]
impl super::rotation::Rotate for ServingRotation {
    fn kind(&self) -> &'static str {
        "serving"
    }

    fn current_validity(&self) -> Option<(i64, i64)> {
        let current = self.cert.current()?;
        self.cert
            .fits(&current)
            .then_some((current.not_before, current.not_after))
    }

    async fn rotate(&self) -> anyhow::Result<()> {
        let (cert, key, name) = csr::request_certificate(
            &self.client,
            &self.cert.template,
            Duration::from_secs(15 * 60),
        )
        .await?;
        let current = self.cert.pairs.update(&cert, &key)?;
        let pair = pair::load(&current)?;
        let not_after = pair.not_after;
        self.cert.replace(pair);
        tracing::info!(csr = %name, not_after, "installed a new serving certificate");
        Ok(())
    }

    fn rotation_failed(&self) {
        METRICS.renew_errors.inc();
    }
}
