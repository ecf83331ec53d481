//! DaemonSet and ControllerRevision.

use corten_apimachinery::names::{validate_object_meta, validate_object_meta_update};
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, DaemonSetSpec, RollingUpdateDaemonSet,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::{
    check_template_labels, int_or_percent_value, is_not_more_than_100_percent, mutate_workload,
    require_restart_always, selector_absent, selector_state, validate_collision_count,
    validate_positive_int_or_percent,
};
use crate::pod::canonical::{canonical_template, drop_disabled_template_fields};
use crate::pod::field_rules::{opt, shown, validate_immutable, validate_nonnegative};
use crate::pod::metadata::{selector_is_empty, validate_label_selector};
use crate::pod::{
    canonical_typed, decode, default_pod_template_spec, preserve_absence,
    validate_pod_template_spec,
};
use crate::strategy::{Strategy, default_prepare_for_create};

/// apps/v1 keeps the internal `spec.templateGeneration` in this annotation.
pub const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";

/// The strategy of apps/v1 DaemonSet.
pub struct DaemonSetStrategy;

/// `SetDefaults_DaemonSet` plus template defaults.
fn default_daemon_set(d: &mut DaemonSet) {
    let spec = d.spec.get_or_insert_with(Default::default);
    let us = spec.update_strategy.get_or_insert_with(Default::default);
    if opt(&us.type_).is_empty() {
        us.type_ = Some("RollingUpdate".to_string());
    }
    if us.type_.as_deref() == Some("RollingUpdate") {
        let ru = us.rolling_update.get_or_insert_with(Default::default);
        ru.max_unavailable.get_or_insert(IntOrString::Int(1));
        ru.max_surge.get_or_insert(IntOrString::Int(0));
    }
    spec.revision_history_limit.get_or_insert(10);
    default_pod_template_spec(&mut spec.template);
}

