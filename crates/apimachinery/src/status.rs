//! The metav1.Status error model.
//!
//! Every non-2xx answer of the apiserver is a `Status` object. The reasons,
//! codes and message shapes follow upstream `k8s.io/apimachinery/pkg/api/errors`
//! exactly, because clients branch on them (kubectl prints the message,
//! client libraries test the reason).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::field_error::ErrorList;
use crate::gvk::{GroupKind, GroupResource};

/// The machine-readable reason of a failed request (`status.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Reason {
    /// The resource or object does not exist (404).
    NotFound,
    /// The object already exists (409).
    AlreadyExists,
    /// An update or delete precondition failed (409).
    Conflict,
    /// The object failed validation (422).
    Invalid,
    /// The request itself is malformed (400).
    BadRequest,
    /// The caller is authenticated but not allowed (403).
    Forbidden,
    /// The caller is not authenticated (401).
    Unauthorized,
    /// The resource version is too old (410).
    Expired,
    /// The resource is gone (410).
    Gone,
    /// The verb is not supported on this resource (405).
    MethodNotAllowed,
    /// The requested media type cannot be produced (406).
    NotAcceptable,
    /// The body's media type is not understood (415).
    UnsupportedMediaType,
    /// The body is larger than the server accepts (413).
    RequestEntityTooLarge,
    /// The request could not complete in time (504).
    Timeout,
    /// The server could not complete the request in time (500).
    ServerTimeout,
    /// The client sent too many requests (429).
    TooManyRequests,
    /// An unexpected server-side failure (500).
    InternalError,
    /// The server is not ready to serve (503).
    ServiceUnavailable,
    /// No reason given (`reason` is omitted), as in a Status an admission
    /// webhook returns without one. The code is whatever the error says.
    Unknown,
}

impl Reason {
    /// The HTTP status code upstream pairs with this reason.
    pub fn code(self) -> u16 {
        match self {
            Reason::NotFound => 404,
            Reason::AlreadyExists | Reason::Conflict => 409,
            Reason::Invalid => 422,
            Reason::BadRequest => 400,
            Reason::Forbidden => 403,
            Reason::Unauthorized => 401,
            Reason::Expired | Reason::Gone => 410,
            Reason::MethodNotAllowed => 405,
            Reason::NotAcceptable => 406,
            Reason::UnsupportedMediaType => 415,
            Reason::RequestEntityTooLarge => 413,
            Reason::Timeout => 504,
            Reason::ServerTimeout | Reason::InternalError => 500,
            Reason::TooManyRequests => 429,
            Reason::ServiceUnavailable => 503,
            Reason::Unknown => 500,
        }
    }

    /// The string placed in `status.reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NotFound => "NotFound",
            Reason::AlreadyExists => "AlreadyExists",
            Reason::Conflict => "Conflict",
            Reason::Invalid => "Invalid",
            Reason::BadRequest => "BadRequest",
            Reason::Forbidden => "Forbidden",
            Reason::Unauthorized => "Unauthorized",
            Reason::Expired => "Expired",
            Reason::Gone => "Gone",
            Reason::MethodNotAllowed => "MethodNotAllowed",
            Reason::NotAcceptable => "NotAcceptable",
            Reason::UnsupportedMediaType => "UnsupportedMediaType",
            Reason::RequestEntityTooLarge => "RequestEntityTooLarge",
            Reason::Timeout => "Timeout",
            Reason::ServerTimeout => "ServerTimeout",
            Reason::TooManyRequests => "TooManyRequests",
            Reason::InternalError => "InternalError",
            Reason::ServiceUnavailable => "ServiceUnavailable",
            Reason::Unknown => "",
        }
    }

    /// The reason named by a `status.reason` string; [`Reason::Unknown`]
    /// for the empty string and for reasons this enum does not know.
    pub fn parse(s: &str) -> Reason {
        const ALL: &[Reason] = &[
            Reason::NotFound,
            Reason::AlreadyExists,
            Reason::Conflict,
            Reason::Invalid,
            Reason::BadRequest,
            Reason::Forbidden,
            Reason::Unauthorized,
            Reason::Expired,
            Reason::Gone,
            Reason::MethodNotAllowed,
            Reason::NotAcceptable,
            Reason::UnsupportedMediaType,
            Reason::RequestEntityTooLarge,
            Reason::Timeout,
            Reason::ServerTimeout,
            Reason::TooManyRequests,
            Reason::InternalError,
            Reason::ServiceUnavailable,
        ];
        ALL.iter()
            .copied()
            .find(|r| r.as_str() == s)
            .unwrap_or(Reason::Unknown)
    }
}

