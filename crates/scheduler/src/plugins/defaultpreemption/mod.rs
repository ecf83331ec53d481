//! DefaultPreemption: when a pod fits nowhere, find a node where evicting
//! lower-priority pods (respecting PodDisruptionBudgets as far as possible)
//! would make it fit, nominate the pod there and delete the victims
//! gracefully.
//!
//! The deletions run in the background (1.33's SchedulerAsyncPreemption,
//! on by default). Until they are issued the preemptor is held back by this
//! plugin's PreEnqueue, so that it is not retried (and does not preempt
//! again) while its victims are still being removed.

mod candidates;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::json;

use self::candidates::{Candidate, pick_one_node, select_victims_on_node};
use crate::config::args::{DefaultPreemptionArgs, decode};
use crate::framework::parallelize::Parallelizer;
use crate::framework::{
    ActionType, ClusterEventWithHint, Code, Diagnosis, EventResource, EventSpec, EventType,
    ExtensionPoints, FitError, NodeInfo, NodeToStatus, Plugin, PodInfo, PostFilterContext,
    PostFilterResult, QueueingHint, Status,
};
use crate::metrics;
use crate::plugins::Activator;

/// Plugin name.
pub const NAME: &str = "DefaultPreemption";
/// Status of nodes where evicting pods cannot help.
pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
/// PreEnqueue's message while a pod's victims are being deleted.
pub const WAITING: &str = "waiting for the preemption for this pod to be finished";

/// The UIDs of preemptors whose victims are still being deleted.
pub type Preempting = Arc<Mutex<HashSet<String>>>;

/// The DefaultPreemption plugin.
#[derive(Debug)]
pub struct DefaultPreemption {
    args: DefaultPreemptionArgs,
    preempting: Preempting,
    activator: Activator,
}

impl DefaultPreemption {
    /// Builds the plugin from its args; `activator` retries a preemptor
    /// whose victims could not all be deleted.
    pub fn new(args: Option<&serde_json::Value>, activator: Activator) -> Result<Self, String> {
        let args: DefaultPreemptionArgs = decode(args, "args")?;
        let errors = args.validate("args");
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        Ok(DefaultPreemption {
            args,
            preempting: Preempting::default(),
            activator,
        })
    }

    /// Whether the pod's preemption is still deleting victims (upstream
    /// `IsPodRunningPreemption`).
    pub fn is_pod_running_preemption(&self, uid: &str) -> bool {
        self.preempting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(uid)
    }

    /// How many candidates to look for among `n` potential nodes.
    fn num_candidates(&self, n: usize) -> usize {
        let pct = usize::try_from(self.args.min_candidate_nodes_percentage).unwrap_or(0);
        let abs = usize::try_from(self.args.min_candidate_nodes_absolute).unwrap_or(0);
        (n * pct / 100).max(abs).min(n)
    }
}

/// Upstream `PodEligibleToPreemptOthers`.
fn eligible(ctx: &PostFilterContext<'_>, pod: &PodInfo) -> Result<(), String> {
    let policy = pod
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.preemption_policy.as_deref());
    if policy == Some("Never") {
        return Err("not eligible due to preemptionPolicy=Never.".into());
    }
    let nominated = pod.nominated_node_name();
    if !nominated.is_empty() {
        if ctx.statuses.get(nominated).code() == Code::UnschedulableAndUnresolvable {
            return Ok(());
        }
        if let Some(node) = ctx.snapshot.node(nominated)
            && node
                .pods
                .iter()
                .any(|p| p.is_terminating() && p.priority < pod.priority)
        {
            return Err("not eligible due to a terminating pod on the nominated node.".into());
        }
    }
    Ok(())
}

/// A dry run's outcome on one node.
type DryRun<'a> = (&'a NodeInfo, Result<Candidate, Status>);

/// The dry runs of `0..n` (rotated node order) in chunks on the workers,
/// returned in order. No new chunk starts once the finished ones hold a
/// non-violating candidate and `wanted` candidates in all: the nodes that
/// ran are then a prefix long enough for the sequential stopping rule.
fn parallel_dry_runs<'a, F>(
    par: &Parallelizer,
    n: usize,
    wanted: usize,
    dry_run: &F,
) -> Vec<DryRun<'a>>
where
    F: Fn(usize) -> DryRun<'a> + Sync,
{
    let found = AtomicUsize::new(0);
    let non_violating = AtomicUsize::new(0);
    par.run_chunks(n, par.chunk_size(n), |range| {
        let out: Vec<DryRun<'a>> = range.map(dry_run).collect();
        let (mut all, mut fine) = (0, 0);
        for (_, result) in &out {
            if let Ok(c) = result
                && !c.victims.is_empty()
            {
                all += 1;
                fine += usize::from(c.num_pdb_violations == 0);
            }
        }
        let all = found.fetch_add(all, AtomicOrdering::AcqRel) + all;
        let fine = non_violating.fetch_add(fine, AtomicOrdering::AcqRel) + fine;
        (out, fine > 0 && all >= wanted)
    })
    .into_iter()
    .flatten()
    .collect()
}

