//! The HPA's status conditions (`AbleToScale`, `ScalingActive`,
//! `ScalingLimited`) and current-metric entries.

use k8s_openapi::api::autoscaling::v2::{
    HorizontalPodAutoscalerCondition, MetricStatus, MetricValueStatus, ResourceMetricStatus,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// Sets condition `type_`, keeping `lastTransitionTime` unless the status
/// changes (upstream `setConditionInList`).
pub fn set_condition(
    conditions: &mut Vec<HorizontalPodAutoscalerCondition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    now: Timestamp,
) {
    let status = if status { "True" } else { "False" };
    let condition = match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => c,
        None => {
            conditions.push(HorizontalPodAutoscalerCondition {
                type_: type_.to_string(),
                ..Default::default()
            });
            conditions.last_mut().expect("just pushed")
        }
    };
    if condition.status != status || condition.last_transition_time.is_none() {
        condition.last_transition_time = Some(Time(now));
    }
    condition.status = status.to_string();
    condition.reason = Some(reason.to_string());
    condition.message = Some(message.to_string());
}

/// A milli-unit amount as a canonical quantity (`250m`, `1`, `2k`).
pub fn milli_quantity(milli: i64) -> Quantity {
    let raw = format!("{milli}m");
    Quantity(corten_apimachinery::quantity::canonicalize(&raw).unwrap_or(raw))
}

/// `currentMetrics[]` entry of a resource metric.
pub fn resource_status(name: &str, utilization: Option<i32>, average_milli: i64) -> MetricStatus {
    MetricStatus {
        type_: "Resource".to_string(),
        resource: Some(ResourceMetricStatus {
            name: name.to_string(),
            current: MetricValueStatus {
                average_utilization: utilization,
                average_value: Some(milli_quantity(average_milli)),
                value: None,
            },
        }),
        ..Default::default()
    }
}

/// The empty entry upstream records for a metric it could not read.
pub fn empty_status(type_: &str) -> MetricStatus {
    MetricStatus {
        type_: type_.to_string(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let t0 = Timestamp::from_second(1_000).unwrap();
        let t1 = Timestamp::from_second(2_000).unwrap();
        let mut c = Vec::new();
        set_condition(&mut c, "AbleToScale", true, "SucceededGetScale", "m", t0);
        set_condition(&mut c, "AbleToScale", true, "SucceededRescale", "n", t1);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].last_transition_time, Some(Time(t0)));
        assert_eq!(c[0].reason.as_deref(), Some("SucceededRescale"));
        set_condition(&mut c, "AbleToScale", false, "FailedGetScale", "x", t1);
        assert_eq!(c[0].last_transition_time, Some(Time(t1)));
        assert_eq!(c[0].status, "False");
    }

    #[test]
    fn quantities_are_canonical() {
        assert_eq!(milli_quantity(250).0, "250m");
        assert_eq!(milli_quantity(1000).0, "1");
        assert_eq!(milli_quantity(0).0, "0");
    }
}
