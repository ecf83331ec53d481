//! apiserver write/list benchmark (not a test): prints ratios against raw
//! etcd measured in the same run on the same machine.
//!
//! 1. raw etcd: N put-if-absent transactions of ~1.5 KB values with C
//!    concurrent clients;
//! 2. the kube-apiserver binary (a separate process, so its RSS is its
//!    own), locked down like `corten up` (client certificates, Node+RBAC,
//!    default admission plugins): N pod creates by a user that RBAC allows
//!    through a RoleBinding, C concurrent requests multiplexed on HTTP/2
//!    as client-go does (`--connections` TLS connections, default 1), each
//!    body JSON-encoded before the clock starts; afterwards a LIST checks
//!    that every pod was stored with its own resourceVersion and admitted;
//! 3. LIST of all N pods (consistent and resourceVersion=0);
//! 4. apiserver RSS before and after;
//! 5. CPU time (user + system, from /proc/<pid>/stat) per write of the
//!    apiserver, of etcd and of the benchmark's own clients, raw and behind
//!    the apiserver.
//!
//! Usage: apiserver-bench [--pods N] [--concurrency C] [--connections K]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine;
use bytes::Bytes;
use corten_e2e::procstat::{cpu_seconds, rss_kib};
use corten_storage::testing::EtcdServer;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The pod the benchmark creates, as JSON (the load generator sends these
/// bytes; they are encoded before the clock starts, as a controller's
/// client would have its object at hand).
fn pod_json(i: usize) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("bench-{i:06}"),
            "labels": {"app": "bench", "tier": "backend", "shard": format!("s{}", i % 16)},
            "annotations": {"bench.corten.dev/note": "x".repeat(200)},
        },
        "spec": {
            "containers": [{
                "name": "app",
                "image": "registry.local/bench/app:1.0",
                "args": ["--port=8080", "--verbose"],
                "ports": [{"containerPort": 8080, "name": "http"}],
                "env": [{"name": "MODE", "value": "bench"}, {"name": "SHARD", "value": format!("{}", i % 16)}],
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
            }],
            "nodeSelector": {"kubernetes.io/os": "linux"},
        },
    }))
    .expect("static pod")
}

async fn raw_etcd(etcd: &EtcdServer, n: usize, c: usize) -> Result<f64> {
    let store = etcd.store("/bench-raw").await?;
    let value = vec![b'x'; 1536];
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..c {
        let store = store.clone();
        let next = next.clone();
        let value = value.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                store
                    .create(&format!("pods/bench/raw-{i:06}"), value.clone())
                    .await?;
            }
            Ok::<_, corten_storage::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// PEM files of the benchmark's cluster.
struct Pki {
    ca: String,
    /// CN=kubernetes-admin, O=system:masters: sets the namespace up and
    /// lists.
    admin: (String, String),
    /// CN=bench-writer, no groups: creates the pods, allowed by a RoleBinding
    /// only, so every create goes through RBAC.
    writer: (String, String),
}

fn write_pki(dir: &std::path::Path) -> Result<Pki> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "apiserver-bench-ca");
    let ca = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate()?;
    let cert = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])?
        .signed_by(&key, &issuer)?;
    std::fs::write(dir.join("apiserver.crt"), cert.pem())?;
    std::fs::write(dir.join("apiserver.key"), key.serialize_pem())?;
    std::fs::write(dir.join("ca.crt"), ca.pem())?;
    let client = |user: &str, groups: &[&str]| -> Result<(String, String)> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, user);
        for g in groups {
            params.distinguished_name.push(DnType::OrganizationName, *g);
        }
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        Ok((params.signed_by(&key, &issuer)?.pem(), key.serialize_pem()))
    };
    Ok(Pki {
        ca: ca.pem(),
        admin: client("kubernetes-admin", &["system:masters"])?,
        writer: client("bench-writer", &[])?,
    })
}

/// A kube-rs client for a client certificate.
async fn kube_client(port: u16, ca: &str, (cert, key): &(String, String)) -> Result<kube::Client> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: b\n  cluster:\n    server: https://127.0.0.1:{port}\n    certificate-authority-data: {}\nusers:\n- name: b\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: b\n  context: {{cluster: b, user: b}}\ncurrent-context: b\n",
        b64(ca),
        b64(cert),
        b64(key)
    );
    let kc: kube::config::Kubeconfig = serde_yaml::from_str(&kubeconfig)?;
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    cfg.read_timeout = Some(Duration::from_secs(60));
    Ok(kube::Client::try_from(cfg)?)
}

