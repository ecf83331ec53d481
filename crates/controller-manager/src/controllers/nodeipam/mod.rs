//! `node-ipam-controller` with upstream's `RangeAllocator`: with
//! `--allocate-node-cidrs`, every node gets `spec.podCIDR` and
//! `spec.podCIDRs` (one subnet of `--node-cidr-mask-size[-ipv4|-ipv6]` per
//! `--cluster-cidr`, so dual-stack nodes get two), which kubelets and CNI
//! plugins use for pod IPs.
//!
//! Subnets already on nodes are marked used before anything is handed
//! out; a deleted node's subnets are freed. When a range is exhausted the
//! node gets a `CIDRNotAvailable` event and is retried with backoff.

pub mod cidr_set;

use std::sync::Mutex;

use ipnet::IpNet;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use self::cidr_set::{CidrSet, CidrSetError};
use crate::framework::api_errors;
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::events::{EventRecorder, EventType};
use crate::framework::informer::{Change, Informer};
use crate::framework::key::ObjectKey;
use crate::framework::queue::WorkQueue;
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "node-ipam-controller";

/// Builds the `node-ipam-controller`; `None` without `--allocate-node-cidrs`.
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let config = &ctx.config.node_ipam;
    if !config.allocate_node_cidrs {
        tracing::info!(
            controller = NAME,
            "--allocate-node-cidrs is false; not assigning pod CIDRs"
        );
        return Ok(None);
    }
    let mut sets = Vec::new();
    for cluster in &config.cluster_cidrs {
        let mask = match cluster {
            IpNet::V4(_) => config.node_cidr_mask_size_ipv4,
            IpNet::V6(_) => config.node_cidr_mask_size_ipv6,
        };
        sets.push(CidrSet::new(*cluster, mask)?);
    }
    let nodes = ctx.informers.informer::<Node>();
    let queue = WorkQueue::<ObjectKey>::new("node_ipam");
    {
        let queue = queue.clone();
        nodes.add_event_handler(move |change: Change<'_, Node>| {
            queue.add(ObjectKey::of(change.object()));
        });
    }
    let reconciler = NodeIpamReconciler {
        client: ctx.client.clone(),
        nodes: nodes.clone(),
        state: Mutex::new(AllocatorState {
            sets,
            primed: false,
            by_node: Default::default(),
        }),
        recorder: ctx.recorder("cidrAllocator"),
    };
    // One worker: allocation is sequential anyway, and it keeps the
    // "allocate, write, release on failure" steps simple.
    Ok(Some(Box::new(
        QueueController::new(NAME, queue, reconciler, 1, ctx).wait_for(nodes),
    )))
}

#[derive(Debug)]
struct AllocatorState {
    sets: Vec<CidrSet>,
    /// Whether the CIDRs of every cached node have been marked used.
    primed: bool,
    /// What each node holds (to free it when the node goes).
    by_node: std::collections::HashMap<String, Vec<IpNet>>,
}

impl AllocatorState {
    fn occupy(&mut self, node: &Node) {
        let cidrs = pod_cidrs(node);
        for cidr in &cidrs {
            if let Some(set) = self.sets.iter_mut().find(|s| s.contains(cidr)) {
                let _ = set.occupy(cidr);
            }
        }
        if !cidrs.is_empty() {
            self.by_node.insert(node.name_any(), cidrs);
        }
    }

    fn release(&mut self, cidrs: &[IpNet]) {
        for cidr in cidrs {
            if let Some(set) = self.sets.iter_mut().find(|s| s.contains(cidr)) {
                let _ = set.release(cidr);
            }
        }
    }

    /// One subnet from every set, or none at all.
    fn allocate(&mut self) -> Result<Vec<IpNet>, CidrSetError> {
        let mut taken = Vec::new();
        for i in 0..self.sets.len() {
            match self.sets[i].allocate() {
                Ok(cidr) => taken.push(cidr),
                Err(err) => {
                    self.release(&taken);
                    return Err(err);
                }
            }
        }
        Ok(taken)
    }
}

/// The node's pod CIDRs (`spec.podCIDRs`, or `spec.podCIDR`).
pub fn pod_cidrs(node: &Node) -> Vec<IpNet> {
    let Some(spec) = node.spec.as_ref() else {
        return Vec::new();
    };
    let list: Vec<String> = match &spec.pod_cidrs {
        Some(list) if !list.is_empty() => list.clone(),
        _ => spec.pod_cidr.iter().cloned().collect(),
    };
    list.iter().filter_map(|c| c.parse().ok()).collect()
}

/// Why assigning a node's CIDRs failed (retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The ranges are exhausted.
    #[error(transparent)]
    Allocate(#[from] CidrSetError),
    /// Writing the node failed.
    #[error("updating the node's pod CIDRs: {}", api_errors::message(.0))]
    Write(kube::Error),
}

/// Assigns pod CIDRs to one node.
pub struct NodeIpamReconciler {
    client: Client,
    nodes: Informer<Node>,
    state: Mutex<AllocatorState>,
    recorder: EventRecorder,
}

impl NodeIpamReconciler {
    fn lock(&self) -> std::sync::MutexGuard<'_, AllocatorState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Reconciler<ObjectKey> for NodeIpamReconciler {
    type Error = SyncError;

    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, SyncError> {
        let allocated = {
            let mut state = self.lock();
            if !state.primed {
                for node in self.nodes.list() {
                    state.occupy(&node);
                }
                state.primed = true;
            }
            let Some(node) = self.nodes.get(None, &key.name) else {
                if let Some(cidrs) = state.by_node.remove(&key.name) {
                    state.release(&cidrs);
                    tracing::info!(node = %key.name, ?cidrs, "released the pod CIDRs of a deleted node");
                }
                return Ok(Action::await_change());
            };
            if !pod_cidrs(&node).is_empty() {
                state.occupy(&node);
                return Ok(Action::await_change());
            }
            if let Some(previous) = state.by_node.get(&key.name) {
                // Written already; the cache has not caught up yet.
                previous.clone()
            } else {
                match state.allocate() {
                    Ok(cidrs) => {
                        state.by_node.insert(key.name.clone(), cidrs.clone());
                        cidrs
                    }
                    Err(err) => {
                        drop(state);
                        self.recorder.event(
                            node.as_ref(),
                            EventType::Normal,
                            "CIDRNotAvailable",
                            &format!("Node {} status is now: CIDRNotAvailable", key.name),
                        );
                        return Err(err.into());
                    }
                }
            }
        };
        let strings: Vec<String> = allocated.iter().map(ToString::to_string).collect();
        let Some(primary) = strings.first() else {
            return Ok(Action::await_change());
        };
        let api: Api<Node> = Api::all(self.client.clone());
        let patch = json!({"spec": {"podCIDR": primary, "podCIDRs": strings}});
        match api
            .patch(&key.name, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Ok(_) => {
                tracing::info!(node = %key.name, cidrs = ?strings, "assigned pod CIDRs");
                Ok(Action::await_change())
            }
            Err(err) => {
                let mut state = self.lock();
                if let Some(cidrs) = state.by_node.remove(&key.name) {
                    state.release(&cidrs);
                }
                if api_errors::is_not_found(&err) {
                    return Ok(Action::await_change());
                }
                Err(SyncError::Write(err))
            }
        }
    }
}
