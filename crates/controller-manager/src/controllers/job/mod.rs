//! `job-controller`: runs a Job's pods to completion and tracks every
//! finished pod exactly once, with upstream 1.33's semantics.
//!
//! One sync of a Job (upstream `syncJob`, in [`sync`]):
//!
//! 1. claims the pods matching the Job's selector, including finished
//!    ones that still carry the `batch.kubernetes.io/job-tracking`
//!    finalizer;
//! 2. counts what finished since the last sync; decides whether the Job
//!    has failed (`podFailurePolicy` FailJob, `backoffLimit`, the
//!    restarts of `OnFailure` pods, `activeDeadlineSeconds`,
//!    `maxFailedIndexes` / failed indexes) or succeeded (`completions`,
//!    `successPolicy`), first as the interim `FailureTarget` /
//!    `SuccessCriteriaMet` condition;
//! 3. a finishing Job deletes its active pods; otherwise
//!    [`sync`]'s `manage_job` creates or deletes pods towards
//!    `min(parallelism, remaining completions)` (slow-start batches,
//!    failure backoff 10 s doubling to 6 min), or deletes them all while
//!    `suspend` is set (`Suspended` condition, `Suspended`/`Resumed`
//!    events);
//! 4. [`tracking`]: finished pods go into `status.uncountedTerminatedPods`,
//!    the status is written, then their finalizers are removed, then they
//!    move into `succeeded`/`failed` (or `completedIndexes`); once nothing
//!    is uncounted or terminating, `Complete` or `Failed` is added with
//!    `completionTime`, and the `Completed` event (or a `Warning` with the
//!    failure reason) is recorded.
//!
//! Indexed Jobs give every pod an index ([`indexes`]): the
//! `batch.kubernetes.io/job-completion-index` annotation and label, the
//! `JOB_COMPLETION_INDEX` variable, the hostname `<job>-<index>` and a name
//! `<job>-<index>-xxxxx`.
//!
//! A second queue (`job_orphan_pod`) removes the tracking finalizer from
//! pods whose Job is gone or finished, so no pod is kept forever.

mod backoff;
mod conditions;
pub mod indexes;
mod manage;
pub mod metrics;
pub mod policy;
mod sync;
mod tracking;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::{Client, ResourceExt};
use tokio_util::sync::CancellationToken;

use self::backoff::BackoffStore;
use crate::framework::api_errors;
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::controller_ref::{
    CONTROLLER_UID_INDEX, ClaimError, add_claim_indexes, controller_of,
};
use crate::framework::events::EventRecorder;
use crate::framework::expectations::Expectations;
use crate::framework::informer::{Change, Informer};
use crate::framework::key::ObjectKey;
use crate::framework::pod_create::{has_finalizer, remove_finalizer};
use crate::framework::pod_readiness::pod_key;
use crate::framework::queue::WorkQueue;
use crate::framework::selector::Selector;
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "job-controller";
/// `source.component` of its events.
pub const EVENT_COMPONENT: &str = "job-controller";
/// The finalizer that keeps a pod until the Job has counted it.
pub const JOB_TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// `spec.managedBy` of Jobs this controller manages.
pub const MANAGED_BY: &str = "kubernetes.io/job-controller";
/// Pod changes are batched for this long before the Job is synced
/// (upstream `syncJobBatchPeriod`).
pub const SYNC_JOB_BATCH_PERIOD: Duration = Duration::from_secs(1);
/// At most this many pods are created or deleted per sync.
pub const MAX_POD_CREATE_DELETE_PER_SYNC: usize = 500;
/// At most this many pods are added to `uncountedTerminatedPods` per sync.
pub const MAX_UNCOUNTED_PODS: usize = 500;

/// Why a sync failed (the key is retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A request failed.
    #[error("{}", api_errors::message(.0))]
    Api(#[from] kube::Error),
    /// Adopting or releasing pods failed.
    #[error(transparent)]
    Claim(#[from] ClaimError),
    /// Creating, deleting or un-finalizing pods failed.
    #[error("{0}")]
    Pods(String),
}

/// Whether the Job has a `Complete` or `Failed` condition that is `True`.
pub fn is_finished(job: &Job) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| {
            c.iter()
                .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        })
}

/// Whether this controller manages the Job (`spec.managedBy` unset or ours).
pub fn is_managed(job: &Job) -> bool {
    job.spec
        .as_ref()
        .and_then(|s| s.managed_by.as_deref())
        .is_none_or(|m| m == MANAGED_BY)
}

