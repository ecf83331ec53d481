//! Which requests a webhook (or policy) is called for: rules (operations,
//! groups, versions, resources with `*` and subresources, scope), the
//! `Equivalent` match policy, namespace and object selectors. Pure
//! functions, apart from the namespace lookup in the watch cache.

use std::collections::BTreeMap;

use corten_apimachinery::labels::Selector;
use serde_json::Value;

use super::config::Rule;
use crate::registry::Registry;

/// The request attributes rules look at.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// `CREATE`, `UPDATE`, `DELETE`, `CONNECT`.
    pub operation: &'a str,
    /// API group.
    pub group: &'a str,
    /// API version.
    pub version: &'a str,
    /// Plural resource.
    pub resource: &'a str,
    /// Subresource or "".
    pub subresource: &'a str,
    /// Namespace or "" (cluster scope).
    pub namespace: &'a str,
}

fn listed(values: &[String], v: &str) -> bool {
    values.iter().any(|x| x == "*" || x == v)
}

/// Upstream's rule matcher: every field must match; a resource entry
/// `res/sub` matches `res` (or `*`) with subresource `sub` (or `*`); a
/// plain entry only matches the main resource.
pub fn rule_matches(rule: &Rule, t: &Target<'_>, version: &str) -> bool {
    if !listed(&rule.operations, t.operation)
        || !listed(&rule.api_groups, t.group)
        || !listed(&rule.api_versions, version)
    {
        return false;
    }
    let resource_ok = rule.resources.iter().any(|entry| {
        let (res, sub) = entry.split_once('/').unwrap_or((entry.as_str(), ""));
        (res == "*" || res == t.resource) && (sub == "*" || sub == t.subresource)
    });
    if !resource_ok {
        return false;
    }
    match rule.scope.as_str() {
        "Cluster" => t.namespace.is_empty(),
        "Namespaced" => !t.namespace.is_empty(),
        _ => true,
    }
}

/// Whether any rule matches the request: exactly, or (`Equivalent`) for
/// another served version of the same group and resource, which reads
/// and writes the same stored objects.
pub fn rules_match(rules: &[Rule], exact: bool, t: &Target<'_>, reg: Option<&Registry>) -> bool {
    if rules.iter().any(|r| rule_matches(r, t, t.version)) {
        return true;
    }
    if exact {
        return false;
    }
    let Some(reg) = reg else {
        return false;
    };
    rules.iter().any(|r| {
        r.api_versions.iter().any(|v| {
            v != t.version
                && v != "*"
                && reg.resource(t.group, v, t.resource).is_some()
                && rule_matches(r, t, v)
        })
    })
}

/// `metadata.labels` of an object.
pub fn labels_of(obj: Option<&Value>) -> Option<BTreeMap<String, String>> {
    let obj = obj?;
    let mut out = BTreeMap::new();
    if let Some(m) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in m {
            if let Some(s) = v.as_str() {
                out.insert(k.clone(), s.to_string());
            }
        }
    }
    Some(out)
}

/// `objectSelector`: matches if the new or the old object's labels match.
pub fn object_selector_matches(sel: &Selector, obj: Option<&Value>, old: Option<&Value>) -> bool {
    if sel.is_empty() {
        return true;
    }
    [obj, old]
        .into_iter()
        .filter_map(labels_of)
        .any(|l| sel.matches(&l))
}

/// The labels `namespaceSelector` is matched against: the namespace's (a
/// Namespace object's own labels when the request is about namespaces);
/// `None` for cluster-scoped requests, which every namespace selector
/// matches.
pub fn namespace_labels(
    reg: &Registry,
    t: &Target<'_>,
    obj: Option<&Value>,
    old: Option<&Value>,
) -> Option<BTreeMap<String, String>> {
    if t.group.is_empty() && t.resource == "namespaces" {
        return labels_of(obj.or(old)).or_else(|| Some(BTreeMap::new()));
    }
    if t.namespace.is_empty() {
        return None;
    }
    let cached = reg
        .cache("namespaces")
        .and_then(|c| c.get(&format!("namespaces/{}", t.namespace)));
    Some(cached.map(|o| o.labels.clone()).unwrap_or_default())
}

