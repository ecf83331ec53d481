//! The probe mechanisms: exec (CRI ExecSync), httpGet (HTTP/1.1, HTTPS
//! without certificate verification as upstream), tcpSocket and grpc
//! (`grpc.health.v1.Health/Check`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use corten_cri::Runtime;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::{Container, HTTPGetAction, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncRead, AsyncWrite};

/// The outcome of one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It passed.
    Success,
    /// It failed, with the output upstream reports in the Unhealthy event.
    Failure(String),
}

/// Upstream's User-Agent for probes.
pub const USER_AGENT: &str = "kube-probe/1.33";
/// How much of a response body is kept as probe output.
const MAX_OUTPUT: usize = 10 * 1024;

/// Resolves a port (number or container port name).
pub fn resolve_port(port: &IntOrString, container: &Container) -> Result<u16, String> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).map_err(|_| format!("invalid port number: {n}")),
        IntOrString::String(name) => {
            if let Ok(n) = name.parse::<u16>() {
                return Ok(n);
            }
            container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .and_then(|p| u16::try_from(p.container_port).ok())
                .ok_or_else(|| format!("couldn't find port: {name} in {}", container.name))
        }
    }
}

/// Whether pod IPs are real addresses the kubelet may connect to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Network {
    /// Pods have real IPs: httpGet, tcpSocket and grpc connect to them.
    #[default]
    Real,
    /// Simulated nodes: pod IPs are made up and nothing listens there, so
    /// network probes and hooks succeed without sending anything (exec
    /// ones still go to the runtime).
    Simulated,
}

/// Runs the probe's mechanism once.
pub async fn run(
    runtime: &Arc<dyn Runtime>,
    probe: &Probe,
    container: &Container,
    container_id: &str,
    pod_ip: &str,
    network: Network,
) -> Outcome {
    let timeout =
        Duration::from_secs(u64::try_from(probe.timeout_seconds.unwrap_or(1).max(1)).unwrap_or(1));
    if let Some(exec) = &probe.exec {
        let command = exec.command.clone().unwrap_or_default();
        let call = runtime.exec_sync(container_id, command.clone(), timeout);
        return match tokio::time::timeout(timeout + Duration::from_secs(5), call).await {
            Ok(Ok(response)) if response.exit_code == 0 => Outcome::Success,
            Ok(Ok(response)) => {
                let mut output = String::from_utf8_lossy(&response.stdout).into_owned();
                output.push_str(&String::from_utf8_lossy(&response.stderr));
                Outcome::Failure(output.trim_end().to_string())
            }
            Ok(Err(err)) if err.code() == tonic::Code::DeadlineExceeded => {
                Outcome::Failure(format!("command {command:?} timed out"))
            }
            Ok(Err(err)) => Outcome::Failure(err.message().to_string()),
            Err(_) => Outcome::Failure(format!("command {command:?} timed out")),
        };
    }
    if network == Network::Simulated {
        return if probe.http_get.is_some() || probe.tcp_socket.is_some() || probe.grpc.is_some() {
            Outcome::Success
        } else {
            Outcome::Failure("missing probe handler".into())
        };
    }
    if let Some(action) = &probe.http_get {
        return match http_probe(action, container, pod_ip, timeout).await {
            Ok(outcome) => outcome,
            Err(err) => Outcome::Failure(err),
        };
    }
    if let Some(tcp) = &probe.tcp_socket {
        let port = match resolve_port(&tcp.port, container) {
            Ok(p) => p,
            Err(err) => return Outcome::Failure(err),
        };
        let host = tcp
            .host
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| pod_ip.to_string());
        let target = format!("{}:{port}", bracket(&host));
        return match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&target)).await {
            Ok(Ok(_)) => Outcome::Success,
            Ok(Err(err)) => Outcome::Failure(format!("dial tcp {target}: {err}")),
            Err(_) => Outcome::Failure(format!("dial tcp {target}: i/o timeout")),
        };
    }
    if let Some(grpc) = &probe.grpc {
        let port = match u16::try_from(grpc.port) {
            Ok(p) => p,
            Err(_) => return Outcome::Failure(format!("invalid port number: {}", grpc.port)),
        };
        return grpc_probe(
            pod_ip,
            port,
            grpc.service.clone().unwrap_or_default(),
            timeout,
        )
        .await;
    }
    Outcome::Failure("missing probe handler".into())
}

