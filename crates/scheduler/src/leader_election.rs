//! Leader election over a coordination.k8s.io/v1 Lease: the shared
//! implementation of `corten-component-base`, plus the scheduler's way of
//! recording the `LeaderElection` events (core/v1 Events it writes itself).

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Event, EventSource};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};

pub use corten_component_base::leader_election::*;

/// Writes each `LeaderElection` event as a core/v1 Event in the Lease's
/// namespace, reported by `component` (fire and forget).
pub fn event_sink(client: kube::Client, component: &'static str) -> EventSink {
    Arc::new(move |reference, message| {
        let now = Time(Timestamp::now());
        let namespace = reference.namespace.clone().unwrap_or_default();
        let name = reference.name.clone().unwrap_or_default();
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!("{name}.{:x}", now.0.as_nanosecond())),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            involved_object: reference,
            reason: Some("LeaderElection".into()),
            message: Some(message),
            type_: Some("Normal".into()),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            count: Some(1),
            source: Some(EventSource {
                component: Some(component.into()),
                host: None,
            }),
            reporting_component: Some(component.into()),
            ..Default::default()
        };
        let api: Api<Event> = Api::namespaced(client.clone(), &namespace);
        tokio::spawn(async move {
            if let Err(err) = api.create(&PostParams::default(), &event).await {
                tracing::debug!(error = %err, "recording a LeaderElection event");
            }
        });
    })
}
