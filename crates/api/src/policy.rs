//! policy/v1 PodDisruptionBudget.

use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};

use crate::kind::{KindRules, KindStrategy};
use crate::validate;

/// Strategy for PodDisruptionBudget.
pub static POD_DISRUPTION_BUDGET_STRATEGY: KindStrategy<PodDisruptionBudgetRules> =
    KindStrategy::new();

const EVICTION_POLICIES: &[&str] = &["AlwaysAllow", "IfHealthyBudget"];

/// The rules of PodDisruptionBudget: `minAvailable` xor `maxUnavailable`
/// (each an int or a percentage up to 100%), a valid selector, and a
/// non-negative status.
pub struct PodDisruptionBudgetRules;

impl KindRules for PodDisruptionBudgetRules {
    type Object = PodDisruptionBudget;
    const NAMESPACED: bool = true;
    const TRACKS_GENERATION: bool = true;

    fn validate(pdb: &PodDisruptionBudget) -> ErrorList {
        let empty = PodDisruptionBudgetSpec::default();
        let spec = pdb.spec.as_ref().unwrap_or(&empty);
        let sp = Path::new("spec");
        let mut errs = Vec::new();
        if spec.min_available.is_some() && spec.max_unavailable.is_some() {
            errs.push(FieldError::invalid(
                &sp,
                serde_json::to_value(spec).unwrap_or_default(),
                "minAvailable and maxUnavailable cannot be both set",
            ));
        }
        for (field, v) in [
            ("minAvailable", spec.min_available.as_ref()),
            ("maxUnavailable", spec.max_unavailable.as_ref()),
        ] {
            if let Some(v) = v {
                errs.extend(validate::int_or_percent(v, &sp.child(field)));
                errs.extend(validate::not_more_than_100_percent(v, &sp.child(field)));
            }
        }
        errs.extend(validate::label_selector(
            spec.selector.as_ref(),
            &sp.child("selector"),
        ));
        if let Some(p) = spec.unhealthy_pod_eviction_policy.as_deref() {
            errs.extend(validate::one_of(
                p,
                EVICTION_POLICIES,
                true,
                &sp.child("unhealthyPodEvictionPolicy"),
            ));
        }
        errs
    }

    fn validate_status_update(new: &PodDisruptionBudget, _old: &PodDisruptionBudget) -> ErrorList {
        let mut errs = Vec::new();
        if let Some(s) = new.status.as_ref() {
            let sp = Path::new("status");
            for (field, v) in [
                ("disruptionsAllowed", s.disruptions_allowed),
                ("currentHealthy", s.current_healthy),
                ("desiredHealthy", s.desired_healthy),
                ("expectedPods", s.expected_pods),
            ] {
                errs.extend(validate::nonnegative(i64::from(v), &sp.child(field)));
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::Strategy;
    use serde_json::json;

    fn pdb(spec: serde_json::Value) -> serde_json::Value {
        json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
               "metadata": {"name": "p", "namespace": "default"}, "spec": spec})
    }

    fn errors(obj: serde_json::Value) -> Vec<String> {
        let o = POD_DISRUPTION_BUDGET_STRATEGY.canonicalize(obj).unwrap();
        POD_DISRUPTION_BUDGET_STRATEGY
            .validate(&o)
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn accepts_percentages_and_ints() {
        assert!(
            errors(pdb(
                json!({"minAvailable": "50%", "selector": {"matchLabels": {"a": "b"}}})
            ))
            .is_empty()
        );
        assert!(errors(pdb(json!({"maxUnavailable": 1}))).is_empty());
    }

    #[test]
    fn rejects_both_and_bad_values() {
        let errs = errors(pdb(json!({"minAvailable": 1, "maxUnavailable": 1})));
        assert_eq!(errs.len(), 1);
        assert!(errs[0].ends_with("minAvailable and maxUnavailable cannot be both set"));
        let errs = errors(pdb(json!({"minAvailable": "150%"})));
        assert_eq!(
            errs,
            vec!["spec.minAvailable: Invalid value: \"150%\": must not be greater than 100%"]
        );
        let errs = errors(pdb(json!({"maxUnavailable": "x"})));
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0]
                .starts_with("spec.maxUnavailable: Invalid value: \"x\": a valid percent string")
        );
        let errs = errors(pdb(json!({"maxUnavailable": -1})));
        assert_eq!(
            errs,
            vec!["spec.maxUnavailable: Invalid value: -1: must be greater than or equal to 0"]
        );
    }

    #[test]
    fn tracks_generation() {
        assert!(POD_DISRUPTION_BUDGET_STRATEGY.tracks_generation());
        let mut o = pdb(json!({"minAvailable": 1}));
        POD_DISRUPTION_BUDGET_STRATEGY.prepare_for_create(&mut o);
        assert_eq!(o["metadata"]["generation"], 1);
    }

    #[test]
    fn status_must_be_non_negative() {
        let old = pdb(json!({"minAvailable": 1}));
        let mut new = old.clone();
        new["status"] = json!({"disruptionsAllowed": -1, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0});
        let errs = POD_DISRUPTION_BUDGET_STRATEGY.validate_status_update(&new, &old);
        assert!(errs.iter().any(|e| e.field == "status.disruptionsAllowed"));
    }
}
