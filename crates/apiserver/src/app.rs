//! The request pipeline: classify the request, then (in order) metrics and
//! panic containment -> [authentication -> authorization -> admission, added
//! by the security work] -> the handler for the path.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use corten_apimachinery::StatusError;
use corten_component_base::health::{HealthEndpoint, HealthRegistry};
use futures::FutureExt;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use serde_json::json;

use crate::discovery::{Discovery, wants_aggregated};
use crate::metrics::RequestLabels;
use crate::options::Config;
use crate::registry::Registry;
use crate::request_info::{self, RequestTarget};
use crate::resource_handler;
use crate::wire::{self, Body, Format, Output};

/// Everything a request may need. Shared by all connections.
pub struct ApiServer {
    /// Validated flags.
    pub config: Config,
    /// Served resources and storage.
    pub registry: Registry,
    /// Health checks for /healthz, /livez, /readyz.
    pub health: HealthRegistry,
    /// Precomputed discovery documents.
    pub discovery: Discovery,
    /// Precomputed OpenAPI documents.
    pub openapi: crate::openapi::OpenApi,
}

/// Reads a request body up to the configured limit (413 beyond it).
pub async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, StatusError>
where
    B: http_body::Body<Data = Bytes> + Send,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Err(StatusError::request_entity_too_large(limit))
            } else {
                Err(StatusError::bad_request(format!(
                    "error reading request body: {e}"
                )))
            }
        }
    }
}

/// Serves one request. Never panics: a panic in a handler becomes a 500.
pub async fn handle<B>(server: Arc<ApiServer>, req: Request<B>) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let started = Instant::now();
    let mut labels = RequestLabels::default();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let result = AssertUnwindSafe(route(server, req, &mut labels))
        .catch_unwind()
        .await;
    let response = match result {
        Ok(r) => r,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!(%method, %path, panic = %msg, "handler panicked");
            wire::respond_error(&StatusError::internal(
                "the server hit an unexpected error handling this request",
            ))
        }
    };
    let code = response.status().as_u16();
    if !labels.verb.is_empty() {
        labels.observe(code, started.elapsed().as_secs_f64());
    }
    tracing::debug!(
        %method,
        %path,
        code,
        latency_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

fn not_found_path() -> StatusError {
    let mut e = StatusError::new(
        corten_apimachinery::Reason::NotFound,
        "the server could not find the requested resource",
    );
    e.code = 404;
    e
}

async fn route<B>(
    server: Arc<ApiServer>,
    req: Request<B>,
    labels: &mut RequestLabels,
) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let query_raw = req.uri().query().unwrap_or("").to_string();
    let query = crate::query::Query::parse(Some(&query_raw));
    let watch_param = matches!(query.get("watch"), Some("true") | Some("1"));
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let target = match request_info::parse(&method, &path, watch_param) {
        Ok(t) => t,
        Err(e) => {
            return wire::respond_error(&StatusError::new(
                corten_apimachinery::Reason::MethodNotAllowed,
                e.0,
            ));
        }
    };
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let pretty = matches!(query.get("pretty"), Some("true") | Some("1"));
    match target {
        RequestTarget::Resource(r) => {
            resource_handler::handle(server, req, r, query, accept, pretty, labels).await
        }
        RequestTarget::NonResource(p) => {
            if method != Method::GET && method != Method::HEAD {
                return wire::respond_error(&StatusError::new(
                    corten_apimachinery::Reason::MethodNotAllowed,
                    format!("method {method} is not allowed on {p}"),
                ));
            }
            non_resource(&server, &p, &query_raw).await
        }
        discovery_target => {
            if method != Method::GET && method != Method::HEAD {
                return wire::respond_error(&StatusError::new(
                    corten_apimachinery::Reason::MethodNotAllowed,
                    format!("method {method} is not allowed on {path}"),
                ));
            }
            discovery(&server, discovery_target, accept.as_deref(), pretty)
        }
    }
}

fn discovery(
    server: &ApiServer,
    target: RequestTarget,
    accept: Option<&str>,
    pretty: bool,
) -> Response<Body> {
    let out = Output {
        format: Format::Json,
        pretty,
    };
    let d = &server.discovery;
    let aggregated = wants_aggregated(accept);
    let body = match (&target, aggregated) {
        (RequestTarget::ApiVersions, Some(v)) | (RequestTarget::ApiGroups, Some(v)) => {
            let core = matches!(target, RequestTarget::ApiVersions);
            let mut r = wire::respond(StatusCode::OK, d.aggregated(core, v), out);
            if let Ok(ct) = http::HeaderValue::from_str(&format!(
                "application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList"
            )) {
                r.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            return r;
        }
        (RequestTarget::ApiVersions, None) => Some(d.api_versions()),
        (RequestTarget::ApiGroups, None) => Some(d.api_groups()),
        (RequestTarget::ApiGroup { group }, _) => d.group(group),
        (RequestTarget::ApiResources { group, version }, _) => d.resources(group, version),
        _ => None,
    };
    match body {
        Some(b) => wire::respond(StatusCode::OK, wire::reencode(b, out), out),
        None => wire::respond_error(&not_found_path()),
    }
}

async fn non_resource(server: &ApiServer, path: &str, query: &str) -> Response<Body> {
    if let Some((endpoint, rest)) = HealthEndpoint::from_path(path) {
        let (code, text) = server.health.handle(endpoint, rest, query).await;
        return wire::respond_text(code, text);
    }
    match path {
        "/version" | "/version/" => {
            let mut r = Response::new(wire::full(corten_component_base::version::version_json()));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            r
        }
        "/metrics" => {
            let mut r = Response::new(wire::full(corten_component_base::metrics::gather_text()));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static(corten_component_base::metrics::TEXT_CONTENT_TYPE),
            );
            r
        }
        "/openapi/v3" | "/openapi/v3/" => {
            let mut r = Response::new(wire::full(server.openapi.root()));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            r
        }
        p if p.starts_with("/openapi/v3/") => {
            match server.openapi.document(&p["/openapi/v3/".len()..]) {
                Some((doc, hash)) => {
                    let mut r = Response::new(wire::full(doc));
                    r.headers_mut().insert(
                        header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/json"),
                    );
                    if let Ok(etag) = http::HeaderValue::from_str(&format!("\"{hash}\"")) {
                        r.headers_mut().insert(header::ETAG, etag);
                    }
                    r.headers_mut().insert(
                        header::CACHE_CONTROL,
                        http::HeaderValue::from_static("public, immutable"),
                    );
                    r
                }
                None => wire::respond_error(&not_found_path()),
            }
        }
        "/" | "" => {
            let body = json!({"paths": server.discovery.paths()});
            wire::respond_value(
                StatusCode::OK,
                &body,
                Output {
                    format: Format::Json,
                    pretty: true,
                },
            )
        }
        _ => wire::respond_error(&not_found_path()),
    }
}
