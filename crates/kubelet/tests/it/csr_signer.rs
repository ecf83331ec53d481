//! The test's part of a kubelet CSR's life, shared by the client
//! (`tls_bootstrap`) and serving (`serving_certificate`) tests: wait for the
//! kubelet's request, approve or deny it through `approval`, and issue it
//! through `status` with the cluster CA, as the controller-manager's signer
//! would.

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::ByteString;
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestCondition,
};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use rcgen::ExtendedKeyUsagePurpose;

/// Signs `csr` with the cluster CA, valid for `lifetime`, for `usage`.
pub fn sign(
    cluster: &TestCluster,
    csr: &[u8],
    lifetime: Duration,
    usage: ExtendedKeyUsagePurpose,
) -> String {
    use rcgen::{CertificateSigningRequestParams, Issuer, KeyPair};
    let issuer = Issuer::from_ca_cert_pem(
        cluster.ca_pem(),
        KeyPair::from_pem(cluster.ca_key_pem()).unwrap(),
    )
    .unwrap();
    let mut request =
        CertificateSigningRequestParams::from_pem(std::str::from_utf8(csr).unwrap()).unwrap();
    let now = time::OffsetDateTime::now_utc();
    request.params.not_before = now - Duration::from_secs(1);
    request.params.not_after = now + lifetime;
    request.params.extended_key_usages = vec![usage];
    request.signed_by(&issuer).unwrap().pem()
}

/// Waits (up to a minute) for a CSR for `signer` not named in `seen`.
pub async fn next_csr(
    api: &Api<CertificateSigningRequest>,
    signer: &str,
    seen: &[String],
) -> CertificateSigningRequest {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let list = api.list(&ListParams::default()).await.unwrap();
        if let Some(csr) = list.items.into_iter().find(|c| {
            c.spec.signer_name == signer && !seen.contains(c.metadata.name.as_ref().unwrap())
        }) {
            return csr;
        }
        assert!(tokio::time::Instant::now() < deadline, "no new CSR");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Approves (or denies) `csr` through `approval`; an approved one is then
/// issued through `status` for `usage`, and its certificate (PEM) returned.
pub async fn decide(
    cluster: &TestCluster,
    api: &Api<CertificateSigningRequest>,
    mut csr: CertificateSigningRequest,
    approve: bool,
    lifetime: Duration,
    usage: ExtendedKeyUsagePurpose,
) -> Option<String> {
    let name = csr.metadata.name.clone().unwrap();
    let (type_, reason) = if approve {
        ("Approved", "TestApproved")
    } else {
        ("Denied", "TestDenied")
    };
    csr.status
        .get_or_insert_with(Default::default)
        .conditions
        .get_or_insert_with(Vec::new)
        .push(CertificateSigningRequestCondition {
            type_: type_.into(),
            status: "True".into(),
            reason: Some(reason.into()),
            message: Some("decided by the test".into()),
            ..Default::default()
        });
    api.replace_subresource("approval", &name, &PostParams::default(), &csr)
        .await
        .unwrap();
    if !approve {
        return None;
    }
    let cert = sign(cluster, &csr.spec.request.0, lifetime, usage);
    let patch =
        serde_json::json!({"status": {"certificate": ByteString(cert.clone().into_bytes())}});
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    Some(cert)
}
