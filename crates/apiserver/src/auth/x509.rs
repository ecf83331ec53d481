//! x509 client certificates (`--client-ca-file`): the TLS layer asks for a
//! certificate without requiring one (anonymous and token clients still
//! connect), and the authenticator verifies the chain against the client CA
//! bundle once per connection. User = subject CN, groups = subject O.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::UserInfo;

/// The verifier the TLS server uses: offers client authentication with the
/// client CAs as hints, accepts whatever certificate arrives (after checking
/// the handshake signature, which proves possession of the key), and leaves
/// chain verification to [`X509Authenticator`] so a bad certificate becomes
/// a 401 instead of a failed handshake.
#[derive(Debug)]
pub struct RequestClientCert {
    hints: Vec<DistinguishedName>,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for RequestClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
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
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Verifies client certificate chains against `--client-ca-file`.
pub struct X509Authenticator {
    verifier: Arc<dyn ClientCertVerifier>,
    hints: Vec<DistinguishedName>,
}

impl std::fmt::Debug for X509Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X509Authenticator").finish_non_exhaustive()
    }
}

impl X509Authenticator {
    /// Loads the CA bundle (PEM, one or more certificates).
    pub fn from_file(path: &Path) -> Result<Self> {
        let pem = std::fs::read(path)
            .with_context(|| format!("reading --client-ca-file {}", path.display()))?;
        Self::from_pem(&pem).with_context(|| format!("loading {}", path.display()))
    }

    /// Builds from PEM bytes.
    pub fn from_pem(pem: &[u8]) -> Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut &pem[..]) {
            let cert = cert.context("parsing a CA certificate")?;
            roots
                .add(cert)
                .map_err(|e| anyhow::anyhow!("adding a CA certificate: {e}"))?;
        }
        if roots.is_empty() {
            bail!("the client CA bundle holds no certificate");
        }
        let hints = roots.subjects();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .context("building the client certificate verifier")?;
        Ok(X509Authenticator { verifier, hints })
    }

    /// The TLS-level verifier (requests, does not require, a certificate).
    pub fn tls_verifier(&self) -> Arc<dyn ClientCertVerifier> {
        Arc::new(RequestClientCert {
            hints: self.hints.clone(),
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        })
    }

    /// `Ok(None)` without a certificate; `Err` for one that does not verify
    /// (expired, another CA, not for client auth, no CN).
    pub fn authenticate(
        &self,
        chain: &[CertificateDer<'static>],
    ) -> Result<Option<UserInfo>, String> {
        let Some((leaf, intermediates)) = chain.split_first() else {
            return Ok(None);
        };
        self.verifier
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .map_err(|e| format!("verifying certificate: {e}"))?;
        let user = user_of(leaf)?;
        Ok(Some(user))
    }
}

/// CN -> user name, O -> groups (upstream `CommonNameUserConversion`).
pub fn user_of(cert: &CertificateDer<'_>) -> Result<UserInfo, String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| format!("parsing certificate: {e}"))?;
    let subject = parsed.subject();
    let cn = subject
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .unwrap_or_default()
        .to_string();
    if cn.is_empty() {
        return Err("common name is required".into());
    }
    let groups = subject
        .iter_organization()
        .filter_map(|a| a.as_str().ok())
        .map(str::to_string)
        .collect();
    Ok(UserInfo {
        name: cn,
        groups,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

    fn ca() -> (String, Issuer<'static, KeyPair>) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, "test-ca");
        let cert = p.self_signed(&key).unwrap();
        (cert.pem(), Issuer::new(p, key))
    }

    fn client(
        issuer: &Issuer<'static, KeyPair>,
        cn: &str,
        orgs: &[&str],
    ) -> CertificateDer<'static> {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        for o in orgs {
            p.distinguished_name.push(DnType::OrganizationName, *o);
        }
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        p.signed_by(&key, issuer).unwrap().der().clone()
    }

    #[test]
    fn cn_and_o_become_user_and_groups() {
        let (pem, issuer) = ca();
        let authn = X509Authenticator::from_pem(pem.as_bytes()).unwrap();
        // (rcgen writes one O per certificate.)
        let cert = client(&issuer, "system:node:n1", &["system:nodes"]);
        let user = authn.authenticate(&[cert]).unwrap().unwrap();
        assert_eq!(user.name, "system:node:n1");
        assert_eq!(user.groups, ["system:nodes"]);
        assert_eq!(authn.authenticate(&[]).unwrap(), None);
    }

    #[test]
    fn other_ca_and_garbage_are_errors() {
        let (pem, _) = ca();
        let (_, other) = ca();
        let authn = X509Authenticator::from_pem(pem.as_bytes()).unwrap();
        assert!(authn.authenticate(&[client(&other, "eve", &[])]).is_err());
        assert!(
            authn
                .authenticate(&[CertificateDer::from(vec![0x30, 0x03, 1, 2, 3])])
                .is_err()
        );
        assert!(X509Authenticator::from_pem(b"not pem").is_err());
    }
}