/// UIDs of pods whose finalizer removal was sent but not seen yet, per Job
/// (upstream `uidTrackingExpectations`): such pods are not counted twice.
#[derive(Debug, Default)]
pub(crate) struct FinalizerExpectations {
    uids: Mutex<HashMap<String, HashSet<String>>>,
}

impl FinalizerExpectations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashSet<String>>> {
        self.uids
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn expect(&self, key: &str, uid: &str) {
        self.lock()
            .entry(key.to_string())
            .or_default()
            .insert(uid.to_string());
    }

    fn observed(&self, key: &str, uid: &str) {
        let mut map = self.lock();
        if let Some(set) = map.get_mut(key) {
            set.remove(uid);
            if set.is_empty() {
                map.remove(key);
            }
        }
    }

    fn expected(&self, key: &str) -> HashSet<String> {
        self.lock().get(key).cloned().unwrap_or_default()
    }

    fn forget(&self, key: &str) {
        self.lock().remove(key);
    }
}

/// Builds the controller (`--concurrent-job-syncs` workers).
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let jobs = ctx.informers.informer::<Job>();
    let pods = ctx.informers.informer::<Pod>();
    let queue = WorkQueue::<ObjectKey>::new("job");
    let orphans = WorkQueue::<ObjectKey>::new("job_orphan_pod");
    metrics::metrics();
    let expectations = Arc::new(Expectations::new());
    let finalizers = Arc::new(FinalizerExpectations::default());
    // Syncs claim their own pods and matching orphans only; a deleted
    // Job's pods are found by its UID.
    add_claim_indexes(&pods);
    add_job_handlers(&jobs, &pods, &queue, &orphans, &expectations);
    add_pod_handlers(&jobs, &pods, &queue, &orphans, &expectations, &finalizers);
    let recorder = ctx.recorder(EVENT_COMPONENT);
    let reconciler = JobReconciler {
        client: ctx.client.clone(),
        jobs: jobs.clone(),
        pods: pods.clone(),
        expectations,
        finalizers,
        backoff: BackoffStore::default(),
        recorder,
        written: Mutex::new(HashMap::new()),
    };
    let main = QueueController::new(NAME, queue, reconciler, ctx.config.concurrency.job, ctx)
        .wait_for(jobs.clone())
        .wait_for(pods.clone());
    let orphan_reconciler = OrphanPodReconciler {
        client: ctx.client.clone(),
        jobs: jobs.clone(),
        pods: pods.clone(),
    };
    let orphan = QueueController::new(NAME, orphans, orphan_reconciler, 1, ctx)
        .wait_for(jobs)
        .wait_for(pods);
    Ok(Some(Box::new(Pair {
        name: NAME,
        first: Box::new(main),
        second: Box::new(orphan),
    })))
}

/// Two controllers run as one (a controller with two queues).
pub(crate) struct Pair {
    pub(crate) name: &'static str,
    pub(crate) first: Box<dyn Controller>,
    pub(crate) second: Box<dyn Controller>,
}

impl Controller for Pair {
    fn name(&self) -> &'static str {
        self.name
    }

    fn run(self: Box<Self>, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
        let this = *self;
        async move {
            futures::future::join(this.first.run(shutdown.clone()), this.second.run(shutdown))
                .await;
        }
        .boxed()
    }
}

/// The Job a pod's controller reference points to, if cached with that UID.
fn resolve(jobs: &Informer<Job>, pod: &Pod) -> Option<Arc<Job>> {
    let reference = controller_of(&pod.metadata)?;
    if reference.kind != "Job" {
        return None;
    }
    jobs.get(pod.namespace().as_deref(), &reference.name)
        .filter(|j| j.uid().as_deref() == Some(reference.uid.as_str()))
}

/// The Jobs of a pod's namespace whose selector matches it.
fn matching_jobs(jobs: &Informer<Job>, pod: &Pod) -> Vec<Arc<Job>> {
    jobs.list_namespace(&pod.namespace().unwrap_or_default())
        .into_iter()
        .filter(|job| {
            Selector::from_label_selector(job.spec.as_ref().and_then(|s| s.selector.as_ref()))
                .is_ok_and(|s| s.matches(pod.metadata.labels.as_ref()))
        })
        .collect()
}

