//! In-place pod resize (upstream 1.33, InPlacePodVerticalScaling beta and
//! on): the allocation manager's bookkeeping, the feasibility decision,
//! actuation through CRI `UpdateContainerResources` (or a restart when the
//! container's `resizePolicy` asks for one) and the status it reports.
//!
//! Three views of a container's resources:
//! * desired: the pod spec (what `pods/resize` last wrote);
//! * allocated: what the kubelet accepted (the spec at admission, then
//!   each feasible resize); containers are created with it, so a resize
//!   that is not allocated yet never leaks into a (re)started container;
//! * actuated: what was applied to each running container instance.
//!
//! Status (1.33): `containerStatuses[].resources` is the actuated view,
//! `allocatedResources` only with InPlacePodVerticalScalingAllocatedStatus
//! (deprecated, off), and the `PodResizePending` (Infeasible or Deferred)
//! and `PodResizeInProgress` conditions replace the deprecated
//! `status.resize`.
//!
//! The bookkeeping lives in memory: after a kubelet restart the spec is
//! taken as allocated and running containers as actuated with it.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use corten_scheduler::framework::resource::{Resource, pod_requests};
use k8s_openapi::api::core::v1::{
    Container, ContainerStatus, Pod, PodCondition, PodStatus, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::runtime_pod::RuntimePod;
use super::{lifecycle, qos};
use crate::admission::predicate;
use crate::events::NORMAL;
use crate::kubelet::Kubelet;

/// The condition of a resize the kubelet has not allocated yet.
pub const PENDING: &str = "PodResizePending";
/// The condition of an allocated resize not yet applied to every
/// running container.
pub const IN_PROGRESS: &str = "PodResizeInProgress";
/// `PodResizePending` reason: the node can never fit the new resources.
pub const INFEASIBLE: &str = "Infeasible";
/// `PodResizePending` reason: the node cannot fit them now.
pub const DEFERRED: &str = "Deferred";
/// `PodResizeInProgress` reason when applying the resize failed.
pub const ERROR: &str = "Error";

const ALLOCATED_STATUS_GATE: &str = "InPlacePodVerticalScalingAllocatedStatus";

/// Resources by container name.
type ByName = BTreeMap<String, ResourceRequirements>;

/// One pod's resize bookkeeping.
#[derive(Clone, Debug, Default)]
struct PodAllocation {
    /// Accepted resources by container name.
    allocated: ByName,
    /// Applied resources by container id.
    actuated: HashMap<String, ResourceRequirements>,
    /// Why the desired resources are not allocated: (reason, message).
    pending: Option<(String, String)>,
    /// The last failure to apply the allocated resources.
    error: Option<String>,
}

/// The allocation manager: per pod uid.
#[derive(Debug, Default)]
pub struct Allocations {
    pods: Mutex<HashMap<String, PodAllocation>>,
}

impl Allocations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, PodAllocation>> {
        self.pods.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets a removed pod.
    pub fn forget(&self, uid: &str) {
        self.lock().remove(uid);
    }

    /// Whether a resize of the pod waits for room on the node.
    pub fn has_pending(&self, uid: &str) -> bool {
        self.lock().get(uid).is_some_and(|a| a.pending.is_some())
    }
}

/// Containers that can be resized: app containers and sidecars.
fn resizable(pod: &Pod) -> impl Iterator<Item = &Container> {
    pod.spec.iter().flat_map(|s| {
        s.containers.iter().chain(
            s.init_containers
                .iter()
                .flatten()
                .filter(|c| c.restart_policy.as_deref() == Some("Always")),
        )
    })
}

fn normalized(r: Option<&ResourceRequirements>) -> ResourceRequirements {
    let mut r = r.cloned().unwrap_or_default();
    r.claims = None;
    r.requests = r.requests.filter(|m| !m.is_empty());
    r.limits = r.limits.filter(|m| !m.is_empty());
    r
}

/// The spec's resources of the resizable containers.
fn desired(pod: &Pod) -> ByName {
    resizable(pod)
        .map(|c| (c.name.clone(), normalized(c.resources.as_ref())))
        .collect()
}

/// `pod` with `resources` for the named containers.
fn with_resources(pod: &Pod, resources: &ByName) -> Pod {
    let mut out = pod.clone();
    let Some(spec) = out.spec.as_mut() else {
        return out;
    };
    let containers = spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten());
    for c in containers {
        if let Some(r) = resources.get(&c.name) {
            let claims = c.resources.as_ref().and_then(|r| r.claims.clone());
            c.resources = Some(ResourceRequirements {
                claims,
                ..r.clone()
            });
        }
    }
    out
}

