//! admissionregistration.k8s.io/v1: webhook configurations and
//! ValidatingAdmissionPolicy (+ bindings). CEL expressions are checked for
//! presence only; compiling them is the admission plugin's business.

use std::collections::HashSet;

use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhook, MutatingWebhookConfiguration, RuleWithOperations, ValidatingWebhook,
    ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::Value;

use crate::kind::{KindRules, KindStrategy};
use crate::validate;

mod policy;

pub use policy::{ValidatingAdmissionPolicyBindingRules, ValidatingAdmissionPolicyRules};

/// Strategy for ValidatingWebhookConfiguration.
pub static VALIDATING_WEBHOOK_CONFIGURATION_STRATEGY: KindStrategy<
    ValidatingWebhookConfigurationRules,
> = KindStrategy::new();

/// Strategy for MutatingWebhookConfiguration.
pub static MUTATING_WEBHOOK_CONFIGURATION_STRATEGY: KindStrategy<
    MutatingWebhookConfigurationRules,
> = KindStrategy::new();

/// Strategy for ValidatingAdmissionPolicy.
pub static VALIDATING_ADMISSION_POLICY_STRATEGY: KindStrategy<ValidatingAdmissionPolicyRules> =
    KindStrategy::new();

/// Strategy for ValidatingAdmissionPolicyBinding.
pub static VALIDATING_ADMISSION_POLICY_BINDING_STRATEGY: KindStrategy<
    ValidatingAdmissionPolicyBindingRules,
> = KindStrategy::new();

const FAILURE_POLICIES: &[&str] = &["Fail", "Ignore"];
const MATCH_POLICIES: &[&str] = &["Equivalent", "Exact"];
const SIDE_EFFECTS: &[&str] = &["None", "NoneOnDryRun"];
const OPERATIONS: &[&str] = &["*", "CONNECT", "CREATE", "DELETE", "UPDATE"];
const SCOPES: &[&str] = &["*", "Cluster", "Namespaced"];
const REVIEW_VERSIONS: &[&str] = &["v1", "v1beta1"];
const URL_FORM: &str = "; desired format: https://host[/path]";

/// The fields validating and mutating webhooks share.
struct Hook<'a> {
    name: &'a str,
    rules: &'a [RuleWithOperations],
    failure_policy: Option<&'a str>,
    match_policy: Option<&'a str>,
    side_effects: &'a str,
    timeout_seconds: Option<i32>,
    namespace_selector: Option<&'a LabelSelector>,
    object_selector: Option<&'a LabelSelector>,
    client_config: &'a WebhookClientConfig,
    review_versions: &'a [String],
    match_conditions: Vec<(&'a str, &'a str)>,
}

impl<'a> From<&'a ValidatingWebhook> for Hook<'a> {
    fn from(h: &'a ValidatingWebhook) -> Self {
        Hook {
            name: &h.name,
            rules: h.rules.as_deref().unwrap_or_default(),
            failure_policy: h.failure_policy.as_deref(),
            match_policy: h.match_policy.as_deref(),
            side_effects: &h.side_effects,
            timeout_seconds: h.timeout_seconds,
            namespace_selector: h.namespace_selector.as_ref(),
            object_selector: h.object_selector.as_ref(),
            client_config: &h.client_config,
            review_versions: &h.admission_review_versions,
            match_conditions: h
                .match_conditions
                .iter()
                .flatten()
                .map(|c| (c.name.as_str(), c.expression.as_str()))
                .collect(),
        }
    }
}

impl<'a> From<&'a MutatingWebhook> for Hook<'a> {
    fn from(h: &'a MutatingWebhook) -> Self {
        Hook {
            name: &h.name,
            rules: h.rules.as_deref().unwrap_or_default(),
            failure_policy: h.failure_policy.as_deref(),
            match_policy: h.match_policy.as_deref(),
            side_effects: &h.side_effects,
            timeout_seconds: h.timeout_seconds,
            namespace_selector: h.namespace_selector.as_ref(),
            object_selector: h.object_selector.as_ref(),
            client_config: &h.client_config,
            review_versions: &h.admission_review_versions,
            match_conditions: h
                .match_conditions
                .iter()
                .flatten()
                .map(|c| (c.name.as_str(), c.expression.as_str()))
                .collect(),
        }
    }
}

