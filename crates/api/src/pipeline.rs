//! The write pipelines: a strategy's hooks in upstream's fixed order, with
//! the store's generic steps ([`StoreSteps`]) at fixed points.
//!
//! create: decode + `canonicalize` -> dropped fields -> store metadata ->
//! `prepare_for_create` -> `default`, then (after admission) validation.
//! update: decode + `canonicalize` -> dropped fields -> store metadata ->
//! `prepare_for_update` -> `default` (or `prepare_for_status_update`), then
//! validation.
//!
//! The default implementations ([`prepare_create_with_hooks`],
//! [`prepare_update_with_hooks`]) call the hooks one by one, each
//! converting between JSON and the typed form. Typed strategies override
//! them to decode the body once and run every typed step on the result;
//! the typed form travels in [`Prepared`], so that validation need not
//! decode again and the store can encode it straight to the bytes it
//! writes (the JSON value is only built if someone asks for it).

use std::any::Any;
use std::sync::OnceLock;

use corten_apimachinery::StatusError;
use k8s_openapi::Metadata;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::strategy::Strategy;

/// Which part of an object an update addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateTarget {
    /// The main resource: status is kept from the stored object.
    Main,
    /// The `/status` subresource: everything but status is kept.
    Status,
}

/// Why a pipeline stopped before validation.
#[derive(Debug)]
pub enum PipelineError {
    /// The object does not decode as the kind (or a value in it is not
    /// canonical, e.g. a malformed quantity): the store answers 400
    /// `<Kind> in version "<v>" cannot be handled as a <Kind>: <detail>`.
    Decode(String),
    /// A store step refused the object; returned as is.
    Store(StatusError),
}

impl From<StatusError> for PipelineError {
    fn from(e: StatusError) -> Self {
        PipelineError::Store(e)
    }
}

/// The store's generic steps, called by a pipeline at fixed points.
pub trait StoreSteps {
    /// Whether [`StoreSteps::dropped_fields`] wants the fields the decode
    /// dropped (computing them costs a little).
    fn wants_dropped_fields(&self) -> bool {
        false
    }

    /// Right after canonicalization: the fields present (and non-null) in
    /// the body that the typed form does not know, as paths like
    /// `spec.ports[0].foo` (for `fieldValidation`).
    fn dropped_fields(&mut self, _fields: Vec<String>) -> Result<(), StatusError> {
        Ok(())
    }

    /// After canonicalization: the generic metadata rules (upstream
    /// `rest.BeforeCreate` when `old` is `None`, `rest.BeforeUpdate`
    /// otherwise): uid, timestamps, generated names, resourceVersion
    /// preconditions, ...
    fn metadata(
        &mut self,
        meta: &mut ObjectMeta,
        old: Option<&ObjectMeta>,
    ) -> Result<(), StatusError>;
}

/// Typed forms a typed pipeline hands to its validation.
pub struct Typed<T> {
    /// The prepared object.
    pub object: T,
    /// The stored object, on updates.
    pub old: Option<T>,
}

/// What [`Prepared`] needs of a typed form, whatever its type.
trait TypedForm: Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn metadata(&self) -> &ObjectMeta;
    fn metadata_mut(&mut self) -> &mut ObjectMeta;
    fn to_value(&self) -> Value;
    fn to_json(&self) -> serde_json::Result<Vec<u8>>;
}

impl<T> TypedForm for Typed<T>
where
    T: Serialize + Metadata<Ty = ObjectMeta> + Send + Sync + 'static,
{
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn metadata(&self) -> &ObjectMeta {
        self.object.metadata()
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        self.object.metadata_mut()
    }

    fn to_value(&self) -> Value {
        crate::typed::to_value(&self.object)
    }

    fn to_json(&self) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(&self.object)
    }
}

/// An object between the mutating and the validating steps of a write.
/// Typed pipelines hand over the typed form; its JSON form is only built
/// when someone asks for it (encoding straight to bytes is much cheaper).
pub struct Prepared {
    value: OnceLock<Value>,
    typed: Option<Box<dyn TypedForm>>,
    /// `{"metadata": ...}` of the typed form, for [`Prepared::metadata_json`].
    metadata: OnceLock<Value>,
}

impl Prepared {
    /// A JSON-only object (validation decodes it again if needed).
    pub fn from_value(value: Value) -> Self {
        Prepared {
            value: OnceLock::from(value),
            typed: None,
            metadata: OnceLock::new(),
        }
    }

    /// A typed pipeline's result.
    pub fn from_typed<T>(typed: Typed<T>) -> Self
    where
        T: Serialize + Metadata<Ty = ObjectMeta> + Send + Sync + 'static,
    {
        Prepared {
            value: OnceLock::new(),
            typed: Some(Box::new(typed)),
            metadata: OnceLock::new(),
        }
    }

