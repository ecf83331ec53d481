//! One metric's replica proposal (upstream `computeReplicasForMetric` and
//! the `computeStatusFor*Metric` functions): `Resource` and
//! `ContainerResource` from `metrics.k8s.io`, `Pods` and `Object` from
//! `custom.metrics.k8s.io`, `External` from `external.metrics.k8s.io`.
//!
//! A failure carries upstream's three texts: the reason (event and
//! `ScalingActive` condition), the inner error (their message) and the
//! outer one (the sync's "first error is: ..." message).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::autoscaling::v2::{
    ContainerResourceMetricStatus, CrossVersionObjectReference, ExternalMetricStatus,
    MetricIdentifier, MetricSpec, MetricStatus, MetricTarget, MetricValueStatus,
    ObjectMetricStatus, PodsMetricStatus, ResourceMetricStatus,
};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use super::HpaConfig;
use super::HpaReconciler;
use super::custom_metrics;
use super::replicas::{
    PodSample, Target, per_pod_replicas, resource_replicas, usage_ratio_replicas,
};
use super::status::{empty_status, milli_quantity};
use super::target::{self, container_usage_milli, usage_milli};
use crate::framework::api_errors;
use crate::framework::pod_readiness;
use crate::framework::selector::{Selector, go_selector_text};

/// A metric's proposal: replicas, the reason text, its status entry.
pub struct MetricProposal {
    /// Replicas the metric asks for.
    pub replicas: i32,
    /// How the metric is named in events (`pods metric qps`).
    pub name: String,
    /// Its `currentMetrics[]` entry.
    pub status: MetricStatus,
}

/// A metric that could not be evaluated.
#[derive(Debug, Clone)]
pub struct MetricFailure {
    /// `FailedGetPodsMetric`, ...
    pub reason: &'static str,
    /// The event and condition message.
    pub error: String,
    /// The message the sync's error quotes.
    pub outer: String,
    /// The spec itself is invalid (the `error="spec"` metric label).
    pub spec_error: bool,
    /// The `currentMetrics[]` entry recorded anyway.
    pub status: MetricStatus,
}

/// What every metric of one sync shares.
pub struct MetricContext<'a> {
    /// The HPA's namespace.
    pub namespace: &'a str,
    /// The Scale's `spec.replicas`.
    pub current: i32,
    /// The Scale's `status.replicas`.
    pub status_replicas: i32,
    /// The Scale's `status.selector`.
    pub selector: &'a str,
    /// The pods it selects.
    pub pods: &'a [Arc<Pod>],
    /// The sync's clock.
    pub now: Timestamp,
}

/// An inner failure before it is given its reason and outer text.
struct Inner {
    error: String,
    spec_error: bool,
}

impl From<String> for Inner {
    fn from(error: String) -> Self {
        Inner {
            error,
            spec_error: false,
        }
    }
}

fn spec_error(error: impl Into<String>) -> Inner {
    Inner {
        error: error.into(),
        spec_error: true,
    }
}

/// The v2 default metric: 80% average CPU utilization.
pub fn default_metric() -> MetricSpec {
    use k8s_openapi::api::autoscaling::v2::ResourceMetricSource;
    MetricSpec {
        type_: "Resource".into(),
        resource: Some(ResourceMetricSource {
            name: "cpu".into(),
            target: MetricTarget {
                type_: "Utilization".into(),
                average_utilization: Some(80),
                ..Default::default()
            },
        }),
        ..Default::default()
    }
}

