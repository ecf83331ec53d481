//! node.k8s.io/v1 RuntimeClass.

use corten_apimachinery::{ErrorList, Path};
use k8s_openapi::api::node::v1::RuntimeClass;

use crate::corev1::validate_tolerations;
use crate::kind::{KindRules, KindStrategy};
use crate::validate;

/// Strategy for RuntimeClass.
pub static RUNTIME_CLASS_STRATEGY: KindStrategy<RuntimeClassRules> = KindStrategy::new();

/// The rules of RuntimeClass: the handler is a DNS label and immutable;
/// overhead quantities and scheduling constraints must be valid.
pub struct RuntimeClassRules;

impl KindRules for RuntimeClassRules {
    type Object = RuntimeClass;
    const NAMESPACED: bool = false;

    fn canonicalize(rc: &mut RuntimeClass) -> Result<(), String> {
        validate::canonicalize_resource_list(
            rc.overhead.as_mut().and_then(|o| o.pod_fixed.as_mut()),
        )
    }

    fn validate(rc: &RuntimeClass) -> ErrorList {
        let mut errs = validate::dns1123_label(&rc.handler, &Path::new("handler"));
        let op = Path::new("overhead").child("podFixed");
        for (k, q) in rc
            .overhead
            .iter()
            .flat_map(|o| o.pod_fixed.iter().flatten())
        {
            let p = op.key(k);
            errs.extend(crate::corev1::validate_container_resource_name(k, &p));
            errs.extend(validate::nonnegative_quantity(q, &p));
        }
        if let Some(s) = rc.scheduling.as_ref() {
            let sp = Path::new("scheduling");
            errs.extend(validate::labels(
                s.node_selector.as_ref(),
                &sp.child("nodeSelector"),
            ));
            errs.extend(validate_tolerations(
                s.tolerations.as_deref().unwrap_or_default(),
                &sp.child("tolerations"),
            ));
        }
        errs
    }

    fn validate_update(new: &RuntimeClass, old: &RuntimeClass) -> ErrorList {
        validate::immutable(&new.handler, &old.handler, &Path::new("handler"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::Strategy;
    use serde_json::json;

    #[test]
    fn handler_must_be_a_dns_label_and_is_immutable() {
        let rc = json!({"metadata": {"name": "gvisor"}, "handler": "runsc",
                        "overhead": {"podFixed": {"memory": "120Mi"}}});
        let rc = RUNTIME_CLASS_STRATEGY.canonicalize(rc).unwrap();
        let mut changed = rc.clone();
        changed["handler"] = json!("kata");
        let errs = RUNTIME_CLASS_STRATEGY.validate_update(&changed, &rc);
        assert!(
            errs.iter()
                .any(|e| e.to_string() == "handler: Invalid value: \"kata\": field is immutable")
        );
        let mut bad = rc.clone();
        bad["handler"] = json!("Not_A_Label");
        let errs = RUNTIME_CLASS_STRATEGY.validate(&bad);
        assert!(errs.iter().any(|e| e.field == "handler"));
    }
}
