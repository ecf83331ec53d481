//! Storage metrics with upstream names, registered in the default registry
//! (`prometheus::default_registry()`), so the apiserver's `/metrics` handler
//! exports them without knowing about them.
//!
//! Every metric is a lazily-created static; [`register`] forces them all so
//! they appear on `/metrics` before the first request touches them.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{
    GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, default_registry,
};

/// Upstream's buckets for `etcd_request_duration_seconds`.
const ETCD_BUCKETS: &[f64] = &[
    0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0,
    10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
];

/// Registers `c` in the default registry. A registration failure (a name
/// clash with another collector) is logged and the metric still works, it
/// is just not exported: metrics must never take the apiserver down.
fn registered<C: Collector + Clone + 'static>(c: C) -> C {
    if let Err(e) = default_registry().register(Box::new(c.clone())) {
        tracing::warn!(error = %e, "could not register a storage metric");
    }
    c
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    // The options are static and valid, so construction cannot fail; fall
    // back to an unnamed-but-valid metric rather than panicking anyway.
    match IntCounterVec::new(Opts::new(name, help), labels) {
        Ok(c) => registered(c),
        Err(e) => {
            tracing::error!(error = %e, name, "invalid metric definition");
            IntCounterVec::new(
                Opts::new("corten_storage_invalid_metric", "invalid"),
                labels,
            )
            .expect("fallback metric is valid")
        }
    }
}

fn int_gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    match IntGaugeVec::new(Opts::new(name, help), labels) {
        Ok(g) => registered(g),
        Err(e) => {
            tracing::error!(error = %e, name, "invalid metric definition");
            IntGaugeVec::new(
                Opts::new("corten_storage_invalid_metric", "invalid"),
                labels,
            )
            .expect("fallback metric is valid")
        }
    }
}

/// `etcd_request_duration_seconds{operation,type}`: etcd request latency.
pub static ETCD_REQUEST_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    let opts = HistogramOpts::new(
        "etcd_request_duration_seconds",
        "Etcd request latency in seconds for each operation and object type.",
    )
    .buckets(ETCD_BUCKETS.to_vec());
    match HistogramVec::new(opts, &["operation", "type"]) {
        Ok(h) => registered(h),
        Err(e) => {
            tracing::error!(error = %e, "invalid metric definition");
            HistogramVec::new(
                HistogramOpts::new("corten_storage_invalid_metric", "invalid"),
                &["operation", "type"],
            )
            .expect("fallback metric is valid")
        }
    }
});

/// `etcd_requests_total{operation,type}`: etcd requests issued.
pub static ETCD_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "etcd_requests_total",
        "Etcd request counts for each operation and object type.",
        &["operation", "type"],
    )
});

/// `etcd_request_errors_total{operation,type}`: etcd requests that failed
/// (transport or server errors, not NotFound/AlreadyExists/Conflict).
pub static ETCD_REQUEST_ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "etcd_request_errors_total",
        "Etcd failed request counts for each operation and object type.",
        &["operation", "type"],
    )
});

/// `apiserver_storage_db_total_size_in_bytes{endpoint}`: etcd database size
/// (updated by [`crate::EtcdStore::refresh_db_size`]).
pub static ETCD_DB_TOTAL_SIZE: LazyLock<GaugeVec> = LazyLock::new(|| {
    match GaugeVec::new(
        Opts::new(
            "apiserver_storage_db_total_size_in_bytes",
            "Total size of the storage database file physically allocated in bytes.",
        ),
        &["endpoint"],
    ) {
        Ok(g) => registered(g),
        Err(e) => {
            tracing::error!(error = %e, "invalid metric definition");
            GaugeVec::new(
                Opts::new("corten_storage_invalid_metric", "invalid"),
                &["endpoint"],
            )
            .expect("fallback metric is valid")
        }
    }
});

