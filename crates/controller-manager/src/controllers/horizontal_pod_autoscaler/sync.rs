//! One sync of one HPA (upstream `reconcileAutoscaler`).

use std::time::Instant;

use k8s_openapi::api::autoscaling::v2::{
    HorizontalPodAutoscaler, HorizontalPodAutoscalerBehavior, MetricSpec, MetricStatus,
};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::{Api, ResourceExt};

use super::HpaReconciler;
use super::normalize::{Normalized, Rules};
use super::replicas::{PodSample, Target, resource_replicas};
use super::status::{empty_status, resource_status, set_condition};
use super::target::{self, usage_milli};
use crate::framework::api_errors;
use crate::framework::events::EventType;
use crate::framework::key::ObjectKey;
use crate::framework::pod_readiness;
use crate::framework::worker::{Action, Reconciler};

/// Why a sync must be retried soon (other failures are reported in the
/// HPA's status and events and retried at the next period, as upstream).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Writing the status failed.
    #[error("failed to update status for {0}: {1}")]
    Status(String, String),
}

/// A metric's proposal: replicas, the reason text, its status entry.
struct MetricProposal {
    replicas: i32,
    name: String,
    status: MetricStatus,
}

/// A metric that could not be evaluated.
struct MetricFailure {
    reason: &'static str,
    error: String,
    status: MetricStatus,
}

impl Reconciler<ObjectKey> for HpaReconciler {
    type Error = SyncError;

    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, SyncError> {
        let namespace = key.namespace.clone().unwrap_or_default();
        let Some(hpa) = self.hpas.get(Some(&namespace), &key.name) else {
            return Ok(Action::await_change());
        };
        if hpa.metadata.deletion_timestamp.is_some() {
            return Ok(Action::await_change());
        }
        let mut updated = (*hpa).clone();
        if let Err(err) = self.sync(key, &namespace, &mut updated).await {
            tracing::info!(hpa = %key, error = %err, "Failed to sync HPA");
        }
        if updated.status != hpa.status {
            let api: Api<HorizontalPodAutoscaler> =
                Api::namespaced(self.client.clone(), &namespace);
            if let Err(err) = api
                .replace_status(&key.name, &PostParams::default(), &updated)
                .await
            {
                self.recorder.event(
                    hpa.as_ref(),
                    EventType::Warning,
                    "FailedUpdateStatus",
                    &api_errors::message(&err),
                );
                return Err(SyncError::Status(
                    key.to_string(),
                    api_errors::message(&err),
                ));
            }
        }
        Ok(Action::requeue(self.config.sync_period))
    }
}

