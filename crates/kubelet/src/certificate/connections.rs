//! Closing the API client's connections when the client certificate
//! rotates, as upstream's `UpdateTransport` does: connections (and the
//! watches on them) opened with the old certificate are closed, so every
//! request after a rotation reaches the apiserver on a new connection that
//! presents the new certificate, and nothing keeps using the old one until
//! it expires.
//!
//! [`TrackingConnector`] wraps the TCP connector of the kubelet's client:
//! each connection carries the [`ConnectionTracker`]'s token current when
//! it was made; [`ConnectionTracker::close_all`] cancels that token, which
//! wakes the connection's reader and fails its reads and writes, so hyper
//! drops it from the pool (or fails the request or watch running on it,
//! which kube's watchers re-establish).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// Hands out the token of new connections and closes old ones.
#[derive(Debug, Default)]
pub struct ConnectionTracker {
    token: Mutex<CancellationToken>,
}

impl ConnectionTracker {
    /// A tracker with no connections.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn current(&self) -> CancellationToken {
        self.token.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Closes every connection made so far; later ones are not affected.
    pub fn close_all(&self) {
        let old = std::mem::take(&mut *self.token.lock().unwrap_or_else(|e| e.into_inner()));
        old.cancel();
    }
}

/// A connector whose connections [`ConnectionTracker::close_all`] closes.
#[derive(Clone, Debug)]
pub struct TrackingConnector<C> {
    inner: C,
    tracker: Arc<ConnectionTracker>,
}

impl<C> TrackingConnector<C> {
    /// Wraps `inner` (hyper-util's `HttpConnector`).
    pub fn new(inner: C, tracker: Arc<ConnectionTracker>) -> Self {
        Self { inner, tracker }
    }
}

impl<C, S> tower::Service<http::Uri> for TrackingConnector<C>
where
    C: tower::Service<http::Uri, Response = TokioIo<S>>,
    C::Future: Send + 'static,
    S: AsyncRead + AsyncWrite + Unpin,
{
    type Response = TokioIo<Tracked<S>>;
    type Error = C::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, C::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let token = self.tracker.current();
        let connecting = self.inner.call(uri);
        Box::pin(async move {
            let io = connecting.await?;
            Ok(TokioIo::new(Tracked::new(io.into_inner(), token)))
        })
    }
}

/// A stream that fails once its token is cancelled.
pub struct Tracked<S> {
    inner: S,
    closed: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl<S> std::fmt::Debug for Tracked<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracked").finish_non_exhaustive()
    }
}

impl<S> Tracked<S> {
    fn new(inner: S, token: CancellationToken) -> Self {
        Self {
            inner,
            closed: Box::pin(token.cancelled_owned()),
        }
    }

    /// Whether the connection was closed; registers the task to be woken
    /// when it is.
    fn closed(&mut self, cx: &mut Context<'_>) -> Option<std::io::Error> {
        self.closed.as_mut().poll(cx).is_ready().then(|| {
            std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "closed: the client certificate was rotated",
            )
        })
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if let Some(err) = this.closed(cx) {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if let Some(err) = this.closed(cx) {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<S: Connection> Connection for Tracked<S> {
    fn connected(&self) -> Connected {
        self.inner.connected()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn close_all_fails_connections_made_before_it_only() {
        let test = async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            // Echo server.
            tokio::spawn(async move {
                while let Ok((mut s, _)) = listener.accept().await {
                    tokio::spawn(async move {
                        let mut buf = [0u8; 64];
                        while let Ok(n) = s.read(&mut buf).await {
                            if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            });
            let tracker = ConnectionTracker::new();
            let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
            http.enforce_http(false);
            let mut connector = TrackingConnector::new(http, tracker.clone());
            let uri: http::Uri = format!("http://{addr}").parse().unwrap();
            let mut old = tower::Service::call(&mut connector, uri.clone())
                .await
                .unwrap()
                .into_inner();
            old.write_all(b"ping").await.unwrap();
            let mut buf = [0u8; 4];
            old.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"ping");
            // A read waiting on the old connection is woken and fails.
            let waiting = tokio::spawn(async move {
                let mut buf = [0u8; 4];
                old.read(&mut buf).await
            });
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            tracker.close_all();
            let err = waiting.await.unwrap().unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::ConnectionAborted);
            // New connections work.
            let mut new = tower::Service::call(&mut connector, uri)
                .await
                .unwrap()
                .into_inner();
            new.write_all(b"pong").await.unwrap();
            new.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"pong");
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), test)
            .await
            .expect("test timed out");
    }
}
