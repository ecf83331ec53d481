//! `taint-eviction-controller`: deletes pods from nodes with `NoExecute`
//! taints they do not tolerate (upstream's taint manager).
//!
//! A pod that does not tolerate every NoExecute taint of its node is
//! deleted at once. A pod whose matching tolerations carry
//! `tolerationSeconds` is deleted when the smallest of them has passed
//! (counted from when the pod became subject to the taints: the latest
//! taint's `timeAdded`, or the pod's creation if later). Tolerations without
//! `tolerationSeconds` tolerate forever. Before deleting, the pod gets the
//! `DisruptionTarget` condition (`DeletionByTaintManager`) and an event
//! `TaintManagerEviction`.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::framework::api_errors;
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::events::{EventRecorder, EventType};
use crate::framework::informer::{Change, Informer};
use crate::framework::key::ObjectKey;
use crate::framework::node_taints::tolerations_for;
use crate::framework::pod_readiness::node_name;
use crate::framework::queue::WorkQueue;
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "taint-eviction-controller";

/// The node's NoExecute taints.
fn no_execute_taints(node: &Node) -> Vec<Taint> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .filter(|t| t.effect == "NoExecute")
        .cloned()
        .collect()
}

/// When the pod must go: `Some(now-or-earlier)` for at once, a later time
/// for a toleration that runs out, `None` to stay.
pub fn eviction_time(pod: &Pod, taints: &[Taint]) -> Option<Timestamp> {
    if taints.is_empty() {
        return None;
    }
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default();
    let mut used = Vec::new();
    for taint in taints {
        let matching = tolerations_for(&tolerations, taint);
        if matching.is_empty() {
            return Some(Timestamp::UNIX_EPOCH);
        }
        used.extend(matching);
    }
    // Upstream `getMinTolerationTime`: the smallest tolerationSeconds of the
    // tolerations in use; none set means forever.
    let seconds = used.iter().filter_map(|t| t.toleration_seconds).min()?;
    let start = taints
        .iter()
        .filter_map(|t| t.time_added.as_ref().map(|t| t.0))
        .chain(pod.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .max()
        .unwrap_or_else(Timestamp::now);
    Some(
        start
            .checked_add(SignedDuration::from_secs(seconds.max(0)))
            .unwrap_or(Timestamp::MAX),
    )
}

/// Builds the `taint-eviction-controller`.
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let nodes = ctx.informers.informer::<Node>();
    let pods = ctx.informers.informer::<Pod>();
    let queue = WorkQueue::<ObjectKey>::new("taint_eviction");
    {
        let queue = queue.clone();
        pods.add_event_handler(move |change: Change<'_, Pod>| match change {
            Change::Added(pod) => queue.add(ObjectKey::of(pod)),
            Change::Updated { old, new } => {
                let tolerations = |p: &Pod| p.spec.as_ref().map(|s| s.tolerations.clone());
                if node_name(old) != node_name(new) || tolerations(old) != tolerations(new) {
                    queue.add(ObjectKey::of(new));
                }
            }
            Change::Deleted(_) => {}
        });
    }
    {
        let queue = queue.clone();
        let pods = pods.clone();
        nodes.add_event_handler(move |change: Change<'_, Node>| {
            let changed = match change {
                Change::Added(node) => !no_execute_taints(node).is_empty(),
                Change::Updated { old, new } => no_execute_taints(old) != no_execute_taints(new),
                Change::Deleted(_) => false,
            };
            if !changed {
                return;
            }
            let name = change.object().name_any();
            for pod in pods.list() {
                if node_name(&pod) == name {
                    queue.add(ObjectKey::of(pod.as_ref()));
                }
            }
        });
    }
    let reconciler = TaintEvictionReconciler {
        client: ctx.client.clone(),
        nodes: nodes.clone(),
        pods: pods.clone(),
        recorder: ctx.recorder(NAME),
    };
    Ok(Some(Box::new(
        QueueController::new(NAME, queue, reconciler, 8, ctx)
            .wait_for(nodes)
            .wait_for(pods),
    )))
}

