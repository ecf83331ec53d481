//! `deployment-controller`: rolls a Deployment's pod template out through
//! ReplicaSets, with upstream's semantics.
//!
//! One sync (upstream `syncDeployment`):
//!
//! 1. an empty selector is refused (`Warning SelectingAll`);
//! 2. the ReplicaSets of the namespace are claimed (adoption/release by
//!    the selector) and the pods grouped by ReplicaSet;
//! 3. a Deployment being deleted only gets its status updated;
//! 4. pausing/resuming sets `Progressing=Unknown` ([`conditions`]);
//! 5. paused, or a scaling event (a ReplicaSet's `desired-replicas` differs
//!    from `spec.replicas`): the replicas are distributed proportionally
//!    (`scale`), and a paused Deployment's old ReplicaSets are cleaned up;
//! 6. otherwise the strategy rolls out: `rolling` (scale the new
//!    ReplicaSet up within `maxSurge`, old ones down within
//!    `maxUnavailable`) or `recreate` (old ones to zero, wait for their
//!    pods to be gone, then the new one up);
//! 7. the status and the `Progressing`/`Available` conditions are written;
//!    a Deployment that makes no progress is looked at again when its
//!    `progressDeadlineSeconds` would pass.
//!
//! The new ReplicaSet is the one whose template equals the Deployment's
//! (ignoring `pod-template-hash`); it is created as `<name>-<hash>` with the
//! hash in its labels and selector (`new_replica_set`). Revisions,
//! revision history and replica annotations are in [`annotations`].
//!
//! `kubectl rollout undo` (client-side in kubectl 1.32) patches the
//! template back to an old ReplicaSet's: that ReplicaSet becomes the new
//! one again, gets the next revision (its old one goes into
//! `revision-history`), and is scaled up.

pub mod annotations;
pub mod conditions;
mod new_replica_set;
mod recreate;
pub mod replicas;
mod rolling;
mod scale;
mod status;

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::{Api, Client, ResourceExt};

use crate::framework::api_errors;
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::controller_ref::{
    CONTROLLER_UID_INDEX, ClaimError, Owner, add_controller_uid_index, claim, controller_of,
    owned_and_orphans,
};
use crate::framework::events::{EventRecorder, EventType};
use crate::framework::informer::{Change, Informer};
use crate::framework::key::ObjectKey;
use crate::framework::queue::WorkQueue;
use crate::framework::selector::Selector;
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "deployment-controller";
/// Work queue name.
pub const QUEUE_NAME: &str = "deployment";
/// `source.component` of its events.
pub const EVENT_COMPONENT: &str = "deployment-controller";

/// Why a sync failed (the key is retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A request failed.
    #[error("{}", api_errors::message(.0))]
    Api(#[from] kube::Error),
    /// Adopting or releasing ReplicaSets failed.
    #[error(transparent)]
    Claim(#[from] ClaimError),
    /// The Deployment cannot be rolled out as it is.
    #[error("{0}")]
    Invalid(String),
}

/// Builds the controller (`--concurrent-deployment-syncs` workers).
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let deployments = ctx.informers.informer::<Deployment>();
    let replica_sets = ctx.informers.informer::<ReplicaSet>();
    let pods = ctx.informers.informer::<Pod>();
    let queue = WorkQueue::<ObjectKey>::new(QUEUE_NAME);
    {
        let queue = queue.clone();
        deployments.add_event_handler(move |change: Change<'_, Deployment>| {
            queue.add(ObjectKey::of(change.object()));
        });
    }
    // Syncs read their own ReplicaSets (and orphans) and those
    // ReplicaSets' pods through indexes, not by scanning the namespace.
    add_controller_uid_index(&replica_sets);
    add_controller_uid_index(&pods);
    add_replica_set_handlers(&deployments, &replica_sets, &queue);
    add_pod_handlers(&deployments, &replica_sets, &pods, &queue);
    let reconciler = DeploymentReconciler {
        client: ctx.client.clone(),
        deployments: deployments.clone(),
        replica_sets: replica_sets.clone(),
        pods: pods.clone(),
        recorder: ctx.recorder(EVENT_COMPONENT),
    };
    let controller = QueueController::new(
        NAME,
        queue,
        reconciler,
        ctx.config.concurrency.deployment,
        ctx,
    )
    .wait_for(deployments)
    .wait_for(replica_sets)
    .wait_for(pods);
    Ok(Some(Box::new(controller)))
}

