//! The CertificateSigningRequest controllers (upstream
//! `pkg/controller/certificates`):
//!
//! | module | controller |
//! | --- | --- |
//! | [`approver`] | `certificatesigningrequest-approving-controller`: approves kubelet client CSRs its requester may create (SubjectAccessReview) |
//! | [`signer`] | `certificatesigningrequest-signing-controller`: issues approved CSRs of the `kubernetes.io/*` signers with the cluster CA |
//! | [`cleaner`] | `certificatesigningrequest-cleaner-controller`: deletes old CSRs |
//!
//! [`request`] parses and checks the PEM requests (no I/O); [`subject`]
//! reads and writes subjects as upstream does.

pub mod approver;
pub mod cleaner;
pub mod request;
pub mod signer;
pub mod subject;

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;

/// Signer of kube-apiserver client certificates.
pub const KUBE_APISERVER_CLIENT: &str = "kubernetes.io/kube-apiserver-client";
/// Signer of kubelet client certificates (auto-approved).
pub const KUBE_APISERVER_CLIENT_KUBELET: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// Signer of kubelet serving certificates.
pub const KUBELET_SERVING: &str = "kubernetes.io/kubelet-serving";
/// The legacy signer.
pub const LEGACY_UNKNOWN: &str = "kubernetes.io/legacy-unknown";

/// Whether the CSR has a condition of this type with status `True`.
pub fn has_condition(csr: &CertificateSigningRequest, type_: &str) -> bool {
    csr.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == type_ && c.status == "True"))
}

/// Whether a certificate was issued.
pub fn is_issued(csr: &CertificateSigningRequest) -> bool {
    csr.status
        .as_ref()
        .and_then(|s| s.certificate.as_ref())
        .is_some_and(|c| !c.0.is_empty())
}

fn usages(csr: &CertificateSigningRequest) -> Vec<String> {
    csr.spec.usages.clone().unwrap_or_default()
}