/// The load generator's connection, as client-go makes it: TLS with the
/// writer's client certificate, HTTP/2 (ALPN h2), requests multiplexed as
/// streams on it.
async fn h2_connection(
    port: u16,
    ca: &str,
    (cert, key): &(String, String),
) -> Result<hyper::client::conn::http2::SendRequest<Full<Bytes>>> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut ca.as_bytes()) {
        roots.add(c?)?;
    }
    let chain = rustls_pemfile::certs(&mut cert.as_bytes()).collect::<Result<Vec<_>, _>>()?;
    let key = rustls_pemfile::private_key(&mut key.as_bytes())?.context("no client key")?;
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)?;
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.set_nodelay(true)?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1")?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(name, tcp)
        .await?;
    let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake(TokioIo::new(stream))
        .await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            eprintln!("load generator connection ended: {e}");
        }
    });
    Ok(sender)
}

/// Creates pods `next..n` (shared counter) through `sender`; every answer
/// must be 201 Created.
async fn create_pods(
    mut sender: hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    uri: Arc<str>,
    bodies: Arc<Vec<Bytes>>,
    next: Arc<AtomicUsize>,
) -> Result<()> {
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(body) = bodies.get(i) else {
            return Ok(());
        };
        sender.ready().await?;
        let req = http::Request::post(&*uri)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(body.clone()))?;
        let resp = sender.send_request(req).await?;
        let status = resp.status();
        let answer = resp.into_body().collect().await?.to_bytes();
        if status != http::StatusCode::CREATED {
            bail!("create {i}: {status}: {}", String::from_utf8_lossy(&answer));
        }
    }
}

/// Every pod was stored once, with its own etcd revision, and went through
/// admission (the ServiceAccount plugin set its account and token volume).
async fn check_created(admin: &kube::Client, n: usize) -> Result<()> {
    let req = http::Request::get("/api/v1/namespaces/bench/pods").body(Vec::new())?;
    let list: Value = serde_json::from_str(&admin.request_text(req).await?)?;
    let items = list["items"].as_array().context("no items")?;
    let revisions: std::collections::HashSet<&str> = items
        .iter()
        .filter_map(|p| p["metadata"]["resourceVersion"].as_str())
        .collect();
    let admitted = items
        .iter()
        .filter(|p| {
            p["spec"]["serviceAccountName"] == "default"
                && p["spec"]["volumes"][0]["name"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("kube-api-access-"))
        })
        .count();
    if items.len() != n || revisions.len() != n || admitted != n {
        bail!(
            "expected {n} pods with distinct resourceVersions, all admitted; got {} pods, {} revisions, {admitted} admitted",
            items.len(),
            revisions.len()
        );
    }
    Ok(())
}

fn apiserver_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("no exe dir")?;
    let p = dir.join("kube-apiserver");
    if p.exists() {
        return Ok(p);
    }
    bail!(
        "kube-apiserver not found next to {} (build it with the same profile)",
        exe.display()
    )
}

