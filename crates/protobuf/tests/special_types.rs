//! Upstream's custom JSON forms: MicroTime, RawExtension, JSONSchemaProps unions, JSON,
//! packed repeated scalars and unknown fields.

mod common;

use common::*;
use k8s_openapi::api::{apps::v1 as apps, coordination::v1 as coordination};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as crd;
use k8s_pb::api::apps::v1 as pbapps;
use k8s_pb::api::coordination::v1 as pbcoordination;
use k8s_pb::api::core::v1 as pb;
use k8s_pb::apiextensions_apiserver::pkg::apis::apiextensions::v1 as pbcrd;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as pbmeta;
use k8s_pb::apimachinery::pkg::runtime::RawExtension;
use prost::Message;
use serde_json::json;

#[test]
fn lease_micro_times() {
    let lease = pbcoordination::Lease {
        metadata: namespaced("kube-scheduler", "kube-system"),
        spec: Some(pbcoordination::LeaseSpec {
            holder_identity: s("node-1"),
            lease_duration_seconds: Some(15),
            acquire_time: Some(pbmeta::MicroTime {
                seconds: Some(1_704_164_645),
                nanos: Some(123_456_789),
            }),
            renew_time: Some(pbmeta::MicroTime {
                seconds: Some(1_704_164_650),
                nanos: Some(0),
            }),
            lease_transitions: Some(2),
            ..Default::default()
        }),
    };
    let expected = json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "kube-scheduler", "namespace": "kube-system"},
        "spec": {
            "holderIdentity": "node-1",
            "leaseDurationSeconds": 15,
            "acquireTime": "2024-01-02T03:04:05.123456Z",
            "renewTime": "2024-01-02T03:04:10.000000Z",
            "leaseTransitions": 2,
        },
    });
    check::<coordination::Lease>(&body("coordination.k8s.io/v1", "Lease", &lease), expected);
}

fn props(ty: &str) -> pbcrd::JsonSchemaProps {
    pbcrd::JsonSchemaProps {
        r#type: s(ty),
        ..Default::default()
    }
}

fn raw_json(v: serde_json::Value) -> Option<pbcrd::Json> {
    Some(pbcrd::Json {
        raw: Some(serde_json::to_vec(&v).unwrap()),
    })
}

#[test]
fn custom_resource_definition_schema_unions() {
    let spec_schema = pbcrd::JsonSchemaProps {
        r#type: s("object"),
        required: vec!["replicas".into()],
        properties: map(&[
            (
                "replicas",
                pbcrd::JsonSchemaProps {
                    maximum: Some(10.5),
                    minimum: Some(0.0),
                    default: raw_json(json!(1)),
                    ..props("integer")
                },
            ),
            (
                "mode",
                pbcrd::JsonSchemaProps {
                    r#enum: vec![raw_json(json!("a")).unwrap(), raw_json(json!("b")).unwrap()],
                    ..props("string")
                },
            ),
            (
                "tags",
                pbcrd::JsonSchemaProps {
                    items: Some(Box::new(pbcrd::JsonSchemaPropsOrArray {
                        schema: Some(Box::new(props("string"))),
                        j_son_schemas: vec![],
                    })),
                    x_kubernetes_list_type: s("set"),
                    ..props("array")
                },
            ),
            (
                "labels",
                pbcrd::JsonSchemaProps {
                    additional_properties: Some(Box::new(pbcrd::JsonSchemaPropsOrBool {
                        allows: Some(true),
                        schema: Some(Box::new(props("string"))),
                    })),
                    ..props("object")
                },
            ),
            (
                "free",
                pbcrd::JsonSchemaProps {
                    additional_properties: Some(Box::new(pbcrd::JsonSchemaPropsOrBool {
                        allows: Some(false),
                        schema: None,
                    })),
                    x_kubernetes_preserve_unknown_fields: Some(true),
                    ..props("object")
                },
            ),
            (
                "port",
                pbcrd::JsonSchemaProps {
                    x_kubernetes_int_or_string: Some(true),
                    ..Default::default()
                },
            ),
        ]),
        ..Default::default()
    };
    let definition = pbcrd::CustomResourceDefinition {
        metadata: meta("widgets.example.com"),
        spec: Some(pbcrd::CustomResourceDefinitionSpec {
            group: s("example.com"),
            names: Some(pbcrd::CustomResourceDefinitionNames {
                plural: s("widgets"),
                singular: s("widget"),
                short_names: vec!["wd".into()],
                kind: s("Widget"),
                list_kind: s("WidgetList"),
                categories: vec![],
            }),
            scope: s("Namespaced"),
            versions: vec![pbcrd::CustomResourceDefinitionVersion {
                name: s("v1"),
                served: Some(true),
                storage: Some(true),
                schema: Some(pbcrd::CustomResourceValidation {
                    open_apiv3_schema: Some(pbcrd::JsonSchemaProps {
                        properties: map(&[("spec", spec_schema)]),
                        ..props("object")
                    }),
                }),
                subresources: Some(pbcrd::CustomResourceSubresources {
                    status: Some(pbcrd::CustomResourceSubresourceStatus {}),
                    scale: None,
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: None,
    };
    let expected = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"plural": "widgets", "singular": "widget", "shortNames": ["wd"], "kind": "Widget", "listKind": "WidgetList"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {
                    "type": "object",
                    "required": ["replicas"],
                    "properties": {
                        "free": {"type": "object", "additionalProperties": false, "x-kubernetes-preserve-unknown-fields": true},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "mode": {"type": "string", "enum": ["a", "b"]},
                        "port": {"x-kubernetes-int-or-string": true},
                        "replicas": {"type": "integer", "default": 1, "maximum": 10.5, "minimum": 0.0},
                        "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                    },
                }}}},
                "subresources": {"status": {}},
            }],
        },
    });
    check::<crd::CustomResourceDefinition>(
        &body(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            &definition,
        ),
        expected.clone(),
    );
    let reencoded = corten_protobuf::encode(&expected).unwrap();
    assert_eq!(corten_protobuf::decode(&reencoded).unwrap(), expected);
}

