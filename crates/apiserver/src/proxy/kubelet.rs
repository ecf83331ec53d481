//! How the apiserver reaches a node's kubelet: the `--kubelet-*` flags, the
//! TLS client configuration (client certificate, optional CA) and the
//! choice of node address (`--kubelet-preferred-address-types`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use corten_apimachinery::StatusError;
use serde_json::Value;

/// The address types a node may report, in upstream's spelling.
const ADDRESS_TYPES: &[&str] = &[
    "Hostname",
    "InternalDNS",
    "InternalIP",
    "ExternalDNS",
    "ExternalIP",
];

/// The `--kubelet-*` flags (names and defaults as upstream).
#[derive(Debug, Clone, clap::Args)]
pub struct KubeletClientOptions {
    /// Path to a client cert file for TLS to kubelets.
    #[arg(long)]
    pub kubelet_client_certificate: Option<PathBuf>,

    /// Path to a client key file for TLS to kubelets.
    #[arg(long)]
    pub kubelet_client_key: Option<PathBuf>,

    /// Path to a cert file for the certificate authority that signs the
    /// kubelets' serving certificates. Without it the serving certificate
    /// is not verified (upstream's behaviour).
    #[arg(long)]
    pub kubelet_certificate_authority: Option<PathBuf>,

    /// List of the preferred NodeAddressTypes to use for kubelet connections.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "Hostname,InternalDNS,InternalIP,ExternalDNS,ExternalIP"
    )]
    pub kubelet_preferred_address_types: Vec<String>,

    /// Timeout for establishing kubelet connections (upstream also uses it
    /// for whole non-streaming requests).
    #[arg(long, default_value = "5s", value_parser = crate::options::parse_duration)]
    pub kubelet_timeout: Duration,
}

/// Validated kubelet client settings.
#[derive(Debug, Clone)]
pub struct KubeletClientConfig {
    /// Client certificate and key (PEM files).
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// CA bundle for the kubelets' serving certificates.
    pub certificate_authority: Option<PathBuf>,
    /// Address types in order of preference.
    pub preferred_address_types: Vec<String>,
    /// Connect timeout.
    pub timeout: Duration,
}

impl KubeletClientOptions {
    /// Validates the flags.
    pub fn complete(self) -> Result<KubeletClientConfig, String> {
        let client_cert = match (self.kubelet_client_certificate, self.kubelet_client_key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                return Err(
                    "--kubelet-client-certificate and --kubelet-client-key must be given together"
                        .into(),
                );
            }
        };
        let mut types = Vec::new();
        for t in self
            .kubelet_preferred_address_types
            .iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
        {
            if !ADDRESS_TYPES.contains(&t) {
                return Err(format!(
                    "--kubelet-preferred-address-types: {t:?} is not a valid address type (one of {})",
                    ADDRESS_TYPES.join(", ")
                ));
            }
            types.push(t.to_string());
        }
        if types.is_empty() {
            return Err("--kubelet-preferred-address-types may not be empty".into());
        }
        if self.kubelet_timeout.is_zero() {
            return Err("--kubelet-timeout must be greater than 0".into());
        }
        Ok(KubeletClientConfig {
            client_cert,
            certificate_authority: self.kubelet_certificate_authority,
            preferred_address_types: types,
            timeout: self.kubelet_timeout,
        })
    }
}

/// A ready-to-use kubelet client: the TLS configuration built once at
/// startup (a bad certificate file stops the apiserver, as upstream).
pub struct KubeletClient {
    /// The validated flags.
    pub config: KubeletClientConfig,
    tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for KubeletClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeletClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Where a node's kubelet listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeletLocation {
    /// Host name or IP (IPv6 without brackets).
    pub host: String,
    /// `status.daemonEndpoints.kubeletEndpoint.Port` (capitalized in the
    /// API, as upstream's JSON tag is).
    pub port: u16,
}

