//! Defaulting and validation for events.

use crate::strategy::TypedStrategy;

/// Strategy for Event (placeholder: typed round trip and metadata rules).
pub static EVENTS_V1_EVENT_STRATEGY: TypedStrategy<k8s_openapi::api::events::v1::Event> =
    TypedStrategy::new(true, false);
