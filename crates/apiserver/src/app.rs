//! The request pipeline: classify the request, then (in order) metrics and
//! panic containment -> authentication -> impersonation -> authorization ->
//! the handler for the path (which runs admission on writes).

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

use crate::auth::authz::Attributes;
use crate::discovery::{Discovery, wants_aggregated};
use crate::metrics::RequestLabels;
use crate::options::Config;
use crate::registry::Registry;
use crate::request_info::{self, RequestTarget, Verb};
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
    /// Credential checks.
    pub authn: crate::auth::authn::Authenticator,
    /// `--authorization-mode` authorizers.
    pub authz: crate::auth::authz::Authorizer,
    /// The admission chain.
    pub admission: crate::admission::Chain,
    /// Audit logging, when `--audit-log-path` and `--audit-policy-file`
    /// are set.
    pub audit: Option<crate::audit::Auditor>,
    /// The client for kubelets (logs, exec, attach, port-forward, proxy).
    pub kubelet: crate::proxy::KubeletClient,
    /// APIServices: remote group-versions, their availability and
    /// discovery.
    pub aggregator: crate::aggregator::Aggregator,
    /// API Priority and Fairness classification.
    pub flowcontrol: crate::flowcontrol::Classifier,
}

/// The (possibly impersonated) user of a request, put into the request's
/// extensions once authorization passed.
#[derive(Clone, Debug)]
pub struct RequestUser(pub crate::auth::UserInfo);

/// The authorization attributes of a classified request.
fn request_attributes(
    user: &crate::auth::UserInfo,
    method: &Method,
    path: &str,
    target: &RequestTarget,
    query: &crate::query::Query,
) -> Attributes {
    match target {
        RequestTarget::Resource(r) => {
            let mut a = Attributes::resource(
                user,
                r.verb.as_str(),
                &r.group,
                &r.resource,
                r.namespace.as_deref().unwrap_or(""),
                r.name.as_deref().unwrap_or(""),
            );
            a.api_version = r.version.clone();
            a.subresource = r.subresource.clone().unwrap_or_default();
            a.path = path.to_string();
            a.field_selector = query.get("fieldSelector").unwrap_or("").to_string();
            // Upstream names the object of a list/watch narrowed to one
            // name by a field selector, so per-name rules apply.
            if a.name.is_empty()
                && matches!(r.verb, Verb::List | Verb::Watch)
                && let Some(n) = crate::auth::authz::node::field_selector_value(
                    &a.field_selector,
                    "metadata.name",
                )
            {
                a.name = n.to_string();
            }
            a
        }
        _ => {
            let verb = match *method {
                Method::HEAD => "get".to_string(),
                ref m => m.as_str().to_ascii_lowercase(),
            };
            Attributes::non_resource(user, &verb, path)
        }
    }
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
pub async fn handle<B>(server: Arc<ApiServer>, mut req: Request<B>) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let started = Instant::now();
    let mut labels = RequestLabels::default();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let mut record = server.audit.as_ref().map(|_| {
        let source = req
            .extensions()
            .get::<crate::audit::RemoteAddr>()
            .map(|a| a.0.ip().to_string());
        let ua = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok());
        let uri = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        crate::audit::Record::new(method.as_str(), uri, ua, source)
    });
    let slot = crate::audit::RequestObjectSlot::default();
    if record.is_some() {
        req.extensions_mut().insert(slot.clone());
    }
    let mut classified = None;
    let result = AssertUnwindSafe(route(
        server.clone(),
        req,
        &mut labels,
        record.as_mut(),
        &mut classified,
    ))
    .catch_unwind()
    .await;
    let panicked = result.is_err();
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
    let response = match (server.audit.as_ref(), record.as_mut()) {
        (Some(auditor), Some(rec)) => {
            if let Some(obj) = slot.take() {
                rec.request_object(&obj);
            }
            rec.admission_annotations(&slot.take_annotations());
            finish_audit(auditor, rec, response, panicked, labels.verb == "WATCH").await
        }
        _ => response,
    };
    let response = with_flow_headers(response, classified);
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

