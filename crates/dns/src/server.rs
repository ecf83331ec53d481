//! The DNS server: UDP and TCP listeners and the query handler.
//!
//! [`Handler::handle`] takes a raw query and returns the raw answer, so it is
//! tested without sockets. Malformed queries get FORMERR (when the header is
//! readable) and never stop the server.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::Record;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

use crate::cache::ForwardCache;
use crate::forward::Forwarder;
use crate::metrics;
use crate::store::{Lookup, RecordStore};

/// The transport a query came over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// UDP (answers are truncated to the client's payload size).
    Udp,
    /// TCP.
    Tcp,
}

/// The biggest answer `request` may get: the client's UDP payload size
/// (512 without EDNS), unlimited over TCP.
fn max_response(request: &Message, transport: Transport) -> usize {
    match (transport, request.extensions()) {
        (Transport::Tcp, _) => usize::MAX,
        (Transport::Udp, Some(edns)) => usize::from(edns.max_payload().max(512)),
        (Transport::Udp, None) => 512,
    }
}

/// Answers queries from the store, forwarding the rest.
#[derive(Clone)]
pub struct Handler {
    store: Arc<RwLock<RecordStore>>,
    forwarder: Option<Forwarder>,
    /// Forwarded answers, reused until their (capped) TTL runs out.
    cache: Arc<ForwardCache>,
    server_label: String,
    /// False until the caches are filled: cluster names get SERVFAIL then,
    /// not an NXDOMAIN that clients would cache.
    synced: Arc<std::sync::atomic::AtomicBool>,
}

struct Built {
    bytes: Vec<u8>,
    rcode: ResponseCode,
    plugin: &'static str,
}

impl Handler {
    /// A handler over `store`; `forwarder` None refuses non-cluster names.
    pub fn new(
        store: Arc<RwLock<RecordStore>>,
        forwarder: Option<Forwarder>,
        listen: SocketAddr,
    ) -> Handler {
        let server_label = format!("dns://:{}", listen.port());
        Handler {
            store,
            forwarder,
            cache: Arc::new(ForwardCache::new(&server_label)),
            server_label,
            synced: Arc::new(std::sync::atomic::AtomicBool::new(true)),
        }
    }

    /// Answers cluster names only once `synced` is true (SERVFAIL before).
    pub fn with_synced_flag(mut self, synced: Arc<std::sync::atomic::AtomicBool>) -> Handler {
        self.synced = synced;
        self
    }

