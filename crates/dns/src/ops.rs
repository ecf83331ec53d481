//! CoreDNS-style operations endpoints: `/health` (default :8080, "OK" while
//! the process runs), `/ready` (default :8181, 200 "OK" once the Service and
//! EndpointSlice caches are filled, 503 before) and `/metrics` (default
//! :9153, Prometheus text).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Response, StatusCode, header};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::metrics;

/// Which endpoint a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/health`
    Health,
    /// `/ready`
    Ready,
    /// `/metrics`
    Metrics,
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

/// The response for `path` on a listener serving `endpoint`.
pub fn response(
    endpoint: Endpoint,
    method: &Method,
    path: &str,
    ready: &AtomicBool,
) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        return respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "405 method not allowed\n",
        );
    }
    match (endpoint, path) {
        (Endpoint::Health, "/health") => {
            let timer = metrics::HEALTH_DURATION.start_timer();
            let r = respond(StatusCode::OK, "text/plain; charset=utf-8", "OK");
            timer.observe_duration();
            r
        }
        (Endpoint::Ready, "/ready") => {
            if ready.load(Ordering::SeqCst) {
                respond(StatusCode::OK, "text/plain; charset=utf-8", "OK")
            } else {
                respond(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain; charset=utf-8",
                    "kubernetes",
                )
            }
        }
        (Endpoint::Metrics, "/metrics") => respond(
            StatusCode::OK,
            corten_component_base::metrics::TEXT_CONTENT_TYPE,
            corten_component_base::metrics::gather_text(),
        ),
        _ => respond(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "404 page not found\n",
        ),
    }
}

/// Binds `addr` for `endpoint` (before serving, so a taken port fails startup).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    use anyhow::Context;
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))
}

/// Serves `endpoint` on `listener` until `stop`.
pub async fn serve(
    listener: TcpListener,
    endpoint: Endpoint,
    ready: Arc<AtomicBool>,
    stop: CancellationToken,
) {
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let ready = ready.clone();
                    let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let r = response(endpoint, req.method(), req.uri().path(), &ready);
                        async move { Ok::<_, Infallible>(r) }
                    });
                    let conn = graceful.watch(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                }
                Err(err) => {
                    tracing::warn!(error = %err, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            () = stop.cancelled() => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
}
