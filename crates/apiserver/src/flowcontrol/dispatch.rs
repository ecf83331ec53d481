//! Concurrency limits per priority level (the seats of upstream's API
//! Priority and Fairness), with upstream's `apiserver_flowcontrol_*`
//! metrics.
//!
//! The server's limit is `--max-requests-inflight` plus
//! `--max-mutating-requests-inflight` (600 by default). Each `Limited`
//! priority level gets its nominal share,
//! `ceil(limit * nominalConcurrencyShares / sum of all levels' shares)`,
//! as seats; a request takes one seat while authorization and its handler
//! run. When a level's seats are taken, a request waits (`Queue`: up to
//! `queues * queueLengthLimit` waiting, for at most [`QUEUE_WAIT`]) or is
//! refused at once (`Reject`), with upstream's 429. `Exempt` levels have
//! no limit. Long-running requests (watches, exec/attach/port-forward,
//! proxy, followed logs) take no seat, as upstream lets them run outside
//! the limits once started.
//!
//! Not upstream: waiting requests of one level share one FIFO instead of
//! shuffle-sharded per-flow queues (no fairness between flows of a level),
//! every request costs one seat (no width estimate for large LISTs), and
//! levels do not lend or borrow seats.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use corten_apimachinery::StatusError;
use k8s_openapi::api::flowcontrol::v1::PriorityLevelConfiguration;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    register_histogram_vec, register_int_counter_vec, register_int_gauge_vec,
};

/// How long a request may wait for a seat (upstream: a quarter of the
/// 60 s request timeout).
pub const QUEUE_WAIT: Duration = Duration::from_secs(15);

/// The seats and waiting room of one priority level.
pub struct Level {
    name: String,
    /// Seats (ignored when exempt).
    limit: AtomicUsize,
    /// An `Exempt` level (or one not configured yet): no limit.
    exempt: std::sync::atomic::AtomicBool,
    /// How many may wait (0: reject when full).
    queue_capacity: AtomicUsize,
    counts: Mutex<Counts>,
    freed: tokio::sync::Notify,
    /// How long a request may wait ([`QUEUE_WAIT`]; shorter in tests).
    queue_wait: Duration,
}

#[derive(Default)]
struct Counts {
    executing: usize,
    waiting: usize,
}

impl std::fmt::Debug for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Level").field("name", &self.name).finish()
    }
}

/// Why a request was refused (upstream's `reason` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The level's waiting room was full.
    QueueFull,
    /// A `Reject` level had no free seat.
    ConcurrencyLimit,
    /// No seat within [`QUEUE_WAIT`].
    TimeOut,
}

impl Rejection {
    fn label(self) -> &'static str {
        match self {
            Rejection::QueueFull => "queue-full",
            Rejection::ConcurrencyLimit => "concurrency-limit",
            Rejection::TimeOut => "time-out",
        }
    }
}

/// Upstream's answer to a refused request: 429 `TooManyRequests`, retry
/// after a second.
pub fn too_many_requests() -> StatusError {
    StatusError::too_many_requests("Too many requests, please try again later.", 1)
}

/// One flow's (FlowSchema and priority level's) metric series, looked up
/// once per configuration snapshot rather than on every request.
pub struct FlowMetrics {
    flow_schema: String,
    dispatched: IntCounter,
    executing: IntGauge,
    executing_seats: IntGauge,
    inqueue: IntGauge,
    waited: Histogram,
    gave_up: Histogram,
}

impl std::fmt::Debug for FlowMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowMetrics")
            .field("flow_schema", &self.flow_schema)
            .finish()
    }
}

impl FlowMetrics {
    /// The series of `flow_schema` at `level`.
    pub fn new(flow_schema: &str, level: &str) -> Self {
        let labels = [flow_schema, level];
        FlowMetrics {
            flow_schema: flow_schema.to_string(),
            dispatched: DISPATCHED.with_label_values(&labels),
            executing: EXECUTING.with_label_values(&labels),
            executing_seats: EXECUTING_SEATS.with_label_values(&labels),
            inqueue: INQUEUE.with_label_values(&labels),
            waited: WAIT_DURATION.with_label_values(&[flow_schema, level, "true"]),
            gave_up: WAIT_DURATION.with_label_values(&[flow_schema, level, "false"]),
        }
    }
}

/// A seat held while a request executes; freed on drop.
pub struct Seat<'a> {
    level: &'a Level,
    flow: &'a FlowMetrics,
    /// Whether the level counted it (exempt levels count nothing).
    counted: bool,
}

impl Drop for Seat<'_> {
    fn drop(&mut self) {
        self.flow.executing.dec();
        self.flow.executing_seats.dec();
        if self.counted {
            {
                let mut c = self.level.lock();
                c.executing = c.executing.saturating_sub(1);
            }
            self.level.freed.notify_one();
        }
    }
}

