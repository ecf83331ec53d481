//! Realistic CRDs shared by the integration tests.
#![allow(dead_code)]

use corten_apiextensions::{default_crd, prepare_crd_for_create};
use serde_json::{Value, json};

/// The CronTab of the upstream documentation, extended with the features
/// real operators use: defaults, patterns, enums, CEL rules (with message,
/// messageExpression, fieldPath, reason, a transition rule), printer
/// columns, status and scale subresources and selectable fields.
pub fn crontab_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "crontabs.stable.example.com"},
        "spec": {
            "group": "stable.example.com",
            "scope": "Namespaced",
            "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"], "categories": ["all"]},
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "required": ["cronSpec"],
                            "x-kubernetes-validations": [
                                {"rule": "self.minReplicas <= self.replicas", "message": "replicas must be greater than or equal to minReplicas"},
                                {"rule": "self.replicas <= self.maxReplicas",
                                 "messageExpression": "'replicas ' + string(self.replicas) + ' exceeds maxReplicas ' + string(self.maxReplicas)"},
                                {"rule": "!has(self.suspend) || !self.suspend || self.replicas == 0",
                                 "fieldPath": ".replicas", "reason": "FieldValueForbidden", "message": "must be 0 while suspended"},
                                {"rule": "self.image.startsWith('registry.example.com/')"}
                            ],
                            "properties": {
                                "cronSpec": {"type": "string", "pattern": "^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$",
                                             "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "cronSpec is immutable"}]},
                                "image": {"type": "string", "default": "registry.example.com/cron:latest", "maxLength": 64},
                                "replicas": {"type": "integer", "minimum": 0, "maximum": 10, "default": 1},
                                "minReplicas": {"type": "integer", "default": 0},
                                "maxReplicas": {"type": "integer", "default": 5},
                                "suspend": {"type": "boolean"},
                                "concurrencyPolicy": {"type": "string", "enum": ["Allow", "Forbid", "Replace"], "default": "Allow"},
                                "timeout": {"type": "string", "format": "duration"},
                                "env": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                                        "items": {"type": "object", "required": ["name"], "properties": {
                                            "name": {"type": "string"}, "value": {"type": "string"}}}},
                                "labels": {"type": "object", "additionalProperties": {"type": "string"}}
                            }
                        },
                        "status": {"type": "object", "properties": {
                            "replicas": {"type": "integer"},
                            "labelSelector": {"type": "string"},
                            "lastScheduleTime": {"type": "string", "format": "date-time"}
                        }}
                    }
                }},
                "subresources": {"status": {}, "scale": {
                    "specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.replicas",
                    "labelSelectorPath": ".status.labelSelector"
                }},
                "additionalPrinterColumns": [
                    {"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"},
                    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
                ],
                "selectableFields": [{"jsonPath": ".spec.concurrencyPolicy"}, {"jsonPath": ".spec.suspend"}]
            }]
        }
    })
}

/// A cert-manager-like Certificate with nested objects, enums, list sets
/// and maps, formats, an int-or-string field and cross-field CEL rules.
pub fn certificate_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "certificates.cert-manager.io"},
        "spec": {
            "group": "cert-manager.io",
            "scope": "Namespaced",
            "names": {"plural": "certificates", "singular": "certificate", "kind": "Certificate",
                      "listKind": "CertificateList", "shortNames": ["cert", "certs"], "categories": ["cert-manager"]},
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "required": ["spec"],
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "metadata": {"type": "object"},
                        "spec": {
                            "type": "object",
                            "required": ["issuerRef", "secretName"],
                            "x-kubernetes-validations": [
                                {"rule": "has(self.commonName) || (has(self.dnsNames) && size(self.dnsNames) > 0) || has(self.uris) || has(self.ipAddresses)",
                                 "message": "at least one of commonName, dnsNames, uris or ipAddresses must be set"},
                                {"rule": "!has(self.privateKey) || !has(self.privateKey.size) || self.privateKey.algorithm != 'Ed25519'",
                                 "message": "size must not be set for Ed25519 keys", "fieldPath": ".privateKey.size"}
                            ],
                            "properties": {
                                "secretName": {"type": "string", "minLength": 1},
                                "commonName": {"type": "string", "maxLength": 64},
                                "dnsNames": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"},
                                             "x-kubernetes-validations": [{"rule": "self.all(n, n.matches('^(\\\\*\\\\.)?[a-z0-9.-]+$'))",
                                                                           "message": "dnsNames must be lowercase host names"}]},
                                "uris": {"type": "array", "items": {"type": "string", "format": "uri"}},
                                "ipAddresses": {"type": "array", "items": {"type": "string"},
                                                "x-kubernetes-validations": [{"rule": "self.all(ip, isIP(ip))", "message": "ipAddresses must be IPs"}]},
                                "duration": {"type": "string", "format": "duration"},
                                "renewBefore": {"type": "string", "format": "duration"},
                                "isCA": {"type": "boolean"},
                                "usages": {"type": "array", "items": {"type": "string", "enum": ["digital signature", "key encipherment", "server auth", "client auth"]}},
                                "issuerRef": {"type": "object", "required": ["name"], "properties": {
                                    "name": {"type": "string"}, "kind": {"type": "string", "default": "Issuer"},
                                    "group": {"type": "string", "default": "cert-manager.io"}}},
                                "privateKey": {"type": "object", "properties": {
                                    "algorithm": {"type": "string", "enum": ["RSA", "ECDSA", "Ed25519"], "default": "RSA"},
                                    "size": {"type": "integer"},
                                    "rotationPolicy": {"type": "string", "enum": ["Never", "Always"]}}},
                                "revisionHistoryLimit": {"type": "integer", "format": "int32", "minimum": 1},
                                "keystores": {"x-kubernetes-int-or-string": true},
                                "secretTemplate": {"type": "object", "properties": {
                                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                                    "annotations": {"type": "object", "additionalProperties": {"type": "string"}}}}
                            }
                        },
                        "status": {"type": "object", "properties": {
                            "conditions": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"],
                                           "items": {"type": "object", "required": ["status", "type"], "properties": {
                                               "type": {"type": "string"}, "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
                                               "lastTransitionTime": {"type": "string", "format": "date-time"},
                                               "message": {"type": "string"}, "reason": {"type": "string"}}}},
                            "notAfter": {"type": "string", "format": "date-time"},
                            "revision": {"type": "integer"}
                        }}
                    }
                }},
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
                    {"name": "Secret", "type": "string", "jsonPath": ".spec.secretName"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
                ]
            }]
        }
    })
}

/// A CRD as the apiserver stores it after a create: defaulted and prepared.
pub fn prepared(mut crd: Value) -> Value {
    default_crd(&mut crd);
    prepare_crd_for_create(&mut crd);
    crd
}

/// Renders field errors the way kubectl shows them.
pub fn render(errs: &[corten_apimachinery::FieldError]) -> Vec<String> {
    errs.iter().map(|e| e.to_string()).collect()
}
