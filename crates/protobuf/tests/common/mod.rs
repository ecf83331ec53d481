//! Test helpers: k8s-pb (prost) is the independent encoder, k8s-openapi the JSON oracle.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Debug;

use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as pbmeta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A Kubernetes protobuf body as client-go writes it.
pub fn body<M: Message>(api_version: &str, kind: &str, msg: &M) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(msg.encode_to_vec()),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    [b"k8s\0".as_slice(), &unknown.encode_to_vec()].concat()
}

/// Decodes `body` and checks the JSON three ways: equal to the hand-written upstream JSON,
/// equal as a k8s-openapi value, and unchanged by a k8s-openapi round trip (so every key is
/// one k8s-openapi knows, in the form it uses).
pub fn check<T>(body: &[u8], expected: Value) -> T
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let decoded = corten_protobuf::decode(body).expect("decode");
    let typed: T =
        serde_json::from_value(decoded.clone()).expect("decoded JSON fits the k8s-openapi type");
    let want: T =
        serde_json::from_value(expected.clone()).expect("expected JSON fits the k8s-openapi type");
    assert_eq!(typed, want);
    assert_eq!(
        serde_json::to_value(&typed).unwrap(),
        decoded,
        "k8s-openapi round trip changes the JSON"
    );
    assert_eq!(decoded, expected);
    typed
}

/// Encodes `expected` with [`corten_protobuf::encode`] and checks that prost decodes it to
/// `msg`, and that decoding it again gives `expected`.
pub fn check_encode<M: Message + Default + PartialEq + Debug>(msg: &M, expected: &Value) {
    let bytes = corten_protobuf::encode(expected).expect("encode");
    assert_eq!(&bytes[..4], b"k8s\0");
    let unknown = Unknown::decode(&bytes[4..]).expect("envelope");
    let tm = unknown.type_meta.expect("typeMeta");
    assert_eq!(tm.api_version.as_deref(), expected["apiVersion"].as_str());
    assert_eq!(tm.kind.as_deref(), expected["kind"].as_str());
    let back =
        M::decode(unknown.raw.unwrap_or_default().as_slice()).expect("prost decodes our encoding");
    assert_eq!(&back, msg);
    assert_eq!(&corten_protobuf::decode(&bytes).expect("decode"), expected);
}

pub fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

pub fn q(v: &str) -> Quantity {
    Quantity { string: s(v) }
}

/// An IntOrString as Go writes it: all three fields.
pub fn int(v: i32) -> Option<IntOrString> {
    Some(IntOrString {
        r#type: Some(0),
        int_val: Some(v),
        str_val: s(""),
    })
}

pub fn string(v: &str) -> Option<IntOrString> {
    Some(IntOrString {
        r#type: Some(1),
        int_val: Some(0),
        str_val: s(v),
    })
}

pub fn time(seconds: i64) -> Option<pbmeta::Time> {
    Some(pbmeta::Time {
        seconds: Some(seconds),
        nanos: Some(0),
    })
}

pub fn map<V: Clone>(entries: &[(&str, V)]) -> BTreeMap<String, V> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

pub fn meta(name: &str) -> Option<pbmeta::ObjectMeta> {
    Some(pbmeta::ObjectMeta {
        name: s(name),
        ..Default::default()
    })
}

pub fn namespaced(name: &str, namespace: &str) -> Option<pbmeta::ObjectMeta> {
    Some(pbmeta::ObjectMeta {
        name: s(name),
        namespace: s(namespace),
        ..Default::default()
    })
}

/// Like [`check`], for types whose k8s-openapi form adds required-but-empty fields: the
/// decoded JSON must equal `expected`, match as a k8s-openapi value, and use only keys the
/// k8s-openapi serialisation has.
pub fn check_keys<T>(body: &[u8], expected: Value) -> T
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let decoded = corten_protobuf::decode(body).expect("decode");
    assert_eq!(decoded, expected);
    let typed: T =
        serde_json::from_value(decoded.clone()).expect("decoded JSON fits the k8s-openapi type");
    let want: T =
        serde_json::from_value(expected).expect("expected JSON fits the k8s-openapi type");
    assert_eq!(typed, want);
    assert_keys_within(&decoded, &serde_json::to_value(&typed).unwrap(), "");
    typed
}

fn assert_keys_within(ours: &Value, theirs: &Value, path: &str) {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = format!("{path}.{k}");
                let other = b
                    .get(k)
                    .unwrap_or_else(|| panic!("k8s-openapi does not know {p}"));
                assert_keys_within(v, other, &p);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}");
            for (x, y) in a.iter().zip(b) {
                assert_keys_within(x, y, path);
            }
        }
        (a, b) => assert_eq!(a, b, "{path}"),
    }
}

/// [`corten_protobuf::encode`] then [`corten_protobuf::decode`] gives `json` back.
pub fn check_json_round_trip(json: &Value) {
    let bytes = corten_protobuf::encode(json).expect("encode");
    assert_eq!(&corten_protobuf::decode(&bytes).expect("decode"), json);
}
