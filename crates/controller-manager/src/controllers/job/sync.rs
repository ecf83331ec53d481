//! One sync of a Job (upstream `syncJob`); creating and deleting pods is
//! in [`super::manage`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{Job, JobCondition, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::{Api, ResourceExt};

use super::backoff::{self, BackoffRecord};
use super::conditions::{self, FAILED, FAILURE_TARGET, SUCCESS_CRITERIA_MET, SUSPENDED};
use super::indexes::{self, Intervals, completion_index};
use super::policy::{FailureAction, match_pod_failure_policy, match_success_policy};
use super::{JOB_TRACKING_FINALIZER, JobReconciler, SyncError};
use crate::framework::controller_ref::{Owner, claim, claim_candidates};
use crate::framework::events::EventType;
use crate::framework::pod_create::has_finalizer;
use crate::framework::pod_readiness::{is_active, is_ready, phase};
use crate::framework::selector::Selector;
use crate::framework::worker::Action;

/// What one sync knows about a Job (upstream `syncJobCtx`).
pub(super) struct SyncCtx {
    pub job: Job,
    pub key: String,
    pub pods: Vec<Arc<Pod>>,
    pub active_pods: Vec<Arc<Pod>>,
    pub succeeded: i32,
    pub failed: i32,
    pub uncounted_succeeded: HashSet<String>,
    pub uncounted_failed: HashSet<String>,
    pub expected_rm_finalizers: HashSet<String>,
    pub finished_condition: Option<JobCondition>,
    pub prev_succeeded_indexes: Intervals,
    pub succeeded_indexes: Intervals,
    pub failed_indexes: Option<Intervals>,
    pub delayed_per_index: HashMap<usize, Arc<Pod>>,
    pub terminating: i32,
    pub ready: i32,
    pub new_backoff: BackoffRecord,
    pub requeue: Option<Duration>,
    pub now: Timestamp,
}

impl SyncCtx {
    pub(super) fn requeue_after(&mut self, after: Duration) {
        let after = after.max(Duration::from_millis(100));
        self.requeue = Some(self.requeue.map_or(after, |r| r.min(after)));
    }
}

/// `spec.completionMode: Indexed`.
pub fn is_indexed(job: &Job) -> bool {
    job.spec.as_ref().and_then(|s| s.completion_mode.as_deref()) == Some("Indexed")
}

pub(super) fn suspended(job: &Job) -> bool {
    job.spec.as_ref().and_then(|s| s.suspend) == Some(true)
}

pub(super) fn completions(job: &Job) -> Option<i32> {
    job.spec.as_ref().and_then(|s| s.completions)
}

/// `completions` as an index bound (Indexed Jobs always have it).
pub(super) fn index_bound(job: &Job) -> usize {
    usize::try_from(completions(job).unwrap_or(0)).unwrap_or(0)
}

fn backoff_limit(job: &Job) -> i32 {
    job.spec.as_ref().and_then(|s| s.backoff_limit).unwrap_or(6)
}

pub(super) fn has_backoff_limit_per_index(job: &Job) -> bool {
    job.spec
        .as_ref()
        .is_some_and(|s| s.backoff_limit_per_index.is_some())
}

/// Replacement pods wait for the failed ones to be fully gone (upstream
/// `onlyReplaceFailedPods`).
pub(super) fn only_replace_failed_pods(job: &Job) -> bool {
    let spec = job.spec.as_ref();
    spec.and_then(|s| s.pod_replacement_policy.as_deref()) == Some("Failed")
        || spec.is_some_and(|s| s.pod_failure_policy.is_some())
}

/// Upstream `isPodFailed`: Failed, or (unless only failed pods are
/// replaced) being deleted without having succeeded.
pub(super) fn is_pod_failed(pod: &Pod, job: &Job) -> bool {
    if phase(pod) == "Failed" {
        return true;
    }
    if only_replace_failed_pods(job) {
        return false;
    }
    pod.metadata.deletion_timestamp.is_some() && phase(pod) != "Succeeded"
}

pub(super) fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some() && !matches!(phase(pod), "Succeeded" | "Failed")
}

/// Pods of an Indexed Job without a valid index below `completions` are
/// ignored when counting.
fn valid_for(job: &Job, pod: &Pod) -> bool {
    !is_indexed(job) || completion_index(pod).is_some_and(|ix| ix < index_bound(job))
}

