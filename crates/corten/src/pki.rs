//! The cluster's PKI: one CA and the certificates it signs.
//!
//! Small on purpose: a [`CertificateAuthority`] issues certificates from a
//! [`CertSpec`] (server, client or both), and [`ensure_ca`] / [`ensure_cert`]
//! make `corten up` idempotent by keeping files that are still valid. The
//! security work adds client certificates for every component with
//! [`CertSpec::client`] (CN = user, O = groups, as the apiserver's x509
//! authenticator expects).
//!
//! Files are PEM: `<name>.crt` (0644) and `<name>.key` (PKCS#8, 0600). Keys
//! are ECDSA P-256, which Go, rustls and OpenSSL all accept.

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

/// Validity of the CA certificate (like kubeadm: ten years).
pub const CA_VALIDITY_DAYS: i64 = 3650;
/// Validity of leaf certificates (like kubeadm: one year).
pub const LEAF_VALIDITY_DAYS: i64 = 365;
/// Common name of the cluster CA.
pub const CA_COMMON_NAME: &str = "kubernetes-ca";

/// What a certificate is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertUsage {
    /// TLS server (serverAuth).
    Server,
    /// TLS client (clientAuth).
    Client,
    /// Both, e.g. etcd peers.
    ServerAndClient,
}

/// What to put into a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertSpec {
    /// Subject CN; the user name for client certificates.
    pub common_name: String,
    /// Subject O entries; the groups for client certificates.
    pub organizations: Vec<String>,
    /// DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// IP subject alternative names.
    pub ips: Vec<IpAddr>,
    /// Key usage.
    pub usage: CertUsage,
    /// Days from now until expiry.
    pub validity_days: i64,
}

impl CertSpec {
    /// A serving certificate for `common_name`; add names with
    /// [`with_dns`](Self::with_dns) and [`with_ip`](Self::with_ip).
    pub fn server(common_name: &str) -> Self {
        Self {
            common_name: common_name.to_string(),
            organizations: Vec::new(),
            dns_names: Vec::new(),
            ips: Vec::new(),
            usage: CertUsage::Server,
            validity_days: LEAF_VALIDITY_DAYS,
        }
    }

    /// A client certificate for user `user` in `groups`.
    pub fn client(user: &str, groups: &[&str]) -> Self {
        Self {
            organizations: groups.iter().map(|g| g.to_string()).collect(),
            usage: CertUsage::Client,
            ..Self::server(user)
        }
    }

    /// Adds DNS names.
    pub fn with_dns<S: AsRef<str>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        for name in names {
            let name = name.as_ref().to_string();
            if !self.dns_names.contains(&name) {
                self.dns_names.push(name);
            }
        }
        self
    }

    /// Adds IP addresses.
    pub fn with_ip(mut self, ips: impl IntoIterator<Item = IpAddr>) -> Self {
        for ip in ips {
            if !self.ips.contains(&ip) {
                self.ips.push(ip);
            }
        }
        self
    }

    fn params(&self) -> anyhow::Result<CertificateParams> {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, self.common_name.as_str());
        for org in &self.organizations {
            params
                .distinguished_name
                .push(DnType::OrganizationName, org.as_str());
        }
        for name in &self.dns_names {
            validate_dns_name(name)?;
            let dns = name
                .as_str()
                .try_into()
                .map_err(|err| anyhow!("invalid DNS name {name:?} for a certificate: {err}"))?;
            params.subject_alt_names.push(SanType::DnsName(dns));
        }
        params
            .subject_alt_names
            .extend(self.ips.iter().copied().map(SanType::IpAddress));
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = match self.usage {
            CertUsage::Server => vec![ExtendedKeyUsagePurpose::ServerAuth],
            CertUsage::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
            CertUsage::ServerAndClient => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        };
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, self.validity_days)?;
        Ok(params)
    }
}

/// Checks a DNS subject alternative name: RFC 1123 labels, optionally
/// preceded by a `*.` wildcard label.
fn validate_dns_name(name: &str) -> anyhow::Result<()> {
    let bare = name.strip_prefix("*.").unwrap_or(name);
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if name.len() > 253 || !bare.split('.').all(valid_label) {
        bail!("invalid DNS name {name:?} for a certificate");
    }
    Ok(())
}

