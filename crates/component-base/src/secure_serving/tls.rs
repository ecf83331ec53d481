//! TLS of the secure port: the serving certificate (given, or self-signed
//! like upstream's `MaybeDefaultWithSelfSignedCerts`) and client
//! certificates checked against a client CA that can change while serving.
//!
//! As upstream, the handshake only *requests* a client certificate and
//! proves the client holds its key; whether the chain leads to the client CA
//! is decided per request by authentication ([`ClientCa::identify`]). So a
//! certificate from another CA is answered with 401 Unauthorized (not a
//! failed handshake), and a CA read later (from the
//! `extension-apiserver-authentication` ConfigMap) applies to new requests
//! at once.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::Context;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use super::authn::UserInfo;

/// Where the serving certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServingCertSource {
    /// `--tls-cert-file` and `--tls-private-key-file`.
    Files {
        /// PEM certificate chain.
        cert: PathBuf,
        /// PEM private key.
        key: PathBuf,
    },
    /// Self-signed for `localhost` and `127.0.0.1`: kept in
    /// `<cert-dir>/<pair>.crt` and `.key` when `--cert-dir` is set (reused
    /// across restarts), else generated in memory at every start.
    SelfSigned {
        /// `--cert-dir`.
        cert_dir: Option<PathBuf>,
        /// File name stem (`kube-scheduler`, `kube-controller-manager`).
        pair_name: String,
    },
}

/// A PEM certificate chain and key.
pub struct ServingCert {
    /// The chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The key.
    pub key: PrivateKeyDer<'static>,
    /// The chain in PEM (tests trust it).
    pub cert_pem: Vec<u8>,
    /// The key in PEM.
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for ServingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingCert")
            .field("chain", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl ServingCertSource {
    /// Reads (or generates) the certificate.
    pub fn load(&self) -> anyhow::Result<ServingCert> {
        let (cert_pem, key_pem) = match self {
            ServingCertSource::Files { cert, key } => (
                std::fs::read(cert)
                    .with_context(|| format!("reading --tls-cert-file {}", cert.display()))?,
                std::fs::read(key)
                    .with_context(|| format!("reading --tls-private-key-file {}", key.display()))?,
            ),
            ServingCertSource::SelfSigned {
                cert_dir: Some(dir),
                pair_name,
            } => self_signed_in_dir(dir, pair_name)?,
            ServingCertSource::SelfSigned {
                cert_dir: None,
                pair_name,
            } => {
                tracing::info!("generated a self-signed serving certificate in memory");
                self_signed(pair_name)?
            }
        };
        ServingCert::from_pem(cert_pem, &key_pem)
    }
}

impl ServingCert {
    /// Parses a PEM chain and key.
    pub fn from_pem(cert_pem: Vec<u8>, key_pem: &[u8]) -> anyhow::Result<ServingCert> {
        let chain = rustls_pemfile::certs(&mut cert_pem.as_slice())
            .collect::<Result<Vec<_>, _>>()
            .context("parsing the serving certificate")?;
        anyhow::ensure!(
            !chain.is_empty(),
            "no certificate in the serving certificate file"
        );
        let key = rustls_pemfile::private_key(&mut &key_pem[..])
            .context("parsing the serving key")?
            .context("no private key in the serving key file")?;
        Ok(ServingCert {
            chain,
            key,
            cert_pem,
            key_pem: key_pem.to_vec(),
        })
    }
}

fn self_signed(pair_name: &str) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let mut params = rcgen::CertificateParams::new(names).context("certificate names")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("localhost@{now}"));
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, pair_name);
    let key = rcgen::KeyPair::generate().context("generating a serving key")?;
    let cert = params
        .self_signed(&key)
        .context("self-signing the serving certificate")?;
    Ok((cert.pem().into_bytes(), key.serialize_pem().into_bytes()))
}

