//! Field-level validation errors (upstream `k8s.io/apimachinery/pkg/util/validation/field`).
//!
//! The rendered text is part of the API: kubectl shows it verbatim, so the
//! shapes (`spec.containers[0].name: Required value`,
//! `metadata.name: Invalid value: "Foo": <detail>`) match upstream.

use std::fmt;

use serde_json::Value;

/// A path to a field, rendered like `spec.containers[0].ports[1]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Path(String);

impl Path {
    /// A root path element, e.g. `Path::new("spec")`.
    pub fn new(root: &str) -> Self {
        Path(root.to_string())
    }

    /// Appends `.name`.
    pub fn child(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Path(name.to_string())
        } else {
            Path(format!("{}.{name}", self.0))
        }
    }

    /// Appends `[i]`.
    pub fn index(&self, i: usize) -> Self {
        Path(format!("{}[{i}]", self.0))
    }

    /// Appends `[key]` (map keys are not quoted, as upstream).
    pub fn key(&self, key: &str) -> Self {
        Path(format!("{}[{key}]", self.0))
    }

    /// The rendered path.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kind of a field error (upstream `field.ErrorType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldErrorType {
    /// The referenced object does not exist.
    NotFound,
    /// A required field is empty.
    Required,
    /// A value that must be unique is duplicated.
    Duplicate,
    /// The value is malformed.
    Invalid,
    /// The value is not one of the supported enum values.
    NotSupported,
    /// The value is not allowed here.
    Forbidden,
    /// The value is too long.
    TooLong,
    /// Too many items.
    TooMany,
    /// A server-side failure during validation.
    Internal,
    /// The value has the wrong JSON type.
    TypeInvalid,
}

impl FieldErrorType {
    /// Human text, e.g. `Required value`.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldErrorType::NotFound => "Not found",
            FieldErrorType::Required => "Required value",
            FieldErrorType::Duplicate => "Duplicate value",
            FieldErrorType::Invalid => "Invalid value",
            FieldErrorType::NotSupported => "Unsupported value",
            FieldErrorType::Forbidden => "Forbidden",
            FieldErrorType::TooLong => "Too long",
            FieldErrorType::TooMany => "Too many",
            FieldErrorType::Internal => "Internal error",
            FieldErrorType::TypeInvalid => "Invalid value",
        }
    }

    /// The `details.causes[].reason` string, e.g. `FieldValueRequired`.
    pub fn cause_reason(self) -> &'static str {
        match self {
            FieldErrorType::NotFound => "FieldValueNotFound",
            FieldErrorType::Required => "FieldValueRequired",
            FieldErrorType::Duplicate => "FieldValueDuplicate",
            FieldErrorType::Invalid => "FieldValueInvalid",
            FieldErrorType::NotSupported => "FieldValueNotSupported",
            FieldErrorType::Forbidden => "FieldValueForbidden",
            FieldErrorType::TooLong => "FieldValueTooLong",
            FieldErrorType::TooMany => "FieldValueTooMany",
            FieldErrorType::Internal => "InternalError",
            FieldErrorType::TypeInvalid => "FieldValueTypeInvalid",
        }
    }
}

/// One validation failure on one field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// What went wrong.
    pub error_type: FieldErrorType,
    /// The rendered field path.
    pub field: String,
    /// The offending value, if it is shown.
    pub bad_value: Option<Value>,
    /// Extra explanation.
    pub detail: String,
}

/// A list of field errors, as returned by validation functions.
pub type ErrorList = Vec<FieldError>;

impl FieldError {
    fn make(t: FieldErrorType, path: &Path, bad: Option<Value>, detail: &str) -> Self {
        FieldError {
            error_type: t,
            field: path.to_string(),
            bad_value: bad,
            detail: detail.to_string(),
        }
    }

    /// `<path>: Required value[: detail]`.
    pub fn required(path: &Path, detail: &str) -> Self {
        Self::make(FieldErrorType::Required, path, None, detail)
    }

    /// `<path>: Invalid value: <value>[: detail]`.
    pub fn invalid(path: &Path, value: impl Into<Value>, detail: &str) -> Self {
        Self::make(FieldErrorType::Invalid, path, Some(value.into()), detail)
    }

    /// `<path>: Unsupported value: <value>: supported values: "a", "b"`.
    pub fn not_supported(path: &Path, value: impl Into<Value>, supported: &[&str]) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let q: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
            format!("supported values: {}", q.join(", "))
        };
        Self::make(
            FieldErrorType::NotSupported,
            path,
            Some(value.into()),
            &detail,
        )
    }

    /// `<path>: Duplicate value: <value>`.
    pub fn duplicate(path: &Path, value: impl Into<Value>) -> Self {
        Self::make(FieldErrorType::Duplicate, path, Some(value.into()), "")
    }

    /// `<path>: Forbidden: <detail>`.
    pub fn forbidden(path: &Path, detail: &str) -> Self {
        Self::make(FieldErrorType::Forbidden, path, None, detail)
    }

    /// `<path>: Not found: <value>`.
    pub fn not_found(path: &Path, value: impl Into<Value>) -> Self {
        Self::make(FieldErrorType::NotFound, path, Some(value.into()), "")
    }

    /// `<path>: Too long: may not be more than <max> bytes`.
    pub fn too_long(path: &Path, max: usize) -> Self {
        Self::make(
            FieldErrorType::TooLong,
            path,
            None,
            &format!("may not be more than {max} bytes"),
        )
    }

    /// `<path>: Too many: <actual>: must have at most <max> items`.
    pub fn too_many(path: &Path, actual: usize, max: usize) -> Self {
        Self::make(
            FieldErrorType::TooMany,
            path,
            Some(Value::from(actual)),
            &format!("must have at most {max} items"),
        )
    }

    /// `<path>: Internal error: <detail>`.
    pub fn internal(path: &Path, detail: &str) -> Self {
        Self::make(FieldErrorType::Internal, path, None, detail)
    }

    /// The message without the leading field path (upstream `ErrorBody`),
    /// used as `details.causes[].message`.
    pub fn message_without_field(&self) -> String {
        let mut s = match (self.error_type, &self.bad_value) {
            (
                FieldErrorType::Required
                | FieldErrorType::Forbidden
                | FieldErrorType::TooLong
                | FieldErrorType::Internal,
                _,
            )
            | (_, None) => self.error_type.as_str().to_string(),
            (t, Some(v)) => format!("{}: {}", t.as_str(), render_value(v)),
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

/// Renders a bad value like Go's `%v`/`%q` would for the common cases.
fn render_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.message_without_field())
        } else {
            write!(f, "{}: {}", self.field, self.message_without_field())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_like_upstream() {
        let p = Path::new("spec")
            .child("containers")
            .index(0)
            .child("env")
            .key("k");
        assert_eq!(p.as_str(), "spec.containers[0].env[k]");
    }

    #[test]
    fn messages_render_like_upstream() {
        let p = Path::new("spec").child("restartPolicy");
        assert_eq!(
            FieldError::not_supported(&p, "Sometimes", &["Always", "Never"]).to_string(),
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"Never\""
        );
        assert_eq!(
            FieldError::required(&p, "").to_string(),
            "spec.restartPolicy: Required value"
        );
        assert_eq!(
            FieldError::invalid(&p, -1, "must be greater than or equal to 0").to_string(),
            "spec.restartPolicy: Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(
            FieldError::forbidden(&p, "may not be set").to_string(),
            "spec.restartPolicy: Forbidden: may not be set"
        );
    }
}
