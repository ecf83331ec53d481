//! `disruption-controller`: keeps the status of every PodDisruptionBudget
//! current, which the apiserver's eviction subresource (`kubectl drain`)
//! reads to decide whether a pod may go.
//!
//! One sync of a PDB ([`budget`] holds the arithmetic, [`scale`] the
//! controllers' scale):
//!
//! - the pods of its namespace matching `spec.selector` (through the pod
//!   informer's label index, not a scan of the namespace);
//! - `expectedPods` and `desiredHealthy` from `minAvailable` (a number:
//!   the matching pods count; a percentage: of the pods' controllers'
//!   summed scale) or `maxUnavailable` (of the summed scale), where the
//!   scale of a pod's controller is the `spec.replicas` of its
//!   ReplicationController, Deployment (through its ReplicaSet),
//!   ReplicaSet or StatefulSet, or for any other kind (custom resources)
//!   `spec.replicas` of its `/scale` subresource. Pods without a
//!   controller are left out of the sum and reported by an
//!   `UnmanagedPods` warning; a controller that cannot be found fails the
//!   sync (`CalculateExpectedPodCountFailed`);
//! - `currentHealthy`: ready pods not being deleted and not in
//!   `disruptedPods` (entries the eviction API adds; they lapse after two
//!   minutes, with a `NotDeleted` warning on a pod that is still there, or
//!   when the pod is deleted);
//! - `disruptionsAllowed = max(0, currentHealthy - desiredHealthy)` (0 while
//!   no pods are expected), the `DisruptionAllowed` condition
//!   (`SufficientPods` / `InsufficientPods`) and `observedGeneration`.
//!   A failed sync (upstream `failSafe`) sets `disruptionsAllowed` to 0
//!   and the condition to `False` / `SyncFailed` with the error.
//!
//! A pod's add, update or delete syncs the first PDB (by name) matching
//! it, as upstream's `getPdbForPod`; a pod matching several PDBs gets a
//! `MultiplePodDisruptionBudgets` warning naming the one chosen, and the
//! others are not synced for it (the eviction API refuses to evict such a
//! pod). A second queue
//! (`stale_pod_disruption`, [`stale`]) resets `DisruptionTarget`
//! conditions left on pods that were not deleted after all.

pub mod budget;
pub mod scale;
pub mod stale;

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::{Api, Client, ResourceExt};

use self::budget::{
    BudgetError, count_healthy, disrupted_pods, disruptions_allowed, expected_counts, needs_scale,
    set_condition,
};
use self::scale::{ExpectedScale, ScaleFinder};
use self::stale::{StaleDisruptionReconciler, stale_after};
use crate::controllers::job::Pair;
use crate::framework::api_errors;
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::events::{EventRecorder, EventType};
use crate::framework::informer::{Change, Informer};
use crate::framework::key::ObjectKey;
use crate::framework::label_index;
use crate::framework::queue::WorkQueue;
use crate::framework::selector::{Selector, go_selector_text};
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "disruption-controller";

fn selector(pdb: &PodDisruptionBudget) -> Option<Selector> {
    Selector::from_label_selector(pdb.spec.as_ref().and_then(|s| s.selector.as_ref())).ok()
}

