//! The kubelet's own metrics, with upstream's names.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
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
    admission_rejections: IntCounterVec,
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
        admission_rejections: register(
            IntCounterVec::new(Opts::new("kubelet_admission_rejections_total", "Cumulative number pod admission rejections by the Kubelet."), &["reason"]).expect("metric"),
        ),
    }
});

/// `kubelet_node_name{node}` = 1.
pub fn set_node_name(node: &str) {
    METRICS.node_name.with_label_values(&[node]).set(1);
}

const CONTAINER_STATES: [&str; 4] = ["created", "running", "exited", "unknown"];

/// Running pods and container counts by state, per node name. One process
/// may run many (simulated) kubelets: the gauges are the sums over them.
static RUNNING: LazyLock<Mutex<RunningByNode>> = LazyLock::new(Default::default);

/// Node name -> (ready sandboxes, containers by [`CONTAINER_STATES`]).
type RunningByNode = HashMap<String, (i64, [i64; 4])>;

fn publish_running(running: &RunningByNode) {
    METRICS
        .running_pods
        .set(running.values().map(|(pods, _)| pods).sum());
    for (i, state) in CONTAINER_STATES.iter().enumerate() {
        METRICS
            .running_containers
            .with_label_values(&[state])
            .set(running.values().map(|(_, c)| c[i]).sum());
    }
}

/// Running pods and containers by state of `node` (from its PLEG).
pub fn set_running(node: &str, pods: usize, containers: &HashMap<&'static str, i64>) {
    let counts = CONTAINER_STATES.map(|s| containers.get(s).copied().unwrap_or(0));
    let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    running.insert(
        node.to_string(),
        (i64::try_from(pods).unwrap_or(i64::MAX), counts),
    );
    publish_running(&running);
}

/// A kubelet stopped: its pods no longer count, and `kubelet_node_name`
/// drops it.
pub fn forget_node(node: &str) {
    let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    running.remove(node);
    publish_running(&running);
    let _ = METRICS.node_name.remove_label_values(&[node]);
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

/// Reasons counted under their own name in
/// `kubelet_admission_rejections_total` (upstream's allowlist, so that the
/// label cannot grow without bound); others count as `Other`, and
/// insufficient extended resources as `OutOfExtendedResources`.
const ADMISSION_REASONS: &[&str] = &[
    "PodOSSelectorNodeLabelDoesNotMatch",
    "PodOSNotSupported",
    "InvalidNodeInfo",
    "UnexpectedAdmissionError",
    "UnknownReason",
    "UnexpectedPredicateFailureType",
    "OutOfcpu",
    "OutOfmemory",
    "OutOfephemeral-storage",
    "OutOfpods",
    "node(s) had taints that the pod didn't tolerate",
    "Evicted",
    "SysctlForbidden",
    "NodeShutdown",
];

/// A pod was not admitted for `reason`.
pub fn admission_rejected(reason: &str) {
    let label = if ADMISSION_REASONS.contains(&reason) {
        reason
    } else if reason.starts_with("OutOf") {
        "OutOfExtendedResources"
    } else {
        "Other"
    };
    METRICS
        .admission_rejections
        .with_label_values(&[label])
        .inc();
}
