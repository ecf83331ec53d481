//! From the replicas the metrics ask for to the replicas the HPA sets:
//! stabilization over recent recommendations, rate limits, and min/max.
//!
//! Without `spec.behavior` (upstream `normalizeDesiredReplicas`): the
//! highest recommendation of the last `--horizontal-pod-autoscaler-
//! downscale-stabilization` (5 min) wins, so scale-downs wait for load to
//! stay low; scale-ups are limited to `max(2 * current, 4)`.
//!
//! With `spec.behavior` (upstream `normalizeDesiredReplicasWithBehaviors`):
//! each direction has a stabilization window (scale-up takes the lowest
//! recent recommendation, scale-down the highest) and policies that bound
//! how many replicas may be added or removed per period, measured against
//! the scale events this controller made within that period.

use std::time::{Duration, Instant};

use k8s_openapi::api::autoscaling::v2::HPAScalingRules;

/// `selectPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    /// The policy allowing the biggest change (default).
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// One `policies[]` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// At most `value` pods per `period`.
    Pods {
        /// Pods.
        value: i32,
        /// `periodSeconds`.
        period: Duration,
    },
    /// At most `value` percent of the replicas at the period's start.
    Percent {
        /// Percent.
        value: i32,
        /// `periodSeconds`.
        period: Duration,
    },
}

impl Policy {
    fn period(&self) -> Duration {
        match self {
            Policy::Pods { period, .. } | Policy::Percent { period, .. } => *period,
        }
    }
}

/// The scaling rules of one direction, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// `stabilizationWindowSeconds`.
    pub stabilization: Duration,
    /// `selectPolicy`.
    pub select: Select,
    /// `policies`.
    pub policies: Vec<Policy>,
}

impl Rules {
    /// Upstream's scale-up defaults: no window, the larger of 4 pods or
    /// 100% per 15 s.
    pub fn default_up() -> Self {
        Rules {
            stabilization: Duration::ZERO,
            select: Select::Max,
            policies: vec![
                Policy::Pods {
                    value: 4,
                    period: Duration::from_secs(15),
                },
                Policy::Percent {
                    value: 100,
                    period: Duration::from_secs(15),
                },
            ],
        }
    }

    /// Upstream's scale-down defaults: the controller's window, 100% per 15 s.
    pub fn default_down(window: Duration) -> Self {
        Rules {
            stabilization: window,
            select: Select::Max,
            policies: vec![Policy::Percent {
                value: 100,
                period: Duration::from_secs(15),
            }],
        }
    }

    /// `rules` over `defaults` (fields left out keep the default, as the
    /// apiserver's defaulting does).
    pub fn from_spec(rules: Option<&HPAScalingRules>, defaults: Rules) -> Self {
        let Some(rules) = rules else {
            return defaults;
        };
        let select = match rules.select_policy.as_deref() {
            Some("Min") => Select::Min,
            Some("Disabled") => Select::Disabled,
            Some("Max") => Select::Max,
            _ => defaults.select,
        };
        let policies = match &rules.policies {
            Some(p) if !p.is_empty() => p
                .iter()
                .filter_map(|p| {
                    let period = Duration::from_secs(u64::try_from(p.period_seconds).ok()?);
                    match p.type_.as_str() {
                        "Pods" => Some(Policy::Pods {
                            value: p.value,
                            period,
                        }),
                        "Percent" => Some(Policy::Percent {
                            value: p.value,
                            period,
                        }),
                        _ => None,
                    }
                })
                .collect(),
            _ => defaults.policies,
        };
        let stabilization = rules
            .stabilization_window_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .unwrap_or(defaults.stabilization);
        Rules {
            stabilization,
            select,
            policies,
        }
    }

