//! Record store and handler tests (no sockets).

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::json;

use crate::server::{Handler, Transport};
use crate::store::{Lookup, RecordStore, reverse_ip};

fn service(value: serde_json::Value) -> Service {
    serde_json::from_value(value).unwrap()
}

fn slice(value: serde_json::Value) -> EndpointSlice {
    serde_json::from_value(value).unwrap()
}

fn store() -> RecordStore {
    let mut s = RecordStore::new("cluster.local", 5).unwrap();
    s.apply_service(&service(json!({
        "metadata": {"namespace": "default", "name": "web"},
        "spec": {"clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20", "fd00::20"],
                 "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"port": 81}]}
    })));
    s.apply_service(&service(json!({
        "metadata": {"namespace": "default", "name": "db"},
        "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}
    })));
    s.apply_slice(&slice(json!({
        "metadata": {"namespace": "default", "name": "db-1", "labels": {"kubernetes.io/service-name": "db"}},
        "addressType": "IPv4",
        "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": ["10.244.1.5"], "hostname": "db-0"},
            {"addresses": ["10.244.2.5"]},
            {"addresses": ["10.244.3.5"], "conditions": {"ready": false}}
        ]
    })));
    s.apply_service(&service(json!({
        "metadata": {"namespace": "default", "name": "ext"},
        "spec": {"type": "ExternalName", "externalName": "example.org"}
    })));
    s
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn answers(lookup: &Lookup) -> (ResponseCode, Vec<String>) {
    match lookup {
        Lookup::Answer { rcode, answers, .. } => (
            *rcode,
            answers.iter().map(|r| r.data().to_string()).collect(),
        ),
        Lookup::NotOurs => panic!("expected an answer, got NotOurs"),
    }
}

