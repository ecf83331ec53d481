//! Calling a webhook: resolving `clientConfig` to an address, HTTPS with
//! the configuration's `caBundle`, one POST bounded by `timeoutSeconds`,
//! on a connection kept for the next call ([`Pool`]).
//!
//! `clientConfig.service` resolves like upstream's default
//! (`--enable-aggregator-routing=false`) resolver: to the Service's
//! ClusterIP and the requested port (ExternalName services to their
//! external name), with the TLS server name `<name>.<namespace>.svc`. On a
//! local Corten cluster kube-proxy programs ClusterIPs for host traffic too,
//! so the apiserver reaches them like any pod would.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;

use super::config::ClientConfig;
use crate::registry::Registry;

/// Largest response body accepted from a webhook.
const MAX_RESPONSE_BYTES: usize = 3 * 1024 * 1024;

/// Where to connect and what to show in errors.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// The URL as upstream prints it in errors (with `?timeout=`).
    pub display_url: String,
    /// Host to connect to (name or IP).
    pub connect_host: String,
    /// Port.
    pub port: u16,
    /// TLS server name.
    pub server_name: String,
    /// Path and query of the request.
    pub path_and_query: String,
    /// `Host` header.
    pub host_header: String,
}

fn split_url(url: &str) -> Result<(String, u16, String), String> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| format!("unsupported URL scheme in {url:?}"))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (host, port) = if let Some(h) = authority.strip_prefix('[') {
        let (h, after) = h.split_once(']').ok_or("malformed IPv6 host")?;
        let port = after.strip_prefix(':').unwrap_or("443");
        (h.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p),
            None => (authority.to_string(), "443"),
        }
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("invalid port in {url:?}"))?;
    let path = if path.is_empty() || path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    Ok((host, port, path))
}

fn with_timeout_param(path: &str, timeout: Duration) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}timeout={}s", timeout.as_secs())
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Resolves a client configuration.
pub fn resolve(reg: &Registry, cc: &ClientConfig, timeout: Duration) -> Result<Endpoint, String> {
    if let Some(url) = &cc.url {
        let (host, port, path) = split_url(url)?;
        let pq = with_timeout_param(&path, timeout);
        let hp = host_port(&host, port);
        return Ok(Endpoint {
            display_url: format!("https://{hp}{pq}"),
            connect_host: host.clone(),
            port,
            server_name: host,
            path_and_query: pq,
            host_header: hp,
        });
    }
    let Some((ns, name, path, port)) = &cc.service else {
        return Err("neither url nor service was specified".into());
    };
    let svc: Option<Value> = reg
        .cache("services")
        .and_then(|c| c.get(&format!("services/{ns}/{name}")))
        .and_then(|o| serde_json::from_slice(&o.json).ok());
    resolve_service(svc.as_ref(), ns, name, path, i64::from(*port), timeout)
}

