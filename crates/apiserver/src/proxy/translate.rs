//! `pods/exec` and `pods/attach` over WebSocket `v5.channel.k8s.io`
//! (upstream's StreamTranslator): the client speaks the channel protocol
//! over a WebSocket, the kubelet's streaming server speaks SPDY/3.1 with
//! `v4.channel.k8s.io`, and this module carries bytes between the two.
//!
//! Channel protocol: each binary message starts with its channel (0 stdin,
//! 1 stdout, 2 stderr, 3 error, 4 resize); v5 adds message `[255, n]`, "the
//! client closed channel n", which is how `kubectl exec -i` says stdin has
//! ended. On the SPDY side each channel is a stream opened by us with a
//! `streamType` header; the error stream carries the final metav1.Status
//! (with the exit code), which is passed on unchanged. The WebSocket is
//! closed normally once the kubelet has finished the error and output
//! streams, which is how the client learns that everything was read.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, WriteHalf};
use tokio::sync::{Mutex, mpsc};

use super::spdy::{self, Frame};
use super::websocket::{self, Message};

/// The subprotocol offered to clients.
pub const WEBSOCKET_PROTOCOL: &str = "v5.channel.k8s.io";
/// The protocol asked of the kubelet.
pub const SPDY_PROTOCOL: &str = "v4.channel.k8s.io";

/// How long the kubelet has to accept the streams (client-go's
/// stream creation timeout).
const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Channel numbers of the channel protocol.
mod channel {
    pub const STDIN: u8 = 0;
    pub const STDOUT: u8 = 1;
    pub const STDERR: u8 = 2;
    pub const ERROR: u8 = 3;
    pub const RESIZE: u8 = 4;
    /// v5: `[CLOSE, n]` half-closes channel n.
    pub const CLOSE: u8 = 255;
}

/// Which streams the request asked for (the exec/attach options, with
/// stderr already dropped for a TTY as upstream does).
#[derive(Debug, Clone, Copy, Default)]
pub struct Streams {
    /// `stdin`.
    pub stdin: bool,
    /// `stdout`.
    pub stdout: bool,
    /// `stderr`.
    pub stderr: bool,
    /// `tty`: a resize stream is opened.
    pub tty: bool,
}

/// One SPDY stream opened toward the kubelet.
#[derive(Debug)]
struct Opened {
    id: u32,
    channel: u8,
    replied: bool,
    /// The kubelet finished writing (FIN or reset).
    done: bool,
}

/// Why the session ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The kubelet finished all streams.
    Complete,
    /// The client went away or closed the WebSocket.
    ClientGone,
    /// The kubelet side failed before finishing.
    Backend(String),
    /// The client broke the WebSocket protocol.
    ClientError(u16, String),
}

/// The client's side, shared by both directions (pongs go up while output
/// goes down).
type WsWriter<C> = Arc<Mutex<websocket::Writer<WriteHalf<C>>>>;
/// The kubelet's side, shared likewise (ping answers go down while stdin
/// goes up).
type SpdyWriter<B> = Arc<Mutex<WriteHalf<B>>>;

type WsItem = io::Result<Option<Message>>;
type SpdyItem = io::Result<Option<Frame>>;

