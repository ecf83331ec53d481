//! Requesting a client certificate through the certificates.k8s.io API
//! (upstream `csr.RequestCertificate` + `WaitForCertificate`): an ECDSA
//! P-256 key, a PKCS#10 request for `CN=system:node:<node>,
//! O=system:nodes`, a CertificateSigningRequest for the
//! `kubernetes.io/kube-apiserver-client-kubelet` signer, then waiting until
//! it is approved and issued (or denied / failed).

use std::time::Duration;

use base64::Engine;
use k8s_openapi::ByteString;
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use sha2::{Digest, Sha256};

/// The signer of kubelet client certificates.
pub const SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// Usages requested for an ECDSA client key (upstream drops `key
/// encipherment` for non-RSA keys).
pub const USAGES: [&str; 2] = ["digital signature", "client auth"];

/// A private key and the certificate request made with it.
#[derive(Debug)]
pub struct Request {
    /// PKCS#8 PEM of the private key.
    pub key_pem: String,
    /// PEM of the PKCS#10 request.
    pub csr_pem: String,
    /// Raw public key (to check the issued certificate against).
    pub public_key: Vec<u8>,
}

/// The subject of a node's client certificate.
pub fn node_subject(node_name: &str) -> (String, String) {
    (format!("system:node:{node_name}"), "system:nodes".into())
}

/// Makes a request for `node_name`, with `key_pem` if given (a key kept
/// from an earlier attempt) or a new key.
pub fn make_request(node_name: &str, key_pem: Option<&str>) -> anyhow::Result<Request> {
    use rcgen::{CertificateParams, DnType, KeyPair};
    let key = match key_pem {
        Some(pem) => KeyPair::from_pem(pem)?,
        None => KeyPair::generate()?,
    };
    let (cn, o) = node_subject(node_name);
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::OrganizationName, o);
    params.distinguished_name.push(DnType::CommonName, cn);
    let csr = params.serialize_request(&key)?;
    Ok(Request {
        key_pem: key.serialize_pem(),
        csr_pem: csr.pem()?,
        public_key: key.public_key_raw().to_vec(),
    })
}

/// `node-csr-<digest>`: the same key, subject and usages give the same
/// name, so a retried bootstrap finds its earlier request (upstream
/// `digestedName`).
pub fn csr_name(request: &Request, node_name: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(&request.public_key);
    let (cn, o) = node_subject(node_name);
    hash.update(format!("CN={cn},O={o}"));
    for usage in USAGES {
        hash.update(usage);
    }
    format!(
        "node-csr-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash.finalize())
    )
}

/// Creates the CertificateSigningRequest (or finds the one an earlier
/// attempt created); returns its name.
pub async fn submit(
    client: &kube::Client,
    request: &Request,
    node_name: &str,
) -> anyhow::Result<String> {
    let api: Api<CertificateSigningRequest> = Api::all(client.clone());
    let name = csr_name(request, node_name);
    let csr = CertificateSigningRequest {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        spec: CertificateSigningRequestSpec {
            request: ByteString(request.csr_pem.clone().into_bytes()),
            signer_name: SIGNER.into(),
            usages: Some(USAGES.iter().map(|u| u.to_string()).collect()),
            ..Default::default()
        },
        status: None,
    };
    match api.create(&PostParams::default(), &csr).await {
        Ok(_) => {
            tracing::info!(csr = %name, "created a certificate signing request");
            Ok(name)
        }
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let existing = api.get(&name).await?;
            if existing.spec.request.0 != csr.spec.request.0 || existing.spec.signer_name != SIGNER
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

/// Waits until the CSR is issued (polling every second, at most `timeout`).
pub async fn wait(client: &kube::Client, name: &str, timeout: Duration) -> anyhow::Result<Vec<u8>> {
    let api: Api<CertificateSigningRequest> = Api::all(client.clone());
    let deadline = tokio::time::Instant::now() + timeout;
    let mut logged = false;
    loop {
        match api.get(name).await {
            Ok(csr) => match outcome(&csr) {
                Outcome::Issued(cert) => return Ok(cert),
                Outcome::Refused(message) => anyhow::bail!(message),
                Outcome::Pending if !logged => {
                    tracing::info!(csr = %name, "waiting for the certificate signing request to be approved and issued");
                    logged = true;
                }
                Outcome::Pending => {}
            },
            Err(err) => {
                tracing::warn!(csr = %name, error = %err, "reading the certificate signing request")
            }
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "timed out waiting for the certificate signing request {name} to be issued"
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
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