/// Resolves `clientConfig.service` (`svc` is the Service if it exists)
/// like upstream's ClusterIP service resolver (`ResolveCluster`): the
/// ClusterIP and the requested port, which must be one of the Service's
/// ports; an `ExternalName` Service its external name and the requested
/// port; a headless Service cannot be routed to. The TLS server name is
/// `<name>.<namespace>.svc`. Shared by admission and conversion webhooks.
pub fn resolve_service(
    svc: Option<&Value>,
    ns: &str,
    name: &str,
    path: &str,
    port: i64,
    timeout: Duration,
) -> Result<Endpoint, String> {
    let port = u16::try_from(port).map_err(|_| format!("invalid service port {port}"))?;
    let dns = format!("{name}.{ns}.svc");
    let path = if path.is_empty() { "/" } else { path };
    let pq = with_timeout_param(path, timeout);
    let display_url = format!("https://{}{pq}", host_port(&dns, port));
    let svc = svc.ok_or_else(|| format!("service \"{name}\" not found"))?;
    let spec = &svc["spec"];
    let connect_host = if spec["type"] == "ExternalName" {
        spec["externalName"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    } else {
        let ip = spec["clusterIP"].as_str().unwrap_or_default();
        if ip.is_empty() || ip == "None" {
            return Err(format!("cannot route to service with ClusterIP \"{ip}\""));
        }
        let has_port = spec["ports"].as_array().is_some_and(|ps| {
            ps.iter()
                .any(|p| p["port"].as_u64() == Some(u64::from(port)))
        });
        if !has_port {
            return Err(format!(
                "no service port {port} found for service \"{name}\""
            ));
        }
        ip.to_string()
    };
    Ok(Endpoint {
        display_url,
        connect_host,
        port,
        server_name: dns.clone(),
        path_and_query: pq,
        host_header: host_port(&dns, port),
    })
}

fn tls_config(ca_bundle: &[u8]) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    let system;
    let pem: &[u8] = if ca_bundle.is_empty() {
        // No caBundle: the system's trust store, as upstream.
        system = std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
        &system
    } else {
        ca_bundle
    };
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &pem[..])
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() && !ca_bundle.is_empty() {
        return Err("unable to load root certificates: unable to parse bytes as PEM block".into());
    }
    roots.add_parsable_certificates(certs);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(cfg)
}

/// What went wrong calling a webhook; `Display` reads like the Go
/// client's errors.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// The call did not complete: `Post "<url>": <detail>`.
    Transport(String),
    /// The webhook answered with a non-2xx HTTP status.
    Status(u16, String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Transport(s) => f.write_str(s),
            CallError::Status(code, body) => write!(
                f,
                "an error on the server ({:?}) has prevented the request from succeeding (post status {code})",
                body.chars().take(200).collect::<String>()
            ),
        }
    }
}

/// How long an idle connection is kept (Go's transport default, which
/// upstream's webhook clients use).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle connections kept per client.
const MAX_IDLE_PER_CLIENT: usize = 16;

/// What a client is for: the trust it needs and where it connects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    ca_bundle: Vec<u8>,
    connect_host: String,
    port: u16,
    server_name: String,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// One backend's client: its TLS configuration, built once, and the
/// connections it keeps open between calls.
struct Client {
    tls: Result<Arc<rustls::ClientConfig>, String>,
    idle: std::sync::Mutex<Vec<(Sender, Instant)>>,
    last_used: std::sync::Mutex<Instant>,
}

impl Client {
    fn new(ca_bundle: &[u8]) -> Self {
        Client {
            tls: tls_config(ca_bundle).map(Arc::new),
            idle: Default::default(),
            last_used: std::sync::Mutex::new(Instant::now()),
        }
    }

    /// An idle connection that is still open, if any.
    fn checkout(&self) -> Option<Sender> {
        let mut idle = self.idle.lock().ok()?;
        while let Some((sender, since)) = idle.pop() {
            if !sender.is_closed() && since.elapsed() < IDLE_TIMEOUT {
                return Some(sender);
            }
        }
        None
    }

    fn checkin(&self, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE_PER_CLIENT
        {
            idle.push((sender, Instant::now()));
        }
    }
}

