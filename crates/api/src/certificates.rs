//! certificates.k8s.io/v1 CertificateSigningRequest, with its `/status`
//! (certificate and non-approval conditions) and `/approval` (Approved and
//! Denied conditions) subresources.
//!
//! On create upstream overwrites `spec.username`, `uid`, `groups` and
//! `extra` with the requesting user; that needs the request's identity, so
//! the apiserver does it before calling the strategy.

use std::collections::HashSet;

use corten_apimachinery::names::NameValidator;
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestCondition, CertificateSigningRequestStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;

use crate::kind::{KindRules, KindStrategy, mutate_typed_with_old};
use crate::validate;

/// Strategy for CertificateSigningRequest.
pub static CERTIFICATE_SIGNING_REQUEST_STRATEGY: KindStrategy<CertificateSigningRequestRules> =
    KindStrategy::new();

const VALID_USAGES: &[&str] = &[
    "any",
    "cert sign",
    "client auth",
    "code signing",
    "content commitment",
    "crl sign",
    "data encipherment",
    "decipher only",
    "digital signature",
    "email protection",
    "encipher only",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "key agreement",
    "key encipherment",
    "microsoft sgc",
    "netscape sgc",
    "ocsp signing",
    "s/mime",
    "server auth",
    "signing",
    "timestamping",
];
const LEGACY_UNKNOWN_SIGNER: &str = "kubernetes.io/legacy-unknown";
const APPROVAL_TYPES: &[&str] = &["Approved", "Denied"];

/// The rules of CertificateSigningRequest.
pub struct CertificateSigningRequestRules;

fn conditions(csr: &CertificateSigningRequest) -> &[CertificateSigningRequestCondition] {
    csr.status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default()
}

fn certificate(csr: &CertificateSigningRequest) -> &[u8] {
    csr.status
        .as_ref()
        .and_then(|s| s.certificate.as_ref())
        .map(|c| c.0.as_slice())
        .unwrap_or_default()
}

fn of_type<'a>(
    csr: &'a CertificateSigningRequest,
    t: &'a str,
) -> impl Iterator<Item = &'a CertificateSigningRequestCondition> + 'a {
    conditions(csr).iter().filter(move |c| c.type_ == t)
}

/// The PEM blocks (type, headers present, body) of `data`.
fn pem_blocks(data: &[u8]) -> Vec<(String, bool, String)> {
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(kind) = line
            .trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {kind}-----");
        let (mut headers, mut body, mut closed) = (false, String::new(), false);
        for l in lines.by_ref() {
            let l = l.trim();
            if l == end {
                closed = true;
                break;
            }
            if l.contains(':') {
                headers = true;
            } else {
                body.push_str(l);
            }
        }
        if closed {
            out.push((kind.to_string(), headers, body));
        }
    }
    out
}

fn is_base64(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
}

/// Upstream `ParseCSR` (the signature check needs an X.509 parser and is
/// not done here).
fn request_error(request: &[u8]) -> Option<String> {
    match pem_blocks(request).first() {
        Some((kind, _, body)) if kind == "CERTIFICATE REQUEST" && is_base64(body) => None,
        Some((kind, _, _)) if kind == "CERTIFICATE REQUEST" => {
            Some("asn1: syntax error: sequence truncated".into())
        }
        _ => Some("PEM block type must be CERTIFICATE REQUEST".into()),
    }
}

/// Upstream `validateCertificate`.
fn certificate_error(data: &[u8]) -> Option<String> {
    if data.is_empty() {
        return None;
    }
    let blocks = pem_blocks(data);
    for (kind, headers, _) in &blocks {
        if kind != "CERTIFICATE" {
            return Some(format!(
                "only CERTIFICATE PEM blocks are allowed, found {kind:?}"
            ));
        }
        if *headers {
            return Some("no PEM block headers are permitted".into());
        }
    }
    if blocks.is_empty() {
        return Some("must contain at least one CERTIFICATE PEM block".into());
    }
    None
}