/// `namespaceSelector` against the labels from [`namespace_labels`].
pub fn namespace_selector_matches(
    sel: &Selector,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    match labels {
        None => true,
        Some(l) => sel.is_empty() || sel.matches(l),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(ops: &[&str], groups: &[&str], versions: &[&str], res: &[&str], scope: &str) -> Rule {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
        Rule {
            operations: s(ops),
            api_groups: s(groups),
            api_versions: s(versions),
            resources: s(res),
            scope: scope.into(),
        }
    }

    fn target<'a>(
        op: &'a str,
        group: &'a str,
        res: &'a str,
        sub: &'a str,
        ns: &'a str,
    ) -> Target<'a> {
        Target {
            operation: op,
            group,
            version: "v1",
            resource: res,
            subresource: sub,
            namespace: ns,
        }
    }

    #[test]
    fn rules_follow_upstream_matcher() {
        let pods = rule(&["CREATE"], &[""], &["v1"], &["pods"], "*");
        assert!(rule_matches(
            &pods,
            &target("CREATE", "", "pods", "", "d"),
            "v1"
        ));
        assert!(!rule_matches(
            &pods,
            &target("UPDATE", "", "pods", "", "d"),
            "v1"
        ));
        assert!(!rule_matches(
            &pods,
            &target("CREATE", "apps", "pods", "", "d"),
            "v1"
        ));
        // A plain entry does not match subresources.
        assert!(!rule_matches(
            &pods,
            &target("CREATE", "", "pods", "status", "d"),
            "v1"
        ));
        let status = rule(&["*"], &["*"], &["*"], &["pods/status"], "*");
        assert!(rule_matches(
            &status,
            &target("UPDATE", "", "pods", "status", "d"),
            "v1"
        ));
        assert!(!rule_matches(
            &status,
            &target("UPDATE", "", "pods", "", "d"),
            "v1"
        ));
        let any_sub = rule(&["*"], &["*"], &["*"], &["pods/*"], "*");
        assert!(rule_matches(
            &any_sub,
            &target("UPDATE", "", "pods", "status", "d"),
            "v1"
        ));
        // Upstream's `*` subresource also matches the main resource.
        assert!(rule_matches(
            &any_sub,
            &target("UPDATE", "", "pods", "", "d"),
            "v1"
        ));
        let star = rule(&["*"], &["*"], &["*"], &["*"], "*");
        assert!(rule_matches(
            &star,
            &target("DELETE", "apps", "deployments", "", "d"),
            "v1"
        ));
        assert!(!rule_matches(
            &star,
            &target("DELETE", "apps", "deployments", "scale", "d"),
            "v1"
        ));
        let all = rule(&["*"], &["*"], &["*"], &["*/*"], "*");
        assert!(rule_matches(
            &all,
            &target("UPDATE", "apps", "deployments", "scale", "d"),
            "v1"
        ));
        let scale = rule(&["*"], &["*"], &["*"], &["*/scale"], "*");
        assert!(rule_matches(
            &scale,
            &target("UPDATE", "apps", "deployments", "scale", "d"),
            "v1"
        ));
        // Scope.
        let cluster = rule(&["*"], &["*"], &["*"], &["*"], "Cluster");
        assert!(rule_matches(
            &cluster,
            &target("CREATE", "", "nodes", "", ""),
            "v1"
        ));
        assert!(!rule_matches(
            &cluster,
            &target("CREATE", "", "pods", "", "d"),
            "v1"
        ));
        let namespaced = rule(&["*"], &["*"], &["*"], &["*"], "Namespaced");
        assert!(!rule_matches(
            &namespaced,
            &target("CREATE", "", "nodes", "", ""),
            "v1"
        ));
        assert!(rule_matches(
            &namespaced,
            &target("CREATE", "", "pods", "", "d"),
            "v1"
        ));
        // Versions.
        let v2 = rule(&["*"], &["*"], &["v2"], &["*"], "*");
        assert!(!rules_match(
            std::slice::from_ref(&v2),
            true,
            &target("CREATE", "", "pods", "", "d"),
            None
        ));
    }

    #[test]
    fn selectors() {
        let sel = Selector::parse("team=a").unwrap();
        let a = serde_json::json!({"metadata": {"labels": {"team": "a"}}});
        let b = serde_json::json!({"metadata": {"labels": {"team": "b"}}});
        assert!(object_selector_matches(&sel, Some(&a), None));
        assert!(!object_selector_matches(&sel, Some(&b), None));
        // Either the new or the old object.
        assert!(object_selector_matches(&sel, Some(&b), Some(&a)));
        assert!(!object_selector_matches(&sel, None, None));
        assert!(object_selector_matches(&Selector::everything(), None, None));
        assert!(namespace_selector_matches(&sel, None));
        let mut l = BTreeMap::new();
        assert!(!namespace_selector_matches(&sel, Some(&l)));
        l.insert("team".into(), "a".into());
        assert!(namespace_selector_matches(&sel, Some(&l)));
    }
}