#[test]
fn raw_extension_holds_json_or_an_embedded_protobuf_object() {
    let revision = |data: Vec<u8>| pbapps::ControllerRevision {
        metadata: namespaced("web-5d8f", "prod"),
        data: Some(RawExtension { raw: Some(data) }),
        revision: Some(7),
    };
    let expected = |data: serde_json::Value| {
        json!({
            "apiVersion": "apps/v1",
            "kind": "ControllerRevision",
            "metadata": {"name": "web-5d8f", "namespace": "prod"},
            "data": data,
            "revision": 7,
        })
    };
    let patch = json!({"spec": {"template": {"metadata": {"labels": {"app": "web"}}}}});
    let from_json = revision(serde_json::to_vec(&patch).unwrap());
    check::<apps::ControllerRevision>(
        &body("apps/v1", "ControllerRevision", &from_json),
        expected(patch),
    );

    let cm = pb::ConfigMap {
        metadata: meta("inner"),
        data: map(&[("k", "v".to_string())]),
        ..Default::default()
    };
    let from_protobuf = revision(body("v1", "ConfigMap", &cm));
    let inner = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "inner"}, "data": {"k": "v"}});
    check::<apps::ControllerRevision>(
        &body("apps/v1", "ControllerRevision", &from_protobuf),
        expected(inner),
    );

    let not_json = revision(b"{nope".to_vec());
    let err =
        corten_protobuf::decode(&body("apps/v1", "ControllerRevision", &not_json)).unwrap_err();
    assert!(
        matches!(err, corten_protobuf::DecodeError::InvalidEmbeddedJson { ref path, .. } if path == "data"),
        "{err}"
    );
}

/// proto2 repeated scalars are unpacked by default, but decoders must accept packed too.
#[test]
fn packed_and_unpacked_repeated_scalars() {
    // PodFailurePolicyOnExitCodesRequirement: containerName = 1, operator = 2, values = 3 (int32).
    let unpacked = [
        0x12, 0x02, b'I', b'n', 0x18, 0x01, 0x18, 0x2a, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0x01,
    ];
    let packed = [
        0x12, 0x02, b'I', b'n', 0x1a, 0x0c, 0x01, 0x2a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0x01,
    ];
    for raw in [&unpacked[..], &packed[..]] {
        // Wrap as Job.spec.podFailurePolicy.rules[0].onExitCodes by hand-nesting prost messages.
        let rule = nest(2, raw); // PodFailurePolicyRule.onExitCodes = 2
        let policy = nest(1, &rule); // PodFailurePolicy.rules = 1
        let spec = nest(11, &policy); // JobSpec.podFailurePolicy = 11
        let job = nest(2, &spec); // Job.spec = 2
        let decoded = corten_protobuf::decode(&raw_body("batch/v1", "Job", &job)).unwrap();
        assert_eq!(
            decoded["spec"]["podFailurePolicy"]["rules"][0]["onExitCodes"],
            json!({"operator": "In", "values": [1, 42, -1]})
        );
    }
}

