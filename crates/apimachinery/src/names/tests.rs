use serde_json::json;

use super::*;
use crate::field_error::{ErrorList, Path};

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn render(errs: &ErrorList) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}

#[test]
fn dns1123_subdomain() {
    for ok in ["a", "ab", "a-b", "a.b", "0", "a.b.c-d.e", "1.2.3.4"] {
        assert!(is_dns1123_subdomain(ok).is_empty(), "{ok}");
    }
    for bad in ["", "A", "-a", "a-", "a..b", ".a", "a.", "a_b", "a.-b", "á"] {
        assert_eq!(
            is_dns1123_subdomain(bad),
            vec![SUBDOMAIN_MSG.to_string()],
            "{bad}"
        );
    }
    let long = "a".repeat(254);
    assert_eq!(
        is_dns1123_subdomain(&long),
        vec!["must be no more than 253 characters".to_string()]
    );
    assert!(is_dns1123_subdomain(&"a".repeat(253)).is_empty());
}

#[test]
fn dns1123_label() {
    assert!(is_dns1123_label("my-name").is_empty());
    assert!(is_dns1123_label("123").is_empty());
    assert_eq!(
        is_dns1123_label("a.b"),
        vec!["must not contain dots".to_string()]
    );
    assert_eq!(is_dns1123_label("Foo"), vec![LABEL_MSG.to_string()]);
    assert_eq!(is_dns1123_label(""), vec![LABEL_MSG.to_string()]);
    assert_eq!(
        is_dns1123_label(&"a".repeat(64)),
        vec!["must be no more than 63 characters".to_string()]
    );
}

#[test]
fn dns1035_label() {
    assert!(is_dns1035_label("my-name").is_empty());
    assert!(is_dns1035_label("a").is_empty());
    let msg = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
    for bad in ["1abc", "", "a-", "a.b", "A"] {
        assert_eq!(is_dns1035_label(bad), vec![msg.to_string()], "{bad}");
    }
}

#[test]
fn qualified_names() {
    for ok in [
        "a",
        "A",
        "MyName",
        "my.name",
        "123-abc",
        "example.com/MyName",
        "a/b",
        "k8s.io/x_y",
    ] {
        assert!(is_qualified_name(ok).is_empty(), "{ok}");
    }
    assert_eq!(is_qualified_name("_a"), vec![NAME_PART_MSG.to_string()]);
    assert_eq!(
        is_qualified_name(""),
        vec![
            "name part must be non-empty".to_string(),
            NAME_PART_MSG.to_string()
        ]
    );
    assert_eq!(
        is_qualified_name("/a"),
        vec!["prefix part must be non-empty".to_string()]
    );
    assert_eq!(
        is_qualified_name("Example.com/a"),
        vec![format!("prefix part {SUBDOMAIN_MSG}")]
    );
    assert_eq!(
        is_qualified_name("a/b/c"),
        vec!["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".to_string()]
    );
    assert_eq!(
        is_qualified_name(&"a".repeat(64)),
        vec!["name part must be no more than 63 characters".to_string()]
    );
}

#[test]
fn label_values() {
    for ok in ["", "a", "MyValue", "my_value", "12345", "a.b-c_d"] {
        assert!(is_valid_label_value(ok).is_empty(), "{ok}");
    }
    for bad in ["-a", "a-", "a b", "a/b", "é"] {
        assert_eq!(
            is_valid_label_value(bad),
            vec![LABEL_VALUE_MSG.to_string()],
            "{bad}"
        );
    }
    assert_eq!(
        is_valid_label_value(&"a".repeat(64)),
        vec!["must be no more than 63 characters".to_string()]
    );
}

#[test]
fn identifiers_and_keys() {
    assert!(is_c_identifier("_a1").is_empty());
    assert_eq!(
        is_c_identifier("1a"),
        vec!["a valid C identifier must start with alphabetic character or '_', followed by a string of alphanumeric characters or '_' (e.g. 'my_name',  or 'MY_NAME',  or 'MyName', regex used for validation is '[A-Za-z_][A-Za-z0-9_]*')".to_string()]
    );
    assert!(is_env_var_name("1 weird-but.ok").is_empty());
    assert_eq!(
        is_env_var_name("A=B"),
        vec!["a valid environment variable name must consist only of printable ASCII characters other than '='".to_string()]
    );
    assert_eq!(
        is_env_var_name(""),
        vec!["environment variable name must be non-empty".to_string()]
    );
    assert_eq!(is_env_var_name("tab\t").len(), 1);
    assert!(is_strict_env_var_name("MY_ENV.NAME").is_empty());
    assert_eq!(
        is_strict_env_var_name("..x"),
        vec!["must not start with '..'".to_string()]
    );
    assert_eq!(is_strict_env_var_name("1A").len(), 1);

    assert!(is_config_map_key("key.name").is_empty());
    assert_eq!(is_config_map_key("."), vec!["must not be '.'".to_string()]);
    assert_eq!(
        is_config_map_key(".."),
        vec!["must not be '..'".to_string()]
    );
    assert_eq!(
        is_config_map_key("a/b"),
        vec!["a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')".to_string()]
    );
    assert_eq!(is_config_map_key(&"a".repeat(254)).len(), 1);
}

