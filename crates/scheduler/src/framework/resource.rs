//! Resource amounts as the scheduler counts them (upstream's
//! `framework.Resource`): CPU in millicores, memory and ephemeral storage in
//! bytes, the pod count, and "scalar" resources (extended resources such as
//! `example.com/gpu`, `hugepages-*`, `attachable-volumes-*`) in units.
//!
//! Also the pod request arithmetic of upstream's `resourcehelper.PodRequests`:
//! the sum of the app containers and sidecars, the maximum with each init
//! container (plus the sidecars started before it), plus the pod overhead.

use std::collections::BTreeMap;

use corten_apimachinery::quantity::Quantity as ParsedQuantity;
use k8s_openapi::api::core::v1::{Container, ContainerStatus, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// CPU assumed for a container without a CPU request, when scoring (100m).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Memory assumed for a container without a memory request, when scoring
/// (200 MiB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// `cpu`
pub const CPU: &str = "cpu";
/// `memory`
pub const MEMORY: &str = "memory";
/// `ephemeral-storage`
pub const EPHEMERAL_STORAGE: &str = "ephemeral-storage";
/// `pods`
pub const PODS: &str = "pods";

/// An amount of each resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resource {
    /// CPU in millicores.
    pub milli_cpu: i64,
    /// Memory in bytes.
    pub memory: i64,
    /// Ephemeral storage in bytes.
    pub ephemeral_storage: i64,
    /// Number of pods (only meaningful for allocatable).
    pub allowed_pod_number: i64,
    /// Scalar resources, sorted by name.
    pub scalar: Vec<(String, i64)>,
}

/// Whether `name` is a scalar resource: an extended resource (a
/// domain-prefixed name), a `kubernetes.io/` prefixed native resource,
/// `hugepages-*` or `attachable-volumes-*` (upstream `IsScalarResourceName`).
pub fn is_scalar_resource_name(name: &str) -> bool {
    name.contains('/') || name.starts_with("hugepages-") || name.starts_with("attachable-volumes-")
}

/// Whether `name` is an extended resource: domain-prefixed, outside the
/// `kubernetes.io/` domain and not a quota `requests.` name.
pub fn is_extended_resource_name(name: &str) -> bool {
    name.contains('/') && !name.contains("kubernetes.io/") && !name.starts_with("requests.")
}

/// Parses a quantity in the unit the scheduler counts `name` in (millicores
/// for CPU, units for everything else). Unparsable quantities count as 0:
/// the apiserver validates them, and a scheduler must never panic on input.
pub fn quantity_value(name: &str, quantity: &Quantity) -> i64 {
    match ParsedQuantity::parse(&quantity.0) {
        Ok(q) if name == CPU => q.milli_value(),
        Ok(q) => q.value(),
        Err(_) => 0,
    }
}

impl Resource {
    /// The amounts of a resource list (`requests`, `allocatable`, `overhead`).
    pub fn from_list(list: &BTreeMap<String, Quantity>) -> Self {
        let mut resource = Resource::default();
        resource.add_list(list);
        resource
    }

    /// Adds a resource list.
    pub fn add_list(&mut self, list: &BTreeMap<String, Quantity>) {
        for (name, quantity) in list {
            let value = quantity_value(name, quantity);
            self.add_named(name, value);
        }
    }

    /// Adds `value` of resource `name`. Names that are neither native nor
    /// scalar are ignored, like upstream.
    pub fn add_named(&mut self, name: &str, value: i64) {
        match name {
            CPU => self.milli_cpu = self.milli_cpu.saturating_add(value),
            MEMORY => self.memory = self.memory.saturating_add(value),
            EPHEMERAL_STORAGE => {
                self.ephemeral_storage = self.ephemeral_storage.saturating_add(value)
            }
            PODS => self.allowed_pod_number = self.allowed_pod_number.saturating_add(value),
            _ if is_scalar_resource_name(name) => {
                let slot = self.scalar_slot(name);
                slot.1 = slot.1.saturating_add(value);
            }
            _ => {}
        }
    }

