//! `disruption-controller`: keeps the status of every PodDisruptionBudget
//! current, which the apiserver's eviction subresource (`kubectl drain`)
//! reads to decide whether a pod may go.
//!
//! One sync of a PDB ([`budget`] holds the arithmetic):
//!
//! - the pods of its namespace matching `spec.selector`;
//! - `expectedPods` and `desiredHealthy` from `minAvailable` (a number:
//!   the matching pods count; a percentage: of the pods' controllers'
//!   summed scale) or `maxUnavailable` (of the summed scale), where the
//!   scale of a pod's controller is the `spec.replicas` of its
//!   ReplicaSet (or the Deployment owning that ReplicaSet),
//!   ReplicationController or StatefulSet;
//! - `currentHealthy`: ready pods not being deleted and not in
//!   `disruptedPods` (entries the eviction API adds; they lapse after two
//!   minutes or when the pod is deleted);
//! - `disruptionsAllowed = max(0, currentHealthy - desiredHealthy)` (0 while
//!   no pods are expected), the `DisruptionAllowed` condition
//!   (`SufficientPods` / `InsufficientPods`, `SyncFailed` on errors) and
//!   `observedGeneration`.

pub mod budget;

use std::collections::HashSet;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::{Api, Client, ResourceExt};

use self::budget::{
    BudgetError, count_healthy, disruptions_allowed, expected_counts, live_disrupted_pods,
    set_condition,
};
use crate::framework::api_errors;
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::controller_ref::controller_of;
use crate::framework::events::{EventRecorder, EventType};
use crate::framework::informer::{Change, Informer};
use crate::framework::key::ObjectKey;
use crate::framework::label_index;
use crate::framework::queue::WorkQueue;
use crate::framework::selector::Selector;
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "disruption-controller";

fn selector(pdb: &PodDisruptionBudget) -> Option<Selector> {
    Selector::from_label_selector(pdb.spec.as_ref().and_then(|s| s.selector.as_ref())).ok()
}

/// Builds the `disruption-controller`.
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let pdbs = ctx.informers.informer::<PodDisruptionBudget>();
    let pods = ctx.informers.informer::<Pod>();
    let replica_sets = ctx.informers.informer::<ReplicaSet>();
    let deployments = ctx.informers.informer::<Deployment>();
    let controllers = ctx.informers.informer::<ReplicationController>();
    let stateful_sets = ctx.informers.informer::<StatefulSet>();
    // A sync reads the pods its selector matches, not the namespace.
    label_index::add_label_index(&pods);
    let queue = WorkQueue::<ObjectKey>::new("disruption");
    {
        let queue = queue.clone();
        pdbs.add_event_handler(move |change: Change<'_, PodDisruptionBudget>| {
            queue.add(ObjectKey::of(change.object()));
        });
    }
    {
        let queue = queue.clone();
        let pdbs = pdbs.clone();
        pods.add_event_handler(move |change: Change<'_, Pod>| {
            let enqueue = |pod: &Pod| {
                let namespace = pod.namespace().unwrap_or_default();
                for pdb in pdbs.list_namespace(&namespace) {
                    if selector(&pdb).is_some_and(|s| s.matches(pod.metadata.labels.as_ref())) {
                        queue.add(ObjectKey::of(pdb.as_ref()));
                    }
                }
            };
            match change {
                Change::Added(pod) | Change::Deleted(pod) => enqueue(pod),
                Change::Updated { old, new } => {
                    enqueue(new);
                    if old.metadata.labels != new.metadata.labels {
                        enqueue(old);
                    }
                }
            }
        });
    }
    let reconciler = DisruptionReconciler {
        client: ctx.client.clone(),
        pdbs: pdbs.clone(),
        pods: pods.clone(),
        replica_sets: replica_sets.clone(),
        deployments: deployments.clone(),
        controllers: controllers.clone(),
        stateful_sets: stateful_sets.clone(),
        recorder: ctx.recorder("controllermanager"),
    };
    Ok(Some(Box::new(
        QueueController::new(NAME, queue, reconciler, 1, ctx)
            .wait_for(pdbs)
            .wait_for(pods)
            .wait_for(replica_sets)
            .wait_for(deployments)
            .wait_for(controllers)
            .wait_for(stateful_sets),
    )))
}

/// Why a sync failed (retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Writing the status failed.
    #[error("updating the PodDisruptionBudget status: {}", api_errors::message(.0))]
    Status(kube::Error),
}

/// Keeps one PDB's status current.
pub struct DisruptionReconciler {
    client: Client,
    pdbs: Informer<PodDisruptionBudget>,
    pods: Informer<Pod>,
    replica_sets: Informer<ReplicaSet>,
    deployments: Informer<Deployment>,
    controllers: Informer<ReplicationController>,
    stateful_sets: Informer<StatefulSet>,
    recorder: EventRecorder,
}

