//! The [`ClusterApi`] of a running scheduler: kube-rs calls behind
//! client-go-like rate limits (`--kube-api-qps`/`--kube-api-burst`), and an
//! events.k8s.io/v1 event writer with upstream's series deduplication.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Binding, ObjectReference, PersistentVolume, PersistentVolumeClaim, Pod,
};
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::{Api, Client};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::framework::{ApiError, ApiFuture, ClusterApi, EventSpec};

/// Events buffered before new ones are dropped (upstream's queue length).
const EVENT_QUEUE: usize = 1000;
/// Concurrent event writes.
const EVENT_WRITERS: usize = 8;
/// How long an event stays in the dedup cache after it was last seen.
const SERIES_TTL: Duration = Duration::from_secs(6 * 60);

/// A token bucket (client-go's `flowcontrol` rate limiter). QPS <= 0
/// disables limiting.
#[derive(Debug)]
pub struct RateLimiter {
    qps: f64,
    burst: f64,
    state: tokio::sync::Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// A limiter allowing `qps` per second with bursts of `burst`.
    pub fn new(qps: f32, burst: i32) -> Self {
        let burst = f64::from(burst.max(1));
        RateLimiter {
            qps: f64::from(qps),
            burst,
            state: tokio::sync::Mutex::new((burst, Instant::now())),
        }
    }

