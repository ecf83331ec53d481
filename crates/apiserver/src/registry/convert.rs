//! Conversion between the version a client speaks and the version stored
//! in etcd (e.g. autoscaling/v1 vs v2 HorizontalPodAutoscalers, core/v1 vs
//! events.k8s.io/v1 Events). Resources served in their storage version
//! take the fast path: cached bytes go out untouched.

use bytes::Bytes;
use corten_apimachinery::{StatusError, meta};
use serde_json::Value;

use super::Resource;

/// Converts an object in the served version to the storage version.
pub fn to_storage(res: &Resource, obj: Value) -> Result<Value, StatusError> {
    if res.is_storage_version() {
        return Ok(obj);
    }
    let mut out = match res.def.conversion {
        Some(c) => c.to_storage(obj).map_err(StatusError::bad_request)?,
        None => obj,
    };
    meta::set_type_meta(
        &mut out,
        &res.storage_def.api_version(),
        res.storage_def.kind,
    );
    Ok(out)
}

/// Converts a stored object to the served version.
pub fn from_storage(res: &Resource, obj: Value) -> Result<Value, StatusError> {
    if res.is_storage_version() {
        return Ok(obj);
    }
    let mut out = match res.def.conversion {
        Some(c) => c.from_storage(obj).map_err(StatusError::internal)?,
        None => obj,
    };
    meta::set_type_meta(&mut out, &res.def.api_version(), res.def.kind);
    Ok(out)
}

/// Serialized stored JSON (with resourceVersion) in the served version.
pub fn output_json(res: &Resource, json: &Bytes) -> Result<Bytes, StatusError> {
    if res.is_storage_version() {
        return Ok(json.clone());
    }
    let v: Value = serde_json::from_slice(json).map_err(StatusError::internal)?;
    let v = from_storage(res, v)?;
    Ok(Bytes::from(
        serde_json::to_vec(&v).map_err(StatusError::internal)?,
    ))
}

/// Stored objects (serialized with their resourceVersion) in the served
/// version. A custom resource converted by a webhook sends all of them in
/// one ConversionReview, as upstream converts a list; everything else is
/// converted object by object ([`output_json`]).
pub async fn output_json_all(res: &Resource, items: &[&Bytes]) -> Result<Vec<Bytes>, StatusError> {
    let batch = res
        .custom
        .as_ref()
        .and_then(|c| c.conversion)
        .filter(|c| c.uses_webhook() && !res.is_storage_version());
    let Some(conversion) = batch else {
        return items.iter().map(|j| output_json(res, j)).collect();
    };
    let values = items
        .iter()
        .map(|j| serde_json::from_slice::<Value>(j).map_err(StatusError::internal))
        .collect::<Result<Vec<_>, _>>()?;
    let converted = conversion
        .from_storage_many(values)
        .await
        .map_err(StatusError::internal)?;
    converted
        .into_iter()
        .map(|mut v| {
            meta::set_type_meta(&mut v, &res.def.api_version(), res.def.kind);
            serde_json::to_vec(&v)
                .map(Bytes::from)
                .map_err(StatusError::internal)
        })
        .collect()
}
