//! RBAC, scheduling, networking, policy (drain), authentication and authorization bodies.

mod common;

use common::*;
use k8s_openapi::api::{
    authentication::v1 as authn, authorization::v1 as authz, networking::v1 as net,
    policy::v1 as policy, rbac::v1 as rbac, scheduling::v1 as scheduling,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions;
use k8s_pb::api::authentication::v1 as pbauthn;
use k8s_pb::api::authorization::v1 as pbauthz;
use k8s_pb::api::networking::v1 as pbnet;
use k8s_pb::api::policy::v1 as pbpolicy;
use k8s_pb::api::rbac::v1 as pbrbac;
use k8s_pb::api::scheduling::v1 as pbscheduling;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as pbmeta;
use serde_json::json;

#[test]
fn role_and_cluster_role() {
    let role = pbrbac::Role {
        metadata: namespaced("reader", "dev"),
        rules: vec![pbrbac::PolicyRule {
            verbs: vec!["get".into(), "list".into()],
            api_groups: vec![String::new()],
            resources: vec!["pods".into()],
            resource_names: vec!["web".into()],
            non_resource_ur_ls: vec![],
        }],
    };
    let expected = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "reader", "namespace": "dev"},
        "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["web"]}],
    });
    check::<rbac::Role>(
        &body("rbac.authorization.k8s.io/v1", "Role", &role),
        expected.clone(),
    );
    check_encode(&role, &expected);

    let cluster_role = pbrbac::ClusterRole {
        metadata: meta("metrics"),
        rules: vec![pbrbac::PolicyRule {
            verbs: vec!["get".into()],
            non_resource_ur_ls: vec!["/metrics".into()],
            ..Default::default()
        }],
        aggregation_rule: Some(pbrbac::AggregationRule {
            cluster_role_selectors: vec![pbmeta::LabelSelector {
                match_labels: map(&[("rbac.example.com/aggregate", "true".to_string())]),
                match_expressions: vec![],
            }],
        }),
    };
    let expected = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "metrics"},
        "rules": [{"verbs": ["get"], "nonResourceURLs": ["/metrics"]}],
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"rbac.example.com/aggregate": "true"}}]},
    });
    check::<rbac::ClusterRole>(
        &body("rbac.authorization.k8s.io/v1", "ClusterRole", &cluster_role),
        expected,
    );
}

#[test]
fn role_binding_and_cluster_role_binding() {
    let subjects = vec![
        pbrbac::Subject {
            kind: s("User"),
            api_group: s("rbac.authorization.k8s.io"),
            name: s("alice"),
            namespace: s(""),
        },
        pbrbac::Subject {
            kind: s("ServiceAccount"),
            api_group: s(""),
            name: s("builder"),
            namespace: s("ci"),
        },
    ];
    let subjects_json = json!([
        {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
        {"kind": "ServiceAccount", "name": "builder", "namespace": "ci"},
    ]);
    let crb = pbrbac::ClusterRoleBinding {
        metadata: meta("admins"),
        subjects: subjects.clone(),
        role_ref: Some(pbrbac::RoleRef {
            api_group: s("rbac.authorization.k8s.io"),
            kind: s("ClusterRole"),
            name: s("admin"),
        }),
    };
    let expected = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "admins"},
        "subjects": subjects_json,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
    });
    check::<rbac::ClusterRoleBinding>(
        &body("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", &crb),
        expected,
    );

    let rb = pbrbac::RoleBinding {
        metadata: namespaced("readers", "dev"),
        subjects,
        role_ref: Some(pbrbac::RoleRef {
            api_group: s("rbac.authorization.k8s.io"),
            kind: s("Role"),
            name: s("reader"),
        }),
    };
    let expected = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "readers", "namespace": "dev"},
        "subjects": subjects_json,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
    });
    check::<rbac::RoleBinding>(
        &body("rbac.authorization.k8s.io/v1", "RoleBinding", &rb),
        expected,
    );
}

#[test]
fn priority_class() {
    let pc = pbscheduling::PriorityClass {
        metadata: meta("low"),
        value: Some(-10),
        global_default: Some(false),
        description: s("batch work"),
        preemption_policy: s("Never"),
    };
    let expected = json!({
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": "low"},
        "value": -10,
        "globalDefault": false,
        "description": "batch work",
        "preemptionPolicy": "Never",
    });
    check::<scheduling::PriorityClass>(
        &body("scheduling.k8s.io/v1", "PriorityClass", &pc),
        expected.clone(),
    );
    check_encode(&pc, &expected);
}

