//! The resource allocation scorers shared by NodeResourcesFit and
//! NodeResourcesBalancedAllocation (upstream `resourceAllocationScorer`).

use crate::config::args::ResourceSpec;
use crate::framework::resource::{CPU, EPHEMERAL_STORAGE, MEMORY, is_scalar_resource_name};
use crate::framework::{MAX_NODE_SCORE, NodeInfo, PodInfo};

/// `MaxCustomPriorityScore`: shape scores are 0..10.
const MAX_CUSTOM_PRIORITY_SCORE: i64 = 10;
/// Utilization is a percentage.
const MAX_UTILIZATION: i64 = 100;

/// How requested/allocatable pairs become a score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    /// Favor emptier nodes.
    LeastAllocated,
    /// Favor fuller nodes (bin packing).
    MostAllocated,
    /// A broken-linear function of utilization: (utilization, score 0..100).
    RequestedToCapacityRatio(Vec<(i64, i64)>),
    /// Favor nodes whose resource fractions are close to each other.
    Balanced,
}

/// A resource name resolved once (string comparisons are too slow for
/// the per-node hot path).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Cpu,
    Memory,
    EphemeralStorage,
    Scalar(String),
    Other,
}

impl Kind {
    fn of(name: &str) -> Self {
        match name {
            CPU => Kind::Cpu,
            MEMORY => Kind::Memory,
            EPHEMERAL_STORAGE => Kind::EphemeralStorage,
            _ if is_scalar_resource_name(name) => Kind::Scalar(name.to_string()),
            _ => Kind::Other,
        }
    }
}

/// A scorer over a list of weighted resources.
#[derive(Debug, Clone)]
pub struct AllocationScorer {
    /// Resources and weights.
    pub resources: Vec<ResourceSpec>,
    kinds: Vec<Kind>,
    /// Count actual requests (true) or requests with the 100m/200Mi
    /// defaults for containers that have none (false).
    pub use_requested: bool,
    /// The function.
    pub strategy: Strategy,
}

impl AllocationScorer {
    /// A scorer of `resources` with `strategy`.
    pub fn new(resources: Vec<ResourceSpec>, use_requested: bool, strategy: Strategy) -> Self {
        let kinds = resources.iter().map(|r| Kind::of(&r.name)).collect();
        AllocationScorer {
            resources,
            kinds,
            use_requested,
            strategy,
        }
    }

    /// A RequestedToCapacityRatio strategy from configuration points
    /// (scores 0..10 are scaled to 0..100).
    pub fn ratio_strategy(shape: &[(i64, i64)]) -> Strategy {
        Strategy::RequestedToCapacityRatio(
            shape
                .iter()
                .map(|(u, s)| (*u, s * (MAX_NODE_SCORE / MAX_CUSTOM_PRIORITY_SCORE)))
                .collect(),
        )
    }

    /// The pod's request of each configured resource.
    pub fn pod_requests(&self, pod: &PodInfo) -> Vec<i64> {
        self.resources
            .iter()
            .map(|r| match r.name.as_str() {
                CPU if !self.use_requested => pod.non_zero_milli_cpu,
                MEMORY if !self.use_requested => pod.non_zero_memory,
                name => pod.requests.get(name),
            })
            .collect()
    }

    fn allocatable_and_requested(
        &self,
        node: &NodeInfo,
        kind: &Kind,
        pod_request: i64,
    ) -> (i64, i64) {
        let requested = if self.use_requested {
            &node.requested
        } else {
            &node.non_zero_requested
        };
        match kind {
            Kind::Cpu => (
                node.allocatable.milli_cpu,
                requested.milli_cpu + pod_request,
            ),
            Kind::Memory => (node.allocatable.memory, requested.memory + pod_request),
            Kind::EphemeralStorage => (
                node.allocatable.ephemeral_storage,
                node.requested.ephemeral_storage + pod_request,
            ),
            // A scalar resource the pod does not request is not scored.
            Kind::Scalar(_) if pod_request == 0 => (0, 0),
            Kind::Scalar(name) if node.allocatable.has_scalar(name) => (
                node.allocatable.scalar(name),
                node.requested.scalar(name) + pod_request,
            ),
            Kind::Scalar(_) | Kind::Other => (0, 0),
        }
    }

    /// The node's score for a pod requesting `pod_requests` (from
    /// [`AllocationScorer::pod_requests`]). Allocation-free for up to
    /// eight resources (the hot path: it runs for every feasible node).
    pub fn score(&self, node: &NodeInfo, pod_requests: &[i64]) -> i64 {
        let mut inline = [(0i64, 0i64, 0i64); 8];
        let mut spill: Vec<(i64, i64, i64)> = Vec::new();
        let mut n = 0;
        for ((r, kind), pod_request) in self.resources.iter().zip(&self.kinds).zip(pod_requests) {
            let (allocatable, requested) = self.allocatable_and_requested(node, kind, *pod_request);
            if allocatable == 0 {
                continue;
            }
            if n < inline.len() {
                inline[n] = (requested, allocatable, r.weight);
            } else {
                if spill.is_empty() {
                    spill.extend_from_slice(&inline);
                }
                spill.push((requested, allocatable, r.weight));
            }
            n += 1;
        }
        let pairs: &[(i64, i64, i64)] = if spill.is_empty() {
            &inline[..n]
        } else {
            &spill
        };
        match &self.strategy {
            Strategy::LeastAllocated => weighted(pairs, least_requested_score),
            Strategy::MostAllocated => weighted(pairs, most_requested_score),
            Strategy::RequestedToCapacityRatio(shape) => ratio_score(pairs, shape),
            Strategy::Balanced => balanced_score(pairs),
        }
    }
}

