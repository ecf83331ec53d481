//! `pods/portforward` over WebSocket (upstream's TunnelingHandler, KEP
//! 4006): the client runs its ordinary SPDY/3.1 port-forward session
//! (`portforward.k8s.io`: an error and a data stream per connection, the
//! port in a header) inside WebSocket binary messages, subprotocol
//! `SPDY/3.1+portforward.k8s.io`. The apiserver opens a plain SPDY upgrade
//! to the kubelet and carries the bytes between the two unchanged.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::websocket::{self, Message};

/// The prefix of a tunneled SPDY subprotocol.
pub const TUNNEL_PREFIX: &str = "SPDY/3.1+";
/// The port-forward protocol asked of the kubelet.
pub const PORT_FORWARD_PROTOCOL: &str = "portforward.k8s.io";

/// The subprotocol a client offers for the tunnel.
pub fn websocket_protocol() -> String {
    format!("{TUNNEL_PREFIX}{PORT_FORWARD_PROTOCOL}")
}

/// Carries bytes between the client's WebSocket and the kubelet's SPDY
/// connection until either side ends; returns the outcome as an HTTP code
/// for `apiserver_stream_tunnel_requests_total` (500 when the kubelet
/// connection failed, 400 when the client broke the protocol).
pub async fn run<C, B>(client: C, backend: B) -> u16
where
    C: AsyncRead + AsyncWrite + Send + 'static,
    B: AsyncRead + AsyncWrite + Send + 'static,
{
    let (client_read, client_write) = tokio::io::split(client);
    let (mut backend_read, mut backend_write) = tokio::io::split(backend);
    let mut ws = websocket::Writer::new(client_write);

    let (ws_tx, mut ws_rx) = mpsc::channel(16);
    let client_reader = tokio::spawn(async move {
        let mut r = websocket::Reader::new(client_read);
        loop {
            let item = r.next().await;
            let last = !matches!(
                item,
                Ok(Some(Message::Data(_) | Message::Ping(_) | Message::Pong))
            );
            if ws_tx.send(item).await.is_err() || last {
                return;
            }
        }
    });
    let (down_tx, mut down_rx) = mpsc::channel::<io::Result<Vec<u8>>>(16);
    let backend_reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let item = backend_read.read(&mut buf).await.map(|n| buf[..n].to_vec());
            let last = !matches!(&item, Ok(b) if !b.is_empty());
            if down_tx.send(item).await.is_err() || last {
                return;
            }
        }
    });

    let close = loop {
        tokio::select! {
            item = down_rx.recv() => match item {
                Some(Ok(bytes)) if !bytes.is_empty() => {
                    if ws.binary(&[], &bytes).await.is_err() {
                        break None;
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "kubelet port-forward connection failed");
                    break Some((websocket::close::INTERNAL, "kubelet connection failed".to_string()));
                }
                _ => break Some((websocket::close::NORMAL, String::new())),
            },
            item = ws_rx.recv() => match item {
                Some(Ok(Some(Message::Data(bytes)))) => {
                    if let Err(e) = write_flush(&mut backend_write, &bytes).await {
                        tracing::debug!(error = %e, "writing to the kubelet failed");
                        break Some((websocket::close::INTERNAL, "kubelet connection failed".to_string()));
                    }
                }
                Some(Ok(Some(Message::Ping(payload)))) => {
                    if ws.pong(&payload).await.is_err() {
                        break None;
                    }
                }
                Some(Ok(Some(Message::Pong))) => {}
                Some(Ok(Some(Message::Close(_)))) => {
                    break Some((websocket::close::NORMAL, String::new()));
                }
                Some(Err(e)) => break Some((websocket::close_code_for(&e), e.to_string())),
                Some(Ok(None)) | None => break None,
            },
        }
    };
    client_reader.abort();
    backend_reader.abort();
    let _ = backend_write.shutdown().await;
    let outcome = match &close {
        Some((websocket::close::INTERNAL, _)) => 500,
        Some((websocket::close::NORMAL, _)) | None => 200,
        Some(_) => 400,
    };
    if let Some((code, reason)) = close {
        let _ = ws.close(code, &reason).await;
    }
    outcome
}

async fn write_flush<W: AsyncWrite + Unpin>(w: &mut W, bytes: &[u8]) -> io::Result<()> {
    w.write_all(bytes).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::websocket::client;
    use std::time::Duration;

    #[tokio::test]
    async fn bytes_pass_both_ways_and_closes_propagate() {
        tokio::time::timeout(Duration::from_secs(10), async {
            let (client_side, mut kubectl) = tokio::io::duplex(1 << 16);
            let (backend_side, mut kubelet) = tokio::io::duplex(1 << 16);
            let session = tokio::spawn(run(client_side, backend_side));

            kubectl
                .write_all(&client::binary(b"\x80\x03spdy-bytes"))
                .await
                .unwrap();
            let mut got = vec![0u8; 12];
            kubelet.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"\x80\x03spdy-bytes");

            kubectl.write_all(&client::ping(b"hb")).await.unwrap();
            assert_eq!(
                client::read(&mut kubectl).await,
                Some((client::PONG, b"hb".to_vec()))
            );

            kubelet.write_all(b"reply").await.unwrap();
            assert_eq!(
                client::read(&mut kubectl).await,
                Some((client::BINARY, b"reply".to_vec()))
            );

            // The kubelet hangs up: the client gets a normal close.
            drop(kubelet);
            assert_eq!(
                client::read(&mut kubectl).await,
                Some((client::CLOSE, vec![0x03, 0xe8]))
            );
            session.await.unwrap();
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn client_close_ends_the_kubelet_connection() {
        tokio::time::timeout(Duration::from_secs(10), async {
            let (client_side, mut kubectl) = tokio::io::duplex(1 << 16);
            let (backend_side, mut kubelet) = tokio::io::duplex(1 << 16);
            let session = tokio::spawn(run(client_side, backend_side));
            kubectl.write_all(&client::close(1000)).await.unwrap();
            let mut rest = Vec::new();
            kubelet.read_to_end(&mut rest).await.unwrap();
            assert!(rest.is_empty());
            assert_eq!(
                client::read(&mut kubectl).await,
                Some((client::CLOSE, vec![0x03, 0xe8]))
            );
            session.await.unwrap();
        })
        .await
        .unwrap();
    }
}