    fn longest_period(&self) -> Duration {
        self.policies
            .iter()
            .map(Policy::period)
            .max()
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    replicas: i32,
}

/// What the controller remembers about one HPA between syncs (upstream
/// keeps the same in memory: recommendations and scale events).
#[derive(Debug, Clone, Default)]
pub struct History {
    recommendations: Vec<Sample>,
    scale_ups: Vec<Sample>,
    scale_downs: Vec<Sample>,
}

/// The normalized count and the condition reasons explaining it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// Replicas to set.
    pub replicas: i32,
    /// `AbleToScale` reason (`ReadyForNewScale`, `ScaleDownStabilized`, ...).
    pub able_reason: &'static str,
    /// Its message.
    pub able_message: &'static str,
    /// `ScalingLimited` status: whether a limit changed the count.
    pub limited: bool,
    /// `ScalingLimited` reason (`DesiredWithinRange`, `TooManyReplicas`, ...).
    pub limit_reason: &'static str,
    /// Its message.
    pub limit_message: &'static str,
}

const READY: (&str, &str) = ("ReadyForNewScale", "recommended size matches current size");
const UP_STABILIZED: (&str, &str) = (
    "ScaleUpStabilized",
    "recent recommendations were lower than current one, applying the lowest recent recommendation",
);
const DOWN_STABILIZED: (&str, &str) = (
    "ScaleDownStabilized",
    "recent recommendations were higher than current one, applying the highest recent recommendation",
);
const WITHIN: (&str, &str) = (
    "DesiredWithinRange",
    "the desired count is within the acceptable range",
);
const TOO_MANY: (&str, &str) = (
    "TooManyReplicas",
    "the desired replica count is more than the maximum replica count",
);
const TOO_FEW: (&str, &str) = (
    "TooFewReplicas",
    "the desired replica count is less than the minimum replica count",
);
const UP_LIMIT: (&str, &str) = (
    "ScaleUpLimit",
    "the desired replica count is increasing faster than the maximum scale rate",
);
const DOWN_LIMIT: (&str, &str) = (
    "ScaleDownLimit",
    "the desired replica count is decreasing faster than the maximum scale rate",
);

fn normalized(
    stabilized: i32,
    desired: i32,
    able: (&'static str, &'static str),
    limited: (i32, (&'static str, &'static str)),
) -> Normalized {
    let able = if stabilized != desired { able } else { READY };
    Normalized {
        replicas: limited.0,
        able_reason: able.0,
        able_message: able.1,
        limited: limited.0 != stabilized,
        limit_reason: limited.1.0,
        limit_message: limited.1.1,
    }
}

impl History {
    /// Without `behavior`: the highest recommendation within `window`,
    /// then min/max and the `max(2 * current, 4)` scale-up limit.
    pub fn normalize(
        &mut self,
        now: Instant,
        window: Duration,
        current: i32,
        desired: i32,
        min: i32,
        max: i32,
    ) -> Normalized {
        let cutoff = now.checked_sub(window);
        let mut stabilized = desired;
        let mut stale = None;
        for (i, rec) in self.recommendations.iter().enumerate() {
            if cutoff.is_some_and(|c| rec.at < c) {
                stale = Some(i);
            } else {
                stabilized = stabilized.max(rec.replicas);
            }
        }
        self.remember(stale, now, desired);
        let up_limit = current.saturating_mul(2).max(4);
        let (max_allowed, over) = if max > up_limit {
            (up_limit, UP_LIMIT)
        } else {
            (max, TOO_MANY)
        };
        let limited = if stabilized < min {
            (min, TOO_FEW)
        } else if stabilized > max_allowed {
            (max_allowed, over)
        } else {
            (stabilized, WITHIN)
        };
        normalized(stabilized, desired, DOWN_STABILIZED, limited)
    }

