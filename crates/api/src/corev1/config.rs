//! ConfigMaps and Secrets: key and size rules, `immutable`, secret types,
//! and the merge of `stringData` into `data`.

use std::collections::BTreeMap;

use corten_apimachinery::names::is_config_map_key;
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};

use crate::kind::KindRules;
use crate::validate;

/// The size limit of a ConfigMap's or Secret's data (upstream
/// `MaxSecretSize`, 1 MiB).
pub const MAX_DATA_SIZE: usize = 1024 * 1024;

const IMMUTABLE_MSG: &str = "field is immutable when `immutable` is set";

fn key_errors(key: &str, path: &Path) -> ErrorList {
    validate::invalid_each(path, key, is_config_map_key(key))
}

fn too_large() -> FieldError {
    FieldError::too_long(&Path::new(""), MAX_DATA_SIZE)
}

/// The rules of ConfigMap.
pub struct ConfigMapRules;

impl KindRules for ConfigMapRules {
    type Object = ConfigMap;
    const NAMESPACED: bool = true;

    fn validate(cm: &ConfigMap) -> ErrorList {
        let mut errs = Vec::new();
        let mut total = 0usize;
        let binary = cm.binary_data.as_ref();
        for (k, v) in cm.data.iter().flatten() {
            let p = Path::new("data").key(k);
            errs.extend(key_errors(k, &p));
            if binary.is_some_and(|b| b.contains_key(k)) {
                errs.push(FieldError::invalid(
                    &p,
                    k.as_str(),
                    "duplicate of key present in binaryData",
                ));
            }
            total = total.saturating_add(v.len());
        }
        for (k, v) in binary.into_iter().flatten() {
            errs.extend(key_errors(k, &Path::new("binaryData").key(k)));
            total = total.saturating_add(v.0.len());
        }
        if total > MAX_DATA_SIZE {
            errs.push(too_large());
        }
        errs
    }

    fn validate_update(new: &ConfigMap, old: &ConfigMap) -> ErrorList {
        let mut errs = Vec::new();
        if old.immutable == Some(true) {
            if new.immutable != Some(true) {
                errs.push(FieldError::forbidden(
                    &Path::new("immutable"),
                    IMMUTABLE_MSG,
                ));
            }
            if !validate::same_map(new.data.as_ref(), old.data.as_ref()) {
                errs.push(FieldError::forbidden(&Path::new("data"), IMMUTABLE_MSG));
            }
            if !validate::same_map(new.binary_data.as_ref(), old.binary_data.as_ref()) {
                errs.push(FieldError::forbidden(
                    &Path::new("binaryData"),
                    IMMUTABLE_MSG,
                ));
            }
        }
        errs.extend(Self::validate(new));
        errs
    }
}

/// `Opaque`, the default secret type.
pub const SECRET_TYPE_OPAQUE: &str = "Opaque";
/// Service account token secrets.
pub const SECRET_TYPE_SA_TOKEN: &str = "kubernetes.io/service-account-token";
/// The annotation naming the service account of a token secret.
pub const SA_NAME_ANNOTATION: &str = "kubernetes.io/service-account.name";

/// The rules of Secret.
pub struct SecretRules;

/// `Required value` for each missing key.
fn require_keys(data: &BTreeMap<String, ByteString>, keys: &[&str], path: &Path) -> ErrorList {
    keys.iter()
        .filter(|k| !data.contains_key(**k))
        .map(|k| FieldError::required(&path.key(k), ""))
        .collect()
}

/// The key must be present and hold a JSON object.
fn require_json(data: &BTreeMap<String, ByteString>, key: &str, path: &Path) -> ErrorList {
    let Some(bytes) = data.get(key) else {
        return require_keys(data, &[key], path);
    };
    match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes.0) {
        Ok(_) => Vec::new(),
        Err(e) => vec![FieldError::invalid(
            &path.key(key),
            "<secret contents redacted>",
            &e.to_string(),
        )],
    }
}

/// The data keys each well-known secret type needs.
fn typed_secret_errors(ty: &str, data: &BTreeMap<String, ByteString>, path: &Path) -> ErrorList {
    match ty {
        "kubernetes.io/dockercfg" => require_json(data, ".dockercfg", path),
        "kubernetes.io/dockerconfigjson" => require_json(data, ".dockerconfigjson", path),
        // Either may be empty, but one must be present.
        "kubernetes.io/basic-auth"
            if !data.contains_key("username") && !data.contains_key("password") =>
        {
            require_keys(data, &["username", "password"], path)
        }
        "kubernetes.io/ssh-auth" if data.get("ssh-privatekey").is_none_or(|v| v.0.is_empty()) => {
            vec![FieldError::required(&path.key("ssh-privatekey"), "")]
        }
        "kubernetes.io/tls" => require_keys(data, &["tls.crt", "tls.key"], path),
        _ => Vec::new(),
    }
}

impl KindRules for SecretRules {
    type Object = Secret;
    const NAMESPACED: bool = true;

    /// `stringData` is write-only: its entries overwrite `data` and it is
    /// never stored (upstream does this in its v1 conversion).
    fn canonicalize(s: &mut Secret) -> Result<(), String> {
        if let Some(string_data) = s.string_data.take() {
            let data = s.data.get_or_insert_with(BTreeMap::new);
            for (k, v) in string_data {
                data.insert(k, ByteString(v.into_bytes()));
            }
        }
        Ok(())
    }

    fn default(s: &mut Secret) {
        if s.type_.as_deref().unwrap_or_default().is_empty() {
            s.type_ = Some(SECRET_TYPE_OPAQUE.into());
        }
    }

    fn validate(s: &Secret) -> ErrorList {
        let mut errs = Vec::new();
        let data_path = Path::new("data");
        let empty = BTreeMap::new();
        let data = s.data.as_ref().unwrap_or(&empty);
        let mut total = 0usize;
        for (k, v) in data {
            errs.extend(key_errors(k, &data_path.key(k)));
            total = total.saturating_add(v.0.len());
        }
        if total > MAX_DATA_SIZE {
            errs.push(FieldError::too_long(&data_path, MAX_DATA_SIZE));
        }
        let ty = s.type_.as_deref().unwrap_or_default();
        if ty == SECRET_TYPE_SA_TOKEN {
            let has_name = s
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(SA_NAME_ANNOTATION))
                .is_some_and(|v| !v.is_empty());
            if !has_name {
                errs.push(FieldError::required(
                    &Path::new("metadata")
                        .child("annotations")
                        .key(SA_NAME_ANNOTATION),
                    "",
                ));
            }
        }
        errs.extend(typed_secret_errors(ty, data, &data_path));
        errs
    }

    fn validate_update(new: &Secret, old: &Secret) -> ErrorList {
        let mut errs = validate::immutable(&new.type_, &old.type_, &Path::new("type"));
        if old.immutable == Some(true) {
            if new.immutable != Some(true) {
                errs.push(FieldError::forbidden(
                    &Path::new("immutable"),
                    IMMUTABLE_MSG,
                ));
            }
            if !validate::same_map(new.data.as_ref(), old.data.as_ref()) {
                errs.push(FieldError::forbidden(&Path::new("data"), IMMUTABLE_MSG));
            }
        }
        errs.extend(Self::validate(new));
        errs
    }

    fn field_labels() -> &'static [&'static str] {
        &["type"]
    }

    fn field_attrs(s: &Secret) -> Vec<(String, String)> {
        vec![("type".into(), s.type_.clone().unwrap_or_default())]
    }
}
