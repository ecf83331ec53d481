//! The part of SPDY/3.1 the apiserver speaks as a client of a kubelet's
//! streaming server (the protocol behind `X-Stream-Protocol-Version:
//! v4.channel.k8s.io`): frame encoding and decoding, and header blocks.
//!
//! Header blocks in SPDY/3 are one zlib stream per direction and
//! connection, compressed against a fixed dictionary. We never need the
//! headers the server sends (replies are matched by stream id), so they are
//! skipped undecoded; the headers we send are written as zlib *stored*
//! blocks, which every zlib reader accepts, so no compressor is needed.
//! Flow control is not enforced by the Go server (spdystream), so windows
//! are neither tracked nor updated here.

use std::io;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The protocol version in every control frame.
const VERSION: u16 = 3;

/// Flag on SYN_STREAM, SYN_REPLY and DATA: the sender is done writing.
pub const FLAG_FIN: u8 = 0x01;

/// Frames larger than this are refused (the 24-bit length allows 16 MiB;
/// streaming servers send at most 32 KiB of data per frame).
const MAX_FRAME: usize = 1 << 20;

/// RST_STREAM status codes used here.
pub mod status {
    /// The stream is refused (we never accept server-initiated streams).
    pub const REFUSED_STREAM: u32 = 3;
    /// The stream is cancelled by the sender.
    pub const CANCEL: u32 = 5;
}

/// Control frame types.
mod kind {
    pub const SYN_STREAM: u16 = 1;
    pub const SYN_REPLY: u16 = 2;
    pub const RST_STREAM: u16 = 3;
    pub const PING: u16 = 6;
    pub const GOAWAY: u16 = 7;
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The peer opens a stream (headers left compressed).
    SynStream {
        /// Stream id.
        stream_id: u32,
        /// Flags (FIN, UNIDIRECTIONAL).
        flags: u8,
        /// The raw header block.
        header_block: Bytes,
    },
    /// The peer accepts a stream we opened.
    SynReply {
        /// Stream id.
        stream_id: u32,
        /// Flags (FIN).
        flags: u8,
        /// The raw header block.
        header_block: Bytes,
    },
    /// The peer aborts a stream.
    RstStream {
        /// Stream id.
        stream_id: u32,
        /// Status code.
        status: u32,
    },
    /// A ping to echo (or the echo of ours).
    Ping(u32),
    /// The peer is shutting the session down.
    GoAway {
        /// The last stream id it processed.
        last_stream_id: u32,
    },
    /// Stream data.
    Data {
        /// Stream id.
        stream_id: u32,
        /// Flags (FIN).
        flags: u8,
        /// The payload.
        data: Bytes,
    },
    /// SETTINGS, HEADERS, WINDOW_UPDATE and unknown control frames: no
    /// meaning for this client.
    Ignored(u16),
}

impl Frame {
    /// Whether the frame carries FIN.
    pub fn fin(&self) -> bool {
        match self {
            Frame::SynStream { flags, .. }
            | Frame::SynReply { flags, .. }
            | Frame::Data { flags, .. } => flags & FLAG_FIN != 0,
            _ => false,
        }
    }
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

fn u32_at(b: &[u8], at: usize) -> io::Result<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| invalid("truncated SPDY control frame"))
}

/// Reads the next frame; `Ok(None)` at a clean end of the connection.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<Option<Frame>> {
    let mut head = [0u8; 8];
    match r.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let flags = head[4];
    let len = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
    if len > MAX_FRAME {
        return Err(invalid(format!("SPDY frame of {len} bytes is too large")));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    if head[0] & 0x80 == 0 {
        let stream_id = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        return Ok(Some(Frame::Data {
            stream_id,
            flags,
            data: Bytes::from(body),
        }));
    }
    let version = u16::from_be_bytes([head[0] & 0x7F, head[1]]);
    if version != VERSION {
        return Err(invalid(format!("unsupported SPDY version {version}")));
    }
    let kind = u16::from_be_bytes([head[2], head[3]]);
    let stream = |b: &[u8]| u32_at(b, 0).map(|v| v & 0x7FFF_FFFF);
    let frame = match kind {
        kind::SYN_STREAM => Frame::SynStream {
            stream_id: stream(&body)?,
            flags,
            header_block: Bytes::from(body.get(10..).unwrap_or_default().to_vec()),
        },
        kind::SYN_REPLY => Frame::SynReply {
            stream_id: stream(&body)?,
            flags,
            header_block: Bytes::from(body.get(4..).unwrap_or_default().to_vec()),
        },
        kind::RST_STREAM => Frame::RstStream {
            stream_id: stream(&body)?,
            status: u32_at(&body, 4)?,
        },
        kind::PING => Frame::Ping(u32_at(&body, 0)?),
        kind::GOAWAY => Frame::GoAway {
            last_stream_id: stream(&body)?,
        },
        // SETTINGS, HEADERS, WINDOW_UPDATE and anything newer.
        other => Frame::Ignored(other),
    };
    Ok(Some(frame))
}

