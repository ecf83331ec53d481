//! Counting finished pods exactly once (upstream
//! `trackJobStatusAndRemoveFinalizers`, `flushUncountedAndRemoveFinalizers`,
//! `enactJobFinished`).
//!
//! A finished pod still carrying the tracking finalizer is first written
//! into `status.uncountedTerminatedPods` (Indexed Jobs: straight into
//! `completedIndexes`), then its finalizer is removed; a UID in the
//! uncounted lists whose pod no longer has the finalizer moves into
//! `succeeded`/`failed`. A crash between any two steps loses nothing and
//! counts nothing twice.

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::api::batch::v1::{Job, JobStatus};
use k8s_openapi::api::core::v1::Pod;
use kube::api::PostParams;
use kube::{Api, ResourceExt};

use super::conditions::{self, COMPLETE, FAILED, FAILURE_TARGET, SUCCESS_CRITERIA_MET};
use super::indexes::completion_index;
use super::metrics::metrics;
use super::policy::match_pod_failure_policy;
use super::sync::{SyncCtx, has_backoff_limit_per_index, index_bound, is_indexed, is_pod_failed};
use super::{JOB_TRACKING_FINALIZER, JobReconciler, MAX_UNCOUNTED_PODS, SyncError};
use crate::framework::api_errors;
use crate::framework::events::EventType;
use crate::framework::pod_create::{has_finalizer, remove_finalizer};

fn uid(pod: &Pod) -> String {
    pod.uid().unwrap_or_default()
}

/// Upstream `cleanUncountedPodsWithoutFinalizers`: uncounted UIDs whose
/// pod lost its finalizer move into the counters; returns whether anything
/// moved.
pub(super) fn clean_uncounted(
    status: &mut JobStatus,
    with_finalizer: &HashSet<String>,
    indexed: bool,
) -> bool {
    let uncounted = status
        .uncounted_terminated_pods
        .get_or_insert_with(Default::default);
    let mut changed = false;
    let mut move_out = |list: &mut Option<Vec<String>>, counter: &mut Option<i32>| {
        let Some(uids) = list.as_mut() else {
            return;
        };
        let before = uids.len();
        uids.retain(|u| with_finalizer.contains(u));
        let moved = before - uids.len();
        if moved > 0 {
            changed = true;
            *counter = Some(counter.unwrap_or(0) + i32::try_from(moved).unwrap_or(i32::MAX));
        }
        if uids.is_empty() {
            *list = None;
        }
    };
    if !indexed {
        move_out(&mut uncounted.succeeded, &mut status.succeeded);
    }
    move_out(&mut uncounted.failed, &mut status.failed);
    changed
}

/// Upstream `canRemoveFinalizer`.
fn can_remove_finalizer(ctx: &SyncCtx, pod: &Pod, considered_failed: bool) -> bool {
    if ctx.job.metadata.deletion_timestamp.is_some()
        || ctx.finished_condition.is_some()
        || pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded")
    {
        return true;
    }
    if !considered_failed {
        return false;
    }
    if has_backoff_limit_per_index(&ctx.job)
        && let Some(ix) = completion_index(pod)
        && ctx
            .delayed_per_index
            .get(&ix)
            .is_some_and(|p| p.uid() == pod.uid())
    {
        // Kept until its replacement carries the failure count.
        return false;
    }
    true
}

impl JobReconciler {
    /// Writes the status (`PUT .../status`), remembering the result.
    async fn update_status(&self, ctx: &mut SyncCtx) -> Result<(), kube::Error> {
        let api: Api<Job> = Api::namespaced(
            self.client.clone(),
            &ctx.job.namespace().unwrap_or_default(),
        );
        let updated = api
            .replace_status(&ctx.job.name_any(), &PostParams::default(), &ctx.job)
            .await?;
        ctx.job.metadata.resource_version = updated.metadata.resource_version.clone();
        self.remember(&ctx.key, updated);
        Ok(())
    }