/// The Deployment a controller reference points to, if cached with that UID.
fn resolve(
    deployments: &Informer<Deployment>,
    namespace: &str,
    reference: &k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference,
) -> Option<Arc<Deployment>> {
    if reference.kind != "Deployment" {
        return None;
    }
    deployments
        .get(Some(namespace), &reference.name)
        .filter(|d| d.uid().as_deref() == Some(reference.uid.as_str()))
}

fn selector_of(d: &Deployment) -> Option<Selector> {
    Selector::from_label_selector(d.spec.as_ref().map(|s| &s.selector)).ok()
}

fn add_replica_set_handlers(
    deployments: &Informer<Deployment>,
    replica_sets: &Informer<ReplicaSet>,
    queue: &WorkQueue<ObjectKey>,
) {
    let deployments = deployments.clone();
    let queue = queue.clone();
    let enqueue_owner = {
        let deployments = deployments.clone();
        let queue = queue.clone();
        move |rs: &ReplicaSet| -> bool {
            let namespace = rs.namespace().unwrap_or_default();
            match controller_of(&rs.metadata) {
                Some(reference) => {
                    if let Some(d) = resolve(&deployments, &namespace, reference) {
                        queue.add(ObjectKey::of(d.as_ref()));
                    }
                    true
                }
                None => false,
            }
        }
    };
    let enqueue_matching = {
        let deployments = deployments.clone();
        let queue = queue.clone();
        move |rs: &ReplicaSet| {
            let namespace = rs.namespace().unwrap_or_default();
            for d in deployments.list_namespace(&namespace) {
                if selector_of(&d).is_some_and(|s| s.matches(rs.metadata.labels.as_ref())) {
                    queue.add(ObjectKey::of(d.as_ref()));
                }
            }
        }
    };
    replica_sets.add_event_handler(move |change: Change<'_, ReplicaSet>| match change {
        Change::Added(rs) => {
            if !enqueue_owner(rs) && rs.metadata.deletion_timestamp.is_none() {
                enqueue_matching(rs);
            }
        }
        Change::Updated { old, new } => {
            if old.metadata.resource_version == new.metadata.resource_version {
                return;
            }
            let (old_ref, new_ref) = (controller_of(&old.metadata), controller_of(&new.metadata));
            let ref_changed = old_ref != new_ref;
            if ref_changed && old_ref.is_some() {
                enqueue_owner(old);
            }
            if enqueue_owner(new) {
                return;
            }
            if ref_changed || old.metadata.labels != new.metadata.labels {
                enqueue_matching(new);
            }
        }
        Change::Deleted(rs) => {
            enqueue_owner(rs);
        }
    });
}

/// A Recreate Deployment waits for its old pods to be gone: their deletion
/// queues it (upstream `deletePod`).
fn add_pod_handlers(
    deployments: &Informer<Deployment>,
    replica_sets: &Informer<ReplicaSet>,
    pods: &Informer<Pod>,
    queue: &WorkQueue<ObjectKey>,
) {
    let deployments = deployments.clone();
    let replica_sets = replica_sets.clone();
    let queue = queue.clone();
    pods.add_event_handler(move |change: Change<'_, Pod>| {
        let Change::Deleted(pod) = change else {
            return;
        };
        let namespace = pod.namespace().unwrap_or_default();
        let Some(rs) = controller_of(&pod.metadata)
            .filter(|r| r.kind == "ReplicaSet")
            .and_then(|r| {
                replica_sets
                    .get(Some(&namespace), &r.name)
                    .filter(|rs| rs.uid().as_deref() == Some(r.uid.as_str()))
            })
        else {
            return;
        };
        let Some(d) =
            controller_of(&rs.metadata).and_then(|r| resolve(&deployments, &namespace, r))
        else {
            return;
        };
        if replicas::strategy_type(&d) == replicas::RECREATE {
            queue.add(ObjectKey::of(d.as_ref()));
        }
    });
}