/// Upstream `isIndexFailed`.
fn is_index_failed(job: &Job, pod: &Pod) -> bool {
    if !is_pod_failed(pod, job) {
        return false;
    }
    let policy = job
        .spec
        .as_ref()
        .and_then(|s| s.pod_failure_policy.as_ref());
    let matched = match_pod_failure_policy(policy, pod);
    if matched.action == Some(FailureAction::FailIndex) {
        return true;
    }
    let limit = job
        .spec
        .as_ref()
        .and_then(|s| s.backoff_limit_per_index)
        .unwrap_or(i32::MAX);
    matched.count_failed && indexes::index_failure_count(pod) >= limit
}

/// Upstream `pastBackoffLimitOnFailure`: container restarts of running
/// pods count as failures when `restartPolicy` is OnFailure.
fn past_backoff_limit_on_failure(job: &Job, pods: &[Arc<Pod>]) -> bool {
    let restart_policy = job
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.restart_policy.as_deref());
    if restart_policy != Some("OnFailure") {
        return false;
    }
    let restarts: i32 = pods
        .iter()
        .filter(|p| matches!(phase(p), "Running" | "Pending"))
        .flat_map(|p| {
            let s = p.status.as_ref();
            let init = s.and_then(|s| s.init_container_statuses.as_ref());
            let main = s.and_then(|s| s.container_statuses.as_ref());
            init.into_iter()
                .flatten()
                .chain(main.into_iter().flatten())
                .map(|c| c.restart_count)
        })
        .sum();
    let limit = backoff_limit(job);
    if limit == 0 {
        restarts > 0
    } else {
        restarts >= limit
    }
}

fn past_active_deadline(job: &Job, now: Timestamp) -> bool {
    let Some(deadline) = job.spec.as_ref().and_then(|s| s.active_deadline_seconds) else {
        return false;
    };
    let Some(start) = job.status.as_ref().and_then(|s| s.start_time.as_ref()) else {
        return false;
    };
    if suspended(job) {
        return false;
    }
    now.duration_since(start.0) >= SignedDuration::from_secs(deadline)
}

