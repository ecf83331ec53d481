//! Webhook admission metrics, by upstream's names and labels.

use std::sync::LazyLock;

use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, Opts, register_histogram_vec,
    register_int_counter_vec,
};

/// `apiserver_admission_webhook_admission_duration_seconds`.
pub static DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        HistogramOpts::new(
            "apiserver_admission_webhook_admission_duration_seconds",
            "Admission webhook latency histogram in seconds, identified by name and broken out for each operation and API resource and type (validate or admit)."
        )
        .buckets(vec![0.005, 0.025, 0.1, 0.5, 1.0, 2.5, 10.0, 25.0]),
        &["name", "type", "operation", "rejected"]
    )
    .expect("metric registers once")
});

/// `apiserver_admission_webhook_request_total`.
pub static REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "apiserver_admission_webhook_request_total",
            "Admission webhook request total, identified by name and broken out for each admission type (validating or mutating) and operation. Additional labels specify whether the request was rejected or not and an HTTP status code. Codes greater than 600 are truncated to 600, to keep the metrics cardinality bounded."
        ),
        &["name", "type", "operation", "code", "rejected"]
    )
    .expect("metric registers once")
});

/// `apiserver_admission_webhook_rejection_count`.
pub static REJECTIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "apiserver_admission_webhook_rejection_count",
            "Admission webhook rejection count, identified by name and broken out for each admission type (validating or admit) and operation. Additional labels specify an error type (calling_webhook_error or apiserver_internal_error if an error occurred; no_error otherwise) and optionally a non-zero rejection code if the webhook rejects the request with an HTTP status code (honored by the apiserver when the code is greater or equal to 400). Codes greater than 600 are truncated to 600, to keep the metrics cardinality bounded."
        ),
        &["name", "type", "operation", "error_type", "rejection_code"]
    )
    .expect("metric registers once")
});

/// Records one call: `code` is the HTTP code of the webhook's answer (0
/// when the call failed), `rejected` whether the request was refused.
pub fn observe(name: &str, ty: &str, op: &str, code: u16, rejected: bool, secs: f64) {
    let r = if rejected { "true" } else { "false" };
    DURATION.with_label_values(&[name, ty, op, r]).observe(secs);
    let code = code.min(600).to_string();
    REQUESTS.with_label_values(&[name, ty, op, &code, r]).inc();
}

/// Records a rejection (`error_type`: `no_error` for a denial,
/// `calling_webhook_error` for a failed call).
pub fn rejected(name: &str, ty: &str, op: &str, error_type: &str, code: u16) {
    REJECTIONS
        .with_label_values(&[name, ty, op, error_type, &code.min(600).to_string()])
        .inc();
}