/// Logs the final audit stage; buffers the body when the event needs it
/// (error statuses, RequestResponse), never for watches.
async fn finish_audit(
    auditor: &crate::audit::Auditor,
    rec: &mut crate::audit::Record,
    response: Response<Body>,
    panicked: bool,
    watch: bool,
) -> Response<Body> {
    use crate::audit::Level;
    let code = response.status().as_u16();
    let mut response = if panicked {
        rec.complete(auditor, "Panic", code, None);
        response
    } else if watch && code == 200 {
        rec.complete(auditor, "ResponseStarted", code, None);
        response
    } else if rec.level() == Some(Level::RequestResponse)
        || (code >= 400 && rec.level().is_some_and(|l| l > Level::None))
    {
        let (parts, body) = response.into_parts();
        let bytes = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        rec.complete(auditor, "ResponseComplete", code, Some(&bytes));
        Response::from_parts(parts, wire::full(bytes))
    } else {
        rec.complete(auditor, "ResponseComplete", code, None);
        response
    };
    if let Ok(v) = http::HeaderValue::from_str(rec.id()) {
        response.headers_mut().insert("audit-id", v);
    }
    response
}

/// Upstream's `X-Kubernetes-PF-*` headers naming where the request was
/// classified.
fn with_flow_headers(
    mut response: Response<Body>,
    classified: Option<std::sync::Arc<crate::flowcontrol::Classified>>,
) -> Response<Body> {
    use crate::flowcontrol::classify::{FLOW_SCHEMA_UID_HEADER, PRIORITY_LEVEL_UID_HEADER};
    let Some(c) = classified else {
        return response;
    };
    for (name, uid) in [
        (FLOW_SCHEMA_UID_HEADER, &c.flow_schema_uid),
        (PRIORITY_LEVEL_UID_HEADER, &c.priority_level_uid),
    ] {
        if let Ok(v) = http::HeaderValue::from_str(uid) {
            response.headers_mut().insert(name, v);
        }
    }
    response
}

