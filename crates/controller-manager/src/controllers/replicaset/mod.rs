//! `replicaset-controller` (and, through the same code, the
//! `replicationcontroller-controller`): keeps `spec.replicas` pods matching
//! the selector, and reports them in `status`.
//!
//! Like upstream, one sync of a ReplicaSet:
//!
//! 1. claims the active pods of its namespace ([`controller_ref`]: adopts
//!    matching orphans, releases owned pods that no longer match);
//! 2. if its [`Expectations`] are satisfied and it is not being deleted,
//!    creates the missing pods in slow-start batches (1, 2, 4, ...; at
//!    most [`BURST_REPLICAS`] per sync) or deletes the extra ones, chosen by
//!    [`ranking`];
//! 3. writes `status` ([`status`]): replicas, fullyLabeledReplicas,
//!    readyReplicas, availableReplicas (ready for `minReadySeconds`),
//!    observedGeneration and the `ReplicaFailure` condition.
//!
//! Pod events feed the expectations (a created pod seen, a deleted pod gone)
//! and queue the owning controller; orphan pods queue every controller whose
//! selector matches them. A pod that turns ready queues its owner again
//! after `minReadySeconds` + 1 s, when it becomes available.
//!
//! [`controller_ref`]: crate::framework::controller_ref

pub mod ranking;
pub mod status;
mod sync;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use kube::ResourceExt;
use serde::Serialize;

pub use self::status::ReplicaStatus;
pub use self::sync::ReplicaSetReconciler;
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::controller_ref::{add_controller_uid_index, controller_of};
use crate::framework::expectations::Expectations;
use crate::framework::informer::{Change, Informer, InformerResource};
use crate::framework::key::ObjectKey;
use crate::framework::pod_readiness::{is_ready, pod_key};
use crate::framework::queue::WorkQueue;
use crate::framework::selector::{Selector, SelectorError};

/// Upstream name.
pub const NAME: &str = "replicaset-controller";
/// Most pods created or deleted by one sync (upstream `BurstReplicas`).
pub const BURST_REPLICAS: usize = 500;

/// What the replica logic needs from a ReplicaSet or a
/// ReplicationController (upstream converts ReplicationControllers to
/// ReplicaSets; here both implement this trait).
pub trait ReplicaOwner:
    InformerResource + Serialize + kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
{
    /// Upstream controller name (`replicaset-controller`).
    const CONTROLLER_NAME: &'static str;
    /// Work queue name (`replicaset`, `replicationmanager`).
    const QUEUE_NAME: &'static str;
    /// `source.component` of its events.
    const EVENT_COMPONENT: &'static str;

    /// The pod selector.
    fn selector(&self) -> Result<Selector, SelectorError>;
    /// `spec.replicas` (default 1).
    fn desired_replicas(&self) -> i32;
    /// `spec.minReadySeconds`.
    fn min_ready_seconds(&self) -> i32;
    /// `spec.template`.
    fn template(&self) -> Option<&PodTemplateSpec>;
    /// The current status.
    fn replica_status(&self) -> ReplicaStatus;
    /// A copy with `status` replaced.
    fn with_status(&self, status: &ReplicaStatus) -> Self;
}

impl ReplicaOwner for ReplicaSet {
    const CONTROLLER_NAME: &'static str = NAME;
    const QUEUE_NAME: &'static str = "replicaset";
    const EVENT_COMPONENT: &'static str = "replicaset-controller";

    fn selector(&self) -> Result<Selector, SelectorError> {
        Selector::from_label_selector(self.spec.as_ref().map(|s| &s.selector))
    }

