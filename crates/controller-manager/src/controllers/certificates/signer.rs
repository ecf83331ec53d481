//! `certificatesigningrequest-signing-controller`: issues approved CSRs of
//! the `kubernetes.io/kube-apiserver-client`, `.../kube-apiserver-client-
//! kubelet`, `.../kubelet-serving` and `.../legacy-unknown` signers with
//! the CA of `--cluster-signing-cert-file` / `--cluster-signing-key-file`
//! (without them the controller does not run, as upstream).
//!
//! The certificate keeps the request's subject and SANs; key usages and
//! extended key usages come from `spec.usages`; it is no CA; it is valid
//! from 5 minutes before signing (clock skew) for `--cluster-signing-
//! duration`, or `spec.expirationSeconds` when shorter (at least 10
//! minutes), and never beyond the CA's own expiry. A request that fails
//! its signer's checks gets the `Failed` condition (`SignerValidationFailure`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestCondition,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::{Api, Client, ResourceExt};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber, SigningKey, SubjectPublicKeyInfo,
};

use super::request::{
    Request, parse, validate_apiserver_client_usages, validate_kubelet_client,
    validate_kubelet_serving,
};
use super::subject::replace_subject;
use super::{
    KUBE_APISERVER_CLIENT, KUBE_APISERVER_CLIENT_KUBELET, KUBELET_SERVING, LEGACY_UNKNOWN,
    has_condition, is_issued, usages,
};
use crate::config::CsrSigningConfig;
use crate::framework::api_errors;
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::informer::{Change, Informer};
use crate::framework::queue::WorkQueue;
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "certificatesigningrequest-signing-controller";
/// How far before signing a certificate becomes valid.
pub const BACKDATE: Duration = Duration::from_secs(5 * 60);
/// The shortest lifetime `spec.expirationSeconds` can ask for.
pub const MIN_DURATION: Duration = Duration::from_secs(10 * 60);

/// The signers this controller serves.
pub const SIGNERS: &[&str] = &[
    KUBE_APISERVER_CLIENT,
    KUBE_APISERVER_CLIENT_KUBELET,
    KUBELET_SERVING,
    LEGACY_UNKNOWN,
];

/// The cluster CA, ready to sign.
pub struct ClusterSigner {
    issuer: Issuer<'static, KeyPair>,
    /// The CA's own expiry (unix seconds).
    ca_not_after: i64,
    duration: Duration,
}

impl std::fmt::Debug for ClusterSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterSigner")
            .field("ca_not_after", &self.ca_not_after)
            .field("duration", &self.duration)
            .finish_non_exhaustive()
    }
}

impl ClusterSigner {
    /// Loads the CA certificate and key (PEM); the key must be PKCS#8 or
    /// SEC1 (ECDSA, Ed25519) or PKCS#8 RSA, as rcgen reads them.
    pub fn new(config: &CsrSigningConfig) -> Result<Self, String> {
        let key = KeyPair::from_pem(&config.key_pem)
            .map_err(|e| format!("parsing the cluster signing key: {e}"))?;
        let (_, pem) = x509_parser::pem::parse_x509_pem(config.cert_pem.as_bytes())
            .map_err(|e| format!("parsing the cluster signing certificate: {e}"))?;
        let cert = pem
            .parse_x509()
            .map_err(|e| format!("parsing the cluster signing certificate: {e}"))?;
        let ca_not_after = cert.validity().not_after.timestamp();
        let issuer = Issuer::from_ca_cert_pem(&config.cert_pem, key)
            .map_err(|e| format!("loading the cluster signing CA: {e}"))?;
        Ok(Self {
            issuer,
            ca_not_after,
            duration: config.duration,
        })
    }

    /// Upstream `duration`: the configured lifetime, or the requested one
    /// when shorter (but at least [`MIN_DURATION`]).
    pub fn lifetime(&self, expiration_seconds: Option<i32>) -> Duration {
        let Some(seconds) = expiration_seconds else {
            return self.duration;
        };
        let requested = Duration::from_secs(u64::try_from(seconds).unwrap_or(0));
        requested.clamp(MIN_DURATION.min(self.duration), self.duration)
    }

