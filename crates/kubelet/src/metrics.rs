//! The kubelet's own metrics, with upstream's names.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts};

struct Metrics {
    running_pods: IntGauge,
    running_containers: IntGaugeVec,
    node_name: IntGaugeVec,
    pod_start: HistogramVec,
    worker: HistogramVec,
    started_containers: IntCounterVec,
    started_container_errors: IntCounterVec,
    started_pods: IntCounterVec,
}

fn register<C: prometheus::core::Collector + Clone + 'static>(c: C) -> C {
    if let Err(err) = prometheus::register(Box::new(c.clone())) {
        tracing::debug!(error = %err, "registering a kubelet metric");
    }
    c
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let buckets = vec![
        0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 20.0, 30.0, 45.0, 60.0, 120.0, 180.0, 240.0,
        300.0, 360.0, 480.0, 600.0, 900.0, 1200.0, 1800.0, 2700.0, 3600.0,
    ];
    Metrics {
        running_pods: register(IntGauge::new("kubelet_running_pods", "Number of pods that have a running pod sandbox").expect("metric")),
        running_containers: register(
            IntGaugeVec::new(Opts::new("kubelet_running_containers", "Number of containers currently running"), &["container_state"]).expect("metric"),
        ),
        node_name: register(IntGaugeVec::new(Opts::new("kubelet_node_name", "The node's name. The count is always 1."), &["node"]).expect("metric")),
        pod_start: register(
            HistogramVec::new(
                HistogramOpts::new(
                    "kubelet_pod_start_duration_seconds",
                    "Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run",
                )
                .buckets(buckets),
                &[],
            )
            .expect("metric"),
        ),
        worker: register(
            HistogramVec::new(
                HistogramOpts::new("kubelet_pod_worker_duration_seconds", "Duration in seconds to sync a single pod. Broken down by operation type: create, update, or sync")
                    .buckets(prometheus::exponential_buckets(0.005, 2.0, 12).expect("buckets")),
                &["operation_type"],
            )
            .expect("metric"),
        ),
        started_containers: register(
            IntCounterVec::new(Opts::new("kubelet_started_containers_total", "Cumulative number of containers started"), &["container_type"]).expect("metric"),
        ),
        started_container_errors: register(
            IntCounterVec::new(
                Opts::new("kubelet_started_containers_errors_total", "Cumulative number of errors when starting containers"),
                &["code", "container_type"],
            )
            .expect("metric"),
        ),
        started_pods: register(IntCounterVec::new(Opts::new("kubelet_started_pods_total", "Cumulative number of pods started"), &[]).expect("metric")),
    }
});

/// `kubelet_node_name{node}` = 1.
pub fn set_node_name(node: &str) {
    METRICS.node_name.with_label_values(&[node]).set(1);
}

/// Running pods and containers by state (from PLEG).
pub fn set_running(pods: usize, containers: &HashMap<&'static str, i64>) {
    METRICS
        .running_pods
        .set(i64::try_from(pods).unwrap_or(i64::MAX));
    for state in ["created", "running", "exited", "unknown"] {
        METRICS
            .running_containers
            .with_label_values(&[state])
            .set(containers.get(state).copied().unwrap_or(0));
    }
}

/// A pod reached Running after `elapsed` since first seen.
pub fn observe_pod_start(elapsed: Duration) {
    METRICS
        .pod_start
        .with_label_values::<&str>(&[])
        .observe(elapsed.as_secs_f64());
    METRICS.started_pods.with_label_values::<&str>(&[]).inc();
}

/// A pod worker pass.
pub fn observe_worker(operation: &str, elapsed: Duration) {
    METRICS
        .worker
        .with_label_values(&[operation])
        .observe(elapsed.as_secs_f64());
}

/// A container started.
pub fn started_container(kind: &str) {
    METRICS.started_containers.with_label_values(&[kind]).inc();
}

/// A container failed to start.
pub fn started_container_error(kind: &str, code: &str) {
    METRICS
        .started_container_errors
        .with_label_values(&[code, kind])
        .inc();
}
