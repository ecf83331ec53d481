//! The Table envelope: metadata, includeObject, watch events, and
//! robustness of every printer.

use serde_json::{Value, json};

use super::test_support::{ago, now};
use super::{
    IncludeObject, column_definitions, row, table, watch_event_table, with_meta_api_version,
};

fn config_map(name: &str, rv: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "resourceVersion": rv,
            "creationTimestamp": ago(30), "labels": {"a": "b"}},
        "data": {"k": "v"}})
}

#[test]
fn list_table_shape() {
    let t = table(
        "",
        "ConfigMap",
        &[config_map("one", "5"), config_map("two", "6")],
        IncludeObject::Metadata,
        Some(json!({"resourceVersion": "10", "continue": "tok", "remainingItemCount": 3})),
        now(),
    );
    assert_eq!(
        t,
        json!({
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": "10", "continue": "tok", "remainingItemCount": 3},
            "columnDefinitions": column_definitions("", "ConfigMap"),
            "rows": [
                {"cells": ["one", 1, "30s"], "object": {"kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": config_map("one", "5")["metadata"].clone()}},
                {"cells": ["two", 1, "30s"], "object": {"kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": config_map("two", "6")["metadata"].clone()}},
            ]
        })
    );
    // Keys come out in upstream's order.
    let keys: Vec<&String> = t.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "kind",
            "apiVersion",
            "metadata",
            "columnDefinitions",
            "rows"
        ]
    );
    let col_keys: Vec<&String> = t["columnDefinitions"][0]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(
        col_keys,
        ["name", "type", "format", "description", "priority"]
    );
}

#[test]
fn empty_list_and_list_meta() {
    let t = table(
        "",
        "Pod",
        &[],
        IncludeObject::Metadata,
        Some(json!({"resourceVersion": "7", "continue": ""})),
        now(),
    );
    assert_eq!(t["rows"], json!([]));
    assert_eq!(t["metadata"], json!({"resourceVersion": "7"}));
    let t = table("", "Pod", &[], IncludeObject::Metadata, None, now());
    assert_eq!(t["metadata"], json!({}));
}

#[test]
fn single_object_takes_its_resource_version() {
    let t = table(
        "",
        "ConfigMap",
        &[config_map("one", "5")],
        IncludeObject::Metadata,
        None,
        now(),
    );
    assert_eq!(t["metadata"], json!({"resourceVersion": "5"}));
}

#[test]
fn include_object_variants() {
    let cm = config_map("one", "5");
    let full = row("", "ConfigMap", &cm, IncludeObject::Object, now());
    assert_eq!(full["object"], cm);
    let none = row("", "ConfigMap", &cm, IncludeObject::None, now());
    assert_eq!(none, json!({"cells": ["one", 1, "30s"], "object": null}));
    let meta = row("", "ConfigMap", &json!({}), IncludeObject::Metadata, now());
    assert_eq!(
        meta["object"],
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {}})
    );
}

#[test]
fn parse_include_object() {
    assert_eq!(IncludeObject::parse(None), Ok(IncludeObject::Metadata));
    assert_eq!(IncludeObject::parse(Some("")), Ok(IncludeObject::Metadata));
    assert_eq!(
        IncludeObject::parse(Some("Metadata")),
        Ok(IncludeObject::Metadata)
    );
    assert_eq!(
        IncludeObject::parse(Some("Object")),
        Ok(IncludeObject::Object)
    );
    assert_eq!(IncludeObject::parse(Some("None")), Ok(IncludeObject::None));
    assert_eq!(
        IncludeObject::parse(Some("object")),
        Err(
            "Unable to convert to Table as requested: includeObject: Invalid value: \"object\": \
             must be 'Metadata', 'Object', 'None', or empty"
                .to_string()
        )
    );
    assert_eq!(IncludeObject::default(), IncludeObject::Metadata);
}

#[test]
fn watch_events_send_headers_once() {
    let cm = config_map("one", "9");
    let first = watch_event_table("", "ConfigMap", &cm, IncludeObject::None, true, now());
    assert_eq!(
        first["columnDefinitions"],
        column_definitions("", "ConfigMap")
    );
    assert_eq!(first["metadata"], json!({"resourceVersion": "9"}));
    assert_eq!(
        first["rows"],
        json!([{"cells": ["one", 1, "30s"], "object": null}])
    );
    let later = watch_event_table("", "ConfigMap", &cm, IncludeObject::None, false, now());
    assert_eq!(later["columnDefinitions"], Value::Null);
    assert_eq!(later["rows"], first["rows"]);
    assert_eq!(later["kind"], "Table");
}

