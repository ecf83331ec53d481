//! Small field checks shared by every workload kind (upstream
//! `ValidateNonnegativeField`, `ValidateImmutableField`, `InclusiveRangeError`).

use corten_apimachinery::{ErrorList, FieldError, Path};
use serde::Serialize;

/// Upstream `IsNegativeErrorMsg`.
pub const IS_NEGATIVE_MSG: &str = "must be greater than or equal to 0";

/// Upstream `FieldImmutableErrorMsg`.
pub const FIELD_IMMUTABLE_MSG: &str = corten_apimachinery::names::FIELD_IMMUTABLE_ERROR_MSG;

/// Upstream `isNotPositiveErrorMsg`.
pub const NOT_POSITIVE_MSG: &str = "must be greater than zero";

/// `must be between <lo> and <hi>, inclusive`.
pub use corten_apimachinery::names::inclusive_range_error;

/// `<path>: Invalid value: <v>: must be greater than or equal to 0` when `v < 0`.
pub fn validate_nonnegative(value: i64, path: &Path) -> ErrorList {
    if value < 0 {
        vec![FieldError::invalid(path, value, IS_NEGATIVE_MSG)]
    } else {
        Vec::new()
    }
}

/// `<path>: Invalid value: <new>: field is immutable` when `new != old`.
pub fn validate_immutable<T: PartialEq + Serialize>(new: &T, old: &T, path: &Path) -> ErrorList {
    if new == old {
        Vec::new()
    } else {
        let shown = serde_json::to_value(new).unwrap_or(serde_json::Value::Null);
        vec![FieldError::invalid(path, shown, FIELD_IMMUTABLE_MSG)]
    }
}

/// A typed object could not be decoded for validation (it passed
/// `canonicalize`, so this only happens when a caller skipped it).
pub fn undecodable(err: &str) -> ErrorList {
    vec![FieldError::internal(&Path::new(""), err)]
}

/// The value of an optional string field, `""` when unset (Go's zero value).
pub fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

/// Renders a typed value for `Invalid value:` messages.
pub fn shown<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonnegative_and_immutable_render_like_upstream() {
        let p = Path::new("spec").child("replicas");
        assert!(validate_nonnegative(0, &p).is_empty());
        assert_eq!(
            validate_nonnegative(-1, &p)[0].to_string(),
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
        assert!(validate_immutable(&1, &1, &p).is_empty());
        assert_eq!(
            validate_immutable(&"b", &"a", &p)[0].to_string(),
            "spec.replicas: Invalid value: \"b\": field is immutable"
        );
        assert_eq!(
            inclusive_range_error(1, 65535),
            "must be between 1 and 65535, inclusive"
        );
    }
}
