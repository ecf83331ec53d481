//! core/v1 Events: upstream's request-version dependent event validation
//! (shared with events.k8s.io/v1, which stores core/v1 events) and the
//! event field selectors.

use corten_apimachinery::names::NameValidator;
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::core::v1::Event;

use crate::kind::KindRules;
use crate::validate;

const REPORTING_INSTANCE_LIMIT: usize = 128;
const ACTION_LIMIT: usize = 128;
const REASON_LIMIT: usize = 128;
const NOTE_LIMIT: usize = 1024;

/// The rules of core/v1 Event (the lenient, legacy validation).
pub struct EventRules;

impl KindRules for EventRules {
    type Object = Event;
    const NAMESPACED: bool = true;

    /// Upstream runs only its generic metadata check on core events, whose
    /// names need only be valid path segments.
    fn name_validator() -> NameValidator {
        validate::path_segment_name
    }

    fn validate(e: &Event) -> ErrorList {
        validate_event(e, false)
    }

    fn validate_update(new: &Event, _old: &Event) -> ErrorList {
        validate_event(new, false)
    }

    fn field_labels() -> &'static [&'static str] {
        EVENT_FIELD_LABELS
    }

    fn field_attrs(e: &Event) -> Vec<(String, String)> {
        event_field_attrs(e)
    }
}

/// The field selectors of core/v1 events.
pub const EVENT_FIELD_LABELS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];

/// The values of the event field selectors; `source` falls back to
/// `reportingComponent` for events written through events.k8s.io.
pub fn event_field_attrs(e: &Event) -> Vec<(String, String)> {
    let o = &e.involved_object;
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    let source = e
        .source
        .as_ref()
        .and_then(|s| s.component.clone())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| s(&e.reporting_component));
    vec![
        ("involvedObject.kind".into(), s(&o.kind)),
        ("involvedObject.namespace".into(), s(&o.namespace)),
        ("involvedObject.name".into(), s(&o.name)),
        ("involvedObject.uid".into(), s(&o.uid)),
        ("involvedObject.apiVersion".into(), s(&o.api_version)),
        (
            "involvedObject.resourceVersion".into(),
            s(&o.resource_version),
        ),
        ("involvedObject.fieldPath".into(), s(&o.field_path)),
        ("reason".into(), s(&e.reason)),
        ("reportingComponent".into(), s(&e.reporting_component)),
        ("source".into(), source),
        ("type".into(), s(&e.type_)),
    ]
}

/// Upstream `legacyValidateEvent`, which every event passes. `events_v1`
/// selects the field name used in messages for the reporting controller
/// (`reportingController` through events.k8s.io, `reportingComponent`
/// through core/v1).
pub fn validate_event(e: &Event, events_v1: bool) -> ErrorList {
    let mut errs = Vec::new();
    let ns = e.metadata.namespace.as_deref().unwrap_or_default();
    let involved_ns = e.involved_object.namespace.as_deref().unwrap_or_default();
    let mismatch = || {
        FieldError::invalid(
            &Path::new("involvedObject").child("namespace"),
            involved_ns,
            "does not match event.namespace",
        )
    };
    let controller_field = if events_v1 {
        "reportingController"
    } else {
        "reportingComponent"
    };
    if e.event_time.is_none() {
        if involved_ns.is_empty() {
            if !ns.is_empty() && ns != "default" {
                errs.push(mismatch());
            }
        } else if ns != involved_ns {
            errs.push(mismatch());
        }
    } else {
        if involved_ns.is_empty() && ns != "default" && ns != "kube-system" {
            errs.push(mismatch());
        }
        let controller = e.reporting_component.as_deref().unwrap_or_default();
        let cp = Path::new(controller_field);
        if controller.is_empty() {
            errs.push(FieldError::required(&cp, ""));
        }
        errs.extend(validate::qualified_name(controller, &cp));
        let instance = e.reporting_instance.as_deref().unwrap_or_default();
        if instance.is_empty() {
            errs.push(FieldError::required(&Path::new("reportingInstance"), ""));
        }
        if instance.len() > REPORTING_INSTANCE_LIMIT {
            errs.push(FieldError::invalid(
                &Path::new("reportingInstance"),
                "",
                &format!("can have at most {REPORTING_INSTANCE_LIMIT} characters"),
            ));
        }
        let action = e.action.as_deref().unwrap_or_default();
        if action.is_empty() {
            errs.push(FieldError::required(&Path::new("action"), ""));
        }
        if action.len() > ACTION_LIMIT {
            errs.push(FieldError::invalid(
                &Path::new("action"),
                "",
                &format!("can have at most {ACTION_LIMIT} characters"),
            ));
        }
        let reason = e.reason.as_deref().unwrap_or_default();
        if reason.is_empty() {
            errs.push(FieldError::required(&Path::new("reason"), ""));
        }
        if reason.len() > REASON_LIMIT {
            errs.push(FieldError::invalid(
                &Path::new("reason"),
                "",
                &format!("can have at most {REASON_LIMIT} characters"),
            ));
        }
        if e.message.as_deref().unwrap_or_default().len() > NOTE_LIMIT {
            errs.push(FieldError::invalid(
                &Path::new("message"),
                "",
                &format!("can have at most {NOTE_LIMIT} characters"),
            ));
        }
    }
    errs.extend(validate::invalid_each(
        &Path::new("namespace"),
        ns,
        corten_apimachinery::names::is_dns1123_subdomain(ns),
    ));
    errs
}
