//! FlowSchema: defaulting and upstream's validation.

use corten_apimachinery::names::{is_dns1123_label, is_dns1123_subdomain};
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::flowcontrol::v1::{
    FlowSchema, FlowSchemaStatus, NonResourcePolicyRule, PolicyRulesWithSubjects,
    ResourcePolicyRule, Subject,
};

use super::{SUPPORTED_VERBS, bootstrap, has_wildcard};
use crate::kind::{KindRules, KindStrategy};
use crate::validate::invalid_each;

/// Strategy for FlowSchema.
pub static FLOW_SCHEMA_STRATEGY: KindStrategy<FlowSchemaRules> = KindStrategy::new();

/// The highest `matchingPrecedence`.
const MAX_MATCHING_PRECEDENCE: i32 = 10_000;
/// What an unset `matchingPrecedence` becomes.
const DEFAULT_MATCHING_PRECEDENCE: i32 = 1_000;

const NS_ERR_INTRO: &str = "each member of this list must be '*' or a DNS-1123 label; ";

/// The rules of FlowSchema (upstream `ValidateFlowSchema*`).
pub struct FlowSchemaRules;

impl KindRules for FlowSchemaRules {
    type Object = FlowSchema;
    const NAMESPACED: bool = false;
    const TRACKS_GENERATION: bool = true;

    fn default(fs: &mut FlowSchema) {
        if let Some(spec) = fs.spec.as_mut()
            && spec.matching_precedence.unwrap_or(0) == 0
        {
            spec.matching_precedence = Some(DEFAULT_MATCHING_PRECEDENCE);
        }
    }

    fn validate(fs: &FlowSchema) -> ErrorList {
        let name = fs.metadata.name.as_deref().unwrap_or_default();
        let sp = Path::new("spec");
        let spec = fs.spec.clone().unwrap_or_default();
        let mut errs = validate_spec(name, &spec, &sp);
        if let Some(mandatory) = bootstrap::mandatory_flow_schema(name) {
            let got = serde_json::to_value(&spec).unwrap_or_default();
            if got != mandatory["spec"] {
                errs.push(FieldError::invalid(
                    &sp,
                    got,
                    &format!("spec of '{name}' must equal the fixed value"),
                ));
            }
        }
        errs.extend(validate_status(fs.status.as_ref()));
        errs
    }

    fn validate_status_update(new: &FlowSchema, _old: &FlowSchema) -> ErrorList {
        validate_status(new.status.as_ref())
    }
}

fn validate_spec(
    name: &str,
    spec: &k8s_openapi::api::flowcontrol::v1::FlowSchemaSpec,
    sp: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    let precedence = spec.matching_precedence.unwrap_or(0);
    let pp = sp.child("matchingPrecedence");
    if precedence <= 0 {
        errs.push(FieldError::invalid(
            &pp,
            precedence,
            "must be a positive value",
        ));
    }
    if precedence > MAX_MATCHING_PRECEDENCE {
        errs.push(FieldError::invalid(
            &pp,
            precedence,
            &format!("must not be greater than {MAX_MATCHING_PRECEDENCE}"),
        ));
    }
    if precedence == 1 && name != "exempt" {
        errs.push(FieldError::invalid(
            &pp,
            precedence,
            "only the schema named 'exempt' may have matchingPrecedence 1",
        ));
    }
    if let Some(dm) = &spec.distinguisher_method
        && !["ByNamespace", "ByUser"].contains(&dm.type_.as_str())
    {
        errs.push(FieldError::not_supported(
            &sp.child("distinguisherMethod").child("type"),
            serde_json::to_value(dm).unwrap_or_default(),
            &["ByNamespace", "ByUser"],
        ));
    }
    let pl = &spec.priority_level_configuration.name;
    let plp = sp.child("priorityLevelConfiguration").child("name");
    if pl.is_empty() {
        errs.push(FieldError::required(
            &plp,
            "must reference a priority level",
        ));
    } else {
        errs.extend(invalid_each(&plp, pl, is_dns1123_subdomain(pl)));
    }
    for (i, rule) in spec.rules.iter().flatten().enumerate() {
        errs.extend(validate_rule(rule, &sp.child("rules").index(i)));
    }
    errs
}

