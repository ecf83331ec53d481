//! An upgrade-aware HTTP/1.1 forwarder (upstream's UpgradeAwareHandler):
//! sends one request to a backend (a kubelet over TLS, or a pod over plain
//! HTTP) and either streams the answer back or, on `101 Switching
//! Protocols`, splices the client's and the backend's connections together
//! byte for byte (SPDY and WebSocket streams pass through unchanged).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use corten_apimachinery::StatusError;
use http::{HeaderMap, HeaderName, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;

use crate::wire::Body;

/// Where a request goes.
#[derive(Clone)]
pub enum Backend {
    /// HTTPS with the given client config (kubelets).
    Tls {
        /// The client configuration (client certificate, roots).
        config: Arc<rustls::ClientConfig>,
        /// Host name or IP used for SNI and verification.
        host: String,
        /// `host:port`.
        authority: String,
    },
    /// Plain HTTP (`pods/proxy`, `services/proxy`).
    Plain {
        /// `host:port`.
        authority: String,
    },
}

impl Backend {
    fn authority(&self) -> &str {
        match self {
            Backend::Tls { authority, .. } | Backend::Plain { authority } => authority,
        }
    }
}

/// Headers that describe one hop and are never forwarded in a plain
/// (non-upgrade) exchange.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Request headers that carry the caller's credentials for the apiserver;
/// the backend gets the apiserver's own identity instead.
fn is_credential(name: &HeaderName) -> bool {
    let n = name.as_str();
    n == "authorization" || n == "cookie" || n.starts_with("impersonate-")
}

/// Whether a request asks for a protocol upgrade.
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        })
        && headers.contains_key(header::UPGRADE)
}

/// Whether an upgrade request asks for a WebSocket.
pub fn is_websocket(headers: &HeaderMap) -> bool {
    is_upgrade(headers)
        && headers
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

fn bad_gateway(message: String) -> StatusError {
    // Upstream answers 500 "error trying to reach service: ..." when the
    // backend cannot be dialed.
    StatusError::internal(format!("error trying to reach service: {message}"))
}

async fn connect(
    backend: &Backend,
    timeout: Duration,
) -> Result<hyper::client::conn::http1::SendRequest<Body>, StatusError> {
    let authority = backend.authority().to_string();
    let tcp = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&authority))
        .await
        .map_err(|_| bad_gateway(format!("dial tcp {authority}: i/o timeout")))?
        .map_err(|e| bad_gateway(format!("dial tcp {authority}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    match backend {
        Backend::Plain { .. } => handshake(TokioIo::new(tcp)).await,
        Backend::Tls { config, host, .. } => {
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| bad_gateway(format!("invalid host {host:?}: {e}")))?;
            let tls = tokio::time::timeout(
                timeout,
                tokio_rustls::TlsConnector::from(config.clone()).connect(name, tcp),
            )
            .await
            .map_err(|_| bad_gateway(format!("TLS handshake with {authority} timed out")))?
            .map_err(|e| bad_gateway(format!("TLS handshake with {authority}: {e}")))?;
            handshake(TokioIo::new(tls)).await
        }
    }
}

async fn handshake<I>(io: I) -> Result<hyper::client::conn::http1::SendRequest<Body>, StatusError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| bad_gateway(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "backend connection ended");
        }
    });
    Ok(sender)
}

