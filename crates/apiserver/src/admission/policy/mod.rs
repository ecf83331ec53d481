//! ValidatingAdmissionPolicy: policies and their bindings from the watch
//! caches, matched like webhooks (`matchConstraints`, the binding's
//! `matchResources`), then CEL: `matchConditions`, `variables`,
//! `validations` and `auditAnnotations` over `object`, `oldObject`,
//! `request`, `params`, `namespaceObject` and `authorizer`.
//!
//! A failed validation is acted on per the binding's `validationActions`:
//! `Deny` refuses the request like upstream
//! (`ValidatingAdmissionPolicy 'p' with binding 'b' denied request: ...`,
//! 422 unless the validation names another reason), `Warn` adds a
//! `Warning` header, `Audit` is logged.

mod eval;
mod source;

use std::sync::Arc;

use corten_apimachinery::{Reason, StatusError};
use serde_json::Value;

use super::webhook::Call;
use super::webhook::matching;
pub use source::{Binding, Policy, PolicyCache};

/// A policy's decision for one binding (and param).
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The message (upstream's decision message).
    pub message: String,
    /// `reason` of the validation (Invalid when unset).
    pub reason: String,
    /// Index of the failed validation (0 for failures of the policy's
    /// configuration).
    pub expression_index: usize,
}

/// What evaluating one binding came to.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// Failed validations (empty: admitted).
    pub failures: Vec<Failure>,
    /// `auditAnnotations` that evaluated to a string: (key, value).
    pub audit_annotations: Vec<(String, String)>,
}

/// Upstream's audit annotation of failures under a binding with the
/// `Audit` action.
const VALIDATION_FAILURE: &str = "validation.policy.admission.k8s.io/validation_failure";

/// Upstream `reasonToCode`.
fn reason_to_code(r: &str) -> (Reason, u16) {
    match r {
        "Forbidden" => (Reason::Forbidden, 403),
        "Unauthorized" => (Reason::Unauthorized, 401),
        "RequestEntityTooLarge" => (Reason::RequestEntityTooLarge, 413),
        _ => (Reason::Invalid, 422),
    }
}

/// The Status of a denial: upstream builds an `admission.NewForbidden`
/// message, then sets the reason and code and adds the message as a cause
/// (which kubectl prints as `The <resource> "x" is invalid: : ...`).
pub fn denial(call: &Call<'_>, policy: &str, binding: &str, f: &Failure) -> StatusError {
    let message = format!(
        "ValidatingAdmissionPolicy '{policy}' with binding '{binding}' denied request: {}",
        f.message
    );
    let (group, _, resource) = call.resource;
    let mut e = StatusError::forbidden(
        &corten_apimachinery::GroupResource::new(group, resource),
        call.name,
        &message,
    );
    let (reason, code) = reason_to_code(&f.reason);
    e.reason = reason;
    e.code = code;
    e.causes.push(corten_apimachinery::status::StatusCause {
        reason: String::new(),
        message,
        field: String::new(),
    });
    e
}

/// The plugin's state.
#[derive(Debug, Default)]
pub struct Policies {
    cache: PolicyCache,
}

impl Policies {
    /// Whether any binding's policy could apply to the request (rules only).
    pub fn rules_match(&self, call: &Call<'_>) -> bool {
        let reg = &call.server.registry;
        let t = call.target();
        self.cache
            .bound(reg)
            .iter()
            .any(|(p, b)| p.rules_match(&t, call.name, reg) && b.rules_match(&t, call.name, reg))
    }

    /// Evaluates every binding whose policy matches.
    pub async fn validate(
        &self,
        call: &Call<'_>,
        obj: Option<&Value>,
        old: Option<&Value>,
    ) -> Result<(), StatusError> {
        let reg = &call.server.registry;
        let t = call.target();
        let bound: Vec<(Arc<Policy>, Arc<Binding>)> = self
            .cache
            .bound(reg)
            .iter()
            .filter(|(p, b)| p.rules_match(&t, call.name, reg) && b.rules_match(&t, call.name, reg))
            .cloned()
            .collect();
        if bound.is_empty() {
            return Ok(());
        }
        let ns_labels = matching::namespace_labels(reg, &t, obj, old);
        // Every binding is evaluated (its audit annotations count even when
        // another one denies); the first denial is the answer.
        let mut denied = None;
        let mut audited = Vec::new();
        for (p, b) in bound {
            let selected = |m: &source::Match| {
                matching::namespace_selector_matches(&m.namespace_selector, ns_labels.as_ref())
                    && matching::object_selector_matches(&m.object_selector, obj, old)
            };
            if !p.constraints.as_ref().is_none_or(selected)
                || !b.match_resources.as_ref().is_none_or(selected)
            {
                continue;
            }
            let evaluation = eval::evaluate(call, &p, &b, obj, old)?;
            for (key, value) in evaluation.audit_annotations {
                call.opts.annotate(format!("{}/{key}", p.name), value);
            }
            for f in evaluation.failures {
                let actions = &b.actions;
                if actions.iter().any(|a| a == "Warn") {
                    call.opts.warn(format!(
                        "Validation failed for ValidatingAdmissionPolicy '{}' with binding '{}': {}",
                        p.name, b.name, f.message
                    ));
                }
                if actions.iter().any(|a| a == "Audit") {
                    audited.push(serde_json::json!({
                        "message": f.message,
                        "policy": p.name,
                        "binding": b.name,
                        "expressionIndex": f.expression_index,
                        "validationActions": actions,
                    }));
                }
                if denied.is_none() && actions.iter().any(|a| a == "Deny") {
                    denied = Some(denial(call, &p.name, &b.name, &f));
                }
            }
        }
        if !audited.is_empty() {
            call.opts.annotate(
                VALIDATION_FAILURE.to_string(),
                Value::Array(audited).to_string(),
            );
        }
        match denied {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_map_to_upstream_codes() {
        assert_eq!(reason_to_code(""), (Reason::Invalid, 422));
        assert_eq!(reason_to_code("Invalid"), (Reason::Invalid, 422));
        assert_eq!(reason_to_code("Forbidden"), (Reason::Forbidden, 403));
        assert_eq!(reason_to_code("Unauthorized"), (Reason::Unauthorized, 401));
        assert_eq!(
            reason_to_code("RequestEntityTooLarge"),
            (Reason::RequestEntityTooLarge, 413)
        );
    }
}
