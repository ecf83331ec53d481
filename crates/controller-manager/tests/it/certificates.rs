//! The CSR controllers against a real apiserver: a bootstrap identity's
//! kubelet client CSR is approved after a SubjectAccessReview and signed
//! by the cluster CA (honouring expirationSeconds); an unauthorized one
//! stays pending; manually approved kube-apiserver-client CSRs are signed
//! or failed by the signer's rules; old denied CSRs are cleaned up.

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::Api;
use kube::api::PostParams;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use serde_json::json;
use x509_parser::prelude::FromDer;

use crate::support::{object, start_manager, wait_for};

fn request_pem(cn: &str, org: Option<&str>) -> String {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    if let Some(org) = org {
        name.push(DnType::OrganizationName, org);
    }
    name.push(DnType::CommonName, cn);
    params.distinguished_name = name;
    params.serialize_request(&key).unwrap().pem().unwrap()
}

fn csr(
    name: &str,
    pem: &str,
    signer: &str,
    usages: &[&str],
    seconds: Option<i32>,
) -> CertificateSigningRequest {
    let mut spec =
        json!({"request": base64_encode(pem.as_bytes()), "signerName": signer, "usages": usages});
    if let Some(s) = seconds {
        spec["expirationSeconds"] = json!(s);
    }
    object(json!({"metadata": {"name": name}, "spec": spec}))
}

fn base64_encode(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn condition(csr: &CertificateSigningRequest, type_: &str) -> Option<(String, String)> {
    csr.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| {
            (
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )
        })
}

async fn wait_csr(
    api: &Api<CertificateSigningRequest>,
    name: &str,
    what: &str,
    done: fn(&CertificateSigningRequest) -> bool,
) -> CertificateSigningRequest {
    wait_for(
        &format!("csr {name} {what}"),
        Duration::from_secs(40),
        || async move { api.get_opt(name).await.unwrap().filter(done) },
    )
    .await
}

fn issued(c: &CertificateSigningRequest) -> bool {
    c.status
        .as_ref()
        .and_then(|s| s.certificate.as_ref())
        .is_some()
}

async fn approve(api: &Api<CertificateSigningRequest>, name: &str, type_: &str, at: &str) {
    let mut current = api.get(name).await.unwrap();
    current
        .status
        .get_or_insert_with(Default::default)
        .conditions = Some(vec![object(json!({
        "type": type_, "status": "True", "reason": "ByTest", "message": "by the test",
        "lastUpdateTime": at
    }))]);
    api.replace_subresource("approval", name, &PostParams::default(), &current)
        .await
        .unwrap();
}

