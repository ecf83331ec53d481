//! kube-proxy's metrics, with upstream's names (subsystem `kubeproxy`).

use std::sync::LazyLock;

use prometheus::{Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts};

fn register<C: prometheus::core::Collector + Clone + 'static>(c: C) -> C {
    // Registering twice (tests create several proxies) is harmless.
    let _ = prometheus::register(Box::new(c.clone()));
    c
}

/// `kubeproxy_sync_proxy_rules_duration_seconds`: how long a sync took.
pub static SYNC_DURATION: LazyLock<Histogram> = LazyLock::new(|| {
    sync_histogram(
        "kubeproxy_sync_proxy_rules_duration_seconds",
        "SyncProxyRules latency in seconds",
    )
});

fn sync_histogram(name: &str, help: &str) -> Histogram {
    register(
        Histogram::with_opts(
            HistogramOpts::new(name, help)
                .buckets(prometheus::exponential_buckets(0.001, 2.0, 15).unwrap_or_default()),
        )
        .expect("valid histogram"),
    )
}

/// `kubeproxy_sync_full_proxy_rules_duration_seconds`: syncs that rewrote
/// the whole ruleset.
pub static SYNC_FULL_DURATION: LazyLock<Histogram> = LazyLock::new(|| {
    sync_histogram(
        "kubeproxy_sync_full_proxy_rules_duration_seconds",
        "SyncProxyRules latency in seconds for full resyncs",
    )
});

/// `kubeproxy_sync_partial_proxy_rules_duration_seconds`: syncs that wrote
/// only what changed.
pub static SYNC_PARTIAL_DURATION: LazyLock<Histogram> = LazyLock::new(|| {
    sync_histogram(
        "kubeproxy_sync_partial_proxy_rules_duration_seconds",
        "SyncProxyRules latency in seconds for partial resyncs",
    )
});

/// `kubeproxy_network_programming_duration_seconds`: from the change in the
/// cluster (EndpointSlice trigger time) to the rules being programmed.
pub static NETWORK_PROGRAMMING: LazyLock<Histogram> = LazyLock::new(|| {
    let mut buckets: Vec<f64> = vec![0.25, 0.5];
    buckets.extend((1..=59).map(f64::from));
    buckets.extend((0..12).map(|i| 60.0 + 5.0 * f64::from(i)));
    buckets.extend((0..7).map(|i| 120.0 + 30.0 * f64::from(i)));
    register(
        Histogram::with_opts(
            HistogramOpts::new(
                "kubeproxy_network_programming_duration_seconds",
                "In Cluster Network Programming Latency in seconds",
            )
            .buckets(buckets),
        )
        .expect("valid histogram"),
    )
});

/// `kubeproxy_sync_proxy_rules_last_timestamp_seconds`.
pub static LAST_SYNC: LazyLock<Gauge> = LazyLock::new(|| {
    register(
        Gauge::with_opts(Opts::new(
            "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
            "The last time proxy rules were successfully synced",
        ))
        .expect("valid gauge"),
    )
});

/// `kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds`.
pub static LAST_QUEUED: LazyLock<Gauge> = LazyLock::new(|| {
    register(
        Gauge::with_opts(Opts::new(
            "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
            "The last time a sync of proxy rules was queued",
        ))
        .expect("valid gauge"),
    )
});

/// `kubeproxy_sync_proxy_rules_service_changes_total`.
pub static SERVICE_CHANGES: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::with_opts(Opts::new(
            "kubeproxy_sync_proxy_rules_service_changes_total",
            "Cumulative proxy rules Service changes",
        ))
        .expect("valid counter"),
    )
});

/// `kubeproxy_sync_proxy_rules_endpoint_changes_total`.
pub static ENDPOINT_CHANGES: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::with_opts(Opts::new(
            "kubeproxy_sync_proxy_rules_endpoint_changes_total",
            "Cumulative proxy rules Endpoint changes",
        ))
        .expect("valid counter"),
    )
});

/// `kubeproxy_sync_proxy_rules_nftables_sync_failures_total`.
pub static NFTABLES_FAILURES: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::with_opts(Opts::new(
            "kubeproxy_sync_proxy_rules_nftables_sync_failures_total",
            "Cumulative proxy nftables sync failures",
        ))
        .expect("valid counter"),
    )
});

/// `kubeproxy_sync_proxy_rules_iptables_restore_failures_total`.
pub static IPTABLES_FAILURES: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::with_opts(Opts::new(
            "kubeproxy_sync_proxy_rules_iptables_restore_failures_total",
            "Cumulative proxy iptables restore failures",
        ))
        .expect("valid counter"),
    )
});

/// `kubeproxy_proxy_healthz_total` and `kubeproxy_proxy_livez_total` by code.
pub static HEALTHZ_TOTAL: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "kubeproxy_proxy_healthz_total",
                "Cumulative proxy healthz HTTP status",
            ),
            &["code"],
        )
        .expect("valid counter"),
    )
});

/// See [`HEALTHZ_TOTAL`].
pub static LIVEZ_TOTAL: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "kubeproxy_proxy_livez_total",
                "Cumulative proxy livez HTTP status",
            ),
            &["code"],
        )
        .expect("valid counter"),
    )
});

/// Registers every metric so `/metrics` lists them before the first sync.
pub fn register_all() {
    LazyLock::force(&SYNC_DURATION);
    LazyLock::force(&SYNC_FULL_DURATION);
    LazyLock::force(&SYNC_PARTIAL_DURATION);
    LazyLock::force(&NETWORK_PROGRAMMING);
    LazyLock::force(&LAST_SYNC);
    LazyLock::force(&LAST_QUEUED);
    LazyLock::force(&SERVICE_CHANGES);
    LazyLock::force(&ENDPOINT_CHANGES);
    LazyLock::force(&NFTABLES_FAILURES);
    LazyLock::force(&IPTABLES_FAILURES);
    LazyLock::force(&HEALTHZ_TOTAL);
    LazyLock::force(&LIVEZ_TOTAL);
}