/// Clients of webhook backends, one per caBundle and address (a changed
/// caBundle gets a new client; the old one's connections age out), so
/// calls reuse HTTPS connections instead of a TLS handshake each, as
/// upstream's client manager does.
#[derive(Default)]
pub struct Pool {
    clients: std::sync::Mutex<HashMap<Key, Arc<Client>>>,
    /// Connections opened so far (TCP + TLS handshakes).
    connections: AtomicU64,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("connections", &self.connections_opened())
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// How many connections the pool has opened.
    pub fn connections_opened(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    fn client(&self, ep: &Endpoint, ca_bundle: &[u8]) -> Arc<Client> {
        let key = Key {
            ca_bundle: ca_bundle.to_vec(),
            connect_host: ep.connect_host.clone(),
            port: ep.port,
            server_name: ep.server_name.clone(),
        };
        let Ok(mut clients) = self.clients.lock() else {
            return Arc::new(Client::new(ca_bundle));
        };
        // Clients nobody called for a while (a changed caBundle, a removed
        // webhook) are dropped with their connections.
        clients.retain(|_, c| {
            c.last_used
                .lock()
                .map(|t| t.elapsed() < IDLE_TIMEOUT)
                .unwrap_or(false)
        });
        let client = clients
            .entry(key)
            .or_insert_with(|| Arc::new(Client::new(ca_bundle)))
            .clone();
        if let Ok(mut t) = client.last_used.lock() {
            *t = Instant::now();
        }
        client
    }

    /// POSTs `body` to the endpoint and returns the response body; the
    /// whole exchange (connect, TLS, request, response) is bounded by
    /// `timeout`.
    pub async fn post(
        &self,
        ep: &Endpoint,
        ca_bundle: &[u8],
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Bytes, CallError> {
        let url = ep.display_url.clone();
        let transport = |detail: String| CallError::Transport(format!("Post {url:?}: {detail}"));
        let client = self.client(ep, ca_bundle);
        match tokio::time::timeout(timeout, self.exchange(&client, ep, Bytes::from(body))).await {
            Err(_) => Err(transport("context deadline exceeded".into())),
            Ok(Err(Exchange::Transport(d))) => Err(transport(d)),
            Ok(Err(Exchange::Status(c, b))) => Err(CallError::Status(c, b)),
            Ok(Ok(b)) => Ok(b),
        }
    }

    async fn exchange(
        &self,
        client: &Client,
        ep: &Endpoint,
        body: Bytes,
    ) -> Result<Bytes, Exchange> {
        // A kept connection the backend closed meanwhile fails before any
        // answer: then the request goes once more on a new connection.
        if let Some(sender) = client.checkout() {
            match send(client, sender, ep, body.clone()).await {
                Err(Exchange::Transport(d)) => {
                    tracing::debug!(error = %d, "kept webhook connection failed, reconnecting");
                }
                other => return other,
            }
        }
        let sender = self.connect(client, ep).await?;
        send(client, sender, ep, body).await
    }

    async fn connect(&self, client: &Client, ep: &Endpoint) -> Result<Sender, Exchange> {
        let t = Exchange::Transport;
        let cfg = client.tls.clone().map_err(t)?;
        let addr = host_port(&ep.connect_host, ep.port);
        let tcp = tokio::net::TcpStream::connect(&addr).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::ConnectionRefused {
                t(format!("dial tcp {addr}: connect: connection refused"))
            } else {
                t(format!("dial tcp {addr}: {e}"))
            }
        })?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from(ep.server_name.clone())
            .map_err(|e| t(format!("invalid server name {:?}: {e}", ep.server_name)))?;
        let tls = tokio_rustls::TlsConnector::from(cfg)
            .connect(name, tcp)
            .await
            .map_err(|e| t(format!("tls: failed to verify certificate: {e}")))?;
        self.connections.fetch_add(1, Ordering::Relaxed);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| t(e.to_string()))?;
        // The connection lives while its sender does (kept idle or in use).
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }
}