#[test]
fn ports() {
    assert!(is_valid_port_num(1).is_empty());
    assert!(is_valid_port_num(65535).is_empty());
    for bad in [0, -1, 65536] {
        assert_eq!(
            is_valid_port_num(bad),
            vec!["must be between 1 and 65535, inclusive".to_string()]
        );
    }
    assert!(is_valid_port_name("http").is_empty());
    assert!(is_valid_port_name("h-2").is_empty());
    assert_eq!(
        is_valid_port_name("123"),
        vec!["must contain at least one letter (a-z)".to_string()]
    );
    assert_eq!(
        is_valid_port_name("-a--b-"),
        vec![
            "must contain consecutive hyphens".replace("contain", "not contain"),
            "must not begin or end with a hyphen".to_string()
        ]
    );
    assert_eq!(
        is_valid_port_name("HTTP"),
        vec![
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string(),
            "must contain at least one letter (a-z)".to_string()
        ]
    );
    assert_eq!(
        is_valid_port_name("abcdefghijklmnop"),
        vec!["must be no more than 15 characters".to_string()]
    );
}

#[test]
fn ips_and_cidrs() {
    assert!(is_valid_ip("10.9.8.7").is_empty());
    assert!(is_valid_ip("2001:db8::ffff").is_empty());
    assert!(is_valid_ip("010.1.1.1").is_empty());
    assert_eq!(
        is_valid_ip("1.2.3"),
        vec!["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)".to_string()]
    );
    assert!(is_valid_ipv4_address("1.2.3.4").is_empty());
    assert!(!is_valid_ipv4_address("::1").is_empty());
    assert!(is_valid_ipv6_address("::1").is_empty());
    assert!(!is_valid_ipv6_address("::ffff:1.2.3.4").is_empty());
    assert!(is_valid_cidr("10.9.8.0/24").is_empty());
    assert!(is_valid_cidr("10.9.8.1/24").is_empty());
    assert!(is_valid_cidr("2001:db8::/64").is_empty());
    assert_eq!(
        is_valid_cidr("10.9.8.0"),
        vec!["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)".to_string()]
    );
    assert_eq!(parse_ip("010.0.0.1"), Some("10.0.0.1".parse().unwrap()));
}

fn md() -> Path {
    Path::new("metadata")
}

#[test]
fn object_meta_valid() {
    let obj = json!({"metadata": {
        "name": "web-1", "namespace": "default",
        "labels": {"app": "web", "k8s.io/tier": ""},
        "annotations": {"Example.com/Note": "x"},
        "finalizers": ["example.com/f"],
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "1", "controller": true}],
        "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsType": "FieldsV1"}]
    }});
    assert!(validate_object_meta(&obj, true, is_dns1123_subdomain, &md()).is_empty());
}

#[test]
fn object_meta_name_rules() {
    let obj = json!({"metadata": {"name": "Foo", "namespace": "default"}});
    assert_eq!(
        render(&validate_object_meta(
            &obj,
            true,
            is_dns1123_subdomain,
            &md()
        )),
        vec![format!(
            "metadata.name: Invalid value: \"Foo\": {SUBDOMAIN_MSG}"
        )]
    );
    let obj = json!({"metadata": {"namespace": "default"}});
    assert_eq!(
        render(&validate_object_meta(
            &obj,
            true,
            is_dns1123_subdomain,
            &md()
        )),
        vec!["metadata.name: Required value: name or generateName is required".to_string()]
    );
    let obj = json!({"metadata": {"generateName": "web-", "namespace": "default"}});
    assert!(validate_object_meta(&obj, true, is_dns1123_subdomain, &md()).is_empty());
    let obj =
        json!({"metadata": {"generateName": "Web-", "name": "web-x", "namespace": "default"}});
    assert_eq!(
        render(&validate_object_meta(
            &obj,
            true,
            is_dns1123_subdomain,
            &md()
        )),
        vec![format!(
            "metadata.generateName: Invalid value: \"Web-\": {SUBDOMAIN_MSG}"
        )]
    );
    assert_eq!(mask_for_test("a-"), "a");
    assert_eq!(mask_for_test("abc-"), "aba");
}