impl HpaReconciler {
    /// Scales the target and fills in `hpa.status`; `Err` carries what
    /// went wrong after it was recorded in the status and as an event.
    async fn sync(
        &self,
        key: &ObjectKey,
        namespace: &str,
        hpa: &mut HorizontalPodAutoscaler,
    ) -> Result<(), String> {
        let now = Timestamp::now();
        let original = hpa.clone();
        let spec = hpa.spec.clone().unwrap_or_default();
        let mut status = hpa.status.clone().unwrap_or_default();
        let mut conditions = status.conditions.take().unwrap_or_default();
        let reference = spec.scale_target_ref.clone();
        let reference_text = format!("{}/{}", reference.kind, reference.name);

        let scale_target = target::resolve(&self.client, namespace, &reference).await;
        let scale = match &scale_target {
            Ok(t) => t
                .get(&self.client)
                .await
                .map_err(|e| api_errors::message(&e)),
            Err(e) => Err(e.clone()),
        };
        let (scale_target, mut scale) = match (scale_target, scale) {
            (Ok(t), Ok(s)) => (t, s),
            (_, Err(err)) => {
                self.recorder
                    .event(&original, EventType::Warning, "FailedGetScale", &err);
                set_condition(
                    &mut conditions,
                    "AbleToScale",
                    false,
                    "FailedGetScale",
                    &format!(
                        "the HPA controller was unable to get the target's current scale: {err}"
                    ),
                    now,
                );
                status.conditions = Some(conditions);
                hpa.status = Some(status);
                return Err(format!(
                    "failed to query scale subresource for {reference_text}: {err}"
                ));
            }
            (Err(_), Ok(_)) => unreachable!("no scale without a target"),
        };
        set_condition(
            &mut conditions,
            "AbleToScale",
            true,
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale",
            now,
        );
        let current = scale.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
        let min = spec.min_replicas.unwrap_or(1);
        let max = spec.max_replicas;

        let mut desired = 0;
        let mut reason = String::new();
        let mut metric_statuses = status.current_metrics.take();
        let mut normalized: Option<Normalized> = None;
        if current == 0 && min != 0 {
            set_condition(
                &mut conditions,
                "ScalingActive",
                false,
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero",
                now,
            );
        } else if current > max {
            reason = "Current number of replicas above Spec.MaxReplicas".into();
            desired = max;
        } else if current < min {
            reason = "Current number of replicas below Spec.MinReplicas".into();
            desired = min;
        } else {
            let selector = scale
                .status
                .as_ref()
                .and_then(|s| s.selector.clone())
                .unwrap_or_default();
            match self
                .compute_metrics(hpa, namespace, current, &selector, &mut conditions, now)
                .await
            {
                Ok((proposal, name, statuses)) => {
                    metric_statuses = Some(statuses);
                    set_condition(
                        &mut conditions,
                        "ScalingActive",
                        true,
                        "ValidMetricFound",
                        &format!(
                            "the HPA was able to successfully calculate a replica count from {name}"
                        ),
                        now,
                    );
                    if proposal > current {
                        reason = format!("{name} above target");
                    } else if proposal < current {
                        reason = "All metrics below target".into();
                    }
                    let n =
                        self.normalize(key, spec.behavior.as_ref(), current, proposal, min, max);
                    desired = n.replicas;
                    normalized = Some(n);
                }
                Err((statuses, err)) => {
                    status.current_replicas = Some(current);
                    status.current_metrics = Some(statuses);
                    status.conditions = Some(conditions);
                    hpa.status = Some(status);
                    self.recorder.event(
                        &original,
                        EventType::Warning,
                        "FailedComputeMetricsReplicas",
                        &err,
                    );
                    return Err(format!(
                        "failed to compute desired number of replicas based on listed metrics for {reference_text}: {err}"
                    ));
                }
            }
        }
        if let Some(n) = &normalized {
            set_condition(
                &mut conditions,
                "AbleToScale",
                true,
                n.able_reason,
                n.able_message,
                now,
            );
            set_condition(
                &mut conditions,
                "ScalingLimited",
                n.limited,
                n.limit_reason,
                n.limit_message,
                now,
            );
        }
        let rescale = desired != current && !(current == 0 && min != 0);
        if rescale {
            if let Some(spec) = scale.spec.as_mut() {
                spec.replicas = Some(desired);
            } else {
                scale.spec = Some(k8s_openapi::api::autoscaling::v1::ScaleSpec {
                    replicas: Some(desired),
                });
            }
            if let Err(err) = scale_target.update(&self.client, &scale).await {
                let err = api_errors::message(&err);
                self.recorder.event(
                    &original,
                    EventType::Warning,
                    "FailedRescale",
                    &format!("New size: {desired}; reason: {reason}; error: {err}"),
                );
                set_condition(
                    &mut conditions,
                    "AbleToScale",
                    false,
                    "FailedUpdateScale",
                    &format!("the HPA controller was unable to update the target scale: {err}"),
                    now,
                );
                status.conditions = Some(conditions);
                status.current_metrics = metric_statuses;
                hpa.status = Some(status);
                return Err(format!("failed to rescale {reference_text}: {err}"));
            }
            set_condition(
                &mut conditions,
                "AbleToScale",
                true,
                "SucceededRescale",
                &format!("the HPA controller was able to update the target scale to {desired}"),
                now,
            );
            self.recorder.event(
                &original,
                EventType::Normal,
                "SuccessfulRescale",
                &format!("New size: {desired}; reason: {reason}"),
            );
            tracing::info!(hpa = %key, current, desired, reason, "Successful rescale");
            let (up, down) = self.rules(spec.behavior.as_ref());
            if spec.behavior.is_some() {
                self.with_history(key, |h| {
                    h.record_scale(Instant::now(), current, desired, &up, &down)
                });
            }
            status.last_scale_time = Some(Time(now));
        }
        status.current_replicas = Some(current);
        status.desired_replicas = desired;
        status.current_metrics = metric_statuses;
        status.conditions = Some(conditions);
        status.observed_generation = hpa.metadata.generation;
        hpa.status = Some(status);
        Ok(())
    }

    fn rules(&self, behavior: Option<&HorizontalPodAutoscalerBehavior>) -> (Rules, Rules) {
        let up = Rules::from_spec(
            behavior.and_then(|b| b.scale_up.as_ref()),
            Rules::default_up(),
        );
        let down = Rules::from_spec(
            behavior.and_then(|b| b.scale_down.as_ref()),
            Rules::default_down(self.config.downscale_stabilization),
        );
        (up, down)
    }

    fn with_history<T>(
        &self,
        key: &ObjectKey,
        f: impl FnOnce(&mut super::normalize::History) -> T,
    ) -> T {
        let mut all = self.history.lock().unwrap_or_else(|e| e.into_inner());
        f(all.entry(key.clone()).or_default())
    }

