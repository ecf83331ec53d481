//! Upstream's `predicateAdmitHandler` without I/O: does a pod fit this
//! node next to the pods already admitted? The checks are the scheduler's
//! (the same crate code kube-scheduler runs), in upstream's order:
//!
//! 1. the pod's `kubernetes.io/os` label and `spec.os` (`PodOSSelectorNodeLabelDoesNotMatch`,
//!    `PodOSNotSupported`);
//! 2. resources (`OutOfpods`, `OutOfcpu`, `OutOfmemory`, `OutOfephemeral-storage`,
//!    `OutOf<extended resource>`), counting the requests of the admitted pods as
//!    the scheduler does (init containers, sidecars, overhead);
//! 3. required node affinity and `nodeSelector` (`NodeAffinity`), `spec.nodeName`
//!    (`NodeName`), host ports (`NodePorts`);
//! 4. `NoExecute` taints the pod does not tolerate (`TaintToleration`), static
//!    pods excepted.
//!
//! Only the first failure is reported, as upstream.

use corten_scheduler::framework::node_selector::RequiredNodeAffinity;
use corten_scheduler::framework::pod_info::HostPort;
use corten_scheduler::framework::resource::{
    self, CPU, EPHEMERAL_STORAGE, MEMORY, PODS, Resource, is_extended_resource_name,
};
use corten_scheduler::framework::taints::{NO_EXECUTE, tolerated_by_any};
use k8s_openapi::api::core::v1::{Node, Pod};

/// The operating system this kubelet runs pods for.
const NODE_OS: &str = "linux";
/// The pod/node label naming the operating system.
const OS_LABEL: &str = "kubernetes.io/os";

/// Upstream's admission failure reasons (`pkg/kubelet/lifecycle`).
pub mod reasons {
    /// The pod's `kubernetes.io/os` label names another OS.
    pub const POD_OS_SELECTOR: &str = "PodOSSelectorNodeLabelDoesNotMatch";
    /// `spec.os.name` names another OS.
    pub const POD_OS_NOT_SUPPORTED: &str = "PodOSNotSupported";
    /// An error while admitting that fits no other reason.
    pub const UNEXPECTED_ADMISSION_ERROR: &str = "UnexpectedAdmissionError";
    /// Prefix of the insufficient-resource reasons.
    pub const INSUFFICIENT_RESOURCE_PREFIX: &str = "OutOf";
    /// Not enough CPU.
    pub const OUT_OF_CPU: &str = "OutOfcpu";
    /// Not enough memory.
    pub const OUT_OF_MEMORY: &str = "OutOfmemory";
    /// Not enough ephemeral storage.
    pub const OUT_OF_EPHEMERAL_STORAGE: &str = "OutOfephemeral-storage";
    /// `maxPods` reached.
    pub const OUT_OF_PODS: &str = "OutOfpods";
    /// The scheduler plugin names used as reasons.
    pub const NODE_AFFINITY: &str = "NodeAffinity";
    /// `spec.nodeName` is another node.
    pub const NODE_NAME: &str = "NodeName";
    /// A host port is taken.
    pub const NODE_PORTS: &str = "NodePorts";
    /// An untolerated `NoExecute` taint.
    pub const TAINT_TOLERATION: &str = "TaintToleration";
}

/// Why a pod was not admitted: upstream's reason and message (the pod
/// status message is `Pod was rejected: <message>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// One word, e.g. `OutOfcpu`.
    pub reason: String,
    /// The explanation.
    pub message: String,
}

impl Rejection {
    /// A rejection with `reason` and `message`.
    pub fn new(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Rejection {
            reason: reason.into(),
            message: message.into(),
        }
    }

    fn predicate(name: &str, description: &str) -> Self {
        Rejection::new(name, format!("Predicate {name} failed: {description}"))
    }
}