fn control(kind: u16, flags: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + body.len());
    out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.push(flags);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(body);
    out
}

/// Writes encoded frames and flushes them (a TLS connection holds
/// written bytes until flushed).
pub async fn send<W: AsyncWrite + Unpin>(w: &mut W, frames: &[u8]) -> io::Result<()> {
    w.write_all(frames).await?;
    w.flush().await
}

/// A DATA frame.
pub fn data(stream_id: u32, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&(stream_id & 0x7FFF_FFFF).to_be_bytes());
    out.push(if fin { FLAG_FIN } else { 0 });
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(payload);
    out
}

/// A RST_STREAM frame.
pub fn rst_stream(stream_id: u32, status: u32) -> Vec<u8> {
    let mut body = (stream_id & 0x7FFF_FFFF).to_be_bytes().to_vec();
    body.extend_from_slice(&status.to_be_bytes());
    control(kind::RST_STREAM, 0, &body)
}

/// A PING frame (also the answer to one: same id).
pub fn ping(id: u32) -> Vec<u8> {
    control(kind::PING, 0, &id.to_be_bytes())
}

/// Writes the header blocks of one direction of a connection: one zlib
/// stream made of stored blocks, so its first block carries the zlib
/// header and every block is complete in itself.
#[derive(Debug, Default)]
pub struct HeaderWriter {
    started: bool,
}

impl HeaderWriter {
    /// The next header block for `headers` (names must be lower case).
    pub fn block(&mut self, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut plain = (headers.len() as u32).to_be_bytes().to_vec();
        for (name, value) in headers {
            plain.extend_from_slice(&(name.len() as u32).to_be_bytes());
            plain.extend_from_slice(name.as_bytes());
            plain.extend_from_slice(&(value.len() as u32).to_be_bytes());
            plain.extend_from_slice(value.as_bytes());
        }
        let mut out = Vec::with_capacity(plain.len() + 8);
        if !self.started {
            // CMF 0x78 (deflate, 32K window), FLG 0x01: no dictionary, and
            // (0x78 * 256 + 0x01) is a multiple of 31 as the format asks.
            out.extend_from_slice(&[0x78, 0x01]);
            self.started = true;
        }
        // Non-final stored blocks (3 header bits, padded to a byte, then
        // LEN and its complement), closed by an empty one: that is a zlib
        // sync flush, and Go's inflater only hands out what it has
        // decoded when it meets one (or its buffer fills).
        for chunk in plain.chunks(u16::MAX as usize).chain([&[][..]]) {
            out.push(0x00);
            let len = chunk.len() as u16;
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&(!len).to_le_bytes());
            out.extend_from_slice(chunk);
        }
        out
    }

    /// A SYN_STREAM frame opening `stream_id` with `headers`.
    pub fn syn_stream(&mut self, stream_id: u32, fin: bool, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut body = (stream_id & 0x7FFF_FFFF).to_be_bytes().to_vec();
        body.extend_from_slice(&0u32.to_be_bytes()); // no associated stream
        body.extend_from_slice(&[0, 0]); // priority 0, slot 0
        body.extend_from_slice(&self.block(headers));
        control(kind::SYN_STREAM, if fin { FLAG_FIN } else { 0 }, &body)
    }

    /// A SYN_REPLY frame (used by the test server).
    pub fn syn_reply(&mut self, stream_id: u32, fin: bool, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut body = (stream_id & 0x7FFF_FFFF).to_be_bytes().to_vec();
        body.extend_from_slice(&self.block(headers));
        control(kind::SYN_REPLY, if fin { FLAG_FIN } else { 0 }, &body)
    }
}

/// Decodes header blocks written by [`HeaderWriter`] (stored blocks only);
/// the test server uses it to see which stream type the client opened.
#[derive(Debug, Default)]
pub struct StoredHeaderReader {
    started: bool,
}

