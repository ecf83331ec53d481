//! `pod-garbage-collector-controller` (podgc): every 20 seconds, removes
//! pods nobody else will:
//!
//! - terminated pods (Succeeded/Failed) beyond `--terminated-pod-gc-threshold`
//!   (oldest first; `<= 0` disables this);
//! - orphaned pods bound to a node that no longer exists (after the node
//!   has been missing for 40 s and the API confirms it): marked Failed with
//!   the `DisruptionTarget` condition (`DeletionByPodGC`) first;
//! - terminating pods that were never scheduled.
//!
//! Deletions are forced (grace period 0), as the kubelet that would finish
//! them is absent, and counted in `pod_gc_collector_force_delete_pods_total`.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use prometheus::IntCounterVec;
use serde_json::json;

use crate::framework::api_errors;
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::informer::Informer;
use crate::framework::pod_readiness::{node_name, phase};
use crate::framework::queue::WorkQueue;
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "pod-garbage-collector-controller";
/// How often a pass runs (upstream `gcCheckPeriod`).
pub const GC_CHECK_PERIOD: Duration = Duration::from_secs(20);
/// How long a node must be missing before its pods are orphans (upstream
/// `quarantineTime`).
pub const QUARANTINE_TIME: Duration = Duration::from_secs(40);

fn force_deleted() -> &'static IntCounterVec {
    static METRIC: OnceLock<IntCounterVec> = OnceLock::new();
    METRIC.get_or_init(|| {
        let metric = IntCounterVec::new(
            prometheus::Opts::new(
                "force_delete_pods_total",
                "Number of pods that are being forcefully deleted since the Pod GC Controller started.",
            )
            .namespace("pod_gc_collector"),
            &["namespace", "reason"],
        )
        .expect("valid metric");
        if let Err(err) = prometheus::register(Box::new(metric.clone())) {
            tracing::warn!(error = %err, "registering pod_gc_collector_force_delete_pods_total");
        }
        metric
    })
}

fn force_delete_errors() -> &'static IntCounterVec {
    static METRIC: OnceLock<IntCounterVec> = OnceLock::new();
    METRIC.get_or_init(|| {
        let metric = IntCounterVec::new(
            prometheus::Opts::new(
                "force_delete_pod_errors_total",
                "Number of errors encountered when forcefully deleting the pods since the Pod GC Controller started.",
            )
            .namespace("pod_gc_collector"),
            &["namespace", "reason"],
        )
        .expect("valid metric");
        if let Err(err) = prometheus::register(Box::new(metric.clone())) {
            tracing::warn!(error = %err, "registering pod_gc_collector_force_delete_pod_errors_total");
        }
        metric
    })
}

/// The single key of the pass.
const PASS: &str = "podgc";

/// Builds the pod GC controller.
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let pods = ctx.informers.informer::<Pod>();
    let nodes = ctx.informers.informer::<Node>();
    force_deleted();
    force_delete_errors();
    let queue = WorkQueue::<String>::new("pod_garbage_collector");
    queue.add(PASS.to_string());
    let reconciler = PodGcReconciler {
        client: ctx.client.clone(),
        pods: pods.clone(),
        nodes: nodes.clone(),
        threshold: ctx.config.terminated_pod_gc_threshold,
        missing_since: Mutex::new(HashMap::new()),
    };
    let resync = queue.clone();
    Ok(Some(Box::new(
        QueueController::new(NAME, queue, reconciler, 1, ctx)
            .wait_for(pods)
            .wait_for(nodes)
            .resync_every(GC_CHECK_PERIOD, move || resync.add(PASS.to_string())),
    )))
}

/// The terminated pods to delete so at most `threshold` remain: the
/// oldest first (upstream `gcTerminated`).
pub fn terminated_to_delete(
    pods: &[std::sync::Arc<Pod>],
    threshold: i32,
) -> Vec<std::sync::Arc<Pod>> {
    let Ok(threshold) = usize::try_from(threshold) else {
        return Vec::new();
    };
    if threshold == 0 {
        return Vec::new();
    }
    let mut terminated: Vec<_> = pods
        .iter()
        .filter(|p| matches!(phase(p), "Succeeded" | "Failed"))
        .cloned()
        .collect();
    if terminated.len() <= threshold {
        return Vec::new();
    }
    terminated.sort_by_key(|p| {
        (
            p.metadata.creation_timestamp.as_ref().map(|t| t.0),
            p.namespace(),
            p.name_any(),
        )
    });
    let excess = terminated.len() - threshold;
    terminated.truncate(excess);
    terminated
}

/// Why a pass failed (retried with backoff).
#[derive(Debug, thiserror::Error)]
#[error("{0} pod deletions failed")]
pub struct GcError(usize);

/// One pass over all pods.
pub struct PodGcReconciler {
    client: Client,
    pods: Informer<Pod>,
    nodes: Informer<Node>,
    threshold: i32,
    /// Nodes pods point at that are not in the cache, and since when.
    missing_since: Mutex<HashMap<String, Instant>>,
}