    /// Answers one raw query. None means "send nothing" (unreadable junk).
    pub async fn handle(
        &self,
        query: &[u8],
        transport: Transport,
        peer: SocketAddr,
    ) -> Option<Vec<u8>> {
        let started = Instant::now();
        let proto = match transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        };
        let family = if peer.is_ipv4() { "1" } else { "2" };
        let request = match Message::from_vec(query) {
            Ok(m) => m,
            Err(err) => {
                tracing::debug!(%peer, error = %err, "unreadable query");
                if query.len() < 12 {
                    return None;
                }
                // Echo the id and opcode with FORMERR.
                let id = u16::from_be_bytes([query[0], query[1]]);
                let mut response = Message::error_msg(id, OpCode::Query, ResponseCode::FormErr);
                response.set_message_type(MessageType::Response);
                self.count(proto, family, "other", ResponseCode::FormErr, "", started);
                return response.to_vec().ok();
            }
        };
        if request.message_type() != MessageType::Query {
            return None;
        }
        let qtype = request
            .query()
            .map(|q| q.query_type().to_string())
            .unwrap_or_else(|| "other".into());
        let built = self.answer(&request, query, transport).await;
        self.count(proto, family, &qtype, built.rcode, built.plugin, started);
        Some(built.bytes)
    }

    fn count(
        &self,
        proto: &str,
        family: &str,
        qtype: &str,
        rcode: ResponseCode,
        plugin: &str,
        started: Instant,
    ) {
        let server = self.server_label.as_str();
        metrics::REQUESTS
            .with_label_values(&[server, ".", "", proto, family, qtype])
            .inc();
        metrics::RESPONSES
            .with_label_values(&[
                server,
                ".",
                "",
                metrics::rcode_name(u16::from(rcode)).as_str(),
                plugin,
            ])
            .inc();
        metrics::DURATION
            .with_label_values(&[server, ".", "", qtype])
            .observe(started.elapsed().as_secs_f64());
    }

    async fn answer(&self, request: &Message, raw: &[u8], transport: Transport) -> Built {
        if request.op_code() != OpCode::Query {
            return self.reply(
                request,
                ResponseCode::NotImp,
                vec![],
                vec![],
                vec![],
                false,
                transport,
                "",
            );
        }
        let [query] = request.queries() else {
            return self.reply(
                request,
                ResponseCode::FormErr,
                vec![],
                vec![],
                vec![],
                false,
                transport,
                "",
            );
        };
        let lookup = match self.store.read() {
            Ok(store) => store.lookup(query.name(), query.query_type()),
            Err(_) => {
                return self.reply(
                    request,
                    ResponseCode::ServFail,
                    vec![],
                    vec![],
                    vec![],
                    false,
                    transport,
                    "",
                );
            }
        };
        match lookup {
            Lookup::Answer { .. } if !self.synced.load(std::sync::atomic::Ordering::SeqCst) => self
                .reply(
                    request,
                    ResponseCode::ServFail,
                    vec![],
                    vec![],
                    vec![],
                    false,
                    transport,
                    "kubernetes",
                ),
            Lookup::Answer {
                rcode,
                answers,
                additionals,
                authority,
            } => self.reply(
                request,
                rcode,
                answers,
                additionals,
                authority,
                true,
                transport,
                "kubernetes",
            ),
            Lookup::NotOurs => match &self.forwarder {
                None => self.reply(
                    request,
                    ResponseCode::Refused,
                    vec![],
                    vec![],
                    vec![],
                    false,
                    transport,
                    "",
                ),
                Some(forwarder) => {
                    if let Some(hit) = self.cache.get(request, max_response(request, transport)) {
                        return Built {
                            bytes: hit.bytes,
                            rcode: hit.rcode,
                            plugin: "cache",
                        };
                    }
                    match forwarder.forward(raw, transport == Transport::Tcp).await {
                        Ok(bytes) => {
                            self.cache.insert(request, &bytes);
                            let rcode = ResponseCode::from(0, bytes.get(3).map_or(2, |b| b & 0x0f));
                            Built {
                                bytes,
                                rcode,
                                plugin: "forward",
                            }
                        }
                        Err(err) => {
                            tracing::warn!(name = %query.name(), error = %err, "forwarding failed");
                            self.reply(
                                request,
                                ResponseCode::ServFail,
                                vec![],
                                vec![],
                                vec![],
                                false,
                                transport,
                                "forward",
                            )
                        }
                    }
                }
            },
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn reply(
        &self,
        request: &Message,
        rcode: ResponseCode,
        answers: Vec<Record>,
        additionals: Vec<Record>,
        authority: Vec<Record>,
        authoritative: bool,
        transport: Transport,
        plugin: &'static str,
    ) -> Built {
        let mut response = Message::new();
        response
            .set_id(request.id())
            .set_message_type(MessageType::Response)
            .set_op_code(request.op_code())
            .set_recursion_desired(request.recursion_desired())
            .set_recursion_available(true)
            .set_authoritative(authoritative)
            .set_response_code(rcode);
        response.add_queries(request.queries().to_vec());
        response.add_answers(answers);
        response.add_name_servers(authority);
        response.add_additionals(additionals);
        if request.extensions().is_some() {
            let mut ours = Edns::new();
            ours.set_max_payload(1232);
            response.set_edns(ours);
        }
        let mut bytes = response.to_vec().unwrap_or_default();
        if bytes.len() > max_response(request, transport) {
            // Too big for the client's buffer: say so, and let it retry over TCP.
            response.answers_mut().clear();
            response.additionals_mut().clear();
            response.name_servers_mut().clear();
            response.set_truncated(true);
            bytes = response.to_vec().unwrap_or_default();
        }
        Built {
            bytes,
            rcode,
            plugin,
        }
    }
}

/// Serves UDP on `socket` until `stop`.
pub async fn serve_udp(socket: UdpSocket, handler: Handler, stop: CancellationToken) {
    let socket = Arc::new(socket);
    let mut buf = vec![0u8; 65535];
    loop {
        let (n, peer) = tokio::select! {
            received = socket.recv_from(&mut buf) => match received {
                Ok(r) => r,
                Err(err) => {
                    tracing::debug!(error = %err, "udp receive");
                    continue;
                }
            },
            () = stop.cancelled() => return,
        };
        let query = buf[..n].to_vec();
        let handler = handler.clone();
        let socket = socket.clone();
        tokio::spawn(async move {
            if let Some(answer) = handler.handle(&query, Transport::Udp, peer).await
                && let Err(err) = socket.send_to(&answer, peer).await
            {
                tracing::debug!(%peer, error = %err, "udp send");
            }
        });
    }
}

/// Serves TCP on `listener` until `stop` (length-prefixed messages, several
/// per connection).
pub async fn serve_tcp(listener: TcpListener, handler: Handler, stop: CancellationToken) {
    loop {
        let (mut stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(err) => {
                    tracing::warn!(error = %err, "tcp accept");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stop.cancelled() => return,
        };
        let handler = handler.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            loop {
                let mut len = [0u8; 2];
                // Idle connections are closed after 10s, like CoreDNS's default.
                let read = tokio::select! {
                    r = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_exact(&mut len)) => r,
                    () = stop.cancelled() => return,
                };
                if !matches!(read, Ok(Ok(_))) {
                    return;
                }
                let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
                if stream.read_exact(&mut query).await.is_err() {
                    return;
                }
                let Some(answer) = handler.handle(&query, Transport::Tcp, peer).await else {
                    return;
                };
                let Ok(len) = u16::try_from(answer.len()) else {
                    return;
                };
                if stream.write_all(&len.to_be_bytes()).await.is_err()
                    || stream.write_all(&answer).await.is_err()
                {
                    return;
                }
            }
        });
    }
}