    /// The JSON form (encoded from the typed form on first use).
    pub fn value(&self) -> &Value {
        self.value.get_or_init(|| match &self.typed {
            Some(t) => t.to_value(),
            None => Value::Null,
        })
    }

    /// The JSON form for changing it; drops the typed form, which would no
    /// longer match.
    pub fn value_mut(&mut self) -> &mut Value {
        self.value();
        self.typed = None;
        self.metadata = OnceLock::new();
        self.value.get_mut().expect("initialized above")
    }

    /// The typed forms, if a typed pipeline of `T` prepared the object and
    /// nothing changed its JSON since.
    pub fn typed<T: Any>(&self) -> Option<&Typed<T>> {
        self.typed.as_ref()?.as_any().downcast_ref()
    }

    /// The typed metadata, if the object has a typed form.
    pub fn typed_metadata(&self) -> Option<&ObjectMeta> {
        Some(self.typed.as_ref()?.metadata())
    }

    /// An object with (at least) the `metadata` of this one, for checks
    /// that only read metadata: the whole JSON form if it exists, else
    /// just the metadata encoded.
    pub fn metadata_json(&self) -> &Value {
        match (self.value.get(), &self.typed) {
            (None, Some(t)) => self.metadata.get_or_init(|| {
                let mut map = serde_json::Map::new();
                map.insert("metadata".to_string(), crate::typed::to_value(t.metadata()));
                Value::Object(map)
            }),
            _ => self.value(),
        }
    }

    /// The object as compact JSON, exactly `serde_json::to_vec` of
    /// [`Prepared::value`], without building that value when the typed
    /// form is at hand.
    pub fn to_json(&self) -> serde_json::Result<Vec<u8>> {
        match (self.value.get(), &self.typed) {
            (None, Some(t)) => t.to_json(),
            _ => serde_json::to_vec(self.value()),
        }
    }

    /// Replaces `metadata.managedFields` with `entries` (a JSON list;
    /// empty removes the field), keeping the typed form if there is one.
    pub fn set_managed_fields(&mut self, entries: Value) -> Result<(), String> {
        let empty = entries.as_array().is_none_or(Vec::is_empty);
        if let Some(t) = &mut self.typed {
            // Taken apart by value: the fieldsV1 trees move, not copied.
            let typed = if empty {
                None
            } else {
                Some(serde_json::from_value(entries).map_err(|e| e.to_string())?)
            };
            t.metadata_mut().managed_fields = typed;
            self.value = OnceLock::new();
            self.metadata = OnceLock::new();
            return Ok(());
        }
        if let Some(meta) = self
            .value_mut()
            .as_object_mut()
            .and_then(|m| m.get_mut("metadata"))
            .and_then(Value::as_object_mut)
        {
            if empty {
                meta.shift_remove("managedFields");
            } else {
                meta.insert("managedFields".into(), entries);
            }
        }
        Ok(())
    }

    /// The JSON form.
    pub fn into_value(self) -> Value {
        self.value();
        self.value.into_inner().unwrap_or(Value::Null)
    }
}

/// The create pipeline through the strategy's hooks one by one.
pub fn prepare_create_with_hooks<S: Strategy + ?Sized>(
    strategy: &S,
    obj: Value,
    steps: &mut dyn StoreSteps,
) -> Result<Prepared, PipelineError> {
    let input = steps.wants_dropped_fields().then(|| obj.clone());
    let mut obj = strategy.canonicalize(obj).map_err(PipelineError::Decode)?;
    if let Some(input) = &input {
        steps.dropped_fields(dropped_json_fields(input, &obj))?;
    }
    with_object_meta(&mut obj, |meta| steps.metadata(meta, None))?;
    strategy.prepare_for_create(&mut obj);
    strategy.default(&mut obj);
    Ok(Prepared::from_value(obj))
}

/// The update pipeline through the strategy's hooks one by one. `old` is
/// the stored object, resourceVersion set.
pub fn prepare_update_with_hooks<S: Strategy + ?Sized>(
    strategy: &S,
    new: Value,
    old: &Value,
    target: UpdateTarget,
    steps: &mut dyn StoreSteps,
) -> Result<Prepared, PipelineError> {
    let input = steps.wants_dropped_fields().then(|| new.clone());
    let mut new = strategy.canonicalize(new).map_err(PipelineError::Decode)?;
    if let Some(input) = &input {
        steps.dropped_fields(dropped_json_fields(input, &new))?;
    }
    let old_meta = stored_object_meta(old)?;
    with_object_meta(&mut new, |meta| steps.metadata(meta, Some(&old_meta)))?;
    match target {
        UpdateTarget::Main => {
            strategy.prepare_for_update(&mut new, old);
            strategy.default(&mut new);
        }
        UpdateTarget::Status => strategy.prepare_for_status_update(&mut new, old),
    }
    Ok(Prepared::from_value(new))
}