fn add_job_handlers(
    jobs: &Informer<Job>,
    pods: &Informer<Pod>,
    queue: &WorkQueue<ObjectKey>,
    orphans: &WorkQueue<ObjectKey>,
    expectations: &Arc<Expectations>,
) {
    let queue = queue.clone();
    let orphans = orphans.clone();
    let pods = pods.clone();
    let expectations = expectations.clone();
    jobs.add_event_handler(move |change: Change<'_, Job>| match change {
        Change::Added(job) => queue.add(ObjectKey::of(job)),
        Change::Updated { old, new } => {
            let key = ObjectKey::of(new);
            if old.metadata.uid != new.metadata.uid {
                expectations.delete(&key.to_string());
            }
            queue.add(key.clone());
            // A new deadline (or a resumed Job) is looked at when it passes.
            let deadline = |j: &Job| j.spec.as_ref().and_then(|s| s.active_deadline_seconds);
            if deadline(old) != deadline(new)
                && let (Some(secs), Some(start)) = (
                    deadline(new),
                    new.status.as_ref().and_then(|s| s.start_time.as_ref()),
                )
            {
                let due = start.0 + k8s_openapi::jiff::SignedDuration::from_secs(secs);
                let after = due.duration_since(k8s_openapi::jiff::Timestamp::now());
                queue.add_after(key, Duration::try_from(after).unwrap_or_default());
            }
        }
        Change::Deleted(job) => {
            let key = ObjectKey::of(job);
            expectations.delete(&key.to_string());
            queue.add(key);
            // Upstream `cleanupPodFinalizers`: the pods of a deleted Job
            // must not keep their finalizer.
            let uid = job.uid().unwrap_or_default();
            for pod in pods.by_index(CONTROLLER_UID_INDEX, &uid) {
                if has_finalizer(&pod, JOB_TRACKING_FINALIZER) {
                    orphans.add(ObjectKey::of(pod.as_ref()));
                }
            }
        }
    });
}

fn add_pod_handlers(
    jobs: &Informer<Job>,
    pods: &Informer<Pod>,
    queue: &WorkQueue<ObjectKey>,
    orphans: &WorkQueue<ObjectKey>,
    expectations: &Arc<Expectations>,
    finalizers: &Arc<FinalizerExpectations>,
) {
    let jobs = jobs.clone();
    let queue = queue.clone();
    let orphans = orphans.clone();
    let expectations = expectations.clone();
    let finalizers = finalizers.clone();
    pods.add_event_handler(move |change: Change<'_, Pod>| {
        let pod = change.object();
        let owner = resolve(&jobs, pod);
        let tracked = has_finalizer(pod, JOB_TRACKING_FINALIZER);
        let Some(job) = owner else {
            if tracked && !matches!(change, Change::Deleted(_)) {
                orphans.add(ObjectKey::of(pod));
            }
            if controller_of(&pod.metadata).is_none() {
                // An orphan: the Jobs that would adopt it (upstream
                // `getPodJobs`); an orphan whose labels did not change
                // has been offered already.
                let relabelled = match change {
                    Change::Added(_) => true,
                    Change::Updated { old, new } => {
                        old.metadata.labels != new.metadata.labels
                            || controller_of(&old.metadata).is_some()
                    }
                    Change::Deleted(_) => false,
                };
                if relabelled {
                    for job in matching_jobs(&jobs, pod) {
                        queue.add_after(ObjectKey::of(job.as_ref()), SYNC_JOB_BATCH_PERIOD);
                    }
                }
            }
            return;
        };
        let key = ObjectKey::of(job.as_ref());
        let key_string = key.to_string();
        let uid = pod.uid().unwrap_or_default();
        match change {
            Change::Added(pod) => {
                if pod.metadata.deletion_timestamp.is_some() {
                    expectations.deletion_observed(&key_string, &pod_key(pod));
                } else {
                    expectations.creation_observed(&key_string);
                }
            }
            Change::Updated { old, new } => {
                if old.metadata.resource_version == new.metadata.resource_version {
                    return;
                }
                if new.metadata.deletion_timestamp.is_some() {
                    expectations.deletion_observed(&key_string, &pod_key(new));
                }
                if !tracked {
                    finalizers.observed(&key_string, &uid);
                }
            }
            Change::Deleted(pod) => {
                expectations.deletion_observed(&key_string, &pod_key(pod));
                finalizers.observed(&key_string, &uid);
            }
        }
        if tracked && is_finished(&job) {
            orphans.add(ObjectKey::of(pod));
        }
        queue.add_after(key, SYNC_JOB_BATCH_PERIOD);
    });
}