    /// Waits for a token.
    pub async fn acquire(&self) {
        if self.qps <= 0.0 {
            return;
        }
        let wait = {
            let mut state = self.state.lock().await;
            let now = Instant::now();
            let refill = now.saturating_duration_since(state.1).as_secs_f64() * self.qps;
            state.0 = (state.0 + refill).min(self.burst);
            state.1 = now;
            state.0 -= 1.0;
            if state.0 >= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(-state.0 / self.qps)
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

fn api_error(err: kube::Error) -> ApiError {
    match err {
        kube::Error::Api(status) if status.code == 409 => {
            ApiError::Conflict(status.message.clone())
        }
        kube::Error::Api(status) if status.code == 404 => {
            ApiError::NotFound(status.message.clone())
        }
        kube::Error::Api(status) => ApiError::Other(status.message.clone()),
        other => ApiError::Other(other.to_string()),
    }
}

/// The kube-rs backed [`ClusterApi`].
pub struct KubeApi {
    client: Client,
    limiter: Arc<RateLimiter>,
    events: mpsc::Sender<EventSpec>,
}

impl std::fmt::Debug for KubeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeApi").finish_non_exhaustive()
    }
}

impl KubeApi {
    /// An API client with upstream-like rate limits; starts the event
    /// writer (its own limiter with the same settings, like upstream's
    /// separate event client). `reporting_instance` is
    /// `<scheduler name>-<hostname>` style.
    pub fn new(client: Client, qps: f32, burst: i32, hostname: String) -> Self {
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        let writer = EventWriter {
            client: client.clone(),
            limiter: Arc::new(RateLimiter::new(qps, burst)),
            hostname,
            cache: Arc::new(Mutex::new(HashMap::new())),
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(writer.run(rx));
        }
        KubeApi {
            client,
            limiter: Arc::new(RateLimiter::new(qps, burst)),
            events: tx,
        }
    }
}

impl ClusterApi for KubeApi {
    fn bind(&self, namespace: &str, name: &str, uid: &str, node: &str) -> ApiFuture<()> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let limiter = self.limiter.clone();
        let binding = Binding {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(namespace.to_string()),
                uid: (!uid.is_empty()).then(|| uid.to_string()),
                ..ObjectMeta::default()
            },
            target: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Node".into()),
                name: Some(node.to_string()),
                ..ObjectReference::default()
            },
        };
        let name = name.to_string();
        Box::pin(async move {
            limiter.acquire().await;
            api.create_subresource::<_, serde_json::Value>(
                "binding",
                &name,
                &PostParams::default(),
                &binding,
            )
            .await
            .map(|_| ())
            .map_err(api_error)
        })
    }

    fn patch_pod_status(
        &self,
        namespace: &str,
        name: &str,
        patch: serde_json::Value,
    ) -> ApiFuture<()> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let limiter = self.limiter.clone();
        let name = name.to_string();
        Box::pin(async move {
            limiter.acquire().await;
            api.patch_status(&name, &PatchParams::default(), &Patch::Strategic(patch))
                .await
                .map(|_| ())
                .map_err(api_error)
        })
    }

    fn delete_pod(&self, namespace: &str, name: &str, uid: &str) -> ApiFuture<()> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let limiter = self.limiter.clone();
        let name = name.to_string();
        let params = DeleteParams {
            preconditions: (!uid.is_empty()).then(|| Preconditions {
                uid: Some(uid.to_string()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        Box::pin(async move {
            limiter.acquire().await;
            api.delete(&name, &params)
                .await
                .map(|_| ())
                .map_err(api_error)
        })
    }

    fn patch_core(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        patch: serde_json::Value,
    ) -> ApiFuture<()> {
        let client = self.client.clone();
        let limiter = self.limiter.clone();
        let (resource, namespace, name) = (
            resource.to_string(),
            namespace.to_string(),
            name.to_string(),
        );
        Box::pin(async move {
            limiter.acquire().await;
            let params = PatchParams::default();
            let result = match resource.as_str() {
                "persistentvolumeclaims" => {
                    Api::<PersistentVolumeClaim>::namespaced(client, &namespace)
                        .patch(&name, &params, &Patch::Merge(patch))
                        .await
                        .map(|_| ())
                }
                "persistentvolumes" => Api::<PersistentVolume>::all(client)
                    .patch(&name, &params, &Patch::Merge(patch))
                    .await
                    .map(|_| ()),
                other => {
                    return Err(ApiError::Other(format!(
                        "patching {other} is not supported"
                    )));
                }
            };
            result.map_err(api_error)
        })
    }

    fn record_event(&self, event: EventSpec) {
        if let Err(mpsc::error::TrySendError::Full(event)) = self.events.try_send(event) {
            tracing::warn!(reason = %event.reason, "dropping event because the event queue is full");
        }
    }
}

/// Deduplication key of an event (upstream's isomorphic events: same
/// regarding/related object, reason, action and controller).
type SeriesKey = (String, String, String, String, String);

#[derive(Debug, Clone)]
struct Seen {
    namespace: String,
    name: String,
    count: i32,
    last: Instant,
}

struct EventWriter {
    client: Client,
    limiter: Arc<RateLimiter>,
    hostname: String,
    cache: Arc<Mutex<HashMap<SeriesKey, Seen>>>,
}

fn series_key(event: &EventSpec) -> SeriesKey {
    let r = |o: &ObjectReference| {
        format!(
            "{}/{}/{}/{}",
            o.kind.as_deref().unwrap_or(""),
            o.namespace.as_deref().unwrap_or(""),
            o.name.as_deref().unwrap_or(""),
            o.uid.as_deref().unwrap_or("")
        )
    };
    (
        r(&event.regarding),
        event.related.as_ref().map(r).unwrap_or_default(),
        event.reason.clone(),
        event.action.clone(),
        event.reporting_controller.clone(),
    )
}

impl EventWriter {
    async fn run(self, mut rx: mpsc::Receiver<EventSpec>) {
        let permits = Arc::new(tokio::sync::Semaphore::new(EVENT_WRITERS));
        let mut last_gc = Instant::now();
        while let Some(event) = rx.recv().await {
            let now = Instant::now();
            if now.saturating_duration_since(last_gc) > Duration::from_secs(60) {
                last_gc = now;
                self.cache
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .retain(|_, seen| now.saturating_duration_since(seen.last) < SERIES_TTL);
            }
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let client = self.client.clone();
            let limiter = self.limiter.clone();
            let cache = self.cache.clone();
            let instance = format!("{}-{}", event.reporting_controller, self.hostname);
            tokio::spawn(async move {
                write_event(client, limiter, cache, instance, event).await;
                drop(permit);
            });
        }
    }
}

async fn write_event(
    client: Client,
    limiter: Arc<RateLimiter>,
    cache: Arc<Mutex<HashMap<SeriesKey, Seen>>>,
    instance: String,
    event: EventSpec,
) {
    let key = series_key(&event);
    let now = Timestamp::now();
    // Repeats: the first one turns the event into a series (count 2),
    // later ones are only counted locally, like upstream's recorder.
    let repeat = {
        let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
        match cache.get_mut(&key) {
            Some(seen) => {
                seen.count += 1;
                seen.last = Instant::now();
                Some(seen.clone())
            }
            None => None,
        }
    };
    limiter.acquire().await;
    if let Some(seen) = repeat {
        if seen.count != 2 {
            return;
        }
        let api: Api<Event> = Api::namespaced(client, &seen.namespace);
        let patch = serde_json::json!({"series": EventSeries { count: 2, last_observed_time: MicroTime(now) }});
        if let Err(err) = api
            .patch(&seen.name, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            tracing::debug!(error = %err, "updating an event series");
        }
        return;
    }
    let namespace = event
        .regarding
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".to_string());
    let name = format!(
        "{}.{:x}",
        event.regarding.name.as_deref().unwrap_or("unknown"),
        now.as_nanosecond()
    );
    let body = Event {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.clone()),
            ..ObjectMeta::default()
        },
        event_time: Some(MicroTime(now)),
        reporting_controller: Some(event.reporting_controller.clone()),
        reporting_instance: Some(instance),
        action: Some(event.action.clone()),
        reason: Some(event.reason.clone()),
        regarding: Some(event.regarding.clone()),
        related: event.related.clone(),
        note: Some(event.note.clone()),
        type_: Some(event.type_.as_str().to_string()),
        ..Event::default()
    };
    let api: Api<Event> = Api::namespaced(client, &namespace);
    match api.create(&PostParams::default(), &body).await {
        Ok(_) => {
            cache.lock().unwrap_or_else(|p| p.into_inner()).insert(
                key,
                Seen {
                    namespace,
                    name,
                    count: 1,
                    last: Instant::now(),
                },
            );
        }
        Err(err) => tracing::debug!(reason = %event.reason, error = %err, "writing an event"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn rate_limiter_allows_bursts_then_paces() {
        let limiter = RateLimiter::new(10.0, 2);
        let start = Instant::now();
        limiter.acquire().await;
        limiter.acquire().await;
        assert_eq!(Instant::now(), start);
        limiter.acquire().await;
        let waited = Instant::now() - start;
        assert!(
            waited >= Duration::from_millis(99) && waited <= Duration::from_millis(101),
            "{waited:?}"
        );
        let unlimited = RateLimiter::new(0.0, 1);
        for _ in 0..100 {
            unlimited.acquire().await;
        }
    }
}