/// Forwards `req` to `backend` at `path_and_query` (the caller has already
/// authorized it). `method` overrides the request's method when given.
pub async fn forward<B>(
    backend: Backend,
    timeout: Duration,
    mut req: Request<B>,
    method: Option<Method>,
    path_and_query: &str,
) -> Result<Response<Body>, StatusError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let upgrade = is_upgrade(req.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let mut sender = connect(&backend, timeout).await?;
    let (parts, body) = req.into_parts();
    let mut outgoing = Request::builder()
        .method(method.unwrap_or(parts.method))
        .uri(path_and_query);
    for (name, value) in &parts.headers {
        if name == header::HOST || is_credential(name) {
            continue;
        }
        if !upgrade && HOP_BY_HOP.contains(&name.as_str()) {
            continue;
        }
        outgoing = outgoing.header(name, value);
    }
    let body: Body = body.map_err(std::io::Error::other).boxed_unsync();
    let outgoing = outgoing
        .header(header::HOST, backend.authority())
        .body(body)
        .map_err(StatusError::internal)?;
    let mut response = sender
        .send_request(outgoing)
        .await
        .map_err(|e| bad_gateway(e.to_string()))?;
    let status = response.status();
    if status == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_upgrade) = client_upgrade else {
            return Err(bad_gateway(
                "the backend switched protocols without being asked".into(),
            ));
        };
        let backend_upgrade = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            match (client_upgrade.await, backend_upgrade.await) {
                (Ok(client), Ok(backend)) => {
                    let mut client = TokioIo::new(client);
                    let mut backend = TokioIo::new(backend);
                    match tokio::io::copy_bidirectional(&mut client, &mut backend).await {
                        Ok((up, down)) => {
                            tracing::debug!(up, down, "upgraded stream closed")
                        }
                        Err(e) => tracing::debug!(error = %e, "upgraded stream ended"),
                    }
                }
                (Err(e), _) | (_, Err(e)) => tracing::debug!(error = %e, "upgrade failed"),
            }
        });
        let mut reply = Response::builder().status(status);
        for (name, value) in response.headers() {
            reply = reply.header(name, value);
        }
        return reply
            .body(crate::wire::full(Bytes::new()))
            .map_err(StatusError::internal);
    }
    let mut reply = Response::builder().status(status);
    for (name, value) in response.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            reply = reply.header(name, value);
        }
    }
    let body: Body = response
        .into_body()
        .map_err(std::io::Error::other)
        .boxed_unsync();
    reply.body(body).map_err(StatusError::internal)
}

/// What a backend answered to an upgrade request made by the apiserver
/// itself (the WebSocket translators): the upgraded connection, or the
/// backend's refusal to turn into a metav1.Status.
pub enum Dialed {
    /// `101 Switching Protocols`: the backend's response headers and the
    /// connection, now speaking the new protocol.
    Upgraded(HeaderMap, hyper::upgrade::Upgraded),
    /// Any other answer.
    Refused(Response<Body>),
}

/// Asks `backend` to upgrade `path_and_query` to `protocol` (for example
/// `SPDY/3.1`), sending only `headers` and the apiserver's own identity.
pub async fn dial_upgrade(
    backend: Backend,
    timeout: Duration,
    path_and_query: &str,
    protocol: &str,
    headers: &[(&str, &str)],
) -> Result<Dialed, StatusError> {
    let mut sender = connect(&backend, timeout).await?;
    let mut outgoing = Request::builder()
        .method(Method::POST)
        .uri(path_and_query)
        .header(header::HOST, backend.authority())
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, protocol);
    for (name, value) in headers {
        outgoing = outgoing.header(*name, *value);
    }
    let body: Body = crate::wire::full(Bytes::new());
    let outgoing = outgoing.body(body).map_err(StatusError::internal)?;
    let mut response = tokio::time::timeout(timeout, sender.send_request(outgoing))
        .await
        .map_err(|_| bad_gateway(format!("no answer from {} in time", backend.authority())))?
        .map_err(|e| bad_gateway(e.to_string()))?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        let (parts, body) = response.into_parts();
        let body: Body = body.map_err(std::io::Error::other).boxed_unsync();
        return Ok(Dialed::Refused(Response::from_parts(parts, body)));
    }
    let headers = response.headers().clone();
    let upgraded = hyper::upgrade::on(&mut response)
        .await
        .map_err(|e| bad_gateway(format!("upgrading the connection: {e}")))?;
    Ok(Dialed::Upgraded(headers, upgraded))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn upgrade_detection() {
        let spdy = headers(&[("connection", "Upgrade"), ("upgrade", "SPDY/3.1")]);
        assert!(is_upgrade(&spdy));
        assert!(!is_websocket(&spdy));
        let ws = headers(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
        ]);
        assert!(is_websocket(&ws));
        assert!(!is_upgrade(&headers(&[("upgrade", "websocket")])));
        assert!(!is_upgrade(&headers(&[("connection", "close")])));
    }

    #[test]
    fn credentials_are_not_forwarded() {
        for h in [
            "authorization",
            "impersonate-user",
            "impersonate-group",
            "cookie",
        ] {
            assert!(is_credential(&HeaderName::from_static(h)), "{h}");
        }
        assert!(!is_credential(&header::CONTENT_TYPE));
    }
}
