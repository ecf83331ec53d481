//! Objects as the cache holds them: decoded once when they enter the cache,
//! then kept as ready-to-send JSON plus the few attributes that selectors
//! and scoping need.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Map, Value};

use super::event::EventType;
use crate::error::{Error, Result};
use crate::etcd::KeyValue;
use crate::filter::{AttrsFn, TransformFn};

/// One object as the cache holds it.
#[derive(Debug)]
pub struct CachedObject {
    /// Relative key.
    pub key: String,
    /// `metadata.namespace` ("" for cluster-scoped).
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// mod_revision of the write that produced this state.
    pub resource_version: i64,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// Selectable fields from `CacheConfig::attrs`.
    pub fields: Vec<(String, String)>,
    /// The object as JSON with `metadata.resourceVersion` set.
    pub json: Bytes,
    /// `{"type":"ADDED","object":<json>}\n`, built on first use and shared
    /// by every watcher that receives this object as ADDED.
    added: OnceLock<Bytes>,
}

impl CachedObject {
    /// An object from parts already extracted.
    pub(crate) fn new(
        key: String,
        namespace: String,
        name: String,
        resource_version: i64,
        labels: BTreeMap<String, String>,
        fields: Vec<(String, String)>,
        json: Bytes,
    ) -> CachedObject {
        CachedObject {
            key,
            namespace,
            name,
            resource_version,
            labels,
            fields,
            json,
            added: OnceLock::new(),
        }
    }

    /// Decodes a stored value (JSON without `metadata.resourceVersion`):
    /// sets `metadata.resourceVersion` to `resource_version`, extracts
    /// name, namespace, labels and the `attrs` fields, and serializes the
    /// result once. `Error::Corrupt` if the value is not a JSON object or
    /// its metadata is not an object.
    pub fn decode(
        key: &str,
        value: &[u8],
        resource_version: i64,
        attrs: &AttrsFn,
    ) -> Result<CachedObject> {
        Self::decode_transformed(key, value, resource_version, attrs, None)
    }

    /// [`CachedObject::decode`], with `transform` applied to the parsed
    /// object first (if it is a JSON object).
    pub fn decode_transformed(
        key: &str,
        value: &[u8],
        resource_version: i64,
        attrs: &AttrsFn,
        transform: Option<&TransformFn>,
    ) -> Result<CachedObject> {
        let mut obj: Value = serde_json::from_slice(value).map_err(|e| Error::Corrupt {
            key: key.to_string(),
            detail: e.to_string(),
        })?;
        if let Some(t) = transform
            && obj.is_object()
        {
            t(&mut obj);
        }
        Self::from_value(key, &mut obj, resource_version, attrs)
    }

    /// Decodes a key-value read from etcd (see [`CachedObject::decode`]).
    pub fn from_key_value(kv: &KeyValue, attrs: &AttrsFn) -> Result<CachedObject> {
        Self::decode(&kv.key, &kv.value, kv.mod_revision, attrs)
    }

    /// [`CachedObject::from_key_value`] with a transform (see
    /// [`CachedObject::decode_transformed`]).
    pub fn from_key_value_transformed(
        kv: &KeyValue,
        attrs: &AttrsFn,
        transform: Option<&TransformFn>,
    ) -> Result<CachedObject> {
        Self::decode_transformed(&kv.key, &kv.value, kv.mod_revision, attrs, transform)
    }

    /// Like [`CachedObject::decode`], from an already parsed value (which is
    /// modified: its resourceVersion is set).
    pub fn from_value(
        key: &str,
        obj: &mut Value,
        resource_version: i64,
        attrs: &AttrsFn,
    ) -> Result<CachedObject> {
        let corrupt = |detail: &str| Error::Corrupt {
            key: key.to_string(),
            detail: detail.to_string(),
        };
        let map = obj
            .as_object_mut()
            .ok_or_else(|| corrupt("not a JSON object"))?;
        let meta = map
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .ok_or_else(|| corrupt("metadata is not an object"))?;
        meta.insert(
            "resourceVersion".to_string(),
            Value::String(resource_version.to_string()),
        );
        let text = |field: &str| {
            meta.get(field)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let name = text("name");
        let namespace = text("namespace");
        let labels = match meta.get("labels") {
            Some(Value::Object(l)) => l
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect(),
            _ => BTreeMap::new(),
        };
        let fields = attrs(obj);
        let json = serde_json::to_vec(obj).map_err(|e| corrupt(&e.to_string()))?;
        Ok(CachedObject {
            key: key.to_string(),
            namespace,
            name,
            resource_version,
            labels,
            fields,
            json: Bytes::from(json),
            added: OnceLock::new(),
        })
    }

    /// The value of a selectable field (`metadata.name` and
    /// `metadata.namespace` always exist).
    pub fn field(&self, name: &str) -> Option<&str> {
        match name {
            "metadata.name" => Some(&self.name),
            "metadata.namespace" => Some(&self.namespace),
            _ => self
                .fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str()),
        }
    }

