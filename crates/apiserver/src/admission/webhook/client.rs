//! Calling a webhook: resolving `clientConfig` to an address, HTTPS with
//! the configuration's `caBundle`, one POST bounded by `timeoutSeconds`.
//!
//! `clientConfig.service` resolves like upstream's default
//! (`--enable-aggregator-routing=false`) resolver: to the Service's
//! ClusterIP and the requested port (ExternalName services to their
//! external name), with the TLS server name `<name>.<namespace>.svc`. On a
//! local Corten cluster kube-proxy programs ClusterIPs for host traffic too,
//! so the apiserver reaches them like any pod would.

use std::sync::Arc;
use std::time::Duration;

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
    let port = u16::try_from(*port).map_err(|_| format!("invalid service port {port}"))?;
    let dns = format!("{name}.{ns}.svc");
    let path = if path.is_empty() {
        "/".to_string()
    } else {
        path.clone()
    };
    let pq = with_timeout_param(&path, timeout);
    let display_url = format!("https://{}{pq}", host_port(&dns, port));
    let svc: Value = reg
        .cache("services")
        .and_then(|c| c.get(&format!("services/{ns}/{name}")))
        .and_then(|o| serde_json::from_slice(&o.json).ok())
        .ok_or_else(|| format!("service \"{name}\" not found"))?;
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
            return Err(format!("unable to find service port {port}"));
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

/// POSTs `body` to the endpoint and returns the response body; the whole
/// exchange (connect, TLS, request, response) is bounded by `timeout`.
pub async fn post(
    ep: &Endpoint,
    ca_bundle: &[u8],
    body: Vec<u8>,
    timeout: Duration,
) -> Result<Bytes, CallError> {
    let url = ep.display_url.clone();
    let transport = |detail: String| CallError::Transport(format!("Post {url:?}: {detail}"));
    match tokio::time::timeout(timeout, exchange(ep, ca_bundle, body)).await {
        Err(_) => Err(transport("context deadline exceeded".into())),
        Ok(Err(Exchange::Transport(d))) => Err(transport(d)),
        Ok(Err(Exchange::Status(c, b))) => Err(CallError::Status(c, b)),
        Ok(Ok(b)) => Ok(b),
    }
}

enum Exchange {
    Transport(String),
    Status(u16, String),
}

async fn exchange(ep: &Endpoint, ca_bundle: &[u8], body: Vec<u8>) -> Result<Bytes, Exchange> {
    let t = Exchange::Transport;
    let cfg = tls_config(ca_bundle).map_err(t)?;
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
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .map_err(|e| t(format!("tls: failed to verify certificate: {e}")))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| t(e.to_string()))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = http::Request::post(&ep.path_and_query)
        .header(http::header::HOST, &ep.host_header)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json, */*")
        .header(http::header::USER_AGENT, "kube-apiserver-admission")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| t(e.to_string()))?;
    let result = async {
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
        if !status.is_success() {
            return Err(Exchange::Status(
                status.as_u16(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
        Ok(bytes)
    }
    .await;
    driver.abort();
    result
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
}
