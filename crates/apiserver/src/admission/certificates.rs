//! The CertificateSigningRequest plugins (upstream default-on):
//!
//! - CertificateApproval: updating `certificatesigningrequests/approval`
//!   needs verb `approve` on the `signers` resource of
//!   certificates.k8s.io named like the request's signerName (or its
//!   `<domain>/*` wildcard);
//! - CertificateSigning: changing the certificate or the conditions
//!   through `certificatesigningrequests/status` needs verb `sign` on it;
//! - CertificateSubjectRestriction: no request for the
//!   `kubernetes.io/kube-apiserver-client` signer may carry the
//!   `system:masters` organization.
//!
//! Permissions are read from the stored (old) request, so a write cannot
//! change the signerName it is judged by.

use corten_apimachinery::StatusError;
use serde_json::Value;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;

use super::{Operation, Request};
use crate::app::ApiServer;
use crate::auth::authz::Attributes;

const GROUP: &str = "certificates.k8s.io";
const RESOURCE: &str = "certificatesigningrequests";
const API_SERVER_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client";

/// Whether a request concerns these plugins (and so needs the stored
/// object to be judged).
pub fn concerns(group: &str, resource: &str, subresource: &str) -> bool {
    group == GROUP && resource == RESOURCE && matches!(subresource, "approval" | "status")
}

fn signer_name(csr: Option<&Value>) -> &str {
    csr.and_then(|c| c.pointer("/spec/signerName"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Upstream `IsAuthorizedForSignerName`: the signer by name, then the
/// `<domain>/*` wildcard.
fn may(server: &ApiServer, req: &Request<'_>, verb: &str, signer: &str) -> bool {
    let domain = signer.split('/').next().unwrap_or("");
    [signer.to_string(), format!("{domain}/*")]
        .iter()
        .any(|name| {
            let mut attrs = Attributes::resource(req.user, verb, GROUP, "signers", "", name);
            attrs.api_version = "*".into();
            server.authz.authorize(&server.registry, &attrs).allowed()
        })
}

fn missing_old(req: &Request<'_>) -> StatusError {
    req.forbidden("expected type CertificateSigningRequest, got: <nil>")
}

/// CertificateApproval.
pub fn validate_approval(
    server: &ApiServer,
    req: &Request<'_>,
    old: Option<&Value>,
) -> Result<(), StatusError> {
    if req.operation != Operation::Update
        || req.group != GROUP
        || req.resource != RESOURCE
        || req.subresource != "approval"
    {
        return Ok(());
    }
    let old = old.ok_or_else(|| missing_old(req))?;
    let signer = signer_name(Some(old));
    if !may(server, req, "approve", signer) {
        tracing::debug!(csr = %req.name, %signer, user = %req.user.name, "user not permitted to approve");
        return Err(req.forbidden(&format!(
            "user not permitted to approve requests with signerName {signer:?}"
        )));
    }
    Ok(())
}

/// Conditions compared like upstream's semantic equality: absent, null
/// and empty are the same.
fn conditions(csr: &Value) -> &[Value] {
    csr.pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn certificate(csr: &Value) -> &str {
    csr.pointer("/status/certificate")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// CertificateSigning.
pub fn validate_signing(
    server: &ApiServer,
    req: &Request<'_>,
    obj: Option<&Value>,
    old: Option<&Value>,
) -> Result<(), StatusError> {
    if req.operation != Operation::Update
        || req.group != GROUP
        || req.resource != RESOURCE
        || req.subresource != "status"
    {
        return Ok(());
    }
    let (Some(new), Some(old)) = (obj, old) else {
        return Err(missing_old(req));
    };
    if certificate(new) == certificate(old) && conditions(new) == conditions(old) {
        return Ok(());
    }
    let signer = signer_name(Some(old));
    if !may(server, req, "sign", signer) {
        tracing::debug!(csr = %req.name, %signer, user = %req.user.name, "user not permitted to sign");
        return Err(req.forbidden(&format!(
            "user not permitted to sign requests with signerName {signer:?}"
        )));
    }
    Ok(())
}

/// The organizations of a PEM certificate request (`spec.request`, base64
/// in JSON); `None` when it does not parse (validation refuses those).
fn organizations(csr: &Value) -> Option<Vec<String>> {
    use base64::Engine;
    let b64 = csr.pointer("/spec/request").and_then(Value::as_str)?;
    let pem = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let (_, block) = x509_parser::pem::parse_x509_pem(&pem).ok()?;
    if block.label != "CERTIFICATE REQUEST" {
        return None;
    }
    let (_, parsed) = X509CertificationRequest::from_der(&block.contents).ok()?;
    Some(
        parsed
            .certification_request_info
            .subject
            .iter_organization()
            .filter_map(|o| o.as_str().ok().map(str::to_string))
            .collect(),
    )
}

/// CertificateSubjectRestriction.
pub fn validate_subject(req: &Request<'_>, obj: Option<&Value>) -> Result<(), StatusError> {
    if req.operation != Operation::Create || !req.is(GROUP, RESOURCE) {
        return Ok(());
    }
    if signer_name(obj) != API_SERVER_CLIENT_SIGNER {
        return Ok(());
    }
    // A request that does not parse is refused by validation (422), as
    // upstream's strategy validates before this plugin runs.
    let orgs = obj.and_then(organizations).unwrap_or_default();
    if orgs
        .iter()
        .any(|o| o == crate::auth::SYSTEM_PRIVILEGED_GROUP)
    {
        tracing::debug!(csr = %req.name, "CSR with system:masters refused by CertificateSubjectRestriction");
        return Err(req.forbidden(&format!(
            "use of {API_SERVER_CLIENT_SIGNER} signer with system:masters group is not allowed"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::UserInfo;

    fn request_b64(org: &str) -> String {
        use base64::Engine;
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "someone");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, org);
        let pem = params.serialize_request(&key).unwrap().pem().unwrap();
        base64::engine::general_purpose::STANDARD.encode(pem)
    }

    #[test]
    fn system_masters_is_refused_for_the_api_server_client_signer_only() {
        let user = UserInfo::anonymous();
        let req = Request {
            user: &user,
            operation: Operation::Create,
            group: GROUP,
            resource: RESOURCE,
            subresource: "",
            namespace: "",
            name: "x",
            dry_run: false,
        };
        let csr = |signer: &str, org: &str| serde_json::json!({"spec": {"signerName": signer, "request": request_b64(org)}});
        let e = validate_subject(&req, Some(&csr(API_SERVER_CLIENT_SIGNER, "system:masters")))
            .unwrap_err();
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            "certificatesigningrequests.certificates.k8s.io \"x\" is forbidden: use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed"
        );
        assert!(validate_subject(&req, Some(&csr(API_SERVER_CLIENT_SIGNER, "dev"))).is_ok());
        assert!(validate_subject(&req, Some(&csr("example.com/x", "system:masters"))).is_ok());
        // Garbage is left to validation.
        let garbage = serde_json::json!({"spec": {"signerName": API_SERVER_CLIENT_SIGNER, "request": "eA=="}});
        assert!(validate_subject(&req, Some(&garbage)).is_ok());
    }
}