/// The PDBs of the pod's namespace whose selector matches it (upstream
/// `GetPodPodDisruptionBudgets`).
fn pdbs_of(
    pdbs: &Informer<PodDisruptionBudget>,
    pod: &Pod,
) -> Vec<std::sync::Arc<PodDisruptionBudget>> {
    let namespace = pod.namespace().unwrap_or_default();
    let mut matching: Vec<_> = pdbs
        .list_namespace(&namespace)
        .into_iter()
        .filter(|pdb| selector(pdb).is_some_and(|s| s.matches(pod.metadata.labels.as_ref())))
        .collect();
    matching.sort_by_key(|pdb| pdb.name_any());
    matching
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
    let stale_queue = WorkQueue::<ObjectKey>::new("stale_pod_disruption");
    let recorder = ctx.recorder("controllermanager");
    {
        let queue = queue.clone();
        pdbs.add_event_handler(move |change: Change<'_, PodDisruptionBudget>| {
            queue.add(ObjectKey::of(change.object()));
        });
    }
    {
        let queue = queue.clone();
        let stale_queue = stale_queue.clone();
        let pdbs = pdbs.clone();
        let recorder = recorder.clone();
        pods.add_event_handler(move |change: Change<'_, Pod>| {
            // Upstream `getPdbForPod`: only the first matching PDB is synced
            // (the others learn of the pod at their own next sync), with a
            // warning on the pod when there are several.
            let enqueue = |pod: &Pod, warn: bool| {
                let matching = pdbs_of(&pdbs, pod);
                let Some(first) = matching.first() else {
                    return;
                };
                if warn && matching.len() > 1 {
                    recorder.event(
                        pod,
                        EventType::Warning,
                        "MultiplePodDisruptionBudgets",
                        &format!(
                            "Pod {:?}/{:?} matches multiple PodDisruptionBudgets.  Chose {:?} arbitrarily.",
                            pod.namespace().unwrap_or_default(),
                            pod.name_any(),
                            first.name_any()
                        ),
                    );
                }
                queue.add(ObjectKey::of(first.as_ref()));
            };
            match change {
                Change::Added(pod) | Change::Deleted(pod) => enqueue(pod, true),
                // As upstream, only the new pod counts: a PDB the pod's old
                // labels matched is not synced. A resync (same
                // resourceVersion) does not repeat the warning.
                Change::Updated { old, new } => {
                    enqueue(new, old.metadata.resource_version != new.metadata.resource_version);
                }
            }
            if let Change::Added(pod) | Change::Updated { new: pod, .. } = change
                && let Some(wait) = stale_after(pod, Timestamp::now())
            {
                stale_queue.add_after(ObjectKey::of(pod), wait);
            }
        });
    }
    let reconciler = DisruptionReconciler {
        client: ctx.client.clone(),
        pdbs: pdbs.clone(),
        pods: pods.clone(),
        scales: ScaleFinder {
            client: ctx.client.clone(),
            replica_sets: replica_sets.clone(),
            deployments: deployments.clone(),
            controllers: controllers.clone(),
            stateful_sets: stateful_sets.clone(),
        },
        recorder,
    };
    let main = QueueController::new(NAME, queue, reconciler, 1, ctx)
        .wait_for(pdbs)
        .wait_for(pods.clone())
        .wait_for(replica_sets)
        .wait_for(deployments)
        .wait_for(controllers)
        .wait_for(stateful_sets);
    let stale = StaleDisruptionReconciler {
        client: ctx.client.clone(),
        pods: pods.clone(),
    };
    let stale = QueueController::new(NAME, stale_queue, stale, 1, ctx).wait_for(pods);
    Ok(Some(Box::new(Pair {
        name: NAME,
        first: Box::new(main),
        second: Box::new(stale),
    })))
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
    scales: ScaleFinder,
    recorder: EventRecorder,
}

/// What one sync computed, or why it could not.
struct Computed {
    status: PodDisruptionBudgetStatus,
    next_check: Option<Timestamp>,
}

