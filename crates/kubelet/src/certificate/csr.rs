//! Requesting a certificate through the certificates.k8s.io API (upstream
//! `csr.RequestCertificate` + `WaitForCertificate`), shared by the client
//! certificate (TLS bootstrap and rotation) and the serving certificate: an
//! ECDSA P-256 key, a PKCS#10 request for `CN=system:node:<node>,
//! O=system:nodes` (plus the node's DNS names and IPs for serving), a
//! CertificateSigningRequest for the template's signer, then a watch until
//! it is approved and issued (or denied / failed).

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;
use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use sha2::{Digest, Sha256};

/// The signer of kubelet client certificates.
pub const SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// The signer of kubelet serving certificates.
pub const SERVING_SIGNER: &str = "kubernetes.io/kubelet-serving";
/// Usages requested for an ECDSA client key (upstream drops `key
/// encipherment` for non-RSA keys).
pub const USAGES: [&str; 2] = ["digital signature", "client auth"];

/// What a certificate is requested for (upstream's certificate manager
/// template plus signer and usages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    /// `spec.signerName`.
    pub signer_name: &'static str,
    /// `client auth` or `server auth`.
    pub extended_usage: &'static str,
    /// Subject common name.
    pub common_name: String,
    /// Subject organization.
    pub organization: String,
    /// DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// IP subject alternative names.
    pub ips: Vec<IpAddr>,
}

impl Template {
    /// The node's client certificate.
    pub fn client(node_name: &str) -> Self {
        let (common_name, organization) = node_subject(node_name);
        Self {
            signer_name: SIGNER,
            extended_usage: "client auth",
            common_name,
            organization,
            dns_names: Vec::new(),
            ips: Vec::new(),
        }
    }

    /// The node's serving certificate for its hostnames and IPs (upstream
    /// takes them from the node's addresses).
    pub fn serving(node_name: &str, dns_names: Vec<String>, ips: Vec<IpAddr>) -> Self {
        let (common_name, organization) = node_subject(node_name);
        Self {
            signer_name: SERVING_SIGNER,
            extended_usage: "server auth",
            common_name,
            organization,
            dns_names,
            ips,
        }
    }

    /// The usages to request: upstream adds `key encipherment` only for
    /// RSA keys (an ECDSA key cannot encipher).
    pub fn usages(&self, rsa: bool) -> Vec<&'static str> {
        let mut usages = Vec::with_capacity(3);
        if rsa {
            usages.push("key encipherment");
        }
        usages.push("digital signature");
        usages.push(self.extended_usage);
        usages
    }
}

/// A private key and the certificate request made with it.
#[derive(Debug)]
pub struct Request {
    /// PKCS#8 PEM of the private key.
    pub key_pem: String,
    /// PEM of the PKCS#10 request.
    pub csr_pem: String,
    /// Raw public key (to check the issued certificate against).
    pub public_key: Vec<u8>,
    /// The usages to request for this key.
    pub usages: Vec<&'static str>,
}

/// The subject of a node's certificates.
pub fn node_subject(node_name: &str) -> (String, String) {
    (format!("system:node:{node_name}"), "system:nodes".into())
}

fn is_rsa(algorithm: &rcgen::SignatureAlgorithm) -> bool {
    [
        &rcgen::PKCS_RSA_SHA256,
        &rcgen::PKCS_RSA_SHA384,
        &rcgen::PKCS_RSA_SHA512,
    ]
    .contains(&algorithm)
}

/// Makes a request for `template`, with `key_pem` if given (a key kept from
/// an earlier attempt) or a new ECDSA P-256 key.
pub fn make_request(template: &Template, key_pem: Option<&str>) -> anyhow::Result<Request> {
    use rcgen::{CertificateParams, DnType, KeyPair, SanType};
    let key = match key_pem {
        Some(pem) => KeyPair::from_pem(pem)?,
        None => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?,
    };
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::OrganizationName, template.organization.clone());
    params
        .distinguished_name
        .push(DnType::CommonName, template.common_name.clone());
    for name in &template.dns_names {
        params
            .subject_alt_names
            .push(SanType::DnsName(name.clone().try_into()?));
    }
    for ip in &template.ips {
        params.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    let csr = params.serialize_request(&key)?;
    Ok(Request {
        key_pem: key.serialize_pem(),
        csr_pem: csr.pem()?,
        public_key: key.public_key_raw().to_vec(),
        usages: template.usages(is_rsa(key.algorithm())),
    })
}

/// `node-csr-<digest>`: the same key, subject and usages give the same
/// name, so a retried bootstrap finds its earlier request (upstream
/// `digestedName`).
pub fn csr_name(request: &Request, template: &Template) -> String {
    let mut hash = Sha256::new();
    hash.update(&request.public_key);
    hash.update(format!(
        "CN={},O={}",
        template.common_name, template.organization
    ));
    for usage in &request.usages {
        hash.update(usage);
    }
    format!(
        "node-csr-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash.finalize())
    )
}

/// How the CertificateSigningRequest is named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    /// `node-csr-<digest>` ([`csr_name`]): TLS bootstrap, so a restarted
    /// kubelet finds the request it is waiting for.
    Digested,
    /// `generateName: csr-`: rotations and serving certificates (upstream's
    /// certificate manager passes no name).
    Generated,
}

