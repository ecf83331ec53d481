//! autoscaling/v1 <-> autoscaling/v2 HorizontalPodAutoscaler.
//!
//! v1 only knows a CPU utilization target. Like upstream, everything v2
//! has beyond it is carried through v1 in annotations so that reading and
//! writing back a v1 object loses nothing: the other metrics, the
//! behavior, the status conditions and the other current metrics. The
//! annotation names are upstream's; their values here are the autoscaling/v2
//! JSON of those fields (upstream writes older internal shapes).

use std::collections::BTreeMap;

use k8s_openapi::api::autoscaling::v1;
use k8s_openapi::api::autoscaling::v2;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::cpu_utilization_metric;
use crate::resources::Conversion;
use crate::typed;

/// The annotations carrying v2-only fields through autoscaling/v1.
pub mod annotations {
    /// Metrics other than the CPU utilization target.
    pub const METRICS: &str = "autoscaling.alpha.kubernetes.io/metrics";
    /// `spec.behavior`.
    pub const BEHAVIOR: &str = "autoscaling.alpha.kubernetes.io/behavior";
    /// `status.conditions`.
    pub const CONDITIONS: &str = "autoscaling.alpha.kubernetes.io/conditions";
    /// Current metrics other than the CPU utilization.
    pub const CURRENT_METRICS: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
}

/// The autoscaling/v1 <-> autoscaling/v2 HPA conversion.
pub struct HpaV1Conversion;

fn take_annotation<T: DeserializeOwned>(
    annotations: &mut Option<BTreeMap<String, String>>,
    key: &str,
) -> Result<Option<T>, String> {
    let Some(raw) = annotations.as_mut().and_then(|a| a.remove(key)) else {
        return Ok(None);
    };
    if annotations.as_ref().is_some_and(BTreeMap::is_empty) {
        *annotations = None;
    }
    serde_json::from_str(&raw)
        .map(Some)
        .map_err(|e| format!("invalid annotation {key}: {e}"))
}

fn put_annotation<T: Serialize>(
    annotations: &mut Option<BTreeMap<String, String>>,
    key: &str,
    value: &T,
) {
    if let Ok(raw) = serde_json::to_string(value) {
        annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(key.to_string(), raw);
    }
}

fn is_cpu_utilization(m: &v2::MetricSpec) -> Option<i32> {
    let r = m.resource.as_ref()?;
    if m.type_ == "Resource" && r.name == "cpu" && r.target.type_ == "Utilization" {
        r.target.average_utilization
    } else {
        None
    }
}

fn current_cpu_utilization(m: &v2::MetricStatus) -> Option<i32> {
    let r = m.resource.as_ref()?;
    if m.type_ == "Resource" && r.name == "cpu" {
        r.current.average_utilization
    } else {
        None
    }
}

fn v1_to_v2(mut hpa: v1::HorizontalPodAutoscaler) -> Result<v2::HorizontalPodAutoscaler, String> {
    let annotations = &mut hpa.metadata.annotations;
    let extra_metrics: Option<Vec<v2::MetricSpec>> =
        take_annotation(annotations, annotations::METRICS)?;
    let behavior: Option<v2::HorizontalPodAutoscalerBehavior> =
        take_annotation(annotations, annotations::BEHAVIOR)?;
    let conditions: Option<Vec<v2::HorizontalPodAutoscalerCondition>> =
        take_annotation(annotations, annotations::CONDITIONS)?;
    let extra_current: Option<Vec<v2::MetricStatus>> =
        take_annotation(annotations, annotations::CURRENT_METRICS)?;

    let spec = hpa.spec.map(|s| {
        let mut metrics = Vec::new();
        if let Some(cpu) = s.target_cpu_utilization_percentage {
            metrics.push(cpu_utilization_metric(cpu));
        }
        metrics.extend(
            extra_metrics
                .unwrap_or_default()
                .into_iter()
                .filter(|m| is_cpu_utilization(m).is_none()),
        );
        v2::HorizontalPodAutoscalerSpec {
            behavior,
            max_replicas: s.max_replicas,
            metrics: Some(metrics).filter(|m| !m.is_empty()),
            min_replicas: s.min_replicas,
            scale_target_ref: v2::CrossVersionObjectReference {
                api_version: s.scale_target_ref.api_version,
                kind: s.scale_target_ref.kind,
                name: s.scale_target_ref.name,
            },
        }
    });
    let status = hpa.status.map(|s| {
        let mut current = Vec::new();
        if let Some(cpu) = s.current_cpu_utilization_percentage {
            current.push(v2::MetricStatus {
                type_: "Resource".into(),
                resource: Some(v2::ResourceMetricStatus {
                    name: "cpu".into(),
                    current: v2::MetricValueStatus {
                        average_utilization: Some(cpu),
                        ..Default::default()
                    },
                }),
                ..Default::default()
            });
        }
        current.extend(
            extra_current
                .unwrap_or_default()
                .into_iter()
                .filter(|m| current_cpu_utilization(m).is_none()),
        );
        v2::HorizontalPodAutoscalerStatus {
            conditions,
            current_metrics: Some(current).filter(|c| !c.is_empty()),
            current_replicas: Some(s.current_replicas),
            desired_replicas: s.desired_replicas,
            last_scale_time: s.last_scale_time,
            observed_generation: s.observed_generation,
        }
    });
    Ok(v2::HorizontalPodAutoscaler {
        metadata: hpa.metadata,
        spec,
        status,
    })
}

