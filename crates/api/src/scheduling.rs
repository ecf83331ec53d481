//! scheduling.k8s.io/v1 PriorityClass.

use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::scheduling::v1::PriorityClass;

use crate::kind::{KindRules, KindStrategy};
use crate::validate;

/// Strategy for PriorityClass.
pub static PRIORITY_CLASS_STRATEGY: KindStrategy<PriorityClassRules> = KindStrategy::new();

/// The highest priority a user-defined class may have.
pub const HIGHEST_USER_DEFINABLE_PRIORITY: i32 = 1_000_000_000;
/// The prefix reserved for the built-in classes.
pub const SYSTEM_PRIORITY_CLASS_PREFIX: &str = "system-";
/// The built-in classes: (name, value).
pub const SYSTEM_PRIORITY_CLASSES: &[(&str, i32)] = &[
    ("system-node-critical", 2_000_001_000),
    ("system-cluster-critical", 2_000_000_000),
];

/// The rules of PriorityClass: `system-` names reserved for the built-in
/// classes, user values up to 1e9, `value` and `preemptionPolicy`
/// immutable (default `PreemptLowerPriority`).
pub struct PriorityClassRules;

fn known_system_class(name: &str, value: i32, global_default: bool) -> Result<(), String> {
    match SYSTEM_PRIORITY_CLASSES.iter().find(|(n, _)| *n == name) {
        Some((n, v)) if *v != value => Err(format!("value of {n} PriorityClass must be {v}")),
        Some((n, _)) if global_default => {
            Err(format!("globalDefault of {n} PriorityClass must be false"))
        }
        Some(_) => Ok(()),
        None => Err(format!("{name} is not a known system priority class")),
    }
}

impl KindRules for PriorityClassRules {
    type Object = PriorityClass;
    const NAMESPACED: bool = false;

    fn default(pc: &mut PriorityClass) {
        if pc.preemption_policy.is_none() {
            pc.preemption_policy = Some("PreemptLowerPriority".into());
        }
    }

    fn validate(pc: &PriorityClass) -> ErrorList {
        let mut errs = Vec::new();
        let name = pc.metadata.name.as_deref().unwrap_or_default();
        if name.starts_with(SYSTEM_PRIORITY_CLASS_PREFIX) {
            if let Err(e) = known_system_class(name, pc.value, pc.global_default.unwrap_or(false)) {
                errs.push(FieldError::forbidden(
                    &Path::new("metadata").child("name"),
                    &format!(
                        "priority class names with '{SYSTEM_PRIORITY_CLASS_PREFIX}' prefix are reserved for system use only. error: {e}"
                    ),
                ));
            }
        } else if pc.value > HIGHEST_USER_DEFINABLE_PRIORITY {
            errs.push(FieldError::forbidden(
                &Path::new("value"),
                &format!(
                    "maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"
                ),
            ));
        }
        if let Some(p) = pc.preemption_policy.as_deref() {
            errs.extend(validate::one_of(
                p,
                &["PreemptLowerPriority", "Never"],
                true,
                &Path::new("preemptionPolicy"),
            ));
        }
        errs
    }

    fn validate_update(new: &PriorityClass, old: &PriorityClass) -> ErrorList {
        let mut errs = Vec::new();
        if new.value != old.value {
            errs.push(FieldError::forbidden(
                &Path::new("value"),
                "may not be changed in an update.",
            ));
        }
        errs.extend(validate::immutable(
            &new.preemption_policy,
            &old.preemption_policy,
            &Path::new("preemptionPolicy"),
        ));
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::Strategy;
    use serde_json::json;

    fn created(obj: serde_json::Value) -> serde_json::Value {
        let mut o = PRIORITY_CLASS_STRATEGY.canonicalize(obj).unwrap();
        PRIORITY_CLASS_STRATEGY.prepare_for_create(&mut o);
        PRIORITY_CLASS_STRATEGY.default(&mut o);
        o
    }

    #[test]
    fn defaults_preemption_policy() {
        let o = created(json!({"metadata": {"name": "high"}, "value": 1000}));
        assert_eq!(o["preemptionPolicy"], "PreemptLowerPriority");
    }

    #[test]
    fn user_values_are_capped_and_system_names_reserved() {
        let o = created(json!({"metadata": {"name": "huge"}, "value": 1_000_000_001}));
        let errs = PriorityClassRules::validate(&crate::typed::from_value(o).unwrap());
        assert_eq!(
            errs[0].to_string(),
            "value: Forbidden: maximum allowed value of a user defined priority is 1000000000"
        );
        let o = created(json!({"metadata": {"name": "system-mine"}, "value": 5}));
        let errs = PriorityClassRules::validate(&crate::typed::from_value(o).unwrap());
        assert_eq!(
            errs[0].to_string(),
            "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: system-mine is not a known system priority class"
        );
        let o =
            created(json!({"metadata": {"name": "system-node-critical"}, "value": 2_000_001_000}));
        assert!(PriorityClassRules::validate(&crate::typed::from_value(o).unwrap()).is_empty());
    }

    #[test]
    fn value_and_policy_are_immutable() {
        let old = created(json!({"metadata": {"name": "p"}, "value": 10}));
        let mut new = old.clone();
        new["value"] = json!(11);
        new["preemptionPolicy"] = json!("Never");
        let errs: Vec<String> = PRIORITY_CLASS_STRATEGY
            .validate_update(&new, &old)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert!(errs.contains(&"value: Forbidden: may not be changed in an update.".to_string()));
        assert!(errs.contains(
            &"preemptionPolicy: Invalid value: \"Never\": field is immutable".to_string()
        ));
    }
}