fn bracket(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

async fn http_probe(
    action: &HTTPGetAction,
    container: &Container,
    pod_ip: &str,
    timeout: Duration,
) -> Result<Outcome, String> {
    let port = resolve_port(&action.port, container)?;
    let host = action
        .host
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| pod_ip.to_string());
    let scheme = action.scheme.as_deref().unwrap_or("HTTP").to_uppercase();
    let mut path = action.path.clone().unwrap_or_default();
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    let authority = format!("{}:{port}", bracket(&host));
    let url = format!("{}://{authority}{path}", scheme.to_lowercase());
    let work = async {
        let addr: SocketAddr = tokio::net::lookup_host(&authority)
            .await
            .map_err(|e| format!("Get {url:?}: {e}"))?
            .next()
            .ok_or_else(|| format!("Get {url:?}: no address"))?;
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("Get {url:?}: dial tcp {addr}: connect: {e}"))?;
        let mut request = http::Request::get(path.as_str());
        let mut has_host = false;
        let mut has_agent = false;
        let mut has_accept = false;
        for header in action.http_headers.iter().flatten() {
            let name = header.name.to_lowercase();
            has_host |= name == "host";
            has_agent |= name == "user-agent";
            has_accept |= name == "accept";
            request = request.header(header.name.as_str(), header.value.as_str());
        }
        if !has_host {
            request = request.header(http::header::HOST, authority.as_str());
        }
        if !has_agent {
            request = request.header(http::header::USER_AGENT, USER_AGENT);
        }
        if !has_accept {
            request = request.header(http::header::ACCEPT, "*/*");
        }
        let request = request
            .header(http::header::CONNECTION, "close")
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        if scheme == "HTTPS" {
            let connector = tokio_rustls::TlsConnector::from(insecure_tls());
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| format!("Get {url:?}: {e}"))?;
            let tls = connector
                .connect(name, tcp)
                .await
                .map_err(|e| format!("Get {url:?}: {e}"))?;
            send(tls, request, &url).await
        } else {
            send(tcp, request, &url).await
        }
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        Err(_) => Ok(Outcome::Failure(format!(
            "Get {url:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        ))),
    }
}

async fn send<S>(
    stream: S,
    request: http::Request<Empty<Bytes>>,
    url: &str,
) -> Result<Outcome, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("Get {url:?}: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("Get {url:?}: {e}"))?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut output = Vec::new();
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(data) = frame.data_ref() {
            output.extend_from_slice(data);
            if output.len() >= MAX_OUTPUT {
                output.truncate(MAX_OUTPUT);
                break;
            }
        }
    }
    if (200..400).contains(&status) {
        Ok(Outcome::Success)
    } else {
        Ok(Outcome::Failure(format!(
            "HTTP probe failed with statuscode: {status}"
        )))
    }
}

/// Upstream probes HTTPS without verifying the certificate.
fn insecure_tls() -> Arc<rustls::ClientConfig> {
    #[derive(Debug)]
    struct AcceptAll(Arc<rustls::crypto::CryptoProvider>);
    impl rustls::client::danger::ServerCertVerifier for AcceptAll {
        fn verify_server_cert(
            &self,
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &[rustls::pki_types::CertificateDer<'_>],
            _: &rustls::pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAll(provider)))
                .with_no_client_auth()
        });
    match config {
        Ok(c) => Arc::new(c),
        // The default protocol versions are always supported by ring.
        Err(_) => unreachable!("ring supports the default TLS versions"),
    }
}

