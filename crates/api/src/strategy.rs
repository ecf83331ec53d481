//! The per-kind hooks of the generic REST store.
//!
//! The apiserver's store handles everything generic (uid, timestamps,
//! resourceVersion, generateName, finalizers, deletion) and calls these
//! hooks, in this order:
//!
//! create: `canonicalize` -> `prepare_for_create` -> `default` -> `validate`
//! update: `canonicalize` -> `prepare_for_update` -> `default` -> `validate_update`
//! status update: `canonicalize` -> `prepare_for_status_update` -> `validate_status_update`
//! other writable subresource (`finalize`, `approval`): `canonicalize` ->
//! `prepare_for_subresource_update` -> `validate_subresource_update`
//!
//! Objects travel as `serde_json::Value`; implementations that need typed
//! access use [`crate::typed`] to convert. The store runs the hooks through
//! the pipeline methods ([`Strategy::prepare_create`] and friends, see
//! [`crate::pipeline`]), which typed strategies override to convert once
//! per request instead of once per hook.

use corten_apimachinery::ErrorList;
use corten_apimachinery::names::{NameValidator, is_dns1123_subdomain};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use crate::pipeline::{
    PipelineError, Prepared, StoreSteps, UpdateTarget, prepare_create_with_hooks,
    prepare_update_with_hooks,
};

/// Per-kind behaviour of a built-in resource.
pub trait Strategy: Send + Sync {
    /// Decodes the body into the kind's typed form and re-encodes it, which
    /// rejects wrong JSON types (the `Err` string becomes a 400 message) and
    /// drops unknown fields, like upstream's decoder. Also canonicalizes
    /// values (e.g. resource quantities).
    fn canonicalize(&self, obj: Value) -> Result<Value, String>;

    /// Fields unknown to the typed form, as JSON paths (`spec.foo`), for
    /// `fieldValidation=Strict|Warn`. Default: none detected.
    fn unknown_fields(&self, _obj: &Value) -> Vec<String> {
        Vec::new()
    }

    /// Whether `metadata.generation` is maintained for this kind (1 on
    /// create, +1 on every spec change), as upstream does for workloads,
    /// services, CRDs, ... but not for pods, configmaps or secrets.
    fn tracks_generation(&self) -> bool {
        false
    }

    /// Clears what a client may not set on create (`status`) and sets
    /// `metadata.generation` to 1 for kinds that track it.
    fn prepare_for_create(&self, obj: &mut Value) {
        default_prepare_for_create(obj, self.tracks_generation());
    }

