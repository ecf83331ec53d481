//! A test admission webhook: HTTPS on a loopback port with its own CA
//! (generated with rcgen), answering AdmissionReviews by path:
//!
//! - `/allow`: allowed;
//! - `/deny`: denied with code 403, reason Forbidden, message
//!   `denied by the test webhook`;
//! - `/mutate`: allowed with a JSONPatch adding the label `mutated=<n>`
//!   (n counts calls to this path), a warning and the audit annotation
//!   `mutated-by=test-webhook`;
//! - `/max-replicas-5`: denies objects (a `Scale`, a Deployment) whose
//!   `spec.replicas` is above 5 with code 403 and the message
//!   `at most 5 replicas are allowed, not <n>`, allows others with the
//!   audit annotation `replicas=<n>`;
//! - `/add-init-container`: upstream's conformance webhook: a pod named
//!   `webhook-to-be-mutated` without it gets the init container
//!   `webhook-added-init-container` (image `webhook-added-image`, empty
//!   `resources`, nothing else: the server must default the rest);
//! - `/require-defaults`: denies a pod (code 403) unless its first
//!   container's `terminationMessagePolicy` is `File` and its
//!   `restartPolicy` is `Always` (both defaults), with the message
//!   `defaults missing: terminationMessagePolicy=<v>, restartPolicy=<v>`;
//! - `/hang`: answers after 30 seconds (longer than any timeout);
//! - `/garbage`: answers `this is not json` with status 200;
//! - `/wrong-uid`: allowed, but for another uid;
//! - `/convert`: a ConversionReview for the `CronTab` test kind: `v2`'s
//!   `spec.schedule` is `v1`'s `spec.cronSpec`.
//!
//! Every request body is recorded, and accepted connections are counted
//! (connections are kept alive). The server stops when dropped.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};

/// A running test webhook.
pub struct TestWebhook {
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    /// The port.
    pub port: u16,
    /// The CA that signed the serving certificate (PEM), for `caBundle`.
    pub ca_pem: String,
    /// Bodies of the AdmissionReviews received, with their paths.
    pub requests: Arc<Mutex<Vec<(String, Value)>>>,
    /// TCP connections accepted so far.
    pub connections: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestWebhook {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn certs(dns_names: &[&str]) -> Result<(String, String, String)> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "test-webhook-ca");
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate()?;
    let mut sans: Vec<String> = vec!["127.0.0.1".into(), "localhost".into()];
    sans.extend(dns_names.iter().map(|s| s.to_string()));
    let mut params = CertificateParams::new(sans)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "test-webhook");
    let cert = params.signed_by(&key, &issuer)?;
    Ok((ca_cert.pem(), cert.pem(), key.serialize_pem()))
}

fn review_response(uid: &str, extra: Value) -> Value {
    let mut r = json!({"uid": uid, "allowed": true});
    if let (Some(m), Some(e)) = (r.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            m.insert(k.clone(), v.clone());
        }
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": r})
}

/// The CronTab conversion: `spec.cronSpec` (v1) <-> `spec.schedule` (v2).
fn convert(review: &Value) -> Value {
    let req = &review["request"];
    let desired = req["desiredAPIVersion"].as_str().unwrap_or("");
    let objects: Vec<Value> = req["objects"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut o| {
            let mut spec = o["spec"].as_object().cloned().unwrap_or_default();
            let (from, to) = if desired.ends_with("/v2") {
                ("cronSpec", "schedule")
            } else {
                ("schedule", "cronSpec")
            };
            if let Some(v) = spec.remove(from) {
                spec.insert(to.into(), v);
            }
            o["spec"] = Value::Object(spec);
            o["apiVersion"] = json!(desired);
            o
        })
        .collect();
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "ConversionReview",
        "response": {"uid": req["uid"], "convertedObjects": objects, "result": {"status": "Success"}},
    })
}