    /// With `behavior`: both windows, then the policies' rate limits and
    /// min/max.
    #[allow(clippy::too_many_arguments)]
    pub fn normalize_with_behavior(
        &mut self,
        now: Instant,
        up: &Rules,
        down: &Rules,
        current: i32,
        desired: i32,
        min: i32,
        max: i32,
    ) -> Normalized {
        let up_cutoff = now.checked_sub(up.stabilization);
        let down_cutoff = now.checked_sub(down.stabilization);
        let mut up_rec = desired;
        let mut down_rec = desired;
        let mut stale = None;
        for (i, rec) in self.recommendations.iter().enumerate() {
            let after_up = up_cutoff.is_none_or(|c| rec.at > c);
            let after_down = down_cutoff.is_none_or(|c| rec.at > c);
            if after_up {
                up_rec = up_rec.min(rec.replicas);
            }
            if after_down {
                down_rec = down_rec.max(rec.replicas);
            }
            if !after_up && !after_down {
                stale = Some(i);
            }
        }
        self.remember(stale, now, desired);
        let stabilized = current.max(up_rec).min(down_rec);
        let able = if desired >= current {
            UP_STABILIZED
        } else {
            DOWN_STABILIZED
        };
        let limited = if stabilized > current {
            let up_limit = scale_up_limit(current, &self.scale_ups, up, now).max(current);
            let (max_allowed, reason) = if max > up_limit {
                (up_limit, UP_LIMIT)
            } else {
                (max, TOO_MANY)
            };
            if stabilized > max_allowed {
                (max_allowed, reason)
            } else {
                (stabilized, WITHIN)
            }
        } else if stabilized < current {
            let down_limit = scale_down_limit(current, &self.scale_downs, down, now).min(current);
            let (min_allowed, reason) = if min < down_limit {
                (down_limit, DOWN_LIMIT)
            } else {
                (min, TOO_FEW)
            };
            if stabilized < min_allowed {
                (min_allowed, reason)
            } else {
                (stabilized, WITHIN)
            }
        } else {
            (stabilized, WITHIN)
        };
        normalized(stabilized, desired, able, limited)
    }

    /// Records a rescale from `previous` to `new` for the rate limits,
    /// forgetting events older than the longest policy period.
    pub fn record_scale(
        &mut self,
        now: Instant,
        previous: i32,
        new: i32,
        up: &Rules,
        down: &Rules,
    ) {
        let (events, rules, change) = if new > previous {
            (&mut self.scale_ups, up, new - previous)
        } else {
            (&mut self.scale_downs, down, previous - new)
        };
        if let Some(cutoff) = now.checked_sub(rules.longest_period()) {
            events.retain(|e| e.at >= cutoff);
        }
        events.push(Sample {
            at: now,
            replicas: change,
        });
    }

    fn remember(&mut self, stale: Option<usize>, now: Instant, replicas: i32) {
        let sample = Sample { at: now, replicas };
        match stale {
            Some(i) => self.recommendations[i] = sample,
            None => self.recommendations.push(sample),
        }
    }
}

fn change_in_period(events: &[Sample], period: Duration, now: Instant) -> i32 {
    let cutoff = now.checked_sub(period);
    events
        .iter()
        .filter(|e| cutoff.is_none_or(|c| e.at > c))
        .map(|e| e.replicas)
        .sum()
}

fn scale_up_limit(current: i32, events: &[Sample], rules: &Rules, now: Instant) -> i32 {
    let pick: fn(i32, i32) -> i32 = match rules.select {
        Select::Disabled => return current,
        Select::Min => std::cmp::min,
        Select::Max => std::cmp::max,
    };
    let mut result = if rules.select == Select::Min {
        i32::MAX
    } else {
        i32::MIN
    };
    for policy in &rules.policies {
        let start = current - change_in_period(events, policy.period(), now);
        let proposed = match policy {
            Policy::Pods { value, .. } => start.saturating_add(*value),
            Policy::Percent { value, .. } => {
                (f64::from(start) * (1.0 + f64::from(*value) / 100.0)).ceil() as i32
            }
        };
        result = pick(result, proposed);
    }
    result
}