/// The node as admission sees it: the Node object (labels, taints) and
/// its allocatable resources.
#[derive(Debug, Clone)]
pub struct NodeFacts<'a> {
    /// The Node (registered, or the one the kubelet would register).
    pub node: &'a Node,
    /// Allocatable resources in the scheduler's units.
    pub allocatable: Resource,
}

/// One reason a pod does not fit (upstream's `PredicateFailureReason`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Not enough of a resource.
    Insufficient(Insufficient),
    /// Another predicate failed.
    Predicate(Rejection),
}

impl Failure {
    /// The reason and message reported for it.
    pub fn rejection(&self) -> Rejection {
        match self {
            Failure::Insufficient(i) => i.rejection(),
            Failure::Predicate(r) => r.clone(),
        }
    }
}

/// Whether `pod` may start beside `admitted` (the other active pods) on
/// `facts`. `is_static` skips the taint check, as upstream. Only the first
/// failure is reported.
pub fn admit(
    pod: &Pod,
    admitted: &[&Pod],
    facts: &NodeFacts<'_>,
    is_static: bool,
) -> Result<(), Rejection> {
    match failures(pod, admitted, facts, is_static) {
        Err(rejection) => Err(rejection),
        Ok(failures) => failures.first().map_or(Ok(()), |f| Err(f.rejection())),
    }
}

/// The OS checks (`Err`: the pod cannot run here whatever else happens),
/// then every fit failure in upstream's order (empty: the pod fits).
pub fn failures(
    pod: &Pod,
    admitted: &[&Pod],
    facts: &NodeFacts<'_>,
    is_static: bool,
) -> Result<Vec<Failure>, Rejection> {
    if let Some(os) = pod.metadata.labels.as_ref().and_then(|l| l.get(OS_LABEL))
        && os != NODE_OS
    {
        return Err(Rejection::new(
            reasons::POD_OS_SELECTOR,
            "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label",
        ));
    }
    if let Some(os) = pod.spec.as_ref().and_then(|s| s.os.as_ref())
        && os.name != NODE_OS
    {
        return Err(Rejection::new(
            reasons::POD_OS_NOT_SUPPORTED,
            "Failed to admit pod as the OS field doesn't match node OS",
        ));
    }
    let mut out: Vec<Failure> = insufficient_resources(pod, admitted, &facts.allocatable)
        .into_iter()
        .map(Failure::Insufficient)
        .collect();
    if !RequiredNodeAffinity::of_pod(pod).matches(facts.node) {
        out.push(Failure::Predicate(Rejection::predicate(
            reasons::NODE_AFFINITY,
            corten_scheduler::plugins::node_affinity::ERR_REASON_POD,
        )));
    }
    let node_name = facts.node.metadata.name.as_deref().unwrap_or_default();
    if let Some(wanted) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref())
        && !wanted.is_empty()
        && wanted != node_name
    {
        out.push(Failure::Predicate(Rejection::predicate(
            reasons::NODE_NAME,
            corten_scheduler::plugins::node_name::ERR_REASON,
        )));
    }
    let wanted = host_ports(pod);
    if !wanted.is_empty() {
        let taken: Vec<HostPort> = admitted.iter().flat_map(|p| host_ports(p)).collect();
        if wanted
            .iter()
            .any(|w| taken.iter().any(|t| w.conflicts_with(t)))
        {
            out.push(Failure::Predicate(Rejection::predicate(
                reasons::NODE_PORTS,
                corten_scheduler::plugins::node_ports::ERR_REASON,
            )));
        }
    }
    if !is_static {
        let tolerations = pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.as_deref())
            .unwrap_or_default();
        let untolerated = facts
            .node
            .spec
            .as_ref()
            .and_then(|s| s.taints.as_deref())
            .unwrap_or_default()
            .iter()
            .any(|t| t.effect == NO_EXECUTE && !tolerated_by_any(t, tolerations));
        if untolerated {
            out.push(Failure::Predicate(Rejection::predicate(
                reasons::TAINT_TOLERATION,
                "node(s) had taints that the pod didn't tolerate",
            )));
        }
    }
    Ok(out)
}

