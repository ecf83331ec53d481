//! Parsing certificate requests and upstream's per-signer checks
//! (`ParseCSR`, `ValidateKubeletClientCSR`, `ValidateKubeletServingCSR`,
//! `validAPIServerClientUsages`).

use std::collections::BTreeSet;

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use super::subject::Name;

/// What the checks and the signer need from a parsed request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// Subject CN (the last one, as Go reads it).
    pub common_name: String,
    /// Subject O values, all of them, in order.
    pub organizations: Vec<String>,
    /// DNS SANs.
    pub dns_names: Vec<String>,
    /// Email SANs.
    pub emails: Vec<String>,
    /// IP SANs (raw bytes).
    pub ips: Vec<Vec<u8>>,
    /// URI SANs.
    pub uris: Vec<String>,
    /// The subject as the signer writes it into the certificate.
    pub subject: Name,
    /// The DER SubjectPublicKeyInfo.
    pub public_key: Vec<u8>,
}

/// Why a request could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Not a PEM `CERTIFICATE REQUEST`.
    #[error("PEM block type must be CERTIFICATE REQUEST")]
    NotPem,
    /// Not a valid request, or its signature does not verify.
    #[error("{0}")]
    Invalid(String),
}

/// The DER of the first `CERTIFICATE REQUEST` PEM block.
pub fn request_der(pem: &[u8]) -> Result<Vec<u8>, RequestError> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem).map_err(|_| RequestError::NotPem)?;
    if block.label != "CERTIFICATE REQUEST" {
        return Err(RequestError::NotPem);
    }
    Ok(block.contents)
}

/// Parses a request and verifies its self-signature (upstream `ParseCSR`).
/// The subject is read like Go's `pkix.Name`: repeated attributes (two `O`)
/// and multi-valued RDNs keep every value (see [`Name`]).
pub fn parse(pem: &[u8]) -> Result<Request, RequestError> {
    let der = request_der(pem)?;
    let (_, csr) = X509CertificationRequest::from_der(&der)
        .map_err(|e| RequestError::Invalid(format!("parsing the request: {e}")))?;
    csr.verify_signature()
        .map_err(|e| RequestError::Invalid(format!("checking the request's signature: {e}")))?;
    let info = &csr.certification_request_info;
    let subject = Name::from_x509(&info.subject).map_err(RequestError::Invalid)?;
    let mut request = Request {
        common_name: subject.common_name.clone(),
        organizations: subject.organization.clone(),
        public_key: info.subject_pki.raw.to_vec(),
        subject,
        ..Request::default()
    };
    for extension in csr.requested_extensions().into_iter().flatten() {
        if let ParsedExtension::SubjectAlternativeName(san) = extension {
            for name in &san.general_names {
                match name {
                    GeneralName::DNSName(n) => request.dns_names.push(n.to_string()),
                    GeneralName::RFC822Name(n) => request.emails.push(n.to_string()),
                    GeneralName::IPAddress(ip) => request.ips.push(ip.to_vec()),
                    GeneralName::URI(u) => request.uris.push(u.to_string()),
                    _ => {}
                }
            }
        }
    }
    Ok(request)
}

const KUBELET_CLIENT_USAGES: &[&str] = &["client auth", "digital signature", "key encipherment"];
const KUBELET_CLIENT_USAGES_NO_RSA: &[&str] = &["client auth", "digital signature"];
const KUBELET_SERVING_USAGES: &[&str] = &["digital signature", "key encipherment", "server auth"];
const KUBELET_SERVING_USAGES_NO_RSA: &[&str] = &["digital signature", "server auth"];

fn usage_set(usages: &[String]) -> BTreeSet<&str> {
    usages.iter().map(String::as_str).collect()
}

fn same(usages: &[String], expected: &[&str]) -> bool {
    usage_set(usages) == expected.iter().copied().collect()
}

