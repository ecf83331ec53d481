//! events.k8s.io/v1 Events, stored as core/v1 Events.
//!
//! [`EVENTS_V1_CONVERSION`] renames fields between the two shapes, like
//! upstream's `Convert_v1_Event_To_core_Event`: `regarding` <->
//! `involvedObject`, `note` <-> `message`, `reportingController` <->
//! `reportingComponent`, `deprecatedSource` <-> `source`,
//! `deprecatedCount`/`deprecatedFirstTimestamp`/`deprecatedLastTimestamp`
//! <-> `count`/`firstTimestamp`/`lastTimestamp`; `eventTime`, `series`,
//! `action`, `related`, `reason`, `type` and `reportingInstance` keep their
//! names. [`EVENTS_V1_EVENT_STRATEGY`] works on the stored (core) shape but
//! applies the strict validation upstream reserves for requests through
//! events.k8s.io.

use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::core::v1::Event;
use serde_json::{Map, Value};

use crate::corev1::{event_field_attrs, validate_event};
use crate::kind::{KindRules, KindStrategy};
use crate::resources::Conversion;
use crate::typed;
use crate::validate;

/// Strategy for events.k8s.io/v1 Event (on the stored core/v1 shape).
pub static EVENTS_V1_EVENT_STRATEGY: KindStrategy<EventsV1Rules> = KindStrategy::new();

/// Conversion between events.k8s.io/v1 and the stored core/v1 Event.
pub static EVENTS_V1_CONVERSION: EventsV1Conversion = EventsV1Conversion;

/// (events.k8s.io/v1 name, core/v1 name) of the renamed fields.
const RENAMES: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedCount", "count"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
];

/// (events.k8s.io/v1 label, core/v1 label) of the supported field
/// selectors.
const FIELD_LABELS: &[(&str, &str)] = &[
    ("reason", "reason"),
    ("regarding.kind", "involvedObject.kind"),
    ("regarding.namespace", "involvedObject.namespace"),
    ("regarding.name", "involvedObject.name"),
    ("regarding.uid", "involvedObject.uid"),
    ("regarding.apiVersion", "involvedObject.apiVersion"),
    (
        "regarding.resourceVersion",
        "involvedObject.resourceVersion",
    ),
    ("regarding.fieldPath", "involvedObject.fieldPath"),
    ("reportingController", "reportingComponent"),
    ("type", "type"),
    ("metadata.namespace", "metadata.namespace"),
    ("metadata.name", "metadata.name"),
];

fn rename(map: Map<String, Value>, to_core: bool) -> Map<String, Value> {
    map.into_iter()
        .filter(|(k, _)| k != "apiVersion" && k != "kind")
        .map(|(k, v)| {
            let renamed = RENAMES
                .iter()
                .find(|(ev, core)| if to_core { *ev == k } else { *core == k })
                .map(|(ev, core)| if to_core { *core } else { *ev });
            (renamed.map(str::to_string).unwrap_or(k), v)
        })
        .collect()
}

fn with_type_meta(map: Map<String, Value>, api_version: &str) -> Value {
    let mut v = Value::Object(map);
    corten_apimachinery::meta::set_type_meta(&mut v, api_version, "Event");
    v
}

/// The events.k8s.io/v1 <-> core/v1 Event conversion.
pub struct EventsV1Conversion;

impl Conversion for EventsV1Conversion {
    fn to_storage(&self, obj: Value) -> Result<Value, String> {
        let known = typed::round_trip::<k8s_openapi::api::events::v1::Event>(obj)?;
        let Value::Object(map) = known else {
            return Err("an Event must be a JSON object".into());
        };
        let core = with_type_meta(rename(map, true), "v1");
        // Re-decode to normalize the shape (e.g. a series without counts).
        typed::round_trip::<Event>(core).map(|mut v| {
            corten_apimachinery::meta::set_type_meta(&mut v, "v1", "Event");
            v
        })
    }

    fn from_storage(&self, obj: Value) -> Result<Value, String> {
        let known = typed::round_trip::<Event>(obj)?;
        let Value::Object(map) = known else {
            return Err("an Event must be a JSON object".into());
        };
        Ok(with_type_meta(rename(map, false), "events.k8s.io/v1"))
    }

    fn unknown_fields(&self, obj: &Value) -> Vec<String> {
        crate::kind::unknown_fields_of::<k8s_openapi::api::events::v1::Event>(obj)
    }

    fn field_label_to_storage(&self, label: &str) -> Option<String> {
        FIELD_LABELS
            .iter()
            .find(|(ev, _)| *ev == label)
            .map(|(_, core)| (*core).to_string())
    }
}

/// The rules of events created or updated through events.k8s.io/v1
/// (upstream's strict `ValidateEventCreate`/`ValidateEventUpdate`).
pub struct EventsV1Rules;