#[derive(Clone, PartialEq, prost::Message)]
struct HealthCheckRequest {
    #[prost(string, tag = "1")]
    service: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct HealthCheckResponse {
    #[prost(int32, tag = "1")]
    status: i32,
}

const SERVING: i32 = 1;

async fn grpc_probe(host: &str, port: u16, service: String, timeout: Duration) -> Outcome {
    let target = format!("http://{}:{port}", bracket(host));
    let work = async {
        let channel = tonic::transport::Endpoint::from_shared(target.clone())
            .map_err(|e| e.to_string())?
            .connect_timeout(timeout)
            .connect()
            .await
            .map_err(|e| format!("failed to connect service {target:?} within {timeout:?}: {e}"))?;
        let mut client = tonic::client::Grpc::new(channel);
        client.ready().await.map_err(|e| e.to_string())?;
        let codec = tonic_prost::ProstCodec::<HealthCheckRequest, HealthCheckResponse>::default();
        let path = http::uri::PathAndQuery::from_static("/grpc.health.v1.Health/Check");
        let mut request = tonic::Request::new(HealthCheckRequest { service });
        request.metadata_mut().insert(
            "user-agent",
            tonic::metadata::MetadataValue::from_static(USER_AGENT),
        );
        let response = client
            .unary(request, path, codec)
            .await
            .map_err(|e| format!("rpc error: code = {:?} desc = {}", e.code(), e.message()))?;
        Ok::<_, String>(response.into_inner().status)
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok(SERVING)) => Outcome::Success,
        Ok(Ok(status)) => {
            Outcome::Failure(format!("service unhealthy (responded with {status:?})"))
        }
        Ok(Err(err)) => Outcome::Failure(err),
        Err(_) => Outcome::Failure(format!(
            "timeout: health rpc did not complete within {timeout:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corten_cri::fake::FakeRuntime;
    use k8s_openapi::api::core::v1::{ContainerPort, ExecAction, TCPSocketAction};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn one_shot_server(status: &'static str) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                assert!(
                    request.contains("User-Agent: kube-probe/1.33")
                        || request.contains("user-agent: kube-probe/1.33"),
                    "{request}"
                );
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                        )
                        .as_bytes(),
                    )
                    .await;
            }
        });
        port
    }

    fn container() -> Container {
        Container {
            name: "c".into(),
            ports: Some(vec![ContainerPort {
                name: Some("http".into()),
                container_port: 8080,
                ..Default::default()
            }]),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn http_tcp_exec() {
        let runtime: Arc<dyn Runtime> = Arc::new(FakeRuntime::new());
        let ok = one_shot_server("200 OK").await;
        let bad = one_shot_server("500 Internal Server Error").await;
        let http = |port: u16| Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/healthz".into()),
                port: IntOrString::Int(i32::from(port)),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            run(
                &runtime,
                &http(ok),
                &container(),
                "x",
                "127.0.0.1",
                Network::Real
            )
            .await,
            Outcome::Success
        );
        assert_eq!(
            run(
                &runtime,
                &http(bad),
                &container(),
                "x",
                "127.0.0.1",
                Network::Real
            )
            .await,
            Outcome::Failure("HTTP probe failed with statuscode: 500".into())
        );
        let tcp = |port: i32| Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::Int(port),
                host: None,
            }),
            ..Default::default()
        };
        assert_eq!(
            run(
                &runtime,
                &tcp(i32::from(ok)),
                &container(),
                "x",
                "127.0.0.1",
                Network::Real
            )
            .await,
            Outcome::Success
        );
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        assert!(matches!(
            run(
                &runtime,
                &tcp(i32::from(closed)),
                &container(),
                "x",
                "127.0.0.1",
                Network::Real
            )
            .await,
            Outcome::Failure(_)
        ));
        assert_eq!(
            resolve_port(&IntOrString::String("http".into()), &container()),
            Ok(8080)
        );
        assert!(resolve_port(&IntOrString::String("nope".into()), &container()).is_err());
        let exec = Probe {
            exec: Some(ExecAction {
                command: Some(vec!["true".into()]),
            }),
            ..Default::default()
        };
        // The fake has no such container: a failure with the runtime's message.
        assert!(
            matches!(run(&runtime, &exec, &container(), "missing", "", Network::Real).await, Outcome::Failure(m) if m.contains("not found"))
        );
        // Simulated nodes: network probes succeed without connecting (the
        // closed port would fail), exec probes still ask the runtime.
        assert_eq!(
            run(
                &runtime,
                &tcp(i32::from(closed)),
                &container(),
                "x",
                "10.64.0.2",
                Network::Simulated
            )
            .await,
            Outcome::Success
        );
        assert!(matches!(
            run(
                &runtime,
                &exec,
                &container(),
                "missing",
                "",
                Network::Simulated
            )
            .await,
            Outcome::Failure(_)
        ));
    }
}