    fn normalize(
        &self,
        key: &ObjectKey,
        behavior: Option<&HorizontalPodAutoscalerBehavior>,
        current: i32,
        proposal: i32,
        min: i32,
        max: i32,
    ) -> Normalized {
        let now = Instant::now();
        if behavior.is_none() {
            let window = self.config.downscale_stabilization;
            return self.with_history(key, |h| {
                h.normalize(now, window, current, proposal, min, max)
            });
        }
        let (up, down) = self.rules(behavior);
        self.with_history(key, |h| {
            h.normalize_with_behavior(now, &up, &down, current, proposal, min, max)
        })
    }

    /// Evaluates every metric (upstream `computeReplicasForMetrics`): the
    /// largest proposal wins; the sync fails when every metric failed, or
    /// some did and the others would scale down (a failed metric might
    /// have wanted more).
    async fn compute_metrics(
        &self,
        hpa: &HorizontalPodAutoscaler,
        namespace: &str,
        current: i32,
        selector: &str,
        conditions: &mut Vec<k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscalerCondition>,
        now: Timestamp,
    ) -> Result<(i32, String, Vec<MetricStatus>), (Vec<MetricStatus>, String)> {
        let specs = match hpa.spec.as_ref().and_then(|s| s.metrics.as_deref()) {
            Some(m) if !m.is_empty() => m.to_vec(),
            // The v2 default: 80% average CPU utilization.
            _ => vec![default_metric()],
        };
        if selector.is_empty() {
            let msg = "selector is required";
            self.recorder
                .event(hpa, EventType::Warning, "SelectorRequired", msg);
            set_condition(
                conditions,
                "ScalingActive",
                false,
                "InvalidSelector",
                "the HPA target's scale is missing a selector",
                now,
            );
            return Err((Vec::new(), msg.to_string()));
        }
        let parsed = match corten_apimachinery::labels::Selector::parse(selector) {
            Ok(s) => s,
            Err(err) => {
                let msg = format!(
                    "couldn't convert selector into a corresponding internal selector object: {}",
                    err.0
                );
                self.recorder
                    .event(hpa, EventType::Warning, "InvalidSelector", &msg);
                set_condition(
                    conditions,
                    "ScalingActive",
                    false,
                    "InvalidSelector",
                    &format!("the HPA target's scale has an invalid selector: {}", err.0),
                    now,
                );
                return Err((Vec::new(), msg));
            }
        };
        let empty = Default::default();
        let pods: Vec<_> = self
            .pods
            .list_namespace(namespace)
            .into_iter()
            .filter(|p| parsed.matches(p.metadata.labels.as_ref().unwrap_or(&empty)))
            .collect();
        let mut statuses = Vec::new();
        let mut best: Option<(i32, String)> = None;
        let mut failures = 0;
        let mut first_failure: Option<MetricFailure> = None;
        for spec in &specs {
            match self
                .resource_metric(spec, namespace, current, selector, &pods)
                .await
            {
                Ok(p) => {
                    statuses.push(p.status);
                    if best.as_ref().is_none_or(|(r, _)| p.replicas > *r) {
                        best = Some((p.replicas, p.name));
                    }
                }
                Err(f) => {
                    self.recorder
                        .event(hpa, EventType::Warning, f.reason, &f.error);
                    statuses.push(f.status.clone());
                    failures += 1;
                    if first_failure.is_none() {
                        first_failure = Some(f);
                    }
                }
            }
        }
        let proposal = best.as_ref().map(|(r, _)| *r).unwrap_or(-1);
        if let Some(f) = first_failure
            && (failures >= specs.len() || proposal < current)
        {
            set_condition(
                conditions,
                "ScalingActive",
                false,
                f.reason,
                &format!(
                    "the HPA was unable to compute the replica count: {}",
                    f.error
                ),
                now,
            );
            return Err((
                statuses,
                format!(
                    "invalid metrics ({failures} invalid out of {}), first error is: {}",
                    specs.len(),
                    f.error
                ),
            ));
        }
        let (replicas, name) = best.expect("at least one metric succeeded");
        Ok((replicas, name, statuses))
    }