impl JobReconciler {
    /// Upstream `syncJob`; returns what to do next and the metrics action.
    pub(super) async fn sync_job(
        &self,
        key: &str,
        mut job: Job,
    ) -> Result<(Action, &'static str), SyncError> {
        let now = Timestamp::now();
        let namespace = job.namespace().unwrap_or_default();
        let selector = match Selector::from_label_selector(
            job.spec.as_ref().and_then(|s| s.selector.as_ref()),
        ) {
            Ok(s) => s,
            Err(err) => {
                self.recorder.event(
                    &job,
                    EventType::Warning,
                    "InvalidSelector",
                    &format!("Invalid pod selector: {err}"),
                );
                return Ok((Action::await_change(), "tracking"));
            }
        };
        let satisfied = self.expectations.satisfied(key);
        let pods_api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        // Adopted pods get the tracking finalizer, released ones lose it
        // (upstream's claim with `batch.kubernetes.io/job-tracking`).
        let owner = Owner::of(&job).with_finalizers(&[JOB_TRACKING_FINALIZER]);
        let pods = claim(
            &self.client,
            &pods_api,
            &owner,
            claim_candidates(&self.pods, &owner.uid, &namespace, &selector),
            |p: &Pod| selector.matches(p.metadata.labels.as_ref()),
        )
        .await?;
        let status = job.status.get_or_insert_with(Default::default);
        let uncounted = status
            .uncounted_terminated_pods
            .get_or_insert_with(UncountedTerminatedPods::default)
            .clone();
        let mut ctx = SyncCtx {
            key: key.to_string(),
            active_pods: pods.iter().filter(|p| is_active(p)).cloned().collect(),
            terminating: i32::try_from(pods.iter().filter(|p| is_terminating(p)).count())
                .unwrap_or(i32::MAX),
            pods,
            succeeded: 0,
            failed: 0,
            uncounted_succeeded: uncounted.succeeded.iter().flatten().cloned().collect(),
            uncounted_failed: uncounted.failed.iter().flatten().cloned().collect(),
            expected_rm_finalizers: self.finalizers.expected(key),
            finished_condition: None,
            prev_succeeded_indexes: Intervals::default(),
            succeeded_indexes: Intervals::default(),
            failed_indexes: None,
            delayed_per_index: HashMap::new(),
            ready: 0,
            new_backoff: BackoffRecord::default(),
            requeue: None,
            now,
            job,
        };
        ctx.ready = i32::try_from(ctx.active_pods.iter().filter(|p| is_ready(p)).count())
            .unwrap_or(i32::MAX);
        let (new_succeeded, new_failed) = self.new_finished_pods(&ctx);
        let policy = ctx
            .job
            .spec
            .as_ref()
            .and_then(|s| s.pod_failure_policy.clone());
        let counted_new_failed = new_failed
            .iter()
            .filter(|p| match_pod_failure_policy(policy.as_ref(), p).count_failed)
            .count();
        let status = ctx.job.status.clone().unwrap_or_default();
        ctx.succeeded = status.succeeded.unwrap_or(0)
            + len_i32(new_succeeded.len())
            + len_i32(ctx.uncounted_succeeded.len());
        ctx.failed = status.failed.unwrap_or(0)
            + len_i32(counted_new_failed)
            + len_i32(ctx.uncounted_failed.len());
        let is_suspended = suspended(&ctx.job);
        let job_status = ctx.job.status.get_or_insert_with(Default::default);
        if job_status.start_time.is_none() && !is_suspended {
            job_status.start_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now));
        }
        ctx.new_backoff = backoff::next_record(
            &self.backoff.get(key),
            &new_succeeded.iter().map(|p| p.as_ref()).collect::<Vec<_>>(),
            &new_failed.iter().map(|p| p.as_ref()).collect::<Vec<_>>(),
            now,
        );
        self.decide_finished(&mut ctx);
        let mut action = "tracking";
        let mut manage_error = None;
        let mut suspend_changed = false;
        let mut active = len_i32(ctx.active_pods.len());
        if ctx.finished_condition.is_some() {
            let pods = ctx.active_pods.clone();
            let (deleted_ready, deleted, err) = self.delete_pods(&ctx, &pods, false).await;
            if deleted != active || !satisfied {
                // Pods may remain, or the cache may not show them yet.
                ctx.finished_condition = None;
            }
            active -= deleted;
            ctx.ready -= deleted_ready;
            if deleted > 0 {
                action = "pods_deleted";
            }
            manage_error = err;
        } else {
            let mut manage_called = false;
            if satisfied && ctx.job.metadata.deletion_timestamp.is_none() {
                let (new_active, a, err) = self.manage_job(&mut ctx).await;
                active = new_active;
                action = a;
                manage_error = err;
                manage_called = true;
            }
            let complete = match completions(&ctx.job) {
                None => ctx.succeeded > 0 && active == 0,
                Some(c) => ctx.succeeded >= c && active == 0,
            };
            if complete {
                ctx.finished_condition = Some(conditions::new_condition(
                    SUCCESS_CRITERIA_MET,
                    "True",
                    conditions::REASON_COMPLETIONS_REACHED,
                    "Reached expected number of succeeded pods",
                    now,
                ));
            } else if manage_called {
                suspend_changed = self.sync_suspended_condition(&mut ctx);
            }
        }
        let status = ctx.job.status.get_or_insert_with(Default::default);
        let needs_update = suspend_changed
            || status.active != Some(active)
            || status.ready != Some(ctx.ready)
            || status.terminating != Some(ctx.terminating);
        status.active = Some(active);
        status.ready = Some(ctx.ready);
        status.terminating = Some(ctx.terminating);
        self.track_job_status_and_remove_finalizers(&mut ctx, needs_update)
            .await?;
        if let Some(err) = manage_error {
            return Err(SyncError::Pods(err));
        }
        let next = match ctx.requeue {
            Some(after) => Action::requeue(after),
            None => Action::await_change(),
        };
        Ok((next, action))
    }

    /// Upstream `getNewFinishedPods`: finished pods with the finalizer,
    /// not yet in `uncountedTerminatedPods` nor being un-finalized.
    fn new_finished_pods(&self, ctx: &SyncCtx) -> (Vec<Arc<Pod>>, Vec<Arc<Pod>>) {
        let fresh = |p: &&Arc<Pod>| {
            has_finalizer(p, JOB_TRACKING_FINALIZER)
                && !ctx
                    .expected_rm_finalizers
                    .contains(p.uid().as_deref().unwrap_or(""))
                && valid_for(&ctx.job, p)
        };
        let succeeded = ctx
            .pods
            .iter()
            .filter(fresh)
            .filter(|p| phase(p) == "Succeeded")
            .filter(|p| {
                !ctx.uncounted_succeeded
                    .contains(p.uid().as_deref().unwrap_or(""))
            })
            .cloned()
            .collect();
        let failed = ctx
            .pods
            .iter()
            .filter(fresh)
            .filter(|p| is_pod_failed(p, &ctx.job))
            .filter(|p| {
                !ctx.uncounted_failed
                    .contains(p.uid().as_deref().unwrap_or(""))
            })
            .cloned()
            .collect();
        (succeeded, failed)
    }

    /// The failure and success decisions of upstream `syncJob`, in its
    /// order; sets `ctx.finished_condition`.
    fn decide_finished(&self, ctx: &mut SyncCtx) {
        let now = ctx.now;
        let job = &ctx.job;
        let status = job.status.as_ref();
        let policy = job
            .spec
            .as_ref()
            .and_then(|s| s.pod_failure_policy.as_ref());
        if let Some(target) =
            conditions::find(status, FAILURE_TARGET).filter(|c| c.status == "True")
        {
            ctx.finished_condition = Some(conditions::new_condition(
                FAILED,
                "True",
                target.reason.as_deref().unwrap_or(""),
                target.message.as_deref().unwrap_or(""),
                now,
            ));
        } else if let Some(message) = policy.and_then(|_| {
            ctx.pods
                .iter()
                .filter(|p| phase(p) == "Failed" && has_finalizer(p, JOB_TRACKING_FINALIZER))
                .find_map(|p| match_pod_failure_policy(policy, p).message)
        }) {
            ctx.finished_condition = Some(conditions::new_condition(
                FAILURE_TARGET,
                "True",
                conditions::REASON_POD_FAILURE_POLICY,
                &message,
                now,
            ));
        } else if let Some(met) =
            conditions::find(status, SUCCESS_CRITERIA_MET).filter(|c| c.status == "True")
        {
            ctx.finished_condition = Some(met.clone());
        }
        if ctx.finished_condition.is_none() {
            if ctx.failed > backoff_limit(job) || past_backoff_limit_on_failure(job, &ctx.pods) {
                ctx.finished_condition = Some(conditions::new_condition(
                    FAILURE_TARGET,
                    "True",
                    conditions::REASON_BACKOFF_LIMIT_EXCEEDED,
                    "Job has reached the specified backoff limit",
                    now,
                ));
            } else if past_active_deadline(job, now) {
                ctx.finished_condition = Some(conditions::new_condition(
                    FAILURE_TARGET,
                    "True",
                    conditions::REASON_DEADLINE_EXCEEDED,
                    "Job was active longer than specified deadline",
                    now,
                ));
            } else if let (Some(secs), Some(start), false) = (
                job.spec.as_ref().and_then(|s| s.active_deadline_seconds),
                job.status.as_ref().and_then(|s| s.start_time.as_ref()),
                suspended(job),
            ) {
                let due = start.0 + SignedDuration::from_secs(secs);
                let after = Duration::try_from(due.duration_since(now)).unwrap_or_default();
                ctx.requeue_after(after);
            }
        }
        if is_indexed(&ctx.job) {
            let bound = index_bound(&ctx.job);
            let completed = ctx
                .job
                .status
                .as_ref()
                .and_then(|s| s.completed_indexes.clone())
                .unwrap_or_default();
            ctx.prev_succeeded_indexes = Intervals::parse(&completed, bound);
            let new_indexes: Vec<usize> = ctx
                .pods
                .iter()
                .filter(|p| phase(p) == "Succeeded" && has_finalizer(p, JOB_TRACKING_FINALIZER))
                .filter_map(|p| completion_index(p).filter(|ix| *ix < bound))
                .collect();
            ctx.succeeded_indexes = ctx.prev_succeeded_indexes.with_indexes(new_indexes);
            if has_backoff_limit_per_index(&ctx.job) {
                let previous = ctx
                    .job
                    .status
                    .as_ref()
                    .and_then(|s| s.failed_indexes.clone())
                    .unwrap_or_default();
                let new_failed: Vec<usize> = ctx
                    .pods
                    .iter()
                    .filter(|p| has_finalizer(p, JOB_TRACKING_FINALIZER))
                    .filter(|p| is_index_failed(&ctx.job, p))
                    .filter_map(|p| completion_index(p).filter(|ix| *ix < bound))
                    .collect();
                let failed = Intervals::parse(&previous, bound).with_indexes(new_failed);
                if ctx.finished_condition.is_none() {
                    let max = ctx.job.spec.as_ref().and_then(|s| s.max_failed_indexes);
                    if max.is_some_and(|m| failed.total() > usize::try_from(m).unwrap_or(0)) {
                        ctx.finished_condition = Some(conditions::new_condition(
                            FAILURE_TARGET,
                            "True",
                            conditions::REASON_MAX_FAILED_INDEXES_EXCEEDED,
                            "Job has exceeded the specified maximal number of failed indexes",
                            now,
                        ));
                    } else if !failed.is_empty()
                        && failed.total() + ctx.succeeded_indexes.total() >= bound
                    {
                        ctx.finished_condition = Some(conditions::new_condition(
                            FAILURE_TARGET,
                            "True",
                            conditions::REASON_FAILED_INDEXES,
                            "Job has failed indexes",
                            now,
                        ));
                    }
                }
                ctx.failed_indexes = Some(failed);
            }
            ctx.delayed_per_index = self.pods_with_delayed_deletion_per_index(ctx);
            if ctx.finished_condition.is_none()
                && let Some(message) = match_success_policy(
                    ctx.job
                        .spec
                        .as_ref()
                        .and_then(|s| s.success_policy.as_ref()),
                    bound,
                    &ctx.succeeded_indexes,
                )
            {
                ctx.finished_condition = Some(conditions::new_condition(
                    SUCCESS_CRITERIA_MET,
                    "True",
                    conditions::REASON_SUCCESS_POLICY,
                    &message,
                    now,
                ));
            }
            // Indexed: `succeeded` is the number of completed indexes.
            ctx.succeeded = len_i32(ctx.succeeded_indexes.total());
        }
    }

    /// Upstream `getPodsWithDelayedDeletionPerIndex`: per index that is
    /// neither done nor active, the last failed pod (its failure counts
    /// carry over to the replacement).
    fn pods_with_delayed_deletion_per_index(&self, ctx: &SyncCtx) -> HashMap<usize, Arc<Pod>> {
        let mut out: HashMap<usize, Arc<Pod>> = HashMap::new();
        if !has_backoff_limit_per_index(&ctx.job) {
            return out;
        }
        let bound = index_bound(&ctx.job);
        let active: HashSet<usize> = ctx
            .active_pods
            .iter()
            .filter_map(|p| completion_index(p))
            .collect();
        for pod in &ctx.pods {
            if !is_pod_failed(pod, &ctx.job) {
                continue;
            }
            let Some(ix) = completion_index(pod).filter(|ix| *ix < bound) else {
                continue;
            };
            if ctx.succeeded_indexes.has(ix)
                || ctx.failed_indexes.as_ref().is_some_and(|f| f.has(ix))
                || active.contains(&ix)
            {
                continue;
            }
            let absolute =
                |p: &Pod| indexes::index_failure_count(p) + indexes::index_ignored_failure_count(p);
            match out.get(&ix) {
                Some(last)
                    if absolute(last) > absolute(pod)
                        || backoff::finished_time(pod, ctx.now)
                            < backoff::finished_time(last, ctx.now) => {}
                _ => {
                    out.insert(ix, pod.clone());
                }
            }
        }
        out
    }

    /// The `Suspended` condition, its events and the start time reset on
    /// resume; returns whether the status changed.
    fn sync_suspended_condition(&self, ctx: &mut SyncCtx) -> bool {
        let now = ctx.now;
        let is_suspended = suspended(&ctx.job);
        let status = ctx.job.status.get_or_insert_with(Default::default);
        if is_suspended {
            let changed = conditions::ensure(
                status,
                SUSPENDED,
                "True",
                "JobSuspended",
                "Job suspended",
                now,
            );
            if changed {
                self.recorder
                    .event(&ctx.job, EventType::Normal, "Suspended", "Job suspended");
            }
            changed
        } else {
            let changed =
                conditions::ensure(status, SUSPENDED, "False", "JobResumed", "Job resumed", now);
            if changed {
                // activeDeadlineSeconds counts continuous activity.
                status.start_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now));
                self.recorder
                    .event(&ctx.job, EventType::Normal, "Resumed", "Job resumed");
            }
            changed
        }
    }
}

pub(super) fn len_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests;
