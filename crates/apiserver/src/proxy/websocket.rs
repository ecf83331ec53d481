//! The server side of RFC 6455 WebSocket, as much as the streaming
//! subresources need: the opening handshake (`Sec-WebSocket-Accept`,
//! subprotocol choice), reading masked client frames (fragments joined,
//! control frames answered by the caller) and writing unmasked frames.

use std::io;

use base64::Engine;
use corten_apimachinery::StatusError;
use http::HeaderMap;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The GUID of RFC 6455 section 1.3 that the accept key is derived with.
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The largest message accepted from a client. Streaming clients send
/// small messages (kubectl writes at most 32 KiB of stdin at a time); the
/// cap keeps a hostile client from making us buffer without bound.
pub const MAX_MESSAGE: usize = 4 << 20;

/// Close codes used here (RFC 6455 section 7.4.1).
pub mod close {
    /// Normal closure: client-go reads it as end of every stream.
    pub const NORMAL: u16 = 1000;
    /// The peer broke the protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A message was too large.
    pub const TOO_BIG: u16 = 1009;
    /// The server hit an unexpected condition.
    pub const INTERNAL: u16 = 1011;
}

/// Frame opcodes.
mod opcode {
    pub const CONTINUATION: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;
}

/// One message from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A data message (text or binary; the channel protocols use binary,
    /// and the payload is handled the same either way).
    Data(Vec<u8>),
    /// A ping to answer with a pong carrying the same payload.
    Ping(Vec<u8>),
    /// A pong (the client answering a ping we never send; ignored).
    Pong,
    /// The client closes, with its close code when it gave one.
    Close(Option<u16>),
}

/// The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key.trim().as_bytes());
    ctx.update(ACCEPT_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(ctx.finish().as_ref())
}

/// Checks the handshake headers of a WebSocket upgrade request and returns
/// the accept key for the response.
pub fn check_handshake(headers: &HeaderMap) -> Result<String, StatusError> {
    let version = headers
        .get("sec-websocket-version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if version.trim() != "13" {
        return Err(StatusError::bad_request(format!(
            "unsupported WebSocket version {version:?}: only version 13 is supported"
        )));
    }
    let key = headers
        .get("sec-websocket-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or("");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(key)
        .unwrap_or_default();
    if decoded.len() != 16 {
        return Err(StatusError::bad_request(
            "missing or malformed Sec-WebSocket-Key header",
        ));
    }
    Ok(accept_key(key))
}

/// Reads client messages from one connection.
pub struct Reader<R> {
    io: R,
    /// The data message being assembled from fragments.
    partial: Option<Vec<u8>>,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    /// Reads from `io` (the client's side of an upgraded connection).
    pub fn new(io: R) -> Self {
        Reader { io, partial: None }
    }

    /// The next message; `Ok(None)` when the connection ended without a
    /// close frame. A protocol violation is an `InvalidData` error whose
    /// text says what was wrong.
    pub async fn next(&mut self) -> io::Result<Option<Message>> {
        loop {
            let mut head = [0u8; 2];
            match self.io.read_exact(&mut head).await {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(e) => return Err(e),
            }
            let fin = head[0] & 0x80 != 0;
            if head[0] & 0x70 != 0 {
                return Err(invalid("reserved bits set without a negotiated extension"));
            }
            let op = head[0] & 0x0F;
            if head[1] & 0x80 == 0 {
                return Err(invalid("client frames must be masked"));
            }
            let len = match head[1] & 0x7F {
                126 => u64::from(self.io.read_u16().await?),
                127 => self.io.read_u64().await?,
                n => u64::from(n),
            };
            let is_control = op & 0x8 != 0;
            if is_control && (len > 125 || !fin) {
                return Err(invalid("control frames must be short and unfragmented"));
            }
            let already = self.partial.as_ref().map_or(0, Vec::len) as u64;
            if len + already > MAX_MESSAGE as u64 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, TooBig));
            }
            let mut mask = [0u8; 4];
            self.io.read_exact(&mut mask).await?;
            let mut payload = vec![0u8; len as usize];
            self.io.read_exact(&mut payload).await?;
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= mask[i % 4];
            }
            match op {
                opcode::PING => return Ok(Some(Message::Ping(payload))),
                opcode::PONG => return Ok(Some(Message::Pong)),
                opcode::CLOSE => {
                    let code =
                        (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                    return Ok(Some(Message::Close(code)));
                }
                opcode::TEXT | opcode::BINARY => {
                    if self.partial.is_some() {
                        return Err(invalid("a new message started inside a fragmented one"));
                    }
                    if fin {
                        return Ok(Some(Message::Data(payload)));
                    }
                    self.partial = Some(payload);
                }
                opcode::CONTINUATION => {
                    let Some(mut message) = self.partial.take() else {
                        return Err(invalid("a continuation frame without a message"));
                    };
                    message.extend_from_slice(&payload);
                    if fin {
                        return Ok(Some(Message::Data(message)));
                    }
                    self.partial = Some(message);
                }
                _ => return Err(invalid("unknown opcode")),
            }
        }
    }
}