impl HpaReconciler {
    /// One metric's proposal.
    pub(super) async fn compute_metric(
        &self,
        spec: &MetricSpec,
        cx: &MetricContext<'_>,
    ) -> Result<MetricProposal, MetricFailure> {
        let fail =
            |reason: &'static str, outer: &dyn Fn(&str) -> String, inner: Inner| MetricFailure {
                reason,
                outer: outer(&inner.error),
                error: inner.error,
                spec_error: inner.spec_error,
                status: empty_status(&spec.type_),
            };
        match (spec.type_.as_str(), spec) {
            (
                "Resource",
                MetricSpec {
                    resource: Some(source),
                    ..
                },
            ) => {
                let name = source.name.as_str();
                self.resource_metric(cx, name, None, &source.target)
                    .await
                    .map(|(replicas, label, current)| MetricProposal {
                        replicas,
                        name: label,
                        status: MetricStatus {
                            type_: "Resource".into(),
                            resource: Some(ResourceMetricStatus {
                                name: name.to_string(),
                                current,
                            }),
                            ..Default::default()
                        },
                    })
                    .map_err(|inner| {
                        fail(
                            "FailedGetResourceMetric",
                            &|e| format!("failed to get {name} resource metric value: {e}"),
                            inner,
                        )
                    })
            }
            (
                "ContainerResource",
                MetricSpec {
                    container_resource: Some(source),
                    ..
                },
            ) => {
                let (name, container) = (source.name.as_str(), source.container.as_str());
                self.resource_metric(cx, name, Some(container), &source.target)
                    .await
                    .map(|(replicas, label, current)| MetricProposal {
                        replicas,
                        name: label,
                        status: MetricStatus {
                            type_: "ContainerResource".into(),
                            container_resource: Some(ContainerResourceMetricStatus {
                                name: name.to_string(),
                                container: container.to_string(),
                                current,
                            }),
                            ..Default::default()
                        },
                    })
                    .map_err(|inner| {
                        fail(
                            "FailedGetContainerResourceMetric",
                            &|e| format!("failed to get {container} container metric value: {e}"),
                            inner,
                        )
                    })
            }
            (
                "Pods",
                MetricSpec {
                    pods: Some(source), ..
                },
            ) => self
                .pods_metric(cx, &source.metric, &source.target)
                .await
                .map_err(|inner| {
                    fail(
                        "FailedGetPodsMetric",
                        &|e| format!("failed to get pods metric value: {e}"),
                        inner,
                    )
                }),
            (
                "Object",
                MetricSpec {
                    object: Some(source),
                    ..
                },
            ) => self
                .object_metric(cx, &source.described_object, &source.metric, &source.target)
                .await
                .map_err(|inner| {
                    fail(
                        "FailedGetObjectMetric",
                        &|e| format!("failed to get object metric value: {e}"),
                        inner,
                    )
                }),
            (
                "External",
                MetricSpec {
                    external: Some(source),
                    ..
                },
            ) => {
                let metric = source.metric.name.as_str();
                self.external_metric(cx, &source.metric, &source.target)
                    .await
                    .map_err(|inner| {
                        fail(
                            "FailedGetExternalMetric",
                            &|e| format!("failed to get {metric} external metric value: {e}"),
                            inner,
                        )
                    })
            }
            (other, _) => {
                let error = format!("unknown metric source type {other:?}");
                Err(MetricFailure {
                    reason: "InvalidMetricSourceType",
                    outer: error.clone(),
                    error,
                    spec_error: true,
                    status: empty_status(&spec.type_),
                })
            }
        }
    }

    /// `Resource` and `ContainerResource` (upstream
    /// `computeStatusForResourceMetricGeneric`): replicas, the metric's
    /// name for events, the current value.
    async fn resource_metric(
        &self,
        cx: &MetricContext<'_>,
        resource: &str,
        container: Option<&str>,
        target: &MetricTarget,
    ) -> Result<(i32, String, MetricValueStatus), Inner> {
        let target = match (target.average_value.as_ref(), target.average_utilization) {
            (Some(v), _) => {
                let q = corten_apimachinery::quantity::Quantity::parse(&v.0)
                    .map_err(|_| spec_error(format!("invalid average value {:?}", v.0)))?;
                Target::AverageValue(q.milli_value())
            }
            (None, Some(u)) => Target::Utilization(u),
            (None, None) => {
                return Err(spec_error(
                    "invalid resource metric source: neither an average utilization target nor an average value target was set",
                ));
            }
        };
        let failed = |e: String| Inner::from(format!("failed to get {resource} utilization: {e}"));
        let metrics = target::pod_metrics(&self.client, cx.namespace, cx.selector)
            .await
            .map_err(|e| {
                failed(format!(
                    "unable to get metrics for resource {resource}: unable to fetch metrics from resource metrics API: {}",
                    api_errors::message(&e)
                ))
            })?;
        if metrics.items.is_empty() {
            return Err(failed(format!(
                "unable to get metrics for resource {resource}: no metrics returned from resource metrics API"
            )));
        }
        let mut samples = Vec::with_capacity(cx.pods.len());
        for pod in cx.pods {
            let name = pod.name_any();
            let sample = match metrics
                .items
                .iter()
                .find(|m| m.metadata.name.as_deref() == Some(name.as_str()))
            {
                Some(m) => {
                    let usage = match container {
                        Some(c) => container_usage_milli(m, resource, c).map_err(|e| {
                            failed(format!(
                                "unable to get metrics for resource {resource}: {e}"
                            ))
                        })?,
                        None => usage_milli(m, resource),
                    };
                    let window = m
                        .window
                        .as_deref()
                        .and_then(|w| corten_component_base::duration::parse_duration(w).ok());
                    usage.map(|u| Sampled {
                        milli: u,
                        timestamp: m.timestamp.as_ref().map(|t| t.0),
                        window: window.unwrap_or(Duration::ZERO),
                    })
                }
                None => None,
            };
            samples.push(sample_pod(
                pod,
                resource,
                container,
                sample,
                &self.config,
                cx.now,
            ));
        }
        let proposal = resource_replicas(
            cx.current,
            &samples,
            resource,
            target,
            self.config.tolerance,
        )
        .map_err(|e| failed(e.to_string()))?;
        let kind = if container.is_some() {
            " container"
        } else {
            ""
        };
        let name = match target {
            Target::Utilization(_) => {
                format!("{resource}{kind} resource utilization (percentage of request)")
            }
            Target::AverageValue(_) => format!("{resource} resource"),
        };
        Ok((
            proposal.replicas,
            name,
            MetricValueStatus {
                average_utilization: proposal.utilization,
                average_value: Some(milli_quantity(proposal.average_milli)),
                value: None,
            },
        ))
    }

    /// `Pods` (upstream `GetMetricReplicas`): an average per pod.
    async fn pods_metric(
        &self,
        cx: &MetricContext<'_>,
        metric: &MetricIdentifier,
        target: &MetricTarget,
    ) -> Result<MetricProposal, Inner> {
        let metric_selector = selector_string(metric.selector.as_ref())?;
        let target_milli = match target.average_value.as_ref() {
            Some(v) => quantity_milli(&v.0)?,
            None => {
                return Err(spec_error(
                    "invalid pods metric source: an average value target must be set",
                ));
            }
        };
        let name = metric.name.as_str();
        let values = custom_metrics::pods_metric(
            &self.client,
            cx.namespace,
            name,
            cx.selector,
            &metric_selector,
        )
        .await
        .map_err(|e| Inner::from(format!("unable to get metric {name}: {e}")))?;
        let samples: Vec<PodSample> = cx
            .pods
            .iter()
            .map(|pod| {
                let pod_name = pod.name_any();
                let value = values.iter().find(|v| v.pod == pod_name).map(|v| Sampled {
                    milli: v.milli,
                    timestamp: v.timestamp,
                    window: v.window,
                });
                sample_pod(pod, "", None, value, &self.config, cx.now)
            })
            .collect();
        let proposal = resource_replicas(
            cx.current,
            &samples,
            "",
            Target::AverageValue(target_milli),
            self.config.tolerance,
        )
        .map_err(|e| Inner::from(e.to_string()))?;
        Ok(MetricProposal {
            replicas: proposal.replicas,
            name: format!("pods metric {name}"),
            status: MetricStatus {
                type_: "Pods".into(),
                pods: Some(PodsMetricStatus {
                    metric: metric.clone(),
                    current: MetricValueStatus {
                        average_value: Some(milli_quantity(proposal.average_milli)),
                        ..Default::default()
                    },
                }),
                ..Default::default()
            },
        })
    }

    /// `Object`: one object's value, against a total (`Value`) or per-pod
    /// (`AverageValue`) target.
    async fn object_metric(
        &self,
        cx: &MetricContext<'_>,
        object: &CrossVersionObjectReference,
        metric: &MetricIdentifier,
        target: &MetricTarget,
    ) -> Result<MetricProposal, Inner> {
        let metric_selector = selector_string(metric.selector.as_ref())?;
        let name = metric.name.as_str();
        // Upstream picks by the target's type here (and by the fields
        // present for External metrics).
        let (value_target, average_target) = match (
            target.type_.as_str(),
            &target.value,
            &target.average_value,
        ) {
            ("Value", Some(v), _) => (Some(quantity_milli(&v.0)?), None),
            ("AverageValue", _, Some(v)) => (None, Some(quantity_milli(&v.0)?)),
            _ => {
                return Err(spec_error(
                    "invalid object metric source: neither a value target nor an average value target was set",
                ));
            }
        };
        // Upstream's wording (its arguments land in this order).
        let fetch_error = |e: String| {
            format!(
                "unable to get metric {name}: {} on {} {}/{e}",
                object.kind, cx.namespace, object.name
            )
        };
        let resolved =
            target::resolve_kind(&self.client, object.api_version.as_deref(), &object.kind)
                .await
                .map_err(|e| Inner::from(fetch_error(e)))?;
        let usage = custom_metrics::object_metric(
            &self.client,
            cx.namespace,
            &resolved,
            &object.kind,
            &object.name,
            name,
            &metric_selector,
        )
        .await;
        let status = |current: MetricValueStatus| MetricStatus {
            type_: "Object".into(),
            object: Some(ObjectMetricStatus {
                described_object: object.clone(),
                metric: metric.clone(),
                current,
            }),
            ..Default::default()
        };
        if let Some(target_milli) = value_target {
            let usage = usage.map_err(|e| Inner::from(fetch_error(e)))?;
            let ratio = usage as f64 / target_milli.max(1) as f64;
            let ready = ready_pods(cx)?;
            Ok(MetricProposal {
                replicas: usage_ratio_replicas(cx.current, ratio, ready, self.config.tolerance),
                name: format!("{} metric {name}", object.kind),
                status: status(MetricValueStatus {
                    value: Some(milli_quantity(usage)),
                    ..Default::default()
                }),
            })
        } else {
            let target_milli = average_target.unwrap_or(1);
            let usage = usage.map_err(|e| {
                Inner::from(format!(
                    "failed to get {name} object metric: {}",
                    fetch_error(e)
                ))
            })?;
            let (replicas, average) = per_pod_replicas(
                cx.status_replicas,
                usage,
                target_milli,
                self.config.tolerance,
            );
            Ok(MetricProposal {
                replicas,
                // Upstream names per-pod object metrics this way too.
                name: format!(
                    "external metric {name}({})",
                    go_selector_text(metric.selector.as_ref())
                ),
                status: status(MetricValueStatus {
                    average_value: Some(milli_quantity(average)),
                    ..Default::default()
                }),
            })
        }
    }

    /// `External`: the sum of the metric's series, against a total or
    /// per-pod target.
    async fn external_metric(
        &self,
        cx: &MetricContext<'_>,
        metric: &MetricIdentifier,
        target: &MetricTarget,
    ) -> Result<MetricProposal, Inner> {
        let metric_selector = selector_string(metric.selector.as_ref())?;
        let name = metric.name.as_str();
        let selector_text = go_selector_text(metric.selector.as_ref());
        let per_pod = match (&target.average_value, &target.value) {
            (Some(v), _) => Some(quantity_milli(&v.0)?),
            (None, Some(_)) => None,
            (None, None) => {
                return Err(spec_error(
                    "invalid external metric source: neither a value target nor an average value target was set",
                ));
            }
        };
        let values =
            custom_metrics::external_metric(&self.client, cx.namespace, name, &metric_selector)
                .await
                .map_err(|e| {
                    format!(
                        "unable to get external metric {}/{name}/{selector_text}: {e}",
                        cx.namespace
                    )
                });
        let status = |current: MetricValueStatus| MetricStatus {
            type_: "External".into(),
            external: Some(ExternalMetricStatus {
                metric: metric.clone(),
                current,
            }),
            ..Default::default()
        };
        let label = format!("external metric {name}({selector_text})");
        match per_pod {
            Some(target_milli) => {
                let total: i64 = values
                    .map_err(|e| Inner::from(format!("failed to get {name} external metric: {e}")))?
                    .iter()
                    .sum();
                let (replicas, average) = per_pod_replicas(
                    cx.status_replicas,
                    total,
                    target_milli,
                    self.config.tolerance,
                );
                Ok(MetricProposal {
                    replicas,
                    name: label,
                    status: status(MetricValueStatus {
                        average_value: Some(milli_quantity(average)),
                        ..Default::default()
                    }),
                })
            }
            None => {
                let target_milli = quantity_milli(
                    &target
                        .value
                        .as_ref()
                        .map(|q| q.0.clone())
                        .unwrap_or_default(),
                )?;
                let total: i64 = values
                    .map_err(|e| Inner::from(format!("failed to get external metric {name}: {e}")))?
                    .iter()
                    .sum();
                let ratio = total as f64 / target_milli.max(1) as f64;
                let ready = ready_pods(cx)?;
                Ok(MetricProposal {
                    replicas: usage_ratio_replicas(cx.current, ratio, ready, self.config.tolerance),
                    name: label,
                    status: status(MetricValueStatus {
                        value: Some(milli_quantity(total)),
                        ..Default::default()
                    }),
                })
            }
        }
    }
}

