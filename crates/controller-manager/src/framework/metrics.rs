//! Metrics with upstream's names: the `workqueue_*` family (label `name`, the
//! queue's name) and `leader_election_master_status`.
//!
//! Everything registers once into the prometheus default registry, which
//! `corten_component_base::metrics::gather_text` serves on `/metrics`.
//! `workqueue_unfinished_work_seconds` and
//! `workqueue_longest_running_processor_seconds` are computed when scraped
//! from the live queues (upstream updates them every 500ms).

use std::sync::{Mutex, OnceLock, Weak};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, exponential_buckets,
};

/// The workqueue metric vectors (one series per queue name).
#[derive(Debug)]
pub struct WorkqueueMetrics {
    /// `workqueue_depth`: current depth of the queue.
    pub depth: IntGaugeVec,
    /// `workqueue_adds_total`: adds handled by the queue.
    pub adds: IntCounterVec,
    /// `workqueue_queue_duration_seconds`: time an item waits before it is taken.
    pub queue_duration: HistogramVec,
    /// `workqueue_work_duration_seconds`: time taken to process an item.
    pub work_duration: HistogramVec,
    /// `workqueue_retries_total`: delayed re-adds (`add_after`, `add_rate_limited`).
    pub retries: IntCounterVec,
}

/// What a live queue reports at scrape time.
pub(crate) trait InFlightWork: Send + Sync {
    /// The queue's name.
    fn name(&self) -> &str;
    /// (sum, max) of the seconds the items being processed have been running.
    fn in_flight_seconds(&self) -> (f64, f64);
}

fn live_queues() -> &'static Mutex<Vec<Weak<dyn InFlightWork>>> {
    static QUEUES: OnceLock<Mutex<Vec<Weak<dyn InFlightWork>>>> = OnceLock::new();
    QUEUES.get_or_init(|| Mutex::new(Vec::new()))
}

/// Makes a queue visible to the scrape-time gauges.
pub(crate) fn track_queue(queue: Weak<dyn InFlightWork>) {
    let mut queues = live_queues()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    queues.retain(|q| q.strong_count() > 0);
    queues.push(queue);
}

/// Computes the two in-flight gauges from the live queues when scraped.
struct InFlightCollector {
    unfinished: GaugeVec,
    longest: GaugeVec,
    descs: Vec<Desc>,
}

impl Collector for InFlightCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.unfinished.reset();
        self.longest.reset();
        let queues: Vec<_> = {
            let mut queues = live_queues()
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            queues.retain(|q| q.strong_count() > 0);
            queues.iter().filter_map(Weak::upgrade).collect()
        };
        for queue in queues {
            let (sum, max) = queue.in_flight_seconds();
            let name = queue.name();
            // Several queues may share a name (two managers in one test
            // process): report the totals.
            self.unfinished.with_label_values(&[name]).add(sum);
            let longest = self.longest.with_label_values(&[name]);
            if max > longest.get() {
                longest.set(max);
            }
        }
        let mut families = self.unfinished.collect();
        families.extend(self.longest.collect());
        families
    }
}

/// The shared workqueue metrics, registered on first use.
pub fn workqueue() -> &'static WorkqueueMetrics {
    static METRICS: OnceLock<WorkqueueMetrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        // Upstream: 10ns .. ~1000s.
        let buckets = exponential_buckets(10e-9, 10.0, 12).unwrap_or_default();
        let metrics = WorkqueueMetrics {
            depth: IntGaugeVec::new(
                Opts::new("workqueue_depth", "Current depth of workqueue"),
                &["name"],
            )
            .expect("valid metric"),
            adds: IntCounterVec::new(
                Opts::new(
                    "workqueue_adds_total",
                    "Total number of adds handled by workqueue",
                ),
                &["name"],
            )
            .expect("valid metric"),
            queue_duration: HistogramVec::new(
                HistogramOpts::new(
                    "workqueue_queue_duration_seconds",
                    "How long in seconds an item stays in workqueue before being requested.",
                )
                .buckets(buckets.clone()),
                &["name"],
            )
            .expect("valid metric"),
            work_duration: HistogramVec::new(
                HistogramOpts::new(
                    "workqueue_work_duration_seconds",
                    "How long in seconds processing an item from workqueue takes.",
                )
                .buckets(buckets),
                &["name"],
            )
            .expect("valid metric"),
            retries: IntCounterVec::new(
                Opts::new(
                    "workqueue_retries_total",
                    "Total number of retries handled by workqueue",
                ),
                &["name"],
            )
            .expect("valid metric"),
        };
        let registry = prometheus::default_registry();
        let results = [
            registry.register(Box::new(metrics.depth.clone())),
            registry.register(Box::new(metrics.adds.clone())),
            registry.register(Box::new(metrics.queue_duration.clone())),
            registry.register(Box::new(metrics.work_duration.clone())),
            registry.register(Box::new(metrics.retries.clone())),
            register_in_flight(registry),
        ];
        for result in results {
            if let Err(err) = result {
                tracing::warn!(error = %err, "registering workqueue metrics");
            }
        }
        metrics
    })
}

fn register_in_flight(registry: &prometheus::Registry) -> prometheus::Result<()> {
    let unfinished = GaugeVec::new(
        Opts::new(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has done that is in progress and hasn't been observed by work_duration. Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at which this increases.",
        ),
        &["name"],
    )?;
    let longest = GaugeVec::new(
        Opts::new(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.",
        ),
        &["name"],
    )?;
    let mut descs: Vec<Desc> = unfinished.desc().into_iter().cloned().collect();
    descs.extend(longest.desc().into_iter().cloned());
    registry.register(Box::new(InFlightCollector {
        unfinished,
        longest,
        descs,
    }))
}

/// `leader_election_master_status{name}`: 1 while this process leads (the
/// shared gauge of component-base's leader election).
pub use corten_component_base::leader_election::leader_election_master_status;