fn validate_rule(rule: &PolicyRulesWithSubjects, p: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if rule.subjects.is_empty() {
        errs.push(FieldError::required(
            &p.child("subjects"),
            "subjects must contain at least one value",
        ));
    }
    for (i, s) in rule.subjects.iter().enumerate() {
        errs.extend(validate_subject(s, &p.child("subjects").index(i)));
    }
    let resource_rules = rule.resource_rules.as_deref().unwrap_or_default();
    let non_resource_rules = rule.non_resource_rules.as_deref().unwrap_or_default();
    if resource_rules.is_empty() && non_resource_rules.is_empty() {
        errs.push(FieldError::required(
            p,
            "at least one of resourceRules and nonResourceRules has to be non-empty",
        ));
    }
    for (i, r) in resource_rules.iter().enumerate() {
        errs.extend(validate_resource_rule(
            r,
            &p.child("resourceRules").index(i),
        ));
    }
    for (i, r) in non_resource_rules.iter().enumerate() {
        errs.extend(validate_non_resource_rule(
            r,
            &p.child("nonResourceRules").index(i),
        ));
    }
    errs
}

fn validate_subject(s: &Subject, p: &Path) -> ErrorList {
    const USER_FORBIDDEN: &str = "user is forbidden when subject kind is not 'User'";
    const GROUP_FORBIDDEN: &str = "group is forbidden when subject kind is not 'Group'";
    const SA_FORBIDDEN: &str =
        "serviceAccount is forbidden when subject kind is not 'ServiceAccount'";
    let mut errs = Vec::new();
    let mut forbid = |present: bool, field: &str, msg: &str| {
        if present {
            errs.push(FieldError::forbidden(&p.child(field), msg));
        }
    };
    match s.kind.as_str() {
        "ServiceAccount" => {
            forbid(s.user.is_some(), "user", USER_FORBIDDEN);
            forbid(s.group.is_some(), "group", GROUP_FORBIDDEN);
            let sp = p.child("serviceAccount");
            let mut own = Vec::new();
            match &s.service_account {
                None => own.push(FieldError::required(
                    &sp,
                    "serviceAccount is required when subject kind is 'ServiceAccount'",
                )),
                Some(sa) => {
                    if sa.name.is_empty() {
                        own.push(FieldError::required(&sp.child("name"), ""));
                    } else if sa.name != "*" {
                        own.extend(invalid_each(
                            &sp.child("name"),
                            &sa.name,
                            is_dns1123_subdomain(&sa.name),
                        ));
                    }
                    if sa.namespace.is_empty() {
                        own.push(FieldError::required(
                            &sp.child("namespace"),
                            "must specify namespace for service account",
                        ));
                    } else {
                        own.extend(invalid_each(
                            &sp.child("namespace"),
                            &sa.namespace,
                            is_dns1123_label(&sa.namespace),
                        ));
                    }
                }
            }
            // Upstream reports the subject's own field first.
            own.extend(errs);
            return own;
        }
        "User" => {
            let mut own = named_subject(
                s.user.as_ref().map(|u| u.name.as_str()),
                &p.child("user"),
                "user is required when subject kind is 'User'",
            );
            forbid(s.service_account.is_some(), "serviceAccount", SA_FORBIDDEN);
            forbid(s.group.is_some(), "group", GROUP_FORBIDDEN);
            own.extend(errs);
            return own;
        }
        "Group" => {
            let mut own = named_subject(
                s.group.as_ref().map(|g| g.name.as_str()),
                &p.child("group"),
                "group is required when subject kind is 'Group'",
            );
            forbid(s.service_account.is_some(), "serviceAccount", SA_FORBIDDEN);
            forbid(s.user.is_some(), "user", USER_FORBIDDEN);
            own.extend(errs);
            return own;
        }
        other => errs.push(FieldError::not_supported(
            &p.child("kind"),
            other,
            &["Group", "ServiceAccount", "User"],
        )),
    }
    errs
}

fn named_subject(name: Option<&str>, p: &Path, missing: &str) -> ErrorList {
    match name {
        None => vec![FieldError::required(p, missing)],
        Some("") => vec![FieldError::required(&p.child("name"), "")],
        Some(_) => Vec::new(),
    }
}

