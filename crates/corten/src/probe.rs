//! Readiness probes: a minimal HTTP/1.1 GET over TCP or rustls.
//!
//! Only what `corten` needs to ask `/health` and `/readyz`: one request per
//! connection (`Connection: close`), status line and body back.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// How one component is asked whether it is ready.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Plain HTTP GET that must answer 200 (etcd's `/health`).
    Http {
        /// Where to connect.
        addr: SocketAddr,
        /// Request path.
        path: String,
    },
    /// HTTPS GET trusting only the cluster CA; must answer 200 (`/readyz`).
    Https {
        /// Where to connect; the certificate must be valid for this IP.
        addr: SocketAddr,
        /// Request path.
        path: String,
        /// PEM CA bundle to trust.
        ca_file: PathBuf,
    },
}

impl Probe {
    /// The URL, for messages.
    pub fn url(&self) -> String {
        match self {
            Probe::Http { addr, path } => format!("http://{addr}{path}"),
            Probe::Https { addr, path, .. } => format!("https://{addr}{path}"),
        }
    }

    /// Runs the probe once: `Ok(body)` on 200, `Err` with the reason otherwise.
    pub async fn check(&self, timeout: Duration) -> anyhow::Result<String> {
        let (status, body) = tokio::time::timeout(timeout, self.get())
            .await
            .map_err(|_| anyhow!("{} did not answer within {timeout:?}", self.url()))??;
        if status != 200 {
            bail!("{} answered {status}: {}", self.url(), body.trim());
        }
        Ok(body)
    }

    async fn get(&self) -> anyhow::Result<(u16, String)> {
        match self {
            Probe::Http { addr, path } => {
                let stream = TcpStream::connect(addr)
                    .await
                    .with_context(|| format!("connecting to {addr}"))?;
                http_get(stream, &addr.to_string(), path).await
            }
            Probe::Https {
                addr,
                path,
                ca_file,
            } => {
                let ca = std::fs::read(ca_file)
                    .with_context(|| format!("reading {}", ca_file.display()))?;
                let roots = crate::pki::root_store(&ca)?;
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .context("configuring TLS")?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
                let tcp = TcpStream::connect(addr)
                    .await
                    .with_context(|| format!("connecting to {addr}"))?;
                let tls = connector
                    .connect(ServerName::IpAddress(addr.ip().into()), tcp)
                    .await
                    .with_context(|| format!("TLS handshake with {addr}"))?;
                http_get(tls, &addr.to_string(), path).await
            }
        }
    }
}

/// Sends one GET and reads the whole response.
async fn http_get<S>(mut stream: S, host: &str, path: &str) -> anyhow::Result<(u16, String)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: corten/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    stream
        .write_all(request.as_bytes())
        .await
        .context("sending the request")?;
    let mut raw = Vec::new();
    // A TLS peer may close without close_notify; keep what was read.
    if let Err(err) = stream.read_to_end(&mut raw).await
        && raw.is_empty()
    {
        return Err(err).context("reading the response");
    }
    parse_response(&raw)
}

/// Parses status code and body (plain or chunked) of an HTTP/1.1 response.
pub fn parse_response(raw: &[u8]) -> anyhow::Result<(u16, String)> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("incomplete HTTP response ({} bytes)", raw.len()))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let body = &raw[split + 4..];
    let status_line = head.lines().next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| anyhow!("malformed status line {status_line:?}"))?;
    let chunked = head.lines().any(|line| {
        let lower = line.to_ascii_lowercase();
        lower.starts_with("transfer-encoding:") && lower.contains("chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_vec()
    };
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            break;
        };
        data = &data[line_end + 2..];
        if size == 0 || data.len() < size {
            out.extend_from_slice(&data[..size.min(data.len())]);
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_responses() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(parse_response(plain).unwrap(), (200, "ok".to_string()));
        let chunked = b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(chunked).unwrap(),
            (500, "hello world".to_string())
        );
        assert!(parse_response(b"garbage").is_err());
        assert!(parse_response(b"HTTP/1.1 abc\r\n\r\n").is_err());
    }

    #[tokio::test]
    async fn http_probe_against_a_local_listener() {
        let test = async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = tokio::spawn(async move {
                for answer in ["200 OK", "503 Service Unavailable"] {
                    let (mut conn, _) = listener.accept().await.unwrap();
                    let mut buf = [0u8; 1024];
                    let n = conn.read(&mut buf).await.unwrap();
                    assert!(
                        String::from_utf8_lossy(&buf[..n]).starts_with("GET /health HTTP/1.1\r\n")
                    );
                    let body = r#"{"health":"true"}"#;
                    let response = format!(
                        "HTTP/1.1 {answer}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    conn.write_all(response.as_bytes()).await.unwrap();
                }
            });
            let probe = Probe::Http {
                addr,
                path: "/health".to_string(),
            };
            assert_eq!(probe.url(), format!("http://{addr}/health"));
            let body = probe.check(Duration::from_secs(5)).await.unwrap();
            assert!(body.contains("true"));
            let err = probe.check(Duration::from_secs(5)).await.unwrap_err();
            assert!(err.to_string().contains("503"), "{err}");
            server.await.unwrap();
        };
        tokio::time::timeout(Duration::from_secs(20), test)
            .await
            .expect("test timed out");
    }

    #[tokio::test]
    async fn https_probe_trusts_only_the_cluster_ca() {
        use crate::pki::{CertSpec, CertificateAuthority};
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};

        let test = async {
            let dir = tempfile::tempdir().unwrap();
            let (ca, _) = CertificateAuthority::generate("kubernetes-ca").unwrap();
            let serving = ca
                .issue(
                    &CertSpec::server("kube-apiserver")
                        .with_ip([std::net::IpAddr::from([127, 0, 0, 1])]),
                )
                .unwrap();
            let ca_file = dir.path().join("ca.crt");
            std::fs::write(&ca_file, ca.cert_pem()).unwrap();
            let (other, _) = CertificateAuthority::generate("other").unwrap();
            let other_file = dir.path().join("other.crt");
            std::fs::write(&other_file, other.cert_pem()).unwrap();

            let chain = vec![CertificateDer::from_pem_slice(serving.cert_pem.as_bytes()).unwrap()];
            let key = PrivateKeyDer::from_pem_slice(serving.key_pem.as_bytes()).unwrap();
            let config = rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = tokio::spawn(async move {
                // First connection: served. Second: the client aborts the handshake.
                let (tcp, _) = listener.accept().await.unwrap();
                let mut tls = acceptor.accept(tcp).await.unwrap();
                let mut buf = [0u8; 1024];
                let n = tls.read(&mut buf).await.unwrap();
                assert!(String::from_utf8_lossy(&buf[..n]).starts_with("GET /readyz "));
                tls.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                )
                .await
                .unwrap();
                tls.shutdown().await.unwrap();
                let (tcp, _) = listener.accept().await.unwrap();
                assert!(acceptor.accept(tcp).await.is_err());
            });

            let probe = Probe::Https {
                addr,
                path: "/readyz".to_string(),
                ca_file,
            };
            assert_eq!(probe.check(Duration::from_secs(5)).await.unwrap(), "ok");
            let untrusted = Probe::Https {
                addr,
                path: "/readyz".to_string(),
                ca_file: other_file,
            };
            let err = untrusted.check(Duration::from_secs(5)).await.unwrap_err();
            assert!(format!("{err:#}").contains("TLS handshake"), "{err:#}");
            server.await.unwrap();
        };
        tokio::time::timeout(Duration::from_secs(20), test)
            .await
            .expect("test timed out");
    }
}
