//! The secure port end to end over loopback: TLS versions, SNI, serving
//! certificate rotation, and front-proxy identities seen by the
//! SubjectAccessReviews the server sends to a fake apiserver.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

use super::tests::AnyServer;

/// A request's outcome: the response text and the certificate served.
struct Answer {
    text: String,
    server_cert: Vec<u8>,
}

/// One HTTPS GET with the given TLS versions, SNI name, client
/// certificate and extra headers.
async fn request(
    addr: SocketAddr,
    versions: &[&'static rustls::SupportedProtocolVersion],
    server_name: &str,
    client_cert: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    path: &str,
    headers: &str,
) -> Result<Answer, std::io::Error> {
    let provider = tls::default_provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(provider)));
    let config = match client_cert {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).unwrap(),
        None => builder.with_no_client_auth(),
    };
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(server_name.to_string()).unwrap(), tcp)
        .await?;
    let server_cert = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .unwrap_or_default();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response).await;
    Ok(Answer {
        text: String::from_utf8_lossy(&response).into_owned(),
        server_cert,
    })
}

fn ca(cn: &str) -> (String, rcgen::Issuer<'static, rcgen::KeyPair>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), rcgen::Issuer::new(params, key))
}

fn client_cert(
    issuer: &rcgen::Issuer<'static, rcgen::KeyPair>,
    cn: &str,
) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    (
        vec![cert.der().clone()],
        PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
    )
}

/// Writes a self-signed serving pair for `names` to `dir/<stem>.crt|key`.
fn write_serving_pair(dir: &Path, stem: &str, names: &[&str]) -> Vec<u8> {
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.join(format!("{stem}.crt")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{stem}.key")), key.serialize_pem()).unwrap();
    cert.der().to_vec()
}

fn unreachable_client() -> kube::Client {
    kube::Client::try_from(kube::Config::new("https://127.0.0.1:1".parse().unwrap())).unwrap()
}

async fn start(server: SecureServer) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(listener, HealthRegistry::new(), async {
        let _ = stop_rx.await;
    }));
    (addr, stop_tx)
}

#[tokio::test]
async fn tls12_clients_are_refused_with_a_tls13_minimum() {
    let test = async {
        let options = SecureServingOptions {
            authentication_skip_lookup: true,
            tls_min_version: "VersionTLS13".into(),
            ..SecureServingOptions::default()
        };
        let server = SecureServer::new(&options, "kube-scheduler", &unreachable_client())
            .await
            .unwrap();
        let (addr, stop) = start(server).await;
        let tls12 = request(
            addr,
            &[&rustls::version::TLS12],
            "localhost",
            None,
            "/healthz",
            "",
        )
        .await;
        assert!(tls12.is_err(), "a TLS 1.2 client got through");
        let tls13 = request(
            addr,
            &[&rustls::version::TLS13],
            "localhost",
            None,
            "/healthz",
            "",
        )
        .await
        .unwrap();
        assert!(tls13.text.starts_with("HTTP/1.1 200"), "{}", tls13.text);
        // Without the flag TLS 1.2 works.
        let options = SecureServingOptions {
            authentication_skip_lookup: true,
            ..SecureServingOptions::default()
        };
        let server = SecureServer::new(&options, "kube-scheduler", &unreachable_client())
            .await
            .unwrap();
        let (addr2, stop2) = start(server).await;
        let tls12 = request(
            addr2,
            &[&rustls::version::TLS12],
            "localhost",
            None,
            "/healthz",
            "",
        )
        .await
        .unwrap();
        assert!(tls12.text.starts_with("HTTP/1.1 200"), "{}", tls12.text);
        let _ = stop.send(());
        let _ = stop2.send(());
    };
    tokio::time::timeout(Duration::from_secs(30), test)
        .await
        .expect("test timed out");
}