fn self_signed_in_dir(dir: &Path, pair_name: &str) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let cert_path = dir.join(format!("{pair_name}.crt"));
    let key_path = dir.join(format!("{pair_name}.key"));
    if let (Ok(cert), Ok(key)) = (std::fs::read(&cert_path), std::fs::read(&key_path)) {
        return Ok((cert, key));
    }
    let (cert, key) = self_signed(pair_name)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(&cert_path, &cert)
        .with_context(|| format!("writing {}", cert_path.display()))?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&key_path)
            .with_context(|| format!("writing {}", key_path.display()))?;
        file.write_all(&key)
            .with_context(|| format!("writing {}", key_path.display()))?;
    }
    tracing::info!(cert = %cert_path.display(), "generated a self-signed serving certificate");
    Ok((cert, key))
}

/// What a connection's client certificate says about its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertIdentity {
    /// No certificate was sent.
    None,
    /// The chain leads to the client CA: the subject's user.
    Verified(UserInfo),
    /// A certificate was sent but does not verify (why).
    Invalid(String),
}

/// A CA bundle (PEM, to notice changes) and the verifier built from it.
type Bundle = (Vec<u8>, Arc<dyn ClientCertVerifier>);

/// The client CA bundle, replaceable while serving.
#[derive(Debug)]
pub struct ClientCa {
    provider: Arc<CryptoProvider>,
    current: RwLock<Option<Bundle>>,
}

impl ClientCa {
    /// No CA yet: client certificates are not requested.
    pub fn new(provider: Arc<CryptoProvider>) -> Arc<ClientCa> {
        Arc::new(ClientCa {
            provider,
            current: RwLock::new(None),
        })
    }

    /// Whether a CA is set.
    pub fn is_set(&self) -> bool {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Replaces the bundle with `pem`; returns whether it changed. An
    /// unusable bundle is an error and keeps the previous one.
    pub fn set_pem(&self, pem: &[u8]) -> anyhow::Result<bool> {
        if self
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|(old, _)| old == pem)
        {
            return Ok(false);
        }
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut &pem[..]) {
            roots
                .add(cert.context("parsing the client CA bundle")?)
                .context("adding a client CA certificate")?;
        }
        anyhow::ensure!(
            !roots.is_empty(),
            "the client CA bundle holds no certificate"
        );
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            self.provider.clone(),
        )
        .build()
        .context("building the client certificate verifier")?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some((pem.to_vec(), verifier));
        Ok(true)
    }

    /// Verifies the chain a client sent against the current CA (upstream's
    /// x509 authenticator): user = subject CN, groups = subject O.
    pub fn identify(&self, chain: Option<&[CertificateDer<'static>]>) -> CertIdentity {
        let Some((leaf, intermediates)) = chain.and_then(|c| c.split_first()) else {
            return CertIdentity::None;
        };
        let verifier = self
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|(_, v)| v.clone());
        let Some(verifier) = verifier else {
            return CertIdentity::Invalid("no client CA is configured".into());
        };
        if let Err(err) = verifier.verify_client_cert(leaf, intermediates, UnixTime::now()) {
            return CertIdentity::Invalid(format!("verifying certificate: {err}"));
        }
        match UserInfo::from_certificate(leaf) {
            Some(user) => CertIdentity::Verified(user),
            None => CertIdentity::Invalid("the certificate has no subject common name".into()),
        }
    }
}