/// Runs one translated session until either side ends; returns the
/// outcome as an HTTP code for `apiserver_stream_translator_requests_total`
/// (200: the kubelet finished or the client left; 500: the kubelet side
/// failed; 400: the client broke the protocol).
pub async fn run<C, B>(client: C, backend: B, streams: Streams) -> u16
where
    C: AsyncRead + AsyncWrite + Send + 'static,
    B: AsyncRead + AsyncWrite + Send + 'static,
{
    let (client_read, client_write) = tokio::io::split(client);
    let (backend_read, backend_write) = tokio::io::split(backend);
    let ws: WsWriter<C> = Arc::new(Mutex::new(websocket::Writer::new(client_write)));
    let spdy_out: SpdyWriter<B> = Arc::new(Mutex::new(backend_write));

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
    let (spdy_tx, mut spdy_rx) = mpsc::channel(16);
    let backend_reader = tokio::spawn(async move {
        let mut r = backend_read;
        loop {
            let item = spdy::read_frame(&mut r).await;
            let last = !matches!(item, Ok(Some(_)));
            if spdy_tx.send(item).await.is_err() || last {
                return;
            }
        }
    });

    // Streams in client-go's order: error first, then the data streams.
    let mut opened = Vec::new();
    let mut headers = spdy::HeaderWriter::default();
    let wanted = [
        (true, "error", channel::ERROR),
        (streams.stdin, "stdin", channel::STDIN),
        (streams.stdout, "stdout", channel::STDOUT),
        (streams.stderr && !streams.tty, "stderr", channel::STDERR),
        (streams.tty, "resize", channel::RESIZE),
    ];
    let mut handshake = Vec::new();
    for (on, kind, ch) in wanted {
        if !on {
            continue;
        }
        let id = 1 + 2 * opened.len() as u32;
        handshake.extend(headers.syn_stream(id, false, &[("streamtype", kind)]));
        opened.push(Opened {
            id,
            channel: ch,
            replied: false,
            // Streams the kubelet never writes to count as finished.
            done: matches!(ch, channel::STDIN | channel::RESIZE),
        });
    }
    let id_of = |ch: u8| opened.iter().find(|o| o.channel == ch).map(|o| o.id);
    let mut up = Upstream {
        stdin: id_of(channel::STDIN),
        resize: id_of(channel::RESIZE),
    };
    let mut down = Downstream {
        opened,
        error_bytes: 0,
    };
    let end = async {
        let sent = spdy::send(&mut *spdy_out.lock().await, &handshake).await;
        if let Err(e) = sent {
            return End::Backend(format!("opening streams: {e}"));
        }
        // Client input waits until the kubelet has accepted every stream,
        // as client-go does, so no data races a SYN_STREAM.
        if let Err(end) = down.await_replies(&ws, &spdy_out, &mut spdy_rx).await {
            return end;
        }
        // Then the two directions run independently, so a kubelet that is
        // slow to take stdin never stops its output from being read.
        tokio::select! {
            end = down.run(&ws, &spdy_out, &mut spdy_rx) => end,
            end = up.run(&ws, &spdy_out, &mut ws_rx) => end,
        }
    }
    .await;
    client_reader.abort();
    backend_reader.abort();
    let _ = spdy_out.lock().await.shutdown().await;
    let code = match end {
        End::Complete | End::ClientGone => 200,
        End::Backend(_) => 500,
        End::ClientError(..) => 400,
    };
    let mut ws = ws.lock().await;
    match end {
        End::Complete => tracing::debug!("translated stream complete"),
        End::ClientGone => tracing::debug!("client left the translated stream"),
        End::Backend(ref why) => {
            tracing::info!(error = %why, "kubelet stream failed");
            if down.error_bytes == 0 {
                let status = failure_status(&format!("error from the kubelet stream: {why}"));
                let _ = ws.binary(&[channel::ERROR], &status).await;
            }
        }
        End::ClientError(code, ref why) => {
            tracing::info!(error = %why, "client broke the WebSocket protocol");
            let _ = ws.close(code, why).await;
        }
    }
    let _ = ws.close(websocket::close::NORMAL, "").await;
    code
}

/// Sends frames to the kubelet from a task of its own, for answers (ping,
/// refusals) that must not wait behind a blocked stdin write.
fn send_soon<B>(spdy_out: &SpdyWriter<B>, frames: Vec<u8>)
where
    B: AsyncWrite + Send + 'static,
{
    let out = spdy_out.clone();
    tokio::spawn(async move {
        let _ = spdy::send(&mut *out.lock().await, &frames).await;
    });
}

/// Kubelet -> client: replies, output, the error stream's Status.
struct Downstream {
    opened: Vec<Opened>,
    /// Bytes forwarded on the error channel (the Status).
    error_bytes: usize,
}

impl Downstream {
    fn ready(&self) -> bool {
        self.opened.iter().all(|o| o.replied)
    }

    fn complete(&self) -> bool {
        self.opened.iter().all(|o| o.done)
    }

