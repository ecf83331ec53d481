//! The secure port of kube-scheduler and kube-controller-manager: HTTPS
//! with delegated authentication and authorization in front of `/metrics`,
//! `/healthz`, `/livez` and `/readyz`, as upstream's
//! `SecureServingOptionsWithLoopback` + `DelegatingAuthenticationOptions` +
//! `DelegatingAuthorizationOptions` do.
//!
//! Each request goes through a fixed pipeline:
//!
//! ```text
//! TLS (serving cert; client cert requested while a client CA is known)
//!   -> authentication  (client cert | TokenReview | system:anonymous)  -> 401
//!   -> authorization   (system:masters | always-allow paths | SubjectAccessReview) -> 403
//!   -> the ops endpoints (server::ops_response)
//! ```
//!
//! The client CA comes from `--client-ca-file`, or else (unless
//! `--authentication-skip-lookup`) from the `client-ca-file` key of the
//! `kube-system/extension-apiserver-authentication` ConfigMap; either is
//! re-read every minute so a rotated CA applies without a restart.
//! Front proxies are trusted by `--requestheader-client-ca-file` with the
//! `--requestheader-*` header flags, or else (unless
//! `--authentication-skip-lookup`) by the `requestheader-*` keys of the same
//! ConfigMap (CA, allowed names and headers together), re-read likewise.
//! TokenReviews and SubjectAccessReviews go through
//! `--authentication-kubeconfig` / `--authorization-kubeconfig`, or (a Corten
//! convenience; upstream falls back to the in-cluster config and otherwise
//! disables them) through the component's own API connection.

pub mod authn;
pub mod authz;
pub mod cache;
pub mod options;
pub mod refusal;
pub mod requestheader;
pub mod review;
pub mod serving_certs;
pub mod tls;
pub mod tls_params;

use std::convert::Infallible;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http::{Request, Response, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::net::TcpListener;

use crate::health::HealthRegistry;
use crate::server::{SHUTDOWN_GRACE, ops_response};
use authn::DelegatingAuthenticator;
use authz::{Decision, DelegatingAuthorizer};
pub use options::SecureServingOptions;
use requestheader::{ProxyIdentity, RequestHeaderAuthenticator};
use review::KubeReviewer;
use serving_certs::ServingCerts;
use tls::{CertIdentity, ClientCa};

/// How often the client CA is re-read.
pub const CLIENT_CA_RELOAD: Duration = Duration::from_secs(60);
/// How often the serving certificate files are checked for changes
/// (upstream watches them; a changed file applies to new connections).
pub const SERVING_CERT_RELOAD: Duration = Duration::from_secs(10);
/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the client CA bundle is read from.
#[derive(Clone)]
enum CaSource {
    /// No client certificate authentication.
    None,
    /// `--client-ca-file`.
    File(PathBuf),
    /// The authentication ConfigMap.
    ConfigMap(kube::Client),
}

/// A configured secure port, ready to serve on a listener.
pub struct SecureServer {
    certs: Arc<ServingCerts>,
    cert_reload: Duration,
    authn: Arc<DelegatingAuthenticator>,
    authz: Arc<DelegatingAuthorizer>,
    ca: Arc<ClientCa>,
    ca_source: CaSource,
    /// Where the front-proxy CA comes from (with the allowed names and
    /// headers, when it is the ConfigMap).
    proxy_source: CaSource,
}

impl std::fmt::Debug for SecureServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureServer")
            .field("authn", &self.authn)
            .field("authz", &self.authz)
            .finish_non_exhaustive()
    }
}