impl StoredHeaderReader {
    /// The name/value pairs of one block.
    pub fn read(&mut self, mut block: &[u8]) -> io::Result<Vec<(String, String)>> {
        if !self.started {
            if block.get(..2) != Some(&[0x78, 0x01][..]) {
                return Err(invalid("not a stored zlib stream"));
            }
            block = &block[2..];
            self.started = true;
        }
        let mut plain = Vec::new();
        while !block.is_empty() {
            if block.len() < 5 || block[0] != 0 {
                return Err(invalid("only non-final stored blocks are understood"));
            }
            let len = u16::from_le_bytes([block[1], block[2]]) as usize;
            let data = block
                .get(5..5 + len)
                .ok_or_else(|| invalid("truncated stored block"))?;
            plain.extend_from_slice(data);
            block = &block[5 + len..];
        }
        let count = u32_at(&plain, 0)? as usize;
        let mut at = 4;
        let mut take = |plain: &[u8]| -> io::Result<String> {
            let n = u32_at(plain, at)? as usize;
            let s = plain
                .get(at + 4..at + 4 + n)
                .ok_or_else(|| invalid("truncated header"))?;
            at += 4 + n;
            Ok(String::from_utf8_lossy(s).into_owned())
        };
        let mut out = Vec::new();
        for _ in 0..count.min(1024) {
            let name = take(&plain)?;
            let value = take(&plain)?;
            out.push((name, value));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip() {
        let mut w = HeaderWriter::default();
        let mut wire = Vec::new();
        wire.extend(w.syn_stream(1, false, &[("streamtype", "error")]));
        wire.extend(w.syn_stream(3, true, &[("streamtype", "stdout"), ("x", "y")]));
        wire.extend(data(3, true, b"hello"));
        wire.extend(rst_stream(5, status::CANCEL));
        wire.extend(ping(7));
        wire.extend(w.syn_reply(9, false, &[]));
        let mut r = wire.as_slice();
        let mut headers = StoredHeaderReader::default();
        let Some(Frame::SynStream {
            stream_id: 1,
            flags: 0,
            header_block,
        }) = read_frame(&mut r).await.unwrap()
        else {
            panic!("first frame")
        };
        assert_eq!(
            headers.read(&header_block).unwrap(),
            [("streamtype".to_string(), "error".to_string())]
        );
        let f = read_frame(&mut r).await.unwrap().unwrap();
        assert!(f.fin());
        let Frame::SynStream { header_block, .. } = f else {
            panic!("second frame")
        };
        assert_eq!(headers.read(&header_block).unwrap().len(), 2);
        assert_eq!(
            read_frame(&mut r).await.unwrap(),
            Some(Frame::Data {
                stream_id: 3,
                flags: FLAG_FIN,
                data: Bytes::from_static(b"hello")
            })
        );
        assert_eq!(
            read_frame(&mut r).await.unwrap(),
            Some(Frame::RstStream {
                stream_id: 5,
                status: status::CANCEL
            })
        );
        assert_eq!(read_frame(&mut r).await.unwrap(), Some(Frame::Ping(7)));
        assert!(matches!(
            read_frame(&mut r).await.unwrap(),
            Some(Frame::SynReply { stream_id: 9, .. })
        ));
        assert_eq!(read_frame(&mut r).await.unwrap(), None);
    }

    #[test]
    fn first_header_block_is_a_valid_zlib_start() {
        let block = HeaderWriter::default().block(&[("a", "b")]);
        assert!(
            block.ends_with(&[0, 0, 0, 0xff, 0xff]),
            "ends with a sync flush"
        );
        assert_eq!((u16::from(block[0]) * 256 + u16::from(block[1])) % 31, 0);
        assert_eq!(block[0] & 0x0F, 8, "deflate");
        assert_eq!(block[1] & 0x20, 0, "no preset dictionary");
    }

    #[tokio::test]
    async fn bad_frames_are_errors() {
        // SPDY/2 control frame.
        let mut r: &[u8] = &[0x80, 0x02, 0x00, 0x01, 0, 0, 0, 0];
        assert!(read_frame(&mut r).await.is_err());
        // Oversized.
        let mut r: &[u8] = &[0x00, 0x00, 0x00, 0x01, 0, 0xFF, 0xFF, 0xFF];
        assert!(read_frame(&mut r).await.is_err());
        // Truncated RST_STREAM.
        let mut r: &[u8] = &[0x80, 0x03, 0x00, 0x03, 0, 0, 0, 2, 0, 0];
        assert!(read_frame(&mut r).await.is_err());
    }
}
