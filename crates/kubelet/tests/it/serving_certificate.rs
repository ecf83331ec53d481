//! The kubelet API's serving certificate through a CSR
//! (`serverTLSBootstrap`) against a real apiserver: the kubelet (over the
//! fake runtime) asks the `kubernetes.io/kubelet-serving` signer for a
//! certificate with its names and addresses, refuses TLS handshakes until
//! one is issued, then serves it; it is rotated with a new CSR near its
//! expiry, and a restarted kubelet serves the stored one at once. The test
//! approves through the `approval` subresource and signs with the cluster
//! CA, as the controller-manager's kubelet-serving signer would.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::csr_signer::{decide, next_csr};
use corten_cri::fake::FakeRuntime;
use corten_e2e::TestCluster;
use corten_kubelet::config::KubeletConfig;
use corten_kubelet::kubelet::{self, StartOptions};
use corten_kubelet::node::machine::MachineInfo;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use kube::api::{Api, ListParams};
use rcgen::ExtendedKeyUsagePurpose::ServerAuth;
use x509_parser::prelude::FromDer;

const NODE: &str = "node-serve";
const SIGNER: &str = "kubernetes.io/kubelet-serving";

fn der_of(pem: &str) -> Vec<u8> {
    x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .unwrap()
        .1
        .contents
}

/// A TLS handshake with the kubelet API that verifies its certificate
/// against the cluster CA for the name 127.0.0.1; returns the leaf (DER).
async fn handshake(cluster: &TestCluster, addr: SocketAddr) -> Result<Vec<u8>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut cluster.ca_pem().as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    Ok(tls.get_ref().1.peer_certificates().unwrap()[0].to_vec())
}

