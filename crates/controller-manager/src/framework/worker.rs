//! Level-triggered workers: take a key from a [`WorkQueue`], call
//! [`Reconciler::reconcile`] in a tracing span, and requeue as asked.
//!
//! - `Ok(Action::await_change())`: done; the key's failure count is reset.
//! - `Ok(Action::requeue(d))`: done for now, look again after `d`.
//! - `Err(e)`: logged, retried with the queue's rate limiter (exponential
//!   backoff per key).
//! - A panic in a reconcile is caught, logged and treated like an error, so
//!   bad input can never crash-loop the process.
//!
//! Reconcilers never learn why they were called: they read the current state
//! (from informer caches or the API) and move it towards the desired one.

use std::fmt::Display;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::FutureExt;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::queue::{QueueKey, WorkQueue};

/// What a successful reconcile asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Action {
    requeue_after: Option<Duration>,
}

impl Action {
    /// Nothing more to do until something changes.
    pub fn await_change() -> Self {
        Self {
            requeue_after: None,
        }
    }

    /// Look at the key again after `after` (progress is expected).
    pub fn requeue(after: Duration) -> Self {
        Self {
            requeue_after: Some(after),
        }
    }

    /// The requested delay, if any.
    pub fn requeue_after(&self) -> Option<Duration> {
        self.requeue_after
    }
}

/// One controller's reconcile function over keys of type `K`.
pub trait Reconciler<K>: Send + Sync + 'static {
    /// Why a reconcile failed (logged; the key is retried with backoff).
    type Error: Display + Send;

    /// Moves the object named by `key` towards its desired state.
    fn reconcile(&self, key: &K) -> impl Future<Output = Result<Action, Self::Error>> + Send;
}

/// Counts reconciles (for tests and the leader-election checks: a standby
/// manager must not reconcile).
#[derive(Debug, Default, Clone)]
pub struct ReconcileCounter(Arc<AtomicU64>);

impl ReconcileCounter {
    /// Reconciles started so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs `workers` workers over `queue` until `shutdown` fires; then shuts the
/// queue down and returns once every worker has stopped (an in-flight
/// reconcile is abandoned: it is idempotent and will run again).
pub async fn run_workers<K, R>(
    controller: &'static str,
    queue: WorkQueue<K>,
    reconciler: Arc<R>,
    workers: usize,
    counter: ReconcileCounter,
    shutdown: CancellationToken,
) where
    K: QueueKey + Display,
    R: Reconciler<K>,
{
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..workers.max(1) {
        let queue = queue.clone();
        let reconciler = reconciler.clone();
        let counter = counter.clone();
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            while let Some(key) = queue.get().await {
                counter.inc();
                let span = tracing::info_span!("reconcile", controller, key = %key, worker);
                let outcome = tokio::select! {
                    outcome = AssertUnwindSafe(reconciler.reconcile(&key)).catch_unwind().instrument(span.clone()) => outcome,
                    () = shutdown.cancelled() => {
                        queue.done(&key);
                        break;
                    }
                };
                span.in_scope(|| match outcome {
                    Ok(Ok(action)) => {
                        queue.forget(&key);
                        if let Some(after) = action.requeue_after() {
                            tracing::trace!(after = ?after, "requeue requested");
                            queue.add_after(key.clone(), after);
                        }
                    }
                    Ok(Err(err)) => {
                        tracing::warn!(
                            error = %err,
                            retries = queue.num_requeues(&key),
                            "reconcile failed; retrying with backoff"
                        );
                        queue.add_rate_limited(key.clone());
                    }
                    Err(panic) => {
                        let message = panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "unknown panic".to_string());
                        tracing::error!(panic = %message, "reconcile panicked; retrying with backoff");
                        queue.add_rate_limited(key.clone());
                    }
                });
                queue.done(&key);
            }
        });
    }
    shutdown.cancelled().await;
    queue.shut_down();
    while let Some(joined) = tasks.join_next().await {
        if let Err(err) = joined {
            tracing::error!(controller, error = %err, "worker ended abnormally");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Flaky {
        calls: Mutex<Vec<(String, tokio::time::Instant)>>,
        fail_times: usize,
    }

    impl Reconciler<String> for Flaky {
        type Error = String;

        async fn reconcile(&self, key: &String) -> Result<Action, String> {
            let n = {
                let mut calls = self.calls.lock().unwrap();
                calls.push((key.clone(), tokio::time::Instant::now()));
                calls.len()
            };
            if key == "panic" && n == 1 {
                panic!("bad input");
            }
            if n <= self.fail_times {
                return Err(format!("failure {n}"));
            }
            if key == "requeue" && n == self.fail_times + 1 {
                return Ok(Action::requeue(Duration::from_secs(30)));
            }
            Ok(Action::await_change())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn errors_back_off_and_requeue_waits() {
        let reconciler = Arc::new(Flaky {
            calls: Mutex::new(Vec::new()),
            fail_times: 3,
        });
        let queue = WorkQueue::<String>::new("test-worker-backoff");
        let shutdown = CancellationToken::new();
        let counter = ReconcileCounter::default();
        let runner = tokio::spawn(run_workers(
            "test",
            queue.clone(),
            reconciler.clone(),
            2,
            counter.clone(),
            shutdown.clone(),
        ));
        let start = tokio::time::Instant::now();
        queue.add("requeue".to_string());
        tokio::time::sleep(Duration::from_secs(60)).await;
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), runner)
            .await
            .unwrap()
            .unwrap();
        let calls = reconciler.calls.lock().unwrap().clone();
        let offsets: Vec<u128> = calls
            .iter()
            .map(|(_, at)| at.duration_since(start).as_millis())
            .collect();
        // Three failures (5ms, 10ms, 20ms backoff), then a 30s requeue.
        assert_eq!(offsets, [0, 5, 15, 35, 30_035]);
        assert_eq!(counter.get(), 5);
        assert_eq!(queue.num_requeues(&"requeue".to_string()), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_reconcile_is_retried_not_fatal() {
        let reconciler = Arc::new(Flaky {
            calls: Mutex::new(Vec::new()),
            fail_times: 0,
        });
        let queue = WorkQueue::<String>::new("test-worker-panic");
        let shutdown = CancellationToken::new();
        let runner = tokio::spawn(run_workers(
            "test",
            queue.clone(),
            reconciler.clone(),
            1,
            ReconcileCounter::default(),
            shutdown.clone(),
        ));
        queue.add("panic".to_string());
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(reconciler.calls.lock().unwrap().len(), 2);
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), runner)
            .await
            .unwrap()
            .unwrap();
    }
}
