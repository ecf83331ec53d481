//! The subresources the apiserver serves by talking to a kubelet or a pod:
//! `pods/log`, `pods/exec`, `pods/attach`, `pods/portforward`,
//! `pods/proxy`, `services/proxy` and `nodes/proxy` (upstream's
//! "connecter" REST storage).
//!
//! The request has been authenticated and authorized as usual
//! (`get pods/log`, `create pods/exec`, `get nodes/proxy`, ...) before it
//! gets here; this module finds where to send it and forwards it with the
//! apiserver's own kubelet client identity.

pub mod forward;
pub mod kubelet;
pub mod params;
pub mod rewrite;
pub mod service;
pub mod spdy;
mod stream;
pub mod translate;
pub mod tunnel;
pub mod websocket;

use std::sync::Arc;

use bytes::Bytes;
use corten_apimachinery::{Reason, StatusError};
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;

use crate::app::ApiServer;
use crate::registry::{Resource, store};
use crate::request_info::ResourceRequest;
use crate::wire::Body;
use forward::Backend;
pub use kubelet::{KubeletClient, KubeletClientConfig, KubeletClientOptions};

/// Whether `resource/subresource` is served here.
pub fn serves(resource: &str, subresource: &str) -> bool {
    matches!(
        (resource, subresource),
        ("pods", "log" | "exec" | "attach" | "portforward" | "proxy")
            | ("nodes" | "services", "proxy")
    )
}

/// Serves one connecter subresource request.
pub async fn serve<B>(
    server: &Arc<ApiServer>,
    req: Request<B>,
    r: &ResourceRequest,
    res: &Arc<Resource>,
) -> Result<Response<Body>, StatusError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let query = req.uri().query().unwrap_or("").to_string();
    let query = query.as_str();
    let sub = r.subresource.as_deref().unwrap_or("");
    let raw_name = r.name.clone().unwrap_or_default();
    let ns = r.namespace.as_deref();
    match (res.def.resource, sub) {
        ("pods", "log") => {
            let pod = get_object(server, res, ns, &raw_name).await?;
            pod_log(server, req, &pod, query).await
        }
        ("pods", "exec" | "attach" | "portforward") => {
            let pod = get_object(server, res, ns, &raw_name).await?;
            stream::pod_stream(server, req, &pod, sub, query).await
        }
        ("pods", "proxy") => {
            let (scheme, name, port) = split_name_port(&raw_name)?;
            let pod = get_object(server, res, ns, &name).await?;
            let rest = proxy_rest(req.uri().path(), &raw_name);
            let rewriter = rewriter(&req, &rest, pod_authority(&pod, &port));
            let response = pod_proxy(server, req, &pod, scheme, &port, &rest).await?;
            Ok(rewriter.response(response).await)
        }
        ("services", "proxy") => {
            let (scheme, name, port) = split_name_port(&raw_name)?;
            let svc = get_object(server, res, ns, &name).await?;
            let port_name = service::port_name(&svc, &name, &port)?;
            let slices = endpoint_slices(server, ns.unwrap_or_default());
            let seed = uuid::Uuid::new_v4().as_u128() as usize;
            let at = service::pick(&name, &port_name, &slices, seed, &raw_name)?;
            let rest = proxy_rest(req.uri().path(), &raw_name);
            let target = with_query(&rest, query);
            let backend = http_backend(scheme, &at.ip, at.authority());
            let rewriter = rewriter(&req, &rest, at.authority());
            let response =
                forward::forward(backend, server.kubelet.config.timeout, req, None, &target)
                    .await?;
            Ok(rewriter.response(response).await)
        }
        ("nodes", "proxy") => {
            let (_, name, port) = split_name_port(&raw_name)?;
            if !port.is_empty() {
                return Err(StatusError::bad_request(format!(
                    "proxying to node port {port} is not supported; use the node name alone to reach its kubelet"
                )));
            }
            let node = get_object(server, res, None, &name).await?;
            let at = server.kubelet.locate(&node)?;
            let rest = proxy_rest(req.uri().path(), &raw_name);
            let target = with_query(&rest, req.uri().query().unwrap_or(""));
            let rewriter = rewriter(&req, &rest, at.authority());
            let response = forward::forward(
                kubelet_backend(server, &at),
                server.kubelet.config.timeout,
                req,
                None,
                &target,
            )
            .await?;
            Ok(rewriter.response(response).await)
        }
        _ => Err(StatusError::new(
            Reason::NotFound,
            "the server could not find the requested resource",
        )),
    }
}

/// The link rewriting of a proxied answer (upstream wraps the transport of
/// all three proxy subresources): `rest` is the backend path of the request,
/// `backend` the `host:port` it goes to.
fn rewriter<B>(req: &Request<B>, rest: &str, backend: String) -> rewrite::Rewriter {
    rewrite::Rewriter {
        prepend: rewrite::Rewriter::prepend_for(req.uri().path(), rest),
        backend_host: backend,
        request_host: req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_string(),
    }
}

