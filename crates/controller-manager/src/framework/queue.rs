//! A rate-limited work queue with client-go's semantics.
//!
//! - **Dedup**: a key added while it is already queued is queued once.
//! - **Single processing**: a key is handed to one worker at a time; a key
//!   added while it is being processed is queued again when that worker
//!   calls [`WorkQueue::done`], so the latest state is always reconciled.
//! - **Delays**: [`WorkQueue::add_after`] keeps the earliest requested time
//!   per key; [`WorkQueue::add_rate_limited`] asks the queue's
//!   [`RateLimiter`] for the delay (per-item exponential backoff plus an
//!   overall token bucket by default).
//! - **Shutdown**: after [`WorkQueue::shut_down`], [`WorkQueue::get`] returns
//!   `None` at once and adds are ignored. Queued keys are dropped: the
//!   controllers are level-triggered, so a restart finds the same work again
//!   from the informers (upstream drains instead).
//!
//! All clocks are `tokio::time`, so tests run with paused time.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use prometheus::{Histogram, IntCounter, IntGauge};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::metrics::{self, InFlightWork};
use super::rate_limiter::{RateLimiter, default_controller_rate_limiter};

/// What a queue key must be: cheap to clone, hashable, printable.
pub trait QueueKey: Clone + Eq + Hash + Debug + Send + Sync + 'static {}
impl<T: Clone + Eq + Hash + Debug + Send + Sync + 'static> QueueKey for T {}

/// A deduplicating, delaying, rate-limited work queue. Cheap to clone; all
/// clones are the same queue.
pub struct WorkQueue<K: QueueKey> {
    inner: Arc<Inner<K>>,
}

impl<K: QueueKey> Clone for WorkQueue<K> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<K: QueueKey> Debug for WorkQueue<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkQueue")
            .field("name", &self.inner.name)
            .field("len", &self.len())
            .finish()
    }
}

struct Inner<K> {
    name: String,
    state: Mutex<State<K>>,
    notify: Notify,
    rate_limiter: Box<dyn RateLimiter<K>>,
    metrics: QueueMetrics,
}

struct QueueMetrics {
    depth: IntGauge,
    adds: IntCounter,
    queue_duration: Histogram,
    work_duration: Histogram,
    retries: IntCounter,
}

struct State<K> {
    /// Keys ready to be handed out, in order.
    queue: VecDeque<K>,
    /// Keys that need processing (queued, or re-added while processing).
    dirty: HashSet<K>,
    /// Keys being processed, with the time they were handed out.
    processing: HashMap<K, Instant>,
    /// When each dirty key was first added (for the queue duration metric).
    added_at: HashMap<K, Instant>,
    /// Delayed keys by due time (the u64 breaks ties, in insertion order).
    waiting: BTreeMap<(Instant, u64), K>,
    /// Each delayed key's slot in `waiting`.
    waiting_slot: HashMap<K, (Instant, u64)>,
    next_seq: u64,
    shutting_down: bool,
}

impl<K: QueueKey> WorkQueue<K> {
    /// A queue named `name` (the `name` label of the `workqueue_*` metrics)
    /// with client-go's default controller rate limiter.
    pub fn new(name: &str) -> Self {
        Self::with_rate_limiter(name, Box::new(default_controller_rate_limiter()))
    }