/// A pod that asks only for what `resources` says, as admission sees it.
fn requesting(pod: &Pod, resources: &ByName) -> Pod {
    let mut p = with_resources(pod, resources);
    p.status = None;
    p
}

/// Which of cpu and memory differ between two requirement sets.
fn changed(a: &ResourceRequirements, b: &ResourceRequirements) -> Vec<&'static str> {
    let get = |r: &ResourceRequirements, list: bool, name: &str| {
        let m = if list { &r.requests } else { &r.limits };
        m.as_ref().and_then(|m| m.get(name)).cloned()
    };
    ["cpu", "memory"]
        .into_iter()
        .filter(|name| {
            get(a, true, name) != get(b, true, name) || get(a, false, name) != get(b, false, name)
        })
        .collect()
}

fn restart_policy<'a>(c: &'a Container, resource: &str) -> &'a str {
    c.resize_policy
        .iter()
        .flatten()
        .find(|p| p.resource_name == resource)
        .map_or("NotRequired", |p| p.restart_policy.as_str())
}

impl Kubelet {
    /// Upstream `handlePodResourcesResize`: allocates the desired
    /// resources when they fit (else notes why not) and returns the pod
    /// with its allocated resources, which the sync runs (the pod itself,
    /// not a copy, when the allocation is its spec: the usual sync).
    pub(crate) fn allocate_resize<'a>(&self, pod: &'a Pod) -> Cow<'a, Pod> {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let desired = desired(pod);
        {
            let mut pods = self.allocations.lock();
            match pods.get_mut(&uid) {
                None => {
                    // First sight: admission accepted the spec.
                    pods.insert(
                        uid,
                        PodAllocation {
                            allocated: desired,
                            ..Default::default()
                        },
                    );
                    return Cow::Borrowed(pod);
                }
                // The common case: no resize asked for.
                Some(a) if a.allocated == desired => {
                    a.pending = None;
                    return Cow::Borrowed(pod);
                }
                Some(_) => {}
            }
        }
        // One decision at a time, as admission: two pods growing at once
        // must not both take the last free CPU.
        let _admission = self.admission.lock().unwrap_or_else(|e| e.into_inner());
        let others = self.admitted_pods(&uid);
        let mut pods = self.allocations.lock();
        let others: Vec<Pod> = others
            .iter()
            .map(|o| {
                let ouid = o.metadata.uid.as_deref().unwrap_or_default();
                match pods.get(ouid) {
                    Some(a) => requesting(o, &a.allocated),
                    None => o.clone(),
                }
            })
            .collect();
        let verdict = self.resize_fit(&requesting(pod, &desired), &others);
        let Some(a) = pods.get_mut(&uid) else {
            return Cow::Borrowed(pod);
        };
        match verdict {
            Ok(()) => {
                tracing::info!(pod = %pod.metadata.name.as_deref().unwrap_or_default(), "resize allocated");
                a.allocated = desired;
                a.pending = None;
            }
            Err((reason, message)) => {
                if a.pending.as_ref().is_none_or(|(r, _)| *r != reason) {
                    tracing::info!(pod = %pod.metadata.name.as_deref().unwrap_or_default(), %reason, %message, "resize pending");
                }
                a.pending = Some((reason, message));
            }
        }
        Cow::Owned(with_resources(pod, &a.allocated))
    }

    /// Upstream `canResizePod`: Infeasible when the pod alone exceeds the
    /// node's allocatable cpu or memory, Deferred when it does not fit
    /// beside the other pods' allocations now.
    fn resize_fit(&self, pod: &Pod, others: &[Pod]) -> Result<(), (String, String)> {
        let (_, allocatable) = self.admission_node();
        let want: Resource = pod_requests(pod, false);
        if want.memory > allocatable.memory {
            return Err((
                INFEASIBLE.into(),
                format!(
                    "Node didn't have enough capacity: memory, requested: {}, capacity: {}",
                    want.memory, allocatable.memory
                ),
            ));
        }
        if want.milli_cpu > allocatable.milli_cpu {
            return Err((
                INFEASIBLE.into(),
                format!(
                    "Node didn't have enough capacity: cpu, requested: {}, capacity: {}",
                    want.milli_cpu, allocatable.milli_cpu
                ),
            ));
        }
        let others: Vec<&Pod> = others.iter().collect();
        match predicate::insufficient_resources(pod, &others, &allocatable).first() {
            None => Ok(()),
            Some(short) => Err((DEFERRED.into(), short.rejection().message)),
        }
    }

    /// Applies the allocated resources to the running containers of
    /// `pod` (its allocated view): `UpdateContainerResources`, or a kill
    /// when a changed resource's `resizePolicy` is `RestartContainer` (the
    /// sync then starts it again with the new resources). Returns whether
    /// a container was killed.
    pub(crate) async fn actuate_resize(&self, pod: &Pod, runtime: &RuntimePod) -> bool {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let mut restarted = false;
        let mut error = None;
        for c in resizable(pod) {
            let Some(rc) = runtime.latest(&c.name).filter(|rc| rc.is_running()) else {
                continue;
            };
            let allocated = normalized(c.resources.as_ref());
            let applied = {
                let mut pods = self.allocations.lock();
                let Some(a) = pods.get_mut(&uid) else {
                    return false;
                };
                // Unknown instance: started with the allocation of the time.
                a.actuated
                    .entry(rc.id.clone())
                    .or_insert_with(|| allocated.clone())
                    .clone()
            };
            let resources = changed(&applied, &allocated);
            if resources.is_empty() {
                continue;
            }
            if resources
                .iter()
                .any(|r| restart_policy(c, r) == "RestartContainer")
            {
                restarted = true;
                let message = format!("Container {} resize requires restart", c.name);
                let grace = lifecycle::grace_period(pod, c, None, None);
                let pod_ip = runtime
                    .latest_sandbox()
                    .and_then(|s| s.ips.first().cloned())
                    .unwrap_or_default();
                let init = !pod
                    .spec
                    .as_ref()
                    .is_some_and(|s| s.containers.iter().any(|x| x.name == c.name));
                if let Err(err) = lifecycle::kill_container(
                    &self.runtime,
                    &self.recorder,
                    pod,
                    Some(c),
                    init,
                    &rc.id,
                    &c.name,
                    grace,
                    Some(&message),
                    &pod_ip,
                    self.probes.network(),
                )
                .await
                {
                    error = Some(format!("killing {}: {}", c.name, err.message()));
                }
                continue;
            }
            let memory = i64::try_from(self.machine.memory_bytes).unwrap_or(i64::MAX);
            let linux = qos::linux_resources(pod, c, memory);
            match self.runtime.update_container_resources(&rc.id, linux).await {
                Ok(()) => {
                    tracing::info!(container = %c.name, ?resources, "container resized");
                    if let Some(a) = self.allocations.lock().get_mut(&uid) {
                        a.actuated.insert(rc.id.clone(), allocated);
                    }
                }
                Err(err) => {
                    error = Some(format!(
                        "error updating resources of container {}: {}",
                        c.name,
                        err.message()
                    ));
                }
            }
        }
        let live: Vec<&str> = runtime.containers.iter().map(|c| c.id.as_str()).collect();
        if let Some(a) = self.allocations.lock().get_mut(&uid) {
            a.actuated.retain(|id, _| live.contains(&id.as_str()));
            if error.is_some() {
                self.recorder.pod(
                    pod,
                    None,
                    crate::events::WARNING,
                    "ResizeError",
                    error.clone().unwrap_or_default(),
                );
            }
            a.error = error;
        }
        if restarted {
            self.recorder.pod(
                pod,
                None,
                NORMAL,
                "ResizeRestart",
                "Restarting containers to apply a resize",
            );
        }
        restarted
    }

    /// Rewrites the generated status for resize (see the module doc):
    /// container `resources`, optionally `allocatedResources`, and the
    /// resize conditions.
    pub(crate) fn resize_status(&self, pod: &Pod, runtime: &RuntimePod, status: &mut PodStatus) {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let Some(a) = self.allocations.lock().get(uid).cloned() else {
            return;
        };
        let allocated_status = corten_component_base::feature_gates::global()
            .enabled(ALLOCATED_STATUS_GATE)
            .unwrap_or(false);
        let mut in_progress = false;
        let lists = [
            status.container_statuses.as_mut(),
            status.init_container_statuses.as_mut(),
        ];
        for s in lists.into_iter().flatten().flat_map(|l| l.iter_mut()) {
            let Some(allocated) = a.allocated.get(&s.name) else {
                continue;
            };
            let running = runtime.latest(&s.name).filter(|rc| rc.is_running());
            let shown = match running.and_then(|rc| a.actuated.get(&rc.id)) {
                Some(applied) => {
                    in_progress |= !changed(applied, allocated).is_empty();
                    applied.clone()
                }
                None => allocated.clone(),
            };
            set_resources(s, &shown, allocated, allocated_status, running.is_some());
        }
        in_progress |= a.error.is_some();
        let now = crate::time::now();
        let conditions = status.conditions.get_or_insert_with(Vec::new);
        let old: Vec<PodCondition> = conditions
            .iter()
            .chain(
                pod.status
                    .iter()
                    .flat_map(|s| s.conditions.iter().flatten()),
            )
            .filter(|c| c.type_ == PENDING || c.type_ == IN_PROGRESS)
            .cloned()
            .collect();
        conditions.retain(|c| c.type_ != PENDING && c.type_ != IN_PROGRESS);
        if let Some((reason, message)) = &a.pending {
            conditions.push(resize_condition(&old, PENDING, reason, message, &now));
        }
        if in_progress {
            let (reason, message) = match &a.error {
                Some(m) => (ERROR, m.as_str()),
                None => ("", ""),
            };
            conditions.push(resize_condition(&old, IN_PROGRESS, reason, message, &now));
        }
    }
}