/// One request on a connection; the connection goes back to the client
/// once the answer was read in full.
async fn send(
    client: &Client,
    mut sender: Sender,
    ep: &Endpoint,
    body: Bytes,
) -> Result<Bytes, Exchange> {
    let t = Exchange::Transport;
    sender.ready().await.map_err(|e| t(e.to_string()))?;
    let req = http::Request::post(&ep.path_and_query)
        .header(http::header::HOST, &ep.host_header)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json, */*")
        .header(http::header::USER_AGENT, "kube-apiserver-admission")
        .body(Full::new(body))
        .map_err(|e| t(e.to_string()))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| t(e.to_string()))?;
    let status = resp.status();
    let bytes = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|e| t(format!("reading response: {e}")))?
        .to_bytes();
    client.checkin(sender);
    if !status.is_success() {
        return Err(Exchange::Status(
            status.as_u16(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    Ok(bytes)
}

enum Exchange {
    Transport(String),
    Status(u16, String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_like_net_url() {
        assert_eq!(
            split_url("https://127.0.0.1:8443/deny?x=1").unwrap(),
            ("127.0.0.1".into(), 8443, "/deny?x=1".into())
        );
        assert_eq!(
            split_url("https://hook.example.com").unwrap(),
            ("hook.example.com".into(), 443, "/".into())
        );
        assert_eq!(
            split_url("https://[::1]:9443/p").unwrap(),
            ("::1".into(), 9443, "/p".into())
        );
        assert!(split_url("http://x/").is_err());
        assert_eq!(
            with_timeout_param("/deny", Duration::from_secs(10)),
            "/deny?timeout=10s"
        );
        assert_eq!(
            with_timeout_param("/deny?x=1", Duration::from_secs(3)),
            "/deny?x=1&timeout=3s"
        );
    }

    /// A loopback HTTPS backend answering `{}` that counts connections;
    /// `keep_alive: false` closes each connection after one answer.
    struct Backend {
        ca_pem: String,
        port: u16,
        accepted: Arc<AtomicU64>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for Backend {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    async fn backend(keep_alive: bool) -> Backend {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicU64::new(0));
        let counter = accepted.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = hyper::service::service_fn(|_req| async {
                        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                            Bytes::from_static(b"{}"),
                        )))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(keep_alive)
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        Backend {
            ca_pem,
            port,
            accepted,
            task,
        }
    }

    fn endpoint(port: u16) -> Endpoint {
        Endpoint {
            display_url: format!("https://127.0.0.1:{port}/?timeout=5s"),
            connect_host: "127.0.0.1".into(),
            port,
            server_name: "127.0.0.1".into(),
            path_and_query: "/?timeout=5s".into(),
            host_header: format!("127.0.0.1:{port}"),
        }
    }

    #[tokio::test]
    async fn calls_reuse_one_connection_per_ca_bundle_and_backend() {
        let b = backend(true).await;
        let ep = endpoint(b.port);
        let timeout = Duration::from_secs(5);
        let pool = Pool::default();
        let started = Instant::now();
        for _ in 0..20 {
            let body = pool
                .post(&ep, b.ca_pem.as_bytes(), b"{}".to_vec(), timeout)
                .await
                .unwrap();
            assert_eq!(&body[..], b"{}");
        }
        let kept = started.elapsed();
        assert_eq!(pool.connections_opened(), 1);
        assert_eq!(b.accepted.load(Ordering::SeqCst), 1);

        // What every call cost before: a connection and handshake each.
        let started = Instant::now();
        for _ in 0..20 {
            Pool::default()
                .post(&ep, b.ca_pem.as_bytes(), b"{}".to_vec(), timeout)
                .await
                .unwrap();
        }
        let fresh = started.elapsed();
        assert_eq!(b.accepted.load(Ordering::SeqCst), 21);
        eprintln!(
            "20 webhook calls: {kept:?} on one kept connection, {fresh:?} with a TLS handshake each"
        );

        // A changed caBundle is a new client with its own connection.
        let changed = format!("{}\n", b.ca_pem);
        pool.post(&ep, changed.as_bytes(), b"{}".to_vec(), timeout)
            .await
            .unwrap();
        assert_eq!(pool.connections_opened(), 2);
        assert_eq!(b.accepted.load(Ordering::SeqCst), 22);
        // A bad caBundle fails like before, without connecting.
        let e = pool
            .post(&ep, b"not pem", b"{}".to_vec(), timeout)
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("unable to load root certificates"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_connection_the_backend_closed_is_replaced() {
        let b = backend(false).await;
        let ep = endpoint(b.port);
        let pool = Pool::default();
        for _ in 0..3 {
            pool.post(
                &ep,
                b.ca_pem.as_bytes(),
                b"{}".to_vec(),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        }
        assert_eq!(b.accepted.load(Ordering::SeqCst), 3);
    }
}