/// Upstream's long-running requests (`BasicLongRunningRequestCheck` with
/// the watch and proxy verbs and the attach, exec, proxy, log and
/// portforward subresources): they run outside the concurrency limits.
fn is_long_running(attrs: &crate::auth::authz::Attributes) -> bool {
    matches!(attrs.verb.as_str(), "watch" | "proxy")
        || matches!(
            attrs.subresource.as_str(),
            "attach" | "exec" | "proxy" | "log" | "portforward"
        )
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
    mut req: Request<B>,
    labels: &mut RequestLabels,
    record: Option<&mut crate::audit::Record>,
    classified: &mut Option<std::sync::Arc<crate::flowcontrol::Classified>>,
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
    let peer = req
        .extensions()
        .get::<crate::auth::authn::PeerIdentity>()
        .cloned();
    let authenticated = match server
        .authn
        .authenticate(&server.registry, req.headers(), peer.as_ref())
        .await
    {
        Ok(a) => a,
        Err(e) => return wire::respond_error(&e),
    };
    let original = server.audit.is_some().then(|| authenticated.user.clone());
    let user = match crate::auth::impersonation::apply(
        &server.registry,
        &server.authz,
        req.headers(),
        authenticated.user,
    ) {
        Ok(u) => u,
        Err(e) => return wire::respond_error(&e),
    };
    let attrs = request_attributes(&user, &method, &path, &target, &query);
    // Like upstream's filter, classification sees the impersonated user
    // and runs before authorization.
    // Off with --enable-priority-and-fairness=false: no classification,
    // headers or seats.
    let flow = server
        .config
        .apf_concurrency_limit
        .and_then(|_| server.flowcontrol.classify(&server.registry, &attrs));
    *classified = flow.clone();
    // Authorization and the handler run holding one of the priority
    // level's seats (upstream's filter wraps both).
    let _seat = match flow.as_deref() {
        Some(c) if !is_long_running(&attrs) => match c.level.acquire(&c.metrics).await {
            Ok(seat) => Some(seat),
            Err(_) => {
                return wire::respond_error(&crate::flowcontrol::dispatch::too_many_requests());
            }
        },
        _ => None,
    };
    let decision = server.authz.authorize(&server.registry, &attrs);
    if let (Some(auditor), Some(rec), Some(original)) =
        (server.audit.as_ref(), record, original.as_ref())
    {
        let impersonated = crate::auth::impersonation::requested(req.headers()).then_some(&user);
        rec.received(auditor, original, impersonated, &attrs);
        rec.decision(decision.allowed(), decision.reason());
    }
    if !decision.allowed() {
        tracing::debug!(user = %user.name, verb = %attrs.verb, path = %path, reason = decision.reason(), "forbidden");
        return wire::respond_error(&crate::auth::authz::forbidden(&attrs, decision.reason()));
    }
    if let Some(remote) = server.aggregator.remote_for(&server.registry, &target) {
        if let RequestTarget::Resource(r) = &target {
            labels.set_resource(r);
        }
        return crate::aggregator::proxy::serve(&server, remote, req, &user).await;
    }
    req.extensions_mut().insert(RequestUser(user));
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
            non_resource(&server, &p, &query_raw, req.headers()).await
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
    let crds = server.registry.crds.discovery();
    let aggregated = wants_aggregated(accept);
    let body = match (&target, aggregated) {
        (RequestTarget::ApiVersions, Some(v)) | (RequestTarget::ApiGroups, Some(v)) => {
            let core = matches!(target, RequestTarget::ApiVersions);
            let doc = if core {
                d.aggregated(true, v)
            } else {
                let local = crds.aggregated(&d.aggregated(false, v), v);
                server.aggregator.aggregated(&server.registry, local)
            };
            let mut r = wire::respond(StatusCode::OK, doc, out);
            if let Ok(ct) = http::HeaderValue::from_str(&format!(
                "application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList"
            )) {
                r.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            return r;
        }
        (RequestTarget::ApiVersions, None) => Some(d.api_versions()),
        (RequestTarget::ApiGroups, None) => Some(
            server
                .aggregator
                .api_groups(&server.registry, crds.api_groups(&d.api_groups())),
        ),
        (RequestTarget::ApiGroup { group }, _) => d
            .group(group)
            .or_else(|| crds.group(group))
            .or_else(|| server.aggregator.group(&server.registry, group)),
        (RequestTarget::ApiResources { group, version }, _) => d
            .resources(group, version)
            .or_else(|| crds.resources(group, version)),
        _ => None,
    };
    match body {
        Some(b) => wire::respond(StatusCode::OK, wire::reencode(b, out), out),
        None => wire::respond_error(&not_found_path()),
    }
}

async fn non_resource(
    server: &ApiServer,
    path: &str,
    query: &str,
    headers: &http::HeaderMap,
) -> Response<Body> {
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
        "/openapi/v2" | "/openapi/v2/" => {
            let crd_docs = server.registry.crds.openapi();
            server
                .aggregator
                .openapi
                .v2(&server.openapi, &crd_docs)
                .respond(headers)
        }
        "/openapi/v3" | "/openapi/v3/" => {
            let root = server.registry.crds.openapi().root(&server.openapi.root());
            let root =
                crate::openapi::with_remote_entries(&root, &server.aggregator.openapi.index());
            let mut r = Response::new(wire::full(root));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            r
        }
        p if p.starts_with("/openapi/v3/") => {
            let key = &p["/openapi/v3/".len()..];
            let doc = server
                .openapi
                .document(key)
                .or_else(|| server.registry.crds.openapi().document(key))
                .or_else(|| server.aggregator.openapi.document(key));
            match doc {
                Some((doc, hash)) => {
                    let etag = format!("\"{hash}\"");
                    let not_modified = crate::openapi::v2::not_modified(headers, &etag);
                    let mut r =
                        Response::new(wire::full(if not_modified { Bytes::new() } else { doc }));
                    if not_modified {
                        *r.status_mut() = StatusCode::NOT_MODIFIED;
                    }
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
