//! Deployment and ReplicaSet.

use corten_apimachinery::names::{validate_object_meta, validate_object_meta_update};
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy as UpdateStrategy, ReplicaSet, ReplicaSetSpec,
    RollingUpdateDeployment,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::{
    SelectorState, int_or_percent_value, is_not_more_than_100_percent, mutate_workload,
    selector_absent, selector_state, validate_collision_count, validate_positive_int_or_percent,
    validate_template_for_replica_set,
};
use crate::pod::canonical::{canonical_template, drop_disabled_template_fields};
use crate::pod::field_rules::{opt, shown, validate_immutable, validate_nonnegative};
use crate::pod::metadata::{selector_is_empty, validate_label_selector};
use crate::pod::template::{replicas_attr, validate_replica_counts};
use crate::pod::{canonical_typed, decode, default_pod_template_spec, preserve_absence};
use crate::strategy::{Strategy, default_prepare_for_create, spec_changed};

/// The strategy of apps/v1 Deployment.
pub struct DeploymentStrategy;

/// `SetDefaults_Deployment` plus template defaults.
fn default_deployment(d: &mut Deployment) {
    let spec = d.spec.get_or_insert_with(Default::default);
    spec.replicas.get_or_insert(1);
    let strategy = spec.strategy.get_or_insert_with(Default::default);
    if opt(&strategy.type_).is_empty() {
        strategy.type_ = Some("RollingUpdate".to_string());
    }
    if strategy.type_.as_deref() == Some("RollingUpdate") {
        let ru = strategy.rolling_update.get_or_insert_with(Default::default);
        ru.max_unavailable
            .get_or_insert_with(|| IntOrString::String("25%".to_string()));
        ru.max_surge
            .get_or_insert_with(|| IntOrString::String("25%".to_string()));
    }
    spec.revision_history_limit.get_or_insert(10);
    spec.progress_deadline_seconds.get_or_insert(600);
    default_pod_template_spec(&mut spec.template);
}

fn validate_rolling_update(ru: &RollingUpdateDeployment, path: &Path) -> ErrorList {
    let zero = IntOrString::Int(0);
    let max_unavailable = ru.max_unavailable.as_ref().unwrap_or(&zero);
    let max_surge = ru.max_surge.as_ref().unwrap_or(&zero);
    let mut errs = validate_positive_int_or_percent(max_unavailable, &path.child("maxUnavailable"));
    errs.extend(validate_positive_int_or_percent(
        max_surge,
        &path.child("maxSurge"),
    ));
    if int_or_percent_value(max_unavailable) == 0 && int_or_percent_value(max_surge) == 0 {
        errs.push(FieldError::invalid(
            &path.child("maxUnavailable"),
            shown(max_unavailable),
            "may not be 0 when `maxSurge` is 0",
        ));
    }
    errs.extend(is_not_more_than_100_percent(
        max_unavailable,
        &path.child("maxUnavailable"),
    ));
    errs
}

fn validate_strategy(s: &UpdateStrategy, path: &Path) -> ErrorList {
    match opt(&s.type_) {
        "Recreate" => match s.rolling_update {
            Some(_) => vec![FieldError::forbidden(
                &path.child("rollingUpdate"),
                "may not be specified when strategy `type` is 'Recreate'",
            )],
            None => Vec::new(),
        },
        "RollingUpdate" => match s.rolling_update.as_ref() {
            None => vec![FieldError::required(
                &path.child("rollingUpdate"),
                "this should be defaulted and never be nil",
            )],
            Some(ru) => validate_rolling_update(ru, &path.child("rollingUpdate")),
        },
        _ => vec![FieldError::not_supported(
            path,
            shown(s),
            &["Recreate", "RollingUpdate"],
        )],
    }
}

/// Selector required/valid/non-empty and the template checks; shared by
/// Deployment and ReplicaSet (`kind_word` names the kind in the
/// empty-selector message: upstream says "deployment" for both).
fn validate_selector_and_template(
    absent: bool,
    spec_sel: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    template: &k8s_openapi::api::core::v1::PodTemplateSpec,
    path: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    let sel_path = path.child("selector");
    if absent {
        errs.push(FieldError::required(&sel_path, ""));
    } else {
        errs.extend(validate_label_selector(Some(spec_sel), false, &sel_path));
        if selector_is_empty(spec_sel) {
            errs.push(FieldError::invalid(
                &sel_path,
                shown(spec_sel),
                "empty selector is invalid for deployment",
            ));
        }
    }
    let state = selector_state(absent, spec_sel);
    if state == SelectorState::Invalid {
        errs.push(FieldError::invalid(
            &sel_path,
            shown(spec_sel),
            "invalid label selector",
        ));
    } else {
        errs.extend(validate_template_for_replica_set(
            state,
            spec_sel,
            template,
            &path.child("template"),
        ));
    }
    errs
}

