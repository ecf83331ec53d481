//! `conversion: Webhook`: a CRD's objects are converted between versions
//! by POSTing a `ConversionReview` to the CRD's conversion webhook over
//! HTTPS, trusting the `caBundle` (upstream `webhookConverter`).
//!
//! The store's conversion hooks are synchronous, so a call blocks the
//! calling task's thread (`block_in_place` on the multi-threaded runtime,
//! a helper thread otherwise) for at most [`TIMEOUT`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use corten_storage::WatchCache;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};

/// Upstream's conversion webhook timeout.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Where the webhook is and how to trust it.
pub struct WebhookClient {
    target: Target,
    path: String,
    tls: Arc<rustls::ClientConfig>,
    /// `v1` or `v1beta1` of `apiextensions.k8s.io` ConversionReview.
    review_version: String,
}

enum Target {
    /// `clientConfig.url`: host (name or IP) and port.
    Url { host: String, port: u16 },
    /// `clientConfig.service`: resolved to the Service's ClusterIP at call
    /// time (upstream's ClusterIP service resolver); TLS server name
    /// `<name>.<namespace>.svc`.
    Service {
        namespace: String,
        name: String,
        port: u16,
        services: Option<Arc<WatchCache>>,
    },
}

fn tls_config(ca_bundle: &[u8]) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_bundle) {
        let cert = cert.map_err(|e| format!("parsing caBundle: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("adding a caBundle certificate: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

use rustls::pki_types::pem::PemObject;

impl WebhookClient {
    /// Builds the client of a CRD's `spec.conversion` (None unless the
    /// strategy is `Webhook`). `services` is the Services watch cache.
    pub fn from_crd(
        crd: &Value,
        services: Option<Arc<WatchCache>>,
    ) -> Result<Option<WebhookClient>, String> {
        let Some(conv) = crd.pointer("/spec/conversion") else {
            return Ok(None);
        };
        if conv.get("strategy").and_then(Value::as_str) != Some("Webhook") {
            return Ok(None);
        }
        let cc = conv
            .pointer("/webhook/clientConfig")
            .ok_or("spec.conversion.webhook.clientConfig is required")?;
        let ca = match cc.get("caBundle").and_then(Value::as_str) {
            Some(b) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|e| format!("caBundle: {e}"))?,
            None => Vec::new(),
        };
        let tls = Arc::new(tls_config(&ca)?);
        let versions: Vec<&str> = conv
            .pointer("/webhook/conversionReviewVersions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let review_version = if versions.contains(&"v1") || versions.is_empty() {
            "v1"
        } else {
            "v1beta1"
        }
        .to_string();
        let (target, path) = if let Some(url) = cc.get("url").and_then(Value::as_str) {
            let rest = url
                .strip_prefix("https://")
                .ok_or("the webhook URL must be https")?;
            let (authority, path) = match rest.find('/') {
                Some(i) => (&rest[..i], rest[i..].to_string()),
                None => (rest, "/".to_string()),
            };
            let (host, port) = split_host_port(authority)?;
            (Target::Url { host, port }, path)
        } else if let Some(svc) = cc.get("service") {
            let s = |k: &str| svc.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let port = svc.get("port").and_then(Value::as_u64).unwrap_or(443) as u16;
            let path = match s("path") {
                p if p.is_empty() => "/".to_string(),
                p => p,
            };
            (
                Target::Service {
                    namespace: s("namespace"),
                    name: s("name"),
                    port,
                    services,
                },
                path,
            )
        } else {
            return Err("the webhook clientConfig needs a url or a service".into());
        };
        Ok(Some(WebhookClient {
            target,
            path,
            tls,
            review_version,
        }))
    }

    fn resolve(&self) -> Result<(SocketAddr, ServerName<'static>, String), String> {
        match &self.target {
            Target::Url { host, port } => {
                let ip: Option<IpAddr> = host.trim_matches(['[', ']']).parse().ok();
                let addr = match ip {
                    Some(ip) => SocketAddr::new(ip, *port),
                    None => std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), *port))
                        .map_err(|e| format!("resolving {host}: {e}"))?
                        .next()
                        .ok_or_else(|| format!("{host} has no address"))?,
                };
                let name = match ip {
                    Some(ip) => ServerName::IpAddress(ip.into()),
                    None => ServerName::try_from(host.clone()).map_err(|e| e.to_string())?,
                };
                Ok((addr, name, format!("{host}:{port}")))
            }
            Target::Service {
                namespace,
                name,
                port,
                services,
            } => {
                let svc = services
                    .as_ref()
                    .and_then(|c| c.get(&format!("services/{namespace}/{name}")))
                    .and_then(|o| o.to_value().ok())
                    .ok_or_else(|| format!("service \"{namespace}/{name}\" not found"))?;
                let ip: IpAddr = svc
                    .pointer("/spec/clusterIP")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("service \"{namespace}/{name}\" has no cluster IP"))?;
                let host = format!("{name}.{namespace}.svc");
                let server = ServerName::try_from(host.clone()).map_err(|e| e.to_string())?;
                Ok((SocketAddr::new(ip, *port), server, format!("{host}:{port}")))
            }
        }
    }

    async fn post(&self, body: Vec<u8>) -> Result<Value, String> {
        let (addr, server_name, authority) = self.resolve()?;
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(server_name, tcp)
            .await
            .map_err(|e| format!("TLS handshake with {authority}: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = http::Request::post(self.path.as_str())
            .header(http::header::HOST, authority)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if !status.is_success() {
            return Err(format!(
                "the server responded with status {}: {}",
                status.as_u16(),
                String::from_utf8_lossy(&bytes)
            ));
        }
        serde_json::from_slice(&bytes).map_err(|e| format!("decoding the response: {e}"))
    }

    /// Converts one object to `desired` (`group/version`).
    pub async fn convert(&self, obj: &Value, desired: &str) -> Result<Value, String> {
        let uid = uuid::Uuid::new_v4().to_string();
        let review = json!({
            "apiVersion": format!("apiextensions.k8s.io/{}", self.review_version),
            "kind": "ConversionReview",
            "request": {"uid": uid, "desiredAPIVersion": desired, "objects": [obj]},
        });
        let body = serde_json::to_vec(&review).map_err(|e| e.to_string())?;
        let answer = tokio::time::timeout(TIMEOUT, self.post(body))
            .await
            .map_err(|_| "the webhook timed out".to_string())??;
        let resp = answer
            .get("response")
            .ok_or("the webhook response has no response")?;
        if resp.get("uid").and_then(Value::as_str) != Some(uid.as_str()) {
            return Err(format!(
                "expected response uid {uid:?}, got {:?}",
                resp.get("uid").and_then(Value::as_str).unwrap_or("")
            ));
        }
        let status = resp
            .pointer("/result/status")
            .and_then(Value::as_str)
            .unwrap_or("");
        if status != "Success" {
            let msg = resp
                .pointer("/result/message")
                .and_then(Value::as_str)
                .unwrap_or("");
            return Err(format!("conversion webhook failed: {msg}"));
        }
        let converted = resp
            .get("convertedObjects")
            .and_then(Value::as_array)
            .filter(|a| a.len() == 1)
            .ok_or("expected 1 converted object")?;
        let mut out = converted[0].clone();
        if out.get("apiVersion").and_then(Value::as_str) != Some(desired) {
            return Err(format!(
                "invalid converted object: apiVersion {:?} is not {desired:?}",
                out.get("apiVersion").and_then(Value::as_str).unwrap_or("")
            ));
        }
        restore_metadata(obj, &mut out)?;
        Ok(out)
    }

    /// [`WebhookClient::convert`] from synchronous code.
    pub fn convert_blocking(&self, obj: &Value, desired: &str) -> Result<Value, String> {
        let fut = self.convert(obj, desired);
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| h.block_on(fut))
            }
            _ => std::thread::scope(|s| {
                s.spawn(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| e.to_string())?
                        .block_on(fut)
                })
                .join()
                .map_err(|_| "the conversion thread panicked".to_string())?
            }),
        }
    }
}

