//! Converting between `serde_json::Value` and k8s-openapi's typed structs.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Decodes `obj` as `T`. The error string names the JSON problem the way a
/// client can act on (e.g. `json: cannot unmarshal string into Go struct
/// field ... of type int32` upstream; here serde's message with its path).
pub fn from_value<T: DeserializeOwned>(obj: Value) -> Result<T, String> {
    decode(&obj)
}

/// Decodes `obj` as `T` without consuming it (same errors as
/// [`from_value`]). Every typed decode goes through `&Value`, so each
/// type's deserializer is compiled once.
pub fn decode<T: DeserializeOwned>(obj: &Value) -> Result<T, String> {
    T::deserialize(obj).map_err(|e| e.to_string())
}

/// Encodes `t` back to JSON.
pub fn to_value<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

/// Decode-then-encode through `T`: rejects wrong types and drops unknown
/// fields, keeping `apiVersion`/`kind` from the input.
pub fn round_trip<T: DeserializeOwned + Serialize>(obj: Value) -> Result<Value, String> {
    let t: T = from_value(obj)?;
    Ok(to_value(&t))
}