/// A kube client from a kubeconfig file.
pub async fn client_from_kubeconfig(path: &Path) -> anyhow::Result<kube::Client> {
    let kubeconfig = Kubeconfig::read_from(path)
        .with_context(|| format!("reading kubeconfig {}", path.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("loading kubeconfig {}", path.display()))?;
    kube::Client::try_from(config)
        .with_context(|| format!("building a client from {}", path.display()))
}

impl SecureServer {
    /// Loads the serving certificate and the client CA and connects the
    /// delegation clients. `pair_name` names self-signed files in
    /// `--cert-dir`; `client` is the component's own API connection.
    pub async fn new(
        options: &SecureServingOptions,
        pair_name: &str,
        client: &kube::Client,
    ) -> anyhow::Result<SecureServer> {
        let paths = options
            .always_allow_paths()
            .map_err(|e| anyhow::anyhow!("--authorization-always-allow-paths: {e}"))?;
        let authn_client = match &options.authentication_kubeconfig {
            Some(path) => client_from_kubeconfig(path)
                .await
                .context("--authentication-kubeconfig")?,
            None => client.clone(),
        };
        let authz_client = match &options.authorization_kubeconfig {
            Some(path) => client_from_kubeconfig(path)
                .await
                .context("--authorization-kubeconfig")?,
            None => client.clone(),
        };
        let ca = ClientCa::new(tls::default_provider());
        let ca_source = match (&options.client_ca_file, options.authentication_skip_lookup) {
            (Some(path), _) => CaSource::File(path.clone()),
            (None, false) => CaSource::ConfigMap(authn_client.clone()),
            (None, true) => CaSource::None,
        };
        match load_ca(&ca_source, &ca).await {
            Ok(()) => {}
            Err(err) if matches!(ca_source, CaSource::ConfigMap(_)) => {
                if !options.authentication_tolerate_lookup_failure {
                    return Err(err.context(
                        "looking up the client CA (set --authentication-tolerate-lookup-failure=true to continue without it)",
                    ));
                }
                tracing::warn!(
                    error = %format!("{err:#}"),
                    "unable to get configmap/extension-apiserver-authentication in kube-system; continuing without client certificate authentication until it can be read"
                );
            }
            Err(err) => return Err(err),
        }
        let params = options
            .tls_params()
            .map_err(|e| anyhow::anyhow!("--tls-min-version/--tls-cipher-suites: {e}"))?;
        let (request_header, proxy_source) = match (
            &options.requestheader_client_ca_file,
            options.authentication_skip_lookup,
        ) {
            (Some(path), _) => {
                let proxy_ca = ClientCa::new(tls::default_provider());
                let source = CaSource::File(path.clone());
                load_ca(&source, &proxy_ca)
                    .await
                    .context("--requestheader-client-ca-file")?;
                let rh = RequestHeaderAuthenticator::new(
                    proxy_ca,
                    options.requestheader_allowed_names.clone(),
                    options.requestheader_username_headers.clone(),
                    options.requestheader_group_headers.clone(),
                    options.requestheader_extra_headers_prefix.clone(),
                )
                .with_uid_headers(options.requestheader_uid_headers.clone());
                (Some(rh), source)
            }
            // Upstream's dynamic request-header controller: the CA, the
            // allowed names and the headers all come from the ConfigMap
            // (the header flags do not apply).
            (None, false) => {
                let rh = RequestHeaderAuthenticator::new(
                    ClientCa::new(tls::default_provider()),
                    Vec::new(),
                    Vec::new(),
                    Vec::new(),
                    Vec::new(),
                );
                match load_front_proxy(&authn_client, &rh).await {
                    Ok(()) => {}
                    Err(err) if options.authentication_tolerate_lookup_failure => {
                        tracing::warn!(
                            error = %format!("{err:#}"),
                            "unable to read the front-proxy settings of configmap/extension-apiserver-authentication in kube-system; continuing without request-header authentication until they can be read"
                        );
                    }
                    Err(err) => {
                        return Err(err.context(
                            "unable to load configmap based request-header-client-ca-file (set --authentication-tolerate-lookup-failure=true to continue without it)",
                        ));
                    }
                }
                (Some(rh), CaSource::ConfigMap(authn_client.clone()))
            }
            (None, true) => (None, CaSource::None),
        };
        let certs = ServingCerts::load(
            options.cert_source(pair_name),
            options.tls_sni_cert_key.clone(),
            params,
            ca.clone(),
            request_header.as_ref().map(|rh| rh.ca().clone()),
        )?;
        let reviewer_authn = Arc::new(KubeReviewer::new(authn_client));
        let reviewer_authz = Arc::new(KubeReviewer::new(authz_client));
        let mut authn = DelegatingAuthenticator::new(
            Some(reviewer_authn),
            options.authentication_token_webhook_cache_ttl,
        );
        if let Some(rh) = request_header {
            authn = authn.with_request_header(rh);
        }
        Ok(SecureServer {
            certs: Arc::new(certs),
            cert_reload: SERVING_CERT_RELOAD,
            authn: Arc::new(authn),
            authz: Arc::new(DelegatingAuthorizer::new(
                paths,
                Some(reviewer_authz),
                options.authorization_webhook_cache_authorized_ttl,
                options.authorization_webhook_cache_unauthorized_ttl,
            )),
            ca,
            ca_source,
            proxy_source,
        })
    }

    /// The default serving certificate (PEM), for clients that want to pin
    /// it.
    pub fn serving_cert_pem(&self) -> Vec<u8> {
        self.certs.default_cert_pem()
    }

    /// How often the serving certificate files are checked (tests shorten
    /// it).
    pub fn set_cert_reload_interval(&mut self, every: Duration) {
        self.cert_reload = every;
    }

    /// Serves on `listener` until `shutdown` resolves, then stops accepting
    /// and drains open connections (up to [`SHUTDOWN_GRACE`]).
    pub async fn serve(
        self,
        listener: TcpListener,
        health: HealthRegistry,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let local = listener
            .local_addr()
            .context("reading the listener address")?;
        tracing::info!(address = %local, "serving securely /metrics, /healthz, /livez and /readyz");
        let mut reloads = vec![tokio::spawn(reload_ca(
            self.ca_source.clone(),
            self.ca.clone(),
        ))];
        match (&self.proxy_source, self.authn.request_header()) {
            (CaSource::ConfigMap(client), Some(_)) => {
                reloads.push(tokio::spawn(reload_front_proxy(
                    client.clone(),
                    self.authn.clone(),
                )));
            }
            (source, Some(rh)) => {
                reloads.push(tokio::spawn(reload_ca(source.clone(), rh.ca().clone())));
            }
            (_, None) => {}
        }
        if self.certs.reloadable() {
            reloads.push(tokio::spawn(reload_serving_certs(
                self.certs.clone(),
                self.cert_reload,
            )));
        }
        let local_ip = local.ip();
        let graceful = GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(err) => {
                        // Usually EMFILE: back off briefly instead of spinning.
                        tracing::warn!(error = %err, "accepting a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            if let Err(err) = stream.set_nodelay(true) {
                tracing::debug!(%peer, error = %err, "set_nodelay");
            }
            let certs = self.certs.clone();
            let state = Pipeline {
                authn: self.authn.clone(),
                authz: self.authz.clone(),
                ca: self.ca.clone(),
                health: health.clone(),
            };
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                let handshake = async {
                    // The certificate depends on the name the client asks
                    // for (SNI), or else the address it connected to.
                    let start = tokio_rustls::LazyConfigAcceptor::new(
                        rustls::server::Acceptor::default(),
                        stream,
                    )
                    .await?;
                    let config =
                        certs.config_for(start.client_hello().server_name(), Some(local_ip));
                    start.into_stream(config).await
                };
                let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(err)) => {
                        tracing::debug!(%peer, error = %err, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
                let chain = tls.get_ref().1.peer_certificates();
                let proxy = state
                    .authn
                    .request_header()
                    .map_or(ProxyIdentity::None, |rh| rh.verify(chain));
                let cert = Arc::new((proxy, state.ca.identify(chain)));
                let service = service_fn(move |req: Request<Incoming>| {
                    let state = state.clone();
                    let cert = cert.clone();
                    async move { Ok::<_, Infallible>(state.respond(&cert, req).await) }
                });
                let builder = auto::Builder::new(TokioExecutor::new());
                let conn = builder.serve_connection(TokioIo::new(tls), service);
                if let Err(err) = watcher.watch(conn.into_owned()).await {
                    tracing::debug!(%peer, error = %err, "connection ended with an error");
                }
            });
        }
        drop(listener);
        for reload in reloads {
            reload.abort();
        }
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("secure port connections still open after the grace period; closing");
        }
        tracing::info!(address = %local, "secure port stopped");
        Ok(())
    }
}

