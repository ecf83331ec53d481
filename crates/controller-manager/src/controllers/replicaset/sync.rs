//! One sync of a ReplicaSet / ReplicationController (upstream
//! `syncReplicaSet` and `manageReplicas`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::{Api, Client, ResourceExt};

use super::ReplicaOwner;
use super::ranking::pods_to_delete;
use super::status::{ReplicaStatus, calculate_status, needs_update};
use crate::framework::api_errors;
use crate::framework::controller::ControllerContext;
use crate::framework::controller_ref::{
    ClaimError, Owner, claim, controller_of, owned_and_orphans,
};
use crate::framework::events::{EventRecorder, EventType};
use crate::framework::expectations::Expectations;
use crate::framework::informer::Informer;
use crate::framework::key::ObjectKey;
use crate::framework::pod_control::{PodControl, slow_start_batch};
use crate::framework::pod_readiness::{is_active, pod_key};
use crate::framework::worker::{Action, Reconciler};

/// The first slow-start batch (upstream `SlowStartInitialBatchSize`).
pub const SLOW_START_INITIAL_BATCH_SIZE: usize = 1;

/// Why a sync failed (the key is retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Adopting or releasing pods failed.
    #[error(transparent)]
    Claim(#[from] ClaimError),
    /// Creating or deleting pods failed (also in `ReplicaFailure`).
    #[error("{0}")]
    Manage(String),
    /// Writing the status failed.
    #[error("{}", api_errors::message(.0))]
    Status(kube::Error),
}

/// Reconciles ReplicaSets (or ReplicationControllers) by key.
pub struct ReplicaSetReconciler<K: ReplicaOwner> {
    client: Client,
    owners: Informer<K>,
    pods: Informer<Pod>,
    expectations: Arc<Expectations>,
    pod_control: PodControl,
    recorder: EventRecorder,
    burst: usize,
}

impl<K: ReplicaOwner> ReplicaSetReconciler<K> {
    /// A reconciler over the given caches; creates and deletes at most
    /// `burst` pods per sync.
    pub fn new(
        ctx: &ControllerContext,
        owners: Informer<K>,
        pods: Informer<Pod>,
        expectations: Arc<Expectations>,
        burst: usize,
    ) -> Self {
        let recorder = ctx.recorder(K::EVENT_COMPONENT);
        Self {
            client: ctx.client.clone(),
            owners,
            pods,
            expectations,
            pod_control: PodControl::new(ctx.client.clone(), recorder.clone()),
            recorder,
            burst: burst.max(1),
        }
    }

    /// Creates or deletes pods so `pods` (the claimed active ones) reaches
    /// the desired count; the error message goes into `ReplicaFailure`.
    async fn manage_replicas(
        &self,
        key: &str,
        owner: &K,
        controller: &Owner,
        pods: &[Arc<Pod>],
    ) -> Result<(), String> {
        let desired = usize::try_from(owner.desired_replicas()).unwrap_or(0);
        let namespace = owner.namespace().unwrap_or_default();
        let reference = owner.object_ref(&());
        if pods.len() < desired {
            let diff = (desired - pods.len()).min(self.burst);
            let Some(template) = owner.template() else {
                return Err("spec.template is required to create pods".to_string());
            };
            self.expectations.expect_creations(key, diff);
            let controller_ref = controller.controller_ref();
            let (created, error) = slow_start_batch(diff, SLOW_START_INITIAL_BATCH_SIZE, || {
                let controller_ref = controller_ref.clone();
                let (namespace, reference) = (&namespace, &reference);
                async move {
                    match self
                        .pod_control
                        .create_pod(namespace, template, reference, controller_ref)
                        .await
                    {
                        Ok(_) => Ok(()),
                        // Nothing can be created there any more; the
                        // namespace controller removes us soon.
                        Err(err) if err.is_namespace_terminating() => Ok(()),
                        Err(err) => Err(err.to_string()),
                    }
                }
            })
            .await;
            // Creations never attempted (or failed) will not be observed.
            for _ in created..diff {
                self.expectations.creation_observed(key);
            }
            if created < diff {
                tracing::debug!(
                    skipped = diff - created,
                    "slow-start failure; skipped pod creations"
                );
            }
            return error.map_or(Ok(()), Err);
        }
        if pods.len() > desired {
            let diff = (pods.len() - desired).min(self.burst);
            let related = self.indirectly_related_pods(owner);
            let victims = pods_to_delete(pods.to_vec(), &related, diff, Timestamp::now());
            self.expectations
                .expect_deletions(key, victims.iter().map(|p| pod_key(p)));
            let results = futures::future::join_all(victims.iter().map(|pod| {
                let (namespace, reference) = (&namespace, &reference);
                async move {
                    let name = pod.name_any();
                    match self
                        .pod_control
                        .delete_pod(namespace, &name, reference)
                        .await
                    {
                        Ok(()) => None,
                        Err(err) => {
                            // The pod will not go away because of us.
                            self.expectations.deletion_observed(key, &pod_key(pod));
                            (!api_errors::is_not_found(&err)).then(|| api_errors::message(&err))
                        }
                    }
                }
            }))
            .await;
            if let Some(first) = results.into_iter().flatten().next() {
                return Err(first);
            }
        }
        Ok(())
    }

