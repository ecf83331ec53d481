//! Scaling ReplicaSets: scaling events and paused Deployments (upstream
//! `sync`, `isScalingEvent`, `scale`), one ReplicaSet at a time
//! (`scaleReplicaSet`, with the `ScalingReplicaSet` event), and the
//! `revisionHistoryLimit` cleanup (`cleanupDeployment`).

use std::cmp::Ordering;
use std::collections::HashMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use kube::ResourceExt;
use kube::api::{DeleteParams, PostParams};

use super::annotations;
use super::new_replica_set::by_creation;
use super::replicas::{self, rs_replicas};
use super::status::all_of;
use super::{DeploymentReconciler, SyncError};
use crate::framework::api_errors;
use crate::framework::events::EventType;

/// Larger first; equal sizes older first (`ReplicaSetsBySizeOlder`).
fn by_size_older(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    rs_replicas(b)
        .cmp(&rs_replicas(a))
        .then_with(|| by_creation(a, b))
}

/// Larger first; equal sizes newer first (`ReplicaSetsBySizeNewer`).
fn by_size_newer(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    rs_replicas(b)
        .cmp(&rs_replicas(a))
        .then_with(|| by_creation(b, a))
}

/// Lower revision first, then older (`ReplicaSetsByRevision`; an
/// unparsable revision counts as 0).
fn by_revision(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    let revision = |rs: &ReplicaSet| annotations::revision(&rs.metadata).unwrap_or(0);
    revision(a)
        .cmp(&revision(b))
        .then_with(|| by_creation(a, b))
}

/// Upstream `FindActiveOrLatest`: the only ReplicaSet with replicas, or
/// the newest one if none has any; `None` if several have replicas.
fn active_or_latest(new: Option<&ReplicaSet>, old: &[ReplicaSet]) -> Option<ReplicaSet> {
    let mut old_sorted: Vec<&ReplicaSet> = old.iter().collect();
    old_sorted.sort_by(|a, b| by_creation(b, a));
    let active: Vec<&ReplicaSet> = old_sorted
        .iter()
        .copied()
        .chain(new)
        .filter(|rs| rs_replicas(rs) > 0)
        .collect();
    match active.len() {
        0 => new.or(old_sorted.first().copied()).cloned(),
        1 => Some(active[0].clone()),
        _ => None,
    }
}

impl DeploymentReconciler {
    /// Upstream `sync`: scaling events and paused Deployments.
    pub(super) async fn sync(
        &self,
        d: &mut Deployment,
        rs_list: &mut Vec<ReplicaSet>,
    ) -> Result<(), SyncError> {
        let (new, old) = self
            .get_all_replica_sets_and_sync_revision(d, rs_list, false)
            .await?;
        self.scale(d, new.as_ref(), &old).await?;
        if replicas::paused(d) {
            self.cleanup_deployment(&old, d).await?;
        }
        self.sync_deployment_status(&all_of(&old, new.as_ref()), new.as_ref(), d)
            .await
    }

    /// Upstream `isScalingEvent`: an active ReplicaSet was sized for
    /// another `spec.replicas`.
    pub(super) async fn is_scaling_event(
        &self,
        d: &mut Deployment,
        rs_list: &mut Vec<ReplicaSet>,
    ) -> Result<bool, SyncError> {
        let (new, old) = self
            .get_all_replica_sets_and_sync_revision(d, rs_list, false)
            .await?;
        let want = replicas::desired(d);
        Ok(all_of(&old, new.as_ref())
            .into_iter()
            .filter(|rs| rs_replicas(rs) > 0)
            .filter_map(annotations::desired_replicas)
            .any(|desired| desired != want))
    }

    /// Upstream `scale`: resize the only active ReplicaSet, finish a
    /// saturated rollout, or distribute a replica change over all active
    /// ReplicaSets in proportion to their sizes.
    async fn scale(
        &self,
        d: &Deployment,
        new: Option<&ReplicaSet>,
        old: &[ReplicaSet],
    ) -> Result<(), SyncError> {
        let want = replicas::desired(d);
        if let Some(rs) = active_or_latest(new, old) {
            if rs_replicas(&rs) != want {
                self.scale_and_record(&rs, want, d).await?;
            }
            return Ok(());
        }
        if replicas::is_saturated(d, new) {
            for rs in old.iter().filter(|rs| rs_replicas(rs) > 0) {
                self.scale_and_record(rs, 0, d).await?;
            }
            return Ok(());
        }
        if !replicas::is_rolling_update(d) {
            return Ok(());
        }
        let mut active: Vec<&ReplicaSet> = old
            .iter()
            .chain(new)
            .filter(|rs| rs_replicas(rs) > 0)
            .collect();
        let current = replicas::spec_total(active.iter().copied());
        let allowed = if want > 0 {
            want.saturating_add(replicas::max_surge(d))
        } else {
            0
        };
        let to_add = allowed - current;
        let operation = match to_add.signum() {
            1 => {
                active.sort_by(|a, b| by_size_newer(a, b));
                "up"
            }
            -1 => {
                active.sort_by(|a, b| by_size_older(a, b));
                "down"
            }
            _ => "",
        };
        let mut added = 0;
        let mut sizes: HashMap<String, i32> = HashMap::new();
        for rs in &active {
            let size = if to_add != 0 {
                let share = replicas::proportion(rs, d, to_add, added);
                added += share;
                rs_replicas(rs) + share
            } else {
                rs_replicas(rs)
            };
            sizes.insert(rs.name_any(), size);
        }
        for (i, rs) in active.iter().enumerate() {
            let mut size = sizes.get(&rs.name_any()).copied().unwrap_or(0);
            if i == 0 && to_add != 0 {
                // Leftovers go to the largest ReplicaSet.
                size = (size + to_add - added).max(0);
            }
            self.scale_replica_set(rs, size, d, operation).await?;
        }
        Ok(())
    }

