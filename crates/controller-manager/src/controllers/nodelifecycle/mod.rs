//! `node-lifecycle-controller`: watches node heartbeats and keeps node
//! conditions and taints honest.
//!
//! Every `--node-monitor-period` (and on every Node change) each node is
//! synced:
//!
//! 1. [`health`]: when neither the Ready condition's heartbeat nor the
//!    node's Lease in `kube-node-lease` moved for `--node-monitor-grace-period`
//!    (`--node-startup-grace-period` for a node that never reported), its
//!    kubelet conditions become Unknown (`NodeStatusUnknown`, "Kubelet
//!    stopped posting node status.") and a `NodeNotReady` event is recorded;
//! 2. [`taints`]: the `node.kubernetes.io/*` NoSchedule taints follow the
//!    conditions and `spec.unschedulable`, and `not-ready` / `unreachable`
//!    NoExecute taints follow Ready=False / Unknown (the
//!    `taint-eviction-controller` evicts pods that do not tolerate them),
//!    new NoExecute taints within each zone's budget ([`zones`]);
//! 3. the pods of a node whose Ready is not True are marked not ready
//!    (`Ready=False`, event `NodeNotReady`), so Services stop sending them
//!    traffic.
//!

pub mod health;
pub mod taints;
pub mod zones;

use std::sync::Arc;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use self::health::{HealthTracker, ready_status, unknown_conditions};
use self::zones::{NoExecute, ZoneTainter};
use crate::config::NodeLifecycleConfig;
use crate::framework::api_errors;
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::events::{EventRecorder, EventType};
use crate::framework::informer::{Change, Informer};
use crate::framework::key::ObjectKey;
use crate::framework::pod_readiness::{is_ready, node_name, phase};
use crate::framework::queue::WorkQueue;
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "node-lifecycle-controller";
/// Where kubelets renew their Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

/// Builds the `node-lifecycle-controller`.
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let nodes = ctx.informers.informer::<Node>();
    let leases = ctx.informers.informer::<Lease>();
    let pods = ctx.informers.informer::<Pod>();
    let queue = WorkQueue::<ObjectKey>::new("node_lifecycle_controller");
    let config = ctx.config.node_lifecycle.clone();
    let zones = Arc::new(ZoneTainter::new(config.eviction.clone()));
    {
        let queue = queue.clone();
        let zones = zones.clone();
        nodes.add_event_handler(move |change: Change<'_, Node>| {
            // Zone states must reflect the change before the node syncs.
            match &change {
                Change::Updated { old, new } if ready_status(old) == ready_status(new) => {}
                _ => zones.invalidate(),
            }
            queue.add(ObjectKey::of(change.object()));
        });
    }
    let reconciler = NodeLifecycleReconciler {
        client: ctx.client.clone(),
        nodes: nodes.clone(),
        leases: leases.clone(),
        pods: pods.clone(),
        health: Arc::new(HealthTracker::default()),
        zones,
        recorder: ctx.recorder(NAME),
        config: config.clone(),
    };
    let all_nodes = nodes.clone();
    let resync_queue = queue.clone();
    Ok(Some(Box::new(
        QueueController::new(NAME, queue, reconciler, 1, ctx)
            .wait_for(nodes)
            .wait_for(leases)
            .wait_for(pods)
            .resync_every(config.node_monitor_period, move || {
                for node in all_nodes.list() {
                    resync_queue.add(ObjectKey::of(node.as_ref()));
                }
            }),
    )))
}

/// Why a node sync failed (retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Writing the node or its pods failed.
    #[error("{what}: {}", api_errors::message(.source))]
    Write {
        /// What was being written.
        what: String,
        /// The API error.
        source: kube::Error,
    },
}

fn write_error(what: impl Into<String>) -> impl FnOnce(kube::Error) -> SyncError {
    let what = what.into();
    move |source| SyncError::Write { what, source }
}

