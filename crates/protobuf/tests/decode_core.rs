//! core/v1 objects as kubectl's typed commands send them.

mod common;

use common::*;
use k8s_openapi::api::core::v1 as api;
use k8s_pb::api::core::v1 as pb;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as pbmeta;
use serde_json::json;

/// Go writes every non-pointer field, so `kubectl create namespace demo` carries empty
/// strings, a zero generation and an empty creationTimestamp.
#[test]
fn namespace_as_go_writes_it() {
    let ns = pb::Namespace {
        metadata: Some(pbmeta::ObjectMeta {
            name: s("demo"),
            generate_name: s(""),
            namespace: s(""),
            self_link: s(""),
            uid: s(""),
            resource_version: s(""),
            generation: Some(0),
            creation_timestamp: Some(pbmeta::Time::default()),
            ..Default::default()
        }),
        spec: Some(pb::NamespaceSpec::default()),
        status: Some(pb::NamespaceStatus {
            phase: s(""),
            conditions: vec![],
        }),
    };
    let expected = json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "demo", "generation": 0},
        "spec": {},
        "status": {},
    });
    let typed: api::Namespace = check(&body("v1", "Namespace", &ns), expected.clone());
    check_json_round_trip(&expected);
    assert_eq!(typed.metadata.creation_timestamp, None);
}

#[test]
fn configmap_with_binary_data() {
    let cm = pb::ConfigMap {
        metadata: Some(pbmeta::ObjectMeta {
            name: s("settings"),
            namespace: s("default"),
            labels: map(&[("app", "web".to_string())]),
            annotations: map(&[("note", String::new())]),
            ..Default::default()
        }),
        immutable: Some(false),
        data: map(&[("a.conf", "x=1\n".to_string()), ("empty", String::new())]),
        binary_data: map(&[("blob", vec![0u8, 1, 2, 255])]),
    };
    let expected = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "default", "labels": {"app": "web"}, "annotations": {"note": ""}},
        "data": {"a.conf": "x=1\n", "empty": ""},
        "binaryData": {"blob": "AAEC/w=="},
        "immutable": false,
    });
    check::<api::ConfigMap>(&body("v1", "ConfigMap", &cm), expected.clone());
    check_encode(&cm, &expected);
}

#[test]
fn secret() {
    let secret = pb::Secret {
        metadata: namespaced("creds", "default"),
        immutable: None,
        data: map(&[("password", b"hunter2".to_vec()), ("empty", vec![])]),
        string_data: map(&[("user", "admin".to_string())]),
        r#type: s("Opaque"),
    };
    let expected = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "default"},
        "data": {"password": "aHVudGVyMg==", "empty": ""},
        "stringData": {"user": "admin"},
        "type": "Opaque",
    });
    check::<api::Secret>(&body("v1", "Secret", &secret), expected.clone());
    check_encode(&secret, &expected);
}

#[test]
fn service_with_both_target_port_forms() {
    let svc = pb::Service {
        metadata: Some(pbmeta::ObjectMeta {
            name: s("web"),
            namespace: s("default"),
            labels: map(&[("app", "web".to_string())]),
            ..Default::default()
        }),
        spec: Some(pb::ServiceSpec {
            ports: vec![
                pb::ServicePort {
                    name: s("http"),
                    protocol: s("TCP"),
                    port: Some(80),
                    target_port: int(8080),
                    node_port: Some(0),
                    ..Default::default()
                },
                pb::ServicePort {
                    name: s("metrics"),
                    protocol: s("TCP"),
                    port: Some(9090),
                    target_port: string("metrics"),
                    ..Default::default()
                },
            ],
            selector: map(&[("app", "web".to_string())]),
            cluster_ip: s(""),
            r#type: s("ClusterIP"),
            session_affinity: s(""),
            ip_families: vec!["IPv4".into()],
            allocate_load_balancer_node_ports: Some(false),
            ..Default::default()
        }),
        status: Some(pb::ServiceStatus {
            load_balancer: Some(Default::default()),
            conditions: vec![],
        }),
    };
    let expected = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "ports": [
                {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 0},
                {"name": "metrics", "protocol": "TCP", "port": 9090, "targetPort": "metrics"},
            ],
            "selector": {"app": "web"},
            "type": "ClusterIP",
            "ipFamilies": ["IPv4"],
            "allocateLoadBalancerNodePorts": false,
        },
        "status": {"loadBalancer": {}},
    });
    check::<api::Service>(&body("v1", "Service", &svc), expected.clone());
    check_json_round_trip(&expected);
}

