//! The `horizontal_pod_autoscaler_controller_*` metrics, with upstream's
//! names and labels: `action` (`scale_up`, `scale_down`, `none`) and
//! `error` (`spec`, `internal`, `none`) on reconciliations and metric
//! computations, plus `metric_type` (the spec's `type`) on the latter.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, exponential_buckets};

const SUBSYSTEM: &str = "horizontal_pod_autoscaler_controller";

/// The HPA controller's metric vectors.
#[derive(Debug)]
pub struct HpaMetrics {
    reconciliations: IntCounterVec,
    reconciliation_duration: HistogramVec,
    metric_computations: IntCounterVec,
    metric_computation_duration: HistogramVec,
}

/// What a reconciliation or computation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// More replicas.
    ScaleUp,
    /// Fewer replicas.
    ScaleDown,
    /// No change (or an error).
    None,
}

impl Action {
    /// The action proposing `desired` from `current`.
    pub fn of(current: i32, desired: i32) -> Self {
        match desired.cmp(&current) {
            std::cmp::Ordering::Greater => Action::ScaleUp,
            std::cmp::Ordering::Less => Action::ScaleDown,
            std::cmp::Ordering::Equal => Action::None,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Action::ScaleUp => "scale_up",
            Action::ScaleDown => "scale_down",
            Action::None => "none",
        }
    }
}

/// Whether and how it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// It did not.
    None,
    /// The HPA's spec is invalid.
    Spec,
    /// Anything else (metrics unavailable, API errors).
    Internal,
}

impl Failure {
    fn label(self) -> &'static str {
        match self {
            Failure::None => "none",
            Failure::Spec => "spec",
            Failure::Internal => "internal",
        }
    }
}

impl HpaMetrics {
    /// Records one reconciliation.
    pub fn reconciled(&self, action: Action, failure: Failure, took: Duration) {
        let labels = [action.label(), failure.label()];
        self.reconciliations.with_label_values(&labels).inc();
        self.reconciliation_duration
            .with_label_values(&labels)
            .observe(took.as_secs_f64());
    }

    /// Records one metric computation of `metric_type`.
    pub fn computed(&self, action: Action, failure: Failure, metric_type: &str, took: Duration) {
        let labels = [action.label(), failure.label(), metric_type];
        self.metric_computations.with_label_values(&labels).inc();
        self.metric_computation_duration
            .with_label_values(&labels)
            .observe(took.as_secs_f64());
    }
}

/// The metrics, registered on first use.
pub fn metrics() -> &'static HpaMetrics {
    static METRICS: OnceLock<HpaMetrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help).subsystem(SUBSYSTEM), labels)
                .expect("valid metric");
            let _ = prometheus::register(Box::new(c.clone()));
            c
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            let h = HistogramVec::new(
                HistogramOpts::new(name, help)
                    .subsystem(SUBSYSTEM)
                    .buckets(exponential_buckets(0.001, 2.0, 15).expect("valid buckets")),
                labels,
            )
            .expect("valid metric");
            let _ = prometheus::register(Box::new(h.clone()));
            h
        };
        HpaMetrics {
            reconciliations: counter(
                "reconciliations_total",
                "HPA reconciliations by action (scale_up, scale_down, none) and error (spec, internal, none).",
                &["action", "error"],
            ),
            reconciliation_duration: histogram(
                "reconciliation_duration_seconds",
                "Seconds one HPA reconciliation took, by action and error.",
                &["action", "error"],
            ),
            metric_computations: counter(
                "metric_computation_total",
                "HPA metric computations by action, error and metric_type (spec.metrics[*].type).",
                &["action", "error", "metric_type"],
            ),
            metric_computation_duration: histogram(
                "metric_computation_duration_seconds",
                "Seconds one HPA metric computation took, by action, error and metric_type.",
                &["action", "error", "metric_type"],
            ),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_and_labels() {
        assert_eq!(Action::of(2, 3), Action::ScaleUp);
        assert_eq!(Action::of(3, 2), Action::ScaleDown);
        assert_eq!(Action::of(2, 2), Action::None);
        let m = metrics();
        m.computed(
            Action::ScaleUp,
            Failure::None,
            "Pods",
            Duration::from_millis(2),
        );
        m.reconciled(Action::None, Failure::Spec, Duration::from_millis(1));
        assert!(
            m.metric_computations
                .with_label_values(&["scale_up", "none", "Pods"])
                .get()
                >= 1
        );
        assert!(m.reconciliations.with_label_values(&["none", "spec"]).get() >= 1);
    }
}