/// Upstream `ValidateKubeletClientCSR`.
pub fn validate_kubelet_client(req: &Request, usages: &[String]) -> Result<(), String> {
    if req.organizations != ["system:nodes"] {
        return Err("subject organization is not system:nodes".into());
    }
    if !req.dns_names.is_empty() {
        return Err("DNS subjectAltNames are not allowed".into());
    }
    if !req.emails.is_empty() {
        return Err("Email subjectAltNames are not allowed".into());
    }
    if !req.ips.is_empty() {
        return Err("IP subjectAltNames are not allowed".into());
    }
    if !req.uris.is_empty() {
        return Err("URI subjectAltNames are not allowed".into());
    }
    if !req.common_name.starts_with("system:node:") {
        return Err("subject common name does not begin with system:node:".into());
    }
    if !same(usages, KUBELET_CLIENT_USAGES) && !same(usages, KUBELET_CLIENT_USAGES_NO_RSA) {
        return Err(format!(
            "usages did not match [{}]",
            KUBELET_CLIENT_USAGES.join(" ")
        ));
    }
    Ok(())
}

/// Upstream `ValidateKubeletServingCSR`.
pub fn validate_kubelet_serving(req: &Request, usages: &[String]) -> Result<(), String> {
    if req.organizations != ["system:nodes"] {
        return Err("subject organization is not system:nodes".into());
    }
    if req.dns_names.is_empty() && req.ips.is_empty() {
        return Err("DNS or IP subjectAltName is required".into());
    }
    if !req.emails.is_empty() {
        return Err("Email subjectAltNames are not allowed".into());
    }
    if !req.uris.is_empty() {
        return Err("URI subjectAltNames are not allowed".into());
    }
    if !req.common_name.starts_with("system:node:") {
        return Err("subject common name does not begin with system:node:".into());
    }
    if !same(usages, KUBELET_SERVING_USAGES) && !same(usages, KUBELET_SERVING_USAGES_NO_RSA) {
        return Err(format!(
            "usages did not match [{}]",
            KUBELET_SERVING_USAGES.join(" ")
        ));
    }
    Ok(())
}

/// Upstream `validAPIServerClientUsages`.
pub fn validate_apiserver_client_usages(usages: &[String]) -> Result<(), String> {
    let mut client_auth = false;
    for usage in usages {
        match usage.as_str() {
            "digital signature" | "key encipherment" => {}
            "client auth" => client_auth = true,
            other => return Err(format!("invalid usage for client certificate: {other}")),
        }
    }
    if !client_auth {
        return Err("missing required usage for client certificate: client auth".into());
    }
    Ok(())
}

