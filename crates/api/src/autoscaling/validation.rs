//! `ValidateHorizontalPodAutoscaler` and its status validation.

use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HPAScalingRules, HorizontalPodAutoscaler,
    HorizontalPodAutoscalerSpec, MetricIdentifier, MetricSpec, MetricTarget,
};

use crate::validate;

const METRIC_SOURCE_TYPES: &[&str] = &[
    "ContainerResource",
    "External",
    "Object",
    "Pods",
    "Resource",
];
const SELECT_POLICIES: &[&str] = &["Disabled", "Max", "Min"];
const POLICY_TYPES: &[&str] = &["Percent", "Pods"];
const MAX_PERIOD_SECONDS: i32 = 1800;
const MAX_STABILIZATION_WINDOW_SECONDS: i32 = 3600;
const MIN_REPLICAS_LOWER_BOUND: i32 = 1;

pub(super) fn validate_spec(hpa: &HorizontalPodAutoscaler) -> ErrorList {
    let empty = HorizontalPodAutoscalerSpec::default();
    let spec = hpa.spec.as_ref().unwrap_or(&empty);
    let sp = Path::new("spec");
    let mut errs = Vec::new();
    if let Some(min) = spec.min_replicas
        && min < MIN_REPLICAS_LOWER_BOUND
    {
        errs.push(FieldError::invalid(
            &sp.child("minReplicas"),
            min,
            &format!("must be greater than or equal to {MIN_REPLICAS_LOWER_BOUND}"),
        ));
    }
    if spec.max_replicas < 1 {
        errs.push(FieldError::invalid(
            &sp.child("maxReplicas"),
            spec.max_replicas,
            "must be greater than 0",
        ));
    }
    if let Some(min) = spec.min_replicas
        && spec.max_replicas < min
    {
        errs.push(FieldError::invalid(
            &sp.child("maxReplicas"),
            spec.max_replicas,
            "must be greater than or equal to `minReplicas`",
        ));
    }
    errs.extend(validate_reference(
        &spec.scale_target_ref,
        &sp.child("scaleTargetRef"),
    ));
    for (i, m) in spec.metrics.iter().flatten().enumerate() {
        errs.extend(validate_metric(m, &sp.child("metrics").index(i)));
    }
    if let Some(b) = spec.behavior.as_ref() {
        let bp = sp.child("behavior");
        errs.extend(validate_rules(b.scale_up.as_ref(), &bp.child("scaleUp")));
        errs.extend(validate_rules(
            b.scale_down.as_ref(),
            &bp.child("scaleDown"),
        ));
    }
    errs
}

/// `ValidateCrossVersionObjectReference`.
fn validate_reference(r: &CrossVersionObjectReference, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    for (field, value) in [("kind", &r.kind), ("name", &r.name)] {
        if value.is_empty() {
            errs.push(FieldError::required(&path.child(field), ""));
        } else {
            errs.extend(validate::invalid_each(
                &path.child(field),
                value,
                validate::path_segment_name(value),
            ));
        }
    }
    errs
}

fn validate_metric(m: &MetricSpec, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if m.type_.is_empty() {
        errs.push(FieldError::required(
            &path.child("type"),
            "must specify a metric source type",
        ));
    }
    if !METRIC_SOURCE_TYPES.contains(&m.type_.as_str()) {
        errs.push(FieldError::not_supported(
            &path.child("type"),
            m.type_.as_str(),
            METRIC_SOURCE_TYPES,
        ));
    }
    let mut present = Vec::new();
    if let Some(o) = m.object.as_ref() {
        present.push("object");
        if present.len() == 1 {
            let p = path.child("object");
            errs.extend(validate_reference(
                &o.described_object,
                &p.child("describedObject"),
            ));
            errs.extend(validate_identifier(&o.metric, &p.child("metric")));
            errs.extend(validate_target(&o.target, &p.child("target")));
            if o.target.value.is_none() && o.target.average_value.is_none() {
                errs.push(FieldError::required(
                    &p.child("target").child("averageValue"),
                    "must set either a target value or averageValue",
                ));
            }
        }
    }
    if let Some(e) = m.external.as_ref() {
        present.push("external");
        if present.len() == 1 {
            let p = path.child("external");
            errs.extend(validate_identifier(&e.metric, &p.child("metric")));
            errs.extend(validate_target(&e.target, &p.child("target")));
            match (&e.target.value, &e.target.average_value) {
                (None, None) => errs.push(FieldError::required(
                    &p.child("target").child("averageValue"),
                    "must set either a target value for metric or a per-pod target",
                )),
                (Some(_), Some(_)) => errs.push(FieldError::forbidden(
                    &p.child("target").child("value"),
                    "may not set both a target value for metric and a per-pod target",
                )),
                _ => {}
            }
        }
    }
    if let Some(pods) = m.pods.as_ref() {
        present.push("pods");
        if present.len() == 1 {
            let p = path.child("pods");
            errs.extend(validate_identifier(&pods.metric, &p.child("metric")));
            errs.extend(validate_target(&pods.target, &p.child("target")));
            if pods.target.average_value.is_none() {
                errs.push(FieldError::required(
                    &p.child("target").child("averageValue"),
                    "must specify a positive target averageValue",
                ));
            }
        }
    }
    if let Some(r) = m.resource.as_ref() {
        present.push("resource");
        if present.len() == 1 {
            errs.extend(validate_resource_source(
                &r.name,
                None,
                &r.target,
                &path.child("resource"),
            ));
        }
    }
    if let Some(r) = m.container_resource.as_ref() {
        present.push("containerResource");
        if present.len() == 1 {
            errs.extend(validate_resource_source(
                &r.name,
                Some(&r.container),
                &r.target,
                &path.child("containerResource"),
            ));
        }
    }
    let expected = match m.type_.as_str() {
        "Object" => Some(("object", m.object.is_none())),
        "Pods" => Some(("pods", m.pods.is_none())),
        "Resource" => Some(("resource", m.resource.is_none())),
        "External" => Some(("external", m.external.is_none())),
        "ContainerResource" => Some(("containerResource", m.container_resource.is_none())),
        _ => None,
    };
    if let Some((field, missing)) = expected {
        if missing {
            errs.push(FieldError::required(
                &path.child(field),
                "must populate information for the given metric source",
            ));
        }
        for other in present.iter().filter(|p| **p != field) {
            errs.push(FieldError::forbidden(
                &path.child(other),
                "must populate the given metric source only",
            ));
        }
    }
    errs
}

