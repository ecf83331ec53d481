//! StatefulSet.
//!
//! In 1.33 upstream validates only the labels and annotations of a
//! StatefulSet's pod template (full pod-spec validation arrived in 1.34),
//! and not its volumeClaimTemplates.

use corten_apimachinery::names::{
    NameValidator, is_dns1123_label, validate_object_meta, validate_object_meta_update,
};
use corten_apimachinery::{ErrorList, FieldError, Path, feature_gates};
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

use super::{
    SelectorState, check_template_labels, int_or_percent_value, is_not_more_than_100_percent,
    mutate_workload, require_restart_always, selector_absent, selector_state,
    validate_collision_count, validate_positive_int_or_percent,
};
use crate::pod::canonical::{
    canonical_pvc_spec, canonical_template, drop_disabled_template_fields,
};
use crate::pod::field_rules::{opt, shown, validate_nonnegative};
use crate::pod::metadata::{
    selector_is_empty, validate_annotations, validate_label_selector, validate_labels,
};
use crate::pod::spec_validation::validate_pod_specific_annotations;
use crate::pod::{canonical_typed, decode, default_pod_template_spec, preserve_absence};
use crate::strategy::{Strategy, default_prepare_for_create, default_prepare_for_update};

/// The strategy of apps/v1 StatefulSet.
pub struct StatefulSetStrategy;

/// `SetDefaults_StatefulSet` plus template and claim-template defaults.
fn default_stateful_set(s: &mut StatefulSet) {
    let spec = s.spec.get_or_insert_with(Default::default);
    if opt(&spec.pod_management_policy).is_empty() {
        spec.pod_management_policy = Some("OrderedReady".to_string());
    }
    let us = spec.update_strategy.get_or_insert_with(Default::default);
    if opt(&us.type_).is_empty() {
        us.type_ = Some("RollingUpdate".to_string());
        us.rolling_update.get_or_insert_with(Default::default);
    }
    if us.type_.as_deref() == Some("RollingUpdate")
        && let Some(ru) = us.rolling_update.as_mut()
    {
        ru.partition.get_or_insert(0);
    }
    let policy = spec
        .persistent_volume_claim_retention_policy
        .get_or_insert_with(Default::default);
    for field in [&mut policy.when_deleted, &mut policy.when_scaled] {
        if opt(field).is_empty() {
            *field = Some("Retain".to_string());
        }
    }
    spec.replicas.get_or_insert(1);
    spec.revision_history_limit.get_or_insert(10);
    default_pod_template_spec(&mut spec.template);
    for pvc in spec.volume_claim_templates.iter_mut().flatten() {
        let pvc_spec = pvc.spec.get_or_insert_with(Default::default);
        if opt(&pvc_spec.volume_mode).is_empty() {
            pvc_spec.volume_mode = Some("Filesystem".to_string());
        }
        let status = pvc.status.get_or_insert_with(Default::default);
        if opt(&status.phase).is_empty() {
            status.phase = Some("Pending".to_string());
        }
    }
}

/// Drops `rollingUpdate.maxUnavailable` unless the MaxUnavailableStatefulSet
/// gate (alpha in 1.33, off by default) is on or the old object uses it, and
/// the template's disabled fields.
fn drop_disabled(s: &mut StatefulSet, old: Option<&StatefulSet>) {
    let old_spec = old.and_then(|o| o.spec.as_ref());
    let old_uses = old_spec
        .and_then(|o| o.update_strategy.as_ref())
        .and_then(|u| u.rolling_update.as_ref())
        .is_some_and(|r| r.max_unavailable.is_some());
    let Some(spec) = s.spec.as_mut() else { return };
    if !old_uses
        && !feature_gates::enabled("MaxUnavailableStatefulSet")
        && let Some(ru) = spec
            .update_strategy
            .as_mut()
            .and_then(|u| u.rolling_update.as_mut())
    {
        ru.max_unavailable = None;
    }
    drop_disabled_template_fields(&mut spec.template, old_spec.map(|o| &o.template));
}