/// The `host:port` a pod proxy request goes to (for recognising links to
/// the pod itself); the port as asked.
fn pod_authority(pod: &Value, port: &str) -> String {
    let ip = pod
        .pointer("/status/podIP")
        .and_then(Value::as_str)
        .unwrap_or("");
    if port.is_empty() {
        ip.to_string()
    } else {
        format!("{ip}:{port}")
    }
}

async fn get_object(
    server: &ApiServer,
    res: &Resource,
    ns: Option<&str>,
    name: &str,
) -> Result<Value, StatusError> {
    let json = store::get(&server.registry, res, ns, name, None).await?;
    serde_json::from_slice(&json).map_err(StatusError::internal)
}

/// The EndpointSlices of a namespace, from the watch cache.
fn endpoint_slices(server: &ApiServer, ns: &str) -> Vec<Value> {
    let Some(cache) = server.registry.cache("endpointslices") else {
        return Vec::new();
    };
    let listed = cache.list(&corten_storage::ListRequest {
        prefix: format!("endpointslices/{ns}/"),
        filter: Default::default(),
        start_after: None,
        limit: None,
    });
    listed
        .items
        .iter()
        .filter_map(|o| serde_json::from_slice(&o.json).ok())
        .collect()
}

/// Plain HTTP, or HTTPS without verifying the endpoint's certificate (as
/// upstream's proxy transport does for `https:` names).
fn http_backend(scheme: Scheme, host: &str, authority: String) -> Backend {
    match scheme {
        Scheme::Http => Backend::Plain { authority },
        Scheme::Https => Backend::Tls {
            config: kubelet::insecure_proxy_tls(),
            host: host.to_string(),
            authority,
        },
    }
}

fn kubelet_backend(server: &ApiServer, at: &kubelet::KubeletLocation) -> Backend {
    Backend::Tls {
        config: server.kubelet.tls(),
        host: at.host.clone(),
        authority: at.authority(),
    }
}

async fn node_of_pod(
    server: &ApiServer,
    pod: &Value,
) -> Result<Option<kubelet::KubeletLocation>, StatusError> {
    let node_name = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if node_name.is_empty() {
        return Ok(None);
    }
    let nodes = server
        .registry
        .resource("", "v1", "nodes")
        .ok_or_else(|| StatusError::internal("nodes are not served"))?;
    let node = get_object(server, &nodes, None, node_name).await?;
    server.kubelet.locate(&node).map(Some)
}

fn pod_name(pod: &Value) -> &str {
    pod.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn pod_namespace(pod: &Value) -> &str {
    pod.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
}

async fn pod_log<B>(
    server: &Arc<ApiServer>,
    req: Request<B>,
    pod: &Value,
    query: &str,
) -> Result<Response<Body>, StatusError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let opts = params::LogOptions::parse(query, pod_name(pod))?;
    let container = params::validate_container(pod, opts.container.as_deref())?;
    // Upstream answers an empty log for a pod that has no node yet.
    let Some(at) = node_of_pod(server, pod).await? else {
        return Ok(plain_text(StatusCode::OK, Bytes::new()));
    };
    let target = format!(
        "/containerLogs/{}/{}/{}?{}",
        pod_namespace(pod),
        pod_name(pod),
        container,
        opts.kubelet_query()
    );
    let response = forward::forward(
        kubelet_backend(server, &at),
        server.kubelet.config.timeout,
        req,
        Some(Method::GET),
        &target,
    )
    .await?;
    if !response.status().is_success() {
        return Err(backend_error(response).await);
    }
    let (mut parts, body) = response.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    Ok(Response::from_parts(parts, body))
}

async fn pod_proxy<B>(
    server: &Arc<ApiServer>,
    req: Request<B>,
    pod: &Value,
    scheme: Scheme,
    port: &str,
    rest: &str,
) -> Result<Response<Body>, StatusError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let ip = pod
        .pointer("/status/podIP")
        .and_then(Value::as_str)
        .unwrap_or("");
    if ip.is_empty() {
        return Err(StatusError::service_unavailable(format!(
            "address not allowed: pod {} has no IP yet",
            pod_name(pod)
        )));
    }
    if port.parse::<u16>().is_err() && !port.is_empty() {
        return Err(StatusError::bad_request(format!(
            "invalid port {port:?}: pods are proxied to a port number"
        )));
    }
    // Upstream: an explicit port, else the first declared container port,
    // else 80.
    let port = if port.is_empty() {
        pod.pointer("/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find_map(|c| c.pointer("/ports/0/containerPort").and_then(Value::as_i64))
            .map_or_else(|| "80".to_string(), |p| p.to_string())
    } else {
        port.to_string()
    };
    let host = if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    let target = with_query(rest, req.uri().query().unwrap_or(""));
    forward::forward(
        http_backend(scheme, ip, format!("{host}:{port}")),
        server.kubelet.config.timeout,
        req,
        None,
        &target,
    )
    .await
}