fn validate_deployment_spec(spec: &DeploymentSpec, absent_selector: bool) -> ErrorList {
    let path = Path::new("spec");
    let mut errs = validate_nonnegative(
        i64::from(spec.replicas.unwrap_or(0)),
        &path.child("replicas"),
    );
    errs.extend(validate_selector_and_template(
        absent_selector,
        &spec.selector,
        &spec.template,
        &path,
    ));
    errs.extend(validate_strategy(
        &spec.strategy.clone().unwrap_or_default(),
        &path.child("strategy"),
    ));
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    errs.extend(validate_nonnegative(
        i64::from(min_ready),
        &path.child("minReadySeconds"),
    ));
    if let Some(r) = spec.revision_history_limit {
        errs.extend(validate_nonnegative(
            i64::from(r),
            &path.child("revisionHistoryLimit"),
        ));
    }
    if let Some(p) = spec.progress_deadline_seconds {
        errs.extend(validate_nonnegative(
            i64::from(p),
            &path.child("progressDeadlineSeconds"),
        ));
        if p <= min_ready {
            errs.push(FieldError::invalid(
                &path.child("progressDeadlineSeconds"),
                p,
                "must be greater than minReadySeconds",
            ));
        }
    }
    errs
}

/// Bumps `metadata.generation` when the spec or the annotations changed
/// (annotations are copied to the ReplicaSets), keeps status from `old`.
fn prepare_generation(new: &mut Value, old: &Value, annotations_count: bool) {
    let changed = spec_changed(new, old)
        || (annotations_count
            && new.pointer("/metadata/annotations") != old.pointer("/metadata/annotations"));
    crate::strategy::default_prepare_for_update(new, old, false);
    let old_gen = corten_apimachinery::meta::generation(old);
    let generation = if changed {
        old_gen.saturating_add(1)
    } else {
        old_gen
    };
    corten_apimachinery::meta::set(new, "generation", Value::from(generation.max(1)));
}

