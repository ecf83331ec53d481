//! The `pods/resize` subresource rules (upstream 1.33 `podResizeStrategy`
//! and `ValidatePodResize`, InPlacePodVerticalScaling beta and on): only
//! the containers' `resources` and `resizePolicy` change through it (and
//! a sidecar's), only cpu and memory, without changing the pod's QoS
//! class. Everything else in the request is replaced by the stored pod.

use std::collections::BTreeMap;

use corten_apimachinery::quantity::Quantity as Parsed;
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::core::v1::{Container, Pod, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::compute_qos;

/// The subresource name.
pub const RESIZE: &str = "resize";

const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// The stored pod with only the request's container `resources` and
/// `resizePolicy` (and the identifying metadata) taken from `new`. When
/// containers were added, removed, renamed or reordered the request is
/// kept as sent, so validation refuses it.
pub fn keep_only_resize_changes(new: &Pod, old: &Pod) -> Pod {
    let default_spec = Default::default();
    let new_spec = new.spec.as_ref().unwrap_or(&default_spec);
    let old_spec = old.spec.as_ref().unwrap_or(&default_spec);
    let new_inits = new_spec.init_containers.as_deref().unwrap_or_default();
    let old_inits = old_spec.init_containers.as_deref().unwrap_or_default();
    let (Some(containers), Some(inits)) = (
        merge_resources(&new_spec.containers, &old_spec.containers),
        merge_resources(new_inits, old_inits),
    ) else {
        return new.clone();
    };
    let mut pod = old.clone();
    pod.metadata.name = new.metadata.name.clone();
    pod.metadata.namespace = new.metadata.namespace.clone();
    pod.metadata.resource_version = new.metadata.resource_version.clone();
    pod.metadata.uid = new.metadata.uid.clone();
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.containers = containers;
    if spec.init_containers.is_some() {
        spec.init_containers = Some(inits);
    }
    // Upstream `updatePodGeneration`: a spec change is a new generation.
    if pod.spec != old.spec {
        pod.metadata.generation = Some(old.metadata.generation.unwrap_or(0) + 1);
    }
    pod
}

/// `old` with each container's resources and resize policy from `new`;
/// `None` when the lists do not line up by name.
fn merge_resources(new: &[Container], old: &[Container]) -> Option<Vec<Container>> {
    if new.len() != old.len() {
        return None;
    }
    old.iter()
        .zip(new)
        .map(|(o, n)| {
            (o.name == n.name).then(|| Container {
                resources: n.resources.clone(),
                resize_policy: n.resize_policy.clone(),
                ..o.clone()
            })
        })
        .collect()
}

/// The pods upstream's `ValidatePodResize` turns away whole (its answer is
/// then this one error, without the metadata and spec checks): pods with
/// pod-level resources, static pods and Windows pods.
pub fn refused_kind(new: &Pod, old: &Pod) -> Option<FieldError> {
    let root = Path::new("");
    let default_spec = Default::default();
    let new_spec = new.spec.as_ref().unwrap_or(&default_spec);
    let old_spec = old.spec.as_ref().unwrap_or(&default_spec);
    let pod_level = |s: &k8s_openapi::api::core::v1::PodSpec| {
        s.resources.as_ref().is_some_and(|r| {
            r.requests.as_ref().map_or(0, BTreeMap::len)
                + r.limits.as_ref().map_or(0, BTreeMap::len)
                > 0
        })
    };
    if pod_level(old_spec) || pod_level(new_spec) {
        return Some(FieldError::forbidden(
            &root,
            "pods with pod-level resources cannot be resized",
        ));
    }
    if old
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(MIRROR_ANNOTATION))
    {
        return Some(FieldError::forbidden(
            &root,
            "static pods cannot be resized",
        ));
    }
    if old_spec.os.as_ref().is_some_and(|os| os.name == "windows") {
        return Some(FieldError::forbidden(
            &root,
            "windows pods cannot be resized",
        ));
    }
    None
}

