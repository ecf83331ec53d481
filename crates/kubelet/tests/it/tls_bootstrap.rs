//! TLS bootstrap and client certificate rotation against a real apiserver
//! (bootstrap token authentication, certificates.k8s.io); a rotation closes
//! the connections (a watch) made with the old certificate. The test plays
//! the approver and the signer: it approves through the `approval`
//! subresource and writes `status.certificate` signed with the cluster CA.

use std::path::Path;
use std::time::Duration;

use crate::csr_signer::{decide, next_csr};
use corten_e2e::TestCluster;
use corten_kubelet::certificate::{self, bootstrap::CURRENT};
use corten_kubelet::config::KubeletConfig;
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use rcgen::ExtendedKeyUsagePurpose::ClientAuth;

const TOKEN: &str = "abcdef.0123456789abcdef";
const SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";

async fn whoami(client: &kube::Client) -> (String, Vec<String>) {
    let api: Api<SelfSubjectReview> = Api::all(client.clone());
    let review = api
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .unwrap();
    let user = review.status.unwrap().user_info.unwrap();
    (user.username.unwrap(), user.groups.unwrap_or_default())
}

fn node_config(dir: &Path, node: &str, bootstrap: &Path) -> KubeletConfig {
    let mut config = KubeletConfig::for_node(node, dir);
    config.kubeconfig = Some(dir.join("kubelet.conf"));
    config.bootstrap_kubeconfig = Some(bootstrap.to_path_buf());
    config.cert_dir = dir.join("pki");
    config.file.rotate_certificates = Some(true);
    config
}

