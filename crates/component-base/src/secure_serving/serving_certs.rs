//! The serving certificates of the secure port: the default one
//! (`--tls-cert-file`/`--tls-private-key-file`, or self-signed), the SNI
//! ones (`--tls-sni-cert-key`), picked per connection from the server name
//! the client asks for, and re-read when their files change, so a rotated
//! certificate is served to new connections without a restart.
//!
//! Selection follows upstream: an exact name, then a wildcard (`*.` plus
//! the name without its first label), then, when the client sent no
//! server name, the local IP address the connection came in on; else the
//! default certificate. Names given after `:` in `--tls-sni-cert-key`
//! win over names read from certificates (CN unless it is an IP, DNS and
//! IP SANs); among equals, the first flag wins.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use anyhow::Context;
use rustls::ServerConfig;

use super::tls::{ClientCa, ServingCert, ServingCertSource, server_config};
use super::tls_params::TlsParams;

/// One `--tls-sni-cert-key` value: `cert,key` or `cert,key:name1,name2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedCertKey {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// Domain patterns (empty: taken from the certificate).
    pub names: Vec<String>,
}

impl FromStr for NamedCertKey {
    type Err = String;

    /// Upstream `NamedCertKey.Set`.
    fn from_str(value: &str) -> Result<Self, String> {
        let (keycert, names) = match value.split_once(':') {
            Some((keycert, names)) => {
                let names = names.trim();
                if names.is_empty() {
                    return Err("empty names list is not allowed".into());
                }
                let names = names.split(',').map(|n| n.trim().to_string()).collect();
                (keycert.trim(), names)
            }
            None => (value.trim(), Vec::new()),
        };
        let parts: Vec<&str> = keycert.split(',').collect();
        let [cert, key] = parts.as_slice() else {
            return Err("expected comma separated certificate and key file paths".into());
        };
        Ok(NamedCertKey {
            cert: PathBuf::from(cert.trim()),
            key: PathBuf::from(key.trim()),
            names,
        })
    }
}

/// What was loaded from the files, and the configurations built from it.
struct Loaded {
    /// The raw bytes of every watched file, to notice changes.
    contents: Vec<Vec<u8>>,
    default: Arc<ServerConfig>,
    by_name: HashMap<String, Arc<ServerConfig>>,
    cert_pem: Vec<u8>,
}

/// Where the certificates come from and how configurations are built.
struct Sources {
    default_source: ServingCertSource,
    /// A self-signed default is made once and kept (never re-read).
    fixed_default: Option<(Vec<u8>, Vec<u8>)>,
    named: Vec<NamedCertKey>,
    params: TlsParams,
    ca: Arc<ClientCa>,
    proxy_ca: Option<Arc<ClientCa>>,
}

/// The certificates the secure port serves, replaceable while serving.
pub struct ServingCerts {
    sources: Sources,
    loaded: RwLock<Loaded>,
}

impl std::fmt::Debug for ServingCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingCerts")
            .field("default", &self.sources.default_source)
            .field("named", &self.sources.named)
            .finish_non_exhaustive()
    }
}

fn read(path: &std::path::Path, flag: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {flag} {}", path.display()))
}

