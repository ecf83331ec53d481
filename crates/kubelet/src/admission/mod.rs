//! Pod admission (upstream's admit handlers in `HandlePodAdditions`): a pod
//! new to the kubelet is checked once, before its worker starts anything,
//! against the pods already admitted. A rejected pod gets phase `Failed`,
//! the handler's reason, the message `Pod was rejected: <message>` and a
//! Warning event with the reason and message; it never runs.
//!
//! Handlers, in upstream's order: the eviction manager's (node pressure,
//! reason `Evicted`), the sysctl allowlist ([`sysctl`], reason
//! `SysctlForbidden`), then the predicates in [`predicate`] (OS, resources,
//! node affinity, node name, host ports, `NoExecute` taints). A critical
//! pod that only lacks resources preempts other pods instead
//! ([`preemption`]); when no set of pods would free enough it is rejected
//! with `UnexpectedAdmissionError`.
//!
//! Admissions are serialized (one lock) so that two pods arriving together
//! cannot both take the last free resources; the initial pod list is
//! admitted oldest first (see [`crate::pod::source`]).

pub mod predicate;
pub mod preemption;
pub mod sysctl;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};

use corten_scheduler::framework::resource::Resource;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};

use crate::events::WARNING;
use crate::kubelet::Kubelet;
pub use predicate::Rejection;

/// Prefix of the status message of a rejected pod (upstream `rejectPod`).
pub const REJECTED_PREFIX: &str = "Pod was rejected: ";

/// The kubelet's view of its own Node object, kept by a watch
/// (`fieldSelector=metadata.name=<node>`), like upstream's node lister.
#[derive(Debug, Default)]
pub struct NodeCache(Mutex<Option<Arc<Node>>>);

impl NodeCache {
    /// The latest Node seen, if any.
    pub fn get(&self) -> Option<Arc<Node>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, node: Option<Node>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = node.map(Arc::new);
    }

    /// Watches the Node named `name` until `shutdown`.
    pub async fn run(
        self: Arc<Self>,
        client: kube::Client,
        name: String,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let api: kube::Api<Node> = kube::Api::all(client);
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let stream = watcher::watcher(api, config).default_backoff();
        tokio::pin!(stream);
        tokio::pin!(shutdown);
        loop {
            let event = tokio::select! {
                e = stream.next() => e,
                () = &mut shutdown => return,
            };
            match event {
                None => return,
                Some(Ok(Event::Apply(node) | Event::InitApply(node))) => self.set(Some(node)),
                Some(Ok(Event::Delete(_))) => self.set(None),
                Some(Ok(Event::Init | Event::InitDone)) => {}
                Some(Err(err)) => tracing::debug!(error = %err, "watching the node"),
            }
        }
    }
}

fn is_terminal(phase: Option<&str>) -> bool {
    matches!(phase, Some("Succeeded" | "Failed"))
}

impl Kubelet {
    /// The current phase of a pod: the status manager's, else the API's.
    fn current_phase(&self, pod: &Pod) -> Option<String> {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        self.status
            .get(uid)
            .or_else(|| pod.status.clone())
            .and_then(|s| s.phase)
    }