fn split_host_port(authority: &str) -> Result<(String, u16), String> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, port) = rest.split_once(']').ok_or("bad IPv6 host")?;
        let port = match port.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| "bad port")?,
            None => 443,
        };
        return Ok((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Ok((h.to_string(), p.parse().map_err(|_| "bad port")?)),
        None => Ok((authority.to_string(), 443)),
    }
}

/// Upstream `restoreObjectMeta`: a webhook may change only labels and
/// annotations; everything else in `metadata` is taken from the original.
fn restore_metadata(original: &Value, converted: &mut Value) -> Result<(), String> {
    let mut meta = original
        .get("metadata")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let (Some(m), Some(new)) = (meta.as_object_mut(), converted.get("metadata")) {
        for k in ["labels", "annotations"] {
            match new.get(k) {
                Some(v) if !v.is_null() => {
                    m.insert(k.into(), v.clone());
                }
                _ => {
                    m.remove(k);
                }
            }
        }
    }
    match converted.as_object_mut() {
        Some(o) => {
            o.insert("metadata".into(), meta);
            Ok(())
        }
        None => Err("the converted object is not a JSON object".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ports() {
        assert_eq!(
            split_host_port("127.0.0.1:8443").unwrap(),
            ("127.0.0.1".into(), 8443)
        );
        assert_eq!(
            split_host_port("example.com").unwrap(),
            ("example.com".into(), 443)
        );
        assert_eq!(split_host_port("[::1]:9").unwrap(), ("::1".into(), 9));
    }

    #[test]
    fn only_labels_and_annotations_change() {
        let orig = json!({"metadata": {"name": "a", "uid": "1", "labels": {"x": "1"}}});
        let mut conv =
            json!({"apiVersion": "g/v2", "metadata": {"name": "b", "labels": {"y": "2"}}});
        restore_metadata(&orig, &mut conv).unwrap();
        assert_eq!(
            conv["metadata"],
            json!({"name": "a", "uid": "1", "labels": {"y": "2"}})
        );
    }
}
