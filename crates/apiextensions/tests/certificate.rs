#![recursion_limit = "512"]
//! A cert-manager-like Certificate: nested defaults, enums, formats,
//! list sets and maps, int-or-string and cross-field CEL rules.

mod common;

use common::{certificate_crd, prepared, render};
use corten_apiextensions::{CustomResourceSchema, validate_crd};
use serde_json::{Value, json};

fn schema() -> CustomResourceSchema {
    CustomResourceSchema::new(&prepared(certificate_crd()), "v1").expect("schema builds")
}

fn cert(spec: Value) -> Value {
    json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
           "metadata": {"name": "example-com", "namespace": "sandbox"}, "spec": spec})
}

#[test]
fn crd_is_valid() {
    assert_eq!(
        render(&validate_crd(&prepared(certificate_crd()))),
        Vec::<String>::new()
    );
}

#[test]
fn good_certificate_is_defaulted_and_valid() {
    let s = schema();
    let mut obj = cert(
        json!({"secretName": "example-com-tls", "dnsNames": ["example.com", "*.example.com"],
        "issuerRef": {"name": "letsencrypt"}, "privateKey": {}, "duration": "2160h", "keystores": 3,
        "secretTemplate": {"labels": {"team": "web"}}}),
    );
    s.default(&mut obj);
    assert_eq!(
        obj["spec"]["issuerRef"],
        json!({"name": "letsencrypt", "kind": "Issuer", "group": "cert-manager.io"})
    );
    assert_eq!(obj["spec"]["privateKey"]["algorithm"], "RSA");
    assert!(s.prune(&mut obj).is_empty());
    assert_eq!(render(&s.validate_full(&obj, None)), Vec::<String>::new());
}

#[test]
fn bad_certificate_lists_every_violation() {
    let s = schema();
    let mut obj = cert(
        json!({"secretName": "", "dnsNames": ["a.com", "a.com"], "issuerRef": {},
        "uris": ["not a uri"], "usages": ["server auth", "teleport"], "revisionHistoryLimit": 0,
        "keystores": true, "privateKey": {"algorithm": "DSA"}}),
    );
    s.default(&mut obj);
    assert_eq!(
        render(&s.validate(&obj)),
        vec![
            "spec.secretName: Invalid value: \"\": spec.secretName in body should be at least 1 chars long",
            "spec.uris[0]: Invalid value: \"not a uri\": spec.uris[0] in body must be of type uri: \"not a uri\"",
            "spec.usages[1]: Unsupported value: \"teleport\": supported values: \"digital signature\", \"key encipherment\", \"server auth\", \"client auth\"",
            "spec.issuerRef.name: Required value",
            "spec.privateKey.algorithm: Unsupported value: \"DSA\": supported values: \"RSA\", \"ECDSA\", \"Ed25519\"",
            "spec.revisionHistoryLimit: Invalid value: 0: spec.revisionHistoryLimit in body should be greater than or equal to 1",
            "spec.keystores: Invalid value: \"boolean\": spec.keystores in body must be of type integer,string: \"boolean\"",
            "spec.dnsNames[1]: Duplicate value: \"a.com\"",
        ]
    );
}

#[test]
fn cel_rules_on_nested_fields() {
    let s = schema();
    let mut obj = cert(
        json!({"secretName": "s", "issuerRef": {"name": "i"}, "dnsNames": ["Example.COM"],
        "ipAddresses": ["10.0.0.1", "nope"], "privateKey": {"algorithm": "Ed25519", "size": 256}}),
    );
    s.default(&mut obj);
    assert_eq!(
        render(&s.validate_cel(&obj, None)),
        vec![
            "spec.privateKey.size: Invalid value: \"object\": size must not be set for Ed25519 keys",
            "spec.dnsNames: Invalid value: \"array\": dnsNames must be lowercase host names",
            "spec.ipAddresses: Invalid value: \"array\": ipAddresses must be IPs",
        ]
    );
    let mut none = cert(json!({"secretName": "s", "issuerRef": {"name": "i"}}));
    s.default(&mut none);
    assert_eq!(
        render(&s.validate_cel(&none, None)),
        vec![
            "spec: Invalid value: \"object\": at least one of commonName, dnsNames, uris or ipAddresses must be set"
        ]
    );
}

#[test]
fn status_conditions_are_a_list_map() {
    let s = schema();
    let mut obj = cert(json!({"secretName": "s", "issuerRef": {"name": "i"}, "commonName": "x"}));
    obj["status"] = json!({"conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"},
        {"type": "Ready", "status": "Maybe", "lastTransitionTime": "yesterday"}]});
    assert_eq!(
        render(&s.validate(&obj)),
        vec![
            "status.conditions[1].status: Unsupported value: \"Maybe\": supported values: \"True\", \"False\", \"Unknown\"",
            "status.conditions[1].lastTransitionTime: Invalid value: \"yesterday\": status.conditions[1].lastTransitionTime in body must be of type date-time: \"yesterday\"",
            "status.conditions[1]: Duplicate value: {\"type\":\"Ready\"}",
        ]
    );
}

#[test]
fn missing_spec_and_wrong_api_version() {
    let s = schema();
    let obj = json!({"apiVersion": "cert-manager.io/v2", "kind": "Certificate", "metadata": {"name": "x", "namespace": "n"}});
    assert_eq!(
        render(&s.validate(&obj)),
        vec![
            "apiVersion: Invalid value: \"cert-manager.io/v2\": must be cert-manager.io/v1",
            "spec: Required value"
        ]
    );
}
