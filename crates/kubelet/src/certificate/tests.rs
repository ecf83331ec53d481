use std::time::Duration;

use x509_parser::prelude::FromDer;

use k8s_openapi::ByteString;
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestCondition, CertificateSigningRequestStatus,
};

use super::bootstrap::{self, CURRENT};
use super::client::CertStore;
use super::csr::{self, Naming, Outcome, Template};
use super::pair::{PairStore, SERVER_PREFIX};
use super::rotation;

/// A CA (cert PEM, key PEM).
fn ca() -> (String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "test-ca");
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// Signs a PKCS#10 request like a signer would, valid from `start` for `lifetime`.
fn sign(
    ca: &(String, String),
    csr_pem: &str,
    start: time::OffsetDateTime,
    lifetime: Duration,
) -> String {
    use rcgen::{CertificateSigningRequestParams, Issuer, KeyPair};
    let issuer = Issuer::from_ca_cert_pem(&ca.0, KeyPair::from_pem(&ca.1).unwrap()).unwrap();
    let mut request = CertificateSigningRequestParams::from_pem(csr_pem).unwrap();
    request.params.not_before = start;
    request.params.not_after = start + lifetime;
    request.signed_by(&issuer).unwrap().pem()
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

#[test]
fn requests_carry_the_node_identity_and_stable_names() {
    let t = Template::client("node-a");
    let r = csr::make_request(&t, None).unwrap();
    assert_eq!(r.usages, ["digital signature", "client auth"]);
    let (_, pem) = x509_parser::pem::parse_x509_pem(r.csr_pem.as_bytes()).unwrap();
    let (_, req) =
        x509_parser::certification_request::X509CertificationRequest::from_der(&pem.contents)
            .unwrap();
    let subject = req.certification_request_info.subject.to_string();
    assert!(subject.contains("CN=system:node:node-a"), "{subject}");
    assert!(subject.contains("O=system:nodes"), "{subject}");
    // The same key gives the same name (a restarted bootstrap finds its CSR).
    let again = csr::make_request(&t, Some(&r.key_pem)).unwrap();
    assert_eq!(csr::csr_name(&r, &t), csr::csr_name(&again, &t));
    let other = csr::make_request(&t, None).unwrap();
    assert_ne!(csr::csr_name(&r, &t), csr::csr_name(&other, &t));
    assert!(csr::csr_name(&r, &t).starts_with("node-csr-"));
    let _ = Naming::Generated;
}

fn with_status(conditions: &[(&str, &str)], cert: Option<&str>) -> CertificateSigningRequest {
    CertificateSigningRequest {
        status: Some(CertificateSigningRequestStatus {
            conditions: Some(
                conditions
                    .iter()
                    .map(|(t, s)| CertificateSigningRequestCondition {
                        type_: t.to_string(),
                        status: s.to_string(),
                        reason: Some("R".into()),
                        message: Some("M".into()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            certificate: cert.map(|c| ByteString(c.as_bytes().to_vec())),
        }),
        ..Default::default()
    }
}

#[test]
fn outcomes() {
    assert_eq!(
        csr::outcome(&CertificateSigningRequest::default()),
        Outcome::Pending
    );
    assert_eq!(
        csr::outcome(&with_status(&[("Approved", "True")], None)),
        Outcome::Pending
    );
    // A certificate without approval is not trusted.
    assert_eq!(csr::outcome(&with_status(&[], Some("x"))), Outcome::Pending);
    assert_eq!(
        csr::outcome(&with_status(&[("Approved", "True")], Some("x"))),
        Outcome::Issued(b"x".to_vec())
    );
    assert_eq!(
        csr::outcome(&with_status(&[("Denied", "True")], None)),
        Outcome::Refused("certificate signing request is denied, reason: R, message: M".into())
    );
    assert!(matches!(
        csr::outcome(&with_status(&[("Approved", "True"), ("Failed", "True")], None)),
        Outcome::Refused(m) if m.starts_with("certificate signing request failed")
    ));
}

#[test]
fn rotation_deadline_is_between_70_and_90_percent() {
    assert_eq!(rotation::rotation_deadline(1000, 2000, 0.0), 1700);
    assert_eq!(rotation::rotation_deadline(1000, 2000, 1.0), 1900);
    assert_eq!(rotation::rotation_deadline(1000, 2000, 0.5), 1800);
    assert_eq!(rotation::rotation_deadline(1000, 2000, 7.0), 1900);
}

#[test]
fn issued_certificates_are_stored_behind_the_current_symlink_and_checked() {
    let ca = ca();
    let dir = tempfile::tempdir().unwrap();
    let r = csr::make_request(&Template::client("node-a"), None).unwrap();
    let cert = sign(&ca, &r.csr_pem, now(), Duration::from_secs(3600));
    let (nb, na) = csr::check_issued(cert.as_bytes(), &r.public_key).unwrap();
    assert!((na - nb - 3600).abs() <= 1);
    let other = csr::make_request(&Template::client("node-a"), None).unwrap();
    assert!(csr::check_issued(cert.as_bytes(), &other.public_key).is_err());

    let current = bootstrap::store(dir.path(), cert.as_bytes(), &r.key_pem).unwrap();
    assert_eq!(current, dir.path().join(CURRENT));
    let first = std::fs::read_link(&current).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&first).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        first
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("kubelet-client-")
    );
    let store = CertStore::load(dir.path(), &current).unwrap();
    assert_eq!(store.validity(), (nb, na));

    // A second certificate moves the symlink; the first file stays.
    let cert2 = sign(&ca, &other.csr_pem, now(), Duration::from_secs(7200));
    bootstrap::store(dir.path(), cert2.as_bytes(), &other.key_pem).unwrap();
    let second = std::fs::read_link(&current).unwrap();
    assert_ne!(first, second);
    assert!(first.exists());
    let store = CertStore::load(dir.path(), &current).unwrap();
    assert!(store.validity().1 - na >= 3599);
}

fn kubeconfig(dir: &std::path::Path, user: &str) -> std::path::PathBuf {
    let path = dir.join("kubelet.conf");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:1'}}}}]\n\
             contexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n\
             users: [{{name: u, user: {user}}}]\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn kubeconfig_validity() {
    let ca = ca();
    let dir = tempfile::tempdir().unwrap();
    assert!(!bootstrap::still_valid(&dir.path().join("missing")));
    assert!(bootstrap::still_valid(&kubeconfig(
        dir.path(),
        "{token: abc}"
    )));
    let r = csr::make_request(&Template::client("node-a"), None).unwrap();
    let valid = sign(&ca, &r.csr_pem, now(), Duration::from_secs(3600));
    let current = bootstrap::store(dir.path(), valid.as_bytes(), &r.key_pem).unwrap();
    let user = format!(
        "{{client-certificate: {0}, client-key: {0}}}",
        current.display()
    );
    assert!(bootstrap::still_valid(&kubeconfig(dir.path(), &user)));
    let expired = sign(
        &ca,
        &r.csr_pem,
        now() - Duration::from_secs(7200),
        Duration::from_secs(3600),
    );
    bootstrap::store(dir.path(), expired.as_bytes(), &r.key_pem).unwrap();
    assert!(!bootstrap::still_valid(&kubeconfig(dir.path(), &user)));
}

#[test]
fn serving_requests_carry_names_addresses_and_server_usages() {
    let ip: std::net::IpAddr = "10.1.2.3".parse().unwrap();
    let t = Template::serving("node-a", vec!["node-a.example".into()], vec![ip]);
    assert_eq!(t.signer_name, "kubernetes.io/kubelet-serving");
    assert_eq!(
        t.usages(true),
        ["key encipherment", "digital signature", "server auth"]
    );
    let r = csr::make_request(&t, None).unwrap();
    // ECDSA P-256: no key encipherment.
    assert_eq!(r.usages, ["digital signature", "server auth"]);
    let (_, pem) = x509_parser::pem::parse_x509_pem(r.csr_pem.as_bytes()).unwrap();
    let (_, req) =
        x509_parser::certification_request::X509CertificationRequest::from_der(&pem.contents)
            .unwrap();
    let info = &req.certification_request_info;
    assert!(info.subject.to_string().contains("CN=system:node:node-a"));
    assert_eq!(
        info.subject_pki.algorithm.algorithm.to_id_string(),
        "1.2.840.10045.2.1",
        "an EC key"
    );
    let mut names = Vec::new();
    for ext in req.requested_extensions().into_iter().flatten() {
        if let x509_parser::extensions::ParsedExtension::SubjectAlternativeName(san) = ext {
            for n in &san.general_names {
                names.push(n.to_string());
            }
        }
    }
    assert_eq!(names, ["DNSName(node-a.example)", "IPAddress(0a:01:02:03)"]);

    // Issued pairs go to kubelet-server-<time>.pem behind kubelet-server-current.pem.
    let ca = ca();
    let dir = tempfile::tempdir().unwrap();
    let cert = sign(&ca, &r.csr_pem, now(), Duration::from_secs(3600));
    let store = PairStore::new(dir.path(), SERVER_PREFIX);
    assert!(store.load_current().unwrap().is_none());
    let current = store.update(cert.as_bytes(), &r.key_pem).unwrap();
    assert_eq!(current, dir.path().join("kubelet-server-current.pem"));
    let target = std::fs::read_link(&current).unwrap();
    let file = target.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        file.starts_with("kubelet-server-") && file.ends_with(".pem"),
        "{file}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&target).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let pair = store.load_current().unwrap().unwrap();
    assert_eq!(pair.dns_names, ["node-a.example"]);
    assert_eq!(pair.ips, [ip]);

    // A serving certificate loaded from the cert dir is used at once; one
    // for other addresses is replaced (its validity is not trusted).
    let serving = super::serving::ServingCertificate::load(
        dir.path(),
        "node-a",
        vec!["node-a.example".into()],
        vec![ip],
        None,
    );
    assert!(serving.current().is_some());
    let other = super::serving::ServingCertificate::load(
        dir.path(),
        "node-a",
        vec!["node-a.example".into()],
        vec!["10.9.9.9".parse().unwrap()],
        None,
    );
    assert!(other.current().is_some());
    let empty = tempfile::tempdir().unwrap();
    let none =
        super::serving::ServingCertificate::load(empty.path(), "node-a", vec![], vec![], None);
    assert!(none.current().is_none());
}