fn strings(v: &[String]) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Upstream `validateRuleWithOperations` + `validateRule`.
fn validate_rule(
    operations: &[String],
    groups: &[String],
    versions: &[String],
    resources: &[String],
    scope: Option<&str>,
    path: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    let op = path.child("operations");
    if operations.is_empty() {
        errs.push(FieldError::required(&op, ""));
    }
    if operations.len() > 1 && operations.iter().any(|o| o == "*") {
        errs.push(FieldError::invalid(
            &op,
            strings(operations),
            "if '*' is present, must not specify other operations",
        ));
    }
    for (i, o) in operations.iter().enumerate() {
        if !OPERATIONS.contains(&o.as_str()) {
            errs.push(FieldError::not_supported(
                &op.index(i),
                o.as_str(),
                OPERATIONS,
            ));
        }
    }
    let gp = path.child("apiGroups");
    if groups.is_empty() {
        errs.push(FieldError::required(&gp, ""));
    }
    if groups.len() > 1 && groups.iter().any(|g| g == "*") {
        errs.push(FieldError::invalid(
            &gp,
            strings(groups),
            "if '*' is present, must not specify other API groups",
        ));
    }
    let vp = path.child("apiVersions");
    if versions.is_empty() {
        errs.push(FieldError::required(&vp, ""));
    }
    if versions.len() > 1 && versions.iter().any(|v| v == "*") {
        errs.push(FieldError::invalid(
            &vp,
            strings(versions),
            "if '*' is present, must not specify other API versions",
        ));
    }
    for (i, v) in versions.iter().enumerate() {
        if v.is_empty() {
            errs.push(FieldError::required(&vp.index(i), ""));
        }
    }
    let rp = path.child("resources");
    if resources.is_empty() {
        errs.push(FieldError::required(&rp, ""));
    }
    let mut seen = HashSet::new();
    for (i, r) in resources.iter().enumerate() {
        if r.is_empty() {
            errs.push(FieldError::required(&rp.index(i), ""));
        }
        if !seen.insert(r.as_str()) {
            errs.push(FieldError::duplicate(&rp.index(i), r.as_str()));
        }
    }
    if resources.len() > 1 && resources.iter().any(|r| r == "*") {
        errs.push(FieldError::invalid(
            &rp,
            strings(resources),
            "if '*' is present, must not specify other resources without subresources",
        ));
    }
    if let Some(s) = scope {
        errs.extend(validate::one_of(s, SCOPES, true, &path.child("scope")));
    }
    errs
}