impl Level {
    pub(super) fn new(name: &str) -> Self {
        Level {
            name: name.to_string(),
            limit: AtomicUsize::new(0),
            exempt: std::sync::atomic::AtomicBool::new(true),
            queue_capacity: AtomicUsize::new(0),
            counts: Mutex::new(Counts::default()),
            freed: tokio::sync::Notify::new(),
            queue_wait: QUEUE_WAIT,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the seats and waiting room from the level's spec and the
    /// server's limit (`shares_total`: the sum of every level's shares).
    pub(super) fn configure(
        &self,
        plc: &PriorityLevelConfiguration,
        server_limit: usize,
        shares_total: u64,
    ) {
        let spec = plc.spec.as_ref();
        let limited = spec.and_then(|s| s.limited.as_ref());
        let exempt = spec.is_none_or(|s| s.type_ == "Exempt") || limited.is_none();
        self.exempt.store(exempt, Ordering::Relaxed);
        if let Some(l) = limited {
            let shares = u64::try_from(l.nominal_concurrency_shares.unwrap_or(30)).unwrap_or(0);
            let seats = nominal_seats(server_limit, shares, shares_total);
            self.limit.store(seats, Ordering::Relaxed);
            let queuing = l
                .limit_response
                .as_ref()
                .filter(|r| r.type_ == "Queue")
                .map(|r| {
                    let q = r.queuing.as_ref();
                    let queues = q.and_then(|q| q.queues).unwrap_or(64);
                    let length = q.and_then(|q| q.queue_length_limit).unwrap_or(50);
                    usize::try_from(queues).unwrap_or(0) * usize::try_from(length).unwrap_or(0)
                })
                .unwrap_or(0);
            self.queue_capacity.store(queuing, Ordering::Relaxed);
            NOMINAL_LIMIT_SEATS
                .with_label_values(&[&self.name])
                .set(i64::try_from(seats).unwrap_or(i64::MAX));
            CONCURRENCY_LIMIT
                .with_label_values(&[&self.name])
                .set(i64::try_from(seats).unwrap_or(i64::MAX));
            // More seats may free waiters at once.
            self.freed.notify_waiters();
        }
    }

    /// Takes a seat for a request of `flow`, waiting when the level
    /// allows it.
    pub async fn acquire<'a>(&'a self, flow: &'a FlowMetrics) -> Result<Seat<'a>, Rejection> {
        let start = Instant::now();
        let counted = !self.exempt.load(Ordering::Relaxed);
        let result = match counted {
            false => Ok(()),
            true => self.wait_for_seat(flow).await,
        };
        let waited = start.elapsed().as_secs_f64();
        match result {
            Ok(()) => {
                flow.waited.observe(waited);
                flow.dispatched.inc();
                flow.executing.inc();
                flow.executing_seats.inc();
                Ok(Seat {
                    level: self,
                    flow,
                    counted,
                })
            }
            Err(reason) => {
                flow.gave_up.observe(waited);
                REJECTED
                    .with_label_values(&[&flow.flow_schema, &self.name, reason.label()])
                    .inc();
                Err(reason)
            }
        }
    }

    async fn wait_for_seat(&self, flow: &FlowMetrics) -> Result<(), Rejection> {
        let deadline = tokio::time::Instant::now() + self.queue_wait;
        let mut queued = false;
        let outcome = loop {
            // Registered before the check so a seat freed in between wakes
            // this request.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut c = self.lock();
                if c.executing < self.limit.load(Ordering::Relaxed) {
                    c.executing += 1;
                    if queued {
                        c.waiting -= 1;
                    }
                    break Ok(());
                }
                if !queued {
                    let capacity = self.queue_capacity.load(Ordering::Relaxed);
                    if capacity == 0 {
                        return Err(Rejection::ConcurrencyLimit);
                    }
                    if c.waiting >= capacity {
                        return Err(Rejection::QueueFull);
                    }
                    c.waiting += 1;
                    queued = true;
                    flow.inqueue.inc();
                }
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                self.lock().waiting -= 1;
                break Err(Rejection::TimeOut);
            }
        };
        if queued {
            flow.inqueue.dec();
        }
        outcome
    }

    /// Requests holding a seat of a limited level now.
    pub fn executing(&self) -> usize {
        self.lock().executing
    }
}

/// `ceil(limit * shares / total)`, at least one seat.
pub fn nominal_seats(server_limit: usize, shares: u64, shares_total: u64) -> usize {
    if shares_total == 0 {
        return server_limit.max(1);
    }
    let seats = (server_limit as u64 * shares).div_ceil(shares_total);
    usize::try_from(seats).unwrap_or(usize::MAX).max(1)
}

const FLOW_LABELS: &[&str] = &["flow_schema", "priority_level"];

static DISPATCHED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "apiserver_flowcontrol_dispatched_requests_total",
            "Number of requests executed by API Priority and Fairness subsystem"
        ),
        FLOW_LABELS
    )
    .expect("metric registers once")
});

