//! PodSecurity's metrics, with upstream's names and labels
//! (`pod-security-admission/metrics`).

use std::sync::LazyLock;

use prometheus::{IntCounterVec, Opts, register_int_counter_vec};

use super::super::{Operation, Request};
use super::policy::LevelVersion;

/// The newest minor version this apiserver knows checks for; newer
/// version labels are reported as `future`.
const SERVED_MINOR: u32 = 33;

static EVALUATIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "pod_security_evaluations_total",
            "Number of policy evaluations that occurred, not counting ignored or exempt requests."
        ),
        &[
            "decision",
            "policy_level",
            "policy_version",
            "mode",
            "request_operation",
            "resource",
            "subresource"
        ]
    )
    .expect("metric registers once")
});

static EXEMPTIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "pod_security_exemptions_total",
            "Number of exempt requests, not counting ignored or out of scope requests."
        ),
        &["request_operation", "resource", "subresource"]
    )
    .expect("metric registers once")
});

static ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "pod_security_errors_total",
            "Number of errors preventing normal evaluation. Non-fatal errors may result in the latest restricted profile being used for evaluation."
        ),
        &["fatal", "request_operation", "resource", "subresource"]
    )
    .expect("metric registers once")
});

/// Registers the metrics so /metrics lists them before first use.
pub fn init() {
    LazyLock::force(&EVALUATIONS);
    LazyLock::force(&EXEMPTIONS);
    LazyLock::force(&ERRORS);
}

/// An evaluation's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The pod passes the level.
    Allow,
    /// The pod violates the level.
    Deny,
}

/// The mode a level was evaluated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `enforce`.
    Enforce,
    /// `audit`.
    Audit,
    /// `warn`.
    Warn,
}

fn operation(req: &Request<'_>) -> &'static str {
    match req.operation {
        Operation::Create => "create",
        Operation::Update => "update",
        Operation::Delete => "delete",
    }
}

fn resource(req: &Request<'_>) -> &'static str {
    if req.group.is_empty() && req.resource == "pods" {
        "pod"
    } else {
        "controller"
    }
}

fn version_label(lv: &LevelVersion) -> String {
    match lv
        .version
        .strip_prefix("v1.")
        .and_then(|m| m.parse::<u32>().ok())
    {
        Some(minor) if minor > SERVED_MINOR => "future".into(),
        Some(_) => lv.version.clone(),
        None => "latest".into(),
    }
}

/// Counts one evaluation.
pub fn record_evaluation(req: &Request<'_>, decision: Decision, lv: &LevelVersion, mode: Mode) {
    let decision = match decision {
        Decision::Allow => "allow",
        Decision::Deny => "deny",
    };
    let mode = match mode {
        Mode::Enforce => "enforce",
        Mode::Audit => "audit",
        Mode::Warn => "warn",
    };
    EVALUATIONS
        .with_label_values(&[
            decision,
            lv.level.name(),
            &version_label(lv),
            mode,
            operation(req),
            resource(req),
            req.subresource,
        ])
        .inc();
}

/// Counts one exempt request.
pub fn record_exemption(req: &Request<'_>) {
    EXEMPTIONS
        .with_label_values(&[operation(req), resource(req), req.subresource])
        .inc();
}

/// Counts one request whose namespace labels could not be parsed (a
/// non-fatal error: the fallback levels are used).
pub fn record_error(req: &Request<'_>, fatal: bool) {
    ERRORS
        .with_label_values(&[
            if fatal { "true" } else { "false" },
            operation(req),
            resource(req),
            req.subresource,
        ])
        .inc();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::pod_security::Level;

    #[test]
    fn versions_newer_than_served_are_future() {
        let lv = |v: &str| LevelVersion {
            level: Level::Baseline,
            version: v.into(),
        };
        assert_eq!(version_label(&lv("latest")), "latest");
        assert_eq!(version_label(&lv("v1.30")), "v1.30");
        assert_eq!(version_label(&lv("v1.40")), "future");
    }
}