/// A running container always reports `resources` (`{}` without any):
/// the apiserver takes a running container without them for a node that
/// cannot resize (upstream `isPodResizeRequestSupported`).
fn set_resources(
    s: &mut ContainerStatus,
    shown: &ResourceRequirements,
    allocated: &ResourceRequirements,
    allocated_status: bool,
    running: bool,
) {
    let empty = shown.requests.is_none() && shown.limits.is_none();
    s.resources = (running || !empty).then(|| shown.clone());
    if allocated_status {
        s.allocated_resources = allocated.requests.clone();
    }
}

/// Upstream `updatedPodResizeCondition`: a true condition whose transition
/// time moves only when the reason changes. The probe time is kept while
/// nothing changes too, so a steady pending resize writes no status.
fn resize_condition(
    old: &[PodCondition],
    type_: &str,
    reason: &str,
    message: &str,
    now: &Time,
) -> PodCondition {
    let previous = old.iter().find(|c| c.type_ == type_);
    let same = previous.is_some_and(|p| p.reason.as_deref().unwrap_or("") == reason);
    let unchanged = same && previous.is_some_and(|p| p.message.as_deref().unwrap_or("") == message);
    PodCondition {
        type_: type_.to_string(),
        status: "True".to_string(),
        reason: (!reason.is_empty()).then(|| reason.to_string()),
        message: (!message.is_empty()).then(|| message.to_string()),
        last_transition_time: if same {
            previous.and_then(|p| p.last_transition_time.clone())
        } else {
            Some(now.clone())
        },
        last_probe_time: if unchanged {
            previous.and_then(|p| p.last_probe_time.clone())
        } else {
            Some(now.clone())
        },
        observed_generation: None,
    }
}

#[cfg(test)]
mod tests;
