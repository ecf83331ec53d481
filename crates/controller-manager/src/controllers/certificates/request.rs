//! Parsing certificate requests and upstream's per-signer checks
//! (`ParseCSR`, `ValidateKubeletClientCSR`, `ValidateKubeletServingCSR`,
//! `validAPIServerClientUsages`).

use std::collections::BTreeSet;

use rcgen::CertificateSigningRequestParams;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

/// What the checks need from a parsed request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// Subject CN (the first one).
    pub common_name: String,
    /// Subject O values.
    pub organizations: Vec<String>,
    /// DNS SANs.
    pub dns_names: Vec<String>,
    /// Email SANs.
    pub emails: Vec<String>,
    /// IP SANs (raw bytes).
    pub ips: Vec<Vec<u8>>,
    /// URI SANs.
    pub uris: Vec<String>,
    /// An attribute type appears twice in the subject (several O values).
    pub repeated_attributes: bool,
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

/// Parses a request and verifies its self-signature (upstream `ParseCSR`),
/// giving the subject and SANs and rcgen's parameters to sign it with.
pub fn parse(pem: &[u8]) -> Result<(Request, CertificateSigningRequestParams), RequestError> {
    let der = request_der(pem)?;
    let (_, csr) = X509CertificationRequest::from_der(&der)
        .map_err(|e| RequestError::Invalid(format!("parsing the request: {e}")))?;
    let subject = &csr.certification_request_info.subject;
    let mut request = Request::default();
    let mut seen = BTreeSet::new();
    for rdn in subject.iter() {
        let mut attributes = rdn.iter();
        let Some(attribute) = attributes.next() else {
            return Err(RequestError::Invalid(
                "the subject has an empty name".into(),
            ));
        };
        if attributes.next().is_some() {
            return Err(RequestError::Invalid(
                "multi-valued subject names are not supported".into(),
            ));
        }
        if !seen.insert(attribute.attr_type().to_id_string()) {
            request.repeated_attributes = true;
        }
    }
    request.common_name = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_string();
    request.organizations = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
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
    let params = CertificateSigningRequestParams::from_der(&der.into())
        .map_err(|e| RequestError::Invalid(format!("checking the request: {e}")))?;
    Ok((request, params))
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

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_subject_and_sans() {
        let pem = make_request("system:node:a", &["system:nodes"], &["a.example"]);
        let (req, _) = parse(pem.as_bytes()).unwrap();
        assert_eq!(req.common_name, "system:node:a");
        assert_eq!(req.organizations, ["system:nodes"]);
        assert_eq!(req.dns_names, ["a.example"]);
        assert!(!req.repeated_attributes);
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
