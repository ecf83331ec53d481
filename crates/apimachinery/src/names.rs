//! Name and value validation (upstream `k8s.io/apimachinery/pkg/util/validation`
//! and `api/validation` for object metadata).
//!
//! Each `is_*` function returns the list of problems as upstream's message
//! strings (empty = valid), so callers wrap them in `FieldError::invalid`.

use serde_json::Value;

use crate::field_error::{ErrorList, Path};

/// RFC 1123 subdomain (most object names): max 253 chars.
pub fn is_dns1123_subdomain(_v: &str) -> Vec<String> {
    todo!("implemented by the apimachinery work")
}

/// RFC 1123 label (namespaces, service names' stricter cousin): max 63 chars.
pub fn is_dns1123_label(_v: &str) -> Vec<String> {
    todo!("implemented by the apimachinery work")
}

/// RFC 1035 label (service names): max 63 chars, starts with a letter.
pub fn is_dns1035_label(_v: &str) -> Vec<String> {
    todo!("implemented by the apimachinery work")
}

/// A qualified name (label and annotation keys): `[prefix/]name`.
pub fn is_qualified_name(_v: &str) -> Vec<String> {
    todo!("implemented by the apimachinery work")
}

/// A label value: max 63 chars, alphanumerics plus `-_.` inside.
pub fn is_valid_label_value(_v: &str) -> Vec<String> {
    todo!("implemented by the apimachinery work")
}

/// A C identifier (e.g. strict env var names).
pub fn is_c_identifier(_v: &str) -> Vec<String> {
    todo!("implemented by the apimachinery work")
}

/// An env var name (upstream's relaxed rule: printable ASCII, no `=`).
pub fn is_env_var_name(_v: &str) -> Vec<String> {
    todo!("implemented by the apimachinery work")
}

/// A ConfigMap/Secret key: `[-._a-zA-Z0-9]+`, max 253, not `.` or `..`.
pub fn is_config_map_key(_v: &str) -> Vec<String> {
    todo!("implemented by the apimachinery work")
}

/// A port number 1..=65535.
pub fn is_valid_port_num(_port: i64) -> Vec<String> {
    todo!("implemented by the apimachinery work")
}

/// A named port (IANA_SVC_NAME): max 15 chars, lowercase alnum and `-`, at least one letter.
pub fn is_valid_port_name(_v: &str) -> Vec<String> {
    todo!("implemented by the apimachinery work")
}

/// An IPv4 or IPv6 address.
pub fn is_valid_ip(_v: &str) -> Vec<String> {
    todo!("implemented by the apimachinery work")
}

/// A CIDR.
pub fn is_valid_cidr(_v: &str) -> Vec<String> {
    todo!("implemented by the apimachinery work")
}

/// Which validator applies to `metadata.name` of a kind.
pub type NameValidator = fn(&str) -> Vec<String>;

/// Validates `metadata` of an object being created (upstream
/// `ValidateObjectMeta`): name or generateName present and valid per
/// `name_validator`, namespace present iff `namespaced` and a valid DNS
/// label, labels (keys qualified names, values label values), annotations
/// (keys qualified names, total size <= 256 KiB), ownerReferences
/// (apiVersion, kind, name, uid required; at most one controller), finalizers
/// (qualified names, no duplicates). Paths start at `metadata`.
pub fn validate_object_meta(
    _obj: &Value,
    _namespaced: bool,
    _name_validator: NameValidator,
    _path: &Path,
) -> ErrorList {
    todo!("implemented by the apimachinery work")
}

/// Validates metadata changes on update (upstream `ValidateObjectMetaUpdate`):
/// name, namespace, uid, creationTimestamp, generateName-derived name are
/// immutable (`field is immutable`); deletionTimestamp and
/// deletionGracePeriodSeconds may only be set by deletion; plus
/// `validate_object_meta` on the new object.
pub fn validate_object_meta_update(
    _new: &Value,
    _old: &Value,
    _namespaced: bool,
    _name_validator: NameValidator,
    _path: &Path,
) -> ErrorList {
    todo!("implemented by the apimachinery work")
}