    async fn await_replies<C, B>(
        &mut self,
        ws: &WsWriter<C>,
        spdy_out: &SpdyWriter<B>,
        spdy_rx: &mut mpsc::Receiver<SpdyItem>,
    ) -> Result<(), End>
    where
        C: AsyncWrite + Send + 'static,
        B: AsyncWrite + Send + 'static,
    {
        let deadline = tokio::time::Instant::now() + STREAM_CREATION_TIMEOUT;
        while !self.ready() {
            tokio::select! {
                item = spdy_rx.recv() => self.on_frame(item, ws, spdy_out).await?,
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(End::Backend(
                        "timed out waiting for the kubelet to accept the streams".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    async fn run<C, B>(
        &mut self,
        ws: &WsWriter<C>,
        spdy_out: &SpdyWriter<B>,
        spdy_rx: &mut mpsc::Receiver<SpdyItem>,
    ) -> End
    where
        C: AsyncWrite + Send + 'static,
        B: AsyncWrite + Send + 'static,
    {
        loop {
            if self.complete() {
                return End::Complete;
            }
            if let Err(end) = self.on_frame(spdy_rx.recv().await, ws, spdy_out).await {
                return end;
            }
        }
    }

    async fn on_frame<C, B>(
        &mut self,
        item: Option<SpdyItem>,
        ws: &WsWriter<C>,
        spdy_out: &SpdyWriter<B>,
    ) -> Result<(), End>
    where
        C: AsyncWrite + Send + 'static,
        B: AsyncWrite + Send + 'static,
    {
        let frame = match item {
            Some(Ok(Some(frame))) => frame,
            Some(Ok(None)) | None => {
                return Err(End::Backend("the kubelet closed the connection".into()));
            }
            Some(Err(e)) => return Err(End::Backend(e.to_string())),
        };
        let fin = frame.fin();
        match frame {
            Frame::SynReply { stream_id, .. } => {
                if let Some(o) = self.opened.iter_mut().find(|o| o.id == stream_id) {
                    o.replied = true;
                    o.done |= fin;
                }
            }
            Frame::Data {
                stream_id, data, ..
            } => {
                let Some(o) = self.opened.iter_mut().find(|o| o.id == stream_id) else {
                    return Ok(());
                };
                o.done |= fin;
                let ch = o.channel;
                if !data.is_empty()
                    && matches!(ch, channel::STDOUT | channel::STDERR | channel::ERROR)
                {
                    if ch == channel::ERROR {
                        self.error_bytes += data.len();
                    }
                    let sent = ws.lock().await.binary(&[ch], &data).await;
                    sent.map_err(|_| End::ClientGone)?;
                }
            }
            Frame::RstStream { stream_id, status } => {
                let Some(o) = self.opened.iter_mut().find(|o| o.id == stream_id) else {
                    return Ok(());
                };
                if !o.replied {
                    return Err(End::Backend(format!(
                        "the kubelet refused the stream (RST_STREAM status {status})"
                    )));
                }
                o.done = true;
            }
            Frame::Ping(id) => send_soon(spdy_out, spdy::ping(id)),
            Frame::GoAway { .. } => {
                return Err(End::Backend("the kubelet ended the session".into()));
            }
            Frame::SynStream { stream_id, .. } => send_soon(
                spdy_out,
                spdy::rst_stream(stream_id, spdy::status::REFUSED_STREAM),
            ),
            Frame::Ignored(_) => {}
        }
        Ok(())
    }
}

/// Client -> kubelet: stdin, its close, terminal sizes; pings answered.
struct Upstream {
    /// The stdin stream while it is open.
    stdin: Option<u32>,
    resize: Option<u32>,
}

impl Upstream {
    async fn run<C, B>(
        &mut self,
        ws: &WsWriter<C>,
        spdy_out: &SpdyWriter<B>,
        ws_rx: &mut mpsc::Receiver<WsItem>,
    ) -> End
    where
        C: AsyncWrite + Send + 'static,
        B: AsyncWrite + Send + 'static,
    {
        loop {
            if let Err(end) = self.on_message(ws_rx.recv().await, ws, spdy_out).await {
                return end;
            }
        }
    }

    async fn on_message<C, B>(
        &mut self,
        item: Option<WsItem>,
        ws: &WsWriter<C>,
        spdy_out: &SpdyWriter<B>,
    ) -> Result<(), End>
    where
        C: AsyncWrite + Send + 'static,
        B: AsyncWrite + Send + 'static,
    {
        let message = match item {
            Some(Ok(Some(m))) => m,
            Some(Ok(None)) | None => return Err(End::ClientGone),
            Some(Err(e)) => {
                return Err(End::ClientError(
                    websocket::close_code_for(&e),
                    e.to_string(),
                ));
            }
        };
        let payload = match message {
            Message::Ping(payload) => {
                let sent = ws.lock().await.pong(&payload).await;
                return sent.map_err(|_| End::ClientGone);
            }
            Message::Pong => return Ok(()),
            Message::Close(_) => return Err(End::ClientGone),
            Message::Data(payload) => payload,
        };
        let Some((&ch, rest)) = payload.split_first() else {
            return Ok(());
        };
        let frame = match ch {
            channel::STDIN => self
                .stdin
                .filter(|_| !rest.is_empty())
                .map(|id| spdy::data(id, false, rest)),
            channel::RESIZE => self
                .resize
                .filter(|_| !rest.is_empty())
                .map(|id| spdy::data(id, false, rest)),
            // v5: the client closed stdin; FIN it, once.
            channel::CLOSE if rest.first() == Some(&channel::STDIN) => {
                self.stdin.take().map(|id| spdy::data(id, true, &[]))
            }
            // Output channels are never written by clients.
            _ => None,
        };
        if let Some(frame) = frame {
            let sent = spdy::send(&mut *spdy_out.lock().await, &frame).await;
            sent.map_err(|e| End::Backend(e.to_string()))?;
        }
        Ok(())
    }
}

/// A metav1.Status for a failure of the translation itself, as client-go
/// reads from the error channel.
fn failure_status(message: &str) -> Bytes {
    let status = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "InternalError",
        "code": 500,
    });
    Bytes::from(serde_json::to_vec(&status).unwrap_or_default())
}

#[cfg(test)]
#[path = "translate_tests.rs"]
mod tests;
