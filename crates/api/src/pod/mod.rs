//! Pods, pod templates and replication controllers (core/v1), plus the pod
//! spec defaulting and validation every workload kind reuses.
//!
//! * [`defaults`]: `SetDefaults_Pod`/`PodSpec`/`Container`/volume sources.
//! * [`spec_validation`]: `ValidatePodSpec` and `ValidatePodTemplateSpec`,
//!   built from [`containers`], [`env`], [`probes`], [`volumes`],
//!   [`resources`], [`security`] and [`scheduling`].
//! * [`update`]: what a pod update and a `/status` update may change.
//! * [`ephemeral`], [`resize`]: the `pods/ephemeralcontainers` and
//!   `pods/resize` subresources.
//! * [`template`]: the PodTemplate and ReplicationController strategies.

pub mod canonical;
pub mod containers;
pub mod defaults;
pub mod env;
pub mod ephemeral;
pub mod field_rules;
pub mod metadata;
mod pipeline;
pub mod probes;
pub mod resize;
pub mod resources;
pub mod scheduling;
pub mod security;
pub mod spec_validation;
pub mod template;
pub mod update;
pub mod volume_sources;
pub mod volumes;

#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;

use corten_apimachinery::names::{validate_object_meta, validate_object_meta_update};
use corten_apimachinery::{ErrorList, Path};
use k8s_openapi::api::core::v1::{Pod, PodCondition, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::pipeline::{PipelineError, Prepared, StoreSteps, Typed, UpdateTarget};
use crate::strategy::{Strategy, default_prepare_for_create, default_prepare_for_update};
use crate::typed::{from_value, to_value};

pub use canonical::{canonical_pod_spec, canonical_template};
pub use defaults::{default_pod, default_pod_spec, default_pod_template_spec};
pub use resources::compute_qos;
pub use spec_validation::{PodValidationOptions, validate_pod_spec, validate_pod_template_spec};
pub use template::{POD_TEMPLATE_STRATEGY, REPLICATION_CONTROLLER_STRATEGY};

use field_rules::{opt, undecodable};

/// Decodes `obj` as `T` for validation; the error list explains a failure.
pub fn decode<T: DeserializeOwned>(obj: &Value) -> Result<T, ErrorList> {
    crate::typed::decode(obj).map_err(|e| undecodable(&e))
}

/// Decodes `obj` as `T`, applies `f` and writes the result back; leaves
/// `obj` untouched if it does not decode (canonicalize reports that).
pub fn mutate_typed<T: DeserializeOwned + Serialize>(obj: &mut Value, f: impl FnOnce(&mut T)) {
    if let Ok(mut t) = crate::typed::decode::<T>(obj) {
        f(&mut t);
        *obj = to_value(&t);
    }
}

/// Decode-transform-encode for `canonicalize`.
pub fn canonical_typed<T: DeserializeOwned + Serialize>(
    obj: Value,
    f: impl FnOnce(&mut T) -> Result<(), String>,
) -> Result<Value, String> {
    let mut t: T = from_value(obj)?;
    f(&mut t)?;
    Ok(to_value(&t))
}

/// Keeps a required-in-the-schema field absent after a typed round trip
/// when the client omitted it (or sent null), so validation can report
/// `Required value` like upstream does for a nil pointer. `parent` is a JSON
/// pointer (e.g. `/spec`).
pub fn preserve_absence(input: &Value, output: &mut Value, parent: &str, key: &str) {
    let absent = input
        .pointer(parent)
        .and_then(|p| p.get(key))
        .is_none_or(Value::is_null);
    if absent && let Some(map) = output.pointer_mut(parent).and_then(Value::as_object_mut) {
        map.remove(key);
    }
}

/// The phase of a pod object (`""` when unset or not a pod).
pub fn pod_status_phase(obj: &Value) -> &str {
    obj.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The strategy of core/v1 Pod.
pub struct PodStrategy;

/// Strategy for Pod.
pub static POD_STRATEGY: PodStrategy = PodStrategy;

const POD_FIELD_LABELS: &[&str] = &[
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
];

/// Upstream `applyMatchLabelKeysAndMismatchLabelKeys`: `matchLabelKeys`
/// become `key In (value)` requirements, `mismatchLabelKeys` `NotIn`.
fn merge_label_keys(
    selector: &mut Option<LabelSelector>,
    match_keys: &Option<Vec<String>>,
    mismatch_keys: &Option<Vec<String>>,
    labels: &std::collections::BTreeMap<String, String>,
) {
    let Some(sel) = selector.as_mut() else {
        return;
    };
    for (keys, op) in [(match_keys, "In"), (mismatch_keys, "NotIn")] {
        for key in keys.iter().flatten() {
            if let Some(value) = labels.get(key) {
                sel.match_expressions
                    .get_or_insert_with(Vec::new)
                    .push(LabelSelectorRequirement {
                        key: key.clone(),
                        operator: op.to_string(),
                        values: Some(vec![value.clone()]),
                    });
            }
        }
    }
}

/// Upstream `mutatePodAffinity` (MatchLabelKeysInPodAffinity, on in 1.33).
fn mutate_pod_affinity(pod: &mut Pod) {
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let Some(affinity) = pod.spec.as_mut().and_then(|s| s.affinity.as_mut()) else {
        return;
    };
    let groups = [
        affinity.pod_affinity.as_mut().map(|a| {
            (
                &mut a.required_during_scheduling_ignored_during_execution,
                &mut a.preferred_during_scheduling_ignored_during_execution,
            )
        }),
        affinity.pod_anti_affinity.as_mut().map(|a| {
            (
                &mut a.required_during_scheduling_ignored_during_execution,
                &mut a.preferred_during_scheduling_ignored_during_execution,
            )
        }),
    ];
    for (required, preferred) in groups.into_iter().flatten() {
        for w in preferred.iter_mut().flatten() {
            let t = &mut w.pod_affinity_term;
            merge_label_keys(
                &mut t.label_selector,
                &t.match_label_keys,
                &t.mismatch_label_keys,
                &labels,
            );
        }
        for t in required.iter_mut().flatten() {
            merge_label_keys(
                &mut t.label_selector,
                &t.match_label_keys,
                &t.mismatch_label_keys,
                &labels,
            );
        }
    }
}

impl Strategy for PodStrategy {
    fn canonicalize(&self, obj: Value) -> Result<Value, String> {
        canonical_typed::<Pod>(obj, canonicalize_pod)
    }

    fn tracks_generation(&self) -> bool {
        // Pods populate metadata.generation since 1.33 (KEP-5067).
        true
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        default_prepare_for_create(obj, true);
        mutate_typed::<Pod>(obj, prepare_pod_create);
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let old_spec: Option<PodSpec> = crate::typed::decode::<Pod>(old).ok().and_then(|p| p.spec);
        mutate_typed::<Pod>(new, |pod| prepare_pod_update(pod, old_spec.as_ref()));
        default_prepare_for_update(new, old, true);
    }

    fn prepare_for_status_update(&self, new: &mut Value, old: &Value) {
        let Ok(old_pod) = crate::typed::decode::<Pod>(old) else {
            crate::strategy::default_prepare_for_status_update(new, old);
            return;
        };
        mutate_typed::<Pod>(new, |pod| prepare_pod_status_update(pod, &old_pod));
    }

    fn prepare_for_subresource_update(&self, subresource: &str, new: &mut Value, old: &Value) {
        if subresource != ephemeral::EPHEMERAL_CONTAINERS && subresource != resize::RESIZE {
            return self.prepare_for_status_update(new, old);
        }
        let Ok(old_pod) = crate::typed::decode::<Pod>(old) else {
            crate::strategy::default_prepare_for_status_update(new, old);
            return;
        };
        mutate_typed::<Pod>(new, |pod| {
            if subresource == resize::RESIZE {
                // Limits without requests get requests, as on create.
                default_pod(pod);
                *pod = resize::keep_only_resize_changes(pod, &old_pod);
                return;
            }
            *pod = ephemeral::keep_only_ephemeral_changes(pod, &old_pod);
            // The subresource path has no separate defaulting step; the new
            // containers get the defaults a create would give them.
            default_pod(pod);
        });
    }

    fn validate_subresource_update(
        &self,
        subresource: &str,
        new: &Value,
        old: &Value,
    ) -> ErrorList {
        if subresource != ephemeral::EPHEMERAL_CONTAINERS && subresource != resize::RESIZE {
            return self.validate_status_update(new, old);
        }
        if subresource == resize::RESIZE
            && let (Ok(n), Ok(o)) = (decode::<Pod>(new), decode::<Pod>(old))
            && let Some(err) = resize::refused_kind(&n, &o)
        {
            return vec![err];
        }
        let mut errs = validate_object_meta_update(
            new,
            old,
            true,
            self.name_validator(),
            &Path::new("metadata"),
        );
        match (decode::<Pod>(new), decode::<Pod>(old)) {
            (Ok(n), Ok(o)) => {
                errs.extend(validate_pod_metadata_and_spec(&n));
                if subresource == resize::RESIZE {
                    errs.extend(resize::validate_pod_resize(&n, &o));
                } else {
                    errs.extend(ephemeral::validate_ephemeral_containers_update(&n, &o));
                }
            }
            (Err(e), _) | (_, Err(e)) => errs.extend(e),
        }
        errs
    }

    fn default(&self, obj: &mut Value) {
        mutate_typed::<Pod>(obj, default_pod);
    }

    fn validate(&self, obj: &Value) -> ErrorList {
        let mut errs =
            validate_object_meta(obj, true, self.name_validator(), &Path::new("metadata"));
        let pod: Pod = match decode(obj) {
            Ok(p) => p,
            Err(e) => return e,
        };
        errs.extend(validate_pod_create(&pod));
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
        let (new_pod, old_pod): (Pod, Pod) = match (decode(new), decode(old)) {
            (Ok(n), Ok(o)) => (n, o),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        errs.extend(validate_pod_update(&new_pod, &old_pod));
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
        match (decode::<Pod>(new), decode::<Pod>(old)) {
            (Ok(n), Ok(o)) => errs.extend(update::validate_pod_status_update(&n, &o)),
            (Err(e), _) | (_, Err(e)) => errs.extend(e),
        }
        errs
    }

    fn prepare_create(
        &self,
        obj: Value,
        steps: &mut dyn StoreSteps,
    ) -> Result<Prepared, PipelineError> {
        pipeline::prepare_create(obj, steps)
    }

    fn validate_create(&self, obj: &Prepared) -> ErrorList {
        match obj.typed::<Pod>() {
            Some(t) => pipeline::validate_create(obj, &t.object),
            None => self.validate(obj.value()),
        }
    }

    fn prepare_update(
        &self,
        new: Value,
        old: &Value,
        target: UpdateTarget,
        steps: &mut dyn StoreSteps,
    ) -> Result<Prepared, PipelineError> {
        pipeline::prepare_update(self, new, old, target, steps)
    }

    fn validate_prepared_update(
        &self,
        new: &Prepared,
        old: &Value,
        target: UpdateTarget,
    ) -> ErrorList {
        match new.typed::<Pod>() {
            Some(Typed {
                object: n,
                old: Some(o),
            }) => pipeline::validate_update(new, n, old, o, target),
            _ => match target {
                UpdateTarget::Main => self.validate_update(new.value(), old),
                UpdateTarget::Status => self.validate_status_update(new.value(), old),
            },
        }
    }

    fn prepared_field_attrs(&self, obj: &Prepared) -> Vec<(String, String)> {
        match obj.typed::<Pod>() {
            Some(t) => pipeline::field_attrs(&t.object),
            None => self.field_attrs(obj.value()),
        }
    }

    fn field_labels(&self) -> &'static [&'static str] {
        POD_FIELD_LABELS
    }

    fn field_attrs(&self, obj: &Value) -> Vec<(String, String)> {
        let s = |ptr: &str| {
            obj.pointer(ptr)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let host_network = obj
            .pointer("/spec/hostNetwork")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let pod_ip = obj
            .pointer("/status/podIPs/0/ip")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        vec![
            ("spec.nodeName".into(), s("/spec/nodeName")),
            ("spec.restartPolicy".into(), s("/spec/restartPolicy")),
            ("spec.schedulerName".into(), s("/spec/schedulerName")),
            (
                "spec.serviceAccountName".into(),
                s("/spec/serviceAccountName"),
            ),
            ("spec.hostNetwork".into(), host_network.to_string()),
            ("status.phase".into(), s("/status/phase")),
            ("status.podIP".into(), pod_ip),
            (
                "status.nominatedNodeName".into(),
                s("/status/nominatedNodeName"),
            ),
        ]
    }

    fn graceful_delete_seconds(&self, obj: &Value, requested: Option<i64>) -> Option<i64> {
        let spec_default = obj
            .pointer("/spec/terminationGracePeriodSeconds")
            .and_then(Value::as_i64);
        let mut period = requested.or(spec_default).unwrap_or(0);
        let node = obj
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("");
        if node.is_empty() {
            period = 0;
        }
        if matches!(pod_status_phase(obj), "Failed" | "Succeeded") {
            period = 0;
        }
        if period < 0 {
            period = 1;
        }
        Some(period)
    }
}

/// Canonical quantities in the spec (a malformed one is a 400).
fn canonicalize_pod(pod: &mut Pod) -> Result<(), String> {
    match pod.spec.as_mut() {
        Some(spec) => canonical_pod_spec(spec, "spec"),
        None => Ok(()),
    }
}

/// `prepare_for_create` of a decoded pod, after the generic part (status
/// cleared, generation 1): defaults, disabled fields, the initial status,
/// affinity label keys.
fn prepare_pod_create(pod: &mut Pod) {
    // Upstream defaults on decode, before this hook; QoS needs them.
    default_pod(pod);
    let spec = pod.spec.get_or_insert_with(Default::default);
    canonical::drop_disabled_fields(spec, None);
    let mut status = PodStatus {
        phase: Some("Pending".to_string()),
        qos_class: Some(compute_qos(spec).to_string()),
        ..Default::default()
    };
    if spec
        .scheduling_gates
        .as_ref()
        .is_some_and(|g| !g.is_empty())
    {
        status.conditions = Some(vec![PodCondition {
            type_: "PodScheduled".to_string(),
            status: "False".to_string(),
            reason: Some("SchedulingGated".to_string()),
            message: Some("Scheduling is blocked due to non-empty scheduling gates".to_string()),
            ..Default::default()
        }]);
    }
    pod.status = Some(status);
    mutate_pod_affinity(pod);
}

/// The typed part of `prepare_for_update` (before the generic status and
/// generation rules).
fn prepare_pod_update(pod: &mut Pod, old_spec: Option<&PodSpec>) {
    default_pod(pod);
    if let Some(spec) = pod.spec.as_mut() {
        canonical::drop_disabled_fields(spec, old_spec);
    }
}

/// `prepare_for_status_update` of a decoded pod: only the status (and
/// a few metadata fields) may change.
fn prepare_pod_status_update(pod: &mut Pod, old_pod: &Pod) {
    pod.spec = old_pod.spec.clone();
    pod.metadata.owner_references = old_pod.metadata.owner_references.clone();
    pod.metadata.deletion_timestamp = old_pod.metadata.deletion_timestamp.clone();
    pod.metadata.deletion_grace_period_seconds = old_pod.metadata.deletion_grace_period_seconds;
    pod.metadata.generation = old_pod.metadata.generation;
    let old_status = old_pod.status.clone().unwrap_or_default();
    let status = pod.status.get_or_insert_with(Default::default);
    if opt(&status.qos_class).is_empty() {
        status.qos_class = old_status.qos_class.clone();
    }
    if status.observed_generation.unwrap_or(0) == 0 {
        status.observed_generation = old_status.observed_generation;
    }
    for c in status.conditions.iter_mut().flatten() {
        if c.observed_generation.unwrap_or(0) == 0 {
            let old_gen = old_status
                .conditions
                .iter()
                .flatten()
                .find(|o| o.type_ == c.type_)
                .and_then(|o| o.observed_generation);
            c.observed_generation = old_gen;
        }
    }
}

/// Upstream `ValidatePodUpdate` minus `ValidateObjectMetaUpdate`.
fn validate_pod_update(new_pod: &Pod, old_pod: &Pod) -> ErrorList {
    let mut errs = validate_pod_metadata_and_spec(new_pod);
    errs.extend(update::validate_annotation_updates(
        new_pod.metadata.annotations.as_ref(),
        old_pod.metadata.annotations.as_ref(),
        &Path::new("metadata").child("annotations"),
    ));
    let default_spec = PodSpec::default();
    errs.extend(update::validate_pod_spec_update(
        new_pod.spec.as_ref().unwrap_or(&default_spec),
        old_pod.spec.as_ref().unwrap_or(&default_spec),
    ));
    errs
}

/// Upstream `validatePodMetadataAndSpec` minus `ValidateObjectMeta`: the
/// spec, pod-specific annotations, projected token rules and image
/// whitespace.
fn validate_pod_metadata_and_spec(pod: &Pod) -> ErrorList {
    let spec_path = Path::new("spec");
    let default_spec = PodSpec::default();
    let spec = pod.spec.as_ref().unwrap_or(&default_spec);
    let mut errs = spec_validation::validate_pod_specific_annotations(
        pod.metadata.annotations.as_ref(),
        spec,
        &Path::new("metadata").child("annotations"),
    );
    let opts = PodValidationOptions {
        resource_is_pod: true,
    };
    errs.extend(validate_pod_spec(
        spec,
        pod.metadata.name.as_deref(),
        &spec_path,
        opts,
    ));
    if opt(&spec.service_account_name).is_empty() {
        for (vi, v) in spec.volumes.iter().flatten().enumerate() {
            let p = spec_path.child("volumes").index(vi).child("projected");
            let sources = v
                .projected
                .iter()
                .flat_map(|pr| pr.sources.iter().flatten());
            for (si, src) in sources.enumerate() {
                if src.service_account_token.is_some() {
                    errs.push(corten_apimachinery::FieldError::forbidden(
                        &p.child("sources").index(si).child("serviceAccountToken"),
                        "must not be specified when serviceAccountName is not set",
                    ));
                }
            }
        }
    }
    for (i, c) in spec.containers.iter().enumerate() {
        errs.extend(containers::validate_image_whitespace(
            c,
            &spec_path.child("containers").index(i),
        ));
    }
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        errs.extend(containers::validate_image_whitespace(
            c,
            &spec_path.child("initContainers").index(i),
        ));
    }
    errs
}

/// Upstream `ValidatePodCreate` minus `ValidateObjectMeta`.
pub fn validate_pod_create(pod: &Pod) -> ErrorList {
    let mut errs = validate_pod_metadata_and_spec(pod);
    let spec_path = Path::new("spec");
    if let Some(spec) = pod.spec.as_ref() {
        if spec
            .ephemeral_containers
            .as_ref()
            .is_some_and(|e| !e.is_empty())
        {
            errs.push(corten_apimachinery::FieldError::forbidden(
                &spec_path.child("ephemeralContainers"),
                "cannot be set on create",
            ));
        }
        let gated = spec
            .scheduling_gates
            .as_ref()
            .is_some_and(|g| !g.is_empty());
        if !opt(&spec.node_name).is_empty() && gated {
            errs.push(corten_apimachinery::FieldError::forbidden(
                &spec_path.child("nodeName"),
                "cannot be set until all schedulingGates have been cleared",
            ));
        }
    }
    errs
}
