//! rbac.authorization.k8s.io/v1: Roles, ClusterRoles and their bindings.

use corten_apimachinery::names::NameValidator;
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use serde_json::Value;

use crate::kind::{KindRules, KindStrategy};
use crate::validate;

/// Strategy for Role.
pub static ROLE_STRATEGY: KindStrategy<RoleRules> = KindStrategy::new();

/// Strategy for RoleBinding.
pub static ROLE_BINDING_STRATEGY: KindStrategy<RoleBindingRules> = KindStrategy::new();

/// Strategy for ClusterRole.
pub static CLUSTER_ROLE_STRATEGY: KindStrategy<ClusterRoleRules> = KindStrategy::new();

/// Strategy for ClusterRoleBinding.
pub static CLUSTER_ROLE_BINDING_STRATEGY: KindStrategy<ClusterRoleBindingRules> =
    KindStrategy::new();

/// The RBAC API group.
pub const GROUP: &str = "rbac.authorization.k8s.io";

/// RBAC object names only need to be valid path segments (`system:node`
/// is a valid ClusterRole name).
fn rbac_name() -> NameValidator {
    validate::path_segment_name
}

/// Upstream `ValidatePolicyRule`.
fn validate_rule(rule: &PolicyRule, namespaced: bool, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if rule.verbs.is_empty() {
        errs.push(FieldError::required(
            &path.child("verbs"),
            "verbs must contain at least one value",
        ));
    }
    let urls = rule.non_resource_urls.as_deref().unwrap_or_default();
    let non_empty = |v: &Option<Vec<String>>| v.as_ref().is_some_and(|v| !v.is_empty());
    if !urls.is_empty() {
        let up = path.child("nonResourceURLs");
        let value = || serde_json::to_value(urls).unwrap_or(Value::Null);
        if namespaced {
            errs.push(FieldError::invalid(
                &up,
                value(),
                "namespaced rules cannot apply to non-resource URLs",
            ));
        }
        if non_empty(&rule.api_groups)
            || non_empty(&rule.resources)
            || non_empty(&rule.resource_names)
        {
            errs.push(FieldError::invalid(
                &up,
                value(),
                "rules cannot apply to both regular resources and non-resource URLs",
            ));
        }
        return errs;
    }
    if !non_empty(&rule.api_groups) {
        errs.push(FieldError::required(
            &path.child("apiGroups"),
            "resource rules must supply at least one api group",
        ));
    }
    if !non_empty(&rule.resources) {
        errs.push(FieldError::required(
            &path.child("resources"),
            "resource rules must supply at least one resource",
        ));
    }
    errs
}

fn validate_rules(rules: Option<&Vec<PolicyRule>>, namespaced: bool) -> ErrorList {
    rules
        .into_iter()
        .flatten()
        .enumerate()
        .flat_map(|(i, r)| validate_rule(r, namespaced, &Path::new("rules").index(i)))
        .collect()
}

/// Upstream defaults: subjects' and roleRef's apiGroup.
fn default_subjects(subjects: Option<&mut Vec<Subject>>) {
    for s in subjects.into_iter().flatten() {
        if s.api_group.as_deref().unwrap_or_default().is_empty() {
            s.api_group = match s.kind.as_str() {
                "ServiceAccount" => Some(String::new()),
                "User" | "Group" => Some(GROUP.into()),
                _ => s.api_group.take(),
            };
        }
    }
}

fn default_role_ref(r: &mut RoleRef) {
    if r.api_group.is_empty() {
        r.api_group = GROUP.into();
    }
}

