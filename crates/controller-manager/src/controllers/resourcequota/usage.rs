//! What objects use of a quota (upstream's quota evaluators for pods,
//! services, PVCs and object counts), in milli-units, and how sums are
//! written back as quantities.

use std::collections::BTreeMap;

use corten_apimachinery::quantity::{Format, Quantity};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, ResourceRequirements, Service};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;

use crate::framework::pod_readiness::phase;

/// A running total of one quota resource.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Total {
    /// The sum in milli-units.
    pub milli: i128,
    /// The first quantity added was binary (`Mi`, `Gi`): print the sum so.
    pub binary: bool,
    /// Whether anything was added.
    pub seen: bool,
}

/// Usage by quota resource name.
pub type Usage = BTreeMap<String, Total>;

fn add_milli(usage: &mut Usage, name: &str, milli: i128, binary: bool) {
    let total = usage.entry(name.to_string()).or_default();
    if !total.seen {
        total.binary = binary;
        total.seen = true;
    }
    total.milli += milli;
}

fn add_quantity(usage: &mut Usage, name: &str, quantity: &ApiQuantity) {
    if let Ok(q) = Quantity::parse(&quantity.0) {
        add_milli(
            usage,
            name,
            i128::from(q.milli_value()),
            q.format() == Format::BinarySI,
        );
    }
}

/// Counts one object under `name`.
pub fn add_count(usage: &mut Usage, name: &str) {
    add_milli(usage, name, 1000, false);
}

/// Writes a total the way upstream's `Quantity.Add` would leave it.
pub fn format_total(total: &Total) -> String {
    corten_apimachinery::quantity::format_milli_sum(total.milli, total.binary)
}

/// Whether the typed evaluators (pods, services, claims and the legacy
/// core object counts) compute the quota resource `name`; those are
/// written as 0 when nothing uses them.
pub fn typed_tracks(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "pods",
        "cpu",
        "memory",
        "ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
        "services",
        "services.loadbalancers",
        "services.nodeports",
        "persistentvolumeclaims",
        "requests.storage",
        "configmaps",
        "secrets",
        "replicationcontrollers",
        "resourcequotas",
    ];
    const COUNTED: &[&str] = &[
        "pods",
        "services",
        "persistentvolumeclaims",
        "configmaps",
        "secrets",
        "replicationcontrollers",
        "resourcequotas",
    ];
    NAMES.contains(&name)
        || name
            .strip_prefix("count/")
            .is_some_and(|r| COUNTED.contains(&r))
        || name.starts_with("hugepages-")
        || name.starts_with("requests.hugepages-")
        // Extended resources: `requests.<domain>/<name>`.
        || name
            .strip_prefix("requests.")
            .is_some_and(|r| r.contains('/') && !r.contains("kubernetes.io/"))
        || name.split_once(".storageclass.storage.k8s.io/").is_some_and(|(_, r)| {
            matches!(r, "persistentvolumeclaims" | "requests.storage")
        })
}

/// Whether the pod still uses quota (upstream `QuotaV1Pod`: not finished).
pub fn pod_counts(pod: &Pod) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed")
}

/// QoS class BestEffort: no container asks for or limits cpu or memory
/// (other resources do not change the class).
pub fn is_best_effort(pod: &Pod) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return true;
    };
    let positive = |m: Option<&BTreeMap<String, ApiQuantity>>| {
        m.into_iter().flatten().any(|(name, q)| {
            matches!(name.as_str(), "cpu" | "memory")
                && Quantity::parse(&q.0).is_ok_and(|q| q.milli_value() > 0)
        })
    };
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .filter_map(|c| c.resources.as_ref())
        .all(|r| !positive(r.requests.as_ref()) && !positive(r.limits.as_ref()))
}

/// The Terminating scope: `activeDeadlineSeconds` >= 0.
pub fn is_terminating(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.active_deadline_seconds)
        .is_some_and(|d| d >= 0)
}