#[test]
fn ingress() {
    let backend = |name: &str, port: pbnet::ServiceBackendPort| pbnet::IngressBackend {
        service: Some(pbnet::IngressServiceBackend {
            name: s(name),
            port: Some(port),
        }),
        resource: None,
    };
    let ingress = pbnet::Ingress {
        metadata: Some(pbmeta::ObjectMeta {
            name: s("web"),
            namespace: s("prod"),
            annotations: map(&[(
                "nginx.ingress.kubernetes.io/rewrite-target",
                "/".to_string(),
            )]),
            ..Default::default()
        }),
        spec: Some(pbnet::IngressSpec {
            ingress_class_name: s("nginx"),
            default_backend: Some(backend(
                "fallback",
                pbnet::ServiceBackendPort {
                    name: s("http"),
                    number: None,
                },
            )),
            tls: vec![pbnet::IngressTls {
                hosts: vec!["example.com".into()],
                secret_name: s("tls"),
            }],
            rules: vec![pbnet::IngressRule {
                host: s("example.com"),
                ingress_rule_value: Some(pbnet::IngressRuleValue {
                    http: Some(pbnet::HttpIngressRuleValue {
                        paths: vec![pbnet::HttpIngressPath {
                            path: s("/api"),
                            path_type: s("Prefix"),
                            backend: Some(backend(
                                "api",
                                pbnet::ServiceBackendPort {
                                    name: s(""),
                                    number: Some(8080),
                                },
                            )),
                        }],
                    }),
                }),
            }],
        }),
        status: Some(pbnet::IngressStatus {
            load_balancer: Some(Default::default()),
        }),
    };
    let expected = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "prod", "annotations": {"nginx.ingress.kubernetes.io/rewrite-target": "/"}},
        "spec": {
            "ingressClassName": "nginx",
            "defaultBackend": {"service": {"name": "fallback", "port": {"name": "http"}}},
            "tls": [{"hosts": ["example.com"], "secretName": "tls"}],
            "rules": [{
                "host": "example.com",
                "http": {"paths": [{"path": "/api", "pathType": "Prefix", "backend": {"service": {"name": "api", "port": {"number": 8080}}}}]},
            }],
        },
        "status": {"loadBalancer": {}},
    });
    check::<net::Ingress>(&body("networking.k8s.io/v1", "Ingress", &ingress), expected);
}

#[test]
fn pod_disruption_budget_with_both_int_or_string_forms() {
    for (value, value_json) in [(int(2), json!(2)), (string("50%"), json!("50%"))] {
        let pdb = pbpolicy::PodDisruptionBudget {
            metadata: namespaced("web", "prod"),
            spec: Some(pbpolicy::PodDisruptionBudgetSpec {
                min_available: value.clone(),
                selector: Some(pbmeta::LabelSelector {
                    match_labels: map(&[("app", "web".to_string())]),
                    match_expressions: vec![],
                }),
                max_unavailable: None,
                unhealthy_pod_eviction_policy: s("AlwaysAllow"),
            }),
            status: None,
        };
        let expected = json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "web", "namespace": "prod"},
            "spec": {"minAvailable": value_json, "selector": {"matchLabels": {"app": "web"}}, "unhealthyPodEvictionPolicy": "AlwaysAllow"},
        });
        check::<policy::PodDisruptionBudget>(
            &body("policy/v1", "PodDisruptionBudget", &pdb),
            expected.clone(),
        );
        check_encode(&pdb, &expected);
    }
}

fn delete_options() -> pbmeta::DeleteOptions {
    pbmeta::DeleteOptions {
        grace_period_seconds: Some(0),
        preconditions: Some(pbmeta::Preconditions {
            uid: s("1b4e28ba-2fa1-11d2-883f-0016d3cca427"),
            resource_version: None,
        }),
        orphan_dependents: None,
        propagation_policy: s("Background"),
        dry_run: vec!["All".into()],
        ignore_store_read_error_with_cluster_breaking_potential: None,
    }
}

#[test]
fn eviction_from_kubectl_drain() {
    let eviction = pbpolicy::Eviction {
        metadata: namespaced("web-1", "prod"),
        delete_options: Some(delete_options()),
    };
    let expected = json!({
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": "web-1", "namespace": "prod"},
        "deleteOptions": {
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"},
            "propagationPolicy": "Background",
            "dryRun": ["All"],
        },
    });
    check::<policy::Eviction>(&body("policy/v1", "Eviction", &eviction), expected.clone());
    check_encode(&eviction, &expected);
}

/// metav1 kinds are registered in every group version, so DeleteOptions come as `v1` too.
#[test]
fn delete_options_in_any_group_version() {
    for api_version in ["v1", "apps/v1", "meta.k8s.io/v1"] {
        let expected = json!({
            "apiVersion": api_version,
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"},
            "propagationPolicy": "Background",
            "dryRun": ["All"],
        });
        check::<DeleteOptions>(
            &body(api_version, "DeleteOptions", &delete_options()),
            expected,
        );
    }
}