/// Request builders shared by the certificate controllers' tests.
#[cfg(test)]
pub mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};

    /// A PEM request with this subject and SANs.
    pub fn make_request(cn: &str, orgs: &[&str], dns: &[&str]) -> String {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        for org in orgs {
            name.push(DnType::OrganizationName, *org);
        }
        name.push(DnType::CommonName, cn);
        params.distinguished_name = name;
        params.subject_alt_names = dns
            .iter()
            .map(|d| SanType::DnsName((*d).try_into().unwrap()))
            .collect();
        params.serialize_request(&key).unwrap().pem().unwrap()
    }

    /// A PEM request whose subject has exactly these RDNs, each a list of
    /// `(2.5.4.<n>, value)` attributes (rcgen cannot repeat an attribute,
    /// so the request is put together here and signed with a fresh key).
    pub fn request_with_rdns(rdns: &[&[(u8, &str)]]) -> String {
        use crate::controllers::certificates::subject::tlv;
        use rcgen::{PublicKeyData, SigningKey};
        let key = KeyPair::generate().unwrap();
        let subject: Vec<u8> = rdns
            .iter()
            .flat_map(|rdn| {
                let atvs: Vec<u8> = rdn
                    .iter()
                    .flat_map(|(n, v)| {
                        let mut atv = tlv(0x06, &[0x55, 0x04, *n]);
                        atv.extend(tlv(0x0c, v.as_bytes()));
                        tlv(0x30, &atv)
                    })
                    .collect();
                tlv(0x31, &atvs)
            })
            .collect();
        let info = tlv(
            0x30,
            &[
                vec![0x02, 0x01, 0x00],
                tlv(0x30, &subject),
                key.subject_public_key_info(),
                vec![0xa0, 0x00],
            ]
            .concat(),
        );
        // ecdsa-with-SHA256, the algorithm of rcgen's default key.
        let algorithm = tlv(
            0x30,
            &tlv(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]),
        );
        let mut bits = vec![0];
        bits.extend(key.sign(&info).unwrap());
        let der = tlv(0x30, &[info, algorithm, tlv(0x03, &bits)].concat());
        use base64::Engine;
        format!(
            "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
            base64::engine::general_purpose::STANDARD.encode(der)
        )
    }

    #[test]
    fn repeated_and_multi_valued_attributes_keep_every_value() {
        // O=system:nodes, O=extra as two RDNs, then CN.
        let pem = request_with_rdns(&[
            &[(10, "system:nodes")],
            &[(10, "extra")],
            &[(3, "system:node:a")],
        ]);
        let req = parse(pem.as_bytes()).unwrap();
        assert_eq!(req.organizations, ["system:nodes", "extra"]);
        assert_eq!(req.common_name, "system:node:a");
        let usages = s(&["digital signature", "client auth"]);
        // The kubelet client signer wants exactly O=system:nodes.
        assert_eq!(
            validate_kubelet_client(&req, &usages).unwrap_err(),
            "subject organization is not system:nodes"
        );
        // One multi-valued RDN O=a+O=b reads the same way.
        let pem = request_with_rdns(&[&[(10, "a"), (10, "b")], &[(3, "x")]]);
        assert_eq!(parse(pem.as_bytes()).unwrap().organizations, ["a", "b"]);
        // A request whose signature does not verify is refused.
        let mut der = request_der(pem.as_bytes()).unwrap();
        let last = der.len() - 1;
        der[last] ^= 1;
        use base64::Engine;
        let broken = format!(
            "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
            base64::engine::general_purpose::STANDARD.encode(der)
        );
        assert!(parse(broken.as_bytes()).is_err());
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_subject_and_sans() {
        let pem = make_request("system:node:a", &["system:nodes"], &["a.example"]);
        let req = parse(pem.as_bytes()).unwrap();
        assert_eq!(req.common_name, "system:node:a");
        assert_eq!(req.organizations, ["system:nodes"]);
        assert_eq!(req.dns_names, ["a.example"]);
        assert_eq!(parse(b"garbage").unwrap_err(), RequestError::NotPem);
        let cert_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(parse(cert_pem.as_bytes()).is_err());
    }

    #[test]
    fn kubelet_client_rules() {
        let ok = Request {
            common_name: "system:node:a".into(),
            organizations: s(&["system:nodes"]),
            ..Request::default()
        };
        let usages = s(&["digital signature", "key encipherment", "client auth"]);
        assert!(validate_kubelet_client(&ok, &usages).is_ok());
        assert!(validate_kubelet_client(&ok, &s(&["digital signature", "client auth"])).is_ok());
        assert_eq!(
            validate_kubelet_client(&ok, &s(&["client auth"])).unwrap_err(),
            "usages did not match [client auth digital signature key encipherment]"
        );
        let mut bad = ok.clone();
        bad.organizations = s(&["system:masters"]);
        assert_eq!(
            validate_kubelet_client(&bad, &usages).unwrap_err(),
            "subject organization is not system:nodes"
        );
        let mut bad = ok.clone();
        bad.dns_names = s(&["x"]);
        assert!(validate_kubelet_client(&bad, &usages).is_err());
        let mut bad = ok.clone();
        bad.common_name = "admin".into();
        assert_eq!(
            validate_kubelet_client(&bad, &usages).unwrap_err(),
            "subject common name does not begin with system:node:"
        );
    }

    #[test]
    fn kubelet_serving_and_client_usage_rules() {
        let mut req = Request {
            common_name: "system:node:a".into(),
            organizations: s(&["system:nodes"]),
            ..Request::default()
        };
        let usages = s(&["digital signature", "server auth"]);
        assert_eq!(
            validate_kubelet_serving(&req, &usages).unwrap_err(),
            "DNS or IP subjectAltName is required"
        );
        req.ips = vec![vec![127, 0, 0, 1]];
        assert!(validate_kubelet_serving(&req, &usages).is_ok());
        assert!(validate_apiserver_client_usages(&s(&["client auth"])).is_ok());
        assert_eq!(
            validate_apiserver_client_usages(&s(&["server auth", "client auth"])).unwrap_err(),
            "invalid usage for client certificate: server auth"
        );
        assert_eq!(
            validate_apiserver_client_usages(&s(&["digital signature"])).unwrap_err(),
            "missing required usage for client certificate: client auth"
        );
    }
}