#[tokio::main]
async fn main() -> Result<()> {
    let n = arg("--pods", 10_000);
    let c = arg("--concurrency", 64);
    let conns = arg("--connections", 1).max(1);
    println!(
        "apiserver-bench: {n} objects, {c} concurrent clients ({conns} HTTP/2 connection(s) to the apiserver)"
    );
    let etcd = EtcdServer::start().await?;

    let etcd_pid = etcd.pid().unwrap_or(0);
    let me = std::process::id();
    let (etcd_cpu, client_cpu) = (cpu_seconds(etcd_pid), cpu_seconds(me));
    let raw = raw_etcd(&etcd, n, c).await?;
    let etcd_raw_ms = (cpu_seconds(etcd_pid) - etcd_cpu) * 1000.0 / n as f64;
    let client_raw_ms = (cpu_seconds(me) - client_cpu) * 1000.0 / n as f64;
    println!("raw etcd put-if-absent txn:        {raw:>10.0} /s");

    let dir = tempfile::tempdir()?;
    let pki = write_pki(dir.path())?;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let path = |f: &str| dir.path().join(f).display().to_string();
    // Locked down like `corten up` and kubeadm: client certificates from
    // the cluster CA, Node and RBAC authorization, the default admission
    // plugins plus NodeRestriction.
    let mut child = tokio::process::Command::new(apiserver_binary()?)
        .args([
            format!("--etcd-servers={}", etcd.endpoint()),
            format!("--secure-port={port}"),
            "--bind-address=127.0.0.1".into(),
            format!("--tls-cert-file={}", path("apiserver.crt")),
            format!("--tls-private-key-file={}", path("apiserver.key")),
            format!("--client-ca-file={}", path("ca.crt")),
            "--authorization-mode=Node,RBAC".into(),
            "--enable-admission-plugins=NodeRestriction".into(),
            "--service-cluster-ip-range=10.96.0.0/16".into(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting kube-apiserver")?;
    let pid = child.id().unwrap_or(0);
    let admin = kube_client(port, &pki.ca, &pki.admin).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let req = http::Request::get("/readyz").body(Vec::new())?;
        if admin
            .request_text(req)
            .await
            .is_ok_and(|t| t.trim() == "ok")
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("apiserver not ready");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rss_before = rss_kib(pid);
    // What a cluster has before a controller writes pods: the namespace,
    // its `default` ServiceAccount (the ServiceAccount admission plugin
    // looks it up and mounts its token), and the writer's permission.
    for (path, obj) in [
        ("/api/v1/namespaces", json!({"metadata": {"name": "bench"}})),
        (
            "/api/v1/namespaces/bench/serviceaccounts",
            json!({"metadata": {"name": "default"}}),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/namespaces/bench/roles",
            json!({"metadata": {"name": "pod-writer"},
                   "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "get", "list"]}]}),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/namespaces/bench/rolebindings",
            json!({"metadata": {"name": "pod-writer"},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-writer"},
                   "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bench-writer"}]}),
        ),
    ] {
        let req = http::Request::post(path)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(&obj)?)?;
        admin
            .request_text(req)
            .await
            .with_context(|| format!("creating {obj} at {path}"))?;
    }

    let bodies: Arc<Vec<Bytes>> = Arc::new((0..n).map(|i| Bytes::from(pod_json(i))).collect());
    let mut senders = Vec::new();
    for _ in 0..conns {
        senders.push(h2_connection(port, &pki.ca, &pki.writer).await?);
    }
    let uri: Arc<str> = format!("https://127.0.0.1:{port}/api/v1/namespaces/bench/pods").into();
    let next = Arc::new(AtomicUsize::new(0));
    let (api_cpu, etcd_cpu, client_cpu) =
        (cpu_seconds(pid), cpu_seconds(etcd_pid), cpu_seconds(me));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..c {
        tasks.push(tokio::spawn(create_pods(
            senders[t % senders.len()].clone(),
            uri.clone(),
            bodies.clone(),
            next.clone(),
        )));
    }
    for t in tasks {
        t.await??;
    }
    let api_rate = n as f64 / started.elapsed().as_secs_f64();
    let api_ms = (cpu_seconds(pid) - api_cpu) * 1000.0 / n as f64;
    let etcd_ms = (cpu_seconds(etcd_pid) - etcd_cpu) * 1000.0 / n as f64;
    let client_ms = (cpu_seconds(me) - client_cpu) * 1000.0 / n as f64;
    drop(senders);
    println!("apiserver pod creates:             {api_rate:>10.0} /s");
    println!(
        "ratio apiserver/raw etcd:          {:>10.2}  (target >= 0.70)",
        api_rate / raw
    );
    println!(
        "CPU per write: apiserver {api_ms:.3} ms, etcd {etcd_ms:.3} ms (raw etcd {etcd_raw_ms:.3} ms)"
    );
    // The clients share the machine: on few cores their CPU bounds both
    // rates, and with them the ratio.
    println!(
        "CPU per write of this benchmark's clients: HTTP/2 writer {client_ms:.3} ms (raw etcd client {client_raw_ms:.3} ms)"
    );
    check_created(&admin, n).await?;

    let client = admin;
    for (label, query) in [
        ("consistent (resourceVersion unset)", ""),
        ("from cache (resourceVersion=0)", "?resourceVersion=0"),
    ] {
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..5 {
            let req = http::Request::get(format!("/api/v1/namespaces/bench/pods{query}"))
                .body(Vec::new())?;
            let t = Instant::now();
            let body = client.request_text(req).await?;
            times.push(t.elapsed());
            bytes = body.len();
        }
        times.sort();
        println!(
            "LIST {n} pods, {label}: median {:>7.1} ms, min {:>7.1} ms ({:.1} MB)",
            times[2].as_secs_f64() * 1000.0,
            times[0].as_secs_f64() * 1000.0,
            bytes as f64 / 1e6
        );
    }
    let rss_after = rss_kib(pid);
    println!(
        "apiserver RSS: {:.1} MiB at start, {:.1} MiB with {n} pods",
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0
    );
    let _ = child.kill().await;
    Ok(())
}
