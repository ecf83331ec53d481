//! apiserver metrics with upstream names and labels.

use std::sync::LazyLock;

use prometheus::{
    CounterVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts,
    register_counter_vec, register_histogram_vec, register_int_counter_vec, register_int_gauge_vec,
};

const REQUEST_LABELS: &[&str] = &[
    "verb",
    "dry_run",
    "group",
    "version",
    "resource",
    "subresource",
    "scope",
    "component",
];

/// `apiserver_request_total`: requests by verb, resource and HTTP code.
pub static REQUEST_TOTAL: LazyLock<CounterVec> = LazyLock::new(|| {
    let mut labels = REQUEST_LABELS.to_vec();
    labels.push("code");
    register_counter_vec!(
        Opts::new(
            "apiserver_request_total",
            "Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code."
        ),
        &labels
    )
    .expect("metric registers once")
});

/// `apiserver_request_duration_seconds`: response latency.
pub static REQUEST_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        HistogramOpts::new(
            "apiserver_request_duration_seconds",
            "Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component."
        )
        .buckets(vec![
            0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0,
            8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0
        ]),
        REQUEST_LABELS
    )
    .expect("metric registers once")
});

/// `apiserver_current_inflight_requests`: in-flight requests by kind.
pub static INFLIGHT: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        Opts::new(
            "apiserver_current_inflight_requests",
            "Maximal number of currently used inflight request limit of this apiserver per request kind in last second."
        ),
        &["request_kind"]
    )
    .expect("metric registers once")
});

/// `apiserver_longrunning_requests`: open watches and other long requests.
pub static LONGRUNNING: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        Opts::new(
            "apiserver_longrunning_requests",
            "Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, scope and component. Not all requests are tracked this way."
        ),
        &["verb", "group", "version", "resource", "subresource", "scope", "component"]
    )
    .expect("metric registers once")
});

/// `apiserver_watch_events_total`: events sent to watch clients.
pub static WATCH_EVENTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "apiserver_watch_events_total",
            "Number of events sent in watch clients"
        ),
        &["group", "version", "kind"]
    )
    .expect("metric registers once")
});

/// `apiserver_stream_translator_requests_total`: exec/attach requests over
/// WebSocket v5 translated to SPDY, by outcome (200 when the kubelet
/// finished the session, else the failure's code).
pub static STREAM_TRANSLATOR_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "apiserver_stream_translator_requests_total",
            "Total number of requests that were handled by the StreamTranslatorProxy, which processes streaming RemoteCommand/V5"
        ),
        &["code"]
    )
    .expect("metric registers once")
});

/// `apiserver_stream_tunnel_requests_total`: port-forward requests
/// tunneled over WebSocket, by outcome.
pub static STREAM_TUNNEL_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "apiserver_stream_tunnel_requests_total",
            "Total number of requests that were handled by the StreamTunnelProxy, which processes streaming PortForward/V2"
        ),
        &["code"]
    )
    .expect("metric registers once")
});

/// Registers every metric now so /metrics lists them before first use.
pub fn init() {
    LazyLock::force(&REQUEST_TOTAL);
    LazyLock::force(&REQUEST_DURATION);
    LazyLock::force(&INFLIGHT);
    LazyLock::force(&LONGRUNNING);
    LazyLock::force(&WATCH_EVENTS);
    LazyLock::force(&STREAM_TRANSLATOR_REQUESTS);
    LazyLock::force(&STREAM_TUNNEL_REQUESTS);
}

/// The labels of one request, filled in as the request is classified.
#[derive(Debug, Clone, Default)]
pub struct RequestLabels {
    /// Upper-case verb (`GET`, `LIST`, `WATCH`, `POST`, ...).
    pub verb: &'static str,
    /// `All` or "".
    pub dry_run: &'static str,
    /// API group.
    pub group: String,
    /// API version.
    pub version: String,
    /// Resource.
    pub resource: String,
    /// Subresource.
    pub subresource: String,
    /// `resource`, `namespace` or `cluster` ("" for non-resource requests).
    pub scope: &'static str,
}

impl RequestLabels {
    /// The labels of a resource request.
    pub fn set_resource(&mut self, r: &crate::request_info::ResourceRequest) {
        self.verb = r.verb.metric_label();
        self.group = r.group.clone();
        self.version = r.version.clone();
        self.resource = r.resource.clone();
        self.subresource = r.subresource.clone().unwrap_or_default();
        self.scope = if r.name.is_some() {
            "resource"
        } else if r.namespace.is_some() {
            "namespace"
        } else {
            "cluster"
        };
    }

    fn values(&self) -> [&str; 8] {
        [
            self.verb,
            self.dry_run,
            &self.group,
            &self.version,
            &self.resource,
            &self.subresource,
            self.scope,
            "apiserver",
        ]
    }

    /// Records a finished request.
    pub fn observe(&self, code: u16, seconds: f64) {
        let v = self.values();
        let code = code.to_string();
        let mut with_code = v.to_vec();
        with_code.push(&code);
        REQUEST_TOTAL.with_label_values(&with_code).inc();
        if self.verb != "WATCH" {
            REQUEST_DURATION.with_label_values(&v).observe(seconds);
        }
    }

    /// The gauge for an open long-running request.
    pub fn longrunning(&self) -> prometheus::IntGauge {
        LONGRUNNING.with_label_values(&[
            self.verb,
            &self.group,
            &self.version,
            &self.resource,
            &self.subresource,
            self.scope,
            "apiserver",
        ])
    }
}
