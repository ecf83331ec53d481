//! Checks of a component's secure port (kube-scheduler 10259,
//! kube-controller-manager 10257): HTTPS with delegated authentication and
//! authorization against the test cluster.
//!
//! [`https_get`] is a small HTTPS client that, like `curl -k`, does not
//! check the server's (self-signed) certificate, and can present a client
//! certificate or a bearer token. [`assert_delegated_auth`] runs the whole
//! matrix the components must pass.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
use kube::api::{Api, PostParams};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::TestCluster;

/// Who calls the secure port.
#[derive(Clone, Debug)]
pub enum Caller {
    /// No credentials.
    Anonymous,
    /// A client certificate (PEM cert, PEM key).
    Certificate(String, String),
    /// `Authorization: Bearer <token>`.
    Token(String),
}

/// Accepts any server certificate (`curl -k`); test use only.
#[derive(Debug)]
struct Insecure(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Insecure {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn client_config(caller: &Caller) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Insecure(provider)));
    Ok(match caller {
        Caller::Certificate(cert, key) => {
            let chain =
                rustls_pemfile::certs(&mut cert.as_bytes()).collect::<Result<Vec<_>, _>>()?;
            let key =
                rustls_pemfile::private_key(&mut key.as_bytes())?.context("no private key")?;
            builder.with_client_auth_cert(chain, key)?
        }
        _ => builder.with_no_client_auth(),
    })
}

/// `GET https://127.0.0.1:<port><path>` over HTTP/1.1; `None` when nothing
/// answers (connection refused, failed handshake). Returns the status code,
/// the body and the raw response head.
pub async fn https_get(port: u16, path: &str, caller: &Caller) -> Option<(u16, String)> {
    https_request(port, "GET", path, caller, "corten-e2e")
        .await
        .ok()
}

/// Like [`https_get`] with any method and User-Agent; errors say why.
pub async fn https_request(
    port: u16,
    method: &str,
    path: &str,
    caller: &Caller,
    user_agent: &str,
) -> Result<(u16, String)> {
    let config = Arc::new(client_config(caller)?);
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let mut tls = tokio::time::timeout(
        Duration::from_secs(10),
        connector.connect(ServerName::try_from("localhost")?, tcp),
    )
    .await
    .context("TLS handshake timed out")??;
    let auth = match caller {
        Caller::Token(token) => format!("Authorization: Bearer {token}\r\n"),
        _ => String::new(),
    };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: {user_agent}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    tls.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), tls.read_to_end(&mut response))
        .await
        .context("reading the response timed out")?
        // Servers may close without close_notify after Connection: close.
        .or_else(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Ok(0)
            } else {
                Err(e)
            }
        })?;
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("no HTTP response head")?;
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no status code")?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((code, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// A ServiceAccount `monitoring/prometheus` bound to the ClusterRole
/// `system:monitoring` (what a Prometheus scraping the control plane
/// gets), and a token for it.
pub async fn monitoring_token(cluster: &TestCluster) -> Result<String> {
    let client = cluster.client().await?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "monitoring"}
    }))?;
    match namespaces.create(&PostParams::default(), &namespace).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(e.into()),
    }
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "monitoring");
    let account: ServiceAccount = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "prometheus"}
    }))?;
    match accounts.create(&PostParams::default(), &account).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(e.into()),
    }
    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    let binding = ClusterRoleBinding {
        metadata: kube::api::ObjectMeta {
            name: Some("prometheus-monitoring".into()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: "system:monitoring".into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "prometheus".into(),
            namespace: Some("monitoring".into()),
            ..Default::default()
        }]),
    };
    match bindings.create(&PostParams::default(), &binding).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(e.into()),
    }
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: Vec::new(),
            expiration_seconds: Some(3600),
            bound_object_ref: None,
        },
        ..Default::default()
    };
    let answer: TokenRequest = accounts
        .create_subresource("token", "prometheus", &PostParams::default(), &request)
        .await?;
    Ok(answer.status.context("TokenRequest without status")?.token)
}

