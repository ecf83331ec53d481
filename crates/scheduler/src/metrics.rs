//! The scheduler's Prometheus metrics, with upstream's names, labels and
//! buckets, registered in the default registry on first use.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus::{
    Counter, CounterVec, GaugeVec, Histogram, HistogramOpts, HistogramVec, Opts,
    exponential_buckets,
};

use crate::framework::Code;

struct Metrics {
    schedule_attempts: CounterVec,
    attempt_duration: HistogramVec,
    pending_pods: GaugeVec,
    sli_duration: HistogramVec,
    pod_attempts: Histogram,
    preemption_attempts: Counter,
    preemption_victims: Histogram,
    preemption_goroutines_duration: HistogramVec,
    preemption_goroutines_total: CounterVec,
    extension_point_duration: HistogramVec,
    incoming_pods: CounterVec,
    unschedulable_pods: GaugeVec,
    cache_size: GaugeVec,
    binding_in_flight: GaugeVec,
}

fn buckets(start: f64, factor: f64, count: usize) -> Vec<f64> {
    exponential_buckets(start, factor, count).unwrap_or_default()
}

fn register<T: prometheus::core::Collector + Clone + 'static>(collector: T) -> T {
    if let Err(err) = prometheus::register(Box::new(collector.clone())) {
        tracing::debug!(error = %err, "registering a scheduler metric");
    }
    collector
}

fn build() -> prometheus::Result<Metrics> {
    Ok(Metrics {
        schedule_attempts: register(CounterVec::new(
            Opts::new(
                "scheduler_schedule_attempts_total",
                "Number of attempts to schedule pods, by the result. 'unschedulable' means a pod could not be scheduled, while 'error' means an internal scheduler problem.",
            ),
            &["profile", "result"],
        )?),
        attempt_duration: register(HistogramVec::new(
            HistogramOpts::new(
                "scheduler_scheduling_attempt_duration_seconds",
                "Scheduling attempt latency in seconds (scheduling algorithm + binding)",
            )
            .buckets(buckets(0.001, 2.0, 15)),
            &["profile", "result"],
        )?),
        pending_pods: register(GaugeVec::new(
            Opts::new(
                "scheduler_pending_pods",
                "Number of pending pods, by the queue type. 'active' means number of pods in activeQ; 'backoff' means number of pods in backoffQ; 'unschedulable' means number of pods in unschedulablePods that the scheduler attempted to schedule and failed; 'gated' is the number of unschedulable pods that the scheduler never attempted to schedule because they are gated.",
            ),
            &["queue"],
        )?),
        sli_duration: register(HistogramVec::new(
            HistogramOpts::new(
                "scheduler_pod_scheduling_sli_duration_seconds",
                "E2e latency for a pod being scheduled, from the time the pod enters the scheduling queue and might involve multiple scheduling attempts.",
            )
            .buckets(buckets(0.01, 2.0, 20)),
            &["attempts"],
        )?),
        pod_attempts: register(Histogram::with_opts(
            HistogramOpts::new(
                "scheduler_pod_scheduling_attempts",
                "Number of attempts to successfully schedule a pod.",
            )
            .buckets(buckets(1.0, 2.0, 5)),
        )?),
        preemption_attempts: register(Counter::new(
            "scheduler_preemption_attempts_total",
            "Total preemption attempts in the cluster till now",
        )?),
        preemption_victims: register(Histogram::with_opts(
            HistogramOpts::new("scheduler_preemption_victims", "Number of selected preemption victims")
                .buckets(buckets(1.0, 2.0, 7)),
        )?),
        preemption_goroutines_duration: register(HistogramVec::new(
            HistogramOpts::new(
                "scheduler_preemption_goroutines_duration_seconds",
                "Duration in seconds for running goroutines for the preemption.",
            )
            .buckets(buckets(0.01, 2.0, 20)),
            &["result"],
        )?),
        preemption_goroutines_total: register(CounterVec::new(
            Opts::new(
                "scheduler_preemption_goroutines_execution_total",
                "Number of preemption goroutines in the cluster till now.",
            ),
            &["result"],
        )?),
        extension_point_duration: register(HistogramVec::new(
            HistogramOpts::new(
                "scheduler_framework_extension_point_duration_seconds",
                "Latency for running all plugins of a specific extension point.",
            )
            .buckets(buckets(0.0001, 2.0, 12)),
            &["extension_point", "status", "profile"],
        )?),
        incoming_pods: register(CounterVec::new(
            Opts::new(
                "scheduler_queue_incoming_pods_total",
                "Number of pods added to scheduling queues by event and queue type.",
            ),
            &["queue", "event"],
        )?),
        unschedulable_pods: register(GaugeVec::new(
            Opts::new(
                "scheduler_unschedulable_pods",
                "The number of unschedulable pods broken down by plugin name. A pod will increment the gauge for all plugins that caused it to not schedule and so this metric have meaning only when broken down by plugin.",
            ),
            &["plugin", "profile"],
        )?),
        cache_size: register(GaugeVec::new(
            Opts::new(
                "scheduler_scheduler_cache_size",
                "Number of nodes, pods, and assumed (bound) pods in the scheduler cache.",
            ),
            &["type"],
        )?),
        binding_in_flight: register(GaugeVec::new(
            Opts::new(
                "scheduler_goroutines",
                "Number of running goroutines split by the work they do such as binding.",
            ),
            &["operation"],
        )?),
    })
}

