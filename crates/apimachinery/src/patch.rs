//! JSON patch (RFC 6902) and JSON merge patch (RFC 7386).
//!
//! Strategic merge patch lives in its own module (kubectl parity work).

use serde_json::Value;

/// A patch that could not be decoded or applied; the message is shown to
/// the client in a 400 / 422 Status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch body is not valid for its type.
    #[error("{0}")]
    Malformed(String),
    /// The patch is well formed but cannot be applied to this document
    /// (e.g. a `test` op failed or a path does not exist).
    #[error("{0}")]
    CannotApply(String),
}

/// Applies an RFC 6902 JSON patch (`application/json-patch+json`) to `doc`.
pub fn apply_json_patch(_doc: &Value, _patch: &[u8]) -> Result<Value, PatchError> {
    todo!("implemented by the apimachinery work")
}

/// Applies an RFC 7386 merge patch (`application/merge-patch+json`) to `doc`.
/// `patch` must be a JSON object.
pub fn apply_merge_patch(_doc: &Value, _patch: &[u8]) -> Result<Value, PatchError> {
    todo!("implemented by the apimachinery work")
}
