//! certificates.k8s.io CertificateSigningRequests with kubectl: the
//! requester recorded in the spec, `kubectl certificate approve|deny`
//! through the `approval` subresource, and what it may not change.

use corten_e2e::TestCluster;
use serde_json::Value;

fn csr_pem(cn: &str) -> String {
    use rcgen::{CertificateParams, DnType, KeyPair};
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.serialize_request(&key).unwrap().pem().unwrap()
}

fn manifest(name: &str) -> String {
    use base64::Engine;
    let request = base64::engine::general_purpose::STANDARD.encode(csr_pem("alice"));
    format!(
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\n\
         metadata: {{name: {name}}}\n\
         spec:\n  request: {request}\n  signerName: kubernetes.io/kube-apiserver-client\n\
         \x20 usages: [client auth]\n  username: mallory\n  groups: [system:masters]\n"
    )
}

async fn get(c: &TestCluster, name: &str) -> Value {
    let out = c
        .kubectl(&["get", "csr", name, "-o", "json"])
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn csr_requester_and_kubectl_certificate_approve_and_deny() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        for name in ["approve-me", "deny-me"] {
            let out = c
                .kubectl_stdin(&["create", "-f", "-"], Some(&manifest(name)))
                .await
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // The requester, not the body, is recorded (also when server-side
        // apply creates the request).
        let csr = get(&c, "approve-me").await;
        assert_eq!(csr["spec"]["username"], "kubernetes-admin");
        let out = c
            .kubectl_stdin(
                &["apply", "--server-side", "-f", "-"],
                Some(&manifest("applied")),
            )
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            get(&c, "applied").await["spec"]["username"],
            "kubernetes-admin"
        );
        let groups = csr["spec"]["groups"].as_array().unwrap();
        assert!(groups.iter().any(|g| g == "system:masters"));
        assert!(groups.iter().any(|g| g == "system:authenticated"));

        let out = c
            .kubectl(&["certificate", "approve", "approve-me"])
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "certificatesigningrequest.certificates.k8s.io/approve-me approved"
        );
        let csr = get(&c, "approve-me").await;
        let condition = &csr["status"]["conditions"][0];
        assert_eq!(condition["type"], "Approved");
        assert_eq!(condition["status"], "True");
        assert_eq!(condition["reason"], "KubectlApprove");
        assert!(condition["lastUpdateTime"].is_string());

        let out = c
            .kubectl(&["certificate", "deny", "deny-me"])
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = c.kubectl(&["get", "csr"]).await.unwrap();
        let table = String::from_utf8_lossy(&out.stdout).into_owned();
        let line = |n: &str| {
            table
                .lines()
                .find(|l| l.starts_with(n))
                .unwrap_or("")
                .to_string()
        };
        assert!(line("approve-me").contains("Approved"), "{table}");
        assert!(line("deny-me").contains("Denied"), "{table}");

        // The approval subresource changes conditions only: a changed spec
        // is kept from the stored object.
        let mut csr = get(&c, "approve-me").await;
        csr["spec"]["signerName"] = "example.com/other".into();
        csr["status"]["certificate"] = Value::Null;
        let client = c.client().await.unwrap();
        let req = http::Request::put(
            "/apis/certificates.k8s.io/v1/certificatesigningrequests/approve-me/approval",
        )
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&csr).unwrap())
        .unwrap();
        let updated: Value =
            serde_json::from_str(&client.request_text(req).await.unwrap()).unwrap();
        assert_eq!(
            updated["spec"]["signerName"],
            "kubernetes.io/kube-apiserver-client"
        );
        // Through the main resource, approval conditions cannot be added.
        let mut denied = get(&c, "deny-me").await;
        denied["status"]["conditions"] =
            serde_json::json!([{"type": "Approved", "status": "True", "reason": "Sneaky"}]);
        let req =
            http::Request::put("/apis/certificates.k8s.io/v1/certificatesigningrequests/deny-me")
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&denied).unwrap())
                .unwrap();
        let _ = client.request_text(req).await;
        let after = get(&c, "deny-me").await;
        assert_eq!(after["status"]["conditions"][0]["type"], "Denied");
    });
}

fn request_b64(cn: &str, org: Option<&str>) -> String {
    use base64::Engine;
    use rcgen::{CertificateParams, DnType, KeyPair};
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    if let Some(o) = org {
        params.distinguished_name.push(DnType::OrganizationName, o);
    }
    let pem = params.serialize_request(&key).unwrap().pem().unwrap();
    base64::engine::general_purpose::STANDARD.encode(pem)
}

