//! Checks that a strategy's pipelines behave exactly like its hooks run one
//! by one. The strategies' own unit tests call these on every object they
//! create or update, so each of their fixtures is also an equivalence case.

use corten_apimachinery::StatusError;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde_json::Value;

use super::{
    PipelineError, Prepared, StoreSteps, UpdateTarget, prepare_create_with_hooks,
    prepare_update_with_hooks,
};
use crate::strategy::Strategy;

/// Deterministic store steps that record the dropped fields.
#[derive(Default)]
pub(crate) struct FixedSteps {
    dropped: Option<Vec<String>>,
}

impl StoreSteps for FixedSteps {
    fn wants_dropped_fields(&self) -> bool {
        true
    }

    fn dropped_fields(&mut self, fields: Vec<String>) -> Result<(), StatusError> {
        self.dropped = Some(fields);
        Ok(())
    }

    fn metadata(
        &mut self,
        meta: &mut ObjectMeta,
        old: Option<&ObjectMeta>,
    ) -> Result<(), StatusError> {
        match old {
            None => {
                meta.uid = Some("uid-1".into());
                meta.creation_timestamp = Some(Time("2024-01-02T03:04:05Z".parse().unwrap()));
                if meta.name.is_none() {
                    meta.name = meta.generate_name.clone().map(|g| g + "x1");
                }
            }
            Some(old) => {
                meta.uid = old.uid.clone();
                meta.creation_timestamp = old.creation_timestamp.clone();
                if meta.resource_version.is_none() {
                    meta.resource_version = old.resource_version.clone();
                }
            }
        }
        Ok(())
    }
}

fn rendered(errs: &corten_apimachinery::ErrorList) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}

fn outcome(r: &Result<Prepared, PipelineError>) -> String {
    match r {
        // The text, not the value: key order must match too.
        Ok(p) => serde_json::to_string(p.value()).unwrap(),
        Err(PipelineError::Decode(e)) => format!("decode error: {e}"),
        Err(PipelineError::Store(e)) => format!("store error: {e:?}"),
    }
}

/// The fields the hook-by-hook pipeline reports as dropped, less the ones
/// it reports by mistake: `stringData` of a Secret is known to the typed
/// form (canonicalization moves it into `data`).
fn legacy_dropped(steps: FixedSteps) -> Option<Vec<String>> {
    steps
        .dropped
        .map(|d| d.into_iter().filter(|f| f != "stringData").collect())
}

/// Asserts that `s.prepare_create` + `s.validate_create` match the hooks.
#[track_caller]
pub(crate) fn assert_same_create(s: &dyn Strategy, obj: &Value) {
    let (mut a, mut b) = (FixedSteps::default(), FixedSteps::default());
    let hooks = prepare_create_with_hooks(s, obj.clone(), &mut a);
    let typed = s.prepare_create(obj.clone(), &mut b);
    if let Ok(t) = &typed {
        assert_same_json(s, t, obj);
    }
    assert_eq!(outcome(&hooks), outcome(&typed), "create of {obj}");
    if let (Ok(h), Ok(t)) = (&hooks, &typed) {
        assert_eq!(
            rendered(&s.validate(h.value())),
            rendered(&s.validate_create(t)),
            "validation of the create of {obj}"
        );
        assert_eq!(legacy_dropped(a), b.dropped, "dropped fields of {obj}");
    }
}

/// The typed shortcuts of a prepared object agree with its JSON form
/// (asked first: once the JSON form exists they use it).
#[track_caller]
fn assert_same_json(s: &dyn Strategy, p: &Prepared, context: &Value) {
    let attrs = s.prepared_field_attrs(p);
    let json = p.to_json().unwrap();
    let meta = p.metadata_json().clone();
    let value = p.value();
    assert_eq!(
        String::from_utf8(json).unwrap(),
        serde_json::to_string(value).unwrap(),
        "JSON of {context}"
    );
    assert_eq!(
        meta.get("metadata"),
        value.get("metadata"),
        "metadata of {context}"
    );
    assert_eq!(attrs, s.field_attrs(value), "field attrs of {context}");
}

/// Asserts that `s.prepare_update` + `s.validate_prepared_update` match the
/// hooks, for `new` over the stored `old`.
#[track_caller]
pub(crate) fn assert_same_update(s: &dyn Strategy, new: &Value, old: &Value, target: UpdateTarget) {
    let (mut a, mut b) = (FixedSteps::default(), FixedSteps::default());
    let hooks = prepare_update_with_hooks(s, new.clone(), old, target, &mut a);
    let typed = s.prepare_update(new.clone(), old, target, &mut b);
    if let Ok(t) = &typed {
        assert_same_json(s, t, new);
    }
    assert_eq!(
        outcome(&hooks),
        outcome(&typed),
        "{target:?} update of {old}\nto {new}"
    );
    if let (Ok(h), Ok(t)) = (&hooks, &typed) {
        let legacy = match target {
            UpdateTarget::Main => s.validate_update(h.value(), old),
            UpdateTarget::Status => s.validate_status_update(h.value(), old),
        };
        assert_eq!(
            rendered(&legacy),
            rendered(&s.validate_prepared_update(t, old, target)),
            "validation of the {target:?} update of {old}\nto {new}"
        );
        assert_eq!(legacy_dropped(a), b.dropped, "dropped fields of {new}");
    }
}

/// Both update targets.
#[track_caller]
pub(crate) fn assert_same_updates(s: &dyn Strategy, new: &Value, old: &Value) {
    assert_same_update(s, new, old, UpdateTarget::Main);
    assert_same_update(s, new, old, UpdateTarget::Status);
}
