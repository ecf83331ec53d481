//! NodeResourcesBalancedAllocation: favors nodes whose CPU and memory (or
//! the configured resources) would be used in similar proportions.

use super::scorer::{AllocationScorer, Strategy};
use crate::cache::Snapshot;
use crate::config::args::{NodeResourcesBalancedAllocationArgs, decode};
use crate::framework::{
    ExtensionPoints, NodeInfo, Plugin, PodInfo, StateBox, StateData, Status, state_ref,
};

/// Plugin name.
pub const NAME: &str = "NodeResourcesBalancedAllocation";

/// The NodeResourcesBalancedAllocation plugin.
#[derive(Debug)]
pub struct BalancedAllocation {
    scorer: AllocationScorer,
}

#[derive(Clone)]
struct PreScoreState {
    requests: Vec<i64>,
}

impl BalancedAllocation {
    /// Builds the plugin from its args.
    pub fn new(args: Option<&serde_json::Value>) -> Result<Self, String> {
        let args: NodeResourcesBalancedAllocationArgs = decode(args, "args")?;
        let errors = args.validate("args");
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        Ok(BalancedAllocation {
            scorer: AllocationScorer::new(args.resources(), true, Strategy::Balanced),
        })
    }
}

impl Plugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        NAME
    }

    fn extension_points(&self) -> ExtensionPoints {
        ExtensionPoints::PRE_SCORE.or(ExtensionPoints::SCORE)
    }

    fn pre_score(
        &self,
        pod: &PodInfo,
        _nodes: &[&NodeInfo],
        _snapshot: &Snapshot,
    ) -> (Option<StateBox>, Status) {
        let requests = self.scorer.pod_requests(pod);
        // Best-effort pods would all pile onto one node otherwise
        // (kubernetes#129138): they are not scored by this plugin.
        if requests.iter().all(|r| *r == 0) {
            return (None, Status::skip());
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn scores_balance_and_skips_best_effort() {
        let plugin = BalancedAllocation::new(None).unwrap();
        let snap = Snapshot::new();
        let node = NodeInfo::new(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "n"},
            "status": {"allocatable": {"cpu": "4", "memory": "10000", "pods": "10"}}}))
            .unwrap(),
        ));
        let pod = |req: serde_json::Value| {
            PodInfo::new(Arc::new(
                serde_json::from_value(json!({"metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "resources": {"requests": req}}]}}))
                .unwrap(),
            ))
        };
        // Upstream balanced_allocation_test: cpu 3000/4000, memory 5000/10000 -> 87.
        let p = pod(json!({"cpu": "3", "memory": "5000"}));
        let (state, status) = plugin.pre_score(&p, &[&node], &snap);
        assert!(status.is_success());
        assert_eq!(
            plugin.score(state.as_deref(), &p, &node, &snap).unwrap(),
            87
        );
        let (_, status) = plugin.pre_score(&pod(json!({})), &[&node], &snap);
        assert!(status.is_skip());
    }
}