    fn scalar_slot(&mut self, name: &str) -> &mut (String, i64) {
        let at = match self.scalar.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(at) => at,
            Err(at) => {
                self.scalar.insert(at, (name.to_string(), 0));
                at
            }
        };
        &mut self.scalar[at]
    }

    /// The amount of scalar resource `name` (0 when absent).
    pub fn scalar(&self, name: &str) -> i64 {
        self.scalar
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .map_or(0, |at| self.scalar[at].1)
    }

    /// Whether the scalar resource `name` is listed (even as 0).
    pub fn has_scalar(&self, name: &str) -> bool {
        self.scalar
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .is_ok()
    }

    /// The amount of resource `name` in the scheduler's unit.
    pub fn get(&self, name: &str) -> i64 {
        match name {
            CPU => self.milli_cpu,
            MEMORY => self.memory,
            EPHEMERAL_STORAGE => self.ephemeral_storage,
            PODS => self.allowed_pod_number,
            _ => self.scalar(name),
        }
    }

    /// Adds `other` (every resource, scalars included).
    pub fn add(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.saturating_add(other.milli_cpu);
        self.memory = self.memory.saturating_add(other.memory);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_add(other.ephemeral_storage);
        self.allowed_pod_number = self
            .allowed_pod_number
            .saturating_add(other.allowed_pod_number);
        for (name, value) in &other.scalar {
            let slot = self.scalar_slot(name);
            slot.1 = slot.1.saturating_add(*value);
        }
    }

    /// Subtracts `other` (the inverse of [`Resource::add`]).
    pub fn sub(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.saturating_sub(other.milli_cpu);
        self.memory = self.memory.saturating_sub(other.memory);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_sub(other.ephemeral_storage);
        self.allowed_pod_number = self
            .allowed_pod_number
            .saturating_sub(other.allowed_pod_number);
        for (name, value) in &other.scalar {
            let slot = self.scalar_slot(name);
            slot.1 = slot.1.saturating_sub(*value);
        }
    }

    /// Raises every resource to at least `other`'s amount.
    pub fn set_max(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        self.allowed_pod_number = self.allowed_pod_number.max(other.allowed_pod_number);
        for (name, value) in &other.scalar {
            let slot = self.scalar_slot(name);
            slot.1 = slot.1.max(*value);
        }
    }

    /// Whether nothing is requested (CPU, memory, storage and scalars all 0).
    pub fn is_zero_request(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalar.iter().all(|(_, v)| *v == 0)
    }
}

/// The request lists that count for a container (upstream 1.33
/// `determineContainerReqs`, InPlacePodVerticalScaling on by default):
/// while the kubelet reports the container's resources, the larger of the
/// spec, what is actuated (`status.resources`) and what is allocated
/// (`allocatedResources`), so a pending resize holds the bigger of old and
/// new; an infeasible resize counts only what the node actually gave.
fn request_lists<'a>(
    infeasible: bool,
    container: &'a Container,
    status: Option<&'a ContainerStatus>,
) -> Vec<&'a BTreeMap<String, Quantity>> {
    let spec = container
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref());
    let Some(status) = status.filter(|s| s.resources.is_some()) else {
        return spec.into_iter().collect();
    };
    let actuated = status.resources.as_ref().and_then(|r| r.requests.as_ref());
    let allocated = status.allocated_resources.as_ref();
    let mut lists: Vec<&BTreeMap<String, Quantity>> = Vec::new();
    if !infeasible {
        lists.extend(spec);
    }
    lists.extend(actuated);
    lists.extend(allocated);
    lists
}

fn container_requests(
    lists: &[&BTreeMap<String, Quantity>],
    non_missing_defaults: bool,
) -> Resource {
    let mut resource = Resource::default();
    for list in lists {
        resource.set_max(&Resource::from_list(list));
    }
    if non_missing_defaults {
        let has = |name: &str| lists.iter().any(|r| r.contains_key(name));
        if !has(CPU) {
            resource.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
        }
        if !has(MEMORY) {
            resource.memory = DEFAULT_MEMORY_REQUEST;
        }
    }
    resource
}

