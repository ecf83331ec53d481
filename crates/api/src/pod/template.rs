//! PodTemplate and ReplicationController (core/v1).

use std::collections::BTreeMap;

use corten_apimachinery::names::{validate_object_meta, validate_object_meta_update};
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::core::v1::{
    PodTemplate, PodTemplateSpec, ReplicationController, ReplicationControllerSpec,
};
use serde_json::Value;

use super::canonical::{canonical_template, drop_disabled_template_fields};
use super::defaults::default_pod_template_spec;
use super::field_rules::{opt, shown, validate_nonnegative};
use super::spec_validation::validate_pod_template_spec;
use super::{canonical_typed, decode, mutate_typed};
use crate::strategy::{Strategy, default_prepare_for_create, default_prepare_for_update};

/// The strategy of core/v1 PodTemplate.
pub struct PodTemplateStrategy;

/// Strategy for PodTemplate.
pub static POD_TEMPLATE_STRATEGY: PodTemplateStrategy = PodTemplateStrategy;

fn default_pod_template(t: &mut PodTemplate) {
    default_pod_template_spec(t.template.get_or_insert_with(Default::default));
}

impl Strategy for PodTemplateStrategy {
    fn canonicalize(&self, obj: Value) -> Result<Value, String> {
        canonical_typed::<PodTemplate>(obj, |t| match t.template.as_mut() {
            Some(tmpl) => canonical_template(tmpl, "template"),
            None => Ok(()),
        })
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        default_prepare_for_create(obj, true);
        mutate_typed::<PodTemplate>(obj, |t| {
            if let Some(tmpl) = t.template.as_mut() {
                drop_disabled_template_fields(tmpl, None);
            }
        });
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let old_t = crate::typed::decode::<PodTemplate>(old)
            .ok()
            .and_then(|t| t.template);
        mutate_typed::<PodTemplate>(new, |t| {
            default_pod_template(t);
            if let Some(tmpl) = t.template.as_mut() {
                drop_disabled_template_fields(tmpl, old_t.as_ref());
            }
        });
        default_prepare_for_update(new, old, true);
    }

    fn default(&self, obj: &mut Value) {
        mutate_typed::<PodTemplate>(obj, default_pod_template);
    }

