//! Hostile input: every malformed body is an error, never a panic or a stack overflow.

mod common;

use common::*;
use corten_protobuf::{DecodeError, EncodeError, MAX_DEPTH, decode, encode};
use k8s_pb::api::apps::v1 as pbapps;
use k8s_pb::api::core::v1 as pb;
use k8s_pb::apimachinery::pkg::runtime::{RawExtension, TypeMeta, Unknown};
use proptest::prelude::*;
use prost::Message;
use serde_json::{Value, json};

fn deployment_body() -> Vec<u8> {
    let d = pbapps::Deployment {
        metadata: meta("web"),
        spec: Some(pbapps::DeploymentSpec {
            replicas: Some(3),
            template: Some(pb::PodTemplateSpec {
                metadata: None,
                spec: Some(pb::PodSpec {
                    containers: vec![pb::Container {
                        name: s("web"),
                        image: s("nginx"),
                        ports: vec![pb::ContainerPort {
                            container_port: Some(80),
                            ..Default::default()
                        }],
                        resources: Some(pb::ResourceRequirements {
                            limits: map(&[("cpu", q("1"))]),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            }),
            strategy: Some(pbapps::DeploymentStrategy {
                r#type: s("RollingUpdate"),
                rolling_update: Some(pbapps::RollingUpdateDeployment {
                    max_unavailable: string("25%"),
                    max_surge: int(1),
                }),
            }),
            ..Default::default()
        }),
        status: None,
    };
    body("apps/v1", "Deployment", &d)
}

fn envelope(api_version: &str, kind: &str, raw: Vec<u8>, content_encoding: &str) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: s(api_version),
            kind: s(kind),
        }),
        raw: Some(raw),
        content_encoding: s(content_encoding),
        content_type: None,
    };
    [b"k8s\0".as_slice(), &unknown.encode_to_vec()].concat()
}

#[test]
fn envelope_errors() {
    assert_eq!(decode(b""), Err(DecodeError::BadMagic));
    assert_eq!(
        decode(b"{\"kind\":\"Namespace\"}"),
        Err(DecodeError::BadMagic)
    );
    assert_eq!(decode(b"k8s\0"), Err(DecodeError::MissingKind));
    assert_eq!(
        decode(&envelope("v1", "Nope", vec![], "")),
        Err(DecodeError::UnknownKind {
            api_version: "v1".into(),
            kind: "Nope".into()
        })
    );
    assert_eq!(
        decode(&envelope("v1", "Namespace", vec![], "gzip")),
        Err(DecodeError::UnsupportedContentEncoding("gzip".into()))
    );
    assert_eq!(
        decode(&envelope("v1", "Namespace", vec![], "")).unwrap(),
        json!({"apiVersion": "v1", "kind": "Namespace"})
    );
    // Invalid UTF-8 in Namespace.metadata.name.
    let err = decode(&envelope(
        "v1",
        "Namespace",
        vec![0x0a, 0x03, 0x0a, 0x01, 0xff],
        "",
    ))
    .unwrap_err();
    assert_eq!(
        err,
        DecodeError::InvalidUtf8 {
            path: "metadata.name".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "invalid UTF-8 in string field \"metadata.name\""
    );
}

#[test]
fn lengths_beyond_the_input_are_errors() {
    // Namespace.metadata claiming 2^40 bytes.
    let raw = vec![0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x01];
    let err = decode(&envelope("v1", "Namespace", raw, "")).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::Truncated {
                needed: 1_099_511_627_776,
                remaining: 1,
                ..
            }
        ),
        "{err}"
    );
    // Every truncation of a valid body fails cleanly (or decodes a prefix, never panics).
    let body = deployment_body();
    assert!(decode(&body).is_ok());
    for len in 0..body.len() {
        let _ = decode(&body[..len]);
    }
}

/// JSONSchemaProps.not (field 28) nested `depth` times.
fn nested_schema(depth: usize) -> Vec<u8> {
    let mut inner: Vec<u8> = Vec::new();
    for _ in 0..depth {
        let mut outer = vec![0xe2, 0x01]; // field 28, wire type 2
        prost::encoding::encode_varint(inner.len() as u64, &mut outer);
        outer.extend_from_slice(&inner);
        inner = outer;
    }
    inner
}

#[test]
fn nesting_is_capped() {
    let ok = decode(&envelope(
        "apiextensions.k8s.io/v1",
        "JSONSchemaProps",
        nested_schema(MAX_DEPTH - 1),
        "",
    ));
    let ok = ok.expect("just under the limit decodes");
    let mut v = &ok;
    for _ in 0..MAX_DEPTH - 1 {
        v = &v["not"];
    }
    assert_eq!(v, &json!({}));
    let err = decode(&envelope(
        "apiextensions.k8s.io/v1",
        "JSONSchemaProps",
        nested_schema(10_000),
        "",
    ))
    .unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::NestingTooDeep {
                limit: MAX_DEPTH,
                ..
            }
        ),
        "{err}"
    );

    // Protobuf objects embedded in RawExtensions count too.
    let mut body = body(
        "v1",
        "ConfigMap",
        &pb::ConfigMap {
            metadata: meta("x"),
            ..Default::default()
        },
    );
    for _ in 0..200 {
        let rev = pbapps::ControllerRevision {
            metadata: None,
            data: Some(RawExtension { raw: Some(body) }),
            revision: None,
        };
        body = common::body("apps/v1", "ControllerRevision", &rev);
    }
    assert!(matches!(
        decode(&body),
        Err(DecodeError::NestingTooDeep { .. })
    ));
}

