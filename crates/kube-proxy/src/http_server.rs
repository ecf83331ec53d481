//! A minimal HTTP/1.1 server for kube-proxy's two ports (health on 10256,
//! metrics on 10249): a handler function, graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Method, Response, StatusCode, Uri, header};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

/// Answers one request.
pub type Handler =
    Arc<dyn Fn(Method, Uri) -> BoxFuture<'static, Response<Full<Bytes>>> + Send + Sync>;

/// A plain response with a content type.
pub fn respond(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    if let Ok(value) = header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response.headers_mut().insert(
        "X-Content-Type-Options",
        header::HeaderValue::from_static("nosniff"),
    );
    response
}

/// How long open connections may take to finish after a shutdown.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves `handler` on `listener` until `shutdown`, then drains for up to 5s.
pub async fn serve(listener: TcpListener, handler: Handler, shutdown: impl Future<Output = ()>) {
    let graceful = accept(listener, handler, shutdown).await;
    let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
}

/// Like [`serve`], but returns as soon as the listener is closed (its port
/// can be bound again): open connections drain in a task of their own. A
/// health check port closing must not hold up the sync loop behind a slow
/// client.
pub async fn serve_detached_drain(
    listener: TcpListener,
    handler: Handler,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = accept(listener, handler, shutdown).await;
    tokio::spawn(async move {
        let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
    });
}

/// Accepts connections until `shutdown`; closes the listener and returns
/// the connections still open.
async fn accept(
    listener: TcpListener,
    handler: Handler,
    shutdown: impl Future<Output = ()>,
) -> GracefulShutdown {
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let handler = handler.clone();
                    let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let handler = handler.clone();
                        async move {
                            Ok::<_, Infallible>(handler(req.method().clone(), req.uri().clone()).await)
                        }
                    });
                    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        if let Err(err) = conn.await {
                            tracing::debug!(error = %err, "connection ended with an error");
                        }
                    });
                }
                Err(err) => {
                    tracing::warn!(error = %err, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    graceful
}