#[test]
fn unknown_fields_are_skipped_and_wire_types_checked() {
    let ns = pb::Namespace {
        metadata: meta("demo"),
        ..Default::default()
    };
    let mut raw = ns.encode_to_vec();
    // Unknown field 99 of every wire type: varint, fixed64, length-delimited, fixed32.
    raw.extend([0x98, 0x06, 0x01]);
    raw.extend([0x99, 0x06, 1, 2, 3, 4, 5, 6, 7, 8]);
    raw.extend([0x9a, 0x06, 0x02, b'h', b'i']);
    raw.extend([0x9d, 0x06, 1, 2, 3, 4]);
    let decoded = corten_protobuf::decode(&raw_body("v1", "Namespace", &raw)).unwrap();
    assert_eq!(
        decoded,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}})
    );

    // Namespace.metadata (field 1) sent as a varint.
    let err = corten_protobuf::decode(&raw_body("v1", "Namespace", &[0x08, 0x01])).unwrap_err();
    assert_eq!(
        err,
        corten_protobuf::DecodeError::WireTypeMismatch {
            path: "metadata".into(),
            field: 1,
            expected: 2,
            found: 0
        }
    );
}

#[test]
fn json_content_type_in_the_envelope() {
    let unknown = k8s_pb::apimachinery::pkg::runtime::Unknown {
        type_meta: Some(k8s_pb::apimachinery::pkg::runtime::TypeMeta {
            api_version: s("v1"),
            kind: s("Namespace"),
        }),
        raw: Some(br#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"j"}}"#.to_vec()),
        content_encoding: s(""),
        content_type: s("application/json"),
    };
    let body = [b"k8s\0".as_slice(), &unknown.encode_to_vec()].concat();
    assert_eq!(
        corten_protobuf::decode(&body).unwrap(),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "j"}})
    );
}

/// A length-delimited field `number` holding `inner`.
fn nest(number: u8, inner: &[u8]) -> Vec<u8> {
    let mut out = vec![number << 3 | 2];
    prost::encoding::encode_varint(inner.len() as u64, &mut out);
    out.extend_from_slice(inner);
    out
}

fn raw_body(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let unknown = k8s_pb::apimachinery::pkg::runtime::Unknown {
        type_meta: Some(k8s_pb::apimachinery::pkg::runtime::TypeMeta {
            api_version: s(api_version),
            kind: s(kind),
        }),
        raw: Some(raw.to_vec()),
        content_encoding: None,
        content_type: None,
    };
    [b"k8s\0".as_slice(), &unknown.encode_to_vec()].concat()
}

#[test]
fn watch_event_frames() {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "prod", "resourceVersion": "7"}});
    let frame = corten_protobuf::encode_watch_event("ADDED", &pod).unwrap();
    let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
    assert_eq!(len, frame.len() - 4);
    assert_eq!(&frame[4..8], b"k8s\0");
    let unknown = k8s_pb::apimachinery::pkg::runtime::Unknown::decode(&frame[8..]).unwrap();
    assert_eq!(unknown.type_meta.unwrap_or_default(), Default::default());
    let event = pbmeta::WatchEvent::decode(unknown.raw.unwrap().as_slice()).unwrap();
    assert_eq!(event.r#type.as_deref(), Some("ADDED"));
    let object = event.object.unwrap().raw.unwrap();
    // The object is a complete body of its own, as upstream's embedded encoder writes it.
    assert_eq!(&object[..4], b"k8s\0");
    let inner = k8s_pb::apimachinery::pkg::runtime::Unknown::decode(&object[4..]).unwrap();
    assert_eq!(
        inner.type_meta.as_ref().and_then(|t| t.kind.as_deref()),
        Some("Pod")
    );
    let bare = pb::Pod::decode(inner.raw.unwrap().as_slice()).unwrap();
    assert_eq!(
        bare.metadata.and_then(|m| m.resource_version).as_deref(),
        Some("7")
    );
    assert_eq!(corten_protobuf::decode(&object).unwrap(), pod);
}