/// Upstream `ValidateSignerName`.
fn validate_signer_name(name: &str, path: &Path) -> ErrorList {
    if name.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let segments: Vec<&str> = name.split('/').collect();
    if segments.len() != 2 {
        return vec![FieldError::invalid(
            path,
            name,
            "must be a fully qualified domain and path of the form 'example.com/signer-name'",
        )];
    }
    let (domain, rest) = (segments[0], segments[1]);
    let mut errs = Vec::new();
    if domain.len() > 253 {
        errs.push(FieldError::too_long(path, 253));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    for l in &labels {
        let msgs = corten_apimachinery::names::is_dns1123_label(l);
        if !msgs.is_empty() {
            for m in msgs {
                errs.push(FieldError::invalid(
                    path,
                    domain,
                    &format!("validating label {l:?}: {m}"),
                ));
            }
            break;
        }
    }
    if labels.len() < 2 {
        errs.push(FieldError::invalid(
            path,
            domain,
            "should be a domain with at least two segments separated by dots",
        ));
    }
    for c in rest.split('.') {
        let msgs = corten_apimachinery::names::is_dns1123_subdomain(c);
        if !msgs.is_empty() {
            for m in msgs {
                errs.push(FieldError::invalid(
                    path,
                    rest,
                    &format!("validating component {c:?}: {m}"),
                ));
            }
            break;
        }
    }
    let max = 253 + (253 + 63 + 1) + 1;
    if name.len() > max {
        errs.push(FieldError::too_long(path, max));
    }
    errs
}

fn validate_conditions(
    csr: &CertificateSigningRequest,
    old: Option<&CertificateSigningRequest>,
) -> ErrorList {
    let mut errs = Vec::new();
    let path = Path::new("status").child("conditions");
    let tolerate = |f: &dyn Fn(&CertificateSigningRequest) -> bool| old.is_some_and(f);
    let allow_both = tolerate(&|o| {
        of_type(o, "Approved").next().is_some() && of_type(o, "Denied").next().is_some()
    });
    let allow_dup = tolerate(&|o| {
        let mut seen = HashSet::new();
        conditions(o).iter().any(|c| !seen.insert(c.type_.as_str()))
    });
    let allow_empty = tolerate(&|o| conditions(o).iter().any(|c| c.type_.is_empty()));
    let (mut approved, mut denied) = (false, false);
    let mut seen = HashSet::new();
    for (i, c) in conditions(csr).iter().enumerate() {
        let p = path.index(i);
        if !allow_empty && c.type_.is_empty() {
            errs.push(FieldError::required(&p.child("type"), ""));
        }
        let allowed: &[&str] = if matches!(c.type_.as_str(), "Approved" | "Denied" | "Failed") {
            &["True"]
        } else {
            &["False", "True", "Unknown"]
        };
        errs.extend(validate::one_of(
            &c.status,
            allowed,
            true,
            &p.child("status"),
        ));
        if !allow_both {
            let exclusive = match c.type_.as_str() {
                "Approved" => {
                    approved = true;
                    denied
                }
                "Denied" => {
                    denied = true;
                    approved
                }
                _ => false,
            };
            if exclusive {
                errs.push(FieldError::invalid(
                    &p.child("type"),
                    c.type_.as_str(),
                    "Approved and Denied conditions are mutually exclusive",
                ));
            }
        }
        if !allow_dup && !seen.insert(c.type_.as_str()) {
            errs.push(FieldError::duplicate(&p.child("type"), c.type_.as_str()));
        }
    }
    errs
}

fn validate_csr(
    csr: &CertificateSigningRequest,
    old: Option<&CertificateSigningRequest>,
) -> ErrorList {
    let sp = Path::new("spec");
    let spec = &csr.spec;
    let mut errs = Vec::new();
    if let Some(e) = request_error(&spec.request.0) {
        errs.push(FieldError::invalid(
            &sp.child("request"),
            String::from_utf8_lossy(&spec.request.0).into_owned(),
            &e,
        ));
    }
    let usages = spec.usages.as_deref().unwrap_or_default();
    if usages.is_empty() {
        errs.push(FieldError::required(&sp.child("usages"), ""));
    }
    let old_usages = old
        .and_then(|o| o.spec.usages.as_deref())
        .unwrap_or_default();
    let allow_unknown = old_usages
        .iter()
        .any(|u| !VALID_USAGES.contains(&u.as_str()));
    let allow_dup = {
        let mut seen = HashSet::new();
        old_usages.iter().any(|u| !seen.insert(u))
    };
    let mut seen = HashSet::new();
    for (i, u) in usages.iter().enumerate() {
        let p = sp.child("usages").index(i);
        if !allow_unknown && !VALID_USAGES.contains(&u.as_str()) {
            errs.push(FieldError::not_supported(&p, u.as_str(), VALID_USAGES));
        }
        if !allow_dup && !seen.insert(u) {
            errs.push(FieldError::duplicate(&p, u.as_str()));
        }
    }
    let legacy_allowed = old.is_some_and(|o| o.spec.signer_name == LEGACY_UNKNOWN_SIGNER);
    if spec.signer_name == LEGACY_UNKNOWN_SIGNER && !legacy_allowed {
        errs.push(FieldError::invalid(
            &sp.child("signerName"),
            spec.signer_name.as_str(),
            "the legacy signerName is not allowed via this API version",
        ));
    } else {
        errs.extend(validate_signer_name(
            &spec.signer_name,
            &sp.child("signerName"),
        ));
    }
    if let Some(e) = spec.expiration_seconds
        && e < 600
    {
        errs.push(FieldError::invalid(
            &sp.child("expirationSeconds"),
            e,
            "may not specify a duration less than 600 seconds (10 minutes)",
        ));
    }
    errs.extend(validate_conditions(csr, old));
    let arbitrary = old.is_some_and(|o| {
        certificate(o) == certificate(csr) || certificate_error(certificate(o)).is_some()
    });
    if !arbitrary && let Some(e) = certificate_error(certificate(csr)) {
        errs.push(FieldError::invalid(
            &Path::new("status").child("certificate"),
            "<certificate data>",
            &e,
        ));
    }
    errs
}

/// Which update path is validating: the main resource, `/status` or
/// `/approval`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum UpdatePath {
    Main,
    Status,
    Approval,
}