fn mask_for_test(s: &str) -> String {
    // The generateName mask is private; exercise it through a validator that echoes.
    fn echo(s: &str) -> Vec<String> {
        vec![s.to_string()]
    }
    let obj = json!({"metadata": {"generateName": s, "name": "x"}});
    validate_object_meta(&obj, false, echo, &md())
        .into_iter()
        .find(|e| e.field == "metadata.generateName")
        .map(|e| e.detail)
        .unwrap_or_default()
}

#[test]
fn object_meta_namespace_rules() {
    let obj = json!({"metadata": {"name": "a"}});
    assert_eq!(
        render(&validate_object_meta(
            &obj,
            true,
            is_dns1123_subdomain,
            &md()
        )),
        vec!["metadata.namespace: Required value".to_string()]
    );
    let obj = json!({"metadata": {"name": "a", "namespace": "x"}});
    assert_eq!(
        render(&validate_object_meta(
            &obj,
            false,
            is_dns1123_subdomain,
            &md()
        )),
        vec!["metadata.namespace: Forbidden: not allowed on this type".to_string()]
    );
    let obj = json!({"metadata": {"name": "a", "namespace": "a.b"}});
    assert_eq!(
        render(&validate_object_meta(
            &obj,
            true,
            is_dns1123_subdomain,
            &md()
        )),
        vec!["metadata.namespace: Invalid value: \"a.b\": must not contain dots".to_string()]
    );
}

#[test]
fn object_meta_labels_annotations() {
    let obj = json!({"metadata": {"name": "a", "labels": {"-bad": "ok", "good": "bad value"}}});
    assert_eq!(
        render(&validate_object_meta(
            &obj,
            false,
            is_dns1123_subdomain,
            &md()
        )),
        vec![
            format!("metadata.labels: Invalid value: \"-bad\": {NAME_PART_MSG}"),
            format!("metadata.labels: Invalid value: \"bad value\": {LABEL_VALUE_MSG}"),
        ]
    );
    let big = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT_B);
    let obj = json!({"metadata": {"name": "a", "annotations": {"k": big}}});
    assert_eq!(
        render(&validate_object_meta(
            &obj,
            false,
            is_dns1123_subdomain,
            &md()
        )),
        vec!["metadata.annotations: Too long: may not be more than 262144 bytes".to_string()]
    );
    let obj = json!({"metadata": {"name": "a", "labels": {"a": 1}}});
    let errs = validate_object_meta(&obj, false, is_dns1123_subdomain, &md());
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].field, "metadata.labels[a]");
    assert_eq!(errs[0].error_type, crate::FieldErrorType::TypeInvalid);
}

#[test]
fn object_meta_owner_refs_and_finalizers() {
    let obj = json!({"metadata": {"name": "a", "ownerReferences": [
        {"apiVersion": "apps/", "kind": "", "name": "", "uid": ""},
        {"apiVersion": "v1", "kind": "A", "name": "x", "uid": "1", "controller": true},
        {"apiVersion": "v1", "kind": "B", "name": "y", "uid": "2", "controller": true},
        {"apiVersion": "v1", "kind": "Event", "name": "e", "uid": "3"},
    ]}});
    let errs = render(&validate_object_meta(
        &obj,
        false,
        is_dns1123_subdomain,
        &md(),
    ));
    assert_eq!(
        errs[0],
        "metadata.ownerReferences.apiVersion: Invalid value: \"apps/\": version must not be empty"
    );
    assert_eq!(
        errs[1],
        "metadata.ownerReferences.kind: Invalid value: \"\": must not be empty"
    );
    assert_eq!(
        errs[2],
        "metadata.ownerReferences.name: Invalid value: \"\": must not be empty"
    );
    assert_eq!(
        errs[3],
        "metadata.ownerReferences.uid: Invalid value: \"\": must not be empty"
    );
    assert!(errs[4].ends_with(
        ": Only one reference can have Controller set to true. Found \"true\" in references for A/x and B/y"
    ));
    assert!(errs[5].ends_with(": /v1, Kind=Event is disallowed from being an owner"));
    assert_eq!(errs.len(), 6);

    let obj = json!({"metadata": {"name": "a", "finalizers": ["orphan", "foregroundDeletion", "bad/x/y"]}});
    let errs = render(&validate_object_meta(
        &obj,
        false,
        is_dns1123_subdomain,
        &md(),
    ));
    assert_eq!(errs.len(), 2);
    assert!(
        errs[0].starts_with("metadata.finalizers: Invalid value: \"bad/x/y\": a qualified name")
    );
    assert_eq!(
        errs[1],
        "metadata.finalizers: Invalid value: [\"orphan\",\"foregroundDeletion\",\"bad/x/y\"]: finalizer orphan and foregroundDeletion cannot be both set"
    );
}

