//! `pods/exec`, `pods/attach` and `pods/portforward`: SPDY and older
//! WebSocket protocols go to the kubelet unchanged (`forward.rs`);
//! WebSocket `v5.channel.k8s.io` is translated (`translate.rs`) and the
//! port-forward tunnel is spliced (`tunnel.rs`) after the apiserver itself
//! upgrades to SPDY toward the kubelet.

use std::sync::Arc;

use bytes::Bytes;
use corten_apimachinery::StatusError;
use http::{Request, Response, StatusCode, header};
use serde_json::Value;

use super::{
    backend_error, forward, kubelet, kubelet_backend, node_of_pod, params, pod_name, pod_namespace,
    translate, tunnel, websocket,
};
use crate::app::ApiServer;
use crate::wire::Body;

/// Serves exec, attach or portforward for `pod`.
pub(super) async fn pod_stream<B>(
    server: &Arc<ApiServer>,
    req: Request<B>,
    pod: &Value,
    sub: &str,
    query: &str,
) -> Result<Response<Body>, StatusError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let name = pod_name(pod);
    let mut streams = None;
    let target = match sub {
        "portforward" => {
            let opts = params::PortForwardOptions::parse(query)?;
            format!(
                "/portForward/{}/{name}{}",
                pod_namespace(pod),
                opts.kubelet_query()
            )
        }
        _ => {
            let opts = params::StreamOptions::parse(query, sub == "exec")?;
            let container = params::validate_container(pod, opts.container.as_deref())?;
            streams = Some(translate::Streams {
                stdin: opts.stdin,
                stdout: opts.stdout,
                stderr: opts.stderr,
                tty: opts.tty,
            });
            let path = if sub == "exec" { "exec" } else { "attach" };
            format!(
                "/{path}/{}/{name}/{container}?{}",
                pod_namespace(pod),
                opts.kubelet_query()
            )
        }
    };
    let websocket = if forward::is_websocket(req.headers()) {
        let plan = websocket_plan(req.headers(), streams)?;
        websocket::check_handshake(req.headers())?;
        Some(plan)
    } else {
        None
    };
    let Some(at) = node_of_pod(server, pod).await? else {
        return Err(StatusError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    };
    match websocket {
        Some(WebSocketPlan::Translate(streams)) => {
            tracing::info!(
                pod = name,
                subresource = sub,
                "translating WebSocket v5.channel.k8s.io to SPDY"
            );
            let metric = &crate::metrics::STREAM_TRANSLATOR_REQUESTS;
            let dialed = dial_kubelet(server, &at, &target, translate::SPDY_PROTOCOL).await;
            let dialed = counted(metric, dialed)?;
            let protocol = translate::WEBSOCKET_PROTOCOL;
            upgrade_client(req, dialed, protocol, metric, move |client, backend| {
                translate::run(client, backend, streams)
            })
        }
        Some(WebSocketPlan::Tunnel) => {
            tracing::info!(pod = name, "tunneling port-forward SPDY over WebSocket");
            let metric = &crate::metrics::STREAM_TUNNEL_REQUESTS;
            let dialed = dial_kubelet(server, &at, &target, tunnel::PORT_FORWARD_PROTOCOL).await;
            let dialed = counted(metric, dialed)?;
            let protocol = tunnel::websocket_protocol();
            upgrade_client(req, dialed, &protocol, metric, tunnel::run)
        }
        Some(WebSocketPlan::PassThrough) | None => {
            let response = forward::forward(
                kubelet_backend(server, &at),
                server.kubelet.config.timeout,
                req,
                None,
                &target,
            )
            .await?;
            if response.status() == StatusCode::SWITCHING_PROTOCOLS
                || response.status().is_success()
            {
                return Ok(response);
            }
            Err(backend_error(response).await)
        }
    }
}

/// How a WebSocket streaming request is served.
#[derive(Debug)]
enum WebSocketPlan {
    /// exec/attach with `v5.channel.k8s.io`: translated to SPDY.
    Translate(translate::Streams),
    /// port-forward with `SPDY/3.1+portforward.k8s.io`: tunneled.
    Tunnel,
    /// Older channel protocols the kubelet's streaming server speaks itself.
    PassThrough,
}