impl Strategy for DeploymentStrategy {
    fn canonicalize(&self, obj: Value) -> Result<Value, String> {
        let input = obj.clone();
        let mut out = canonical_typed::<Deployment>(obj, |d| match d.spec.as_mut() {
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
        mutate_workload::<Deployment>(obj, |d| {
            if let Some(spec) = d.spec.as_mut() {
                drop_disabled_template_fields(&mut spec.template, None);
            }
        });
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let old_t = crate::typed::decode::<Deployment>(old)
            .ok()
            .and_then(|d| d.spec)
            .map(|s| s.template);
        mutate_workload::<Deployment>(new, |d| {
            default_deployment(d);
            if let Some(spec) = d.spec.as_mut() {
                drop_disabled_template_fields(&mut spec.template, old_t.as_ref());
            }
        });
        prepare_generation(new, old, true);
    }

    fn default(&self, obj: &mut Value) {
        mutate_workload::<Deployment>(obj, default_deployment);
    }

    fn validate(&self, obj: &Value) -> ErrorList {
        let mut errs =
            validate_object_meta(obj, true, self.name_validator(), &Path::new("metadata"));
        match decode::<Deployment>(obj) {
            Ok(d) => errs.extend(validate_deployment_spec(
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
        let (n, o): (Deployment, Deployment) = match (decode(new), decode(old)) {
            (Ok(n), Ok(o)) => (n, o),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let (ns, os) = (n.spec.unwrap_or_default(), o.spec.unwrap_or_default());
        errs.extend(validate_deployment_spec(&ns, selector_absent(new)));
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
        let (n, o): (Deployment, Deployment) = match (decode(new), decode(old)) {
            (Ok(n), Ok(o)) => (n, o),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let (s, os) = (n.status.unwrap_or_default(), o.status.unwrap_or_default());
        let p = Path::new("status");
        errs.extend(validate_nonnegative(
            s.observed_generation.unwrap_or(0),
            &p.child("observedGeneration"),
        ));
        let replicas = s.replicas.unwrap_or(0);
        errs.extend(validate_nonnegative(
            i64::from(replicas),
            &p.child("replicas"),
        ));
        let counts = [
            ("updatedReplicas", s.updated_replicas.unwrap_or(0)),
            ("readyReplicas", s.ready_replicas.unwrap_or(0)),
            ("availableReplicas", s.available_replicas.unwrap_or(0)),
            ("unavailableReplicas", s.unavailable_replicas.unwrap_or(0)),
        ];
        for (name, v) in counts {
            errs.extend(validate_nonnegative(i64::from(v), &p.child(name)));
        }
        if let Some(c) = s.collision_count {
            errs.extend(validate_nonnegative(
                i64::from(c),
                &p.child("collisionCount"),
            ));
        }
        for (name, v) in &counts[..3] {
            if *v > replicas {
                errs.push(FieldError::invalid(
                    &p.child(name),
                    *v,
                    "cannot be greater than status.replicas",
                ));
            }
        }
        let (ready, available) = (counts[1].1, counts[2].1);
        if available > ready {
            errs.push(FieldError::invalid(
                &p.child("availableReplicas"),
                available,
                "cannot be greater than readyReplicas",
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

/// The strategy of apps/v1 ReplicaSet.
pub struct ReplicaSetStrategy;

fn default_replica_set(rs: &mut ReplicaSet) {
    let spec = rs.spec.get_or_insert_with(Default::default);
    spec.replicas.get_or_insert(1);
    default_pod_template_spec(spec.template.get_or_insert_with(Default::default));
}

fn validate_replica_set_spec(spec: &ReplicaSetSpec, absent_selector: bool) -> ErrorList {
    let path = Path::new("spec");
    let mut errs = validate_nonnegative(
        i64::from(spec.replicas.unwrap_or(0)),
        &path.child("replicas"),
    );
    errs.extend(validate_nonnegative(
        i64::from(spec.min_ready_seconds.unwrap_or(0)),
        &path.child("minReadySeconds"),
    ));
    let template = spec.template.clone().unwrap_or_default();
    errs.extend(validate_selector_and_template(
        absent_selector,
        &spec.selector,
        &template,
        &path,
    ));
    errs
}

impl Strategy for ReplicaSetStrategy {
    fn canonicalize(&self, obj: Value) -> Result<Value, String> {
        let input = obj.clone();
        let mut out = canonical_typed::<ReplicaSet>(obj, |rs| {
            match rs.spec.as_mut().and_then(|s| s.template.as_mut()) {
                Some(t) => canonical_template(t, "spec.template"),
                None => Ok(()),
            }
        })?;
        preserve_absence(&input, &mut out, "/spec", "selector");
        Ok(out)
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        default_prepare_for_create(obj, true);
        mutate_workload::<ReplicaSet>(obj, |rs| {
            if let Some(t) = rs.spec.as_mut().and_then(|s| s.template.as_mut()) {
                drop_disabled_template_fields(t, None);
            }
        });
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let old_t = crate::typed::decode::<ReplicaSet>(old)
            .ok()
            .and_then(|d| d.spec)
            .and_then(|s| s.template);
        mutate_workload::<ReplicaSet>(new, |rs| {
            default_replica_set(rs);
            if let Some(t) = rs.spec.as_mut().and_then(|s| s.template.as_mut()) {
                drop_disabled_template_fields(t, old_t.as_ref());
            }
        });
        prepare_generation(new, old, false);
    }

    fn default(&self, obj: &mut Value) {
        mutate_workload::<ReplicaSet>(obj, default_replica_set);
    }

    fn validate(&self, obj: &Value) -> ErrorList {
        let mut errs =
            validate_object_meta(obj, true, self.name_validator(), &Path::new("metadata"));
        match decode::<ReplicaSet>(obj) {
            Ok(rs) => errs.extend(validate_replica_set_spec(
                &rs.spec.unwrap_or_default(),
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
        let (n, o): (ReplicaSet, ReplicaSet) = match (decode(new), decode(old)) {
            (Ok(n), Ok(o)) => (n, o),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let (ns, os) = (n.spec.unwrap_or_default(), o.spec.unwrap_or_default());
        errs.extend(validate_replica_set_spec(&ns, selector_absent(new)));
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
        let rs = match decode::<ReplicaSet>(new) {
            Ok(rs) => rs,
            Err(e) => return e,
        };
        let s = rs.status.unwrap_or_default();
        errs.extend(validate_replica_counts(
            &Path::new("status"),
            s.replicas,
            &[
                (
                    "fullyLabeledReplicas",
                    s.fully_labeled_replicas.unwrap_or(0),
                ),
                ("readyReplicas", s.ready_replicas.unwrap_or(0)),
                ("availableReplicas", s.available_replicas.unwrap_or(0)),
            ],
            s.observed_generation.unwrap_or(0),
            "cannot be greater than readyReplicas",
        ));
        errs
    }

    fn field_labels(&self) -> &'static [&'static str] {
        &["status.replicas"]
    }

    fn field_attrs(&self, obj: &Value) -> Vec<(String, String)> {
        replicas_attr(obj)
    }
}