fn validate_update_path(
    new: &CertificateSigningRequest,
    old: &CertificateSigningRequest,
    via: UpdatePath,
) -> ErrorList {
    let mut errs = validate_csr(new, Some(old));
    let cp = Path::new("status").child("conditions");
    for t in ["Approved", "Denied", "Failed"] {
        if of_type(new, t).count() < of_type(old, t).count() {
            errs.push(FieldError::forbidden(
                &cp,
                &format!("updates may not remove a condition of type {t:?}"),
            ));
        }
    }
    if via != UpdatePath::Approval {
        for t in APPROVAL_TYPES {
            let n: Vec<_> = of_type(new, t).collect();
            let o: Vec<_> = of_type(old, t).collect();
            if n.len() > o.len() {
                errs.push(FieldError::forbidden(
                    &cp,
                    &format!("updates may not add a condition of type {t:?}"),
                ));
            } else if n.len() == o.len() && n != o {
                errs.push(FieldError::forbidden(
                    &cp,
                    &format!("updates may not modify a condition of type {t:?}"),
                ));
            }
        }
    }
    if certificate(new) != certificate(old) {
        let path = Path::new("status").child("certificate");
        if via != UpdatePath::Status {
            errs.push(FieldError::forbidden(
                &path,
                "updates may not set certificate content",
            ));
        } else if !certificate(old).is_empty() {
            errs.push(FieldError::forbidden(
                &path,
                "updates may not modify existing certificate content",
            ));
        }
    }
    errs
}

/// Upstream `populateConditionTimestamps`.
fn populate_condition_timestamps(
    new: &mut CertificateSigningRequest,
    old: &CertificateSigningRequest,
) {
    let now = Time(jiff::Timestamp::now());
    let old_conditions = conditions(old).to_vec();
    for c in new
        .status
        .iter_mut()
        .flat_map(|s| s.conditions.iter_mut().flatten())
    {
        if c.last_update_time.is_none() {
            c.last_update_time = Some(now.clone());
        }
        if c.last_transition_time.is_none() {
            c.last_transition_time = old_conditions
                .iter()
                .find(|o| o.type_ == c.type_ && o.status == c.status)
                .and_then(|o| o.last_transition_time.clone())
                .or_else(|| Some(now.clone()));
        }
    }
}

impl KindRules for CertificateSigningRequestRules {
    type Object = CertificateSigningRequest;
    const NAMESPACED: bool = false;

    /// Upstream does not restrict CSR names beyond path safety.
    fn name_validator() -> NameValidator {
        validate::path_segment_name
    }

    /// Conditions without a status default to `True`.
    fn canonicalize(csr: &mut CertificateSigningRequest) -> Result<(), String> {
        for c in csr
            .status
            .iter_mut()
            .flat_map(|s| s.conditions.iter_mut().flatten())
        {
            if c.status.is_empty() {
                c.status = "True".into();
            }
        }
        Ok(())
    }

    fn prepare_for_update(new: &mut CertificateSigningRequest, old: &CertificateSigningRequest) {
        new.spec = old.spec.clone();
    }