/// Chooses how to serve a WebSocket request for exec/attach (`streams`
/// given) or port-forward, as upstream: v5 and the port-forward tunnel are
/// handled here, v1-v4 go to the kubelet unchanged, anything else is
/// refused (a refusal makes client-go fall back to SPDY).
fn websocket_plan(
    headers: &http::HeaderMap,
    streams: Option<translate::Streams>,
) -> Result<WebSocketPlan, StatusError> {
    let offered = params::websocket_protocols(headers);
    match streams {
        Some(streams) if offered.iter().any(|p| p == translate::WEBSOCKET_PROTOCOL) => {
            return Ok(WebSocketPlan::Translate(streams));
        }
        None if offered.contains(&tunnel::websocket_protocol()) => {
            return Ok(WebSocketPlan::Tunnel);
        }
        _ => {}
    }
    if params::websocket_passes_through(headers) {
        return Ok(WebSocketPlan::PassThrough);
    }
    Err(StatusError::bad_request(format!(
        "WebSocket protocol(s) {offered:?} are not supported; use {} (exec, attach), {} (port-forward) or SPDY/3.1",
        translate::WEBSOCKET_PROTOCOL,
        tunnel::websocket_protocol()
    )))
}

/// Opens an SPDY/3.1 connection to the kubelet for a translated request.
async fn dial_kubelet(
    server: &ApiServer,
    at: &kubelet::KubeletLocation,
    target: &str,
    protocol: &str,
) -> Result<hyper::upgrade::Upgraded, StatusError> {
    let dialed = forward::dial_upgrade(
        kubelet_backend(server, at),
        server.kubelet.config.timeout,
        target,
        "SPDY/3.1",
        &[("x-stream-protocol-version", protocol)],
    )
    .await?;
    match dialed {
        forward::Dialed::Upgraded(headers, upgraded) => {
            // The stream semantics (a Status on the error stream) are
            // those of the protocol asked for; anything else is refused.
            let chosen = headers
                .get("x-stream-protocol-version")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if chosen != protocol {
                return Err(StatusError::internal(format!(
                    "the kubelet answered with stream protocol {chosen:?}, not {protocol:?}"
                )));
            }
            Ok(upgraded)
        }
        forward::Dialed::Refused(response) => Err(backend_error(response).await),
    }
}

/// Counts a failure to reach the kubelet under its code.
fn counted<T>(
    metric: &prometheus::IntCounterVec,
    r: Result<T, StatusError>,
) -> Result<T, StatusError> {
    if let Err(e) = &r {
        metric.with_label_values(&[&e.code.to_string()]).inc();
    }
    r
}

/// Answers the client's WebSocket upgrade with `protocol` and runs
/// `session` on the two upgraded connections, counting its outcome.
fn upgrade_client<B, F, Fut>(
    mut req: Request<B>,
    backend: hyper::upgrade::Upgraded,
    protocol: &str,
    metric: &'static prometheus::IntCounterVec,
    session: F,
) -> Result<Response<Body>, StatusError>
where
    F: FnOnce(
            hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>,
            hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>,
        ) -> Fut
        + Send
        + 'static,
    Fut: std::future::Future<Output = u16> + Send + 'static,
{
    let accept = websocket::check_handshake(req.headers())?;
    let client_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let code = match client_upgrade.await {
            Ok(client) => {
                session(
                    hyper_util::rt::TokioIo::new(client),
                    hyper_util::rt::TokioIo::new(backend),
                )
                .await
            }
            Err(e) => {
                tracing::debug!(error = %e, "client upgrade failed");
                400
            }
        };
        metric.with_label_values(&[&code.to_string()]).inc();
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket")
        .header("sec-websocket-accept", accept)
        .header("sec-websocket-protocol", protocol)
        .body(crate::wire::full(Bytes::new()))
        .map_err(StatusError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offering(protocols: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert("sec-websocket-protocol", protocols.parse().unwrap());
        h
    }

    #[test]
    fn websocket_protocols_are_chosen_like_upstream() {
        let exec = Some(translate::Streams::default());
        // kubectl 1.30+: v5 first, older ones after it.
        let kubectl = offering("v5.channel.k8s.io, v4.channel.k8s.io, v3.channel.k8s.io");
        assert!(matches!(
            websocket_plan(&kubectl, exec),
            Ok(WebSocketPlan::Translate(_))
        ));
        // Older clients reach the kubelet unchanged.
        assert!(matches!(
            websocket_plan(&offering("v4.channel.k8s.io"), exec),
            Ok(WebSocketPlan::PassThrough)
        ));
        // The port-forward tunnel, only for port-forward.
        let tunnel = offering("SPDY/3.1+portforward.k8s.io");
        assert!(matches!(
            websocket_plan(&tunnel, None),
            Ok(WebSocketPlan::Tunnel)
        ));
        assert_eq!(websocket_plan(&tunnel, exec).unwrap_err().code, 400);
        // v5 is not a port-forward protocol.
        assert_eq!(
            websocket_plan(&offering("v5.channel.k8s.io"), None)
                .unwrap_err()
                .code,
            400
        );
        let e = websocket_plan(&offering("chat"), exec).unwrap_err();
        assert!(e.message.contains("are not supported"), "{e}");
        assert_eq!(
            websocket_plan(&http::HeaderMap::new(), exec)
                .unwrap_err()
                .code,
            400
        );
    }
}
