//! `conversion: Webhook`: the apiserver converts custom resources between
//! versions by calling an HTTPS conversion webhook it trusts through the
//! CRD's `caBundle`. The webhook here renames `spec.cronSpec` (v1, the
//! storage version) to `spec.schedule` (v2) and back.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use corten_e2e::TestCluster;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A CA and a serving certificate for 127.0.0.1.
fn webhook_pki() -> (String, rustls::ServerConfig) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".into()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let chain = vec![CertificateDer::from_pem_slice(cert.pem().as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    (ca_cert.pem(), config)
}

/// The conversion itself.
fn convert(review: &Value) -> Value {
    let req = &review["request"];
    let desired = req["desiredAPIVersion"].as_str().unwrap_or("");
    let objects: Vec<Value> = req["objects"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut o| {
            let spec = o["spec"].as_object_mut().cloned().unwrap_or_default();
            let mut spec = spec;
            if desired.ends_with("/v2") {
                if let Some(v) = spec.remove("cronSpec") {
                    spec.insert("schedule".into(), v);
                }
            } else if let Some(v) = spec.remove("schedule") {
                spec.insert("cronSpec".into(), v);
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

/// Serves one HTTP/1.1 request per connection on its own runtime thread,
/// so a blocked apiserver thread never stalls it.
fn start_webhook(config: rustls::ServerConfig, calls: Arc<AtomicUsize>) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            // Bounded: the test needs a few dozen calls at most.
            for _ in 0..500 {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let calls = calls.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let body_start = loop {
                        let Ok(n) = tls.read(&mut chunk).await else { return };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..body_start]).to_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < body_start + len {
                        let Ok(n) = tls.read(&mut chunk).await else { return };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    let review: Value =
                        serde_json::from_slice(&buf[body_start..body_start + len]).unwrap_or_default();
                    calls.fetch_add(1, Ordering::SeqCst);
                    let body = serde_json::to_vec(&convert(&review)).unwrap();
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = tls.write_all(head.as_bytes()).await;
                    let _ = tls.write_all(&body).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
    });
    port
}

fn crd(port: u16, ca_pem: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.conv.example.com
spec:
  group: conv.example.com
  scope: Namespaced
  names:
    plural: crontabs
    kind: CronTab
  conversion:
    strategy: Webhook
    webhook:
      conversionReviewVersions: ["v1"]
      clientConfig:
        url: https://127.0.0.1:{port}/convert
        caBundle: {ca}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec: {{type: string}}
  - name: v2
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              schedule: {{type: string}}
"#
    )
}

#[tokio::test]
async fn webhook_conversion_between_versions() {
    crate::with_timeout!(async {
        let (ca_pem, config) = webhook_pki();
        let calls = Arc::new(AtomicUsize::new(0));
        let port = start_webhook(config, calls.clone());
        let c = TestCluster::start().await.unwrap();
        c.kubectl_stdin(&["create", "-f", "-"], Some(&crd(port, &ca_pem)))
            .await
            .unwrap();
        c.kubectl_ok(&[
            "wait",
            "--for=condition=established",
            "--timeout=20s",
            "crd/crontabs.conv.example.com",
        ])
        .await
        .unwrap();
        // Created in v2: stored in v1 (converted by the webhook).
        let out = c
            .kubectl_stdin(
                &["create", "-f", "-"],
                Some("apiVersion: conv.example.com/v2\nkind: CronTab\nmetadata:\n  name: w\nspec:\n  schedule: \"*/5 * * * *\"\n"),
            )
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let store = c.etcd.store("/registry").await.unwrap();
        let kv = store
            .get("conv.example.com/crontabs/default/w")
            .await
            .unwrap()
            .unwrap();
        let stored: Value = serde_json::from_slice(&kv.value).unwrap();
        assert_eq!(stored["apiVersion"], "conv.example.com/v1");
        assert_eq!(stored["spec"], json!({"cronSpec": "*/5 * * * *"}));
        // Read in either version.
        let v2 = c
            .kubectl_ok(&[
                "get",
                "--raw",
                "/apis/conv.example.com/v2/namespaces/default/crontabs/w",
            ])
            .await
            .unwrap();
        let v2: Value = serde_json::from_str(&v2).unwrap();
        assert_eq!(v2["apiVersion"], "conv.example.com/v2");
        assert_eq!(v2["spec"], json!({"schedule": "*/5 * * * *"}));
        assert_eq!(v2["metadata"]["name"], "w");
        let v1 = c
            .kubectl_ok(&[
                "get",
                "--raw",
                "/apis/conv.example.com/v1/namespaces/default/crontabs/w",
            ])
            .await
            .unwrap();
        let v1: Value = serde_json::from_str(&v1).unwrap();
        assert_eq!(v1["spec"], json!({"cronSpec": "*/5 * * * *"}));
        let list = c
            .kubectl_ok(&[
                "get",
                "--raw",
                "/apis/conv.example.com/v2/namespaces/default/crontabs",
            ])
            .await
            .unwrap();
        let list: Value = serde_json::from_str(&list).unwrap();
        assert_eq!(list["items"][0]["spec"]["schedule"], "*/5 * * * *");
        // A merge patch in v2 goes through both conversions.
        c.kubectl_ok(&[
            "patch",
            "crontabs.v2.conv.example.com",
            "w",
            "--type=merge",
            "-p",
            r#"{"spec":{"schedule":"0 * * * *"}}"#,
        ])
        .await
        .unwrap();
        let kv = store
            .get("conv.example.com/crontabs/default/w")
            .await
            .unwrap()
            .unwrap();
        let stored: Value = serde_json::from_slice(&kv.value).unwrap();
        assert_eq!(stored["spec"], json!({"cronSpec": "0 * * * *"}));
        assert!(calls.load(Ordering::SeqCst) >= 5);
    });
}

/// The objects of every ConversionReview the webhook received.
fn review_sizes(hook: &corten_e2e::webhook_server::TestWebhook) -> Vec<usize> {
    hook.received("/convert")
        .iter()
        .map(|r| r["request"]["objects"].as_array().map_or(0, Vec::len))
        .collect()
}

// Multi-threaded: the apiserver blocks a thread during a conversion call
// while the test webhook answers on this runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversion_webhook_calls_keep_their_connection_and_lists_convert_in_one_review() {
    crate::with_timeout!(async {
        let hook = corten_e2e::webhook_server::TestWebhook::start(&[])
            .await
            .unwrap();
        let c = TestCluster::start().await.unwrap();
        let crd = crd(hook.port, &hook.ca_pem);
        let out = c
            .kubectl_stdin(&["create", "-f", "-"], Some(&crd))
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        c.kubectl_ok(&[
            "wait",
            "--for=condition=established",
            "--timeout=20s",
            "crd/crontabs.conv.example.com",
        ])
        .await
        .unwrap();
        for i in 0..5 {
            let yaml = format!(
                "apiVersion: conv.example.com/v2\nkind: CronTab\nmetadata:\n  name: t{i}\nspec:\n  schedule: \"{i} * * * *\"\n"
            );
            let out = c
                .kubectl_stdin(&["create", "-f", "-"], Some(&yaml))
                .await
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let before = review_sizes(&hook).len();
        assert!(before >= 5, "creates in v2 are converted: {before}");
        // A LIST in v2: the five stored objects go to the webhook in one review.
        let list = c
            .kubectl_ok(&[
                "get",
                "--raw",
                "/apis/conv.example.com/v2/namespaces/default/crontabs",
            ])
            .await
            .unwrap();
        let list: Value = serde_json::from_str(&list).unwrap();
        let schedules: Vec<&str> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["spec"]["schedule"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(schedules.len(), 5, "{list}");
        assert!(schedules.contains(&"3 * * * *"), "{list}");
        assert_eq!(list["items"][0]["apiVersion"], "conv.example.com/v2");
        let sizes = review_sizes(&hook);
        assert_eq!(&sizes[before..], &[5], "one review for the list: {sizes:?}");
        // A watch from "0" in v2: its initial events are converted together.
        let before = sizes.len();
        let events = c
            .kubectl_ok(&[
                "get",
                "--raw",
                "/apis/conv.example.com/v2/namespaces/default/crontabs?watch=true&resourceVersion=0&timeoutSeconds=1",
            ])
            .await
            .unwrap();
        let added: Vec<Value> = events
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["type"] == "ADDED")
            .collect();
        assert_eq!(added.len(), 5, "{events}");
        assert!(
            added
                .iter()
                .all(|e| e["object"]["spec"]["schedule"].is_string()
                    && e["object"]["apiVersion"] == "conv.example.com/v2"),
            "{events}"
        );
        let sizes = review_sizes(&hook);
        assert_eq!(
            &sizes[before..],
            &[5],
            "one review for the initial events: {sizes:?}"
        );
        // Every call went over one kept HTTPS connection.
        assert_eq!(
            hook.connections.load(Ordering::SeqCst),
            1,
            "{} reviews",
            sizes.len()
        );
        let metrics = c.kubectl_ok(&["get", "--raw", "/metrics"]).await.unwrap();
        assert!(
            metrics.contains(r#"apiserver_crd_conversion_webhook_duration_seconds_count{crd_name="crontabs.conv.example.com",from_version="v1",succeeded="true",to_version="v2"}"#),
            "{metrics}"
        );

        // A webhook that fails: the LIST fails with upstream's message.
        let patch = format!(
            r#"{{"spec":{{"conversion":{{"webhook":{{"clientConfig":{{"url":"https://127.0.0.1:{}/convert-fail"}}}}}}}}}}"#,
            hook.port
        );
        c.kubectl_ok(&[
            "patch",
            "crd",
            "crontabs.conv.example.com",
            "--type=merge",
            "-p",
            &patch,
        ])
        .await
        .unwrap();
        let mut last = String::new();
        for _ in 0..50 {
            let out = c
                .kubectl(&[
                    "get",
                    "--raw",
                    "/apis/conv.example.com/v2/namespaces/default/crontabs",
                ])
                .await
                .unwrap();
            last = String::from_utf8_lossy(&out.stderr).into_owned();
            if !out.status.success() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        assert!(
            last.contains("conversion webhook for conv.example.com/v1, Kind=CronTab failed: conversion is not possible"),
            "{last}"
        );
        let metrics = c.kubectl_ok(&["get", "--raw", "/metrics"]).await.unwrap();
        assert!(
            metrics.contains(r#"apiserver_conversion_webhook_request_total{failure_type="conversion_webhook_malformed_response_failure",result="failure"}"#),
            "{metrics}"
        );
    });
}

async fn ssa(c: &TestCluster, manager: &str, yaml: &str, force: bool) -> std::process::Output {
    let flag = format!("--field-manager={manager}");
    let mut args = vec!["apply", "--server-side", flag.as_str(), "-f", "-"];
    if force {
        args.push("--force-conflicts");
    }
    c.kubectl_stdin(&args, Some(yaml)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_in_one_version_conflicts_with_owners_in_another() {
    crate::with_timeout!(async {
        let hook = corten_e2e::webhook_server::TestWebhook::start(&[])
            .await
            .unwrap();
        let c = TestCluster::start().await.unwrap();
        let out = c
            .kubectl_stdin(&["create", "-f", "-"], Some(&crd(hook.port, &hook.ca_pem)))
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        c.kubectl_ok(&[
            "wait",
            "--for=condition=established",
            "--timeout=20s",
            "crd/crontabs.conv.example.com",
        ])
        .await
        .unwrap();
        let v1 = "apiVersion: conv.example.com/v1\nkind: CronTab\nmetadata:\n  name: m\nspec:\n  cronSpec: \"1 * * * *\"\n";
        let out = ssa(&c, "a", v1, false).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // b applies the same field as v2 names it: compared in a's
        // version (converted by the webhook), it is a's field.
        let v2 = "apiVersion: conv.example.com/v2\nkind: CronTab\nmetadata:\n  name: m\nspec:\n  schedule: \"2 * * * *\"\n";
        let out = ssa(&c, "b", v2, false).await;
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(r#"Apply failed with 1 conflict: conflict with "a": .spec.cronSpec"#),
            "{err}"
        );
        let out = ssa(&c, "b", v2, true).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = "/apis/conv.example.com/v2/namespaces/default/crontabs/m";
        let obj: Value =
            serde_json::from_str(&c.kubectl_ok(&["get", "--raw", path]).await.unwrap()).unwrap();
        assert_eq!(obj["spec"], json!({"schedule": "2 * * * *"}));
        let entries = obj["metadata"]["managedFields"].as_array().unwrap();
        let b = entries.iter().find(|e| e["manager"] == "b").unwrap();
        assert_eq!(b["apiVersion"], "conv.example.com/v2");
        assert_eq!(b["operation"], "Apply");
        assert!(b["fieldsV1"]["f:spec"]["f:schedule"].is_object(), "{b}");
        // a lost the field (and with it its entry).
        assert!(
            entries
                .iter()
                .filter(|e| e["manager"] == "a")
                .all(|e| e["fieldsV1"]["f:spec"].get("f:cronSpec").is_none()),
            "{entries:?}"
        );
    });
}