    /// One metric's proposal (only `Resource` metrics are supported).
    async fn resource_metric(
        &self,
        spec: &MetricSpec,
        namespace: &str,
        current: i32,
        selector: &str,
        pods: &[std::sync::Arc<Pod>],
    ) -> Result<MetricProposal, MetricFailure> {
        let Some(source) = spec.resource.as_ref().filter(|_| spec.type_ == "Resource") else {
            return Err(MetricFailure {
                reason: "InvalidMetricSourceType",
                error: format!(
                    "metric source type {:?} is not supported by Corten yet (only \"Resource\")",
                    spec.type_
                ),
                status: empty_status(&spec.type_),
            });
        };
        let resource = source.name.as_str();
        let failure = |error: String| MetricFailure {
            reason: "FailedGetResourceMetric",
            error,
            status: empty_status("Resource"),
        };
        let target = match (
            source.target.type_.as_str(),
            source.target.average_utilization,
            source.target.average_value.as_ref(),
        ) {
            ("Utilization", Some(u), _) => Target::Utilization(u),
            ("AverageValue", _, Some(v)) => {
                let q = corten_apimachinery::quantity::Quantity::parse(&v.0)
                    .map_err(|_| failure(format!("invalid average value {:?}", v.0)))?;
                Target::AverageValue(q.milli_value())
            }
            _ => {
                return Err(failure(format!(
                    "invalid resource metric source: neither a utilization target nor a value target was set for {resource}"
                )));
            }
        };
        let kind = match target {
            Target::Utilization(_) => "utilization",
            Target::AverageValue(_) => "usage",
        };
        let metrics = target::pod_metrics(&self.client, namespace, selector)
            .await
            .map_err(|e| {
                failure(format!(
                    "failed to get {resource} {kind}: unable to get metrics for resource {resource}: unable to fetch metrics from resource metrics API: {}",
                    api_errors::message(&e)
                ))
            })?;
        if metrics.items.is_empty() {
            return Err(failure(format!(
                "failed to get {resource} {kind}: unable to get metrics for resource {resource}: no metrics returned from resource metrics API"
            )));
        }
        let samples: Vec<PodSample> = pods
            .iter()
            .map(|pod| {
                let name = pod.name_any();
                let usage = metrics
                    .items
                    .iter()
                    .find(|m| m.metadata.name.as_deref() == Some(name.as_str()))
                    .and_then(|m| usage_milli(m, resource));
                sample(pod, resource, usage)
            })
            .collect();
        let proposal =
            resource_replicas(current, &samples, resource, target, self.config.tolerance)
                .map_err(|e| failure(format!("failed to get {resource} {kind}: {e}")))?;
        let name = match target {
            Target::Utilization(_) => {
                format!("{resource} resource utilization (percentage of request)")
            }
            Target::AverageValue(_) => format!("{resource} resource"),
        };
        Ok(MetricProposal {
            replicas: proposal.replicas,
            name,
            status: resource_status(resource, proposal.utilization, proposal.average_milli),
        })
    }
}

fn default_metric() -> MetricSpec {
    use k8s_openapi::api::autoscaling::v2::{MetricTarget, ResourceMetricSource};
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

/// What the replica calculation needs to know about `pod`.
fn sample(pod: &Pod, resource: &str, usage_milli: Option<i64>) -> PodSample {
    let phase = pod_readiness::phase(pod);
    let ignored = pod.metadata.deletion_timestamp.is_some() || phase == "Failed";
    // Upstream also waits out a CPU initialization period after start;
    // here a cpu sample counts once the pod is Ready.
    let unready = phase == "Pending" || (resource == "cpu" && !pod_readiness::is_ready(pod));
    let mut request: Result<i64, String> = Ok(0);
    for container in pod.spec.iter().flat_map(|s| s.containers.iter()) {
        let value = container
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get(resource))
            .and_then(|q| corten_apimachinery::quantity::Quantity::parse(&q.0).ok());
        match (value, &mut request) {
            (Some(v), Ok(total)) => *total = total.saturating_add(v.milli_value()),
            (None, Ok(_)) => request = Err(container.name.clone()),
            _ => {}
        }
    }
    PodSample {
        name: pod.name_any(),
        ignored,
        unready,
        request_milli: request,
        usage_milli,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn samples_read_requests_and_readiness() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [
                {"name": "a", "resources": {"requests": {"cpu": "200m"}}},
                {"name": "b", "resources": {"requests": {"cpu": "300m"}}},
            ]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        }));
        let s = sample(&p, "cpu", Some(100));
        assert_eq!(s.request_milli, Ok(500));
        assert!(!s.unready && !s.ignored);
        assert_eq!(sample(&p, "memory", None).request_milli, Err("a".into()));
        let p = pod(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}
        }));
        assert!(sample(&p, "cpu", None).unready);
        assert!(!sample(&p, "memory", None).unready);
        let p = pod(serde_json::json!({
            "metadata": {"name": "p"}, "spec": {"containers": []}, "status": {"phase": "Failed"}
        }));
        assert!(sample(&p, "cpu", None).ignored);
    }
}