    /// A queue with its own rate limiter.
    pub fn with_rate_limiter(name: &str, rate_limiter: Box<dyn RateLimiter<K>>) -> Self {
        let m = metrics::workqueue();
        let inner = Arc::new(Inner {
            name: name.to_string(),
            state: Mutex::new(State {
                queue: VecDeque::new(),
                dirty: HashSet::new(),
                processing: HashMap::new(),
                added_at: HashMap::new(),
                waiting: BTreeMap::new(),
                waiting_slot: HashMap::new(),
                next_seq: 0,
                shutting_down: false,
            }),
            notify: Notify::new(),
            rate_limiter,
            metrics: QueueMetrics {
                depth: m.depth.with_label_values(&[name]),
                adds: m.adds.with_label_values(&[name]),
                queue_duration: m.queue_duration.with_label_values(&[name]),
                work_duration: m.work_duration.with_label_values(&[name]),
                retries: m.retries.with_label_values(&[name]),
            },
        });
        let weak = Arc::downgrade(&inner);
        let weak: std::sync::Weak<dyn InFlightWork> = weak;
        metrics::track_queue(weak);
        Self { inner }
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    fn state(&self) -> MutexGuard<'_, State<K>> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Marks `key` as needing processing.
    pub fn add(&self, key: K) {
        let mut state = self.state();
        if self.insert(&mut state, key, Instant::now()) {
            drop(state);
            self.inner.notify.notify_one();
        }
    }

    /// Returns whether a waiting worker should be woken.
    fn insert(&self, state: &mut State<K>, key: K, now: Instant) -> bool {
        if state.shutting_down || state.dirty.contains(&key) {
            return false;
        }
        self.inner.metrics.adds.inc();
        state.added_at.entry(key.clone()).or_insert(now);
        state.dirty.insert(key.clone());
        self.inner.metrics.depth.set(gauge_value(state.dirty.len()));
        if state.processing.contains_key(&key) {
            // `done` queues it again.
            return false;
        }
        state.queue.push_back(key);
        true
    }

    /// Adds `key` once `delay` has passed. A key already waiting keeps the
    /// earlier of its two due times.
    pub fn add_after(&self, key: K, delay: Duration) {
        if delay.is_zero() {
            self.add(key);
            return;
        }
        let mut state = self.state();
        if state.shutting_down {
            return;
        }
        self.inner.metrics.retries.inc();
        let due = Instant::now() + delay;
        if let Some(slot) = state.waiting_slot.get(&key).copied() {
            if slot.0 <= due {
                return;
            }
            state.waiting.remove(&slot);
        }
        let slot = (due, state.next_seq);
        state.next_seq += 1;
        state.waiting.insert(slot, key.clone());
        state.waiting_slot.insert(key, slot);
        drop(state);
        // A waiting worker recomputes its wake-up time.
        self.inner.notify.notify_one();
    }

    /// Adds `key` after the rate limiter's delay for it (a failure counts).
    pub fn add_rate_limited(&self, key: K) {
        let delay = self.inner.rate_limiter.when(&key);
        self.add_after(key, delay);
    }

    /// Forgets `key`'s failures (it was processed successfully).
    pub fn forget(&self, key: &K) {
        self.inner.rate_limiter.forget(key);
    }

    /// How many times `key` was requeued by the rate limiter since the last
    /// [`WorkQueue::forget`].
    pub fn num_requeues(&self, key: &K) -> u32 {
        self.inner.rate_limiter.num_requeues(key)
    }

    /// Waits for a key to process; `None` once the queue is shut down. Call
    /// [`WorkQueue::done`] with the key when finished with it.
    pub async fn get(&self) -> Option<K> {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next_due = {
                let mut state = self.state();
                if state.shutting_down {
                    return None;
                }
                let now = Instant::now();
                self.promote_due(&mut state, now);
                if let Some(key) = state.queue.pop_front() {
                    state.processing.insert(key.clone(), now);
                    state.dirty.remove(&key);
                    self.inner.metrics.depth.set(gauge_value(state.dirty.len()));
                    if let Some(added) = state.added_at.remove(&key) {
                        self.inner
                            .metrics
                            .queue_duration
                            .observe(now.saturating_duration_since(added).as_secs_f64());
                    }
                    // Pass the baton: another worker takes the next ready key
                    // or watches the next due time while this one is busy.
                    let more = !state.queue.is_empty() || !state.waiting.is_empty();
                    drop(state);
                    if more {
                        self.inner.notify.notify_one();
                    }
                    return Some(key);
                }
                state.waiting.keys().next().map(|(due, _)| *due)
            };
            match next_due {
                Some(due) => {
                    tokio::select! {
                        () = &mut notified => {}
                        () = tokio::time::sleep_until(due) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    fn promote_due(&self, state: &mut State<K>, now: Instant) {
        while let Some(entry) = state.waiting.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            state.waiting_slot.remove(&key);
            self.insert(state, key, now);
        }
    }

    /// Marks `key` as processed; if it was added meanwhile, it is queued again.
    pub fn done(&self, key: &K) {
        let mut state = self.state();
        if let Some(started) = state.processing.remove(key) {
            self.inner.metrics.work_duration.observe(
                Instant::now()
                    .saturating_duration_since(started)
                    .as_secs_f64(),
            );
        }
        if state.dirty.contains(key) && !state.shutting_down {
            state.queue.push_back(key.clone());
            drop(state);
            self.inner.notify.notify_one();
        }
    }

    /// Stops the queue: [`WorkQueue::get`] returns `None`, adds are ignored.
    pub fn shut_down(&self) {
        let mut state = self.state();
        state.shutting_down = true;
        state.queue.clear();
        state.dirty.clear();
        state.added_at.clear();
        state.waiting.clear();
        state.waiting_slot.clear();
        self.inner.metrics.depth.set(0);
        drop(state);
        self.inner.notify.notify_waiters();
    }

    /// Whether [`WorkQueue::shut_down`] was called.
    pub fn is_shutting_down(&self) -> bool {
        self.state().shutting_down
    }

    /// Keys ready to be handed out now (not counting delayed ones).
    pub fn len(&self) -> usize {
        self.state().queue.len()
    }

    /// Whether no key is ready to be handed out.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keys waiting for their delay to pass.
    pub fn delayed_len(&self) -> usize {
        self.state().waiting.len()
    }
}

fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl<K: QueueKey> InFlightWork for Inner<K> {
    fn name(&self) -> &str {
        &self.name
    }

    fn in_flight_seconds(&self) -> (f64, f64) {
        let state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        state
            .processing
            .values()
            .map(|started| now.saturating_duration_since(*started).as_secs_f64())
            .fold((0.0, 0.0), |(sum, max), secs| {
                (sum + secs, f64::max(max, secs))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::rate_limiter::ItemExponentialFailureRateLimiter;

    const TIMEOUT: Duration = Duration::from_secs(5);

    async fn get_now(queue: &WorkQueue<String>) -> Option<String> {
        tokio::time::timeout(Duration::from_millis(1), queue.get())
            .await
            .ok()
            .flatten()
    }

    #[tokio::test(start_paused = true)]
    async fn dedups_queued_keys() {
        let queue = WorkQueue::<String>::new("test-dedup");
        queue.add("a".into());
        queue.add("b".into());
        queue.add("a".into());
        assert_eq!(queue.len(), 2);
        assert_eq!(get_now(&queue).await.as_deref(), Some("a"));
        assert_eq!(get_now(&queue).await.as_deref(), Some("b"));
        assert_eq!(get_now(&queue).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn key_added_while_processing_is_requeued_on_done() {
        let queue = WorkQueue::<String>::new("test-processing");
        queue.add("a".into());
        let key = get_now(&queue).await.unwrap();
        queue.add("a".into());
        queue.add("a".into());
        // Not handed to a second worker while the first has it.
        assert_eq!(get_now(&queue).await, None);
        queue.done(&key);
        assert_eq!(get_now(&queue).await.as_deref(), Some("a"));
        queue.done(&key);
        assert_eq!(get_now(&queue).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn add_after_waits_and_keeps_the_earliest_time() {
        let queue = WorkQueue::<String>::new("test-delay");
        let start = Instant::now();
        queue.add_after("a".into(), Duration::from_secs(10));
        queue.add_after("a".into(), Duration::from_secs(3));
        queue.add_after("a".into(), Duration::from_secs(20));
        assert_eq!(queue.delayed_len(), 1);
        assert!(queue.is_empty());
        let key = tokio::time::timeout(TIMEOUT, queue.get()).await.unwrap();
        assert_eq!(key.as_deref(), Some("a"));
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        assert_eq!(queue.delayed_len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_key_already_queued_is_not_duplicated() {
        let queue = WorkQueue::<String>::new("test-delay-dedup");
        queue.add("a".into());
        queue.add_after("a".into(), Duration::from_secs(1));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(get_now(&queue).await.as_deref(), Some("a"));
        assert_eq!(get_now(&queue).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limited_adds_back_off_exponentially() {
        let queue = WorkQueue::<String>::with_rate_limiter(
            "test-backoff",
            Box::new(ItemExponentialFailureRateLimiter::new(
                Duration::from_millis(5),
                Duration::from_secs(1000),
            )),
        );
        let mut waits = Vec::new();
        for _ in 0..5 {
            let start = Instant::now();
            queue.add_rate_limited("a".into());
            let key = tokio::time::timeout(TIMEOUT, queue.get())
                .await
                .unwrap()
                .unwrap();
            waits.push(start.elapsed().as_millis());
            queue.done(&key);
        }
        assert_eq!(waits, [5, 10, 20, 40, 80]);
        assert_eq!(queue.num_requeues(&"a".to_string()), 5);
        queue.forget(&"a".to_string());
        assert_eq!(queue.num_requeues(&"a".to_string()), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn default_limiter_caps_at_1000s() {
        let queue = WorkQueue::<String>::new("test-cap");
        for _ in 0..40 {
            queue.add_rate_limited("a".into());
            let key = tokio::time::timeout(Duration::from_secs(2000), queue.get())
                .await
                .unwrap()
                .unwrap();
            queue.done(&key);
        }
        let start = Instant::now();
        queue.add_rate_limited("a".into());
        let key = tokio::time::timeout(Duration::from_secs(2000), queue.get())
            .await
            .unwrap();
        assert_eq!(key.as_deref(), Some("a"));
        assert_eq!(start.elapsed(), Duration::from_secs(1000));
    }

    #[tokio::test(start_paused = true)]
    async fn several_workers_see_every_key_once() {
        let queue = WorkQueue::<String>::new("test-workers");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut workers = Vec::new();
        for _ in 0..3 {
            let queue = queue.clone();
            let seen = seen.clone();
            workers.push(tokio::spawn(async move {
                while let Some(key) = queue.get().await {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    seen.lock().unwrap().push(key.clone());
                    queue.done(&key);
                }
            }));
        }
        for i in 0..10 {
            queue.add_after(format!("k{i}"), Duration::from_millis(100 * (i % 3)));
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        queue.shut_down();
        for worker in workers {
            tokio::time::timeout(TIMEOUT, worker)
                .await
                .unwrap()
                .unwrap();
        }
        let mut seen = seen.lock().unwrap().clone();
        seen.sort();
        let mut expected: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
        expected.sort();
        assert_eq!(seen, expected);
    }

    #[tokio::test(start_paused = true)]
    async fn shut_down_wakes_waiting_workers_and_ignores_adds() {
        let queue = WorkQueue::<String>::new("test-shutdown");
        let waiter = {
            let queue = queue.clone();
            tokio::spawn(async move { queue.get().await })
        };
        tokio::task::yield_now().await;
        queue.shut_down();
        assert_eq!(
            tokio::time::timeout(TIMEOUT, waiter)
                .await
                .unwrap()
                .unwrap(),
            None
        );
        queue.add("a".into());
        queue.add_after("b".into(), Duration::from_secs(1));
        assert!(queue.is_empty());
        assert_eq!(queue.delayed_len(), 0);
        assert!(queue.is_shutting_down());
        assert_eq!(queue.get().await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn metrics_count_adds_and_depth() {
        let queue = WorkQueue::<String>::new("test-metrics-unique");
        queue.add("a".into());
        queue.add("a".into());
        queue.add("b".into());
        let m = metrics::workqueue();
        assert_eq!(m.adds.with_label_values(&["test-metrics-unique"]).get(), 2);
        assert_eq!(m.depth.with_label_values(&["test-metrics-unique"]).get(), 2);
        queue.add_after("c".into(), Duration::from_secs(1));
        assert_eq!(
            m.retries.with_label_values(&["test-metrics-unique"]).get(),
            1
        );
        let key = get_now(&queue).await.unwrap();
        tokio::time::advance(Duration::from_millis(250)).await;
        let text = String::from_utf8(corten_component_base::metrics::gather_text()).unwrap();
        assert!(
            text.contains(
                "workqueue_longest_running_processor_seconds{name=\"test-metrics-unique\"} 0.25"
            ),
            "{text}"
        );
        queue.done(&key);
        assert_eq!(
            m.work_duration
                .with_label_values(&["test-metrics-unique"])
                .get_sample_count(),
            1
        );
    }
}
