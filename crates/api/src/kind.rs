//! A [`Strategy`] built from typed per-kind rules.
//!
//! Most kinds only need typed hooks ("default the ports", "validate the
//! selector"); [`KindStrategy`] does the JSON plumbing around them: decode
//! into the k8s-openapi struct, run the hook, encode back, and apply the
//! generic metadata rules of [`crate::strategy`]. A kind implements
//! [`KindRules`] on a unit struct and exposes
//! `pub static X_STRATEGY: KindStrategy<XRules> = KindStrategy::new();`.

use std::marker::PhantomData;

use corten_apimachinery::names::{
    NameValidator, is_dns1123_subdomain, validate_object_meta, validate_object_meta_update,
};
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::Metadata;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::pipeline::{
    PipelineError, Prepared, StoreSteps, Typed, UpdateTarget, decode_canonical, has_status,
    prepare_create_with_hooks, prepare_update_with_hooks,
};
use crate::strategy::{
    Strategy, default_prepare_for_create, default_prepare_for_status_update,
    default_prepare_for_update,
};
use crate::typed;

/// Typed hooks of one kind. Every method has a neutral default, so a kind
/// overrides only what upstream's strategy and validation do for it.
///
/// Hooks that mutate run after the generic JSON-level work (e.g.
/// `prepare_for_create` runs after `status` was cleared), and are skipped if
/// the object does not decode (validation then reports the problem).
pub trait KindRules: 'static {
    /// The k8s-openapi type of the stored version.
    type Object: DeserializeOwned + Serialize + Metadata<Ty = ObjectMeta> + Send + Sync + 'static;

    /// Namespaced or cluster-scoped.
    const NAMESPACED: bool;
    /// Whether `metadata.generation` is maintained on spec changes.
    const TRACKS_GENERATION: bool = false;
    /// Whether a client may set `status` on create (nodes), instead of it
    /// being cleared.
    const STATUS_ON_CREATE: bool = false;
    /// Whether the generic `metadata` validation applies (core/v1 events
    /// skip it upstream).
    const VALIDATE_METADATA: bool = true;

    /// The validator for `metadata.name`.
    fn name_validator() -> NameValidator {
        is_dns1123_subdomain
    }

    /// Fills, in the JSON body before it is decoded, fields that Go
    /// decodes as zero values when they are absent or `null` but whose
    /// k8s-openapi type requires them (a `metav1.Condition` without
    /// `lastTransitionTime`): such bodies must not become 400s.
    fn fill_go_zero_values(_obj: &mut Value) {}

    /// Normalizes a decoded object (quantities, legacy fields); an `Err`
    /// becomes a 400 like a decode error.
    fn canonicalize(_obj: &mut Self::Object) -> Result<(), String> {
        Ok(())
    }

    /// Create-time preparation after the generic one.
    fn prepare_for_create(_obj: &mut Self::Object) {}

    /// Update-time preparation after the generic one.
    fn prepare_for_update(_new: &mut Self::Object, _old: &Self::Object) {}

    /// `/status` preparation after the generic one.
    fn prepare_for_status_update(_new: &mut Self::Object, _old: &Self::Object) {}

    /// Upstream `SetDefaults_*`.
    fn default(_obj: &mut Self::Object) {}

    /// Validation of a new object besides `metadata`.
    fn validate(_obj: &Self::Object) -> ErrorList {
        Vec::new()
    }

    /// Validation of an update besides `metadata`; by default the object is
    /// validated as if new.
    fn validate_update(new: &Self::Object, _old: &Self::Object) -> ErrorList {
        Self::validate(new)
    }

    /// Validation of a `/status` update besides `metadata`.
    fn validate_status_update(_new: &Self::Object, _old: &Self::Object) -> ErrorList {
        Vec::new()
    }

    /// Extra field-selector labels.
    fn field_labels() -> &'static [&'static str] {
        &[]
    }

    /// Values of [`KindRules::field_labels`] (not called when there are
    /// none).
    fn field_attrs(_obj: &Self::Object) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Preparation of an update through a subresource other than `status`
    /// (`namespaces/finalize`, `certificatesigningrequests/approval`). The
    /// JSON objects are the full new and old objects; the default treats the
    /// subresource like `status`.
    fn prepare_for_subresource_update(_subresource: &str, new: &mut Value, old: &Value) {
        default_prepare_for_status_update(new, old);
        mutate_typed_with_old::<Self::Object, _>(new, old, Self::prepare_for_status_update);
    }

    /// Validation of an update through a subresource other than `status`,
    /// besides `metadata`.
    fn validate_subresource_update(
        _subresource: &str,
        new: &Self::Object,
        old: &Self::Object,
    ) -> ErrorList {
        Self::validate_status_update(new, old)
    }
}