/// Why an eviction failed (retried with backoff).
#[derive(Debug, thiserror::Error)]
#[error("evicting the pod: {}", api_errors::message(.0))]
pub struct EvictError(kube::Error);

/// Evicts one pod if its node's taints say so.
pub struct TaintEvictionReconciler {
    client: Client,
    nodes: Informer<Node>,
    pods: Informer<Pod>,
    recorder: EventRecorder,
}

impl Reconciler<ObjectKey> for TaintEvictionReconciler {
    type Error = EvictError;

    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, EvictError> {
        let namespace = key.namespace.clone().unwrap_or_default();
        let Some(pod) = self.pods.get(Some(&namespace), &key.name) else {
            return Ok(Action::await_change());
        };
        if pod.metadata.deletion_timestamp.is_some() {
            return Ok(Action::await_change());
        }
        let Some(node) = self.nodes.get(None, node_name(&pod)) else {
            return Ok(Action::await_change());
        };
        let Some(at) = eviction_time(&pod, &no_execute_taints(&node)) else {
            return Ok(Action::await_change());
        };
        let now = Timestamp::now();
        if at > now {
            let wait = now.duration_until(at).unsigned_abs();
            return Ok(Action::requeue(wait.max(Duration::from_millis(100))));
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        self.recorder.event(
            pod.as_ref(),
            EventType::Normal,
            "TaintManagerEviction",
            &format!("Marking for deletion Pod {namespace}/{}", key.name),
        );
        let now_text = Timestamp::from_second(now.as_second())
            .unwrap_or(now)
            .to_string();
        let mut conditions = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        conditions.retain(|c| c.type_ != "DisruptionTarget");
        let mut conditions = serde_json::to_value(conditions).unwrap_or_else(|_| json!([]));
        if let Some(list) = conditions.as_array_mut() {
            list.push(json!({
                "type": "DisruptionTarget", "status": "True",
                "reason": "DeletionByTaintManager",
                "message": "Taint manager: deleting due to NoExecute taint",
                "lastTransitionTime": now_text,
            }));
        }
        match api
            .patch_status(
                &key.name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"conditions": conditions}})),
            )
            .await
        {
            Ok(_) => {}
            Err(err) if api_errors::is_not_found(&err) => return Ok(Action::await_change()),
            Err(err) => return Err(EvictError(err)),
        }
        match api.delete(&key.name, &DeleteParams::default()).await {
            Ok(_) => Ok(Action::await_change()),
            Err(err) if api_errors::is_not_found(&err) => Ok(Action::await_change()),
            Err(err) => Err(EvictError(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(tolerations: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"containers": [], "tolerations": tolerations}
        }))
        .unwrap()
    }

    fn taint(key: &str, added: &str) -> Taint {
        serde_json::from_value(json!({"key": key, "effect": "NoExecute", "timeAdded": added}))
            .unwrap()
    }

    #[test]
    fn eviction_times_follow_tolerations() {
        let unreachable = [taint(
            "node.kubernetes.io/unreachable",
            "2025-01-01T01:00:00Z",
        )];
        assert_eq!(
            eviction_time(&pod(json!([])), &unreachable),
            Some(Timestamp::UNIX_EPOCH)
        );
        assert_eq!(eviction_time(&pod(json!([])), &[]), None);
        let default = pod(json!([
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
        ]));
        assert_eq!(
            eviction_time(&default, &unreachable).unwrap().to_string(),
            "2025-01-01T01:05:00Z"
        );
        let forever = pod(json!([{"operator": "Exists"}]));
        assert_eq!(eviction_time(&forever, &unreachable), None);
        // Another taint the pod does not tolerate: at once.
        let both = [
            unreachable[0].clone(),
            taint("dedicated", "2025-01-01T01:00:00Z"),
        ];
        assert_eq!(eviction_time(&default, &both), Some(Timestamp::UNIX_EPOCH));
    }
}