/// Upstream `getCertificateNames`: the CN unless it is an IP address, the
/// DNS SANs, the IP SANs.
fn certificate_names(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    if let Some(cn) = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|c| c.as_str().ok())
        && !cn.is_empty()
        && cn.parse::<IpAddr>().is_err()
        && !cn.contains(' ')
    {
        names.push(cn.to_ascii_lowercase());
    }
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::DNSName(d) => {
                    names.push(d.to_ascii_lowercase());
                }
                x509_parser::extensions::GeneralName::IPAddress(bytes) => {
                    let ip = match bytes.len() {
                        4 => <[u8; 4]>::try_from(*bytes).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(*bytes).ok().map(IpAddr::from),
                        _ => None,
                    };
                    if let Some(ip) = ip {
                        names.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    names
}

impl ServingCerts {
    /// Loads every certificate; an unreadable or mismatched one is an error.
    pub fn load(
        default_source: ServingCertSource,
        named: Vec<NamedCertKey>,
        params: TlsParams,
        ca: Arc<ClientCa>,
        proxy_ca: Option<Arc<ClientCa>>,
    ) -> anyhow::Result<ServingCerts> {
        let fixed_default = match &default_source {
            ServingCertSource::Files { .. } => None,
            self_signed => {
                let cert = self_signed.load()?;
                Some((cert.cert_pem.clone(), cert.key_pem))
            }
        };
        let sources = Sources {
            default_source,
            fixed_default,
            named,
            params,
            ca,
            proxy_ca,
        };
        let loaded = sources.build(sources.read_all()?)?;
        Ok(ServingCerts {
            sources,
            loaded: RwLock::new(loaded),
        })
    }

    /// Whether any certificate comes from files that can change.
    pub fn reloadable(&self) -> bool {
        self.sources.fixed_default.is_none() || !self.sources.named.is_empty()
    }
}

impl Sources {
    fn read_all(&self) -> anyhow::Result<Vec<Vec<u8>>> {
        let mut contents = Vec::new();
        match (&self.fixed_default, &self.default_source) {
            (Some((cert, key)), _) => {
                contents.push(cert.clone());
                contents.push(key.clone());
            }
            (None, ServingCertSource::Files { cert, key }) => {
                contents.push(read(cert, "--tls-cert-file")?);
                contents.push(read(key, "--tls-private-key-file")?);
            }
            (None, ServingCertSource::SelfSigned { .. }) => {
                anyhow::bail!("a self-signed serving certificate was not generated")
            }
        }
        for named in &self.named {
            contents.push(read(&named.cert, "--tls-sni-cert-key")?);
            contents.push(read(&named.key, "--tls-sni-cert-key")?);
        }
        Ok(contents)
    }

    fn build(&self, contents: Vec<Vec<u8>>) -> anyhow::Result<Loaded> {
        let pair = |i: usize, what: &str| -> anyhow::Result<ServingCert> {
            ServingCert::from_pem(contents[i].clone(), &contents[i + 1])
                .with_context(|| what.to_string())
        };
        let default_cert = pair(0, "the default serving certificate")?;
        let cert_pem = default_cert.cert_pem.clone();
        let default = server_config(default_cert, &self.ca, self.proxy_ca.as_ref(), &self.params)?;
        let mut explicit: HashMap<String, Arc<ServerConfig>> = HashMap::new();
        let mut extracted: HashMap<String, Arc<ServerConfig>> = HashMap::new();
        for (n, named) in self.named.iter().enumerate() {
            let what = format!("--tls-sni-cert-key {}", named.cert.display());
            let cert = pair(2 + 2 * n, &what)?;
            let names = certificate_names(&cert.chain[0]);
            let config = server_config(cert, &self.ca, self.proxy_ca.as_ref(), &self.params)
                .context(what)?;
            for name in &named.names {
                explicit
                    .entry(name.trim_end_matches('.').to_ascii_lowercase())
                    .or_insert_with(|| config.clone());
            }
            if named.names.is_empty() {
                for name in names {
                    extracted.entry(name).or_insert_with(|| config.clone());
                }
            }
        }
        for (name, config) in extracted {
            explicit.entry(name).or_insert(config);
        }
        Ok(Loaded {
            contents,
            default,
            by_name: explicit,
            cert_pem,
        })
    }
}

impl ServingCerts {
    /// Re-reads the files; rebuilds when they changed. Returns whether the
    /// served certificates changed; on error the previous ones stay.
    pub fn reload(&self) -> anyhow::Result<bool> {
        let contents = self.sources.read_all()?;
        if self
            .loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contents
            == contents
        {
            return Ok(false);
        }
        let loaded = self.sources.build(contents)?;
        *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = loaded;
        Ok(true)
    }

    /// The configuration for a connection that asked for `server_name`
    /// and arrived on `local_ip`.
    pub fn config_for(
        &self,
        server_name: Option<&str>,
        local_ip: Option<IpAddr>,
    ) -> Arc<ServerConfig> {
        let loaded = self.loaded.read().unwrap_or_else(|p| p.into_inner());
        let found = match server_name {
            Some(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                loaded.by_name.get(&name).or_else(|| {
                    name.split_once('.')
                        .and_then(|(_, rest)| loaded.by_name.get(&format!("*.{rest}")))
                })
            }
            None => local_ip.and_then(|ip| loaded.by_name.get(&ip.to_string())),
        };
        found.unwrap_or(&loaded.default).clone()
    }

    /// The default certificate (PEM).
    pub fn default_cert_pem(&self) -> Vec<u8> {
        self.loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .cert_pem
            .clone()
    }
}