/// Running and Ready pods (upstream `getReadyPodsCount`); only needed
/// when the target has replicas.
fn ready_pods(cx: &MetricContext<'_>) -> Result<usize, Inner> {
    if cx.current == 0 {
        return Ok(0);
    }
    if cx.pods.is_empty() {
        return Err(Inner::from(
            "unable to calculate ready pods: no pods returned by selector while calculating replica count"
                .to_string(),
        ));
    }
    Ok(cx
        .pods
        .iter()
        .filter(|p| pod_readiness::phase(p) == "Running" && pod_readiness::is_ready(p))
        .count())
}

fn quantity_milli(text: &str) -> Result<i64, Inner> {
    corten_apimachinery::quantity::Quantity::parse(text)
        .map(|q| q.milli_value())
        .map_err(|_| spec_error(format!("invalid quantity {text:?} in metric target")))
}

/// A metric selector as a query string value.
fn selector_string(selector: Option<&LabelSelector>) -> Result<String, Inner> {
    match selector {
        None => Ok(String::new()),
        Some(s) => Selector::from_label_selector(Some(s))
            .map(|s| s.to_string())
            .map_err(|e| spec_error(e.to_string())),
    }
}

/// A pod's sample of the metric being computed.
struct Sampled {
    milli: i64,
    timestamp: Option<Timestamp>,
    window: Duration,
}

