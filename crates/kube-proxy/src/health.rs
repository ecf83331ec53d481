//! The proxy health server (`--healthz-bind-address`, default :10256) and the
//! metrics server (`--metrics-bind-address`, default 127.0.0.1:10249).
//!
//! As upstream, `/healthz` answers JSON
//! `{"lastUpdated": ..., "currentTime": ..., "nodeEligible": true}` (Go's
//! time format, upstream's field order) with 200,
//! or 503 when a queued change has waited longer than the health timeout
//! (twice the sync period) without a successful sync, or when this node is
//! not eligible for load-balancer traffic: it is being deleted or carries
//! the cluster autoscaler's `ToBeDeletedByClusterAutoscaler` taint. Load
//! balancers probe `/healthz`. `/livez` reports only the proxy itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use http::{Method, Response, StatusCode, Uri};
use http_body_util::Full;

use crate::http_server::{Handler, respond};
use crate::metrics;

/// The taint the cluster autoscaler puts on a node it is about to remove.
pub const TO_BE_DELETED_TAINT: &str = "ToBeDeletedByClusterAutoscaler";

#[derive(Debug, Default)]
struct Times {
    last_queued: Option<jiff::Timestamp>,
    last_updated: Option<jiff::Timestamp>,
}

/// Tracks queued and completed syncs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ProxyHealth {
    times: Arc<Mutex<Times>>,
    timeout: Duration,
    node_eligible: Arc<AtomicBool>,
}

