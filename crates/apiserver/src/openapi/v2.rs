//! `/openapi/v2`: the Swagger 2.0 document, built from the same group-version
//! documents as `/openapi/v3` (their paths and component schemas), served
//! as JSON or, for clients that ask for it (client-go's `OpenAPISchema`,
//! helm), as the gnostic `openapi.v2.Document` protobuf.

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode, header};
use serde_json::{Map, Value, json};

use super::proto_v2;
use crate::wire::{self, Body};

/// The media type client-go asks for (`@` is not valid in a Content-Type,
/// so upstream answers with [`PROTOBUF`]).
const PROTOBUF_AT: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
/// The media type of the protobuf form.
pub const PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// The document in both encodings and its ETag.
pub struct V2 {
    json: Bytes,
    protobuf: Bytes,
    etag: String,
}

fn rewrite_refs(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get_mut("$ref")
                && let Some(name) = r.strip_prefix("#/components/schemas/")
            {
                *r = format!("#/definitions/{name}");
            }
            for child in m.values_mut() {
                rewrite_refs(child);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

/// A v3 schema as Swagger 2.0 has it: v3-only keywords dropped, a
/// `$ref` wrapped in `allOf` (schemars' way to add a description) kept.
fn schema_v2(v: &Value) -> Value {
    let Value::Object(m) = v else {
        return v.clone();
    };
    let mut out = Map::new();
    for (k, val) in m {
        match k.as_str() {
            "nullable" | "oneOf" | "anyOf" | "not" | "writeOnly" | "deprecated" | "$schema"
            | "title" => {}
            "properties" => {
                let props = val
                    .as_object()
                    .map(|p| p.iter().map(|(n, s)| (n.clone(), schema_v2(s))).collect())
                    .unwrap_or_default();
                out.insert(k.clone(), Value::Object(props));
            }
            "items" | "additionalProperties" if val.is_object() => {
                out.insert(k.clone(), schema_v2(val));
            }
            // Swagger 2.0 readers (kube-openapi's proto models) expect a
            // reference with a description beside it, not in `allOf`.
            "allOf"
                if val
                    .as_array()
                    .is_some_and(|a| a.len() == 1 && a[0].get("$ref").is_some()) =>
            {
                out.insert("$ref".into(), val[0]["$ref"].clone());
            }
            "allOf" => {
                let all = val
                    .as_array()
                    .map(|a| a.iter().map(schema_v2).collect())
                    .unwrap_or_default();
                out.insert(k.clone(), Value::Array(all));
            }
            "type" if val.is_array() => {
                // ["string", "null"] -> "string".
                if let Some(t) = val.as_array().and_then(|a| a.iter().find(|t| *t != "null")) {
                    out.insert(k.clone(), t.clone());
                }
            }
            _ => {
                out.insert(k.clone(), val.clone());
            }
        }
    }
    Value::Object(out)
}

/// A v3 operation as a Swagger 2.0 one.
fn operation_v2(op: &Value, path: &str, action: &str) -> Value {
    let mut params = Vec::new();
    for seg in path.split('/') {
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            params.push(json!({"name": name, "in": "path", "required": true, "type": "string", "uniqueItems": true}));
        }
    }
    for p in op["parameters"].as_array().into_iter().flatten() {
        let mut q = json!({"name": p["name"], "in": p["in"], "uniqueItems": true});
        if let Some(d) = p.get("description") {
            q["description"] = d.clone();
        }
        q["type"] = p
            .pointer("/schema/type")
            .cloned()
            .unwrap_or_else(|| json!("string"));
        params.push(q);
    }
    let body_schema = op
        .pointer("/requestBody/content")
        .and_then(Value::as_object)
        .and_then(|c| c.values().next())
        .and_then(|m| m.get("schema"))
        .cloned();
    if let Some(mut s) = body_schema {
        rewrite_refs(&mut s);
        params.push(json!({"name": "body", "in": "body", "required": true, "schema": s}));
    }
    let mut ok = json!({"description": "OK"});
    if let Some(s) = op.pointer("/responses/200/content/application~1json/schema") {
        let mut s = s.clone();
        rewrite_refs(&mut s);
        ok["schema"] = s;
    }
    let consumes = if action == "patch" {
        json!([
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
            "application/apply-patch+yaml"
        ])
    } else {
        json!(["*/*"])
    };
    let mut out = json!({
        "operationId": op["operationId"],
        "consumes": consumes,
        "produces": ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"],
        "schemes": ["https"],
        "parameters": params,
        "responses": {"200": ok, "401": {"description": "Unauthorized"}},
    });
    for k in ["x-kubernetes-action", "x-kubernetes-group-version-kind"] {
        if let Some(v) = op.get(k) {
            out[k] = v.clone();
        }
    }
    out
}

/// Builds the Swagger 2.0 document from the v3 group-version documents.
pub fn build(v3_docs: &[Value], version: &str) -> V2 {
    let mut paths = Map::new();
    let mut definitions = Map::new();
    for doc in v3_docs {
        if let Some(Value::Object(schemas)) = doc.pointer("/components/schemas") {
            for (name, s) in schemas {
                let mut s = schema_v2(s);
                rewrite_refs(&mut s);
                definitions.insert(name.clone(), s);
            }
        }
        if let Some(Value::Object(ps)) = doc.get("paths") {
            for (path, item) in ps {
                let mut out = Map::new();
                for (action, op) in item.as_object().into_iter().flatten() {
                    out.insert(action.clone(), operation_v2(op, path, action));
                }
                paths.insert(path.clone(), Value::Object(out));
            }
        }
    }
    let mut sorted: Vec<(String, Value)> = definitions.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let doc = json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": version},
        "paths": paths,
        "definitions": Value::Object(sorted.into_iter().collect()),
    });
    let json = Bytes::from(serde_json::to_vec(&doc).unwrap_or_default());
    let protobuf = Bytes::from(proto_v2::encode_document(&doc));
    let etag = format!("\"{}\"", super::hash_of(&json));
    V2 {
        json,
        protobuf,
        etag,
    }
}