/// The metadata of a stored object (500 if it does not decode).
pub fn stored_object_meta(old: &Value) -> Result<ObjectMeta, StatusError> {
    match old.get("metadata") {
        None | Some(Value::Null) => Ok(ObjectMeta::default()),
        Some(m) => ObjectMeta::deserialize(m)
            .map_err(|e| StatusError::internal(format!("decoding stored metadata: {e}"))),
    }
}

/// Runs `f` on the typed `metadata` of a canonical object and writes it
/// back in place.
fn with_object_meta(
    obj: &mut Value,
    f: impl FnOnce(&mut ObjectMeta) -> Result<(), StatusError>,
) -> Result<(), StatusError> {
    let Some(map) = obj.as_object_mut() else {
        return Ok(());
    };
    let slot = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Default::default()));
    let mut meta = match &*slot {
        Value::Null => ObjectMeta::default(),
        m => ObjectMeta::deserialize(m).map_err(|e| {
            StatusError::internal(format!(
                "metadata does not decode after canonicalization: {e}"
            ))
        })?,
    };
    f(&mut meta)?;
    *slot = crate::typed::to_value(&meta);
    Ok(())
}

/// Fields present (and non-null) in `input` that the typed round trip
/// dropped, as paths like `spec.ports[0].foo`.
pub fn dropped_json_fields(input: &Value, canonical: &Value) -> Vec<String> {
    fn walk(i: &Value, k: &Value, path: &str, out: &mut Vec<String>) {
        match (i, k) {
            (Value::Object(i), Value::Object(k)) => {
                for (key, v) in i {
                    if v.is_null() {
                        continue;
                    }
                    let child = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    match k.get(key) {
                        Some(kv) => walk(v, kv, &child, out),
                        None => out.push(child),
                    }
                }
            }
            (Value::Array(i), Value::Array(k)) => {
                for (n, (iv, kv)) in i.iter().zip(k.iter()).enumerate() {
                    walk(iv, kv, &format!("{path}[{n}]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(input, canonical, "", &mut out);
    out
}

/// Decodes a request body as `T` without consuming it. With `dropped`,
/// also collects the fields the typed form does not know (non-null values
/// only), as [`dropped_json_fields`] would against the round trip.
pub fn decode_body<T: DeserializeOwned>(
    obj: &Value,
    dropped: Option<&mut Vec<String>>,
) -> Result<T, String> {
    let Some(out) = dropped else {
        return crate::typed::decode(obj);
    };
    let mut report = |path: serde_ignored::Path<'_>| {
        let mut segments = Vec::new();
        path_segments(&path, &mut segments);
        if lookup(obj, &segments).is_some_and(|v| !v.is_null()) {
            out.push(render_path(&segments));
        }
    };
    // One callback type for every `T`: the wrapped deserializers of the
    // types `T` contains (ObjectMeta, PodSpec, ...) are then compiled once,
    // not once per kind.
    let report: &mut dyn FnMut(serde_ignored::Path<'_>) = &mut report;
    serde_ignored::deserialize(obj, report).map_err(|e| e.to_string())
}

/// One step of a path into a JSON document.
enum Segment {
    Key(String),
    Index(usize),
}

fn path_segments(path: &serde_ignored::Path<'_>, out: &mut Vec<Segment>) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            path_segments(parent, out);
            out.push(Segment::Index(*index));
        }
        Path::Map { parent, key } => {
            path_segments(parent, out);
            out.push(Segment::Key(key.clone()));
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => path_segments(parent, out),
    }
}

fn lookup<'a>(obj: &'a Value, segments: &[Segment]) -> Option<&'a Value> {
    segments.iter().try_fold(obj, |v, s| match s {
        Segment::Key(k) => v.get(k.as_str()),
        Segment::Index(i) => v.get(*i),
    })
}

fn render_path(segments: &[Segment]) -> String {
    let mut out = String::new();
    for s in segments {
        match s {
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Segment::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

/// Decodes the body for a typed pipeline and canonicalizes it with
/// `canonicalize`; then reports the dropped fields to `steps` (in that
/// order, like the hook-by-hook pipeline).
pub fn decode_canonical<T: DeserializeOwned>(
    obj: &Value,
    steps: &mut dyn StoreSteps,
    canonicalize: impl FnOnce(&mut T) -> Result<(), String>,
) -> Result<T, PipelineError> {
    let mut dropped = steps.wants_dropped_fields().then(Vec::new);
    let mut t: T = decode_body(obj, dropped.as_mut()).map_err(PipelineError::Decode)?;
    canonicalize(&mut t).map_err(PipelineError::Decode)?;
    if let Some(fields) = dropped {
        steps.dropped_fields(fields)?;
    }
    Ok(t)
}

/// Whether a body carries a (non-null) `status`.
pub fn has_status(obj: &Value) -> bool {
    obj.get("status").is_some_and(|s| !s.is_null())
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
