//! Namespaces: the `kubernetes` finalizer and `Active` phase on create, the
//! `kubernetes.io/metadata.name` label, `/status` and `/finalize`.

use corten_apimachinery::names::{NameValidator, is_dns1123_label};
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::core::v1::{Namespace, NamespaceSpec, NamespaceStatus};
use serde_json::Value;

use crate::kind::KindRules;
use crate::validate;

/// The finalizer the namespace controller removes once the namespace is
/// empty.
pub const FINALIZER_KUBERNETES: &str = "kubernetes";
/// The label every namespace carries with its own name.
pub const LABEL_METADATA_NAME: &str = "kubernetes.io/metadata.name";

/// The rules of Namespace.
pub struct NamespaceRules;

impl KindRules for NamespaceRules {
    type Object = Namespace;
    const NAMESPACED: bool = false;

    fn name_validator() -> NameValidator {
        is_dns1123_label
    }

    fn prepare_for_create(obj: &mut Namespace) {
        obj.status = Some(NamespaceStatus {
            phase: Some("Active".into()),
            ..Default::default()
        });
        let spec = obj.spec.get_or_insert_with(NamespaceSpec::default);
        let finalizers = spec.finalizers.get_or_insert_with(Vec::new);
        if !finalizers.iter().any(|f| f == FINALIZER_KUBERNETES) {
            finalizers.push(FINALIZER_KUBERNETES.to_string());
        }
    }

    fn prepare_for_update(new: &mut Namespace, old: &Namespace) {
        // Finalizers only change through /finalize.
        let old_finalizers = old.spec.as_ref().and_then(|s| s.finalizers.clone());
        new.spec
            .get_or_insert_with(NamespaceSpec::default)
            .finalizers = old_finalizers;
    }

    fn default(obj: &mut Namespace) {
        if let Some(name) = obj.metadata.name.clone().filter(|n| !n.is_empty()) {
            obj.metadata
                .labels
                .get_or_insert_with(Default::default)
                .insert(LABEL_METADATA_NAME.to_string(), name);
        }
        let status = obj.status.get_or_insert_with(NamespaceStatus::default);
        if status.phase.as_deref().unwrap_or_default().is_empty() {
            status.phase = Some("Active".into());
        }
    }

    fn validate(obj: &Namespace) -> ErrorList {
        let path = Path::new("spec").child("finalizers");
        finalizers(obj)
            .iter()
            .flat_map(|f| validate_finalizer_name(f, &path))
            .collect()
    }

    fn validate_status_update(new: &Namespace, _old: &Namespace) -> ErrorList {
        let phase = new
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        let path = Path::new("status").child("Phase");
        if new.metadata.deletion_timestamp.is_none() {
            if phase != "Active" {
                return vec![FieldError::invalid(
                    &path,
                    phase,
                    "may only be 'Active' if `deletionTimestamp` is empty",
                )];
            }
        } else if phase != "Terminating" {
            return vec![FieldError::invalid(
                &path,
                phase,
                "may only be 'Terminating' if `deletionTimestamp` is not empty",
            )];
        }
        Vec::new()
    }

    fn field_labels() -> &'static [&'static str] {
        &["status.phase"]
    }

    fn field_attrs(obj: &Namespace) -> Vec<(String, String)> {
        vec![(
            "status.phase".into(),
            obj.status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_default(),
        )]
    }

    /// `/finalize` may change `spec.finalizers` only.
    fn prepare_for_subresource_update(subresource: &str, new: &mut Value, old: &Value) {
        if subresource != "finalize" {
            crate::strategy::default_prepare_for_status_update(new, old);
            return;
        }
        let finalizers = new
            .get("spec")
            .and_then(|s| s.get("finalizers"))
            .cloned()
            .unwrap_or(Value::Null);
        let rv = corten_apimachinery::meta::resource_version(new).map(str::to_string);
        let mut merged = old.clone();
        if let Some(map) = merged.as_object_mut() {
            let spec = map
                .entry("spec")
                .or_insert_with(|| Value::Object(Default::default()));
            if !spec.is_object() {
                *spec = Value::Object(Default::default());
            }
            if let Some(spec) = spec.as_object_mut() {
                if finalizers.is_null() {
                    spec.remove("finalizers");
                } else {
                    spec.insert("finalizers".into(), finalizers);
                }
            }
        }
        if let Some(rv) = rv {
            corten_apimachinery::meta::set(&mut merged, "resourceVersion", Value::String(rv));
        }
        *new = merged;
    }

    fn validate_subresource_update(
        subresource: &str,
        new: &Namespace,
        old: &Namespace,
    ) -> ErrorList {
        if subresource != "finalize" {
            return Self::validate_status_update(new, old);
        }
        let path = Path::new("spec").child("finalizers");
        finalizers(new)
            .iter()
            .enumerate()
            .flat_map(|(i, f)| validate_finalizer_name(f, &path.index(i)))
            .collect()
    }
}

fn finalizers(ns: &Namespace) -> &[String] {
    ns.spec
        .as_ref()
        .and_then(|s| s.finalizers.as_deref())
        .unwrap_or_default()
}

/// Upstream `validateFinalizerName`: a qualified name, and names without a
/// `/` must be one of the standard finalizers.
pub(crate) fn validate_finalizer_name(name: &str, path: &Path) -> ErrorList {
    let mut errs = validate::qualified_name(name, path);
    if !name.contains('/') && !matches!(name, "kubernetes" | "orphan" | "foregroundDeletion") {
        errs.push(FieldError::invalid(
            path,
            name,
            "name is neither a standard finalizer name nor is it fully qualified",
        ));
    }
    errs
}