impl KubeletLocation {
    /// `host:port` with IPv6 hosts in brackets.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl KubeletClient {
    /// Loads the certificate files.
    pub fn new(config: KubeletClientConfig) -> anyhow::Result<KubeletClient> {
        use anyhow::Context;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS versions")?;
        let builder = match &config.certificate_authority {
            Some(ca) => {
                let pem = std::fs::read(ca)
                    .with_context(|| format!("reading --kubelet-certificate-authority {ca:?}"))?;
                let mut roots = rustls::RootCertStore::empty();
                for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                    roots
                        .add(cert.context("parsing --kubelet-certificate-authority")?)
                        .context("adding a kubelet CA certificate")?;
                }
                builder.with_root_certificates(roots)
            }
            None => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoServerVerification(provider))),
        };
        let mut tls = match &config.client_cert {
            Some((cert, key)) => {
                let cert_pem = std::fs::read(cert)
                    .with_context(|| format!("reading --kubelet-client-certificate {cert:?}"))?;
                let key_pem = std::fs::read(key)
                    .with_context(|| format!("reading --kubelet-client-key {key:?}"))?;
                let certs = rustls_pemfile::certs(&mut cert_pem.as_slice())
                    .collect::<Result<Vec<_>, _>>()
                    .context("parsing --kubelet-client-certificate")?;
                let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
                    .context("parsing --kubelet-client-key")?
                    .context("no private key in --kubelet-client-key")?;
                builder
                    .with_client_auth_cert(certs, key)
                    .context("the kubelet client certificate and key do not match")?
            }
            None => builder.with_no_client_auth(),
        };
        // Upgrades (exec, attach, port-forward) need HTTP/1.1.
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(KubeletClient {
            config,
            tls: Arc::new(tls),
        })
    }

    /// The TLS configuration for connections to kubelets.
    pub fn tls(&self) -> Arc<rustls::ClientConfig> {
        self.tls.clone()
    }

    /// Picks the node's kubelet address: the first preferred address type
    /// the node reports, and the port it publishes.
    pub fn locate(&self, node: &Value) -> Result<KubeletLocation, StatusError> {
        let name = node
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let port = node
            .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
            .and_then(Value::as_i64)
            .filter(|p| (1..=65535).contains(p))
            .unwrap_or(10250) as u16;
        let addresses = node
            .pointer("/status/addresses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for wanted in &self.config.preferred_address_types {
            if let Some(host) = addresses.iter().find_map(|a| {
                (a.get("type").and_then(Value::as_str) == Some(wanted.as_str()))
                    .then(|| a.get("address").and_then(Value::as_str))
                    .flatten()
                    .filter(|h| !h.is_empty())
            }) {
                return Ok(KubeletLocation {
                    host: host.to_string(),
                    port,
                });
            }
        }
        // Upstream's message when no address matches.
        Err(StatusError::service_unavailable(format!(
            "no preferred addresses found; known addresses: {}",
            serde_json::to_string(&addresses).unwrap_or_default()
        ))
        .with_name_hint(name))
    }
}

/// The TLS configuration for `https:` names in `pods/proxy` and
/// `services/proxy`: no client certificate and no verification of the
/// endpoint's certificate (upstream's proxy transport skips it too; the
/// caller was authorized for the proxy subresource).
pub fn insecure_proxy_tls() -> Arc<rustls::ClientConfig> {
    static CONFIG: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .expect("the ring provider supports the default TLS versions")
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoServerVerification(provider)))
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(config)
        })
        .clone()
}

trait NameHint {
    fn with_name_hint(self, name: &str) -> Self;
}

impl NameHint for StatusError {
    fn with_name_hint(mut self, name: &str) -> Self {
        if !name.is_empty() {
            self.name = Some(name.to_string());
        }
        self
    }
}

/// Accepts any kubelet serving certificate (no
/// `--kubelet-certificate-authority`), still checking the handshake
/// signatures.
#[derive(Debug)]
pub(crate) struct NoServerVerification(Arc<rustls::crypto::CryptoProvider>);

impl NoServerVerification {
    /// A verifier checking only handshake signatures (also used for
    /// APIServices with `insecureSkipTLSVerify`).
    pub(crate) fn new(provider: Arc<rustls::crypto::CryptoProvider>) -> Self {
        NoServerVerification(provider)
    }
}

impl rustls::client::danger::ServerCertVerifier for NoServerVerification {
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use serde_json::json;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        kubelet: KubeletClientOptions,
    }

    fn parse(args: &[&str]) -> Result<KubeletClientConfig, String> {
        let mut all = vec!["x"];
        all.extend_from_slice(args);
        Flags::try_parse_from(all)
            .map_err(|e| e.to_string())?
            .kubelet
            .complete()
    }

    #[test]
    fn defaults_follow_upstream() {
        let c = parse(&[]).unwrap();
        assert_eq!(
            c.preferred_address_types,
            [
                "Hostname",
                "InternalDNS",
                "InternalIP",
                "ExternalDNS",
                "ExternalIP"
            ]
        );
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert!(c.client_cert.is_none());
    }

    #[test]
    fn bad_flags_are_rejected() {
        assert!(parse(&["--kubelet-client-certificate=/a"]).is_err());
        let e = parse(&["--kubelet-preferred-address-types=InternalIP,Bogus"]).unwrap_err();
        assert!(e.contains("Bogus"), "{e}");
    }

    #[test]
    fn locate_prefers_the_configured_address_type() {
        let client = KubeletClient::new(
            parse(&["--kubelet-preferred-address-types=InternalIP,Hostname"]).unwrap(),
        )
        .unwrap();
        let node = json!({
            "metadata": {"name": "n1"},
            "status": {
                "addresses": [
                    {"type": "Hostname", "address": "n1"},
                    {"type": "InternalIP", "address": "10.1.2.3"}
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 12250}}
            }
        });
        let at = client.locate(&node).unwrap();
        assert_eq!(at.authority(), "10.1.2.3:12250");
        let v6 = json!({"status": {"addresses": [{"type": "InternalIP", "address": "fd00::1"}]}});
        assert_eq!(client.locate(&v6).unwrap().authority(), "[fd00::1]:10250");
        let none = json!({"status": {"addresses": [{"type": "ExternalDNS", "address": "x"}]}});
        let e = client.locate(&none).unwrap_err();
        assert_eq!(e.code, 503);
        assert!(e.message.contains("no preferred addresses found"), "{e}");
    }
}
