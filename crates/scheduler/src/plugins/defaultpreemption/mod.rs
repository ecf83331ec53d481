//! DefaultPreemption: when a pod fits nowhere, find a node where evicting
//! lower-priority pods (respecting PodDisruptionBudgets as far as possible)
//! would make it fit, nominate the pod there and delete the victims
//! gracefully.

mod candidates;

use std::sync::Arc;

use serde_json::json;

use self::candidates::{Candidate, pick_one_node, select_victims_on_node};
use crate::config::args::{DefaultPreemptionArgs, decode};
use crate::framework::{
    Code, Diagnosis, EventSpec, EventType, ExtensionPoints, FitError, NodeToStatus, Plugin,
    PodInfo, PostFilterContext, PostFilterResult, Status,
};
use crate::metrics;

/// Plugin name.
pub const NAME: &str = "DefaultPreemption";
/// Status of nodes where evicting pods cannot help.
pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";

/// The DefaultPreemption plugin.
#[derive(Debug)]
pub struct DefaultPreemption {
    args: DefaultPreemptionArgs,
}

impl DefaultPreemption {
    /// Builds the plugin from its args.
    pub fn new(args: Option<&serde_json::Value>) -> Result<Self, String> {
        let args: DefaultPreemptionArgs = decode(args, "args")?;
        let errors = args.validate("args");
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        Ok(DefaultPreemption { args })
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
        ExtensionPoints::POST_FILTER
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
        let mut non_violating: Vec<Candidate> = Vec::new();
        let mut violating: Vec<Candidate> = Vec::new();
        for k in 0..potential.len() {
            let node = snapshot.slot(potential[(offset + k) % potential.len()]);
            match select_victims_on_node(ctx, pod, node, &pdbs) {
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
        prepare_candidate(ctx, pod, &best);
        metrics::preemption_victims(best.victims.len());
        (
            PostFilterResult {
                nominated_node_name: Some(best.node.clone()),
            },
            Status::success(),
        )
    }
}

/// Evicts the victims (DisruptionTarget condition, graceful delete,
/// `Preempted` event) and clears the nominations of lower-priority pods on
/// the node, in the background like upstream's asynchronous preemption.
fn prepare_candidate(ctx: &PostFilterContext<'_>, pod: &PodInfo, best: &Candidate) {
    let api = ctx.api.clone();
    let scheduler_name = pod.scheduler_name.clone();
    let profile = ctx.framework.profile_name.clone();
    let preemptor_ref = object_ref(pod);
    let preemptor_uid = pod.uid.clone();
    let node = best.node.clone();
    let victims: Vec<Arc<PodInfo>> = best.victims.clone();
    let lower_nominated: Vec<Arc<PodInfo>> = ctx
        .snapshot
        .nominated_pods(&node)
        .iter()
        .filter(|p| p.priority < pod.priority && p.uid != pod.uid)
        .cloned()
        .collect();
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no async runtime: preemption victims are not evicted");
        return;
    };
    runtime.spawn(async move {
        for victim in victims {
            let condition = json!({"status": {"conditions": [{
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "PreemptionByScheduler",
                "message": format!("{scheduler_name}: preempting to accommodate a higher priority pod"),
                "lastTransitionTime": k8s_openapi::jiff::Timestamp::now().to_string(),
            }]}});
            if let Err(err) = api.patch_pod_status(&victim.namespace, &victim.name, condition).await {
                tracing::warn!(pod = %victim.key(), error = %err, "adding the DisruptionTarget condition to a preemption victim");
            }
            match api.delete_pod(&victim.namespace, &victim.name, &victim.uid).await {
                Ok(()) | Err(crate::framework::ApiError::NotFound(_)) => {}
                Err(err) => {
                    tracing::warn!(pod = %victim.key(), error = %err, "deleting a preemption victim");
                    continue;
                }
            }
            api.record_event(EventSpec {
                regarding: object_ref(&victim),
                related: Some(preemptor_ref.clone()),
                type_: EventType::Normal,
                reason: "Preempted".into(),
                action: "Preempting".into(),
                note: format!("Preempted by pod {preemptor_uid} on node {node}"),
                reporting_controller: profile.clone(),
            });
        }
        for other in lower_nominated {
            let patch = json!({"status": {"nominatedNodeName": null}});
            if let Err(err) = api.patch_pod_status(&other.namespace, &other.name, patch).await {
                tracing::warn!(pod = %other.key(), error = %err, "clearing a lower-priority nomination");
            }
        }
    });
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