#[test]
fn service_account_and_quota() {
    let sa = pb::ServiceAccount {
        metadata: namespaced("builder", "ci"),
        secrets: vec![pb::ObjectReference {
            name: s("builder-token"),
            ..Default::default()
        }],
        image_pull_secrets: vec![pb::LocalObjectReference {
            name: s("registry"),
        }],
        automount_service_account_token: Some(false),
    };
    let expected = json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "builder", "namespace": "ci"},
        "secrets": [{"name": "builder-token"}],
        "imagePullSecrets": [{"name": "registry"}],
        "automountServiceAccountToken": false,
    });
    check::<api::ServiceAccount>(&body("v1", "ServiceAccount", &sa), expected.clone());
    check_encode(&sa, &expected);

    let quota = pb::ResourceQuota {
        metadata: namespaced("compute", "ci"),
        spec: Some(pb::ResourceQuotaSpec {
            hard: map(&[("cpu", q("4")), ("memory", q("8Gi")), ("pods", q("10"))]),
            scopes: vec!["NotTerminating".into()],
            scope_selector: Some(pb::ScopeSelector {
                match_expressions: vec![pb::ScopedResourceSelectorRequirement {
                    scope_name: s("PriorityClass"),
                    operator: s("In"),
                    values: vec!["high".into()],
                }],
            }),
        }),
        status: Some(pb::ResourceQuotaStatus {
            hard: map(&[("cpu", q("4"))]),
            used: map(&[("cpu", q("500m"))]),
        }),
    };
    let expected = json!({
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "compute", "namespace": "ci"},
        "spec": {
            "hard": {"cpu": "4", "memory": "8Gi", "pods": "10"},
            "scopes": ["NotTerminating"],
            "scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]},
        },
        "status": {"hard": {"cpu": "4"}, "used": {"cpu": "500m"}},
    });
    check::<api::ResourceQuota>(&body("v1", "ResourceQuota", &quota), expected.clone());
    check_encode(&quota, &expected);
}

/// Every kind kubectl 1.32's typed commands send as protobuf has a schema.
#[test]
fn kubectl_typed_kinds_are_supported() {
    for (api_version, kind) in [
        ("v1", "Namespace"),
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "Service"),
        ("v1", "ServiceAccount"),
        ("v1", "ResourceQuota"),
        ("v1", "Pod"),
        ("v1", "DeleteOptions"),
        ("apps/v1", "Deployment"),
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
        ("rbac.authorization.k8s.io/v1", "Role"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("scheduling.k8s.io/v1", "PriorityClass"),
        ("networking.k8s.io/v1", "Ingress"),
        ("policy/v1", "PodDisruptionBudget"),
        ("policy/v1", "Eviction"),
        ("authentication.k8s.io/v1", "TokenRequest"),
        ("authentication.k8s.io/v1", "SelfSubjectReview"),
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview"),
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview"),
    ] {
        assert!(
            corten_protobuf::supports(api_version, kind),
            "{api_version} {kind}"
        );
        assert!(
            corten_protobuf::kinds().any(|k| k == (api_version, kind)) || kind == "DeleteOptions"
        );
    }
    assert!(!corten_protobuf::supports("v1", "Time"));
    assert!(corten_protobuf::kinds().count() > 1000);
}
