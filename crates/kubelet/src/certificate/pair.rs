//! Certificate + key pairs in the cert dir, kept like upstream's
//! certificate `FileStore`: each issued certificate is written with its key
//! in one PEM file `<prefix>-<YYYY-MM-DD-HH-MM-SS>.pem` (mode 0600), and the
//! `<prefix>-current.pem` symlink is moved to it atomically. The client
//! certificate uses the prefix `kubelet-client`, the serving certificate
//! `kubelet-server`; older files stay (as upstream leaves them).

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// Prefix of the client certificate files.
pub const CLIENT_PREFIX: &str = "kubelet-client";
/// Prefix of the serving certificate files.
pub const SERVER_PREFIX: &str = "kubelet-server";

/// A parsed certificate chain with its private key.
#[derive(Clone)]
pub struct Pair {
    /// What rustls presents.
    pub key: Arc<CertifiedKey>,
    /// Validity start of the leaf, Unix seconds.
    pub not_before: i64,
    /// Validity end of the leaf, Unix seconds.
    pub not_after: i64,
    /// DNS subject alternative names of the leaf.
    pub dns_names: Vec<String>,
    /// IP subject alternative names of the leaf.
    pub ips: Vec<IpAddr>,
}

impl std::fmt::Debug for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pair")
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("dns_names", &self.dns_names)
            .field("ips", &self.ips)
            .finish_non_exhaustive()
    }
}

/// Writes `data` to `path` with mode 0600 through a temporary file, so a
/// reader never sees half a key.
pub fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("writing");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(data)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Validity (not before, not after, Unix seconds) of the first certificate in `pem`.
pub fn validity(pem: &[u8]) -> Option<(i64, i64)> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem).ok()?;
    validity_der(&pem.contents)
}

/// Validity (not before, not after, Unix seconds) of a DER certificate.
pub fn validity_der(der: &[u8]) -> Option<(i64, i64)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some((
        cert.validity().not_before.timestamp(),
        cert.validity().not_after.timestamp(),
    ))
}

/// The DNS and IP subject alternative names of a DER certificate.
pub fn alt_names(der: &[u8]) -> (Vec<String>, Vec<IpAddr>) {
    use x509_parser::extensions::GeneralName;
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return (dns, ips);
    };
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(n) => dns.push(n.to_string()),
                GeneralName::IPAddress(b) => {
                    if let Ok(v4) = <[u8; 4]>::try_from(*b) {
                        ips.push(IpAddr::from(v4));
                    } else if let Ok(v6) = <[u8; 16]>::try_from(*b) {
                        ips.push(IpAddr::from(v6));
                    }
                }
                _ => {}
            }
        }
    }
    (dns, ips)
}

/// Parses a PEM bundle of certificates and one private key. Repeated
/// certificates are dropped (a kubeconfig naming one file as both
/// certificate and key reads it twice).
pub fn parse(pem: &[u8]) -> anyhow::Result<Pair> {
    use rustls::pki_types::pem::{PemObject, SectionKind};
    let mut certs: Vec<CertificateDer<'static>> = Vec::new();
    let mut key: Option<PrivateKeyDer<'static>> = None;
    for item in <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(pem) {
        let (kind, der) = item.map_err(|e| anyhow::anyhow!("bad PEM: {e:?}"))?;
        match kind {
            SectionKind::Certificate => {
                let cert = CertificateDer::from(der);
                if !certs.contains(&cert) {
                    certs.push(cert);
                }
            }
            SectionKind::PrivateKey if key.is_none() => {
                key = Some(PrivateKeyDer::Pkcs8(der.into()))
            }
            SectionKind::EcPrivateKey if key.is_none() => {
                key = Some(PrivateKeyDer::Sec1(der.into()))
            }
            SectionKind::RsaPrivateKey if key.is_none() => {
                key = Some(PrivateKeyDer::Pkcs1(der.into()))
            }
            _ => {}
        }
    }
    let key = key.context("no private key")?;
    let first = certs.first().context("no certificate")?;
    let (not_before, not_after) =
        validity_der(first.as_ref()).context("the certificate does not parse")?;
    let (dns_names, ips) = alt_names(first.as_ref());
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| anyhow::anyhow!("unsupported private key: {e}"))?;
    Ok(Pair {
        key: Arc::new(CertifiedKey::new(certs, signing)),
        not_before,
        not_after,
        dns_names,
        ips,
    })
}

/// Reads and parses a PEM bundle file.
pub fn load(path: &Path) -> anyhow::Result<Pair> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&pem).with_context(|| format!("loading {}", path.display()))
}

/// The pairs of one kind (`prefix`) in a directory.
#[derive(Clone, Debug)]
pub struct PairStore {
    dir: PathBuf,
    prefix: &'static str,
}

impl PairStore {
    /// The store for `prefix` ([`CLIENT_PREFIX`], [`SERVER_PREFIX`]) in `dir`.
    pub fn new(dir: &Path, prefix: &'static str) -> Self {
        Self {
            dir: dir.to_path_buf(),
            prefix,
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<dir>/<prefix>-current.pem`.
    pub fn current_path(&self) -> PathBuf {
        self.dir.join(format!("{}-current.pem", self.prefix))
    }

    /// The current pair, `None` when there is no `-current.pem` yet.
    pub fn load_current(&self) -> anyhow::Result<Option<Pair>> {
        let path = self.current_path();
        match std::fs::symlink_metadata(&path) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            _ => load(&path).map(Some),
        }
    }

    /// Writes `cert_pem` + `key_pem` as `<prefix>-<time>.pem` and points
    /// the `-current.pem` symlink at it (atomically). Returns the symlink.
    pub fn update(&self, cert_pem: &[u8], key_pem: &str) -> anyhow::Result<PathBuf> {
        let dir = &self.dir;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let stamp = jiff::Zoned::now().strftime("%Y-%m-%d-%H-%M-%S").to_string();
        let mut name = format!("{}-{stamp}.pem", self.prefix);
        let mut n = 1;
        while dir.join(&name).exists() {
            name = format!("{}-{stamp}-{n}.pem", self.prefix);
            n += 1;
        }
        let file = dir.join(&name);
        let mut data = cert_pem.to_vec();
        if !data.ends_with(b"\n") {
            data.push(b'\n');
        }
        data.extend_from_slice(key_pem.as_bytes());
        write_private(&file, &data).with_context(|| format!("writing {}", file.display()))?;
        let current = self.current_path();
        let tmp = current.with_extension("pem.updating");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&file, &tmp)
            .with_context(|| format!("linking {}", tmp.display()))?;
        std::fs::rename(&tmp, &current)
            .with_context(|| format!("replacing {}", current.display()))?;
        Ok(current)
    }
}