fn fit_error_message(num_nodes: usize, statuses: NodeToStatus) -> String {
    FitError {
        num_all_nodes: num_nodes,
        diagnosis: Diagnosis {
            node_to_status: statuses,
            ..Diagnosis::default()
        },
    }
    .to_string()
}

impl Plugin for DefaultPreemption {
    fn name(&self) -> &'static str {
        NAME
    }

    fn extension_points(&self) -> ExtensionPoints {
        ExtensionPoints::PRE_ENQUEUE.or(ExtensionPoints::POST_FILTER)
    }

    fn pre_enqueue(&self, pod: &PodInfo) -> Status {
        if self.is_pod_running_preemption(&pod.uid) {
            return Status::unresolvable(WAITING);
        }
        Status::success()
    }

    /// Registered so a pod this plugin gates is looked at on pod deletions;
    /// the hint itself always skips: the plugins that rejected the pod in
    /// its cycle (NodeResourcesFit, ...) decide whether a deleted victim
    /// helps, and PreEnqueue then checks the preemption is over.
    fn events_to_register(&self) -> Vec<ClusterEventWithHint> {
        vec![ClusterEventWithHint::with_hint(
            EventResource::AssignedPod,
            ActionType::DELETE,
            |_, _| QueueingHint::Skip,
        )]
    }

    fn post_filter(
        &self,
        ctx: &PostFilterContext<'_>,
        pod: &PodInfo,
    ) -> (PostFilterResult, Status) {
        metrics::preemption_attempt();
        if let Err(message) = eligible(ctx, pod) {
            return (
                PostFilterResult::default(),
                Status::unschedulable(format!("preemption: {message}")),
            );
        }
        let clear = PostFilterResult {
            nominated_node_name: (!pod.nominated_node_name().is_empty()).then(String::new),
        };
        let not_helpful = Status::unresolvable(NOT_HELPFUL);
        let mut statuses = NodeToStatus {
            absent: not_helpful.clone(),
            ..NodeToStatus::default()
        };
        let snapshot = ctx.snapshot;
        let potential: Vec<usize> = snapshot
            .order()
            .iter()
            .copied()
            .filter(|&slot| {
                let name = &snapshot.slot(slot).name;
                if ctx.statuses.get(name).code() == Code::UnschedulableAndUnresolvable {
                    statuses.statuses.insert(name.clone(), not_helpful.clone());
                    false
                } else {
                    true
                }
            })
            .collect();
        let total = snapshot.num_nodes();
        if potential.is_empty() {
            let message = fit_error_message(total, statuses);
            return (
                clear,
                Status::unschedulable(format!("preemption: {message}")),
            );
        }
        let wanted = self.num_candidates(potential.len());
        let offset = crate::rng::below(potential.len());
        let pdbs: Vec<&crate::cache::PdbInfo> = snapshot.listers.pdbs.values().collect();
        let dry_run = |k: usize| {
            let node = snapshot.slot(potential[(offset + k) % potential.len()]);
            (node, select_victims_on_node(ctx, pod, node, &pdbs))
        };
        let par = snapshot.parallelizer();
        // Sequentially the dry runs stop at the first node where enough
        // candidates are known; in parallel, chunks of nodes run ahead and
        // their results are replayed here in node order with the same
        // stopping rule, so the outcome is the sequential one.
        let results: Box<dyn Iterator<Item = _>> = if par.is_parallel_for(potential.len()) {
            Box::new(parallel_dry_runs(par, potential.len(), wanted, &dry_run).into_iter())
        } else {
            Box::new((0..potential.len()).map(dry_run))
        };
        let mut non_violating: Vec<Candidate> = Vec::new();
        let mut violating: Vec<Candidate> = Vec::new();
        for (node, result) in results {
            match result {
                Ok(candidate) if candidate.victims.is_empty() => {
                    statuses.statuses.insert(
                        node.name.clone(),
                        Status::error(format!(
                            "expected at least one victim pod on node {:?}",
                            node.name
                        )),
                    );
                }
                Ok(candidate) => {
                    if candidate.num_pdb_violations == 0 {
                        non_violating.push(candidate);
                    } else {
                        violating.push(candidate);
                    }
                    if !non_violating.is_empty() && non_violating.len() + violating.len() >= wanted
                    {
                        break;
                    }
                }
                Err(status) => {
                    statuses.statuses.insert(node.name.clone(), status);
                }
            }
        }
        non_violating.extend(violating);
        let Some(best) = pick_one_node(non_violating) else {
            let message = fit_error_message(total, statuses);
            return (
                clear,
                Status::unschedulable(format!("preemption: {message}")),
            );
        };
        metrics::preemption_victims(best.victims.len());
        self.prepare_candidate_async(ctx, pod, &best);
        (
            PostFilterResult {
                nominated_node_name: Some(best.node.clone()),
            },
            Status::success(),
        )
    }
}