fn answer(path: &str, review: &Value, mutations: usize) -> Value {
    let req = &review["request"];
    let uid = req["uid"].as_str().unwrap_or_default();
    match path {
        "/deny" => review_response(
            uid,
            json!({"allowed": false, "status": {"code": 403, "reason": "Forbidden", "message": "denied by the test webhook"}}),
        ),
        "/max-replicas-5" => {
            let replicas = req["object"]["spec"]["replicas"].as_i64().unwrap_or(0);
            if replicas > 5 {
                review_response(
                    uid,
                    json!({"allowed": false, "status": {"code": 403, "reason": "Forbidden", "message": format!("at most 5 replicas are allowed, not {replicas}")}}),
                )
            } else {
                review_response(
                    uid,
                    json!({"auditAnnotations": {"replicas": replicas.to_string()}}),
                )
            }
        }
        "/mutate" => {
            let has_labels = req["object"]["metadata"]["labels"].is_object();
            let patch = if has_labels {
                json!([{"op": "add", "path": "/metadata/labels/mutated", "value": mutations.to_string()}])
            } else {
                json!([{"op": "add", "path": "/metadata/labels", "value": {"mutated": mutations.to_string()}}])
            };
            let b64 = base64::engine::general_purpose::STANDARD
                .encode(serde_json::to_vec(&patch).unwrap_or_default());
            review_response(
                uid,
                json!({"patchType": "JSONPatch", "patch": b64, "warnings": ["mutated by the test webhook"], "auditAnnotations": {"mutated-by": "test-webhook"}}),
            )
        }
        "/add-init-container" => {
            let pod = &req["object"];
            let has_it = pod["spec"]["initContainers"].as_array().is_some_and(|l| {
                l.iter()
                    .any(|c| c["name"] == "webhook-added-init-container")
            });
            if pod["metadata"]["name"] != "webhook-to-be-mutated" || has_it {
                return review_response(uid, json!({}));
            }
            let patch = json!([{"op": "add", "path": "/spec/initContainers", "value": [
                {"image": "webhook-added-image", "name": "webhook-added-init-container", "resources": {}}
            ]}]);
            let b64 = base64::engine::general_purpose::STANDARD
                .encode(serde_json::to_vec(&patch).unwrap_or_default());
            review_response(uid, json!({"patchType": "JSONPatch", "patch": b64}))
        }
        "/require-defaults" => {
            let spec = &req["object"]["spec"];
            let policy = spec["containers"][0]["terminationMessagePolicy"].as_str();
            let restart = spec["restartPolicy"].as_str();
            if policy == Some("File") && restart == Some("Always") {
                review_response(uid, json!({}))
            } else {
                let message = format!(
                    "defaults missing: terminationMessagePolicy={}, restartPolicy={}",
                    policy.unwrap_or("<unset>"),
                    restart.unwrap_or("<unset>")
                );
                review_response(
                    uid,
                    json!({"allowed": false, "status": {"code": 403, "reason": "Forbidden", "message": message}}),
                )
            }
        }
        "/wrong-uid" => review_response("not-the-uid", json!({})),
        "/convert" => convert(review),
        "/convert-fail" => json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "ConversionReview",
            "response": {"uid": req["uid"], "result": {"status": "Failure", "message": "conversion is not possible"}},
        }),
        _ => review_response(uid, json!({})),
    }
}

impl TestWebhook {
    /// Starts the server; its certificate is valid for 127.0.0.1,
    /// localhost and `dns_names` (e.g. `hook.ns.svc`).
    pub async fn start(dns_names: &[&str]) -> Result<TestWebhook> {
        let (ca_pem, cert_pem, key_pem) = certs(dns_names)?;
        let certs: Vec<rustls::pki_types::CertificateDer<'static>> =
            rustls_pemfile::certs(&mut cert_pem.as_bytes()).collect::<Result<_, _>>()?;
        let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())?
            .ok_or_else(|| anyhow::anyhow!("no key"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let requests: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let recorded = requests.clone();
        let connections: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
        let accepted = connections.clone();
        let task = tokio::spawn(async move {
            let mutations = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let acceptor = acceptor.clone();
                let recorded = recorded.clone();
                let mutations = mutations.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let recorded = recorded.clone();
                        let mutations = mutations.clone();
                        async move {
                            let path = req.uri().path().to_string();
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|c| c.to_bytes())
                                .unwrap_or_default();
                            let review: Value =
                                serde_json::from_slice(&body).unwrap_or(Value::Null);
                            if let Ok(mut r) = recorded.lock() {
                                r.push((path.clone(), review.clone()));
                            }
                            let text = match path.as_str() {
                                "/hang" => {
                                    tokio::time::sleep(Duration::from_secs(30)).await;
                                    serde_json::to_vec(&answer("/allow", &review, 0))
                                        .unwrap_or_default()
                                }
                                "/garbage" => b"this is not json".to_vec(),
                                p => {
                                    let n = if p == "/mutate" {
                                        mutations.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                                            + 1
                                    } else {
                                        0
                                    };
                                    serde_json::to_vec(&answer(p, &review, n)).unwrap_or_default()
                                }
                            };
                            let mut resp = http::Response::new(Full::new(Bytes::from(text)));
                            resp.headers_mut().insert(
                                http::header::CONTENT_TYPE,
                                http::HeaderValue::from_static("application/json"),
                            );
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        Ok(TestWebhook {
            url: format!("https://127.0.0.1:{port}"),
            port,
            ca_pem,
            requests,
            connections,
            task,
        })
    }

    /// The reviews received on `path`.
    pub fn received(&self, path: &str) -> Vec<Value> {
        self.requests
            .lock()
            .map(|r| {
                r.iter()
                    .filter(|(p, _)| p == path)
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `caBundle` for a webhook configuration (base64 of the CA PEM).
    pub fn ca_bundle(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.ca_pem.as_bytes())
    }
}