/// The handshake side: asks for a client certificate while a CA is set and
/// checks the client's signature with it; the chain is judged per request.
#[derive(Debug)]
struct RequestClientCert {
    ca: Arc<ClientCa>,
    proxy_ca: Option<Arc<ClientCa>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for RequestClientCert {
    fn offer_client_auth(&self) -> bool {
        self.ca.is_set() || self.proxy_ca.as_ref().is_some_and(|ca| ca.is_set())
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // The CA can change under a borrowed slice; clients (curl, Go,
        // rustls) send their configured certificate without hints.
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The rustls server configuration: `cert`, client certificates requested
/// while `ca` is set (or, for front proxies, while `proxy_ca` is),
/// `params`' versions and suites, HTTP/2 and HTTP/1.1 offered (Go servers
/// offer both).
pub fn server_config(
    cert: ServingCert,
    ca: &Arc<ClientCa>,
    proxy_ca: Option<&Arc<ClientCa>>,
    params: &super::tls_params::TlsParams,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let verifier = Arc::new(RequestClientCert {
        ca: ca.clone(),
        proxy_ca: proxy_ca.cloned(),
        algorithms: ca.provider.signature_verification_algorithms,
    });
    let mut config = rustls::ServerConfig::builder_with_provider(params.provider.clone())
        .with_protocol_versions(&params.versions)
        .context("TLS versions")?
        .with_client_cert_verifier(verifier)
        .with_single_cert(cert.chain, cert.key)
        .context("the serving certificate does not match its key")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// rustls' ring provider (the one the workspace builds).
pub fn default_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_and_client(cn: &str, org: &str) -> (Vec<u8>, CertificateDer<'static>) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "test-ca");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, org);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        (ca_cert.pem().into_bytes(), cert.der().clone())
    }

    #[test]
    fn client_certificates_are_judged_against_the_current_ca() {
        let ca = ClientCa::new(default_provider());
        let (ca_pem, admin) = ca_and_client("kubernetes-admin", "system:masters");
        let (other_ca_pem, stranger) = ca_and_client("mallory", "system:masters");
        let chain = [admin.clone()];
        assert!(!ca.is_set());
        assert_eq!(ca.identify(None), CertIdentity::None);
        assert!(matches!(
            ca.identify(Some(&chain)),
            CertIdentity::Invalid(_)
        ));

        assert!(ca.set_pem(&ca_pem).unwrap());
        assert!(!ca.set_pem(&ca_pem).unwrap(), "same bundle: no change");
        match ca.identify(Some(&chain)) {
            CertIdentity::Verified(user) => {
                assert_eq!(user.name, "kubernetes-admin");
                assert_eq!(user.groups, ["system:masters", "system:authenticated"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            ca.identify(Some(std::slice::from_ref(&stranger))),
            CertIdentity::Invalid(_)
        ));
        // A rotated CA applies to the next request.
        assert!(ca.set_pem(&other_ca_pem).unwrap());
        assert!(matches!(
            ca.identify(Some(&[stranger])),
            CertIdentity::Verified(_)
        ));
        assert!(matches!(
            ca.identify(Some(&chain)),
            CertIdentity::Invalid(_)
        ));
        // Garbage keeps the previous bundle.
        assert!(ca.set_pem(b"not a certificate").is_err());
        assert!(ca.is_set());
    }

    #[test]
    fn self_signed_certificates_are_kept_in_the_cert_dir() {
        let dir = tempfile::tempdir().unwrap();
        let source = ServingCertSource::SelfSigned {
            cert_dir: Some(dir.path().join("certs")),
            pair_name: "kube-scheduler".into(),
        };
        let first = source.load().unwrap();
        let again = source.load().unwrap();
        assert_eq!(first.cert_pem, again.cert_pem);
        let key = dir.path().join("certs/kube-scheduler.key");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let (_, cert) = x509_parser::parse_x509_certificate(&first.chain[0]).unwrap();
        let sans = cert.subject_alternative_name().unwrap().unwrap().value;
        let text = format!("{sans:?}");
        assert!(text.contains("localhost"), "{text}");
        let in_memory = ServingCertSource::SelfSigned {
            cert_dir: None,
            pair_name: "kube-scheduler".into(),
        };
        assert_ne!(in_memory.load().unwrap().cert_pem, first.cert_pem);
        let missing = ServingCertSource::Files {
            cert: dir.path().join("nope.crt"),
            key: dir.path().join("nope.key"),
        };
        let err = missing.load().unwrap_err();
        assert!(format!("{err:#}").contains("--tls-cert-file"), "{err:#}");
        let ca = ClientCa::new(default_provider());
        assert!(server_config(first, &ca, None, &Default::default()).is_ok());
    }
}