/// The [`Strategy`] of a kind described by [`KindRules`].
pub struct KindStrategy<R> {
    _rules: PhantomData<fn() -> R>,
}

impl<R> KindStrategy<R> {
    /// The strategy (a zero-sized value usable in a `static`).
    pub const fn new() -> Self {
        KindStrategy {
            _rules: PhantomData,
        }
    }
}

impl<R> Default for KindStrategy<R> {
    fn default() -> Self {
        Self::new()
    }
}

/// Decodes `obj` as `T` without consuming it.
pub fn decode<T: DeserializeOwned>(obj: &Value) -> Result<T, String> {
    typed::decode(obj)
}

/// Runs `f` on the typed form of `obj` and writes the result back; leaves
/// `obj` untouched if it does not decode.
pub fn mutate_typed<T, F>(obj: &mut Value, f: F)
where
    T: DeserializeOwned + Serialize,
    F: FnOnce(&mut T),
{
    if let Ok(mut t) = decode::<T>(obj) {
        f(&mut t);
        *obj = typed::to_value(&t);
    }
}

/// Like [`mutate_typed`] with a read-only second object.
pub fn mutate_typed_with_old<T, F>(new: &mut Value, old: &Value, f: F)
where
    T: DeserializeOwned + Serialize,
    F: FnOnce(&mut T, &T),
{
    if let (Ok(mut n), Ok(o)) = (decode::<T>(new), decode::<T>(old)) {
        f(&mut n, &o);
        *new = typed::to_value(&n);
    }
}

/// The error reported when a stored or submitted object does not decode at
/// validation time (canonicalization normally rejects it earlier).
pub fn decode_error(detail: &str) -> ErrorList {
    vec![FieldError::internal(
        &Path::new(""),
        &format!("the object could not be decoded: {detail}"),
    )]
}

fn metadata_path() -> Path {
    Path::new("metadata")
}

impl<R: KindRules> Strategy for KindStrategy<R> {
    fn canonicalize(&self, mut obj: Value) -> Result<Value, String> {
        R::fill_go_zero_values(&mut obj);
        let mut t: R::Object = typed::from_value(obj)?;
        R::canonicalize(&mut t)?;
        Ok(typed::to_value(&t))
    }

    fn unknown_fields(&self, obj: &Value) -> Vec<String> {
        unknown_fields_of::<R::Object>(obj)
    }

    fn tracks_generation(&self) -> bool {
        R::TRACKS_GENERATION
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        if R::STATUS_ON_CREATE {
            let status = obj.get("status").cloned();
            default_prepare_for_create(obj, R::TRACKS_GENERATION);
            if let (Some(s), Some(map)) = (status, obj.as_object_mut()) {
                map.insert("status".into(), s);
            }
        } else {
            default_prepare_for_create(obj, R::TRACKS_GENERATION);
        }
        mutate_typed::<R::Object, _>(obj, R::prepare_for_create);
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        default_prepare_for_update(new, old, R::TRACKS_GENERATION);
        mutate_typed_with_old::<R::Object, _>(new, old, R::prepare_for_update);
    }

    fn prepare_for_status_update(&self, new: &mut Value, old: &Value) {
        default_prepare_for_status_update(new, old);
        mutate_typed_with_old::<R::Object, _>(new, old, R::prepare_for_status_update);
    }

    fn prepare_for_subresource_update(&self, subresource: &str, new: &mut Value, old: &Value) {
        R::prepare_for_subresource_update(subresource, new, old);
    }

    fn default(&self, obj: &mut Value) {
        mutate_typed::<R::Object, _>(obj, R::default);
    }