/// The error behind an `InvalidData` error for an oversized message.
#[derive(Debug, thiserror::Error)]
#[error("message larger than {MAX_MESSAGE} bytes")]
pub struct TooBig;

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// The close code to answer a read error with.
pub fn close_code_for(err: &io::Error) -> u16 {
    match err.get_ref() {
        Some(inner) if inner.is::<TooBig>() => close::TOO_BIG,
        _ if err.kind() == io::ErrorKind::InvalidData => close::PROTOCOL_ERROR,
        _ => close::INTERNAL,
    }
}

/// Encodes one unmasked frame with FIN set (servers never mask).
fn frame(op: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    out.push(0x80 | op);
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= u16::MAX as usize => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// Writes server frames to one connection.
pub struct Writer<W> {
    io: W,
    closed: bool,
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    /// Writes to `io` (the client's side of an upgraded connection).
    pub fn new(io: W) -> Self {
        Writer { io, closed: false }
    }

    /// Sends a binary message made of `prefix` and `data` (the channel
    /// protocols put the channel number first).
    pub async fn binary(&mut self, prefix: &[u8], data: &[u8]) -> io::Result<()> {
        let mut payload = Vec::with_capacity(prefix.len() + data.len());
        payload.extend_from_slice(prefix);
        payload.extend_from_slice(data);
        self.io.write_all(&frame(opcode::BINARY, &payload)).await?;
        self.io.flush().await
    }

    /// Answers a ping.
    pub async fn pong(&mut self, payload: &[u8]) -> io::Result<()> {
        self.io.write_all(&frame(opcode::PONG, payload)).await?;
        self.io.flush().await
    }

    /// Sends a close frame (once) and shuts the write side down.
    pub async fn close(&mut self, code: u16, reason: &str) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let mut payload = code.to_be_bytes().to_vec();
        // A close reason must fit a control frame (125 bytes with the code).
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        payload.extend_from_slice(&reason.as_bytes()[..end]);
        self.io.write_all(&frame(opcode::CLOSE, &payload)).await?;
        self.io.flush().await?;
        self.io.shutdown().await
    }
}

/// Test helpers: a client's side of the framing.
#[cfg(test)]
pub mod client {
    use super::*;

