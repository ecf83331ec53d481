//! Events kube-proxy records, as upstream does through the
//! `events.k8s.io/v1` API (reporting controller `kube-proxy`, instance
//! `kube-proxy-<hostname>`).
//!
//! The one upstream event is `FailedToStartServiceHealthcheck`: a Warning
//! on a Service whose health check node port cannot be opened. Recording
//! never blocks a sync: events go through a bounded queue to a writer task
//! and are dropped (logged) when the queue is full or the apiserver refuses
//! them; repeats are aggregated into a series by the recorder.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tokio::sync::mpsc;

use crate::model::ServiceKey;

/// The reason of the event for a health check port that cannot be opened.
pub const FAILED_TO_START_HEALTHCHECK: &str = "FailedToStartServiceHealthcheck";

/// Queued events beyond this are dropped.
const QUEUE: usize = 256;

/// A Warning event about a Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceEvent {
    /// The Service.
    pub service: ServiceKey,
    /// `reason` (PascalCase).
    pub reason: &'static str,
    /// `action` (upstream: `Listen`).
    pub action: &'static str,
    /// `note`: the message.
    pub message: String,
}

/// Where events go; cheap to clone. [`EventSink::channel`] gives tests the
/// receiving end.
#[derive(Clone, Debug)]
pub struct EventSink {
    tx: mpsc::Sender<ServiceEvent>,
}

impl EventSink {
    /// A sink and the receiver its events arrive at.
    pub fn channel() -> (EventSink, mpsc::Receiver<ServiceEvent>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (EventSink { tx }, rx)
    }

    /// A sink whose events a spawned task writes through `client`.
    pub fn spawn(client: Client) -> (EventSink, tokio::task::JoinHandle<()>) {
        let (sink, rx) = EventSink::channel();
        (sink, tokio::spawn(write(client, rx)))
    }

    /// Queues `event` (dropped with a log line when the queue is full).
    pub fn record(&self, event: ServiceEvent) {
        if let Err(err) = self.tx.try_send(event) {
            tracing::warn!(error = %err, "event queue full; dropping an event");
        }
    }
}

/// The reporting instance: upstream's recorder uses `<controller>-<hostname>`.
fn reporter() -> Reporter {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    Reporter {
        controller: "kube-proxy".into(),
        instance: Some(format!("kube-proxy-{host}")),
    }
}

/// The reference to a Service an event is about (as upstream: no UID).
pub fn service_ref(service: &ServiceKey) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Service".into()),
        namespace: Some(service.0.clone()),
        name: Some(service.1.clone()),
        ..ObjectReference::default()
    }
}

async fn write(client: Client, mut rx: mpsc::Receiver<ServiceEvent>) {
    let recorder = Recorder::new(client, reporter());
    while let Some(event) = rx.recv().await {
        let published = recorder
            .publish(
                &Event {
                    type_: EventType::Warning,
                    reason: event.reason.into(),
                    note: Some(event.message),
                    action: event.action.into(),
                    secondary: None,
                },
                &service_ref(&event.service),
            )
            .await;
        if let Err(err) = published {
            tracing::warn!(error = %err, reason = event.reason, "cannot record an event");
        }
    }
}