fn validate_identifier(id: &MetricIdentifier, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if id.name.is_empty() {
        errs.push(FieldError::required(
            &path.child("name"),
            "must specify a metric name",
        ));
    } else {
        errs.extend(validate::invalid_each(
            &path.child("name"),
            &id.name,
            validate::path_segment_name(&id.name),
        ));
    }
    errs.extend(validate::label_selector(
        id.selector.as_ref(),
        &path.child("selector"),
    ));
    errs
}

fn validate_resource_source(
    name: &str,
    container: Option<&String>,
    target: &MetricTarget,
    path: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    if name.is_empty() {
        errs.push(FieldError::required(
            &path.child("name"),
            "must specify a resource name",
        ));
    }
    if let Some(c) = container {
        if c.is_empty() {
            errs.push(FieldError::required(
                &path.child("container"),
                "must specify a container",
            ));
        } else {
            errs.extend(validate::dns1123_label(c, &path.child("container")));
        }
    }
    errs.extend(validate_target(target, &path.child("target")));
    let tp = path.child("target");
    match (&target.average_utilization, &target.average_value) {
        (None, None) => errs.push(FieldError::required(
            &tp.child("averageUtilization"),
            "must set either a target raw value or a target utilization",
        )),
        (Some(_), Some(_)) => errs.push(FieldError::forbidden(
            &tp.child("averageValue"),
            "may not set both a target raw value and a target utilization",
        )),
        _ => {}
    }
    errs
}

fn validate_target(t: &MetricTarget, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if t.type_.is_empty() {
        errs.push(FieldError::required(
            &path.child("type"),
            "must specify a metric target type",
        ));
    }
    if !matches!(t.type_.as_str(), "Utilization" | "Value" | "AverageValue") {
        errs.push(FieldError::invalid(
            &path.child("type"),
            t.type_.as_str(),
            "must be either Utilization, Value, or AverageValue",
        ));
    }
    for (field, q) in [("value", &t.value), ("averageValue", &t.average_value)] {
        if let Some(q) = q
            && validate::parse_quantity(q).is_none_or(|p| p.is_negative() || p.is_zero())
        {
            errs.push(FieldError::invalid(
                &path.child(field),
                q.0.as_str(),
                "must be positive",
            ));
        }
    }
    if let Some(u) = t.average_utilization
        && u < 1
    {
        errs.push(FieldError::invalid(
            &path.child("averageUtilization"),
            u,
            "must be greater than 0",
        ));
    }
    errs
}

fn validate_rules(rules: Option<&HPAScalingRules>, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let Some(rules) = rules else {
        return errs;
    };
    if let Some(w) = rules.stabilization_window_seconds {
        let wp = path.child("stabilizationWindowSeconds");
        if w < 0 {
            errs.push(FieldError::invalid(
                &wp,
                w,
                "must be greater than or equal to zero",
            ));
        }
        if w > MAX_STABILIZATION_WINDOW_SECONDS {
            errs.push(FieldError::invalid(
                &wp,
                w,
                &format!("must be less than or equal to {MAX_STABILIZATION_WINDOW_SECONDS}"),
            ));
        }
    }
    if let Some(sel) = rules.select_policy.as_deref() {
        errs.extend(validate::one_of(
            sel,
            SELECT_POLICIES,
            true,
            &path.child("selectPolicy"),
        ));
    }
    let pp = path.child("policies");
    let policies = rules.policies.as_deref().unwrap_or_default();
    if policies.is_empty() {
        errs.push(FieldError::required(
            &pp,
            "must specify at least one Policy",
        ));
    }
    for (i, p) in policies.iter().enumerate() {
        let ip = pp.index(i);
        if !POLICY_TYPES.contains(&p.type_.as_str()) {
            errs.push(FieldError::not_supported(
                &ip.child("type"),
                p.type_.as_str(),
                POLICY_TYPES,
            ));
        }
        if p.value <= 0 {
            errs.push(FieldError::invalid(
                &ip.child("value"),
                p.value,
                "must be greater than zero",
            ));
        }
        if p.period_seconds <= 0 {
            errs.push(FieldError::invalid(
                &ip.child("periodSeconds"),
                p.period_seconds,
                "must be greater than zero",
            ));
        }
        if p.period_seconds > MAX_PERIOD_SECONDS {
            errs.push(FieldError::invalid(
                &ip.child("periodSeconds"),
                p.period_seconds,
                &format!("must be less than or equal to {MAX_PERIOD_SECONDS}"),
            ));
        }
    }
    errs
}

pub(super) fn validate_status(hpa: &HorizontalPodAutoscaler) -> ErrorList {
    let mut errs = Vec::new();
    if let Some(s) = hpa.status.as_ref() {
        let sp = Path::new("status");
        errs.extend(validate::nonnegative(
            i64::from(s.current_replicas.unwrap_or(0)),
            &sp.child("currentReplicas"),
        ));
        errs.extend(validate::nonnegative(
            i64::from(s.desired_replicas),
            &sp.child("desiredReplicas"),
        ));
    }
    errs
}
