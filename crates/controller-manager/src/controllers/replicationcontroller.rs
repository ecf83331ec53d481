//! `replicationcontroller-controller`: the ReplicaSet logic
//! ([`crate::controllers::replicaset`]) for core/v1 ReplicationControllers,
//! whose selector is a plain label set (an empty one selects everything, as
//! upstream's `SelectorFromSet`).

use k8s_openapi::api::apps::v1::ReplicaSetCondition;
use k8s_openapi::api::core::v1::{
    PodTemplateSpec, ReplicationController, ReplicationControllerCondition,
    ReplicationControllerStatus,
};

use crate::controllers::replicaset::{self, ReplicaOwner, ReplicaStatus};
use crate::framework::controller::{Controller, ControllerContext};
use crate::framework::selector::{Selector, SelectorError};

/// Upstream name.
pub const NAME: &str = "replicationcontroller-controller";

impl ReplicaOwner for ReplicationController {
    const CONTROLLER_NAME: &'static str = NAME;
    const QUEUE_NAME: &'static str = "replicationmanager";
    const EVENT_COMPONENT: &'static str = "replication-controller";

    fn selector(&self) -> Result<Selector, SelectorError> {
        let set = self
            .spec
            .as_ref()
            .and_then(|s| s.selector.clone())
            .unwrap_or_default();
        Ok(Selector::from_set(&set))
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
            conditions: s
                .conditions
                .iter()
                .flatten()
                .map(|c| ReplicaSetCondition {
                    type_: c.type_.clone(),
                    status: c.status.clone(),
                    reason: c.reason.clone(),
                    message: c.message.clone(),
                    last_transition_time: c.last_transition_time.clone(),
                })
                .collect(),
            terminating_replicas: None,
        }
    }

    fn with_status(&self, status: &ReplicaStatus) -> Self {
        let mut rc = self.clone();
        rc.status = Some(ReplicationControllerStatus {
            replicas: status.replicas,
            fully_labeled_replicas: Some(status.fully_labeled_replicas),
            ready_replicas: Some(status.ready_replicas),
            available_replicas: Some(status.available_replicas),
            observed_generation: Some(status.observed_generation),
            conditions: (!status.conditions.is_empty()).then(|| {
                status
                    .conditions
                    .iter()
                    .map(|c| ReplicationControllerCondition {
                        type_: c.type_.clone(),
                        status: c.status.clone(),
                        reason: c.reason.clone(),
                        message: c.message.clone(),
                        last_transition_time: c.last_transition_time.clone(),
                    })
                    .collect()
            }),
        });
        rc
    }
}

/// Builds the controller (`--concurrent-rc-syncs` workers).
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    Ok(Some(replicaset::build::<ReplicationController>(
        ctx,
        ctx.config.concurrency.replicationcontroller,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_through_the_shared_form() {
        let rc: ReplicationController = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "rc"},
            "spec": {"selector": {"app": "x"}, "replicas": 2},
            "status": {"replicas": 1, "readyReplicas": 1, "observedGeneration": 3,
                "conditions": [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate"}]}
        }))
        .unwrap();
        let status = rc.replica_status();
        assert_eq!(status.ready_replicas, 1);
        assert_eq!(status.conditions[0].reason.as_deref(), Some("FailedCreate"));
        assert_eq!(
            rc.with_status(&status).status,
            rc.status.clone().map(|mut s| {
                s.fully_labeled_replicas = Some(0);
                s.available_replicas = Some(0);
                s
            })
        );
        assert_eq!(rc.desired_replicas(), 2);
        let labels = [("app".to_string(), "x".to_string())].into();
        assert!(rc.selector().unwrap().matches(Some(&labels)));
    }
}
