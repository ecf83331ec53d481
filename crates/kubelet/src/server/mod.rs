//! The kubelet API (port 10250, TLS): what the apiserver proxies to and what
//! monitoring scrapes.
//!
//! ```text
//! GET /healthz[/check]                       health checks (syncloop, pleg, runtime)
//! GET /pods                                  PodList of the pods on this node
//! GET /containerLogs/{ns}/{pod}/{container}  logs: follow, previous, tailLines, sinceSeconds,
//!                                            sinceTime, timestamps, limitBytes
//! GET /metrics                               Prometheus metrics
//! GET /metrics/resource                      node, pod and container cpu/memory (upstream names)
//! GET /metrics/cadvisor                      cAdvisor's container metrics (cgroups, network, fs)
//! GET /stats/summary                         node and pod resource usage
//! GET /configz                               the running KubeletConfiguration
//! GET /logs/{path}                           the node's /var/log (listing or file)
//! ```
//!
//! Every request is authenticated and authorized first ([`auth`]).

pub mod auth;
pub mod logs;
pub mod resource_metrics;
pub mod stats;
pub mod streaming;
pub mod system_logs;
pub mod tls;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use corten_component_base::health::{HealthEndpoint, HealthRegistry};
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::kubelet::Kubelet;

/// Response body of the kubelet API.
pub type Body = BoxBody<Bytes, std::io::Error>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// A plain-text response.
pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header("X-Content-Type-Options", "nosniff")
        .body(full(body))
        .unwrap_or_else(|_| Response::new(full("internal error")))
}

fn json(value: &impl serde::Serialize) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(bytes) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .body(full(bytes))
            .unwrap_or_else(|_| Response::new(full("internal error"))),
        Err(err) => text(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}

fn prometheus_text(body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .header(
            header::CONTENT_TYPE,
            corten_component_base::metrics::TEXT_CONTENT_TYPE,
        )
        .body(full(body))
        .unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "error"))
}

/// Serves the kubelet API on `listener` with TLS until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    kubelet: Arc<Kubelet>,
    auth: Arc<auth::ApiAuth>,
    health: HealthRegistry,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(err) => {
                    tracing::warn!(error = %err, "accepting a kubelet API connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let acceptor = acceptor.clone();
        let kubelet = kubelet.clone();
        let health = health.clone();
        let auth = auth.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                .await
            {
                Ok(Ok(tls)) => tls,
                Ok(Err(err)) => {
                    tracing::debug!(%peer, error = %err, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            // The handshake verified the chain against the client CA.
            let cert_user = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|leaf| auth::User::from_certificate(leaf))
                .map(Arc::new);
            let service = service_fn(move |req: Request<Incoming>| {
                let kubelet = kubelet.clone();
                let health = health.clone();
                let auth = auth.clone();
                let cert_user = cert_user.clone();
                async move {
                    let response = match check(&auth, cert_user.as_deref(), &req).await {
                        Ok(()) => handle(kubelet, health, req).await,
                        Err(denied) => denied,
                    };
                    Ok::<_, Infallible>(response)
                }
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            if let Err(err) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%peer, error = %err, "kubelet API connection ended");
            }
        });
    }
    if tokio::time::timeout(Duration::from_secs(5), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("kubelet API connections still open at shutdown");
    }
}