async fn wait_serving(cluster: &TestCluster, addr: SocketAddr, want: &[u8]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got = handshake(cluster, addr).await;
        if got.as_deref() == Ok(want) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the port never served the issued certificate: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn metric(name: &str) -> Option<prometheus::proto::MetricFamily> {
    prometheus::gather().into_iter().find(|f| f.name() == name)
}

fn config(root: &std::path::Path) -> KubeletConfig {
    let mut config = KubeletConfig::for_node(NODE, root);
    config.node_ips = vec!["127.0.0.1".parse().unwrap()];
    config.file.server_tls_bootstrap = Some(true);
    config.file.address = Some("127.0.0.1".into());
    config.file.port = Some(0);
    config.file.healthz_port = Some(0);
    config
}

async fn start(client: &kube::Client, root: &std::path::Path) -> kubelet::RunningKubelet {
    kubelet::start_with(
        config(root),
        Some(client.clone()),
        Arc::new(FakeRuntime::new()),
        StartOptions {
            machine: Some(MachineInfo::simulated(NODE, 4, 8 << 30, 100 << 30)),
            simulated: true,
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn serving_certificate_is_requested_served_and_rotated() {
    let test = async {
        let cluster = TestCluster::start().await.unwrap();
        let admin = cluster.client().await.unwrap();
        let node_client = cluster
            .client_for(
                &cluster
                    .user_kubeconfig(&format!("system:node:{NODE}"), &["system:nodes"])
                    .unwrap(),
            )
            .await
            .unwrap();
        let csrs: Api<CertificateSigningRequest> = Api::all(admin.clone());
        let root = tempfile::tempdir().unwrap();
        let running = start(&node_client, root.path()).await;
        let addr = running.api_addr.unwrap();

        // The request: the node's identity, names, addresses and usages.
        let csr = next_csr(&csrs, SIGNER, &[]).await;
        let first = csr.metadata.name.clone().unwrap();
        assert!(first.starts_with("csr-"), "generateName csr-: {first}");
        assert_eq!(
            csr.spec.usages.clone().unwrap(),
            ["digital signature", "server auth"]
        );
        assert_eq!(csr.spec.username.as_deref(), Some("system:node:node-serve"));
        let (_, pem) = x509_parser::pem::parse_x509_pem(&csr.spec.request.0).unwrap();
        let (_, request) =
            x509_parser::certification_request::X509CertificationRequest::from_der(&pem.contents)
                .unwrap();
        let subject = request.certification_request_info.subject.to_string();
        assert!(subject.contains("CN=system:node:node-serve"), "{subject}");
        assert!(subject.contains("O=system:nodes"), "{subject}");
        let mut names = Vec::new();
        for ext in request.requested_extensions().into_iter().flatten() {
            if let x509_parser::extensions::ParsedExtension::SubjectAlternativeName(san) = ext {
                names.extend(san.general_names.iter().map(|n| n.to_string()));
            }
        }
        assert_eq!(names, ["DNSName(node-serve)", "IPAddress(7f:00:00:01)"]);

        // Not approved yet: no certificate, handshakes fail (no self-signed fallback).
        let err = handshake(&cluster, addr).await.unwrap_err();
        assert!(err.contains("received fatal alert"), "{err}");
        assert!(!root.path().join("pki/kubelet.crt").exists());
        let ttl = metric("kubelet_certificate_manager_server_ttl_seconds").unwrap();
        assert_eq!(ttl.get_metric()[0].get_gauge().get_value(), f64::INFINITY);

        // Approved and issued for 12s: the port serves it, stored in the cert dir.
        let issued = decide(
            &cluster,
            &csrs,
            csr,
            true,
            Duration::from_secs(12),
            ServerAuth,
        )
        .await
        .unwrap();
        wait_serving(&cluster, addr, &der_of(&issued)).await;
        let current = root.path().join("pki/kubelet-server-current.pem");
        let target = std::fs::read_link(&current).unwrap();
        let file = target.file_name().unwrap().to_string_lossy().to_string();
        assert!(file.starts_with("kubelet-server-"), "{file}");
        let stored = std::fs::read_to_string(&current).unwrap();
        assert!(stored.contains(issued.trim()) && stored.contains("PRIVATE KEY"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&target).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let ttl = metric("kubelet_certificate_manager_server_ttl_seconds").unwrap();
        let ttl = ttl.get_metric()[0].get_gauge().get_value();
        assert!((0.0..=12.0).contains(&ttl), "{ttl}");

        // At 70-90% of its lifetime: a new key, a new CSR; the port moves to it.
        let csr = next_csr(&csrs, SIGNER, std::slice::from_ref(&first)).await;
        let second = csr.metadata.name.clone().unwrap();
        assert_ne!(
            csr.spec.request.0,
            csrs.get(&first).await.unwrap().spec.request.0
        );
        let renewed = decide(
            &cluster,
            &csrs,
            csr,
            true,
            Duration::from_secs(3600),
            ServerAuth,
        )
        .await
        .unwrap();
        wait_serving(&cluster, addr, &der_of(&renewed)).await;
        assert_ne!(std::fs::read_link(&current).unwrap(), target);
        assert!(target.exists(), "the previous file stays");
        let rotations = metric("kubelet_certificate_manager_server_rotation_seconds").unwrap();
        assert!(rotations.get_metric()[0].get_histogram().get_sample_count() >= 1);
        assert!(metric("kubelet_server_expiration_renew_errors").is_some());
        running.stop().await;

        // Restarted: the stored certificate is served at once, no new CSR.
        let running = start(&node_client, root.path()).await;
        let addr = running.api_addr.unwrap();
        assert_eq!(handshake(&cluster, addr).await.unwrap(), der_of(&renewed));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let serving: Vec<_> = csrs
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|c| c.spec.signer_name == "kubernetes.io/kubelet-serving")
            .map(|c| c.metadata.name.unwrap())
            .collect();
        assert_eq!(serving.len(), 2, "{serving:?} after {first}, {second}");
        running.stop().await;
    };
    tokio::time::timeout(Duration::from_secs(180), test)
        .await
        .expect("test timed out");
}
