//! A tiny extension apiserver ("wardle") for aggregation tests: HTTPS on a
//! loopback port with its own serving CA, requiring a client certificate
//! from the given CA (the aggregator's proxy client certificate) and an
//! `X-Remote-User` header (401 without). It serves:
//!
//! - `GET /apis/wardle.example.com/v1alpha1`: the APIResourceList
//!   (namespaced `flunders`, verbs get and list, short name `fl`);
//! - `GET /apis` asking for aggregated discovery: the same resource with
//!   short name `flu`;
//! - `GET /apis/wardle.example.com/v1alpha1/namespaces/<ns>/flunders`: a
//!   list of one Flunder `my-flunder` (a meta.k8s.io Table when asked);
//! - `GET .../flunders/my-flunder`: that Flunder;
//! - `GET /openapi/v3` and `GET /openapi/v3/apis/wardle.example.com/v1alpha1`:
//!   an OpenAPI v3 index and document with the Flunder schema.
//!
//! Every request's user and groups are recorded. [`Self::stop`] stops
//! accepting connections (a backend that went away).

use std::sync::{Arc, Mutex};

use anyhow::Result;
use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};

/// The group the test server serves.
pub const GROUP: &str = "wardle.example.com";
/// Its version.
pub const VERSION: &str = "v1alpha1";

/// Who a request came as: (path, X-Remote-User, X-Remote-Group values).
pub type Seen = (String, String, Vec<String>);

/// What another test's server answers: `(path, query, accept)` to
/// `(status code, JSON body)`.
pub type Handler = Arc<dyn Fn(&str, &str, &str) -> (u16, Value) + Send + Sync>;

/// A running extension apiserver.
pub struct TestExtensionServer {
    /// The port on 127.0.0.1.
    pub port: u16,
    /// The CA of the serving certificate (PEM).
    pub ca_pem: String,
    /// Requests received.
    pub seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestExtensionServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn flunder(ns: &str) -> Value {
    json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": "Flunder",
        "metadata": {"name": "my-flunder", "namespace": ns, "uid": "5d3e4a3c-0000-4000-8000-000000000001",
            "resourceVersion": "1", "creationTimestamp": "2024-01-01T00:00:00Z"},
        "spec": {"reference": "wardle"}
    })
}

/// The description of the Flunder schema the server publishes.
pub const FLUNDER_DESCRIPTION: &str =
    "A Flunder is the test kind of the wardle extension apiserver.";

fn openapi_v3(path: &str) -> Option<Value> {
    let key = format!("apis/{GROUP}/{VERSION}");
    if path == "/openapi/v3" {
        return Some(
            json!({"paths": {key.clone(): {"serverRelativeURL": format!("/openapi/v3/{key}?hash=ABC")}}}),
        );
    }
    if path != format!("/openapi/v3/{key}") {
        return None;
    }
    let name = "com.example.wardle.v1alpha1.Flunder";
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "wardle", "version": VERSION},
        "paths": {format!("/apis/{GROUP}/{VERSION}/namespaces/{{namespace}}/flunders/{{name}}"): {"get": {
            "operationId": "readWardleV1alpha1NamespacedFlunder",
            "x-kubernetes-action": "get",
            "x-kubernetes-group-version-kind": {"group": GROUP, "version": VERSION, "kind": "Flunder"},
            "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}}}}}}},
        "components": {"schemas": {name: {
            "type": "object",
            "description": FLUNDER_DESCRIPTION,
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": {"type": "object", "description": "What the flunder refers to.",
                    "properties": {"reference": {"type": "string", "description": "The name of a flunder."}}}
            },
            "x-kubernetes-group-version-kind": [{"group": GROUP, "version": VERSION, "kind": "Flunder"}]
        }}}
    }))
}

fn answer(path: &str, accept: &str) -> (u16, Value) {
    if let Some(doc) = openapi_v3(path) {
        return (200, doc);
    }
    let base = format!("/apis/{GROUP}/{VERSION}");
    if path == "/apis" && accept.contains("as=APIGroupDiscoveryList") {
        // Aggregated discovery (which the aggregator prefers); its short
        // name differs from the legacy list's so tests can tell them apart.
        return (
            200,
            json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {},
                "items": [{"metadata": {"name": GROUP}, "versions": [{"version": VERSION, "freshness": "Current",
                    "resources": [{"resource": "flunders", "singularResource": "flunder", "scope": "Namespaced",
                        "responseKind": {"group": GROUP, "version": VERSION, "kind": "Flunder"},
                        "verbs": ["get", "list"], "shortNames": ["flu"]}]}]}]}),
        );
    }
    if path == base {
        return (
            200,
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{GROUP}/{VERSION}"),
                "resources": [{"name": "flunders", "singularName": "flunder", "namespaced": true,
                    "kind": "Flunder", "verbs": ["get", "list"], "shortNames": ["fl"]}]}),
        );
    }
    let rest: Vec<&str> = path
        .strip_prefix(&base)
        .unwrap_or("")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match rest.as_slice() {
        ["namespaces", ns, "flunders"] => {
            if accept.contains("as=Table") {
                (
                    200,
                    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "1"},
                        "columnDefinitions": [{"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0},
                            {"name": "Reference", "type": "string", "format": "", "description": "", "priority": 0}],
                        "rows": [{"cells": ["my-flunder", "wardle"], "object": {"kind": "PartialObjectMetadata",
                            "apiVersion": "meta.k8s.io/v1", "metadata": flunder(ns)["metadata"].clone()}}]}),
                )
            } else {
                (
                    200,
                    json!({"kind": "FlunderList", "apiVersion": format!("{GROUP}/{VERSION}"),
                        "metadata": {"resourceVersion": "1"}, "items": [flunder(ns)]}),
                )
            }
        }
        ["namespaces", ns, "flunders", "my-flunder"] => (200, flunder(ns)),
        _ => (
            404,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                "code": 404, "message": "the server could not find the requested resource"}),
        ),
    }
}

