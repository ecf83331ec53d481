//! A pod with everything the plugins need precomputed once (upstream's
//! `framework.PodInfo`): requests, affinity terms with compiled selectors,
//! host ports.

use std::collections::BTreeMap;
use std::sync::Arc;

use corten_apimachinery::labels::Selector;
use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm, Toleration, WeightedPodAffinityTerm};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::node_selector::EMPTY_LABELS;
use super::resource::{Resource, pod_requests};

/// Converts a metav1.LabelSelector (`None` matches nothing, `{}` matches
/// everything, like upstream's `LabelSelectorAsSelector`).
pub fn compile_label_selector(selector: Option<&LabelSelector>) -> Result<Selector, String> {
    let Some(selector) = selector else {
        return Ok(Selector::nothing());
    };
    let value = serde_json::to_value(selector).map_err(|e| e.to_string())?;
    Selector::from_label_selector(&value).map_err(|e| e.to_string())
}

/// A pod affinity term with its selectors compiled (upstream
/// `framework.AffinityTerm`).
#[derive(Debug, Clone)]
pub struct AffinityTerm {
    /// Namespaces named by the term (or the pod's own namespace when the
    /// term names none and has no namespace selector). Sorted.
    pub namespaces: Vec<String>,
    /// Namespaces selected by labels; `Selector::nothing()` when unset.
    pub namespace_selector: Selector,
    /// The pods the term selects.
    pub selector: Selector,
    /// The topology domain label.
    pub topology_key: String,
}

impl AffinityTerm {
    fn new(owner_namespace: &str, term: &PodAffinityTerm) -> Result<Self, String> {
        let selector = compile_label_selector(term.label_selector.as_ref())?;
        let namespace_selector = compile_label_selector(term.namespace_selector.as_ref())?;
        let listed = term.namespaces.as_deref().unwrap_or(&[]);
        let mut namespaces: Vec<String> = if listed.is_empty() && term.namespace_selector.is_none()
        {
            vec![owner_namespace.to_string()]
        } else {
            listed.to_vec()
        };
        namespaces.sort();
        namespaces.dedup();
        Ok(AffinityTerm {
            namespaces,
            namespace_selector,
            selector,
            topology_key: term.topology_key.clone(),
        })
    }

    /// Whether `pod` (whose namespace has labels `namespace_labels`) is
    /// selected by the term.
    pub fn matches(
        &self,
        pod: &PodInfo,
        namespace_labels: Option<&BTreeMap<String, String>>,
    ) -> bool {
        let in_namespace = self.namespaces.binary_search(&pod.namespace).is_ok()
            || (!self.namespace_selector.matches_nothing()
                && self
                    .namespace_selector
                    .matches(namespace_labels.unwrap_or(&EMPTY_LABELS)));
        in_namespace && self.selector.matches(pod.labels())
    }
}

/// A preferred affinity term and its weight.
#[derive(Debug, Clone)]
pub struct WeightedAffinityTerm {
    /// The term.
    pub term: AffinityTerm,
    /// Its weight (1..100).
    pub weight: i64,
}

/// A host port a pod binds: (host IP, protocol, port).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// Host IP; `0.0.0.0` when unset.
    pub ip: String,
    /// `TCP`, `UDP` or `SCTP`; `TCP` when unset.
    pub protocol: String,
    /// The port (> 0).
    pub port: i32,
}

impl HostPort {
    /// Whether two host ports cannot both be bound on one node: same
    /// protocol and port, and the same IP or either is the wildcard.
    pub fn conflicts_with(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == "0.0.0.0" || other.ip == "0.0.0.0")
    }
}

/// A pod and its precomputed scheduling data.
#[derive(Debug, Clone)]
pub struct PodInfo {
    /// The API object.
    pub pod: Arc<Pod>,
    /// `metadata.uid` (may be empty for objects built in tests).
    pub uid: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `spec.priority` (0 when unset).
    pub priority: i32,
    /// Effective requests (upstream `PodRequests`).
    pub requests: Resource,
    /// CPU request with the 100m default for containers without one.
    pub non_zero_milli_cpu: i64,
    /// Memory request with the 200Mi default for containers without one.
    pub non_zero_memory: i64,
    /// Required pod affinity terms.
    pub required_affinity_terms: Vec<AffinityTerm>,
    /// Required pod anti-affinity terms.
    pub required_anti_affinity_terms: Vec<AffinityTerm>,
    /// Preferred pod affinity terms.
    pub preferred_affinity_terms: Vec<WeightedAffinityTerm>,
    /// Preferred pod anti-affinity terms.
    pub preferred_anti_affinity_terms: Vec<WeightedAffinityTerm>,
    /// Whether the pod has any pod affinity or anti-affinity stanza.
    pub has_affinity: bool,
    /// Host ports bound by the pod's containers and sidecars.
    pub host_ports: Vec<HostPort>,
    /// PVCs the pod mounts, as `namespace/claim`.
    pub pvc_keys: Vec<String>,
    /// Why an affinity term could not be compiled, if one could not.
    pub parse_error: Option<String>,
    /// `spec.nodeName` (empty when unassigned).
    pub node_name: String,
    /// `spec.schedulerName` (`default-scheduler` when unset).
    pub scheduler_name: String,
}

