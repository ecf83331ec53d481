//! The translator against a fake SPDY streaming server (the real one,
//! containerd's behind a kubelet, is exercised by the kubelet crate's
//! `kubectl_workloads` test).

use std::collections::HashMap;
use std::time::Duration;

use tokio::io::{AsyncWriteExt, DuplexStream};

use super::*;
use crate::proxy::spdy::{HeaderWriter, StoredHeaderReader};
use crate::proxy::websocket::client;

/// A fake kubelet streaming server: accepts the client's streams and
/// reports them by type.
struct FakeKubelet {
    io: DuplexStream,
    headers_in: StoredHeaderReader,
    headers_out: HeaderWriter,
    /// streamType -> stream id.
    streams: HashMap<String, u32>,
}

impl FakeKubelet {
    fn new(io: DuplexStream) -> Self {
        FakeKubelet {
            io,
            headers_in: StoredHeaderReader::default(),
            headers_out: HeaderWriter::default(),
            streams: HashMap::new(),
        }
    }

    /// Accepts `n` streams, replying to each.
    async fn accept(&mut self, n: usize) {
        while self.streams.len() < n {
            let frame = spdy::read_frame(&mut self.io).await.unwrap().unwrap();
            let Frame::SynStream {
                stream_id,
                header_block,
                ..
            } = frame
            else {
                panic!("expected SYN_STREAM, got {frame:?}")
            };
            let headers = self.headers_in.read(&header_block).unwrap();
            let kind = headers
                .iter()
                .find(|(k, _)| k == "streamtype")
                .map(|(_, v)| v.clone())
                .expect("streamtype header");
            assert_eq!(stream_id % 2, 1, "client streams are odd");
            let reply = self.headers_out.syn_reply(stream_id, false, &[]);
            self.io.write_all(&reply).await.unwrap();
            self.streams.insert(kind, stream_id);
        }
    }

    fn id(&self, kind: &str) -> u32 {
        self.streams[kind]
    }

    async fn send(&mut self, kind: &str, fin: bool, data: &[u8]) {
        let frame = spdy::data(self.id(kind), fin, data);
        self.io.write_all(&frame).await.unwrap();
    }

    async fn next(&mut self) -> Option<Frame> {
        spdy::read_frame(&mut self.io).await.unwrap()
    }
}

fn session(streams: Streams) -> (DuplexStream, FakeKubelet, tokio::task::JoinHandle<u16>) {
    let (client_side, kubectl) = tokio::io::duplex(1 << 16);
    let (backend_side, kubelet) = tokio::io::duplex(1 << 16);
    let task = tokio::spawn(run(client_side, backend_side, streams));
    (kubectl, FakeKubelet::new(kubelet), task)
}

async fn timed<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("test timed out")
}

const EXIT_3: &str = r#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#;

#[tokio::test]
async fn exec_with_stdin_output_and_exit_code() {
    timed(async {
        let streams = Streams {
            stdin: true,
            stdout: true,
            stderr: true,
            tty: false,
        };
        let (mut kubectl, mut kubelet, task) = session(streams);
        kubelet.accept(4).await;
        let mut kinds: Vec<_> = kubelet.streams.keys().cloned().collect();
        kinds.sort();
        assert_eq!(kinds, ["error", "stderr", "stdin", "stdout"]);
        assert_eq!(kubelet.id("error"), 1, "the error stream comes first");

        // stdin, a heartbeat ping, then v5's half-close of stdin.
        kubectl
            .write_all(&client::binary(b"\x00hello"))
            .await
            .unwrap();
        kubectl.write_all(&client::ping(b"hb")).await.unwrap();
        kubectl.write_all(&client::binary(&[255, 0])).await.unwrap();
        let stdin = kubelet.id("stdin");
        assert_eq!(
            kubelet.next().await,
            Some(Frame::Data {
                stream_id: stdin,
                flags: 0,
                data: Bytes::from_static(b"hello")
            })
        );
        assert_eq!(
            client::read(&mut kubectl).await,
            Some((client::PONG, b"hb".to_vec()))
        );
        let f = kubelet.next().await.unwrap();
        assert!(f.fin(), "stdin closed with FIN: {f:?}");

        kubelet.send("stdout", false, b"HELLO").await;
        kubelet.send("stderr", true, b"warn").await;
        kubelet.send("stdout", true, b"").await;
        kubelet.send("error", false, EXIT_3.as_bytes()).await;
        kubelet.send("error", true, b"").await;

        assert_eq!(
            client::read(&mut kubectl).await,
            Some((client::BINARY, b"\x01HELLO".to_vec()))
        );
        assert_eq!(
            client::read(&mut kubectl).await,
            Some((client::BINARY, b"\x02warn".to_vec()))
        );
        let (op, status) = client::read(&mut kubectl).await.unwrap();
        assert_eq!((op, status[0]), (client::BINARY, 3));
        assert_eq!(
            &status[1..],
            EXIT_3.as_bytes(),
            "the Status passes unchanged"
        );
        // Then a normal close: client-go's end of every stream.
        assert_eq!(
            client::read(&mut kubectl).await,
            Some((client::CLOSE, vec![0x03, 0xe8]))
        );
        assert_eq!(task.await.unwrap(), 200);
        // The kubelet connection is closed too.
        assert_eq!(kubelet.next().await, None);
    })
    .await
}