    /// Signs a request whose signer checks passed. `now` in unix seconds.
    ///
    /// rcgen builds and signs the certificate with a stand-in subject; the
    /// request's subject, written as upstream writes it (every value of a
    /// repeated attribute kept), then replaces it and the certificate is
    /// signed again (see [`subject`](super::subject)).
    pub fn sign(
        &self,
        request_pem: &[u8],
        usages: &[String],
        expiration_seconds: Option<i32>,
        now: i64,
    ) -> Result<String, String> {
        let request = parse(request_pem).map_err(|e| e.to_string())?;
        let public_key = SubjectPublicKeyInfo::from_der(&request.public_key)
            .map_err(|e| format!("unsupported public key in the request: {e}"))?;
        let lifetime =
            i64::try_from(self.lifetime(expiration_seconds).as_secs()).unwrap_or(i64::MAX);
        let not_before = now - BACKDATE.as_secs() as i64;
        let not_after = now.saturating_add(lifetime).min(self.ca_not_after);
        let time = |t: i64| {
            time::OffsetDateTime::from_unix_timestamp(t)
                .map_err(|e| format!("certificate time: {e}"))
        };
        let mut p = CertificateParams::default();
        // A stand-in that is empty exactly when the real subject is: an
        // empty subject makes the SAN extension critical (RFC 5280, and
        // Go), and that choice is signed with the rest.
        p.distinguished_name = DistinguishedName::new();
        let subject = request.subject.to_der();
        if !request.subject.is_empty() {
            p.distinguished_name.push(DnType::CommonName, "subject");
        }
        p.subject_alt_names = subject_alt_names(&request)?;
        p.not_before = time(not_before)?;
        p.not_after = time(not_after)?;
        p.is_ca = IsCa::ExplicitNoCa;
        for usage in usages {
            match usage_purpose(usage) {
                Some(Purpose::Key(k)) => p.key_usages.push(k),
                Some(Purpose::Extended(e)) => p.extended_key_usages.push(e),
                None => return Err(format!("unknown key usage {usage:?}")),
            }
        }
        let mut serial = uuid::Uuid::new_v4().into_bytes().to_vec();
        serial[0] &= 0x7f;
        p.serial_number = Some(SerialNumber::from(serial));
        p.use_authority_key_identifier_extension = true;
        let cert = p
            .signed_by(&public_key, &self.issuer)
            .map_err(|e| format!("signing the certificate: {e}"))?;
        let der = replace_subject(cert.der(), &subject, |tbs| {
            self.issuer
                .key()
                .sign(tbs)
                .map_err(|e| format!("signing the certificate: {e}"))
        })?;
        Ok(pem_certificate(&der))
    }
}

/// The request's SANs in Go's order (DNS, email, IP, URI).
fn subject_alt_names(request: &Request) -> Result<Vec<SanType>, String> {
    let bad = |kind: &str, e: rcgen::Error| format!("invalid {kind} subjectAltName: {e}");
    let mut sans = Vec::new();
    for name in &request.dns_names {
        sans.push(SanType::DnsName(
            name.as_str().try_into().map_err(|e| bad("DNS", e))?,
        ));
    }
    for email in &request.emails {
        sans.push(SanType::Rfc822Name(
            email.as_str().try_into().map_err(|e| bad("email", e))?,
        ));
    }
    for ip in &request.ips {
        let ip = match ip.len() {
            4 => IpAddr::from(<[u8; 4]>::try_from(ip.as_slice()).unwrap_or_default()),
            16 => IpAddr::from(<[u8; 16]>::try_from(ip.as_slice()).unwrap_or_default()),
            n => return Err(format!("invalid IP subjectAltName of {n} bytes")),
        };
        sans.push(SanType::IpAddress(ip));
    }
    for uri in &request.uris {
        sans.push(SanType::URI(
            uri.as_str().try_into().map_err(|e| bad("URI", e))?,
        ));
    }
    Ok(sans)
}