    fn desired_replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }

    fn min_ready_seconds(&self) -> i32 {
        self.spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0)
    }

    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref().and_then(|s| s.template.as_ref())
    }

    fn replica_status(&self) -> ReplicaStatus {
        let Some(s) = self.status.as_ref() else {
            return ReplicaStatus::default();
        };
        ReplicaStatus {
            replicas: s.replicas,
            fully_labeled_replicas: s.fully_labeled_replicas.unwrap_or(0),
            ready_replicas: s.ready_replicas.unwrap_or(0),
            available_replicas: s.available_replicas.unwrap_or(0),
            observed_generation: s.observed_generation.unwrap_or(0),
            conditions: s.conditions.clone().unwrap_or_default(),
            terminating_replicas: s.terminating_replicas,
        }
    }

    fn with_status(&self, status: &ReplicaStatus) -> Self {
        let mut rs = self.clone();
        rs.status = Some(k8s_openapi::api::apps::v1::ReplicaSetStatus {
            replicas: status.replicas,
            fully_labeled_replicas: Some(status.fully_labeled_replicas),
            ready_replicas: Some(status.ready_replicas),
            available_replicas: Some(status.available_replicas),
            observed_generation: Some(status.observed_generation),
            conditions: (!status.conditions.is_empty()).then(|| status.conditions.clone()),
            terminating_replicas: status.terminating_replicas,
        });
        rs
    }
}

/// Builds the `replicaset-controller` (`--concurrent-replicaset-syncs`
/// workers).
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    Ok(Some(build::<ReplicaSet>(
        ctx,
        ctx.config.concurrency.replicaset,
    )))
}

/// Builds the controller for `K` with `workers` workers.
pub fn build<K: ReplicaOwner>(ctx: &ControllerContext, workers: usize) -> Box<dyn Controller> {
    let owners = ctx.informers.informer::<K>();
    let pods = ctx.informers.informer::<Pod>();
    let queue = WorkQueue::<ObjectKey>::new(K::QUEUE_NAME);
    // Registered up front so /metrics lists it from the start.
    ranking::sorting_deletion_age_ratio();
    let expectations = Arc::new(Expectations::new());
    // A sync looks at its own pods and the namespace's orphans only.
    add_controller_uid_index(&pods);
    add_owner_handlers(&owners, &queue, &expectations);
    add_pod_handlers(&owners, &pods, &queue, &expectations);
    let reconciler = ReplicaSetReconciler::new(
        ctx,
        owners.clone(),
        pods.clone(),
        expectations,
        BURST_REPLICAS,
    );
    Box::new(
        QueueController::new(K::CONTROLLER_NAME, queue, reconciler, workers, ctx)
            .wait_for(owners)
            .wait_for(pods),
    )
}

fn add_owner_handlers<K: ReplicaOwner>(
    owners: &Informer<K>,
    queue: &WorkQueue<ObjectKey>,
    expectations: &Arc<Expectations>,
) {
    let queue = queue.clone();
    let expectations = expectations.clone();
    owners.add_event_handler(move |change: Change<'_, K>| match change {
        Change::Added(owner) => queue.add(ObjectKey::of(owner)),
        Change::Updated { old, new } => {
            let key = ObjectKey::of(new);
            if old.meta().uid != new.meta().uid {
                // Deleted and created again under the same name while the
                // watch was down: the old one's expectations are void.
                expectations.delete(&key.to_string());
            }
            queue.add(key);
        }
        Change::Deleted(owner) => {
            let key = ObjectKey::of(owner);
            expectations.delete(&key.to_string());
            queue.add(key);
        }
    });
}

/// The controller of `K` a controller reference points to, if it is in
/// the cache with that UID (upstream `resolveControllerRef`).
pub(crate) fn resolve_controller_ref<K: ReplicaOwner>(
    owners: &Informer<K>,
    namespace: &str,
    reference: &k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference,
) -> Option<Arc<K>> {
    if reference.kind != K::kind(&()) {
        return None;
    }
    owners
        .get(Some(namespace), &reference.name)
        .filter(|owner| owner.uid().as_deref() == Some(reference.uid.as_str()))
}