#[tokio::test]
async fn tty_sessions_carry_resize_and_no_stderr() {
    timed(async {
        let streams = Streams {
            stdin: true,
            stdout: true,
            stderr: true,
            tty: true,
        };
        let (mut kubectl, mut kubelet, task) = session(streams);
        kubelet.accept(4).await;
        assert!(kubelet.streams.contains_key("resize"));
        assert!(!kubelet.streams.contains_key("stderr"));
        let resize = br#"{"Width":80,"Height":24}"#;
        let mut msg = vec![4u8];
        msg.extend_from_slice(resize);
        kubectl.write_all(&client::binary(&msg)).await.unwrap();
        assert_eq!(
            kubelet.next().await,
            Some(Frame::Data {
                stream_id: kubelet.id("resize"),
                flags: 0,
                data: Bytes::from_static(resize)
            })
        );
        // The client leaves: the kubelet connection is closed.
        kubectl.write_all(&client::close(1000)).await.unwrap();
        assert_eq!(kubelet.next().await, None);
        assert_eq!(task.await.unwrap(), 200);
    })
    .await
}

#[tokio::test]
async fn a_failing_kubelet_is_reported_on_the_error_channel() {
    timed(async {
        let streams = Streams {
            stdout: true,
            ..Streams::default()
        };
        let (mut kubectl, mut kubelet, task) = session(streams);
        kubelet.accept(2).await;
        kubelet.send("stdout", false, b"partial").await;
        drop(kubelet);
        assert_eq!(
            client::read(&mut kubectl).await,
            Some((client::BINARY, b"\x01partial".to_vec()))
        );
        let (_, status) = client::read(&mut kubectl).await.unwrap();
        assert_eq!(status[0], 3);
        let v: serde_json::Value = serde_json::from_slice(&status[1..]).unwrap();
        assert_eq!(v["reason"], "InternalError");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("closed the connection"),
            "{v}"
        );
        assert_eq!(
            client::read(&mut kubectl).await,
            Some((client::CLOSE, vec![0x03, 0xe8]))
        );
        assert_eq!(task.await.unwrap(), 500);
    })
    .await
}

#[tokio::test]
async fn refused_streams_and_protocol_errors() {
    timed(async {
        // The kubelet resets a stream before replying.
        let (mut kubectl, mut kubelet, task) = session(Streams {
            stdout: true,
            ..Streams::default()
        });
        let _ = kubelet.next().await.unwrap();
        kubelet
            .io
            .write_all(&spdy::rst_stream(1, spdy::status::REFUSED_STREAM))
            .await
            .unwrap();
        let (_, status) = client::read(&mut kubectl).await.unwrap();
        assert!(String::from_utf8_lossy(&status).contains("refused the stream"));
        assert_eq!(task.await.unwrap(), 500);

        // An unmasked client frame closes with a protocol error.
        let (mut kubectl, mut kubelet, task) = session(Streams {
            stdout: true,
            ..Streams::default()
        });
        kubelet.accept(2).await;
        kubectl.write_all(&[0x82, 0x01, 0x00]).await.unwrap();
        let (op, payload) = client::read(&mut kubectl).await.unwrap();
        assert_eq!((op, &payload[..2]), (client::CLOSE, &[0x03, 0xea][..]));
        assert_eq!(task.await.unwrap(), 400);
    })
    .await
}

#[tokio::test]
async fn kubelet_pings_are_answered_and_its_streams_refused() {
    timed(async {
        let (_kubectl, mut kubelet, task) = session(Streams {
            stdout: true,
            ..Streams::default()
        });
        kubelet.accept(2).await;
        kubelet.io.write_all(&spdy::ping(2)).await.unwrap();
        assert_eq!(kubelet.next().await, Some(Frame::Ping(2)));
        let syn = kubelet.headers_out.syn_stream(2, false, &[("x", "y")]);
        kubelet.io.write_all(&syn).await.unwrap();
        assert_eq!(
            kubelet.next().await,
            Some(Frame::RstStream {
                stream_id: 2,
                status: spdy::status::REFUSED_STREAM
            })
        );
        task.abort();
    })
    .await
}

#[tokio::test]
async fn output_flows_while_stdin_waits_for_the_kubelet() {
    timed(async {
        let (kubectl, mut kubelet, task) = session(Streams {
            stdin: true,
            stdout: true,
            ..Streams::default()
        });
        kubelet.accept(3).await;
        let (mut from_server, mut to_server) = tokio::io::split(kubectl);
        // The client floods stdin, far more than the pipes hold, while the
        // kubelet reads none of it yet.
        let chunk = vec![b'i'; 32 * 1024];
        let writer = tokio::spawn(async move {
            for _ in 0..64 {
                let mut msg = vec![0u8];
                msg.extend_from_slice(&chunk);
                to_server.write_all(&client::binary(&msg)).await.unwrap();
            }
            to_server
        });
        // Meanwhile the kubelet writes its output, and all of it arrives.
        let out = vec![b'o'; 16 * 1024];
        let kubelet_writes = async {
            for _ in 0..64 {
                kubelet.send("stdout", false, &out).await;
            }
            kubelet
        };
        let client_reads = async {
            let mut got = 0;
            while got < 64 * out.len() {
                let (_, payload) = client::read(&mut from_server).await.unwrap();
                assert_eq!(payload[0], 1);
                got += payload.len() - 1;
            }
            got
        };
        let (mut kubelet, got) = tokio::join!(kubelet_writes, client_reads);
        assert_eq!(got, 64 * 16 * 1024);
        // Now the kubelet takes stdin: every byte is there.
        let stdin = kubelet.id("stdin");
        let mut received = 0;
        while received < 64 * 32 * 1024 {
            match kubelet.next().await {
                Some(Frame::Data {
                    stream_id, data, ..
                }) if stream_id == stdin => received += data.len(),
                other => panic!("unexpected {other:?}"),
            }
        }
        let _to_server = writer.await.unwrap();
        task.abort();
    })
    .await
}
