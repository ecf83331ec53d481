//! Writing a Deployment's status (upstream `syncDeploymentStatus`,
//! `syncRolloutStatus`, `checkPausedConditions`, `requeueStuckDeployment`).

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;
use kube::api::{Patch, PatchParams, PostParams};

use super::annotations;
use super::conditions::{
    self, NEW_RS_AVAILABLE_REASON, PAUSED_REASON, PROGRESSING, REPLICA_FAILURE, RESUMED_REASON,
    RS_UPDATED_REASON, TIMED_OUT_REASON, normalized,
};
use super::replicas;
use super::{DeploymentReconciler, SyncError};
use crate::framework::worker::Action;

/// The ReplicaSets of a sync as one list (old ones, then the new one).
pub(super) fn all_of<'a>(
    old: &'a [ReplicaSet],
    new: Option<&'a ReplicaSet>,
) -> Vec<&'a ReplicaSet> {
    old.iter().chain(new).collect()
}

impl DeploymentReconciler {
    /// `PUT .../status` with `d`, keeping `d`'s resourceVersion current.
    ///
    /// Upstream's status strategy for Deployments keeps annotation changes
    /// (that is how `deployment.kubernetes.io/revision` reaches the
    /// Deployment). An apiserver that drops metadata on `/status` gets the
    /// annotation through a metadata patch instead.
    pub(super) async fn update_status(&self, d: &mut Deployment) -> Result<(), kube::Error> {
        let api = self.deployment_api(&d.namespace().unwrap_or_default());
        let name = d.name_any();
        let updated = api.replace_status(&name, &PostParams::default(), d).await?;
        d.metadata.resource_version = updated.metadata.resource_version.clone();
        let wanted = annotations::deployment_revision(d).map(str::to_string);
        if wanted.is_some() && annotations::deployment_revision(&updated) != wanted.as_deref() {
            let patch = serde_json::json!({
                "metadata": {
                    "annotations": {annotations::REVISION: wanted},
                    "resourceVersion": d.metadata.resource_version,
                }
            });
            let patched = api
                .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await?;
            d.metadata.resource_version = patched.metadata.resource_version;
            d.metadata.generation = patched.metadata.generation;
        }
        Ok(())
    }

    /// For Deployments that are not rolled out (bad selector): only mark
    /// the generation observed.
    pub(super) async fn observe_generation_only(
        &self,
        d: &mut Deployment,
    ) -> Result<(), SyncError> {
        let generation = d.metadata.generation.unwrap_or(0);
        let status = d.status.get_or_insert_with(Default::default);
        if status.observed_generation.unwrap_or(0) < generation {
            status.observed_generation = Some(generation);
            self.update_status(d).await?;
        }
        Ok(())
    }

    /// Upstream `syncStatusOnly` (a Deployment being deleted).
    pub(super) async fn sync_status_only(
        &self,
        d: &mut Deployment,
        rs_list: &mut Vec<ReplicaSet>,
    ) -> Result<(), SyncError> {
        let (new, old) = self
            .get_all_replica_sets_and_sync_revision(d, rs_list, false)
            .await?;
        self.sync_deployment_status(&all_of(&old, new.as_ref()), new.as_ref(), d)
            .await
    }

    /// Upstream `syncDeploymentStatus`: counts and `Available`.
    pub(super) async fn sync_deployment_status(
        &self,
        all: &[&ReplicaSet],
        new: Option<&ReplicaSet>,
        d: &mut Deployment,
    ) -> Result<(), SyncError> {
        let status = conditions::calculate_status(all, new, d);
        if normalized(d.status.as_ref()) == normalized(Some(&status)) {
            return Ok(());
        }
        d.status = Some(status);
        self.update_status(d).await?;
        Ok(())
    }

