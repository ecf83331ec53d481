//! PersistentVolumeClaimResize: a claim may grow
//! (`spec.resources.requests.storage`) only once it is bound, and only if
//! it was provisioned from a StorageClass with `allowVolumeExpansion:
//! true`. Shrinking and unchanged sizes are the claim validation's
//! business, not this plugin's.

use std::cmp::Ordering;

use corten_apimachinery::quantity::Quantity;
use corten_apimachinery::{StatusError, meta};
use serde_json::Value;

use super::default_class::BETA_CLAIM_CLASS;
use super::{Operation, Request};
use crate::app::ApiServer;
use crate::auth::serviceaccount::lookup;

/// Upstream `GetPersistentVolumeClaimClass`: the beta annotation, else
/// `spec.storageClassName`, else "".
pub fn claim_class(pvc: &Value) -> String {
    if let Some(c) = meta::annotations(pvc).get(BETA_CLAIM_CLASS) {
        return c.clone();
    }
    pvc.pointer("/spec/storageClassName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn requested_storage(pvc: &Value) -> Option<Quantity> {
    pvc.pointer("/spec/resources/requests/storage")
        .and_then(Value::as_str)
        .and_then(|q| Quantity::parse(q).ok())
}

/// Whether the storage request grows (a missing request is zero).
fn grows(new: &Value, old: &Value) -> bool {
    match (requested_storage(new), requested_storage(old)) {
        (Some(n), Some(o)) => n.cmp_value(&o) == Ordering::Greater,
        (Some(n), None) => !n.is_zero() && !n.is_negative(),
        _ => false,
    }
}

/// What the plugin decides about a growing claim, given whether its class
/// allows expansion; `Ok` when the update does not grow it.
pub fn judge(new: &Value, old: &Value, class_allows: bool) -> Result<(), &'static str> {
    if !grows(new, old) {
        return Ok(());
    }
    if old.pointer("/status/phase").and_then(Value::as_str) != Some("Bound") {
        return Err("Only bound persistent volume claims can be expanded");
    }
    if !class_allows {
        return Err(
            "only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize",
        );
    }
    Ok(())
}

/// Validates an update of a claim against its stored version.
pub async fn validate(
    server: &ApiServer,
    req: &Request<'_>,
    new: &Value,
    old: &Value,
) -> Result<(), StatusError> {
    if req.operation != Operation::Update || !req.is("", "persistentvolumeclaims") {
        return Ok(());
    }
    if !grows(new, old) {
        return Ok(());
    }
    let (class, old_class) = (claim_class(new), claim_class(old));
    let allows = if class.is_empty() || class != old_class {
        false
    } else {
        lookup(
            &server.registry,
            "storageclasses",
            &format!("storageclasses/{class}"),
        )
        .await
        .and_then(|sc| sc.get("allowVolumeExpansion").and_then(Value::as_bool))
        .unwrap_or(false)
    };
    judge(new, old, allows).map_err(|m| req.forbidden(m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pvc(size: &str, phase: &str) -> Value {
        json!({
            "spec": {"storageClassName": "fast", "resources": {"requests": {"storage": size}}},
            "status": {"phase": phase},
        })
    }

    #[test]
    fn only_bound_claims_of_expandable_classes_grow() {
        // Same size or smaller: not this plugin's concern.
        assert!(judge(&pvc("1Gi", "Bound"), &pvc("1Gi", "Bound"), false).is_ok());
        assert!(judge(&pvc("1024Mi", "Bound"), &pvc("1Gi", "Bound"), false).is_ok());
        assert!(judge(&pvc("500Mi", "Bound"), &pvc("1Gi", "Bound"), false).is_ok());
        assert_eq!(
            judge(&pvc("2Gi", "Pending"), &pvc("1Gi", "Pending"), true),
            Err("Only bound persistent volume claims can be expanded")
        );
        assert!(
            judge(&pvc("2Gi", "Bound"), &pvc("1Gi", "Bound"), false)
                .unwrap_err()
                .starts_with("only dynamically provisioned pvc can be resized")
        );
        assert!(judge(&pvc("2Gi", "Bound"), &pvc("1Gi", "Bound"), true).is_ok());
    }

    #[test]
    fn the_beta_annotation_names_the_class_first() {
        let mut c = pvc("1Gi", "Bound");
        assert_eq!(claim_class(&c), "fast");
        c["metadata"] = json!({"annotations": {BETA_CLAIM_CLASS: "slow"}});
        assert_eq!(claim_class(&c), "slow");
        assert_eq!(claim_class(&json!({"spec": {}})), "");
    }
}