static REJECTED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "apiserver_flowcontrol_rejected_requests_total",
            "Number of requests rejected by API Priority and Fairness subsystem"
        ),
        &["flow_schema", "priority_level", "reason"]
    )
    .expect("metric registers once")
});

static EXECUTING: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        Opts::new(
            "apiserver_flowcontrol_current_executing_requests",
            "Number of requests in initial (for a WATCH) or any (for a non-WATCH) execution stage in the API Priority and Fairness subsystem"
        ),
        FLOW_LABELS
    )
    .expect("metric registers once")
});

static EXECUTING_SEATS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        Opts::new(
            "apiserver_flowcontrol_current_executing_seats",
            "Concurrency (number of seats) occupied by the currently executing (initial stage for a WATCH, any stage otherwise) requests in the API Priority and Fairness subsystem"
        ),
        FLOW_LABELS
    )
    .expect("metric registers once")
});

static INQUEUE: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        Opts::new(
            "apiserver_flowcontrol_current_inqueue_requests",
            "Number of requests currently pending in queues of the API Priority and Fairness subsystem"
        ),
        FLOW_LABELS
    )
    .expect("metric registers once")
});

static NOMINAL_LIMIT_SEATS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        Opts::new(
            "apiserver_flowcontrol_nominal_limit_seats",
            "Nominal number of execution seats configured for each priority level"
        ),
        &["priority_level"]
    )
    .expect("metric registers once")
});

static CONCURRENCY_LIMIT: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        Opts::new(
            "apiserver_flowcontrol_request_concurrency_limit",
            "Nominal number of execution seats configured for each priority level"
        ),
        &["priority_level"]
    )
    .expect("metric registers once")
});

static WAIT_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        HistogramOpts::new(
            "apiserver_flowcontrol_request_wait_duration_seconds",
            "Length of time a request spent waiting in its queue"
        )
        .buckets(vec![
            0.0, 0.005, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0
        ]),
        &["flow_schema", "priority_level", "execute"]
    )
    .expect("metric registers once")
});

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;

    static FLOW: LazyLock<FlowMetrics> = LazyLock::new(|| FlowMetrics::new("fs", "l"));

    fn level(type_: &str, shares: i32, queues: i32, length: i32) -> Arc<Level> {
        let plc: PriorityLevelConfiguration = serde_json::from_value(json!({
            "metadata": {"name": "l"},
            "spec": {"type": "Limited", "limited": {
                "nominalConcurrencyShares": shares,
                "limitResponse": {"type": type_, "queuing":
                    {"queues": queues, "queueLengthLimit": length, "handSize": 1}}}}
        }))
        .unwrap();
        let l = Arc::new(Level {
            queue_wait: Duration::from_millis(200),
            ..Level::new("l")
        });
        // 2 seats: limit 4, half the shares.
        l.configure(&plc, 4, u64::try_from(shares).unwrap() * 2);
        l
    }

    #[test]
    fn nominal_seats_round_up_and_never_reach_zero() {
        assert_eq!(nominal_seats(600, 30, 245), 74);
        assert_eq!(nominal_seats(600, 5, 245), 13);
        assert_eq!(nominal_seats(600, 0, 245), 1);
        assert_eq!(nominal_seats(10, 1, 0), 10);
    }

    #[tokio::test]
    async fn reject_levels_refuse_beyond_their_seats() {
        let l = level("Reject", 10, 0, 0);
        let a = l.acquire(&FLOW).await.unwrap();
        let _b = l.acquire(&FLOW).await.unwrap();
        assert_eq!(
            l.acquire(&FLOW).await.err(),
            Some(Rejection::ConcurrencyLimit)
        );
        drop(a);
        let _c = l.acquire(&FLOW).await.unwrap();
        assert_eq!(l.executing(), 2);
    }

    #[tokio::test]
    async fn queued_requests_get_freed_seats_and_time_out_or_overflow() {
        let l = level("Queue", 10, 1, 1);
        let a = l.acquire(&FLOW).await.unwrap();
        let _b = l.acquire(&FLOW).await.unwrap();
        // One may wait; a second waiter overflows the queue.
        let waiter = {
            let l = l.clone();
            tokio::spawn(async move { l.acquire(&FLOW).await.map(|_| ()) })
        };
        tokio::task::yield_now().await;
        assert_eq!(l.acquire(&FLOW).await.err(), Some(Rejection::QueueFull));
        drop(a);
        assert_eq!(waiter.await.unwrap(), Ok(()));
        // Nobody frees a seat: the waiter gives up after its wait.
        let _c = l.acquire(&FLOW).await.unwrap();
        assert_eq!(l.acquire(&FLOW).await.err(), Some(Rejection::TimeOut));
    }
}