#[test]
fn object_meta_generation_and_managed_fields() {
    let obj = json!({"metadata": {"name": "a", "generation": -1, "managedFields": [
        {"manager": "m\u{7}", "operation": "Patch", "fieldsType": "FieldsV2"}
    ]}});
    assert_eq!(
        render(&validate_object_meta(&obj, false, is_dns1123_subdomain, &md())),
        vec![
            "metadata.generation: Invalid value: -1: must be greater than or equal to 0".to_string(),
            "metadata.managedFields[0].operation: Invalid value: \"Patch\": must be `Apply` or `Update`".to_string(),
            "metadata.managedFields[0].fieldsType: Invalid value: \"FieldsV2\": must be `FieldsV1`".to_string(),
            "metadata.managedFields[0].manager: Invalid value: \"m\\u{7}\": invalid character U+0007 (at position 1)".to_string(),
        ]
    );
}

#[test]
fn object_meta_update() {
    let old = json!({"metadata": {"name": "a", "namespace": "ns", "uid": "u1", "resourceVersion": "5",
        "creationTimestamp": "2024-01-01T00:00:00Z", "generation": 3}});
    let ok = json!({"metadata": {"name": "a", "namespace": "ns", "uid": "u1", "resourceVersion": "5",
        "creationTimestamp": "2024-01-01T00:00:00+00:00", "generation": 3, "labels": {"x": "y"}}});
    assert!(validate_object_meta_update(&ok, &old, true, is_dns1123_subdomain, &md()).is_empty());

    let bad = json!({"metadata": {"name": "b", "namespace": "ns", "uid": "u2",
        "creationTimestamp": "2024-01-02T00:00:00Z", "generation": 2,
        "deletionTimestamp": "2024-01-03T00:00:00Z"}});
    assert_eq!(
        render(&validate_object_meta_update(&bad, &old, true, is_dns1123_subdomain, &md())),
        vec![
            "metadata.resourceVersion: Invalid value: \"\": must be specified for an update".to_string(),
            "metadata.generation: Invalid value: 2: must not be decremented".to_string(),
            "metadata.name: Invalid value: \"b\": field is immutable".to_string(),
            "metadata.uid: Invalid value: \"u2\": field is immutable".to_string(),
            "metadata.creationTimestamp: Invalid value: \"2024-01-02T00:00:00Z\": field is immutable".to_string(),
            "metadata.deletionTimestamp: Invalid value: \"2024-01-03T00:00:00Z\": field is immutable".to_string(),
        ]
    );

    let deleting = json!({"metadata": {"name": "a", "resourceVersion": "1",
        "deletionTimestamp": "2024-01-03T00:00:00Z", "finalizers": ["a"]}});
    let added = json!({"metadata": {"name": "a", "resourceVersion": "1",
        "deletionTimestamp": "2024-01-03T00:00:00Z", "finalizers": ["a", "c", "b"]}});
    assert_eq!(
        render(&validate_object_meta_update(&added, &deleting, false, is_dns1123_subdomain, &md())),
        vec!["metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"b\", \"c\"}".to_string()]
    );
}

#[test]
fn malformed_metadata_never_panics() {
    for obj in [
        json!(null),
        json!(1),
        json!({"metadata": 3}),
        json!({"metadata": {"name": 3, "labels": [], "ownerReferences": {}, "finalizers": "x", "managedFields": [1]}}),
    ] {
        let _ = validate_object_meta(&obj, true, is_dns1123_subdomain, &md());
        let _ = validate_object_meta_update(&obj, &obj, true, is_dns1123_subdomain, &md());
    }
}
