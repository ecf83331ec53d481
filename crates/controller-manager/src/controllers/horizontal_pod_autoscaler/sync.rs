//! One sync of one HPA (upstream `reconcileAutoscaler`).

use std::time::Instant;

use k8s_openapi::api::autoscaling::v2::{
    HorizontalPodAutoscaler, HorizontalPodAutoscalerBehavior, MetricStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;

use super::HpaReconciler;
use super::compute::{MetricContext, MetricFailure, default_metric};
use super::metrics::{self, Failure};
use super::normalize::{Normalized, Rules};
use super::status::set_condition;
use super::target;
use crate::framework::api_errors;
use crate::framework::events::EventType;
use crate::framework::key::ObjectKey;
use crate::framework::worker::{Action, Reconciler};

/// A failed sync: how to label it, what to log.
type SyncFailure = (Failure, String);

/// Why a sync must be retried soon (other failures are reported in the
/// HPA's status and events and retried at the next period, as upstream).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Writing the status failed.
    #[error("failed to update status for {0}: {1}")]
    Status(String, String),
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
        let started = Instant::now();
        let (action, failure) = match self.sync(key, &namespace, &mut updated).await {
            Ok(action) => (action, Failure::None),
            Err((failure, err)) => {
                tracing::info!(hpa = %key, error = %err, "Failed to sync HPA");
                (metrics::Action::None, failure)
            }
        };
        metrics::metrics().reconciled(action, failure, started.elapsed());
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
    ) -> Result<metrics::Action, SyncFailure> {
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
                return Err((
                    Failure::Internal,
                    format!("failed to query scale subresource for {reference_text}: {err}"),
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
        let status_replicas = scale.status.as_ref().map(|s| s.replicas).unwrap_or(0);
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
                .compute_metrics(
                    hpa,
                    namespace,
                    (current, status_replicas),
                    &selector,
                    &mut conditions,
                    now,
                )
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
                Err((statuses, err, failure)) => {
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
                    return Err((
                        failure,
                        format!(
                            "failed to compute desired number of replicas based on listed metrics for {reference_text}: {err}"
                        ),
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
                return Err((
                    Failure::Internal,
                    format!("failed to rescale {reference_text}: {err}"),
                ));
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
        Ok(metrics::Action::of(current, desired))
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
        (current, status_replicas): (i32, i32),
        selector: &str,
        conditions: &mut Vec<k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscalerCondition>,
        now: Timestamp,
    ) -> Result<(i32, String, Vec<MetricStatus>), (Vec<MetricStatus>, String, Failure)> {
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
            return Err((Vec::new(), msg.to_string(), Failure::Spec));
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
                return Err((Vec::new(), msg, Failure::Spec));
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
        let cx = MetricContext {
            namespace,
            current,
            status_replicas,
            selector,
            pods: &pods,
            now,
        };
        let last_current = hpa
            .status
            .as_ref()
            .and_then(|s| s.current_replicas)
            .unwrap_or(0);
        for spec in &specs {
            let started = Instant::now();
            let outcome = self.compute_metric(spec, &cx).await;
            // Upstream compares the proposal with the replicas the status
            // last recorded.
            let (action, failure) = match &outcome {
                Ok(p) => (metrics::Action::of(last_current, p.replicas), Failure::None),
                Err(f) if f.spec_error => (metrics::Action::None, Failure::Spec),
                Err(_) => (metrics::Action::None, Failure::Internal),
            };
            metrics::metrics().computed(action, failure, &spec.type_, started.elapsed());
            match outcome {
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
            let failure = if f.spec_error {
                Failure::Spec
            } else {
                Failure::Internal
            };
            return Err((
                statuses,
                format!(
                    "invalid metrics ({failures} invalid out of {}), first error is: {}",
                    specs.len(),
                    f.outer
                ),
                failure,
            ));
        }
        let (replicas, name) = best.expect("at least one metric succeeded");
        Ok((replicas, name, statuses))
    }
}