/// The controllers of `K` whose selector matches an orphan `pod`.
fn matching_owners<K: ReplicaOwner>(owners: &Informer<K>, pod: &Pod) -> Vec<Arc<K>> {
    let namespace = pod.namespace().unwrap_or_default();
    owners
        .list_namespace(&namespace)
        .into_iter()
        .filter(|owner| {
            owner
                .selector()
                .is_ok_and(|s| s.matches(pod.metadata.labels.as_ref()))
        })
        .collect()
}

fn add_pod_handlers<K: ReplicaOwner>(
    owners: &Informer<K>,
    pods: &Informer<Pod>,
    queue: &WorkQueue<ObjectKey>,
    expectations: &Arc<Expectations>,
) {
    let owners = owners.clone();
    let queue = queue.clone();
    let expectations = expectations.clone();
    let deleted = {
        let owners = owners.clone();
        let queue = queue.clone();
        let expectations = expectations.clone();
        move |pod: &Pod| {
            let namespace = pod.namespace().unwrap_or_default();
            let Some(owner) = controller_of(&pod.metadata)
                .and_then(|r| resolve_controller_ref(&owners, &namespace, r))
            else {
                return;
            };
            let key = ObjectKey::of(owner.as_ref());
            expectations.deletion_observed(&key.to_string(), &pod_key(pod));
            queue.add(key);
        }
    };
    pods.add_event_handler(move |change: Change<'_, Pod>| match change {
        Change::Added(pod) => {
            if pod.metadata.deletion_timestamp.is_some() {
                // Seen for the first time while already being deleted (a
                // restart): not a creation we are waiting for.
                deleted(pod);
                return;
            }
            let namespace = pod.namespace().unwrap_or_default();
            if let Some(reference) = controller_of(&pod.metadata) {
                if let Some(owner) = resolve_controller_ref(&owners, &namespace, reference) {
                    let key = ObjectKey::of(owner.as_ref());
                    expectations.creation_observed(&key.to_string());
                    queue.add(key);
                }
                return;
            }
            for owner in matching_owners(&owners, pod) {
                queue.add(ObjectKey::of(owner.as_ref()));
            }
        }
        Change::Updated { old, new } => {
            if old.metadata.resource_version == new.metadata.resource_version {
                return;
            }
            let labels_changed = old.metadata.labels != new.metadata.labels;
            if new.metadata.deletion_timestamp.is_some() {
                // A graceful deletion began: replace the pod now rather
                // than when it is finally removed.
                deleted(new);
                if labels_changed {
                    deleted(old);
                }
                return;
            }
            let namespace = new.namespace().unwrap_or_default();
            let new_ref = controller_of(&new.metadata);
            let old_ref = controller_of(&old.metadata);
            let ref_changed = new_ref != old_ref;
            if ref_changed
                && let Some(owner) =
                    old_ref.and_then(|r| resolve_controller_ref(&owners, &namespace, r))
            {
                queue.add(ObjectKey::of(owner.as_ref()));
            }
            if let Some(reference) = new_ref {
                let Some(owner) = resolve_controller_ref(&owners, &namespace, reference) else {
                    return;
                };
                let key = ObjectKey::of(owner.as_ref());
                let min_ready = owner.min_ready_seconds();
                if !is_ready(old) && is_ready(new) && min_ready > 0 {
                    // Look again once the pod counts as available.
                    let after = Duration::from_secs(u64::try_from(min_ready).unwrap_or(0) + 1);
                    queue.add_after(key.clone(), after);
                }
                queue.add(key);
                return;
            }
            if labels_changed || ref_changed {
                for owner in matching_owners(&owners, new) {
                    queue.add(ObjectKey::of(owner.as_ref()));
                }
            }
        }
        Change::Deleted(pod) => deleted(pod),
    });
}

/// The `ReplicaFailure` condition type.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// A `ReplicaFailure`-style condition (upstream `NewReplicaSetCondition`).
pub fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
) -> ReplicaSetCondition {
    ReplicaSetCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        last_transition_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::now(),
        )),
    }
}
