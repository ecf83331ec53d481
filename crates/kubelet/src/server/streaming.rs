//! `/exec`, `/attach` and `/portForward`: the kubelet asks the runtime for a
//! streaming URL (CRI `Exec`/`Attach`/`PortForward`; containerd serves them
//! on 127.0.0.1) and proxies the client's upgrade request to it, byte for
//! byte after the `101 Switching Protocols`, so SPDY and the WebSocket
//! `channel.k8s.io` protocols both pass through unchanged.

use std::sync::Arc;

use bytes::Bytes;
use corten_cri::api;
use http::{Request, Response, StatusCode, header};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use super::{Body, text};
use crate::kubelet::Kubelet;
use crate::pod::runtime_pod::RuntimePod;

/// Which streaming operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `/exec/{ns}/{pod}[/{uid}]/{container}`.
    Exec,
    /// `/attach/{ns}/{pod}[/{uid}]/{container}`.
    Attach,
    /// `/portForward/{ns}/{pod}[/{uid}]`.
    PortForward,
}

fn query_flag(query: &str, names: &[&str]) -> bool {
    form_urlencoded::parse(query.as_bytes()).any(|(k, v)| {
        names.contains(&k.as_ref()) && matches!(v.as_ref(), "1" | "true" | "True" | "")
    })
}

/// Serves one streaming request.
pub async fn handle(
    kubelet: &Arc<Kubelet>,
    operation: Operation,
    rest: &str,
    req: Request<Incoming>,
) -> Response<Body> {
    let parts: Vec<String> = rest
        .split('/')
        .filter(|p| !p.is_empty())
        .map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let (namespace, pod_name, container) = match (operation, parts.as_slice()) {
        (Operation::PortForward, [ns, pod]) | (Operation::PortForward, [ns, pod, _]) => {
            (ns, pod, None)
        }
        (_, [ns, pod, container]) | (_, [ns, pod, _, container]) => (ns, pod, Some(container)),
        _ => return text(StatusCode::BAD_REQUEST, "malformed streaming path\n"),
    };
    let Some(pod) = kubelet.find_pod(namespace, pod_name) else {
        return text(
            StatusCode::NOT_FOUND,
            format!("pod {namespace}/{pod_name} not found\n"),
        );
    };
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let runtime = match RuntimePod::fetch(&kubelet.runtime, &uid).await {
        Ok(r) => r,
        Err(err) => return text(StatusCode::INTERNAL_SERVER_ERROR, format!("{err}\n")),
    };
    let query = req.uri().query().unwrap_or("").to_string();
    let url = match (operation, container) {
        (Operation::PortForward, _) => {
            let Some(sandbox) = runtime.latest_sandbox().filter(|s| s.ready) else {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!("pod {pod_name} does not have a running sandbox\n"),
                );
            };
            kubelet
                .runtime
                .port_forward(api::PortForwardRequest {
                    pod_sandbox_id: sandbox.id.clone(),
                    port: Vec::new(),
                })
                .await
        }
        (_, Some(container)) => {
            let Some(running) = runtime.latest(container).filter(|c| c.is_running()) else {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!("container {container} is not running in pod {pod_name}\n"),
                );
            };
            let stdin = query_flag(&query, &["stdin", "input"]);
            let stdout = query_flag(&query, &["stdout", "output"]);
            let stderr = query_flag(&query, &["stderr", "error"]);
            let tty = query_flag(&query, &["tty"]);
            if operation == Operation::Exec {
                let cmd: Vec<String> = form_urlencoded::parse(query.as_bytes())
                    .filter(|(k, _)| k == "command")
                    .map(|(_, v)| v.into_owned())
                    .collect();
                if cmd.is_empty() {
                    return text(StatusCode::BAD_REQUEST, "missing command\n");
                }
                kubelet
                    .runtime
                    .exec(api::ExecRequest {
                        container_id: running.id.clone(),
                        cmd,
                        tty,
                        stdin,
                        stdout,
                        stderr,
                    })
                    .await
            } else {
                kubelet
                    .runtime
                    .attach(api::AttachRequest {
                        container_id: running.id.clone(),
                        stdin,
                        tty,
                        stdout,
                        stderr,
                    })
                    .await
            }
        }
        _ => return text(StatusCode::BAD_REQUEST, "malformed streaming path\n"),
    };
    match url {
        Ok(url) => proxy(&url, req).await,
        Err(err) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{}\n", err.message()),
        ),
    }
}

/// Proxies an upgrade request to the runtime's streaming URL.
async fn proxy(url: &str, mut req: Request<Incoming>) -> Response<Body> {
    let target: http::Uri = match url.parse() {
        Ok(u) => u,
        Err(err) => {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("bad streaming URL {url:?}: {err}\n"),
            );
        }
    };
    let Some(authority) = target.authority().map(|a| a.to_string()) else {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("bad streaming URL {url:?}\n"),
        );
    };
    let stream = match tokio::net::TcpStream::connect(&authority).await {
        Ok(s) => s,
        Err(err) => {
            return text(
                StatusCode::BAD_GATEWAY,
                format!("connecting to the runtime's streaming server: {err}\n"),
            );
        }
    };
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
            Ok(pair) => pair,
            Err(err) => return text(StatusCode::BAD_GATEWAY, format!("{err}\n")),
        };
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    let path = target
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let mut outgoing = Request::builder().method(req.method().clone()).uri(path);
    for (name, value) in req.headers() {
        if name == header::HOST {
            continue;
        }
        outgoing = outgoing.header(name, value);
    }
    let outgoing = match outgoing
        .header(header::HOST, authority)
        .body(Empty::<Bytes>::new())
    {
        Ok(r) => r,
        Err(err) => return text(StatusCode::INTERNAL_SERVER_ERROR, format!("{err}\n")),
    };
    let mut response = match sender.send_request(outgoing).await {
        Ok(r) => r,
        Err(err) => return text(StatusCode::BAD_GATEWAY, format!("{err}\n")),
    };
    let status = response.status();
    let mut reply = Response::builder().status(status);
    for (name, value) in response.headers() {
        reply = reply.header(name, value);
    }
    if status != StatusCode::SWITCHING_PROTOCOLS {
        use http_body_util::BodyExt;
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        return reply
            .body(super::full(body))
            .unwrap_or_else(|_| text(StatusCode::BAD_GATEWAY, "bad response\n"));
    }
    let client_upgrade = hyper::upgrade::on(&mut req);
    let backend_upgrade = hyper::upgrade::on(&mut response);
    tokio::spawn(async move {
        match (client_upgrade.await, backend_upgrade.await) {
            (Ok(client), Ok(backend)) => {
                let mut client = TokioIo::new(client);
                let mut backend = TokioIo::new(backend);
                if let Err(err) = tokio::io::copy_bidirectional(&mut client, &mut backend).await {
                    tracing::debug!(error = %err, "streaming connection ended");
                }
            }
            (Err(err), _) | (_, Err(err)) => {
                tracing::debug!(error = %err, "streaming upgrade failed")
            }
        }
    });
    reply
        .body(super::full(Bytes::new()))
        .unwrap_or_else(|_| text(StatusCode::BAD_GATEWAY, "bad response\n"))
}
