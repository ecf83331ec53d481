//! Critical pods are not rejected for lack of resources: the kubelet
//! preempts other pods to make room (upstream's
//! `CriticalPodAdmissionHandler`). This module chooses whom, without I/O.
//!
//! Candidates are the admitted pods the critical pod may preempt (not
//! critical, or critical with a lower priority), taken BestEffort first,
//! then Burstable, then Guaranteed: first the fewest Guaranteed pods needed
//! if every other pod went, then the Burstable ones needed beside those,
//! then the BestEffort ones. Within a class the pod closest to the missing
//! amounts goes first (upstream's distance), ties to the smaller requests.

use k8s_openapi::api::core::v1::Pod;

use super::predicate::Insufficient;
use corten_scheduler::framework::resource::pod_requests;

use crate::eviction::rank::is_critical;
use crate::pod::qos::{QosClass, qos_class};

/// Reason, event and status message of a preempted pod (upstream's).
pub const REASON: &str = "Preempting";
/// Its status message and event message.
pub const MESSAGE: &str = "Preempted in order to admit critical pod";
/// Message of the `DisruptionTarget` condition.
pub const CONDITION_MESSAGE: &str = "Pod was preempted by Kubelet to accommodate a critical pod.";

/// An amount of a resource still to free.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    resource: String,
    quantity: i64,
}

/// The pod's request of `resource` in the scheduler's unit (millicores for
/// CPU); 1 for `pods`.
fn request(pod: &Pod, resource: &str) -> i64 {
    if resource == "pods" {
        1
    } else {
        pod_requests(pod, false).get(resource)
    }
}

/// What is left of `requirements` once `pods` are gone.
fn subtract(requirements: &[Requirement], pods: &[&Pod]) -> Vec<Requirement> {
    requirements
        .iter()
        .filter_map(|r| {
            let freed: i64 = pods.iter().map(|p| request(p, &r.resource)).sum();
            let left = r.quantity.saturating_sub(freed);
            (left > 0).then(|| Requirement {
                resource: r.resource.clone(),
                quantity: left,
            })
        })
        .collect()
}

fn describe(requirements: &[Requirement]) -> String {
    let parts: String = requirements
        .iter()
        .map(|r| format!("(res: {}, q: {}), ", r.resource, r.quantity))
        .collect();
    format!("[{parts}]")
}

fn distance(requirements: &[Requirement], pod: &Pod) -> f64 {
    requirements
        .iter()
        .map(|r| {
            let remaining = (r.quantity - request(pod, &r.resource)) as f64;
            if remaining > 0.0 {
                (remaining / r.quantity as f64).powi(2)
            } else {
                0.0
            }
        })
        .sum()
}

fn smaller_request(a: &Pod, b: &Pod) -> bool {
    for resource in ["memory", "cpu"] {
        let (x, y) = (request(a, resource), request(b, resource));
        if x != y {
            return x < y;
        }
    }
    false
}

fn by_distance(
    mut pods: Vec<&Pod>,
    mut requirements: Vec<Requirement>,
) -> Result<Vec<&Pod>, String> {
    let mut chosen = Vec::new();
    while !requirements.is_empty() {
        if pods.is_empty() {
            return Err(format!(
                "no set of running pods found to reclaim resources: {}",
                describe(&requirements)
            ));
        }
        let mut best = 0;
        let mut best_distance = f64::MAX;
        for (i, pod) in pods.iter().enumerate() {
            let d = distance(&requirements, pod);
            if d < best_distance || (d == best_distance && smaller_request(pod, pods[best])) {
                best = i;
                best_distance = d;
            }
        }
        let pod = pods.swap_remove(best);
        requirements = subtract(&requirements, &[pod]);
        chosen.push(pod);
    }
    Ok(chosen)
}

fn priority(pod: &Pod) -> Option<i32> {
    pod.spec.as_ref().and_then(|s| s.priority)
}

/// Whether `preemptor` may preempt `victim` (upstream `Preemptable`).
fn preemptable(preemptor: &Pod, victim: &Pod) -> bool {
    if is_critical(preemptor) && !is_critical(victim) {
        return true;
    }
    matches!((priority(preemptor), priority(victim)), (Some(a), Some(b)) if a > b)
}

/// The pods to preempt so that `pod` fits, given what it lacks. `Err`
/// carries upstream's message when no set of pods frees enough.
pub fn pods_to_preempt<'a>(
    pod: &Pod,
    admitted: &[&'a Pod],
    insufficient: &[Insufficient],
) -> Result<Vec<&'a Pod>, String> {
    let requirements: Vec<Requirement> = insufficient
        .iter()
        .map(|i| Requirement {
            resource: i.resource.clone(),
            quantity: i.missing(),
        })
        .collect();
    let (mut best_effort, mut burstable, mut guaranteed) = (Vec::new(), Vec::new(), Vec::new());
    for p in admitted.iter().copied().filter(|p| preemptable(pod, p)) {
        match qos_class(p) {
            QosClass::BestEffort => best_effort.push(p),
            QosClass::Burstable => burstable.push(p),
            QosClass::Guaranteed => guaranteed.push(p),
        }
    }
    let everyone: Vec<&Pod> = best_effort
        .iter()
        .chain(&burstable)
        .chain(&guaranteed)
        .copied()
        .collect();
    let unmet = subtract(&requirements, &everyone);
    if !unmet.is_empty() {
        return Err(format!(
            "no set of running pods found to reclaim resources: {}",
            describe(&unmet)
        ));
    }
    let lesser: Vec<&Pod> = best_effort.iter().chain(&burstable).copied().collect();
    let guaranteed = by_distance(guaranteed, subtract(&requirements, &lesser))?;
    let others: Vec<&Pod> = best_effort.iter().chain(&guaranteed).copied().collect();
    let burstable = by_distance(burstable, subtract(&requirements, &others))?;
    let others: Vec<&Pod> = burstable.iter().chain(&guaranteed).copied().collect();
    let best_effort = by_distance(best_effort, subtract(&requirements, &others))?;
    Ok(best_effort
        .into_iter()
        .chain(burstable)
        .chain(guaranteed)
        .collect())
}