/// Reconciles Deployments by key.
pub struct DeploymentReconciler {
    client: Client,
    deployments: Informer<Deployment>,
    replica_sets: Informer<ReplicaSet>,
    pods: Informer<Pod>,
    recorder: EventRecorder,
}

impl DeploymentReconciler {
    fn rs_api(&self, namespace: &str) -> Api<ReplicaSet> {
        Api::namespaced(self.client.clone(), namespace)
    }

    fn deployment_api(&self, namespace: &str) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Upstream `getReplicaSetsForDeployment`: the namespace's ReplicaSets,
    /// claimed by the selector.
    async fn claim_replica_sets(
        &self,
        d: &Deployment,
        selector: &Selector,
    ) -> Result<Vec<ReplicaSet>, ClaimError> {
        let namespace = d.namespace().unwrap_or_default();
        let claimed = claim(
            &self.client,
            &self.rs_api(&namespace),
            &Owner::of(d),
            owned_and_orphans(
                &self.replica_sets,
                d.uid().as_deref().unwrap_or_default(),
                &namespace,
            ),
            |rs: &ReplicaSet| selector.matches(rs.metadata.labels.as_ref()),
        )
        .await?;
        Ok(claimed.into_iter().map(|rs| (*rs).clone()).collect())
    }

    /// Upstream `getPodMapForDeployment`: the selected pods by the UID of
    /// the ReplicaSet (of `rss`) that controls them.
    fn pod_map(
        &self,
        d: &Deployment,
        selector: &Selector,
        rss: &[ReplicaSet],
    ) -> HashMap<String, Vec<Arc<Pod>>> {
        let namespace = d.namespace().unwrap_or_default();
        rss.iter()
            .map(|rs| {
                let uid = rs.uid().unwrap_or_default();
                let mut pods = self.pods.by_index(CONTROLLER_UID_INDEX, &uid);
                pods.retain(|pod| {
                    pod.metadata.namespace.as_deref() == Some(namespace.as_str())
                        && selector.matches(pod.metadata.labels.as_ref())
                });
                (uid, pods)
            })
            .collect()
    }
}

impl Reconciler<ObjectKey> for DeploymentReconciler {
    type Error = SyncError;

    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, SyncError> {
        let namespace = key.namespace.clone().unwrap_or_default();
        let Some(cached) = self.deployments.get(Some(&namespace), &key.name) else {
            return Ok(Action::await_change());
        };
        let mut d = (*cached).clone();
        let selector = match Selector::from_label_selector(d.spec.as_ref().map(|s| &s.selector)) {
            Ok(selector) if !selector.is_everything() => selector,
            Ok(_) => {
                self.recorder.event(
                    &d,
                    EventType::Warning,
                    "SelectingAll",
                    "This deployment is selecting all pods. A non-empty selector is required.",
                );
                self.observe_generation_only(&mut d).await?;
                return Ok(Action::await_change());
            }
            Err(err) => {
                self.recorder.event(
                    &d,
                    EventType::Warning,
                    "InvalidSelector",
                    &format!("Invalid selector: {err}"),
                );
                self.observe_generation_only(&mut d).await?;
                return Ok(Action::await_change());
            }
        };
        let mut rs_list = self.claim_replica_sets(&d, &selector).await?;
        if d.metadata.deletion_timestamp.is_some() {
            self.sync_status_only(&mut d, &mut rs_list).await?;
            return Ok(Action::await_change());
        }
        self.check_paused_conditions(&mut d).await?;
        if replicas::paused(&d) {
            self.sync(&mut d, &mut rs_list).await?;
            return Ok(Action::await_change());
        }
        if self.is_scaling_event(&mut d, &mut rs_list).await? {
            self.sync(&mut d, &mut rs_list).await?;
            return Ok(Action::await_change());
        }
        match replicas::strategy_type(&d) {
            replicas::RECREATE => {
                // Only Recreate waits for old pods; the map is built for it
                // alone.
                let pod_map = self.pod_map(&d, &selector, &rs_list);
                self.rollout_recreate(&mut d, &mut rs_list, &pod_map).await
            }
            replicas::ROLLING_UPDATE => self.rollout_rolling(&mut d, &mut rs_list).await,
            other => Err(SyncError::Invalid(format!(
                "unexpected deployment strategy type: {other}"
            ))),
        }
    }
}
