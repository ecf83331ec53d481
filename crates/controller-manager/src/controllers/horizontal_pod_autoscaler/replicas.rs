//! The replica count one resource metric asks for (upstream
//! `ReplicaCalculator.GetResourceReplicas` / `GetRawResourceReplicas`),
//! as pure arithmetic over the pods' state so it can be tested in tables.
//!
//! Pods are grouped first: pods being deleted or `Failed` are ignored;
//! pods without a sample are *missing*; for `cpu`, pods that are not Ready
//! (or still `Pending`) are *unready* and their samples are dropped, since
//! a starting container's CPU says nothing about steady load. The usage
//! ratio of the remaining pods decides, with the tolerance around 1.0.
//! When pods are missing or unready the ratio is recomputed
//! conservatively: on a scale-down missing pods count as using 100% of
//! their request (or the target, when that is higher), on a scale-up
//! missing and unready pods count as using nothing; a recomputed ratio that
//! flips direction or falls within the tolerance keeps the current count.

use std::collections::BTreeMap;

/// What the calculation knows about one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSample {
    /// The pod's name (a key for the maps below).
    pub name: String,
    /// Being deleted, or `Failed`: not counted at all.
    pub ignored: bool,
    /// `Pending`, or (for cpu, with a sample) not Ready or still starting
    /// up: its sample is not trusted.
    pub unready: bool,
    /// Summed request of the pod's containers in milli-units, or the name
    /// of a container without a request for the resource.
    pub request_milli: Result<i64, String>,
    /// Summed usage from the metrics API in milli-units; `None`: no sample.
    pub usage_milli: Option<i64>,
}

/// What a resource metric target asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `target.averageUtilization`: percent of the pods' requests.
    Utilization(i32),
    /// `target.averageValue` in milli-units per pod.
    AverageValue(i64),
}

/// The outcome for one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proposal {
    /// Replicas the metric asks for.
    pub replicas: i32,
    /// Percent of request the ready pods use (Utilization targets only).
    pub utilization: Option<i32>,
    /// Average usage per pod with a sample, in milli-units.
    pub average_milli: i64,
}

/// Why no proposal could be computed (the messages are upstream's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalcError {
    /// The Scale's selector matched no pods.
    #[error("no pods returned by selector while calculating replica count")]
    NoPods,
    /// A container of a pod with a sample has no request.
    #[error("missing request for {resource} in container {container} of Pod {pod}")]
    MissingRequest {
        /// `cpu` or `memory`.
        resource: String,
        /// The container without a request.
        container: String,
        /// The pod.
        pod: String,
    },
    /// No usable sample at all.
    #[error("did not receive metrics for targeted pods (pods might be unready)")]
    NoMetrics,
}