/// Creates the CertificateSigningRequest (or, with [`Naming::Digested`],
/// finds the one an earlier attempt created); returns its name.
pub async fn submit(
    client: &kube::Client,
    request: &Request,
    template: &Template,
    naming: Naming,
) -> anyhow::Result<String> {
    let api: Api<CertificateSigningRequest> = Api::all(client.clone());
    let metadata = match naming {
        Naming::Digested => ObjectMeta {
            name: Some(csr_name(request, template)),
            ..Default::default()
        },
        Naming::Generated => ObjectMeta {
            generate_name: Some("csr-".into()),
            ..Default::default()
        },
    };
    let csr = CertificateSigningRequest {
        metadata,
        spec: CertificateSigningRequestSpec {
            request: ByteString(request.csr_pem.clone().into_bytes()),
            signer_name: template.signer_name.into(),
            usages: Some(request.usages.iter().map(|u| u.to_string()).collect()),
            ..Default::default()
        },
        status: None,
    };
    match api.create(&PostParams::default(), &csr).await {
        Ok(created) => {
            let name = created.metadata.name.unwrap_or_default();
            tracing::info!(csr = %name, signer = template.signer_name, "created a certificate signing request");
            Ok(name)
        }
        Err(kube::Error::Api(s)) if s.code == 409 && naming == Naming::Digested => {
            let name = csr.metadata.name.clone().unwrap_or_default();
            let existing = api.get(&name).await?;
            if existing.spec.request.0 != csr.spec.request.0
                || existing.spec.signer_name != template.signer_name
            {
                anyhow::bail!("certificate signing request {name} exists with another request");
            }
            tracing::info!(csr = %name, "waiting for an existing certificate signing request");
            Ok(name)
        }
        Err(err) => {
            Err(anyhow::Error::new(err).context("creating the certificate signing request"))
        }
    }
}

/// What a CSR's status says.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not decided or not issued yet.
    Pending,
    /// Issued: the certificate chain (PEM).
    Issued(Vec<u8>),
    /// Denied or failed, with upstream's message.
    Refused(String),
}

/// Reads the outcome from a CSR (upstream `ensureCompatible` + condition checks).
pub fn outcome(csr: &CertificateSigningRequest) -> Outcome {
    let status = csr.status.clone().unwrap_or_default();
    for c in status.conditions.iter().flatten() {
        let reason = c.reason.clone().unwrap_or_default();
        let message = c.message.clone().unwrap_or_default();
        match c.type_.as_str() {
            "Denied" => {
                return Outcome::Refused(format!(
                    "certificate signing request is denied, reason: {reason}, message: {message}"
                ));
            }
            "Failed" => {
                return Outcome::Refused(format!(
                    "certificate signing request failed, reason: {reason}, message: {message}"
                ));
            }
            _ => {}
        }
    }
    let approved = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Approved" && c.status != "False");
    match status.certificate {
        Some(cert) if approved && !cert.0.is_empty() => Outcome::Issued(cert.0),
        _ => Outcome::Pending,
    }
}

/// Waits until the CSR is issued, watching it (`metadata.name` field
/// selector, as upstream), at most `timeout`.
pub async fn wait(client: &kube::Client, name: &str, timeout: Duration) -> anyhow::Result<Vec<u8>> {
    let api: Api<CertificateSigningRequest> = Api::all(client.clone());
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let stream = watcher(api, config).default_backoff().applied_objects();
    tokio::pin!(stream);
    let watch = async {
        let mut logged = false;
        while let Some(item) = stream.next().await {
            match item {
                Ok(csr) => match outcome(&csr) {
                    Outcome::Issued(cert) => return Ok(cert),
                    Outcome::Refused(message) => anyhow::bail!(message),
                    Outcome::Pending if !logged => {
                        tracing::info!(csr = %name, "waiting for the certificate signing request to be approved and issued");
                        logged = true;
                    }
                    Outcome::Pending => {}
                },
                // The watcher backs off and retries; log and go on.
                Err(err) => {
                    tracing::warn!(csr = %name, error = %err, "watching the certificate signing request")
                }
            }
        }
        anyhow::bail!("the watch of the certificate signing request {name} ended")
    };
    match tokio::time::timeout(timeout, watch).await {
        Ok(result) => result,
        Err(_) => anyhow::bail!(
            "timed out waiting for the certificate signing request {name} to be issued"
        ),
    }
}

/// Checks that `cert_pem`'s first certificate is for `public_key`; returns
/// its validity (not before, not after) in Unix seconds.
pub fn check_issued(cert_pem: &[u8], public_key: &[u8]) -> anyhow::Result<(i64, i64)> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem)
        .map_err(|e| anyhow::anyhow!("the issued certificate is not PEM: {e}"))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| anyhow::anyhow!("the issued certificate does not parse: {e}"))?;
    if cert.public_key().subject_public_key.data.as_ref() != public_key {
        anyhow::bail!("the issued certificate is not for the requested key");
    }
    let validity = cert.validity();
    Ok((
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    ))
}

/// One request from new key to issued certificate: returns (certificate
/// PEM, key PEM, CSR name).
pub async fn request_certificate(
    client: &kube::Client,
    template: &Template,
    timeout: Duration,
) -> anyhow::Result<(Vec<u8>, String, String)> {
    let request = make_request(template, None)?;
    let name = submit(client, &request, template, Naming::Generated).await?;
    let cert = wait(client, &name, timeout).await?;
    check_issued(&cert, &request.public_key)?;
    Ok((cert, request.key_pem, name))
}
