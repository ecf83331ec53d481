//! The writes the scheduler makes to the apiserver, behind a trait so the
//! algorithm runs against a fake in unit tests and the benchmark.

use std::fmt;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::ObjectReference;

/// Why a write failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 409: the object changed (or the pod is already bound).
    #[error("conflict: {0}")]
    Conflict(String),
    /// 404: the object is gone.
    #[error("not found: {0}")]
    NotFound(String),
    /// Anything else (transport errors, 5xx, rejections).
    #[error("{0}")]
    Other(String),
}

/// A future of an API call.
pub type ApiFuture<T> = BoxFuture<'static, Result<T, ApiError>>;

/// `type` of an Event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Informational.
    Normal,
    /// Something may need attention.
    Warning,
}

impl EventType {
    /// The API string.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// An events.k8s.io/v1 Event to record.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSpec {
    /// The object the event is about.
    pub regarding: ObjectReference,
    /// A second object involved (the preemptor of a victim).
    pub related: Option<ObjectReference>,
    /// Normal or Warning.
    pub type_: EventType,
    /// `Scheduled`, `FailedScheduling`, `Preempted`, ...
    pub reason: String,
    /// `Binding`, `Scheduling`, `Preempting`.
    pub action: String,
    /// The human-readable message.
    pub note: String,
    /// The profile (scheduler name) reporting it.
    pub reporting_controller: String,
}

/// The apiserver writes of a scheduler.
pub trait ClusterApi: Send + Sync + 'static {
    /// POSTs a v1 Binding of pod `namespace/name` (with `uid` as
    /// precondition) to `node`.
    fn bind(&self, namespace: &str, name: &str, uid: &str, node: &str) -> ApiFuture<()>;

    /// Applies a strategic merge patch to the pod's `status` subresource.
    fn patch_pod_status(
        &self,
        namespace: &str,
        name: &str,
        patch: serde_json::Value,
    ) -> ApiFuture<()>;

    /// Deletes a pod gracefully (default grace period), with a UID
    /// precondition when `uid` is not empty.
    fn delete_pod(&self, namespace: &str, name: &str, uid: &str) -> ApiFuture<()>;

    /// Applies a merge patch to a namespaced object of a core/v1 resource
    /// (`persistentvolumeclaims`) or, with an empty namespace, a
    /// cluster-scoped one (`persistentvolumes`).
    fn patch_core(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        patch: serde_json::Value,
    ) -> ApiFuture<()>;

    /// Records an event (fire and forget: never blocks, may drop).
    fn record_event(&self, event: EventSpec);
}

impl fmt::Debug for dyn ClusterApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterApi")
    }
}

/// A [`ClusterApi`] that accepts every write and remembers bindings and
/// events: for unit tests and the algorithm-only benchmark.
#[derive(Debug, Default)]
pub struct FakeApi {
    /// (namespace/name, node) of each binding, in order.
    pub bindings: std::sync::Mutex<Vec<(String, String)>>,
    /// Recorded events.
    pub events: std::sync::Mutex<Vec<EventSpec>>,
    /// Status patches: (namespace/name, patch).
    pub status_patches: std::sync::Mutex<Vec<(String, serde_json::Value)>>,
    /// Deleted pods (namespace/name).
    pub deletions: std::sync::Mutex<Vec<String>>,
    /// Whether to remember anything (the benchmark turns it off).
    pub remember: bool,
}

impl FakeApi {
    /// A fake that remembers writes.
    pub fn recording() -> Self {
        FakeApi {
            remember: true,
            ..FakeApi::default()
        }
    }

    fn push<T>(&self, list: &std::sync::Mutex<Vec<T>>, value: T) {
        if self.remember {
            list.lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(value);
        }
    }

    /// The bindings so far.
    pub fn bindings(&self) -> Vec<(String, String)> {
        self.bindings
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The events so far.
    pub fn events(&self) -> Vec<EventSpec> {
        self.events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

impl ClusterApi for FakeApi {
    fn bind(&self, namespace: &str, name: &str, _uid: &str, node: &str) -> ApiFuture<()> {
        self.push(
            &self.bindings,
            (format!("{namespace}/{name}"), node.to_string()),
        );
        Box::pin(async { Ok(()) })
    }

    fn patch_pod_status(
        &self,
        namespace: &str,
        name: &str,
        patch: serde_json::Value,
    ) -> ApiFuture<()> {
        self.push(&self.status_patches, (format!("{namespace}/{name}"), patch));
        Box::pin(async { Ok(()) })
    }

    fn delete_pod(&self, namespace: &str, name: &str, _uid: &str) -> ApiFuture<()> {
        self.push(&self.deletions, format!("{namespace}/{name}"));
        Box::pin(async { Ok(()) })
    }

    fn patch_core(
        &self,
        _resource: &str,
        _namespace: &str,
        _name: &str,
        _patch: serde_json::Value,
    ) -> ApiFuture<()> {
        Box::pin(async { Ok(()) })
    }

    fn record_event(&self, event: EventSpec) {
        self.push(&self.events, event);
    }
}