/// A resource the node does not have enough of (upstream
/// `InsufficientResourceError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insufficient {
    /// The resource name (`pods`, `cpu`, `memory`, ...).
    pub resource: String,
    /// What the pod requests (millicores for CPU, bytes, units).
    pub requested: i64,
    /// What the admitted pods request together.
    pub used: i64,
    /// The node's allocatable amount.
    pub capacity: i64,
}

impl Insufficient {
    /// How much is missing (upstream `GetInsufficientAmount`).
    pub fn missing(&self) -> i64 {
        self.requested
            .saturating_sub(self.capacity.saturating_sub(self.used))
    }

    /// The reason and message reported for it.
    pub fn rejection(&self) -> Rejection {
        let reason = match self.resource.as_str() {
            CPU => reasons::OUT_OF_CPU.to_string(),
            MEMORY => reasons::OUT_OF_MEMORY.to_string(),
            EPHEMERAL_STORAGE => reasons::OUT_OF_EPHEMERAL_STORAGE.to_string(),
            PODS => reasons::OUT_OF_PODS.to_string(),
            other => format!("{}{other}", reasons::INSUFFICIENT_RESOURCE_PREFIX),
        };
        Rejection::new(
            reason,
            format!(
                "Node didn't have enough resource: {}, requested: {}, used: {}, capacity: {}",
                self.resource, self.requested, self.used, self.capacity
            ),
        )
    }
}

/// Every resource `pod` does not fit in, in upstream's order (pods, cpu,
/// memory, ephemeral-storage, then scalar resources by name). Extended
/// resources the node does not list are ignored (cluster-level resources).
pub fn insufficient_resources(
    pod: &Pod,
    admitted: &[&Pod],
    allocatable: &Resource,
) -> Vec<Insufficient> {
    let mut out = Vec::new();
    let pod_count = i64::try_from(admitted.len()).unwrap_or(i64::MAX);
    if pod_count.saturating_add(1) > allocatable.allowed_pod_number {
        out.push(Insufficient {
            resource: PODS.into(),
            requested: 1,
            used: pod_count,
            capacity: allocatable.allowed_pod_number,
        });
    }
    let mut request = resource::pod_requests(pod, false);
    request
        .scalar
        .retain(|(name, _)| !is_extended_resource_name(name) || allocatable.has_scalar(name));
    if request.is_zero_request() {
        return out;
    }
    let mut used = Resource::default();
    for other in admitted {
        used.add(&resource::pod_requests(other, false));
    }
    let mut check = |name: &str, requested: i64, used: i64, capacity: i64| {
        if requested > 0 && requested > capacity.saturating_sub(used) {
            out.push(Insufficient {
                resource: name.to_string(),
                requested,
                used,
                capacity,
            });
        }
    };
    check(
        CPU,
        request.milli_cpu,
        used.milli_cpu,
        allocatable.milli_cpu,
    );
    check(MEMORY, request.memory, used.memory, allocatable.memory);
    check(
        EPHEMERAL_STORAGE,
        request.ephemeral_storage,
        used.ephemeral_storage,
        allocatable.ephemeral_storage,
    );
    for (name, requested) in &request.scalar {
        check(
            name,
            *requested,
            used.scalar(name),
            allocatable.scalar(name),
        );
    }
    out
}

/// The host ports a pod binds (app containers and sidecars; upstream
/// counts no other init containers).
pub fn host_ports(pod: &Pod) -> Vec<HostPort> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    spec.containers
        .iter()
        .chain(sidecars)
        .flat_map(|c| c.ports.iter().flatten())
        .filter(|p| p.host_port.unwrap_or(0) > 0)
        .map(|p| HostPort {
            ip: p
                .host_ip
                .clone()
                .filter(|ip| !ip.is_empty())
                .unwrap_or_else(|| "0.0.0.0".into()),
            protocol: p
                .protocol
                .clone()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "TCP".into()),
            port: p.host_port.unwrap_or(0),
        })
        .collect()
}
