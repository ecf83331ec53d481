//! Creating and deleting a Job's pods (upstream `manageJob`,
//! `deleteJobPods`, `activePodsForRemoval` and the pod template
//! additions of Indexed Jobs).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::DeleteParams;
use kube::{Api, Resource, ResourceExt};

use super::backoff;
use super::indexes::{
    self, COMPLETION_INDEX_ANNOTATION, COMPLETION_INDEX_ENV, INDEX_FAILURE_COUNT_ANNOTATION,
    INDEX_IGNORED_FAILURE_COUNT_ANNOTATION, completion_index,
};
use super::policy::match_pod_failure_policy;
use super::sync::{
    SyncCtx, completions, has_backoff_limit_per_index, index_bound, is_indexed, is_terminating,
    len_i32, only_replace_failed_pods, suspended,
};
use super::{JOB_TRACKING_FINALIZER, JobReconciler, MAX_POD_CREATE_DELETE_PER_SYNC};
use crate::controllers::replicaset::ranking;
use crate::framework::api_errors;
use crate::framework::controller_ref::Owner;
use crate::framework::events::EventType;
use crate::framework::pod_control::{SUCCESSFUL_DELETE, pod_from_template, slow_start_batch};
use crate::framework::pod_create::{create_pod, has_finalizer, remove_finalizer};
use crate::framework::pod_readiness::{is_ready, pod_key};

/// The delayed failure count annotations of a replacement for `replaced`.
fn new_index_failure_counts(job: &Job, replaced: Option<&Pod>) -> (i32, i32) {
    let Some(pod) = replaced else {
        return (0, 0);
    };
    let (mut failures, mut ignored) = (
        indexes::index_failure_count(pod),
        indexes::index_ignored_failure_count(pod),
    );
    let policy = job
        .spec
        .as_ref()
        .and_then(|s| s.pod_failure_policy.as_ref());
    if match_pod_failure_policy(policy, pod).count_failed {
        failures += 1;
    } else {
        ignored += 1;
    }
    (failures, ignored)
}

/// Upstream `addCompletionIndexEnvVariables`.
fn add_completion_index_env(spec: &mut k8s_openapi::api::core::v1::PodSpec) {
    let containers = spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten());
    for c in containers {
        let env = c.env.get_or_insert_with(Vec::new);
        if env.iter().any(|e| e.name == COMPLETION_INDEX_ENV) {
            continue;
        }
        env.push(EnvVar {
            name: COMPLETION_INDEX_ENV.to_string(),
            value: None,
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    api_version: None,
                    field_path: format!("metadata.annotations['{COMPLETION_INDEX_ANNOTATION}']"),
                }),
                ..EnvVarSource::default()
            }),
        });
    }
}

/// The pod for index `index` (or a non-indexed pod), as upstream builds
/// it in `manageJob`.
pub(super) fn build_pod(job: &Job, index: Option<usize>, replaced: Option<&Pod>) -> Pod {
    let owner = Owner::of(job);
    let mut template = job.spec.clone().unwrap_or_default().template;
    let meta = template.metadata.get_or_insert_with(Default::default);
    let finalizers = meta.finalizers.get_or_insert_with(Vec::new);
    if !finalizers.iter().any(|f| f == JOB_TRACKING_FINALIZER) {
        finalizers.push(JOB_TRACKING_FINALIZER.to_string());
    }
    let name = job.name_any();
    if let Some(ix) = index {
        let meta = template.metadata.get_or_insert_with(Default::default);
        meta.annotations
            .get_or_insert_with(Default::default)
            .insert(COMPLETION_INDEX_ANNOTATION.to_string(), ix.to_string());
        meta.labels
            .get_or_insert_with(Default::default)
            .insert(COMPLETION_INDEX_ANNOTATION.to_string(), ix.to_string());
        if has_backoff_limit_per_index(job) {
            let (failures, ignored) = new_index_failure_counts(job, replaced);
            let annotations = meta.annotations.get_or_insert_with(Default::default);
            annotations.insert(
                INDEX_FAILURE_COUNT_ANNOTATION.to_string(),
                failures.to_string(),
            );
            if ignored > 0 {
                annotations.insert(
                    INDEX_IGNORED_FAILURE_COUNT_ANNOTATION.to_string(),
                    ignored.to_string(),
                );
            }
        }
        let spec = template.spec.get_or_insert_with(Default::default);
        add_completion_index_env(spec);
        spec.hostname = Some(format!("{name}-{ix}"));
    }
    let mut pod = pod_from_template(&template, &name, Some(owner.controller_ref()));
    if let Some(ix) = index {
        pod.metadata.generate_name = Some(indexes::generate_name_with_index(&name, ix));
    }
    pod
}