/// Whether the kubelet said the pod's resize cannot be done (1.33's
/// `PodResizePending` condition with reason `Infeasible`, or the older
/// `status.resize`).
fn resize_infeasible(pod: &Pod) -> bool {
    let Some(status) = pod.status.as_ref() else {
        return false;
    };
    status.resize.as_deref() == Some("Infeasible")
        || status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "PodResizePending" && c.reason.as_deref() == Some("Infeasible"))
}

fn status_of<'a>(
    statuses: Option<&'a Vec<ContainerStatus>>,
    name: &str,
) -> Option<&'a ContainerStatus> {
    statuses?.iter().find(|s| s.name == name)
}

/// The pod's effective requests (upstream `resourcehelper.PodRequests`).
///
/// With `non_missing_defaults`, a container without a CPU (memory) request
/// counts as 100m (200 MiB): what scoring uses so that best-effort pods
/// still spread.
pub fn pod_requests(pod: &Pod, non_missing_defaults: bool) -> Resource {
    let Some(spec) = pod.spec.as_ref() else {
        return Resource::default();
    };
    let infeasible = resize_infeasible(pod);
    let statuses = pod.status.as_ref();
    let container_statuses = statuses.and_then(|s| s.container_statuses.as_ref());
    let init_statuses = statuses.and_then(|s| s.init_container_statuses.as_ref());
    let mut requests = Resource::default();
    for container in &spec.containers {
        let lists = request_lists(
            infeasible,
            container,
            status_of(container_statuses, &container.name),
        );
        requests.add(&container_requests(&lists, non_missing_defaults));
    }
    // Sidecars (restartable init containers) run beside the app containers
    // and beside every init container started after them.
    let mut sidecars = Resource::default();
    let mut init_max = Resource::default();
    for container in spec.init_containers.iter().flatten() {
        let is_sidecar = container.restart_policy.as_deref() == Some("Always");
        // Sidecars can be resized in place too; plain init containers cannot.
        let status = if is_sidecar {
            status_of(init_statuses, &container.name)
        } else {
            None
        };
        let own = container_requests(
            &request_lists(infeasible, container, status),
            non_missing_defaults,
        );
        let during = if is_sidecar {
            requests.add(&own);
            sidecars.add(&own);
            sidecars.clone()
        } else {
            let mut during = own;
            during.add(&sidecars);
            during
        };
        init_max.set_max(&during);
    }
    requests.set_max(&init_max);
    if let Some(overhead) = spec.overhead.as_ref() {
        requests.add_list(overhead);
    }
    // Pods never carry a pod count.
    requests.allowed_pod_number = 0;
    requests
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).unwrap()
    }

    #[test]
    fn parses_lists_with_scalars() {
        let list: BTreeMap<String, Quantity> = serde_json::from_value(json!({
            "cpu": "1500m", "memory": "1Gi", "pods": "110", "ephemeral-storage": "10Gi",
            "example.com/gpu": "2", "hugepages-2Mi": "4Mi", "weird": "5"
        }))
        .unwrap();
        let r = Resource::from_list(&list);
        assert_eq!(r.milli_cpu, 1500);
        assert_eq!(r.memory, 1 << 30);
        assert_eq!(r.allowed_pod_number, 110);
        assert_eq!(r.ephemeral_storage, 10 << 30);
        assert_eq!(r.scalar("example.com/gpu"), 2);
        assert_eq!(r.scalar("hugepages-2Mi"), 4 << 20);
        assert_eq!(r.get("weird"), 0);
        assert!(is_extended_resource_name("example.com/gpu"));
        assert!(!is_extended_resource_name("kubernetes.io/foo"));
        assert!(!is_extended_resource_name("cpu"));
    }

    #[test]
    fn pod_requests_follow_upstream_rules() {
        // Two app containers, a big init container, a sidecar, overhead.
        let p = pod(json!({
            "initContainers": [
                {"name": "sidecar", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}},
                {"name": "init", "resources": {"requests": {"cpu": "2", "memory": "1Gi"}}}
            ],
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "200m", "memory": "100Mi"}}},
                {"name": "b", "resources": {"requests": {"cpu": "300m"}}}
            ],
            "overhead": {"cpu": "10m"}
        }));
        let r = pod_requests(&p, false);
        // max(200+300+100, 2000+100) + 10
        assert_eq!(r.milli_cpu, 2110);
        assert_eq!(r.memory, 1 << 30);
        let nz = pod_requests(&p, true);
        // b and the sidecar have no memory request: 200Mi each; the init
        // container runs beside the sidecar: max(1Gi + 200Mi, 100Mi + 2 * 200Mi).
        assert_eq!(nz.memory, (1 << 30) + DEFAULT_MEMORY_REQUEST);
        let empty = pod(json!({"containers": [{"name": "a"}]}));
        assert!(pod_requests(&empty, false).is_zero_request());
        let defaults = pod_requests(&empty, true);
        assert_eq!(
            (defaults.milli_cpu, defaults.memory),
            (DEFAULT_MILLI_CPU_REQUEST, DEFAULT_MEMORY_REQUEST)
        );
    }

    fn resizing(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {
                "containers": [{"name": "app", "resources": {"requests": {"cpu": "2", "memory": "1Gi"}}}],
                "initContainers": [{"name": "log", "restartPolicy": "Always",
                    "resources": {"requests": {"cpu": "100m"}}}]
            },
            "status": status
        }))
        .unwrap()
    }

    #[test]
    fn in_place_resizes_count_the_larger_of_old_and_new() {
        // Scaled up from 1 to 2 CPUs and down from 2Gi to 1Gi, not yet
        // actuated: both larger values are held.
        let pod = resizing(json!({
            "containerStatuses": [{"name": "app", "image": "i", "imageID": "", "ready": true, "restartCount": 0,
                "allocatedResources": {"cpu": "1", "memory": "2Gi"},
                "resources": {"requests": {"cpu": "1", "memory": "2Gi"}}}],
            "initContainerStatuses": [{"name": "log", "image": "i", "imageID": "", "ready": true, "restartCount": 0,
                "allocatedResources": {"cpu": "300m"},
                "resources": {"requests": {"cpu": "300m"}}}]
        }));
        let r = pod_requests(&pod, false);
        assert_eq!(r.milli_cpu, 2300);
        assert_eq!(r.memory, 2 << 30);
        // Allocated but not yet actuated counts too.
        let pod = resizing(json!({
            "containerStatuses": [{"name": "app", "image": "i", "imageID": "", "ready": true, "restartCount": 0,
                "allocatedResources": {"cpu": "3"},
                "resources": {"requests": {"cpu": "1"}}}]
        }));
        assert_eq!(pod_requests(&pod, false).milli_cpu, 3100);
        // An infeasible resize: only what the node runs counts.
        let pod = resizing(json!({
            "conditions": [{"type": "PodResizePending", "status": "True", "reason": "Infeasible"}],
            "containerStatuses": [{"name": "app", "image": "i", "imageID": "", "ready": true, "restartCount": 0,
                "allocatedResources": {"cpu": "1", "memory": "512Mi"},
                "resources": {"requests": {"cpu": "1", "memory": "512Mi"}}}]
        }));
        let r = pod_requests(&pod, false);
        assert_eq!(r.milli_cpu, 1100);
        assert_eq!(r.memory, 512 << 20);
        // No reported resources (no resize support, or not started): spec.
        let pod = resizing(json!({
            "containerStatuses": [{"name": "app", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "allocatedResources": {"cpu": "8"}}]
        }));
        assert_eq!(pod_requests(&pod, false).milli_cpu, 2100);
    }

    #[test]
    fn garbage_quantities_count_as_zero() {
        let p =
            pod(json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "lots"}}}]}));
        assert_eq!(pod_requests(&p, false).milli_cpu, 0);
        assert_eq!(pod_requests(&Pod::default(), false), Resource::default());
    }
}