/// Authenticates and authorizes a request; the error is the response.
async fn check(
    auth: &auth::ApiAuth,
    cert_user: Option<&auth::User>,
    req: &Request<Incoming>,
) -> Result<(), Response<Body>> {
    let denied = |d: auth::Denied| match d {
        auth::Denied::Unauthorized => text(StatusCode::UNAUTHORIZED, "Unauthorized"),
        auth::Denied::Forbidden(message) => text(StatusCode::FORBIDDEN, message),
        auth::Denied::Error(message) => {
            tracing::warn!(%message, "kubelet API authentication/authorization failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    };
    let user = auth
        .authenticate(cert_user, req.headers())
        .await
        .map_err(denied)?;
    auth.authorize(&user, req.method(), req.uri().path())
        .await
        .map_err(denied)
}

/// Routes one request.
pub async fn handle(
    kubelet: Arc<Kubelet>,
    health: HealthRegistry,
    req: Request<Incoming>,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    for (prefix, operation) in [
        ("/exec/", streaming::Operation::Exec),
        ("/attach/", streaming::Operation::Attach),
        ("/portForward/", streaming::Operation::PortForward),
    ] {
        if let Some(rest) = path.strip_prefix(prefix) {
            if req.method() != Method::GET && req.method() != Method::POST {
                return text(StatusCode::METHOD_NOT_ALLOWED, "405: Method Not Allowed\n");
            }
            let rest = rest.to_string();
            return streaming::handle(&kubelet, operation, &rest, req).await;
        }
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "405: Method Not Allowed\n");
    }
    if let Some((endpoint, suffix)) = HealthEndpoint::from_path(&path)
        && endpoint == HealthEndpoint::Healthz
    {
        let (code, body) = health.handle(endpoint, suffix, &query).await;
        return text(
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
        );
    }
    match path.trim_end_matches('/') {
        "/metrics" => return prometheus_text(corten_component_base::metrics::gather_text()),
        "/pods" => {
            return json(&serde_json::json!({
                "kind": "PodList",
                "apiVersion": "v1",
                "metadata": {},
                "items": kubelet.known_pods(),
            }));
        }
        "/configz" => return json(&serde_json::json!({"kubeletconfig": kubelet.config.file})),
        "/stats/summary" => return json(&stats::summary(&kubelet).await),
        "/metrics/resource" => {
            return prometheus_text(resource_metrics::resource_metrics(&kubelet).await);
        }
        "/metrics/cadvisor" => {
            return prometheus_text(crate::cadvisor::cadvisor_metrics(&kubelet).await);
        }
        _ => {}
    }
    if let Some(rest) = path.strip_prefix("/logs")
        && (rest.is_empty() || rest.starts_with('/'))
    {
        return system_logs::serve(std::path::Path::new(system_logs::LOG_DIR), rest).await;
    }
    if let Some(rest) = path.strip_prefix("/containerLogs/") {
        return container_logs(&kubelet, rest, &query).await;
    }
    text(StatusCode::NOT_FOUND, "404 page not found\n")
}

async fn container_logs(kubelet: &Arc<Kubelet>, rest: &str, query: &str) -> Response<Body> {
    let parts: Vec<String> = rest
        .split('/')
        .map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let [namespace, pod_name, container] = parts.as_slice() else {
        return text(
            StatusCode::BAD_REQUEST,
            "Expected /containerLogs/{namespace}/{pod}/{container}\n",
        );
    };
    let options = match logs::LogOptions::from_query(query) {
        Ok(o) => o,
        Err(err) => return text(StatusCode::BAD_REQUEST, err),
    };
    let Some(pod) = kubelet.find_pod(namespace, pod_name) else {
        return text(
            StatusCode::NOT_FOUND,
            format!("pod {namespace}/{pod_name} not found\n"),
        );
    };
    let spec = pod.spec.clone().unwrap_or_default();
    let known = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .any(|c| &c.name == container)
        || spec
            .ephemeral_containers
            .iter()
            .flatten()
            .any(|c| &c.name == container);
    if !known {
        return text(
            StatusCode::BAD_REQUEST,
            format!("container {container} is not valid for pod {pod_name}\n"),
        );
    }
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let runtime = match crate::pod::runtime_pod::RuntimePod::fetch(&kubelet.runtime, &uid).await {
        Ok(r) => r,
        Err(err) => {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("failed to get container status: {err}\n"),
            );
        }
    };
    let mut history = runtime.named(container);
    let target = if options.previous {
        history.nth(1)
    } else {
        history.next()
    };
    let Some(target) = target else {
        let message = if options.previous {
            format!("previous terminated container {container:?} in pod {pod_name:?} not found\n")
        } else {
            format!(
                "container {container:?} in pod {pod_name:?} is waiting to start: ContainerCreating\n"
            )
        };
        return text(StatusCode::BAD_REQUEST, message);
    };
    if target.log_path.is_empty() {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "container has no log path\n",
        );
    }
    let runtime_api = kubelet.runtime.clone();
    let id = target.id.clone();
    let rx = logs::stream(target.log_path.clone().into(), options, move || {
        let runtime = runtime_api.clone();
        let id = id.clone();
        Box::pin(async move {
            runtime
                .container_status(&id)
                .await
                .is_ok_and(|s| s.state == corten_cri::api::ContainerState::ContainerRunning as i32)
        })
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item.map(Frame::data), rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(BodyExt::boxed(StreamBody::new(stream)))
        .unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "error"))
}
