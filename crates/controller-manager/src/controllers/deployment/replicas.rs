//! Replica arithmetic of Deployments (upstream `deploymentutil`): spec
//! accessors with defaults, `maxSurge`/`maxUnavailable` resolution and
//! rounding, how far a new ReplicaSet may grow, and the proportions used
//! when a Deployment is scaled in the middle of a rollout.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::annotations;

/// The `RollingUpdate` strategy type.
pub const ROLLING_UPDATE: &str = "RollingUpdate";
/// The `Recreate` strategy type.
pub const RECREATE: &str = "Recreate";
/// The default `maxSurge` and `maxUnavailable`.
const DEFAULT_FENCEPOST: &str = "25%";

/// `spec.replicas` (default 1).
pub fn desired(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// `spec.strategy.type` (default `RollingUpdate`).
pub fn strategy_type(d: &Deployment) -> &str {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .unwrap_or(ROLLING_UPDATE)
}

/// Whether the strategy is `RollingUpdate`.
pub fn is_rolling_update(d: &Deployment) -> bool {
    strategy_type(d) == ROLLING_UPDATE
}

/// `spec.minReadySeconds`.
pub fn min_ready_seconds(d: &Deployment) -> i32 {
    d.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

/// `spec.paused`.
pub fn paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
}

/// A ReplicaSet's `spec.replicas` (default 1).
pub fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// A ReplicaSet's `status.availableReplicas`.
pub fn rs_available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

/// Sum of `spec.replicas` (upstream `GetReplicaCountForReplicaSets`).
pub fn spec_total<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    saturating_sum(rss.into_iter().map(rs_replicas))
}

/// Sums without overflowing (replica counts come from user input).
fn saturating_sum(values: impl Iterator<Item = i32>) -> i32 {
    values.fold(0i32, i32::saturating_add)
}

/// Sum of `status.replicas` (`GetActualReplicaCountForReplicaSets`).
pub fn actual_total<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    saturating_sum(
        rss.into_iter()
            .map(|rs| rs.status.as_ref().map_or(0, |s| s.replicas)),
    )
}

/// Sum of `status.readyReplicas`.
pub fn ready_total<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    rss.into_iter()
        .map(|rs| {
            rs.status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0)
        })
        .sum()
}

/// Sum of `status.availableReplicas`.
pub fn available_total<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    saturating_sum(rss.into_iter().map(rs_available))
}

/// Upstream `intstr.GetScaledValueFromIntOrPercent`: an int as is, a
/// percentage of `total` rounded up or down.
pub fn scaled_value(value: &IntOrString, total: i32, round_up: bool) -> Result<i32, String> {
    match value {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(s) => {
            let Some(digits) = s.strip_suffix('%') else {
                return Err(
                    "invalid value for IntOrString: invalid type: string is not a percentage"
                        .to_string(),
                );
            };
            let percent: i64 = digits.parse().map_err(|err| {
                format!("invalid value for IntOrString: invalid value {s:?}: {err}")
            })?;
            let exact = percent as f64 * f64::from(total) / 100.0;
            let rounded = if round_up {
                exact.ceil()
            } else {
                exact.floor()
            };
            Ok(rounded.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32)
        }
    }
}

/// Upstream `ResolveFenceposts`: (surge, unavailable) for `desired`
/// replicas, surge rounded up and unavailable down; both zero becomes
/// unavailable 1, so a rollout can always proceed.
pub fn resolve_fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    desired: i32,
) -> Result<(i32, i32), String> {
    let zero = IntOrString::Int(0);
    let surge = scaled_value(max_surge.unwrap_or(&zero), desired, true)?;
    let mut unavailable = scaled_value(max_unavailable.unwrap_or(&zero), desired, false)?;
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    Ok((surge, unavailable))
}

fn fenceposts(d: &Deployment) -> Result<(i32, i32), String> {
    let default = IntOrString::String(DEFAULT_FENCEPOST.to_string());
    let rolling = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    let (surge, unavailable) = match rolling {
        Some(r) => (r.max_surge.as_ref(), r.max_unavailable.as_ref()),
        None => (Some(&default), Some(&default)),
    };
    resolve_fenceposts(surge, unavailable, desired(d))
}

/// Upstream `MaxSurge` (0 unless rolling; an invalid value counts as 0).
pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling_update(d) {
        return 0;
    }
    fenceposts(d).map_or(0, |(surge, _)| surge)
}

/// Upstream `MaxUnavailable` (0 unless rolling with replicas; never more
/// than the replicas).
pub fn max_unavailable(d: &Deployment) -> i32 {
    let replicas = desired(d);
    if !is_rolling_update(d) || replicas == 0 {
        return 0;
    }
    fenceposts(d).map_or(0, |(_, unavailable)| unavailable.min(replicas))
}

