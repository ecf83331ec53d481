//! Forwarding names outside the cluster zone to upstream resolvers.
//!
//! The query is sent as received (same id, same flags) over UDP to each
//! upstream in turn until one answers within the timeout; a truncated answer
//! is retried over TCP when the client itself asked over TCP. The upstream's
//! answer is returned unchanged.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::metrics;

/// How long one upstream gets to answer.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// The upstream resolvers.
#[derive(Clone, Debug)]
pub struct Forwarder {
    upstreams: Vec<SocketAddr>,
}

/// Why forwarding failed.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// No upstream answered.
    #[error("no upstream answered: {0}")]
    NoAnswer(String),
}

fn truncated(response: &[u8]) -> bool {
    response.len() > 2 && response[2] & 0x02 != 0
}

impl Forwarder {
    /// Forwards to `upstreams` (tried in order).
    pub fn new(upstreams: Vec<SocketAddr>) -> Forwarder {
        Forwarder { upstreams }
    }

    /// The upstreams.
    pub fn upstreams(&self) -> &[SocketAddr] {
        &self.upstreams
    }

    /// Sends `query` upstream; returns the raw answer.
    pub async fn forward(&self, query: &[u8], over_tcp: bool) -> Result<Vec<u8>, ForwardError> {
        let mut errors = Vec::new();
        for upstream in &self.upstreams {
            let to = upstream.to_string();
            metrics::FORWARD_REQUESTS.with_label_values(&[&to]).inc();
            let result = match tokio::time::timeout(UPSTREAM_TIMEOUT, udp(*upstream, query)).await {
                Ok(Ok(answer)) if over_tcp && truncated(&answer) => {
                    tokio::time::timeout(UPSTREAM_TIMEOUT, tcp(*upstream, query))
                        .await
                        .unwrap_or_else(|_| Err(std::io::Error::other("timed out")))
                }
                Ok(result) => result,
                Err(_) => Err(std::io::Error::other("timed out")),
            };
            match result {
                Ok(answer) => {
                    let rcode = answer.get(3).map_or(2, |b| b & 0x0f);
                    metrics::FORWARD_RESPONSES
                        .with_label_values(&[&to, metrics::rcode_name(u16::from(rcode)).as_str()])
                        .inc();
                    return Ok(answer);
                }
                Err(err) => {
                    tracing::debug!(upstream = %to, error = %err, "upstream did not answer");
                    errors.push(format!("{to}: {err}"));
                }
            }
        }
        Err(ForwardError::NoAnswer(errors.join("; ")))
    }
}

async fn udp(upstream: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
    let bind: SocketAddr = if upstream.is_ipv4() {
        "0.0.0.0:0".parse().map_err(std::io::Error::other)?
    } else {
        "[::]:0".parse().map_err(std::io::Error::other)?
    };
    let socket = UdpSocket::bind(bind).await?;
    socket.connect(upstream).await?;
    socket.send(query).await?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = socket.recv(&mut buf).await?;
        // Ignore stray datagrams that do not answer our id.
        if n >= 2 && query.len() >= 2 && buf[..2] == query[..2] {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn tcp(upstream: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(upstream).await?;
    let len = u16::try_from(query.len()).map_err(std::io::Error::other)?;
    stream.write_all(&len.to_be_bytes()).await?;
    stream.write_all(query).await?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await?;
    Ok(buf)
}