impl KindRules for EventsV1Rules {
    type Object = Event;
    const NAMESPACED: bool = true;

    fn validate(e: &Event) -> ErrorList {
        let mut errs = validate_event(e, true);
        errs.extend(validate_series(e));
        if e.event_time.is_none() {
            errs.push(FieldError::required(&Path::new("eventTime"), ""));
        }
        let ty = e.type_.as_deref().unwrap_or_default();
        if ty != "Normal" && ty != "Warning" {
            errs.push(FieldError::invalid(
                &Path::new("type"),
                "",
                &format!("has invalid value: {ty}"),
            ));
        }
        if e.first_timestamp.is_some() {
            errs.push(FieldError::invalid(
                &Path::new("deprecatedFirstTimestamp"),
                "",
                "needs to be unset",
            ));
        }
        if e.last_timestamp.is_some() {
            errs.push(FieldError::invalid(
                &Path::new("deprecatedLastTimestamp"),
                "",
                "needs to be unset",
            ));
        }
        if e.count.unwrap_or(0) != 0 {
            errs.push(FieldError::invalid(
                &Path::new("deprecatedCount"),
                "",
                "needs to be unset",
            ));
        }
        let source_set = e.source.as_ref().is_some_and(|s| {
            !s.component.as_deref().unwrap_or_default().is_empty()
                || !s.host.as_deref().unwrap_or_default().is_empty()
        });
        if source_set {
            errs.push(FieldError::invalid(
                &Path::new("deprecatedSource"),
                "",
                "needs to be unset",
            ));
        }
        errs
    }

    fn validate_update(new: &Event, old: &Event) -> ErrorList {
        let mut errs = validate_event(new, true);
        if new.series != old.series {
            errs.extend(validate_series(new));
        }
        im(
            &new.involved_object,
            &old.involved_object,
            "involvedObject",
            &mut errs,
        );
        im(&new.reason, &old.reason, "reason", &mut errs);
        im(&new.message, &old.message, "message", &mut errs);
        im(&new.source, &old.source, "source", &mut errs);
        im(
            &new.first_timestamp,
            &old.first_timestamp,
            "firstTimestamp",
            &mut errs,
        );
        im(
            &new.last_timestamp,
            &old.last_timestamp,
            "lastTimestamp",
            &mut errs,
        );
        im(&new.count, &old.count, "count", &mut errs);
        im(&new.type_, &old.type_, "type", &mut errs);
        // Compared as serialized (microsecond precision), as upstream
        // tolerates sub-microsecond differences.
        im(
            &typed::to_value(&new.event_time),
            &typed::to_value(&old.event_time),
            "eventTime",
            &mut errs,
        );
        im(&new.action, &old.action, "action", &mut errs);
        im(&new.related, &old.related, "related", &mut errs);
        im(
            &new.reporting_component,
            &old.reporting_component,
            "reportingController",
            &mut errs,
        );
        im(
            &new.reporting_instance,
            &old.reporting_instance,
            "reportingInstance",
            &mut errs,
        );
        errs
    }

    fn field_labels() -> &'static [&'static str] {
        crate::corev1::EVENT_FIELD_LABELS
    }

    fn field_attrs(e: &Event) -> Vec<(String, String)> {
        event_field_attrs(e)
    }
}

fn validate_series(e: &Event) -> ErrorList {
    let mut errs = Vec::new();
    if let Some(series) = e.series.as_ref() {
        if series.count.unwrap_or(0) < 2 {
            errs.push(FieldError::invalid(
                &Path::new("series.count"),
                "",
                "should be at least 2",
            ));
        }
        if series.last_observed_time.is_none() {
            errs.push(FieldError::required(
                &Path::new("series.lastObservedTime"),
                "",
            ));
        }
    }
    errs
}