fn certs(dns_names: &[&str]) -> Result<(String, String, String)> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "wardle-ca");
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate()?;
    let params =
        CertificateParams::new(dns_names.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok((ca_cert.pem(), cert.pem(), key.serialize_pem()))
}

impl TestExtensionServer {
    /// Starts the server with a certificate for `dns_names` (e.g.
    /// `api.wardle.svc`), accepting clients certified by `client_ca_pem`.
    pub async fn start(dns_names: &[&str], client_ca_pem: &str) -> Result<Self> {
        Self::start_with_handler(
            dns_names,
            client_ca_pem,
            Arc::new(|path: &str, _query: &str, accept: &str| answer(path, accept)),
        )
        .await
    }

    /// Like [`Self::start`], answering with `handler` instead of the
    /// wardle API (e.g. a fake `metrics.k8s.io`).
    pub async fn start_with_handler(
        dns_names: &[&str],
        client_ca_pem: &str,
        handler: Handler,
    ) -> Result<Self> {
        let (ca_pem, cert_pem, key_pem) = certs(dns_names)?;
        let chain: Vec<rustls::pki_types::CertificateDer<'static>> =
            rustls_pemfile::certs(&mut cert_pem.as_bytes()).collect::<Result<_, _>>()?;
        let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())?
            .ok_or_else(|| anyhow::anyhow!("no key"))?;
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut client_ca_pem.as_bytes()) {
            roots.add(c?)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()?;
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let recorded = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let recorded = recorded.clone();
                let handler = handler.clone();
                tokio::spawn(async move {
                    // The handshake fails for clients without a certificate
                    // from the client CA.
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let recorded = recorded.clone();
                        let handler = handler.clone();
                        async move {
                            let h = req.headers();
                            let user = h
                                .get("x-remote-user")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_string();
                            let groups: Vec<String> = h
                                .get_all("x-remote-group")
                                .iter()
                                .filter_map(|v| v.to_str().ok().map(str::to_string))
                                .collect();
                            let accept = h
                                .get("accept")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_string();
                            let path = req.uri().path().to_string();
                            let query = req.uri().query().unwrap_or("").to_string();
                            if let Ok(mut r) = recorded.lock() {
                                r.push((path.clone(), user.clone(), groups));
                            }
                            let (code, body) = if user.is_empty() {
                                (
                                    401,
                                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                    "reason": "Unauthorized", "code": 401, "message": "Unauthorized"}),
                                )
                            } else {
                                handler(&path, &query, &accept)
                            };
                            let mut resp = http::Response::new(Full::new(Bytes::from(
                                serde_json::to_vec(&body).unwrap_or_default(),
                            )));
                            *resp.status_mut() =
                                http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::OK);
                            resp.headers_mut().insert(
                                http::header::CONTENT_TYPE,
                                http::HeaderValue::from_static("application/json"),
                            );
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        Ok(TestExtensionServer {
            port,
            ca_pem,
            seen,
            task,
        })
    }

    /// `caBundle` for the APIService (base64 of the CA PEM).
    pub fn ca_bundle(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.ca_pem.as_bytes())
    }

    /// Stops accepting connections.
    pub fn stop(&self) {
        self.task.abort();
    }

    /// The requests received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// A front-proxy CA (kubeadm's front-proxy-ca) and the aggregator's client
/// certificate (CN=front-proxy-client), written under a directory.
pub struct FrontProxy {
    /// The CA (PEM), which extension servers trust for client certificates.
    pub ca_pem: String,
    /// `--requestheader-client-ca-file`.
    pub ca_file: std::path::PathBuf,
    /// `--proxy-client-cert-file`.
    pub cert_file: std::path::PathBuf,
    /// `--proxy-client-key-file`.
    pub key_file: std::path::PathBuf,
}

impl FrontProxy {
    /// Writes the CA and client certificate under `dir`.
    pub fn create(dir: &std::path::Path) -> Result<FrontProxy> {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "front-proxy-ca");
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate()?;
        let mut p = CertificateParams::new(Vec::<String>::new())?;
        p.distinguished_name
            .push(DnType::CommonName, "front-proxy-client");
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = p.signed_by(&key, &issuer)?;
        let fp = FrontProxy {
            ca_pem: ca_cert.pem(),
            ca_file: dir.join("front-proxy-ca.crt"),
            cert_file: dir.join("front-proxy-client.crt"),
            key_file: dir.join("front-proxy-client.key"),
        };
        std::fs::write(&fp.ca_file, &fp.ca_pem)?;
        std::fs::write(&fp.cert_file, cert.pem())?;
        std::fs::write(&fp.key_file, key.serialize_pem())?;
        Ok(fp)
    }

    /// The kube-apiserver flags enabling the aggregator with this proxy.
    pub fn apiserver_flags(&self) -> Vec<String> {
        vec![
            format!("--requestheader-client-ca-file={}", self.ca_file.display()),
            "--requestheader-allowed-names=front-proxy-client".to_string(),
            "--requestheader-username-headers=X-Remote-User".to_string(),
            "--requestheader-group-headers=X-Remote-Group".to_string(),
            "--requestheader-extra-headers-prefix=X-Remote-Extra-".to_string(),
            format!("--proxy-client-cert-file={}", self.cert_file.display()),
            format!("--proxy-client-key-file={}", self.key_file.display()),
            "--enable-aggregator-routing=true".to_string(),
        ]
    }
}