/// Whether the request's `If-None-Match` names `etag`.
pub fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

/// Which encoding an `Accept` header asks for: protobuf, JSON, or
/// neither (406).
fn negotiate(accept: Option<&str>) -> Option<bool> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(false);
    };
    for part in accept.split(',') {
        let media = part.split(';').next().unwrap_or("").trim();
        match media {
            PROTOBUF | PROTOBUF_AT => return Some(true),
            "application/json" | "application/*" | "*/*" => return Some(false),
            _ => {}
        }
    }
    None
}

impl V2 {
    /// Answers `GET /openapi/v2`.
    pub fn respond(&self, headers: &HeaderMap) -> Response<Body> {
        let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
        let Some(protobuf) = negotiate(accept) else {
            return wire::respond_error(&corten_apimachinery::StatusError::not_acceptable(
                format!(
                    "only the following media types are accepted: application/json, {PROTOBUF_AT}"
                ),
            ));
        };
        let (status, body) = if not_modified(headers, &self.etag) {
            (StatusCode::NOT_MODIFIED, Bytes::new())
        } else if protobuf {
            (StatusCode::OK, self.protobuf.clone())
        } else {
            (StatusCode::OK, self.json.clone())
        };
        let mut r = Response::new(wire::full(body));
        *r.status_mut() = status;
        let h = r.headers_mut();
        let ct = if protobuf {
            PROTOBUF
        } else {
            "application/json"
        };
        h.insert(header::CONTENT_TYPE, http::HeaderValue::from_static(ct));
        if let Ok(e) = http::HeaderValue::from_str(&self.etag) {
            h.insert(header::ETAG, e);
        }
        h.insert(header::VARY, http::HeaderValue::from_static("Accept"));
        r
    }

    /// The JSON form (tests).
    pub fn json(&self) -> &Bytes {
        &self.json
    }
}
