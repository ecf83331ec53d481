//! The serving certificate: given files, or a self-signed pair generated
//! into `--cert-dir` (as upstream does when no certificate is configured).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::options::TlsSource;

fn load_pem(
    cert_path: &Path,
    key_path: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let cert_pem = std::fs::read(cert_path)
        .with_context(|| format!("reading --tls-cert-file {}", cert_path.display()))?;
    let key_pem = std::fs::read(key_path)
        .with_context(|| format!("reading --tls-private-key-file {}", key_path.display()))?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing certificates in {}", cert_path.display()))?;
    if certs.is_empty() {
        bail!("no certificate found in {}", cert_path.display());
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .with_context(|| format!("parsing private key in {}", key_path.display()))?
        .with_context(|| format!("no private key found in {}", key_path.display()))?;
    Ok((certs, key))
}

fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(data)?;
    Ok(())
}

/// Generates (once) a self-signed serving pair in `dir` for the given
/// host names and addresses.
fn self_signed(dir: &Path, sans: &[String]) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    let cert = dir.join("apiserver.crt");
    let key = dir.join("apiserver.key");
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating --cert-dir {}", dir.display()))?;
    let generated = rcgen::generate_simple_self_signed(sans.to_vec())
        .context("generating a self-signed serving certificate")?;
    std::fs::write(&cert, generated.cert.pem())
        .with_context(|| format!("writing {}", cert.display()))?;
    write_private(&key, generated.signing_key.serialize_pem().as_bytes())?;
    tracing::info!(cert = %cert.display(), "generated a self-signed serving certificate");
    Ok((cert, key))
}

/// Builds the rustls server config (ALPN h2 and http/1.1). With a client
/// CA bundle the server asks for (but does not require) a client
/// certificate, naming the CAs, like upstream's `RequestClientCert`.
pub fn server_config(
    source: &TlsSource,
    sans: &[String],
    client_ca_file: Option<&Path>,
) -> Result<Arc<ServerConfig>> {
    let (cert_path, key_path) = match source {
        TlsSource::Files { cert, key } => (cert.clone(), key.clone()),
        TlsSource::SelfSigned { dir } => self_signed(dir, sans)?,
    };
    let (certs, key) = load_pem(&cert_path, &key_path)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("configuring TLS versions")?;
    let builder = match client_ca_file {
        Some(path) => builder.with_client_cert_verifier(
            crate::auth::x509::X509Authenticator::from_file(path)?.tls_verifier(),
        ),
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder
        .with_single_cert(certs, key)
        .context("the serving certificate and key do not match")?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}