fn im<T: serde::Serialize + PartialEq>(new: &T, old: &T, field: &str, errs: &mut ErrorList) {
    errs.extend(validate::immutable(new, old, &Path::new(field)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::Strategy;
    use serde_json::json;

    fn v1_event() -> Value {
        json!({
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": "e1", "namespace": "default"},
            "eventTime": "2024-05-01T10:00:00.000000Z",
            "series": {"count": 2, "lastObservedTime": "2024-05-01T10:05:00.000000Z"},
            "reportingController": "example.com/ctrl",
            "reportingInstance": "ctrl-1",
            "action": "Reconcile",
            "reason": "Synced",
            "regarding": {"kind": "Pod", "namespace": "default", "name": "p"},
            "related": {"kind": "Node", "name": "n1"},
            "note": "all good",
            "type": "Normal",
            "deprecatedSource": {"component": "old", "host": "h"},
            "deprecatedCount": 3,
            "deprecatedFirstTimestamp": "2024-05-01T09:00:00Z",
            "deprecatedLastTimestamp": "2024-05-01T09:30:00Z"
        })
    }

    #[test]
    fn converts_to_core_names() {
        let core = EVENTS_V1_CONVERSION.to_storage(v1_event()).unwrap();
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["kind"], "Event");
        assert_eq!(core["involvedObject"]["name"], "p");
        assert_eq!(core["message"], "all good");
        assert_eq!(core["reportingComponent"], "example.com/ctrl");
        assert_eq!(core["reportingInstance"], "ctrl-1");
        assert_eq!(core["source"]["host"], "h");
        assert_eq!(core["count"], 3);
        assert_eq!(core["firstTimestamp"], "2024-05-01T09:00:00Z");
        assert_eq!(core["lastTimestamp"], "2024-05-01T09:30:00Z");
        assert_eq!(core["series"]["count"], 2);
        assert_eq!(core["related"]["name"], "n1");
        assert!(core.get("regarding").is_none());
        assert!(core.get("note").is_none());
    }

    #[test]
    fn round_trips() {
        let original = v1_event();
        let core = EVENTS_V1_CONVERSION.to_storage(original.clone()).unwrap();
        let back = EVENTS_V1_CONVERSION.from_storage(core).unwrap();
        assert_eq!(back, original);
    }

    #[test]
    fn reports_unknown_fields_in_the_served_shape() {
        let mut body = v1_event();
        body["involvedObject"] = json!({"name": "x"});
        assert_eq!(
            EVENTS_V1_CONVERSION.unknown_fields(&body),
            vec!["involvedObject"]
        );
    }

    #[test]
    fn rejects_malformed_bodies() {
        let bad = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "note": 5});
        assert!(EVENTS_V1_CONVERSION.to_storage(bad).is_err());
        let wrong_version = json!({"apiVersion": "v1", "kind": "Event"});
        assert!(EVENTS_V1_CONVERSION.to_storage(wrong_version).is_err());
    }

    #[test]
    fn maps_field_labels() {
        let c = &EVENTS_V1_CONVERSION;
        assert_eq!(
            c.field_label_to_storage("regarding.name").as_deref(),
            Some("involvedObject.name")
        );
        assert_eq!(
            c.field_label_to_storage("reportingController").as_deref(),
            Some("reportingComponent")
        );
        assert_eq!(c.field_label_to_storage("source"), None);
    }

    #[test]
    fn strict_validation_rejects_deprecated_fields() {
        let mut core = EVENTS_V1_CONVERSION.to_storage(v1_event()).unwrap();
        core["metadata"]["namespace"] = json!("default");
        let errs = EventsV1Rules::validate(&typed::from_value::<Event>(core).unwrap());
        let fields: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(
            fields.contains(&"deprecatedCount: Invalid value: \"\": needs to be unset".to_string())
        );
        assert!(
            fields
                .contains(&"deprecatedSource: Invalid value: \"\": needs to be unset".to_string())
        );
        assert!(fields.contains(
            &"deprecatedFirstTimestamp: Invalid value: \"\": needs to be unset".to_string()
        ));
    }

    #[test]
    fn strict_validation_requires_reporting_fields() {
        let core = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "default"},
            "eventTime": "2024-05-01T10:00:00.000000Z",
            "type": "Sideways",
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": "p"}
        });
        let errs = EventsV1Rules::validate(&typed::from_value::<Event>(core).unwrap());
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(text.contains(&"reportingController: Required value".to_string()));
        assert!(text.contains(&"reportingInstance: Required value".to_string()));
        assert!(text.contains(&"action: Required value".to_string()));
        assert!(text.contains(&"reason: Required value".to_string()));
        assert!(
            text.contains(&"type: Invalid value: \"\": has invalid value: Sideways".to_string())
        );
    }

    #[test]
    fn update_keeps_event_immutable() {
        let core = EVENTS_V1_CONVERSION.to_storage(v1_event()).unwrap();
        let old = typed::from_value::<Event>(core.clone()).unwrap();
        let mut changed = core;
        changed["message"] = json!("edited");
        let new = typed::from_value::<Event>(changed).unwrap();
        let errs = EventsV1Rules::validate_update(&new, &old);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "message");
        assert_eq!(errs[0].detail, "field is immutable");
    }

    #[test]
    fn strategy_field_attrs_use_core_labels() {
        let core = EVENTS_V1_CONVERSION.to_storage(v1_event()).unwrap();
        let attrs = EVENTS_V1_EVENT_STRATEGY.field_attrs(&core);
        assert!(attrs.contains(&("involvedObject.name".to_string(), "p".to_string())));
        assert!(attrs.contains(&("source".to_string(), "old".to_string())));
    }
}