fn terms(
    spec_terms: Option<&Vec<PodAffinityTerm>>,
    ns: &str,
    errors: &mut Vec<String>,
) -> Vec<AffinityTerm> {
    spec_terms
        .into_iter()
        .flatten()
        .filter_map(|t| AffinityTerm::new(ns, t).map_err(|e| errors.push(e)).ok())
        .collect()
}

fn weighted(
    spec_terms: Option<&Vec<WeightedPodAffinityTerm>>,
    ns: &str,
    errors: &mut Vec<String>,
) -> Vec<WeightedAffinityTerm> {
    spec_terms
        .into_iter()
        .flatten()
        .filter_map(|t| {
            AffinityTerm::new(ns, &t.pod_affinity_term)
                .map(|term| WeightedAffinityTerm {
                    term,
                    weight: i64::from(t.weight),
                })
                .map_err(|e| errors.push(e))
                .ok()
        })
        .collect()
}

impl PodInfo {
    /// Precomputes a pod.
    pub fn new(pod: Arc<Pod>) -> Self {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let spec = pod.spec.as_ref();
        let affinity = spec.and_then(|s| s.affinity.as_ref());
        let pod_affinity = affinity.and_then(|a| a.pod_affinity.as_ref());
        let pod_anti_affinity = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
        let mut errors = Vec::new();
        let required_affinity_terms = terms(
            pod_affinity.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            }),
            &namespace,
            &mut errors,
        );
        let required_anti_affinity_terms = terms(
            pod_anti_affinity.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            }),
            &namespace,
            &mut errors,
        );
        let preferred_affinity_terms = weighted(
            pod_affinity.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            }),
            &namespace,
            &mut errors,
        );
        let preferred_anti_affinity_terms = weighted(
            pod_anti_affinity.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            }),
            &namespace,
            &mut errors,
        );
        let mut host_ports = Vec::new();
        if let Some(spec) = spec {
            let sidecars = spec
                .init_containers
                .iter()
                .flatten()
                .filter(|c| c.restart_policy.as_deref() == Some("Always"));
            for container in spec.containers.iter().chain(sidecars) {
                for port in container.ports.iter().flatten() {
                    if port.host_port.unwrap_or(0) <= 0 {
                        continue;
                    }
                    host_ports.push(HostPort {
                        ip: port
                            .host_ip
                            .clone()
                            .filter(|ip| !ip.is_empty())
                            .unwrap_or_else(|| "0.0.0.0".to_string()),
                        protocol: port
                            .protocol
                            .clone()
                            .filter(|p| !p.is_empty())
                            .unwrap_or_else(|| "TCP".to_string()),
                        port: port.host_port.unwrap_or(0),
                    });
                }
            }
        }
        let pvc_keys = spec
            .and_then(|s| s.volumes.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|v| v.persistent_volume_claim.as_ref())
            .map(|claim| format!("{namespace}/{}", claim.claim_name))
            .collect();
        let requests = pod_requests(&pod, false);
        let non_zero = pod_requests(&pod, true);
        PodInfo {
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            priority: spec.and_then(|s| s.priority).unwrap_or(0),
            requests,
            non_zero_milli_cpu: non_zero.milli_cpu,
            non_zero_memory: non_zero.memory,
            has_affinity: pod_affinity.is_some() || pod_anti_affinity.is_some(),
            required_affinity_terms,
            required_anti_affinity_terms,
            preferred_affinity_terms,
            preferred_anti_affinity_terms,
            host_ports,
            pvc_keys,
            parse_error: (!errors.is_empty()).then(|| errors.join("; ")),
            node_name: spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
            scheduler_name: spec
                .and_then(|s| s.scheduler_name.clone())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| crate::config::DEFAULT_SCHEDULER_NAME.to_string()),
            namespace,
            pod,
        }
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The pod's labels.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        self.pod.metadata.labels.as_ref().unwrap_or(&EMPTY_LABELS)
    }

    /// The pod's tolerations.
    pub fn tolerations(&self) -> &[Toleration] {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.as_deref())
            .unwrap_or(&[])
    }

    /// Whether the pod is being deleted.
    pub fn is_terminating(&self) -> bool {
        self.pod.metadata.deletion_timestamp.is_some()
    }

    /// `status.nominatedNodeName` (empty when unset).
    pub fn nominated_node_name(&self) -> &str {
        self.pod
            .status
            .as_ref()
            .and_then(|s| s.nominated_node_name.as_deref())
            .unwrap_or("")
    }

    /// Whether the pod has required anti-affinity terms.
    pub fn has_required_anti_affinity(&self) -> bool {
        !self.required_anti_affinity_terms.is_empty()
    }

    /// A copy assigned to `node` (the scheduler's assumption before the
    /// binding is confirmed). The API object is shared, not copied:
    /// plugins read the node from [`PodInfo::node_name`].
    pub fn assumed_on(&self, node: &str) -> PodInfo {
        let mut info = self.clone();
        info.node_name = node.to_string();
        info
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn info(v: serde_json::Value) -> PodInfo {
        PodInfo::new(Arc::new(serde_json::from_value(v).unwrap()))
    }

    #[test]
    fn precomputes_terms_ports_and_requests() {
        let p = info(json!({
            "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web"}},
            "spec": {
                "priority": 7,
                "containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81}],
                    "resources": {"requests": {"cpu": "250m"}}}],
                "affinity": {
                    "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                        {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone"}]},
                    "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 10, "podAffinityTerm": {"labelSelector": {}, "namespaceSelector": {}, "topologyKey": "host"}}]}
                },
                "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]
            }
        }));
        assert_eq!(p.priority, 7);
        assert_eq!(p.requests.milli_cpu, 250);
        assert_eq!(
            p.non_zero_memory,
            crate::framework::resource::DEFAULT_MEMORY_REQUEST
        );
        assert_eq!(
            p.host_ports,
            vec![HostPort {
                ip: "0.0.0.0".into(),
                protocol: "TCP".into(),
                port: 8080
            }]
        );
        assert_eq!(
            p.required_affinity_terms[0].namespaces,
            vec!["ns".to_string()]
        );
        assert!(
            p.preferred_anti_affinity_terms[0]
                .term
                .namespaces
                .is_empty()
        );
        assert!(p.has_affinity);
        assert_eq!(p.pvc_keys, vec!["ns/data".to_string()]);
        assert_eq!(p.scheduler_name, "default-scheduler");

        let db = info(
            json!({"metadata": {"name": "d", "namespace": "ns", "labels": {"app": "db"}}, "spec": {"containers": []}}),
        );
        let other_ns = info(
            json!({"metadata": {"name": "d", "namespace": "x", "labels": {"app": "db"}}, "spec": {"containers": []}}),
        );
        assert!(p.required_affinity_terms[0].matches(&db, None));
        assert!(!p.required_affinity_terms[0].matches(&other_ns, None));
        // An empty namespace selector selects every namespace.
        assert!(
            p.preferred_anti_affinity_terms[0]
                .term
                .matches(&other_ns, None)
        );
    }

    #[test]
    fn host_port_conflicts() {
        let any = HostPort {
            ip: "0.0.0.0".into(),
            protocol: "TCP".into(),
            port: 80,
        };
        let one = HostPort {
            ip: "10.0.0.1".into(),
            protocol: "TCP".into(),
            port: 80,
        };
        let two = HostPort {
            ip: "10.0.0.2".into(),
            protocol: "TCP".into(),
            port: 80,
        };
        let udp = HostPort {
            ip: "0.0.0.0".into(),
            protocol: "UDP".into(),
            port: 80,
        };
        assert!(any.conflicts_with(&one));
        assert!(one.conflicts_with(&any));
        assert!(!one.conflicts_with(&two));
        assert!(!any.conflicts_with(&udp));
    }

    #[test]
    fn odd_pods_do_not_panic() {
        let p = PodInfo::new(Arc::new(Pod::default()));
        assert_eq!(p.key(), "/");
        assert!(p.labels().is_empty());
        assert!(p.tolerations().is_empty());
        let bad = info(json!({"metadata": {"name": "p"}, "spec": {"containers": [],
            "affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchExpressions": [{"key": "a", "operator": "Nope"}]}, "topologyKey": "z"}]}}}}));
        assert!(bad.parse_error.is_some());
    }
}
