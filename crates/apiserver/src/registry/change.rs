//! A write computed from the current object. PATCH (every patch type,
//! server-side apply included) and `/scale` updates share this shape, so
//! one loop (`admission::admitted`) reads the object, lets admission see
//! the result and writes what admission allowed.

use corten_apimachinery::StatusError;
use serde_json::Value;

/// How a request turns the current object into the new one.
pub trait Change: Sync {
    /// The old and the new object as admission sees them, from the current
    /// object (served version, resourceVersion set). Admission may mutate
    /// the new one. For subresources these are the subresource's views
    /// (an autoscaling/v1 `Scale` for `/scale`).
    fn admission_objects(&self, current: &Value) -> Result<(Value, Value), StatusError>;

    /// The object to store, from the current object and the admitted new
    /// view (by default the view itself).
    fn object_to_write(&self, _current: &Value, admitted: Value) -> Result<Value, StatusError> {
        Ok(admitted)
    }

    /// The object to create when there is none: `None` answers 404 (only
    /// server-side apply creates).
    fn object_to_create(&self) -> Option<Result<Value, StatusError>> {
        None
    }
}