impl DisruptionReconciler {
    /// The summed `spec.replicas` of the pods' controllers, each counted
    /// once (upstream `getExpectedScale`).
    fn expected_scale(&self, namespace: &str, pods: &[&Pod]) -> Result<i32, BudgetError> {
        let mut seen = HashSet::new();
        let mut total = 0i32;
        for pod in pods {
            let name = pod.name_any();
            let reference = controller_of(&pod.metadata)
                .ok_or_else(|| BudgetError::NoController(name.clone()))?;
            let (uid, replicas) = self
                .scale_of(namespace, reference)
                .ok_or_else(|| BudgetError::UnknownController(name.clone()))?;
            if seen.insert(uid) {
                total = total.saturating_add(replicas);
            }
        }
        Ok(total)
    }

    /// `(uid, replicas)` of the controller `reference` points to (for a
    /// ReplicaSet owned by a Deployment: the Deployment's).
    fn scale_of(
        &self,
        namespace: &str,
        reference: &k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference,
    ) -> Option<(String, i32)> {
        let uid_matches = |uid: Option<String>| uid.as_deref() == Some(reference.uid.as_str());
        match reference.kind.as_str() {
            "ReplicaSet" => {
                let rs = self.replica_sets.get(Some(namespace), &reference.name)?;
                if !uid_matches(rs.uid()) {
                    return None;
                }
                if let Some(owner) = controller_of(&rs.metadata).filter(|o| o.kind == "Deployment")
                    && let Some(d) = self.deployments.get(Some(namespace), &owner.name)
                    && d.uid().as_deref() == Some(owner.uid.as_str())
                {
                    let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    return Some((owner.uid.clone(), replicas));
                }
                let replicas = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                Some((reference.uid.clone(), replicas))
            }
            "ReplicationController" => {
                let rc = self.controllers.get(Some(namespace), &reference.name)?;
                uid_matches(rc.uid()).then(|| {
                    let replicas = rc.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    (reference.uid.clone(), replicas)
                })
            }
            "StatefulSet" => {
                let sts = self.stateful_sets.get(Some(namespace), &reference.name)?;
                uid_matches(sts.uid()).then(|| {
                    let replicas = sts.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    (reference.uid.clone(), replicas)
                })
            }
            _ => None,
        }
    }
}

impl Reconciler<ObjectKey> for DisruptionReconciler {
    type Error = SyncError;

    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, SyncError> {
        let namespace = key.namespace.clone().unwrap_or_default();
        let Some(pdb) = self.pdbs.get(Some(&namespace), &key.name) else {
            return Ok(Action::await_change());
        };
        if pdb.metadata.deletion_timestamp.is_some() {
            return Ok(Action::await_change());
        }
        let now = Timestamp::now();
        let generation = pdb.metadata.generation.unwrap_or(0);
        let selected = match selector(&pdb) {
            Some(s) => label_index::select(&self.pods, &namespace, &s),
            None => Vec::new(),
        };
        let pods: Vec<&Pod> = selected.iter().map(|p| p.as_ref()).collect();
        if pods.is_empty() {
            self.recorder.event(
                pdb.as_ref(),
                EventType::Normal,
                "NoPods",
                "No matching pods found",
            );
        }
        let old = pdb.status.clone().unwrap_or_default();
        let mut status = old.clone();
        let mut next_check = None;
        match expected_counts(&pdb, &pods, || self.expected_scale(&namespace, &pods)) {
            Ok((expected, desired)) => {
                let (disrupted, expiry) = live_disrupted_pods(&pdb, &pods, now);
                next_check = expiry;
                let current = count_healthy(&pods, &disrupted);
                let allowed = disruptions_allowed(current, desired, expected);
                status.expected_pods = expected;
                status.desired_healthy = desired;
                status.current_healthy = current;
                status.disruptions_allowed = allowed;
                status.disrupted_pods = (!disrupted.is_empty()).then_some(disrupted);
                let mut conditions = status.conditions.take().unwrap_or_default();
                if allowed > 0 {
                    set_condition(&mut conditions, true, "SufficientPods", "", generation, now);
                } else {
                    set_condition(
                        &mut conditions,
                        false,
                        "InsufficientPods",
                        "",
                        generation,
                        now,
                    );
                }
                status.conditions = Some(conditions);
            }
            Err(err) => {
                self.recorder.event(
                    pdb.as_ref(),
                    EventType::Warning,
                    "CalculateExpectedPodCountFailed",
                    &format!("Failed to calculate the number of expected pods: {err}"),
                );
                // Upstream `failSafe`: no disruptions until it is sorted out.
                status.disruptions_allowed = 0;
                let mut conditions = status.conditions.take().unwrap_or_default();
                set_condition(
                    &mut conditions,
                    false,
                    "SyncFailed",
                    &err.to_string(),
                    generation,
                    now,
                );
                status.conditions = Some(conditions);
            }
        }
        status.observed_generation = Some(generation);
        if old != status {
            let mut updated = (*pdb).clone();
            updated.status = Some(status);
            let api: Api<PodDisruptionBudget> = Api::namespaced(self.client.clone(), &namespace);
            api.replace_status(&key.name, &PostParams::default(), &updated)
                .await
                .map_err(SyncError::Status)?;
        }
        Ok(match next_check {
            Some(at) => Action::requeue(
                now.duration_until(at)
                    .unsigned_abs()
                    .max(Duration::from_secs(1)),
            ),
            None => Action::await_change(),
        })
    }
}