fn validate_url(url: &str, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let (scheme, rest) = url.split_once("://").unwrap_or(("", ""));
    if scheme != "https" {
        errs.push(FieldError::invalid(
            path,
            scheme,
            &format!("'https' is the only allowed URL scheme{URL_FORM}"),
        ));
    }
    let (before_fragment, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (before_query, query) = before_fragment
        .split_once('?')
        .unwrap_or((before_fragment, ""));
    let authority = before_query.split('/').next().unwrap_or_default();
    let (user, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if host.is_empty() {
        errs.push(FieldError::invalid(
            path,
            host,
            &format!("host must be specified{URL_FORM}"),
        ));
    }
    if let Some(u) = user {
        errs.push(FieldError::invalid(
            path,
            u,
            "user information is not permitted in the URL",
        ));
    }
    if !fragment.is_empty() {
        errs.push(FieldError::invalid(
            path,
            fragment,
            "fragments are not permitted in the URL",
        ));
    }
    if !query.is_empty() {
        errs.push(FieldError::invalid(
            path,
            query,
            "query parameters are not permitted in the URL",
        ));
    }
    errs
}

fn validate_service_path(p: &str, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if p.is_empty() || p == "/" {
        return errs;
    }
    if p == "//" {
        errs.push(FieldError::invalid(path, p, "segment[0] may not be empty"));
        return errs;
    }
    if !p.starts_with('/') {
        errs.push(FieldError::invalid(path, p, "must start with a '/'"));
    }
    let trimmed = p.strip_prefix('/').unwrap_or(p);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    for (i, step) in trimmed.split('/').enumerate() {
        if step.is_empty() {
            errs.push(FieldError::invalid(
                path,
                p,
                &format!("segment[{i}] may not be empty"),
            ));
            continue;
        }
        for m in corten_apimachinery::names::is_dns1123_subdomain(step) {
            errs.push(FieldError::invalid(path, p, &format!("segment[{i}]: {m}")));
        }
    }
    errs
}

fn validate_hook(h: &Hook<'_>, path: &Path) -> ErrorList {
    let mut errs = validate::fully_qualified_name(h.name, &path.child("name"));
    for (i, r) in h.rules.iter().enumerate() {
        errs.extend(validate_rule(
            r.operations.as_deref().unwrap_or_default(),
            r.api_groups.as_deref().unwrap_or_default(),
            r.api_versions.as_deref().unwrap_or_default(),
            r.resources.as_deref().unwrap_or_default(),
            r.scope.as_deref(),
            &path.child("rules").index(i),
        ));
    }
    if let Some(p) = h.failure_policy {
        errs.extend(validate::one_of(
            p,
            FAILURE_POLICIES,
            true,
            &path.child("failurePolicy"),
        ));
    }
    if let Some(p) = h.match_policy {
        errs.extend(validate::one_of(
            p,
            MATCH_POLICIES,
            true,
            &path.child("matchPolicy"),
        ));
    }
    let sp = path.child("sideEffects");
    if h.side_effects.is_empty() {
        errs.push(FieldError::required(
            &sp,
            &format!("must specify one of {}", SIDE_EFFECTS.join(", ")),
        ));
    } else if !SIDE_EFFECTS.contains(&h.side_effects) {
        errs.push(FieldError::not_supported(&sp, h.side_effects, SIDE_EFFECTS));
    }
    if let Some(t) = h.timeout_seconds
        && !(1..=30).contains(&t)
    {
        errs.push(FieldError::invalid(
            &path.child("timeoutSeconds"),
            t,
            "the timeout value must be between 1 and 30 seconds",
        ));
    }
    errs.extend(validate::label_selector(
        h.namespace_selector,
        &path.child("namespaceSelector"),
    ));
    errs.extend(validate::label_selector(
        h.object_selector,
        &path.child("objectSelector"),
    ));
    let cc = path.child("clientConfig");
    match (&h.client_config.url, &h.client_config.service) {
        (Some(url), None) => errs.extend(validate_url(url, &cc.child("url"))),
        (None, Some(svc)) => {
            let sp = cc.child("service");
            if svc.name.is_empty() {
                errs.push(FieldError::required(
                    &sp.child("name"),
                    "service name is required",
                ));
            }
            if svc.namespace.is_empty() {
                errs.push(FieldError::required(
                    &sp.child("namespace"),
                    "service namespace is required",
                ));
            }
            let port = svc.port.unwrap_or(443);
            let msgs = corten_apimachinery::names::is_valid_port_num(i64::from(port));
            if !msgs.is_empty() {
                errs.push(FieldError::invalid(
                    &sp.child("port"),
                    port,
                    &format!("port is not valid: {}", msgs.join(", ")),
                ));
            }
            if let Some(p) = svc.path.as_deref() {
                errs.extend(validate_service_path(p, &sp.child("path")));
            }
        }
        _ => errs.push(FieldError::required(
            &cc,
            "exactly one of url or service is required",
        )),
    }
    let mut names = HashSet::new();
    for (i, (name, expr)) in h.match_conditions.iter().enumerate() {
        let mp = path.child("matchConditions").index(i);
        if name.is_empty() {
            errs.push(FieldError::required(&mp.child("name"), ""));
        } else {
            errs.extend(validate::qualified_name(name, &mp.child("name")));
            if !names.insert(*name) {
                errs.push(FieldError::duplicate(&mp.child("name"), *name));
            }
        }
        if expr.is_empty() {
            errs.push(FieldError::required(&mp.child("expression"), ""));
        }
    }
    errs.extend(validate_review_versions(
        h.review_versions,
        &path.child("admissionReviewVersions"),
    ));
    errs
}

fn validate_review_versions(versions: &[String], path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if versions.is_empty() {
        errs.push(FieldError::required(
            path,
            &format!("must specify one of {}", REVIEW_VERSIONS.join(", ")),
        ));
        return errs;
    }
    let mut seen = HashSet::new();
    for (i, v) in versions.iter().enumerate() {
        if !seen.insert(v.as_str()) {
            errs.push(FieldError::invalid(
                &path.index(i),
                v.as_str(),
                "duplicate version",
            ));
            continue;
        }
        errs.extend(validate::invalid_each(
            &path.index(i),
            v,
            corten_apimachinery::names::is_dns1035_label(v),
        ));
    }
    if !versions
        .iter()
        .any(|v| REVIEW_VERSIONS.contains(&v.as_str()))
    {
        errs.push(FieldError::invalid(
            path,
            strings(versions),
            &format!(
                "must include at least one of {}",
                REVIEW_VERSIONS.join(", ")
            ),
        ));
    }
    errs
}

fn validate_hooks<'a>(hooks: impl Iterator<Item = Hook<'a>>) -> ErrorList {
    let mut errs = Vec::new();
    let mut names = HashSet::new();
    for (i, h) in hooks.enumerate() {
        let p = Path::new("webhooks").index(i);
        errs.extend(validate_hook(&h, &p));
        if !h.name.is_empty() && !names.insert(h.name) {
            errs.push(FieldError::duplicate(&p.child("name"), h.name));
        }
    }
    errs
}

fn empty_selector() -> Option<LabelSelector> {
    Some(LabelSelector::default())
}

fn default_rules(rules: Option<&mut Vec<RuleWithOperations>>) {
    for r in rules.into_iter().flatten() {
        r.scope.get_or_insert_with(|| "*".into());
    }
}

fn default_client_config(cc: &mut WebhookClientConfig) {
    if let Some(svc) = cc.service.as_mut() {
        svc.port.get_or_insert(443);
    }
}

/// The rules of ValidatingWebhookConfiguration.
pub struct ValidatingWebhookConfigurationRules;

impl KindRules for ValidatingWebhookConfigurationRules {
    type Object = ValidatingWebhookConfiguration;
    const NAMESPACED: bool = false;
    const TRACKS_GENERATION: bool = true;

    fn default(c: &mut ValidatingWebhookConfiguration) {
        for h in c.webhooks.iter_mut().flatten() {
            h.failure_policy.get_or_insert_with(|| "Fail".into());
            h.match_policy.get_or_insert_with(|| "Equivalent".into());
            if h.namespace_selector.is_none() {
                h.namespace_selector = empty_selector();
            }
            if h.object_selector.is_none() {
                h.object_selector = empty_selector();
            }
            h.timeout_seconds.get_or_insert(10);
            default_rules(h.rules.as_mut());
            default_client_config(&mut h.client_config);
        }
    }

    fn validate(c: &ValidatingWebhookConfiguration) -> ErrorList {
        validate_hooks(c.webhooks.iter().flatten().map(Hook::from))
    }
}

/// The rules of MutatingWebhookConfiguration.
pub struct MutatingWebhookConfigurationRules;

impl KindRules for MutatingWebhookConfigurationRules {
    type Object = MutatingWebhookConfiguration;
    const NAMESPACED: bool = false;
    const TRACKS_GENERATION: bool = true;

    fn default(c: &mut MutatingWebhookConfiguration) {
        for h in c.webhooks.iter_mut().flatten() {
            h.failure_policy.get_or_insert_with(|| "Fail".into());
            h.match_policy.get_or_insert_with(|| "Equivalent".into());
            if h.namespace_selector.is_none() {
                h.namespace_selector = empty_selector();
            }
            if h.object_selector.is_none() {
                h.object_selector = empty_selector();
            }
            h.timeout_seconds.get_or_insert(10);
            h.reinvocation_policy.get_or_insert_with(|| "Never".into());
            default_rules(h.rules.as_mut());
            default_client_config(&mut h.client_config);
        }
    }

    fn validate(c: &MutatingWebhookConfiguration) -> ErrorList {
        let mut errs = validate_hooks(c.webhooks.iter().flatten().map(Hook::from));
        for (i, h) in c.webhooks.iter().flatten().enumerate() {
            if let Some(p) = h.reinvocation_policy.as_deref() {
                errs.extend(validate::one_of(
                    p,
                    &["IfNeeded", "Never"],
                    true,
                    &Path::new("webhooks").index(i).child("reinvocationPolicy"),
                ));
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests;