/// What the replica calculation needs to know about `pod` (upstream
/// `groupPods` and `calculatePodRequests`): requests of `resource` (of
/// one container, or all), and whether its sample can be trusted.
fn sample_pod(
    pod: &Pod,
    resource: &str,
    container: Option<&str>,
    sample: Option<Sampled>,
    config: &HpaConfig,
    now: Timestamp,
) -> PodSample {
    let phase = pod_readiness::phase(pod);
    let ignored = pod.metadata.deletion_timestamp.is_some() || phase == "Failed";
    let unready = phase == "Pending"
        || (resource == "cpu"
            && sample
                .as_ref()
                .is_some_and(|s| cpu_sample_untrusted(pod, s, config, now)));
    let mut request: Result<i64, String> = Ok(0);
    for c in pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .filter(|c| container.is_none_or(|name| c.name == name))
    {
        let value = c
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get(resource))
            .and_then(|q| corten_apimachinery::quantity::Quantity::parse(&q.0).ok());
        match (value, &mut request) {
            (Some(v), Ok(total)) => *total = total.saturating_add(v.milli_value()),
            (None, Ok(_)) => request = Err(c.name.clone()),
            _ => {}
        }
    }
    PodSample {
        name: pod.name_any(),
        ignored,
        unready,
        request_milli: request,
        usage_milli: sample.map(|s| s.milli),
    }
}