    /// Parses `json` back into a value (for callers that need to modify
    /// the object, e.g. to apply a patch).
    pub fn to_value(&self) -> serde_json::Result<Value> {
        serde_json::from_slice(&self.json)
    }

    /// The `ADDED` watch event for this object,
    /// `{"type":"ADDED","object":<json>}\n`, encoded once and shared.
    pub fn added_event_json(&self) -> &Bytes {
        self.added
            .get_or_init(|| encode_event(EventType::Added, &self.json))
    }

    /// The same content with another resourceVersion (a delete's object
    /// carries the delete's revision).
    pub(crate) fn with_resource_version(&self, resource_version: i64) -> CachedObject {
        let reencoded = self.to_value().ok().and_then(|mut obj| {
            let meta = obj.get_mut("metadata")?.as_object_mut()?;
            meta.insert(
                "resourceVersion".to_string(),
                Value::String(resource_version.to_string()),
            );
            serde_json::to_vec(&obj).ok()
        });
        let json = match reencoded {
            Some(json) => Bytes::from(json),
            // Cannot happen for JSON we produced ourselves; keep the old
            // bytes rather than fail a delete.
            None => self.json.clone(),
        };
        CachedObject {
            key: self.key.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            resource_version,
            labels: self.labels.clone(),
            fields: self.fields.clone(),
            json,
            added: OnceLock::new(),
        }
    }

    /// The object of a BOOKMARK event:
    /// `{"kind":..,"apiVersion":..,"metadata":{"resourceVersion":".."}}`,
    /// annotated `k8s.io/initial-events-end: "true"` if `initial_events_end`.
    pub(crate) fn bookmark(
        api_version: &str,
        kind: &str,
        resource_version: i64,
        initial_events_end: bool,
    ) -> CachedObject {
        let mut metadata = Map::new();
        metadata.insert(
            "resourceVersion".to_string(),
            Value::String(resource_version.to_string()),
        );
        if initial_events_end {
            let mut annotations = Map::new();
            annotations.insert(
                "k8s.io/initial-events-end".to_string(),
                Value::String("true".to_string()),
            );
            metadata.insert("annotations".to_string(), Value::Object(annotations));
        }
        let mut obj = Map::new();
        obj.insert("kind".to_string(), Value::String(kind.to_string()));
        obj.insert(
            "apiVersion".to_string(),
            Value::String(api_version.to_string()),
        );
        obj.insert("metadata".to_string(), Value::Object(metadata));
        let json = serde_json::to_vec(&Value::Object(obj)).unwrap_or_default();
        CachedObject {
            key: String::new(),
            namespace: String::new(),
            name: String::new(),
            resource_version,
            labels: BTreeMap::new(),
            fields: Vec::new(),
            json: Bytes::from(json),
            added: OnceLock::new(),
        }
    }
}

/// `{"type":"<TYPE>","object":<json>}\n`.
pub(crate) fn encode_event(event_type: EventType, object_json: &[u8]) -> Bytes {
    const HEAD: &[u8] = b"{\"type\":\"";
    const MID: &[u8] = b"\",\"object\":";
    const TAIL: &[u8] = b"}\n";
    let ty = event_type.as_str().as_bytes();
    let mut buf =
        BytesMut::with_capacity(HEAD.len() + ty.len() + MID.len() + object_json.len() + TAIL.len());
    buf.put_slice(HEAD);
    buf.put_slice(ty);
    buf.put_slice(MID);
    buf.put_slice(object_json);
    buf.put_slice(TAIL);
    buf.freeze()
}

/// Decodes a batch of key-values, skipping (and logging) corrupt ones.
pub(crate) fn decode_all(
    items: Vec<KeyValue>,
    attrs: &AttrsFn,
    transform: Option<&TransformFn>,
) -> Vec<Arc<CachedObject>> {
    items
        .iter()
        .filter_map(
            |kv| match CachedObject::from_key_value_transformed(kv, attrs, transform) {
                Ok(obj) => Some(Arc::new(obj)),
                Err(e) => {
                    tracing::warn!(key = %kv.key, error = %e, "skipping corrupt object");
                    None
                }
            },
        )
        .collect()
}

/// Decodes a batch off the async worker threads when it is large.
pub(crate) async fn decode_all_async(
    items: Vec<KeyValue>,
    attrs: &AttrsFn,
    transform: Option<&TransformFn>,
) -> Result<Vec<Arc<CachedObject>>> {
    if items.len() <= 256 {
        return Ok(decode_all(items, attrs, transform));
    }
    let attrs = attrs.clone();
    let transform = transform.cloned();
    tokio::task::spawn_blocking(move || decode_all(items, &attrs, transform.as_ref()))
        .await
        .map_err(|e| Error::Unavailable(format!("decoding task failed: {e}")))
}