#[test]
fn token_request_from_kubectl_create_token() {
    let tr = pbauthn::TokenRequest {
        metadata: Some(pbmeta::ObjectMeta {
            name: s("builder"),
            namespace: s("ci"),
            creation_timestamp: Some(Default::default()),
            ..Default::default()
        }),
        spec: Some(pbauthn::TokenRequestSpec {
            audiences: vec!["https://kubernetes.default.svc".into()],
            expiration_seconds: Some(3600),
            bound_object_ref: Some(pbauthn::BoundObjectReference {
                kind: s("Pod"),
                api_version: s("v1"),
                name: s("web-1"),
                u_id: s("7d2c1e0a-9f6b-4c31-a2f4-3b8e2d1c0f99"),
            }),
        }),
        // kubectl sends the zero status: an empty token and a zero Time.
        status: Some(pbauthn::TokenRequestStatus {
            token: s(""),
            expiration_timestamp: Some(Default::default()),
        }),
    };
    let expected = json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "metadata": {"name": "builder", "namespace": "ci"},
        "spec": {
            "audiences": ["https://kubernetes.default.svc"],
            "expirationSeconds": 3600,
            "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web-1", "uid": "7d2c1e0a-9f6b-4c31-a2f4-3b8e2d1c0f99"},
        },
        "status": {},
    });
    let mut decoded =
        corten_protobuf::decode(&body("authentication.k8s.io/v1", "TokenRequest", &tr)).unwrap();
    assert_eq!(decoded, expected);
    // k8s-openapi's TokenRequestStatus requires expirationTimestamp, which a request lacks.
    decoded.as_object_mut().unwrap().remove("status");
    let typed: authn::TokenRequest = serde_json::from_value(decoded.clone()).unwrap();
    assert_eq!(serde_json::to_value(&typed).unwrap(), decoded);
    assert_eq!(typed.spec.expiration_seconds, Some(3600));
}

#[test]
fn self_subject_access_review_from_kubectl_auth_can_i() {
    let ssar = pbauthz::SelfSubjectAccessReview {
        metadata: Some(pbmeta::ObjectMeta {
            creation_timestamp: Some(Default::default()),
            ..Default::default()
        }),
        spec: Some(pbauthz::SelfSubjectAccessReviewSpec {
            resource_attributes: Some(pbauthz::ResourceAttributes {
                namespace: s("prod"),
                verb: s("create"),
                group: s("apps"),
                version: s(""),
                resource: s("deployments"),
                subresource: s(""),
                name: s(""),
                field_selector: None,
                label_selector: None,
            }),
            non_resource_attributes: None,
        }),
        status: Some(pbauthz::SubjectAccessReviewStatus {
            allowed: Some(false),
            denied: Some(false),
            reason: s(""),
            evaluation_error: s(""),
        }),
    };
    let expected = json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "metadata": {},
        "spec": {"resourceAttributes": {"namespace": "prod", "verb": "create", "group": "apps", "resource": "deployments"}},
        "status": {"allowed": false, "denied": false},
    });
    check::<authz::SelfSubjectAccessReview>(
        &body("authorization.k8s.io/v1", "SelfSubjectAccessReview", &ssar),
        expected,
    );
}

#[test]
fn self_subject_rules_review_and_self_subject_review() {
    let ssrr = pbauthz::SelfSubjectRulesReview {
        metadata: Some(Default::default()),
        spec: Some(pbauthz::SelfSubjectRulesReviewSpec {
            namespace: s("dev"),
        }),
        status: Some(pbauthz::SubjectRulesReviewStatus {
            incomplete: Some(false),
            evaluation_error: s(""),
            ..Default::default()
        }),
    };
    let expected = json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectRulesReview",
        "metadata": {},
        "spec": {"namespace": "dev"},
        "status": {"incomplete": false},
    });
    check_keys::<authz::SelfSubjectRulesReview>(
        &body("authorization.k8s.io/v1", "SelfSubjectRulesReview", &ssrr),
        expected,
    );

    // A response-shaped review exercises UserInfo.extra (map of ExtraValue -> arrays).
    let ssr = pbauthn::SelfSubjectReview {
        metadata: Some(pbmeta::ObjectMeta {
            creation_timestamp: time(1_704_164_645),
            ..Default::default()
        }),
        status: Some(pbauthn::SelfSubjectReviewStatus {
            user_info: Some(pbauthn::UserInfo {
                username: s("alice"),
                uid: s("42"),
                groups: vec!["system:authenticated".into()],
                extra: map(&[(
                    "scopes",
                    pbauthn::ExtraValue {
                        items: vec!["read".into(), "write".into()],
                    },
                )]),
            }),
        }),
    };
    let expected = json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "SelfSubjectReview",
        "metadata": {"creationTimestamp": "2024-01-02T03:04:05Z"},
        "status": {"userInfo": {"username": "alice", "uid": "42", "groups": ["system:authenticated"], "extra": {"scopes": ["read", "write"]}}},
    });
    check::<authn::SelfSubjectReview>(
        &body("authentication.k8s.io/v1", "SelfSubjectReview", &ssr),
        expected.clone(),
    );
    check_encode(&ssr, &expected);
}