#[tokio::test]
async fn kubelet_client_csrs_are_approved_and_signed() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let admin = cluster.client().await.unwrap();
        let csrs: Api<CertificateSigningRequest> = Api::all(admin.clone());
        let pp = PostParams::default();

        // Created before the manager starts: denied two hours ago, so the
        // cleaner's first pass deletes it; a fresh pending one is kept.
        csrs.create(
            &pp,
            &csr(
                "old-denied",
                &request_pem("x", None),
                "example.com/x",
                &["client auth"],
                None,
            ),
        )
        .await
        .unwrap();
        let two_hours_ago = k8s_openapi::jiff::Timestamp::now()
            .checked_sub(k8s_openapi::jiff::SignedDuration::from_hours(2))
            .unwrap()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        approve(&csrs, "old-denied", "Denied", &two_hours_ago).await;
        csrs.create(
            &pp,
            &csr(
                "fresh",
                &request_pem("y", None),
                "example.com/x",
                &["client auth"],
                None,
            ),
        )
        .await
        .unwrap();

        // kubeadm's bindings: bootstrappers may ask for node client certificates.
        let bindings: Api<ClusterRoleBinding> = Api::all(admin.clone());
        bindings
            .create(&pp, &object(json!({
                "metadata": {"name": "kubeadm:node-autoapprove-bootstrap"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": "system:certificates.k8s.io:certificatesigningrequests:nodeclient"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:bootstrappers"}]
            })))
            .await
            .unwrap();

        bindings
            .create(&pp, &object(json!({
                "metadata": {"name": "kubeadm:kubelet-bootstrap"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": "system:node-bootstrapper"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:bootstrappers"}]
            })))
            .await
            .unwrap();

        let cert_file = cluster.ca_file();
        let key_file = cluster.dir().join("ca.key");
        std::fs::write(&key_file, cluster.ca_key_pem()).unwrap();
        let manager = start_manager(
            &cluster,
            &[
                "--controllers=csrapproving,csrsigning,csrcleaner",
                &format!("--cluster-signing-cert-file={}", cert_file.display()),
                &format!("--cluster-signing-key-file={}", key_file.display()),
            ],
        )
        .await;

        // A bootstrap identity asks for node-a's client certificate.
        let bootstrap = cluster
            .client_for(
                &cluster
                    .user_kubeconfig("system:bootstrap:abcdef", &["system:bootstrappers"])
                    .unwrap(),
            )
            .await
            .unwrap();
        let as_bootstrap: Api<CertificateSigningRequest> = Api::all(bootstrap);
        let request = request_pem("system:node:node-a", Some("system:nodes"));
        as_bootstrap
            .create(
                &pp,
                &csr(
                    "node-csr-a",
                    &request,
                    "kubernetes.io/kube-apiserver-client-kubelet",
                    &["digital signature", "client auth"],
                    Some(3600),
                ),
            )
            .await
            .unwrap();
        let signed = wait_csr(&csrs, "node-csr-a", "issued", issued).await;
        assert_eq!(
            condition(&signed, "Approved"),
            Some((
                "AutoApproved".into(),
                "Auto approving kubelet client certificate after SubjectAccessReview.".into()
            ))
        );
        let pem = &signed
            .status
            .as_ref()
            .unwrap()
            .certificate
            .as_ref()
            .unwrap()
            .0;
        let (_, block) = x509_parser::pem::parse_x509_pem(pem).unwrap();
        let (_, cert) =
            x509_parser::certificate::X509Certificate::from_der(&block.contents).unwrap();
        assert_eq!(
            cert.subject()
                .iter_common_name()
                .next()
                .unwrap()
                .as_str()
                .unwrap(),
            "system:node:node-a"
        );
        let lifetime =
            cert.validity().not_after.timestamp() - k8s_openapi::jiff::Timestamp::now().as_second();
        assert!((3400..=3600).contains(&lifetime), "{lifetime}");
        let (_, ca_block) = x509_parser::pem::parse_x509_pem(cluster.ca_pem().as_bytes()).unwrap();
        let (_, ca) =
            x509_parser::certificate::X509Certificate::from_der(&ca_block.contents).unwrap();
        cert.verify_signature(Some(ca.public_key())).unwrap();

        // Someone who may create CSRs but not nodeclient ones: recognized,
        // never approved.
        let roles: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(admin.clone());
        roles
            .create(&pp, &object(json!({
                "metadata": {"name": "csr-creator"},
                "rules": [{"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"],
                           "verbs": ["create", "get"]}]
            })))
            .await
            .unwrap();
        bindings
            .create(&pp, &object(json!({
                "metadata": {"name": "devs-create-csrs"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "csr-creator"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "devs"}]
            })))
            .await
            .unwrap();
        let eve = cluster
            .client_for(&cluster.user_kubeconfig("eve", &["devs"]).unwrap())
            .await
            .unwrap();
        let as_eve: Api<CertificateSigningRequest> = Api::all(eve);
        as_eve
            .create(
                &pp,
                &csr(
                    "eve-csr",
                    &request_pem("system:node:node-b", Some("system:nodes")),
                    "kubernetes.io/kube-apiserver-client-kubelet",
                    &["digital signature", "client auth"],
                    None,
                ),
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let pending = csrs.get("eve-csr").await.unwrap();
        assert_eq!(pending.spec.username.as_deref(), Some("eve"));
        assert!(condition(&pending, "Approved").is_none());
        assert!(!issued(&pending));

        // kube-apiserver-client: signed after a manual approval...
        csrs.create(
            &pp,
            &csr(
                "alice",
                &request_pem("alice", Some("dev")),
                "kubernetes.io/kube-apiserver-client",
                &["client auth"],
                None,
            ),
        )
        .await
        .unwrap();
        let now = k8s_openapi::jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            !issued(&csrs.get("alice").await.unwrap()),
            "never auto-approved"
        );
        approve(&csrs, "alice", "Approved", &now).await;
        wait_csr(&csrs, "alice", "issued", issued).await;
        // ...and failed when its usages do not fit the signer.
        csrs.create(
            &pp,
            &csr(
                "bob",
                &request_pem("bob", None),
                "kubernetes.io/kube-apiserver-client",
                &["server auth"],
                None,
            ),
        )
        .await
        .unwrap();
        approve(&csrs, "bob", "Approved", &now).await;
        let failed = wait_csr(&csrs, "bob", "failed", |c| condition(c, "Failed").is_some()).await;
        assert_eq!(
            condition(&failed, "Failed"),
            Some((
                "SignerValidationFailure".into(),
                "invalid usage for client certificate: server auth".into()
            ))
        );
        assert!(!issued(&failed));

        // kubectl shows the conditions like upstream.
        let out = cluster
            .kubectl_ok(&["get", "csr", "node-csr-a"])
            .await
            .unwrap();
        assert!(out.contains("Approved,Issued"), "{out}");

        // The cleaner removed the old denied CSR and kept the fresh one.
        wait_for("old-denied to be cleaned", Duration::from_secs(30), || {
            let csrs = csrs.clone();
            async move {
                csrs.get_opt("old-denied")
                    .await
                    .unwrap()
                    .is_none()
                    .then_some(())
            }
        })
        .await;
        assert!(csrs.get_opt("fresh").await.unwrap().is_some());
        manager.shutdown().await.unwrap();
    });
}

