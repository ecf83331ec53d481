//! The wire: request bodies in, responses out, and content negotiation.
//!
//! Objects are JSON internally. A client may send JSON or YAML and may ask
//! for JSON, YAML or (for lists and gets) a meta.k8s.io Table.

use std::convert::Infallible;

use bytes::Bytes;
use corten_apimachinery::StatusError;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use serde_json::Value;

use crate::repeated_keys::{self, BodyKeys, BodySyntax};

/// The response body type: a full buffer or a stream (watch).
pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// A full body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

/// The media types we can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// application/json
    Json,
    /// application/yaml
    Yaml,
    /// application/json;as=Table;v=v1;g=meta.k8s.io
    Table,
    /// application/json;as=PartialObjectMetadata(List);v=v1;g=meta.k8s.io:
    /// only `metadata` of each object.
    Metadata,
}

/// What the client accepts, in our terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    /// The chosen format.
    pub format: Format,
    /// `?pretty=true`: indent JSON.
    pub pretty: bool,
}

/// Chooses the response format from the Accept header (first acceptable
/// entry wins, as upstream). `table_ok` says whether this endpoint can
/// render a Table.
pub fn negotiate(accept: Option<&str>, table_ok: bool) -> Result<Format, StatusError> {
    let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok(Format::Json);
    };
    for entry in accept.split(',') {
        let mut params = entry.split(';').map(str::trim);
        let media = params.next().unwrap_or("").to_ascii_lowercase();
        let mut as_kind = None;
        let mut group = None;
        for p in params {
            if let Some((k, v)) = p.split_once('=') {
                match k.trim() {
                    "as" => as_kind = Some(v.trim().to_string()),
                    "g" => group = Some(v.trim().to_string()),
                    _ => {}
                }
            }
        }
        let json_like = matches!(
            media.as_str(),
            "application/json" | "*/*" | "application/*" | "application/json-patch+json"
        );
        match (as_kind.as_deref(), group.as_deref()) {
            (Some("Table"), Some("meta.k8s.io")) if json_like => {
                if table_ok {
                    return Ok(Format::Table);
                }
                continue;
            }
            (Some("PartialObjectMetadata" | "PartialObjectMetadataList"), Some("meta.k8s.io"))
                if json_like =>
            {
                if table_ok {
                    return Ok(Format::Metadata);
                }
                continue;
            }
            (Some(_), _) => continue,
            (None, _) => {}
        }
        if json_like {
            return Ok(Format::Json);
        }
        if media == "application/yaml" {
            return Ok(Format::Yaml);
        }
    }
    Err(StatusError::not_acceptable(
        "only the following media types are accepted: application/json, application/yaml",
    ))
}

/// The input formats we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// JSON object.
    Json,
    /// YAML document.
    Yaml,
    /// RFC 6902 JSON patch.
    JsonPatch,
    /// RFC 7386 merge patch.
    MergePatch,
    /// Strategic merge patch.
    StrategicMergePatch,
    /// Server-side apply.
    ApplyPatch,
    /// application/vnd.kubernetes.protobuf (typed clients such as
    /// `kubectl create namespace` send built-in objects this way).
    Protobuf,
}

/// Classifies the Content-Type of a request body.
pub fn input_format(headers: &HeaderMap) -> Result<InputFormat, StatusError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    Ok(match media.as_str() {
        "application/json" | "" | "*/*" => InputFormat::Json,
        "application/yaml" | "application/x-yaml" | "text/yaml" => InputFormat::Yaml,
        "application/json-patch+json" => InputFormat::JsonPatch,
        "application/merge-patch+json" => InputFormat::MergePatch,
        "application/strategic-merge-patch+json" => InputFormat::StrategicMergePatch,
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => InputFormat::ApplyPatch,
        corten_protobuf::PROTOBUF_MEDIA_TYPE => InputFormat::Protobuf,
        _ => return Err(StatusError::unsupported_media_type(ct)),
    })
}

/// Decodes an object body (JSON or YAML) into a JSON object value; a
/// repeated key keeps its last value.
pub fn decode_object(body: &[u8], format: InputFormat) -> Result<Value, StatusError> {
    decode_object_keys(body, format).map(|(v, _)| v)
}