async fn load_ca(source: &CaSource, ca: &ClientCa) -> anyhow::Result<()> {
    let pem = match source {
        CaSource::None => return Ok(()),
        CaSource::File(path) => Some(
            tokio::fs::read(path)
                .await
                .with_context(|| format!("reading --client-ca-file {}", path.display()))?,
        ),
        CaSource::ConfigMap(client) => review::client_ca_from_configmap(client)
            .await
            .context("reading configmap kube-system/extension-apiserver-authentication")?,
    };
    if let Some(pem) = pem
        && ca.set_pem(&pem).context("the client CA bundle")?
    {
        tracing::info!("loaded the client CA for client certificate authentication");
    }
    Ok(())
}

/// Re-reads the client CA every [`CLIENT_CA_RELOAD`]; a failed read keeps
/// the previous bundle.
async fn reload_ca(source: CaSource, ca: Arc<ClientCa>) {
    if matches!(source, CaSource::None) {
        return;
    }
    loop {
        tokio::time::sleep(CLIENT_CA_RELOAD).await;
        if let Err(err) = load_ca(&source, &ca).await {
            tracing::warn!(error = %format!("{err:#}"), "reloading the client CA");
        }
    }
}

/// Reads the front-proxy settings from the authentication ConfigMap into
/// `rh`. A missing ConfigMap or CA keeps what `rh` has.
async fn load_front_proxy(
    client: &kube::Client,
    rh: &RequestHeaderAuthenticator,
) -> anyhow::Result<()> {
    let Some(config) = review::front_proxy_from_configmap(client)
        .await
        .context("reading configmap kube-system/extension-apiserver-authentication")?
    else {
        return Ok(());
    };
    let names = requestheader::HeaderNames::new(
        config.username_headers,
        config.uid_headers,
        config.group_headers,
        config.extra_prefixes,
    );
    if rh.set_names(config.allowed_names, names) {
        tracing::info!("loaded the front-proxy allowed names and headers");
    }
    if let Some(pem) = config.ca_pem
        && rh.ca().set_pem(&pem).context("the front-proxy CA bundle")?
    {
        tracing::info!("loaded the front-proxy CA for request-header authentication");
    }
    Ok(())
}

