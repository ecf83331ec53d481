//! Recording core/v1 Events the way client-go's `record` package does, so
//! `kubectl describe` and `kubectl get events` show what upstream shows.
//!
//! Controllers get an [`EventRecorder`] (with their component name as
//! `source.component`) from the process-wide [`EventBroadcaster`]. Recording
//! never blocks: events go through a bounded channel (1000, dropped when
//! full, as upstream) to one writer task, which runs them through the
//! [`EventCorrelator`]:
//!
//! - a spam filter per source+object (token bucket: burst 25, one per 5 min);
//! - aggregation: more than 10 events with the same reason but different
//!   messages for one object within 10 minutes become one event with the
//!   message `(combined from similar events): <latest message>`;
//! - deduplication: an identical event (same source, object, type, reason and
//!   message) is written as a PATCH of the existing Event's `count`,
//!   `lastTimestamp` and `message`, keeping its name and `firstTimestamp`.
//!
//! Events are named `<object name>.<unix nanos in hex>` and live in the
//! object's namespace (`default` for cluster-scoped objects).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use self::correlator::{Correlated, EventCorrelator};

mod correlator;

/// Events buffered for the writer before new ones are dropped (upstream's
/// `maxQueuedEvents`).
pub const MAX_QUEUED_EVENTS: usize = 1000;
/// Attempts to write one event while the apiserver is unreachable.
const MAX_TRIES_PER_EVENT: u32 = 12;
/// Pause between those attempts.
const RETRY_SLEEP: Duration = Duration::from_secs(10);

/// `type` of an Event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Nothing to worry about.
    Normal,
    /// Something may need attention.
    Warning,
}

impl EventType {
    /// The API string (`Normal`, `Warning`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// The process-wide event pipeline: hands out recorders and runs the writer.
#[derive(Clone)]
pub struct EventBroadcaster {
    client: Client,
    tx: mpsc::Sender<Event>,
    rx: Arc<Mutex<Option<mpsc::Receiver<Event>>>>,
}

impl std::fmt::Debug for EventBroadcaster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBroadcaster").finish_non_exhaustive()
    }
}

impl EventBroadcaster {
    /// A broadcaster writing through `client`. Nothing is written until
    /// [`EventBroadcaster::start`].
    pub fn new(client: Client) -> Self {
        let (tx, rx) = mpsc::channel(MAX_QUEUED_EVENTS);
        Self {
            client,
            tx,
            rx: Arc::new(Mutex::new(Some(rx))),
        }
    }

    /// A recorder whose events carry `source.component = component` (and the
    /// same `reportingComponent`).
    pub fn recorder(&self, component: &str) -> EventRecorder {
        EventRecorder {
            source: EventSource {
                component: Some(component.to_string()),
                host: None,
            },
            tx: self.tx.clone(),
        }
    }

    /// Starts the writer task (once; `None` if already started); it flushes
    /// for up to two seconds after `shutdown` fires, then stops.
    pub fn start(&self, shutdown: &CancellationToken) -> Option<tokio::task::JoinHandle<()>> {
        let rx = self
            .rx
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        rx.map(|rx| tokio::spawn(write_events(self.client.clone(), rx, shutdown.clone())))
    }
}

/// Records Events for one component. Cheap to clone.
#[derive(Clone, Debug)]
pub struct EventRecorder {
    source: EventSource,
    tx: mpsc::Sender<Event>,
}

impl EventRecorder {
    /// Records an event about `object`.
    pub fn event<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        type_: EventType,
        reason: &str,
        message: &str,
    ) {
        self.event_for_reference(object.object_ref(&()), type_, reason, message);
    }

    /// Records an event about the object `reference` points to.
    pub fn event_for_reference(
        &self,
        reference: ObjectReference,
        type_: EventType,
        reason: &str,
        message: &str,
    ) {
        let event = make_event(
            &self.source,
            reference,
            type_,
            reason,
            message,
            Timestamp::now(),
        );
        tracing::debug!(
            object = %format!("{}/{}", event.involved_object.namespace.as_deref().unwrap_or(""), event.involved_object.name.as_deref().unwrap_or("")),
            kind = event.involved_object.kind.as_deref().unwrap_or(""),
            r#type = type_.as_str(),
            reason,
            message,
            "event recorded"
        );
        if let Err(err) = self.tx.try_send(event) {
            match err {
                mpsc::error::TrySendError::Full(_) => {
                    tracing::warn!(
                        reason,
                        "dropping event because the incoming channel is full"
                    );
                }
                mpsc::error::TrySendError::Closed(_) => {
                    tracing::debug!(reason, "dropping event: the event writer has stopped");
                }
            }
        }
    }
}