/// Reconciles Jobs by key.
pub struct JobReconciler {
    client: Client,
    jobs: Informer<Job>,
    pods: Informer<Pod>,
    expectations: Arc<Expectations>,
    finalizers: Arc<FinalizerExpectations>,
    backoff: BackoffStore,
    recorder: EventRecorder,
    /// The last status this controller wrote per Job: newer than the cache
    /// until the watch delivers it (a stale cache must not count a pod
    /// twice or forget an uncounted one).
    written: Mutex<HashMap<String, Arc<Job>>>,
}

/// `resourceVersion` as a number (Corten's are etcd revisions).
fn revision(job: &Job) -> Option<u64> {
    job.metadata.resource_version.as_deref()?.parse().ok()
}

impl JobReconciler {
    /// The freshest copy of the Job: the cache, or what we wrote last if
    /// the cache has not caught up with it yet.
    fn current(&self, key: &str, cached: Arc<Job>) -> Arc<Job> {
        let mut written = self
            .written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match written.get(key) {
            Some(w) if w.uid() == cached.uid() && revision(w) > revision(&cached) => w.clone(),
            _ => {
                written.remove(key);
                cached
            }
        }
    }

    fn remember(&self, key: &str, job: Job) {
        self.written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(key.to_string(), Arc::new(job));
    }

    fn forget(&self, key: &str) {
        self.written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(key);
        self.backoff.remove(key);
        self.finalizers.forget(key);
    }
}

impl Reconciler<ObjectKey> for JobReconciler {
    type Error = SyncError;

    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, SyncError> {
        let namespace = key.namespace.clone().unwrap_or_default();
        let key_string = key.to_string();
        let Some(cached) = self.jobs.get(Some(&namespace), &key.name) else {
            self.expectations.delete(&key_string);
            self.forget(&key_string);
            return Ok(Action::await_change());
        };
        let job = self.current(&key_string, cached);
        if !is_managed(&job) {
            return Ok(Action::await_change());
        }
        if is_finished(&job) {
            self.backoff.remove(&key_string);
            return Ok(Action::await_change());
        }
        let started = std::time::Instant::now();
        let outcome = self.sync_job(&key_string, (*job).clone()).await;
        let mode = if sync::is_indexed(&job) {
            "Indexed"
        } else {
            "NonIndexed"
        };
        let (result, action) = match &outcome {
            Ok((_, action)) => ("success", *action),
            Err(_) => ("error", "tracking"),
        };
        let m = metrics::metrics();
        m.syncs.with_label_values(&[mode, result, action]).inc();
        m.sync_duration
            .with_label_values(&[mode, result, action])
            .observe(started.elapsed().as_secs_f64());
        outcome.map(|(next, _)| next)
    }
}

/// Removes the tracking finalizer from pods whose Job is gone or finished
/// (upstream `syncOrphanPod`).
pub struct OrphanPodReconciler {
    client: Client,
    jobs: Informer<Job>,
    pods: Informer<Pod>,
}

impl Reconciler<ObjectKey> for OrphanPodReconciler {
    type Error = SyncError;

    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, SyncError> {
        let Some(pod) = self.pods.get(key.namespace.as_deref(), &key.name) else {
            return Ok(Action::await_change());
        };
        if !has_finalizer(&pod, JOB_TRACKING_FINALIZER) {
            return Ok(Action::await_change());
        }
        if let Some(reference) = controller_of(&pod.metadata)
            && (reference.kind != "Job" || reference.api_version != "batch/v1")
        {
            // Controlled by something else: not ours to clean (upstream
            // `syncOrphanPod`).
            return Ok(Action::await_change());
        }
        if let Some(job) = resolve(&self.jobs, &pod)
            && !is_finished(&job)
        {
            // The Job's own sync counts it and removes the finalizer.
            return Ok(Action::await_change());
        }
        match remove_finalizer(&self.client, &pod, JOB_TRACKING_FINALIZER).await {
            Ok(_) => {
                metrics::metrics()
                    .tracking_finalizer
                    .with_label_values(&["delete"])
                    .inc();
                Ok(Action::await_change())
            }
            Err(err) if api_errors::is_not_found(&err) => Ok(Action::await_change()),
            Err(err) => Err(err.into()),
        }
    }
}