#[tokio::test]
async fn per_signer_cas_sign_only_their_signer() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let admin = cluster.client().await.unwrap();
        let csrs: Api<CertificateSigningRequest> = Api::all(admin.clone());
        let pp = PostParams::default();
        // A CA of its own for kube-apiserver-client; no other signer has one.
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::default();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "client-ca");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let (cert_file, key_file) = (
            cluster.dir().join("client-ca.crt"),
            cluster.dir().join("client-ca.key"),
        );
        std::fs::write(&cert_file, ca.pem()).unwrap();
        std::fs::write(&key_file, ca_key.serialize_pem()).unwrap();
        let _manager = start_manager(
            &cluster,
            &[
                "--controllers=csrsigning",
                &format!(
                    "--cluster-signing-kube-apiserver-client-cert-file={}",
                    cert_file.display()
                ),
                &format!(
                    "--cluster-signing-kube-apiserver-client-key-file={}",
                    key_file.display()
                ),
            ],
        )
        .await;
        let now = k8s_openapi::jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        for (name, cn, signer, usage) in [
            (
                "carol",
                "carol",
                "kubernetes.io/kube-apiserver-client",
                "client auth",
            ),
            (
                "serving",
                "system:node:n1",
                "kubernetes.io/kubelet-serving",
                "server auth",
            ),
        ] {
            csrs.create(
                &pp,
                &csr(
                    name,
                    &request_pem(cn, Some("system:nodes")),
                    signer,
                    &[usage],
                    None,
                ),
            )
            .await
            .unwrap();
            approve(&csrs, name, "Approved", &now).await;
        }
        let signed = wait_csr(&csrs, "carol", "issued", issued).await;
        let pem = &signed.status.unwrap().certificate.unwrap().0;
        let (_, block) = x509_parser::pem::parse_x509_pem(pem).unwrap();
        let (_, cert) =
            x509_parser::certificate::X509Certificate::from_der(&block.contents).unwrap();
        let (_, ca_block) = x509_parser::pem::parse_x509_pem(ca.pem().as_bytes()).unwrap();
        let (_, ca_cert) =
            x509_parser::certificate::X509Certificate::from_der(&ca_block.contents).unwrap();
        cert.verify_signature(Some(ca_cert.public_key())).unwrap();
        // The kubelet-serving signer has no CA: approved, never issued
        // nor failed (another signer may serve it).
        tokio::time::sleep(Duration::from_secs(2)).await;
        let serving = csrs.get("serving").await.unwrap();
        assert!(!issued(&serving));
        assert!(condition(&serving, "Failed").is_none());
    });
}
