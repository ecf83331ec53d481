//! Events, in both the core/v1 and the events.k8s.io/v1 shape (upstream
//! prints both from the same internal type, so the table is the same).

use jiff::Timestamp;
use serde_json::{Value, json};

use super::access::{at, int, name, opt_int, text, time_since, timestamp};
use super::{Column, NAME, Printer};

pub(super) static EVENT: Printer = Printer::new(
    &[
        Column::new(
            "Last Seen",
            "string",
            "The time at which the most recent occurrence of this event was recorded.",
        ),
        Column::new("Type", "string", "Type of this event (Normal, Warning)."),
        Column::new(
            "Reason",
            "string",
            "Why the action was taken, machine readable.",
        ),
        Column::new("Object", "string", "The object this event is about."),
        Column::wide(
            "Subobject",
            "string",
            "The part of the object the event is about (e.g. a container).",
        ),
        Column::wide(
            "Source",
            "string",
            "The component that reported this event.",
        ),
        Column::new(
            "Message",
            "string",
            "A human-readable description of the event.",
        ),
        Column::wide(
            "First Seen",
            "string",
            "The time at which the event was first recorded.",
        ),
        Column::wide(
            "Count",
            "string",
            "The number of times this event has occurred.",
        ),
        Column {
            priority: 1,
            ..NAME
        },
    ],
    event_cells,
);

/// The fields of an Event that the table uses, from either API shape.
struct EventView<'a> {
    first_timestamp: &'a Value,
    last_timestamp: &'a Value,
    event_time: &'a Value,
    count: i64,
    series: &'a Value,
    involved: &'a Value,
    source: &'a Value,
    reporting_controller: &'a str,
    reporting_instance: &'a str,
    message: &'a str,
}

impl<'a> EventView<'a> {
    fn new(ev: &'a Value) -> Self {
        if text(ev, &["apiVersion"]).starts_with("events.k8s.io/") {
            EventView {
                first_timestamp: at(ev, &["deprecatedFirstTimestamp"]),
                last_timestamp: at(ev, &["deprecatedLastTimestamp"]),
                event_time: at(ev, &["eventTime"]),
                count: int(ev, &["deprecatedCount"]),
                series: at(ev, &["series"]),
                involved: at(ev, &["regarding"]),
                source: at(ev, &["deprecatedSource"]),
                reporting_controller: text(ev, &["reportingController"]),
                reporting_instance: text(ev, &["reportingInstance"]),
                message: text(ev, &["note"]),
            }
        } else {
            EventView {
                first_timestamp: at(ev, &["firstTimestamp"]),
                last_timestamp: at(ev, &["lastTimestamp"]),
                event_time: at(ev, &["eventTime"]),
                count: int(ev, &["count"]),
                series: at(ev, &["series"]),
                involved: at(ev, &["involvedObject"]),
                source: at(ev, &["source"]),
                reporting_controller: text(ev, &["reportingComponent"]),
                reporting_instance: text(ev, &["reportingInstance"]),
                message: text(ev, &["message"]),
            }
        }
    }
}

fn first_non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() { b } else { a }
}

/// Upstream `formatEventSource`: `component, host`, falling back to the
/// reporting controller and instance.
fn event_source(e: &EventView<'_>) -> String {
    let component = first_non_empty(text(e.source, &["component"]), e.reporting_controller);
    let instance = first_non_empty(text(e.source, &["host"]), e.reporting_instance);
    if instance.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {instance}")
    }
}

fn event_cells(ev: &Value, now: Timestamp) -> Vec<Value> {
    let e = EventView::new(ev);
    let first_seen = if timestamp(e.first_timestamp).is_some() {
        time_since(e.first_timestamp, now)
    } else {
        time_since(e.event_time, now)
    };
    let mut last_seen = if timestamp(e.last_timestamp).is_some() {
        time_since(e.last_timestamp, now)
    } else {
        first_seen.clone()
    };
    let mut count = e.count;
    if e.series.is_object() {
        last_seen = time_since(at(e.series, &["lastObservedTime"]), now);
        count = opt_int(e.series, &["count"]).unwrap_or(0);
    } else if count == 0 {
        // Singleton events of the new API have no count.
        count = 1;
    }
    let kind = text(e.involved, &["kind"]).to_lowercase();
    let involved_name = text(e.involved, &["name"]);
    let target = if involved_name.is_empty() {
        kind
    } else {
        format!("{kind}/{involved_name}")
    };
    vec![
        json!(last_seen),
        json!(text(ev, &["type"])),
        json!(text(ev, &["reason"])),
        json!(target),
        json!(text(e.involved, &["fieldPath"])),
        json!(event_source(&e)),
        json!(e.message.trim()),
        json!(first_seen),
        json!(count),
        json!(name(ev)),
    ]
}