/// [`decode_object`], also returning the keys a JSON or YAML body repeats
/// (for `fieldValidation`; none for protobuf).
pub fn decode_object_keys(
    body: &[u8],
    format: InputFormat,
) -> Result<(Value, Option<BodyKeys>), StatusError> {
    let (v, keys) = match format {
        InputFormat::Protobuf => {
            let v = corten_protobuf::decode(body).map_err(|e| {
                StatusError::bad_request(format!("error decoding protobuf request body: {e}"))
            })?;
            (v, None)
        }
        InputFormat::Yaml => {
            let (v, repeated) = repeated_keys::decode_yaml(body)
                .map_err(|e| StatusError::bad_request(format!("error decoding YAML: {e}")))?;
            (v, Some(BodyKeys::new(BodySyntax::Yaml, repeated, body)))
        }
        _ => {
            let (v, repeated) = repeated_keys::decode_json(body).map_err(|e| {
                StatusError::bad_request(format!("error decoding request body as JSON: {e}"))
            })?;
            (v, Some(BodyKeys::new(BodySyntax::Json, repeated, body)))
        }
    };
    if !v.is_object() {
        return Err(StatusError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    Ok((v, keys))
}

/// The PartialObjectMetadata view of an object.
pub fn partial_metadata(obj: &Value) -> Value {
    serde_json::json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| serde_json::json!({})),
    })
}

/// Serializes a JSON value for the chosen output.
pub fn encode_value(v: &Value, out: Output) -> Bytes {
    match out.format {
        Format::Yaml => Bytes::from(serde_yaml::to_string(v).unwrap_or_default()),
        _ if out.pretty => Bytes::from(serde_json::to_vec_pretty(v).unwrap_or_default()),
        _ => Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
    }
}

/// Re-encodes already-serialized JSON bytes for the chosen output (no
/// work for plain JSON).
pub fn reencode(json: Bytes, out: Output) -> Bytes {
    if out.format == Format::Json && !out.pretty {
        return json;
    }
    match serde_json::from_slice::<Value>(&json) {
        Ok(v) => encode_value(&v, out),
        Err(_) => json,
    }
}

fn content_type(out: Output) -> HeaderValue {
    HeaderValue::from_static(match out.format {
        Format::Yaml => "application/yaml",
        Format::Table => "application/json;as=Table;v=v1;g=meta.k8s.io",
        Format::Metadata => "application/json",
        Format::Json => "application/json",
    })
}

/// A response with an encoded body.
pub fn respond(status: StatusCode, body: Bytes, out: Output) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, content_type(out));
    r
}

/// A JSON response from a value.
pub fn respond_value(status: StatusCode, v: &Value, out: Output) -> Response<Body> {
    respond(status, encode_value(v, out), out)
}

/// A metav1.Status error response (always JSON, like upstream for
/// clients that did not ask for YAML).
pub fn respond_error(e: &StatusError) -> Response<Body> {
    let mut r = Response::new(full(e.to_json()));
    *r.status_mut() = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(secs) = e.retry_after_seconds
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// A plain-text response (health endpoints).
pub fn respond_text(status: u16, text: impl Into<String>) -> Response<Body> {
    let mut r = Response::new(full(text.into()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_like_kubectl() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(negotiate(Some(kubectl), true).unwrap(), Format::Table);
        assert_eq!(negotiate(Some(kubectl), false).unwrap(), Format::Json);
        assert_eq!(negotiate(None, true).unwrap(), Format::Json);
        assert_eq!(
            negotiate(Some("application/yaml"), true).unwrap(),
            Format::Yaml
        );
        assert_eq!(
            negotiate(Some("application/vnd.kubernetes.protobuf"), true)
                .unwrap_err()
                .code,
            406
        );
        assert_eq!(
            negotiate(
                Some("application/vnd.kubernetes.protobuf, application/json"),
                true
            )
            .unwrap(),
            Format::Json
        );
    }

    proptest::proptest! {
        /// Request decoding never panics, whatever the bytes and media type.
        #[test]
        fn decoding_arbitrary_bodies_never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            for f in [InputFormat::Json, InputFormat::Yaml, InputFormat::Protobuf] {
                let _ = decode_object(&body, f);
            }
        }

        /// Accept-header negotiation never panics.
        #[test]
        fn negotiation_never_panics(accept in ".{0,200}") {
            let _ = negotiate(Some(&accept), true);
        }
    }

    #[test]
    fn decodes_json_and_yaml_objects_only() {
        assert!(decode_object(b"{\"a\":1}", InputFormat::Json).is_ok());
        assert!(decode_object(b"a: 1\nb: [x]\n", InputFormat::Yaml).is_ok());
        assert_eq!(
            decode_object(b"[1]", InputFormat::Json).unwrap_err().code,
            400
        );
        assert_eq!(
            decode_object(b"{nope", InputFormat::Json).unwrap_err().code,
            400
        );
        assert_eq!(
            decode_object(b": : :", InputFormat::Yaml).unwrap_err().code,
            400
        );
    }
}
