//! The scheduling loop. One task owns the cluster snapshot and the queue:
//! it applies informer updates and binding results between scheduling
//! cycles, pops the next pod, runs the cycle (filter, score, assume,
//! reserve, permit) synchronously, and hands the binding to a background
//! task. No locks, no snapshot copies.

mod binding;
mod failure;
mod schedule_one;
mod updates;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use self::binding::BindResult;
pub use self::updates::{Change, ClusterUpdate, Resource};
use crate::cache::Snapshot;
use crate::config::KubeSchedulerConfiguration;
use crate::framework::parallelize::Parallelizer;
use crate::framework::profile::resolve_profile;
use crate::framework::{ClusterApi, Framework};
use crate::metrics;
use crate::plugins::{Activator, Handle};
use crate::queue::{QueueConfig, SchedulingQueue};

/// How often periodic work runs (backoff flush, metrics).
const TICK: Duration = Duration::from_secs(1);
/// How often leftover unschedulable pods are checked (upstream: 30s).
const UNSCHEDULABLE_FLUSH: Duration = Duration::from_secs(30);

/// Counters of what the loop did (for tests and the benchmark).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Scheduling cycles run.
    pub attempts: u64,
    /// Pods assumed and handed to binding.
    pub assumed: u64,
    /// Pods bound.
    pub bound: u64,
    /// Cycles that found no node.
    pub unschedulable: u64,
    /// Cycles or bindings that failed with an error.
    pub errors: u64,
}

/// The scheduler: profiles, snapshot, queue.
pub struct Scheduler {
    profiles: HashMap<String, Arc<Framework>>,
    snapshot: Snapshot,
    queue: SchedulingQueue,
    api: Arc<dyn ClusterApi>,
    percentage_of_nodes_to_score: i32,
    next_start_node_index: usize,
    results_tx: mpsc::UnboundedSender<BindResult>,
    results_rx: mpsc::UnboundedReceiver<BindResult>,
    activations: mpsc::UnboundedReceiver<String>,
    waiting_for: HashSet<Resource>,
    stats: Stats,
    last_unschedulable_flush: Instant,
    synced_flag: Option<Arc<std::sync::atomic::AtomicBool>>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("profiles", &self.profiles.keys().collect::<Vec<_>>())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// Builds the profiles of `config` (already validated) writing through
    /// `api`. `wait_for` lists the informers whose initial list must arrive
    /// before scheduling starts.
    pub fn new(
        config: &KubeSchedulerConfiguration,
        api: Arc<dyn ClusterApi>,
        wait_for: &[Resource],
    ) -> Result<Self, String> {
        let (activate_tx, activations) = mpsc::unbounded_channel();
        let handle = Handle {
            api: api.clone(),
            activator: Activator::new(activate_tx),
        };
        let mut profiles = HashMap::new();
        let mut queue = SchedulingQueue::new(QueueConfig {
            initial_backoff: Duration::from_secs(
                u64::try_from(config.pod_initial_backoff_seconds).unwrap_or(1),
            ),
            max_backoff: Duration::from_secs(
                u64::try_from(config.pod_max_backoff_seconds).unwrap_or(10),
            ),
            ..QueueConfig::default()
        });
        for profile in &config.profiles {
            let resolved = resolve_profile(profile).map_err(|errors| {
                format!(
                    "profile {:?}: {}",
                    profile.scheduler_name,
                    errors.join("; ")
                )
            })?;
            let framework = Framework::new(&resolved, &handle).map_err(|e| {
                format!(
                    "creating profile for scheduler name {}: {e}",
                    profile.scheduler_name
                )
            })?;
            let framework = Arc::new(framework);
            register_with_queue(&mut queue, &profile.scheduler_name, &framework);
            profiles.insert(profile.scheduler_name.clone(), framework);
        }
        let (results_tx, results_rx) = mpsc::unbounded_channel();
        metrics::register_all();
        let mut snapshot = Snapshot::new();
        snapshot.set_parallelizer(Parallelizer::from_parallelism(config.parallelism));
        Ok(Scheduler {
            profiles,
            snapshot,
            queue,
            api,
            percentage_of_nodes_to_score: config.percentage_of_nodes_to_score.unwrap_or(0),
            next_start_node_index: 0,
            results_tx,
            results_rx,
            activations,
            waiting_for: wait_for.iter().copied().collect(),
            stats: Stats::default(),
            last_unschedulable_flush: Instant::now(),
            synced_flag: None,
        })
    }

    /// Sets the queue configuration (tests shorten backoffs).
    pub fn set_queue_config(&mut self, config: QueueConfig) {
        let mut queue = SchedulingQueue::new(config);
        for (name, fwk) in &self.profiles {
            register_with_queue(&mut queue, name, fwk);
        }
        self.queue = queue;
    }

