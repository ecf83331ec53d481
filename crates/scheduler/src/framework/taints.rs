//! Taints and tolerations (upstream `Toleration.ToleratesTaint` and
//! `FindMatchingUntoleratedTaint`).

use k8s_openapi::api::core::v1::{Taint, Toleration};

/// `NoSchedule`
pub const NO_SCHEDULE: &str = "NoSchedule";
/// `NoExecute`
pub const NO_EXECUTE: &str = "NoExecute";
/// `PreferNoSchedule`
pub const PREFER_NO_SCHEDULE: &str = "PreferNoSchedule";

/// Whether `toleration` tolerates `taint`.
///
/// An empty effect matches every effect, an empty key with `Exists` matches
/// every key; the operator defaults to `Equal`.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref()
        && !effect.is_empty()
        && effect != taint.effect
    {
        return false;
    }
    if let Some(key) = toleration.key.as_deref()
        && !key.is_empty()
        && key != taint.key
    {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("") {
        "" | "Equal" => {
            toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        "Exists" => true,
        _ => false,
    }
}

/// Whether any of `tolerations` tolerates `taint`.
pub fn tolerated_by_any(taint: &Taint, tolerations: &[Toleration]) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

/// The first taint with effect `NoSchedule` or `NoExecute` that no
/// toleration tolerates.
pub fn find_untolerated_do_not_schedule<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
) -> Option<&'a Taint> {
    taints.iter().find(|taint| {
        (taint.effect == NO_SCHEDULE || taint.effect == NO_EXECUTE)
            && !tolerated_by_any(taint, tolerations)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn taint(v: serde_json::Value) -> Taint {
        serde_json::from_value(v).unwrap()
    }
    fn toleration(v: serde_json::Value) -> Toleration {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn toleration_rules() {
        let t = taint(json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}));
        let cases = [
            (
                json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}),
                true,
            ),
            (
                json!({"key": "dedicated", "operator": "Equal", "value": "gpu"}),
                true,
            ),
            (json!({"key": "dedicated", "value": "cpu"}), false),
            (json!({"key": "dedicated", "operator": "Exists"}), true),
            (json!({"operator": "Exists"}), true),
            (json!({"operator": "Exists", "effect": "NoExecute"}), false),
            (json!({"key": "other", "operator": "Exists"}), false),
            (
                json!({"key": "dedicated", "operator": "Bogus", "value": "gpu"}),
                false,
            ),
        ];
        for (tol, want) in cases {
            assert_eq!(tolerates(&toleration(tol.clone()), &t), want, "{tol}");
        }
    }

    #[test]
    fn only_hard_effects_block() {
        let taints = vec![
            taint(json!({"key": "soft", "effect": "PreferNoSchedule"})),
            taint(json!({"key": "hard", "effect": "NoExecute"})),
        ];
        assert_eq!(
            find_untolerated_do_not_schedule(&taints, &[]).map(|t| t.key.as_str()),
            Some("hard")
        );
        let tol = vec![toleration(json!({"key": "hard", "operator": "Exists"}))];
        assert!(find_untolerated_do_not_schedule(&taints, &tol).is_none());
    }
}
