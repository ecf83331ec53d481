use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use corten_dns::options::Options;
use corten_e2e::TestCluster;
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

/// Runs `dig @addr -p port <args>` and returns its short output lines.
/// corten-dns's kubeconfig: user system:corten-dns with only the roles of
/// deploy/dns/rbac.yaml, as `corten up` runs it.
async fn dns_kubeconfig(cluster: &TestCluster) -> String {
    let rbac = include_str!("../../../../deploy/dns/rbac.yaml");
    corten_e2e::fixtures::apply_ok(cluster, rbac).await;
    let path = cluster.user_kubeconfig("system:corten-dns", &[]).unwrap();
    path.display().to_string()
}

async fn dig(server: SocketAddr, args: &[&str]) -> String {
    let out = tokio::process::Command::new("dig")
        .arg(format!("@{}", server.ip()))
        .arg("-p")
        .arg(server.port().to_string())
        .args(["+time=2", "+tries=1"])
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .expect("dig is installed (apt dnsutils)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Retries `dig` until `check` accepts its output (at most 20 s).
async fn dig_until(server: SocketAddr, args: &[&str], check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = dig(server, args).await;
        if check(&out) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "dig {args:?} never matched; last output:\n{out}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn lines(out: &str) -> Vec<String> {
    let mut v: Vec<String> = out
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    v
}

/// A fake upstream resolver on loopback answering every A query with
/// 192.0.2.1 (TTL 60); counts the queries it gets.
async fn fake_upstream() -> (SocketAddr, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let queries = Arc::new(AtomicUsize::new(0));
    let counter = queries.clone();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut answer = Message::new();
            answer
                .set_id(query.id())
                .set_message_type(MessageType::Response)
                .set_recursion_available(true)
                .set_response_code(ResponseCode::NoError);
            answer.add_queries(query.queries().to_vec());
            if let Some(q) = query.query() {
                answer.add_answer(Record::from_rdata(
                    q.name().clone(),
                    60,
                    RData::A(A("192.0.2.1".parse().unwrap())),
                ));
            }
            let _ = socket.send_to(&answer.to_vec().unwrap(), peer).await;
        }
    });
    (addr, queries, task)
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolves_services_and_endpoints_from_the_api_with_dig() {
    let test = async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let services: Api<Service> = Api::namespaced(client.clone(), "default");
        let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
        let web: Service = serde_json::from_value(json!({
            "metadata": {"name": "web"},
            "spec": {"ports": [{"name": "http", "port": 80}]}
        }))
        .unwrap();
        let web = services.create(&PostParams::default(), &web).await.unwrap();
        let web_ip = web.spec.unwrap().cluster_ip.unwrap();
        let db: Service = serde_json::from_value(json!({
            "metadata": {"name": "db"},
            "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}
        }))
        .unwrap();
        services.create(&PostParams::default(), &db).await.unwrap();
        let slice: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": "db-1", "labels": {"kubernetes.io/service-name": "db"}},
            "addressType": "IPv4",
            "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}],
            "endpoints": [
                {"addresses": ["10.244.1.5"], "hostname": "db-0"},
                {"addresses": ["10.244.2.5"], "hostname": "db-1"}
            ]
        }))
        .unwrap();
        slices.create(&PostParams::default(), &slice).await.unwrap();

        let (upstream, upstream_queries, upstream_task) = fake_upstream().await;
        let dns_port = free_port();
        let (health, ready, metrics) = (free_port(), free_port(), free_port());
        let kubeconfig = dns_kubeconfig(&cluster).await;
        let config = Options::try_parse_from([
            "corten-dns".to_string(),
            format!("--kubeconfig={kubeconfig}"),
            format!("--listen=127.0.0.1:{dns_port}"),
            format!("--upstream={upstream}"),
            format!("--health-address=127.0.0.1:{health}"),
            format!("--ready-address=127.0.0.1:{ready}"),
            format!("--metrics-address=127.0.0.1:{metrics}"),
        ])
        .unwrap()
        .complete()
        .unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(corten_dns::app::run(
            config,
            async move {
                let _ = stop_rx.await;
            },
            move |b| {
                let _ = bound_tx.send(b);
            },
        ));
        let addr = bound_rx.await.unwrap().dns;

        let out = dig_until(
            addr,
            &["+short", "web.default.svc.cluster.local", "A"],
            |o| !o.trim().is_empty(),
        )
        .await;
        assert_eq!(out.trim(), web_ip);
        // Over TCP too.
        let out = dig(addr, &["+tcp", "+short", "web.default.svc.cluster.local"]).await;
        assert_eq!(out.trim(), web_ip);

        let out = dig_until(addr, &["+short", "db.default.svc.cluster.local"], |o| {
            o.lines().count() == 2
        })
        .await;
        assert_eq!(lines(&out), vec!["10.244.1.5", "10.244.2.5"]);
        let out = dig(addr, &["+short", "db-1.db.default.svc.cluster.local"]).await;
        assert_eq!(out.trim(), "10.244.2.5");

        let out = dig(
            addr,
            &["+short", "_http._tcp.web.default.svc.cluster.local", "SRV"],
        )
        .await;
        assert_eq!(out.trim(), "0 100 80 web.default.svc.cluster.local.");
        let out = dig(
            addr,
            &["+short", "_pg._tcp.db.default.svc.cluster.local", "SRV"],
        )
        .await;
        assert_eq!(
            lines(&out),
            vec![
                "0 50 5432 db-0.db.default.svc.cluster.local.",
                "0 50 5432 db-1.db.default.svc.cluster.local."
            ]
        );

        let out = dig(addr, &["+short", "-x", &web_ip]).await;
        assert_eq!(out.trim(), "web.default.svc.cluster.local.");

        let out = dig(addr, &["nope.default.svc.cluster.local"]).await;
        assert!(out.contains("status: NXDOMAIN"), "{out}");
        assert!(out.contains("flags: qr aa rd ra"), "authoritative: {out}");

        // Other names go to the upstream, once: the answer is cached with
        // its TTL capped at 30 s.
        let out = dig(addr, &["+short", "www.example.test"]).await;
        assert_eq!(out.trim(), "192.0.2.1");
        // (dig may have retried a slow first answer: count from here.)
        let asked = upstream_queries.load(Ordering::SeqCst);
        assert!(asked >= 1);
        let out = dig(addr, &["+noall", "+answer", "www.example.test"]).await;
        let ttl: u32 = out
            .split_whitespace()
            .nth(1)
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("an answer with a TTL: {out}"));
        assert!(ttl <= 30, "{out}");
        assert!(out.contains("192.0.2.1"), "{out}");
        assert_eq!(
            upstream_queries.load(Ordering::SeqCst),
            1,
            "served from cache"
        );

        // Changes through the API show up.
        slices
            .delete("db-1", &DeleteParams::default())
            .await
            .unwrap();
        dig_until(addr, &["+short", "db.default.svc.cluster.local"], |o| {
            o.trim().is_empty()
        })
        .await;
        services
            .delete("web", &DeleteParams::default())
            .await
            .unwrap();
        dig_until(addr, &["web.default.svc.cluster.local"], |o| {
            o.contains("status: NXDOMAIN")
        })
        .await;

        // Ops endpoints like CoreDNS.
        let get = |port: u16, path: &'static str| async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            s.write_all(
                format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            )
            .await
            .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let h = get(health, "/health").await;
        assert!(h.starts_with("HTTP/1.1 200") && h.ends_with("OK"), "{h}");
        let r = get(ready, "/ready").await;
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        let m = get(metrics, "/metrics").await;
        assert!(m.contains("coredns_dns_requests_total{"), "{m}");
        assert!(m.contains("rcode=\"NXDOMAIN\""), "{m}");
        assert!(
            m.contains(&format!(
                "coredns_forward_requests_total{{to=\"{upstream}\"}}"
            )),
            "{m}"
        );
        assert!(
            m.lines().any(|l| l.starts_with("coredns_cache_hits_total{")
                && l.contains("type=\"success\"")
                && !l.ends_with(" 0")),
            "{m}"
        );

        stop_tx.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("stops on shutdown")
            .unwrap()
            .unwrap();
        upstream_task.abort();
    };
    tokio::time::timeout(Duration::from_secs(120), test)
        .await
        .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_other_names_without_upstreams() {
    let test = async {
        let cluster = TestCluster::start().await.unwrap();
        let config = Options::try_parse_from([
            "corten-dns".to_string(),
            format!("--kubeconfig={}", cluster.kubeconfig.display()),
            "--listen=127.0.0.1:0".to_string(),
            "--health-address=".to_string(),
            "--ready-address=".to_string(),
            "--metrics-address=".to_string(),
        ])
        .unwrap()
        .complete()
        .unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(corten_dns::app::run(
            config,
            async move {
                let _ = stop_rx.await;
            },
            move |b| {
                let _ = bound_tx.send(b);
            },
        ));
        let Ok(bound) = bound_rx.await else {
            panic!("corten-dns failed to start: {:?}", server.await);
        };
        let addr = bound.dns;
        let out = dig(addr, &["www.example.test"]).await;
        assert!(out.contains("status: REFUSED"), "{out}");
        let out = dig_until(
            addr,
            &["+short", "kubernetes.default.svc.cluster.local"],
            |o| !o.trim().is_empty(),
        )
        .await;
        assert!(
            out.trim().starts_with("10.96."),
            "the apiserver's own Service: {out}"
        );

        // A second server on an address this host does not have (TEST-NET-1,
        // bound with IP_FREEBIND; nothing is sent to it) publishes itself as
        // kube-system/kube-dns.
        let kubeconfig = dns_kubeconfig(&cluster).await;
        let publisher = Options::try_parse_from([
            "corten-dns".to_string(),
            format!("--kubeconfig={kubeconfig}"),
            "--listen=192.0.2.53:0".to_string(),
            "--freebind".to_string(),
            "--kube-dns-service-ip=10.96.0.10".to_string(),
            "--hostname-override=node-1".to_string(),
            "--health-address=".to_string(),
            "--ready-address=".to_string(),
            "--metrics-address=".to_string(),
        ])
        .unwrap()
        .complete()
        .unwrap();
        let (pub_stop_tx, pub_stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (pub_bound_tx, pub_bound_rx) = tokio::sync::oneshot::channel();
        let publisher = tokio::spawn(corten_dns::app::run(
            publisher,
            async move {
                let _ = pub_stop_rx.await;
            },
            move |b| {
                let _ = pub_bound_tx.send(b);
            },
        ));
        let Ok(pub_bound) = pub_bound_rx.await else {
            panic!(
                "the publishing corten-dns failed to start: {:?}",
                publisher.await
            );
        };
        let out = dig_until(
            addr,
            &["+short", "kube-dns.kube-system.svc.cluster.local"],
            |o| !o.trim().is_empty(),
        )
        .await;
        assert_eq!(out.trim(), "10.96.0.10");
        let client = cluster.client().await.unwrap();
        let slice = Api::<EndpointSlice>::namespaced(client, "kube-system")
            .get("kube-dns-corten-dns")
            .await
            .unwrap();
        assert_eq!(slice.endpoints[0].addresses, vec!["192.0.2.53".to_string()]);
        assert_eq!(slice.endpoints[0].node_name.as_deref(), Some("node-1"));
        let ports = slice.ports.unwrap();
        assert_eq!(ports.len(), 2, "dns and dns-tcp");
        assert!(
            ports
                .iter()
                .all(|p| p.port == Some(i32::from(pub_bound.dns.port())))
        );
        pub_stop_tx.send(()).unwrap();
        publisher.await.unwrap().unwrap();

        stop_tx.send(()).unwrap();
        server.await.unwrap().unwrap();
    };
    tokio::time::timeout(Duration::from_secs(120), test)
        .await
        .expect("test timed out");
}