#[tokio::test]
async fn bootstrap_then_rotation_then_restart_and_denial() {
    let test = async {
        let cluster = TestCluster::start_with(&["--enable-bootstrap-token-auth"])
            .await
            .unwrap();
        let admin = cluster.client().await.unwrap();
        // What kubeadm sets up: a bootstrap token and the bootstrapper binding.
        let (id, secret) = TOKEN.split_once('.').unwrap();
        let token: Secret = serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("bootstrap-token-{id}"), "namespace": "kube-system"},
            "type": "bootstrap.kubernetes.io/token",
            "stringData": {
                "token-id": id, "token-secret": secret,
                "usage-bootstrap-authentication": "true",
                "auth-extra-groups": "system:bootstrappers:kubeadm:default-node-token",
            },
        }))
        .unwrap();
        Api::<Secret>::namespaced(admin.clone(), "kube-system")
            .create(&PostParams::default(), &token)
            .await
            .unwrap();
        let binding: ClusterRoleBinding = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "kubeadm:kubelet-bootstrap"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:node-bootstrapper"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:bootstrappers"}],
        }))
        .unwrap();
        Api::<ClusterRoleBinding>::all(admin.clone())
            .create(&PostParams::default(), &binding)
            .await
            .unwrap();
        let bootstrap = cluster.token_kubeconfig(TOKEN).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = node_config(dir.path(), "node-tls", &bootstrap);
        let csrs: Api<CertificateSigningRequest> = Api::all(admin.clone());

        // Bootstrap: the kubelet waits until the test approves and signs.
        let pending = tokio::spawn({
            let config = config.clone();
            async move { certificate::api_client(&config, Duration::from_secs(60)).await }
        });
        let csr = next_csr(&csrs, SIGNER, &[]).await;
        let first = csr.metadata.name.clone().unwrap();
        assert!(first.starts_with("node-csr-"), "{first}");
        assert_eq!(
            csr.spec.signer_name,
            "kubernetes.io/kube-apiserver-client-kubelet"
        );
        assert_eq!(
            csr.spec.usages.clone().unwrap(),
            ["digital signature", "client auth"]
        );
        assert_eq!(
            csr.spec.username.as_deref(),
            Some("system:bootstrap:abcdef")
        );
        assert!(
            csr.spec
                .groups
                .clone()
                .unwrap()
                .contains(&"system:bootstrappers".to_string())
        );
        decide(
            &cluster,
            &csrs,
            csr,
            true,
            Duration::from_secs(20),
            ClientAuth,
        )
        .await;
        let api = pending
            .await
            .unwrap()
            .expect("bootstrap")
            .expect("a client");
        let kubeconfig = std::fs::read_to_string(dir.path().join("kubelet.conf")).unwrap();
        let current = dir.path().join("pki").join(CURRENT);
        assert!(
            kubeconfig.contains(&format!("client-certificate: {}", current.display())),
            "{kubeconfig}"
        );
        let issued = std::fs::read_link(&current).unwrap();
        assert!(!dir.path().join("pki/kubelet-client.key.tmp").exists());
        let (user, groups) = whoami(&api.client).await;
        assert_eq!(user, "system:node:node-tls");
        assert!(groups.contains(&"system:nodes".to_string()), "{groups:?}");

        // A watch opened with the first certificate: the rotation closes it.
        let watch = Api::<CertificateSigningRequest>::all(api.client.clone())
            .watch(&WatchParams::default().timeout(290), "0")
            .await
            .unwrap();
        let watched = tokio::spawn(async move {
            use futures::StreamExt;
            tokio::pin!(watch);
            let mut names = Vec::new();
            while let Some(Ok(event)) = watch.next().await {
                if let WatchEvent::Added(csr) | WatchEvent::Modified(csr) = event {
                    names.push(csr.metadata.name.unwrap_or_default());
                }
            }
            names
        });

        // Rotation at 70-90% of the 20s lifetime, authenticated as the node.
        let store = api.rotation.clone().expect("rotation enabled");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let rotation = tokio::spawn(certificate::client::run(
            api.client.clone(),
            store.clone(),
            "node-tls".into(),
            async move {
                let _ = stopped.await;
            },
        ));
        let csr = next_csr(&csrs, SIGNER, std::slice::from_ref(&first)).await;
        let second = csr.metadata.name.clone().unwrap();
        assert!(second.starts_with("csr-"), "generateName csr-: {second}");
        assert_eq!(csr.spec.username.as_deref(), Some("system:node:node-tls"));
        decide(
            &cluster,
            &csrs,
            csr,
            true,
            Duration::from_secs(3600),
            ClientAuth,
        )
        .await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while std::fs::read_link(&current).unwrap() == issued {
            assert!(
                tokio::time::Instant::now() < deadline,
                "symlink never moved"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (_, not_after) = store.validity();
        assert!(not_after - jiff::Timestamp::now().as_second() > 3000);
        // The old watch saw the rotation's CSR, then was closed (it asked
        // for 290 seconds).
        let names = tokio::time::timeout(Duration::from_secs(10), watched)
            .await
            .expect("the watch made with the old certificate was not closed")
            .unwrap();
        assert!(names.contains(&second), "{names:?}");
        // Past the first certificate's expiry the client still works: new
        // connections present the rotated certificate.
        tokio::time::sleep(Duration::from_secs(8)).await;
        let fresh =
            certificate::client::client_with_store(&dir.path().join("kubelet.conf"), store.clone())
                .await
                .unwrap();
        assert_eq!(whoami(&fresh).await.0, "system:node:node-tls");
        let _ = stop.send(());
        rotation.await.unwrap();

        // A restarted kubelet keeps its valid certificate: no new CSR.
        let again = certificate::api_client(&config, Duration::from_secs(5))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(whoami(&again.client).await.0, "system:node:node-tls");
        assert_eq!(
            csrs.list(&ListParams::default()).await.unwrap().items.len(),
            2
        );

        // A denied request fails the bootstrap with upstream's message.
        let dir2 = tempfile::tempdir().unwrap();
        let config2 = node_config(dir2.path(), "node-denied", &bootstrap);
        let pending = tokio::spawn(async move {
            certificate::api_client(&config2, Duration::from_secs(60)).await
        });
        let csr = next_csr(&csrs, SIGNER, &[first, second]).await;
        decide(&cluster, &csrs, csr, false, Duration::ZERO, ClientAuth).await;
        let err = pending.await.unwrap().unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "certificate signing request is denied, reason: TestDenied, message: decided by the test"
        );
        assert!(!dir2.path().join("kubelet.conf").exists());
    };
    tokio::time::timeout(Duration::from_secs(180), test)
        .await
        .expect("test timed out");
}