impl DefaultPreemption {
    /// Upstream `prepareCandidateAsync`: in a background task, clears the
    /// nominations of lower-priority pods on the node, then evicts the
    /// victims (DisruptionTarget condition, graceful delete, `Preempted`
    /// event). The preemptor is gated by PreEnqueue meanwhile; it is
    /// released just before the last victim's deletion, so the deletion
    /// event of that victim finds it ready to be retried (released after,
    /// the event could arrive first and be ignored, leaving the pod stuck).
    fn prepare_candidate_async(
        &self,
        ctx: &PostFilterContext<'_>,
        pod: &PodInfo,
        best: &Candidate,
    ) {
        // Victims already terminating need no second deletion.
        let victims: Vec<Arc<PodInfo>> = best
            .victims
            .iter()
            .filter(|v| !v.is_terminating())
            .cloned()
            .collect();
        if victims.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no async runtime: preemption victims are not evicted");
            return;
        };
        let eviction = Eviction {
            api: ctx.api.clone(),
            scheduler_name: pod.scheduler_name.clone(),
            profile: ctx.framework.profile_name.clone(),
            preemptor: object_ref(pod),
            preemptor_uid: pod.uid.clone(),
            node: best.node.clone(),
        };
        let lower_nominated: Vec<Arc<PodInfo>> = ctx
            .snapshot
            .nominated_pods(&best.node)
            .iter()
            .filter(|p| p.priority < pod.priority && p.uid != pod.uid)
            .cloned()
            .collect();
        let preempting = self.preempting.clone();
        let activator = self.activator.clone();
        let uid = pod.uid.clone();
        preempting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uid.clone());
        runtime.spawn(async move {
            let started = Instant::now();
            let mut ok = true;
            for other in lower_nominated {
                let patch = json!({"status": {"nominatedNodeName": null}});
                if let Err(err) = eviction.api.patch_pod_status(&other.namespace, &other.name, patch).await {
                    tracing::warn!(pod = %other.key(), error = %err, "clearing a lower-priority nomination");
                    ok = false;
                }
            }
            let (others, last) = victims.split_at(victims.len() - 1);
            for victim in others {
                ok &= eviction.evict(victim).await;
            }
            preempting
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&uid);
            // After a failure the other victims' deletions may never come:
            // retry the preemptor now rather than after the unschedulable
            // timeout (upstream activates it too). The last victim is still
            // tried, so the pod does not preempt the same pods again.
            for victim in last {
                ok &= eviction.evict(victim).await;
            }
            if !ok {
                activator.activate(&uid);
            }
            metrics::preemption_goroutine(if ok { "success" } else { "error" }, started.elapsed());
            tracing::debug!(preemptor = %uid, node = %eviction.node, ok, "asynchronous preemption finished");
        });
    }
}

/// What evicting one victim needs.
struct Eviction {
    api: Arc<dyn crate::framework::ClusterApi>,
    scheduler_name: String,
    profile: String,
    preemptor: k8s_openapi::api::core::v1::ObjectReference,
    preemptor_uid: String,
    node: String,
}

impl Eviction {
    /// DisruptionTarget condition, graceful delete, `Preempted` event.
    /// False when the victim could not be deleted.
    async fn evict(&self, victim: &PodInfo) -> bool {
        let condition = json!({"status": {"conditions": [{
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "PreemptionByScheduler",
            "message": format!("{}: preempting to accommodate a higher priority pod", self.scheduler_name),
            "lastTransitionTime": k8s_openapi::jiff::Timestamp::now().to_string(),
        }]}});
        match self
            .api
            .patch_pod_status(&victim.namespace, &victim.name, condition)
            .await
        {
            Ok(()) => {}
            // Already gone: nothing to delete.
            Err(crate::framework::ApiError::NotFound(_)) => return true,
            Err(err) => {
                tracing::warn!(pod = %victim.key(), error = %err, "adding the DisruptionTarget condition to a preemption victim");
                return false;
            }
        }
        match self
            .api
            .delete_pod(&victim.namespace, &victim.name, &victim.uid)
            .await
        {
            Ok(()) => {}
            Err(crate::framework::ApiError::NotFound(_)) => return true,
            Err(err) => {
                tracing::warn!(pod = %victim.key(), error = %err, "deleting a preemption victim");
                return false;
            }
        }
        self.api.record_event(EventSpec {
            regarding: object_ref(victim),
            related: Some(self.preemptor.clone()),
            type_: EventType::Normal,
            reason: "Preempted".into(),
            action: "Preempting".into(),
            note: format!(
                "Preempted by pod {} on node {}",
                self.preemptor_uid, self.node
            ),
            reporting_controller: self.profile.clone(),
        });
        true
    }
}

/// An ObjectReference to a pod.
pub fn object_ref(pod: &PodInfo) -> k8s_openapi::api::core::v1::ObjectReference {
    k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: Some(pod.name.clone()),
        namespace: Some(pod.namespace.clone()),
        uid: Some(pod.uid.clone()),
        resource_version: pod.pod.metadata.resource_version.clone(),
        ..Default::default()
    }
}
