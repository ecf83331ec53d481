//! The `RollingUpdate` strategy (upstream `rolloutRolling`): scale the new
//! ReplicaSet up as far as `maxSurge` allows, then the old ones down as far
//! as `maxUnavailable` allows, one step per sync; each step's ReplicaSet
//! updates and pod readiness changes bring the next sync.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

use super::conditions::{self, normalized};
use super::new_replica_set::by_creation;
use super::replicas::{self, rs_available, rs_replicas};
use super::status::all_of;
use super::{DeploymentReconciler, SyncError};
use crate::framework::worker::Action;

impl DeploymentReconciler {
    /// One rolling-update step.
    pub(super) async fn rollout_rolling(
        &self,
        d: &mut Deployment,
        rs_list: &mut Vec<ReplicaSet>,
    ) -> Result<Action, SyncError> {
        let (new, old) = self
            .get_all_replica_sets_and_sync_revision(d, rs_list, true)
            .await?;
        let Some(new) = new else {
            return Err(SyncError::Invalid("no new replica set".to_string()));
        };
        if self.reconcile_new_replica_set(d, &old, &new).await? {
            return self
                .sync_rollout_status(&all_of(&old, Some(&new)), Some(&new), d)
                .await;
        }
        let active_old: Vec<ReplicaSet> = old
            .iter()
            .filter(|rs| rs_replicas(rs) > 0)
            .cloned()
            .collect();
        if self
            .reconcile_old_replica_sets(d, &old, active_old, &new)
            .await?
        {
            return self
                .sync_rollout_status(&all_of(&old, Some(&new)), Some(&new), d)
                .await;
        }
        if conditions::deployment_complete(d, &normalized(d.status.as_ref())) {
            self.cleanup_deployment(&old, d).await?;
        }
        self.sync_rollout_status(&all_of(&old, Some(&new)), Some(&new), d)
            .await
    }

    /// Upstream `reconcileNewReplicaSet`: whether the new ReplicaSet was
    /// scaled.
    async fn reconcile_new_replica_set(
        &self,
        d: &Deployment,
        old: &[ReplicaSet],
        new: &ReplicaSet,
    ) -> Result<bool, SyncError> {
        let want = replicas::desired(d);
        let current = rs_replicas(new);
        if current == want {
            return Ok(false);
        }
        if current > want {
            return Ok(self.scale_and_record(new, want, d).await?.0);
        }
        let all = all_of(old, Some(new));
        let size = replicas::new_rs_new_replicas(d, &all, current).map_err(SyncError::Invalid)?;
        Ok(self.scale_and_record(new, size, d).await?.0)
    }

    /// Upstream `reconcileOldReplicaSets`: whether old ReplicaSets were
    /// scaled down. Unhealthy replicas go first (they do not reduce
    /// availability), then as many as `maxUnavailable` allows.
    async fn reconcile_old_replica_sets(
        &self,
        d: &Deployment,
        all_old: &[ReplicaSet],
        active_old: Vec<ReplicaSet>,
        new: &ReplicaSet,
    ) -> Result<bool, SyncError> {
        let old_pods = replicas::spec_total(&active_old);
        if old_pods == 0 {
            return Ok(false);
        }
        let all_pods = replicas::spec_total(all_of(all_old, Some(new)));
        let min_available = replicas::desired(d) - replicas::max_unavailable(d);
        let new_unavailable = rs_replicas(new) - rs_available(new);
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return Ok(false);
        }
        // Like upstream, a failure here does not fail the sync: the status
        // is still written and the next sync tries again.
        let (active_old, cleaned) = match self
            .cleanup_unhealthy_replicas(active_old, d, max_scaled_down)
            .await
        {
            Ok(done) => done,
            Err(err) => {
                tracing::warn!(error = %err, "cleaning up unhealthy replicas failed");
                return Ok(false);
            }
        };
        let scaled = match self
            .scale_down_old_replica_sets_for_rolling_update(&active_old, new, d)
            .await
        {
            Ok(scaled) => scaled,
            Err(err) => {
                tracing::warn!(error = %err, "scaling down old replica sets failed");
                return Ok(false);
            }
        };
        Ok(cleaned + scaled > 0)
    }

    /// Upstream `cleanupUnhealthyReplicas`: old ReplicaSets lose their
    /// unavailable replicas first (oldest ReplicaSets first).
    async fn cleanup_unhealthy_replicas(
        &self,
        mut old: Vec<ReplicaSet>,
        d: &Deployment,
        max_cleanup: i32,
    ) -> Result<(Vec<ReplicaSet>, i32), SyncError> {
        old.sort_by(by_creation);
        let mut total = 0;
        for rs in old.iter_mut() {
            if total >= max_cleanup {
                break;
            }
            let size = rs_replicas(rs);
            if size == 0 || size == rs_available(rs) {
                continue;
            }
            let count = (max_cleanup - total).min(size - rs_available(rs));
            let (_, updated) = self.scale_and_record(rs, size - count, d).await?;
            total += count;
            *rs = updated;
        }
        Ok((old, total))
    }

    /// Upstream `scaleDownOldReplicaSetsForRollingUpdate`: scale old
    /// ReplicaSets (oldest first) down by the available replicas above
    /// `replicas - maxUnavailable`.
    async fn scale_down_old_replica_sets_for_rolling_update(
        &self,
        old: &[ReplicaSet],
        new: &ReplicaSet,
        d: &Deployment,
    ) -> Result<i32, SyncError> {
        let min_available = replicas::desired(d) - replicas::max_unavailable(d);
        let available = replicas::available_total(all_of(old, Some(new)));
        if available <= min_available {
            return Ok(0);
        }
        let mut sorted: Vec<&ReplicaSet> = old.iter().collect();
        sorted.sort_by(|a, b| by_creation(a, b));
        let budget = available - min_available;
        let mut total = 0;
        for rs in sorted {
            if total >= budget {
                break;
            }
            let size = rs_replicas(rs);
            if size == 0 {
                continue;
            }
            let count = size.min(budget - total);
            self.scale_and_record(rs, size - count, d).await?;
            total += count;
        }
        Ok(total)
    }
}
