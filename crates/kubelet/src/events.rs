//! Events, as upstream's recorder writes them (core/v1 Events with
//! `source.component=kubelet`, `source.host=<node>`), aggregated: a repeat of
//! the same (object, reason, message) within ten minutes bumps `count` and
//! `lastTimestamp` of the existing Event instead of creating a new one.
//!
//! Recording never blocks and never fails the caller: events go through a
//! bounded queue to a writer task, and are dropped (with a debug log) when
//! the queue is full or the apiserver refuses them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, Patch, PatchParams, PostParams};
use tokio::sync::mpsc;

/// `Normal` events.
pub const NORMAL: &str = "Normal";
/// `Warning` events.
pub const WARNING: &str = "Warning";

const QUEUE: usize = 1024;
const AGGREGATE_WINDOW: Duration = Duration::from_secs(600);
const CACHE_LIMIT: usize = 4096;

#[derive(Debug)]
struct Request {
    object: ObjectReference,
    type_: &'static str,
    reason: String,
    message: String,
}

/// Records events; cheap to clone.
#[derive(Clone, Debug)]
pub struct EventRecorder {
    tx: Option<mpsc::Sender<Request>>,
}

/// A reference to a pod, optionally to one of its containers (`fieldPath`).
pub fn pod_ref(pod: &Pod, container: Option<(&str, bool)>) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: pod.metadata.name.clone(),
        namespace: pod.metadata.namespace.clone(),
        uid: pod.metadata.uid.clone(),
        resource_version: pod.metadata.resource_version.clone(),
        field_path: container.map(|(name, init)| {
            if init {
                format!("spec.initContainers{{{name}}}")
            } else {
                format!("spec.containers{{{name}}}")
            }
        }),
    }
}

/// A reference to a node as upstream's kubelet makes it (uid = node name).
pub fn node_ref(node_name: &str) -> ObjectReference {
    ObjectReference {
        kind: Some("Node".into()),
        name: Some(node_name.to_string()),
        uid: Some(node_name.to_string()),
        ..Default::default()
    }
}

impl EventRecorder {
    /// A recorder that drops everything (unit tests without an apiserver).
    pub fn disabled() -> Self {
        Self { tx: None }
    }

    /// A recorder writing through `client`; spawns the writer task.
    pub fn new(client: kube::Client, node_name: &str) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(writer(client, node_name.to_string(), rx));
        Self { tx: Some(tx) }
    }

    /// Records an event about `object`.
    pub fn record(
        &self,
        object: ObjectReference,
        type_: &'static str,
        reason: &str,
        message: impl Into<String>,
    ) {
        let Some(tx) = &self.tx else {
            return;
        };
        let request = Request {
            object,
            type_,
            reason: reason.to_string(),
            message: message.into(),
        };
        if let Err(err) = tx.try_send(request) {
            tracing::debug!(error = %err, "event queue full; dropping event");
        }
    }

    /// Records an event about a pod (or one of its containers).
    pub fn pod(
        &self,
        pod: &Pod,
        container: Option<(&str, bool)>,
        type_: &'static str,
        reason: &str,
        message: impl Into<String>,
    ) {
        self.record(pod_ref(pod, container), type_, reason, message);
    }
}

struct Seen {
    name: String,
    namespace: String,
    count: i32,
    at: Instant,
}

async fn writer(client: kube::Client, host: String, mut rx: mpsc::Receiver<Request>) {
    let mut seen: HashMap<(String, String, String, String), Seen> = HashMap::new();
    while let Some(request) = rx.recv().await {
        let namespace = request
            .object
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let key = (
            request.object.uid.clone().unwrap_or_default(),
            request.object.field_path.clone().unwrap_or_default(),
            request.reason.clone(),
            request.message.clone(),
        );
        let now = crate::time::now();
        let api: Api<Event> = Api::namespaced(client.clone(), &namespace);
        if let Some(entry) = seen.get_mut(&key)
            && entry.at.elapsed() < AGGREGATE_WINDOW
        {
            entry.count += 1;
            entry.at = Instant::now();
            let patch = serde_json::json!({
                "count": entry.count,
                "lastTimestamp": now,
            });
            let api: Api<Event> = Api::namespaced(client.clone(), &entry.namespace);
            match api
                .patch(&entry.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => continue,
                Err(err) => tracing::debug!(error = %err, "updating event; creating a new one"),
            }
        }
        let object_name = request.object.name.clone().unwrap_or_default();
        let name = format!("{object_name}.{:x}", corten_cri::now_nanos());
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            involved_object: request.object,
            reason: Some(request.reason),
            message: Some(request.message),
            type_: Some(request.type_.to_string()),
            source: Some(EventSource {
                component: Some("kubelet".into()),
                host: Some(host.clone()),
            }),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now.clone()),
            event_time: None::<MicroTime>,
            count: Some(1),
            reporting_component: Some("kubelet".into()),
            reporting_instance: Some(host.clone()),
            ..Default::default()
        };
        match api.create(&PostParams::default(), &event).await {
            Ok(_) => {
                if seen.len() >= CACHE_LIMIT {
                    seen.retain(|_, s| s.at.elapsed() < AGGREGATE_WINDOW);
                    if seen.len() >= CACHE_LIMIT {
                        seen.clear();
                    }
                }
                seen.insert(
                    key,
                    Seen {
                        name,
                        namespace,
                        count: 1,
                        at: Instant::now(),
                    },
                );
            }
            Err(err) => tracing::debug!(error = %err, "writing event"),
        }
    }
}