    /// Encodes a masked client frame.
    pub fn frame(op: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut out = vec![if fin { 0x80 | op } else { op }];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= u16::MAX as usize => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    /// A masked binary message.
    pub fn binary(payload: &[u8]) -> Vec<u8> {
        frame(opcode::BINARY, true, payload)
    }

    /// A masked close frame with a code.
    pub fn close(code: u16) -> Vec<u8> {
        frame(opcode::CLOSE, true, &code.to_be_bytes())
    }

    /// A masked ping.
    pub fn ping(payload: &[u8]) -> Vec<u8> {
        frame(opcode::PING, true, payload)
    }

    /// Reads one unmasked server frame: (opcode, payload); `None` at EOF.
    pub async fn read<R: AsyncRead + Unpin>(r: &mut R) -> Option<(u8, Vec<u8>)> {
        let mut head = [0u8; 2];
        r.read_exact(&mut head).await.ok()?;
        assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
        let len = match head[1] & 0x7F {
            126 => u64::from(r.read_u16().await.ok()?),
            127 => r.read_u64().await.ok()?,
            n => u64::from(n),
        };
        let mut payload = vec![0u8; len as usize];
        r.read_exact(&mut payload).await.ok()?;
        Some((head[0] & 0x0F, payload))
    }

    pub use super::opcode::{BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_example() {
        // RFC 6455 section 1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn handshake_headers_are_checked() {
        let mut h = HeaderMap::new();
        h.insert(
            "sec-websocket-key",
            "dGhlIHNhbXBsZSBub25jZQ==".parse().unwrap(),
        );
        assert_eq!(check_handshake(&h).unwrap_err().code, 400);
        h.insert("sec-websocket-version", "13".parse().unwrap());
        assert_eq!(check_handshake(&h).unwrap(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        h.insert("sec-websocket-key", "short".parse().unwrap());
        assert_eq!(check_handshake(&h).unwrap_err().code, 400);
    }

    #[tokio::test]
    async fn reads_fragments_controls_and_long_frames() {
        let mut wire = Vec::new();
        wire.extend(client::frame(client::BINARY, false, b"ab"));
        wire.extend(client::ping(b"p"));
        wire.extend(client::frame(client::CONTINUATION, true, b"cd"));
        let long = vec![7u8; 70_000];
        wire.extend(client::binary(&long));
        wire.extend(client::frame(client::TEXT, true, &[1u8; 300]));
        wire.extend(client::close(1000));
        let mut r = Reader::new(wire.as_slice());
        assert_eq!(r.next().await.unwrap(), Some(Message::Ping(b"p".to_vec())));
        assert_eq!(
            r.next().await.unwrap(),
            Some(Message::Data(b"abcd".to_vec()))
        );
        assert_eq!(r.next().await.unwrap(), Some(Message::Data(long)));
        assert_eq!(r.next().await.unwrap(), Some(Message::Data(vec![1u8; 300])));
        assert_eq!(r.next().await.unwrap(), Some(Message::Close(Some(1000))));
        assert_eq!(r.next().await.unwrap(), None);
    }

    #[tokio::test]
    async fn protocol_violations_are_errors() {
        // Unmasked client frame.
        let e = Reader::new(&[0x82u8, 0x01, 0x00][..])
            .next()
            .await
            .unwrap_err();
        assert_eq!(close_code_for(&e), close::PROTOCOL_ERROR);
        // Continuation without a start.
        let bad = client::frame(client::CONTINUATION, true, b"x");
        let e = Reader::new(bad.as_slice()).next().await.unwrap_err();
        assert_eq!(close_code_for(&e), close::PROTOCOL_ERROR);
        // Oversized length is refused before anything is allocated.
        let mut huge = vec![0x82u8, 0x80 | 127];
        huge.extend_from_slice(&(u64::MAX / 2).to_be_bytes());
        let e = Reader::new(huge.as_slice()).next().await.unwrap_err();
        assert_eq!(close_code_for(&e), close::TOO_BIG);
        // Fragmented ping.
        let bad = client::frame(client::PING, false, b"x");
        assert!(Reader::new(bad.as_slice()).next().await.is_err());
    }

    #[tokio::test]
    async fn writes_frames_a_client_can_read() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut w = Writer::new(a);
        w.binary(&[1], b"out").await.unwrap();
        w.binary(&[], &vec![9u8; 300]).await.unwrap();
        w.pong(b"p").await.unwrap();
        w.close(close::NORMAL, "").await.unwrap();
        w.close(close::NORMAL, "").await.unwrap();
        assert_eq!(
            client::read(&mut b).await,
            Some((client::BINARY, b"\x01out".to_vec()))
        );
        assert_eq!(
            client::read(&mut b).await,
            Some((client::BINARY, vec![9u8; 300]))
        );
        assert_eq!(
            client::read(&mut b).await,
            Some((client::PONG, b"p".to_vec()))
        );
        assert_eq!(
            client::read(&mut b).await,
            Some((client::CLOSE, vec![0x03, 0xe8]))
        );
        assert_eq!(client::read(&mut b).await, None);
    }
}