    /// On a main-resource update: keeps `status` from `old` and bumps
    /// `metadata.generation` when the spec changed (for kinds that track it).
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        default_prepare_for_update(new, old, self.tracks_generation());
    }

    /// On a `/status` update: keeps everything but `status` from `old`.
    fn prepare_for_status_update(&self, new: &mut Value, old: &Value) {
        default_prepare_for_status_update(new, old);
    }

    /// Applies upstream defaults (`SetDefaults_*`).
    fn default(&self, _obj: &mut Value) {}

    /// Validates a new object, `metadata` included.
    fn validate(&self, obj: &Value) -> ErrorList;

    /// Validates an update (immutable fields etc.), `metadata` included.
    fn validate_update(&self, new: &Value, old: &Value) -> ErrorList;

    /// Validates a `/status` update. Default: metadata update rules only.
    fn validate_status_update(&self, new: &Value, old: &Value) -> ErrorList {
        self.validate_update(new, old)
    }

    /// On an update through a writable subresource other than `status`
    /// (`namespaces/finalize`, `certificatesigningrequests/approval`): keeps
    /// from `old` what that subresource may not change. Called instead of
    /// `prepare_for_status_update`. Default: like a status update.
    fn prepare_for_subresource_update(&self, _subresource: &str, new: &mut Value, old: &Value) {
        self.prepare_for_status_update(new, old);
    }

    /// Validates an update through a writable subresource other than
    /// `status`. Called instead of `validate_status_update`. Default: like a
    /// status update.
    fn validate_subresource_update(
        &self,
        _subresource: &str,
        new: &Value,
        old: &Value,
    ) -> ErrorList {
        self.validate_status_update(new, old)
    }

    /// The validator for `metadata.name`.
    fn name_validator(&self) -> NameValidator {
        is_dns1123_subdomain
    }

    /// Field-selector labels this kind supports besides `metadata.name`
    /// and `metadata.namespace` (e.g. `spec.nodeName` for pods).
    fn field_labels(&self) -> &'static [&'static str] {
        &[]
    }

    /// The values of `field_labels()` for an object.
    fn field_attrs(&self, _obj: &Value) -> Vec<(String, String)> {
        Vec::new()
    }

    /// The create pipeline up to validation: `canonicalize` -> the store's
    /// steps -> `prepare_for_create` -> `default`. Overrides must behave
    /// exactly like the default, which calls the hooks one by one.
    fn prepare_create(
        &self,
        obj: Value,
        steps: &mut dyn StoreSteps,
    ) -> Result<Prepared, PipelineError> {
        prepare_create_with_hooks(self, obj, steps)
    }

    /// Validates an object [`Strategy::prepare_create`] prepared (like
    /// [`Strategy::validate`], reusing its typed form when it has one).
    fn validate_create(&self, obj: &Prepared) -> ErrorList {
        self.validate(obj.value())
    }

    /// The update pipeline up to validation: `canonicalize` -> the store's
    /// steps -> `prepare_for_update` -> `default` (main resource) or
    /// `prepare_for_status_update` (`/status`). `old` is the stored object.
    fn prepare_update(
        &self,
        new: Value,
        old: &Value,
        target: UpdateTarget,
        steps: &mut dyn StoreSteps,
    ) -> Result<Prepared, PipelineError> {
        prepare_update_with_hooks(self, new, old, target, steps)
    }

    /// Validates an object [`Strategy::prepare_update`] prepared against
    /// the stored one (`validate_update` or `validate_status_update`).
    fn validate_prepared_update(
        &self,
        new: &Prepared,
        old: &Value,
        target: UpdateTarget,
    ) -> ErrorList {
        match target {
            UpdateTarget::Main => self.validate_update(new.value(), old),
            UpdateTarget::Status => self.validate_status_update(new.value(), old),
        }
    }

    /// [`Strategy::field_attrs`] of a prepared object (from its typed form
    /// when it has one).
    fn prepared_field_attrs(&self, obj: &Prepared) -> Vec<(String, String)> {
        self.field_attrs(obj.value())
    }

    /// For kinds with graceful deletion (pods): the grace period to apply
    /// given the request's `gracePeriodSeconds`; `None` or `Some(0)` means
    /// delete immediately.
    fn graceful_delete_seconds(&self, _obj: &Value, _requested: Option<i64>) -> Option<i64> {
        None
    }
}

/// Clears `status`; sets `metadata.generation = 1` if `generation`.
pub fn default_prepare_for_create(obj: &mut Value, generation: bool) {
    if let Some(map) = obj.as_object_mut() {
        map.remove("status");
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            if generation {
                meta.insert("generation".into(), Value::from(1));
            } else {
                meta.remove("generation");
            }
        }
    }
}

/// Keeps `status` from `old`; if `generation`, bumps it when anything
/// outside `metadata` and `status` changed.
pub fn default_prepare_for_update(new: &mut Value, old: &Value, generation: bool) {
    let Some(map) = new.as_object_mut() else {
        return;
    };
    match old.get("status") {
        Some(s) => {
            map.insert("status".into(), s.clone());
        }
        None => {
            map.remove("status");
        }
    }
    let old_gen = corten_apimachinery::meta::generation(old);
    let changed = generation && spec_changed(new, old);
    if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
        if generation {
            let g = if changed { old_gen + 1 } else { old_gen };
            meta.insert("generation".into(), Value::from(g.max(1)));
        } else {
            match old.get("metadata").and_then(|m| m.get("generation")) {
                Some(g) => meta.insert("generation".into(), g.clone()),
                None => meta.remove("generation"),
            };
        }
    }
}

/// Whether anything outside `metadata`, `status`, `apiVersion` and `kind`
/// differs between `new` and `old`.
pub fn spec_changed(new: &Value, old: &Value) -> bool {
    let skip = |k: &str| matches!(k, "metadata" | "status" | "apiVersion" | "kind");
    let (Some(n), Some(o)) = (new.as_object(), old.as_object()) else {
        return new != old;
    };
    let nk = n.iter().filter(|(k, _)| !skip(k));
    let ok = o.iter().filter(|(k, _)| !skip(k));
    let mut a: Vec<_> = nk.collect();
    let mut b: Vec<_> = ok.collect();
    a.sort_by(|x, y| x.0.cmp(y.0));
    b.sort_by(|x, y| x.0.cmp(y.0));
    a != b
}

