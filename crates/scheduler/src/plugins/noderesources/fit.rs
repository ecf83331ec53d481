//! NodeResourcesFit: the pod's requests must fit what the node has left;
//! nodes are scored by the configured strategy.

use std::borrow::Cow;

use super::scorer::{AllocationScorer, Strategy};
use crate::cache::Snapshot;
use crate::config::args::{NodeResourcesFitArgs, decode};
use crate::framework::resource::is_extended_resource_name;
use crate::framework::{
    ActionType, ClusterEventWithHint, Code, EventObjects, EventResource, ExtensionPoints, NodeInfo,
    Plugin, PodInfo, PreFilterOutput, QueueingHint, Resource, StateBox, StateData, Status,
    state_ref,
};

/// Plugin name.
pub const NAME: &str = "NodeResourcesFit";

/// One resource the node lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsufficientResource {
    /// The resource.
    pub name: String,
    /// `Insufficient cpu`, `Too many pods`, ...
    pub reason: Cow<'static, str>,
    /// Preemption cannot help: the pod wants more than the node's total.
    pub unresolvable: bool,
}

/// The NodeResourcesFit plugin.
#[derive(Debug)]
pub struct Fit {
    ignored_resources: Vec<String>,
    ignored_groups: Vec<String>,
    scorer: AllocationScorer,
}

#[derive(Clone)]
struct PreFilterState {
    requests: Resource,
}

#[derive(Clone)]
struct PreScoreState {
    requests: Vec<i64>,
}

impl Fit {
    /// Builds the plugin from its args.
    pub fn new(args: Option<&serde_json::Value>) -> Result<Self, String> {
        let args: NodeResourcesFitArgs = decode(args, "args")?;
        let errors = args.validate("args");
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        let strategy = args.strategy();
        let kind = match strategy.type_.as_str() {
            "MostAllocated" => Strategy::MostAllocated,
            "RequestedToCapacityRatio" => {
                let shape: Vec<(i64, i64)> = strategy
                    .requested_to_capacity_ratio
                    .as_ref()
                    .map(|r| r.shape.iter().map(|p| (p.utilization, p.score)).collect())
                    .unwrap_or_default();
                AllocationScorer::ratio_strategy(&shape)
            }
            _ => Strategy::LeastAllocated,
        };
        Ok(Fit {
            ignored_resources: args.ignored_resources,
            ignored_groups: args.ignored_resource_groups,
            scorer: AllocationScorer::new(strategy.resources, false, kind),
        })
    }

    fn ignored(&self, name: &str) -> bool {
        if !is_extended_resource_name(name) {
            return false;
        }
        let group = name.split('/').next().unwrap_or("");
        self.ignored_resources.iter().any(|r| r == name)
            || self.ignored_groups.iter().any(|g| g == group)
    }

    /// What `node` lacks for a pod requesting `request` (upstream `fitsRequest`).
    pub fn insufficient(&self, request: &Resource, node: &NodeInfo) -> Vec<InsufficientResource> {
        let mut out = Vec::new();
        let allowed = node.allocatable.allowed_pod_number;
        if i64::try_from(node.pods.len())
            .unwrap_or(i64::MAX)
            .saturating_add(1)
            > allowed
        {
            out.push(InsufficientResource {
                name: "pods".into(),
                reason: Cow::Borrowed("Too many pods"),
                unresolvable: false,
            });
        }
        if request.is_zero_request() {
            return out;
        }
        let alloc = &node.allocatable;
        let used = &node.requested;
        let mut check =
            |name: &'static str, want: i64, have: i64, used: i64, reason: &'static str| {
                if want > 0 && want > have - used {
                    out.push(InsufficientResource {
                        name: name.into(),
                        reason: Cow::Borrowed(reason),
                        unresolvable: want > have,
                    });
                }
            };
        check(
            "cpu",
            request.milli_cpu,
            alloc.milli_cpu,
            used.milli_cpu,
            "Insufficient cpu",
        );
        check(
            "memory",
            request.memory,
            alloc.memory,
            used.memory,
            "Insufficient memory",
        );
        check(
            "ephemeral-storage",
            request.ephemeral_storage,
            alloc.ephemeral_storage,
            used.ephemeral_storage,
            "Insufficient ephemeral-storage",
        );
        for (name, want) in &request.scalar {
            if *want == 0 || self.ignored(name) {
                continue;
            }
            let have = alloc.scalar(name);
            if *want > have - used.scalar(name) {
                out.push(InsufficientResource {
                    name: name.clone(),
                    reason: Cow::Owned(format!("Insufficient {name}")),
                    unresolvable: *want > have,
                });
            }
        }
        out
    }
}

