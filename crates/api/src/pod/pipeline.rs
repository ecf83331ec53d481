//! The typed create and update pipelines of pods: the body is decoded
//! once, every hook runs on the typed pod, and the result is encoded once
//! (see [`crate::pipeline`]). Each function matches what the hooks of
//! [`super::PodStrategy`] do one by one.

use corten_apimachinery::names::{
    is_dns1123_subdomain, validate_object_meta, validate_object_meta_update,
};
use corten_apimachinery::{ErrorList, Path};
use k8s_openapi::api::core::v1::Pod;
use serde::Deserialize;
use serde_json::Value;

use super::{
    PodStrategy, canonicalize_pod, default_pod, prepare_pod_create, prepare_pod_status_update,
    prepare_pod_update, update, validate_pod_create, validate_pod_update,
};
use crate::pipeline::{
    PipelineError, Prepared, StoreSteps, Typed, UpdateTarget, decode_canonical,
    prepare_update_with_hooks,
};
use crate::typed::to_value;

/// `canonicalize` -> store steps -> `prepare_for_create` -> `default`.
pub(super) fn prepare_create(
    obj: Value,
    steps: &mut dyn StoreSteps,
) -> Result<Prepared, PipelineError> {
    let mut pod: Pod = decode_canonical(&obj, steps, canonicalize_pod)?;
    drop(obj);
    steps.metadata(&mut pod.metadata, None)?;
    // The generic part of prepare_for_create; the status it clears is
    // replaced by prepare_pod_create anyway.
    pod.status = None;
    pod.metadata.generation = Some(1);
    prepare_pod_create(&mut pod);
    default_pod(&mut pod);
    Ok(Prepared::from_typed(Typed {
        object: pod,
        old: None,
    }))
}

/// `validate` of a prepared pod.
pub(super) fn validate_create(value: &Prepared, pod: &Pod) -> ErrorList {
    let mut errs = validate_object_meta(
        value.metadata_json(),
        true,
        is_dns1123_subdomain,
        &Path::new("metadata"),
    );
    errs.extend(validate_pod_create(pod));
    errs
}

/// `canonicalize` -> store steps -> `prepare_for_update` -> `default`, or
/// `prepare_for_status_update` for `/status`.
pub(super) fn prepare_update(
    strategy: &PodStrategy,
    new: Value,
    old: &Value,
    target: UpdateTarget,
    steps: &mut dyn StoreSteps,
) -> Result<Prepared, PipelineError> {
    let Ok(old_pod) = Pod::deserialize(old) else {
        return prepare_update_with_hooks(strategy, new, old, target, steps);
    };
    let mut pod: Pod = decode_canonical(&new, steps, canonicalize_pod)?;
    drop(new);
    steps.metadata(&mut pod.metadata, Some(&old_pod.metadata))?;
    match target {
        UpdateTarget::Main => {
            prepare_pod_update(&mut pod, old_pod.spec.as_ref());
            // default_prepare_for_update: status from the stored object,
            // generation bumped when the spec changed.
            let changed = spec_changed(&pod, old);
            let old_generation = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let generation = if changed {
                old_generation + 1
            } else {
                old_generation
            };
            pod.metadata.generation = Some(generation.max(1));
            pod.status = old_pod.status.clone();
            default_pod(&mut pod);
        }
        UpdateTarget::Status => prepare_pod_status_update(&mut pod, &old_pod),
    }
    Ok(Prepared::from_typed(Typed {
        object: pod,
        old: Some(old_pod),
    }))
}

/// [`crate::strategy::spec_changed`] between the pod as it will be encoded
/// and the stored JSON: a pod's only such field is `spec`.
fn spec_changed(pod: &Pod, old: &Value) -> bool {
    let Some(old) = old.as_object() else {
        return true;
    };
    let mut rest = old
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind"));
    match (&pod.spec, rest.next(), rest.next()) {
        (None, None, _) => false,
        (Some(spec), Some((k, v)), None) => k != "spec" || *v != to_value(spec),
        _ => true,
    }
}

/// `validate_update` or `validate_status_update` of a prepared pod.
pub(super) fn validate_update(
    value: &Prepared,
    pod: &Pod,
    old: &Value,
    old_pod: &Pod,
    target: UpdateTarget,
) -> ErrorList {
    let mut errs = validate_object_meta_update(
        value.metadata_json(),
        old,
        true,
        is_dns1123_subdomain,
        &Path::new("metadata"),
    );
    match target {
        UpdateTarget::Main => errs.extend(validate_pod_update(pod, old_pod)),
        UpdateTarget::Status => errs.extend(update::validate_pod_status_update(pod, old_pod)),
    }
    errs
}

/// [`super::PodStrategy::field_attrs`] of a typed pod.
pub(super) fn field_attrs(pod: &Pod) -> Vec<(String, String)> {
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let text = |v: Option<&String>| v.cloned().unwrap_or_default();
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let pod_ip = status
        .and_then(|s| s.pod_ips.as_ref())
        .and_then(|ips| ips.first())
        .map(|ip| ip.ip.clone())
        .unwrap_or_default();
    vec![
        (
            "spec.nodeName".into(),
            text(spec.and_then(|s| s.node_name.as_ref())),
        ),
        (
            "spec.restartPolicy".into(),
            text(spec.and_then(|s| s.restart_policy.as_ref())),
        ),
        (
            "spec.schedulerName".into(),
            text(spec.and_then(|s| s.scheduler_name.as_ref())),
        ),
        (
            "spec.serviceAccountName".into(),
            text(spec.and_then(|s| s.service_account_name.as_ref())),
        ),
        ("spec.hostNetwork".into(), host_network.to_string()),
        (
            "status.phase".into(),
            text(status.and_then(|s| s.phase.as_ref())),
        ),
        ("status.podIP".into(), pod_ip),
        (
            "status.nominatedNodeName".into(),
            text(status.and_then(|s| s.nominated_node_name.as_ref())),
        ),
    ]
}
