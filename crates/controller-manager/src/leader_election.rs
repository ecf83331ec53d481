//! Leader election over a coordination.k8s.io/v1 Lease: the shared
//! implementation of `corten-component-base`, with the `LeaderElection`
//! events recorded through the controller-manager's event recorder.

use std::sync::Arc;

use crate::framework::events::{EventRecorder, EventType};

pub use corten_component_base::leader_election::*;

/// Records each `LeaderElection` event with `recorder`.
pub fn event_sink(recorder: EventRecorder) -> EventSink {
    Arc::new(move |reference, message| {
        recorder.event_for_reference(reference, EventType::Normal, "LeaderElection", &message);
    })
}