/// Upstream `statusFromInsufficientResources`.
fn status_from(insufficient: Vec<InsufficientResource>) -> Status {
    if insufficient.is_empty() {
        return Status::success();
    }
    let code = if insufficient.iter().any(|r| r.unresolvable) {
        Code::UnschedulableAndUnresolvable
    } else {
        Code::Unschedulable
    };
    Status::with_reasons(code, insufficient.into_iter().map(|r| r.reason).collect())
}

impl Plugin for Fit {
    fn name(&self) -> &'static str {
        NAME
    }

    fn extension_points(&self) -> ExtensionPoints {
        ExtensionPoints::PRE_FILTER
            .or(ExtensionPoints::FILTER)
            .or(ExtensionPoints::PRE_SCORE)
            .or(ExtensionPoints::SCORE)
    }

    fn pre_filter(&self, pod: &PodInfo, _snapshot: &Snapshot) -> PreFilterOutput {
        PreFilterOutput::with_state(PreFilterState {
            requests: pod.requests.clone(),
        })
    }

    fn filter(
        &self,
        state: Option<&dyn StateData>,
        pod: &PodInfo,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Status {
        let request = state_ref::<PreFilterState>(state).map_or(&pod.requests, |s| &s.requests);
        status_from(self.insufficient(request, node))
    }

    fn pre_score(
        &self,
        pod: &PodInfo,
        _nodes: &[&NodeInfo],
        _snapshot: &Snapshot,
    ) -> (Option<StateBox>, Status) {
        let requests = self.scorer.pod_requests(pod);
        (
            Some(Box::new(PreScoreState { requests })),
            Status::success(),
        )
    }

    fn score(
        &self,
        state: Option<&dyn StateData>,
        pod: &PodInfo,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Result<i64, Status> {
        Ok(match state_ref::<PreScoreState>(state) {
            Some(s) => self.scorer.score(node, &s.requests),
            None => self.scorer.score(node, &self.scorer.pod_requests(pod)),
        })
    }

    fn events_to_register(&self) -> Vec<ClusterEventWithHint> {
        let fit = Fit {
            ignored_resources: self.ignored_resources.clone(),
            ignored_groups: self.ignored_groups.clone(),
            scorer: self.scorer.clone(),
        };
        vec![
            ClusterEventWithHint::with_hint(
                EventResource::Node,
                ActionType::ADD
                    .or(ActionType::UPDATE_NODE_ALLOCATABLE)
                    .or(ActionType::UPDATE_NODE_TAINT)
                    .or(ActionType::UPDATE_NODE_LABEL),
                move |pod, event| {
                    let EventObjects::Node {
                        new: Some(node), ..
                    } = event
                    else {
                        return QueueingHint::Skip;
                    };
                    let empty = NodeInfo::new(std::sync::Arc::new((*node).clone()));
                    if fit.insufficient(&pod.requests, &empty).is_empty() {
                        QueueingHint::Queue
                    } else {
                        QueueingHint::Skip
                    }
                },
            ),
            ClusterEventWithHint::always(
                EventResource::AssignedPod,
                ActionType::DELETE.or(ActionType::UPDATE_POD_SCALE_DOWN),
            ),
            ClusterEventWithHint::always(
                EventResource::UnscheduledPod,
                ActionType::UPDATE_POD_SCALE_DOWN,
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn pod(uid: &str, requests: serde_json::Value) -> Arc<PodInfo> {
        Arc::new(PodInfo::new(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": uid, "uid": uid},
            "spec": {"containers": [{"name": "c", "resources": {"requests": requests}}]}}))
            .unwrap(),
        )))
    }

    fn node(allocatable: serde_json::Value, pods: &[Arc<PodInfo>]) -> NodeInfo {
        let mut info = NodeInfo::new(Arc::new(
            serde_json::from_value(
                json!({"metadata": {"name": "n"}, "status": {"allocatable": allocatable}}),
            )
            .unwrap(),
        ));
        for p in pods {
            info.add_pod(p.clone());
        }
        info
    }

    fn filter(fit: &Fit, p: &PodInfo, n: &NodeInfo) -> Status {
        let snap = Snapshot::new();
        let out = fit.pre_filter(p, &snap);
        fit.filter(out.state.as_deref(), p, n, &snap)
    }

    #[test]
    fn filter_table() {
        let fit = Fit::new(None).unwrap();
        let alloc = json!({"cpu": "10m", "memory": "20", "pods": "32", "example.com/aaa": "5"});
        let used = [pod("e", json!({"cpu": "5m", "memory": "19"}))];
        let n = node(alloc.clone(), &used);
        assert!(filter(&fit, &pod("p", json!({})), &n).is_success());
        assert!(filter(&fit, &pod("p", json!({"cpu": "5m", "memory": "1"})), &n).is_success());
        let s = filter(&fit, &pod("p", json!({"cpu": "8m", "memory": "1"})), &n);
        assert_eq!(s.message(), "Insufficient cpu");
        assert_eq!(s.code(), Code::Unschedulable);
        let s = filter(&fit, &pod("p", json!({"cpu": "6m", "memory": "2"})), &n);
        assert_eq!(s.reasons(), ["Insufficient cpu", "Insufficient memory"]);
        // More than the node has at all: preemption cannot help.
        let s = filter(&fit, &pod("p", json!({"cpu": "11m"})), &n);
        assert_eq!(s.code(), Code::UnschedulableAndUnresolvable);
        let s = filter(&fit, &pod("p", json!({"example.com/aaa": "6"})), &n);
        assert_eq!(s.message(), "Insufficient example.com/aaa");
        let s = filter(&fit, &pod("p", json!({"example.com/bbb": "1"})), &n);
        assert_eq!(s.message(), "Insufficient example.com/bbb");
        let ignoring = Fit::new(Some(&json!({"ignoredResources": ["example.com/bbb"]}))).unwrap();
        assert!(filter(&ignoring, &pod("p", json!({"example.com/bbb": "1"})), &n).is_success());
        let ignoring_group =
            Fit::new(Some(&json!({"ignoredResourceGroups": ["example.com"]}))).unwrap();
        assert!(
            filter(
                &ignoring_group,
                &pod("p", json!({"example.com/bbb": "1"})),
                &n
            )
            .is_success()
        );
        let full = node(json!({"cpu": "10", "memory": "10Gi", "pods": "1"}), &used);
        assert_eq!(
            filter(&fit, &pod("p", json!({})), &full).message(),
            "Too many pods"
        );
    }

    fn score(fit: &Fit, p: &PodInfo, n: &NodeInfo) -> i64 {
        let snap = Snapshot::new();
        let (state, _) = fit.pre_score(p, &[n], &snap);
        fit.score(state.as_deref(), p, n, &snap).unwrap()
    }

    #[test]
    fn least_allocated_scores_like_upstream() {
        // Upstream least_allocated_test "nothing scheduled, resources requested, differently sized nodes":
        // cpu 3000m + memory 5000 on a 4000m/10000 node -> (25 + 50) / 2 = 37; on 6000m/10000 -> (50 + 50) / 2 = 50.
        let fit = Fit::new(None).unwrap();
        let p = pod("p", json!({"cpu": "3", "memory": "5000"}));
        assert_eq!(
            score(
                &fit,
                &p,
                &node(json!({"cpu": "4", "memory": "10000", "pods": "10"}), &[])
            ),
            37
        );
        assert_eq!(
            score(
                &fit,
                &p,
                &node(json!({"cpu": "6", "memory": "10000", "pods": "10"}), &[])
            ),
            50
        );
        let most = Fit::new(Some(&json!({"scoringStrategy": {"type": "MostAllocated"}}))).unwrap();
        assert_eq!(
            score(
                &most,
                &p,
                &node(json!({"cpu": "4", "memory": "10000", "pods": "10"}), &[])
            ),
            62
        );
        // A best-effort pod counts as 100m / 200Mi when scoring.
        let be = pod("be", json!({}));
        let big = node(json!({"cpu": "1", "memory": "2000Mi", "pods": "10"}), &[]);
        assert_eq!(score(&fit, &be, &big), (90 + 90) / 2);
    }
}