fn validate_verbs(verbs: &[String], p: &Path) -> ErrorList {
    if verbs.is_empty() {
        vec![FieldError::required(
            p,
            "verbs must contain at least one value",
        )]
    } else if has_wildcard(verbs) {
        if verbs.len() > 1 {
            vec![FieldError::invalid(
                p,
                verbs.to_vec(),
                "if '*' is present, must not specify other verbs",
            )]
        } else {
            Vec::new()
        }
    } else if verbs.iter().any(|v| !SUPPORTED_VERBS.contains(&v.as_str())) {
        vec![FieldError::not_supported(
            p,
            verbs.to_vec(),
            SUPPORTED_VERBS,
        )]
    } else {
        Vec::new()
    }
}

/// A list that must not be empty and may hold `*` only alone.
fn validate_star_list(list: &[String], p: &Path, empty: &str, what: &str) -> ErrorList {
    if list.is_empty() {
        vec![FieldError::required(p, empty)]
    } else if list.len() > 1 && has_wildcard(list) {
        vec![FieldError::invalid(
            p,
            list.to_vec(),
            &format!("if '*' is present, must not specify other {what}"),
        )]
    } else {
        Vec::new()
    }
}

fn validate_resource_rule(r: &ResourcePolicyRule, p: &Path) -> ErrorList {
    let mut errs = validate_verbs(&r.verbs, &p.child("verbs"));
    errs.extend(validate_star_list(
        &r.api_groups,
        &p.child("apiGroups"),
        "resource rules must supply at least one api group",
        "api groups",
    ));
    errs.extend(validate_star_list(
        &r.resources,
        &p.child("resources"),
        "resource rules must supply at least one resource",
        "resources",
    ));
    let namespaces = r.namespaces.as_deref().unwrap_or_default();
    let np = p.child("namespaces");
    if namespaces.is_empty() && !r.cluster_scope.unwrap_or(false) {
        errs.push(FieldError::required(
            &np,
            "resource rules that are not cluster scoped must supply at least one namespace",
        ));
    } else if has_wildcard(namespaces) {
        if namespaces.len() > 1 {
            errs.push(FieldError::invalid(
                &np,
                namespaces.to_vec(),
                "if '*' is present, must not specify other namespaces",
            ));
        }
    } else {
        for (i, ns) in namespaces.iter().enumerate() {
            for msg in is_dns1123_label(ns) {
                errs.push(FieldError::invalid(
                    &np.index(i),
                    ns.as_str(),
                    &format!("{NS_ERR_INTRO}{msg}"),
                ));
            }
        }
    }
    errs
}

fn validate_non_resource_rule(r: &NonResourcePolicyRule, p: &Path) -> ErrorList {
    let mut errs = validate_verbs(&r.verbs, &p.child("verbs"));
    let up = p.child("nonResourceURLs");
    if r.non_resource_urls.is_empty() {
        errs.push(FieldError::required(
            &up,
            "nonResourceURLs must contain at least one value",
        ));
    } else if has_wildcard(&r.non_resource_urls) {
        if r.non_resource_urls.len() > 1 {
            errs.push(FieldError::invalid(
                &up,
                r.non_resource_urls.clone(),
                "if '*' is present, must not specify other non-resource URLs",
            ));
        }
    } else {
        for (i, url) in r.non_resource_urls.iter().enumerate() {
            if let Some(msg) = non_resource_url_problem(url) {
                errs.push(FieldError::invalid(&up.index(i), url.as_str(), msg));
            }
        }
    }
    errs
}

/// Upstream `ValidateNonResourceURLPath`: a rooted path without spaces or
/// `//`, with at most one `*` and only as the last segment.
fn non_resource_url_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("must not be empty");
    }
    if path == "/" {
        return None;
    }
    if !path.starts_with('/') {
        return Some("must start with slash");
    }
    if path.contains(' ') {
        return Some("must not contain white-space");
    }
    if path.contains("//") {
        return Some("must not contain double slash");
    }
    let stars = path.matches('*').count();
    if stars > 1 || (stars == 1 && !path.ends_with("/*")) {
        return Some("wildcard can only do suffix matching");
    }
    None
}

fn validate_status(status: Option<&FlowSchemaStatus>) -> ErrorList {
    super::validate_condition_types(
        status
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .map(|c| c.type_.as_deref()),
    )
}

#[cfg(test)]
pub(super) fn url_problem(path: &str) -> Option<&'static str> {
    non_resource_url_problem(path)
}