    /// Upstream `trackJobStatusAndRemoveFinalizers`.
    pub(super) async fn track_job_status_and_remove_finalizers(
        &self,
        ctx: &mut SyncCtx,
        mut needs_flush: bool,
    ) -> Result<(), SyncError> {
        let indexed = is_indexed(&ctx.job);
        let mut pods: Vec<Arc<Pod>> = ctx.pods.clone();
        if indexed {
            pods.sort_by_key(|p| completion_index(p).unwrap_or(usize::MAX));
        }
        let mut with_finalizer: HashSet<String> = pods
            .iter()
            .filter(|p| has_finalizer(p, JOB_TRACKING_FINALIZER))
            .map(|p| uid(p))
            .collect();
        let old = ctx.job.status.clone().unwrap_or_default();
        {
            let status = ctx.job.status.get_or_insert_with(Default::default);
            if clean_uncounted(status, &with_finalizer, indexed) {
                needs_flush = true;
            }
        }
        let policy = ctx
            .job
            .spec
            .as_ref()
            .and_then(|s| s.pod_failure_policy.clone());
        let bound = index_bound(&ctx.job);
        let mut to_unfinalize: Vec<Arc<Pod>> = Vec::new();
        let mut new_succeeded_indexes = Vec::new();
        let mut reached_max = false;
        let finishing_as_failure = ctx
            .finished_condition
            .as_ref()
            .is_some_and(|c| c.type_ != SUCCESS_CRITERIA_MET && c.type_ != COMPLETE);
        for pod in &pods {
            let pod_uid = uid(pod);
            if !has_finalizer(pod, JOB_TRACKING_FINALIZER)
                || ctx.expected_rm_finalizers.contains(&pod_uid)
            {
                continue;
            }
            let considered_failed = is_pod_failed(pod, &ctx.job);
            if !can_remove_finalizer(ctx, pod, considered_failed) {
                continue;
            }
            to_unfinalize.push(pod.clone());
            let status = ctx.job.status.get_or_insert_with(Default::default);
            let uncounted = status
                .uncounted_terminated_pods
                .get_or_insert_with(Default::default);
            let succeeded =
                pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded");
            if succeeded && !ctx.uncounted_failed.contains(&pod_uid) {
                if indexed {
                    if let Some(ix) = completion_index(pod)
                        && ix < bound
                        && !ctx.prev_succeeded_indexes.has(ix)
                    {
                        new_succeeded_indexes.push(ix);
                    }
                } else if !ctx.uncounted_succeeded.contains(&pod_uid) {
                    needs_flush = true;
                    uncounted
                        .succeeded
                        .get_or_insert_with(Vec::new)
                        .push(pod_uid.clone());
                    ctx.uncounted_succeeded.insert(pod_uid.clone());
                }
            } else if (considered_failed || finishing_as_failure)
                && !ctx.uncounted_failed.contains(&pod_uid)
                && (!indexed || completion_index(pod).is_some_and(|ix| ix < bound))
            {
                let matched = match_pod_failure_policy(policy.as_ref(), pod);
                if let Some(action) = matched.action {
                    metrics()
                        .failure_policy_actions
                        .with_label_values(&[action.as_str()])
                        .inc();
                }
                if matched.count_failed {
                    needs_flush = true;
                    uncounted
                        .failed
                        .get_or_insert_with(Vec::new)
                        .push(pod_uid.clone());
                    ctx.uncounted_failed.insert(pod_uid.clone());
                }
            }
            let pending = new_succeeded_indexes.len()
                + ctx.uncounted_succeeded.len()
                + ctx.uncounted_failed.len();
            if pending >= MAX_UNCOUNTED_PODS {
                // Big Jobs are tracked over several syncs.
                reached_max = true;
                break;
            }
        }
        if indexed {
            ctx.succeeded_indexes = ctx.succeeded_indexes.with_indexes(new_succeeded_indexes);
            let completed = ctx.succeeded_indexes.to_string();
            let failed_indexes = ctx.failed_indexes.as_ref().map(|f| f.to_string());
            let status = ctx.job.status.get_or_insert_with(Default::default);
            if status.completed_indexes.as_deref().unwrap_or("") != completed {
                needs_flush = true;
            }
            status.succeeded = Some(super::sync::len_i32(ctx.succeeded_indexes.total()));
            status.completed_indexes = Some(completed);
            if status.failed_indexes != failed_indexes {
                status.failed_indexes = failed_indexes;
                needs_flush = true;
            }
        }
        // The interim condition is written before any finalizer goes, so a
        // restart finds the decision.
        if let Some(cond) = ctx.finished_condition.clone() {
            let status = ctx.job.status.get_or_insert_with(Default::default);
            if cond.type_ == FAILURE_TARGET {
                if !conditions::is_true(Some(status), FAILURE_TARGET) {
                    status
                        .conditions
                        .get_or_insert_with(Vec::new)
                        .push(cond.clone());
                    needs_flush = true;
                }
                ctx.finished_condition = Some(conditions::new_condition(
                    FAILED,
                    "True",
                    cond.reason.as_deref().unwrap_or(""),
                    cond.message.as_deref().unwrap_or(""),
                    ctx.now,
                ));
            } else if cond.type_ == SUCCESS_CRITERIA_MET {
                if !conditions::is_true(Some(status), SUCCESS_CRITERIA_MET) {
                    status
                        .conditions
                        .get_or_insert_with(Vec::new)
                        .push(cond.clone());
                    needs_flush = true;
                }
                ctx.finished_condition = Some(conditions::new_condition(
                    COMPLETE,
                    "True",
                    cond.reason.as_deref().unwrap_or(""),
                    cond.message.as_deref().unwrap_or(""),
                    ctx.now,
                ));
            }
        }
        // Flush: status first, then finalizers.
        let mut counted_from = old;
        if needs_flush {
            self.update_status(ctx).await?;
            self.backoff.set(&ctx.key, ctx.new_backoff.clone());
            record_pods_finished(&ctx.job, &counted_from);
            counted_from = ctx.job.status.clone().unwrap_or_default();
            needs_flush = false;
        }
        let mut remove_error = None;
        if !to_unfinalize.is_empty() {
            let results = futures::future::join_all(to_unfinalize.iter().map(|pod| {
                let pod_uid = uid(pod);
                self.finalizers.expect(&ctx.key, &pod_uid);
                async move {
                    let result = remove_finalizer(&self.client, pod, JOB_TRACKING_FINALIZER).await;
                    (pod_uid, result)
                }
            }))
            .await;
            for (pod_uid, result) in results {
                match result {
                    Ok(_) => {
                        with_finalizer.remove(&pod_uid);
                        metrics()
                            .tracking_finalizer
                            .with_label_values(&["delete"])
                            .inc();
                    }
                    Err(err) if api_errors::is_not_found(&err) => {
                        self.finalizers.observed(&ctx.key, &pod_uid);
                        with_finalizer.remove(&pod_uid);
                    }
                    Err(err) => {
                        self.finalizers.observed(&ctx.key, &pod_uid);
                        remove_error.get_or_insert(format!(
                            "removing tracking finalizer: {}",
                            api_errors::message(&err)
                        ));
                    }
                }
            }
        }
        {
            let status = ctx.job.status.get_or_insert_with(Default::default);
            if clean_uncounted(status, &with_finalizer, indexed) {
                needs_flush = true;
            }
        }
        if let Some(err) = remove_error {
            if needs_flush {
                self.update_status(ctx).await?;
            }
            return Err(SyncError::Pods(err));
        }
        let finished = !reached_max && self.enact_job_finished(ctx);
        if finished {
            needs_flush = true;
        }
        if needs_flush {
            self.update_status(ctx).await?;
            if finished {
                self.record_job_finished(ctx);
            }
            record_pods_finished(&ctx.job, &counted_from);
        }
        Ok(())
    }

