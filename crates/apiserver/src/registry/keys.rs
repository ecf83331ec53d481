//! etcd keys of objects: `<storage_resource>/<namespace>/<name>` or
//! `<storage_resource>/<name>` (relative to `--etcd-prefix`).

use corten_api::ResourceDef;
use corten_apimachinery::StatusError;

/// The key of one object.
pub fn object_key(def: &ResourceDef, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if def.namespaced => format!("{}/{ns}/{name}", def.storage_resource),
        _ => format!("{}/{name}", def.storage_resource),
    }
}

/// The key prefix of a collection (all namespaces when `namespace` is None).
pub fn collection_prefix(def: &ResourceDef, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if def.namespaced => format!("{}/{ns}/", def.storage_resource),
        _ => format!("{}/", def.storage_resource),
    }
}

/// Upstream's `ValidatePathSegmentName`: names end up in URLs and keys, so
/// `.`/`..` and `/`/`%` are refused before anything else looks at them.
pub fn check_path_segment(kind: &str, what: &str, name: &str) -> Result<(), StatusError> {
    if name == "." || name == ".." {
        return Err(StatusError::bad_request(format!(
            "{kind} {what} may not be '{name}'"
        )));
    }
    for bad in ['/', '%'] {
        if name.contains(bad) {
            return Err(StatusError::bad_request(format!(
                "{kind} {what} may not contain '{bad}'"
            )));
        }
    }
    if name.contains('\0') {
        return Err(StatusError::bad_request(format!(
            "{kind} {what} may not contain NUL"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_dangerous_segments() {
        assert!(check_path_segment("Pod", "name", "ok-name").is_ok());
        assert!(check_path_segment("Pod", "name", "..").is_err());
        assert!(check_path_segment("Pod", "name", "a/b").is_err());
        assert!(check_path_segment("Pod", "name", "a%2f").is_err());
    }
}
