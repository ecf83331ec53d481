//! `ttl-controller`: annotates every node with
//! `node.alpha.kubernetes.io/ttl`, how long kubelets may cache Secrets and
//! ConfigMaps, growing with the cluster size (upstream's boundaries, with
//! hysteresis so the value does not flap around a boundary):
//!
//! | nodes | ttl (s) |
//! | --- | --- |
//! | up to 100 | 0 |
//! | from 90 to 500 | 15 |
//! | from 450 to 1000 | 30 |
//! | from 900 to 2000 | 60 |
//! | from 1800 | 300 |

use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Node;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::framework::api_errors;
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::informer::{Change, Informer};
use crate::framework::key::ObjectKey;
use crate::framework::queue::WorkQueue;
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "ttl-controller";
/// The annotation kubelets read.
pub const TTL_ANNOTATION: &str = "node.alpha.kubernetes.io/ttl";

/// (sizeMin, sizeMax, ttl seconds).
const BOUNDARIES: [(usize, usize, u32); 5] = [
    (0, 100, 0),
    (90, 500, 15),
    (450, 1000, 30),
    (900, 2000, 60),
    (1800, usize::MAX, 300),
];

/// The node count and the boundary step it selects.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sizing {
    nodes: usize,
    step: usize,
}

impl Sizing {
    /// A node appeared; whether the step changed.
    pub fn added(&mut self) -> bool {
        self.nodes += 1;
        if self.step + 1 < BOUNDARIES.len() && self.nodes > BOUNDARIES[self.step].1 {
            self.step += 1;
            return true;
        }
        false
    }

    /// A node went away; whether the step changed.
    pub fn deleted(&mut self) -> bool {
        self.nodes = self.nodes.saturating_sub(1);
        if self.step > 0 && self.nodes < BOUNDARIES[self.step].0 {
            self.step -= 1;
            return true;
        }
        false
    }

    /// The TTL for the current size.
    pub fn ttl(&self) -> u32 {
        BOUNDARIES[self.step].2
    }
}

/// Builds the `ttl-controller`.
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let nodes = ctx.informers.informer::<Node>();
    let queue = WorkQueue::<ObjectKey>::new("ttlcontroller");
    let sizing = Arc::new(Mutex::new(Sizing::default()));
    {
        let queue = queue.clone();
        let sizing = sizing.clone();
        let all = nodes.clone();
        nodes.add_event_handler(move |change: Change<'_, Node>| {
            let changed = {
                let mut sizing = sizing.lock().unwrap_or_else(|p| p.into_inner());
                match change {
                    Change::Added(_) => sizing.added(),
                    Change::Deleted(_) => sizing.deleted(),
                    Change::Updated { .. } => false,
                }
            };
            if changed {
                for node in all.list() {
                    queue.add(ObjectKey::of(node.as_ref()));
                }
            }
            if !matches!(change, Change::Deleted(_)) {
                queue.add(ObjectKey::of(change.object()));
            }
        });
    }
    let reconciler = TtlReconciler {
        client: ctx.client.clone(),
        nodes: nodes.clone(),
        sizing,
    };
    Ok(Some(Box::new(
        QueueController::new(NAME, queue, reconciler, 5, ctx).wait_for(nodes),
    )))
}

/// Why a sync failed (retried with backoff).
#[derive(Debug, thiserror::Error)]
#[error("setting the node TTL annotation: {}", api_errors::message(.0))]
pub struct SyncError(kube::Error);

/// Keeps one node's annotation current.
pub struct TtlReconciler {
    client: Client,
    nodes: Informer<Node>,
    sizing: Arc<Mutex<Sizing>>,
}

impl Reconciler<ObjectKey> for TtlReconciler {
    type Error = SyncError;

    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, SyncError> {
        let Some(node) = self.nodes.get(None, &key.name) else {
            return Ok(Action::await_change());
        };
        let ttl = self
            .sizing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .ttl()
            .to_string();
        if node.annotations().get(TTL_ANNOTATION) == Some(&ttl) {
            return Ok(Action::await_change());
        }
        let api: Api<Node> = Api::all(self.client.clone());
        let patch = json!({"metadata": {"annotations": {TTL_ANNOTATION: ttl}}});
        match api
            .patch(&key.name, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Ok(_) => Ok(Action::await_change()),
            Err(err) if api_errors::is_not_found(&err) => Ok(Action::await_change()),
            Err(err) => Err(SyncError(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_grows_with_hysteresis() {
        let mut s = Sizing::default();
        for _ in 0..100 {
            s.added();
        }
        assert_eq!(s.ttl(), 0);
        assert!(s.added());
        assert_eq!(s.ttl(), 15);
        // Back to 95 nodes: still above the lower bound of 90.
        for _ in 0..6 {
            assert!(!s.deleted());
        }
        assert_eq!(s.ttl(), 15);
        for _ in 0..6 {
            s.deleted();
        }
        assert_eq!(s.ttl(), 0);
        for _ in 0..2000 {
            s.added();
        }
        assert_eq!(s.ttl(), 300);
    }
}