#[test]
fn cluster_ip_services_answer_a_and_aaaa() {
    let s = store();
    let (rcode, a) = answers(&s.lookup(&name("web.default.svc.cluster.local."), RecordType::A));
    assert_eq!(
        (rcode, a),
        (ResponseCode::NoError, vec!["10.96.0.20".to_string()])
    );
    let (_, aaaa) = answers(&s.lookup(&name("WEB.Default.svc.cluster.local."), RecordType::AAAA));
    assert_eq!(aaaa, vec!["fd00::20".to_string()]);
    // The name exists but has no MX: NODATA with the SOA.
    match s.lookup(&name("web.default.svc.cluster.local."), RecordType::MX) {
        Lookup::Answer {
            rcode,
            answers,
            authority,
            ..
        } => {
            assert_eq!(rcode, ResponseCode::NoError);
            assert!(answers.is_empty());
            assert_eq!(authority[0].record_type(), RecordType::SOA);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn missing_names_in_the_zone_are_nxdomain_and_others_not_ours() {
    let s = store();
    for missing in [
        "nope.default.svc.cluster.local.",
        "web.other.svc.cluster.local.",
        "a.b.c.d.e.f.cluster.local.",
        "x.cluster.local.",
    ] {
        let (rcode, _) = answers(&s.lookup(&name(missing), RecordType::A));
        assert_eq!(rcode, ResponseCode::NXDomain, "{missing}");
    }
    assert_eq!(
        s.lookup(&name("example.org."), RecordType::A),
        Lookup::NotOurs
    );
    let (rcode, a) = answers(&s.lookup(&name("default.svc.cluster.local."), RecordType::A));
    assert_eq!(
        (rcode, a.len()),
        (ResponseCode::NoError, 0),
        "namespaces exist as names"
    );
}

#[test]
fn headless_services_answer_with_ready_endpoints_and_hostnames() {
    let s = store();
    let (_, mut a) = answers(&s.lookup(&name("db.default.svc.cluster.local."), RecordType::A));
    a.sort();
    assert_eq!(
        a,
        vec!["10.244.1.5", "10.244.2.5"],
        "not-ready endpoints are not published"
    );
    let (_, a) = answers(&s.lookup(&name("db-0.db.default.svc.cluster.local."), RecordType::A));
    assert_eq!(a, vec!["10.244.1.5"]);
    let (_, a) = answers(&s.lookup(
        &name("10-244-2-5.db.default.svc.cluster.local."),
        RecordType::A,
    ));
    assert_eq!(a, vec!["10.244.2.5"]);
    let (rcode, _) = answers(&s.lookup(&name("db-9.db.default.svc.cluster.local."), RecordType::A));
    assert_eq!(rcode, ResponseCode::NXDomain);
    let (rcode, _) = answers(&s.lookup(&name("x.web.default.svc.cluster.local."), RecordType::A));
    assert_eq!(
        rcode,
        ResponseCode::NXDomain,
        "only headless services have endpoint names"
    );
}

#[test]
fn srv_records_for_named_ports() {
    let s = store();
    match s.lookup(
        &name("_http._tcp.web.default.svc.cluster.local."),
        RecordType::SRV,
    ) {
        Lookup::Answer {
            answers,
            additionals,
            ..
        } => {
            assert_eq!(answers.len(), 1);
            let RData::SRV(srv) = answers[0].data() else {
                panic!()
            };
            assert_eq!(srv.port(), 80);
            assert_eq!(srv.target().to_ascii(), "web.default.svc.cluster.local.");
            assert_eq!(additionals.len(), 2, "A and AAAA of the target");
        }
        other => panic!("{other:?}"),
    }
    match s.lookup(
        &name("_pg._tcp.db.default.svc.cluster.local."),
        RecordType::SRV,
    ) {
        Lookup::Answer {
            answers,
            additionals,
            ..
        } => {
            let mut targets: Vec<String> = answers
                .iter()
                .map(|r| match r.data() {
                    RData::SRV(srv) => format!("{} {}", srv.target(), srv.port()),
                    _ => panic!(),
                })
                .collect();
            targets.sort();
            assert_eq!(
                targets,
                vec![
                    "10-244-2-5.db.default.svc.cluster.local. 5432",
                    "db-0.db.default.svc.cluster.local. 5432"
                ]
            );
            assert_eq!(additionals.len(), 2);
        }
        other => panic!("{other:?}"),
    }
    let (rcode, _) = answers(&s.lookup(
        &name("_nope._tcp.web.default.svc.cluster.local."),
        RecordType::SRV,
    ));
    assert_eq!(rcode, ResponseCode::NXDomain);
    let (rcode, _) = answers(&s.lookup(
        &name("_http._udp.web.default.svc.cluster.local."),
        RecordType::SRV,
    ));
    assert_eq!(rcode, ResponseCode::NXDomain, "protocol must match");
}

#[test]
fn external_name_pods_and_ptr() {
    let s = store();
    let (_, cname) = answers(&s.lookup(&name("ext.default.svc.cluster.local."), RecordType::A));
    assert_eq!(cname, vec!["example.org."]);
    let (_, a) = answers(&s.lookup(
        &name("10-244-9-9.default.pod.cluster.local."),
        RecordType::A,
    ));
    assert_eq!(a, vec!["10.244.9.9"]);
    let (_, ptr) = answers(&s.lookup(&name("20.0.96.10.in-addr.arpa."), RecordType::PTR));
    assert_eq!(ptr, vec!["web.default.svc.cluster.local."]);
    let (_, ptr) = answers(&s.lookup(&name("5.1.244.10.in-addr.arpa."), RecordType::PTR));
    assert_eq!(ptr, vec!["db-0.db.default.svc.cluster.local."]);
    assert_eq!(
        s.lookup(&name("1.1.1.1.in-addr.arpa."), RecordType::PTR),
        Lookup::NotOurs
    );
    let v6 = name("0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.");
    assert_eq!(reverse_ip(&v6), Some("fd00::20".parse().unwrap()));
    let (_, ptr) = answers(&s.lookup(&v6, RecordType::PTR));
    assert_eq!(ptr, vec!["web.default.svc.cluster.local."]);
}

#[test]
fn external_names_in_the_zone_are_followed() {
    let mut s = store();
    s.apply_service(&service(json!({
        "metadata": {"namespace": "default", "name": "alias"},
        "spec": {"type": "ExternalName", "externalName": "web.default.svc.cluster.local"}
    })));
    s.apply_service(&service(json!({
        "metadata": {"namespace": "default", "name": "alias2"},
        "spec": {"type": "ExternalName", "externalName": "Alias.default.svc.cluster.local."}
    })));
    s.apply_service(&service(json!({
        "metadata": {"namespace": "default", "name": "loop"},
        "spec": {"type": "ExternalName", "externalName": "loop.default.svc.cluster.local"}
    })));
    let (rcode, a) = answers(&s.lookup(&name("alias.default.svc.cluster.local."), RecordType::A));
    assert_eq!(rcode, ResponseCode::NoError);
    assert_eq!(a, vec!["web.default.svc.cluster.local.", "10.96.0.20"]);
    let (_, a) = answers(&s.lookup(&name("alias2.default.svc.cluster.local."), RecordType::A));
    assert_eq!(
        a,
        vec![
            "Alias.default.svc.cluster.local.",
            "web.default.svc.cluster.local.",
            "10.96.0.20"
        ]
    );
    // Asking for the CNAME itself gets just the CNAME.
    let (_, c) = answers(&s.lookup(&name("alias.default.svc.cluster.local."), RecordType::CNAME));
    assert_eq!(c, vec!["web.default.svc.cluster.local."]);
    // A loop ends after a bounded chain.
    let (rcode, l) = answers(&s.lookup(&name("loop.default.svc.cluster.local."), RecordType::A));
    assert_eq!(rcode, ResponseCode::NoError);
    assert_eq!(l.len(), 9);
}

#[test]
fn deletes_remove_names() {
    let mut s = store();
    s.delete_slice("default", "db-1");
    let (rcode, a) = answers(&s.lookup(&name("db.default.svc.cluster.local."), RecordType::A));
    assert_eq!((rcode, a.len()), (ResponseCode::NoError, 0));
    s.delete_service("default", "web");
    let (rcode, _) = answers(&s.lookup(&name("web.default.svc.cluster.local."), RecordType::A));
    assert_eq!(rcode, ResponseCode::NXDomain);
}

fn query(qname: &str, qtype: RecordType) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(4242)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true);
    m.add_query(Query::query(name(qname), qtype));
    m.to_vec().unwrap()
}

fn peer() -> SocketAddr {
    "127.0.0.1:5555".parse().unwrap()
}

#[tokio::test]
async fn handler_answers_refuses_and_survives_junk() {
    let handler = Handler::new(
        Arc::new(RwLock::new(store())),
        None,
        "127.0.0.1:53".parse().unwrap(),
    );
    let raw = handler
        .handle(
            &query("web.default.svc.cluster.local.", RecordType::A),
            Transport::Udp,
            peer(),
        )
        .await
        .unwrap();
    let m = Message::from_vec(&raw).unwrap();
    assert_eq!(m.id(), 4242);
    assert!(m.authoritative());
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert_eq!(m.answers().len(), 1);
    assert_eq!(m.answers()[0].ttl(), 5);

    // No upstream configured: other names are refused.
    let raw = handler
        .handle(
            &query("example.org.", RecordType::A),
            Transport::Udp,
            peer(),
        )
        .await
        .unwrap();
    assert_eq!(
        Message::from_vec(&raw).unwrap().response_code(),
        ResponseCode::Refused
    );

    // Junk with a header gets FORMERR with the same id; shorter junk nothing.
    let mut junk = vec![0x12, 0x34, 0x01, 0x00, 0x00, 0x05, 0, 0, 0, 0, 0, 0];
    junk.extend_from_slice(&[0xff; 7]);
    let raw = handler.handle(&junk, Transport::Udp, peer()).await.unwrap();
    let m = Message::from_vec(&raw).unwrap();
    assert_eq!((m.id(), m.response_code()), (0x1234, ResponseCode::FormErr));
    assert!(
        handler
            .handle(&[1, 2, 3], Transport::Udp, peer())
            .await
            .is_none()
    );

    let metrics = String::from_utf8(corten_component_base::metrics::gather_text()).unwrap();
    assert!(metrics.contains("coredns_dns_requests_total{family=\"1\",proto=\"udp\",server=\"dns://:53\",type=\"A\",view=\"\",zone=\".\"}"), "{metrics}");
    assert!(metrics.contains("rcode=\"REFUSED\""));
}

#[tokio::test]
async fn big_udp_answers_are_truncated() {
    let mut s = RecordStore::new("cluster.local", 5).unwrap();
    s.apply_service(&service(json!({
        "metadata": {"namespace": "default", "name": "big"},
        "spec": {"clusterIP": "None"}
    })));
    let endpoints: Vec<_> = (0..100)
        .map(|i| json!({"addresses": [format!("10.1.{}.{}", i / 250, i % 250 + 1)]}))
        .collect();
    s.apply_slice(&slice(json!({
        "metadata": {"namespace": "default", "name": "big-1", "labels": {"kubernetes.io/service-name": "big"}},
        "addressType": "IPv4",
        "endpoints": endpoints
    })));
    let handler = Handler::new(
        Arc::new(RwLock::new(s)),
        None,
        "127.0.0.1:53".parse().unwrap(),
    );
    let q = query("big.default.svc.cluster.local.", RecordType::A);
    let udp =
        Message::from_vec(&handler.handle(&q, Transport::Udp, peer()).await.unwrap()).unwrap();
    assert!(udp.truncated());
    assert!(udp.answers().is_empty());
    let tcp =
        Message::from_vec(&handler.handle(&q, Transport::Tcp, peer()).await.unwrap()).unwrap();
    assert!(!tcp.truncated());
    assert_eq!(tcp.answers().len(), 100);
}