/// Upstream `activePodsForRemoval`: pods with a bad or duplicate index
/// first, then by the ReplicaSet deletion order.
pub(super) fn active_pods_for_removal(
    job: &Job,
    pods: &[Arc<Pod>],
    at_least: usize,
    now: Timestamp,
) -> Vec<Arc<Pod>> {
    let mut rm = Vec::new();
    let mut left = Vec::new();
    if is_indexed(job) {
        let bound = index_bound(job);
        let mut by_index: BTreeMap<usize, Vec<Arc<Pod>>> = BTreeMap::new();
        for pod in pods {
            match completion_index(pod).filter(|ix| *ix < bound) {
                Some(ix) => by_index.entry(ix).or_default().push(pod.clone()),
                None => rm.push(pod.clone()),
            }
        }
        for (_, mut same) in by_index {
            // Keep the one that would be deleted last.
            same.sort_by(|a, b| ranking::ordering(a, b, now));
            if let Some(keep) = same.pop() {
                left.push(keep);
            }
            rm.extend(same);
        }
    } else {
        left = pods.to_vec();
    }
    if rm.len() < at_least {
        left.sort_by(|a, b| ranking::ordering(a, b, now));
        let more = (at_least - rm.len()).min(left.len());
        rm.extend(left.into_iter().take(more));
    }
    rm
}

impl JobReconciler {
    /// Upstream `manageJob`: returns the active count after creating or
    /// deleting pods, the metrics action, and the first error.
    pub(super) async fn manage_job(
        &self,
        ctx: &mut SyncCtx,
    ) -> (i32, &'static str, Option<String>) {
        let job = ctx.job.clone();
        let mut active = len_i32(ctx.active_pods.len());
        let parallelism = job.spec.as_ref().and_then(|s| s.parallelism).unwrap_or(1);
        if suspended(&job) {
            let pods =
                active_pods_for_removal(&job, &ctx.active_pods, ctx.active_pods.len(), ctx.now);
            let (ready, deleted, err) = self.delete_pods(ctx, &pods, true).await;
            ctx.terminating += deleted;
            ctx.ready -= ready;
            return (active - deleted, "pods_deleted", err);
        }
        let want_active = match completions(&job) {
            None if ctx.succeeded > 0 => active,
            None => parallelism,
            Some(c) => (c - ctx.succeeded).clamp(0, parallelism.max(0)),
        };
        let remove_at_least = usize::try_from(active - want_active).unwrap_or(0);
        let mut to_delete =
            active_pods_for_removal(&job, &ctx.active_pods, remove_at_least, ctx.now);
        to_delete.truncate(MAX_POD_CREATE_DELETE_PER_SYNC);
        if !to_delete.is_empty() {
            let (ready, deleted, err) = self.delete_pods(ctx, &to_delete, true).await;
            ctx.terminating += deleted;
            ctx.ready -= ready;
            // Deletions and creations never happen in the same sync.
            return (active - deleted, "pods_deleted", err);
        }
        let terminating = if only_replace_failed_pods(&job) {
            ctx.terminating
        } else {
            0
        };
        let diff = want_active - terminating - active;
        if diff <= 0 {
            return (active, "tracking", None);
        }
        if !has_backoff_limit_per_index(&job) {
            let remaining = ctx.new_backoff.remaining(ctx.now);
            if !remaining.is_zero() {
                ctx.requeue_after(remaining);
                return (active, "pods_created", None);
            }
        }
        let mut diff = usize::try_from(diff)
            .unwrap_or(0)
            .min(MAX_POD_CREATE_DELETE_PER_SYNC);
        let mut indexes_to_add: Vec<Option<usize>> = vec![None; diff];
        if is_indexed(&job) {
            let bound = index_bound(&job);
            let mut busy: BTreeMap<usize, usize> = BTreeMap::new();
            for pod in &ctx.active_pods {
                if let Some(ix) = completion_index(pod) {
                    *busy.entry(ix).or_default() += 1;
                }
            }
            if only_replace_failed_pods(&job) {
                // Terminating pods still hold their index.
                for pod in ctx.pods.iter().filter(|p| is_terminating(p)) {
                    if let Some(ix) = completion_index(pod) {
                        *busy.entry(ix).or_default() += 1;
                    }
                }
            }
            let mut pending = indexes::first_pending_indexes(
                diff,
                bound,
                &ctx.succeeded_indexes,
                ctx.failed_indexes.as_ref(),
                &busy,
            );
            if has_backoff_limit_per_index(&job) {
                let mut wait = None::<Duration>;
                pending.retain(|ix| {
                    let Some(last) = ctx.delayed_per_index.get(ix) else {
                        return true;
                    };
                    let failures = u32::try_from(
                        indexes::index_failure_count(last)
                            + indexes::index_ignored_failure_count(last)
                            + 1,
                    )
                    .unwrap_or(1);
                    let remaining = backoff::remaining_since(
                        failures,
                        backoff::finished_time(last, ctx.now),
                        ctx.now,
                    );
                    if remaining.is_zero() {
                        true
                    } else {
                        wait = Some(wait.map_or(remaining, |w| w.min(remaining)));
                        false
                    }
                });
                if let Some(wait) = wait {
                    ctx.requeue_after(wait);
                }
            }
            diff = pending.len();
            indexes_to_add = pending.into_iter().map(Some).collect();
        }
        if diff == 0 {
            return (active, "pods_created", None);
        }
        self.expectations.expect_creations(&ctx.key, diff);
        let namespace = job.namespace().unwrap_or_default();
        let reference = job.object_ref(&());
        let queue = std::sync::Mutex::new(indexes_to_add.into_iter());
        let (created, error) = slow_start_batch(diff, 1, || {
            let index = queue
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .next()
                .flatten();
            let replaced = index.and_then(|ix| ctx.delayed_per_index.get(&ix).cloned());
            let pod = build_pod(&job, index, replaced.as_deref());
            let (namespace, reference) = (&namespace, &reference);
            async move {
                match create_pod(&self.client, &self.recorder, namespace, &pod, reference).await {
                    Ok(_) => Ok(()),
                    Err(err) if err.is_namespace_terminating() => Ok(()),
                    Err(err) => Err(err.to_string()),
                }
            }
        })
        .await;
        for _ in created..diff {
            self.expectations.creation_observed(&ctx.key);
        }
        active += len_i32(created);
        (active, "pods_created", error)
    }