    /// Upstream `scaleReplicaSetAndRecordEvent`.
    pub(super) async fn scale_and_record(
        &self,
        rs: &ReplicaSet,
        size: i32,
        d: &Deployment,
    ) -> Result<(bool, ReplicaSet), SyncError> {
        if rs_replicas(rs) == size {
            return Ok((false, rs.clone()));
        }
        let operation = if rs_replicas(rs) < size { "up" } else { "down" };
        self.scale_replica_set(rs, size, d, operation).await
    }

    /// Upstream `scaleReplicaSet`: sets the size and the replica
    /// annotations; records `ScalingReplicaSet` when the size changed.
    async fn scale_replica_set(
        &self,
        rs: &ReplicaSet,
        size: i32,
        d: &Deployment,
        operation: &str,
    ) -> Result<(bool, ReplicaSet), SyncError> {
        let want = replicas::desired(d);
        let max = want.saturating_add(replicas::max_surge(d));
        let resize = rs_replicas(rs) != size;
        if !resize && !annotations::replicas_annotations_need_update(rs, want, max) {
            return Ok((false, rs.clone()));
        }
        let before = rs_replicas(rs);
        let mut copy = rs.clone();
        copy.spec
            .get_or_insert_with(ReplicaSetSpec::default)
            .replicas = Some(size);
        annotations::set_replicas_annotations(&mut copy, want, max);
        let updated = self
            .rs_api(&rs.namespace().unwrap_or_default())
            .replace(&rs.name_any(), &PostParams::default(), &copy)
            .await?;
        if resize {
            self.recorder.event(
                d,
                EventType::Normal,
                "ScalingReplicaSet",
                &format!(
                    "Scaled {operation} replica set {} from {before} to {size}",
                    rs.name_any()
                ),
            );
        }
        Ok((resize, updated))
    }

    /// Upstream `cleanupDeployment`: deletes the oldest old ReplicaSets
    /// beyond `revisionHistoryLimit` that have no replicas left.
    pub(super) async fn cleanup_deployment(
        &self,
        old: &[ReplicaSet],
        d: &Deployment,
    ) -> Result<(), SyncError> {
        let Some(limit) = d
            .spec
            .as_ref()
            .and_then(|s| s.revision_history_limit)
            .filter(|l| *l != i32::MAX)
        else {
            return Ok(());
        };
        let mut cleanable: Vec<&ReplicaSet> = old
            .iter()
            .filter(|rs| rs.metadata.deletion_timestamp.is_none())
            .collect();
        let diff = i64::try_from(cleanable.len()).unwrap_or(0) - i64::from(limit);
        if diff <= 0 {
            return Ok(());
        }
        cleanable.sort_by(|a, b| by_revision(a, b));
        for rs in cleanable
            .into_iter()
            .take(usize::try_from(diff).unwrap_or(0))
        {
            let status = rs.status.as_ref();
            let busy = status.is_some_and(|s| s.replicas != 0)
                || rs_replicas(rs) != 0
                || rs.metadata.generation.unwrap_or(0)
                    > status.and_then(|s| s.observed_generation).unwrap_or(0);
            if busy {
                continue;
            }
            tracing::debug!(replicaset = %rs.name_any(), "cleaning up replica set beyond revisionHistoryLimit");
            match self
                .rs_api(&rs.namespace().unwrap_or_default())
                .delete(&rs.name_any(), &DeleteParams::default())
                .await
            {
                Ok(_) => {}
                Err(err) if api_errors::is_not_found(&err) => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(name: &str, replicas: i32, created: i64, revision: &str) -> ReplicaSet {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "uid": name,
                "creationTimestamp": format!("2024-01-01T00:00:{created:02}Z"),
                "annotations": {"deployment.kubernetes.io/revision": revision}},
            "spec": {"replicas": replicas, "selector": {}}
        }))
        .unwrap()
    }

    #[test]
    fn sorting_orders_match_upstream() {
        let a = rs("a", 3, 1, "1");
        let b = rs("b", 3, 2, "3");
        let c = rs("c", 5, 3, "2");
        let mut v = [&a, &b, &c];
        v.sort_by(|x, y| by_size_older(x, y));
        assert_eq!(
            v.iter().map(|r| r.name_any()).collect::<Vec<_>>(),
            ["c", "a", "b"]
        );
        v.sort_by(|x, y| by_size_newer(x, y));
        assert_eq!(
            v.iter().map(|r| r.name_any()).collect::<Vec<_>>(),
            ["c", "b", "a"]
        );
        v.sort_by(|x, y| by_revision(x, y));
        assert_eq!(
            v.iter().map(|r| r.name_any()).collect::<Vec<_>>(),
            ["a", "c", "b"]
        );
    }

    #[test]
    fn active_or_latest_picks_the_single_active_or_the_newest() {
        let old1 = rs("old1", 0, 1, "1");
        let old2 = rs("old2", 0, 2, "2");
        let new = rs("new", 0, 3, "3");
        assert_eq!(
            active_or_latest(Some(&new), &[old1.clone(), old2.clone()]).map(|r| r.name_any()),
            Some("new".into())
        );
        assert_eq!(
            active_or_latest(None, &[old1.clone(), old2.clone()]).map(|r| r.name_any()),
            Some("old2".into())
        );
        let busy = rs("busy", 2, 1, "1");
        assert_eq!(
            active_or_latest(Some(&new), std::slice::from_ref(&busy)).map(|r| r.name_any()),
            Some("busy".into())
        );
        let new_busy = rs("new", 1, 3, "3");
        assert!(active_or_latest(Some(&new_busy), &[busy]).is_none());
    }
}
