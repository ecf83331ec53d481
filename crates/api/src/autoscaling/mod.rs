//! HorizontalPodAutoscaler, stored as autoscaling/v2 and also served as
//! autoscaling/v1 through [`HPA_V1_CONVERSION`].

mod conversion;
mod validation;

use k8s_openapi::api::autoscaling::v2::{
    HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscaler, MetricSpec, MetricTarget,
    ResourceMetricSource,
};

use crate::kind::{KindRules, KindStrategy};

pub use conversion::{HpaV1Conversion, annotations};

/// Strategy for HorizontalPodAutoscaler (autoscaling/v2 objects).
pub static HORIZONTAL_POD_AUTOSCALER_STRATEGY: KindStrategy<HorizontalPodAutoscalerRules> =
    KindStrategy::new();

/// Conversion between autoscaling/v1 and the stored autoscaling/v2 HPA.
pub static HPA_V1_CONVERSION: HpaV1Conversion = HpaV1Conversion;

/// The CPU utilization target of an HPA without metrics.
pub const DEFAULT_CPU_UTILIZATION: i32 = 80;

/// The rules of autoscaling/v2 HorizontalPodAutoscaler.
pub struct HorizontalPodAutoscalerRules;

impl KindRules for HorizontalPodAutoscalerRules {
    type Object = HorizontalPodAutoscaler;
    const NAMESPACED: bool = true;

    fn canonicalize(hpa: &mut HorizontalPodAutoscaler) -> Result<(), String> {
        use crate::validate::canonicalize_quantity;
        let targets = hpa
            .spec
            .iter_mut()
            .flat_map(|s| s.metrics.iter_mut().flatten())
            .flat_map(|m| {
                [
                    m.resource.as_mut().map(|r| &mut r.target),
                    m.container_resource.as_mut().map(|r| &mut r.target),
                    m.pods.as_mut().map(|r| &mut r.target),
                    m.object.as_mut().map(|r| &mut r.target),
                    m.external.as_mut().map(|r| &mut r.target),
                ]
            })
            .flatten();
        for t in targets {
            if let Some(q) = t.value.as_mut() {
                canonicalize_quantity(q)?;
            }
            if let Some(q) = t.average_value.as_mut() {
                canonicalize_quantity(q)?;
            }
        }
        Ok(())
    }

    fn default(hpa: &mut HorizontalPodAutoscaler) {
        let spec = hpa.spec.get_or_insert_with(Default::default);
        if spec.min_replicas.is_none() {
            spec.min_replicas = Some(1);
        }
        if spec.metrics.as_ref().is_none_or(Vec::is_empty) {
            spec.metrics = Some(vec![cpu_utilization_metric(DEFAULT_CPU_UTILIZATION)]);
        }
        if let Some(behavior) = spec.behavior.as_mut() {
            behavior.scale_up = Some(fill_rules(behavior.scale_up.take(), scale_up_defaults()));
            behavior.scale_down = Some(fill_rules(
                behavior.scale_down.take(),
                scale_down_defaults(),
            ));
        }
    }

    fn validate(hpa: &HorizontalPodAutoscaler) -> corten_apimachinery::ErrorList {
        validation::validate_spec(hpa)
    }

    fn validate_status_update(
        new: &HorizontalPodAutoscaler,
        _old: &HorizontalPodAutoscaler,
    ) -> corten_apimachinery::ErrorList {
        validation::validate_status(new)
    }
}

/// A `Resource` metric on CPU with a utilization target.
pub(crate) fn cpu_utilization_metric(percent: i32) -> MetricSpec {
    MetricSpec {
        type_: "Resource".into(),
        resource: Some(ResourceMetricSource {
            name: "cpu".into(),
            target: MetricTarget {
                type_: "Utilization".into(),
                average_utilization: Some(percent),
                ..Default::default()
            },
        }),
        ..Default::default()
    }
}

fn policy(type_: &str, value: i32, period_seconds: i32) -> HPAScalingPolicy {
    HPAScalingPolicy {
        type_: type_.into(),
        value,
        period_seconds,
    }
}

/// Upstream's scale-up defaults: no stabilization, the max of +4 pods or
/// +100% every 15s.
fn scale_up_defaults() -> HPAScalingRules {
    HPAScalingRules {
        stabilization_window_seconds: Some(0),
        select_policy: Some("Max".into()),
        policies: Some(vec![policy("Pods", 4, 15), policy("Percent", 100, 15)]),
        ..Default::default()
    }
}

/// Upstream's scale-down defaults: -100% every 15s (the stabilization
/// window is left to the controller's flag).
fn scale_down_defaults() -> HPAScalingRules {
    HPAScalingRules {
        stabilization_window_seconds: None,
        select_policy: Some("Max".into()),
        policies: Some(vec![policy("Percent", 100, 15)]),
        ..Default::default()
    }
}

/// Upstream `copyHPAScalingRules`: set fields win over the defaults.
fn fill_rules(from: Option<HPAScalingRules>, mut to: HPAScalingRules) -> HPAScalingRules {
    let Some(from) = from else {
        return to;
    };
    if from.select_policy.is_some() {
        to.select_policy = from.select_policy;
    }
    if from.stabilization_window_seconds.is_some() {
        to.stabilization_window_seconds = from.stabilization_window_seconds;
    }
    if from.policies.is_some() {
        to.policies = from.policies;
    }
    if from.tolerance.is_some() {
        to.tolerance = from.tolerance;
    }
    to
}

#[cfg(test)]
mod tests;
