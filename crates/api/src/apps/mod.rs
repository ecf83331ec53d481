//! apps/v1: Deployment, ReplicaSet, StatefulSet, DaemonSet and
//! ControllerRevision.
//!
//! The workload selectors are required in the schema but upstream reports a
//! missing one as `spec.selector: Required value`; since the typed form
//! cannot tell `{}` from absent, these strategies keep an absent selector
//! absent through their typed mutations ([`mutate_workload`]).

mod daemonset;
mod deployment;
mod statefulset;

#[cfg(test)]
mod tests;

use corten_apimachinery::labels::Selector;
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::pod::field_rules::{opt, validate_nonnegative};
use crate::pod::metadata::check_selector_matches_template;
use crate::pod::{mutate_typed, preserve_absence, validate_pod_template_spec};

pub use daemonset::{ControllerRevisionStrategy, DaemonSetStrategy};
pub use deployment::{DeploymentStrategy, ReplicaSetStrategy};
pub use statefulset::StatefulSetStrategy;

/// Strategy for Deployment.
pub static DEPLOYMENT_STRATEGY: DeploymentStrategy = DeploymentStrategy;

/// Strategy for ReplicaSet.
pub static REPLICA_SET_STRATEGY: ReplicaSetStrategy = ReplicaSetStrategy;

/// Strategy for StatefulSet.
pub static STATEFUL_SET_STRATEGY: StatefulSetStrategy = StatefulSetStrategy;

/// Strategy for DaemonSet.
pub static DAEMON_SET_STRATEGY: DaemonSetStrategy = DaemonSetStrategy;

/// Strategy for ControllerRevision.
pub static CONTROLLER_REVISION_STRATEGY: ControllerRevisionStrategy = ControllerRevisionStrategy;

/// Like [`mutate_typed`], but keeps `spec.selector` absent if it was.
pub(crate) fn mutate_workload<T: DeserializeOwned + Serialize>(
    obj: &mut Value,
    f: impl FnOnce(&mut T),
) {
    let before = obj.clone();
    mutate_typed(obj, f);
    preserve_absence(&before, obj, "/spec", "selector");
}

/// Whether the client sent no `spec.selector`.
pub(crate) fn selector_absent(obj: &Value) -> bool {
    obj.pointer("/spec/selector").is_none_or(Value::is_null)
}

/// How upstream's `LabelSelectorAsSelector` treats a workload selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SelectorState {
    /// Absent: converts to a selector that matches nothing.
    Nothing,
    /// Converts.
    Valid,
    /// Fails to convert (bad operator, key or value).
    Invalid,
}

pub(crate) fn selector_state(absent: bool, sel: &LabelSelector) -> SelectorState {
    if absent {
        return SelectorState::Nothing;
    }
    let json = serde_json::to_value(sel).unwrap_or_default();
    match Selector::from_label_selector(&json) {
        Ok(_) => SelectorState::Valid,
        Err(_) => SelectorState::Invalid,
    }
}

/// The template-labels check for a workload whose selector is in `state`.
pub(crate) fn check_template_labels(
    state: SelectorState,
    sel: &LabelSelector,
    template: &PodTemplateSpec,
    path: &Path,
) -> ErrorList {
    let labels = template.metadata.as_ref().and_then(|m| m.labels.as_ref());
    match state {
        SelectorState::Valid => check_selector_matches_template(sel, labels, path),
        SelectorState::Nothing => vec![FieldError::invalid(
            path,
            serde_json::to_value(labels).unwrap_or_default(),
            "`selector` does not match template `labels`",
        )],
        SelectorState::Invalid => Vec::new(),
    }
}

/// Upstream `ValidatePodTemplateSpecForReplicaSet` (also used for
/// Deployments): labels match, the template is valid, pods restart always
/// and have no active deadline.
pub(crate) fn validate_template_for_replica_set(
    state: SelectorState,
    sel: &LabelSelector,
    template: &PodTemplateSpec,
    path: &Path,
) -> ErrorList {
    let mut errs = check_template_labels(
        state,
        sel,
        template,
        &path.child("metadata").child("labels"),
    );
    errs.extend(validate_pod_template_spec(template, path));
    errs.extend(require_restart_always(template, path, "ReplicaSet"));
    errs
}

/// `restartPolicy` must be `Always` and `activeDeadlineSeconds` unset.
pub(crate) fn require_restart_always(
    template: &PodTemplateSpec,
    path: &Path,
    kind: &str,
) -> ErrorList {
    let mut errs = Vec::new();
    let spec = template.spec.as_ref();
    let restart = spec.map(|s| opt(&s.restart_policy)).unwrap_or("");
    if restart != "Always" {
        errs.push(FieldError::not_supported(
            &path.child("spec").child("restartPolicy"),
            restart,
            &["Always"],
        ));
    }
    if spec.is_some_and(|s| s.active_deadline_seconds.is_some()) {
        errs.push(FieldError::forbidden(
            &path.child("spec").child("activeDeadlineSeconds"),
            &format!("activeDeadlineSeconds in {kind} is not Supported"),
        ));
    }
    errs
}

/// The regex message upstream's `IsValidPercent` returns.
const PERCENT_MSG: &str = "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";

fn percent_value(v: &IntOrString) -> Option<i64> {
    match v {
        IntOrString::String(s) => {
            let digits = s.strip_suffix('%')?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok()
        }
        IntOrString::Int(_) => None,
    }
}

/// Upstream `getIntOrPercentValue`: the percentage, the int, or 0 for an
/// unparsable string.
pub(crate) fn int_or_percent_value(v: &IntOrString) -> i64 {
    match v {
        IntOrString::Int(n) => i64::from(*n),
        IntOrString::String(s) => percent_value(v).unwrap_or_else(|| s.parse().unwrap_or(0)),
    }
}

/// Upstream `ValidatePositiveIntOrPercent`.
pub(crate) fn validate_positive_int_or_percent(v: &IntOrString, path: &Path) -> ErrorList {
    match v {
        IntOrString::String(s) => {
            if percent_value(v).is_none() {
                vec![FieldError::invalid(path, s.as_str(), PERCENT_MSG)]
            } else {
                Vec::new()
            }
        }
        IntOrString::Int(n) => validate_nonnegative(i64::from(*n), path),
    }
}

/// Upstream `IsNotMoreThan100Percent`.
pub(crate) fn is_not_more_than_100_percent(v: &IntOrString, path: &Path) -> ErrorList {
    match percent_value(v) {
        Some(p) if p > 100 => vec![FieldError::invalid(
            path,
            serde_json::to_value(v).unwrap_or_default(),
            "must not be greater than 100%",
        )],
        _ => Vec::new(),
    }
}

/// `<path>: Invalid value: <n>: cannot be decremented` for a collision count.
pub(crate) fn validate_collision_count(
    new: Option<i32>,
    old: Option<i32>,
    path: &Path,
) -> ErrorList {
    let decremented = match (new, old) {
        (None, Some(_)) => true,
        (Some(n), Some(o)) => n < o,
        _ => false,
    };
    if decremented {
        vec![FieldError::invalid(
            path,
            new.unwrap_or(0),
            "cannot be decremented",
        )]
    } else {
        Vec::new()
    }
}