/// `etcd_db_total_size_in_bytes{endpoint}`: the same value under the
/// older upstream name (deprecated upstream in favour of the one above, kept
/// for existing dashboards).
pub static ETCD_DB_TOTAL_SIZE_LEGACY: LazyLock<GaugeVec> = LazyLock::new(|| {
    match GaugeVec::new(
        Opts::new(
            "etcd_db_total_size_in_bytes",
            "Total size of the etcd database file physically allocated in bytes.",
        ),
        &["endpoint"],
    ) {
        Ok(g) => registered(g),
        Err(e) => {
            tracing::error!(error = %e, "invalid metric definition");
            GaugeVec::new(
                Opts::new("corten_storage_invalid_metric", "invalid"),
                &["endpoint"],
            )
            .expect("fallback metric is valid")
        }
    }
});

/// `apiserver_storage_objects{resource}`: objects stored per resource (set
/// by the watch cache from its index size).
pub static STORAGE_OBJECTS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    int_gauge_vec(
        "apiserver_storage_objects",
        "Number of stored objects at the time of last check split by kind.",
        &["resource"],
    )
});

/// `apiserver_watch_cache_events_received_total{resource}`.
pub static WATCH_CACHE_EVENTS_RECEIVED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "apiserver_watch_cache_events_received_total",
        "Counter of events received in watch cache broken by resource type.",
        &["resource"],
    )
});

/// `apiserver_watch_cache_events_dispatched_total{resource}`.
pub static WATCH_CACHE_EVENTS_DISPATCHED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "apiserver_watch_cache_events_dispatched_total",
        "Counter of events dispatched in watch cache broken by resource type.",
        &["resource"],
    )
});

/// `apiserver_watch_cache_initializations_total{resource}`: full lists
/// (the first one and every relist after a compaction).
pub static WATCH_CACHE_INITIALIZATIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "apiserver_watch_cache_initializations_total",
        "Counter of watch cache initializations broken by resource type.",
        &["resource"],
    )
});

/// `apiserver_watch_cache_resource_version{resource}`: the cache's revision.
pub static WATCH_CACHE_RESOURCE_VERSION: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    int_gauge_vec(
        "apiserver_watch_cache_resource_version",
        "Current resource version of watch cache broken by resource type.",
        &["resource"],
    )
});

/// `apiserver_watch_cache_capacity{resource}`: size of the event window.
pub static WATCH_CACHE_CAPACITY: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    int_gauge_vec(
        "apiserver_watch_cache_capacity",
        "Total capacity of watch cache broken by resource type.",
        &["resource"],
    )
});

/// `apiserver_terminated_watchers_total{resource}`: watchers closed because
/// they did not keep up.
pub static TERMINATED_WATCHERS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "apiserver_terminated_watchers_total",
        "Counter of watchers closed due to unresponsiveness broken by resource type.",
        &["resource"],
    )
});

/// Forces every storage metric into existence (and into the default
/// registry). Idempotent; called by [`crate::EtcdStore::connect`].
pub fn register() {
    LazyLock::force(&ETCD_REQUEST_DURATION);
    LazyLock::force(&ETCD_REQUESTS);
    LazyLock::force(&ETCD_REQUEST_ERRORS);
    LazyLock::force(&ETCD_DB_TOTAL_SIZE);
    LazyLock::force(&ETCD_DB_TOTAL_SIZE_LEGACY);
    LazyLock::force(&STORAGE_OBJECTS);
    LazyLock::force(&WATCH_CACHE_EVENTS_RECEIVED);
    LazyLock::force(&WATCH_CACHE_EVENTS_DISPATCHED);
    LazyLock::force(&WATCH_CACHE_INITIALIZATIONS);
    LazyLock::force(&WATCH_CACHE_RESOURCE_VERSION);
    LazyLock::force(&WATCH_CACHE_CAPACITY);
    LazyLock::force(&TERMINATED_WATCHERS);
}

/// Records one etcd request: its latency, the request count and, if
/// `failed`, an error.
pub(crate) fn observe_etcd(operation: &str, resource: &str, elapsed: Duration, failed: bool) {
    let labels = [operation, resource];
    ETCD_REQUEST_DURATION
        .with_label_values(&labels)
        .observe(elapsed.as_secs_f64());
    ETCD_REQUESTS.with_label_values(&labels).inc();
    if failed {
        ETCD_REQUEST_ERRORS.with_label_values(&labels).inc();
    }
}