/// Whether a pod (anti-)affinity term names other namespaces (the
/// `CrossNamespacePodAffinity` scope).
pub fn uses_cross_namespace_affinity(pod: &Pod) -> bool {
    let Some(affinity) = pod.spec.as_ref().and_then(|s| s.affinity.as_ref()) else {
        return false;
    };
    let terms =
        |required: Option<&Vec<k8s_openapi::api::core::v1::PodAffinityTerm>>,
         preferred: Option<&Vec<k8s_openapi::api::core::v1::WeightedPodAffinityTerm>>| {
            required
                .into_iter()
                .flatten()
                .chain(
                    preferred
                        .into_iter()
                        .flatten()
                        .map(|w| &w.pod_affinity_term),
                )
                .any(|t| {
                    t.namespaces.as_ref().is_some_and(|n| !n.is_empty())
                        || t.namespace_selector.is_some()
                })
        };
    affinity.pod_affinity.as_ref().is_some_and(|a| {
        terms(
            a.required_during_scheduling_ignored_during_execution
                .as_ref(),
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref(),
        )
    }) || affinity.pod_anti_affinity.as_ref().is_some_and(|a| {
        terms(
            a.required_during_scheduling_ignored_during_execution
                .as_ref(),
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref(),
        )
    })
}

/// Requests or limits of the pod as the scheduler sees them: the larger of
/// the containers' sum and the largest init container, plus overhead.
fn pod_resources(
    pod: &Pod,
    pick: fn(&ResourceRequirements) -> Option<&BTreeMap<String, ApiQuantity>>,
) -> BTreeMap<String, Total> {
    let mut sum: Usage = BTreeMap::new();
    let Some(spec) = pod.spec.as_ref() else {
        return sum;
    };
    for c in &spec.containers {
        for (name, q) in c.resources.as_ref().and_then(pick).into_iter().flatten() {
            add_quantity(&mut sum, name, q);
        }
    }
    for c in spec.init_containers.iter().flatten() {
        let mut one = BTreeMap::new();
        for (name, q) in c.resources.as_ref().and_then(pick).into_iter().flatten() {
            add_quantity(&mut one, name, q);
        }
        for (name, total) in one {
            let entry = sum.entry(name).or_insert(total);
            if total.milli > entry.milli {
                *entry = total;
            }
        }
    }
    for (name, q) in spec.overhead.iter().flatten() {
        add_quantity(&mut sum, name, q);
    }
    sum
}

/// Adds a pod's usage: `count/pods`, `pods`, `requests.*` (and `cpu`,
/// `memory`, `ephemeral-storage` as requests), `limits.*`.
pub fn add_pod(usage: &mut Usage, pod: &Pod) {
    // `count/pods` counts every stored pod; `pods` and the compute
    // resources only those not finished (upstream `PodUsageFunc`).
    add_count(usage, "count/pods");
    if !pod_counts(pod) {
        return;
    }
    add_count(usage, "pods");
    for (name, total) in pod_resources(pod, |r| r.requests.as_ref()) {
        let mut names = vec![format!("requests.{name}")];
        if matches!(name.as_str(), "cpu" | "memory" | "ephemeral-storage") {
            names.push(name.clone());
        }
        for n in names {
            add_milli(usage, &n, total.milli, total.binary);
        }
    }
    for (name, total) in pod_resources(pod, |r| r.limits.as_ref()) {
        add_milli(usage, &format!("limits.{name}"), total.milli, total.binary);
    }
}

/// Adds a Service: `services`, `services.loadbalancers`, `services.nodeports`.
pub fn add_service(usage: &mut Usage, service: &Service) {
    add_count(usage, "services");
    add_count(usage, "count/services");
    let spec = service.spec.as_ref();
    let type_ = spec.and_then(|s| s.type_.as_deref()).unwrap_or("ClusterIP");
    if type_ == "LoadBalancer" {
        add_count(usage, "services.loadbalancers");
    }
    if matches!(type_, "NodePort" | "LoadBalancer") {
        let ports = spec.and_then(|s| s.ports.as_ref()).map_or(0, Vec::len);
        add_milli(usage, "services.nodeports", 1000 * ports as i128, false);
    }
}