/// A certificate and its private key, PEM encoded.
#[derive(Clone, Debug)]
pub struct CertAndKey {
    /// `-----BEGIN CERTIFICATE-----` ...
    pub cert_pem: String,
    /// `-----BEGIN PRIVATE KEY-----` (PKCS#8) ...
    pub key_pem: String,
}

/// The cluster certificate authority.
pub struct CertificateAuthority {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// Generates a new self-signed CA with the given common name, returning
    /// it and its key PEM.
    pub fn generate(common_name: &str) -> anyhow::Result<(Self, String)> {
        let key = KeyPair::generate().context("generating the CA key")?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
        ];
        set_validity(&mut params, CA_VALIDITY_DAYS)?;
        let cert = params
            .self_signed(&key)
            .context("self-signing the CA certificate")?;
        let key_pem = key.serialize_pem();
        Ok((
            Self {
                cert_pem: cert.pem(),
                issuer: Issuer::new(params, key),
            },
            key_pem,
        ))
    }

    /// Loads a CA from its PEM certificate and key.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> anyhow::Result<Self> {
        let key = KeyPair::from_pem(key_pem).context("parsing the CA key")?;
        let issuer =
            Issuer::from_ca_cert_pem(cert_pem, key).context("parsing the CA certificate")?;
        Ok(Self {
            cert_pem: cert_pem.to_string(),
            issuer,
        })
    }

    /// Loads `<dir>/<name>.crt` and `<dir>/<name>.key`.
    pub fn load(dir: &Path, name: &str) -> anyhow::Result<Self> {
        let (cert_path, key_path) = pair_paths(dir, name);
        let cert = fs::read_to_string(&cert_path)
            .with_context(|| format!("reading {}", cert_path.display()))?;
        let key = fs::read_to_string(&key_path)
            .with_context(|| format!("reading {}", key_path.display()))?;
        Self::from_pem(&cert, &key)
            .with_context(|| format!("loading the CA from {}", cert_path.display()))
    }

    /// The CA certificate (PEM), for trust bundles and kubeconfigs.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Issues a certificate with a fresh key.
    pub fn issue(&self, spec: &CertSpec) -> anyhow::Result<CertAndKey> {
        let key = KeyPair::generate().context("generating a key")?;
        let cert = spec
            .params()?
            .signed_by(&key, &self.issuer)
            .with_context(|| format!("signing the certificate for {}", spec.common_name))?;
        Ok(CertAndKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Loads the CA `<dir>/<name>.{crt,key}`, generating it first if either file
/// is missing. Returns the CA and whether it was created.
pub fn ensure_ca(
    dir: &Path,
    name: &str,
    common_name: &str,
) -> anyhow::Result<(CertificateAuthority, bool)> {
    let (cert_path, key_path) = pair_paths(dir, name);
    if cert_path.is_file() && key_path.is_file() {
        return Ok((CertificateAuthority::load(dir, name)?, false));
    }
    let (ca, key_pem) = CertificateAuthority::generate(common_name)?;
    write_pair(
        dir,
        name,
        &CertAndKey {
            cert_pem: ca.cert_pem().to_string(),
            key_pem,
        },
    )?;
    Ok((ca, true))
}

/// Makes sure `<dir>/<name>.{crt,key}` exist, were signed by `ca` and (for
/// server certificates) cover every name of `spec`; otherwise issues new ones.
/// Returns whether new files were written.
pub fn ensure_cert(
    dir: &Path,
    name: &str,
    ca: &CertificateAuthority,
    spec: &CertSpec,
) -> anyhow::Result<bool> {
    let (cert_path, key_path) = pair_paths(dir, name);
    if key_path.is_file()
        && let Ok(existing) = fs::read_to_string(&cert_path)
        && existing_cert_is_usable(ca, &existing, spec)
    {
        return Ok(false);
    }
    let issued = ca.issue(spec)?;
    write_pair(dir, name, &issued)?;
    Ok(true)
}

fn existing_cert_is_usable(ca: &CertificateAuthority, cert_pem: &str, spec: &CertSpec) -> bool {
    match spec.usage {
        CertUsage::Client => verify_chain(ca.cert_pem(), cert_pem, None).is_ok(),
        CertUsage::Server | CertUsage::ServerAndClient => {
            let names = spec
                .dns_names
                .iter()
                .cloned()
                .chain(spec.ips.iter().map(IpAddr::to_string));
            names
                .into_iter()
                .all(|n| verify_chain(ca.cert_pem(), cert_pem, Some(&n)).is_ok())
        }
    }
}

/// Verifies that `cert_pem` chains to `ca_pem`, is within its validity and,
/// if `server_name` is given, is a valid serving certificate for that DNS
/// name or IP address. Uses the same verifier as the TLS clients.
pub fn verify_chain(ca_pem: &str, cert_pem: &str, server_name: Option<&str>) -> anyhow::Result<()> {
    let roots = root_store(ca_pem.as_bytes())?;
    let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|err| anyhow!("parsing the certificate: {err}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    match server_name {
        Some(name) => {
            let name = ServerName::try_from(name.to_string())
                .map_err(|err| anyhow!("invalid server name {name:?}: {err}"))?;
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .context("building the certificate verifier")?;
            rustls::client::danger::ServerCertVerifier::verify_server_cert(
                verifier.as_ref(),
                &cert,
                &[],
                &name,
                &[],
                UnixTime::now(),
            )
            .map_err(|err| anyhow!("certificate rejected: {err}"))?;
        }
        None => {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .context("building the certificate verifier")?;
            rustls::server::danger::ClientCertVerifier::verify_client_cert(
                verifier.as_ref(),
                &cert,
                &[],
                UnixTime::now(),
            )
            .map_err(|err| anyhow!("certificate rejected: {err}"))?;
        }
    }
    Ok(())
}

/// A rustls root store holding every certificate of a PEM bundle.
pub fn root_store(ca_pem: &[u8]) -> anyhow::Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        let cert = cert.map_err(|err| anyhow!("parsing the CA bundle: {err}"))?;
        roots
            .add(cert)
            .map_err(|err| anyhow!("adding a CA certificate: {err}"))?;
    }
    if roots.is_empty() {
        anyhow::bail!("the CA bundle holds no certificate");
    }
    Ok(roots)
}

