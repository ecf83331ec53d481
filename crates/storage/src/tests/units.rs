//! Pure functions: no etcd needed.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{json_of, pod, pod_attrs};
use crate::cache::{CachedObject, EventType, progress_ordered_in};
use crate::error::Error;
use crate::etcd::{prefix_end, resource_of};

#[test]
fn etcd_versions_with_ordered_progress() {
    assert!(!progress_ordered_in("3.4.23"));
    assert!(!progress_ordered_in("3.4.30"));
    assert!(progress_ordered_in("3.4.31"));
    assert!(!progress_ordered_in("3.5.12"));
    assert!(progress_ordered_in("3.5.13"));
    assert!(progress_ordered_in("3.6.0"));
    assert!(progress_ordered_in("3.6.0-rc.1"));
    assert!(progress_ordered_in("4.0.0"));
    assert!(!progress_ordered_in("garbage"));
    assert!(!progress_ordered_in(""));
}

#[test]
fn key_helpers() {
    assert_eq!(prefix_end(b"/registry/pods/"), b"/registry/pods0");
    assert_eq!(prefix_end(b"a\xff"), b"b");
    assert_eq!(prefix_end(b"\xff\xff"), b"\0");
    assert_eq!(resource_of("pods/default/web"), "pods");
    assert_eq!(resource_of("pods/"), "pods");
    assert_eq!(
        resource_of("apps.k8s.io/deployments/ns/d"),
        "deployments.apps.k8s.io"
    );
    assert_eq!(resource_of(""), "");
}

#[test]
fn a_transform_runs_before_anything_is_extracted() {
    let attrs = pod_attrs();
    // The transform sets a field the attributes read and a label.
    let transform: crate::TransformFn = std::sync::Arc::new(|v: &mut serde_json::Value| {
        v["spec"]["nodeName"] = serde_json::json!("defaulted");
        v["metadata"]["labels"]["added"] = serde_json::json!("yes");
    });
    let obj = CachedObject::decode_transformed(
        "pods/ns/a",
        &pod("ns", "a", &[("app", "web")], ""),
        5,
        &attrs,
        Some(&transform),
    )
    .unwrap();
    assert_eq!(obj.field("spec.nodeName"), Some("defaulted"));
    assert_eq!(obj.labels.get("added").map(String::as_str), Some("yes"));
    let v = json_of(&obj.json);
    assert_eq!(v["spec"]["nodeName"], "defaulted");
    assert_eq!(v["metadata"]["resourceVersion"], "5");
    // Values that are not objects are not handed to it.
    assert!(
        CachedObject::decode_transformed("pods/ns/b", b"[1]", 1, &attrs, Some(&transform)).is_err()
    );
}

#[test]
fn decode_sets_resource_version_and_extracts_attributes() {
    let attrs = pod_attrs();
    let obj = CachedObject::decode(
        "pods/ns/a",
        &pod("ns", "a", &[("app", "web")], "n1"),
        42,
        &attrs,
    )
    .unwrap();
    assert_eq!(obj.name, "a");
    assert_eq!(obj.namespace, "ns");
    assert_eq!(obj.resource_version, 42);
    assert_eq!(obj.labels, BTreeMap::from([("app".into(), "web".into())]));
    assert_eq!(obj.field("spec.nodeName"), Some("n1"));
    assert_eq!(obj.field("status.phase"), None);
    let v = json_of(&obj.json);
    assert_eq!(v["metadata"]["resourceVersion"], "42");
    assert_eq!(v["kind"], "Pod");

    // An existing (stale) resourceVersion is replaced in place.
    let stale = br#"{"metadata":{"name":"x","resourceVersion":"1","uid":"u"}}"#;
    let obj = CachedObject::decode("pods/ns/x", stale, 7, &attrs).unwrap();
    assert_eq!(
        std::str::from_utf8(&obj.json).unwrap(),
        r#"{"metadata":{"name":"x","resourceVersion":"7","uid":"u"}}"#
    );

    // Cluster-scoped objects and missing metadata.
    let obj = CachedObject::decode("nodes/n", br#"{"kind":"Node"}"#, 3, &attrs).unwrap();
    assert_eq!((obj.namespace.as_str(), obj.name.as_str()), ("", ""));

    for bad in [
        &b"not json"[..],
        b"[1]",
        b"\"s\"",
        br#"{"metadata":5}"#,
        b"",
    ] {
        assert!(matches!(
            CachedObject::decode("pods/ns/bad", bad, 1, &attrs),
            Err(Error::Corrupt { .. })
        ));
    }
}

#[test]
fn event_encodings() {
    let attrs = pod_attrs();
    let obj =
        Arc::new(CachedObject::decode("pods/ns/a", &pod("ns", "a", &[], ""), 5, &attrs).unwrap());
    let added = obj.added_event_json().clone();
    assert_eq!(
        added.as_ptr(),
        obj.added_event_json().as_ptr(),
        "built once"
    );
    let v = json_of(&added);
    assert_eq!(v["type"], "ADDED");
    assert_eq!(v["object"]["metadata"]["resourceVersion"], "5");
    assert!(added.ends_with(b"}\n"));

    let deleted = obj.with_resource_version(9);
    let v = json_of(&deleted.json);
    assert_eq!(v["metadata"]["resourceVersion"], "9");
    assert_eq!(v["metadata"]["name"], "a");
    assert_eq!(deleted.resource_version, 9);

    let ev = crate::cache::WatchEvent::bookmark("apps/v1", "Deployment", 12, true);
    assert_eq!(ev.event_type, EventType::Bookmark);
    let v = json_of(ev.encoded_json());
    assert_eq!(v["type"], "BOOKMARK");
    assert_eq!(v["object"]["apiVersion"], "apps/v1");
    assert_eq!(v["object"]["metadata"]["resourceVersion"], "12");
    assert_eq!(
        v["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
}