fn csr_for(name: &str, signer: &str, org: Option<&str>) -> String {
    format!(
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\n\
         metadata: {{name: {name}}}\n\
         spec:\n  request: {}\n  signerName: {signer}\n  usages: [client auth]\n",
        request_b64(name, org)
    )
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn approval_signing_and_subject_restrictions() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        // CertificateSubjectRestriction: no system:masters through the
        // kube-apiserver-client signer, whoever asks.
        let o = c
            .kubectl_stdin(
                &["create", "-f", "-"],
                Some(&csr_for(
                    "masters",
                    "kubernetes.io/kube-apiserver-client",
                    Some("system:masters"),
                )),
            )
            .await
            .unwrap();
        assert!(!o.status.success());
        assert!(
            stderr(&o).contains("certificatesigningrequests.certificates.k8s.io \"masters\" is forbidden: use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed"),
            "{}",
            stderr(&o)
        );
        // Other organizations, and system:masters for other signers, pass.
        for (name, signer, org) in [
            ("devs", "kubernetes.io/kube-apiserver-client", "devs"),
            ("team", "example.com/team", "system:masters"),
        ] {
            let o = c
                .kubectl_stdin(
                    &["create", "-f", "-"],
                    Some(&csr_for(name, signer, Some(org))),
                )
                .await
                .unwrap();
            assert!(o.status.success(), "{}", stderr(&o));
        }

        // May update /approval and /status, but holds no signer permission.
        let rbac = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: csr-handler\nrules:\n- apiGroups: [certificates.k8s.io]\n  resources: [certificatesigningrequests]\n  verbs: [get, list]\n- apiGroups: [certificates.k8s.io]\n  resources: [certificatesigningrequests/approval, certificatesigningrequests/status]\n  verbs: [update]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: csr-handler\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: csr-handler\nsubjects:\n- apiGroup: rbac.authorization.k8s.io\n  kind: User\n  name: carol\n";
        let o = c
            .kubectl_stdin(&["apply", "-f", "-"], Some(rbac))
            .await
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let carol = c.user_kubeconfig("carol", &[]).unwrap();
        let o = c
            .kubectl_with(&carol, &["certificate", "approve", "team"])
            .await
            .unwrap();
        assert!(!o.status.success());
        assert!(
            stderr(&o).contains("certificatesigningrequests.certificates.k8s.io \"team\" is forbidden: user not permitted to approve requests with signerName \"example.com/team\""),
            "{}",
            stderr(&o)
        );
        assert!(get(&c, "team").await["status"]["conditions"].is_null());

        // `approve` on the domain's wildcard is enough.
        let grant = |verb: &str, signer: &str| {
            format!(
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: carol-{verb}\nrules:\n- apiGroups: [certificates.k8s.io]\n  resources: [signers]\n  resourceNames: [\"{signer}\"]\n  verbs: [{verb}]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: carol-{verb}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: carol-{verb}\nsubjects:\n- apiGroup: rbac.authorization.k8s.io\n  kind: User\n  name: carol\n"
            )
        };
        let o = c
            .kubectl_stdin(
                &["apply", "-f", "-"],
                Some(&grant("approve", "example.com/*")),
            )
            .await
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let mut approved = false;
        for _ in 0..50 {
            let o = c
                .kubectl_with(&carol, &["certificate", "approve", "team"])
                .await
                .unwrap();
            if o.status.success() {
                approved = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(approved);
        assert_eq!(
            get(&c, "team").await["status"]["conditions"][0]["type"],
            "Approved"
        );

        // CertificateSigning: issuing through /status needs `sign`.
        let cert = {
            use base64::Engine;
            let key = rcgen::KeyPair::generate().unwrap();
            let params = rcgen::CertificateParams::new(vec!["team".to_string()]).unwrap();
            let pem = params.self_signed(&key).unwrap().pem();
            base64::engine::general_purpose::STANDARD.encode(pem)
        };
        let put_status = |kubeconfig: std::path::PathBuf| {
            let cert = cert.clone();
            let c = &c;
            async move {
                let client = c.client_for(&kubeconfig).await.unwrap();
                let mut csr = get(c, "team").await;
                csr["status"]["certificate"] = cert.into();
                let req = http::Request::put(
                    "/apis/certificates.k8s.io/v1/certificatesigningrequests/team/status",
                )
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&csr).unwrap())
                .unwrap();
                client.request_text(req).await
            }
        };
        let e = put_status(carol.clone()).await.unwrap_err();
        let kube::Error::Api(status) = e else {
            panic!("{e}")
        };
        assert_eq!(status.code, 403);
        assert_eq!(
            status.message,
            "certificatesigningrequests.certificates.k8s.io \"team\" is forbidden: user not permitted to sign requests with signerName \"example.com/team\""
        );
        let o = c
            .kubectl_stdin(
                &["apply", "-f", "-"],
                Some(&grant("sign", "example.com/team")),
            )
            .await
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let mut signed = false;
        for _ in 0..50 {
            if put_status(carol.clone()).await.is_ok() {
                signed = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(signed);
        assert!(get(&c, "team").await["status"]["certificate"].is_string());
    });
}
