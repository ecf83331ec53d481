//! DefaultStorageClass and DefaultIngressClass: a new claim (Ingress) that
//! names no class gets the cluster's default StorageClass (IngressClass),
//! the one annotated `storageclass.kubernetes.io/is-default-class: "true"`
//! (`ingressclass.kubernetes.io/is-default-class`). With several defaults
//! the newest wins, equal ages by name, as upstream since 1.26; with none,
//! the object is left as it is (the PersistentVolume controller fills in
//! a default created later, upstream's retroactive default).

use corten_apimachinery::{StatusError, meta};
use serde_json::{Value, json};

use super::{Operation, Request};
use crate::app::ApiServer;

/// Marks the default StorageClass.
pub const DEFAULT_STORAGE_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
/// The beta spelling upstream still honours.
pub const BETA_DEFAULT_STORAGE_CLASS: &str = "storageclass.beta.kubernetes.io/is-default-class";
/// Marks the default IngressClass.
pub const DEFAULT_INGRESS_CLASS: &str = "ingressclass.kubernetes.io/is-default-class";
/// The beta claim annotation that names a class like `spec.storageClassName`.
pub const BETA_CLAIM_CLASS: &str = "volume.beta.kubernetes.io/storage-class";
/// The legacy Ingress annotation that names a class.
pub const INGRESS_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

/// Every object of a cluster-scoped resource, from the watch cache.
pub fn cached_objects(server: &ApiServer, storage_resource: &str) -> Vec<Value> {
    server.registry.cached_values(storage_resource, None)
}

/// The name of the default among `classes` (any of `annotations` set to
/// `"true"`): the newest by creationTimestamp, then the lowest name.
pub fn newest_default(classes: &[Value], annotations: &[&str]) -> Option<String> {
    let created = |c: &Value| {
        meta::creation_timestamp(c)
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    };
    classes
        .iter()
        .filter(|c| {
            let ann = meta::annotations(c);
            annotations
                .iter()
                .any(|a| ann.get(*a).map(String::as_str) == Some("true"))
        })
        .map(|c| (created(c), meta::name(c).unwrap_or_default()))
        // Newest first; among equals the lowest name.
        .min_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)))
        .map(|(_, name)| name.to_string())
}

/// DefaultStorageClass: fills `spec.storageClassName` of a new claim.
pub fn admit_claim(
    server: &ApiServer,
    req: &Request<'_>,
    obj: &mut Value,
) -> Result<(), StatusError> {
    if req.operation != Operation::Create || !req.is("", "persistentvolumeclaims") {
        return Ok(());
    }
    // Upstream `PersistentVolumeClaimHasClass`: a set field (even "")
    // or the beta annotation is the user's choice.
    let has_class = obj
        .pointer("/spec/storageClassName")
        .is_some_and(|v| !v.is_null())
        || meta::annotations(obj).contains_key(BETA_CLAIM_CLASS);
    if has_class {
        return Ok(());
    }
    let classes = cached_objects(server, "storageclasses");
    let Some(name) = newest_default(
        &classes,
        &[DEFAULT_STORAGE_CLASS, BETA_DEFAULT_STORAGE_CLASS],
    ) else {
        return Ok(());
    };
    set_spec_field(obj, "storageClassName", name);
    Ok(())
}

/// DefaultIngressClass: fills `spec.ingressClassName` of a new Ingress.
pub fn admit_ingress(
    server: &ApiServer,
    req: &Request<'_>,
    obj: &mut Value,
) -> Result<(), StatusError> {
    if req.operation != Operation::Create || !req.is("networking.k8s.io", "ingresses") {
        return Ok(());
    }
    let has_class = obj
        .pointer("/spec/ingressClassName")
        .is_some_and(|v| !v.is_null())
        || meta::annotations(obj).contains_key(INGRESS_CLASS_ANNOTATION);
    if has_class {
        return Ok(());
    }
    let classes = cached_objects(server, "ingressclasses");
    let Some(name) = newest_default(&classes, &[DEFAULT_INGRESS_CLASS]) else {
        return Ok(());
    };
    set_spec_field(obj, "ingressClassName", name);
    Ok(())
}

fn set_spec_field(obj: &mut Value, field: &str, value: String) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    let spec = root.entry("spec").or_insert_with(|| json!({}));
    if let Some(spec) = spec.as_object_mut() {
        spec.insert(field.to_string(), json!(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str, created: &str, default: Option<&str>) -> Value {
        let mut c = json!({"metadata": {"name": name, "creationTimestamp": created}});
        if let Some(v) = default {
            c["metadata"]["annotations"] = json!({DEFAULT_STORAGE_CLASS: v});
        }
        c
    }

    #[test]
    fn the_newest_default_wins_then_the_lowest_name() {
        let keys = [DEFAULT_STORAGE_CLASS, BETA_DEFAULT_STORAGE_CLASS];
        assert_eq!(newest_default(&[], &keys), None);
        let classes = [
            class("old", "2024-01-01T00:00:00Z", Some("true")),
            class("new", "2024-06-01T00:00:00Z", Some("true")),
            class("newest-but-not-default", "2025-01-01T00:00:00Z", None),
            class("not-true", "2025-01-01T00:00:00Z", Some("yes")),
        ];
        assert_eq!(newest_default(&classes, &keys).as_deref(), Some("new"));
        let tie = [
            class("b", "2024-06-01T00:00:00Z", Some("true")),
            class("a", "2024-06-01T00:00:00Z", Some("true")),
        ];
        assert_eq!(newest_default(&tie, &keys).as_deref(), Some("a"));
        let beta = [
            json!({"metadata": {"name": "beta", "annotations": {BETA_DEFAULT_STORAGE_CLASS: "true"}}}),
        ];
        assert_eq!(newest_default(&beta, &keys).as_deref(), Some("beta"));
        // The IngressClass annotation is another key.
        assert_eq!(newest_default(&classes, &[DEFAULT_INGRESS_CLASS]), None);
    }
}