#[test]
fn meta_api_version_rewrite() {
    let t = table(
        "",
        "ConfigMap",
        &[config_map("one", "5")],
        IncludeObject::Metadata,
        None,
        now(),
    );
    let t = with_meta_api_version(t, "meta.k8s.io/v1beta1");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1beta1");
    assert_eq!(t["rows"][0]["object"]["apiVersion"], "meta.k8s.io/v1beta1");
    let full = table(
        "",
        "ConfigMap",
        &[config_map("one", "5")],
        IncludeObject::Object,
        None,
        now(),
    );
    let full = with_meta_api_version(full, "meta.k8s.io/v1beta1");
    assert_eq!(full["rows"][0]["object"]["apiVersion"], "v1");
}

#[test]
fn unknown_kinds_get_the_default_table() {
    let obj = json!({"apiVersion": "example.com/v1", "kind": "Gadget",
        "metadata": {"name": "g", "creationTimestamp": "2024-01-02T03:04:05Z"}});
    let t = table(
        "example.com",
        "Gadget",
        &[obj],
        IncludeObject::None,
        None,
        now(),
    );
    assert_eq!(t["columnDefinitions"][0]["name"], "Name");
    assert_eq!(t["columnDefinitions"][1]["name"], "Created At");
    assert_eq!(t["columnDefinitions"][1]["type"], "date");
    assert_eq!(t["rows"][0]["cells"], json!(["g", "2024-01-02T03:04:05Z"]));
}

/// Every printed kind, to check all of them against odd input.
const KINDS: &[(&str, &str)] = &[
    ("", "Pod"),
    ("", "PodTemplate"),
    ("", "ReplicationController"),
    ("", "Service"),
    ("", "Endpoints"),
    ("", "Node"),
    ("", "Event"),
    ("", "Namespace"),
    ("", "Secret"),
    ("", "ServiceAccount"),
    ("", "PersistentVolume"),
    ("", "PersistentVolumeClaim"),
    ("", "ComponentStatus"),
    ("", "ConfigMap"),
    ("", "ResourceQuota"),
    ("", "LimitRange"),
    ("events.k8s.io", "Event"),
    ("apps", "ReplicaSet"),
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("apps", "ControllerRevision"),
    ("batch", "Job"),
    ("batch", "CronJob"),
    ("autoscaling", "HorizontalPodAutoscaler"),
    ("autoscaling", "Scale"),
    ("networking.k8s.io", "Ingress"),
    ("networking.k8s.io", "IngressClass"),
    ("networking.k8s.io", "NetworkPolicy"),
    ("networking.k8s.io", "ServiceCIDR"),
    ("discovery.k8s.io", "EndpointSlice"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("storage.k8s.io", "CSIStorageCapacity"),
    ("storage.k8s.io", "VolumeAttributesClass"),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
    ),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "MutatingAdmissionPolicyBinding",
    ),
    ("policy", "PodDisruptionBudget"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("rbac.authorization.k8s.io", "Role"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("certificates.k8s.io", "ClusterTrustBundle"),
    ("coordination.k8s.io", "Lease"),
    ("coordination.k8s.io", "LeaseCandidate"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("node.k8s.io", "RuntimeClass"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("internal.apiserver.k8s.io", "StorageVersion"),
    ("resource.k8s.io", "DeviceClass"),
    ("resource.k8s.io", "ResourceClaim"),
    ("resource.k8s.io", "ResourceClaimTemplate"),
    ("resource.k8s.io", "ResourceSlice"),
    ("storagemigration.k8s.io", "StorageVersionMigration"),
    ("apiregistration.k8s.io", "APIService"),
];

#[test]
fn every_printer_fills_every_column_for_odd_objects() {
    let odd = [
        json!({}),
        json!(null),
        json!("a string"),
        json!({"metadata": {"name": 5, "creationTimestamp": "soon"},
            "spec": [], "status": {"conditions": "none"}}),
        json!({"metadata": {"name": "x"}, "spec": {"selector": 3, "ports": [null],
            "template": {"spec": {"containers": [7]}}}}),
    ];
    for (group, kind) in KINDS {
        let columns = column_definitions(group, kind).as_array().unwrap().len();
        for obj in &odd {
            let r = row(group, kind, obj, IncludeObject::Metadata, now());
            let n = r["cells"].as_array().unwrap().len();
            assert_eq!(n, columns, "{group}/{kind} with {obj}");
        }
    }
}

#[test]
fn every_printer_has_a_name_column_first() {
    for (group, kind) in KINDS {
        let defs = column_definitions(group, kind);
        let names: Vec<&str> = defs
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        if *kind == "Event" {
            assert_eq!(names.last(), Some(&"Name"));
        } else {
            assert_eq!(names[0], "Name", "{group}/{kind}");
        }
        assert!(
            defs.as_array().unwrap().iter().all(|c| {
                c["description"].as_str().is_some_and(|d| !d.is_empty())
                    && ["string", "integer", "boolean", "date", "number"]
                        .contains(&c["type"].as_str().unwrap_or(""))
            }),
            "{group}/{kind}"
        );
    }
}