/// Whether a cpu sample says nothing about steady load: a starting
/// container burns CPU it will not need later. Within the cpu
/// initialization period after the pod started, the sample must come a
/// whole window after the pod became Ready; later, only a pod that is not
/// Ready and never was (its last transition came within the initial
/// readiness delay of its start) is set aside.
fn cpu_sample_untrusted(pod: &Pod, sample: &Sampled, config: &HpaConfig, now: Timestamp) -> bool {
    let condition = pod_readiness::ready_condition(pod);
    let start = pod
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map(|t| t.0);
    let (Some(condition), Some(start)) = (condition, start) else {
        return true;
    };
    let not_ready = condition.status == "False";
    let transition = condition
        .last_transition_time
        .as_ref()
        .map(|t| t.0)
        .unwrap_or(start);
    let add = |t: Timestamp, d: Duration| {
        t.checked_add(k8s_openapi::jiff::SignedDuration::try_from(d).unwrap_or_default())
            .unwrap_or(t)
    };
    if add(start, config.cpu_initialization_period) > now {
        let taken = sample.timestamp.unwrap_or(now);
        not_ready || taken < add(transition, sample.window)
    } else {
        not_ready && add(start, config.initial_readiness_delay) > transition
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap()
    }

    fn sampled(milli: i64, taken: i64) -> Option<Sampled> {
        Some(Sampled {
            milli,
            timestamp: Some(at(taken)),
            window: Duration::from_secs(30),
        })
    }

    fn started(start: i64, ready: &str, transition: i64) -> Pod {
        pod(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}]},
            "status": {"phase": "Running", "startTime": at(start).to_string(),
                "conditions": [{"type": "Ready", "status": ready,
                    "lastTransitionTime": at(transition).to_string()}]}
        }))
    }

    #[test]
    fn samples_read_requests_and_readiness() {
        let config = HpaConfig::default();
        let now = at(100_000);
        let p = pod(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [
                {"name": "a", "resources": {"requests": {"cpu": "200m"}}},
                {"name": "b", "resources": {"requests": {"cpu": "300m"}}},
            ]},
            "status": {"phase": "Running", "startTime": at(0).to_string(),
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": at(10).to_string()}]}
        }));
        let s = sample_pod(&p, "cpu", None, sampled(100, 99_000), &config, now);
        assert_eq!(s.request_milli, Ok(500));
        assert!(!s.unready && !s.ignored);
        let s = sample_pod(&p, "cpu", Some("b"), None, &config, now);
        assert_eq!(s.request_milli, Ok(300));
        assert_eq!(
            sample_pod(&p, "memory", None, None, &config, now).request_milli,
            Err("a".into())
        );
        let p = pod(serde_json::json!({
            "metadata": {"name": "p"}, "spec": {"containers": []}, "status": {"phase": "Failed"}
        }));
        assert!(sample_pod(&p, "cpu", None, None, &config, now).ignored);
        let p = pod(serde_json::json!({
            "metadata": {"name": "p"}, "spec": {"containers": []}, "status": {"phase": "Pending"}
        }));
        assert!(sample_pod(&p, "qps", None, None, &config, now).unready);
    }

    #[test]
    fn cpu_initialization_period() {
        // Defaults: 5 min initialization period, 30 s readiness delay; a
        // 30 s metric window.
        let config = HpaConfig::default();
        let untrusted = |pod: &Pod, taken: i64, now: i64| {
            sample_pod(pod, "cpu", None, sampled(50, taken), &config, at(now)).unready
        };
        // Started 60 s ago, Ready 40 s ago: a sample taken 5 s after the
        // pod became Ready covers startup; one a whole window later not.
        let p = started(1_000, "True", 1_020);
        assert!(untrusted(&p, 1_025, 1_060));
        assert!(!untrusted(&p, 1_050, 1_060));
        // Not Ready while starting: untrusted.
        assert!(untrusted(&started(1_000, "False", 1_020), 1_050, 1_060));
        // Past the initialization period: a pod that was Ready once and
        // is not now still counts; one that never became Ready does not.
        assert!(!untrusted(&started(1_000, "False", 1_200), 1_500, 1_500));
        assert!(untrusted(&started(1_000, "False", 1_010), 1_500, 1_500));
        assert!(!untrusted(&started(1_000, "True", 1_010), 1_500, 1_500));
        // Other metrics ignore readiness.
        let p = started(1_000, "False", 1_010);
        assert!(!sample_pod(&p, "memory", None, sampled(5, 1_500), &config, at(1_500)).unready);
        // No start time or Ready condition: untrusted.
        let p = pod(
            serde_json::json!({"metadata": {"name": "p"}, "spec": {"containers": []},
            "status": {"phase": "Running"}}),
        );
        assert!(untrusted(&p, 1_500, 1_500));
    }

    #[test]
    fn selectors_print_like_go() {
        assert_eq!(go_selector_text(None), "nil");
        let s: LabelSelector = serde_json::from_value(serde_json::json!({
            "matchLabels": {"queue": "jobs", "a": "b"},
            "matchExpressions": [{"key": "k", "operator": "In", "values": ["x", "y"]}]
        }))
        .unwrap();
        assert_eq!(
            go_selector_text(Some(&s)),
            "&LabelSelector{MatchLabels:map[string]string{a: b,queue: jobs,},MatchExpressions:[]LabelSelectorRequirement{LabelSelectorRequirement{Key:k,Operator:In,Values:[x y],},},}"
        );
        assert_eq!(
            selector_string(Some(&s)).ok().unwrap(),
            "a=b,queue=jobs,k in (x,y)"
        );
    }
}