    /// Upstream `enactJobFinished`: the terminal condition once nothing is
    /// uncounted or terminating.
    fn enact_job_finished(&self, ctx: &mut SyncCtx) -> bool {
        let Some(cond) = ctx.finished_condition.clone() else {
            return false;
        };
        let status = ctx.job.status.get_or_insert_with(Default::default);
        let uncounted = status.uncounted_terminated_pods.clone().unwrap_or_default();
        if uncounted.succeeded.iter().flatten().count() + uncounted.failed.iter().flatten().count()
            > 0
        {
            return false;
        }
        if status.terminating.unwrap_or(0) > 0 {
            return false;
        }
        conditions::ensure(
            status,
            &cond.type_,
            &cond.status,
            cond.reason.as_deref().unwrap_or(""),
            cond.message.as_deref().unwrap_or(""),
            ctx.now,
        );
        if cond.type_ == COMPLETE {
            status.completion_time = cond.last_transition_time.clone();
        }
        true
    }

    /// Upstream `recordJobFinished`: the events and `jobs_finished_total`.
    fn record_job_finished(&self, ctx: &SyncCtx) {
        let Some(cond) = ctx.finished_condition.as_ref() else {
            return;
        };
        let mode = if is_indexed(&ctx.job) {
            "Indexed"
        } else {
            "NonIndexed"
        };
        let reason = cond.reason.clone().unwrap_or_default();
        if cond.type_ == COMPLETE {
            let succeeded = ctx
                .job
                .status
                .as_ref()
                .and_then(|s| s.succeeded)
                .unwrap_or(0);
            if super::sync::completions(&ctx.job).is_some_and(|c| succeeded > c) {
                self.recorder.event(
                    &ctx.job,
                    EventType::Warning,
                    "TooManySucceededPods",
                    "Too many succeeded pods running after completion count reached",
                );
            }
            self.recorder
                .event(&ctx.job, EventType::Normal, "Completed", "Job completed");
            metrics()
                .finished
                .with_label_values(&[mode, "succeeded", &reason])
                .inc();
        } else {
            self.recorder.event(
                &ctx.job,
                EventType::Warning,
                &reason,
                cond.message.as_deref().unwrap_or(""),
            );
            metrics()
                .finished
                .with_label_values(&[mode, "failed", &reason])
                .inc();
        }
        self.backoff.remove(&ctx.key);
    }
}

/// `job_pods_finished_total` for what moved into the counters.
fn record_pods_finished(job: &Job, old: &JobStatus) {
    let mode = if is_indexed(job) {
        "Indexed"
    } else {
        "NonIndexed"
    };
    let new = job.status.clone().unwrap_or_default();
    let succeeded = new.succeeded.unwrap_or(0) - old.succeeded.unwrap_or(0);
    let failed = new.failed.unwrap_or(0) - old.failed.unwrap_or(0);
    let m = metrics();
    if succeeded > 0 {
        m.pods_finished
            .with_label_values(&[mode, "succeeded"])
            .inc_by(u64::try_from(succeeded).unwrap_or(0));
    }
    if failed > 0 {
        m.pods_finished
            .with_label_values(&[mode, "failed"])
            .inc_by(u64::try_from(failed).unwrap_or(0));
    }
}