/// One entry of `status.details.causes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCause {
    /// Machine-readable cause, e.g. `FieldValueRequired`.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub reason: String,
    /// Human-readable description.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub message: String,
    /// The field path the cause applies to, e.g. `spec.containers[0].name`.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub field: String,
}

/// A failed API request, convertible to a metav1.Status object.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct StatusError {
    /// Why it failed.
    pub reason: Reason,
    /// HTTP code; usually `reason.code()`.
    pub code: u16,
    /// Human-readable message, shaped like upstream's.
    pub message: String,
    /// `details.name`.
    pub name: Option<String>,
    /// `details.group`.
    pub group: Option<String>,
    /// `details.kind` (upstream puts the resource here for most errors).
    pub kind: Option<String>,
    /// `details.causes`.
    pub causes: Vec<StatusCause>,
    /// `details.retryAfterSeconds`.
    pub retry_after_seconds: Option<u32>,
    /// `metadata.continue`: the token an expired list continues with.
    pub continue_token: Option<String>,
}

/// Convenience alias for results whose error is a `StatusError`.
pub type Result<T, E = StatusError> = std::result::Result<T, E>;

impl StatusError {
    /// A bare error with a reason and message and no details.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        StatusError {
            reason,
            code: reason.code(),
            message: message.into(),
            name: None,
            group: None,
            kind: None,
            causes: Vec::new(),
            retry_after_seconds: None,
            continue_token: None,
        }
    }

    fn with_resource(mut self, gr: &GroupResource, name: &str) -> Self {
        if !name.is_empty() {
            self.name = Some(name.to_string());
        }
        if !gr.group.is_empty() {
            self.group = Some(gr.group.clone());
        }
        self.kind = Some(gr.resource.clone());
        self
    }

    /// `pods "foo" not found`.
    pub fn not_found(gr: &GroupResource, name: &str) -> Self {
        Self::new(Reason::NotFound, format!("{gr} \"{name}\" not found")).with_resource(gr, name)
    }

    /// `pods "foo" already exists`.
    pub fn already_exists(gr: &GroupResource, name: &str) -> Self {
        Self::new(
            Reason::AlreadyExists,
            format!("{gr} \"{name}\" already exists"),
        )
        .with_resource(gr, name)
    }

    /// `Operation cannot be fulfilled on pods "foo": <detail>`.
    pub fn conflict(gr: &GroupResource, name: &str, detail: &str) -> Self {
        Self::new(
            Reason::Conflict,
            format!("Operation cannot be fulfilled on {gr} \"{name}\": {detail}"),
        )
        .with_resource(gr, name)
    }

    /// The standard optimistic-concurrency conflict.
    pub fn conflict_modified(gr: &GroupResource, name: &str) -> Self {
        Self::conflict(
            gr,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// `Pod "foo" is invalid: [a, b]` with one cause per field error.
    pub fn invalid(gk: &GroupKind, name: &str, errors: &ErrorList) -> Self {
        let msg = match errors.len() {
            0 => format!("{gk} \"{name}\" is invalid"),
            1 => format!("{gk} \"{name}\" is invalid: {}", errors[0]),
            _ => {
                let parts: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                format!("{gk} \"{name}\" is invalid: [{}]", parts.join(", "))
            }
        };
        let mut e = Self::new(Reason::Invalid, msg);
        if !name.is_empty() {
            e.name = Some(name.to_string());
        }
        if !gk.group.is_empty() {
            e.group = Some(gk.group.clone());
        }
        e.kind = Some(gk.kind.clone());
        e.causes = errors
            .iter()
            .map(|fe| StatusCause {
                reason: fe.error_type.cause_reason().to_string(),
                message: fe.message_without_field(),
                field: fe.field.clone(),
            })
            .collect();
        e
    }

    /// 400 with the given message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Reason::BadRequest, message)
    }

    /// `pods "foo" is forbidden: <detail>`.
    pub fn forbidden(gr: &GroupResource, name: &str, detail: &str) -> Self {
        let msg = if name.is_empty() {
            format!("{gr} is forbidden: {detail}")
        } else {
            format!("{gr} \"{name}\" is forbidden: {detail}")
        };
        Self::new(Reason::Forbidden, msg).with_resource(gr, name)
    }

    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(Reason::Unauthorized, message)
    }

    /// 410 Expired: `too old resource version: <requested> (<oldest>)`.
    pub fn too_old_resource_version(requested: i64, oldest: i64) -> Self {
        Self::new(
            Reason::Expired,
            format!("too old resource version: {requested} ({oldest})"),
        )
    }

    /// 410 Expired for a continue token whose revision was compacted.
    pub fn continue_expired(inconsistent: String) -> Self {
        let mut e = Self::new(
            Reason::Expired,
            "The provided continue parameter is too old to display a consistent list result. \
             You can start a new list without the continue parameter, or use the continue token \
             in this response to retrieve the remainder of the results. Continuing with the \
             provided token results in an inconsistent list - objects that were created, \
             modified, or deleted between the time the first chunk was returned and now may show \
             up in the list.",
        );
        e.continue_token = Some(inconsistent);
        e
    }

    /// 405: the verb is not supported on the resource.
    pub fn method_not_supported(gr: &GroupResource, verb: &str) -> Self {
        Self::new(
            Reason::MethodNotAllowed,
            format!("{verb} is not supported on resources of kind \"{gr}\""),
        )
        .with_resource(gr, "")
    }

    /// 406.
    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(Reason::NotAcceptable, message)
    }

    /// 415.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            Reason::UnsupportedMediaType,
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got \"{content_type}\")"
            ),
        )
    }

    /// 413.
    pub fn request_entity_too_large(limit: usize) -> Self {
        Self::new(
            Reason::RequestEntityTooLarge,
            format!("Request entity too large: limit is {limit}"),
        )
    }

    /// 504: e.g. waiting for a resource version that never arrived.
    pub fn timeout(message: impl Into<String>, retry_after_seconds: u32) -> Self {
        let mut e = Self::new(Reason::Timeout, message);
        e.retry_after_seconds = Some(retry_after_seconds);
        e
    }

    /// 429.
    pub fn too_many_requests(message: impl Into<String>, retry_after_seconds: u32) -> Self {
        let mut e = Self::new(Reason::TooManyRequests, message);
        e.retry_after_seconds = Some(retry_after_seconds);
        e
    }

    /// 503.
    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::new(Reason::ServiceUnavailable, message)
    }

    /// 500: `Internal error occurred: <detail>`.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        let mut e = Self::new(
            Reason::InternalError,
            format!("Internal error occurred: {detail}"),
        );
        e.causes.push(StatusCause {
            reason: String::new(),
            message: detail.to_string(),
            field: String::new(),
        });
        e
    }

    /// The metav1.Status object for this error.
    pub fn to_status(&self) -> Value {
        let mut details = serde_json::Map::new();
        if let Some(n) = &self.name {
            details.insert("name".into(), json!(n));
        }
        if let Some(g) = &self.group {
            details.insert("group".into(), json!(g));
        }
        if let Some(k) = &self.kind {
            details.insert("kind".into(), json!(k));
        }
        if !self.causes.is_empty() {
            details.insert("causes".into(), json!(self.causes));
        }
        if let Some(r) = self.retry_after_seconds {
            details.insert("retryAfterSeconds".into(), json!(r));
        }
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason.as_str(),
        });
        let map = status.as_object_mut().expect("object literal");
        if self.reason == Reason::Unknown {
            map.remove("reason");
        }
        if let Some(t) = &self.continue_token {
            map.insert("metadata".into(), json!({ "continue": t }));
        }
        if !details.is_empty() {
            map.insert("details".into(), Value::Object(details));
        }
        map.insert("code".into(), json!(self.code));
        status
    }

    /// The Status object serialized as JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.to_status()).unwrap_or_default()
    }
}