/// Adds a PVC: `persistentvolumeclaims`, `requests.storage`, and the same
/// per StorageClass (`<class>.storageclass.storage.k8s.io/...`).
pub fn add_pvc(usage: &mut Usage, pvc: &PersistentVolumeClaim) {
    add_count(usage, "persistentvolumeclaims");
    add_count(usage, "count/persistentvolumeclaims");
    let spec = pvc.spec.as_ref();
    let class = spec.and_then(|s| s.storage_class_name.clone());
    if let Some(class) = &class {
        add_count(
            usage,
            &format!("{class}.storageclass.storage.k8s.io/persistentvolumeclaims"),
        );
    }
    let storage = spec
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"));
    if let Some(storage) = storage {
        add_quantity(usage, "requests.storage", storage);
        if let Some(class) = &class {
            add_quantity(
                usage,
                &format!("{class}.storageclass.storage.k8s.io/requests.storage"),
                storage,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(resources: serde_json::Value, phase: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [
                {"name": "a", "image": "i", "resources": resources},
                {"name": "b", "image": "i", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}}
            ],
            "initContainers": [{"name": "init", "image": "i", "resources": {"requests": {"cpu": "2"}}}]},
            "status": {"phase": phase}
        }))
        .unwrap()
    }

    fn used(usage: &Usage, name: &str) -> String {
        format_total(&usage[name])
    }

    #[test]
    fn pods_use_requests_limits_and_counts() {
        let mut usage = Usage::new();
        add_pod(
            &mut usage,
            &pod(
                json!({"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}),
                "Running",
            ),
        );
        add_pod(
            &mut usage,
            &pod(
                json!({"requests": {"cpu": "100m", "memory": "128Mi"}}),
                "Pending",
            ),
        );
        add_pod(
            &mut usage,
            &pod(json!({"requests": {"cpu": "100m"}}), "Succeeded"),
        );
        assert_eq!(used(&usage, "pods"), "2");
        // The init container's 2 CPUs beat the containers' 350m.
        assert_eq!(used(&usage, "requests.cpu"), "4");
        assert_eq!(used(&usage, "cpu"), "4");
        assert_eq!(used(&usage, "requests.memory"), "384Mi");
        assert_eq!(used(&usage, "memory"), "384Mi");
        assert_eq!(used(&usage, "limits.memory"), "256Mi");
        assert!(!is_best_effort(&pod(json!({}), "Running")));
    }

    #[test]
    fn totals_print_like_quantities() {
        let t = |milli: i128, binary: bool| {
            format_total(&Total {
                milli,
                binary,
                seen: true,
            })
        };
        assert_eq!(t(350, false), "350m");
        assert_eq!(t(2000, false), "2");
        assert_eq!(t(2_000_000, false), "2k");
        assert_eq!(t(1000 * 1536 * 1024, true), "1536Ki");
        assert_eq!(t(1000 * 1024 * 1024 * 1024, true), "1Gi");
        assert_eq!(t(0, true), "0");
    }

    #[test]
    fn services_and_claims() {
        let mut usage = Usage::new();
        let svc: Service = serde_json::from_value(
            json!({"spec": {"type": "LoadBalancer", "ports": [{"port": 80}, {"port": 443}]}}),
        )
        .unwrap();
        add_service(&mut usage, &svc);
        assert_eq!(used(&usage, "services.loadbalancers"), "1");
        assert_eq!(used(&usage, "services.nodeports"), "2");
        let pvc: PersistentVolumeClaim =
            serde_json::from_value(json!({"spec": {"storageClassName": "fast",
            "resources": {"requests": {"storage": "1Gi"}}}}))
            .unwrap();
        add_pvc(&mut usage, &pvc);
        add_pvc(&mut usage, &pvc);
        assert_eq!(used(&usage, "requests.storage"), "2Gi");
        assert_eq!(
            used(
                &usage,
                "fast.storageclass.storage.k8s.io/persistentvolumeclaims"
            ),
            "2"
        );
    }
}