/// Writes `<dir>/<name>.crt` (0644) and `<dir>/<name>.key` (0600), each
/// atomically (temporary file + rename), so a crash never leaves half a key.
pub fn write_pair(dir: &Path, name: &str, pair: &CertAndKey) -> anyhow::Result<()> {
    let (cert_path, key_path) = pair_paths(dir, name);
    write_file_atomic(&key_path, pair.key_pem.as_bytes(), 0o600)?;
    write_file_atomic(&cert_path, pair.cert_pem.as_bytes(), 0o644)?;
    Ok(())
}

/// `<dir>/<name>.crt` and `<dir>/<name>.key`.
pub fn pair_paths(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    )
}

/// Writes a file atomically with the given mode (the mode is set on the
/// temporary file before any byte is written).
pub fn write_file_atomic(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    let file_name = path
        .file_name()
        .ok_or_else(|| anyhow!("{} has no file name", path.display()))?
        .to_string_lossy();
    let tmp = path.with_file_name(format!(".{file_name}.tmp"));
    let write = || -> std::io::Result<()> {
        let _ = fs::remove_file(&tmp);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have cleared bits of `mode`; set it exactly.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().with_context(|| format!("writing {}", path.display()))
}

fn set_validity(params: &mut CertificateParams, days: i64) -> anyhow::Result<()> {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    // Start a day early to tolerate small clock differences between machines.
    let start = today
        .checked_sub(jiff::Span::new().days(1))
        .context("computing the certificate start date")?;
    let end = today
        .checked_add(jiff::Span::new().days(days))
        .context("computing the certificate expiry date")?;
    // jiff dates are valid calendar dates, which is all date_time_ymd needs.
    params.not_before = rcgen::date_time_ymd(
        start.year().into(),
        start.month().unsigned_abs(),
        start.day().unsigned_abs(),
    );
    params.not_after = rcgen::date_time_ymd(
        end.year().into(),
        end.month().unsigned_abs(),
        end.day().unsigned_abs(),
    );
    Ok(())
}

/// File name (without extension) of the cluster CA in `<state>/pki`.
pub const CA_NAME: &str = "ca";
/// File name (without extension) of the apiserver serving certificate.
pub const APISERVER_CERT_NAME: &str = "apiserver";

/// File stem of the cluster administrator's client certificate
/// (CN=kubernetes-admin, O=system:masters, as kubeadm issues it).
pub const ADMIN_CERT_NAME: &str = "admin";

/// The DNS names of the in-cluster `kubernetes` Service, as upstream puts
/// them into the apiserver serving certificate.
pub const APISERVER_DNS_NAMES: &[&str] = &[
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
];

/// The serving certificate of kube-apiserver for a cluster: the names above,
/// loopback, the first service IP, the advertise address and host addresses.
pub fn apiserver_cert_spec(config: &crate::state::ClusterConfig) -> CertSpec {
    CertSpec::server("kube-apiserver")
        .with_dns(APISERVER_DNS_NAMES.iter().copied())
        .with_ip([
            IpAddr::from([127, 0, 0, 1]),
            config.first_service_ip(),
            config.advertise_address,
        ])
        .with_ip(config.host_ips.iter().copied())
}

/// File stem of the apiserver's client certificate towards kubelets
/// (kubeadm's `apiserver-kubelet-client`: CN=kube-apiserver-kubelet-client,
/// O=system:masters, so the kubelets' SubjectAccessReviews allow it).
pub const APISERVER_KUBELET_CLIENT_CERT_NAME: &str = "apiserver-kubelet-client";

/// File stem of the front-proxy CA (kubeadm's `front-proxy-ca`): it signs
/// only the aggregator's proxy client certificate, so extension apiservers
/// trusting it (`requestheader-client-ca-file`) trust nothing else.
pub const FRONT_PROXY_CA_NAME: &str = "front-proxy-ca";
/// Common name of the front-proxy CA.
pub const FRONT_PROXY_CA_COMMON_NAME: &str = "front-proxy-ca";
/// File stem of the aggregator's client certificate towards extension
/// apiservers (kubeadm's `front-proxy-client`).
pub const FRONT_PROXY_CLIENT_CERT_NAME: &str = "front-proxy-client";
/// Its common name, the one `--requestheader-allowed-names` admits.
pub const FRONT_PROXY_CLIENT_COMMON_NAME: &str = "front-proxy-client";

/// File stem of the local kubelet's serving certificate, signed by the
/// cluster CA so the apiserver verifies it (`--kubelet-certificate-authority`).
pub const KUBELET_SERVING_CERT_NAME: &str = "kubelet-server";

/// File stems of the secure-port serving certificates of kube-scheduler and
/// kube-controller-manager. Upstream (kubeadm) lets them self-sign; Corten
/// signs them with the cluster CA so `corten up`'s readiness probe and
/// `curl --cacert ca.crt https://127.0.0.1:10259/metrics` can verify them.
pub const SCHEDULER_SERVING_CERT_NAME: &str = "kube-scheduler-server";
/// See [`SCHEDULER_SERVING_CERT_NAME`].
pub const CONTROLLER_MANAGER_SERVING_CERT_NAME: &str = "kube-controller-manager-server";

/// File stem of Prometheus' client certificate (CN=prometheus,
/// O=system:monitoring): the bootstrap policy binds the group
/// system:monitoring to the ClusterRole of the same name, which may `get`
/// `/metrics` and the health paths of every component
/// (`deploy/prometheus/prometheus.yml` uses it).
pub const PROMETHEUS_CERT_NAME: &str = "prometheus";

/// A loopback serving certificate (`localhost`, `127.0.0.1`) of a
/// control-plane component's secure port.
pub fn loopback_serving_cert_spec(common_name: &str) -> CertSpec {
    CertSpec::server(common_name)
        .with_dns(["localhost"])
        .with_ip([IpAddr::from([127, 0, 0, 1])])
}

/// The local kubelet's serving certificate: its node name, localhost,
/// loopback, the advertise address (its `--node-ip`) and host addresses.
pub fn kubelet_serving_cert_spec(
    config: &crate::state::ClusterConfig,
    node_name: &str,
) -> CertSpec {
    CertSpec::server(&format!("system:node:{node_name}"))
        .with_dns([node_name, "localhost"])
        .with_ip([IpAddr::from([127, 0, 0, 1]), config.advertise_address])
        .with_ip(config.host_ips.iter().copied())
}

/// The ServiceAccount token signing key (PKCS#8, 0600) in `<state>/pki`.
pub const SA_PRIVATE_KEY_FILE: &str = "sa.key";
/// Its public half (SPKI PEM), given to `--service-account-key-file`.
pub const SA_PUBLIC_KEY_FILE: &str = "sa.pub";
/// The ServiceAccount token issuer (`--service-account-issuer`), kubeadm's.
pub const SA_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// The client certificates of the cluster's daemons: (file stem, spec).
/// The kubelet's identity is `system:node:<node_name>` in `system:nodes`,
/// which the Node authorizer and NodeRestriction key on.
pub fn component_client_specs(node_name: &str) -> Vec<(&'static str, CertSpec)> {
    vec![
        (
            "kube-scheduler",
            CertSpec::client("system:kube-scheduler", &[]),
        ),
        (
            "kube-controller-manager",
            CertSpec::client("system:kube-controller-manager", &[]),
        ),
        (
            "kubelet",
            CertSpec::client(&format!("system:node:{node_name}"), &["system:nodes"]),
        ),
        ("kube-proxy", CertSpec::client("system:kube-proxy", &[])),
        // Its roles come from deploy/dns/rbac.yaml (CoreDNS's come from
        // its addon manifest, not from the apiserver's bootstrap policy).
        ("corten-dns", CertSpec::client("system:corten-dns", &[])),
    ]
}

/// The local node's name: the host name in lower case (the kubelet's
/// default without `--hostname-override`).
pub fn local_node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_ascii_lowercase())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Makes sure the ServiceAccount key pair exists (ECDSA P-256, as upstream
/// accepts for ES256 tokens). Returns whether it was generated.
pub fn ensure_service_account_key(pki_dir: &Path) -> anyhow::Result<bool> {
    let (key, public) = (
        pki_dir.join(SA_PRIVATE_KEY_FILE),
        pki_dir.join(SA_PUBLIC_KEY_FILE),
    );
    if key.is_file() && public.is_file() {
        return Ok(false);
    }
    let pair = KeyPair::generate().context("generating the service account key")?;
    write_file_atomic(&key, pair.serialize_pem().as_bytes(), 0o600)?;
    write_file_atomic(&public, pair.public_key_pem().as_bytes(), 0o644)?;
    Ok(true)
}

/// What [`ensure_cluster_pki`] did.
#[derive(Debug)]
pub struct ClusterPki {
    /// The cluster CA.
    pub ca: CertificateAuthority,
    /// Names (`ca`, `apiserver`, ...) of the files written this time.
    pub created: Vec<&'static str>,
}

/// Creates whatever is missing of a cluster's PKI under `pki_dir`: the CA,
/// the apiserver serving certificate, the client certificates of the admin
/// and of every daemon, and the ServiceAccount key pair. Idempotent.
pub fn ensure_cluster_pki(
    pki_dir: &Path,
    config: &crate::state::ClusterConfig,
) -> anyhow::Result<ClusterPki> {
    let mut created = Vec::new();
    let (ca, ca_created) = ensure_ca(pki_dir, CA_NAME, CA_COMMON_NAME)?;
    if ca_created {
        created.push(CA_NAME);
    }
    if ensure_cert(
        pki_dir,
        APISERVER_CERT_NAME,
        &ca,
        &apiserver_cert_spec(config),
    )? {
        created.push(APISERVER_CERT_NAME);
    }
    if ensure_cert(
        pki_dir,
        ADMIN_CERT_NAME,
        &ca,
        &CertSpec::client("kubernetes-admin", &["system:masters"]),
    )? {
        created.push(ADMIN_CERT_NAME);
    }
    for (name, spec) in component_client_specs(&local_node_name()) {
        if ensure_cert(pki_dir, name, &ca, &spec)? {
            created.push(name);
        }
    }
    let node_certs = [
        (
            APISERVER_KUBELET_CLIENT_CERT_NAME,
            CertSpec::client("kube-apiserver-kubelet-client", &["system:masters"]),
        ),
        (
            KUBELET_SERVING_CERT_NAME,
            kubelet_serving_cert_spec(config, &local_node_name()),
        ),
        (
            SCHEDULER_SERVING_CERT_NAME,
            loopback_serving_cert_spec("kube-scheduler"),
        ),
        (
            CONTROLLER_MANAGER_SERVING_CERT_NAME,
            loopback_serving_cert_spec("kube-controller-manager"),
        ),
        (
            PROMETHEUS_CERT_NAME,
            CertSpec::client("prometheus", &["system:monitoring"]),
        ),
    ];
    for (name, spec) in node_certs {
        if ensure_cert(pki_dir, name, &ca, &spec)? {
            created.push(name);
        }
    }
    let (front_proxy_ca, fp_created) =
        ensure_ca(pki_dir, FRONT_PROXY_CA_NAME, FRONT_PROXY_CA_COMMON_NAME)?;
    if fp_created {
        created.push(FRONT_PROXY_CA_NAME);
    }
    if ensure_cert(
        pki_dir,
        FRONT_PROXY_CLIENT_CERT_NAME,
        &front_proxy_ca,
        &CertSpec::client(FRONT_PROXY_CLIENT_COMMON_NAME, &[]),
    )? {
        created.push(FRONT_PROXY_CLIENT_CERT_NAME);
    }
    if ensure_service_account_key(pki_dir)? {
        created.push("sa");
    }
    Ok(ClusterPki { ca, created })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apiserver_spec() -> CertSpec {
        CertSpec::server("kube-apiserver")
            .with_dns([
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ])
            .with_ip([
                IpAddr::from([127, 0, 0, 1]),
                IpAddr::from([10, 96, 0, 1]),
                IpAddr::from([192, 168, 7, 9]),
            ])
    }

    #[test]
    fn issued_server_cert_chains_to_ca_and_covers_all_names() {
        let (ca, _) = CertificateAuthority::generate(CA_COMMON_NAME).unwrap();
        let issued = ca.issue(&apiserver_spec()).unwrap();
        for name in [
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "127.0.0.1",
            "10.96.0.1",
            "192.168.7.9",
        ] {
            verify_chain(ca.cert_pem(), &issued.cert_pem, Some(name))
                .unwrap_or_else(|err| panic!("{name}: {err}"));
        }
        // Names not in the certificate are rejected.
        assert!(verify_chain(ca.cert_pem(), &issued.cert_pem, Some("evil.example")).is_err());
        assert!(verify_chain(ca.cert_pem(), &issued.cert_pem, Some("10.96.0.2")).is_err());
        // Another CA does not trust it.
        let (other, _) = CertificateAuthority::generate("other-ca").unwrap();
        assert!(verify_chain(other.cert_pem(), &issued.cert_pem, Some("localhost")).is_err());
        // A serving certificate is not a client certificate.
        assert!(verify_chain(ca.cert_pem(), &issued.cert_pem, None).is_err());
    }

    #[test]
    fn client_certs_verify_as_clients() {
        let (ca, _) = CertificateAuthority::generate(CA_COMMON_NAME).unwrap();
        let admin = ca
            .issue(&CertSpec::client("admin", &["system:masters"]))
            .unwrap();
        verify_chain(ca.cert_pem(), &admin.cert_pem, None).unwrap();
        assert!(verify_chain(ca.cert_pem(), &admin.cert_pem, Some("localhost")).is_err());
    }

    #[test]
    fn ensure_writes_private_keys_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path();
        let (ca, created) = ensure_ca(pki, "ca", CA_COMMON_NAME).unwrap();
        assert!(created);
        assert!(ensure_cert(pki, "apiserver", &ca, &apiserver_spec()).unwrap());

        for (file, mode) in [
            ("ca.key", 0o600),
            ("apiserver.key", 0o600),
            ("ca.crt", 0o644),
            ("apiserver.crt", 0o644),
        ] {
            let meta = fs::metadata(pki.join(file)).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, mode, "{file}");
        }
        let key = fs::read_to_string(pki.join("apiserver.key")).unwrap();
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "{key}");

        // Second run: nothing changes.
        let before = fs::read(pki.join("apiserver.crt")).unwrap();
        let (ca_again, created) = ensure_ca(pki, "ca", CA_COMMON_NAME).unwrap();
        assert!(!created);
        assert_eq!(ca_again.cert_pem(), ca.cert_pem());
        assert!(!ensure_cert(pki, "apiserver", &ca_again, &apiserver_spec()).unwrap());
        assert_eq!(fs::read(pki.join("apiserver.crt")).unwrap(), before);

        // The loaded CA can still sign certificates that verify.
        let issued = ca_again
            .issue(&CertSpec::server("x").with_dns(["x.local"]))
            .unwrap();
        verify_chain(ca.cert_pem(), &issued.cert_pem, Some("x.local")).unwrap();

        // A new name (e.g. the host IP changed) triggers a reissue.
        let wider = apiserver_spec().with_ip([IpAddr::from([172, 16, 0, 5])]);
        assert!(ensure_cert(pki, "apiserver", &ca_again, &wider).unwrap());
        let cert = fs::read_to_string(pki.join("apiserver.crt")).unwrap();
        verify_chain(ca.cert_pem(), &cert, Some("172.16.0.5")).unwrap();
    }

    #[test]
    fn invalid_dns_names_are_reported() {
        let (ca, _) = CertificateAuthority::generate(CA_COMMON_NAME).unwrap();
        let err = ca
            .issue(&CertSpec::server("x").with_dns(["bad name with spaces"]))
            .unwrap_err();
        assert!(format!("{err:#}").contains("invalid DNS name"), "{err:#}");
        for bad in ["", "-a.b", "a..b", "a_b.c", "é.example"] {
            assert!(validate_dns_name(bad).is_err(), "{bad:?}");
        }
        for good in [
            "localhost",
            "kubernetes.default.svc.cluster.local",
            "*.example.com",
            "a-1.b2",
        ] {
            validate_dns_name(good).unwrap();
        }
    }

    #[test]
    fn cluster_pki_covers_the_apiserver_names() {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::state::ClusterConfig {
            advertise_address: IpAddr::from([10, 1, 2, 3]),
            ..crate::state::ClusterConfig::default()
        };
        let pki = ensure_cluster_pki(dir.path(), &config).unwrap();
        assert_eq!(
            pki.created,
            [
                CA_NAME,
                APISERVER_CERT_NAME,
                ADMIN_CERT_NAME,
                "kube-scheduler",
                "kube-controller-manager",
                "kubelet",
                "kube-proxy",
                "corten-dns",
                APISERVER_KUBELET_CLIENT_CERT_NAME,
                KUBELET_SERVING_CERT_NAME,
                SCHEDULER_SERVING_CERT_NAME,
                CONTROLLER_MANAGER_SERVING_CERT_NAME,
                PROMETHEUS_CERT_NAME,
                FRONT_PROXY_CA_NAME,
                FRONT_PROXY_CLIENT_CERT_NAME,
                "sa"
            ]
        );
        let scheduler = fs::read_to_string(dir.path().join("kube-scheduler-server.crt")).unwrap();
        verify_chain(pki.ca.cert_pem(), &scheduler, Some("127.0.0.1")).unwrap();
        verify_chain(pki.ca.cert_pem(), &scheduler, Some("localhost")).unwrap();
        // The proxy client certificate chains to the front-proxy CA only.
        let fp_ca = fs::read_to_string(dir.path().join("front-proxy-ca.crt")).unwrap();
        let fp = fs::read_to_string(dir.path().join("front-proxy-client.crt")).unwrap();
        verify_chain(&fp_ca, &fp, None).unwrap();
        assert!(verify_chain(pki.ca.cert_pem(), &fp, None).is_err());
        // The kubelet's serving certificate verifies for its node IP (the
        // advertise address), which the apiserver dials.
        let serving = fs::read_to_string(dir.path().join("kubelet-server.crt")).unwrap();
        verify_chain(pki.ca.cert_pem(), &serving, Some("10.1.2.3")).unwrap();
        verify_chain(pki.ca.cert_pem(), &serving, Some("127.0.0.1")).unwrap();
        let mode = fs::metadata(dir.path().join("sa.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let kubelet = fs::read_to_string(dir.path().join("kubelet.crt")).unwrap();
        verify_chain(pki.ca.cert_pem(), &kubelet, None).unwrap();
        let cert = fs::read_to_string(dir.path().join("apiserver.crt")).unwrap();
        for name in
            APISERVER_DNS_NAMES
                .iter()
                .copied()
                .chain(["127.0.0.1", "10.96.0.1", "10.1.2.3"])
        {
            verify_chain(pki.ca.cert_pem(), &cert, Some(name))
                .unwrap_or_else(|err| panic!("{name}: {err}"));
        }
        let again = ensure_cluster_pki(dir.path(), &config).unwrap();
        assert!(again.created.is_empty());
    }
}
