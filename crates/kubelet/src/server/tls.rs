//! The kubelet API's serving certificate: `tlsCertFile`/`tlsPrivateKeyFile`
//! when configured, otherwise a self-signed `kubelet.crt`/`kubelet.key` in
//! the cert dir, generated once like upstream does; with
//! `serverTLSBootstrap` a certificate resolver
//! ([`crate::certificate::serving`]) instead. With a client CA the
//! handshake verifies client certificates (x509 authentication).

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

/// Loads (or creates) the certificate and returns a rustls server config
/// offering HTTP/2 and HTTP/1.1.
pub fn server_config(
    cert_file: Option<&str>,
    key_file: Option<&str>,
    cert_dir: &Path,
    hostname: &str,
    ips: &[IpAddr],
    client_ca_file: Option<&str>,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let (cert_pem, key_pem) = match (cert_file, key_file) {
        (Some(cert), Some(key)) => (
            std::fs::read(cert).with_context(|| format!("reading {cert}"))?,
            std::fs::read(key).with_context(|| format!("reading {key}"))?,
        ),
        (None, None) => self_signed(cert_dir, hostname, ips)?,
        _ => anyhow::bail!("tlsCertFile and tlsPrivateKeyFile must be set together"),
    };
    let certs = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .context("parsing the serving certificate")?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .context("parsing the serving key")?
        .context("no private key found")?;
    let mut config = builder(client_ca_file)?
        .with_single_cert(certs, key)
        .context("building the TLS config")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A rustls server config whose certificate comes from `resolver` at each
/// handshake (a handshake fails while it has none).
pub fn server_config_with_resolver(
    resolver: Arc<dyn rustls::server::ResolvesServerCert>,
    client_ca_file: Option<&str>,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let mut config = builder(client_ca_file)?.with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn builder(
    client_ca_file: Option<&str>,
) -> anyhow::Result<rustls::ConfigBuilder<rustls::ServerConfig, rustls::server::WantsServerCert>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS versions")?;
    Ok(match client_ca_file {
        // Certificates are verified when given but not required: bearer
        // tokens (and anonymous requests, when enabled) still connect.
        Some(path) => {
            let pem =
                std::fs::read(path).with_context(|| format!("reading clientCAFile {path}"))?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                roots
                    .add(cert.context("parsing clientCAFile")?)
                    .context("adding a client CA")?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .allow_unauthenticated()
            .build()
            .context("building the client certificate verifier")?;
            config.with_client_cert_verifier(verifier)
        }
        None => config.with_no_client_auth(),
    })
}

fn self_signed(
    cert_dir: &Path,
    hostname: &str,
    ips: &[IpAddr],
) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let cert_path = cert_dir.join("kubelet.crt");
    let key_path = cert_dir.join("kubelet.key");
    if let (Ok(cert), Ok(key)) = (std::fs::read(&cert_path), std::fs::read(&key_path)) {
        return Ok((cert, key));
    }
    std::fs::create_dir_all(cert_dir)
        .with_context(|| format!("creating {}", cert_dir.display()))?;
    let mut names: Vec<String> = vec![hostname.to_string(), "localhost".into()];
    names.extend(ips.iter().map(|ip| ip.to_string()));
    names.push("127.0.0.1".into());
    names.dedup();
    let mut params = rcgen::CertificateParams::new(names).context("certificate names")?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("{hostname}@{}", jiff::Timestamp::now().as_second()),
    );
    let key = rcgen::KeyPair::generate().context("generating a key")?;
    let cert = params.self_signed(&key).context("self-signing")?;
    let cert_pem = cert.pem().into_bytes();
    let key_pem = key.serialize_pem().into_bytes();
    std::fs::write(&cert_path, &cert_pem)
        .with_context(|| format!("writing {}", cert_path.display()))?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&key_path)
            .with_context(|| format!("writing {}", key_path.display()))?;
        f.write_all(&key_pem)?;
    }
    Ok((cert_pem, key_pem))
}