fn template_generation(obj: &Value) -> i64 {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(TEMPLATE_GENERATION_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn set_template_generation(obj: &mut Value, generation: i64) {
    if let Some(meta) = corten_apimachinery::meta::metadata_mut(obj) {
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if !annotations.is_object() {
            *annotations = Value::Object(Default::default());
        }
        if let Some(a) = annotations.as_object_mut() {
            a.insert(
                TEMPLATE_GENERATION_ANNOTATION.to_string(),
                Value::String(generation.to_string()),
            );
        }
    }
}

/// Upstream `ValidateRollingUpdateDaemonSet`.
fn validate_rolling_update(ru: &RollingUpdateDaemonSet, path: &Path) -> ErrorList {
    let zero = IntOrString::Int(0);
    let max_unavailable = ru.max_unavailable.as_ref().unwrap_or(&zero);
    let max_surge = ru.max_surge.as_ref().unwrap_or(&zero);
    let mut errs = validate_positive_int_or_percent(max_unavailable, &path.child("maxUnavailable"));
    errs.extend(validate_positive_int_or_percent(
        max_surge,
        &path.child("maxSurge"),
    ));
    errs.extend(is_not_more_than_100_percent(
        max_unavailable,
        &path.child("maxUnavailable"),
    ));
    errs.extend(is_not_more_than_100_percent(
        max_surge,
        &path.child("maxSurge"),
    ));
    let has_unavailable = int_or_percent_value(max_unavailable) != 0;
    let has_surge = int_or_percent_value(max_surge) != 0;
    if has_unavailable && has_surge {
        errs.push(FieldError::invalid(
            &path.child("maxSurge"),
            shown(max_surge),
            "may not be set when maxUnavailable is non-zero",
        ));
    } else if !has_unavailable && !has_surge {
        errs.push(FieldError::required(
            &path.child("maxUnavailable"),
            "cannot be 0 when maxSurge is 0",
        ));
    }
    errs
}

fn validate_daemon_set_spec(spec: &DaemonSetSpec, absent_selector: bool) -> ErrorList {
    let path = Path::new("spec");
    let sel_path = path.child("selector");
    let mut errs = Vec::new();
    if !absent_selector {
        errs.extend(validate_label_selector(
            Some(&spec.selector),
            false,
            &sel_path,
        ));
    }
    // No emptiness shortcut here upstream: a selector matching nothing
    // (absent) reports a mismatch, an empty one matches everything.
    let state = selector_state(absent_selector, &spec.selector);
    errs.extend(check_template_labels(
        state,
        &spec.selector,
        &spec.template,
        &path.child("template").child("metadata").child("labels"),
    ));
    if !absent_selector && selector_is_empty(&spec.selector) {
        errs.push(FieldError::invalid(
            &sel_path,
            shown(&spec.selector),
            "empty selector is invalid for daemonset",
        ));
    }
    errs.extend(validate_pod_template_spec(
        &spec.template,
        &path.child("template"),
    ));
    errs.extend(require_restart_always(
        &spec.template,
        &path.child("template"),
        "DaemonSet",
    ));
    errs.extend(validate_nonnegative(
        i64::from(spec.min_ready_seconds.unwrap_or(0)),
        &path.child("minReadySeconds"),
    ));
    let us = spec.update_strategy.clone().unwrap_or_default();
    let us_path = path.child("updateStrategy");
    match opt(&us.type_) {
        "OnDelete" => {}
        "RollingUpdate" => match us.rolling_update.as_ref() {
            None => errs.push(FieldError::required(&us_path.child("rollingUpdate"), "")),
            Some(ru) => errs.extend(validate_rolling_update(ru, &us_path.child("rollingUpdate"))),
        },
        _ => errs.push(FieldError::not_supported(
            &us_path,
            shown(&us),
            &["RollingUpdate", "OnDelete"],
        )),
    }
    if let Some(r) = spec.revision_history_limit {
        errs.extend(validate_nonnegative(
            i64::from(r),
            &path.child("revisionHistoryLimit"),
        ));
    }
    errs
}

impl Strategy for DaemonSetStrategy {
    fn canonicalize(&self, obj: Value) -> Result<Value, String> {
        let input = obj.clone();
        let mut out = canonical_typed::<DaemonSet>(obj, |d| match d.spec.as_mut() {
            Some(spec) => canonical_template(&mut spec.template, "spec.template"),
            None => Ok(()),
        })?;
        preserve_absence(&input, &mut out, "/spec", "selector");
        Ok(out)
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        default_prepare_for_create(obj, true);
        let generation = template_generation(obj).max(1);
        set_template_generation(obj, generation);
        mutate_workload::<DaemonSet>(obj, |d| {
            if let Some(spec) = d.spec.as_mut() {
                drop_disabled_template_fields(&mut spec.template, None);
            }
        });
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let old_ds = crate::typed::decode::<DaemonSet>(old).ok();
        let old_template = old_ds
            .as_ref()
            .and_then(|d| d.spec.as_ref())
            .map(|s| s.template.clone());
        mutate_workload::<DaemonSet>(new, |d| {
            default_daemon_set(d);
            if let Some(spec) = d.spec.as_mut() {
                drop_disabled_template_fields(&mut spec.template, old_template.as_ref());
            }
        });
        let new_template = new.pointer("/spec/template").cloned();
        let template_changed = new_template.as_ref() != old.pointer("/spec/template");
        let spec_changed = crate::strategy::spec_changed(new, old);
        crate::strategy::default_prepare_for_update(new, old, false);
        let old_tg = template_generation(old);
        let old_gen = corten_apimachinery::meta::generation(old);
        let (tg, generation) = if template_changed {
            (old_tg.saturating_add(1), old_gen.saturating_add(1))
        } else if spec_changed {
            (old_tg, old_gen.saturating_add(1))
        } else {
            (old_tg, old_gen)
        };
        if tg > 0 {
            set_template_generation(new, tg);
        }
        corten_apimachinery::meta::set(new, "generation", Value::from(generation.max(1)));
    }

    fn default(&self, obj: &mut Value) {
        mutate_workload::<DaemonSet>(obj, default_daemon_set);
    }

    fn validate(&self, obj: &Value) -> ErrorList {
        let mut errs =
            validate_object_meta(obj, true, self.name_validator(), &Path::new("metadata"));
        match decode::<DaemonSet>(obj) {
            Ok(d) => errs.extend(validate_daemon_set_spec(
                &d.spec.unwrap_or_default(),
                selector_absent(obj),
            )),
            Err(e) => errs.extend(e),
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> ErrorList {
        let mut errs = validate_object_meta_update(
            new,
            old,
            true,
            self.name_validator(),
            &Path::new("metadata"),
        );
        let (n, o): (DaemonSet, DaemonSet) = match (decode(new), decode(old)) {
            (Ok(n), Ok(o)) => (n, o),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let (ns, os) = (n.spec.unwrap_or_default(), o.spec.unwrap_or_default());
        errs.extend(validate_daemon_set_spec(&ns, selector_absent(new)));
        errs.extend(validate_immutable(
            &ns.selector,
            &os.selector,
            &Path::new("spec").child("selector"),
        ));
        errs
    }

    fn validate_status_update(&self, new: &Value, old: &Value) -> ErrorList {
        let mut errs = validate_object_meta_update(
            new,
            old,
            true,
            self.name_validator(),
            &Path::new("metadata"),
        );
        let (n, o): (DaemonSet, DaemonSet) = match (decode(new), decode(old)) {
            (Ok(n), Ok(o)) => (n, o),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let (s, os) = (n.status.unwrap_or_default(), o.status.unwrap_or_default());
        let p = Path::new("status");
        for (name, v) in [
            (
                "currentNumberScheduled",
                i64::from(s.current_number_scheduled),
            ),
            ("numberMisscheduled", i64::from(s.number_misscheduled)),
            (
                "desiredNumberScheduled",
                i64::from(s.desired_number_scheduled),
            ),
            ("numberReady", i64::from(s.number_ready)),
            ("observedGeneration", s.observed_generation.unwrap_or(0)),
            (
                "updatedNumberScheduled",
                i64::from(s.updated_number_scheduled.unwrap_or(0)),
            ),
            (
                "numberAvailable",
                i64::from(s.number_available.unwrap_or(0)),
            ),
            (
                "numberUnavailable",
                i64::from(s.number_unavailable.unwrap_or(0)),
            ),
        ] {
            errs.extend(validate_nonnegative(v, &p.child(name)));
        }
        if let Some(c) = s.collision_count {
            errs.extend(validate_nonnegative(
                i64::from(c),
                &p.child("collisionCount"),
            ));
        }
        errs.extend(validate_collision_count(
            s.collision_count,
            os.collision_count,
            &p.child("collisionCount"),
        ));
        errs
    }
}

/// The strategy of apps/v1 ControllerRevision (no generation, no status).
pub struct ControllerRevisionStrategy;

fn validate_revision(r: &ControllerRevision) -> ErrorList {
    let mut errs = Vec::new();
    if r.data.is_none() {
        errs.push(FieldError::required(
            &Path::new("data"),
            "data is mandatory",
        ));
    }
    errs.extend(validate_nonnegative(r.revision, &Path::new("revision")));
    errs
}

impl Strategy for ControllerRevisionStrategy {
    fn canonicalize(&self, obj: Value) -> Result<Value, String> {
        crate::typed::round_trip::<ControllerRevision>(obj)
    }

    fn validate(&self, obj: &Value) -> ErrorList {
        let mut errs =
            validate_object_meta(obj, true, self.name_validator(), &Path::new("metadata"));
        match decode::<ControllerRevision>(obj) {
            Ok(r) => errs.extend(validate_revision(&r)),
            Err(e) => errs.extend(e),
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> ErrorList {
        let mut errs = validate_object_meta_update(
            new,
            old,
            true,
            self.name_validator(),
            &Path::new("metadata"),
        );
        let (n, o): (ControllerRevision, ControllerRevision) = match (decode(new), decode(old)) {
            (Ok(n), Ok(o)) => (n, o),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        errs.extend(validate_revision(&n));
        let (nd, od) = (n.data.map(|d| d.0), o.data.map(|d| d.0));
        errs.extend(validate_immutable(&nd, &od, &Path::new("data")));
        errs
    }
}