impl DisruptionReconciler {
    /// Upstream `trySync` up to the status write.
    async fn compute(
        &self,
        pdb: &PodDisruptionBudget,
        pods: &[&Pod],
        now: Timestamp,
    ) -> Result<Computed, BudgetError> {
        let scale = if needs_scale(pdb) {
            Some(self.scales.expected_scale(pods).await)
        } else {
            None
        };
        let mut unmanaged = Vec::new();
        let counts = expected_counts(pdb, pods, || match scale {
            Some(Ok(ExpectedScale {
                total,
                unmanaged: found,
            })) => {
                unmanaged = found;
                Ok(total)
            }
            Some(Err(err)) => Err(err),
            None => Ok(0),
        });
        let (expected, desired) = match counts {
            Ok(counts) => counts,
            Err(err) => {
                self.recorder.event(
                    pdb,
                    EventType::Warning,
                    "CalculateExpectedPodCountFailed",
                    &format!("Failed to calculate the number of expected pods: {err}"),
                );
                return Err(err);
            }
        };
        if !unmanaged.is_empty() {
            tracing::debug!(pdb = %ObjectKey::of(pdb), pods = ?unmanaged, "unmanaged pods selected");
            self.recorder.event(
                pdb,
                EventType::Warning,
                "UnmanagedPods",
                &format!(
                    "Pods selected by this PodDisruptionBudget (selector: {}) were found to be unmanaged. \
                     As a result, the status of the PDB cannot be calculated correctly, which may result \
                     in undefined behavior. To account for these pods please set \".spec.minAvailable\" \
                     field of the PDB to an integer value.",
                    selector_text(pdb)
                ),
            );
        }
        let disrupted = disrupted_pods(pdb, pods, now);
        for name in &disrupted.not_deleted {
            if let Some(pod) = pods.iter().find(|p| &p.name_any() == name) {
                // Upstream prints the PDB's namespace twice; kept, so
                // the message reads the same.
                let namespace = pdb.namespace().unwrap_or_default();
                self.recorder.event(
                    *pod,
                    EventType::Warning,
                    "NotDeleted",
                    &format!(
                        "Pod was expected by PDB {namespace}/{namespace} to be deleted but it wasn't"
                    ),
                );
            }
        }
        let current = count_healthy(pods, &disrupted.live);
        let allowed = disruptions_allowed(current, desired, expected);
        let generation = pdb.metadata.generation.unwrap_or(0);
        let mut status = pdb.status.clone().unwrap_or_default();
        status.expected_pods = expected;
        status.desired_healthy = desired;
        status.current_healthy = current;
        status.disruptions_allowed = allowed;
        status.disrupted_pods = (!disrupted.live.is_empty()).then_some(disrupted.live);
        status.observed_generation = Some(generation);
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
        Ok(Computed {
            status,
            next_check: disrupted.next_expiry,
        })
    }
}

/// The PDB's selector as upstream's event prints it (`%v` of a
/// `*metav1.LabelSelector`).
fn selector_text(pdb: &PodDisruptionBudget) -> String {
    go_selector_text(pdb.spec.as_ref().and_then(|s| s.selector.as_ref()))
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
        let (status, next_check) = match self.compute(&pdb, &pods, now).await {
            Ok(Computed { status, next_check }) => (status, next_check),
            Err(err) => {
                // Upstream `failSafe`: no disruptions until it is sorted
                // out; the rest of the status is left as it was.
                let mut status = old.clone();
                status.disruptions_allowed = 0;
                let observed = status.observed_generation.unwrap_or(0);
                let mut conditions = status.conditions.take().unwrap_or_default();
                set_condition(
                    &mut conditions,
                    false,
                    "SyncFailed",
                    &err.to_string(),
                    observed,
                    now,
                );
                status.conditions = Some(conditions);
                (status, None)
            }
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_print_like_go() {
        let pdb: PodDisruptionBudget = serde_json::from_value(json!({
            "metadata": {"name": "b"},
            "spec": {"selector": {"matchLabels": {"tier": "fe", "app": "web"},
                "matchExpressions": [{"key": "env", "operator": "In", "values": ["a", "b"]}]}}
        }))
        .unwrap();
        assert_eq!(
            selector_text(&pdb),
            "&LabelSelector{MatchLabels:map[string]string{app: web,tier: fe,},\
             MatchExpressions:[]LabelSelectorRequirement{\
             LabelSelectorRequirement{Key:env,Operator:In,Values:[a b],},},}"
        );
        assert_eq!(selector_text(&PodDisruptionBudget::default()), "nil");
    }
}
