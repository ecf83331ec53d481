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
