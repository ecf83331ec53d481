//! Canonical resource quantities inside pod specs, and the fields upstream
//! drops because their feature gates are off by default in 1.33.
//!
//! Upstream parses every `resource.Quantity` on decode (a malformed one is a
//! 400) and always serializes the canonical form; `SetDefaults_ResourceList`
//! also rounds requests/limits up to milli precision.

use std::collections::BTreeMap;

use corten_apimachinery::quantity::{self, Quantity as ParsedQuantity};
use k8s_openapi::api::core::v1::{
    Container, EphemeralContainer, PersistentVolumeClaimSpec, PodSpec, PodTemplateSpec,
    ResourceFieldSelector, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Parses and re-renders one quantity; `field` names it in the error.
pub fn canonical_quantity(q: &mut Quantity, field: &str) -> Result<(), String> {
    quantity::canonicalize(&q.0)
        .map(|c| q.0 = c)
        .map_err(|e| format!("{field}: {e}"))
}

/// Canonical form rounded up to milli precision (upstream `RoundUp(-3)` in
/// `SetDefaults_ResourceList`).
fn canonical_milli(q: &mut Quantity, field: &str) -> Result<(), String> {
    let mut parsed = ParsedQuantity::parse(&q.0).map_err(|e| format!("{field}: {e}"))?;
    parsed.round_up(-3);
    q.0 = parsed.to_string();
    Ok(())
}

/// A ResourceList (requests, limits, overhead).
pub fn canonical_resource_list(
    list: &mut Option<BTreeMap<String, Quantity>>,
    field: &str,
) -> Result<(), String> {
    for (name, q) in list.iter_mut().flatten() {
        canonical_milli(q, &format!("{field}[{name}]"))?;
    }
    Ok(())
}

fn canonical_requirements(r: &mut Option<ResourceRequirements>, field: &str) -> Result<(), String> {
    if let Some(r) = r {
        canonical_resource_list(&mut r.requests, &format!("{field}.requests"))?;
        canonical_resource_list(&mut r.limits, &format!("{field}.limits"))?;
    }
    Ok(())
}

fn canonical_divisor(sel: &mut Option<ResourceFieldSelector>, field: &str) -> Result<(), String> {
    if let Some(q) = sel.as_mut().and_then(|s| s.divisor.as_mut()) {
        canonical_quantity(q, &format!("{field}.divisor"))?;
    }
    Ok(())
}

fn canonical_container_parts(
    resources: &mut Option<ResourceRequirements>,
    env: &mut Option<Vec<k8s_openapi::api::core::v1::EnvVar>>,
    field: &str,
) -> Result<(), String> {
    canonical_requirements(resources, &format!("{field}.resources"))?;
    for (i, e) in env.iter_mut().flatten().enumerate() {
        if let Some(vf) = e.value_from.as_mut() {
            canonical_divisor(
                &mut vf.resource_field_ref,
                &format!("{field}.env[{i}].valueFrom.resourceFieldRef"),
            )?;
        }
    }
    Ok(())
}

fn canonical_containers(cs: &mut [Container], field: &str) -> Result<(), String> {
    for (i, c) in cs.iter_mut().enumerate() {
        canonical_container_parts(&mut c.resources, &mut c.env, &format!("{field}[{i}]"))?;
    }
    Ok(())
}

fn canonical_ephemeral(cs: &mut [EphemeralContainer], field: &str) -> Result<(), String> {
    for (i, c) in cs.iter_mut().enumerate() {
        canonical_container_parts(&mut c.resources, &mut c.env, &format!("{field}[{i}]"))?;
    }
    Ok(())
}

/// Storage requests/limits of a PVC spec (volumeClaimTemplates, ephemeral volumes).
pub fn canonical_pvc_spec(spec: &mut PersistentVolumeClaimSpec, field: &str) -> Result<(), String> {
    if let Some(r) = spec.resources.as_mut() {
        canonical_resource_list(&mut r.requests, &format!("{field}.resources.requests"))?;
        canonical_resource_list(&mut r.limits, &format!("{field}.resources.limits"))?;
    }
    Ok(())
}

/// Every quantity in a pod spec.
pub fn canonical_pod_spec(spec: &mut PodSpec, field: &str) -> Result<(), String> {
    canonical_containers(&mut spec.containers, &format!("{field}.containers"))?;
    if let Some(cs) = spec.init_containers.as_mut() {
        canonical_containers(cs, &format!("{field}.initContainers"))?;
    }
    if let Some(cs) = spec.ephemeral_containers.as_mut() {
        canonical_ephemeral(cs, &format!("{field}.ephemeralContainers"))?;
    }
    canonical_resource_list(&mut spec.overhead, &format!("{field}.overhead"))?;
    canonical_requirements(&mut spec.resources, &format!("{field}.resources"))?;
    for (i, v) in spec.volumes.iter_mut().flatten().enumerate() {
        let vfield = format!("{field}.volumes[{i}]");
        if let Some(q) = v.empty_dir.as_mut().and_then(|e| e.size_limit.as_mut()) {
            canonical_quantity(q, &format!("{vfield}.emptyDir.sizeLimit"))?;
        }
        if let Some(t) = v
            .ephemeral
            .as_mut()
            .and_then(|e| e.volume_claim_template.as_mut())
        {
            canonical_pvc_spec(
                &mut t.spec,
                &format!("{vfield}.ephemeral.volumeClaimTemplate.spec"),
            )?;
        }
        for (j, item) in v
            .downward_api
            .iter_mut()
            .flat_map(|d| d.items.iter_mut().flatten())
            .enumerate()
        {
            canonical_divisor(
                &mut item.resource_field_ref,
                &format!("{vfield}.downwardAPI.items[{j}].resourceFieldRef"),
            )?;
        }
        let sources = v
            .projected
            .iter_mut()
            .flat_map(|p| p.sources.iter_mut().flatten());
        for (j, src) in sources.enumerate() {
            let items = src
                .downward_api
                .iter_mut()
                .flat_map(|d| d.items.iter_mut().flatten());
            for (k, item) in items.enumerate() {
                canonical_divisor(
                    &mut item.resource_field_ref,
                    &format!(
                        "{vfield}.projected.sources[{j}].downwardAPI.items[{k}].resourceFieldRef"
                    ),
                )?;
            }
        }
    }
    Ok(())
}

/// Every quantity in a pod template.
pub fn canonical_template(t: &mut PodTemplateSpec, field: &str) -> Result<(), String> {
    match t.spec.as_mut() {
        Some(spec) => canonical_pod_spec(spec, &format!("{field}.spec")),
        None => Ok(()),
    }
}

/// Drops fields whose feature gates are off by default in 1.33 unless the
/// old object already uses them (upstream `DropDisabledPodFields`):
/// pod-level `resources` (PodLevelResources, alpha), `image` volumes
/// (ImageVolume, beta but off) and `lifecycle.stopSignal`
/// (ContainerStopSignals, alpha).
pub fn drop_disabled_fields(spec: &mut PodSpec, old: Option<&PodSpec>) {
    if old.is_none_or(|o| o.resources.is_none()) {
        spec.resources = None;
    }
    let old_uses_image = old.is_some_and(|o| o.volumes.iter().flatten().any(|v| v.image.is_some()));
    if !old_uses_image {
        for v in spec.volumes.iter_mut().flatten() {
            v.image = None;
        }
    }
    let old_uses_stop = old.is_some_and(|o| {
        o.containers
            .iter()
            .chain(o.init_containers.iter().flatten())
            .any(|c| {
                c.lifecycle
                    .as_ref()
                    .is_some_and(|l| l.stop_signal.is_some())
            })
    });
    if !old_uses_stop {
        let all = spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut().flatten());
        for c in all {
            if let Some(l) = c.lifecycle.as_mut() {
                l.stop_signal = None;
            }
        }
        for c in spec.ephemeral_containers.iter_mut().flatten() {
            if let Some(l) = c.lifecycle.as_mut() {
                l.stop_signal = None;
            }
        }
    }
}

/// [`drop_disabled_fields`] for a template (upstream `DropDisabledTemplateFields`).
pub fn drop_disabled_template_fields(t: &mut PodTemplateSpec, old: Option<&PodTemplateSpec>) {
    if let Some(spec) = t.spec.as_mut() {
        drop_disabled_fields(spec, old.and_then(|o| o.spec.as_ref()));
    }
}
