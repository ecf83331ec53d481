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
        // The requester, not the body, is recorded.
        let csr = get(&c, "approve-me").await;
        assert_eq!(csr["spec"]["username"], "kubernetes-admin");
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
