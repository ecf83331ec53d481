//! `statefulset-controller`: pods with stable names, hostnames and
//! storage, created, deleted and updated in order, with upstream 1.33's
//! semantics.
//!
//! One sync ([`control`]):
//!
//! 1. the history: the ControllerRevision whose data equals the template
//!    is the update revision (created `<set>-<hash>`, or renumbered on a
//!    rollback); `status.currentRevision` (or the update revision) is the
//!    current one;
//! 2. the pods named `<set>-<ordinal>` that match the selector are
//!    claimed; those below `replicas` are kept, the rest are condemned;
//! 3. every missing ordinal gets its claims (`volumeClaimTemplates`,
//!    [`identity`]) and a pod: from the current revision below
//!    `rollingUpdate.partition`, else from the update revision; failed
//!    pods are deleted and recreated; a pod whose identity or volumes
//!    drifted is updated;
//! 4. condemned pods are deleted, highest ordinal first (their claims
//!    handed to the pod or kept as `persistentVolumeClaimRetentionPolicy`
//!    says);
//! 5. `OrderedReady` waits at each step for the pod before it to be
//!    Running and Ready (and gone, when deleting); `Parallel` does not;
//! 6. `RollingUpdate` then deletes the highest-ordinal pod at or above the
//!    partition that is not at the update revision, one at a time, once
//!    the pods above it are healthy (pods below the partition are not
//!    waited on; `maxUnavailable` is ignored, as upstream with the alpha
//!    MaxUnavailableStatefulSet gate off); `OnDelete` leaves that to the
//!    user;
//! 7. the status: replicas, ready/available/current/updated counts,
//!    `currentRevision`/`updateRevision` (equal once the rollout is done),
//!    `collisionCount`, `observedGeneration`; old revisions beyond
//!    `revisionHistoryLimit` are deleted.

mod control;
#[cfg(test)]
mod fixtures;
pub mod identity;
mod rolling;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::{Client, ResourceExt};

use crate::framework::api_errors;
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::controller_ref::{ClaimError, add_claim_indexes, controller_of};
use crate::framework::events::EventRecorder;
use crate::framework::informer::{Change, Informer};
use crate::framework::key::ObjectKey;
use crate::framework::pod_readiness::is_ready;
use crate::framework::queue::WorkQueue;
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "statefulset-controller";
/// `source.component` of its events.
pub const EVENT_COMPONENT: &str = "statefulset-controller";

/// Why a sync failed (the key is retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A request failed.
    #[error("{}", api_errors::message(.0))]
    Api(#[from] kube::Error),
    /// Adopting or releasing pods or revisions failed.
    #[error(transparent)]
    Claim(#[from] ClaimError),
    /// Several things failed (Parallel pod management).
    #[error("{0}")]
    Pods(String),
}

/// Builds the controller (`--concurrent-statefulset-syncs` workers).
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let sets = ctx.informers.informer::<StatefulSet>();
    let pods = ctx.informers.informer::<Pod>();
    // Syncs claim their own pods and matching orphans only.
    add_claim_indexes(&pods);
    let revisions = ctx.informers.informer::<ControllerRevision>();
    add_claim_indexes(&revisions);
    let claims = ctx.informers.informer::<PersistentVolumeClaim>();
    let queue = WorkQueue::<ObjectKey>::new("statefulset");
    {
        let queue = queue.clone();
        sets.add_event_handler(move |change: Change<'_, StatefulSet>| {
            queue.add(ObjectKey::of(change.object()));
        });
    }
    {
        let sets = sets.clone();
        let queue = queue.clone();
        pods.add_event_handler(move |change: Change<'_, Pod>| {
            let pod = change.object();
            match resolve(&sets, pod) {
                Some(set) => {
                    let key = ObjectKey::of(set.as_ref());
                    if let Change::Updated { old, new } = change {
                        let min_ready = set
                            .spec
                            .as_ref()
                            .and_then(|s| s.min_ready_seconds)
                            .unwrap_or(0);
                        if !is_ready(old) && is_ready(new) && min_ready > 0 {
                            queue.add_after(
                                key.clone(),
                                Duration::from_secs(u64::try_from(min_ready).unwrap_or(0) + 1),
                            );
                        }
                    }
                    queue.add(key);
                }
                None if controller_of(&pod.metadata).is_none() => {
                    // An orphan: the sets that would adopt it.
                    for set in sets.list_namespace(&pod.namespace().unwrap_or_default()) {
                        if control::selector_of(&set)
                            .is_some_and(|s| s.matches(pod.metadata.labels.as_ref()))
                            && identity::is_member_of(&set, pod)
                        {
                            queue.add(ObjectKey::of(set.as_ref()));
                        }
                    }
                }
                None => {}
            }
        });
    }
    let reconciler = StatefulSetReconciler {
        client: ctx.client.clone(),
        sets: sets.clone(),
        pods: pods.clone(),
        revisions: revisions.clone(),
        claims: claims.clone(),
        recorder: ctx.recorder(EVENT_COMPONENT),
    };
    Ok(Some(Box::new(
        QueueController::new(
            NAME,
            queue,
            reconciler,
            ctx.config.concurrency.statefulset,
            ctx,
        )
        .wait_for(sets)
        .wait_for(pods)
        .wait_for(revisions)
        .wait_for(claims),
    )))
}

fn resolve(sets: &Informer<StatefulSet>, pod: &Pod) -> Option<Arc<StatefulSet>> {
    let reference = controller_of(&pod.metadata)?;
    if reference.kind != "StatefulSet" {
        return None;
    }
    sets.get(pod.namespace().as_deref(), &reference.name)
        .filter(|s| s.uid().as_deref() == Some(reference.uid.as_str()))
}

/// Reconciles StatefulSets by key.
pub struct StatefulSetReconciler {
    client: Client,
    sets: Informer<StatefulSet>,
    pods: Informer<Pod>,
    revisions: Informer<ControllerRevision>,
    claims: Informer<PersistentVolumeClaim>,
    recorder: EventRecorder,
}

impl Reconciler<ObjectKey> for StatefulSetReconciler {
    type Error = SyncError;

    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, SyncError> {
        let namespace = key.namespace.clone().unwrap_or_default();
        let Some(set) = self.sets.get(Some(&namespace), &key.name) else {
            return Ok(Action::await_change());
        };
        self.sync((*set).clone()).await
    }
}