/// A DER certificate as one PEM block.
fn pem_certificate(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

enum Purpose {
    Key(KeyUsagePurpose),
    Extended(ExtendedKeyUsagePurpose),
}

/// Upstream's `keyUsageDict` and `extKeyUsageDict`.
fn usage_purpose(usage: &str) -> Option<Purpose> {
    use ExtendedKeyUsagePurpose as E;
    use KeyUsagePurpose as K;
    Some(match usage {
        "signing" | "digital signature" => Purpose::Key(K::DigitalSignature),
        "content commitment" => Purpose::Key(K::ContentCommitment),
        "key encipherment" => Purpose::Key(K::KeyEncipherment),
        "key agreement" => Purpose::Key(K::KeyAgreement),
        "data encipherment" => Purpose::Key(K::DataEncipherment),
        "cert sign" => Purpose::Key(K::KeyCertSign),
        "crl sign" => Purpose::Key(K::CrlSign),
        "encipher only" => Purpose::Key(K::EncipherOnly),
        "decipher only" => Purpose::Key(K::DecipherOnly),
        "any" => Purpose::Extended(E::Any),
        "server auth" => Purpose::Extended(E::ServerAuth),
        "client auth" => Purpose::Extended(E::ClientAuth),
        "code signing" => Purpose::Extended(E::CodeSigning),
        "email protection" | "s/mime" => Purpose::Extended(E::EmailProtection),
        "ipsec end system" => Purpose::Extended(E::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 5])),
        "ipsec tunnel" => Purpose::Extended(E::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 6])),
        "ipsec user" => Purpose::Extended(E::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 7])),
        "timestamping" => Purpose::Extended(E::TimeStamping),
        "ocsp signing" => Purpose::Extended(E::OcspSigning),
        "microsoft sgc" => Purpose::Extended(E::Other(vec![1, 3, 6, 1, 4, 1, 311, 10, 3, 3])),
        "netscape sgc" => Purpose::Extended(E::Other(vec![2, 16, 840, 1, 113730, 4, 1])),
        _ => return None,
    })
}

/// The signer's checks of a request (upstream `getCSRVerificationFuncForSignerName`).
pub fn check_for_signer(csr: &CertificateSigningRequest) -> Result<(), String> {
    let usages = usages(csr);
    match csr.spec.signer_name.as_str() {
        KUBE_APISERVER_CLIENT => validate_apiserver_client_usages(&usages),
        KUBE_APISERVER_CLIENT_KUBELET | KUBELET_SERVING => {
            let request = parse(&csr.spec.request.0).map_err(|e| e.to_string())?;
            if csr.spec.signer_name == KUBELET_SERVING {
                validate_kubelet_serving(&request, &usages)
            } else {
                validate_kubelet_client(&request, &usages)
            }
        }
        _ => Ok(()),
    }
}

/// Builds the controller; `None` without `--cluster-signing-*` files.
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    if ctx.config.csr_signing.is_empty() {
        tracing::info!("Skipping CSR signer controller because no csr cert/key was specified");
        return Ok(None);
    }
    let mut signers = BTreeMap::new();
    for (name, config) in &ctx.config.csr_signing {
        signers.insert(
            *name,
            ClusterSigner::new(config).map_err(anyhow::Error::msg)?,
        );
    }
    for name in SIGNERS.iter().filter(|s| !signers.contains_key(*s)) {
        tracing::info!(
            signer = name,
            "Skipping CSR signer: no cert/key was specified for it"
        );
    }
    let csrs = ctx.informers.informer::<CertificateSigningRequest>();
    let queue = WorkQueue::<String>::new("csrsigning");
    {
        let queue = queue.clone();
        csrs.add_event_handler(move |change: Change<'_, CertificateSigningRequest>| {
            if !matches!(change, Change::Deleted(_)) {
                queue.add(change.object().name_any());
            }
        });
    }
    let reconciler = Signer {
        client: ctx.client.clone(),
        csrs: csrs.clone(),
        signers,
    };
    Ok(Some(Box::new(
        QueueController::new(NAME, queue, reconciler, 5, ctx).wait_for(csrs),
    )))
}