    /// Replaces the workers that filter and score nodes (tests and the
    /// benchmark pick an exact count; the daemon uses `parallelism`).
    pub fn set_parallelizer(&mut self, parallelizer: Parallelizer) {
        self.snapshot.set_parallelizer(parallelizer);
    }

    /// How many threads filter and score nodes.
    pub fn workers(&self) -> usize {
        self.snapshot.parallelizer().workers()
    }

    /// The profile named `name`.
    pub fn profile(&self, name: &str) -> Option<&Arc<Framework>> {
        self.profiles.get(name)
    }

    /// The snapshot (for tests and the benchmark).
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The queue (for tests and the benchmark).
    pub fn queue(&self) -> &SchedulingQueue {
        &self.queue
    }

    /// What the loop did so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// A flag set once every awaited informer has listed (for /readyz).
    pub fn set_synced_flag(&mut self, flag: Arc<std::sync::atomic::AtomicBool>) {
        flag.store(self.synced(), std::sync::atomic::Ordering::SeqCst);
        self.synced_flag = Some(flag);
    }

    /// Whether every awaited informer has listed.
    pub fn synced(&self) -> bool {
        self.waiting_for.is_empty()
    }

    /// Applies binding results and activations that have arrived.
    pub fn drain_bind_results(&mut self) {
        while let Ok(result) = self.results_rx.try_recv() {
            self.on_bind_result(result);
        }
        while let Ok(uid) = self.activations.try_recv() {
            self.queue.activate(&uid, Instant::now());
        }
    }

    /// Schedules pods until the queue has nothing poppable; returns how
    /// many cycles ran. Used by the benchmark and tests (the daemon uses
    /// [`Scheduler::run`]).
    pub fn schedule_pending(&mut self) -> usize {
        let mut cycles = 0;
        loop {
            self.drain_bind_results();
            let Some(queued) = self.queue.pop(Instant::now()) else {
                break;
            };
            self.schedule_one(queued);
            cycles += 1;
        }
        cycles
    }

    fn periodic(&mut self, now: Instant) {
        self.queue.flush_backoff_completed(now);
        if now.saturating_duration_since(self.last_unschedulable_flush) >= UNSCHEDULABLE_FLUSH {
            self.last_unschedulable_flush = now;
            self.queue.flush_unschedulable_leftover(now);
        }
        self.queue.report_metrics();
        let (pods, assumed) = self.snapshot.pod_counts();
        metrics::cache_size(self.snapshot.num_nodes(), pods, assumed);
    }

    /// Runs until `stop` fires or the update channel closes.
    pub async fn run(
        mut self,
        mut updates: mpsc::Receiver<ClusterUpdate>,
        stop: CancellationToken,
    ) {
        let mut last_tick = Instant::now();
        loop {
            if stop.is_cancelled() {
                break;
            }
            let mut closed = false;
            for _ in 0..4096 {
                match updates.try_recv() {
                    Ok(update) => self.apply(update),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
            if closed {
                break;
            }
            self.drain_bind_results();
            let now = Instant::now();
            if now.saturating_duration_since(last_tick) >= TICK {
                last_tick = now;
                self.periodic(now);
            }
            if self.synced()
                && let Some(queued) = self.queue.pop(now)
            {
                self.schedule_one(queued);
                // Let other tasks (bindings, informers) run between cycles.
                tokio::task::yield_now().await;
                continue;
            }
            let wake = self
                .queue
                .next_backoff_expiry()
                .map_or(last_tick + TICK, |t| t.min(last_tick + TICK));
            tokio::select! {
                update = updates.recv() => match update {
                    Some(update) => self.apply(update),
                    None => break,
                },
                Some(result) = self.results_rx.recv() => self.on_bind_result(result),
                Some(uid) = self.activations.recv() => {
                    self.queue.activate(&uid, Instant::now());
                }
                () = tokio::time::sleep_until(wake) => {}
                () = stop.cancelled() => break,
            }
        }
        tracing::info!(stats = ?self.stats, "scheduling loop stopped");
    }
}

/// Tells the queue which events may help the profile's pods and how to
/// run its PreEnqueue plugins.
fn register_with_queue(queue: &mut SchedulingQueue, name: &str, fwk: &Arc<Framework>) {
    queue.set_registrations(name, fwk.events_to_register());
    let fwk = fwk.clone();
    queue.set_pre_enqueue(name, Arc::new(move |pod| fwk.run_pre_enqueue(pod)));
}

#[cfg(test)]
mod parallel_tests;
#[cfg(test)]
mod tests;