/// Syncs one node.
pub struct NodeLifecycleReconciler {
    client: Client,
    nodes: Informer<Node>,
    leases: Informer<Lease>,
    pods: Informer<Pod>,
    health: Arc<HealthTracker>,
    zones: Arc<ZoneTainter>,
    recorder: EventRecorder,
    config: NodeLifecycleConfig,
}

impl NodeLifecycleReconciler {
    /// Upstream `MarkPodsNotReady`: Ready=False on every pod of the node
    /// still reporting ready.
    async fn mark_pods_not_ready(&self, node: &str, now: Timestamp) -> Result<(), SyncError> {
        let now = Time(Timestamp::from_second(now.as_second()).unwrap_or(now));
        for pod in self.pods.list() {
            if node_name(&pod) != node
                || !is_ready(&pod)
                || matches!(phase(&pod), "Succeeded" | "Failed")
            {
                continue;
            }
            let mut conditions = pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.clone())
                .unwrap_or_default();
            for c in conditions.iter_mut().filter(|c| c.type_ == "Ready") {
                c.status = "False".to_string();
                c.last_transition_time = Some(now.clone());
            }
            let namespace = pod.namespace().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
            match api
                .patch_status(
                    &pod.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": {"conditions": conditions}})),
                )
                .await
            {
                Ok(_) => {}
                Err(err) if api_errors::is_not_found(&err) => continue,
                Err(err) => {
                    return Err(write_error(format!(
                        "marking pod {namespace}/{} not ready",
                        pod.name_any()
                    ))(err));
                }
            }
            self.recorder.event(
                pod.as_ref(),
                EventType::Warning,
                "NodeNotReady",
                "Node is not ready",
            );
        }
        Ok(())
    }
}

impl Reconciler<ObjectKey> for NodeLifecycleReconciler {
    type Error = SyncError;

    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, SyncError> {
        let Some(cached) = self.nodes.get(None, &key.name) else {
            self.health.forget(&key.name);
            return Ok(Action::await_change());
        };
        let api: Api<Node> = Api::all(self.client.clone());
        let now = Timestamp::now();
        let lease = self
            .leases
            .get(Some(LEASE_NAMESPACE), &key.name)
            .and_then(|l| l.spec.as_ref().and_then(|s| s.renew_time.clone()));
        let mut node = (*cached).clone();
        let silent = self.health.is_silent(
            &node,
            lease.as_ref(),
            now,
            self.config.node_monitor_grace_period,
            self.config.node_startup_grace_period,
        );
        if silent && let Some(conditions) = unknown_conditions(&node, now) {
            let was_ready = ready_status(&node) == Some("True");
            node = api
                .patch_status(
                    &key.name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": {"conditions": conditions}})),
                )
                .await
                .map_err(write_error("marking the node's status Unknown"))?;
            tracing::info!(node = %key.name, "node stopped posting status; marked Unknown");
            if was_ready {
                self.recorder.event(
                    &node,
                    EventType::Normal,
                    "NodeNotReady",
                    &format!("Node {} status is now: NodeNotReady", key.name),
                );
            }
        }
        let clock = std::time::Instant::now();
        let no_execute = if self.zones.refresh(|| self.nodes.list(), clock) {
            NoExecute::Lift
        } else if taints::needs_new_no_execute(&node) {
            self.zones.admit(&node, clock)
        } else {
            NoExecute::Add
        };
        if let Some(taints) = taints::reconcile_taints(&node, now, no_execute) {
            node.spec.get_or_insert_with(Default::default).taints =
                (!taints.is_empty()).then_some(taints);
            node = api
                .replace(&key.name, &PostParams::default(), &node)
                .await
                .map_err(write_error("updating the node's taints"))?;
        }
        if matches!(ready_status(&node), Some("False" | "Unknown")) {
            self.mark_pods_not_ready(&key.name, now).await?;
        }
        match no_execute {
            // Waiting for the zone's next token.
            NoExecute::Defer(Some(after)) => Ok(Action::requeue(after)),
            _ => Ok(Action::await_change()),
        }
    }
}
