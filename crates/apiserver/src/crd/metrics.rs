//! Conversion webhook metrics, by upstream's names and labels
//! (apiextensions-apiserver `conversion/metrics.go`).

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, Opts, exponential_buckets, register_histogram_vec,
    register_int_counter_vec,
};

/// Why a conversion webhook call failed (upstream
/// `ConversionWebhookErrorType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The call itself failed (connection, TLS, HTTP status, timeout).
    Call,
    /// The answer is not a valid ConversionReview, or not a success.
    MalformedResponse,
    /// The answer holds another number of objects than were sent.
    PartialResponse,
    /// A converted object is not the object sent, in the desired version.
    InvalidConvertedObject,
    /// No object came back for a single object.
    NoObjectsReturned,
}

impl Failure {
    fn as_str(self) -> &'static str {
        match self {
            Failure::Call => "conversion_webhook_call_failure",
            Failure::MalformedResponse => "conversion_webhook_malformed_response_failure",
            Failure::PartialResponse => "conversion_webhook_partial_response_failure",
            Failure::InvalidConvertedObject => {
                "conversion_webhook_invalid_converted_object_failure"
            }
            Failure::NoObjectsReturned => "conversion_webhook_no_objects_returned_failure",
        }
    }
}

/// `apiserver_conversion_webhook_request_total`.
static REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "apiserver_conversion_webhook_request_total",
            "Counter for conversion webhook requests with success/failure and failure error type"
        ),
        &["result", "failure_type"]
    )
    .expect("metric registers once")
});

/// `apiserver_conversion_webhook_duration_seconds`.
static DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        HistogramOpts::new(
            "apiserver_conversion_webhook_duration_seconds",
            "Conversion webhook request latency"
        )
        .buckets(vec![
            0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0
        ]),
        &["result", "failure_type"]
    )
    .expect("metric registers once")
});

/// `apiserver_crd_conversion_webhook_duration_seconds`.
static CRD_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        HistogramOpts::new(
            "apiserver_crd_conversion_webhook_duration_seconds",
            "CRD webhook conversion duration in seconds"
        )
        .buckets(exponential_buckets(0.001, 2.0, 15).expect("valid buckets")),
        &["crd_name", "from_version", "to_version", "succeeded"]
    )
    .expect("metric registers once")
});

/// Records one webhook call of the CRD `crd_name` from `from` to `to`
/// (versions) that took `elapsed` and failed with `failure`, if it did.
pub fn observe(crd_name: &str, from: &str, to: &str, elapsed: Duration, failure: Option<Failure>) {
    let secs = elapsed.as_secs_f64();
    let (result, ty) = match failure {
        None => ("success", ""),
        Some(f) => ("failure", f.as_str()),
    };
    REQUESTS.with_label_values(&[result, ty]).inc();
    DURATION.with_label_values(&[result, ty]).observe(secs);
    if from != to {
        let ok = if failure.is_none() { "true" } else { "false" };
        CRD_DURATION
            .with_label_values(&[crd_name, from, to, ok])
            .observe(secs);
    }
}