fn weighted(pairs: &[(i64, i64, i64)], f: fn(i64, i64) -> i64) -> i64 {
    let (mut score, mut weights) = (0i64, 0i64);
    for &(requested, allocatable, weight) in pairs {
        score += f(requested, allocatable) * weight;
        weights += weight;
    }
    if weights == 0 { 0 } else { score / weights }
}

fn least_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

fn most_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 {
        return 0;
    }
    // Requests may exceed capacity because pods without requests count
    // with defaults.
    requested.min(capacity) * MAX_NODE_SCORE / capacity
}

/// Upstream `BuildBrokenLinearFunction`.
fn broken_linear(shape: &[(i64, i64)], p: i64) -> i64 {
    for (i, &(utilization, score)) in shape.iter().enumerate() {
        if p <= utilization {
            if i == 0 {
                return score;
            }
            let (pu, ps) = shape[i - 1];
            return ps + (score - ps) * (p - pu) / (utilization - pu);
        }
    }
    shape.last().map_or(0, |(_, s)| *s)
}

fn ratio_score(pairs: &[(i64, i64, i64)], shape: &[(i64, i64)]) -> i64 {
    let (mut score, mut weights) = (0i64, 0i64);
    for &(requested, capacity, weight) in pairs {
        let resource_score = if capacity == 0 || requested > capacity {
            broken_linear(shape, MAX_UTILIZATION)
        } else {
            broken_linear(shape, requested * MAX_UTILIZATION / capacity)
        };
        if resource_score > 0 {
            score += resource_score * weight;
            weights += weight;
        }
    }
    if weights == 0 {
        0
    } else {
        (score as f64 / weights as f64).round() as i64
    }
}

fn balanced_score(pairs: &[(i64, i64, i64)]) -> i64 {
    let fraction =
        |&(requested, capacity, _): &(i64, i64, i64)| (requested as f64 / capacity as f64).min(1.0);
    let std = match pairs {
        [] | [_] => 0.0,
        [a, b] => ((fraction(a) - fraction(b)) / 2.0).abs(),
        _ => {
            let n = pairs.len() as f64;
            let mean = pairs.iter().map(fraction).sum::<f64>() / n;
            (pairs
                .iter()
                .map(|p| (fraction(p) - mean) * (fraction(p) - mean))
                .sum::<f64>()
                / n)
                .sqrt()
        }
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_and_most_requested_match_upstream() {
        // Upstream least_allocated_test: 3000m/5000 allocatable cpu, 5000/10000 memory.
        assert_eq!(
            weighted(&[(3000, 4000, 1), (5000, 10000, 1)], least_requested_score),
            (25 + 50) / 2
        );
        assert_eq!(
            weighted(&[(3000, 4000, 1), (5000, 10000, 1)], most_requested_score),
            (75 + 50) / 2
        );
        assert_eq!(least_requested_score(5, 4), 0);
        assert_eq!(most_requested_score(5, 4), 100);
        assert_eq!(weighted(&[], least_requested_score), 0);
    }

    #[test]
    fn broken_linear_interpolates() {
        let shape = [(0, 0), (50, 50), (100, 100)];
        assert_eq!(broken_linear(&shape, 25), 25);
        assert_eq!(broken_linear(&shape, 75), 75);
        assert_eq!(broken_linear(&[(10, 30), (20, 40)], 5), 30);
        assert_eq!(broken_linear(&[(10, 30), (20, 40)], 50), 40);
        let strategy = AllocationScorer::ratio_strategy(&[(0, 10), (100, 0)]);
        let Strategy::RequestedToCapacityRatio(points) = strategy else {
            unreachable!()
        };
        assert_eq!(points, [(0, 100), (100, 0)]);
        // Upstream requested_to_capacity_ratio_test: shape (0,10),(100,0) -> least-allocated-like.
        assert_eq!(
            ratio_score(&[(3000, 10000, 1), (5000, 10000, 1)], &points),
            60
        );
    }

    #[test]
    fn balanced_score_is_one_minus_std() {
        // cpu 3000/4000 = 0.75, memory 5000/10000 = 0.5 -> std 0.125 -> 87
        assert_eq!(balanced_score(&[(3000, 4000, 1), (5000, 10000, 1)]), 87);
        assert_eq!(balanced_score(&[(1, 2, 1), (5, 10, 1)]), 100);
        assert_eq!(balanced_score(&[(5, 4, 1), (0, 10, 1)]), 50);
    }
}