fn v2_to_v1(hpa: v2::HorizontalPodAutoscaler) -> v1::HorizontalPodAutoscaler {
    let mut metadata = hpa.metadata;
    let spec = hpa.spec.map(|s| {
        let mut cpu = None;
        let mut others = Vec::new();
        for m in s.metrics.unwrap_or_default() {
            match is_cpu_utilization(&m) {
                Some(u) if cpu.is_none() => cpu = Some(u),
                _ => others.push(m),
            }
        }
        if !others.is_empty() {
            put_annotation(&mut metadata.annotations, annotations::METRICS, &others);
        }
        if let Some(b) = s.behavior.as_ref() {
            put_annotation(&mut metadata.annotations, annotations::BEHAVIOR, b);
        }
        v1::HorizontalPodAutoscalerSpec {
            max_replicas: s.max_replicas,
            min_replicas: s.min_replicas,
            scale_target_ref: v1::CrossVersionObjectReference {
                api_version: s.scale_target_ref.api_version,
                kind: s.scale_target_ref.kind,
                name: s.scale_target_ref.name,
            },
            target_cpu_utilization_percentage: cpu,
        }
    });
    let status = hpa.status.map(|s| {
        let mut cpu = None;
        let mut others = Vec::new();
        for m in s.current_metrics.unwrap_or_default() {
            match current_cpu_utilization(&m) {
                Some(u) if cpu.is_none() => cpu = Some(u),
                _ => others.push(m),
            }
        }
        if !others.is_empty() {
            put_annotation(
                &mut metadata.annotations,
                annotations::CURRENT_METRICS,
                &others,
            );
        }
        if let Some(c) = s.conditions.as_ref().filter(|c| !c.is_empty()) {
            put_annotation(&mut metadata.annotations, annotations::CONDITIONS, c);
        }
        v1::HorizontalPodAutoscalerStatus {
            current_cpu_utilization_percentage: cpu,
            current_replicas: s.current_replicas.unwrap_or(0),
            desired_replicas: s.desired_replicas,
            last_scale_time: s.last_scale_time,
            observed_generation: s.observed_generation,
        }
    });
    v1::HorizontalPodAutoscaler {
        metadata,
        spec,
        status,
    }
}

impl Conversion for HpaV1Conversion {
    fn to_storage(&self, obj: serde_json::Value) -> Result<serde_json::Value, String> {
        let hpa: v1::HorizontalPodAutoscaler = typed::from_value(obj)?;
        Ok(typed::to_value(&v1_to_v2(hpa)?))
    }

    fn unknown_fields(&self, obj: &serde_json::Value) -> Vec<String> {
        crate::kind::unknown_fields_of::<v1::HorizontalPodAutoscaler>(obj)
    }

    fn from_storage(&self, obj: serde_json::Value) -> Result<serde_json::Value, String> {
        let hpa: v2::HorizontalPodAutoscaler = typed::from_value(obj)?;
        Ok(typed::to_value(&v2_to_v1(hpa)))
    }
}