    /// The pods admitted before and still active (not terminal), except
    /// `uid`. New pods enter `pods` under the admission lock, so every
    /// other pod there went through admission.
    pub(crate) fn admitted_pods(&self, uid: &str) -> Vec<Pod> {
        let pods: Vec<Pod> = self
            .pods
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|p| p.metadata.uid.as_deref() != Some(uid))
            .cloned()
            .collect();
        pods.into_iter()
            .filter(|p| !is_terminal(self.current_phase(p).as_deref()))
            .collect()
    }

    /// The Node as admission sees it: the watched object, or the one the
    /// kubelet registers (upstream `getNodeAnyWay`); allocatable from the
    /// object's status when it has one, else the kubelet's own figure.
    pub(crate) fn admission_node(&self) -> (Arc<Node>, Resource) {
        let node = self
            .node_cache
            .get()
            .unwrap_or_else(|| Arc::new(crate::node::initial_node(&self.config, &self.machine)));
        let allocatable = node
            .status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref())
            .unwrap_or(&self.allocatable);
        let allocatable = Resource::from_list(allocatable);
        (node, allocatable)
    }

    /// Runs the admit handlers for `pod` against `admitted`.
    fn can_admit(&self, pod: &Pod, admitted: &[Pod]) -> Result<(), Rejection> {
        if let Some(message) = self.eviction.admit(pod) {
            return Err(Rejection::new(crate::eviction::REASON, message));
        }
        self.sysctls.admit(pod)?;
        let (node, allocatable) = self.admission_node();
        let facts = predicate::NodeFacts {
            node: &node,
            allocatable,
        };
        let others: Vec<&Pod> = admitted.iter().collect();
        let failures = predicate::failures(
            pod,
            &others,
            &facts,
            crate::pod::static_pods::is_static(pod),
        )?;
        let Some(first) = failures.first() else {
            return Ok(());
        };
        if !crate::eviction::rank::is_critical(pod) {
            return Err(first.rejection());
        }
        // A critical pod is only rejected for reasons preemption cannot fix.
        if let Some(other) = failures
            .iter()
            .find(|f| matches!(f, predicate::Failure::Predicate(_)))
        {
            return Err(other.rejection());
        }
        let insufficient: Vec<predicate::Insufficient> = failures
            .into_iter()
            .filter_map(|f| match f {
                predicate::Failure::Insufficient(i) => Some(i),
                predicate::Failure::Predicate(_) => None,
            })
            .collect();
        match preemption::pods_to_preempt(pod, &others, &insufficient) {
            Ok(victims) => {
                for victim in victims {
                    self.preempt(victim);
                }
                Ok(())
            }
            Err(message) => Err(Rejection::new(
                predicate::reasons::UNEXPECTED_ADMISSION_ERROR,
                format!(
                    "Unexpected error while attempting to recover from admission failure: preemption: error finding a set of pods to preempt: {message}"
                ),
            )),
        }
    }

    /// Stops `victim` to make room for a critical pod: phase Failed, reason
    /// `Preempting`, a `DisruptionTarget` condition, a Warning event; its
    /// worker stops the containers with the pod's grace period.
    fn preempt(&self, victim: &Pod) {
        let uid = victim.metadata.uid.clone().unwrap_or_default();
        tracing::info!(
            pod = %victim.metadata.name.as_deref().unwrap_or_default(),
            "preempting a pod to admit a critical pod"
        );
        self.recorder.pod(
            victim,
            None,
            WARNING,
            preemption::REASON,
            preemption::MESSAGE,
        );
        let mut status = self
            .status
            .get(&uid)
            .or_else(|| victim.status.clone())
            .unwrap_or_default();
        status.phase = Some("Failed".into());
        status.reason = Some(preemption::REASON.into());
        status.message = Some(preemption::MESSAGE.into());
        let mut conditions = status.conditions.take().unwrap_or_default();
        conditions.retain(|c| c.type_ != crate::pod::evict::DISRUPTION_TARGET);
        conditions.push(k8s_openapi::api::core::v1::PodCondition {
            type_: crate::pod::evict::DISRUPTION_TARGET.into(),
            status: "True".into(),
            reason: Some(crate::pod::evict::TERMINATION_BY_KUBELET.into()),
            message: Some(preemption::CONDITION_MESSAGE.into()),
            last_transition_time: Some(crate::time::now()),
            ..Default::default()
        });
        status.conditions = Some(conditions);
        self.status.set(victim, status);
        self.poke(&uid);
    }

    /// Admits a pod new to the kubelet, or rejects it (status Failed with
    /// the reason, a Warning event). Pods being deleted or already terminal
    /// are not admitted again, as upstream. Returns whether it was admitted.
    /// The caller holds the admission lock.
    pub(crate) fn admit_new_pod(&self, pod: &Pod) -> bool {
        if pod.metadata.deletion_timestamp.is_some()
            || is_terminal(self.current_phase(pod).as_deref())
        {
            return true;
        }
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let admitted = self.admitted_pods(uid);
        let Err(rejection) = self.can_admit(pod, &admitted) else {
            return true;
        };
        tracing::info!(
            pod = %pod.metadata.name.as_deref().unwrap_or_default(),
            namespace = %pod.metadata.namespace.as_deref().unwrap_or_default(),
            reason = %rejection.reason,
            message = %rejection.message,
            "pod admission denied"
        );
        crate::metrics::admission_rejected(&rejection.reason);
        self.recorder.pod(
            pod,
            None,
            WARNING,
            &rejection.reason,
            rejection.message.clone(),
        );
        let mut status = self
            .status
            .get(uid)
            .or_else(|| pod.status.clone())
            .unwrap_or_default();
        status.phase = Some("Failed".into());
        status.reason = Some(rejection.reason);
        status.message = Some(format!("{REJECTED_PREFIX}{}", rejection.message));
        status.qos_class = Some(crate::pod::qos::qos_class(pod).as_str().to_string());
        self.status.set(pod, status);
        false
    }
}