/// Upstream `ValidatePodTemplateSpecForStatefulSet` (1.33): labels match,
/// template labels and annotations.
fn validate_template(state: SelectorState, spec: &StatefulSetSpec, path: &Path) -> ErrorList {
    let t: &PodTemplateSpec = &spec.template;
    let mut errs = check_template_labels(
        state,
        &spec.selector,
        t,
        &path.child("metadata").child("labels"),
    );
    let meta = t.metadata.as_ref();
    errs.extend(validate_labels(
        meta.and_then(|m| m.labels.as_ref()),
        &path.child("labels"),
    ));
    let annotations = meta.and_then(|m| m.annotations.as_ref());
    errs.extend(validate_annotations(
        annotations,
        &path.child("annotations"),
    ));
    let default_spec = Default::default();
    let pod_spec = t.spec.as_ref().unwrap_or(&default_spec);
    errs.extend(validate_pod_specific_annotations(
        annotations,
        pod_spec,
        &path.child("annotations"),
    ));
    errs
}

fn validate_stateful_set_spec(spec: &StatefulSetSpec, absent_selector: bool) -> ErrorList {
    let path = Path::new("spec");
    let mut errs = Vec::new();
    match opt(&spec.pod_management_policy) {
        "" => errs.push(FieldError::required(&path.child("podManagementPolicy"), "")),
        "OrderedReady" | "Parallel" => {}
        p => errs.push(FieldError::invalid(
            &path.child("podManagementPolicy"),
            p,
            "must be 'OrderedReady' or 'Parallel'",
        )),
    }
    let us = spec.update_strategy.clone().unwrap_or_default();
    let us_path = path.child("updateStrategy");
    match opt(&us.type_) {
        "" => errs.push(FieldError::required(&us_path, "")),
        "OnDelete" => {
            if let Some(ru) = us.rolling_update.as_ref() {
                errs.push(FieldError::invalid(
                    &us_path.child("rollingUpdate"),
                    shown(ru),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" => {
            if let Some(ru) = us.rolling_update.as_ref() {
                let ru_path = us_path.child("rollingUpdate");
                errs.extend(validate_nonnegative(
                    i64::from(ru.partition.unwrap_or(0)),
                    &ru_path.child("partition"),
                ));
                if let Some(mu) = ru.max_unavailable.as_ref() {
                    let mu_path = ru_path.child("maxUnavailable");
                    errs.extend(validate_positive_int_or_percent(mu, &mu_path));
                    if int_or_percent_value(mu) == 0 {
                        errs.push(FieldError::invalid(&mu_path, shown(mu), "cannot be 0"));
                    }
                    errs.extend(is_not_more_than_100_percent(mu, &mu_path));
                }
            }
        }
        _ => errs.push(FieldError::invalid(
            &us_path,
            shown(&us),
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }
    if let Some(policy) = spec.persistent_volume_claim_retention_policy.as_ref() {
        let p = path.child("persistentVolumeClaimRetentionPolicy");
        for (v, field) in [
            (&policy.when_deleted, "whenDeleted"),
            (&policy.when_scaled, "whenScaled"),
        ] {
            let v = opt(v);
            if v != "Retain" && v != "Delete" {
                errs.push(FieldError::not_supported(
                    &p.child(field),
                    v,
                    &["Retain", "Delete"],
                ));
            }
        }
    }
    errs.extend(validate_nonnegative(
        i64::from(spec.replicas.unwrap_or(0)),
        &path.child("replicas"),
    ));
    errs.extend(validate_nonnegative(
        i64::from(spec.min_ready_seconds.unwrap_or(0)),
        &path.child("minReadySeconds"),
    ));
    if let Some(o) = spec.ordinals.as_ref() {
        errs.extend(validate_nonnegative(
            i64::from(o.start.unwrap_or(0)),
            &path.child("ordinals.start"),
        ));
    }
    let sel_path = path.child("selector");
    if absent_selector {
        errs.push(FieldError::required(&sel_path, ""));
    } else {
        errs.extend(validate_label_selector(
            Some(&spec.selector),
            false,
            &sel_path,
        ));
        if selector_is_empty(&spec.selector) {
            errs.push(FieldError::invalid(
                &sel_path,
                shown(&spec.selector),
                "empty selector is invalid for statefulset",
            ));
        }
    }
    let state = selector_state(absent_selector, &spec.selector);
    if state == SelectorState::Invalid {
        errs.push(FieldError::invalid(&sel_path, shown(&spec.selector), ""));
    } else {
        errs.extend(validate_template(state, spec, &path.child("template")));
    }
    errs.extend(require_restart_always(
        &spec.template,
        &path.child("template"),
        "StatefulSet",
    ));
    errs
}

/// Upstream `ValidateStatefulSetUpdate`: only some spec fields may change.
fn validate_stateful_set_update(new: &StatefulSetSpec, old: &StatefulSetSpec) -> ErrorList {
    let mut munged = new.clone();
    munged.replicas = old.replicas;
    munged.template = old.template.clone();
    munged.update_strategy = old.update_strategy.clone();
    munged.min_ready_seconds = old.min_ready_seconds;
    munged.ordinals = old.ordinals.clone();
    munged.persistent_volume_claim_retention_policy =
        old.persistent_volume_claim_retention_policy.clone();
    if munged != *old {
        return vec![FieldError::forbidden(
            &Path::new("spec"),
            "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        )];
    }
    Vec::new()
}

impl Strategy for StatefulSetStrategy {
    fn canonicalize(&self, obj: Value) -> Result<Value, String> {
        let input = obj.clone();
        let mut out = canonical_typed::<StatefulSet>(obj, |s| {
            let Some(spec) = s.spec.as_mut() else {
                return Ok(());
            };
            canonical_template(&mut spec.template, "spec.template")?;
            for (i, pvc) in spec.volume_claim_templates.iter_mut().flatten().enumerate() {
                if let Some(ps) = pvc.spec.as_mut() {
                    canonical_pvc_spec(ps, &format!("spec.volumeClaimTemplates[{i}].spec"))?;
                }
            }
            Ok(())
        })?;
        preserve_absence(&input, &mut out, "/spec", "selector");
        Ok(out)
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn name_validator(&self) -> NameValidator {
        is_dns1123_label
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        default_prepare_for_create(obj, true);
        mutate_workload::<StatefulSet>(obj, |s| drop_disabled(s, None));
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let old_s = crate::typed::decode::<StatefulSet>(old).ok();
        mutate_workload::<StatefulSet>(new, |s| {
            default_stateful_set(s);
            drop_disabled(s, old_s.as_ref());
        });
        default_prepare_for_update(new, old, true);
    }

    fn default(&self, obj: &mut Value) {
        mutate_workload::<StatefulSet>(obj, default_stateful_set);
    }

    fn validate(&self, obj: &Value) -> ErrorList {
        let mut errs =
            validate_object_meta(obj, true, self.name_validator(), &Path::new("metadata"));
        match decode::<StatefulSet>(obj) {
            Ok(s) => errs.extend(validate_stateful_set_spec(
                &s.spec.unwrap_or_default(),
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
        let (n, o): (StatefulSet, StatefulSet) = match (decode(new), decode(old)) {
            (Ok(n), Ok(o)) => (n, o),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let (ns, os) = (n.spec.unwrap_or_default(), o.spec.unwrap_or_default());
        errs.extend(validate_stateful_set_spec(&ns, selector_absent(new)));
        errs.extend(validate_stateful_set_update(&ns, &os));
        errs
    }

    fn validate_status_update(&self, new: &Value, old: &Value) -> ErrorList {
        let (n, o): (StatefulSet, StatefulSet) = match (decode(new), decode(old)) {
            (Ok(n), Ok(o)) => (n, o),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let (s, os) = (n.status.unwrap_or_default(), o.status.unwrap_or_default());
        let p = Path::new("status");
        let mut errs = Vec::new();
        let counts = [
            ("readyReplicas", s.ready_replicas.unwrap_or(0)),
            ("currentReplicas", s.current_replicas.unwrap_or(0)),
            ("updatedReplicas", s.updated_replicas.unwrap_or(0)),
            ("availableReplicas", s.available_replicas.unwrap_or(0)),
        ];
        errs.extend(validate_nonnegative(
            i64::from(s.replicas),
            &p.child("replicas"),
        ));
        for (name, v) in counts {
            errs.extend(validate_nonnegative(i64::from(v), &p.child(name)));
        }
        if let Some(g) = s.observed_generation {
            errs.extend(validate_nonnegative(g, &p.child("observedGeneration")));
        }
        if let Some(c) = s.collision_count {
            errs.extend(validate_nonnegative(
                i64::from(c),
                &p.child("collisionCount"),
            ));
        }
        for (name, v) in counts {
            if v > s.replicas {
                errs.push(FieldError::invalid(
                    &p.child(name),
                    v,
                    "cannot be greater than status.replicas",
                ));
            }
        }
        if counts[3].1 > counts[0].1 {
            errs.push(FieldError::invalid(
                &p.child("availableReplicas"),
                counts[3].1,
                "cannot be greater than status.readyReplicas",
            ));
        }
        errs.extend(validate_object_meta_update(
            new,
            old,
            true,
            self.name_validator(),
            &Path::new("metadata"),
        ));
        errs.extend(validate_collision_count(
            s.collision_count,
            os.collision_count,
            &p.child("collisionCount"),
        ));
        errs
    }
}