/// Upstream `NewRSNewReplicas`: the size the new ReplicaSet may have now.
pub fn new_rs_new_replicas(
    d: &Deployment,
    all: &[&ReplicaSet],
    new_rs_replicas: i32,
) -> Result<i32, String> {
    match strategy_type(d) {
        ROLLING_UPDATE => {
            let (surge, _) = fenceposts(d)?;
            let current = spec_total(all.iter().copied());
            let max_total = desired(d).saturating_add(surge);
            if current >= max_total {
                return Ok(new_rs_replicas);
            }
            let scale_up = (max_total - current).min(desired(d).saturating_sub(new_rs_replicas));
            Ok(new_rs_replicas.saturating_add(scale_up))
        }
        RECREATE => Ok(desired(d)),
        other => Err(format!("deployment type {other} isn't supported")),
    }
}

/// Upstream `IsSaturated`: the new ReplicaSet has all replicas, was sized
/// for the current replicas, and all are available.
pub fn is_saturated(d: &Deployment, rs: Option<&ReplicaSet>) -> bool {
    let Some(rs) = rs else {
        return false;
    };
    let Some(desired_annotation) = annotations::desired_replicas(rs) else {
        return false;
    };
    rs_replicas(rs) == desired(d)
        && desired_annotation == desired(d)
        && rs_available(rs) == desired(d)
}

/// Upstream `GetReplicaSetProportion`: how many replicas `rs` gains (or
/// loses) of the `to_add` still to distribute (`added` so far).
pub fn proportion(rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32) -> i32 {
    if rs_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = fraction(rs, d);
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

/// Upstream `getReplicaSetFraction`.
fn fraction(rs: &ReplicaSet, d: &Deployment) -> i32 {
    if desired(d) == 0 {
        return -rs_replicas(rs);
    }
    let max_now = desired(d).saturating_add(max_surge(d));
    let annotated = annotations::max_replicas(rs).unwrap_or_else(|| {
        // No annotation: fall back to the current size of the Deployment.
        d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0)
    });
    if annotated == 0 {
        return 0;
    }
    let size = f64::from(rs_replicas(rs)) * f64::from(max_now) / f64::from(annotated);
    size.round() as i32 - rs_replicas(rs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(replicas: i32, surge: &str, unavailable: &str) -> Deployment {
        let parse = |v: &str| -> serde_json::Value {
            v.parse::<i64>()
                .map(serde_json::Value::from)
                .unwrap_or_else(|_| serde_json::Value::from(v))
        };
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web"},
            "spec": {
                "replicas": replicas,
                "selector": {},
                "template": {},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {
                    "maxSurge": parse(surge), "maxUnavailable": parse(unavailable)}}
            }
        }))
        .unwrap()
    }

    #[test]
    fn percentages_round_like_upstream() {
        let pct = |s: &str| IntOrString::String(s.into());
        assert_eq!(scaled_value(&pct("25%"), 10, true), Ok(3));
        assert_eq!(scaled_value(&pct("25%"), 10, false), Ok(2));
        assert_eq!(scaled_value(&IntOrString::Int(4), 10, false), Ok(4));
        assert!(scaled_value(&pct("25"), 10, false).is_err());
        assert!(scaled_value(&pct("x%"), 10, false).is_err());
        // 25% of 1: surge rounds up to 1, unavailable down to 0.
        assert_eq!(
            resolve_fenceposts(Some(&pct("25%")), Some(&pct("25%")), 1),
            Ok((1, 0))
        );
        // Both zero: unavailable becomes 1.
        assert_eq!(
            resolve_fenceposts(Some(&pct("0%")), Some(&pct("10%")), 5),
            Ok((0, 1))
        );
        let d = deployment(3, "0", "5");
        assert_eq!((max_surge(&d), max_unavailable(&d)), (0, 3));
    }

    #[test]
    fn new_replica_set_grows_within_surge() {
        let d = deployment(10, "3", "2");
        let rs = |n: i32| -> ReplicaSet {
            serde_json::from_value(serde_json::json!({"spec": {"replicas": n, "selector": {}}}))
                .unwrap()
        };
        let old = rs(10);
        let new = rs(0);
        assert_eq!(new_rs_new_replicas(&d, &[&old, &new], 0), Ok(3));
        let new = rs(3);
        assert_eq!(new_rs_new_replicas(&d, &[&old, &new], 3), Ok(3));
        let old = rs(5);
        assert_eq!(new_rs_new_replicas(&d, &[&old, &new], 3), Ok(8));
    }

    #[test]
    fn proportions_follow_the_max_replicas_annotation() {
        // 10 -> 20 replicas (surge 3): an RS of 5 sized for max 13 gets
        // round(5 * 23 / 13) - 5 = 4 more.
        let d = deployment(20, "3", "2");
        let rs: ReplicaSet = serde_json::from_value(serde_json::json!({
            "metadata": {"annotations": {"deployment.kubernetes.io/max-replicas": "13"}},
            "spec": {"replicas": 5, "selector": {}}
        }))
        .unwrap();
        assert_eq!(proportion(&rs, &d, 10, 0), 4);
        assert_eq!(proportion(&rs, &d, 10, 8), 2);
        assert_eq!(proportion(&rs, &d, 10, 10), 0);
        let to_zero = deployment(0, "3", "2");
        assert_eq!(proportion(&rs, &to_zero, -13, 0), -5);
    }
}
