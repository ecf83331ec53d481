//! The `Recreate` strategy (upstream `rolloutRecreate`): scale every old
//! ReplicaSet to zero, wait until no old pod is left (other than finished
//! ones), then create or scale up the new ReplicaSet.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;

use super::conditions::{self, normalized};
use super::replicas::{self, rs_replicas};
use super::status::all_of;
use super::{DeploymentReconciler, SyncError};
use crate::framework::pod_readiness::phase;
use crate::framework::worker::Action;

/// Upstream `oldPodsRunning`: old ReplicaSets still report pods, or a pod
/// of an old ReplicaSet is not finished.
fn old_pods_running(
    new: Option<&ReplicaSet>,
    old: &[ReplicaSet],
    pod_map: &HashMap<String, Vec<Arc<Pod>>>,
) -> bool {
    if replicas::actual_total(old) > 0 {
        return true;
    }
    let new_uid = new.and_then(|rs| rs.uid());
    pod_map
        .iter()
        .filter(|(uid, _)| new_uid.as_deref() != Some(uid.as_str()))
        .flat_map(|(_, pods)| pods)
        .any(|pod| !matches!(phase(pod), "Failed" | "Succeeded"))
}

impl DeploymentReconciler {
    /// One Recreate step.
    pub(super) async fn rollout_recreate(
        &self,
        d: &mut Deployment,
        rs_list: &mut Vec<ReplicaSet>,
        pod_map: &HashMap<String, Vec<Arc<Pod>>>,
    ) -> Result<Action, SyncError> {
        // Not created yet: nothing may scale up before the old pods are gone.
        let (mut new, mut old) = self
            .get_all_replica_sets_and_sync_revision(d, rs_list, false)
            .await?;
        let mut scaled_down = false;
        for rs in old.iter_mut().filter(|rs| rs_replicas(rs) > 0) {
            let (scaled, updated) = self.scale_and_record(rs, 0, d).await?;
            if scaled {
                *rs = updated;
                scaled_down = true;
            }
        }
        if scaled_down || old_pods_running(new.as_ref(), &old, pod_map) {
            return self
                .sync_rollout_status(&all_of(&old, new.as_ref()), new.as_ref(), d)
                .await;
        }
        if new.is_none() {
            (new, old) = self
                .get_all_replica_sets_and_sync_revision(d, rs_list, true)
                .await?;
        }
        if let Some(rs) = &new {
            self.scale_and_record(rs, replicas::desired(d), d).await?;
        }
        if conditions::deployment_complete(d, &normalized(d.status.as_ref())) {
            self.cleanup_deployment(&old, d).await?;
        }
        self.sync_rollout_status(&all_of(&old, new.as_ref()), new.as_ref(), d)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::pod_readiness::testing::pod;

    #[test]
    fn finished_old_pods_do_not_block() {
        let new: ReplicaSet = serde_json::from_value(
            serde_json::json!({"metadata": {"uid": "new"}, "spec": {"selector": {}}}),
        )
        .unwrap();
        let mut map = HashMap::new();
        map.insert(
            "new".to_string(),
            vec![Arc::new(pod("n", "Running", "", None))],
        );
        map.insert(
            "old".to_string(),
            vec![Arc::new(pod("o", "Succeeded", "", None))],
        );
        assert!(!old_pods_running(Some(&new), &[], &map));
        map.insert(
            "old".to_string(),
            vec![Arc::new(pod("o", "Pending", "", None))],
        );
        assert!(old_pods_running(Some(&new), &[], &map));
    }
}