/// Computes the replicas `resource` with `target` asks for, starting from
/// `current` replicas, within `tolerance` (0.1 by default).
pub fn resource_replicas(
    current: i32,
    pods: &[PodSample],
    resource: &str,
    target: Target,
    tolerance: f64,
) -> Result<Proposal, CalcError> {
    if pods.is_empty() {
        return Err(CalcError::NoPods);
    }
    let mut metrics: BTreeMap<&str, i64> = BTreeMap::new();
    let mut requests: BTreeMap<&str, i64> = BTreeMap::new();
    let mut missing = Vec::new();
    let mut unready = Vec::new();
    for pod in pods.iter().filter(|p| !p.ignored) {
        if let Target::Utilization(_) = target {
            let request =
                pod.request_milli
                    .clone()
                    .map_err(|container| CalcError::MissingRequest {
                        resource: resource.to_string(),
                        container,
                        pod: pod.name.clone(),
                    })?;
            requests.insert(&pod.name, request);
        }
        // Pending pods are set aside even without a sample (upstream
        // checks the phase before looking for metrics).
        match pod.usage_milli {
            _ if pod.unready => unready.push(pod.name.as_str()),
            None => missing.push(pod.name.as_str()),
            Some(usage) => {
                metrics.insert(&pod.name, usage);
            }
        }
    }
    if metrics.is_empty() {
        return Err(CalcError::NoMetrics);
    }
    let (ratio, utilization, average) = usage_ratio(&metrics, &requests, target);
    let within = |r: f64| (1.0 - r).abs() <= tolerance;
    let proposal = |replicas| Proposal {
        replicas,
        utilization,
        average_milli: average,
    };
    let scale_up_with_unready = !unready.is_empty() && ratio > 1.0;
    if !scale_up_with_unready && missing.is_empty() {
        if within(ratio) {
            return Ok(proposal(current));
        }
        return Ok(proposal(ceil_replicas(ratio, metrics.len())));
    }
    // Fill in the pods we could not trust, in the direction that damps
    // the change.
    if ratio < 1.0 {
        for name in &missing {
            let assumed = match target {
                Target::Utilization(t) => {
                    requests.get(name).copied().unwrap_or(0) * i64::from(t.max(100)) / 100
                }
                Target::AverageValue(v) => v,
            };
            metrics.insert(name, assumed);
        }
    } else if ratio > 1.0 {
        for name in &missing {
            metrics.insert(name, 0);
        }
    }
    if scale_up_with_unready {
        for name in &unready {
            metrics.insert(name, 0);
        }
    }
    let (new_ratio, _, _) = usage_ratio(&metrics, &requests, target);
    if within(new_ratio) || (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0) {
        return Ok(proposal(current));
    }
    let replicas = ceil_replicas(new_ratio, metrics.len());
    if (new_ratio < 1.0 && replicas > current) || (new_ratio > 1.0 && replicas < current) {
        return Ok(proposal(current));
    }
    Ok(proposal(replicas))
}

/// Replicas for a metric whose usage ratio is known (upstream
/// `getUsageRatioReplicaCount`, used by `Object` and `External` metrics
/// with a `Value` target): the ratio times the Running and Ready pods,
/// unless within the tolerance.
pub fn usage_ratio_replicas(current: i32, ratio: f64, ready_pods: usize, tolerance: f64) -> i32 {
    if current == 0 {
        // Scale from zero (HPAScaleToZero): no pods to count.
        return ceil_replicas(ratio, 1);
    }
    if (1.0 - ratio).abs() <= tolerance {
        return current;
    }
    ceil_replicas(ratio, ready_pods)
}

/// Replicas for a total that should be `target_milli` per pod (upstream
/// `GetObjectPerPodMetricReplicas` / `GetExternalPerPodMetricReplicas`),
/// starting from the Scale's `status.replicas`; also the average per pod
/// reported in the status.
pub fn per_pod_replicas(
    status_replicas: i32,
    total_milli: i64,
    target_milli: i64,
    tolerance: f64,
) -> (i32, i64) {
    let target = target_milli.max(1) as f64;
    let mut replicas = status_replicas;
    let ratio = total_milli as f64 / (target * f64::from(status_replicas));
    if (1.0 - ratio).abs() > tolerance {
        replicas = ceil_replicas(total_milli as f64 / target, 1);
    }
    let average = if status_replicas > 0 {
        (total_milli as f64 / f64::from(status_replicas)).ceil() as i64
    } else {
        total_milli
    };
    (replicas, average)
}

fn ceil_replicas(ratio: f64, pods: usize) -> i32 {
    let wanted = (ratio * pods as f64).ceil();
    if wanted >= f64::from(i32::MAX) {
        i32::MAX
    } else {
        wanted as i32
    }
}

