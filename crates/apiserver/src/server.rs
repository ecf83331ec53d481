//! The HTTPS listener: TLS, HTTP/1.1 and HTTP/2, graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::app::{self, ApiServer};

/// How long in-flight requests get after SIGTERM before the process exits
/// (watches are long-running and are cut at this point).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Binds the secure port (`port_sharing`: `--permit-port-sharing`).
pub fn bind(addr: SocketAddr, port_sharing: bool) -> Result<TcpListener> {
    corten_component_base::server::listen(addr, port_sharing)
        .with_context(|| format!("binding the secure port on {addr}"))
}

/// Accepts connections until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    server: Arc<ApiServer>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let server = server.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
            // The client certificate is verified once per connection.
            let chain: Option<Vec<rustls::pki_types::CertificateDer<'static>>> = tls
                .get_ref()
                .1
                .peer_certificates()
                .map(|c| c.iter().map(|c| c.clone().into_owned()).collect());
            let identity = server.authn.peer_identity(chain.as_deref());
            let svc = service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                let server = server.clone();
                req.extensions_mut().insert(identity.clone());
                req.extensions_mut().insert(crate::audit::RemoteAddr(peer));
                async move { Ok::<_, std::convert::Infallible>(app::handle(server, req).await) }
            });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http2().max_concurrent_streams(1000);
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    tracing::info!("stopped accepting connections; draining");
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => tracing::info!("grace period over; closing remaining connections"),
    }
    Ok(())
}
