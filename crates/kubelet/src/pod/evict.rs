//! The kubelet side of eviction: what the eviction manager may evict and
//! how (upstream's `killPodFunc` with the eviction status function).
//!
//! Evicting sets the pod's status to phase Failed, reason `Evicted`, the
//! eviction message and a `DisruptionTarget` condition (reason
//! `TerminationByKubelet`), remembers the grace period and wakes the pod
//! worker, which sees the terminal phase and stops the containers with
//! that grace period. The pod object stays in the apiserver (its
//! controller replaces it), as upstream.

use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Pod, PodCondition};

use super::runtime_pod::RuntimePod;
use crate::eviction::{PodKiller, REASON};
use crate::kubelet::Kubelet;

/// Condition type and reason of pods the kubelet evicts.
pub const DISRUPTION_TARGET: &str = "DisruptionTarget";
/// Reason of the `DisruptionTarget` condition the kubelet sets.
pub const TERMINATION_BY_KUBELET: &str = "TerminationByKubelet";

fn is_terminal(phase: Option<&str>) -> bool {
    matches!(phase, Some("Succeeded" | "Failed"))
}

impl Kubelet {
    /// The grace period an eviction asked for this pod, if any.
    pub(crate) fn eviction_grace(&self, uid: &str) -> Option<i64> {
        self.evictions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(uid)
            .copied()
    }

    fn forget_eviction(&self, uid: &str) {
        self.evictions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(uid);
    }
}

/// Implements [`PodKiller`] over the kubelet (a newtype so the eviction
/// manager only sees these four calls).
#[derive(Debug, Clone)]
pub struct KubeletPodKiller(pub Arc<Kubelet>);

#[async_trait]
impl PodKiller for KubeletPodKiller {
    fn active_pods(&self) -> Vec<Pod> {
        self.0
            .known_pods()
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter(|p| !is_terminal(p.status.as_ref().and_then(|s| s.phase.as_deref())))
            .collect()
    }

    async fn evict(&self, pod: &Pod, grace_seconds: i64, message: &str) {
        let kubelet = &self.0;
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let mut status = kubelet
            .status
            .get(&uid)
            .or_else(|| pod.status.clone())
            .unwrap_or_default();
        status.phase = Some("Failed".into());
        status.reason = Some(REASON.into());
        status.message = Some(message.to_string());
        let mut conditions = status.conditions.take().unwrap_or_default();
        conditions.retain(|c| c.type_ != DISRUPTION_TARGET);
        conditions.push(PodCondition {
            type_: DISRUPTION_TARGET.into(),
            status: "True".into(),
            reason: Some(TERMINATION_BY_KUBELET.into()),
            message: Some(message.to_string()),
            last_transition_time: Some(crate::time::now()),
            ..Default::default()
        });
        status.conditions = Some(conditions);
        kubelet
            .evictions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(uid.clone(), grace_seconds);
        kubelet.status.set(pod, status);
        kubelet.poke(&uid);
    }

    async fn cleaned_up(&self, pod: &Pod) -> bool {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        match RuntimePod::fetch(&self.0.runtime, uid).await {
            Ok(runtime) => {
                let done = !runtime.is_running();
                if done {
                    self.0.forget_eviction(uid);
                }
                done
            }
            Err(_) => false,
        }
    }

    async fn reclaim_disk(&self) {
        self.0.reclaim_disk().await;
    }
}
