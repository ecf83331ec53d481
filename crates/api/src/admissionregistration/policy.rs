//! ValidatingAdmissionPolicy and ValidatingAdmissionPolicyBinding.

use std::collections::HashSet;

use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::admissionregistration::v1::{
    MatchResources, NamedRuleWithOperations, ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyBinding, ValidatingAdmissionPolicyBindingSpec,
    ValidatingAdmissionPolicySpec,
};

use super::{FAILURE_POLICIES, MATCH_POLICIES, empty_selector, strings, validate_rule};
use crate::kind::KindRules;
use crate::validate;

fn default_match_resources(m: &mut MatchResources) {
    m.match_policy.get_or_insert_with(|| "Equivalent".into());
    if m.namespace_selector.is_none() {
        m.namespace_selector = empty_selector();
    }
    if m.object_selector.is_none() {
        m.object_selector = empty_selector();
    }
    let rules = m
        .resource_rules
        .iter_mut()
        .flatten()
        .chain(m.exclude_resource_rules.iter_mut().flatten());
    for r in rules {
        r.scope.get_or_insert_with(|| "*".into());
    }
}

fn validate_named_rules(rules: &[NamedRuleWithOperations], path: &Path) -> ErrorList {
    rules
        .iter()
        .enumerate()
        .flat_map(|(i, r)| {
            validate_rule(
                r.operations.as_deref().unwrap_or_default(),
                r.api_groups.as_deref().unwrap_or_default(),
                r.api_versions.as_deref().unwrap_or_default(),
                r.resources.as_deref().unwrap_or_default(),
                r.scope.as_deref(),
                &path.index(i),
            )
        })
        .collect()
}

fn validate_match_resources(m: &MatchResources, require_rules: bool, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if let Some(p) = m.match_policy.as_deref() {
        errs.extend(validate::one_of(
            p,
            MATCH_POLICIES,
            true,
            &path.child("matchPolicy"),
        ));
    }
    errs.extend(validate::label_selector(
        m.namespace_selector.as_ref(),
        &path.child("namespaceSelector"),
    ));
    errs.extend(validate::label_selector(
        m.object_selector.as_ref(),
        &path.child("objectSelector"),
    ));
    let rules = m.resource_rules.as_deref().unwrap_or_default();
    if require_rules && rules.is_empty() {
        errs.push(FieldError::required(&path.child("resourceRules"), ""));
    }
    errs.extend(validate_named_rules(rules, &path.child("resourceRules")));
    errs.extend(validate_named_rules(
        m.exclude_resource_rules.as_deref().unwrap_or_default(),
        &path.child("excludeResourceRules"),
    ));
    errs
}

/// The rules of ValidatingAdmissionPolicy.
pub struct ValidatingAdmissionPolicyRules;

impl KindRules for ValidatingAdmissionPolicyRules {
    type Object = ValidatingAdmissionPolicy;
    const NAMESPACED: bool = false;
    const TRACKS_GENERATION: bool = true;

    fn default(p: &mut ValidatingAdmissionPolicy) {
        let spec = p
            .spec
            .get_or_insert_with(ValidatingAdmissionPolicySpec::default);
        spec.failure_policy.get_or_insert_with(|| "Fail".into());
        if let Some(m) = spec.match_constraints.as_mut() {
            default_match_resources(m);
        }
    }