#[test]
fn encode_errors() {
    assert_eq!(encode(&json!([])), Err(EncodeError::NotAnObject));
    assert_eq!(
        encode(&json!({"kind": "Namespace"})),
        Err(EncodeError::MissingTypeField("apiVersion"))
    );
    assert_eq!(
        encode(&json!({"apiVersion": "v1", "kind": "Nope"})),
        Err(EncodeError::UnknownKind {
            api_version: "v1".into(),
            kind: "Nope".into()
        })
    );
    assert_eq!(
        encode(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": 5}})),
        Err(EncodeError::TypeMismatch {
            path: "metadata.name".into(),
            expected: "a string"
        })
    );
    let err = encode(
        &json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "value": 1_u64 << 40}),
    );
    assert!(
        matches!(err, Err(EncodeError::InvalidValue { ref path, .. }) if path == "value"),
        "{err:?}"
    );
    let err = encode(&json!({"apiVersion": "v1", "kind": "Secret", "data": {"k": "not base64!"}}));
    assert!(
        matches!(err, Err(EncodeError::InvalidValue { ref path, .. }) if path == "data.k"),
        "{err:?}"
    );
    let err = encode(
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"creationTimestamp": "noon"}}),
    );
    assert!(
        matches!(err, Err(EncodeError::InvalidValue { .. })),
        "{err:?}"
    );

    let mut deep = json!({});
    for _ in 0..500 {
        deep = json!({"not": deep});
    }
    let obj =
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "JSONSchemaProps", "not": deep});
    assert!(matches!(
        encode(&obj),
        Err(EncodeError::NestingTooDeep { .. })
    ));
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("metadata".to_string()),
                    Just("name".to_string()),
                    Just("spec".to_string()),
                    Just("containers".to_string()),
                    Just("ports".to_string()),
                    Just("replicas".to_string()),
                    Just("template".to_string()),
                    ".{0,6}".prop_map(|s| s)
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode(&bytes);
        let _ = decode(&[b"k8s\0".as_slice(), &bytes].concat());
        let _ = decode(&envelope("apps/v1", "Deployment", bytes.clone(), ""));
        let _ = decode(&envelope("apiextensions.k8s.io/v1", "CustomResourceDefinition", bytes, ""));
    }

    #[test]
    fn mutated_bodies_never_panic(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), cut in any::<prop::sample::Index>()) {
        let mut body = deployment_body();
        for (at, byte) in edits {
            let i = at.index(body.len());
            body[i] = byte;
        }
        let _ = decode(&body);
        let end = cut.index(body.len());
        let _ = decode(&body[..end]);
    }

    #[test]
    fn decode_output_re_encodes(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4)) {
        let mut body = deployment_body();
        for (at, byte) in edits {
            let i = 4 + at.index(body.len() - 4);
            body[i] = byte;
        }
        if let Ok(decoded) = decode(&body) {
            // Whatever decodes, encodes; and decodes back to the same JSON.
            if let Ok(bytes) = encode(&decoded) {
                prop_assert_eq!(decode(&bytes).unwrap(), decoded);
            }
        }
    }

    #[test]
    fn random_json_never_panics_the_encoder(spec in arb_json(), metadata in arb_json()) {
        for (api_version, kind) in [("apps/v1", "Deployment"), ("v1", "Pod"), ("apiextensions.k8s.io/v1", "CustomResourceDefinition")] {
            let obj = json!({"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec});
            if let Ok(bytes) = encode(&obj) {
                prop_assert!(decode(&bytes).is_ok());
            }
        }
    }
}
