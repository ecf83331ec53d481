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
    let ws = websocket::Writer::new(client_write);

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

    // The two directions run independently, so a kubelet that is slow to
    // take the client's bytes never stops its own from being read.
    let ws = tokio::sync::Mutex::new(ws);
    let down = async {
        loop {
            match down_rx.recv().await {
                Some(Ok(bytes)) if !bytes.is_empty() => {
                    if ws.lock().await.binary(&[], &bytes).await.is_err() {
                        return None;
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "kubelet port-forward connection failed");
                    return Some((
                        websocket::close::INTERNAL,
                        "kubelet connection failed".to_string(),
                    ));
                }
                _ => return Some((websocket::close::NORMAL, String::new())),
            }
        }
    };
    let up = async {
        loop {
            match ws_rx.recv().await {
                Some(Ok(Some(Message::Data(bytes)))) => {
                    if let Err(e) = write_flush(&mut backend_write, &bytes).await {
                        tracing::debug!(error = %e, "writing to the kubelet failed");
                        return Some((
                            websocket::close::INTERNAL,
                            "kubelet connection failed".to_string(),
                        ));
                    }
                }
                Some(Ok(Some(Message::Ping(payload)))) => {
                    if ws.lock().await.pong(&payload).await.is_err() {
                        return None;
                    }
                }
                Some(Ok(Some(Message::Pong))) => {}
                Some(Ok(Some(Message::Close(_)))) => {
                    return Some((websocket::close::NORMAL, String::new()));
                }
                Some(Err(e)) => return Some((websocket::close_code_for(&e), e.to_string())),
                Some(Ok(None)) | None => return None,
            }
        }
    };
    let close = tokio::select! {
        close = down => close,
        close = up => close,
    };
    let mut ws = ws.into_inner();
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
    async fn each_direction_flows_while_the_other_is_stuck() {
        tokio::time::timeout(Duration::from_secs(10), async {
            let (client_side, kubectl) = tokio::io::duplex(1 << 16);
            let (backend_side, mut kubelet) = tokio::io::duplex(1 << 16);
            let session = tokio::spawn(run(client_side, backend_side));
            let (mut from_server, mut to_server) = tokio::io::split(kubectl);
            // The client sends far more than the pipes hold; the kubelet
            // reads none of it until its own 1 MiB has reached the client.
            let writer = tokio::spawn(async move {
                for _ in 0..64 {
                    to_server
                        .write_all(&client::binary(&[b'u'; 32 * 1024]))
                        .await
                        .unwrap();
                }
                to_server
            });
            let sent = async {
                for _ in 0..64 {
                    kubelet.write_all(&[b'd'; 16 * 1024]).await.unwrap();
                }
                kubelet
            };
            let received = async {
                let mut got = 0;
                while got < 64 * 16 * 1024 {
                    got += client::read(&mut from_server).await.unwrap().1.len();
                }
                got
            };
            let (mut kubelet, got) = tokio::join!(sent, received);
            assert_eq!(got, 64 * 16 * 1024);
            let mut up = vec![0u8; 64 * 32 * 1024];
            kubelet.read_exact(&mut up).await.unwrap();
            assert!(up.iter().all(|b| *b == b'u'));
            let _to_server = writer.await.unwrap();
            session.abort();
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