/// The scheme of a proxied request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
}

/// `name`, `name:port` or `scheme:name:port` (upstream's
/// SplitSchemeNamePort: the scheme is empty, `http` or `https`).
fn split_name_port(id: &str) -> Result<(Scheme, String, String), StatusError> {
    let parts: Vec<&str> = id.split(':').collect();
    let (scheme, name, port) = match parts.as_slice() {
        [name] => ("", *name, ""),
        [name, port] => ("", *name, *port),
        [scheme, name, port] => (*scheme, *name, *port),
        _ => return Err(StatusError::bad_request(format!("invalid request {id:?}"))),
    };
    let scheme = match scheme {
        "" | "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => {
            return Err(StatusError::bad_request(format!(
                "invalid request {id:?}: the scheme must be http or https"
            )));
        }
    };
    if name.is_empty() {
        return Err(StatusError::bad_request(format!("invalid request {id:?}")));
    }
    if port.chars().all(|c| c.is_ascii_digit())
        && !port.is_empty()
        && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(StatusError::bad_request(format!(
            "invalid port {port:?} in {id:?}"
        )));
    }
    Ok((scheme, name.to_string(), port.to_string()))
}

/// The path after `/<name>/proxy` (at least `/`), trailing slash kept.
fn proxy_rest(path: &str, raw_name: &str) -> String {
    let marker = format!("/{raw_name}/proxy");
    let rest = path
        .find(&marker)
        .map(|i| &path[i + marker.len()..])
        .unwrap_or("");
    if rest.starts_with('/') {
        rest.to_string()
    } else {
        format!("/{rest}")
    }
}

fn with_query(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    }
}

fn plain_text(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut r = Response::new(crate::wire::full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    r
}

/// A kubelet's error answer as a metav1.Status with its code and text (a
/// Status body from the backend is kept as it is).
async fn backend_error(response: Response<Body>) -> StatusError {
    let code = response.status().as_u16();
    let body = http_body_util::Limited::new(response.into_body(), 64 * 1024)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    if let Ok(v) = serde_json::from_slice::<Value>(&body)
        && v.get("kind").and_then(Value::as_str) == Some("Status")
        && let Some(msg) = v.get("message").and_then(Value::as_str)
    {
        return status_for(code, msg.to_string());
    }
    let text = String::from_utf8_lossy(&body).trim().to_string();
    status_for(code, text)
}

fn status_for(code: u16, message: String) -> StatusError {
    let reason = match code {
        400 => Reason::BadRequest,
        401 => Reason::Unauthorized,
        403 => Reason::Forbidden,
        404 => Reason::NotFound,
        405 => Reason::MethodNotAllowed,
        503 => Reason::ServiceUnavailable,
        _ => Reason::InternalError,
    };
    let mut e = StatusError::new(reason, message);
    e.code = code;
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_paths() {
        assert_eq!(
            proxy_rest("/api/v1/nodes/n1/proxy/metrics", "n1"),
            "/metrics"
        );
        assert_eq!(proxy_rest("/api/v1/nodes/n1/proxy", "n1"), "/");
        assert_eq!(
            proxy_rest("/api/v1/namespaces/d/pods/w:8080/proxy/a/b/", "w:8080"),
            "/a/b/"
        );
        assert_eq!(with_query("/x", "a=1"), "/x?a=1");
    }

    #[test]
    fn names_with_ports() {
        let http = Scheme::Http;
        assert_eq!(
            split_name_port("web").unwrap(),
            (http, "web".into(), "".into())
        );
        assert_eq!(
            split_name_port("web:8080").unwrap(),
            (http, "web".into(), "8080".into())
        );
        assert_eq!(
            split_name_port("http:web:80").unwrap(),
            (http, "web".into(), "80".into())
        );
        assert_eq!(
            split_name_port("https:web:443").unwrap(),
            (Scheme::Https, "web".into(), "443".into())
        );
        // A named port (services/proxy).
        assert_eq!(
            split_name_port("web:http-alt").unwrap(),
            (http, "web".into(), "http-alt".into())
        );
        assert_eq!(split_name_port("ftp:web:21").unwrap_err().code, 400);
        assert_eq!(split_name_port("web:0").unwrap_err().code, 400);
        assert_eq!(split_name_port("web:99999").unwrap_err().code, 400);
        assert_eq!(split_name_port(":80").unwrap_err().code, 400);
    }

    #[test]
    fn backend_codes_map_to_reasons() {
        let e = status_for(400, "container \"a\" is waiting".into());
        assert_eq!((e.code, e.reason), (400, Reason::BadRequest));
        let e = status_for(502, "bad".into());
        assert_eq!((e.code, e.reason), (502, Reason::InternalError));
    }
}