impl PodGcReconciler {
    async fn force_delete(&self, pod: &Pod, reason: &str) -> bool {
        let namespace = pod.namespace().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        tracing::info!(pod = %format!("{namespace}/{}", pod.name_any()), reason, "PodGC is force deleting Pod");
        match api
            .delete(&pod.name_any(), &DeleteParams::default().grace_period(0))
            .await
        {
            Ok(_) => {
                force_deleted()
                    .with_label_values(&[namespace.as_str(), reason])
                    .inc();
                true
            }
            Err(err) if api_errors::is_not_found(&err) => true,
            Err(err) => {
                tracing::warn!(error = %api_errors::message(&err), "PodGC failed to delete a pod");
                force_delete_errors()
                    .with_label_values(&[namespace.as_str(), reason])
                    .inc();
                false
            }
        }
    }

    /// Marks a not yet terminal orphan Failed with `DisruptionTarget`.
    async fn mark_failed(&self, pod: &Pod) -> Result<(), kube::Error> {
        if matches!(phase(pod), "Succeeded" | "Failed") {
            return Ok(());
        }
        let now = Timestamp::now();
        let now = Timestamp::from_second(now.as_second())
            .unwrap_or(now)
            .to_string();
        let mut conditions = serde_json::to_value(
            pod.status
                .as_ref()
                .and_then(|s| s.conditions.clone())
                .unwrap_or_default(),
        )
        .unwrap_or_else(|_| json!([]));
        if let Some(list) = conditions.as_array_mut() {
            list.retain(|c| c.get("type").and_then(|t| t.as_str()) != Some("DisruptionTarget"));
            list.push(json!({"type": "DisruptionTarget", "status": "True",
                             "reason": "DeletionByPodGC",
                             "message": "PodGC: node no longer exists",
                             "lastTransitionTime": now}));
        }
        let api: Api<Pod> =
            Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
        api.patch_status(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Failed", "conditions": conditions}})),
        )
        .await
        .map(|_| ())
    }

    /// The nodes pods are bound to that have been missing for the
    /// quarantine time and that the API confirms are gone.
    async fn deleted_nodes(&self, pods: &[std::sync::Arc<Pod>]) -> Vec<String> {
        let now = Instant::now();
        let wanted: std::collections::HashSet<&str> = pods
            .iter()
            .map(|p| node_name(p))
            .filter(|n| !n.is_empty() && self.nodes.get(None, n).is_none())
            .collect();
        let candidates: Vec<String> = {
            let mut missing = self.missing_since.lock().unwrap_or_else(|p| p.into_inner());
            missing.retain(|n, _| wanted.contains(n.as_str()));
            for n in &wanted {
                missing.entry(n.to_string()).or_insert(now);
            }
            missing
                .iter()
                .filter(|(_, since)| now.duration_since(**since) >= QUARANTINE_TIME)
                .map(|(n, _)| n.clone())
                .collect()
        };
        let api: Api<Node> = Api::all(self.client.clone());
        let mut gone = Vec::new();
        for name in candidates {
            match api.get_opt(&name).await {
                Ok(None) => gone.push(name),
                Ok(Some(_)) => {}
                Err(err) => {
                    tracing::warn!(node = %name, error = %err, "checking whether a node exists")
                }
            }
        }
        gone
    }
}

impl Reconciler<String> for PodGcReconciler {
    type Error = GcError;

    async fn reconcile(&self, _key: &String) -> Result<Action, GcError> {
        let pods = self.pods.list();
        let mut failures = 0;
        for pod in terminated_to_delete(&pods, self.threshold) {
            if !self.force_delete(&pod, "terminated").await {
                failures += 1;
            }
        }
        let gone = self.deleted_nodes(&pods).await;
        for pod in pods
            .iter()
            .filter(|p| gone.iter().any(|n| n == node_name(p)))
        {
            if let Err(err) = self.mark_failed(pod).await
                && !api_errors::is_not_found(&err)
            {
                tracing::warn!(error = %api_errors::message(&err), "marking an orphaned pod Failed");
            }
            if !self.force_delete(pod, "orphaned").await {
                failures += 1;
            }
        }
        for pod in pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_some() && node_name(p).is_empty())
        {
            if !self.force_delete(pod, "unscheduled_terminating").await {
                failures += 1;
            }
        }
        if failures > 0 {
            return Err(GcError(failures));
        }
        Ok(Action::await_change())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn pod(name: &str, phase: &str, created: &str) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "ns", "creationTimestamp": created},
                "spec": {"containers": []},
                "status": {"phase": phase}
            }))
            .unwrap(),
        )
    }

    #[test]
    fn oldest_terminated_pods_beyond_the_threshold() {
        let pods = vec![
            pod("new-done", "Succeeded", "2025-01-01T00:03:00Z"),
            pod("running", "Running", "2025-01-01T00:00:00Z"),
            pod("old-failed", "Failed", "2025-01-01T00:01:00Z"),
            pod("mid-done", "Succeeded", "2025-01-01T00:02:00Z"),
        ];
        let names = |v: Vec<Arc<Pod>>| v.iter().map(|p| p.name_any()).collect::<Vec<_>>();
        assert_eq!(
            names(terminated_to_delete(&pods, 1)),
            ["old-failed", "mid-done"]
        );
        assert_eq!(names(terminated_to_delete(&pods, 3)), Vec::<String>::new());
        assert!(terminated_to_delete(&pods, 0).is_empty());
        assert!(terminated_to_delete(&pods, -1).is_empty());
    }
}