/// Upstream `ValidatePodResize` after [`refused_kind`], minus the metadata
/// and spec checks the caller runs: the QoS class, removed
/// requests/limits, memory limit decreases, and changes other than cpu
/// and memory.
pub fn validate_pod_resize(new: &Pod, old: &Pod) -> ErrorList {
    let default_spec = Default::default();
    let new_spec = new.spec.as_ref().unwrap_or(&default_spec);
    let old_spec = old.spec.as_ref().unwrap_or(&default_spec);
    let spec_path = Path::new("spec");
    let mut errs = Vec::new();
    let old_qos = old
        .status
        .as_ref()
        .and_then(|s| s.qos_class.as_deref())
        .filter(|q| !q.is_empty())
        .unwrap_or_else(|| compute_qos(old_spec));
    if old_qos != compute_qos(new_spec) {
        let shown = new
            .status
            .as_ref()
            .and_then(|s| s.qos_class.clone())
            .unwrap_or_default();
        errs.push(FieldError::invalid(
            &spec_path,
            shown,
            "Pod QOS Class may not change as a result of resizing",
        ));
    }
    if !node_supports_resize(old) {
        errs.push(FieldError::forbidden(
            &spec_path,
            "Pod running on node without support for resize",
        ));
    }
    if new_spec.containers.len() != old_spec.containers.len()
        || new_spec.init_containers.as_ref().map_or(0, Vec::len)
            != old_spec.init_containers.as_ref().map_or(0, Vec::len)
    {
        // Added or removed containers: nothing else is worth comparing.
        errs.push(FieldError::forbidden(
            &spec_path,
            "only cpu and memory resources are mutable",
        ));
        return errs;
    }
    let new_inits = new_spec.init_containers.as_deref().unwrap_or_default();
    let old_inits = old_spec.init_containers.as_deref().unwrap_or_default();
    for (i, (n, o)) in new_inits.iter().zip(old_inits).enumerate() {
        if is_sidecar(o) {
            errs.extend(validate_container_resize(
                n,
                o,
                &spec_path
                    .child("initContainers")
                    .index(i)
                    .child("resources"),
            ));
        }
    }
    for (i, (n, o)) in new_spec
        .containers
        .iter()
        .zip(&old_spec.containers)
        .enumerate()
    {
        errs.extend(validate_container_resize(
            n,
            o,
            &spec_path.child("containers").index(i).child("resources"),
        ));
    }
    for (n, o) in new_spec.containers.iter().zip(&old_spec.containers) {
        if &without_cpu_memory_changes(n, o) != o {
            errs.push(FieldError::forbidden(
                &spec_path,
                "only cpu and memory resources are mutable",
            ));
        }
    }
    for (n, o) in new_inits.iter().zip(old_inits) {
        if is_sidecar(o) {
            if &without_cpu_memory_changes(n, o) != o {
                errs.push(FieldError::forbidden(
                    &spec_path,
                    "only cpu and memory resources for sidecar containers are mutable",
                ));
            }
        } else if n != o {
            errs.push(FieldError::forbidden(
                &spec_path,
                "resources for non-sidecar init containers are immutable",
            ));
        }
    }
    if !errs.is_empty() {
        return errs;
    }
    // Whatever else differs (the strategy keeps only containers' resources
    // and resize policies, so this is mostly a safety net).
    let mut munged = new_spec.clone();
    for (n, o) in munged.containers.iter_mut().zip(&old_spec.containers) {
        *n = without_cpu_memory_changes(n, o);
    }
    for (n, o) in munged
        .init_containers
        .iter_mut()
        .flatten()
        .zip(old_inits)
        .filter(|(_, o)| is_sidecar(o))
    {
        *n = without_cpu_memory_changes(n, o);
    }
    if &munged != old_spec {
        errs.push(FieldError::forbidden(
            &spec_path,
            "only cpu and memory resources are mutable",
        ));
    }
    errs
}

fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// Upstream `isPodResizeRequestSupported`: a pod whose first running
/// container reports no `resources` runs on a node that cannot resize.
fn node_supports_resize(pod: &Pod) -> bool {
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref());
    statuses
        .into_iter()
        .flatten()
        .find(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
        .is_none_or(|c| c.resources.is_some())
}

/// Upstream `validateContainerResize`: requests and limits may not be
/// removed; with a `NotRequired` (or no) memory resize policy a memory
/// limit may be neither lowered nor added.
fn validate_container_resize(new: &Container, old: &Container, path: &Path) -> ErrorList {
    let empty = ResourceRequirements::default();
    let n = new.resources.as_ref().unwrap_or(&empty);
    let o = old.resources.as_ref().unwrap_or(&empty);
    let mut errs = Vec::new();
    if removed(n.requests.as_ref(), o.requests.as_ref()) {
        errs.push(FieldError::forbidden(
            &path.child("requests"),
            "resource requests cannot be removed",
        ));
    }
    if removed(n.limits.as_ref(), o.limits.as_ref()) {
        errs.push(FieldError::forbidden(
            &path.child("limits"),
            "resource limits cannot be removed",
        ));
    }
    let memory_policy = new
        .resize_policy
        .iter()
        .flatten()
        .find(|p| p.resource_name == "memory")
        .map_or("", |p| p.restart_policy.as_str());
    if memory_policy == "NotRequired" || memory_policy.is_empty() {
        let limit = |r: &ResourceRequirements| {
            r.limits
                .as_ref()
                .and_then(|l| l.get("memory"))
                .map(|q| Parsed::parse(&q.0).map(|p| p.value()).unwrap_or(0))
        };
        let key = path.child("limits").key("memory");
        match (limit(n), limit(o)) {
            (Some(new_limit), Some(old_limit)) if new_limit < old_limit => {
                errs.push(FieldError::forbidden(
                    &key,
                    "memory limits cannot be decreased unless resizePolicy is RestartContainer",
                ));
            }
            (Some(_), None) => errs.push(FieldError::forbidden(
                &key,
                "memory limits cannot be added unless resizePolicy is RestartContainer",
            )),
            _ => {}
        }
    }
    errs
}

fn removed(
    new: Option<&BTreeMap<String, Quantity>>,
    old: Option<&BTreeMap<String, Quantity>>,
) -> bool {
    old.into_iter()
        .flatten()
        .any(|(k, _)| new.is_none_or(|n| !n.contains_key(k)))
}

/// Upstream `dropCPUMemoryResourcesFromContainer`: `new` with its cpu and
/// memory requests and limits put back to `old`'s, so what is left to
/// differ is a change that may not be made.
fn without_cpu_memory_changes(new: &Container, old: &Container) -> Container {
    let munge = |list: Option<&BTreeMap<String, Quantity>>,
                 old_list: Option<&BTreeMap<String, Quantity>>| {
        let old_list = old_list?;
        let mut out = list.cloned().unwrap_or_default();
        for name in ["cpu", "memory"] {
            out.remove(name);
            if let Some(q) = old_list.get(name) {
                out.insert(name.to_string(), q.clone());
            }
        }
        Some(out)
    };
    let n = new.resources.clone().unwrap_or_default();
    let o = old.resources.clone().unwrap_or_default();
    let resources = ResourceRequirements {
        limits: munge(n.limits.as_ref(), o.limits.as_ref()),
        requests: munge(n.requests.as_ref(), o.requests.as_ref()),
        claims: n.claims.clone(),
    };
    let mut c = new.clone();
    // An absent and an empty requirements block are the same to upstream
    // (a struct, not a pointer there).
    c.resources = if resources == ResourceRequirements::default() && old.resources.is_none() {
        None
    } else {
        Some(resources)
    };
    c
}

#[cfg(test)]
mod tests;