    /// `/status` may set the certificate and non-approval conditions.
    fn prepare_for_status_update(
        new: &mut CertificateSigningRequest,
        old: &CertificateSigningRequest,
    ) {
        new.spec = old.spec.clone();
        let mut merged: Vec<CertificateSigningRequestCondition> = conditions(old)
            .iter()
            .filter(|c| APPROVAL_TYPES.contains(&c.type_.as_str()))
            .cloned()
            .collect();
        merged.extend(
            conditions(new)
                .iter()
                .filter(|c| !APPROVAL_TYPES.contains(&c.type_.as_str()))
                .cloned(),
        );
        let status = new
            .status
            .get_or_insert_with(CertificateSigningRequestStatus::default);
        status.conditions = Some(merged).filter(|c| !c.is_empty());
        populate_condition_timestamps(new, old);
    }

    fn validate(csr: &CertificateSigningRequest) -> ErrorList {
        validate_csr(csr, None)
    }

    fn validate_update(
        new: &CertificateSigningRequest,
        old: &CertificateSigningRequest,
    ) -> ErrorList {
        validate_update_path(new, old, UpdatePath::Main)
    }

    fn validate_status_update(
        new: &CertificateSigningRequest,
        old: &CertificateSigningRequest,
    ) -> ErrorList {
        validate_update_path(new, old, UpdatePath::Status)
    }

    /// `/approval` may change the conditions only.
    fn prepare_for_subresource_update(subresource: &str, new: &mut Value, old: &Value) {
        if subresource != "approval" {
            crate::strategy::default_prepare_for_status_update(new, old);
            mutate_typed_with_old::<CertificateSigningRequest, _>(
                new,
                old,
                Self::prepare_for_status_update,
            );
            return;
        }
        let conditions = new.get("status").and_then(|s| s.get("conditions")).cloned();
        crate::strategy::default_prepare_for_status_update(new, old);
        if let Some(map) = new.as_object_mut() {
            let status = map
                .entry("status")
                .or_insert_with(|| Value::Object(Default::default()));
            if !status.is_object() {
                *status = Value::Object(Default::default());
            }
            if let Some(status) = status.as_object_mut() {
                match conditions {
                    Some(c) if !c.is_null() => {
                        status.insert("conditions".into(), c);
                    }
                    _ => {
                        status.remove("conditions");
                    }
                }
            }
        }
        mutate_typed_with_old::<CertificateSigningRequest, _>(
            new,
            old,
            populate_condition_timestamps,
        );
    }