impl ProxyHealth {
    /// Unhealthy when a queued change waits longer than `timeout`.
    pub fn new(timeout: Duration) -> ProxyHealth {
        ProxyHealth {
            times: Arc::new(Mutex::new(Times::default())),
            timeout,
            node_eligible: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Records this proxy's Node (`None`: it was deleted): eligible unless
    /// it is being deleted or the autoscaler marked it for removal.
    pub fn sync_node(&self, node: Option<&k8s_openapi::api::core::v1::Node>) {
        let eligible = node.is_some_and(|node| {
            let tainted = node
                .spec
                .as_ref()
                .and_then(|spec| spec.taints.as_ref())
                .is_some_and(|taints| taints.iter().any(|t| t.key == TO_BE_DELETED_TAINT));
            node.metadata.deletion_timestamp.is_none() && !tainted
        });
        self.node_eligible.store(eligible, Ordering::Relaxed);
    }

    /// Whether this node should receive load-balancer traffic.
    pub fn node_eligible(&self) -> bool {
        self.node_eligible.load(Ordering::Relaxed)
    }

    /// A change was queued (only the first unprocessed one counts).
    pub fn queued(&self) {
        let now = jiff::Timestamp::now();
        if let Ok(mut t) = self.times.lock() {
            let pending = match (t.last_queued, t.last_updated) {
                (Some(q), Some(u)) => q > u,
                (Some(_), None) => true,
                _ => false,
            };
            if !pending {
                t.last_queued = Some(now);
                metrics::LAST_QUEUED.set(now.as_millisecond() as f64 / 1000.0);
            }
        }
    }

    /// A sync succeeded.
    pub fn updated(&self) {
        if let Ok(mut t) = self.times.lock() {
            t.last_updated = Some(jiff::Timestamp::now());
        }
    }

    /// (healthy, lastUpdated, currentTime).
    pub fn status(&self) -> (bool, Option<jiff::Timestamp>, jiff::Timestamp) {
        let now = jiff::Timestamp::now();
        let Ok(t) = self.times.lock() else {
            return (false, None, now);
        };
        let pending_since = match (t.last_queued, t.last_updated) {
            (Some(q), Some(u)) if q > u => Some(q),
            (Some(q), None) => Some(q),
            _ => None,
        };
        let healthy = pending_since.is_none_or(|q| {
            now.duration_since(q)
                .try_into()
                .map(|d: Duration| d <= self.timeout)
                .unwrap_or(true)
        });
        (healthy, t.last_updated, now)
    }

    /// Upstream's answer, byte for byte in layout: `{"lastUpdated":
    /// "<time>","currentTime": "<time>", "nodeEligible": <bool>}` with Go's
    /// time format. As upstream, a healthy answer reports `lastUpdated` as
    /// the current time (older releases synced on a timer, and clients
    /// took a recent `lastUpdated` to mean healthy); an unhealthy one the
    /// last successful sync.
    fn body(&self, with_node: bool) -> (StatusCode, String) {
        let (healthy, updated, now) = self.status();
        let eligible = with_node.then(|| self.node_eligible());
        let healthy = healthy && eligible.unwrap_or(true);
        let updated = if healthy { Some(now) } else { updated };
        let mut body = format!(
            "{{\"lastUpdated\": \"{}\",\"currentTime\": \"{}\"",
            go_time(updated),
            go_time(Some(now))
        );
        if let Some(eligible) = eligible {
            body.push_str(&format!(", \"nodeEligible\": {eligible}"));
        }
        body.push('}');
        let code = if healthy {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (code, body)
    }
}

/// A time as Go's `time.Time.String()` prints a UTC time
/// (`2006-01-02 15:04:05.999999999 +0000 UTC`, trailing zeros of the
/// fraction dropped); `None` is Go's zero time, which upstream prints
/// before the first sync.
pub fn go_time(time: Option<jiff::Timestamp>) -> String {
    let Some(time) = time else {
        return "0001-01-01 00:00:00 +0000 UTC".to_string();
    };
    let dt = time.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    let mut out = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    let nanos = dt.subsec_nanosecond();
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    out
}

/// The handler of the health port.
pub fn healthz_handler(health: ProxyHealth) -> Handler {
    Arc::new(move |method: Method, uri: Uri| {
        let health = health.clone();
        async move {
            if method != Method::GET && method != Method::HEAD {
                return respond(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "text/plain",
                    "405: Method Not Allowed\n",
                );
            }
            let (code, body, counter) = match uri.path() {
                "/healthz" => {
                    let (c, b) = health.body(true);
                    (c, b, &*metrics::HEALTHZ_TOTAL)
                }
                "/livez" => {
                    let (c, b) = health.body(false);
                    (c, b, &*metrics::LIVEZ_TOTAL)
                }
                _ => {
                    return respond(
                        StatusCode::NOT_FOUND,
                        "text/plain; charset=utf-8",
                        "404 page not found\n",
                    );
                }
            };
            counter.with_label_values(&[code.as_str()]).inc();
            respond(code, "application/json", body)
        }
        .boxed()
    })
}

/// The handler of the metrics port: `/metrics`, `/proxyMode`, `/healthz`,
/// `/livez`, `/readyz`.
pub fn metrics_handler(mode: &'static str) -> Handler {
    let registry = corten_component_base::health::HealthRegistry::new();
    Arc::new(move |method: Method, uri: Uri| {
        let registry = registry.clone();
        async move {
            if uri.path() == "/proxyMode" {
                return respond(
                    StatusCode::OK,
                    "text/plain; charset=utf-8",
                    Bytes::from_static(mode.as_bytes()),
                );
            }
            let response: Response<Full<Bytes>> =
                corten_component_base::server::ops_response(&registry, &method, &uri).await;
            response
        }
        .boxed()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn healthz_reports_stale_queued_changes() {
        let health = ProxyHealth::new(Duration::from_millis(50));
        let handler = healthz_handler(health.clone());
        let get = |path: &'static str| handler(Method::GET, Uri::from_static(path));
        assert_eq!(
            get("/healthz").await.status(),
            StatusCode::OK,
            "nothing queued yet"
        );
        health.queued();
        tokio::time::sleep(Duration::from_millis(80)).await;
        let response = get("/healthz").await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        health.updated();
        let response = get("/healthz").await;
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(body.to_vec()).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["nodeEligible"], true);
        assert!(text.starts_with("{\"lastUpdated\": \""), "{text}");
        assert!(text.ends_with(", \"nodeEligible\": true}"), "{text}");
        assert_eq!(
            json["lastUpdated"], json["currentTime"],
            "healthy: lastUpdated is now, as upstream"
        );
        assert!(
            json["currentTime"]
                .as_str()
                .unwrap()
                .ends_with(" +0000 UTC")
        );
        let live = get("/livez").await;
        assert_eq!(live.status(), StatusCode::OK);
        let body = live.into_body().collect().await.unwrap().to_bytes();
        let live: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(live.get("nodeEligible").is_none(), "{live}");

        // Unhealthy again: lastUpdated is the last successful sync.
        health.queued();
        tokio::time::sleep(Duration::from_millis(80)).await;
        for path in ["/healthz", "/livez"] {
            let response = get(path).await;
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_ne!(json["lastUpdated"], json["currentTime"], "{path}: {json}");
        }
        assert_eq!(get("/nope").await.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn times_are_printed_as_go_prints_them() {
        let t: jiff::Timestamp = "2026-11-26T08:05:09.1205Z".parse().unwrap();
        assert_eq!(go_time(Some(t)), "2026-11-26 08:05:09.1205 +0000 UTC");
        let t: jiff::Timestamp = "2026-11-26T08:05:09Z".parse().unwrap();
        assert_eq!(go_time(Some(t)), "2026-11-26 08:05:09 +0000 UTC");
        assert_eq!(go_time(None), "0001-01-01 00:00:00 +0000 UTC");
    }

    #[tokio::test]
    async fn healthz_fails_while_the_node_is_being_removed() {
        let health = ProxyHealth::new(Duration::from_secs(60));
        let handler = healthz_handler(health.clone());
        let get = |path: &'static str| handler(Method::GET, Uri::from_static(path));
        let node = |node: serde_json::Value| {
            serde_json::from_value::<k8s_openapi::api::core::v1::Node>(node).unwrap()
        };
        health.sync_node(Some(&node(serde_json::json!({"metadata": {"name": "n1"}}))));
        assert_eq!(get("/healthz").await.status(), StatusCode::OK);
        let tainted = node(
            serde_json::json!({"metadata": {"name": "n1"}, "spec": {"taints": [
                {"key": TO_BE_DELETED_TAINT, "value": "1700000000", "effect": "NoSchedule"}
            ]}}),
        );
        health.sync_node(Some(&tainted));
        let response = get("/healthz").await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["nodeEligible"], false);
        assert_eq!(
            get("/livez").await.status(),
            StatusCode::OK,
            "the proxy itself is fine"
        );
        let deleting = node(serde_json::json!({"metadata": {
            "name": "n1", "deletionTimestamp": "2026-11-26T08:00:00Z"
        }}));
        health.sync_node(Some(&deleting));
        assert_eq!(
            get("/healthz").await.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        health.sync_node(None);
        assert_eq!(
            get("/healthz").await.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        health.sync_node(Some(&node(serde_json::json!({
            "metadata": {"name": "n1"}, "spec": {"unschedulable": true}
        }))));
        assert_eq!(
            get("/healthz").await.status(),
            StatusCode::OK,
            "cordoned is still eligible"
        );
    }

    #[tokio::test]
    async fn metrics_port_serves_proxy_mode_and_metrics() {
        metrics::register_all();
        let handler = metrics_handler("nftables");
        let r = handler(Method::GET, Uri::from_static("/proxyMode")).await;
        let body = r.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"nftables");
        let r = handler(Method::GET, Uri::from_static("/metrics")).await;
        let body = r.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&body);
        assert!(
            text.contains("kubeproxy_sync_proxy_rules_duration_seconds_bucket"),
            "{text}"
        );
        assert!(text.contains("kubeproxy_sync_proxy_rules_last_timestamp_seconds"));
    }
}