    fn validate(&self, obj: &Value) -> ErrorList {
        let mut errs =
            validate_object_meta(obj, true, self.name_validator(), &Path::new("metadata"));
        match decode::<PodTemplate>(obj) {
            Ok(t) => errs.extend(validate_pod_template_spec(
                &t.template.unwrap_or_default(),
                &Path::new("template"),
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
        match decode::<PodTemplate>(new) {
            Ok(t) => errs.extend(validate_pod_template_spec(
                &t.template.unwrap_or_default(),
                &Path::new("template"),
            )),
            Err(e) => errs.extend(e),
        }
        errs
    }
}

/// The strategy of core/v1 ReplicationController.
pub struct ReplicationControllerStrategy;

/// Strategy for ReplicationController.
pub static REPLICATION_CONTROLLER_STRATEGY: ReplicationControllerStrategy =
    ReplicationControllerStrategy;

/// `SetDefaults_ReplicationController`: selector and labels from the
/// template labels, replicas 1, template defaults.
fn default_rc(rc: &mut ReplicationController) {
    let spec = rc.spec.get_or_insert_with(Default::default);
    let template_labels = spec
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone());
    if let Some(labels) = template_labels {
        if spec.selector.as_ref().is_none_or(BTreeMap::is_empty) {
            spec.selector = Some(labels.clone());
        }
        if rc.metadata.labels.as_ref().is_none_or(BTreeMap::is_empty) {
            rc.metadata.labels = Some(labels);
        }
    }
    if spec.replicas.is_none() {
        spec.replicas = Some(1);
    }
    if let Some(t) = spec.template.as_mut() {
        default_pod_template_spec(t);
    }
}

/// Upstream `ValidatePodTemplateSpecForRC`: the template must exist, carry
/// the selector's labels, restart always and set no active deadline.
fn validate_template_for_rc(
    template: Option<&PodTemplateSpec>,
    selector: &BTreeMap<String, String>,
    path: &Path,
    kind: &str,
) -> ErrorList {
    let Some(t) = template else {
        return vec![FieldError::required(path, "")];
    };
    let mut errs = Vec::new();
    let empty = BTreeMap::new();
    let labels = t
        .metadata
        .as_ref()
        .and_then(|m| m.labels.as_ref())
        .unwrap_or(&empty);
    if !selector.is_empty() && selector.iter().any(|(k, v)| labels.get(k) != Some(v)) {
        errs.push(FieldError::invalid(
            &path.child("metadata").child("labels"),
            shown(labels),
            "`selector` does not match template `labels`",
        ));
    }
    errs.extend(validate_pod_template_spec(t, path));
    let spec = t.spec.as_ref();
    let restart = spec.map(|s| opt(&s.restart_policy)).unwrap_or("");
    if restart != "Always" {
        errs.push(FieldError::not_supported(
            &path.child("spec").child("restartPolicy"),
            restart,
            &["Always"],
        ));
    }
    if spec.is_some_and(|s| s.active_deadline_seconds.is_some()) {
        errs.push(FieldError::forbidden(
            &path.child("spec").child("activeDeadlineSeconds"),
            &format!("activeDeadlineSeconds in {kind} is not Supported"),
        ));
    }
    errs
}

fn validate_rc_spec(spec: &ReplicationControllerSpec) -> ErrorList {
    let path = Path::new("spec");
    let mut errs = validate_nonnegative(
        i64::from(spec.min_ready_seconds.unwrap_or(0)),
        &path.child("minReadySeconds"),
    );
    let empty = BTreeMap::new();
    let selector = spec.selector.as_ref().unwrap_or(&empty);
    if selector.is_empty() {
        errs.push(FieldError::required(&path.child("selector"), ""));
    }
    errs.extend(validate_nonnegative(
        i64::from(spec.replicas.unwrap_or(0)),
        &path.child("replicas"),
    ));
    errs.extend(validate_template_for_rc(
        spec.template.as_ref(),
        selector,
        &path.child("template"),
        "ReplicationController",
    ));
    errs
}

impl Strategy for ReplicationControllerStrategy {
    fn canonicalize(&self, obj: Value) -> Result<Value, String> {
        canonical_typed::<ReplicationController>(obj, |rc| {
            match rc.spec.as_mut().and_then(|s| s.template.as_mut()) {
                Some(t) => canonical_template(t, "spec.template"),
                None => Ok(()),
            }
        })
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        default_prepare_for_create(obj, true);
        mutate_typed::<ReplicationController>(obj, |rc| {
            if let Some(t) = rc.spec.as_mut().and_then(|s| s.template.as_mut()) {
                drop_disabled_template_fields(t, None);
            }
        });
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let old_t = crate::typed::decode::<ReplicationController>(old)
            .ok()
            .and_then(|rc| rc.spec)
            .and_then(|s| s.template);
        mutate_typed::<ReplicationController>(new, |rc| {
            default_rc(rc);
            if let Some(t) = rc.spec.as_mut().and_then(|s| s.template.as_mut()) {
                drop_disabled_template_fields(t, old_t.as_ref());
            }
        });
        default_prepare_for_update(new, old, true);
    }

    fn default(&self, obj: &mut Value) {
        mutate_typed::<ReplicationController>(obj, default_rc);
    }

    fn validate(&self, obj: &Value) -> ErrorList {
        let mut errs =
            validate_object_meta(obj, true, self.name_validator(), &Path::new("metadata"));
        match decode::<ReplicationController>(obj) {
            Ok(rc) => errs.extend(validate_rc_spec(&rc.spec.unwrap_or_default())),
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
        match decode::<ReplicationController>(new) {
            Ok(rc) => errs.extend(validate_rc_spec(&rc.spec.unwrap_or_default())),
            Err(e) => errs.extend(e),
        }
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
        let rc = match decode::<ReplicationController>(new) {
            Ok(rc) => rc,
            Err(e) => return e,
        };
        let status = rc.status.unwrap_or_default();
        errs.extend(validate_replica_counts(
            &Path::new("status"),
            status.replicas,
            &[
                (
                    "fullyLabeledReplicas",
                    status.fully_labeled_replicas.unwrap_or(0),
                ),
                ("readyReplicas", status.ready_replicas.unwrap_or(0)),
                ("availableReplicas", status.available_replicas.unwrap_or(0)),
            ],
            status.observed_generation.unwrap_or(0),
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

/// `status.replicas` as a field-selector value (`0` when unset).
pub fn replicas_attr(obj: &Value) -> Vec<(String, String)> {
    let replicas = obj
        .pointer("/status/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    vec![("status.replicas".to_string(), replicas.to_string())]
}

/// The replica-count status rules shared by ReplicationController and
/// ReplicaSet: counters non-negative and at most `status.replicas`;
/// available at most ready. `counts` must hold `readyReplicas` and
/// `availableReplicas` (and any other counters checked against replicas).
pub fn validate_replica_counts(
    path: &Path,
    replicas: i32,
    counts: &[(&str, i32)],
    observed_generation: i64,
    available_over_ready_msg: &str,
) -> ErrorList {
    let mut errs = validate_nonnegative(i64::from(replicas), &path.child("replicas"));
    for (name, v) in counts {
        errs.extend(validate_nonnegative(i64::from(*v), &path.child(name)));
    }
    errs.extend(validate_nonnegative(
        observed_generation,
        &path.child("observedGeneration"),
    ));
    for (name, v) in counts {
        if *v > replicas {
            errs.push(FieldError::invalid(
                &path.child(name),
                *v,
                "cannot be greater than status.replicas",
            ));
        }
    }
    let get = |n: &str| {
        counts
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| *v)
            .unwrap_or(0)
    };
    let (ready, available) = (get("readyReplicas"), get("availableReplicas"));
    if available > ready {
        errs.push(FieldError::invalid(
            &path.child("availableReplicas"),
            available,
            available_over_ready_msg,
        ));
    }
    errs
}