/// Re-reads the front-proxy settings every [`CLIENT_CA_RELOAD`]; a failed
/// read keeps the previous ones.
async fn reload_front_proxy(client: kube::Client, authn: Arc<DelegatingAuthenticator>) {
    let Some(rh) = authn.request_header() else {
        return;
    };
    loop {
        tokio::time::sleep(CLIENT_CA_RELOAD).await;
        if let Err(err) = load_front_proxy(&client, rh).await {
            tracing::warn!(error = %format!("{err:#}"), "reloading the front-proxy settings");
        }
    }
}

/// Checks the serving certificate files every `every`; a failed read or
/// a broken pair keeps the certificates already served.
async fn reload_serving_certs(certs: Arc<ServingCerts>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        match certs.reload() {
            Ok(true) => tracing::info!("loaded a changed serving certificate"),
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), "reloading the serving certificate; keeping the current one");
            }
        }
    }
}

/// Authentication, authorization and the ops endpoints, per request.
#[derive(Clone)]
struct Pipeline {
    authn: Arc<DelegatingAuthenticator>,
    authz: Arc<DelegatingAuthorizer>,
    ca: Arc<ClientCa>,
    health: HealthRegistry,
}

impl Pipeline {
    async fn respond(
        &self,
        cert: &(ProxyIdentity, CertIdentity),
        req: Request<Incoming>,
    ) -> Response<Full<Bytes>> {
        let mut response = self.check_then_serve(cert, &req).await;
        // Upstream's WithCacheControl: nothing here may be cached.
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-cache, private"),
        );
        response
    }

    async fn check_then_serve(
        &self,
        (proxy, cert): &(ProxyIdentity, CertIdentity),
        req: &Request<Incoming>,
    ) -> Response<Full<Bytes>> {
        let (headers, uri) = (req.headers(), req.uri());
        let user = match self.authn.authenticate(proxy, cert, headers).await {
            Ok(user) => user,
            Err(err) => {
                tracing::debug!(path = uri.path(), reason = %err.0, "unable to authenticate the request");
                return refusal::unauthorized(headers, uri);
            }
        };
        let verb = authz::verb_of(req.method());
        match self.authz.authorize(&user, &verb, uri.path()).await {
            Ok(Decision::Allow) => ops_response(&self.health, req.method(), uri).await,
            Ok(Decision::Deny(reason)) => {
                tracing::debug!(user = %user.name, %verb, path = uri.path(), %reason, "forbidden");
                refusal::forbidden(headers, uri, &user.name, &verb, &reason)
            }
            Err(err) => {
                tracing::warn!(user = %user.name, %verb, path = uri.path(), error = %err, "authorization failed");
                refusal::internal_error(uri, &err)
            }
        }
    }
}