    fn validate(p: &ValidatingAdmissionPolicy) -> ErrorList {
        let empty = ValidatingAdmissionPolicySpec::default();
        let spec = p.spec.as_ref().unwrap_or(&empty);
        let sp = Path::new("spec");
        let mut errs = Vec::new();
        if let Some(f) = spec.failure_policy.as_deref() {
            errs.extend(validate::one_of(
                f,
                FAILURE_POLICIES,
                true,
                &sp.child("failurePolicy"),
            ));
        }
        if let Some(pk) = spec.param_kind.as_ref() {
            let pp = sp.child("paramKind");
            if pk.api_version.as_deref().unwrap_or_default().is_empty() {
                errs.push(FieldError::required(&pp.child("apiVersion"), ""));
            }
            if pk.kind.as_deref().unwrap_or_default().is_empty() {
                errs.push(FieldError::required(&pp.child("kind"), ""));
            }
        }
        match spec.match_constraints.as_ref() {
            None => errs.push(FieldError::required(&sp.child("matchConstraints"), "")),
            Some(m) => errs.extend(validate_match_resources(
                m,
                true,
                &sp.child("matchConstraints"),
            )),
        }
        let validations = spec.validations.as_deref().unwrap_or_default();
        let audits = spec.audit_annotations.as_deref().unwrap_or_default();
        if validations.is_empty() && audits.is_empty() {
            errs.push(FieldError::required(
                &sp.child("validations"),
                "validations or auditAnnotations must contain at least one item",
            ));
        }
        for (i, v) in validations.iter().enumerate() {
            let vp = sp.child("validations").index(i);
            if v.expression.trim().is_empty() {
                errs.push(FieldError::required(
                    &vp.child("expression"),
                    "expression is not specified",
                ));
            }
            if let Some(r) = v.reason.as_deref() {
                errs.extend(validate::one_of(
                    r,
                    &[
                        "Forbidden",
                        "Invalid",
                        "RequestEntityTooLarge",
                        "Unauthorized",
                    ],
                    true,
                    &vp.child("reason"),
                ));
            }
        }
        for (i, a) in audits.iter().enumerate() {
            let ap = sp.child("auditAnnotations").index(i);
            if a.key.is_empty() {
                errs.push(FieldError::required(&ap.child("key"), ""));
            }
            if a.value_expression.trim().is_empty() {
                errs.push(FieldError::required(
                    &ap.child("valueExpression"),
                    "expression is not specified",
                ));
            }
        }
        for (i, v) in spec.variables.iter().flatten().enumerate() {
            let vp = sp.child("variables").index(i);
            if v.name.is_empty() {
                errs.push(FieldError::required(
                    &vp.child("name"),
                    "name is not specified",
                ));
            }
            if v.expression.trim().is_empty() {
                errs.push(FieldError::required(
                    &vp.child("expression"),
                    "expression is not specified",
                ));
            }
        }
        errs
    }
}

/// The rules of ValidatingAdmissionPolicyBinding.
pub struct ValidatingAdmissionPolicyBindingRules;

impl KindRules for ValidatingAdmissionPolicyBindingRules {
    type Object = ValidatingAdmissionPolicyBinding;
    const NAMESPACED: bool = false;
    const TRACKS_GENERATION: bool = true;

    fn default(b: &mut ValidatingAdmissionPolicyBinding) {
        if let Some(m) = b.spec.as_mut().and_then(|s| s.match_resources.as_mut()) {
            default_match_resources(m);
        }
    }

    fn validate(b: &ValidatingAdmissionPolicyBinding) -> ErrorList {
        let empty = ValidatingAdmissionPolicyBindingSpec::default();
        let spec = b.spec.as_ref().unwrap_or(&empty);
        let sp = Path::new("spec");
        let mut errs = Vec::new();
        let name = spec.policy_name.as_deref().unwrap_or_default();
        if name.is_empty() {
            errs.push(FieldError::required(&sp.child("policyName"), ""));
        } else {
            errs.extend(validate::dns1123_subdomain(name, &sp.child("policyName")));
        }
        if let Some(pr) = spec.param_ref.as_ref() {
            let pp = sp.child("paramRef");
            match (pr.name.as_deref(), pr.selector.as_ref()) {
                (Some(_), Some(_)) => errs.push(FieldError::forbidden(
                    &pp.child("name"),
                    "name and selector are mutually exclusive",
                )),
                (None, None) => errs.push(FieldError::required(
                    &pp,
                    "one of name or selector must be set",
                )),
                _ => {}
            }
            match pr.parameter_not_found_action.as_deref() {
                None => errs.push(FieldError::required(
                    &pp.child("parameterNotFoundAction"),
                    "",
                )),
                Some(a) => errs.extend(validate::one_of(
                    a,
                    &["Allow", "Deny"],
                    true,
                    &pp.child("parameterNotFoundAction"),
                )),
            }
        }
        if let Some(m) = spec.match_resources.as_ref() {
            errs.extend(validate_match_resources(
                m,
                false,
                &sp.child("matchResources"),
            ));
        }
        let ap = sp.child("validationActions");
        let actions = spec.validation_actions.as_deref().unwrap_or_default();
        if actions.is_empty() {
            errs.push(FieldError::required(
                &ap,
                "at least one validation action is required",
            ));
        }
        let mut seen = HashSet::new();
        for (i, a) in actions.iter().enumerate() {
            if !seen.insert(a.as_str()) {
                errs.push(FieldError::duplicate(&ap.index(i), a.as_str()));
            }
            errs.extend(validate::one_of(
                a,
                &["Audit", "Deny", "Warn"],
                true,
                &ap.index(i),
            ));
        }
        if seen.contains("Deny") && seen.contains("Warn") {
            errs.push(FieldError::invalid(
                &ap,
                strings(actions),
                "must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)",
            ));
        }
        errs
    }
}