    fn validate(&self, obj: &Value) -> ErrorList {
        let mut errs = if R::VALIDATE_METADATA {
            validate_object_meta(obj, R::NAMESPACED, R::name_validator(), &metadata_path())
        } else {
            Vec::new()
        };
        match decode::<R::Object>(obj) {
            Ok(t) => errs.extend(R::validate(&t)),
            Err(e) => errs.extend(decode_error(&e)),
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> ErrorList {
        let mut errs = if R::VALIDATE_METADATA {
            validate_object_meta_update(
                new,
                old,
                R::NAMESPACED,
                R::name_validator(),
                &metadata_path(),
            )
        } else {
            Vec::new()
        };
        match (decode::<R::Object>(new), decode::<R::Object>(old)) {
            (Ok(n), Ok(o)) => errs.extend(R::validate_update(&n, &o)),
            (Err(e), _) | (_, Err(e)) => errs.extend(decode_error(&e)),
        }
        errs
    }

    fn validate_status_update(&self, new: &Value, old: &Value) -> ErrorList {
        let mut errs = validate_object_meta_update(
            new,
            old,
            R::NAMESPACED,
            R::name_validator(),
            &metadata_path(),
        );
        match (decode::<R::Object>(new), decode::<R::Object>(old)) {
            (Ok(n), Ok(o)) => errs.extend(R::validate_status_update(&n, &o)),
            (Err(e), _) | (_, Err(e)) => errs.extend(decode_error(&e)),
        }
        errs
    }

    fn validate_subresource_update(
        &self,
        subresource: &str,
        new: &Value,
        old: &Value,
    ) -> ErrorList {
        let mut errs = validate_object_meta_update(
            new,
            old,
            R::NAMESPACED,
            R::name_validator(),
            &metadata_path(),
        );
        match (decode::<R::Object>(new), decode::<R::Object>(old)) {
            (Ok(n), Ok(o)) => errs.extend(R::validate_subresource_update(subresource, &n, &o)),
            (Err(e), _) | (_, Err(e)) => errs.extend(decode_error(&e)),
        }
        errs
    }

    fn prepare_create(
        &self,
        mut obj: Value,
        steps: &mut dyn StoreSteps,
    ) -> Result<Prepared, PipelineError> {
        R::fill_go_zero_values(&mut obj);
        if !R::STATUS_ON_CREATE && has_status(&obj) {
            // Clearing a typed status needs the kind's own type: this rare
            // case goes hook by hook.
            return prepare_create_with_hooks(self, obj, steps);
        }
        let mut t: R::Object = decode_canonical(&obj, steps, R::canonicalize)?;
        drop(obj);
        steps.metadata(t.metadata_mut(), None)?;
        // default_prepare_for_create: `status` is absent (or kept).
        t.metadata_mut().generation = R::TRACKS_GENERATION.then_some(1);
        R::prepare_for_create(&mut t);
        R::default(&mut t);
        Ok(Prepared::from_typed(Typed {
            object: t,
            old: None,
        }))
    }

    fn validate_create(&self, obj: &Prepared) -> ErrorList {
        let Some(t) = obj.typed::<R::Object>() else {
            return self.validate(obj.value());
        };
        let mut errs = if R::VALIDATE_METADATA {
            validate_object_meta(
                obj.metadata_json(),
                R::NAMESPACED,
                R::name_validator(),
                &metadata_path(),
            )
        } else {
            Vec::new()
        };
        errs.extend(R::validate(&t.object));
        errs
    }

    fn prepare_update(
        &self,
        mut new: Value,
        old: &Value,
        target: UpdateTarget,
        steps: &mut dyn StoreSteps,
    ) -> Result<Prepared, PipelineError> {
        R::fill_go_zero_values(&mut new);
        let Ok(old_t) = R::Object::deserialize(old) else {
            // The hooks skip their typed parts and validation reports it.
            return prepare_update_with_hooks(self, new, old, target, steps);
        };
        let mut t: R::Object = decode_canonical(&new, steps, R::canonicalize)?;
        steps.metadata(t.metadata_mut(), Some(old_t.metadata()))?;
        // The generic status and generation rules work on JSON; without a
        // status on either side and no generation to track they reduce to
        // copying the generation.
        let json_rules = match target {
            UpdateTarget::Main => {
                R::TRACKS_GENERATION || new.get("status").is_some() || old.get("status").is_some()
            }
            UpdateTarget::Status => true,
        };
        drop(new);
        if json_rules {
            let mut v = typed::to_value(&t);
            match target {
                UpdateTarget::Main => default_prepare_for_update(&mut v, old, R::TRACKS_GENERATION),
                UpdateTarget::Status => default_prepare_for_status_update(&mut v, old),
            }
            match R::Object::deserialize(&v) {
                Ok(decoded) => t = decoded,
                // Cannot happen when the stored object decodes; behave like
                // the hooks anyway (they skip their typed parts).
                Err(_) => return Ok(Prepared::from_value(v)),
            }
        } else {
            t.metadata_mut().generation = old_t.metadata().generation;
        }
        match target {
            UpdateTarget::Main => {
                R::prepare_for_update(&mut t, &old_t);
                R::default(&mut t);
            }
            UpdateTarget::Status => R::prepare_for_status_update(&mut t, &old_t),
        }
        Ok(Prepared::from_typed(Typed {
            object: t,
            old: Some(old_t),
        }))
    }

    fn validate_prepared_update(
        &self,
        new: &Prepared,
        old: &Value,
        target: UpdateTarget,
    ) -> ErrorList {
        let Some(Typed {
            object: n,
            old: Some(o),
        }) = new.typed::<R::Object>()
        else {
            return match target {
                UpdateTarget::Main => self.validate_update(new.value(), old),
                UpdateTarget::Status => self.validate_status_update(new.value(), old),
            };
        };
        let meta = || {
            validate_object_meta_update(
                new.metadata_json(),
                old,
                R::NAMESPACED,
                R::name_validator(),
                &metadata_path(),
            )
        };
        match target {
            UpdateTarget::Main => {
                let mut errs = if R::VALIDATE_METADATA {
                    meta()
                } else {
                    Vec::new()
                };
                errs.extend(R::validate_update(n, o));
                errs
            }
            UpdateTarget::Status => {
                let mut errs = meta();
                errs.extend(R::validate_status_update(n, o));
                errs
            }
        }
    }

    fn prepared_field_attrs(&self, obj: &Prepared) -> Vec<(String, String)> {
        match obj.typed::<R::Object>() {
            _ if R::field_labels().is_empty() => Vec::new(),
            Some(t) => R::field_attrs(&t.object),
            None => self.field_attrs(obj.value()),
        }
    }

    fn name_validator(&self) -> NameValidator {
        R::name_validator()
    }

    fn field_labels(&self) -> &'static [&'static str] {
        R::field_labels()
    }

    fn field_attrs(&self, obj: &Value) -> Vec<(String, String)> {
        // Called for every object entering the watch cache: most kinds
        // have no field labels and need no decode.
        if R::field_labels().is_empty() {
            return Vec::new();
        }
        decode::<R::Object>(obj)
            .map(|t| R::field_attrs(&t))
            .unwrap_or_default()
    }
}

/// The fields of `obj` the typed form `T` does not know, as JSON paths
/// (`spec.ports[0].foo`); empty if `obj` does not decode as `T`.
pub fn unknown_fields_of<T: DeserializeOwned + Serialize>(obj: &Value) -> Vec<String> {
    match typed::round_trip::<T>(obj.clone()) {
        Ok(known) => {
            let mut out = Vec::new();
            collect_unknown(obj, &known, "", &mut out);
            out
        }
        Err(_) => Vec::new(),
    }
}

/// Collects the paths present (and non-null) in `input` but dropped by the
/// typed round trip, rendered like `spec.ports[0].foo`.
fn collect_unknown(input: &Value, known: &Value, path: &str, out: &mut Vec<String>) {
    match (input, known) {
        (Value::Object(i), Value::Object(k)) => {
            for (key, value) in i {
                if value.is_null() {
                    continue;
                }
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match k.get(key) {
                    Some(kv) => collect_unknown(value, kv, &child, out),
                    None => out.push(child),
                }
            }
        }
        (Value::Array(i), Value::Array(k)) => {
            for (idx, (iv, kv)) in i.iter().zip(k.iter()).enumerate() {
                collect_unknown(iv, kv, &format!("{path}[{idx}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_reported_with_paths() {
        let input = json!({
            "metadata": {"name": "a", "bogus": 1},
            "data": {"k": "v"},
            "extra": {"x": 1},
            "binaryData": null
        });
        let known =
            typed::round_trip::<k8s_openapi::api::core::v1::ConfigMap>(input.clone()).unwrap();
        let mut out = Vec::new();
        collect_unknown(&input, &known, "", &mut out);
        out.sort();
        assert_eq!(out, vec!["extra".to_string(), "metadata.bogus".to_string()]);
    }

    #[test]
    fn unknown_fields_inside_lists() {
        let input = json!({"spec": {"ports": [{"port": 80, "nope": true}]}});
        let known =
            typed::round_trip::<k8s_openapi::api::core::v1::Service>(input.clone()).unwrap();
        let mut out = Vec::new();
        collect_unknown(&input, &known, "", &mut out);
        assert_eq!(out, vec!["spec.ports[0].nope".to_string()]);
    }
}