    /// Pods of every controller of this kind that shares `owner`'s own
    /// controller (the other ReplicaSets of a Deployment), for ranking.
    fn indirectly_related_pods(&self, owner: &K) -> Vec<Arc<Pod>> {
        let Some(parent) = controller_of(owner.meta()) else {
            return Vec::new();
        };
        let namespace = owner.namespace().unwrap_or_default();
        let siblings: Vec<Arc<K>> = self
            .owners
            .list_namespace(&namespace)
            .into_iter()
            .filter(|o| controller_of(o.meta()).is_some_and(|r| r.uid == parent.uid))
            .collect();
        let pods = self.pods.list_namespace(&namespace);
        let mut seen = HashSet::new();
        let mut related = Vec::new();
        for sibling in siblings {
            let Ok(selector) = sibling.selector() else {
                continue;
            };
            for pod in &pods {
                if selector.matches(pod.metadata.labels.as_ref())
                    && seen.insert(pod.uid().unwrap_or_default())
                {
                    related.push(pod.clone());
                }
            }
        }
        related
    }

    /// Writes `status` (with `observedGeneration`) if it changed; one retry
    /// on a fresh copy, as upstream.
    async fn update_status(&self, owner: &K, mut status: ReplicaStatus) -> Result<K, kube::Error> {
        if !needs_update(owner, &status) {
            return Ok(owner.clone());
        }
        let namespace = owner.namespace().unwrap_or_default();
        let name = owner.name_any();
        let api: Api<K> = Api::namespaced(self.client.clone(), &namespace);
        let mut current = owner.clone();
        let mut attempt = 0;
        loop {
            status.observed_generation = current.meta().generation.unwrap_or(0);
            match api
                .replace_status(&name, &PostParams::default(), &current.with_status(&status))
                .await
            {
                Ok(updated) => return Ok(updated),
                Err(err) if attempt == 0 && !api_errors::is_not_found(&err) => {
                    attempt += 1;
                    current = api.get(&name).await?;
                }
                Err(err) => return Err(err),
            }
        }
    }
}

impl<K: ReplicaOwner> Reconciler<ObjectKey> for ReplicaSetReconciler<K> {
    type Error = SyncError;

    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, SyncError> {
        let namespace = key.namespace.clone().unwrap_or_default();
        let key_string = key.to_string();
        let Some(owner) = self.owners.get(Some(&namespace), &key.name) else {
            self.expectations.delete(&key_string);
            return Ok(Action::await_change());
        };
        let needs_sync = self.expectations.satisfied(&key_string);
        let selector = match owner.selector() {
            Ok(selector) => selector,
            Err(err) => {
                // Bad input is reported, never retried in a loop.
                self.recorder.event(
                    owner.as_ref(),
                    EventType::Warning,
                    "InvalidSelector",
                    &format!("Invalid pod selector: {err}"),
                );
                return Ok(Action::await_change());
            }
        };
        // Upstream `FilterPodsByOwner`: pods owned by another controller
        // could never be claimed, so only ours and the orphans are read.
        let active: Vec<Arc<Pod>> = owned_and_orphans(
            &self.pods,
            owner.uid().as_deref().unwrap_or_default(),
            &namespace,
        )
        .into_iter()
        .filter(|p| is_active(p))
        .collect();
        let pods_api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        let controller = Owner::of(owner.as_ref());
        let claimed = claim(&self.client, &pods_api, &controller, active, |pod: &Pod| {
            selector.matches(pod.metadata.labels.as_ref())
        })
        .await?;
        let manage_error = if needs_sync && owner.meta().deletion_timestamp.is_none() {
            self.manage_replicas(&key_string, owner.as_ref(), &controller, &claimed)
                .await
                .err()
        } else {
            None
        };
        let status = calculate_status(
            owner.as_ref(),
            &claimed,
            manage_error.as_deref(),
            Timestamp::now(),
        );
        let updated = self
            .update_status(owner.as_ref(), status)
            .await
            .map_err(SyncError::Status)?;
        if let Some(message) = manage_error {
            return Err(SyncError::Manage(message));
        }
        // Look again once the ready pods count as available (a safety net
        // for clock skew; pod updates also trigger it).
        let min_ready = updated.min_ready_seconds();
        let status = updated.replica_status();
        let desired = updated.desired_replicas();
        if min_ready > 0 && status.ready_replicas == desired && status.available_replicas != desired
        {
            return Ok(Action::requeue(Duration::from_secs(
                u64::try_from(min_ready).unwrap_or(0),
            )));
        }
        Ok(Action::await_change())
    }
}