fn metrics() -> Option<&'static Metrics> {
    static METRICS: OnceLock<Option<Metrics>> = OnceLock::new();
    METRICS
        .get_or_init(|| match build() {
            Ok(m) => Some(m),
            Err(err) => {
                tracing::error!(error = %err, "creating scheduler metrics");
                None
            }
        })
        .as_ref()
}

/// Registers every metric now (so /metrics lists them before the first pod).
pub fn register_all() {
    if let Some(m) = metrics() {
        for queue in ["active", "backoff", "unschedulable", "gated"] {
            m.pending_pods.with_label_values(&[queue]).set(0.0);
        }
    }
}

/// One scheduling attempt ended with `result` (`scheduled`,
/// `unschedulable`, `error`) after `elapsed`.
pub fn schedule_attempt(profile: &str, result: &str, elapsed: Duration) {
    if let Some(m) = metrics() {
        m.schedule_attempts
            .with_label_values(&[profile, result])
            .inc();
        m.attempt_duration
            .with_label_values(&[profile, result])
            .observe(elapsed.as_secs_f64());
    }
}

/// A pod was bound after `attempts` attempts, `since_first_enqueue` after
/// it entered the queue (gated time excluded).
pub fn pod_scheduled(attempts: u32, since_first_enqueue: Duration) {
    if let Some(m) = metrics() {
        let label = attempts.to_string();
        m.sli_duration
            .with_label_values(&[label.as_str()])
            .observe(since_first_enqueue.as_secs_f64());
        m.pod_attempts.observe(f64::from(attempts));
    }
}

/// Sets the queue sizes.
pub fn pending_pods(active: usize, backoff: usize, unschedulable: usize, gated: usize) {
    if let Some(m) = metrics() {
        for (queue, n) in [
            ("active", active),
            ("backoff", backoff),
            ("unschedulable", unschedulable),
            ("gated", gated),
        ] {
            m.pending_pods.with_label_values(&[queue]).set(n as f64);
        }
    }
}

/// A pod entered `queue` because of `event`.
pub fn incoming_pod(queue: &str, event: &str) {
    if let Some(m) = metrics() {
        m.incoming_pods.with_label_values(&[queue, event]).inc();
    }
}

/// Sets how many pending pods `plugin` rejected.
pub fn unschedulable_pods(plugin: &str, profile: &str, n: usize) {
    if let Some(m) = metrics() {
        m.unschedulable_pods
            .with_label_values(&[plugin, profile])
            .set(n as f64);
    }
}

/// A preemption was attempted.
pub fn preemption_attempt() {
    if let Some(m) = metrics() {
        m.preemption_attempts.inc();
    }
}

/// A preemption chose `n` victims.
pub fn preemption_victims(n: usize) {
    if let Some(m) = metrics() {
        m.preemption_victims.observe(n as f64);
    }
}

/// An asynchronous preemption (victim deletions) finished after `elapsed`;
/// `result` is `success` or `error`.
pub fn preemption_goroutine(result: &str, elapsed: Duration) {
    if let Some(m) = metrics() {
        m.preemption_goroutines_duration
            .with_label_values(&[result])
            .observe(elapsed.as_secs_f64());
        m.preemption_goroutines_total
            .with_label_values(&[result])
            .inc();
    }
}

/// All plugins of `point` ran in `elapsed` with `code`.
pub fn observe_extension_point(point: &str, code: Code, profile: &str, elapsed: Duration) {
    if let Some(m) = metrics() {
        m.extension_point_duration
            .with_label_values(&[point, code.as_str(), profile])
            .observe(elapsed.as_secs_f64());
    }
}

/// Sets the cache sizes.
pub fn cache_size(nodes: usize, pods: usize, assumed: usize) {
    if let Some(m) = metrics() {
        m.cache_size.with_label_values(&["nodes"]).set(nodes as f64);
        m.cache_size.with_label_values(&["pods"]).set(pods as f64);
        m.cache_size
            .with_label_values(&["assumed_pods"])
            .set(assumed as f64);
    }
}

/// Binding cycles in flight.
pub fn binding_in_flight(delta: f64) {
    if let Some(m) = metrics() {
        m.binding_in_flight
            .with_label_values(&["binding"])
            .add(delta);
    }
}
