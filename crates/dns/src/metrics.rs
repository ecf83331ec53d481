//! Metrics with CoreDNS's names, so existing dashboards and alerts work.

use std::sync::LazyLock;

use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts};

fn register<C: prometheus::core::Collector + Clone + 'static>(c: C) -> C {
    let _ = prometheus::register(Box::new(c.clone()));
    c
}

/// `coredns_dns_requests_total{server,zone,view,proto,family,type}`.
pub static REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "coredns_dns_requests_total",
                "Counter of DNS requests made per zone, protocol and family.",
            ),
            &["server", "zone", "view", "proto", "family", "type"],
        )
        .expect("valid counter"),
    )
});

/// `coredns_dns_responses_total{server,zone,view,rcode,plugin}`.
pub static RESPONSES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "coredns_dns_responses_total",
                "Counter of response status codes.",
            ),
            &["server", "zone", "view", "rcode", "plugin"],
        )
        .expect("valid counter"),
    )
});

/// `coredns_dns_request_duration_seconds{server,zone,view,type}`.
pub static DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    register(
        HistogramVec::new(
            HistogramOpts::new(
                "coredns_dns_request_duration_seconds",
                "Histogram of the time (in seconds) each request took per zone.",
            )
            .buckets(prometheus::exponential_buckets(0.00025, 2.0, 16).unwrap_or_default()),
            &["server", "zone", "view", "type"],
        )
        .expect("valid histogram"),
    )
});

/// `coredns_cache_hits_total{server,type,zones,view}` (type `success` or
/// `denial`).
pub static CACHE_HITS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new("coredns_cache_hits_total", "The count of cache hits."),
            &["server", "type", "zones", "view"],
        )
        .expect("valid counter"),
    )
});

/// `coredns_cache_misses_total{server,zones,view}`.
pub static CACHE_MISSES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "coredns_cache_misses_total",
                "The count of cache misses. Deprecated, derive misses from cache hits/requests counters.",
            ),
            &["server", "zones", "view"],
        )
        .expect("valid counter"),
    )
});

/// `coredns_cache_entries{server,type,zones,view}`.
pub static CACHE_ENTRIES: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register(
        IntGaugeVec::new(
            Opts::new(
                "coredns_cache_entries",
                "The number of elements in the cache.",
            ),
            &["server", "type", "zones", "view"],
        )
        .expect("valid gauge"),
    )
});

/// `coredns_forward_requests_total{to}`.
pub static FORWARD_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "coredns_forward_requests_total",
                "Counter of requests made per upstream.",
            ),
            &["to"],
        )
        .expect("valid counter"),
    )
});

/// `coredns_forward_responses_total{to,rcode}`.
pub static FORWARD_RESPONSES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "coredns_forward_responses_total",
                "Counter of responses received per upstream.",
            ),
            &["to", "rcode"],
        )
        .expect("valid counter"),
    )
});

/// `coredns_build_info{version,revision,goversion}`.
pub static BUILD_INFO: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register(
        IntGaugeVec::new(
            Opts::new("coredns_build_info", "A metric with a constant '1' value labeled by version, revision, and goversion from which CoreDNS was built."),
            &["version", "revision", "goversion"],
        )
        .expect("valid gauge"),
    )
});

/// `coredns_health_request_duration_seconds`.
pub static HEALTH_DURATION: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(HistogramOpts::new(
            "coredns_health_request_duration_seconds",
            "Histogram of the time (in seconds) each request took.",
        ))
        .expect("valid histogram"),
    )
});

/// Registers everything (so /metrics lists the families from the start).
pub fn register_all() {
    LazyLock::force(&REQUESTS);
    LazyLock::force(&RESPONSES);
    LazyLock::force(&DURATION);
    LazyLock::force(&FORWARD_REQUESTS);
    LazyLock::force(&CACHE_HITS);
    LazyLock::force(&CACHE_MISSES);
    LazyLock::force(&CACHE_ENTRIES);
    LazyLock::force(&FORWARD_RESPONSES);
    LazyLock::force(&HEALTH_DURATION);
    BUILD_INFO
        .with_label_values(&[
            corten_component_base::version::GIT_VERSION,
            "corten",
            "rust",
        ])
        .set(1);
}

/// The rcode as CoreDNS labels it.
pub fn rcode_name(code: u16) -> String {
    match code {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        other => format!("RCODE{other}"),
    }
}