    /// Upstream `deleteJobPods` (`strip_finalizer`: not counted as failed)
    /// and `deleteActivePods` (finalizer kept: counted when the Job
    /// finishes). Returns (deleted ready pods, deleted pods, first error).
    pub(super) async fn delete_pods(
        &self,
        ctx: &SyncCtx,
        pods: &[Arc<Pod>],
        strip_finalizer: bool,
    ) -> (i32, i32, Option<String>) {
        if pods.is_empty() {
            return (0, 0, None);
        }
        self.expectations
            .expect_deletions(&ctx.key, pods.iter().map(|p| pod_key(p)));
        let namespace = ctx.job.namespace().unwrap_or_default();
        let reference = ctx.job.object_ref(&());
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        let results = futures::future::join_all(pods.iter().map(|pod| {
            let (api, reference) = (&api, &reference);
            async move {
                if strip_finalizer
                    && has_finalizer(pod, JOB_TRACKING_FINALIZER)
                    && let Err(err) =
                        remove_finalizer(&self.client, pod, JOB_TRACKING_FINALIZER).await
                {
                    self.expectations.deletion_observed(&ctx.key, &pod_key(pod));
                    if api_errors::is_not_found(&err) {
                        return Ok(false);
                    }
                    return Err(format!(
                        "removing completion finalizer: {}",
                        api_errors::message(&err)
                    ));
                }
                let name = pod.name_any();
                match api.delete(&name, &DeleteParams::default()).await {
                    Ok(_) => {
                        self.recorder.event_for_reference(
                            reference.clone(),
                            EventType::Normal,
                            SUCCESSFUL_DELETE,
                            &format!("Deleted pod: {name}"),
                        );
                        Ok(true)
                    }
                    Err(err) => {
                        self.expectations.deletion_observed(&ctx.key, &pod_key(pod));
                        if api_errors::is_not_found(&err) {
                            return Ok(true);
                        }
                        self.recorder.event_for_reference(
                            reference.clone(),
                            EventType::Warning,
                            crate::framework::pod_control::FAILED_DELETE,
                            &format!("Error deleting: {}", api_errors::message(&err)),
                        );
                        Err(api_errors::message(&err))
                    }
                }
            }
        }))
        .await;
        let mut deleted = 0;
        let mut deleted_ready = 0;
        let mut first_error = None;
        for (pod, result) in pods.iter().zip(results) {
            match result {
                Ok(true) | Ok(false) => {
                    deleted += 1;
                    if is_ready(pod) {
                        deleted_ready += 1;
                    }
                }
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        (deleted_ready, deleted, first_error)
    }
}