/// `(ratio, utilization percent, average milli per pod)` over `metrics`.
/// Utilization is truncated to a whole percent before the ratio, as
/// upstream's `GetResourceUtilizationRatio` does.
fn usage_ratio(
    metrics: &BTreeMap<&str, i64>,
    requests: &BTreeMap<&str, i64>,
    target: Target,
) -> (f64, Option<i32>, i64) {
    let total: i64 = metrics.values().sum();
    let average = total / metrics.len().max(1) as i64;
    match target {
        Target::Utilization(t) => {
            let requested: i64 = metrics.keys().filter_map(|name| requests.get(name)).sum();
            let utilization = if requested > 0 {
                i32::try_from(total.saturating_mul(100) / requested).unwrap_or(i32::MAX)
            } else {
                0
            };
            let ratio = f64::from(utilization) / f64::from(t.max(1));
            (ratio, Some(utilization), average)
        }
        Target::AverageValue(v) => (average as f64 / v.max(1) as f64, None, average),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, request: i64, usage: Option<i64>) -> PodSample {
        PodSample {
            name: name.into(),
            ignored: false,
            unready: false,
            request_milli: Ok(request),
            usage_milli: usage,
        }
    }

    fn unready(mut p: PodSample) -> PodSample {
        p.unready = true;
        p
    }

    fn replicas(current: i32, pods: &[PodSample], target: Target) -> i32 {
        resource_replicas(current, pods, "cpu", target, 0.1)
            .unwrap()
            .replicas
    }

    #[test]
    fn scales_by_the_usage_ratio() {
        // (current, usages of 1000m-request pods, target %, expected)
        let table: &[(i32, &[i64], i32, i32)] = &[
            (1, &[1000], 50, 2),
            (3, &[900, 900, 900], 50, 6),
            (3, &[100, 100, 100], 50, 1),
            (2, &[500, 500], 50, 2),
            // 54% against 50%: within the 10% tolerance.
            (2, &[540, 540], 50, 2),
            // 56%: outside it.
            (2, &[560, 560], 50, 3),
            (4, &[0, 0, 0, 0], 80, 0),
        ];
        for (current, usages, target, want) in table {
            let pods: Vec<_> = usages
                .iter()
                .enumerate()
                .map(|(i, u)| pod(&format!("p{i}"), 1000, Some(*u)))
                .collect();
            assert_eq!(
                replicas(*current, &pods, Target::Utilization(*target)),
                *want,
                "{usages:?} at {target}%"
            );
        }
    }

    #[test]
    fn reports_utilization_and_average() {
        let pods = [pod("a", 500, Some(300)), pod("b", 500, Some(200))];
        let p = resource_replicas(2, &pods, "cpu", Target::Utilization(50), 0.1).unwrap();
        assert_eq!(p.utilization, Some(50));
        assert_eq!(p.average_milli, 250);
        assert_eq!(p.replicas, 2);
    }

    #[test]
    fn tolerance_is_configurable() {
        let pods = [pod("a", 1000, Some(700))];
        let p = resource_replicas(1, &pods, "cpu", Target::Utilization(50), 0.5).unwrap();
        assert_eq!(p.replicas, 1, "40% over target is within a 0.5 tolerance");
        let p = resource_replicas(1, &pods, "cpu", Target::Utilization(50), 0.1).unwrap();
        assert_eq!(p.replicas, 2);
    }

    #[test]
    fn missing_metrics_damp_scale_down() {
        // Two pods at 10% of a 50% target, one without metrics: counted at
        // 100%, the ratio becomes 40% / 50% = 0.8, ceil(0.8 * 3) = 3.
        let pods = [
            pod("a", 1000, Some(100)),
            pod("b", 1000, Some(100)),
            pod("c", 1000, None),
        ];
        assert_eq!(replicas(3, &pods, Target::Utilization(50)), 3);
        // At a 90% target: 40% / 90% = 0.44, ceil(0.44 * 3) = 2.
        assert_eq!(replicas(3, &pods, Target::Utilization(90)), 2);
    }

    #[test]
    fn missing_metrics_damp_scale_up() {
        // One pod at 200% of request against 50%, one missing (counted as
        // 0%): 100% → ratio 2, 4 replicas instead of the 8 the lone
        // sample would ask for with 2 pods.
        let pods = [pod("a", 1000, Some(2000)), pod("b", 1000, None)];
        assert_eq!(replicas(2, &pods, Target::Utilization(50)), 4);
        // 60% alone, with the missing pod at 0% → 30%: direction flips,
        // keep the current count.
        let pods = [pod("a", 1000, Some(600)), pod("b", 1000, None)];
        assert_eq!(replicas(2, &pods, Target::Utilization(50)), 2);
    }

    #[test]
    fn unready_pods_count_as_idle_on_scale_up() {
        let pods = [
            pod("a", 1000, Some(1000)),
            unready(pod("b", 1000, Some(1000))),
        ];
        // Ready pod at 100% of a 50% target: ratio 2; with the unready one
        // at 0% the ratio is 1.0: no change.
        assert_eq!(replicas(2, &pods, Target::Utilization(50)), 2);
        // Unready pods are left out on scale-down.
        let pods = [
            pod("a", 1000, Some(100)),
            unready(pod("b", 1000, Some(5000))),
        ];
        assert_eq!(replicas(2, &pods, Target::Utilization(50)), 1);
    }

    #[test]
    fn ignored_pods_do_not_count() {
        let mut gone = pod("b", 1000, Some(5000));
        gone.ignored = true;
        let pods = [pod("a", 1000, Some(1000)), gone];
        assert_eq!(replicas(1, &pods, Target::Utilization(50)), 2);
    }

    #[test]
    fn average_value_targets() {
        let pods = [pod("a", 0, Some(300)), pod("b", 0, Some(300))];
        assert_eq!(replicas(2, &pods, Target::AverageValue(100)), 6);
        assert_eq!(replicas(2, &pods, Target::AverageValue(290)), 2);
        let p = resource_replicas(2, &pods, "memory", Target::AverageValue(100), 0.1).unwrap();
        assert_eq!((p.utilization, p.average_milli), (None, 300));
    }

    #[test]
    fn pending_pods_without_samples_are_not_missing() {
        // A Pending pod without a sample is set aside, not counted at
        // 100% on a scale-down.
        let mut pending = pod("b", 1000, None);
        pending.unready = true;
        let pods = [pod("a", 1000, Some(100)), pending];
        assert_eq!(replicas(2, &pods, Target::Utilization(50)), 1);
    }

    #[test]
    fn usage_ratio_targets() {
        // (current, ratio, ready pods, expected)
        let table = [
            (2, 1.05, 2, 2),
            (2, 2.0, 2, 4),
            (4, 0.5, 3, 2),
            (0, 2.5, 0, 3),
        ];
        for (current, ratio, ready, want) in table {
            assert_eq!(usage_ratio_replicas(current, ratio, ready, 0.1), want);
        }
    }

    #[test]
    fn per_pod_targets() {
        // 10 (10000m) in total, 2 per pod wanted, 3 pods: 5 replicas.
        assert_eq!(per_pod_replicas(3, 10_000, 2_000, 0.1), (5, 3334));
        // 6.2 in total for 3 pods at 2 each: within the tolerance.
        assert_eq!(per_pod_replicas(3, 6_200, 2_000, 0.1), (3, 2067));
        assert_eq!(per_pod_replicas(0, 1_000, 500, 0.1), (2, 1_000));
    }

    #[test]
    fn errors() {
        assert_eq!(
            resource_replicas(1, &[], "cpu", Target::Utilization(50), 0.1),
            Err(CalcError::NoPods)
        );
        assert_eq!(
            resource_replicas(1, &[pod("a", 1, None)], "cpu", Target::Utilization(50), 0.1),
            Err(CalcError::NoMetrics)
        );
        let mut no_request = pod("a", 1, Some(1));
        no_request.request_milli = Err("app".into());
        let err =
            resource_replicas(1, &[no_request], "cpu", Target::Utilization(50), 0.1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing request for cpu in container app of Pod a"
        );
    }
}