#[tokio::test]
async fn sni_picks_the_named_certificate_and_rotated_files_are_served() {
    let test = async {
        let dir = tempfile::tempdir().unwrap();
        let first = write_serving_pair(dir.path(), "default", &["localhost"]);
        let named = write_serving_pair(dir.path(), "named", &["metrics.example.com"]);
        let wildcard = write_serving_pair(dir.path(), "wild", &["unused.test"]);
        let options = SecureServingOptions {
            authentication_skip_lookup: true,
            tls_cert_file: Some(dir.path().join("default.crt")),
            tls_private_key_file: Some(dir.path().join("default.key")),
            tls_sni_cert_key: vec![
                format!("{0}/named.crt,{0}/named.key", dir.path().display())
                    .parse()
                    .unwrap(),
                format!(
                    "{0}/wild.crt,{0}/wild.key:*.apps.example.com",
                    dir.path().display()
                )
                .parse()
                .unwrap(),
            ],
            ..SecureServingOptions::default()
        };
        let mut server = SecureServer::new(&options, "kube-scheduler", &unreachable_client())
            .await
            .unwrap();
        server.set_cert_reload_interval(Duration::from_millis(50));
        let (addr, stop) = start(server).await;
        let get = |name: &'static str| async move {
            request(addr, &[&rustls::version::TLS13], name, None, "/healthz", "")
                .await
                .unwrap()
                .server_cert
        };
        assert_eq!(get("localhost").await, first);
        assert_eq!(get("metrics.example.com").await, named);
        assert_eq!(get("a.apps.example.com").await, wildcard);
        assert_eq!(get("other.example.com").await, first);

        // Rotate the default pair on disk: new connections get it.
        let second = write_serving_pair(dir.path(), "default", &["localhost"]);
        let mut served = Vec::new();
        for _ in 0..100 {
            served = get("localhost").await;
            if served == second {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(served, second, "the rotated certificate was not served");
        // A half-written pair (key missing) keeps the current certificate.
        std::fs::write(dir.path().join("default.key"), "garbage").unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(get("localhost").await, second);
        let _ = stop.send(());
    };
    tokio::time::timeout(Duration::from_secs(30), test)
        .await
        .expect("test timed out");
}

/// A fake apiserver answering SubjectAccessReviews (recorded, then denied)
/// and GETs of the authentication ConfigMap (with `configmap`, or 404);
/// returns a client of it.
async fn fake_apiserver(
    reviews: Arc<Mutex<Vec<serde_json::Value>>>,
    configmap: Option<serde_json::Value>,
) -> kube::Client {
    use http_body_util::BodyExt;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let reviews = reviews.clone();
            let configmap = configmap.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let reviews = reviews.clone();
                    let configmap = configmap.clone();
                    async move {
                        if req.method() == http::Method::GET {
                            let (status, body) = match configmap.filter(|_| {
                                req.uri().path()
                                    == "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"
                            }) {
                                Some(cm) => (200, cm),
                                None => (
                                    404,
                                    serde_json::json!({"kind": "Status", "apiVersion": "v1",
                                        "status": "Failure", "reason": "NotFound", "code": 404}),
                                ),
                            };
                            return Ok::<_, Infallible>(
                                Response::builder()
                                    .status(status)
                                    .header("content-type", "application/json")
                                    .body(Full::new(Bytes::from(body.to_string())))
                                    .unwrap(),
                            );
                        }
                        let body = req.into_body().collect().await.map(|b| b.to_bytes());
                        let mut review: serde_json::Value = body
                            .ok()
                            .and_then(|b| serde_json::from_slice(&b).ok())
                            .unwrap_or_default();
                        reviews.lock().unwrap().push(review.clone());
                        review["status"] =
                            serde_json::json!({"allowed": false, "reason": "test says no"});
                        Ok::<_, Infallible>(
                            Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(review.to_string())))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    kube::Client::try_from(kube::Config::new(format!("http://{addr}").parse().unwrap())).unwrap()
}

#[tokio::test]
async fn a_front_proxy_names_the_user_and_others_cannot() {
    let test = async {
        let dir = tempfile::tempdir().unwrap();
        let (proxy_ca_pem, proxy_ca) = ca("front-proxy-ca");
        let (client_ca_pem, client_ca) = ca("cluster-ca");
        std::fs::write(dir.path().join("front-proxy-ca.crt"), proxy_ca_pem).unwrap();
        std::fs::write(dir.path().join("ca.crt"), client_ca_pem).unwrap();
        let reviews = Arc::new(Mutex::new(Vec::new()));
        let client = fake_apiserver(reviews.clone(), None).await;
        let options = SecureServingOptions {
            client_ca_file: Some(dir.path().join("ca.crt")),
            requestheader_client_ca_file: Some(dir.path().join("front-proxy-ca.crt")),
            requestheader_allowed_names: vec!["front-proxy-client".into()],
            authorization_webhook_cache_unauthorized_ttl: Duration::ZERO,
            ..SecureServingOptions::default()
        };
        let server = SecureServer::new(&options, "kube-controller-manager", &client)
            .await
            .unwrap();
        let (addr, stop) = start(server).await;
        let proxied =
            "X-Remote-User: alice\r\nX-Remote-Group: devs\r\nX-Remote-Extra-Scopes: view\r\n";
        let tls13 = [&rustls::version::TLS13];

        // The proxy's certificate and headers: the SAR is about alice.
        let proxy = client_cert(&proxy_ca, "front-proxy-client");
        let answer = request(addr, &tls13, "localhost", Some(proxy), "/metrics", proxied)
            .await
            .unwrap();
        assert!(answer.text.starts_with("HTTP/1.1 403"), "{}", answer.text);
        assert!(
            answer
                .text
                .contains(r#"User \"alice\" cannot get path \"/metrics\""#),
            "{}",
            answer.text
        );
        {
            let reviews = reviews.lock().unwrap();
            let spec = &reviews.last().unwrap()["spec"];
            assert_eq!(spec["user"], "alice");
            assert_eq!(
                spec["groups"],
                serde_json::json!(["devs", "system:authenticated"])
            );
            assert_eq!(spec["extra"]["scopes"], serde_json::json!(["view"]));
            assert_eq!(spec["nonResourceAttributes"]["path"], "/metrics");
        }
        // A proxy naming a system:masters user is allowed without a review.
        let proxy = client_cert(&proxy_ca, "front-proxy-client");
        let masters = request(
            addr,
            &tls13,
            "localhost",
            Some(proxy),
            "/metrics",
            "X-Remote-User: admin\r\nX-Remote-Group: system:masters\r\n",
        )
        .await
        .unwrap();
        assert!(masters.text.starts_with("HTTP/1.1 200"), "{}", masters.text);

        // The same headers from a cluster-CA client are ignored: its own
        // identity is reviewed.
        let plain = client_cert(&client_ca, "mallory");
        let answer = request(addr, &tls13, "localhost", Some(plain), "/metrics", proxied)
            .await
            .unwrap();
        assert!(
            answer.text.contains(r#"User \"mallory\""#),
            "{}",
            answer.text
        );
        // Without any certificate: anonymous.
        let answer = request(addr, &tls13, "localhost", None, "/metrics", proxied)
            .await
            .unwrap();
        assert!(
            answer.text.contains(r#"User \"system:anonymous\""#),
            "{}",
            answer.text
        );
        // A front-proxy certificate whose CN is not allowed: 401.
        let stranger = client_cert(&proxy_ca, "not-the-proxy");
        let answer = request(
            addr,
            &tls13,
            "localhost",
            Some(stranger),
            "/metrics",
            proxied,
        )
        .await
        .unwrap();
        assert!(answer.text.starts_with("HTTP/1.1 401"), "{}", answer.text);
        let users: Vec<String> = reviews
            .lock()
            .unwrap()
            .iter()
            .map(|r| r["spec"]["user"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(users, ["alice", "mallory", "system:anonymous"]);
        let _ = stop.send(());
    };
    tokio::time::timeout(Duration::from_secs(30), test)
        .await
        .expect("test timed out");
}

#[tokio::test]
async fn front_proxy_settings_come_from_the_authentication_configmap() {
    let test = async {
        let (proxy_ca_pem, proxy_ca) = ca("front-proxy-ca");
        let (client_ca_pem, client_ca) = ca("cluster-ca");
        // Headers other than the flags' defaults, so the test shows which
        // settings apply.
        let configmap = serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "extension-apiserver-authentication", "namespace": "kube-system"},
            "data": {
                "client-ca-file": client_ca_pem,
                "requestheader-client-ca-file": proxy_ca_pem,
                "requestheader-allowed-names": "[\"front-proxy-client\"]",
                "requestheader-username-headers": "[\"X-Proxy-User\"]",
                "requestheader-uid-headers": "[\"X-Proxy-Uid\"]",
                "requestheader-group-headers": "[\"X-Proxy-Group\"]",
                "requestheader-extra-headers-prefix": "[\"X-Proxy-Extra-\"]",
            }
        });
        let reviews = Arc::new(Mutex::new(Vec::new()));
        let client = fake_apiserver(reviews.clone(), Some(configmap)).await;
        let options = SecureServingOptions {
            authorization_webhook_cache_unauthorized_ttl: Duration::ZERO,
            ..SecureServingOptions::default()
        };
        let server = SecureServer::new(&options, "kube-scheduler", &client)
            .await
            .unwrap();
        let (addr, stop) = start(server).await;
        let tls13 = [&rustls::version::TLS13];

        let proxy = client_cert(&proxy_ca, "front-proxy-client");
        let headers = "X-Proxy-User: alice\r\nX-Proxy-Uid: 42\r\nX-Proxy-Group: devs\r\nX-Proxy-Extra-Scopes: view\r\nX-Remote-User: bob\r\n";
        let answer = request(addr, &tls13, "localhost", Some(proxy), "/metrics", headers)
            .await
            .unwrap();
        assert!(answer.text.starts_with("HTTP/1.1 403"), "{}", answer.text);
        {
            let reviews = reviews.lock().unwrap();
            let spec = &reviews.last().unwrap()["spec"];
            assert_eq!(spec["user"], "alice");
            assert_eq!(spec["uid"], "42");
            assert_eq!(
                spec["groups"],
                serde_json::json!(["devs", "system:authenticated"])
            );
            assert_eq!(spec["extra"]["scopes"], serde_json::json!(["view"]));
        }
        // A proxy CN the ConfigMap does not allow: 401.
        let stranger = client_cert(&proxy_ca, "someone-else");
        let answer = request(
            addr,
            &tls13,
            "localhost",
            Some(stranger),
            "/metrics",
            headers,
        )
        .await
        .unwrap();
        assert!(answer.text.starts_with("HTTP/1.1 401"), "{}", answer.text);
        // The client CA from the same ConfigMap still authenticates.
        let plain = client_cert(&client_ca, "carol");
        let answer = request(addr, &tls13, "localhost", Some(plain), "/metrics", headers)
            .await
            .unwrap();
        assert!(answer.text.contains(r#"User \"carol\""#), "{}", answer.text);
        let _ = stop.send(());
    };
    tokio::time::timeout(Duration::from_secs(30), test)
        .await
        .expect("test timed out");
}

#[tokio::test]
async fn a_missing_configmap_leaves_front_proxies_untrusted() {
    let test = async {
        let (_, proxy_ca) = ca("front-proxy-ca");
        let reviews = Arc::new(Mutex::new(Vec::new()));
        let client = fake_apiserver(reviews.clone(), None).await;
        let options = SecureServingOptions {
            authorization_webhook_cache_unauthorized_ttl: Duration::ZERO,
            ..SecureServingOptions::default()
        };
        let server = SecureServer::new(&options, "kube-scheduler", &client)
            .await
            .unwrap();
        let (addr, stop) = start(server).await;
        // No CA is known, so no certificate is asked for: the request is
        // anonymous whatever headers it carries.
        let proxy = client_cert(&proxy_ca, "front-proxy-client");
        let answer = request(
            addr,
            &[&rustls::version::TLS13],
            "localhost",
            Some(proxy),
            "/metrics",
            "X-Remote-User: alice\r\n",
        )
        .await
        .unwrap();
        assert!(
            answer.text.contains(r#"User \"system:anonymous\""#),
            "{}",
            answer.text
        );
        let _ = stop.send(());
    };
    tokio::time::timeout(Duration::from_secs(30), test)
        .await
        .expect("test timed out");
}
