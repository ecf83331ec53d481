//! Policies and bindings as the plugin uses them, parsed from the watch
//! caches once per change.

use std::sync::{Arc, Mutex};

use corten_apimachinery::labels::Selector;
use k8s_openapi::api::admissionregistration::v1::{
    MatchResources, NamedRuleWithOperations, ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::admission::webhook::config::Rule;
use crate::admission::webhook::matching::{self, Target};
use crate::registry::Registry;

/// A rule with optional `resourceNames`.
#[derive(Debug, Clone)]
pub struct NamedRule {
    rule: Rule,
    names: Vec<String>,
}

/// `matchConstraints` / `matchResources`.
#[derive(Debug)]
pub struct Match {
    rules: Vec<NamedRule>,
    exclude: Vec<NamedRule>,
    exact: bool,
    /// `namespaceSelector`.
    pub namespace_selector: Selector,
    /// `objectSelector`.
    pub object_selector: Selector,
}

fn selector(s: Option<&LabelSelector>) -> Selector {
    match s {
        None => Selector::everything(),
        Some(s) => serde_json::to_value(s)
            .ok()
            .and_then(|v| Selector::from_label_selector(&v).ok())
            .unwrap_or_else(Selector::nothing),
    }
}

fn named(rules: Option<&Vec<NamedRuleWithOperations>>) -> Vec<NamedRule> {
    rules
        .into_iter()
        .flatten()
        .map(|r| NamedRule {
            rule: Rule {
                operations: r.operations.clone().unwrap_or_default(),
                api_groups: r.api_groups.clone().unwrap_or_default(),
                api_versions: r.api_versions.clone().unwrap_or_default(),
                resources: r.resources.clone().unwrap_or_default(),
                scope: r.scope.clone().unwrap_or_else(|| "*".into()),
            },
            names: r.resource_names.clone().unwrap_or_default(),
        })
        .collect()
}

impl From<&MatchResources> for Match {
    fn from(m: &MatchResources) -> Self {
        Match {
            rules: named(m.resource_rules.as_ref()),
            exclude: named(m.exclude_resource_rules.as_ref()),
            exact: m.match_policy.as_deref() == Some("Exact"),
            namespace_selector: selector(m.namespace_selector.as_ref()),
            object_selector: selector(m.object_selector.as_ref()),
        }
    }
}

fn named_matches(
    rules: &[NamedRule],
    exact: bool,
    t: &Target<'_>,
    name: &str,
    reg: &Registry,
) -> bool {
    rules.iter().any(|r| {
        (r.names.is_empty() || r.names.iter().any(|n| n == name))
            && matching::rules_match(std::slice::from_ref(&r.rule), exact, t, Some(reg))
    })
}

impl Match {
    /// Rules match and no exclusion does; `empty_matches_all` for
    /// bindings, whose empty rules do not narrow the policy.
    fn matches(&self, t: &Target<'_>, name: &str, reg: &Registry, empty_matches_all: bool) -> bool {
        let included = if self.rules.is_empty() {
            empty_matches_all
        } else {
            named_matches(&self.rules, self.exact, t, name, reg)
        };
        included && !named_matches(&self.exclude, self.exact, t, name, reg)
    }
}

/// One validation.
#[derive(Debug, Clone)]
pub struct Validation {
    /// `expression`.
    pub expression: String,
    /// `message`.
    pub message: String,
    /// `messageExpression`.
    pub message_expression: String,
    /// `reason`.
    pub reason: String,
}

/// A ValidatingAdmissionPolicy.
#[derive(Debug)]
pub struct Policy {
    /// Name.
    pub name: String,
    /// `matchConstraints`.
    pub constraints: Option<Match>,
    /// `failurePolicy: Ignore`.
    pub ignore_failures: bool,
    /// `paramKind`: apiVersion, kind.
    pub param_kind: Option<(String, String)>,
    /// `matchConditions`: name, expression.
    pub match_conditions: Vec<(String, String)>,
    /// `variables`: name, expression.
    pub variables: Vec<(String, String)>,
    /// `validations`.
    pub validations: Vec<Validation>,
    /// `auditAnnotations`: key, valueExpression.
    pub audit_annotations: Vec<(String, String)>,
}

impl Policy {
    /// Whether `matchConstraints` rules match.
    pub fn rules_match(&self, t: &Target<'_>, name: &str, reg: &Registry) -> bool {
        self.constraints
            .as_ref()
            .is_some_and(|m| m.matches(t, name, reg, false))
    }
}

/// `paramRef`.
#[derive(Debug)]
pub struct ParamRef {
    /// `name`.
    pub name: String,
    /// `namespace`.
    pub namespace: String,
    /// `selector`.
    pub selector: Option<Selector>,
    /// `parameterNotFoundAction: Deny`.
    pub deny_if_missing: bool,
}

/// A ValidatingAdmissionPolicyBinding.
#[derive(Debug)]
pub struct Binding {
    /// Name.
    pub name: String,
    /// `policyName`.
    pub policy_name: String,
    /// `paramRef`.
    pub param_ref: Option<ParamRef>,
    /// `matchResources`.
    pub match_resources: Option<Match>,
    /// `validationActions`.
    pub actions: Vec<String>,
}

impl Binding {
    /// Whether `matchResources` rules (if any) match.
    pub fn rules_match(&self, t: &Target<'_>, name: &str, reg: &Registry) -> bool {
        self.match_resources
            .as_ref()
            .is_none_or(|m| m.matches(t, name, reg, true))
    }
}

fn policy(p: &ValidatingAdmissionPolicy) -> Policy {
    let spec = p.spec.clone().unwrap_or_default();
    Policy {
        name: p.metadata.name.clone().unwrap_or_default(),
        constraints: spec.match_constraints.as_ref().map(Match::from),
        ignore_failures: spec.failure_policy.as_deref() == Some("Ignore"),
        param_kind: spec.param_kind.as_ref().map(|k| {
            (
                k.api_version.clone().unwrap_or_default(),
                k.kind.clone().unwrap_or_default(),
            )
        }),
        match_conditions: spec
            .match_conditions
            .iter()
            .flatten()
            .map(|m| (m.name.clone(), m.expression.clone()))
            .collect(),
        variables: spec
            .variables
            .iter()
            .flatten()
            .map(|v| (v.name.clone(), v.expression.clone()))
            .collect(),
        validations: spec
            .validations
            .iter()
            .flatten()
            .map(|v| Validation {
                expression: v.expression.clone(),
                message: v.message.clone().unwrap_or_default(),
                message_expression: v.message_expression.clone().unwrap_or_default(),
                reason: v.reason.clone().unwrap_or_default(),
            })
            .collect(),
        audit_annotations: spec
            .audit_annotations
            .iter()
            .flatten()
            .map(|a| (a.key.clone(), a.value_expression.clone()))
            .collect(),
    }
}

fn binding(b: &ValidatingAdmissionPolicyBinding) -> Binding {
    let spec = b.spec.clone().unwrap_or_default();
    Binding {
        name: b.metadata.name.clone().unwrap_or_default(),
        policy_name: spec.policy_name.clone().unwrap_or_default(),
        param_ref: spec.param_ref.as_ref().map(|r| ParamRef {
            name: r.name.clone().unwrap_or_default(),
            namespace: r.namespace.clone().unwrap_or_default(),
            selector: r.selector.as_ref().map(|s| selector(Some(s))),
            deny_if_missing: r.parameter_not_found_action.as_deref() == Some("Deny"),
        }),
        match_resources: spec.match_resources.as_ref().map(Match::from),
        actions: spec.validation_actions.clone().unwrap_or_default(),
    }
}

/// (policy, binding) pairs in binding-name order.
pub type Bound = Arc<Vec<(Arc<Policy>, Arc<Binding>)>>;

/// (name, resourceVersion) of each cached object, and their JSON.
type Listed = (Vec<(String, i64)>, Vec<(String, bytes::Bytes)>);

fn versions(reg: &Registry, storage: &str) -> Listed {
    let Some(cache) = reg.cache(storage) else {
        return (Vec::new(), Vec::new());
    };
    let listed = cache.list(&corten_storage::ListRequest {
        prefix: format!("{storage}/"),
        filter: Default::default(),
        start_after: None,
        limit: None,
    });
    let mut v: Vec<(String, i64)> = listed
        .items
        .iter()
        .map(|o| (o.name.clone(), o.resource_version))
        .collect();
    v.sort();
    let items = listed
        .items
        .iter()
        .map(|o| (o.name.clone(), o.json.clone()))
        .collect();
    (v, items)
}

/// The parsed policies and bindings.
#[derive(Debug, Default)]
pub struct PolicyCache {
    state: Mutex<(Vec<(String, i64)>, Bound)>,
}

impl PolicyCache {
    /// Every binding with its policy.
    pub fn bound(&self, reg: &Registry) -> Bound {
        let (mut key, policies) = versions(reg, "validatingadmissionpolicies");
        let (bkey, bindings) = versions(reg, "validatingadmissionpolicybindings");
        key.push((String::new(), -1));
        key.extend(bkey);
        let Ok(mut state) = self.state.lock() else {
            return Bound::default();
        };
        if state.0 == key {
            return state.1.clone();
        }
        let policies: Vec<Arc<Policy>> = policies
            .iter()
            .filter_map(|(_, j)| serde_json::from_slice::<ValidatingAdmissionPolicy>(j).ok())
            .map(|p| Arc::new(policy(&p)))
            .collect();
        let mut bindings: Vec<Binding> = bindings
            .iter()
            .filter_map(|(_, j)| serde_json::from_slice::<ValidatingAdmissionPolicyBinding>(j).ok())
            .map(|b| binding(&b))
            .collect();
        bindings.sort_by(|a, b| a.name.cmp(&b.name));
        let bound: Vec<(Arc<Policy>, Arc<Binding>)> = bindings
            .into_iter()
            .filter_map(|b| {
                let p = policies.iter().find(|p| p.name == b.policy_name)?.clone();
                Some((p, Arc::new(b)))
            })
            .collect();
        *state = (key, Arc::new(bound));
        state.1.clone()
    }
}