fn scale_down_limit(current: i32, events: &[Sample], rules: &Rules, now: Instant) -> i32 {
    // For scale-down the smallest change is the highest count.
    let pick: fn(i32, i32) -> i32 = match rules.select {
        Select::Disabled => return current,
        Select::Min => std::cmp::max,
        Select::Max => std::cmp::min,
    };
    let mut result = if rules.select == Select::Min {
        i32::MIN
    } else {
        i32::MAX
    };
    for policy in &rules.policies {
        let start = current + change_in_period(events, policy.period(), now);
        let proposed = match policy {
            Policy::Pods { value, .. } => start.saturating_sub(*value),
            Policy::Percent { value, .. } => {
                (f64::from(start) * (1.0 - f64::from(*value) / 100.0)) as i32
            }
        };
        result = pick(result, proposed);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(300);

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn min_max_and_default_scale_up_limit() {
        let now = Instant::now();
        // (current, desired, min, max) -> (replicas, reason, limited)
        let table = [
            ((3, 5, 1, 10), (5, "DesiredWithinRange", false)),
            ((3, 12, 1, 10), (6, "ScaleUpLimit", true)),
            ((3, 12, 1, 5), (5, "TooManyReplicas", true)),
            ((1, 9, 1, 20), (4, "ScaleUpLimit", true)),
            ((3, 1, 2, 10), (2, "TooFewReplicas", true)),
        ];
        for ((current, desired, min, max), (want, reason, limited)) in table {
            let mut h = History::default();
            let n = h.normalize(now, WINDOW, current, desired, min, max);
            assert_eq!(
                (n.replicas, n.limit_reason, n.limited),
                (want, reason, limited),
                "{current} -> {desired} in [{min}, {max}]"
            );
        }
    }

    #[test]
    fn scale_down_waits_for_the_stabilization_window() {
        let t0 = Instant::now();
        let mut h = History::default();
        assert_eq!(h.normalize(t0, WINDOW, 5, 5, 1, 10).replicas, 5);
        let n = h.normalize(t0 + secs(60), WINDOW, 5, 2, 1, 10);
        assert_eq!(n.replicas, 5);
        assert_eq!(n.able_reason, "ScaleDownStabilized");
        let n = h.normalize(t0 + secs(200), WINDOW, 5, 3, 1, 10);
        assert_eq!(n.replicas, 5);
        // The 5 fell out of the window; the 3 of 200 s is still in it.
        let n = h.normalize(t0 + secs(301), WINDOW, 5, 2, 1, 10);
        assert_eq!(n.replicas, 3);
        let n = h.normalize(t0 + secs(700), WINDOW, 3, 2, 1, 10);
        assert_eq!((n.replicas, n.able_reason), (2, "ReadyForNewScale"));
    }

    #[test]
    fn scale_up_is_not_stabilized_by_default() {
        let t0 = Instant::now();
        let mut h = History::default();
        h.normalize(t0, WINDOW, 2, 2, 1, 10);
        assert_eq!(h.normalize(t0 + secs(15), WINDOW, 2, 4, 1, 10).replicas, 4);
    }

    #[test]
    fn behavior_policies_limit_the_rate() {
        let t0 = Instant::now();
        let up = Rules {
            stabilization: Duration::ZERO,
            select: Select::Max,
            policies: vec![Policy::Pods {
                value: 2,
                period: secs(60),
            }],
        };
        let down = Rules::default_down(Duration::ZERO);
        let mut h = History::default();
        let n = h.normalize_with_behavior(t0, &up, &down, 1, 10, 1, 20);
        assert_eq!((n.replicas, n.limit_reason), (3, "ScaleUpLimit"));
        h.record_scale(t0, 1, 3, &up, &down);
        // Within the same minute the 2 pods were already added.
        let n = h.normalize_with_behavior(t0 + secs(30), &up, &down, 3, 10, 1, 20);
        assert_eq!(n.replicas, 3);
        let n = h.normalize_with_behavior(t0 + secs(61), &up, &down, 3, 10, 1, 20);
        assert_eq!(n.replicas, 5);
        // max still caps.
        let n = h.normalize_with_behavior(t0 + secs(200), &up, &down, 5, 10, 1, 6);
        assert_eq!((n.replicas, n.limit_reason), (6, "TooManyReplicas"));
    }

    #[test]
    fn behavior_select_policy() {
        let t0 = Instant::now();
        let policies = vec![
            Policy::Pods {
                value: 1,
                period: secs(60),
            },
            Policy::Percent {
                value: 50,
                period: secs(60),
            },
        ];
        let mk = |select| Rules {
            stabilization: Duration::ZERO,
            select,
            policies: policies.clone(),
        };
        let up = Rules::default_up();
        // 10 -> 1: Max allows -50% (5), Min allows -1 (9), Disabled none.
        for (select, want, reason) in [
            (Select::Max, 5, "ScaleDownLimit"),
            (Select::Min, 9, "ScaleDownLimit"),
            (Select::Disabled, 10, "ScaleDownLimit"),
        ] {
            let mut h = History::default();
            let n = h.normalize_with_behavior(t0, &up, &mk(select), 10, 1, 1, 20);
            assert_eq!((n.replicas, n.limit_reason), (want, reason), "{select:?}");
        }
        // Scale-up: Min picks +1 (11) over +50% (15).
        let mut h = History::default();
        let down = Rules::default_down(Duration::ZERO);
        let n = h.normalize_with_behavior(t0, &mk(Select::Min), &down, 10, 30, 1, 40);
        assert_eq!(n.replicas, 11);
    }

    #[test]
    fn behavior_stabilization_windows() {
        let t0 = Instant::now();
        let up = Rules {
            stabilization: secs(60),
            ..Rules::default_up()
        };
        let down = Rules::default_down(secs(120));
        let mut h = History::default();
        h.normalize_with_behavior(t0, &up, &down, 4, 4, 1, 20);
        // A spike within the up window: the lowest recent (4) wins.
        let n = h.normalize_with_behavior(t0 + secs(10), &up, &down, 4, 8, 1, 20);
        assert_eq!((n.replicas, n.able_reason), (4, "ScaleUpStabilized"));
        // After 60 s of 8s the scale-up goes through.
        let n = h.normalize_with_behavior(t0 + secs(75), &up, &down, 4, 8, 1, 20);
        assert_eq!(n.replicas, 8);
        // A drop is held by the 8s of the last 120 s.
        let n = h.normalize_with_behavior(t0 + secs(100), &up, &down, 8, 2, 1, 20);
        assert_eq!((n.replicas, n.able_reason), (8, "ScaleDownStabilized"));
        let n = h.normalize_with_behavior(t0 + secs(300), &up, &down, 8, 2, 1, 20);
        assert_eq!(n.replicas, 2);
    }

    #[test]
    fn rules_from_spec_fill_defaults() {
        use k8s_openapi::api::autoscaling::v2::HPAScalingPolicy;
        let spec = HPAScalingRules {
            select_policy: Some("Min".into()),
            stabilization_window_seconds: None,
            policies: Some(vec![HPAScalingPolicy {
                type_: "Pods".into(),
                value: 3,
                period_seconds: 30,
            }]),
            ..Default::default()
        };
        let rules = Rules::from_spec(Some(&spec), Rules::default_down(WINDOW));
        assert_eq!(rules.stabilization, WINDOW);
        assert_eq!(rules.select, Select::Min);
        assert_eq!(
            rules.policies,
            vec![Policy::Pods {
                value: 3,
                period: secs(30)
            }]
        );
        assert_eq!(
            Rules::from_spec(None, Rules::default_up()),
            Rules::default_up()
        );
    }
}