/// A status update changes `status` and the metadata a client may edit
/// (labels, annotations, finalizers, ownerReferences), never the spec:
/// upstream's status strategies for built-in kinds copy the old spec into
/// the new object and leave the metadata to the generic update rules
/// (which already pinned uid, creationTimestamp, deletion fields). Every
/// top-level field other than `metadata` and `status` comes from `old`,
/// and so does `metadata.generation`, which tracks the spec.
pub fn default_prepare_for_status_update(new: &mut Value, old: &Value) {
    let (Some(new_map), Some(old_map)) = (new.as_object_mut(), old.as_object()) else {
        *new = old.clone();
        return;
    };
    new_map.retain(|k, _| k == "metadata" || k == "status" || old_map.contains_key(k));
    for (k, v) in old_map {
        if k != "metadata" && k != "status" {
            new_map.insert(k.clone(), v.clone());
        }
    }
    let old_generation = old
        .get("metadata")
        .and_then(|m| m.get("generation"))
        .cloned();
    if let Some(meta) = new_map.get_mut("metadata").and_then(Value::as_object_mut) {
        match old_generation {
            Some(g) => {
                meta.insert("generation".into(), g);
            }
            None => {
                meta.remove("generation");
            }
        }
    }
}

/// Go's zero `metav1.Time`, which it decodes from `null` or an absent
/// field.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Gives every `status.conditions[*]` (`metav1.Condition`) without a
/// `lastTransitionTime` Go's zero time. Upstream decodes such conditions
/// (the conformance test of Service status sends one) and, for kinds
/// whose status validation does not require the time, stores them;
/// k8s-openapi's `Condition` requires the field.
pub fn zero_condition_times(obj: &mut Value) {
    let Some(conds) = obj
        .get_mut("status")
        .and_then(|s| s.get_mut("conditions"))
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for c in conds.iter_mut().filter_map(Value::as_object_mut) {
        if c.get("lastTransitionTime").is_none_or(Value::is_null) {
            c.insert("lastTransitionTime".into(), Value::from(ZERO_TIME));
        }
    }
}

/// Upstream `metav1.ResetObjectMetaForStatus`: the status strategies of
/// newer kinds (VolumeAttachment, ValidatingAdmissionPolicy, ...) keep a
/// status update from changing labels, annotations, finalizers, owner
/// references, the deletion timestamp or the generation.
pub fn reset_object_meta_for_status(new: &mut ObjectMeta, old: &ObjectMeta) {
    new.deletion_timestamp = old.deletion_timestamp.clone();
    new.generation = old.generation;
    new.self_link = old.self_link.clone();
    new.labels = old.labels.clone();
    new.annotations = old.annotations.clone();
    new.finalizers = old.finalizers.clone();
    new.owner_references = old.owner_references.clone();
}

/// A strategy that only round-trips through the typed form `T` and applies
/// the generic metadata rules. Kinds with no special behaviour use it
/// directly; others start from it.
pub struct TypedStrategy<T> {
    namespaced: bool,
    generation: bool,
    _kind: std::marker::PhantomData<fn() -> T>,
}

impl<T> TypedStrategy<T> {
    /// A strategy for a kind of the given scope.
    pub const fn new(namespaced: bool, tracks_generation: bool) -> Self {
        TypedStrategy {
            namespaced,
            generation: tracks_generation,
            _kind: std::marker::PhantomData,
        }
    }
}

impl<T> Strategy for TypedStrategy<T>
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    fn canonicalize(&self, obj: Value) -> Result<Value, String> {
        crate::typed::round_trip::<T>(obj)
    }

    fn tracks_generation(&self) -> bool {
        self.generation
    }

    fn validate(&self, obj: &Value) -> ErrorList {
        corten_apimachinery::names::validate_object_meta(
            obj,
            self.namespaced,
            self.name_validator(),
            &corten_apimachinery::Path::new("metadata"),
        )
    }

    fn validate_update(&self, new: &Value, old: &Value) -> ErrorList {
        corten_apimachinery::names::validate_object_meta_update(
            new,
            old,
            self.namespaced,
            self.name_validator(),
            &corten_apimachinery::Path::new("metadata"),
        )
    }
}

#[cfg(test)]
mod status_update_tests {
    use serde_json::json;

    use super::default_prepare_for_status_update;

    #[test]
    fn status_updates_keep_the_spec_but_take_metadata_edits() {
        let old = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "generation": 3, "labels": {"a": "1"}},
            "spec": {"replicas": 2},
            "status": {"replicas": 1}
        });
        let mut new = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "generation": 9, "labels": {"a": "1"},
                         "annotations": {"deployment.kubernetes.io/revision": "2"}},
            "spec": {"replicas": 5},
            "status": {"replicas": 2},
            "extra": true
        });
        default_prepare_for_status_update(&mut new, &old);
        assert_eq!(new["spec"], json!({"replicas": 2}));
        assert_eq!(new["status"], json!({"replicas": 2}));
        assert_eq!(new["metadata"]["generation"], json!(3));
        assert_eq!(
            new["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
            json!("2")
        );
        assert!(new.get("extra").is_none());
    }
}