/// The Status returned by a successful delete of a whole object (upstream
/// returns the object itself for most resources; this is used where it does
/// not, e.g. deletecollection on some paths).
pub fn success_status(details: Option<Value>) -> Value {
    let mut s = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
    });
    if let Some(d) = details {
        s["details"] = d;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field_error::{FieldError, Path};

    #[test]
    fn not_found_has_upstream_shape() {
        let gr = GroupResource::new("apps", "deployments");
        let s = StatusError::not_found(&gr, "web").to_status();
        assert_eq!(s["code"], 404);
        assert_eq!(s["reason"], "NotFound");
        assert_eq!(s["message"], "deployments.apps \"web\" not found");
        assert_eq!(s["details"]["kind"], "deployments");
        assert_eq!(s["details"]["group"], "apps");
    }

    #[test]
    fn invalid_lists_every_cause() {
        let gk = GroupKind::new("", "Pod");
        let errs = vec![
            FieldError::required(&Path::new("spec").child("containers"), ""),
            FieldError::invalid(&Path::new("metadata").child("name"), "A", "bad"),
        ];
        let s = StatusError::invalid(&gk, "p", &errs).to_status();
        assert_eq!(s["code"], 422);
        assert_eq!(
            s["message"],
            "Pod \"p\" is invalid: [spec.containers: Required value, metadata.name: Invalid value: \"A\": bad]"
        );
        assert_eq!(s["details"]["causes"][0]["reason"], "FieldValueRequired");
        assert_eq!(s["details"]["causes"][1]["field"], "metadata.name");
    }
}