/// Signs one CSR when it is approved and still unsigned.
pub struct Signer {
    client: Client,
    csrs: Informer<CertificateSigningRequest>,
    /// By signer name; CSRs of other signers are left alone.
    signers: BTreeMap<&'static str, ClusterSigner>,
}

fn now_time() -> Time {
    Time(Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::UNIX_EPOCH))
}

impl Reconciler<String> for Signer {
    type Error = String;

    async fn reconcile(&self, name: &String) -> Result<Action, String> {
        let Some(csr) = self.csrs.get(None, name) else {
            return Ok(Action::await_change());
        };
        let Some(signer) = self.signers.get(csr.spec.signer_name.as_str()) else {
            return Ok(Action::await_change());
        };
        if !has_condition(&csr, "Approved")
            || has_condition(&csr, "Denied")
            || has_condition(&csr, "Failed")
            || is_issued(&csr)
        {
            return Ok(Action::await_change());
        }
        let mut updated = (*csr).clone();
        let status = updated.status.get_or_insert_with(Default::default);
        let result = check_for_signer(&csr).and_then(|()| {
            signer.sign(
                &csr.spec.request.0,
                &usages(&csr),
                csr.spec.expiration_seconds,
                Timestamp::now().as_second(),
            )
        });
        match result {
            Ok(pem) => status.certificate = Some(ByteString(pem.into_bytes())),
            Err(message) => {
                let now = now_time();
                status.conditions.get_or_insert_with(Vec::new).push(
                    CertificateSigningRequestCondition {
                        type_: "Failed".into(),
                        status: "True".into(),
                        reason: Some("SignerValidationFailure".into()),
                        message: Some(message),
                        last_update_time: Some(now.clone()),
                        last_transition_time: Some(now),
                    },
                );
            }
        }
        let api: Api<CertificateSigningRequest> = Api::all(self.client.clone());
        match api
            .replace_status(name, &PostParams::default(), &updated)
            .await
        {
            Ok(_) => Ok(Action::await_change()),
            Err(err) if api_errors::is_not_found(&err) => Ok(Action::await_change()),
            Err(err) => Err(format!(
                "error updating signature for csr: {}",
                api_errors::message(&err)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::request::tests::make_request;
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, DnType};
    use x509_parser::prelude::FromDer;

    pub fn test_ca() -> CsrSigningConfig {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "test-ca");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        CsrSigningConfig {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            duration: Duration::from_secs(365 * 24 * 3600),
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn lifetimes_follow_expiration_seconds() {
        let signer = ClusterSigner::new(&test_ca()).unwrap();
        assert_eq!(signer.lifetime(None), Duration::from_secs(365 * 24 * 3600));
        assert_eq!(signer.lifetime(Some(3600)), Duration::from_secs(3600));
        assert_eq!(signer.lifetime(Some(60)), MIN_DURATION);
        assert_eq!(
            signer.lifetime(Some(i32::MAX)),
            Duration::from_secs(365 * 24 * 3600)
        );
    }

    #[test]
    fn signed_certificate_has_subject_usages_and_validity() {
        let signer = ClusterSigner::new(&test_ca()).unwrap();
        let request = make_request("system:node:a", &["system:nodes"], &[]);
        let now = 1_700_000_000;
        let pem = signer
            .sign(
                request.as_bytes(),
                &s(&["digital signature", "client auth"]),
                Some(3600),
                now,
            )
            .unwrap();
        let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        let (_, cert) =
            x509_parser::certificate::X509Certificate::from_der(&block.contents).unwrap();
        assert_eq!(
            cert.subject()
                .iter_common_name()
                .next()
                .unwrap()
                .as_str()
                .unwrap(),
            "system:node:a"
        );
        assert_eq!(
            cert.subject()
                .iter_organization()
                .next()
                .unwrap()
                .as_str()
                .unwrap(),
            "system:nodes"
        );
        assert_eq!(
            cert.issuer()
                .iter_common_name()
                .next()
                .unwrap()
                .as_str()
                .unwrap(),
            "test-ca"
        );
        assert_eq!(cert.validity().not_before.timestamp(), now - 300);
        assert_eq!(cert.validity().not_after.timestamp(), now + 3600);
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
        assert!(cert.key_usage().unwrap().unwrap().value.digital_signature());
        assert!(!cert.is_ca());
        assert!(
            signer
                .sign(request.as_bytes(), &s(&["bogus"]), None, now)
                .is_err()
        );
    }

    fn certificate(pem: &str) -> Vec<u8> {
        let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        block.contents
    }

    #[test]
    fn repeated_organizations_are_all_issued_and_the_signature_verifies() {
        use super::super::request::tests::request_with_rdns;
        let ca = test_ca();
        let signer = ClusterSigner::new(&ca).unwrap();
        let request =
            request_with_rdns(&[&[(10, "system:masters")], &[(10, "dev")], &[(3, "alice")]]);
        let csr: CertificateSigningRequest = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "alice"},
            "spec": {
                "request": base64_of(&request),
                "signerName": KUBE_APISERVER_CLIENT,
                "usages": ["digital signature", "client auth"],
            }
        }))
        .unwrap();
        // kube-apiserver-client takes any subject.
        assert_eq!(check_for_signer(&csr), Ok(()));
        let pem = signer
            .sign(
                request.as_bytes(),
                &s(&["digital signature", "client auth"]),
                None,
                1_700_000_000,
            )
            .unwrap();
        let der = certificate(&pem);
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&der).unwrap();
        let orgs: Vec<&str> = cert
            .subject()
            .iter_organization()
            .map(|o| o.as_str().unwrap())
            .collect();
        assert_eq!(orgs, ["dev", "system:masters"]);
        assert_eq!(
            cert.subject()
                .iter_common_name()
                .map(|c| c.as_str().unwrap())
                .collect::<Vec<_>>(),
            ["alice"]
        );
        // Re-signed after the subject went in: the CA's signature holds.
        let ca_der = certificate(&ca.cert_pem);
        let (_, ca_cert) = x509_parser::certificate::X509Certificate::from_der(&ca_der).unwrap();
        cert.verify_signature(Some(ca_cert.public_key())).unwrap();
        assert_eq!(cert.issuer().as_raw(), ca_cert.subject().as_raw());
        // The kubelet client signer wants exactly O=system:nodes.
        let kubelet = request_with_rdns(&[
            &[(10, "system:nodes")],
            &[(10, "system:masters")],
            &[(3, "system:node:a")],
        ]);
        let mut csr = csr;
        csr.spec.signer_name = KUBE_APISERVER_CLIENT_KUBELET.into();
        csr.spec.request = ByteString(kubelet.into_bytes());
        assert_eq!(
            check_for_signer(&csr).unwrap_err(),
            "subject organization is not system:nodes"
        );
    }

    fn base64_of(pem: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(pem)
    }

    #[test]
    fn requests_with_sans_only_get_a_critical_san_extension() {
        use super::super::request::tests::request_with_rdns;
        let signer = ClusterSigner::new(&test_ca()).unwrap();
        let with_subject = make_request("system:node:a", &["system:nodes"], &["a.example"]);
        let pem = signer
            .sign(
                with_subject.as_bytes(),
                &s(&["digital signature", "server auth"]),
                None,
                1_700_000_000,
            )
            .unwrap();
        let der = certificate(&pem);
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&der).unwrap();
        let san = cert.subject_alternative_name().unwrap().unwrap();
        assert!(!san.critical);
        assert_eq!(
            san.value.general_names,
            [x509_parser::extensions::GeneralName::DNSName("a.example")]
        );
        // An empty subject (no RDNs at all) gets no SANs here either, but
        // must still be signed.
        let empty = request_with_rdns(&[]);
        let pem = signer
            .sign(empty.as_bytes(), &s(&["client auth"]), None, 1_700_000_000)
            .unwrap();
        let der = certificate(&pem);
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&der).unwrap();
        assert_eq!(cert.subject().iter().count(), 0);
    }
}
