//! Kubernetes API machinery with no I/O.
//!
//! Everything here is pure data manipulation so it can be unit-tested without
//! a server: the metav1.Status error model, field-level validation errors,
//! name/label validation, label and field selectors, resource quantities,
//! JSON (RFC 6902) and JSON merge (RFC 7386) patches, and accessors for the
//! `metadata` of objects held as `serde_json::Value`.

pub mod feature_gates;
pub mod field_error;
pub mod fields;
pub mod go_format;
pub mod gvk;
pub mod labels;
pub mod managedfields;
pub mod meta;
pub mod names;
pub mod patch;
pub mod quantity;
pub mod status;
pub mod strategic;
pub mod time;

pub use field_error::{ErrorList, FieldError, FieldErrorType, Path};
pub use gvk::{GroupKind, GroupResource, GroupVersion, GroupVersionKind, GroupVersionResource};
pub use status::{Reason, StatusError};
