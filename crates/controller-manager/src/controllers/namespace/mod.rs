//! `namespace-controller`: empties deleted namespaces and releases them.
//!
//! A namespace being deleted keeps the `kubernetes` entry in
//! `spec.finalizers` until this controller has deleted everything in it
//! (see [`deleter`]); then the apiserver can remove it. Like upstream, a
//! namespace is looked at 5 seconds after its deletion is first seen (so
//! late creations in it are caught), retried with backoff on errors (at
//! most every minute), and re-examined after about half the estimated
//! time when content is still terminating.

pub mod conditions;
pub mod deleter;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;

use self::deleter::{DeletionError, NamespacedResourcesDeleter};
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::informer::{Change, Informer};
use crate::framework::queue::WorkQueue;
use crate::framework::rate_limiter::{
    BucketRateLimiter, ItemExponentialFailureRateLimiter, MaxOfRateLimiter,
};
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "namespace-controller";
/// Work queue name (the `name` label of `workqueue_*`).
pub const QUEUE_NAME: &str = "namespace";
/// Delay before a newly deleted namespace is processed (upstream
/// `namespaceDeletionGracePeriod`).
pub const DELETION_GRACE_PERIOD: Duration = Duration::from_secs(5);

/// Upstream's `nsControllerRateLimiter`: retry at least every minute.
fn rate_limiter() -> MaxOfRateLimiter<String> {
    MaxOfRateLimiter::new(vec![
        Box::new(ItemExponentialFailureRateLimiter::new(
            Duration::from_millis(5),
            Duration::from_secs(60),
        )),
        Box::new(BucketRateLimiter::new(10.0, 100)),
    ])
}

fn enqueue_if_deleting(queue: &WorkQueue<String>, namespace: &Namespace) {
    if namespace.metadata.deletion_timestamp.is_some() {
        queue.add_after(namespace.name_any(), DELETION_GRACE_PERIOD);
    }
}

/// Builds the controller.
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let namespaces = ctx.informers.informer::<Namespace>();
    let queue = WorkQueue::with_rate_limiter(QUEUE_NAME, Box::new(rate_limiter()));
    {
        let queue = queue.clone();
        namespaces.add_event_handler(move |change: Change<'_, Namespace>| match change {
            Change::Added(ns) | Change::Updated { new: ns, .. } => enqueue_if_deleting(&queue, ns),
            Change::Deleted(_) => {}
        });
    }
    let reconciler = NamespaceReconciler {
        namespaces: namespaces.clone(),
        deleter: Arc::new(NamespacedResourcesDeleter::new(ctx.client.clone())),
    };
    let resync = {
        let queue = queue.clone();
        let namespaces = namespaces.clone();
        move || {
            for ns in namespaces.list() {
                enqueue_if_deleting(&queue, &ns);
            }
        }
    };
    let controller = QueueController::new(
        NAME,
        queue,
        reconciler,
        ctx.config.concurrent_namespace_syncs,
        ctx,
    )
    .wait_for(namespaces)
    .resync_every(ctx.config.namespace_sync_period, resync);
    Ok(Some(Box::new(controller)))
}

/// Reconciles one namespace name.
pub struct NamespaceReconciler {
    namespaces: Informer<Namespace>,
    deleter: Arc<NamespacedResourcesDeleter>,
}

impl Reconciler<String> for NamespaceReconciler {
    type Error = DeletionError;

    async fn reconcile(&self, name: &String) -> Result<Action, DeletionError> {
        if self.namespaces.get(None, name).is_none() {
            return Ok(Action::await_change());
        }
        match self.deleter.delete(name).await {
            Ok(()) => Ok(Action::await_change()),
            Err(DeletionError::ResourcesRemaining { estimate }) => {
                let after = u64::try_from(estimate / 2 + 1).unwrap_or(1);
                tracing::debug!(estimate, "content remains; checking again later");
                Ok(Action::requeue(Duration::from_secs(after)))
            }
            Err(err) => Err(err),
        }
    }
}