/// Upstream `ValidateRoleBindingSubject`.
fn validate_subject(s: &Subject, namespaced: bool, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if s.name.is_empty() {
        errs.push(FieldError::required(&path.child("name"), ""));
    }
    let group = s.api_group.as_deref().unwrap_or_default();
    match s.kind.as_str() {
        "ServiceAccount" => {
            if !s.name.is_empty() {
                errs.extend(validate::dns1123_subdomain(&s.name, &path.child("name")));
            }
            if !group.is_empty() {
                errs.push(FieldError::not_supported(
                    &path.child("apiGroup"),
                    group,
                    &[""],
                ));
            }
            if !namespaced && s.namespace.as_deref().unwrap_or_default().is_empty() {
                errs.push(FieldError::required(&path.child("namespace"), ""));
            }
        }
        "User" | "Group" => {
            if group != GROUP {
                errs.push(FieldError::not_supported(
                    &path.child("apiGroup"),
                    group,
                    &[GROUP],
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            &path.child("kind"),
            other,
            &["ServiceAccount", "User", "Group"],
        )),
    }
    errs
}

fn validate_role_ref(r: &RoleRef, kinds: &[&str]) -> ErrorList {
    let mut errs = Vec::new();
    let rp = Path::new("roleRef");
    if r.api_group != GROUP {
        errs.push(FieldError::not_supported(
            &rp.child("apiGroup"),
            r.api_group.as_str(),
            &[GROUP],
        ));
    }
    if !kinds.contains(&r.kind.as_str()) {
        errs.push(FieldError::not_supported(
            &rp.child("kind"),
            r.kind.as_str(),
            kinds,
        ));
    }
    if r.name.is_empty() {
        errs.push(FieldError::required(&rp.child("name"), ""));
    } else {
        errs.extend(validate::invalid_each(
            &rp.child("name"),
            &r.name,
            validate::path_segment_name(&r.name),
        ));
    }
    errs
}

fn validate_subjects(subjects: Option<&Vec<Subject>>, namespaced: bool) -> ErrorList {
    subjects
        .into_iter()
        .flatten()
        .enumerate()
        .flat_map(|(i, s)| validate_subject(s, namespaced, &Path::new("subjects").index(i)))
        .collect()
}

fn role_ref_unchanged(new: &RoleRef, old: &RoleRef) -> ErrorList {
    if new == old {
        Vec::new()
    } else {
        vec![FieldError::invalid(
            &Path::new("roleRef"),
            serde_json::to_value(new).unwrap_or(Value::Null),
            "cannot change roleRef",
        )]
    }
}

/// The rules of Role.
pub struct RoleRules;

impl KindRules for RoleRules {
    type Object = Role;
    const NAMESPACED: bool = true;

    fn name_validator() -> NameValidator {
        rbac_name()
    }

    fn validate(r: &Role) -> ErrorList {
        validate_rules(r.rules.as_ref(), true)
    }
}

/// The rules of ClusterRole.
pub struct ClusterRoleRules;

impl KindRules for ClusterRoleRules {
    type Object = ClusterRole;
    const NAMESPACED: bool = false;

    fn name_validator() -> NameValidator {
        rbac_name()
    }

    fn validate(r: &ClusterRole) -> ErrorList {
        let mut errs = validate_rules(r.rules.as_ref(), false);
        if let Some(agg) = r.aggregation_rule.as_ref() {
            let sp = Path::new("aggregationRule").child("clusterRoleSelectors");
            let selectors = agg.cluster_role_selectors.as_deref().unwrap_or_default();
            if selectors.is_empty() {
                errs.push(FieldError::required(
                    &sp,
                    "at least one clusterRoleSelector required if aggregationRule is non-nil",
                ));
            }
            for (i, s) in selectors.iter().enumerate() {
                errs.extend(validate::label_selector(Some(s), &sp.index(i)));
            }
        }
        errs
    }
}

/// The rules of RoleBinding.
pub struct RoleBindingRules;

impl KindRules for RoleBindingRules {
    type Object = RoleBinding;
    const NAMESPACED: bool = true;

    fn name_validator() -> NameValidator {
        rbac_name()
    }

    fn default(b: &mut RoleBinding) {
        default_role_ref(&mut b.role_ref);
        default_subjects(b.subjects.as_mut());
    }

    fn validate(b: &RoleBinding) -> ErrorList {
        let mut errs = validate_role_ref(&b.role_ref, &["Role", "ClusterRole"]);
        errs.extend(validate_subjects(b.subjects.as_ref(), true));
        errs
    }

    fn validate_update(new: &RoleBinding, old: &RoleBinding) -> ErrorList {
        let mut errs = Self::validate(new);
        errs.extend(role_ref_unchanged(&new.role_ref, &old.role_ref));
        errs
    }
}

/// The rules of ClusterRoleBinding.
pub struct ClusterRoleBindingRules;

impl KindRules for ClusterRoleBindingRules {
    type Object = ClusterRoleBinding;
    const NAMESPACED: bool = false;

    fn name_validator() -> NameValidator {
        rbac_name()
    }

    fn default(b: &mut ClusterRoleBinding) {
        default_role_ref(&mut b.role_ref);
        default_subjects(b.subjects.as_mut());
    }

    fn validate(b: &ClusterRoleBinding) -> ErrorList {
        let mut errs = validate_role_ref(&b.role_ref, &["ClusterRole"]);
        errs.extend(validate_subjects(b.subjects.as_ref(), false));
        errs
    }

    fn validate_update(new: &ClusterRoleBinding, old: &ClusterRoleBinding) -> ErrorList {
        let mut errs = Self::validate(new);
        errs.extend(role_ref_unchanged(&new.role_ref, &old.role_ref));
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::Strategy;
    use serde_json::json;

    fn created(s: &dyn Strategy, obj: Value) -> Value {
        let mut o = s.canonicalize(obj).unwrap();
        s.prepare_for_create(&mut o);
        s.default(&mut o);
        o
    }

    fn texts(errs: ErrorList) -> Vec<String> {
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn rules_need_verbs_groups_and_resources() {
        let role = json!({"metadata": {"name": "r", "namespace": "d"},
            "rules": [{"verbs": []}, {"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]});
        let o = created(&ROLE_STRATEGY, role);
        let errs = texts(ROLE_STRATEGY.validate(&o));
        assert!(errs.contains(
            &"rules[0].verbs: Required value: verbs must contain at least one value".to_string()
        ));
        assert!(errs.contains(&"rules[0].apiGroups: Required value: resource rules must supply at least one api group".to_string()));
        assert!(errs.contains(&"rules[0].resources: Required value: resource rules must supply at least one resource".to_string()));
        assert!(errs.contains(&"rules[1].nonResourceURLs: Invalid value: [\"/healthz\"]: namespaced rules cannot apply to non-resource URLs".to_string()));
    }

    #[test]
    fn cluster_role_names_may_contain_colons() {
        let cr = json!({"metadata": {"name": "system:node"},
            "rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]});
        let o = created(&CLUSTER_ROLE_STRATEGY, cr);
        assert_eq!(
            CLUSTER_ROLE_STRATEGY.name_validator()("system:node"),
            Vec::<String>::new()
        );
        assert!(
            CLUSTER_ROLE_STRATEGY
                .validate(&o)
                .iter()
                .all(|e| !e.field.starts_with("rules"))
        );
    }

    #[test]
    fn binding_defaults_and_subjects() {
        let rb = json!({"metadata": {"name": "b", "namespace": "d"},
            "roleRef": {"kind": "Role", "name": "r"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "sa"},
                         {"kind": "Robot", "name": "x"}]});
        let o = created(&ROLE_BINDING_STRATEGY, rb);
        assert_eq!(o["roleRef"]["apiGroup"], GROUP);
        assert_eq!(o["subjects"][0]["apiGroup"], GROUP);
        assert_eq!(o["subjects"][1]["apiGroup"], "");
        let errs = texts(RoleBindingRules::validate(
            &crate::typed::from_value(o).unwrap(),
        ));
        assert_eq!(
            errs,
            vec![
                "subjects[2].kind: Unsupported value: \"Robot\": supported values: \"ServiceAccount\", \"User\", \"Group\""
            ]
        );
    }

    #[test]
    fn cluster_role_binding_subjects_need_namespace() {
        let crb = json!({"metadata": {"name": "b"},
            "roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "r"},
            "subjects": [{"kind": "ServiceAccount", "name": "sa"}]});
        let o = created(&CLUSTER_ROLE_BINDING_STRATEGY, crb);
        let errs = texts(ClusterRoleBindingRules::validate(
            &crate::typed::from_value(o).unwrap(),
        ));
        assert!(
            errs.contains(
                &"roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\""
                    .to_string()
            )
        );
        assert!(errs.contains(&"subjects[0].namespace: Required value".to_string()));
    }

    #[test]
    fn role_ref_is_immutable() {
        let old: RoleBinding =
            crate::typed::from_value(json!({"metadata": {"name": "b", "namespace": "d"},
            "roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "r"}}))
            .unwrap();
        let mut new = old.clone();
        new.role_ref.name = "other".into();
        let errs = RoleBindingRules::validate_update(&new, &old);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "roleRef");
        assert_eq!(errs[0].detail, "cannot change roleRef");
    }

    #[test]
    fn aggregation_rule_needs_selectors() {
        let cr: ClusterRole = crate::typed::from_value(json!({"metadata": {"name": "agg"},
            "aggregationRule": {"clusterRoleSelectors": []}}))
        .unwrap();
        let errs = texts(ClusterRoleRules::validate(&cr));
        assert_eq!(
            errs,
            vec![
                "aggregationRule.clusterRoleSelectors: Required value: at least one clusterRoleSelector required if aggregationRule is non-nil"
            ]
        );
    }
}