#[cfg(test)]
mod serving_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// `curl -k`: any server certificate (the test's self-signed one).
    #[derive(Debug)]
    pub(super) struct AnyServer(pub(super) Arc<rustls::crypto::CryptoProvider>);

    impl ServerCertVerifier for AnyServer {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &rustls::DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
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
            c: &CertificateDer<'_>,
            d: &rustls::DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
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

    async fn get(addr: std::net::SocketAddr, path: &str, token: Option<&str>) -> String {
        let provider = tls::default_provider();
        let config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
            .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n");
        tls.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        let _ = tls.read_to_end(&mut response).await;
        String::from_utf8_lossy(&response).into_owned()
    }

    /// Without a reachable apiserver: health stays open, a token cannot be
    /// reviewed (401), a path needing a SubjectAccessReview is 500; the
    /// server stops on shutdown.
    #[tokio::test]
    async fn serves_tls_and_fails_closed_without_an_apiserver() {
        let test = async {
            let dir = tempfile::tempdir().unwrap();
            let unreachable = kube::Config::new("https://127.0.0.1:1".parse().unwrap());
            let client = kube::Client::try_from(unreachable).unwrap();
            let options = SecureServingOptions {
                cert_dir: Some(dir.path().to_path_buf()),
                authentication_skip_lookup: true,
                ..SecureServingOptions::default()
            };
            let server = SecureServer::new(&options, "kube-scheduler", &client)
                .await
                .unwrap();
            assert!(
                String::from_utf8_lossy(&server.serving_cert_pem())
                    .starts_with("-----BEGIN CERTIFICATE-----")
            );
            assert!(dir.path().join("kube-scheduler.crt").is_file());
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(server.serve(listener, HealthRegistry::new(), async {
                let _ = stop_rx.await;
            }));

            let healthz = get(addr, "/healthz", None).await;
            assert!(healthz.starts_with("HTTP/1.1 200"), "{healthz}");
            assert!(
                healthz
                    .to_ascii_lowercase()
                    .contains("cache-control: no-cache, private"),
                "{healthz}"
            );
            assert!(healthz.ends_with("ok"), "{healthz}");
            let metrics = get(addr, "/metrics", None).await;
            assert!(metrics.starts_with("HTTP/1.1 500"), "{metrics}");
            assert!(
                metrics.contains("Internal Server Error: \"/metrics\": SubjectAccessReview"),
                "{metrics}"
            );
            let token = get(addr, "/healthz", Some("abc")).await;
            assert!(token.starts_with("HTTP/1.1 401"), "{token}");
            assert!(token.contains("\"reason\":\"Unauthorized\""), "{token}");

            stop_tx.send(()).unwrap();
            task.await.unwrap().unwrap();
            assert!(tokio::net::TcpStream::connect(addr).await.is_err());
        };
        tokio::time::timeout(Duration::from_secs(30), test)
            .await
            .expect("test timed out");
    }

    #[tokio::test]
    async fn a_missing_client_ca_file_is_an_error_at_start() {
        let client =
            kube::Client::try_from(kube::Config::new("https://127.0.0.1:1".parse().unwrap()))
                .unwrap();
        let options = SecureServingOptions {
            client_ca_file: Some("/does/not/exist/ca.crt".into()),
            ..SecureServingOptions::default()
        };
        let err = SecureServer::new(&options, "kube-scheduler", &client)
            .await
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("--client-ca-file /does/not/exist/ca.crt"),
            "{err:#}"
        );
    }
}