pub(crate) fn make_event(
    source: &EventSource,
    reference: ObjectReference,
    type_: EventType,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> Event {
    let namespace = reference
        .namespace
        .clone()
        .filter(|ns| !ns.is_empty())
        .unwrap_or_else(|| "default".to_string());
    let name = format!(
        "{}.{:x}",
        reference.name.as_deref().unwrap_or(""),
        now.as_nanosecond()
    );
    Event {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(namespace),
            ..ObjectMeta::default()
        },
        involved_object: reference,
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        count: Some(1),
        type_: Some(type_.as_str().to_string()),
        source: Some(source.clone()),
        reporting_component: source.component.clone(),
        reporting_instance: source.host.clone(),
        ..Event::default()
    }
}

async fn write_events(client: Client, mut rx: mpsc::Receiver<Event>, shutdown: CancellationToken) {
    let mut correlator = EventCorrelator::default();
    loop {
        let event = tokio::select! {
            event = rx.recv() => event,
            () = shutdown.cancelled() => break,
        };
        let Some(event) = event else { return };
        write_one(&client, &mut correlator, event, &shutdown).await;
    }
    // Flush what is already queued, briefly (e.g. "stopped leading").
    let flush = async {
        while let Ok(event) = rx.try_recv() {
            write_one(&client, &mut correlator, event, &CancellationToken::new()).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), flush).await;
}

async fn write_one(
    client: &Client,
    correlator: &mut EventCorrelator,
    event: Event,
    shutdown: &CancellationToken,
) {
    let correlated = correlator.correlate(event, Timestamp::now());
    if correlated.skip {
        tracing::debug!("event dropped by the spam filter");
        return;
    }
    for attempt in 1..=MAX_TRIES_PER_EVENT {
        match try_write(client, &correlated).await {
            Ok(written) => {
                correlator.update_state(&written);
                return;
            }
            Err(kube::Error::Api(status)) => {
                // The server answered: the same request would fail again.
                if status.is_already_exists()
                    || status.message.contains("because it is being terminated")
                {
                    tracing::debug!(error = %status.message, "server rejected event (will not retry)");
                } else {
                    tracing::warn!(error = %status.message, reason = %status.reason, "server rejected event (will not retry)");
                }
                return;
            }
            Err(err) => {
                if attempt == MAX_TRIES_PER_EVENT {
                    tracing::error!(error = %err, "unable to write event; dropping it");
                    return;
                }
                tracing::warn!(error = %err, attempt, "unable to write event; will retry");
                // Like client-go, the first pause is random so that many
                // writers do not retry in lockstep.
                let pause = if attempt == 1 {
                    RETRY_SLEEP.mul_f64(random_fraction())
                } else {
                    RETRY_SLEEP
                };
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        }
    }
}

/// A random number in `[0, 1)` (from a v4 UUID's random low bits).
fn random_fraction() -> f64 {
    let bits = uuid::Uuid::new_v4().as_u128() & ((1u128 << 53) - 1);
    bits as f64 / (1u64 << 53) as f64
}

async fn try_write(client: &Client, correlated: &Correlated) -> kube::Result<Event> {
    let event = &correlated.event;
    let namespace = event.metadata.namespace.as_deref().unwrap_or("default");
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    if let (Some(patch), Some(name)) = (&correlated.patch, event.metadata.name.as_deref()) {
        match api
            .patch(name, &PatchParams::default(), &Patch::Strategic(patch))
            .await
        {
            Ok(written) => return Ok(written),
            Err(kube::Error::Api(status)) if status.is_not_found() => {}
            Err(err) => return Err(err),
        }
    }
    let mut fresh = event.clone();
    fresh.metadata.resource_version = None;
    api.create(&PostParams::default(), &fresh).await
}