/// The secure port on `port` behaves as upstream's with delegated
/// authentication and authorization:
///
/// - `/healthz`, `/livez`, `/readyz` are open to anonymous callers;
/// - `/metrics` is 403 for anonymous callers and for users without `get`
///   on it, with upstream's Status message;
/// - `/metrics` is 200 for a `system:masters` client certificate and for a
///   ServiceAccount token bound to `system:monitoring`;
/// - a token the apiserver rejects is 401, as is a certificate from another
///   CA.
///
/// Returns the `/metrics` text the admin got.
pub async fn assert_delegated_auth(cluster: &TestCluster, port: u16) -> Result<String> {
    for path in ["/healthz", "/livez", "/readyz"] {
        let (code, body) = https_get(port, path, &Caller::Anonymous)
            .await
            .with_context(|| format!("GET {path}"))?;
        anyhow::ensure!(code == 200, "anonymous {path}: {code} {body}");
    }
    let (code, body) = https_get(port, "/metrics", &Caller::Anonymous)
        .await
        .context("anonymous GET /metrics")?;
    anyhow::ensure!(code == 403, "anonymous /metrics: {code} {body}");
    let status: serde_json::Value = serde_json::from_str(&body)?;
    anyhow::ensure!(
        status["message"] == "forbidden: User \"system:anonymous\" cannot get path \"/metrics\""
            && status["reason"] == "Forbidden"
            && status["code"] == 403
            && status["kind"] == "Status",
        "anonymous /metrics body: {body}"
    );
    // A subpath of an open path is not open.
    let (code, body) = https_get(port, "/healthz/ping", &Caller::Anonymous)
        .await
        .context("anonymous GET /healthz/ping")?;
    anyhow::ensure!(code == 403, "anonymous /healthz/ping: {code} {body}");

    // Authenticated, but without the permission: 403 naming the user.
    let (cert, key) = crate::client_cert(cluster.ca_pem(), cluster.ca_key_pem(), "jane", &["dev"])?;
    let jane = Caller::Certificate(cert, key);
    let (code, body) = https_get(port, "/metrics", &jane)
        .await
        .context("jane GET /metrics")?;
    anyhow::ensure!(
        code == 403 && body.contains("User \\\"jane\\\" cannot get path \\\"/metrics\\\""),
        "jane /metrics: {code} {body}"
    );
    let (code, body) = https_get(port, "/metrics", &Caller::Token("alice-token".into()))
        .await
        .context("alice GET /metrics")?;
    anyhow::ensure!(
        code == 403 && body.contains("User \\\"alice\\\" cannot get path \\\"/metrics\\\""),
        "alice /metrics: {code} {body}"
    );

    // Rejected credentials: 401.
    let (code, body) = https_get(port, "/metrics", &Caller::Token("not-a-token".into()))
        .await
        .context("bad token GET /metrics")?;
    anyhow::ensure!(
        code == 401 && body.contains("\"reason\":\"Unauthorized\""),
        "bad token /metrics: {code} {body}"
    );
    let (code, body) = https_get(port, "/healthz", &Caller::Token("not-a-token".into()))
        .await
        .context("bad token GET /healthz")?;
    anyhow::ensure!(code == 401, "bad token /healthz: {code} {body}");
    let stranger = other_ca_client_cert()?;
    let (code, body) = https_get(port, "/metrics", &stranger)
        .await
        .context("foreign certificate GET /metrics")?;
    anyhow::ensure!(code == 401, "foreign certificate /metrics: {code} {body}");

    // Allowed: the admin (system:masters) and a monitoring ServiceAccount.
    let (cert, key) = crate::client_cert(
        cluster.ca_pem(),
        cluster.ca_key_pem(),
        "kubernetes-admin",
        &["system:masters"],
    )?;
    let (code, metrics) = https_get(port, "/metrics", &Caller::Certificate(cert, key))
        .await
        .context("admin GET /metrics")?;
    anyhow::ensure!(code == 200, "admin /metrics: {code} {metrics}");
    anyhow::ensure!(metrics.contains("kubernetes_build_info"), "{metrics}");
    let token = monitoring_token(cluster).await?;
    let (code, body) = https_get(port, "/metrics", &Caller::Token(token.clone()))
        .await
        .context("prometheus GET /metrics")?;
    anyhow::ensure!(code == 200, "prometheus /metrics: {code} {body}");
    // system:monitoring grants get, not post.
    let (code, body) = https_request(port, "POST", "/metrics", &Caller::Token(token), "curl/8")
        .await
        .context("prometheus POST /metrics")?;
    anyhow::ensure!(
        code == 403 && body.contains("cannot post path \\\"/metrics\\\""),
        "prometheus POST /metrics: {code} {body}"
    );
    Ok(metrics)
}

fn other_ca_client_cert() -> Result<Caller> {
    let ca_key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "another-ca");
    let ca_cert = params.self_signed(&ca_key)?;
    let (cert, key) = crate::client_cert(
        &ca_cert.pem(),
        &ca_key.serialize_pem(),
        "kubernetes-admin",
        &["system:masters"],
    )?;
    Ok(Caller::Certificate(cert, key))
}
