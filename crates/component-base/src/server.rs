//! The operations HTTP server of the daemons other than the apiserver:
//! `GET /metrics`, `/healthz`, `/livez`, `/readyz` (with subpaths and query).
//!
//! The apiserver serves the same endpoints on its own secure port by calling
//! [`ops_response`] (or [`HealthRegistry::handle`] and
//! [`metrics::gather_text`]) from its router.
//!
//! Plain HTTP/1.1, for the endpoints upstream also serves in the clear
//! (kube-proxy's 10256/10249, the kubelet's 10248). kube-scheduler and
//! kube-controller-manager serve the same responses over HTTPS with
//! authentication and authorization: see [`crate::secure_serving`].

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http::{Method, Response, StatusCode, Uri, header};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

use crate::health::{self, HealthEndpoint, HealthRegistry};
use crate::metrics;

/// How long in-flight requests may take to finish after shutdown was asked.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Binds a listening socket on `addr` as Go's listeners do on Linux
/// (`SO_REUSEADDR`, so a restart does not wait for TIME_WAIT sockets), and
/// with `SO_REUSEPORT` when `port_sharing` (upstream's
/// `--permit-port-sharing`: several processes may serve the same port).
pub fn listen(addr: SocketAddr, port_sharing: bool) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    if port_sharing {
        socket.set_reuseport(true)?;
    }
    socket.bind(addr)?;
    // Go's default backlog is the kernel's somaxconn; 1024 is a common value.
    socket.listen(1024)
}

/// Binds `addr` and serves the ops endpoints until `shutdown` resolves, then
/// stops accepting and drains open connections (up to [`SHUTDOWN_GRACE`]).
pub async fn serve_ops(
    addr: SocketAddr,
    health: HealthRegistry,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics/health server to {addr}"))?;
    serve_ops_on(listener, health, shutdown).await
}

/// Like [`serve_ops`] on an already bound listener (tests bind port 0).
pub async fn serve_ops_on(
    listener: TcpListener,
    health: HealthRegistry,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let local = listener
        .local_addr()
        .context("reading the listener address")?;
    tracing::info!(address = %local, "serving /metrics, /healthz, /livez and /readyz");
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Small responses: do not wait for Nagle.
                    if let Err(err) = stream.set_nodelay(true) {
                        tracing::debug!(%peer, error = %err, "set_nodelay");
                    }
                    spawn_connection(stream, health.clone(), &graceful);
                }
                Err(err) => {
                    // Usually EMFILE: back off briefly instead of spinning.
                    tracing::warn!(error = %err, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("ops server connections still open after the grace period; closing");
    }
    tracing::info!(address = %local, "ops server stopped");
    Ok(())
}

/// Serves one connection (any byte stream: TCP now, TLS later) in a task
/// tracked by `graceful`.
pub fn spawn_connection<I>(io: I, health: HealthRegistry, graceful: &GracefulShutdown)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let health = health.clone();
        async move { Ok::<_, Infallible>(ops_response(&health, req.method(), req.uri()).await) }
    });
    let conn = http1::Builder::new().serve_connection(TokioIo::new(io), service);
    let conn = graceful.watch(conn);
    tokio::spawn(async move {
        if let Err(err) = conn.await {
            tracing::debug!(error = %err, "ops connection ended with an error");
        }
    });
}

/// The response for one request to the ops endpoints. Socket-free so it can
/// be called from other routers and from tests.
pub async fn ops_response(
    health: &HealthRegistry,
    method: &Method,
    uri: &Uri,
) -> Response<Full<Bytes>> {
    let path = uri.path();
    let known = path == "/metrics" || HealthEndpoint::from_path(path).is_some();
    if !known {
        return text(StatusCode::NOT_FOUND, "404 page not found\n");
    }
    if method != Method::GET && method != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "405: Method Not Allowed\n");
    }
    if path == "/metrics" {
        return Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, metrics::TEXT_CONTENT_TYPE)
            .body(Full::new(Bytes::from(metrics::gather_text())))
            .unwrap_or_else(|_| internal_error());
    }
    let Some((endpoint, suffix)) = HealthEndpoint::from_path(path) else {
        return text(StatusCode::NOT_FOUND, "404 page not found\n");
    };
    let (code, body) = health
        .handle(endpoint, suffix, uri.query().unwrap_or(""))
        .await;
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    text(status, body)
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, health::CONTENT_TYPE)
        .header("X-Content-Type-Options", "nosniff")
        .body(Full::new(body.into()))
        .unwrap_or_else(|_| internal_error())
}

fn internal_error() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"internal server error\n")));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn body_of(response: Response<Full<Bytes>>) -> (StatusCode, String) {
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn port_sharing_lets_two_listeners_bind_one_port() {
        let first = listen("127.0.0.1:0".parse().unwrap(), true).unwrap();
        let addr = first.local_addr().unwrap();
        let second = listen(addr, true).expect("SO_REUSEPORT on both sockets");
        assert_eq!(second.local_addr().unwrap(), addr);
        drop(second);
        // Without sharing on the new socket the port is taken.
        let err = listen(addr, false).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    }

    #[tokio::test]
    async fn routes_without_sockets() {
        let health = HealthRegistry::new();
        health.add_readyz_check("cache", || async { Err("cold".to_string()) }.boxed());
        let get = |path: &'static str| {
            let health = health.clone();
            async move {
                body_of(ops_response(&health, &Method::GET, &Uri::from_static(path)).await).await
            }
        };
        assert_eq!(get("/livez").await, (StatusCode::OK, "ok".to_string()));
        let (status, body) = get("/readyz?verbose").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body.contains("[-]cache failed: reason withheld"), "{body}");
        assert_eq!(
            get("/healthz/ping").await,
            (StatusCode::OK, "ok".to_string())
        );
        assert_eq!(get("/nope").await.0, StatusCode::NOT_FOUND);
        assert_eq!(get("/").await.0, StatusCode::NOT_FOUND);
        let (status, body) = get("/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("process_open_fds"), "{body}");

        let post = ops_response(&health, &Method::POST, &Uri::from_static("/healthz")).await;
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        let metrics = ops_response(&health, &Method::GET, &Uri::from_static("/metrics")).await;
        assert_eq!(
            metrics.headers()[header::CONTENT_TYPE],
            metrics::TEXT_CONTENT_TYPE
        );
    }

    async fn raw_get(addr: SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn serves_over_tcp_and_shuts_down_gracefully() {
        let test = async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let health = HealthRegistry::new();
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(serve_ops_on(listener, health.clone(), async {
                let _ = stop_rx.await;
            }));

            let response = raw_get(addr, "/readyz?verbose").await;
            assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
            assert!(
                response.ends_with("[+]ping ok\n[+]shutdown ok\nreadyz check passed\n"),
                "{response}"
            );

            health.begin_shutdown();
            let response = raw_get(addr, "/readyz").await;
            assert!(response.starts_with("HTTP/1.1 500"), "{response}");

            let response = raw_get(addr, "/metrics").await;
            assert!(response.contains("text/plain; version=0.0.4"), "{response}");

            stop_tx.send(()).unwrap();
            server.await.unwrap().unwrap();
            assert!(tokio::net::TcpStream::connect(addr).await.is_err());
        };
        tokio::time::timeout(Duration::from_secs(20), test)
            .await
            .expect("test timed out");
    }
}