    /// Upstream `syncRolloutStatus`: counts, `Available`, `Progressing`
    /// (progress, completion, deadline) and `ReplicaFailure`. When nothing
    /// changed and the rollout may be stuck, asks to look again when the
    /// deadline would pass.
    pub(super) async fn sync_rollout_status(
        &self,
        all: &[&ReplicaSet],
        new: Option<&ReplicaSet>,
        d: &mut Deployment,
    ) -> Result<Action, SyncError> {
        let mut status = conditions::calculate_status(all, new, d);
        let has_deadline = conditions::has_progress_deadline(d);
        if !has_deadline {
            conditions::remove_condition(&mut status, PROGRESSING);
        }
        let current = d
            .status
            .as_ref()
            .and_then(|s| conditions::get_condition(s, PROGRESSING))
            .cloned();
        let complete_before = status.replicas == status.updated_replicas
            && current
                .as_ref()
                .is_some_and(|c| c.reason.as_deref() == Some(NEW_RS_AVAILABLE_REASON));
        if has_deadline && !complete_before {
            let rs_name = new.map(|rs| rs.name_any());
            if conditions::deployment_complete(d, &status) {
                let message = match &rs_name {
                    Some(name) => format!("ReplicaSet {name:?} has successfully progressed."),
                    None => format!("Deployment {:?} has successfully progressed.", d.name_any()),
                };
                conditions::set_condition(
                    &mut status,
                    conditions::new_condition(
                        PROGRESSING,
                        "True",
                        NEW_RS_AVAILABLE_REASON,
                        &message,
                    ),
                );
            } else if conditions::deployment_progressing(d, &status) {
                let message = match &rs_name {
                    Some(name) => format!("ReplicaSet {name:?} is progressing."),
                    None => format!("Deployment {:?} is progressing.", d.name_any()),
                };
                let mut condition =
                    conditions::new_condition(PROGRESSING, "True", RS_UPDATED_REASON, &message);
                // Progress refreshes lastUpdateTime even with the same
                // reason; the transition time stays while it is True.
                if let Some(current) = &current {
                    if current.status == "True" {
                        condition.last_transition_time = current.last_transition_time.clone();
                    }
                    conditions::remove_condition(&mut status, PROGRESSING);
                }
                conditions::set_condition(&mut status, condition);
            } else if conditions::deployment_timed_out(d, &status, Timestamp::now()) {
                let message = match &rs_name {
                    Some(name) => format!("ReplicaSet {name:?} has timed out progressing."),
                    None => format!("Deployment {:?} has timed out progressing.", d.name_any()),
                };
                conditions::set_condition(
                    &mut status,
                    conditions::new_condition(PROGRESSING, "False", TIMED_OUT_REASON, &message),
                );
            }
        }
        let failure = new
            .into_iter()
            .chain(all.iter().copied())
            .flat_map(|rs| rs.status.iter().flat_map(|s| s.conditions.iter().flatten()))
            .find(|c| c.type_ == REPLICA_FAILURE)
            .map(conditions::from_replica_set_condition);
        match failure {
            Some(condition) => conditions::set_condition(&mut status, condition),
            None => conditions::remove_condition(&mut status, REPLICA_FAILURE),
        }
        if normalized(d.status.as_ref()) == normalized(Some(&status)) {
            return Ok(self.requeue_stuck_deployment(d, &status));
        }
        d.status = Some(status);
        self.update_status(d).await?;
        Ok(Action::await_change())
    }

    /// Upstream `requeueStuckDeployment`: a rollout without progress is
    /// looked at again when its deadline would pass.
    fn requeue_stuck_deployment(
        &self,
        d: &Deployment,
        status: &k8s_openapi::api::apps::v1::DeploymentStatus,
    ) -> Action {
        let Some(deadline) = conditions::progress_deadline(d) else {
            return Action::await_change();
        };
        let Some(current) = d
            .status
            .as_ref()
            .and_then(|s| conditions::get_condition(s, PROGRESSING))
        else {
            return Action::await_change();
        };
        if conditions::deployment_complete(d, status)
            || current.reason.as_deref() == Some(TIMED_OUT_REASON)
        {
            return Action::await_change();
        }
        let Some(updated) = current.last_update_time.as_ref() else {
            return Action::await_change();
        };
        let due = updated
            .0
            .checked_add(SignedDuration::from_secs(i64::from(deadline)))
            .unwrap_or(updated.0);
        let after = due.duration_since(Timestamp::now());
        if after < SignedDuration::from_secs(1) {
            return Action::requeue(Duration::from_secs(1));
        }
        // One more second against millisecond skew, as upstream.
        let after = Duration::try_from(after).unwrap_or_default() + Duration::from_secs(1);
        tracing::debug!(after = ?after, "queueing up deployment for a progress check");
        Action::requeue(after)
    }

    /// Upstream `checkPausedConditions`: `Progressing=Unknown` with
    /// `DeploymentPaused` / `DeploymentResumed`, so a long pause is never
    /// mistaken for a lack of progress.
    pub(super) async fn check_paused_conditions(
        &self,
        d: &mut Deployment,
    ) -> Result<(), SyncError> {
        if !conditions::has_progress_deadline(d) {
            return Ok(());
        }
        let paused = replicas::paused(d);
        let status = d.status.get_or_insert_with(Default::default);
        let reason = conditions::get_condition(status, PROGRESSING).and_then(|c| c.reason.clone());
        if reason.as_deref() == Some(TIMED_OUT_REASON) {
            return Ok(());
        }
        let paused_condition = reason.as_deref() == Some(PAUSED_REASON);
        let condition = if paused && !paused_condition {
            conditions::new_condition(
                PROGRESSING,
                "Unknown",
                PAUSED_REASON,
                "Deployment is paused",
            )
        } else if !paused && paused_condition {
            conditions::new_condition(
                PROGRESSING,
                "Unknown",
                RESUMED_REASON,
                "Deployment is resumed",
            )
        } else {
            return Ok(());
        };
        conditions::set_condition(status, condition);
        self.update_status(d).await?;
        Ok(())
    }
}
