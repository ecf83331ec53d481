//! coordination.k8s.io/v1 Lease.

use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::coordination::v1::Lease;

use crate::kind::{KindRules, KindStrategy};

/// Strategy for Lease.
pub static LEASE_STRATEGY: KindStrategy<LeaseRules> = KindStrategy::new();

/// The rules of Lease: a positive duration, non-negative transitions, and
/// the coordinated-leader-election fields.
pub struct LeaseRules;

impl KindRules for LeaseRules {
    type Object = Lease;
    const NAMESPACED: bool = true;

    fn validate(lease: &Lease) -> ErrorList {
        let mut errs = Vec::new();
        let Some(spec) = lease.spec.as_ref() else {
            return errs;
        };
        let sp = Path::new("spec");
        if let Some(d) = spec.lease_duration_seconds
            && d <= 0
        {
            errs.push(FieldError::invalid(
                &sp.child("leaseDurationSeconds"),
                d,
                "must be greater than 0",
            ));
        }
        if let Some(t) = spec.lease_transitions
            && t < 0
        {
            errs.push(FieldError::invalid(
                &sp.child("leaseTransitions"),
                t,
                "must be greater than or equal to 0",
            ));
        }
        let strategy = spec.strategy.as_deref().unwrap_or_default();
        if spec.strategy.is_some() {
            errs.extend(crate::validate::one_of(
                strategy,
                &["OldestEmulationVersion"],
                true,
                &sp.child("strategy"),
            ));
        }
        if spec
            .preferred_holder
            .as_deref()
            .is_some_and(|h| !h.is_empty())
            && strategy.is_empty()
        {
            errs.push(FieldError::forbidden(
                &sp.child("preferredHolder"),
                "may only be specified if `strategy` is defined",
            ));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::Strategy;
    use serde_json::json;

    #[test]
    fn duration_must_be_positive() {
        let lease = json!({"metadata": {"name": "l", "namespace": "kube-node-lease"},
                           "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 0, "leaseTransitions": -1}});
        let lease = LEASE_STRATEGY.canonicalize(lease).unwrap();
        let errs: Vec<String> = LEASE_STRATEGY
            .validate(&lease)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            errs,
            vec![
                "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
                "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0",
            ]
        );
    }

    #[test]
    fn preferred_holder_needs_strategy() {
        let lease = json!({"metadata": {"name": "l", "namespace": "d"},
                           "spec": {"preferredHolder": "x"}});
        let errs = LEASE_STRATEGY.validate(&lease);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec.preferredHolder");
    }
}
