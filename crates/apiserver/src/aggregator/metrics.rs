//! Availability metrics with upstream's names and labels.

use std::sync::LazyLock;

use prometheus::{
    IntCounterVec, IntGaugeVec, Opts, register_int_counter_vec, register_int_gauge_vec,
};

/// `aggregator_unavailable_apiservice`: 1 for each APIService whose
/// `Available` condition is not `True`, else 0.
pub static UNAVAILABLE: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        Opts::new(
            "aggregator_unavailable_apiservice",
            "Gauge of APIServices which are marked as unavailable broken down by APIService name."
        ),
        &["name"]
    )
    .expect("metric registers once")
});

/// `aggregator_unavailable_apiservice_total`: transitions to unavailable,
/// by APIService and reason.
pub static UNAVAILABLE_TOTAL: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "aggregator_unavailable_apiservice_total",
            "Counter of APIServices which are marked as unavailable broken down by APIService name and reason."
        ),
        &["name", "reason"]
    )
    .expect("metric registers once")
});

/// Registers the metrics so they show on /metrics before the first
/// APIService changes.
pub fn init() {
    LazyLock::force(&UNAVAILABLE);
    LazyLock::force(&UNAVAILABLE_TOTAL);
}