    fn validate_subresource_update(
        subresource: &str,
        new: &CertificateSigningRequest,
        old: &CertificateSigningRequest,
    ) -> ErrorList {
        let via = if subresource == "approval" {
            UpdatePath::Approval
        } else {
            UpdatePath::Status
        };
        validate_update_path(new, old, via)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::Strategy;
    use serde_json::json;

    const REQUEST_PEM: &str = "-----BEGIN CERTIFICATE REQUEST-----\nMIIBAjCBqQIBADBHMRUwEwYDVQQKEwxzeXN0ZW06bm9kZXM=\n-----END CERTIFICATE REQUEST-----\n";

    fn b64(s: &str) -> String {
        // A tiny encoder so the test can build `spec.request`.
        const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let b = s.as_bytes();
        let mut out = String::new();
        for chunk in b.chunks(3) {
            let n = chunk.iter().fold(0u32, |acc, x| (acc << 8) | u32::from(*x))
                << (8 * (3 - chunk.len()));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    fn csr(signer: &str, usages: serde_json::Value) -> Value {
        json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
               "metadata": {"name": "node-csr-abc", "resourceVersion": "1"},
               "spec": {"request": b64(REQUEST_PEM), "signerName": signer, "usages": usages}})
    }

    fn created(o: Value) -> Value {
        let s = &CERTIFICATE_SIGNING_REQUEST_STRATEGY;
        let mut o = s.canonicalize(o).unwrap();
        s.prepare_for_create(&mut o);
        s.default(&mut o);
        o
    }

    fn texts(errs: ErrorList) -> Vec<String> {
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn valid_request() {
        let o = created(csr(
            "kubernetes.io/kube-apiserver-client-kubelet",
            json!(["client auth", "digital signature"]),
        ));
        let errs = CertificateSigningRequestRules::validate(&crate::typed::from_value(o).unwrap());
        assert!(errs.is_empty(), "{errs:?}");
    }

    #[test]
    fn signer_and_usages() {
        let o = created(csr(
            "nodomain",
            json!(["client auth", "client auth", "magic"]),
        ));
        let errs = texts(CertificateSigningRequestRules::validate(
            &crate::typed::from_value(o).unwrap(),
        ));
        assert!(errs.contains(&"spec.signerName: Invalid value: \"nodomain\": must be a fully qualified domain and path of the form 'example.com/signer-name'".to_string()));
        assert!(errs.contains(&"spec.usages[1]: Duplicate value: \"client auth\"".to_string()));
        assert!(
            errs.iter()
                .any(|e| e.starts_with("spec.usages[2]: Unsupported value: \"magic\""))
        );
        let o = created(csr("example.com/x", json!([])));
        let errs = texts(CertificateSigningRequestRules::validate(
            &crate::typed::from_value(o).unwrap(),
        ));
        assert_eq!(errs, vec!["spec.usages: Required value"]);
    }

    #[test]
    fn request_must_be_a_csr_pem() {
        let mut o = csr("example.com/x", json!(["server auth"]));
        o["spec"]["request"] = json!(b64("not pem"));
        let o = created(o);
        let errs = CertificateSigningRequestRules::validate(&crate::typed::from_value(o).unwrap());
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec.request");
        assert_eq!(errs[0].detail, "PEM block type must be CERTIFICATE REQUEST");
    }

    #[test]
    fn approval_sets_conditions_and_status_cannot() {
        let s = &CERTIFICATE_SIGNING_REQUEST_STRATEGY;
        let old = created(csr("example.com/x", json!(["server auth"])));
        let mut approve = old.clone();
        approve["status"] = json!({"conditions": [{"type": "Approved", "reason": "ok"}]});
        let mut approve = s.canonicalize(approve).unwrap();
        s.prepare_for_subresource_update("approval", &mut approve, &old);
        assert_eq!(approve["status"]["conditions"][0]["status"], "True");
        assert!(approve["status"]["conditions"][0]["lastUpdateTime"].is_string());
        assert!(
            s.validate_subresource_update("approval", &approve, &old)
                .is_empty()
        );

        // The same change through /status keeps the old (absent) approval.
        let mut via_status = old.clone();
        via_status["status"] = json!({"conditions": [{"type": "Approved", "status": "True"}]});
        s.prepare_for_status_update(&mut via_status, &old);
        assert!(via_status["status"].get("conditions").is_none());

        // A main-resource update may not add approval conditions.
        let errs = texts(s.validate_update(&approve, &old));
        assert!(errs.contains(&"status.conditions: Forbidden: updates may not add a condition of type \"Approved\"".to_string()));
    }

    #[test]
    fn approved_and_denied_are_exclusive_and_permanent() {
        let s = &CERTIFICATE_SIGNING_REQUEST_STRATEGY;
        let old = created(csr("example.com/x", json!(["server auth"])));
        let mut both = old.clone();
        both["status"] = json!({"conditions": [{"type": "Approved", "status": "True"}, {"type": "Denied", "status": "True"}]});
        let errs = texts(s.validate_subresource_update("approval", &both, &old));
        assert!(errs.contains(&"status.conditions[1].type: Invalid value: \"Denied\": Approved and Denied conditions are mutually exclusive".to_string()));
        let mut approved = old.clone();
        approved["status"] = json!({"conditions": [{"type": "Approved", "status": "True"}]});
        let errs = texts(s.validate_subresource_update("approval", &old, &approved));
        assert!(errs.contains(&"status.conditions: Forbidden: updates may not remove a condition of type \"Approved\"".to_string()));
    }

    #[test]
    fn certificate_only_through_status_once() {
        let s = &CERTIFICATE_SIGNING_REQUEST_STRATEGY;
        let old = created(csr("example.com/x", json!(["server auth"])));
        let mut issued = old.clone();
        issued["status"] = json!({"certificate": b64("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")});
        assert!(s.validate_status_update(&issued, &old).is_empty());
        let errs = texts(s.validate_update(&issued, &old));
        assert!(errs.contains(
            &"status.certificate: Forbidden: updates may not set certificate content".to_string()
        ));
        let mut bad = old.clone();
        bad["status"] = json!({"certificate": b64("garbage")});
        let errs = texts(s.validate_status_update(&bad, &old));
        assert!(errs.contains(&"status.certificate: Invalid value: \"<certificate data>\": must contain at least one CERTIFICATE PEM block".to_string()));
    }
}
